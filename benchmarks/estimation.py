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

Second: the cost the new navigation adds to a SITL run, per simulated
second -- the IMU model at 200 Hz (sample_array) into NavEkf.predict_imu_batch
once per 10 ms physics step, wheel encoders at 50 Hz into the odometry
update, compass 10 Hz, GNSS 5 Hz -- and the real-time factor that cost
alone would cap a run at (the yard patrol must stay >= 100x overall).
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


def sitl_cost(seconds: float = 20.0) -> tuple[float, float]:
    """(wall s, CPU s) per simulated second of sensors + EKF."""
    import math as m

    from edgepilot.sim.dynamics import Truth
    from edgepilot.sim.sensors.imu import ImuConfig, ImuModel
    from edgepilot.sim.sensors.navigation import CompassModel, GpsModel
    from edgepilot.sim.sensors.odometry import EncoderConfig, WheelEncoderModel
    from edgepilot.vehicle.config import CompassConfig, GpsConfig
    from edgepilot.vehicle.estimation.measurements import WheelOdometry
    from edgepilot.vehicle.geo import LocalFrame

    rng = np.random.default_rng(0)
    frame = LocalFrame(47.4, 8.5)
    imu = ImuModel(ImuConfig(rate_hz=200), rng)
    ecfg = EncoderConfig()
    enc = WheelEncoderModel(ecfg, rng)
    odo = WheelOdometry(ecfg.ticks_per_rev, ecfg.wheel_radius, ecfg.track_width)
    gps = GpsModel(GpsConfig(rate_hz=5, noise_m=0.4, velocity_noise=0.05), frame, rng)
    compass = CompassModel(CompassConfig(rate_hz=10, noise_deg=2.0), rng)
    ekf = NavEkf()
    ekf.initialise(0.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    n = int(seconds / 0.01)
    truths = [Truth(k * 0.01, 0.0, 0.0, 1.0, 0.0, 0.0) for k in range(n + 1)]
    t0, c0 = time.perf_counter(), time.process_time()
    for k, tr in enumerate(truths):
        t = k * 0.01
        ekf.predict_imu_batch(imu.sample_array(t, tr))
        ticks = enc.sample(t, tr)
        if ticks is not None:
            inc = odo.update(ticks)
            if inc is not None:
                ekf.fuse_body_speed(t, inc.speed, 0.05, 0.1)
        c = compass.sample(t, tr)
        if c is not None:
            ekf.fuse_compass(t, c.yaw, m.radians(3))
        g = gps.sample(t, tr)
        if g is not None:
            ekf.fuse_gps_fix(g, frame, t)
    return (time.perf_counter() - t0) / seconds, (time.process_time() - c0) / seconds


def main():
    imu, odo = _inputs(SAMPLES)
    fns = {"peer (NumPy oracle)": run_numpy, "ours (NavEkf API)": run_api, "ours (kernels)": run_kernels}
    ref = run_numpy(imu[:200], odo[:200])
    for name, fn in fns.items():      # warm + agree
        got = fn(imu[:200], odo[:200])
        assert np.allclose(got, ref, rtol=1e-8, atol=1e-9), (name, got, ref)
    times = {k: [] for k in fns}
    cpu = {k: [] for k in fns}
    for _ in range(ROUNDS):
        for name, fn in fns.items():
            n = SAMPLES if "peer" not in name else SAMPLES // 4
            t0, c0 = time.perf_counter(), time.process_time()
            fn(imu[:n], odo[:n])
            times[name].append((time.perf_counter() - t0) / n)
            cpu[name].append((time.process_time() - c0) / n)
    peer = statistics.median(times["peer (NumPy oracle)"])
    peer_cpu = statistics.median(cpu["peer (NumPy oracle)"])
    print(f"EKF predict + 2-row update per IMU sample ({SAMPLES} samples, {ROUNDS} rounds, median; best; "
          "CPU = process time, the machine is shared)")
    for name, ts in times.items():
        med = statistics.median(ts)
        c = statistics.median(cpu[name])
        print(f"  {name:22s} {med * 1e6:8.2f} us  (best {min(ts) * 1e6:7.2f} us, CPU {c * 1e6:7.2f} us)  "
              f"{peer / med:6.1f}x the peer (CPU {peer_cpu / c:5.1f}x)")
    api = statistics.median(times["ours (NavEkf API)"])
    print(f"  target <= 30 us per sample: {'met' if api <= 30e-6 else 'NOT met'} ({api * 1e6:.1f} us)")
    sitl_cost(2.0)
    w, c = sitl_cost(5.0 if QUICK else 20.0)
    print(f"SITL cost of IMU 200 Hz + encoders + compass + GNSS models and the EKF, per simulated second: "
          f"{w * 1e3:.2f} ms wall, {c * 1e3:.2f} ms CPU -> caps a run at {1 / w:.0f}x (wall), {1 / c:.0f}x (CPU) "
          "real time by itself")


if __name__ == "__main__":
    main()
