"""AUTO: fly the loaded mission item by item (the executor says what the
current item asks; this mode drives it), then HOLD at its end."""
from __future__ import annotations

from edgepilot.vehicle.mission.executor import NAV_COMMANDS, NavTarget
from edgepilot.vehicle.types import ActuatorCommand, Cmd, Mode, Severity

from .base import VehicleMode

# The commands the per-tick look-ahead compares against, bound once: an
# enum member look-up (``Cmd.NAV_WAYPOINT``) costs several times a global's.
_WAYPOINT = Cmd.NAV_WAYPOINT
#: NAV items the vehicle stops at (not pass-through waypoints)
_STOPS = NAV_COMMANDS - {_WAYPOINT}


class AutoMode(VehicleMode):
    number = Mode.AUTO
    drives = True

    def __init__(self, core):
        super().__init__(core)
        self.loiter_until: float | None = None   # end of the current NAV_LOITER_TIME [s]
        self.leg_from = None   # (executor, seq, x [m], y [m]) of the waypoint last reached: the next leg's start
        #: (target, executor, current index, ((x, y), stop_here, leg_next)): ``_place`` of the target driven to last
        self._placed = (None, None, -1, None)

    def refusal(self, now):
        ex = self.core._exec
        if ex is None or not ex.has_nav:
            return "AUTO needs a mission with at least one waypoint"
        return None

    def enter(self, now):
        c = self.core
        self.leg_from = None
        if c._exec.complete:
            c._exec.restart()   # AUTO again after the end: from the start
        c._mission_started = True

    def exit(self, now):
        self.loiter_until = None

    def update(self, now):
        c = self.core
        ex = c._exec
        if ex is None:          # mission cleared while in AUTO
            return ActuatorCommand.stop()
        nav = c.nav
        for _ in range(len(ex.items) + 2):
            tgt: NavTarget = ex.current_target()
            kind = tgt.kind
            if kind == "done":
                self._finish(now)
                return ActuatorCommand.stop()
            if kind == "rtl":       # home may move: asked every tick
                (x, y), stop_here, leg_next = nav.home_xy(), True, None
            else:
                # the same target object for as long as its item is current: placed once
                p = self._placed
                if p[0] is not tgt or p[1] is not ex or p[2] != ex.current:
                    p = self._placed = (tgt, ex, ex.current, self._place(ex, tgt))
                (x, y), stop_here, leg_next = p[3]
            leg_from = self._leg_from(ex, tgt) if kind == "waypoint" else None
            # leg_from, leg_next by position: keywords cost ~0.1 us a call, every tick
            cmd, arrived = nav.drive_to(("auto", tgt.seq, x, y), x, y, nav.cruise(), stop_here, leg_from, leg_next)
            if c.failure_reason is not None:
                return ActuatorCommand.stop()
            if not arrived:
                return cmd
            if kind == "loiter_unlim":
                return nav.hold_at(x, y)
            if kind == "loiter_time":
                if self.loiter_until is None:
                    self.loiter_until = now + tgt.hold_s
                if now < self.loiter_until:
                    return nav.hold_at(x, y)
                self.loiter_until = None
            c._emit("item_reached", f"Reached waypoint #{tgt.seq}", Severity.INFO, seq=tgt.seq)
            self.leg_from = (ex, tgt.seq, x, y) if kind == "waypoint" else None
            ex.advance()
            nav.new_leg()
        return ActuatorCommand.stop()

    def _place(self, ex, tgt) -> tuple[tuple[float, float], bool, tuple[float, float] | None]:
        """Where the executor's current target ``tgt`` (not RTL's) is in the
        map frame [m], whether the vehicle stops there and the next waypoint
        it passes on to (``_after``; a loiter stops, with nothing next).
        ``update`` asks once per target: the executor hands out the same
        target object while its item stays current (``current_target``),
        and neither the mission's items nor the core's frame change under it."""
        xy = self.core.frame.to_local(tgt.lat, tgt.lon)
        if tgt.kind == "waypoint":
            stop_here, leg_next = self._after(ex)
            return xy, stop_here, leg_next
        return xy, True, None

    def _leg_from(self, ex, tgt) -> tuple[float, float] | None:
        """Where the leg to ``tgt`` starts: the waypoint reached last, when
        ``tgt`` is the next NAV item of the same mission after it (not a
        jump by MISSION_SET_CURRENT or a new upload)."""
        lf = self.leg_from
        if lf is None or lf[0] is not ex or not lf[1] < tgt.seq:
            return None
        # items in between (none on the usual next leg: no generator built every tick)
        if lf[1] + 1 < tgt.seq and any(it.command in NAV_COMMANDS for it in ex.items[lf[1] + 1:tgt.seq]):
            return None
        return lf[2], lf[3]

    def _after(self, ex) -> tuple[bool, tuple[float, float] | None]:
        """What follows the current NAV item (a waypoint), from one look at
        the items after it: whether the vehicle stops there (the next NAV
        item is not another pass-through waypoint, or there is none), and
        the map position [m] of that next waypoint when it passes through
        (None when it stops, or the waypoint has no position)."""
        items = ex.items
        for i in range(ex.current + 1, len(items)):     # no copy of the rest of the list
            it = items[i]
            cmd = it.command
            if cmd == _WAYPOINT:
                if (it.lat, it.lon) == (0.0, 0.0):
                    return False, None
                return False, self.core.frame.to_local(it.lat, it.lon)
            if cmd in _STOPS:
                return True, None
        return True, None

    def _finish(self, now: float) -> None:
        c = self.core
        if c.mode == Mode.AUTO:
            c._emit("mission_complete", "Mission complete", Severity.INFO)
            c.set_mode(now, Mode.HOLD)
