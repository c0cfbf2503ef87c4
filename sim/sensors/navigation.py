"""Simulated GPS, compass and battery, sampled at their configured rates.

GPS error = a slowly wandering bias (first-order Gauss-Markov, 60 s
correlation, the dominant error of a real receiver) plus white noise.
All randomness comes from the scenario's Generator.
"""
from __future__ import annotations

import math

import numpy as np

from edgepilot.sim.dynamics import Truth
from edgepilot.vehicle.config import CompassConfig, GpsConfig
from edgepilot.vehicle.geo import LocalFrame
from edgepilot.vehicle.types import CompassReading, GpsFix

_PI = math.pi
_TWO_PI = 2 * math.pi


class GpsModel:
    BIAS_TAU_S = 60.0

    def __init__(self, cfg: GpsConfig, frame: LocalFrame, rng: np.random.Generator):
        self.cfg = cfg
        self.frame = frame
        self.rng = rng
        self.period = 1.0 / cfg.rate_hz
        self.next_t = 0.0
        self._bx = self._by = 0.0     # the wandering bias, east and north [m]
        self.last_t = 0.0
        self.available = True

    @property
    def bias(self) -> np.ndarray:
        """The current bias, east and north [m]."""
        return np.array([self._bx, self._by])

    def sample(self, now: float, truth: Truth) -> GpsFix | None:
        if now + 1e-9 < self.next_t:
            return None
        self.next_t += self.period
        dt = now - self.last_t
        self.last_t = now
        cfg = self.cfg
        sigma_b = 0.5 * cfg.noise_m
        a = math.exp(-dt / self.BIAS_TAU_S)
        k = math.sqrt(max(1 - a * a, 0.0)) * sigma_b
        # the bias step's two draws, then (a fix to make) the fix's four, in
        # one call: the same numbers as drawing them apart
        z = self.rng.standard_normal(6 if self.available else 2).tolist()
        self._bx = a * self._bx + k * z[0]
        self._by = a * self._by + k * z[1]
        if not self.available:
            return GpsFix(now, 0.0, 0.0, 0, 0, 99.0)
        n0, n1, n2, n3 = z[2:]
        wn = 0.8 * cfg.noise_m
        x = truth.x + self._bx + wn * n0
        y = truth.y + self._by + wn * n1
        lat, lon = self.frame.to_geo(x, y)
        vn = cfg.velocity_noise
        return GpsFix(now, lat, lon, 3, cfg.satellites, max(cfg.noise_m, 0.05),
                      truth.vx + vn * n2, truth.vy + vn * n3)


class CompassModel:
    def __init__(self, cfg: CompassConfig, rng: np.random.Generator):
        self.cfg = cfg
        self.rng = rng
        self.period = 1.0 / cfg.rate_hz
        self._sigma = math.radians(cfg.noise_deg)      # [rad] (the config is frozen)
        self.next_t = 0.0

    def sample(self, now: float, truth: Truth) -> CompassReading | None:
        if now + 1e-9 < self.next_t:
            return None
        self.next_t += self.period
        yaw = truth.yaw + self._sigma * self.rng.standard_normal()
        return CompassReading(now, (yaw + _PI) % _TWO_PI - _PI)


class BatteryModel:
    """A pack that drains with motor effort: idle load plus load proportional
    to the mean absolute command.  Voltage falls linearly from full to empty."""

    def __init__(self, capacity_wh: float = 400.0, idle_w: float = 15.0, max_motor_w: float = 300.0,
                 v_full: float = 25.2, v_empty: float = 19.8):
        self.capacity_j = capacity_wh * 3600.0
        self.energy_j = self.capacity_j
        self.idle_w, self.max_motor_w = idle_w, max_motor_w
        self.v_full, self.v_empty = v_full, v_empty

    def step(self, dt: float, left: float, right: float) -> None:
        p = self.idle_w + self.max_motor_w * 0.5 * (abs(left) + abs(right))
        e = self.energy_j - p * dt
        self.energy_j = e if e > 0.0 else 0.0        # max(0.0, e), NaN and -0.0 included

    @property
    def remaining(self) -> float:
        return self.energy_j / self.capacity_j

    @property
    def voltage(self) -> float:
        return self.v_empty + (self.v_full - self.v_empty) * self.remaining
