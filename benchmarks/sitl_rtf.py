"""Real-time factor of lockstep SITL on the shipped scenarios.

The peer is the wall clock: a real-time factor of 1.0 is what a real
vehicle (or a real-time simulator) runs at.  Prints simulated time, wall
time and their ratio per scenario, median of several runs.

Issue 15 (navigation without GNSS): by default the yard patrol runs three
ways side by side --
- ``ugv_yard``: today's vehicle, GPS + compass filter;
- ``ugv_yard+ekf``: the same patrol and vehicle with the new sensors (200 Hz
  IMU, wheel encoders) and the EKF fusing them with GNSS and compass
  (target: stays >= 100x real time);
- ``ugv_gnss_denied``: the patrol with no GNSS after arming, on a 360-degree
  lidar localized on the prior map (particle filter + scan matcher) --
  the lidar simulation and perception come with it.
``python benchmarks/sitl_rtf.py NAME...`` runs the named scenarios instead.
Beside wall time it prints the process's CPU time and the real-time factor
on it: on a machine shared with other work, wall time is stretched by the
others' load and CPU time is the run's own cost.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edgepilot.sim.lockstep import run_lockstep  # noqa: E402
from edgepilot.sim.scenario import load_scenario  # noqa: E402
from edgepilot.vehicle.config import ImuSpec, Navigation, WheelEncoderSpec  # noqa: E402

DEFAULT = ["ugv_yard", "ugv_yard+ekf", "ugv_gnss_denied"]


def scenario(name: str):
    """A shipped scenario; ``NAME+ekf``: its vehicle with an IMU, wheel
    encoders and the EKF (GNSS still there)."""
    base, _, variant = name.partition("+")
    sc = load_scenario(base)
    if variant == "ekf":
        vc = sc.vehicle_config
        sensors = vc.sensors.model_copy(update={"imu": ImuSpec(), "wheel_encoders": WheelEncoderSpec(
            track_width=vc.drive.track_width)})
        vc = vc.model_copy(update={"sensors": sensors, "navigation": Navigation(estimator="ekf")})
        sc = sc.model_copy(update={"vehicle_config": vc})
    elif variant:
        raise SystemExit(f"unknown variant {variant!r} in {name!r} (known: +ekf)")
    return sc


def main(rounds: int = 3) -> None:
    names = sys.argv[1:] or DEFAULT
    print(f"{'scenario':18s} {'sim s':>8s} {'wall s (median)':>16s} {'real time':>10s} {'RTF':>8s} {'passed':>7s}"
          f" {'CPU s (median)':>15s} {'RTF on CPU':>11s}")
    for name in names:
        sc = scenario(name)
        run_lockstep(sc)  # warm-up: JIT and caches
        walls, cpus = [], []
        for _ in range(rounds):
            t0 = time.perf_counter()
            c0 = time.process_time()
            r = run_lockstep(sc)
            cpus.append(time.process_time() - c0)
            walls.append(time.perf_counter() - t0)
        w = statistics.median(walls)
        c = statistics.median(cpus)
        # CPU time: what the run costs on a core of its own (the shared
        # development machine stretches wall time by its other load)
        print(f"{name:18s} {r.sim_time_s:8.1f} {w:16.3f} {'1.0x':>10s} {r.sim_time_s / w:7.1f}x {str(r.passed):>7s}"
              f" {c:15.3f} {r.sim_time_s / c:10.1f}x", flush=True)


if __name__ == "__main__":
    main()
