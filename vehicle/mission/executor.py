"""Walks a waypoint mission (MAVLink semantics, item 0 = home).

The executor is geometry-free bookkeeping: it says what the vehicle should
be doing now (``current_target``), applies DO_ items as it passes them,
and advances when the core reports the current NAV item done.  Planning
and following belong to the core.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from edgepilot.vehicle.types import Cmd, MissionItem

NAV_COMMANDS = {Cmd.NAV_WAYPOINT, Cmd.NAV_LOITER_UNLIM, Cmd.NAV_LOITER_TIME, Cmd.NAV_RETURN_TO_LAUNCH}
DO_COMMANDS = {Cmd.DO_JUMP, Cmd.DO_CHANGE_SPEED}
SUPPORTED = NAV_COMMANDS | DO_COMMANDS


@dataclass(frozen=True)
class NavTarget:
    """What to do now. kind: 'waypoint', 'loiter_time', 'loiter_unlim', 'rtl', 'done'."""

    kind: str
    seq: int
    lat: float = 0.0
    lon: float = 0.0
    hold_s: float = 0.0


def validate_mission(items: list[MissionItem]) -> str | None:
    """Returns None when the mission can be executed, else a reason."""
    for i, it in enumerate(items):
        if it.seq != i:
            return f"item {i} has seq {it.seq}; items must be numbered 0..N-1 in order"
        if i == 0:
            continue  # home; its command is not executed
        try:
            cmd = Cmd(it.command)
        except ValueError:
            return f"item {i}: command {it.command} is not supported"
        if cmd in (Cmd.NAV_WAYPOINT, Cmd.NAV_LOITER_TIME, Cmd.NAV_LOITER_UNLIM):
            if not (math.isfinite(it.lat) and math.isfinite(it.lon) and -90 <= it.lat <= 90
                    and -180 <= it.lon <= 180) or (it.lat == 0.0 and it.lon == 0.0):
                return f"item {i}: {cmd.name} needs a valid latitude/longitude, got {it.lat}, {it.lon}"
        if cmd == Cmd.NAV_LOITER_TIME and not (it.param1 >= 0 and math.isfinite(it.param1)):
            return f"item {i}: NAV_LOITER_TIME needs a hold time >= 0 s in param1, got {it.param1}"
        if cmd == Cmd.DO_JUMP:
            target = int(it.param1)
            if not (1 <= target < len(items)) or target == i:
                return f"item {i}: DO_JUMP target {target} must be another item in 1..{len(items) - 1}"
    return None


class MissionExecutor:
    def __init__(self, items: list[MissionItem]):
        self.items = list(items)
        self.current = 1
        self.speed_override: float | None = None
        self._jumps_done: dict[int, int] = {}
        self.complete = False

    @property
    def has_nav(self) -> bool:
        return any(it.command in NAV_COMMANDS for it in self.items[1:])

    def restart(self, seq: int | None = None) -> None:
        self.current = 1 if seq is None else max(1, seq)
        self.complete = False
        self._jumps_done.clear()

    def set_current(self, seq: int) -> bool:
        if not (0 <= seq < len(self.items)):
            return False
        self.current = max(1, seq)
        self.complete = False
        return True

    def current_target(self) -> NavTarget:
        """Apply DO_ items at the head of the queue, then return the NAV target."""
        guard = 0
        while self.current < len(self.items):
            guard += 1
            if guard > 10 * len(self.items) + 10:
                return NavTarget("done", self.current)  # a jump loop with no NAV item
            it = self.items[self.current]
            cmd = it.command
            if cmd == Cmd.DO_CHANGE_SPEED:
                if it.param2 > 0:
                    self.speed_override = float(it.param2)
                self.current += 1
            elif cmd == Cmd.DO_JUMP:
                repeat = int(it.param2)
                done = self._jumps_done.get(it.seq, 0)
                if repeat < 0 or done < repeat:
                    self._jumps_done[it.seq] = done + 1
                    self.current = int(it.param1)
                else:
                    self.current += 1
            elif cmd == Cmd.NAV_WAYPOINT:
                return NavTarget("waypoint", it.seq, it.lat, it.lon)
            elif cmd == Cmd.NAV_LOITER_TIME:
                return NavTarget("loiter_time", it.seq, it.lat, it.lon, float(it.param1))
            elif cmd == Cmd.NAV_LOITER_UNLIM:
                return NavTarget("loiter_unlim", it.seq, it.lat, it.lon)
            elif cmd == Cmd.NAV_RETURN_TO_LAUNCH:
                return NavTarget("rtl", it.seq)
            else:
                self.current += 1  # unknown items were refused at upload; be safe
        self.complete = True
        return NavTarget("done", len(self.items))

    def advance(self) -> None:
        self.current += 1
