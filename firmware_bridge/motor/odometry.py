"""Wheel odometry from the motor board's TELEMETRY (docs/motor_protocol.md,
section 7): cumulative i32 encoder counts latched with the device's u32
millisecond clock.

- Counts and clock both wrap; differences are taken modulo 2^32, so a
  lost TELEMETRY frame loses nothing (the next one covers the interval) and
  a wrap is invisible.
- The time of an increment is the device's clock (unwrapped here), not the
  host's arrival time: the board latches counts and clock together, so the
  speed is not spoiled by serial and scheduling jitter.
- A rebooted board restarts both: the device clock going backwards, or the
  WATCHDOG_RESET fault appearing, restarts the differencing (no increment
  across it).  So does a jump no wheel could make (``max_wheel_speed``): a
  board that rebooted unseen during a long unplug, or a corrupted count.
"""
from __future__ import annotations

from edgepilot.vehicle.estimation.measurements import OdometryIncrement, WheelOdometry, WheelTicks

from .protocol import Fault, Telemetry


class TelemetryOdometry:
    """``update(tel)`` per received TELEMETRY; returns the chassis motion
    since the previous one, or None (first frame, a duplicate, a restart)."""

    def __init__(self, ticks_per_rev: int, wheel_radius: float, track_width: float, max_wheel_speed: float):
        if not (max_wheel_speed > 0):
            raise ValueError(f"max_wheel_speed must be > 0 [m/s], got {max_wheel_speed!r}")
        self.odo = WheelOdometry(ticks_per_rev, wheel_radius, track_width)
        self.max_speed = float(max_wheel_speed)
        self._ms: int | None = None
        self._t = 0.0                       # unwrapped device time [s]
        self._watchdog = False
        self.restarts = 0                   # board reboots seen (clock back, WATCHDOG_RESET)
        self.implausible = 0                # jumps no wheel could make
        self.duplicates = 0

    def reset(self) -> None:
        """Forget the previous frame (after the host reconnected the port)."""
        self._ms = None
        self.odo.reset()

    def update(self, tel: Telemetry) -> OdometryIncrement | None:
        ms = tel.device_time_ms & 0xFFFFFFFF
        wd = bool(tel.faults & Fault.WATCHDOG_RESET)
        rebooted = wd and not self._watchdog
        self._watchdog = wd
        if self._ms is not None:
            d = (ms - self._ms) & 0xFFFFFFFF
            if d == 0:
                self.duplicates += 1
                return None
            if d >= 0x80000000 or rebooted:           # the clock went back: a new boot
                self.restarts += 1
                self.reset()
        if self._ms is None:
            self._ms = ms
            self.odo.update(WheelTicks(self._t, tel.enc_left, tel.enc_right))
            return None
        self._t += ((ms - self._ms) & 0xFFFFFFFF) / 1000.0
        self._ms = ms
        inc = self.odo.update(WheelTicks(self._t, tel.enc_left, tel.enc_right))
        if inc is None:
            return None
        # each wheel's travel is at most max speed x dt (with a margin and one tick of quantisation)
        wheel = abs(inc.distance) + 0.5 * abs(inc.dyaw) * self.odo.track
        if wheel > 1.5 * self.max_speed * inc.dt + 2 * self.odo.m_per_tick:
            self.implausible += 1
            self.odo.reset()
            self.odo.update(WheelTicks(self._t, tel.enc_left, tel.enc_right))
            return None
        return inc
