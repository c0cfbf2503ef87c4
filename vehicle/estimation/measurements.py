"""Readings of the dead-reckoning sensors, as drivers and the simulator
deliver them, and the conversion of wheel-encoder counts to motion.

Body frame: x forward, y left, z up.  Units SI.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ImuSample:
    """One IMU sample: angular rate [rad/s] and specific force [m/s^2]
    (what an accelerometer measures: acceleration minus gravity, so a level
    IMU at rest reads accel_z = +9.81)."""

    t: float
    gyro_x: float
    gyro_y: float
    gyro_z: float
    accel_x: float
    accel_y: float
    accel_z: float


@dataclass(frozen=True)
class WheelTicks:
    """Cumulative encoder counts of the left and right wheels (signed, forward
    positive) as the motor controller reports them.  Counts may wrap as
    32-bit two's complement (the motor protocol's i32): differences are
    taken modulo 2^32.  ``t`` is when the counts were latched [s, the
    core's clock].  ``restart``: the counts began again (a rebooted motor
    board, a reconnected port): no motion is taken across from the
    previous reading."""

    t: float
    left: int
    right: int
    restart: bool = False


@dataclass(frozen=True)
class SpeedLog:
    """Speed through water along the hull's forward axis [m/s] (a paddle
    wheel or Doppler log): it does not see the current."""

    t: float
    speed: float


@dataclass(frozen=True)
class OdometryIncrement:
    """Motion between two encoder readings, body frame of the earlier one."""

    dt: float               # [s]
    distance: float         # forward travel of the chassis centre [m]
    dyaw: float             # heading change [rad]

    @property
    def speed(self) -> float:
        return self.distance / self.dt if self.dt > 0 else 0.0

    @property
    def yaw_rate(self) -> float:
        return self.dyaw / self.dt if self.dt > 0 else 0.0


def tick_delta(new: int, old: int) -> int:
    """new - old for counters that wrap as 32-bit two's complement: the
    difference taken modulo 2^32, in [-2^31, 2^31).  Exact for counts that
    never wrapped too (any |new - old| < 2^31)."""
    return ((new - old + 0x80000000) & 0xFFFFFFFF) - 0x80000000


class WheelOdometry:
    """Turns encoder counts into chassis motion (differential drive).

    ``ticks_per_rev`` counts per wheel revolution, ``wheel_radius`` [m],
    ``track_width`` [m] between the wheel contact lines.  The counts are
    differenced modulo 2^32 (``tick_delta``), so a counter that wraps past
    2^31 - 1 gives the right motion; ``reset()`` forgets the last reading
    (a rebooted motor board restarts its counts)."""

    def __init__(self, ticks_per_rev: int, wheel_radius: float, track_width: float):
        if not isinstance(ticks_per_rev, int) or ticks_per_rev <= 0:
            raise ValueError(f"ticks_per_rev must be a positive integer, got {ticks_per_rev!r}")
        for name, v in (("wheel_radius", wheel_radius), ("track_width", track_width)):
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a finite number > 0 [m], got {v!r}")
        self.m_per_tick = 2.0 * math.pi * wheel_radius / ticks_per_rev
        self.track = track_width
        self._last: WheelTicks | None = None

    def reset(self) -> None:
        self._last = None

    def update(self, ticks: WheelTicks) -> OdometryIncrement | None:
        """The motion since the previous reading (None for the first one,
        a restart, or a reading not newer than the last)."""
        last, self._last = self._last, ticks
        if last is None or ticks.restart or ticks.t <= last.t:
            return None
        dl = tick_delta(ticks.left, last.left) * self.m_per_tick
        dr = tick_delta(ticks.right, last.right) * self.m_per_tick
        return OdometryIncrement(ticks.t - last.t, 0.5 * (dl + dr), (dr - dl) / self.track)
