"""Walks a waypoint mission (MAVLink semantics, item 0 = home).

The executor is geometry-free bookkeeping: it says what the vehicle should
be doing now (``current_target``), applies DO_ items as it passes them,
and advances when the core reports the current NAV item done.  Planning
and following belong to the core.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from edgepilot.vehicle.types import Cmd, MissionItem, direct_init
from edgepilot.vehicle.validation import check_plan

NAV_COMMANDS = {Cmd.NAV_WAYPOINT, Cmd.NAV_LOITER_UNLIM, Cmd.NAV_LOITER_TIME, Cmd.NAV_RETURN_TO_LAUNCH}
DO_COMMANDS = {Cmd.DO_JUMP, Cmd.DO_CHANGE_SPEED}
SUPPORTED = NAV_COMMANDS | DO_COMMANDS
# ``current_target`` runs every control tick: its commands bound once (an
# enum member look-up, ``Cmd.DO_JUMP``, costs several times a global's)
_DO_CHANGE_SPEED, _DO_JUMP = Cmd.DO_CHANGE_SPEED, Cmd.DO_JUMP
_WAYPOINT, _LOITER_TIME, _LOITER_UNLIM, _RTL = (Cmd.NAV_WAYPOINT, Cmd.NAV_LOITER_TIME, Cmd.NAV_LOITER_UNLIM,
                                               Cmd.NAV_RETURN_TO_LAUNCH)


@direct_init
@dataclass(frozen=True)
class NavTarget:
    """What to do now. kind: 'waypoint', 'loiter_time', 'loiter_unlim', 'rtl', 'done'."""

    kind: str
    seq: int
    lat: float = 0.0
    lon: float = 0.0
    hold_s: float = 0.0


def validate_mission(items: list[MissionItem]) -> str | None:
    """Returns None when the mission can be executed, else a reason.
    The rules are the one table in ``vehicle.validation`` that the MAVLink
    mission service and the state restore use too."""
    v = check_plan(items)
    return None if v is None else str(v)


def _whole(x, default: int) -> int:
    """``x`` as an int when it is a finite whole number, else ``default``:
    the executor must never raise on an item, whatever slipped past the checks."""
    try:
        f = float(x)
    except (TypeError, ValueError):
        return default
    if not math.isfinite(f) or f != math.floor(f) or abs(f) > 2**31:
        return default
    return int(f)


class MissionExecutor:
    def __init__(self, items: list[MissionItem]):
        self.items = list(items)
        self.current = 1
        self.speed_override: float | None = None
        self._jumps_done: dict[int, int] = {}
        self.complete = False
        # (item, its NavTarget): the NAV target made last.  A target is the
        # item's alone (items are frozen), so while the current item is that
        # same object ``current_target`` returns it again (once per control tick)
        self._made: tuple = (None, None)

    @property
    def has_nav(self) -> bool:
        # a loop, not any(<generator>): the fleet runner asks every physics step
        for it in self.items[1:]:
            if it.command in NAV_COMMANDS:
                return True
        return False

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
        items = self.items
        n = len(items)
        made = self._made
        if self.current < n and items[self.current] is made[0]:
            return made[1]      # the same NAV item as last time: nothing to apply, the same target
        guard = 0
        while self.current < n:
            guard += 1
            if guard > 10 * n + 10:
                return NavTarget("done", self.current)  # a jump loop with no NAV item
            it = items[self.current]
            cmd = it.command
            if cmd == _WAYPOINT:
                return self._make(it, NavTarget("waypoint", it.seq, it.lat, it.lon))
            if cmd == _DO_CHANGE_SPEED:
                if math.isfinite(it.param2) and it.param2 > 0:
                    self.speed_override = float(it.param2)
                self.current += 1
            elif cmd == _DO_JUMP:
                # A repeat count or target that is not a whole number (NaN,
                # inf) makes the jump a no-op rather than an exception.
                repeat = _whole(it.param2, 0)
                target = _whole(it.param1, 0)
                done = self._jumps_done.get(it.seq, 0)
                if 1 <= target < n and (repeat < 0 or done < repeat):
                    self._jumps_done[it.seq] = done + 1
                    self.current = target
                else:
                    self.current += 1
            elif cmd == _LOITER_TIME:
                hold = float(it.param1)
                return self._make(it, NavTarget("loiter_time", it.seq, it.lat, it.lon,
                                                hold if math.isfinite(hold) and hold > 0 else 0.0))
            elif cmd == _LOITER_UNLIM:
                return self._make(it, NavTarget("loiter_unlim", it.seq, it.lat, it.lon))
            elif cmd == _RTL:
                return self._make(it, NavTarget("rtl", it.seq))
            else:
                self.current += 1  # unknown items were refused at upload; be safe
        self.complete = True
        return NavTarget("done", n)

    def _make(self, item: MissionItem, target: NavTarget) -> NavTarget:
        """``target``, the NAV item ``item``'s, remembered for the next call."""
        self._made = (item, target)
        return target

    def advance(self) -> None:
        self.current += 1
