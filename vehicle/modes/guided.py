"""GUIDED: drive to the operator's target (DO_REPOSITION, a guided position
setpoint, ``goto``), then hold there."""
from __future__ import annotations

from edgepilot.vehicle.types import ActuatorCommand, Mode

from .base import VehicleMode


class GuidedMode(VehicleMode):
    number = Mode.GUIDED
    drives = True

    def __init__(self, core):
        super().__init__(core)
        #: (x, y [m, map frame], speed [m/s] or None for the cruise speed);
        #: kept across visits, as the last target an operator gave.
        self.target: tuple[float, float, float | None] | None = None

    def enter(self, now):
        st = self.core.state
        if self.target is None and st.valid:
            self.target = (st.x, st.y, None)   # no target yet: stay here

    def update(self, now):
        if self.target is None:
            return ActuatorCommand.stop()
        nav = self.core.nav
        x, y, speed = self.target
        cmd, arrived = nav.drive_to(("guided", x, y), x, y, speed or nav.cruise(), True)
        return nav.hold_at(x, y) if arrived else cmd
