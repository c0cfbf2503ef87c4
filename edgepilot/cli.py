"""The ``edgepilot`` command.

    edgepilot sitl run [SCENARIO] [--seed N] [--speedup X] [--out DIR]
    edgepilot sitl list

Exit codes: 0 success (the scenario's pass criteria held), 1 the scenario
ran and failed its criteria, 2 bad usage or a bad config/scenario file.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgepilot import __version__

DEFAULT_SCENARIO = "ugv_yard"

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edgepilot", description="Edge autonomy for UGVs and USVs.")
    p.add_argument("--version", action="version", version=f"edgepilot {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sitl = sub.add_parser("sitl", help="software-in-the-loop simulation",
                          description="Run scenarios in the simulator.")
    ssub = sitl.add_subparsers(dest="sitl_command", metavar="SUBCOMMAND")
    run = ssub.add_parser(
        "run", help="run a scenario",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run a scenario in lockstep (as fast as possible unless --speedup) and write a report.",
        epilog="examples:\n  edgepilot sitl run                    # the default UGV yard mission\n"
               "  edgepilot sitl run usv_harbor --seed 7\n"
               "  edgepilot sitl run configs/scenarios/ugv_corridor.toml --out /tmp/run1\n\n"
               "exit codes: 0 passed, 1 pass criteria failed, 2 bad usage or bad scenario/config file")
    run.add_argument("scenario", nargs="?", default=DEFAULT_SCENARIO,
                     help=f"scenario name in configs/scenarios or a TOML path (default: {DEFAULT_SCENARIO})")
    run.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
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
    rt.add_argument("--duration", type=float, metavar="S", help="stop after S seconds of vehicle time")
    ssub.add_parser("list", help="list the shipped scenarios")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "sitl":
        from sim.cli import list_scenarios, run_scenario

        if args.sitl_command == "run" and args.realtime:
            from sim.realtime import run_realtime_cli

            return run_realtime_cli(args)
        if args.sitl_command == "run":
            return run_scenario(args)
        if args.sitl_command == "list":
            return list_scenarios()
    parser.print_help()
    return EXIT_USAGE
