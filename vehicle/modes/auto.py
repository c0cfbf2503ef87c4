"""AUTO: fly the loaded mission item by item (the executor says what the
current item asks; this mode drives it), then HOLD at its end."""
from __future__ import annotations

from edgepilot.vehicle.mission import NavTarget
from edgepilot.vehicle.types import ActuatorCommand, Cmd, Mode, Severity

from .base import VehicleMode


class AutoMode(VehicleMode):
    number = Mode.AUTO
    drives = True

    def __init__(self, core):
        super().__init__(core)
        self.loiter_until: float | None = None   # end of the current NAV_LOITER_TIME [s]

    def refusal(self, now):
        ex = self.core._exec
        if ex is None or not ex.has_nav:
            return "AUTO needs a mission with at least one waypoint"
        return None

    def enter(self, now):
        c = self.core
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
            if tgt.kind == "done":
                self._finish(now)
                return ActuatorCommand.stop()
            if tgt.kind == "rtl":
                x, y = nav.home_xy()
            else:
                x, y = c.frame.to_local(tgt.lat, tgt.lon)
            stop_here = tgt.kind != "waypoint" or self._next_is_stop()
            cmd, arrived = nav.drive_to(("auto", tgt.seq, x, y), x, y, nav.cruise(), stop_here)
            if c.failure_reason is not None:
                return ActuatorCommand.stop()
            if not arrived:
                return cmd
            if tgt.kind == "loiter_unlim":
                return nav.hold_at(x, y)
            if tgt.kind == "loiter_time":
                if self.loiter_until is None:
                    self.loiter_until = now + tgt.hold_s
                if now < self.loiter_until:
                    return nav.hold_at(x, y)
                self.loiter_until = None
            c._emit("item_reached", f"Reached waypoint #{tgt.seq}", Severity.INFO, seq=tgt.seq)
            ex.advance()
            nav.new_leg()
        return ActuatorCommand.stop()

    def _next_is_stop(self) -> bool:
        """True when the item after the current NAV item is not another
        pass-through waypoint (so the vehicle should stop at this one)."""
        ex = self.core._exec
        for it in ex.items[ex.current + 1:]:
            if it.command == Cmd.NAV_WAYPOINT:
                return False
            if it.command in (Cmd.NAV_LOITER_TIME, Cmd.NAV_LOITER_UNLIM, Cmd.NAV_RETURN_TO_LAUNCH):
                return True
        return True

    def _finish(self, now: float) -> None:
        c = self.core
        if c.mode == Mode.AUTO:
            c._emit("mission_complete", "Mission complete", Severity.INFO)
            c.set_mode(now, Mode.HOLD)
