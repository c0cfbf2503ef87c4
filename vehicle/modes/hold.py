"""Modes that keep the vehicle where it is: MANUAL (motors at zero: edgepilot
takes no stick input), HOLD and LOITER (a ground vehicle stops; a surface
vessel keeps station against current and wind where the mode began)."""
from __future__ import annotations

from edgepilot.vehicle.types import ActuatorCommand, Mode

from .base import VehicleMode


class ManualMode(VehicleMode):
    number = Mode.MANUAL


class HoldMode(VehicleMode):
    number = Mode.HOLD

    def __init__(self, core):
        super().__init__(core)
        self.hold_xy: tuple[float, float] | None = None   # map frame [m], set on the first tick

    def exit(self, now):
        self.hold_xy = None

    def update(self, now):
        c = self.core
        if c.maritime is None:
            return ActuatorCommand.stop()
        if self.hold_xy is None:
            self.hold_xy = (c.state.x, c.state.y)
        return c.nav.hold_at(*self.hold_xy)


class LoiterMode(HoldMode):
    number = Mode.LOITER
