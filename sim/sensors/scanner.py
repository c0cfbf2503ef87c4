"""A planar laser scanner for the fault scenarios: sphere tracing on the
world's Euclidean distance field (static obstacles) plus exact ray-circle
intersection for moving targets (people, vessels).

Beams follow ``LidarConfig`` (rate, count, field of view, range, noise),
ranges in the sensor frame (x forward, y left), inf = no return.
"""
from __future__ import annotations

import math

import numpy as np

from vehicle.config import LidarConfig
from vehicle.types import LaserScan

MAX_MARCH = 80


class Scanner:
    def __init__(self, cfg: LidarConfig, rng: np.random.Generator):
        self.cfg = cfg
        self.rng = rng
        self.period = 1.0 / cfg.rate_hz
        self.next_t = 0.0
        fov = math.radians(cfg.fov_deg)
        n = cfg.beams
        self.angle_min = -0.5 * fov if cfg.fov_deg < 360 else -math.pi
        self.angle_inc = fov / (n - 1 if cfg.fov_deg < 360 and n > 1 else n)
        self.angles = self.angle_min + self.angle_inc * np.arange(n)

    def sample(self, now: float, x: float, y: float, yaw: float, world,
               circles: np.ndarray) -> LaserScan | None:
        if now + 1e-9 < self.next_t:
            return None
        while self.next_t <= now + 1e-9:
            self.next_t += self.period
        rmax = self.cfg.max_range
        a = yaw + self.angles
        dx, dy = np.cos(a), np.sin(a)
        res = world.resolution
        r = np.zeros(len(a))
        hit = np.zeros(len(a), dtype=bool)
        live = np.ones(len(a), dtype=bool)
        rows, cols = world.shape
        for _ in range(MAX_MARCH):
            px, py = x + r * dx, y + r * dy
            ci = np.clip(((px - world.origin_x) / res).astype(np.int64), 0, cols - 1)
            ri = np.clip(((py - world.origin_y) / res).astype(np.int64), 0, rows - 1)
            d = world.distance[ri, ci]
            newhit = live & (d <= res)
            hit |= newhit
            live &= ~newhit
            r = np.where(live, r + np.maximum(d - 0.5 * res, 0.5 * res), r)
            live &= r < rmax
            if not live.any():
                break
        ranges = np.where(hit, r, np.inf)
        for cx, cy, rad in np.asarray(circles, dtype=np.float64).reshape(-1, 3):
            ox, oy = x - cx, y - cy
            b = dx * ox + dy * oy
            c = ox * ox + oy * oy - rad * rad
            disc = b * b - c
            with np.errstate(invalid="ignore"):
                t0 = -b - np.sqrt(disc)
            ok = (disc >= 0) & (t0 >= 0)
            ranges = np.where(ok & (t0 < ranges), t0, ranges)
        if self.cfg.noise_m > 0:
            ranges = ranges + self.cfg.noise_m * self.rng.standard_normal(len(ranges))
        ranges[ranges > rmax] = np.inf
        return LaserScan(now, self.angle_min, self.angle_inc, rmax, ranges.astype(np.float32))
