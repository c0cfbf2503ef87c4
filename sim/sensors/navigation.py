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
_BIAS_TERMS_MAX = 64


class GpsModel:
    BIAS_TAU_S = 60.0     # [s] (a constant: the bias-step terms kept by interval are taken with it)

    def __init__(self, cfg: GpsConfig, frame: LocalFrame, rng: np.random.Generator):
        self._cfg = cfg
        self.frame = frame
        self.rng = rng
        self.period = 1.0 / cfg.rate_hz
        self.next_t = 0.0
        self._bx = self._by = 0.0     # the wandering bias, east and north [m]
        self.last_t = 0.0
        self.available = True
        # the config's terms of a fix, taken once (the config is frozen and
        # ``cfg`` read-only): bias and white noise sigmas [m], velocity noise
        # [m/s], satellites, reported accuracy [m]
        self._sigma_b = 0.5 * cfg.noise_m
        self._wn = 0.8 * cfg.noise_m
        self._vn = cfg.velocity_noise
        self._sats = cfg.satellites
        self._hacc = max(cfg.noise_m, 0.05)
        # the bias step's (a, k) by the interval [s] they were taken for (a
        # fixed-rate receiver sampled on a fixed clock sees a dozen intervals
        # a few ulps apart; at most _BIAS_TERMS_MAX kept)
        self._bias_terms: dict[float, tuple[float, float]] = {}

    @property
    def cfg(self) -> GpsConfig:
        return self._cfg

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
        ak = self._bias_terms.get(dt)
        if ak is None:               # (an interval not seen yet)
            a = math.exp(-dt / self.BIAS_TAU_S)
            ak = a, math.sqrt(max(1 - a * a, 0.0)) * self._sigma_b
            if len(self._bias_terms) < _BIAS_TERMS_MAX:
                self._bias_terms[dt] = ak
        a, k = ak
        # the bias step's two draws, then (a fix to make) the fix's four, in
        # one call: the same numbers as drawing them apart
        z = self.rng.standard_normal(6 if self.available else 2).tolist()
        bx = self._bx = a * self._bx + k * z[0]
        by = self._by = a * self._by + k * z[1]
        if not self.available:
            return GpsFix(now, 0.0, 0.0, 0, 0, 99.0)
        _, _, n0, n1, n2, n3 = z
        wn = self._wn
        lat, lon = self.frame.to_geo(truth.x + bx + wn * n0, truth.y + by + wn * n1)
        vn = self._vn
        return GpsFix(now, lat, lon, 3, self._sats, self._hacc, truth.vx + vn * n2, truth.vy + vn * n3)


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
        # abs(left) + abs(right) as comparisons (abs but for a NaN's sign bit,
        # and a NaN empties the pack either way)
        p = self.idle_w + self.max_motor_w * 0.5 * ((left if left > 0.0 else -left)
                                                    + (right if right > 0.0 else -right))
        e = self.energy_j - p * dt
        self.energy_j = e if e > 0.0 else 0.0        # max(0.0, e), NaN and -0.0 included

    @property
    def remaining(self) -> float:
        return self.energy_j / self.capacity_j

    @property
    def voltage(self) -> float:
        return self._voltage_at(self.remaining)

    def levels(self) -> tuple[float, float]:
        """(``voltage``, ``remaining``) from one reading of the pack."""
        rem = self.remaining
        return self._voltage_at(rem), rem

    def _voltage_at(self, remaining: float) -> float:
        """The pack's voltage at the charge fraction ``remaining`` (linear, empty to full)."""
        return self.v_empty + (self.v_full - self.v_empty) * remaining
