"""RTL: drive home (where the vehicle armed) at RTL_SPEED, then HOLD."""
from __future__ import annotations

from edgepilot.vehicle.types import ActuatorCommand, Mode, Severity

from .base import VehicleMode


class RtlMode(VehicleMode):
    number = Mode.RTL
    drives = True

    def refusal(self, now):
        c = self.core
        if c.home is None and not c.state.valid:
            return "RTL needs a home position"
        return None

    def update(self, now):
        c = self.core
        nav = c.nav
        hx, hy = nav.home_xy()
        speed = c.params.get("RTL_SPEED") or nav.cruise()
        cmd, arrived = nav.drive_to(("rtl",), hx, hy, speed, True)
        if arrived:
            c._emit("text", "Reached home", Severity.INFO)
            c.set_mode(now, Mode.HOLD)
            return ActuatorCommand.stop()
        return cmd
