"""``edgepilot sitl run FLEET_SCENARIO`` (the CLI picks this runner when
the scenario has ``[[vehicles]]``) and the fleet part of ``sitl list``."""
from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console

from edgepilot import configs_dir, exitcodes
from edgepilot.vehicle.config import ConfigError


def list_fleet_scenarios() -> None:
    from edgepilot.sim.fleet.scenario import load_fleet_scenario

    for p in sorted((configs_dir() / "fleet").glob("*.toml")):
        try:
            sc = load_fleet_scenario(p)
            kinds = "+".join(sorted({v.vehicle_config.kind for v in sc.vehicles}))
            print(f"{p.stem:28s} fleet of {len(sc.vehicles)} ({kinds})  {sc.description}")
        except ConfigError as e:
            print(f"{p.stem:28s} INVALID: {e}")


def run_fleet_scenario(args) -> int:
    from edgepilot.sim.fleet.report import write_fleet_report
    from edgepilot.sim.cli import progress_printer
    from edgepilot.sim.fleet.runner import run_fleet
    from edgepilot.sim.fleet.scenario import load_fleet_scenario

    out = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    try:
        sc = load_fleet_scenario(args.scenario)
    except ConfigError as e:
        err.print(f"[bold red]error:[/] {e}", markup=True, soft_wrap=True)
        return exitcodes.USAGE
    quiet = getattr(args, "quiet", False)
    if not quiet:
        names = ", ".join(f"{v.name} ({v.vehicle_config.kind}, sysid {v.sysid})" for v in sc.vehicles)
        out.print(f"edgepilot fleet SITL: {sc.name}, seed {args.seed if args.seed is not None else sc.seed}, "
                  f"{len(sc.vehicles)} vehicles: {names}" + (f"; tasks by {sc.allocator}" if sc.tasks else ""),
                  soft_wrap=True)

    def on_event(name, e):
        if not quiet and e.kind != "contact":
            out.print(f"  [{e.t:7.1f} s] {name}: {e.text}", soft_wrap=True)

    on_tick = progress_printer(out, quiet)

    try:
        res = run_fleet(sc, seed=args.seed, speedup=args.speedup, on_event=on_event, on_tick=on_tick)
    except ConfigError as e:
        err.print(f"[bold red]error:[/] {e}", markup=True, soft_wrap=True)
        return exitcodes.USAGE
    report_dir = args.out or Path("reports") / sc.name
    write_fleet_report(res, sc, report_dir)
    s = res.summary()
    out.print()
    out.print(f"scenario            {s['scenario']} (seed {s['seed']})")
    out.print(f"result              {'PASS' if res.passed else 'FAIL'}")
    out.print(f"sim time            {s['sim_time_s']:.1f} s")
    out.print(f"wall time           {s['wall_time_s']:.2f} s")
    out.print(f"real-time factor    {s['real_time_factor']:.1f}x")
    out.print(f"{'vehicle':10s} {'sysid':>5s} {'kind':4s} {'mission':>9s} {'path m':>8s} {'clear m':>8s} "
              f"{'coll':>4s}  tasks done", soft_wrap=True)
    for r in s["vehicles"]:
        mis = "broken" if r["broken_at_s"] is not None else (
            f"{r['waypoints_reached']}/{r['waypoints_total']}" if r["waypoints_total"] else "-")
        clr = "-" if r["min_clearance_m"] is None else f"{r['min_clearance_m']:.2f}"
        out.print(f"{r['vehicle']:10s} {r['sysid']:5d} {r['kind']:4s} {mis:>9s} {r['path_length_m']:8.1f} "
                  f"{clr:>8s} {r['collisions']:4d}  {', '.join(r['tasks_done']) or '-'}", soft_wrap=True)
    f = s["fleet"]
    sep = "-" if f["min_separation_m"] is None else f"{f['min_separation_m']:.2f}"
    out.print(f"{'fleet':10s} {'':5s} {'':4s} {f['missions_complete']:>4d} done {f['path_length_m']:8.1f} "
              f"{f['min_clearance_m']:8.2f} {f['collisions']:4d}  min separation {sep} m", soft_wrap=True)
    if s["tasks"]:
        t = s["tasks"]
        out.print(f"tasks               {t.get('done_count', 0)}/{t.get('count', 0)} done, "
                  f"{len(t.get('cancelled', []))} cancelled, allocator {t.get('allocator')}", soft_wrap=True)
        ref = t.get("reference")
        if ref:
            how = ("recorded for this problem" if ref["source"] == "stored" else
                   f"solved now; to record it: reference_cost_s = {ref['cost_s']!r}, "
                   f"reference_digest = \"{ref['digest']}\"")
            out.print(f"plan cost           {t['plan_cost_s']:.1f} s; OR-Tools' best {ref['cost_s']:.1f} s "
                      f"({how})", soft_wrap=True)
    h = s.get("harbour")
    if h:
        for name, d in h["detection"].items():
            det = "never" if d["detected_s"] is None else "at %.1f s" % d["detected_s"]
            lat = "none" if d["latency_s"] is None else "%.1f s later" % d["latency_s"]
            out.print(f"contact {name:12s} {'AIS' if d['ais'] else 'AIS-dark'}, detected {det}, first alert {lat}",
                      soft_wrap=True)
        for al in h["alerts"]:
            out.print(f"alert  [{al['t']:7.1f} s] {al['by']}: {al['kind']} score {al['score']:.2f} at "
                      f"({al['x']:.0f}, {al['y']:.0f}) m: {'; '.join(al['reasons'])}", soft_wrap=True)
        for e in h.get("restricted_entries", []):
            when = ("no alert" if e["alert_after_entry_s"] is None else
                    f"alert {e['alert_after_entry_s']:+.1f} s from entering ({'+'.join(e['sources'])})")
            visited = "never visited" if e["visited_s"] is None else f"visited at {e['visited_s']:.1f} s"
            out.print(f"entry  {e['person']} into {e['zone']} at {e['entered_s']:.1f} s (truth): {when}; "
                      f"inspect {', '.join(e['inspections']) or 'none'} {visited}", soft_wrap=True)
        for so in h["standoff"]:
            frac = "-" if so["inside_fraction"] is None else "%.0f %%" % (100 * so["inside_fraction"])
            out.print(f"shadow {so['task']} by {so['by']}: inside {so['standoff_m']:g}+-{so['tolerance_m']:g} m "
                      f"{frac} of {so['assessed_s']:.0f} s assessed (vessel faster than the shadower for "
                      f"{so['not_assessed_contact_faster_s']:.0f} s: not assessed)", soft_wrap=True)
        for g in h["patrol_gap"]:
            closed = "never" if g["closed_after_s"] is None else "%.0f s after all on the loop" % g["closed_after_s"]
            out.print(f"patrol {g['why']} at {g['at_s']:.0f} s: {g['boats']} vehicles, gap closed {closed}",
                      soft_wrap=True)
    for c in s["casualties"]:
        where = "not reported" if c["reported"] is None else f"reported by {c['by']} {c['error_m']:.1f} m off"
        out.print(f"casualty {c['name']:10s} {where}", soft_wrap=True)
    out.print(f"report              {report_dir}/ (trajectory.png, summary.json, tracks.csv, tracks/)")
    for r in res.reasons:
        out.print(f"FAIL reason: {r}", style="bold red", soft_wrap=True)
    sys.stdout.flush()
    return exitcodes.OK if res.passed else exitcodes.FAILED
