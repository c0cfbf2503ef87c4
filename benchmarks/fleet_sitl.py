"""Fleet SITL speed: 1, 2, 5, 10, 20 lidar UGVs in one lockstep world on one
core (sim/fleet), each with its own full autonomy core.

For each fleet size N: wall time per simulated physics step (10 ms) of the
lockstep loop (building the world and the cores not counted) and the
real-time factor.  The peer is the single-vehicle runner (sim/lockstep.py)
run N times, one vehicle at a time on the same world and missions: the
cost of N vehicles simulated apart.  ``fleet / N x single`` near 1 says the
shared world adds nothing per vehicle; the fitted exponent of time per step
against N says how it grows (1 = linear, 2 = with the square).

    python benchmarks/fleet_sitl.py [--sim-s 30] [--sizes 1,2,5,10,20]

Targets of issue 16: 10 vehicles >= 30x real time, 20 >= 10x.  Each row also
gives the loop's CPU time per step and the real-time factor on it (on a
shared machine wall time is stretched by the other load).
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edgepilot.sim.fleet.runner import run_fleet  # noqa: E402
from edgepilot.sim.fleet.scenario import load_fleet_scenario, member_scenario  # noqa: E402
from edgepilot.sim.lockstep import run_lockstep  # noqa: E402
from edgepilot.sim.simulation import PHYSICS_DT  # noqa: E402

LANE_M = 4.0
HEIGHT_M = 90.0             # room for 20 lanes


def fleet_toml(n: int, sim_s: float) -> str:
    """N UGVs in lanes LANE_M apart in a 120 m yard with a few buildings,
    each driving its lane east and back (they see each other's footprints
    in their lidar: the neighbouring lanes are within its 12 m)."""
    height = HEIGHT_M          # one world for every N: per-vehicle set-up and queries cost the same
    out = [f'name = "bench_fleet_{n}"', "seed = 1", "[world]", f"bounds = [0.0, 0.0, 120.0, {height}]",
           "origin = [52.0, 4.0]", "resolution = 0.1", "raster_budget_mib = 2048"]
    for k, x in enumerate((30.0, 60.0, 90.0)):
        y0 = height - 4.0 if k % 2 else 0.0
        out += ["[[world.obstacles]]", 'type = "polygon"',
                f"points = [[{x}, {y0}], [{x + 4}, {y0}], [{x + 4}, {y0 + 4}], [{x}, {y0 + 4}]]"]
    for i in range(n):
        y = LANE_M * (i + 1) + 1.0
        out += ["[[vehicles]]", f'name = "ugv{i + 1}"', 'vehicle = "ugv_lidar"', f"sysid = {i + 1}",
                f"start = {{ x = 6.0, y = {y} }}", f"mission = {{ waypoints = [[112.0, {y}], [6.0, {y}]] }}"]
    out += ["[criteria]", f"max_time_s = {sim_s}", "all_missions = false"]
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sim-s", type=float, default=30.0, help="simulated seconds per run")
    ap.add_argument("--sizes", default="1,2,5,10,20")
    ap.add_argument("--no-peer", action="store_true", help="skip the N x single-vehicle runs")
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="fleet_bench_"))
    steps = int(round(a.sim_s / PHYSICS_DT))
    # warm-up: imports and every kernel loaded from numba's cache (a run as
    # long as the measured ones: the first A* plan, the first tracks and
    # clearing come seconds in, and a kernel's first call would otherwise
    # land in the first measured row's wall time)
    p = tmp / "warm.toml"
    p.write_text(fleet_toml(2, a.sim_s))
    run_fleet(load_fleet_scenario(p))
    print(f"fleet SITL, lidar UGVs (ugv_lidar: 540 beams at 10 Hz, core at 20 Hz), {a.sim_s:g} s simulated, "
          f"physics {1 / PHYSICS_DT:.0f} Hz, one core")
    print(f"{'N':>3s} {'fleet ms/step':>14s} {'fleet RTF':>10s} {'peer: N x single ms/step':>25s} "
          f"{'ratio':>6s} {'target':>8s}")
    rows = []
    for n in sizes:
        p = tmp / f"fleet_{n}.toml"
        p.write_text(fleet_toml(n, a.sim_s))
        sc = load_fleet_scenario(p)
        cpu0 = []
        res = run_fleet(sc, max_time_s=a.sim_s,
                        on_tick=lambda t, lim: cpu0.append(time.process_time()) if not cpu0 else None)
        cpu = time.process_time() - cpu0[0]     # CPU time of the loop (from its first tick)
        wall = res.wall_time_s                  # the lockstep loop only (not building worlds and cores)
        ms = 1000 * wall / max(res.steps, 1)
        peer = math.nan
        if not a.no_peer:
            w = 0.0
            for v in sc.vehicles:           # each vehicle alone, same world and mission
                ms_sc = member_scenario(sc, v)
                r1 = run_lockstep(ms_sc.model_copy(update={"criteria": ms_sc.criteria.model_copy(
                    update={"max_time_s": a.sim_s})}))
                w += r1.wall_time_s
            peer = 1000 * w / steps
        target = {10: 30.0, 20: 10.0}.get(n)
        rtf = a.sim_s / wall
        tg = f">= {target:g}x" if target else ""
        print(f"{n:3d} {ms:14.2f} {rtf:9.1f}x {peer:25.2f} {ms / peer if peer == peer else math.nan:6.2f} {tg:>8s}"
              + ("" if not target else ("  met" if rtf >= target else "  NOT met"))
              + f"   CPU: {1000 * cpu / max(res.steps, 1):.2f} ms/step, RTF {a.sim_s / cpu:.1f}x"
              + ("" if not target else ("  met" if a.sim_s / cpu >= target else "  NOT met")), flush=True)
        rows.append((n, ms, 1000 * cpu / max(res.steps, 1)))
    fit = [r for r in rows if r[0] >= 2]
    if len(fit) >= 2:
        x = np.log([r[0] for r in fit])
        k, _ = np.polyfit(x, np.log([r[1] for r in fit]), 1)
        kc, _ = np.polyfit(x, np.log([r[2] for r in fit]), 1)
        print(f"time per step ~ N^{k:.2f} (wall), N^{kc:.2f} (CPU) (fitted over N = "
              f"{', '.join(str(r[0]) for r in fit)}; 1 = linear, 2 = square)")


if __name__ == "__main__":
    main()
