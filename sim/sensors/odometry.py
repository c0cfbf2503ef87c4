"""Simulated wheel encoders (UGV) and speed-through-water log (USV).

Wheel encoders: each wheel's rim travel follows the true chassis motion
(forward speed and yaw rate of a differential drive), then *slips*: the
wheel turns further than the ground moved by a slip fraction made of
- ``turn_slip`` per rad/s of yaw rate (skid-steering scrubs on turns),
- ``loose_slip`` inside any ``loose_ground`` rectangle (sand, mud, gravel),
- white noise ``slip_noise``;
and the counts are the integer ticks of the accumulated rim travel
(``ticks_per_rev`` per revolution of a wheel of ``wheel_radius``), with a
fixed per-wheel radius error (``radius_error`` 1-sigma fraction) the
vehicle's calibration does not know.

Speed log: the forward component of the velocity through the water (over
ground minus the current), with a scale error, noise, and a dead band below
which a paddle wheel does not turn.
All randomness from the scenario's Generator.
"""
from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from edgepilot.sim.dynamics import Truth
from edgepilot.vehicle.config import Strict
from edgepilot.vehicle.estimation.measurements import SpeedLog, WheelTicks


class LooseGround(Strict):
    rect: tuple[float, float, float, float] = Field(description="xmin, ymin, xmax, ymax in the map frame [m]")
    slip: float = Field(ge=0, le=1, description="extra slip fraction on this ground")


class EncoderConfig(Strict):
    rate_hz: float = Field(default=50.0, gt=0, le=1000, description="report rate [Hz]")
    ticks_per_rev: int = Field(default=4096, gt=0)
    wheel_radius: float = Field(default=0.1, gt=0, description="nominal wheel radius [m]")
    track_width: float = Field(default=0.5, gt=0, description="wheel contact line spacing [m]")
    radius_error: float = Field(default=0.002, ge=0, lt=0.2, description="1-sigma radius error, fraction")
    turn_slip: float = Field(default=0.05, ge=0, description="slip fraction per rad/s of yaw rate")
    loose_slip: float = Field(default=0.0, ge=0, le=1, description="slip fraction everywhere (loose ground)")
    slip_noise: float = Field(default=0.01, ge=0, description="1-sigma white slip fraction")
    loose_ground: list[LooseGround] = Field(default_factory=list)


class WheelEncoderModel:
    """Call ``sample(now, truth)`` after every physics step; returns a
    ``WheelTicks`` when a report is due, else None."""

    def __init__(self, cfg: EncoderConfig, rng: np.random.Generator):
        self.cfg = cfg
        self.rng = rng
        self.period = 1.0 / cfg.rate_hz
        self.next_t = 0.0
        self.radius_scale = 1.0 + rng.standard_normal(2) * cfg.radius_error
        self._scale_l, self._scale_r = (float(v) for v in self.radius_scale)
        self._rim_l = self._rim_r = 0.0   # accumulated rim travel as the encoders see it [m]
        self._m_per_tick = 2.0 * math.pi * cfg.wheel_radius / cfg.ticks_per_rev
        self._prev: tuple[float, Truth] | None = None

    def _slip(self, x: float, y: float, yaw_rate: float) -> float:
        s = self.cfg.loose_slip + self.cfg.turn_slip * abs(yaw_rate)
        for g in self.cfg.loose_ground:
            x0, y0, x1, y1 = g.rect
            if x0 <= x <= x1 and y0 <= y <= y1:
                s += g.slip
        return s

    def sample(self, now: float, truth: Truth) -> WheelTicks | None:
        prev, self._prev = self._prev, (now, truth)
        if prev is not None and now > prev[0]:
            t0, tr0 = prev
            dt = now - t0
            u = math.cos(truth.yaw) * truth.vx + math.sin(truth.yaw) * truth.vy
            dyaw = (truth.yaw - tr0.yaw + math.pi) % (2 * math.pi) - math.pi
            half = 0.5 * self.cfg.track_width * dyaw / dt
            slip = self._slip(truth.x, truth.y, dyaw / dt)
            n0, n1 = self.rng.standard_normal(2) if self.cfg.slip_noise > 0 else (0.0, 0.0)
            # a slipping wheel turns further than the ground moves; the encoder
            # counts the turn as seen through the (unknown) true radius
            sn = self.cfg.slip_noise
            self._rim_l += (u - half) * dt * (1.0 + slip + sn * n0) / self._scale_l
            self._rim_r += (u + half) * dt * (1.0 + slip + sn * n1) / self._scale_r
        if now + 1e-9 < self.next_t:
            return None
        self.next_t += self.period
        return WheelTicks(now, math.floor(self._rim_l / self._m_per_tick), math.floor(self._rim_r / self._m_per_tick))

    @property
    def rim(self) -> tuple[float, float]:
        """Accumulated rim travel the encoders saw, left and right [m]."""
        return self._rim_l, self._rim_r


class SpeedLogConfig(Strict):
    rate_hz: float = Field(default=5.0, gt=0, le=100)
    noise: float = Field(default=0.05, ge=0, description="1-sigma [m/s]")
    scale_error: float = Field(default=0.02, ge=0, lt=0.5, description="1-sigma scale-factor error, fraction")
    dead_band: float = Field(default=0.1, ge=0, description="below this the log reads 0 [m/s]")


class SpeedLogModel:
    def __init__(self, cfg: SpeedLogConfig, rng: np.random.Generator):
        self.cfg = cfg
        self.rng = rng
        self.period = 1.0 / cfg.rate_hz
        self.next_t = 0.0
        self.scale = 1.0 + rng.standard_normal() * cfg.scale_error

    def sample(self, now: float, truth: Truth, current: tuple[float, float] = (0.0, 0.0)) -> SpeedLog | None:
        if now + 1e-9 < self.next_t:
            return None
        self.next_t += self.period
        c, s = math.cos(truth.yaw), math.sin(truth.yaw)
        u = c * (truth.vx - current[0]) + s * (truth.vy - current[1])
        if abs(u) < self.cfg.dead_band:
            return SpeedLog(now, 0.0)
        return SpeedLog(now, float(self.scale * u + self.cfg.noise * self.rng.standard_normal()))
