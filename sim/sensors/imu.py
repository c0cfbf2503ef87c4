"""Simulated 3-axis IMU (gyro + accelerometer) with ground truth.

Errors per axis, as a MEMS datasheet states them:
- white noise: ``gyro_noise_density`` [rad/s/sqrt(Hz)] and
  ``accel_noise_density`` [m/s^2/sqrt(Hz)], so the per-sample sigma grows
  with sqrt(rate);
- bias: an initial turn-on bias (``*_bias_sigma``) plus a random walk
  (``*_bias_walk`` per sqrt(s));
- scale-factor error: fixed per axis, drawn once (``scale_error`` 1-sigma,
  a fraction).

The physics runs at its own step (10 ms); the IMU samples at 100-400 Hz in
between.  Within one physics step the body's acceleration and yaw rate are
taken as constant (the mean over the step), so integrating the simulated
gyro reproduces the true heading change exactly.  The vehicle moves on a
level surface: gyro x/y and accel z see only noise and bias (plus gravity).
All randomness from the scenario's Generator.
"""
from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from edgepilot.sim.dynamics import Truth
from edgepilot.vehicle.config import Strict
from edgepilot.vehicle.estimation.measurements import ImuSample

GRAVITY = 9.80665  # [m/s^2]


class ImuConfig(Strict):
    rate_hz: float = Field(default=200.0, ge=100, le=400, description="sample rate [Hz]")
    gyro_noise_density: float = Field(default=2.5e-4, ge=0, description="[rad/s/sqrt(Hz)]")
    accel_noise_density: float = Field(default=2.0e-3, ge=0, description="[m/s^2/sqrt(Hz)]")
    gyro_bias_sigma: float = Field(default=2e-3, ge=0, description="turn-on bias, 1-sigma [rad/s]")
    accel_bias_sigma: float = Field(default=0.05, ge=0, description="turn-on bias, 1-sigma [m/s^2]")
    gyro_bias_walk: float = Field(default=2e-5, ge=0, description="[rad/s/sqrt(s)]")
    accel_bias_walk: float = Field(default=5e-4, ge=0, description="[m/s^2/sqrt(s)]")
    scale_error: float = Field(default=0.005, ge=0, lt=0.5, description="scale-factor error, 1-sigma fraction")


class ImuModel:
    """Call ``sample(now, truth)`` after every physics step; it returns the
    IMU samples due since the previous call (oldest first)."""

    def __init__(self, cfg: ImuConfig, rng: np.random.Generator, t0: float = 0.0):
        self.cfg = cfg
        self.rng = rng
        self.period = 1.0 / cfg.rate_hz
        self.next_t = t0 + self.period
        self.gyro_bias = rng.standard_normal(3) * cfg.gyro_bias_sigma
        self.accel_bias = rng.standard_normal(3) * cfg.accel_bias_sigma
        self.gyro_scale = 1.0 + rng.standard_normal(3) * cfg.scale_error
        self.accel_scale = 1.0 + rng.standard_normal(3) * cfg.scale_error
        self._prev: tuple[float, Truth] | None = None

    def sample(self, now: float, truth: Truth) -> list[ImuSample]:
        prev, self._prev = self._prev, (now, truth)
        if prev is None:
            return []
        t0, tr0 = prev
        step = now - t0
        if step <= 0:
            return []
        dyaw = (truth.yaw - tr0.yaw + math.pi) % (2 * math.pi) - math.pi
        rate = dyaw / step
        ax_w = (truth.vx - tr0.vx) / step
        ay_w = (truth.vy - tr0.vy) / step
        cfg = self.cfg
        out = []
        sg = cfg.gyro_noise_density * math.sqrt(cfg.rate_hz)
        sa = cfg.accel_noise_density * math.sqrt(cfg.rate_hz)
        while self.next_t <= now + 1e-9:
            t = self.next_t
            self.next_t += self.period
            yaw = tr0.yaw + rate * (t - t0)
            c, s = math.cos(yaw), math.sin(yaw)
            true_gyro = np.array([0.0, 0.0, rate])
            true_acc = np.array([c * ax_w + s * ay_w, -s * ax_w + c * ay_w, GRAVITY])
            self.gyro_bias += self.rng.standard_normal(3) * cfg.gyro_bias_walk * math.sqrt(self.period)
            self.accel_bias += self.rng.standard_normal(3) * cfg.accel_bias_walk * math.sqrt(self.period)
            n = self.rng.standard_normal(6)
            g = self.gyro_scale * true_gyro + self.gyro_bias + sg * n[:3]
            a = self.accel_scale * true_acc + self.accel_bias + sa * n[3:]
            out.append(ImuSample(t, float(g[0]), float(g[1]), float(g[2]),
                                 float(a[0]), float(a[1]), float(a[2])))
        return out
