"""Numba kernels of the simulator's per-step queries: the footprint
clearance / collision check against the truth raster, and the fleet's
footprint separation over a spatial hash.  The validating fronts are
``SimWorld.footprint_clearance`` and ``FleetWorld.separation``; the NumPy
oracles are in ``sim/_reference.py``.

The clearance kernel reproduces the NumPy version operation for operation
(``np.linspace`` samples, the same rounding to cells), so it gives
bit-identical clearances and the same collision verdicts.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def _lin(i, n, half):
    """``np.linspace(-half, half, n)[i]`` exactly (numpy: i * step + start,
    the last sample set to the stop)."""
    if i == n - 1:
        return half
    return (i * 1.0) * ((half - (-half)) / (n - 1)) + (-half)


@njit(cache=True, inline="always")
def _cell(v, o, res, n):
    k = int(math.floor((v - o) / res))
    if k < 0:
        return 0
    if k > n - 1:
        return n - 1
    return k


@njit(cache=True)
def footprint_clearance_kernel(occ, dist, ox, oy, res, x, y, yaw, length, width, nl, nw, moving):
    """(clearance [m], collided) of a ``length`` x ``width`` rectangle at
    (x, y, yaw): collided when a sample of its interior (an nl x nw grid of
    points, both ends included) lies in an occupied cell of ``occ`` (bool
    (H, W)); else the smallest ``dist`` (float32 (H, W), metres to the
    nearest obstacle) over its edge samples less half a cell, and the
    rectangle-to-circle distance to each ``moving`` (K, 3) [x, y, radius]
    circle (<= 0: collided)."""
    h, w = occ.shape
    hl = length / 2
    hw = width / 2
    cy = math.cos(yaw)
    sy = math.sin(yaw)
    # Every interior sample's cell centre lies within half the diagonal plus
    # sqrt(2) cells of the centre's cell centre: when the distance transform
    # there says the nearest obstacle is farther, no interior sample can be
    # in an obstacle (the same verdict without the nl x nw lookups).
    r0 = int(math.floor((y - oy) / res))
    c0 = int(math.floor((x - ox) / res))
    clear_inside = False
    if 0 <= r0 < h and 0 <= c0 < w:
        clear_inside = dist[r0, c0] > 0.5 * math.hypot(length, width) + 1.5 * res
    for j in range(0 if clear_inside else nw):
        b = _lin(j, nw, hw)
        for i in range(nl):
            a = _lin(i, nl, hl)
            px = x + a * cy - b * sy
            py = y + a * sy + b * cy
            if occ[_cell(py, oy, res, h), _cell(px, ox, res, w)]:
                return 0.0, True
    best = np.float32(np.inf)
    for k in range(2 * nl + 2 * nw):
        if k < nl:
            a = _lin(k, nl, hl)
            b = -hw
        elif k < 2 * nl:
            a = _lin(k - nl, nl, hl)
            b = hw
        elif k < 2 * nl + nw:
            a = -hl
            b = _lin(k - 2 * nl, nw, hw)
        else:
            a = hl
            b = _lin(k - 2 * nl - nw, nw, hw)
        px = x + a * cy - b * sy
        py = y + a * sy + b * cy
        dv = dist[_cell(py, oy, res, h), _cell(px, ox, res, w)]
        if dv < best:
            best = dv
    d = float(best) - 0.5 * res
    if moving.shape[0]:
        dm = np.inf
        for k in range(moving.shape[0]):
            dx = moving[k, 0] - x
            dy = moving[k, 1] - y
            qa = max(abs(cy * dx + sy * dy) - 0.5 * length, 0.0)
            qb = max(abs(-sy * dx + cy * dy) - 0.5 * width, 0.0)
            v = math.hypot(qa, qb) - moving[k, 2]
            if v < dm:
                dm = v
        if dm <= 0:
            return 0.0, True
        d = min(d, dm)
    return max(d, 0.0), False


def warm_sim_kernels() -> None:
    """Compile (or load from numba's cache) the kernels above on tiny inputs."""
    occ = np.zeros((8, 8), np.bool_)
    dist = np.ones((8, 8), np.float32)
    footprint_clearance_kernel(occ, dist, 0.0, 0.0, 0.1, 0.4, 0.4, 0.1, 0.2, 0.1, 5, 3, np.zeros((1, 3)))
