"""Terminal views: the ``status`` table and the ``watch`` dashboard.

Both render a :class:`~gcs.telemetry.VehicleView` with rich.  The
dashboard is a pure function of the fleet and the time (``render_dashboard``)
so tests can render it into a recording Console; ``watch`` wraps it in a
rich Live display with keyboard handling.
"""
from __future__ import annotations

import os
import select
import sys
import time
from typing import Callable

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from edgepilot.gcs.telemetry import STALE_AFTER_S, VehicleView


def _f(v, fmt: str, unit: str = "") -> str:
    return "-" if v is None else f"{v:{fmt}}{unit}"


def _rows(v: VehicleView, now: float) -> list[tuple[str, str]]:
    s = v.snapshot(now)
    age = s["link"]["heartbeat_age_s"]
    mission = "-"
    if v.mission_seq is not None:
        total = v.mission_total
        mission = f"item {v.mission_seq}" + (f"/{total}" if total is not None else "")
        if v.mission_state is not None:
            mission += f"  {v.mission_state_name}"
    return [
        ("vehicle", f"sysid {v.sysid} comp {v.compid}  {s['autopilot']} {s['vehicle_type']}"
                    + (f" {s['firmware_version']}" if s["firmware_version"] else "")),
        ("mode", v.mode),
        ("armed", "ARMED" if v.armed else "disarmed"),
        ("gps", f"{v.fix_name}  {_f(v.satellites, 'd')} sats" + (f"  ±{v.hacc:.2f} m" if v.hacc else "")),
        ("position", "-" if v.lat is None else f"{v.lat:.7f}, {v.lon:.7f}"),
        ("speed", _f(v.groundspeed, ".2f", " m/s")),
        ("heading", _f(v.heading, ".0f", "°")),
        ("battery", f"{_f(v.battery_voltage, '.2f', ' V')}  {_f(v.battery_remaining, 'd', ' %')}"),
        ("mission", mission),
        ("link", f"heartbeat {_f(age, '.1f', ' s')} ago  loss {v.loss_percent():.1f} %  "
                 f"{v.rx_rate(now):.0f} msg/s"),
    ]


def status_table(v: VehicleView, now: float | None = None, texts: int = 5) -> Group:
    now = time.monotonic() if now is None else now
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column()
    for k, val in _rows(v, now):
        t.add_row(k, val)
    recent = list(v.statustexts)[-texts:]
    parts = [t]
    if recent:
        parts.append(Text("recent messages:", style="bold"))
        for st in recent:
            parts.append(Text(f"  [{st.severity_name}] {st.text}"))
    return Group(*parts)


def vehicle_panel(v: VehicleView, now: float, stale_after: float = STALE_AFTER_S) -> Panel:
    """One vehicle's box.  A vehicle silent for ``stale_after`` s is drawn
    greyed with LINK LOST and the time since its last heartbeat."""
    stale = v.stale(now, stale_after)
    t = Table(show_header=False, box=None, pad_edge=False, expand=True)
    t.add_column(style="dim bold" if stale else "bold", width=9, no_wrap=True)
    t.add_column(style="dim" if stale else "", ratio=1)
    for k, val in _rows(v, now):
        if k == "armed" and not stale:
            t.add_row(k, Text(val, style="bold red" if v.armed else "green"))
        else:
            t.add_row(k, val)
    texts = list(v.statustexts)[-3:]
    for st in texts:
        t.add_row("msg", Text(f"[{st.severity_name}] {st.text}",
                              style="dim" if stale else ("yellow" if st.severity <= 4 else "")))
    age = v.heartbeat_age(now)
    if stale:
        title = Text(f"sysid {v.sysid}  LINK LOST — no heartbeat for {age:.1f} s" if age is not None
                     else f"sysid {v.sysid}  LINK LOST", style="bold red")
    else:
        title = Text(f"sysid {v.sysid}  {v.mode}  {'ARMED' if v.armed else 'disarmed'}", style="bold")
    return Panel(t, title=title, border_style="red" if stale else "green")


#: ``watch --view auto`` switches from one panel per vehicle to the fleet table at this many vehicles.
FLEET_VIEW_FROM = 3


def fleet_table(vehicles: list[VehicleView], now: float, stale_after: float = STALE_AFTER_S,
                plan: dict | None = None) -> Table:
    """One row per vehicle: sysid, type, mode, armed, position, speed,
    battery, mission progress (and its plan tasks), link; stale rows dim."""
    from edgepilot.gcs.fleet import vehicle_row

    t = Table(title="fleet", expand=True, pad_edge=False)
    for col in ("sysid", "type", "mode", "armed", "position", "speed", "battery", "mission", "link"):
        t.add_column(col, no_wrap=col in ("sysid", "position"), justify="right" if col == "sysid" else "left")
    for v in sorted(vehicles, key=lambda x: x.sysid):
        r = vehicle_row(v, now, plan)
        stale = v.stale(now, stale_after)
        m = r["mission"]
        mission = "-" if m["current"] is None else (
            f"{m['current']}" + (f"/{m['total']}" if m["total"] is not None else "")
            + (f" {m['state']}" if m["state"] else ""))
        if r.get("tasks"):
            done = sum(1 for x in r["tasks"] if x["state"] == "done")
            active = next((x["task"] for x in r["tasks"] if x["state"] == "active"), None)
            mission += f"  tasks {done}/{len(r['tasks'])}" + (f" > {active}" if active else "")
        age = v.heartbeat_age(now)
        link = ("LOST " if stale else "") + _f(age, ".1f", " s")
        style = "dim" if stale else ""
        t.add_row(str(v.sysid), f"{r['autopilot']} {r['type']}", v.mode,
                  Text("ARMED", style="bold red") if v.armed and not stale else ("armed" if v.armed else "disarmed"),
                  "-" if v.lat is None else f"{v.lat:.6f}, {v.lon:.6f}", _f(v.groundspeed, ".1f", " m/s"),
                  _f(v.battery_remaining, "d", " %"), mission, link, style=style)
    return t


def alert_list(vehicles: list[VehicleView], limit: int = 8, now: float | None = None) -> Group:
    """The newest threat alerts (EDGEPILOT_THREAT_ALERT: kind, score, position,
    reasons) and other warning-or-worse STATUSTEXTs of every vehicle."""
    from edgepilot.gcs.fleet import alerts

    now = time.monotonic() if now is None else now
    items = alerts({v.sysid: v for v in vehicles}, limit)
    lines = [Text(f"alerts ({len(items)})" if items else "alerts: none", style="bold")]
    for a in items:
        lines.append(Text(f"  {now - a['t']:6.1f} s ago  sysid {a['sysid']}  [{a['severity']}] {a['text']}",
                          style="red" if a["severity"] in ("THREAT", "EMERGENCY", "ALERT", "CRITICAL", "ERROR")
                          else "yellow"))
    return Group(*lines)


def render_dashboard(vehicles: list[VehicleView], now: float, endpoints: list[str],
                     stale_after: float = STALE_AFTER_S, view: str = "panels", plan: dict | None = None) -> Group:
    """``view``: "panels" (a box per vehicle), "fleet" (a row per vehicle
    and the alert list) or "auto" (fleet from FLEET_VIEW_FROM vehicles)."""
    header = Text(f"edgepilot gcs watch — {', '.join(endpoints)} — {len(vehicles)} vehicle(s)   "
                  "q: quit", style="bold")
    if not vehicles:
        return Group(header, Text("waiting for a vehicle heartbeat ...", style="yellow"))
    if view == "fleet" or (view == "auto" and len(vehicles) >= FLEET_VIEW_FROM):
        return Group(header, fleet_table(vehicles, now, stale_after, plan), alert_list(vehicles, now=now))
    return Group(header, *(vehicle_panel(v, now, stale_after) for v in sorted(vehicles, key=lambda x: x.sysid)))


class KeyReader:
    """Single keys from a terminal stdin (cbreak mode), restored on exit.
    Does nothing when stdin is not a terminal."""

    def __init__(self):
        self.fd = None
        self.old = None
        try:
            if sys.stdin.isatty():
                import termios
                import tty

                self.fd = sys.stdin.fileno()
                self.old = termios.tcgetattr(self.fd)
                tty.setcbreak(self.fd)
        except (OSError, ValueError, ImportError):
            self.fd = None

    def read(self) -> str | None:
        if self.fd is None:
            return None
        r, _, _ = select.select([self.fd], [], [], 0)
        if not r:
            return None
        try:
            return os.read(self.fd, 1).decode(errors="replace")
        except OSError:
            return None

    def close(self) -> None:
        if self.fd is not None and self.old is not None:
            import termios

            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.old)


def run_watch(links, duration: float | None = None, refresh_hz: float = 5.0,
              console: Console | None = None, sysid: int | None = None, stale_after: float = STALE_AFTER_S,
              should_stop: Callable[[], bool] = lambda: False, view: str = "panels",
              plan: dict | None = None) -> int:
    """Live dashboard over one or more Links until q/Esc/Ctrl-C, ``duration``
    or ``should_stop``.  Returns the number of vehicles seen."""
    from rich.live import Live

    console = console or Console()
    endpoints = [l.endpoint for l in links]
    keys = KeyReader()
    t_end = None if duration is None else time.monotonic() + duration
    period = 1.0 / refresh_hz

    asked: set = set()

    def ask_streams():
        # telemetry streams, as MAVProxy asks every new vehicle (ArduPilot needs it)
        from edgepilot.gcs.connection import Vehicle

        for l in links:
            for s, v in list(l.fleet.vehicles.items()):
                if s not in asked and v.last_heartbeat is not None:
                    asked.add(s)
                    Vehicle(l, s, v.compid).request_streams()

    def vehicles():
        out = {}
        for l in links:
            for s, v in l.fleet.vehicles.items():
                if sysid is None or s == sysid:
                    out.setdefault(s, v)
        return list(out.values())

    try:
        with Live(render_dashboard(vehicles(), time.monotonic(), endpoints, stale_after, view, plan), console=console,
                  refresh_per_second=refresh_hz, transient=False, auto_refresh=False) as live:
            next_draw = 0.0
            while True:
                for l in links:
                    l.poll(0.02 if len(links) > 1 else min(period, 0.05))
                ask_streams()
                k = keys.read()
                if k in ("q", "Q", "\x1b", "\x03"):
                    break
                now = time.monotonic()
                if now >= next_draw:
                    live.update(render_dashboard(vehicles(), now, endpoints, stale_after, view, plan), refresh=True)
                    next_draw = now + period
                if (t_end is not None and now >= t_end) or should_stop():
                    break
    except KeyboardInterrupt:
        pass
    finally:
        keys.close()
    return len(vehicles())
