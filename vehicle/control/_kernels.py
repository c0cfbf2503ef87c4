"""Numba kernels of path following: the closest point on a polyline, the
point at an arc length, and both in one call for a follower's tick.  The validating front is
``vehicle.control.path.PolylinePath``; the NumPy oracle is
``vehicle/control/_reference.py``.  The kernels do the NumPy version's
arithmetic in the same order, so they give the same floats.

The path reaches them as one float64 (N, 6) array ``geom`` (``PolylinePath``
builds it once): per point its x, y, then the segment that starts there
(unit direction x, y and length; zeros on the last point) and the arc
length at the point.  One array, not four: numba's dispatch costs about
0.1 us per array argument, on every control tick."""
from __future__ import annotations

import math

from numba import njit

# geom's columns
_X, _Y, _DX, _DY, _LEN, _CUM = 0, 1, 2, 3, 4, 5


@njit(cache=True)
def project_kernel(geom, x, y, s_hint, use_hint, window):
    """Closest point on the polyline ``geom`` (N points, N - 1 segments) to
    (x, y): (segment index, distance along it [m], signed cross-track error
    [m], left positive).  With ``use_hint`` only segments whose closest point lies
    within ``window`` m of arc length ``s_hint`` count, unless none does."""
    n = geom.shape[0] - 1
    best = math.inf
    best_i = 0
    best_t = 0.0
    # the hint's window: when no segment is inside it, all count
    any_near = False
    if use_hint:
        for i in range(n):
            t = (x - geom[i, _X]) * geom[i, _DX] + (y - geom[i, _Y]) * geom[i, _DY]
            t = min(max(t, 0.0), geom[i, _LEN])
            if not abs(geom[i, _CUM] + t - s_hint) > window:
                any_near = True
                break
    for i in range(n):
        t = (x - geom[i, _X]) * geom[i, _DX] + (y - geom[i, _Y]) * geom[i, _DY]
        t = min(max(t, 0.0), geom[i, _LEN])
        if any_near and abs(geom[i, _CUM] + t - s_hint) > window:
            continue
        cx = geom[i, _X] + geom[i, _DX] * t
        cy = geom[i, _Y] + geom[i, _DY] * t
        d = math.hypot(cx - x, cy - y)
        if d < best:
            best, best_i, best_t = d, i, t
    cx = geom[best_i, _X] + geom[best_i, _DX] * best_t
    cy = geom[best_i, _Y] + geom[best_i, _DY] * best_t
    cte = geom[best_i, _DX] * (y - cy) - geom[best_i, _DY] * (x - cx)
    return best_i, best_t, cte


@njit(cache=True)
def point_at_kernel(geom, s):
    """The point at arc length ``s`` (already clamped to [0, length])."""
    n = geom.shape[0] - 1
    # searchsorted(cum, s, side="right") - 1, clamped to a segment
    lo, hi = 0, geom.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if s < geom[mid, _CUM]:
            hi = mid
        else:
            lo = mid + 1
    i = min(max(lo - 1, 0), n - 1)
    d = s - geom[i, _CUM]
    return geom[i, _X] + geom[i, _DX] * d, geom[i, _Y] + geom[i, _DY] * d


@njit(cache=True)
def follow_kernel(geom, x, y, s, window, lookahead):
    """A follower's tick in one call: the closest point to (x, y) within
    ``window`` m of its progress ``s`` (``project_kernel`` with ``s`` as the
    hint), the progress that gives (the larger of ``s`` and that point's
    arc length, as Python's ``max(s, ...)``), and the point ``lookahead`` m
    beyond it (``point_at_kernel``, the arc length clamped to [0, length]
    as ``PolylinePath.point_at`` clamps it; the length is the last point's
    arc length).  Returns (progress, cross-track error, target x, target y)."""
    i, t, cte = project_kernel(geom, x, y, s, True, window)
    sp = geom[i, _CUM] + t
    progress = sp if sp > s else s
    length = geom[geom.shape[0] - 1, _CUM]
    a = progress + lookahead
    a = 0.0 if 0.0 > a else a
    a = length if length < a else a
    qx, qy = point_at_kernel(geom, a)
    return progress, cte, qx, qy
