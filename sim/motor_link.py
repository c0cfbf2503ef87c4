"""The motor controller at the far end of its serial link, as simulated.

Commands reach the controller as frames (one per physics step while the
autonomy loop runs); a frame lost or failing its CRC is dropped and the
controller keeps the last good command.  Its own watchdog brakes the
motors when no good command frame has arrived for ``COMMAND_TIMEOUT_S``.
A hardware e-stop input cuts the motors at once.  Telemetry frames go back
at ``TELEMETRY_HZ`` and are just as exposed to the link.  Times in seconds
of simulated time.
"""
from __future__ import annotations

import numpy as np

from edgepilot.vehicle.types import ActuatorCommand, MotorStatus

COMMAND_TIMEOUT_S = 0.25
TELEMETRY_HZ = 20.0
_TELEMETRY_PERIOD = 1.0 / TELEMETRY_HZ     # [s]


class SimMotorLink:
    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.commanded = ActuatorCommand.stop()
        self.last_rx: float | None = None
        self.next_telemetry = 0.0
        self.crc_errors = 0
        self.estop_input = False
        self.fault = ""
        self.dead_side: str | None = None

    def receive(self, t: float, cmd: ActuatorCommand, blocked: bool, corrupt_p: float) -> None:
        """A command frame sent at ``t``; ``blocked`` = the link is down."""
        if blocked:
            return
        if corrupt_p > 0 and self.rng.random() < corrupt_p:
            self.crc_errors += 1
            return
        self.commanded = cmd
        self.last_rx = t

    def clean(self, t: float, cmd: ActuatorCommand) -> ActuatorCommand:
        """A command frame sent at ``t`` over a link with no fault (no
        e-stop input, both motors turning): ``receive`` then ``output``,
        which give back ``cmd`` itself."""
        self.estop_input = False
        self.dead_side = None
        self.fault = ""
        self.commanded = cmd
        self.last_rx = t
        return cmd

    def output(self, t: float) -> ActuatorCommand:
        """What the motors get at ``t``."""
        if self.estop_input:
            return ActuatorCommand(0.0, 0.0, estop=True)
        if self.last_rx is not None and t - self.last_rx > COMMAND_TIMEOUT_S + 1e-9:
            return ActuatorCommand(0.0, 0.0, estop=True)
        c = self.commanded
        if self.dead_side == "left":
            return ActuatorCommand(0.0, c.right, c.estop)
        if self.dead_side == "right":
            return ActuatorCommand(c.left, 0.0, c.estop)
        return c

    def telemetry(self, now: float, blocked: bool, corrupt_p: float) -> MotorStatus | None:
        """The newest telemetry frame due by ``now`` that survived the link."""
        due = now + 1e-9
        nt = self.next_telemetry
        if due < nt:
            return None
        while nt <= due:
            nt += _TELEMETRY_PERIOD
        self.next_telemetry = nt
        if blocked:
            return None
        if corrupt_p > 0 and self.rng.random() < corrupt_p:
            self.crc_errors += 1
            return None
        return MotorStatus(now, self.estop_input, self.fault, self.crc_errors)     # t, estop, fault, crc_errors
