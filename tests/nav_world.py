"""A small asymmetric yard for the localization tests: walls, boxes and a
few posts on a 40 x 30 m raster, a lidar that scans it, and a trajectory."""
from __future__ import annotations

import math

import numpy as np

from edgepilot.sim.sensors.lidar import Lidar, LidarSpec
from edgepilot.vehicle.maps import GridMap

RES = 0.05
W, H = 40.0, 30.0


def yard(extra_box=None) -> GridMap:
    rows, cols = int(H / RES), int(W / RES)
    occ = np.zeros((rows, cols), bool)

    def box(x0, y0, x1, y1):
        occ[int(y0 / RES):int(y1 / RES), int(x0 / RES):int(x1 / RES)] = True

    box(0, 0, W, 0.3)
    box(0, H - 0.3, W, H)
    box(0, 0, 0.3, H)
    box(W - 0.3, 0, W, H)
    box(8, 6, 12, 9)             # sheds and containers, none alike
    box(25, 4, 27, 11)
    box(15, 18, 22, 20)
    box(30, 20, 33, 26)
    box(5, 20, 6, 27)
    for i, (x, y) in enumerate(((18, 8), (34, 10), (12, 9.5), (22, 25), (36, 4))):
        box(x, y, x + 0.3 + 0.1 * i, y + 0.3 + 0.1 * i)
    if extra_box is not None:
        box(*extra_box)
    return GridMap(occ, RES)


def lidar(seed=0, beams=360, noise=0.01) -> Lidar:
    return Lidar(LidarSpec(beams=beams, fov_deg=360.0, max_range=25.0, noise_std=noise), np.random.default_rng(seed))


def trajectory(n=200, dt=0.1):
    """A loop in free space at ~1 m/s: (t, x, y, yaw) rows."""
    out = []
    for k in range(n):
        t = k * dt
        a = 0.12 * t
        x = 20 + 9 * math.cos(a)
        y = 15 + 2.5 * math.sin(a) + 0.5 * math.sin(2 * a)
        out.append((t, x, y, 0.0))
    out = np.array(out)
    d = np.gradient(out[:, 1:3], axis=0)
    out[:, 3] = np.arctan2(d[:, 1], d[:, 0])
    return out
