"""The ``edgepilot`` command.

    edgepilot sitl run [SCENARIO] [--seed N] [--set KEY=VALUE ...] [--speedup X] [--out DIR]
    edgepilot sitl campaign SPEC.toml [--workers N | --ray auto|ADDRESS] [--resume] [--fail-under RATE]
    edgepilot sitl run --realtime | --hil [SCENARIO] ...
    edgepilot sitl list
    edgepilot vehicle run --config FILE
    edgepilot gcs --connect ENDPOINT COMMAND ...
    edgepilot warm

Exit codes are one table for every subcommand, ``gcs`` included:
:mod:`edgepilot.exitcodes` (0 success, 1 failed or refused, 2 bad usage or
bad file, 3/4 gcs link errors, 130 interrupted), shown in every ``--help``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgepilot import __version__, exitcodes

DEFAULT_SCENARIO = "ugv_yard"

EXIT_OK, EXIT_FAILED, EXIT_USAGE = exitcodes.OK, exitcodes.FAILED, exitcodes.USAGE
RAW = argparse.RawDescriptionHelpFormatter


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {n}")
    return n


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edgepilot", description="Edge autonomy for UGVs and USVs.",
                                formatter_class=RAW, epilog=exitcodes.TABLE)
    p.add_argument("--version", action="version", version=f"edgepilot {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sitl = sub.add_parser("sitl", help="software-in-the-loop simulation",
                          description="Run scenarios in the simulator.", formatter_class=RAW, epilog=exitcodes.TABLE)
    ssub = sitl.add_subparsers(dest="sitl_command", metavar="SUBCOMMAND")
    run = ssub.add_parser(
        "run", help="run a scenario",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run a scenario in lockstep (as fast as possible unless --speedup) and write a report.",
        epilog="examples:\n  edgepilot sitl run                    # the default UGV yard mission\n"
               "  edgepilot sitl run usv_harbor --seed 7\n"
               "  edgepilot sitl run configs/scenarios/ugv_corridor.toml --out /tmp/run1\n"
               "  edgepilot sitl run ugv_yard --seed 7 --set start.x=5.5 --set 'faults[+]={type=\"gps_dropout\", "
               "start_s=20.0, duration_s=2.0}'\n\n"
               + exitcodes.TABLE)
    run.add_argument("scenario", nargs="?", default=DEFAULT_SCENARIO,
                     help=f"scenario name in configs/scenarios or a TOML path (default: {DEFAULT_SCENARIO})")
    run.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                     help="override a scenario value, repeatable, applied in order: a dotted key into the "
                          "scenario (start.x, world.current.speed, faults[0].start_s, faults[+] to append, "
                          "vehicle.sensors.gps.noise_m) and a TOML value; what a campaign prints to replay a run")
    run.add_argument("--speedup", type=float, default=None,
                     help="pace the run at N times real time (default: as fast as possible)")
    run.add_argument("--out", type=Path, default=None, help="report folder (default: reports/SCENARIO)")
    run.add_argument("--quiet", action="store_true", help="print only the summary")
    rt = run.add_argument_group("real-time mode (fly the simulated vehicle from a ground station)")
    rt.add_argument("--realtime", action="store_true",
                    help="run on the wall clock (x --speedup), disarmed in HOLD, serving MAVLink")
    rt.add_argument("--mavlink", action="append", metavar="ENDPOINT",
                    help="pymavlink connection string, repeatable (default: tcpin:127.0.0.1:5760 "
                         "and udpout:127.0.0.1:14550)")
    rt.add_argument("--signing-key", metavar="FILE",
                    help="require MAVLink 2 signing with this key (64 hex characters)")
    rt.add_argument("--tlog", metavar="FILE", help="record all MAVLink traffic to this .tlog")
    rt.add_argument("--params", metavar="FILE", help="persist parameters to this .parm file")
    rt.add_argument("--state-dir", metavar="DIR",
                    help="restore and persist mission, fence, home and parameters in DIR (survives kill -9; "
                         "--params, if given, still names the parameter file); events go to DIR/events.jsonl")
    rt.add_argument("--duration", type=float, metavar="S", help="stop after S seconds of vehicle time")
    rt.add_argument("--v2v", metavar="HOST:PORT",
                    help="fleet scenario: link the vehicles over UDP V2V (instance i binds PORT + 10 x i) through "
                         "the simulated radio (the scenario's [link] range, loss, latency and link faults) and "
                         "run the task auction on board (`edgepilot gcs fleet tasks upload FILE --auction`); "
                         "boats share their route ahead with their fleet-mates over it")
    hil = run.add_argument_group("hardware-in-the-loop (the simulator plays the hardware on pseudo-terminals)")
    hil.add_argument("--hil", action="store_true",
                     help="serve the motor controller, GPS and lidar on ptys at the device paths of "
                          "--hil-config and let an unmodified `edgepilot vehicle run` process fly the scenario")
    hil.add_argument("--hil-config", metavar="TOML", default=None,
                     help="vehicle config with [hardware] pty paths (default: configs/vehicles/VEHICLE_hil.toml)")
    hil.add_argument("--serve-only", action="store_true",
                     help="with --hil: only play the hardware; start `edgepilot vehicle run` yourself")
    ssub.add_parser("list", help="list the shipped scenarios", formatter_class=RAW, epilog=exitcodes.TABLE)
    camp = ssub.add_parser(
        "campaign", help="run a randomised campaign of scenarios and report statistics",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run many lockstep scenario runs with parameters sampled from a campaign spec, on all "
                    "local cores (default) or a Ray cluster; stream results to a JSON-lines file, then write "
                    "a report (pass rate with confidence intervals, what failures depend on, worst runs with "
                    "the command that replays each).",
        epilog="examples:\n  edgepilot sitl campaign configs/campaigns/yard_patrol.toml\n"
               "  edgepilot sitl campaign spec.toml --out runs/c1 --resume --fail-under 0.95\n"
               "  edgepilot sitl campaign spec.toml --ray auto\n\n"
               "For a campaign: 1 means the pass rate fell below --fail-under; 2 a bad spec (nothing ran);\n"
               "130 interrupted (continue with --resume).\n\n" + exitcodes.TABLE)
    camp.add_argument("spec", type=Path, help="campaign spec TOML")
    camp.add_argument("--out", type=Path, default=None,
                      help="output folder: results.jsonl, report.html, plots/ (default: campaigns/NAME)")
    camp.add_argument("--workers", type=int, default=None, metavar="N",
                      help="parallel runs (default: all local cores, or every CPU of the Ray cluster)")
    camp.add_argument("--ray", metavar="ADDRESS", default=None,
                      help="run on a Ray cluster: 'auto' (the cluster this machine belongs to) or its address "
                           "(needs the 'cluster' extra: pip install 'edgepilot[cluster]')")
    camp.add_argument("--resume", action="store_true",
                      help="continue an interrupted campaign from its results file (finished runs are kept)")
    camp.add_argument("--overwrite", action="store_true", help="discard an existing results file and start over")
    camp.add_argument("--fail-under", metavar="RATE", default=None,
                      help="exit 1 if the overall pass rate is below RATE (0.95 or 95%%)")
    camp.add_argument("--runs", type=int, default=None, metavar="N",
                      help="run only the first N runs of the plan (the same runs a full campaign starts with)")
    camp.add_argument("--no-progress", action="store_true", help="no progress bar (one line per 10%% instead)")
    camp.add_argument("--report-only", action="store_true", help="only (re)write the report from the results file")

    veh = sub.add_parser("vehicle", help="the onboard process (on the vehicle's computer)",
                         formatter_class=RAW, epilog=exitcodes.TABLE)
    vsub = veh.add_subparsers(dest="vehicle_command", metavar="SUBCOMMAND")
    vrun = vsub.add_parser(
        "run", help="run the vehicle on its hardware",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Open the drivers named in the config's [hardware] table, run the autonomy core at its "
                    "control rate, serve MAVLink; SIGTERM stops the motors first, then exits.",
        epilog="example:\n  edgepilot vehicle run --config configs/vehicles/ugv_hardware.toml "
               "--map site.yaml --origin 47.3977,8.5456\n\n" + exitcodes.TABLE)
    vrun.add_argument("--config", required=True, type=Path, help="vehicle TOML with a [hardware] table")
    vrun.add_argument("--map", default=None, help="site map (ROS map_server YAML); needs --origin")
    vrun.add_argument("--origin", default=None, metavar="LAT,LON",
                      help="WGS84 position of the map frame's (0, 0) (default: the first GPS fix; required "
                           "without a GPS)")
    vrun.add_argument("--start-pose", default=None, metavar="X,Y,YAW_DEG",
                      help="where the vehicle stands: map frame metres (x east, y north) and yaw in degrees CCW "
                           "from east; the navigation EKF starts there (a vehicle without GNSS)")
    vrun.add_argument("--mavlink", action="append", metavar="ENDPOINT",
                      help="override the config's [hardware] mavlink endpoints (repeatable)")
    vrun.add_argument("--tlog", metavar="FILE", help="record all MAVLink traffic to this .tlog")
    vrun.add_argument("--params", metavar="FILE", help="persist parameters to this .parm file")
    vrun.add_argument("--state-dir", metavar="DIR",
                      help="restore and persist mission, fence, home and parameters in DIR, events to "
                           "DIR/events.jsonl (default: the config's [hardware] state_dir)")
    vrun.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    vrun.add_argument("--no-warm", action="store_true", help="skip the kernel warm-up at start")
    vrun.add_argument("--v2v", metavar="HOST:PORT",
                      help="fleet: bind the V2V radio here (UDP, our MAVLink dialect, signed with the vehicle's "
                           "key) and run the task auction on board (`edgepilot gcs fleet tasks upload --auction`); "
                           "a boat also shares its route ahead with its fleet-mates over it")
    vrun.add_argument("--v2v-peer", action="append", metavar="HOST:PORT",
                      help="where the other vehicles' V2V radios listen (repeatable; a broadcast address works)")
    vrun.add_argument("--v2v-loss", type=float, metavar="P",
                      help="bench test: lose each V2V datagram heard with probability P (0 <= P < 1)")
    vrun.add_argument("--v2v-latency", type=float, metavar="S",
                      help="bench test: hand each V2V datagram heard to the auction S seconds late")
    vrun.add_argument("--mmsi", type=int, metavar="N",
                      help="a boat: its own AIS MMSI, never taken for a contact on --ais; with --v2v the MMSI its "
                           "fleet-mates know it by, which its shared route ahead carries (default 993000000 + its "
                           "system id)")
    vrun.add_argument("--ais", metavar="URL",
                      help="a boat: the AIS receiver, a serial device / pyserial URL (/dev/ttyUSB1) or udp:HOST:PORT "
                           "to listen on; the vessels it hears go to the COLREGs helm (default: the config's "
                           "[hardware.ais] source)")
    vrun.add_argument("--ais-baud", type=int, metavar="BAUD",
                      help="the AIS receiver's serial speed (default 38400, the AIS standard)")
    vrun.add_argument("--fleet-period", type=float, metavar="S", help="auction round period (default 1 s)")
    vrun.add_argument("--fleet-stale", type=float, metavar="S",
                      help="a member unheard this long is presumed gone and its tasks re-auctioned (default 10 s)")
    vrun.add_argument("--fleet-lease", type=float, metavar="S",
                      help="a task lease's life: a vehicle that can no longer renew its lease stops working on "
                           "the task, and others may take it over this long plus 2 s after (default 8 s)")
    vrun.add_argument("-v", "--verbose", action="store_true", help="log driver events at INFO")
    warm = sub.add_parser("warm", help="compile and cache every numba kernel (vehicle and simulator) ahead of the first run",
                          formatter_class=RAW, epilog=exitcodes.TABLE)
    warm.add_argument("-j", "--jobs", type=_positive_int, default=None,
                      help="compile in this many processes at once (default: the CPUs available, at most 4)")
    # `edgepilot gcs ...` is parsed entirely by gcs.cli (see main); listed here for --help.
    sub.add_parser("gcs", help="ground-station CLI for any MAVLink vehicle (edgepilot gcs --help)", add_help=False)
    return p


def _fleet_planner(tasks_path: str, **kw) -> dict:
    from edgepilot.fleet.plan import make_plan_document

    return make_plan_document(tasks_path, **kw)


class _AuctionOnFirstUse:
    """edgepilot.fleet.auction's AuctionHandoff, imported when a gcs command
    first uses it: plain gcs commands load no vehicle-side code."""

    _real = None

    def __getattr__(self, name):
        if self._real is None:
            from edgepilot.fleet.auction import AuctionHandoff

            self._real = AuctionHandoff()
        return getattr(self._real, name)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["gcs"]:
        from edgepilot.gcs.cli import main as gcs_main

        # `gcs fleet plan` needs our planner, which edgepilot.gcs may not
        # import (MAVLink only): this layer hands it over (edgepilot/fleet/plan.py).
        return gcs_main(argv[1:], fleet_planner=_fleet_planner, fleet_auction=_AuctionOnFirstUse())
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "sitl":
        from edgepilot.sim.cli import list_scenarios, run_scenario

        if args.sitl_command == "campaign":
            from edgepilot.sim.campaign.cli import campaign_cli

            return campaign_cli(args)
        if args.sitl_command == "run" and args.overrides and (args.hil or args.realtime):
            print("edgepilot: error: --set works with lockstep runs only (not --hil or --realtime)", file=sys.stderr)
            return EXIT_USAGE
        if args.sitl_command == "run" and args.hil:
            from edgepilot.sim.hil import run_hil_cli

            return run_hil_cli(args)
        if args.sitl_command == "run" and args.realtime:
            from edgepilot.sim.realtime import run_realtime_cli

            return run_realtime_cli(args)
        if args.sitl_command == "run":
            return run_scenario(args)
        if args.sitl_command == "list":
            return list_scenarios()
    if args.command == "vehicle" and args.vehicle_command == "run":
        from edgepilot.onboard.onboard import run_vehicle_cli

        return run_vehicle_cli(args)
    if args.command == "warm":
        from edgepilot.onboard.kernels import warm_cli

        return warm_cli(args)
    parser.print_help()
    return EXIT_USAGE
