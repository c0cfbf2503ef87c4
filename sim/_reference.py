"""NumPy oracles of the simulator's numba kernels (``sim/_kernels.py``):
the plain vectorised versions the kernels replaced, kept for the tests."""
from __future__ import annotations

import math

import numpy as np


def footprint_clearance_numpy(world, x: float, y: float, yaw: float, length: float,
                              width: float) -> tuple[float, bool]:
    """``SimWorld.footprint_clearance`` the NumPy way: footprint samples
    every half cell (interior grid and edge), looked up in the truth and
    the distance transform, then the moving circles."""
    pts = world.footprint_points(x, y, yaw, length, width, interior=True)
    r, c = world._cells(pts[:, 0], pts[:, 1])
    if world.truth.occupied[r, c].any():
        return 0.0, True
    edge = world.footprint_points(x, y, yaw, length, width, interior=False)
    r, c = world._cells(edge[:, 0], edge[:, 1])
    d = float(world.distance[r, c].min()) - 0.5 * world.resolution
    if len(world.moving):
        dx, dy = world.moving[:, 0] - x, world.moving[:, 1] - y
        cy, sy = math.cos(yaw), math.sin(yaw)
        a = np.maximum(np.abs(cy * dx + sy * dy) - 0.5 * length, 0.0)
        b = np.maximum(np.abs(-sy * dx + cy * dy) - 0.5 * width, 0.0)
        dm = float((np.hypot(a, b) - world.moving[:, 2]).min())
        if dm <= 0:
            return 0.0, True
        d = min(d, dm)
    return max(d, 0.0), False


def separation_numpy(pos: np.ndarray, length, width, half_diag) -> tuple[float, tuple[int, int] | None]:
    """The fleet's smallest footprint gap the plain way: every pair's
    bounding-circle bound in one (N, N) array, exact gaps in increasing
    order of the bound until the bound passes the best gap."""
    from edgepilot.sim.fleet.world import rect_gap

    p = np.asarray(pos, np.float64)
    n = len(p)
    if n < 2:
        return math.inf, None
    hd = np.asarray(half_diag, np.float64)
    d = np.hypot(p[:, None, 0] - p[None, :, 0], p[:, None, 1] - p[None, :, 1])
    lower = d - hd[:, None] - hd[None, :]
    iu = np.triu_indices(n, 1)
    low = lower[iu]
    order = np.argsort(low, kind="stable")
    best, pair = math.inf, None
    for k in order:
        if low[k] >= best:
            break
        i, j = int(iu[0][k]), int(iu[1][k])
        g = rect_gap(p[i], length[i], width[i], p[j], length[j], width[j])
        if g < best:
            best, pair = g, (i, j)
    return best, pair


def within_numpy(pos: np.ndarray, radius, x: float, y: float, reach: float, exclude: int) -> np.ndarray:
    """Indices k != exclude with the centre within reach + radius[k] of (x, y)."""
    d = np.hypot(pos[:, 0] - x, pos[:, 1] - y)
    ok = d <= reach + np.asarray(radius)
    ok[exclude] = False
    return np.flatnonzero(ok)


def near_numpy(pos: np.ndarray, radius, idx, x: float, y: float, reach: float, exclude: int) -> np.ndarray:
    """Of the candidates idx != exclude, in their order, those with the
    centre within reach + radius[k] of (x, y) (``near_kernel`` without its
    guard band)."""
    idx = np.asarray(idx, dtype=np.int64)
    idx = idx[idx != exclude]
    d = np.hypot(pos[idx, 0] - x, pos[idx, 1] - y)
    return idx[d <= reach + np.asarray(radius)[idx]]
