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
from numba import njit
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
        """The samples due since the previous call as ``ImuSample`` values."""
        return [ImuSample(*(float(v) for v in row)) for row in self.sample_array(now, truth)]

    def sample_array(self, now: float, truth: Truth) -> np.ndarray:
        """The samples due since the previous call, float64 (n, 7) rows (t,
        gyro x/y/z [rad/s], accel x/y/z [m/s^2]), oldest first -- the form
        ``NavEkf.predict_imu_batch`` takes.  All random draws of the call
        come from one Generator call."""
        prev, self._prev = self._prev, (now, truth)
        if prev is None:
            return np.zeros((0, 7))
        t0, tr0 = prev
        step = now - t0
        if step <= 0:
            return np.zeros((0, 7))
        n = int(math.floor((now + 1e-9 - self.next_t) / self.period)) + 1
        if n <= 0:
            return np.zeros((0, 7))
        cfg = self.cfg
        t_first = self.next_t
        self.next_t += n * self.period
        dyaw = (truth.yaw - tr0.yaw + math.pi) % (2 * math.pi) - math.pi
        z = self.rng.standard_normal((n, 12))
        out = np.empty((n, 7))
        _synthesise(out, z, t_first, self.period, t0, tr0.yaw, dyaw / step, (truth.vx - tr0.vx) / step,
                    (truth.vy - tr0.vy) / step, self.gyro_bias, self.accel_bias, self.gyro_scale,
                    self.accel_scale, cfg.gyro_noise_density * math.sqrt(cfg.rate_hz),
                    cfg.accel_noise_density * math.sqrt(cfg.rate_hz), cfg.gyro_bias_walk * math.sqrt(self.period),
                    cfg.accel_bias_walk * math.sqrt(self.period))
        return out


@njit(cache=True)
def _synthesise(out, z, t_first, period, t0, yaw0, rate, ax_w, ay_w, gb, ab, gscale, ascale, sg, sa, wg, wa):
    """Fill out (n, 7) with IMU samples from the standard normals z (n, 12):
    columns 0-2 gyro bias walk, 3-5 accel bias walk, 6-8 gyro noise, 9-11
    accel noise.  gb/ab (3,) are the biases, advanced in place."""
    for k in range(out.shape[0]):
        t = t_first + k * period
        yaw = yaw0 + rate * (t - t0)
        c = math.cos(yaw)
        s = math.sin(yaw)
        for a in range(3):
            gb[a] += wg * z[k, a]
            ab[a] += wa * z[k, 3 + a]
        out[k, 0] = t
        out[k, 1] = gb[0] + sg * z[k, 6]
        out[k, 2] = gb[1] + sg * z[k, 7]
        out[k, 3] = gscale[2] * rate + gb[2] + sg * z[k, 8]
        out[k, 4] = ascale[0] * (c * ax_w + s * ay_w) + ab[0] + sa * z[k, 9]
        out[k, 5] = ascale[1] * (-s * ax_w + c * ay_w) + ab[1] + sa * z[k, 10]
        out[k, 6] = ascale[2] * GRAVITY + ab[2] + sa * z[k, 11]


def warm_kernels() -> None:
    imu = ImuModel(ImuConfig(), np.random.default_rng(0))
    imu.sample_array(0.0, Truth(0.0, 0.0, 0.0))
    imu.sample_array(0.01, Truth(0.0, 0.0, 0.0, 0.1, 0.0, 0.0))
