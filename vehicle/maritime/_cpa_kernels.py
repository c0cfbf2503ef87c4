"""Numba kernels for closest point of approach.  No Python objects inside;
inputs are validated by ``vehicle.maritime.cpa``.  All positions map-frame
ENU metres, velocities over ground m/s, times seconds."""
from __future__ import annotations

import math

import numpy as np
from numba import njit

_EPS_V2 = 1e-9  # [m^2/s^2] relative speed below which the geometry is frozen


@njit(cache=True, inline="always")
def _approach_time(px, py, vx, vy):
    """Time [s] at which a contact at relative position (px, py) moving at
    relative velocity (vx, vy) is closest (negative: already past; 0 when
    the relative speed is ~0)."""
    v2 = vx * vx + vy * vy
    return -(px * vx + py * vy) / v2 if v2 > _EPS_V2 else 0.0


@njit(cache=True)
def cpa_kernel(ox, oy, ovx, ovy, cx, cy, cvx, cvy, future_only, dcpa, tcpa):
    """For every contact i: time of closest approach tcpa[i] [s] (relative
    to now; negative = already past) and the distance then dcpa[i] [m].
    With ``future_only`` the time is clamped at 0 (the CPA of the future
    track: the present range for an opening contact)."""
    n = cx.shape[0]
    for i in range(n):
        px = cx[i] - ox
        py = cy[i] - oy
        vx = cvx[i] - ovx
        vy = cvy[i] - ovy
        t = _approach_time(px, py, vx, vy)
        if future_only and t < 0.0:
            t = 0.0
        dx = px + vx * t
        dy = py + vy * t
        tcpa[i] = t
        dcpa[i] = math.sqrt(dx * dx + dy * dy)


@njit(cache=True)
def min_cpa_over_candidates(ox, oy, cand_vx, cand_vy, cx, cy, cvx, cvy, radius, horizon,
                            dcpa_out, tcpa_out):
    """For every candidate own velocity j and contact i: the closest range
    within the next ``horizon`` seconds, less the contact's radius
    (``dcpa_out[j, i]`` [m]) and when it happens (``tcpa_out[j, i]`` [s],
    clamped to [0, horizon])."""
    m = cand_vx.shape[0]
    n = cx.shape[0]
    for j in range(m):
        ovx = cand_vx[j]
        ovy = cand_vy[j]
        for i in range(n):
            px = cx[i] - ox
            py = cy[i] - oy
            vx = cvx[i] - ovx
            vy = cvy[i] - ovy
            t = _approach_time(px, py, vx, vy)
            if t < 0.0:
                t = 0.0
            elif t > horizon:
                t = horizon
            dx = px + vx * t
            dy = py + vy * t
            dcpa_out[j, i] = math.sqrt(dx * dx + dy * dy) - radius[i]
            tcpa_out[j, i] = t


@njit(cache=True)
def first_non_finite(a, b, c, d):
    """Validation in one pass over four equal-length float64 arrays: -1
    when every element is finite, else 4 * i + k for the first element i
    that is not, k = 0..3 naming the array (a, b, c, d).

    x - x is 0.0 for a finite x and NaN for NaN or +-inf.  The first loop
    is a branch-free AND reduction (it vectorises); only when it finds
    something does the second loop look for where."""
    n = a.shape[0]
    ok = True
    for i in range(n):
        ok &= (a[i] - a[i] == 0.0) & (b[i] - b[i] == 0.0) & (c[i] - c[i] == 0.0) & (d[i] - d[i] == 0.0)
    if ok:
        return -1
    for i in range(n):
        if a[i] - a[i] != 0.0:
            return 4 * i
        if b[i] - b[i] != 0.0:
            return 4 * i + 1
        if c[i] - c[i] != 0.0:
            return 4 * i + 2
        if d[i] - d[i] != 0.0:
            return 4 * i + 3
    return -1


def warm() -> None:
    """Compile (or load from cache) every kernel in this module."""
    z = np.zeros(1)
    d, t = np.zeros(1), np.zeros(1)
    cpa_kernel(0.0, 0.0, 0.0, 0.0, z, z, z, z, True, d, t)
    first_non_finite(z, z, z, z)
    min_cpa_over_candidates(0.0, 0.0, z, z, z, z, z, z, z, 1.0, np.zeros((1, 1)), np.zeros((1, 1)))
