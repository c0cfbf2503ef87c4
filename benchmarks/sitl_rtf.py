"""Real-time factor of lockstep SITL on the shipped scenarios.

The peer is the wall clock: a real-time factor of 1.0 is what a real
vehicle (or a real-time simulator) runs at.  Prints simulated time, wall
time and their ratio per scenario, median of several runs.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edgepilot.sim.lockstep import run_lockstep  # noqa: E402
from edgepilot.sim.scenario import load_scenario  # noqa: E402


def main(rounds: int = 3) -> None:
    names = sys.argv[1:] or ["ugv_yard", "ugv_corridor", "usv_harbor"]
    print(f"{'scenario':16s} {'sim s':>8s} {'wall s (median)':>16s} {'real time':>10s} {'RTF':>8s}")
    for name in names:
        sc = load_scenario(name)
        run_lockstep(sc)  # warm-up: JIT and caches
        walls = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            r = run_lockstep(sc)
            walls.append(time.perf_counter() - t0)
        w = statistics.median(walls)
        print(f"{name:16s} {r.sim_time_s:8.1f} {w:16.3f} {'1.0x':>10s} {r.sim_time_s / w:7.1f}x")


if __name__ == "__main__":
    main()
