"""``edgepilot sitl ...`` subcommands."""
from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console

from edgepilot import configs_dir, exitcodes
from edgepilot.vehicle.config import ConfigError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = exitcodes.OK, exitcodes.FAILED, exitcodes.USAGE


def list_scenarios() -> int:
    from edgepilot.sim.scenario import load_scenario

    for p in sorted((configs_dir() / "scenarios").glob("*.toml")):
        try:
            sc = load_scenario(p)
            print(f"{p.stem:28s} {sc.vehicle_config.kind}  {sc.description}")
        except ConfigError as e:
            print(f"{p.stem:28s} INVALID: {e}")
    from edgepilot.sim.fleet.cli import list_fleet_scenarios

    list_fleet_scenarios()
    return EXIT_OK


def run_scenario(args) -> int:
    from edgepilot.sim.lockstep import run_lockstep
    from edgepilot.sim.report import write_report
    from edgepilot.sim.scenario import load_scenario

    from edgepilot.sim.fleet.scenario import is_fleet_scenario

    if is_fleet_scenario(args.scenario):       # [[vehicles]]: the fleet runner
        from edgepilot.sim.fleet.cli import run_fleet_scenario

        return run_fleet_scenario(args)
    out = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    from edgepilot.sim.overrides import parse_set

    try:
        overrides = [parse_set(a) for a in getattr(args, "overrides", None) or []]
        sc = load_scenario(args.scenario, overrides)
    except ConfigError as e:
        err.print(f"[bold red]error:[/] {e}", markup=True, soft_wrap=True)
        return EXIT_USAGE
    quiet = getattr(args, "quiet", False)
    if not quiet:
        out.print(f"edgepilot SITL: {sc.name} ({sc.vehicle_config.kind}, {sc.vehicle_config.name}), "
                  f"seed {args.seed if args.seed is not None else sc.seed}, "
                  f"{len(sc.mission.waypoints)} waypoints")

    def on_event(e):
        if not quiet:
            out.print(f"  [{e.t:7.1f} s] {e.text}")

    on_tick = progress_printer(out, quiet)

    res = run_lockstep(sc, seed=args.seed, speedup=args.speedup, on_event=on_event, on_tick=on_tick)
    report_dir = args.out or Path("reports") / sc.name
    write_report(res, sc, report_dir)
    s = res.summary()
    out.print()
    out.print(f"scenario            {s['scenario']} (seed {s['seed']})")
    out.print(f"result              {'PASS' if res.passed else 'FAIL'}")
    out.print(f"waypoints reached   {s['waypoints_reached']}/{s['waypoints_total']}")
    out.print(f"sim time            {s['sim_time_s']:.1f} s")
    out.print(f"wall time           {s['wall_time_s']:.2f} s")
    out.print(f"real-time factor    {s['real_time_factor']:.1f}x")
    out.print(f"path length         {s['path_length_m']:.1f} m")
    out.print(f"min clearance       {s['min_clearance_m']:.2f} m")
    out.print(f"collisions          {s['collisions']}")
    out.print(f"report              {report_dir}/ (trajectory.png, summary.json, track.csv, "
              "trajectory_true.tum, trajectory_est.tum)")
    _print_navigation(out, s.get("navigation"))
    _print_failsafes(out, s["failsafes"])
    for r in res.reasons:
        out.print(f"FAIL reason: {r}", style="bold red")
    sys.stdout.flush()
    return EXIT_OK if res.passed else EXIT_FAILED


def _print_navigation(out, nav: dict | None) -> None:
    """Position error against truth and each GNSS fault's detection."""
    if not nav:
        return
    f = lambda v, unit="m": "-" if v is None else f"{v:.3f} {unit}"  # noqa: E731
    out.print(f"position error      RMS {f(nav['position_error_rms_m'])}, max {f(nav['position_error_max_m'])}, "
              f"final {f(nav['position_error_final_m'])} (from arming)")
    for g in nav.get("gnss_faults", []):
        det = "never detected" if g["detected_s"] is None else f"detected at {g['detected_s']:.2f} s"
        line = f"  {g['fault']:14s} at {g['start_s']:g} s: {det}"
        if g["fault"] == "gps_spoofing":
            ex = g["exceeds_3sigma_s"]
            line += (f", drag beyond 3-sigma at {ex:.2f} s" if ex is not None else ", drag never beyond 3-sigma")
            if g["detection_delay_s"] is not None:
                line += f", delay {g['detection_delay_s']:.2f} s"
        else:
            if g["detection_delay_s"] is not None:
                line += f" (+{g['detection_delay_s']:.2f} s)"
            if g.get("drift_fraction") is not None:
                line += (f"; drift {g['error_at_end_m']:.2f} m over {g['distance_m']:.0f} m "
                         f"= {100 * g['drift_fraction']:.2f} %")
        out.print(line, soft_wrap=True)
    for cp in nav.get("checkpoints", []):
        lim = "" if cp["max_error_m"] is None else f" (limit {cp['max_error_m']:g} m)"
        out.print(f"  error at {cp['name']:16s} {cp['error_m']:.2f} m at t={cp['t_s']:.0f} s{lim}", soft_wrap=True)
    if nav.get("lidar_fixes_accepted") is not None:
        out.print(f"lidar fixes         {nav['lidar_fixes_accepted']} accepted by the EKF "
                  f"({nav.get('lidar_track_fixes', 0)} from the matcher's tracking mode)", soft_wrap=True)


def _print_failsafes(out, fs: dict) -> None:
    """Failsafe trips/clears and, for fault scenarios, each fault's action
    and measured reaction time."""
    trips = [e for e in fs["events"] if e["phase"] == "trip"]
    out.print(f"failsafes           {len(trips)} tripped", soft_wrap=True)
    for e in fs["events"]:
        out.print(f"  [{e['t']:7.2f} s] {e['phase']:6s} {e['trigger'] or '':14s} {e['action'] or '':5s} {e['text']}", soft_wrap=True)
    if fs["faults"]:
        out.print(f"  {'fault':20s} {'start s':>8s} {'expected':22s} {'action':16s} {'reaction s':>10s} "
                  f"{'motors off s':>12s} {'resumed':>7s}  ok", soft_wrap=True)
        for f in fs["faults"]:
            act = f"{f['action'] or '-'}" + (f" ({f['trigger']})" if f["trigger"] else "")
            rs = "-" if f["reaction_s"] is None else f"{f['reaction_s']:.3f}"
            ms = "-" if f["motors_stopped_s"] is None else f"{f['motors_stopped_s']:.3f}"
            out.print(f"  {f['fault']:20s} {f['start_s']:8.2f} {f['expected']:22s} {act:16s} {rs:>10s} "
                      f"{ms:>12s} {str(f['resumed']):>7s}  {'yes' if f['ok'] else 'NO'}", soft_wrap=True)


def progress_printer(out: Console, quiet: bool):
    """``on_tick(t, limit)`` for a lockstep or fleet run: one dim progress line per
    10% of the time budget (keeps logs readable when the run is much faster
    than real time), nothing when ``quiet``."""
    state = {"last": -1}

    def on_tick(t, limit):
        pct = int(100 * t / limit) // 10
        if not quiet and pct > state["last"]:
            state["last"] = pct
            out.print(f"  [{t:7.1f} s] running ({100 * t / limit:3.0f}% of the {limit:g} s limit)", style="dim")

    return on_tick
