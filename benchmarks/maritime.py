"""Maritime hot loops, ours against a plain-NumPy peer on the same input,
interleaved, median of many rounds; then the harbour scenario's real-time
factor (the peer there is the wall clock).

  1. CPA/TCPA for 1,000 contacts: numba kernel (through the validating
     wrapper and bare) vs the vectorised NumPy formula.  Target: well
     under 1 ms.  The wrapper checks shape, dtype and layout in Python
     (no copy of an array that already is contiguous float64) and
     finiteness in one branch-free numba pass over the four arrays.
  2. One avoidance decision with 100 contacts (the 10 Hz helm): the full
     ``ColregsHelm.decide`` (encounter bookkeeping + candidate scoring) vs a
     NumPy peer that only scores the same candidate grid against the
     contacts by CPA (broadcast (M, N) arrays) and takes the argmin.
     Target: under 5 ms.
  3. usv_colregs_harbour30 in lockstep: target at least 50x real time;
     usv_ais_dropout_lidar (a 360-degree 720-beam 200 m lidar at 10 Hz,
     mapping and vessel tracking) for the cost of the lidar pipeline.

Run: PYTHONPATH=. python benchmarks/maritime.py
"""
from __future__ import annotations

import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edgepilot.sim.lockstep import run_lockstep  # noqa: E402
from edgepilot.sim.scenario import load_scenario  # noqa: E402
from edgepilot.vehicle.config import Maritime  # noqa: E402
from edgepilot.vehicle.maritime import _cpa_kernels as K  # noqa: E402
from edgepilot.vehicle.maritime.autonomy import MaritimeAutonomy  # noqa: E402
from edgepilot.vehicle.maritime.avoidance import ColregsHelm  # noqa: E402
from edgepilot.vehicle.maritime.contacts import ContactArrays  # noqa: E402
from edgepilot.vehicle.maritime.cpa import cpa, cpa_numpy  # noqa: E402


def timed(fn, rounds: int) -> float:
    t0 = time.perf_counter()
    for _ in range(rounds):
        fn()
    return (time.perf_counter() - t0) / rounds


def interleave(fns: dict, reps: int = 30, inner: int = 50) -> dict:
    out = {k: [] for k in fns}
    for _ in range(reps):
        for k, f in fns.items():
            out[k].append(timed(f, inner))
    return {k: statistics.median(v) for k, v in out.items()}


def contacts(n: int, rng: np.random.Generator) -> ContactArrays:
    x, y = rng.uniform(-600, 600, n), rng.uniform(-600, 600, n)
    spd, crs = rng.uniform(0.5, 4.0, n), rng.uniform(-math.pi, math.pi, n)
    vx, vy = spd * np.cos(crs), spd * np.sin(crs)
    return ContactArrays(0.0, np.arange(1, n + 1, dtype=np.int64), x, y, vx, vy, crs, spd, np.full(n, 5.0))


def bench_cpa() -> None:
    rng = np.random.default_rng(1)
    cs = contacts(1000, rng)
    own = (0.0, 0.0, 1.5, 0.2)
    d, t = np.empty(1000), np.empty(1000)
    a = cpa(own, cs.x, cs.y, cs.vx, cs.vy)
    b = cpa_numpy(own, cs.x, cs.y, cs.vx, cs.vy)
    assert np.allclose(a[0], b[0]) and np.allclose(a[1], b[1])
    r = interleave({
        "numpy (peer)": lambda: cpa_numpy(own, cs.x, cs.y, cs.vx, cs.vy),
        "ours: wrapper": lambda: cpa(own, cs.x, cs.y, cs.vx, cs.vy),
        "ours: kernel": lambda: K.cpa_kernel(0.0, 0.0, 1.5, 0.2, cs.x, cs.y, cs.vx, cs.vy, False, d, t),
    })
    peer = r["numpy (peer)"]
    print("CPA/TCPA, 1,000 contacts")
    for k, v in r.items():
        print(f"  {k:18s} {v * 1e6:9.1f} us   peer/ours {peer / v:5.2f}x")


def numpy_helm_peer(cs: ContactArrays, hd: float, sd: float, safe: float, horizon: float):
    heads = np.radians(np.arange(0, 360, 3.0))
    speeds = np.array([1.0, 0.7, 0.4, 0.15]) * sd
    H, S = np.meshgrid(heads, speeds, indexing="ij")
    vx, vy = (S * np.cos(H)).ravel()[:, None], (S * np.sin(H)).ravel()[:, None]
    px, py = cs.x[None, :], cs.y[None, :]
    rvx, rvy = cs.vx[None, :] - vx, cs.vy[None, :] - vy
    v2 = rvx * rvx + rvy * rvy
    t = np.clip(-(px * rvx + py * rvy) / np.maximum(v2, 1e-9), 0.0, horizon)
    d = np.hypot(px + rvx * t, py + rvy * t) - cs.radius[None, :]
    cost = 1000.0 * (d < safe).sum(axis=1) + 10.0 * np.abs((H.ravel() - hd + np.pi) % (2 * np.pi) - np.pi) / np.pi
    return int(np.argmin(cost))


def bench_helm() -> None:
    rng = np.random.default_rng(2)
    cs = contacts(100, rng)
    # Put a few on collision courses so encounters are active.
    cs.x[:5], cs.y[:5] = [150, 120, -100, 60, 200], [0, -120, 80, 60, 10]
    cs.vx[:5], cs.vy[:5] = [-2.5, 0.0, 1.5, -1.0, -3.0], [0.0, 1.8, -1.0, -1.0, 0.0]
    cs.yaw[:5] = np.arctan2(cs.vy[:5], cs.vx[:5])
    cfg = Maritime()
    helm = ColregsHelm(cfg, 2.0)
    own = (0.0, 0.0, 0.0, 1.5, 0.0)
    dec = helm.decide(0.0, own, 0.0, 1.5, cs)
    assert dec.active, "benchmark input should have active encounters"
    r = interleave({
        "numpy (peer)": lambda: numpy_helm_peer(cs, 0.0, 1.5, cfg.safe_distance_m, cfg.horizon_s),
        "ours: decide": lambda: helm.decide(0.0, own, 0.0, 1.5, cs),
    }, reps=20, inner=20)
    peer = r["numpy (peer)"]
    print(f"Avoidance decision, 100 contacts ({len(helm.encounters)} encounters active, "
          f"{122 * 4} candidates)")
    for k, v in r.items():
        print(f"  {k:18s} {v * 1e3:9.3f} ms   peer/ours {peer / v:5.2f}x")


def bench_harbour() -> None:
    for name in ("usv_colregs_harbour30", "usv_ais_dropout_lidar"):
        sc = load_scenario(name)
        walls = []
        for _ in range(2):
            t0 = time.perf_counter()
            res = run_lockstep(sc)
            walls.append(time.perf_counter() - t0)
        w = statistics.median(walls)
        print(f"{name} lockstep: {res.sim_time_s:.0f} s simulated in {w:.2f} s wall: "
              f"{res.sim_time_s / w:.0f}x real time (wall clock = 1x), passed={res.passed}, "
              f"min CPA {res.min_cpa_m:.1f} m")


if __name__ == "__main__":
    MaritimeAutonomy.warm()
    bench_cpa()
    bench_helm()
    bench_harbour()
