"""A motor controller in software: the device end of the protocol, as the
firmware on a microcontroller implements it (see docs/motor_protocol.md).

``MotorDevice`` is transport-free: ``receive(bytes, now)`` takes what the
host sent, ``tick(now)`` enforces the command watchdog and returns the
telemetry frames that are due.  The simulator (sim/hil/hardware.py) wraps it in a
pseudo-terminal and feeds its ``applied`` command to the vehicle dynamics,
and reads encoders, battery and IMU from the simulated truth via ``sense``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .decoder import FrameDecoder
from .protocol import (DeviceConfig, DeviceState, Estop, Fault, Heartbeat, Imu, Setpoint, Telemetry,
                       encode_frame)


@dataclass(frozen=True)
class DeviceSense:
    """What the device's own sensors read: encoder ticks, wheel speeds [m/s],
    battery [V, A, 0..1 or None], heading [rad, clockwise from north],
    yaw rate [rad/s, CCW positive] and body acceleration [m/s^2]."""

    enc_left: int = 0
    enc_right: int = 0
    speed_left: float = 0.0
    speed_right: float = 0.0
    battery_v: float = 0.0
    battery_a: float = 0.0
    battery_remaining: float | None = None
    heading: float = 0.0
    yaw_rate: float = 0.0
    accel: tuple[float, float, float] = (0.0, 0.0, 9.81)
    faults: Fault = Fault(0)


class MotorDevice:
    """Defaults before any CONFIG: 250 ms command timeout, 20 ms telemetry."""

    def __init__(self, sense: Callable[[], DeviceSense] | None = None,
                 command_timeout_s: float = 0.25, telemetry_period_s: float = 0.02):
        self.sense = sense or DeviceSense
        self.command_timeout_s = command_timeout_s
        self.telemetry_period_s = telemetry_period_s
        self.decoder = FrameDecoder()
        self.state = DeviceState.IDLE
        self.applied = Setpoint(0.0, 0.0)        # what the motors are doing now
        self.last_setpoint: Setpoint | None = None  # the last SETPOINT received (diagnostics)
        self.last_command_t: float | None = None
        self.timeouts = 0                         # times the watchdog stopped the motors
        self.heartbeats = 0
        self.configs = 0
        self._timed_out = False
        self._next_tx = 0.0
        self._seq = 0
        self._rx_good = 0
        self._t = 0.0

    @property
    def rx_bad(self) -> int:
        return self.decoder.stats.dropped

    def receive(self, data: bytes, now: float) -> None:
        self._t = now
        for _, msg in self.decoder.feed(data):
            self._rx_good += 1
            if isinstance(msg, Setpoint):
                self.last_command_t = now
                self.last_setpoint = msg
                if self.state != DeviceState.ESTOP:
                    self.state = DeviceState.RUNNING
                    self.applied = msg
                    self._timed_out = False
            elif isinstance(msg, Estop):
                if msg.engage:
                    self.state = DeviceState.ESTOP
                    self.applied = Setpoint(0.0, 0.0)
                elif self.state == DeviceState.ESTOP:
                    # Released: motors stay stopped until the next SETPOINT.
                    self.state = DeviceState.IDLE
            elif isinstance(msg, Heartbeat):
                self.heartbeats += 1
            elif isinstance(msg, DeviceConfig):
                self.configs += 1
                self.command_timeout_s = msg.command_timeout_ms / 1000
                self.telemetry_period_s = msg.telemetry_period_ms / 1000

    def tick(self, now: float) -> bytes:
        """Run the watchdog; return the telemetry frames due at ``now``."""
        self._t = now
        if self.state == DeviceState.RUNNING and (
                self.last_command_t is None or now - self.last_command_t > self.command_timeout_s):
            self.state = DeviceState.IDLE
            self.applied = Setpoint(0.0, 0.0)
            self._timed_out = True
            self.timeouts += 1
        if now + 1e-9 < self._next_tx:
            return b""
        self._next_tx = max(self._next_tx + self.telemetry_period_s, now)
        return self.telemetry_frames(now)

    def telemetry_frames(self, now: float) -> bytes:
        s = self.sense()
        faults = Fault(s.faults)
        if self._timed_out:
            faults |= Fault.COMMAND_TIMEOUT
        if self.state == DeviceState.ESTOP:
            faults |= Fault.ESTOP
        ms = int(now * 1000) & 0xFFFFFFFF
        tel = Telemetry(ms, s.enc_left, s.enc_right, s.speed_left, s.speed_right, s.battery_v, s.battery_a,
                        s.battery_remaining, self.state, faults, self._rx_good, self.rx_bad)
        imu = Imu(ms, s.heading, s.yaw_rate, *s.accel)
        out = encode_frame(tel, self._seq) + encode_frame(imu, (self._seq + 1) & 0xFF)
        self._seq = (self._seq + 2) & 0xFF
        return out
