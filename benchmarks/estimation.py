"""EKF benchmark: predict + update per IMU sample, ours vs the NumPy oracle.

Run by hand:  python benchmarks/estimation.py [--quick]

Per IMU sample: one prediction and one measurement update (wheel odometry
with the no-side-slip row, 2 rows -- the update every sample could carry at
worst; GNSS and compass come at a tenth of the rate or less).
- ours (API): NavEkf.predict_imu + NavEkf.fuse_body_speed, the validated
  Python front a vehicle calls;
- ours (kernels): the numba kernels called directly;
- peer: the same model in NumPy (vehicle/estimation/_ekf_reference.py).
Target: ours (API) <= 30 us per sample.  Prints medians of interleaved
rounds (the machine is shared) and the ratio.
"""
from __future__ import annotations

import math
import statistics
import sys
import time

import numpy as np

from edgepilot.vehicle.estimation import _ekf_kernels as K
from edgepilot.vehicle.estimation._ekf_reference import predict_ref, update_ref
from edgepilot.vehicle.estimation.ekf import MEAS_BODY_VEL, NavEkf, chi2_quantile

QUICK = "--quick" in sys.argv
SAMPLES = 400 if QUICK else 2000
ROUNDS = 3 if QUICK else 7
DT = 1.0 / 200.0


def _inputs(n):
    rng = np.random.default_rng(0)
    return rng.normal(0, 0.05, (n, 3)) + np.array([0.05, 0.0, 0.05]), 1.0 + rng.normal(0, 0.02, n)


def run_api(imu, odo):
    ekf = NavEkf()
    ekf.initialise(0.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    t = 0.0
    for i in range(len(odo)):
        t += DT
        ekf.predict_imu(t, imu[i, 0], imu[i, 1], imu[i, 2])
        ekf.fuse_body_speed(t, odo[i], 0.05, 0.05)
    return ekf.x


def run_kernels(imu, odo):
    ekf = NavEkf()
    ekf.initialise(0.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    x, P, q, ws, out = ekf.x, ekf.P, ekf._q, ekf._ws, ekf._out
    z = np.zeros(K.M_MAX)
    R = np.zeros((K.M_MAX, K.M_MAX))
    R[0, 0] = R[1, 1] = 0.05 ** 2
    thr = chi2_quantile(0.9999, 2)
    for i in range(len(odo)):
        K.ekf_predict(x, P, imu[i, 0], imu[i, 1], imu[i, 2], DT, q, ws)
        z[0] = odo[i]
        K.ekf_update(x, P, MEAS_BODY_VEL, z, R, thr, True, ws, out)
    return x


def run_numpy(imu, odo):
    ekf = NavEkf()
    ekf.initialise(0.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    x, P, q = ekf.x.copy(), ekf.P.copy(), ekf._q
    R = np.eye(2) * 0.05 ** 2
    thr = chi2_quantile(0.9999, 2)
    for i in range(len(odo)):
        x, P = predict_ref(x, P, imu[i, 0], imu[i, 1], imu[i, 2], DT, q)
        _, x, P, _, _ = update_ref(x, P, MEAS_BODY_VEL, (odo[i], 0.0), R, thr)
    return x


def main():
    imu, odo = _inputs(SAMPLES)
    fns = {"peer (NumPy oracle)": run_numpy, "ours (NavEkf API)": run_api, "ours (kernels)": run_kernels}
    ref = run_numpy(imu[:200], odo[:200])
    for name, fn in fns.items():      # warm + agree
        got = fn(imu[:200], odo[:200])
        assert np.allclose(got, ref, rtol=1e-8, atol=1e-9), (name, got, ref)
    times = {k: [] for k in fns}
    for _ in range(ROUNDS):
        for name, fn in fns.items():
            n = SAMPLES if "peer" not in name else SAMPLES // 4
            t0 = time.perf_counter()
            fn(imu[:n], odo[:n])
            times[name].append((time.perf_counter() - t0) / n)
    peer = statistics.median(times["peer (NumPy oracle)"])
    print(f"EKF predict + 2-row update per IMU sample ({SAMPLES} samples, {ROUNDS} rounds, median; best)")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"  {name:22s} {med * 1e6:8.2f} us  (best {min(ts) * 1e6:7.2f} us)  "
              f"{peer / med:6.1f}x the peer")
    api = statistics.median(times["ours (NavEkf API)"])
    print(f"  target <= 30 us per sample: {'met' if api <= 30e-6 else 'NOT met'} ({api * 1e6:.1f} us)")


if __name__ == "__main__":
    main()
