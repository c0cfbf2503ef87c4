"""``edgepilot gcs``: the operator's ground station, a MAVLink client of any
vehicle (edgepilot, ArduPilot Rover, PX4).

``edgepilot gcs ARGS`` calls :func:`main` with ARGS; all of the argument
parsing lives here.  Results go to stdout, errors to stderr as one line
``error: ...``; exit codes are in :mod:`gcs.errors` and in ``--help``.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path

from edgepilot.gcs.errors import EXIT_BAD_INPUT, EXIT_CODES_HELP, EXIT_INTERRUPTED, EXIT_OK, BadInputError, GcsError, NoAnswerError

DEFAULT_ENDPOINT = "udpin:0.0.0.0:14550"
ENV_ENDPOINT = "EDGEPILOT_GCS_CONNECT"

RAW = argparse.RawDescriptionHelpFormatter


class _Parser(argparse.ArgumentParser):
    """Usage errors exit with EXIT_BAD_INPUT (the whole CLI's 2, edgepilot.exitcodes)."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _ex(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {l}" for l in lines) + "\n\n" + EXIT_CODES_HELP


def _positive(v: str) -> float:
    try:
        f = float(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {v!r}") from None
    if not f > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {v}")
    return f


def _sysid(v: str) -> int:
    try:
        n = int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer 1..255, got {v!r}") from None
    if not 1 <= n <= 255:
        raise argparse.ArgumentTypeError(f"expected 1..255, got {n}")
    return n


def _rate(v: str) -> int:
    try:
        n = int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer 1..100 Hz, got {v!r}") from None
    if not 1 <= n <= 100:
        raise argparse.ArgumentTypeError(f"expected 1..100 Hz, got {n}")
    return n


def _subcommands(parent: argparse.ArgumentParser, dest: str):
    """``add(name, help, examples)`` adding a SUBCOMMAND of ``parent`` with
    its help, examples and the exit-code table (mission, fence, param)."""
    sub = parent.add_subparsers(dest=dest, metavar="SUBCOMMAND", parser_class=_Parser)

    def add(name, help, examples):
        return sub.add_parser(name, help=help, description=help, formatter_class=RAW, epilog=_ex(*examples))

    return add


def build_parser() -> argparse.ArgumentParser:
    E = "edgepilot gcs --connect tcp:127.0.0.1:5760"
    p = _Parser(
        prog="edgepilot gcs", formatter_class=RAW,
        description="Ground-station CLI: a MAVLink client of any vehicle (edgepilot, ArduPilot Rover, PX4).\n"
                    "ENDPOINT is a pymavlink connection string: udpin:0.0.0.0:14550, udpout:HOST:PORT,\n"
                    "tcp:HOST:PORT, tcpin:HOST:PORT or a serial device with baud, /dev/ttyUSB0,57600.",
        epilog=_ex(f"{E} status", "edgepilot gcs --connect udpin:0.0.0.0:14550 --sysid 2 arm",
                   f"{E} mission upload patrol.waypoints", f"{E} watch",
                   "edgepilot gcs completion bash > ~/.local/share/bash-completion/completions/edgepilot"))
    p.add_argument("--connect", "-c", action="append", metavar="ENDPOINT",
                   help=f"MAVLink endpoint (default ${ENV_ENDPOINT} or {DEFAULT_ENDPOINT}); "
                        "repeat for `watch` to watch several links")
    p.add_argument("--sysid", type=_sysid, metavar="N",
                   help="talk to the vehicle with this system id (default: the first vehicle heard)")
    p.add_argument("--signing-key", metavar="FILE", help="MAVLink 2 signing key file (64 hex characters)")
    p.add_argument("--timeout", type=_positive, default=5.0, metavar="S",
                   help="seconds to wait for the vehicle's heartbeat (default 5)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def cmd(name, help, examples, **kw):
        return sub.add_parser(name, help=help, description=help, formatter_class=RAW, epilog=_ex(*examples), **kw)

    s = cmd("status", "print one snapshot: identity, mode, armed, GPS, position, speed, heading, battery, "
                      "mission progress, link quality, recent STATUSTEXT", [f"{E} status", f"{E} status --json | jq .mode"])
    s.add_argument("--json", action="store_true", help="machine-readable JSON instead of a table")
    s.add_argument("--wait", type=_positive, default=3.0, metavar="S",
                   help="longest time to collect telemetry (default 3)")
    w = cmd("watch", "live dashboard of every vehicle heard (q or Esc quits); stale vehicles are greyed "
                     "with the time since their last heartbeat",
            [f"{E} watch", "edgepilot gcs -c udpin:0.0.0.0:14550 -c tcp:10.0.0.7:5760 watch"])
    w.add_argument("--duration", type=_positive, metavar="S", help="stop after S seconds")
    w.add_argument("--rate", type=_positive, default=5.0, metavar="HZ", help="screen updates per second (default 5)")
    w.add_argument("--stale-after", type=_positive, default=3.0, metavar="S",
                   help="grey a vehicle out after S seconds without a heartbeat (default 3)")
    w.add_argument("--view", choices=("auto", "panels", "fleet"), default="auto",
                   help="panels: a box per vehicle; fleet: a row per vehicle and the alert list (warning-or-worse "
                        "STATUSTEXTs of every vehicle); auto (default): fleet from 3 vehicles on")
    w.add_argument("--plan", metavar="PLAN.json", help="show each vehicle's plan tasks and progress (fleet view)")
    a = cmd("arm", "arm the motors", [f"{E} arm", f"{E} arm --force   # skip pre-arm checks"])
    a.add_argument("--force", action="store_true", help="skip the vehicle's pre-arm checks (magic 21196)")
    d = cmd("disarm", "disarm the motors", [f"{E} disarm", f"{E} disarm --force   # even while moving"])
    d.add_argument("--force", action="store_true", help="disarm even when the vehicle refuses (moving)")
    m = cmd("mode", "change flight mode by name (ArduPilot Rover: MANUAL HOLD LOITER AUTO RTL GUIDED ...; "
                    "PX4: MANUAL POSCTL MISSION RTL LOITER ...)", [f"{E} mode HOLD", f"{E} mode guided"])
    m.add_argument("name", metavar="NAME")
    cmd("rtl", "return to launch", [f"{E} rtl"])
    g = cmd("goto", "drive to a position in GUIDED (DO_REPOSITION)",
            [f"{E} goto 47.3979 8.5457", f"{E} goto 47.3979 8.5457 --speed 0.8"])
    g.add_argument("lat", type=float, metavar="LAT", help="latitude [deg]")
    g.add_argument("lon", type=float, metavar="LON", help="longitude [deg]")
    g.add_argument("--speed", type=_positive, metavar="M_S", help="ground speed [m/s]")
    sp = cmd("speed", "change the target ground speed (DO_CHANGE_SPEED)", [f"{E} speed 1.0"])
    sp.add_argument("speed", type=float, metavar="M_S", help="ground speed [m/s]")

    mi = cmd("mission", "mission transfer: upload, download, start, clear, show",
             [f"{E} mission upload patrol.waypoints", f"{E} mission download backup.plan",
              f"{E} mission start --wait"])
    mcmd = _subcommands(mi, "mission_command")

    mu = mcmd("upload", "upload a QGC WPL 110 (.waypoints/.txt) or QGroundControl .plan file; "
                        "the file is checked completely before anything is sent",
              [f"{E} mission upload patrol.waypoints", f"{E} mission upload survey.plan"])
    mu.add_argument("file", metavar="FILE")
    md = mcmd("download", "download the vehicle's mission to FILE (.plan writes JSON, anything else QGC WPL 110)",
              [f"{E} mission download backup.waypoints", f"{E} mission download backup.plan"])
    md.add_argument("file", metavar="FILE")
    ms = mcmd("start", "start the mission (MISSION_START, switches to AUTO)",
              [f"{E} mission start", f"{E} mission start --wait --wait-timeout 600"])
    ms.add_argument("--wait", action="store_true", help="block until the last item is reached")
    ms.add_argument("--wait-timeout", type=_positive, default=3600.0, metavar="S",
                    help="give up waiting after S seconds (default 3600)")
    mcmd("clear", "erase the vehicle's mission", [f"{E} mission clear"])
    msh = mcmd("show", "download and print the mission", [f"{E} mission show", f"{E} mission show --json"])
    msh.add_argument("--json", action="store_true")

    fe = cmd("fence", "geofence transfer: upload, show, download, clear (MAVLink fence plan)",
             [f"{E} fence upload site.plan", f"{E} fence upload yard.fence", f"{E} fence show",
              f"{E} fence clear"])
    fcmd = _subcommands(fe, "fence_command")

    fu = fcmd("upload", "upload the geoFence of a QGroundControl .plan, or a text fence file "
                        "(polygon inclusion|exclusion + 'LAT LON' vertex lines; circle inclusion|exclusion LAT LON "
                        "RADIUS_M; return LAT LON); the file is checked completely before anything is sent, and "
                        "the upload replaces the vehicle's whole fence",
              [f"{E} fence upload site.plan", f"{E} fence upload yard.fence"])
    fu.add_argument("file", metavar="FILE")
    fsh = fcmd("show", "download and list the vehicle's fence zones", [f"{E} fence show", f"{E} fence show --json"])
    fsh.add_argument("--json", action="store_true")
    fdl = fcmd("download", "download the vehicle's fence to FILE (.plan writes QGroundControl JSON, "
                           "anything else the text format)", [f"{E} fence download site.plan"])
    fdl.add_argument("file", metavar="FILE")
    fcmd("clear", "remove the vehicle's fence", [f"{E} fence clear"])

    pa = cmd("param", "parameters: list, get, set, save to / load from ArduPilot .parm files",
             [f"{E} param list WP_", f"{E} param set WP_SPEED 1.5", f"{E} param save vehicle.parm"])
    pcmd = _subcommands(pa, "param_command")

    pl = pcmd("list", "list parameters whose name contains PATTERN (or matches a glob like 'WP_*')",
              [f"{E} param list", f"{E} param list WP_", f"{E} param list 'FS_*' --json"])
    pl.add_argument("pattern", nargs="?", metavar="PATTERN")
    pl.add_argument("--json", action="store_true")
    pg = pcmd("get", "print one parameter", [f"{E} param get WP_SPEED"])
    pg.add_argument("name", metavar="NAME")
    pg.add_argument("--json", action="store_true")
    pse = pcmd("set", "set a parameter and confirm the value the vehicle now holds",
               [f"{E} param set WP_SPEED 1.5"])
    pse.add_argument("name", metavar="NAME")
    pse.add_argument("value", type=float, metavar="VALUE")
    psa = pcmd("save", "write parameters to an ArduPilot .parm file (NAME VALUE per line)",
               [f"{E} param save vehicle.parm", f"{E} param save wp.parm 'WP_*'"])
    psa.add_argument("file", metavar="FILE")
    psa.add_argument("pattern", nargs="?", metavar="PATTERN")
    plo = pcmd("load", "set every parameter in a .parm file (checked completely, and every name checked "
                       "against the vehicle, before anything is set)", [f"{E} param load vehicle.parm"])
    plo.add_argument("file", metavar="FILE")

    lo = cmd("log", "telemetry logs: record a .tlog, summarise and plot one",
             [f"{E} log record run.tlog --duration 60", "edgepilot gcs log summary run.tlog --plot track.png"])
    lsub = lo.add_subparsers(dest="log_command", metavar="SUBCOMMAND", parser_class=_Parser)
    lr = lsub.add_parser("record", help="record all MAVLink traffic from the link to a .tlog until Ctrl-C",
                         description="record all MAVLink traffic from the link to a .tlog until Ctrl-C/SIGTERM "
                                     "or --duration", formatter_class=RAW,
                         epilog=_ex(f"{E} log record run.tlog", f"{E} log record run.tlog --duration 120"))
    lr.add_argument("file", metavar="FILE.tlog")
    lr.add_argument("--duration", type=_positive, metavar="S", help="stop after S seconds")
    lr.add_argument("--rate", type=_rate, default=4, metavar="HZ",
                    help="telemetry rate to ask the vehicle for, 1..100 Hz of wall time (default 4). A SITL "
                         "running N times faster than real time needs N times the rate for the same samples "
                         "per vehicle second")
    ls = lsub.add_parser("summary", help="duration, distance, modes, events and max speed of a .tlog (offline)",
                         description="summarise a .tlog (no connection needed): duration, distance, time per "
                                     "mode, events, max speed", formatter_class=RAW,
                         epilog=_ex("edgepilot gcs log summary run.tlog",
                                    "edgepilot gcs log summary run.tlog --plot track.png --json"))
    ls.add_argument("file", metavar="FILE.tlog")
    ls.add_argument("--json", action="store_true")
    ls.add_argument("--plot", metavar="OUT.png", help="draw the track to a PNG")

    EF = "edgepilot gcs -c udpin:0.0.0.0:14550"
    fl = cmd("fleet", "several vehicles on one link or several: status, the central plan, tasks and progress",
             [f"{EF} fleet status", f"{EF} fleet plan tasks.toml --origin 47.3977,8.5456",
              f"{EF} fleet tasks --plan fleet_plan.json", f"{EF} --sysid 2 mode HOLD   # one vehicle of the fleet"])
    flcmd = _subcommands(fl, "fleet_command")
    fs = flcmd("status", "one row per vehicle heard: sysid, type, mode, armed, position, battery, mission progress",
               [f"{EF} fleet status", f"{EF} fleet status --json --expect 3"])
    fs.add_argument("--json", action="store_true", help="machine-readable JSON: {\"vehicles\": [row, ...]}")
    fs.add_argument("--wait", type=_positive, default=4.0, metavar="S",
                    help="longest time to collect telemetry (default 4)")
    fs.add_argument("--expect", type=int, default=0, metavar="N",
                    help="stop collecting as soon as N vehicles have sent heartbeat, position, status and mission")
    fs.add_argument("--plan", metavar="PLAN.json", help="add each vehicle's plan tasks and their progress")

    def plan_options(q):
        q.add_argument("--origin", metavar="LAT,LON",
                       help="WGS84 of the task file's map frame (default: the task file's origin)")
        q.add_argument("--map", metavar="MAP.yaml",
                       help="ROS map_server map in the task file's frame: travel costs are our grid A*'s path "
                            "lengths on it (default: straight lines)")
        q.add_argument("--time-limit", type=_positive, default=2.0, metavar="S",
                       help="OR-Tools search time (default 2)")
        q.add_argument("--save", metavar="PLAN.json", default="fleet_plan.json",
                       help="write the plan here, for `fleet tasks` (default fleet_plan.json)")
        q.add_argument("--start", action="store_true", help="start each uploaded mission (MISSION_START)")
        q.add_argument("--from-positions", action="store_true",
                       help="plan from where the vehicles are (their GLOBAL_POSITION_INT), not from the task "
                            "file's starts")
        q.add_argument("--wait", type=_positive, default=5.0, metavar="S",
                       help="longest time to wait for the plan's vehicles' heartbeats (default 5)")
        q.add_argument("--json", action="store_true", help="print the plan and the uploads as JSON")

    fp = flcmd("plan", "central allocation of a task file (OR-Tools vehicle routing): shows the plan and its cost, "
                       "then uploads each vehicle's share as a mission through the mission protocol (any MAVLink "
                       "vehicle: edgepilot, ArduPilot, PX4)",
               [f"{EF} fleet plan tasks.toml", f"{EF} fleet plan tasks.toml --dry-run --save plan.json",
                f"{EF} fleet plan tasks.toml --map district.yaml --start"])
    fp.add_argument("file", metavar="TASKS.toml")
    fp.add_argument("--dry-run", action="store_true", help="plan and show; upload nothing")
    plan_options(fp)
    ft = flcmd("tasks", "who does what, with progress from each vehicle's MISSION_CURRENT; "
                        "`fleet tasks upload FILE` plans a task file (or takes a saved plan) and uploads it",
               [f"{EF} fleet tasks", f"{EF} fleet tasks --plan plan.json --json",
                f"{EF} fleet tasks upload tasks.toml", f"{EF} fleet tasks upload plan.json --start"])
    ft.add_argument("--plan", metavar="PLAN.json", default=None,
                    help="the plan to track (default fleet_plan.json; with --auction fleet_auction.json)")
    ft.add_argument("--auction", action="store_true",
                    help="the fleet's on-board auction: who claims and who did each task, from the vehicles' own "
                         "auction messages")
    ft.add_argument("--json", action="store_true")
    ft.add_argument("--wait", type=_positive, default=4.0, metavar="S",
                    help="longest time to collect telemetry (default 4)")
    ftsub = ft.add_subparsers(dest="tasks_command", metavar="SUBCOMMAND", parser_class=_Parser)
    ftu = ftsub.add_parser("upload", help="upload a task file (planned centrally) or a saved plan .json",
                           description="upload a task file (planned centrally, as `fleet plan`) or a plan saved by "
                                       "`fleet plan --save`: each vehicle gets its share as a mission",
                           formatter_class=RAW, epilog=_ex(f"{EF} fleet tasks upload tasks.toml",
                                                           f"{EF} fleet tasks upload plan.json"))
    ftu.add_argument("file", metavar="FILE")
    ftu.add_argument("--auction", action="store_true",
                     help="hand the task file to the fleet: the vehicles allocate it among themselves over their "
                          "V2V link (on-board auction; with --start each runs its share as soon as it settles); "
                          "--save then writes fleet_auction.json for `fleet tasks --auction`")
    plan_options(ftu)
    ftc = ftsub.add_parser("cancel", help="cancel a task of the fleet's on-board auction (--auction)",
                           description="cancel a task of the fleet's on-board auction: every vehicle heard gets "
                                       "EDGEPILOT_TASK_CANCEL and answers; the one working on it stops and goes on "
                                       "with the rest of its share, and the others learn it over V2V. A task "
                                       "already done is not cancelled (the error says who did it)",
                           formatter_class=RAW,
                           epilog=_ex(f"{EF} fleet tasks cancel north-b --auction",
                                      f"{EF} fleet tasks cancel gate --auction --plan fleet_auction.json --json"))
    ftc.add_argument("task_id", metavar="TASK_ID", help="the task's id in the task file")
    ftc.add_argument("--auction", action="store_true",
                     help="the task is the on-board auction's (required: a central plan is changed by planning "
                          "again)")
    ftc.add_argument("--plan", metavar="AUCTION.json", default=None,
                     help="the auction file `fleet tasks upload --auction` saved (default fleet_auction.json)")
    ftc.add_argument("--wait", type=_positive, default=8.0, metavar="S",
                     help="longest time to wait for the vehicles' answers (default 8)")
    ftc.add_argument("--json", action="store_true", help="print the answers as JSON")

    co = cmd("completion", "print a shell completion script", [
        "edgepilot gcs completion bash > ~/.local/share/bash-completion/completions/edgepilot",
        "source <(edgepilot gcs completion bash)"])
    co.add_argument("shell", choices=["bash"], metavar="SHELL", help="bash (zsh: use bashcompinit)")
    return p


# --------------------------------------------------------------------------- output helpers
def _out(text: str = "") -> None:
    print(text, flush=True)


class _TransferProgress:
    """A rich progress bar on a terminal; otherwise a line per 10 %."""

    def __init__(self, label: str):
        self.label = label
        self.bar = None
        self.task = None
        self.last_decile = -1
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self.bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(),
                                console=Console(stderr=True), transient=True)

    def __enter__(self):
        if self.bar:
            self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        if self.bar:
            self.bar.__exit__(*exc)

    def __call__(self, done: int, total: int) -> None:
        if self.bar:
            if self.task is None:
                self.task = self.bar.add_task(self.label, total=total)
            self.bar.update(self.task, completed=done, total=total)
            return
        decile = (10 * done) // total if total else 10
        if decile > self.last_decile:
            self.last_decile = decile
            print(f"{self.label}: {done}/{total}", file=sys.stderr, flush=True)


def _endpoints(args) -> list[str]:
    return args.connect or [os.environ.get(ENV_ENDPOINT) or DEFAULT_ENDPOINT]


def _connect(args, recorder=None):
    from edgepilot.gcs.connection import ConnectOptions, connect, load_signing_key

    eps = _endpoints(args)
    key = load_signing_key(args.signing_key) if args.signing_key else None
    if len(eps) > 1:
        if args.sysid is None:
            raise BadInputError(f"`{args.command}` talks to one vehicle: with {len(eps)} --connect links give "
                                "--sysid N")
        return _connect_among(eps, args.sysid, key, args.timeout, recorder)
    return connect(ConnectOptions(eps[0], args.sysid, key, args.timeout), recorder=recorder)


def _connect_among(eps, sysid, key, timeout, recorder=None):
    """The vehicle ``sysid`` on whichever of several links hears it; the
    other links are closed."""
    from edgepilot.gcs.connection import Link, Vehicle
    from edgepilot.gcs.errors import NoLinkError

    links = []
    try:
        for ep in eps:
            links.append(Link(ep, timeout=timeout, signing_key=key, recorder=recorder))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for l in links:
                l.poll(0.02)
                view = l.fleet.vehicles.get(sysid)
                if view is not None and view.last_heartbeat is not None:
                    for other in links:
                        if other is not l:
                            other.close()
                    v = Vehicle(l, sysid, view.compid)
                    v.request_streams()
                    return l, v
        heard = sorted({s for l in links for s in l.fleet.vehicles})
        raise NoLinkError(f"no heartbeat from vehicle sysid {sysid} on {', '.join(eps)} within {timeout:g} s"
                          + (f" (heard sysid {', '.join(map(str, heard))})" if heard else ""))
    except BaseException:
        for l in links:
            l.close()
        raise


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2, allow_nan=False, default=str), flush=True)


# --------------------------------------------------------------------------- commands
def do_status(args) -> int:
    from rich.console import Console
    from edgepilot.gcs.mav import mavutil

    from edgepilot.gcs.views import status_table

    M = mavutil.mavlink
    link, v = _connect(args)
    try:
        for msg_id in (M.MAVLINK_MSG_ID_AUTOPILOT_VERSION, M.MAVLINK_MSG_ID_HOME_POSITION):
            v.mav.command_long_send(v.sysid, v.compid, M.MAV_CMD_REQUEST_MESSAGE, 0, msg_id, 0, 0, 0, 0, 0, 0)
        want = {"HEARTBEAT", "SYS_STATUS", "GPS_RAW_INT", "MISSION_CURRENT", "AUTOPILOT_VERSION"}
        deadline = time.monotonic() + args.wait
        while time.monotonic() < deadline and not want <= set(v.view.updated):
            link.poll(0.1)
        if "GLOBAL_POSITION_INT" not in v.view.updated:
            link.pump_for(min(0.5, max(0.0, deadline - time.monotonic())))
        if args.json:
            _print_json(v.view.snapshot())
        else:
            Console(highlight=False).print(status_table(v.view))
    finally:
        link.close()
    return EXIT_OK


def do_watch(args) -> int:
    from edgepilot.gcs.connection import Link, load_signing_key
    from edgepilot.gcs.views import run_watch

    key = load_signing_key(args.signing_key) if args.signing_key else None
    links = []
    try:
        for ep in _endpoints(args):
            links.append(Link(ep, timeout=args.timeout, signing_key=key))
        plan = None
        if args.plan:
            from edgepilot.gcs.fleet import load_plan

            plan = load_plan(args.plan)
        run_watch(links, duration=args.duration, refresh_hz=args.rate, sysid=args.sysid,
                  stale_after=args.stale_after, view=args.view, plan=plan)
    finally:
        for l in links:
            l.close()
    return EXIT_OK


@contextlib.contextmanager
def _session(args, recorder=None):
    """The vehicle of ``--connect``/``--sysid``; the link is closed after."""
    link, v = _connect(args, recorder=recorder)
    try:
        yield v
    finally:
        link.close()


def _with_commands(args, fn) -> int:
    from edgepilot.gcs.command import CommandClient

    with _session(args) as v:
        msg = fn(CommandClient(v), v)
        if msg:
            _out(msg)
    return EXIT_OK


def _run_group(args, group: str, handlers: dict, load_first: dict) -> int:
    """The skeleton of ``mission``, ``fence`` and ``param``: a SUBCOMMAND is
    required; an input file is read and checked completely before
    connecting (``load_first[sub](path)``), so a bad file sends nothing;
    then ``handlers[sub](args, vehicle, loaded)`` runs on one connection."""
    sc = getattr(args, f"{group}_command")
    if sc is None:
        raise BadInputError(f"{group}: expected a SUBCOMMAND ({', '.join(handlers)})")
    loaded = load_first[sc](args.file) if sc in load_first else None
    with _session(args) as v:
        handlers[sc](args, v, loaded)
    return EXIT_OK


def _transfer(label: str, fn):
    """Run ``fn(progress)`` under a progress display named ``label``."""
    with _TransferProgress(label) as prog:
        return fn(prog)


def _table(title: str, columns, rows, right=(), width=None) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title)
    for col in columns:
        t.add_column(col, justify="right" if col in right else "left")
    for row in rows:
        t.add_row(*row)
    Console(highlight=False, **({"width": width} if width else {})).print(t)


# ------------------------------------------------------------------ mission
def _mission_client(v):
    from edgepilot.gcs.mission import MissionClient

    return MissionClient(v)


def _mission_upload(args, v, mission) -> None:
    n = _transfer("mission upload", lambda prog: _mission_client(v).upload(mission, prog))
    _out(f"uploaded {len(mission.items)} mission items ({n} with home) to sysid {v.sysid}")


def _mission_download(args, v, _) -> None:
    from edgepilot.gcs.formats.mission import save_mission

    m = _transfer("mission download", _mission_client(v).download_mission)
    save_mission(m, args.file, v.autopilot, v.mav_type)
    _out(f"downloaded {len(m.items)} mission items from sysid {v.sysid} to {args.file}")


def _mission_start(args, v, _) -> None:
    from edgepilot.gcs.command import CommandClient
    from edgepilot.gcs.mission import to_wire

    mc = _mission_client(v)
    texts0 = v.view.statustext_count     # the vehicle may stop the mission, and say why, at once
    CommandClient(v).mission_start()
    _out(f"mission started on sysid {v.sysid}")
    if args.wait:
        total = len(to_wire(mc.download_mission(), mc.home_in_mission)) - 1

        def shown(seq):
            print(f"mission: item {seq}/{total}", file=sys.stderr, flush=True)

        mc.wait_complete(total, args.wait_timeout, shown, texts_from=texts0)
        _out(f"mission complete (item {total} reached)")


def _mission_clear(args, v, _) -> None:
    _mission_client(v).clear()
    _out(f"mission cleared on sysid {v.sysid}")


def _mission_show(args, v, _) -> None:
    from edgepilot.gcs.formats.mission import command_name

    mc = _mission_client(v)
    m = _transfer("mission download", mc.download_mission)
    cur = v.view.mission_seq
    rows = []
    base = 1 if mc.home_in_mission else 0
    if m.home is not None:
        rows.append((0, m.home))
    rows += [(i + base, it) for i, it in enumerate(m.items)]
    if args.json:
        _print_json({"sysid": v.sysid, "current": cur, "items": [
            {"seq": s, "command": command_name(it.command), "frame": it.frame,
             "params": [None if p != p else p for p in it.params], "lat": it.x, "lon": it.y, "alt": it.z,
             "autocontinue": it.autocontinue, "home": s == 0 and m.home is not None} for s, it in rows]})
        return
    cols = ("", "seq", "command", "lat", "lon", "alt", "p1", "p2", "p3", "p4")
    _table(f"mission on sysid {v.sysid}: {len(m.items)} items", cols, (
        ("H" if (s == 0 and m.home is not None) else (">" if s == cur else ""), str(s), command_name(it.command),
         f"{it.x:.7f}", f"{it.y:.7f}", f"{it.z:g}", *(f"{p:g}" for p in it.params)) for s, it in rows),
        right=cols[1:2] + cols[3:])


def do_mission(args) -> int:
    from edgepilot.gcs.formats.mission import load_mission

    return _run_group(args, "mission", {"upload": _mission_upload, "download": _mission_download,
                                        "start": _mission_start, "clear": _mission_clear, "show": _mission_show},
                      {"upload": load_mission})


# ------------------------------------------------------------------ fence
def _fence_client(v):
    from edgepilot.gcs.mav import M
    from edgepilot.gcs.mission import MissionClient

    return MissionClient(v, mission_type=M.MAV_MISSION_TYPE_FENCE)


def _fence_upload(args, v, fence) -> None:
    from edgepilot.gcs.formats.mission import Mission

    items = fence.to_items()
    _transfer("fence upload", lambda prog: _fence_client(v).upload(Mission(items=tuple(items)), prog))
    _out(f"uploaded fence: {len(fence.zones)} zone(s), {len(items)} items to sysid {v.sysid}")


def _fence_clear(args, v, _) -> None:
    _fence_client(v).clear()
    _out(f"fence cleared on sysid {v.sysid}")


def _fence_fetch(v):
    from edgepilot.gcs.formats import fence as ff

    items = _transfer("fence download", _fence_client(v).download)
    try:
        return ff.from_items(items)
    except ValueError as e:
        raise GcsError(f"fence download: sysid {v.sysid} sent items that are not a fence: {e}") from None


def _fence_download(args, v, _) -> None:
    from edgepilot.gcs.fileio import atomic_write_text
    from edgepilot.gcs.formats import fence as ff

    got = _fence_fetch(v)
    text = ff.format_plan(got) if args.file.lower().endswith(".plan") else ff.format_text(got)
    atomic_write_text(args.file, text)
    _out(f"downloaded fence: {len(got.zones)} zone(s) from sysid {v.sysid} to {args.file}")


def _fence_show(args, v, _) -> None:
    from rich.console import Console

    got = _fence_fetch(v)
    if args.json:
        _print_json({"sysid": v.sysid, "zones": [
            {"type": z.kind, "inclusion": z.inclusion,
             **({"center": list(z.points[0]), "radius_m": z.radius} if z.kind == "circle"
                else {"polygon": [list(pt) for pt in z.points]})} for z in got.zones],
            "return_point": list(got.return_point) if got.return_point else None})
        return
    if not got.zones and got.return_point is None:
        _out(f"no fence on sysid {v.sysid}")
        return
    rows = [(str(i), z.label, f"{z.radius:g} m" if z.kind == "circle" else f"{len(z.points)} vertices",
             f"{z.points[0][0]:.7f}, {z.points[0][1]:.7f}") for i, z in enumerate(got.zones, 1)]
    if got.return_point is not None:
        rows.append(("", "return point", "", f"{got.return_point[0]:.7f}, {got.return_point[1]:.7f}"))
    _table(f"fence on sysid {v.sysid}: {len(got.zones)} zone(s)",
           ("#", "zone", "vertices / radius", "first vertex / center"), rows, right=("#",),
           width=max(100, Console().width))


def do_fence(args) -> int:
    from edgepilot.gcs.formats.fence import load_fence

    return _run_group(args, "fence", {"upload": _fence_upload, "show": _fence_show, "download": _fence_download,
                                      "clear": _fence_clear}, {"upload": load_fence})


# ------------------------------------------------------------------ param
def _param_client(v):
    from edgepilot.gcs.param import ParamClient

    return ParamClient(v)


def _param_list(args, v, _) -> None:
    from edgepilot.gcs.formats.parm import format_value

    ps = _transfer("param list", lambda prog: _param_client(v).list(args.pattern, prog))
    if args.json:
        _print_json({p.name: p.value for p in ps})
        return
    width = max((len(p.name) for p in ps), default=0)
    for p in ps:
        _out(f"{p.name:<{width}} {format_value(p.value)}")


def _param_get(args, v, _) -> None:
    from edgepilot.gcs.formats.parm import format_value

    p = _param_client(v).get(args.name)
    _out(json.dumps({p.name: p.value}) if args.json else f"{p.name} {format_value(p.value)}")


def _param_set(args, v, _) -> None:
    from edgepilot.gcs.formats.parm import format_value

    p = _param_client(v).set(args.name, args.value)
    _out(f"{p.name} {format_value(p.value)}")


def _param_save(args, v, _) -> None:
    from edgepilot.gcs.formats.parm import save_parm

    ps = _transfer("param list", lambda prog: _param_client(v).list(args.pattern, prog))
    save_parm({p.name: p.value for p in ps}, args.file,
              header=f"{len(ps)} parameters from sysid {v.sysid} ({v.view.mode})")
    _out(f"saved {len(ps)} parameters to {args.file}")


def _param_load(args, v, wanted) -> None:
    from edgepilot.gcs.errors import FileFormatError
    from edgepilot.gcs.formats.parm import format_value

    pc = _param_client(v)
    have = _transfer("param list", pc.fetch_all)
    missing = [name for name in wanted if name not in have]
    if missing:
        name = missing[0]
        text = Path(args.file).read_text(encoding="utf-8").splitlines()
        line = next((i for i, l in enumerate(text, 1) if l.split("#")[0].replace(",", " ").split()[:1]
                     == [name]), None)
        raise FileFormatError(args.file, line, f"{name}: the vehicle (sysid {v.sysid}) has no such "
                                               "parameter; nothing was set")
    changed = 0
    for name, value in wanted.items():
        cur = have[name]
        if abs(cur.value - value) <= 1e-6 * max(1.0, abs(value)):
            continue
        pc.set(name, value, current=cur)
        changed += 1
        _out(f"{name} {format_value(cur.value)} -> {format_value(value)}")
    _out(f"loaded {args.file}: {changed} changed, {len(wanted) - changed} already equal")


def do_param(args) -> int:
    from edgepilot.gcs.formats.parm import load_parm

    return _run_group(args, "param", {"list": _param_list, "get": _param_get, "set": _param_set,
                                      "save": _param_save, "load": _param_load}, {"load": load_parm})


def do_log(args) -> int:
    sc = args.log_command
    if sc is None:
        raise BadInputError("log: expected a SUBCOMMAND (record, summary)")
    if sc == "summary":
        from edgepilot.gcs.tlog import plot_track, summarize

        s = summarize(args.file, args.sysid)
        if args.plot:
            plot_track(s, args.plot)
        if args.json:
            d = s.as_dict()
            if args.plot:
                d["plot"] = args.plot
            _print_json(d)
            return EXIT_OK
        _out(f"file             {s.path}")
        _out(f"vehicle          sysid {s.sysid}, {s.messages} messages")
        _out(f"duration         {s.duration_s:.1f} s")
        _out(f"distance         {s.distance_m:.1f} m")
        _out(f"max speed        {s.max_speed_m_s:.2f} m/s")
        _out("modes            " + ", ".join(f"{k} {v:.1f} s" for k, v in s.mode_time_s.items()))
        _out(f"events           {len(s.events)}")
        for t, e in s.events:
            _out(f"  {t:8.1f} s  {e}")
        if args.plot:
            _out(f"plot             {args.plot}")
        return EXIT_OK
    # record
    from edgepilot.gcs.connection import TlogRecorder

    rec = TlogRecorder(args.file)
    try:
        link, v = _connect(args, recorder=rec)
        v.request_streams(args.rate)
        _out(f"recording sysid {v.sysid} on {link.endpoint} to {args.file} "
             f"({'for %g s' % args.duration if args.duration else 'until Ctrl-C'})")
        t_end = None if args.duration is None else time.monotonic() + args.duration
        try:
            while t_end is None or time.monotonic() < t_end:
                link.poll(0.1)
        except KeyboardInterrupt:
            pass
        finally:
            link.close()
    finally:
        rec.close()
    _out(f"recorded {rec.messages} messages ({rec.bytes} bytes) to {args.file}")
    return EXIT_OK


# ------------------------------------------------------------------ fleet
def _fleet_links(args):
    from edgepilot.gcs.connection import Link, load_signing_key
    from edgepilot.gcs.fleet import FleetLinks

    key = load_signing_key(args.signing_key) if args.signing_key else None
    links = []
    try:
        for ep in _endpoints(args):
            links.append(Link(ep, timeout=args.timeout, signing_key=key))
    except BaseException:
        for l in links:
            l.close()
        raise
    return FleetLinks(links)


def _fleet_status(args) -> int:
    from rich.console import Console

    from edgepilot.gcs.fleet import alerts, load_plan, vehicle_row
    from edgepilot.gcs.views import alert_list, fleet_table

    plan = load_plan(args.plan) if args.plan else None
    fleet = _fleet_links(args)
    try:
        want = [args.sysid] if args.sysid else [v["sysid"] for v in plan["vehicles"]] if plan else []
        fleet.wait(want, args.expect, args.wait,
                   want=("HEARTBEAT", "GLOBAL_POSITION_INT", "SYS_STATUS", "MISSION_CURRENT"))
        views = {s: v for s, v in fleet.views().items() if args.sysid is None or s == args.sysid}
        now = time.monotonic()
        if args.json:
            _print_json({"endpoints": [l.endpoint for l in fleet.links],
                         "vehicles": [vehicle_row(v, now, plan) for v in views.values()],
                         "alerts": [{"age_s": round(now - a.pop("t"), 1), **a} for a in alerts(views)]})
            return EXIT_OK
        if not views:
            from edgepilot.gcs.errors import NoLinkError

            raise NoLinkError(f"no vehicle heard on {', '.join(l.endpoint for l in fleet.links)} within "
                              f"{args.wait:g} s")
        con = Console(highlight=False, width=max(120, Console().width))
        con.print(fleet_table(list(views.values()), now, plan=plan))
        con.print(alert_list(list(views.values()), now=now))
    finally:
        fleet.close()
    return EXIT_OK


def _parse_origin(text):
    if text is None:
        return None
    try:
        lat, lon = (float(x) for x in text.replace(" ", "").split(","))
    except ValueError:
        raise BadInputError(f"--origin: expected LAT,LON in degrees, got {text!r}") from None
    return lat, lon


def _print_plan(plan) -> None:
    rows = []
    for v in plan["vehicles"]:
        who = v.get("autopilot") or v.get("kind", "")
        rows.append((v["name"], str(v["sysid"]), who, ", ".join(v["tasks"]) or "-", str(len(v["items"])),
                     f"{v.get('cost_s', 0.0):.1f}"))
    _table(f"fleet plan {plan.get('name', '')}: {plan.get('method', '')}, cost {plan['cost_s']:.1f} s "
           f"({plan.get('costs', '')})", ("vehicle", "sysid", "autopilot", "tasks (in order)", "items", "cost [s]"),
           rows, right=("sysid", "items", "cost [s]"), width=120)
    if plan.get("unassigned"):
        _out(f"unassigned: {', '.join(plan['unassigned'])}")


def _make_plan(args, path, positions=None):
    """A saved plan (.json) as is, or a task file planned by the central planner."""
    from edgepilot.gcs.fleet import load_plan

    if str(path).lower().endswith(".json"):
        return load_plan(path)
    if args.fleet_planner is None:
        raise BadInputError("fleet plan: the central planner comes with the edgepilot command "
                            "(`edgepilot gcs fleet plan`, needs `pip install 'edgepilot[fleet]'`); this entry point "
                            "can upload a saved plan .json only")
    if not Path(path).exists():
        raise BadInputError(f"{path}: task file not found")
    try:
        kw = {"positions": positions} if positions is not None else {}
        return args.fleet_planner(str(path), origin=_parse_origin(args.origin), time_limit_s=args.time_limit,
                                  map_path=args.map, **kw)
    except ValueError as e:
        raise BadInputError(str(e)) from None


def _fleet_plan(args, path, dry_run=False) -> int:
    from edgepilot.gcs.errors import GcsError
    from edgepilot.gcs.fleet import save_plan, upload_plan

    fleet = positions = None
    saved = str(path).lower().endswith(".json")
    try:
        if getattr(args, "from_positions", False) and not saved and not dry_run:
            # listen only (our heartbeat is all we send) until the plan is made
            fleet = _fleet_links(args)
            fleet.wait((), 0, args.wait, want=("HEARTBEAT", "GLOBAL_POSITION_INT"))
            positions = {s: (v.lat, v.lon) for s, v in fleet.views().items() if v.lat is not None}
        plan = _make_plan(args, path, positions)        # a bad file sends nothing
        if args.save and not saved:
            save_plan(plan, args.save)
        if not args.json:
            _print_plan(plan)
            if args.save and not saved:
                _out(f"plan saved to {args.save}")
        if dry_run:
            if args.json:
                _print_json({"plan": plan, "uploads": []})
            return EXIT_OK
        if fleet is None:
            fleet = _fleet_links(args)
        busy = [v["sysid"] for v in plan["vehicles"] if v["tasks"]]
        fleet.wait(busy, 0, args.wait, want=("HEARTBEAT",))
        for w in _type_mismatches(plan, fleet.views()):
            print(f"warning: {w}", file=sys.stderr, flush=True)

        def prog(name, done, total):
            if done == total:
                print(f"mission upload {name}: {done}/{total}", file=sys.stderr, flush=True)

        results = upload_plan(fleet, plan, prog, start=args.start)
    finally:
        if fleet is not None:
            fleet.close()
    if args.json:
        _print_json({"plan": plan, "uploads": [r.__dict__ for r in results]})
    else:
        for r in results:
            if r.ok and r.items:
                _out(f"{r.name} (sysid {r.sysid}): uploaded {r.items} items{' and started' if args.start else ''}")
            elif r.ok:
                _out(f"{r.name} (sysid {r.sysid}): {r.error}")
            else:
                print(f"error: {r.name} (sysid {r.sysid}): {r.error}", file=sys.stderr, flush=True)
    failed = [r for r in results if not r.ok]
    if failed:
        raise GcsError(f"fleet plan: {len(failed)} of {len(results)} uploads failed "
                       f"({', '.join(f'{r.name} sysid {r.sysid}' for r in failed)})")
    return EXIT_OK


_DOMAIN_TYPES = {"land": {"GROUND_ROVER"}, "water": {"SURFACE_BOAT", "SUBMARINE"}}


def _type_mismatches(plan, views) -> list[str]:
    """Plan vehicles whose heard MAV_TYPE does not fit their task-file domain
    (a sysid given to the wrong vehicle)."""
    from edgepilot.gcs.modes import vehicle_type_name

    out = []
    for pv in plan["vehicles"]:
        v = views.get(pv["sysid"])
        want = _DOMAIN_TYPES.get(pv.get("domain") or "")
        if v is None or want is None:
            continue
        t = vehicle_type_name(v.mav_type)
        if t not in want:
            out.append(f"{pv['name']} is a {pv['domain']} vehicle in the task file but sysid {pv['sysid']} "
                       f"heartbeats as {t}")
    return out


def _fleet_tasks(args) -> int:
    from edgepilot.gcs.fleet import load_plan, task_progress

    plan = load_plan(args.plan or "fleet_plan.json")
    fleet = _fleet_links(args)
    try:
        fleet.wait([v["sysid"] for v in plan["vehicles"]], 0, args.wait,
                   want=("HEARTBEAT", "MISSION_CURRENT"))
        views = fleet.views()
        out = []
        for pv in plan["vehicles"]:
            view = views.get(pv["sysid"])
            out.append({"name": pv["name"], "sysid": pv["sysid"], "heard": view is not None,
                        "mode": view.mode if view else None,
                        "mission_current": view.mission_seq if view else None,
                        "tasks": task_progress(pv, view)})
    finally:
        fleet.close()
    if args.json:
        _print_json({"plan": plan.get("name"), "cost_s": plan.get("cost_s"), "unassigned": plan.get("unassigned", []),
                     "vehicles": out})
        return EXIT_OK
    rows = []
    for v in out:
        for t in v["tasks"] or [{"task": "-", "state": "", "items": [None, None]}]:
            rows.append((v["name"], str(v["sysid"]), v["mode"] or "not heard", t["task"],
                         "" if t["items"][0] is None else f"{t['items'][0]}-{t['items'][1]}", t["state"]))
    _table(f"fleet tasks ({plan.get('name', '')}, cost {plan.get('cost_s', 0):.1f} s)",
           ("vehicle", "sysid", "mode", "task", "items", "state"), rows, right=("sysid",), width=120)
    if plan.get("unassigned"):
        _out(f"unassigned: {', '.join(plan['unassigned'])}")
    return EXIT_OK


def do_fleet(args) -> int:
    sc = args.fleet_command
    if sc is None:
        raise BadInputError("fleet: expected a SUBCOMMAND (status, plan, tasks)")
    if sc == "status":
        return _fleet_status(args)
    if sc == "plan":
        return _fleet_plan(args, args.file, dry_run=args.dry_run)
    if getattr(args, "tasks_command", None) == "cancel":
        return _fleet_auction_cancel(args)
    if getattr(args, "tasks_command", None) == "upload":
        if args.auction:
            return _fleet_auction_upload(args)
        return _fleet_plan(args, args.file)
    if args.auction:
        return _fleet_auction_tasks(args)
    return _fleet_tasks(args)


def _auction_handoff(args):
    if args.fleet_auction is None:
        raise BadInputError("fleet tasks --auction: reading our task files and auction messages comes with the "
                            "edgepilot command (`edgepilot gcs fleet tasks ... --auction`)")
    return args.fleet_auction


def _fleet_auction_upload(args) -> int:
    from edgepilot.gcs.connection import load_signing_key
    from edgepilot.gcs.errors import GcsError
    from edgepilot.gcs.fleet import hand_over_tasks, save_plan

    ho = _auction_handoff(args)
    try:
        doc = ho.prepare(args.file)            # a bad file sends nothing
    except ValueError as e:
        raise BadInputError(str(e)) from None
    save = "fleet_auction.json" if args.save in (None, "fleet_plan.json") else args.save
    key = load_signing_key(args.signing_key) if args.signing_key else None
    fleet = _fleet_links(args)
    try:
        res = hand_over_tasks(fleet, doc, lambda sysid: ho.messages(doc, sysid, args.start), ho.decoder(key),
                              args.wait)
    finally:
        fleet.close()
    saved = {k: v for k, v in doc.items() if k != "text"}
    save_plan(saved, save)
    if args.json:
        _print_json({"auction": saved, **res, "saved": save})
    else:
        names = {v["sysid"]: v["name"] for v in doc["vehicles"]}
        _out(f"fleet auction {doc['name']} (plan {doc['plan_id']}): {len(doc['tasks'])} tasks for "
             f"{', '.join(f'{n} (sysid {s})' for s, n in names.items())}")
        for s in res["handed_to"]:
            _out(f"{names[s]} (sysid {s}): has the task file and bids{' (runs its share)' if args.start else ''}")
        for s in res["not_heard"]:
            _out(f"{names[s]} (sysid {s}): not heard here; gets the file from the others over V2V")
        _out(f"saved to {save} (`edgepilot gcs fleet tasks --auction --plan {save}`)")
    if not res["handed_to"]:
        raise GcsError(f"fleet tasks upload --auction: no vehicle of the plan showed it within {args.wait:g} s "
                       f"(sent to sysid {', '.join(map(str, res['sent_to'])) or 'none: none heard'})")
    return EXIT_OK


def _fleet_auction_cancel(args) -> int:
    from edgepilot.gcs.connection import load_signing_key
    from edgepilot.gcs.errors import NoAnswerError, RefusedError
    from edgepilot.gcs.fleet import cancel_auction_task, load_auction

    tid = args.task_id
    if not args.auction:
        raise BadInputError(f"fleet tasks cancel {tid}: only a task of the fleet's on-board auction is cancelled "
                            f"here: add --auction (a central plan's tasks change by planning again)")
    ho = _auction_handoff(args)
    problem = ho.task_id_problem(tid)
    if problem:
        raise BadInputError(f"fleet tasks cancel: {problem}")
    path = args.plan or "fleet_auction.json"
    doc = load_auction(path)
    if tid not in doc["tasks"]:
        raise BadInputError(f"fleet tasks cancel: no task {tid!r} in auction {doc.get('name')} (plan "
                            f"{doc['plan_id']}, {path}); its tasks: {', '.join(doc['tasks'])}")
    key = load_signing_key(args.signing_key) if args.signing_key else None
    fleet = _fleet_links(args)
    try:
        res = cancel_auction_task(fleet, doc, tid, lambda sysid: ho.cancel(doc, sysid, tid), ho.decoder(key),
                                  ho.cancel_answer, args.wait)
    finally:
        fleet.close()
    names = {v["sysid"]: v.get("name", str(v["sysid"])) for v in doc["vehicles"]}
    if args.json:
        _print_json(res)
    else:
        for s, a in res["answers"].items():
            what = {"accepted": "cancelled", "already_done": f"refused: already done by sysid {a['completed_by']}",
                    "unknown_task": f"refused: its plan has no task {tid}",
                    "unknown_plan": f"refused: it is not auctioning plan {doc['plan_id']}",
                    "bad_id": "refused: not a task id"}.get(a["result"], a["result"])
            _out(f"{names.get(s, s)} (sysid {s}): task {tid} {what}")
        for s in res["not_heard"]:
            _out(f"{names[s]} (sysid {s}): not heard here; learns the cancel from the others over V2V")
    ans = res["answers"]
    done = [a for a in ans.values() if a["result"] == "already_done"]
    if done:
        raise RefusedError(f"fleet tasks cancel {tid}", "EDGEPILOT_TASK_CANCEL_ALREADY_DONE",
                           [f"task {tid} was already done by sysid {done[0]['completed_by']}: not cancelled"])
    bad = {s: a for s, a in ans.items() if a["result"] != "accepted"}
    if bad:
        s, a = next(iter(bad.items()))
        raise RefusedError(f"fleet tasks cancel {tid} ({names.get(s, s)}, sysid {s})",
                           f"EDGEPILOT_TASK_CANCEL_{a['result'].upper()}",
                           [f"task {tid}: {a['result'].replace('_', ' ')} on the vehicle (plan {doc['plan_id']}; "
                            f"is {path} the fleet's current auction?)"])
    if not ans:
        raise NoAnswerError(f"fleet tasks cancel: no vehicle answered the cancel of task {tid} within "
                            f"{args.wait:g} s (sent to sysid {', '.join(map(str, res['sent_to'])) or 'none: none heard'})")
    return EXIT_OK


def _fleet_auction_tasks(args) -> int:
    from edgepilot.gcs.connection import load_signing_key
    from edgepilot.gcs.fleet import auction_status, load_auction

    ho = _auction_handoff(args)
    doc = load_auction(args.plan or "fleet_auction.json")
    key = load_signing_key(args.signing_key) if args.signing_key else None
    fleet = _fleet_links(args)
    try:
        st = auction_status(fleet, doc, ho.decoder(key), args.wait)
    finally:
        fleet.close()
    if args.json:
        _print_json(st)
        return EXIT_OK
    _table(f"fleet auction {st['plan']} (plan {st['plan_id']})", ("task", "state", "vehicle", "sysid"),
           [(t["task"], t["state"], t["vehicle"] or "-", str(t["sysid"] or "-")) for t in st["tasks"]],
           right=("sysid",), width=100)
    for v in st["vehicles"]:
        _out(f"{v['name']} (sysid {v['sysid']}): {'heard' if v['heard'] else 'not heard'}; claims "
             f"{', '.join(v['route']) or 'nothing'}; done {', '.join(v['done']) or 'nothing'}")
    return EXIT_OK


def do_simple(args) -> int:
    c = args.command
    if c == "arm":
        return _with_commands(args, lambda cc, v: (cc.arm(args.force), f"armed sysid {v.sysid}")[1])
    if c == "disarm":
        return _with_commands(args, lambda cc, v: (cc.disarm(args.force), f"disarmed sysid {v.sysid}")[1])
    if c == "mode":
        return _with_commands(args, lambda cc, v: (cc.set_mode(args.name), f"mode {args.name.upper()} on sysid {v.sysid}")[1])
    if c == "rtl":
        return _with_commands(args, lambda cc, v: (cc.rtl(), f"returning to launch (sysid {v.sysid})")[1])
    if c == "goto":
        return _with_commands(args, lambda cc, v: (cc.goto(args.lat, args.lon, args.speed),
                                                   f"going to {args.lat:.7f}, {args.lon:.7f} (sysid {v.sysid})")[1])
    if c == "speed":
        return _with_commands(args, lambda cc, v: (cc.speed(args.speed), f"speed {args.speed:g} m/s (sysid {v.sysid})")[1])
    raise BadInputError(f"unknown command {c!r}")


def _sigterm(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None, fleet_planner=None, fleet_auction=None) -> int:
    """``fleet_planner(tasks_path, origin=, time_limit_s=, map_path=) -> plan
    document`` (format in gcs/fleet.py) is the central planner ``fleet plan``
    calls; the ``edgepilot`` CLI passes edgepilot.fleet.plan.make_plan_document,
    because the plan needs our planner, which this MAVLink-only package may
    not import.  Without it ``fleet plan`` takes only a saved plan .json."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    if args.command == "completion":
        from edgepilot.gcs.completion import bash_script

        sys.stdout.write(bash_script(parser))
        return EXIT_OK
    old = None
    try:
        old = signal.signal(signal.SIGTERM, _sigterm)
    except ValueError:
        pass   # not the main thread (tests calling main directly)
    try:
        args.fleet_planner = fleet_planner
        args.fleet_auction = fleet_auction
        handler = {"status": do_status, "watch": do_watch, "mission": do_mission, "fence": do_fence,
                   "param": do_param, "log": do_log, "fleet": do_fleet}.get(args.command, do_simple)
        return handler(args)
    except GcsError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return e.exit_code
    except (ConnectionError, BrokenPipeError) as e:
        # The link went away mid-operation somewhere below a wait loop that
        # would have said so itself (e.g. the download after `mission start`).
        print(f"error: lost the link during `{args.command}`: {e}", file=sys.stderr, flush=True)
        return NoAnswerError.exit_code
    except KeyboardInterrupt:
        print(f"error: interrupted during `{args.command}`", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)
