"""Fleet SITL speed: 1, 2, 5, 10, 20 lidar UGVs in one lockstep world on one
core (sim/fleet), each with its own full autonomy core.

For each fleet size N: wall time per simulated physics step (10 ms) of the
lockstep loop (building the world and the cores not counted) and the
real-time factor.  The peer is the single-vehicle runner (sim/lockstep.py)
run N times, one vehicle at a time on the same world and missions: the
cost of N vehicles simulated apart.  ``fleet / N x single`` near 1 says the
shared world adds nothing per vehicle; the fitted exponent of time per step
against N says how it grows (1 = linear, 2 = with the square).

    python benchmarks/fleet_sitl.py [--sim-s 30] [--sizes 1,2,5,10,20] [--repeat 3]

Targets of issue 16: 10 vehicles >= 30x real time, 20 >= 10x.  Each row also
gives the loop's CPU time per step and the real-time factor on it (on a
shared machine wall time is stretched by the other load).  Each size runs
the fleet and the peer ``--repeat`` times (default 3), alternating so that
both meet the machine in the same state; a row gives the medians, the range
of the fleet runs' CPU real-time factors, how many of them met the target,
and fleet / peer on CPU time.
"""
from __future__ import annotations

import argparse
import math
import statistics
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


def _cpu_from_first_tick():
    """(on_tick callback, reader): the reader gives the process CPU time [s]
    since the run's first tick (building the world and the cores excluded)."""
    cpu0 = []
    return (lambda t, lim: cpu0.append(time.process_time()) if not cpu0 else None,
            lambda: time.process_time() - cpu0[0])


def run_fleet_once(path: Path, sim_s: float) -> tuple[float, float]:
    """One fleet run: (wall, CPU) ms per physics step of its lockstep loop."""
    sc = load_fleet_scenario(path)
    tick, cpu = _cpu_from_first_tick()
    res = run_fleet(sc, max_time_s=sim_s, on_tick=tick)
    steps = max(res.steps, 1)
    return 1000 * res.wall_time_s / steps, 1000 * cpu() / steps


def run_peer_once(path: Path, sim_s: float) -> tuple[float, float]:
    """The peer: each vehicle of the fleet alone (same world and mission) in
    the single-vehicle runner, one after another: (wall, CPU) ms per
    physics step summed over the vehicles."""
    sc = load_fleet_scenario(path)
    steps = int(round(sim_s / PHYSICS_DT))
    wall = cpu_s = 0.0
    for v in sc.vehicles:
        ms_sc = member_scenario(sc, v)
        tick, cpu = _cpu_from_first_tick()
        r1 = run_lockstep(ms_sc.model_copy(update={"criteria": ms_sc.criteria.model_copy(
            update={"max_time_s": sim_s})}), on_tick=tick)
        wall += r1.wall_time_s
        cpu_s += cpu()
    return 1000 * wall / steps, 1000 * cpu_s / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sim-s", type=float, default=30.0, help="simulated seconds per run")
    ap.add_argument("--sizes", default="1,2,5,10,20")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of the fleet and of the peer per size, alternating; rows give the medians")
    ap.add_argument("--no-peer", action="store_true", help="skip the N x single-vehicle runs")
    a = ap.parse_args()
    if a.repeat < 1:
        ap.error(f"--repeat must be >= 1, got {a.repeat}")
    sizes = [int(s) for s in a.sizes.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="fleet_bench_"))
    # warm-up: imports and every kernel loaded from numba's cache (a run as
    # long as the measured ones: the first A* plan, the first tracks and
    # clearing come seconds in, and a kernel's first call would otherwise
    # land in the first measured row's wall time)
    p = tmp / "warm.toml"
    p.write_text(fleet_toml(2, a.sim_s))
    run_fleet(load_fleet_scenario(p))
    print(f"fleet SITL, lidar UGVs (ugv_lidar: 540 beams at 10 Hz, core at 20 Hz), {a.sim_s:g} s simulated, "
          f"physics {1 / PHYSICS_DT:.0f} Hz, one core; medians of {a.repeat} run(s) of fleet and peer, alternating")
    print(f"{'N':>3s} {'fleet ms/step':>14s} {'fleet RTF':>10s} {'peer: N x single ms/step':>25s} "
          f"{'ratio':>6s} {'target':>8s}")
    rows = []
    for n in sizes:
        p = tmp / f"fleet_{n}.toml"
        p.write_text(fleet_toml(n, a.sim_s))
        fleet, peer = [], []
        for _ in range(a.repeat):        # alternating, so both meet the machine's same moods
            fleet.append(run_fleet_once(p, a.sim_s))
            if not a.no_peer:
                peer.append(run_peer_once(p, a.sim_s))
        ms = statistics.median(f[0] for f in fleet)
        cpu_ms = statistics.median(f[1] for f in fleet)
        peer_ms = statistics.median(q[0] for q in peer) if peer else math.nan
        peer_cpu = statistics.median(q[1] for q in peer) if peer else math.nan
        target = {10: 30.0, 20: 10.0}.get(n)
        rtf = 1000 * PHYSICS_DT / ms
        cpu_rtf = [1000 * PHYSICS_DT / f[1] for f in fleet]
        tg = f">= {target:g}x" if target else ""
        line = (f"{n:3d} {ms:14.2f} {rtf:9.1f}x {peer_ms:25.2f} {ms / peer_ms:6.2f} {tg:>8s}"
                + ("" if not target else ("  met" if rtf >= target else "  NOT met"))
                + f"   CPU: {cpu_ms:.2f} ms/step, RTF {1000 * PHYSICS_DT / cpu_ms:.1f}x"
                + ("" if not target else ("  met" if 1000 * PHYSICS_DT / cpu_ms >= target else "  NOT met")))
        if a.repeat > 1:
            line += f" (runs {min(cpu_rtf):.1f}-{max(cpu_rtf):.1f}x"
            if target:
                line += f", >= {target:g}x in {sum(r >= target for r in cpu_rtf)} of {a.repeat}"
            line += ")"
        if peer:
            line += f"; peer CPU {peer_cpu:.2f}, fleet / peer {cpu_ms / peer_cpu:.2f}"
        print(line, flush=True)
        rows.append((n, ms, cpu_ms))
    fit = [r for r in rows if r[0] >= 2]
    if len(fit) >= 2:
        x = np.log([r[0] for r in fit])
        k, _ = np.polyfit(x, np.log([r[1] for r in fit]), 1)
        kc, _ = np.polyfit(x, np.log([r[2] for r in fit]), 1)
        print(f"time per step ~ N^{k:.2f} (wall), N^{kc:.2f} (CPU) (fitted over N = "
              f"{', '.join(str(r[0]) for r in fit)}; 1 = linear, 2 = square)")


if __name__ == "__main__":
    main()
