"""The shape every mode has, as ArduPilot Rover's ``Mode`` subclasses do:
``enter`` (may refuse), ``exit``, ``update`` once per control tick, and ``refusal`` (Rover's
``_enter`` returning false) to say why it cannot be entered now.

A mode holds only its own state (a hold point, a guided target, a loiter
timer); the vehicle's state (estimate, mission, home, arming) stays in the
core, which owns the transitions: a mode asks for one with
``core.set_mode`` (RTL reaching home, a mission ending) as Rover's modes
call ``rover.set_mode``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from edgepilot.vehicle.types import ActuatorCommand, Mode

if TYPE_CHECKING:
    from edgepilot.vehicle.core import VehicleCore


class VehicleMode:
    #: The mode's number (ArduPilot Rover's custom_mode).
    number: Mode = Mode.HOLD
    #: True for modes that move the vehicle towards a target by themselves
    #: (Rover's ``is_autopilot_mode``): AUTO, GUIDED, RTL.
    drives = False

    def __init__(self, core: "VehicleCore"):
        self.core = core

    @property
    def name(self) -> str:
        return self.number.name

    def refusal(self, now: float) -> str | None:
        """Why this mode cannot be entered now, in an operator's words, or
        None.  No side effects: the safety layer asks it too before it
        decides on a failsafe's mode."""
        return None

    def enter(self, now: float) -> None:
        """Called on every accepted request for this mode (also when it is
        already the current one), before the switch."""

    def exit(self, now: float) -> None:
        """Called when the core leaves this mode: forget per-visit state."""

    def update(self, now: float) -> ActuatorCommand:
        """One control tick while armed with a valid estimate: the command."""
        return ActuatorCommand.stop()
