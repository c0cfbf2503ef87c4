"""Numba kernels of path following: the closest point on a polyline, the
point at an arc length, and both in one call for a follower's tick.  The validating front is
``vehicle.control.path.PolylinePath``; the NumPy oracle is
``vehicle/control/_reference.py``.  The kernels do the NumPy version's
arithmetic in the same order, so they give the same floats."""
from __future__ import annotations

import math

from numba import njit


@njit(cache=True)
def project_kernel(points, seg_dir, seg_len, cum, x, y, s_hint, use_hint, window):
    """Closest point on the polyline ``points`` (N, 2) to (x, y): (segment
    index, distance along it [m], signed cross-track error [m], left
    positive).  With ``use_hint`` only segments whose closest point lies
    within ``window`` m of arc length ``s_hint`` count, unless none does."""
    n = seg_len.shape[0]
    best = math.inf
    best_i = 0
    best_t = 0.0
    # the hint's window: when no segment is inside it, all count
    any_near = False
    if use_hint:
        for i in range(n):
            t = (x - points[i, 0]) * seg_dir[i, 0] + (y - points[i, 1]) * seg_dir[i, 1]
            t = min(max(t, 0.0), seg_len[i])
            if not abs(cum[i] + t - s_hint) > window:
                any_near = True
                break
    for i in range(n):
        t = (x - points[i, 0]) * seg_dir[i, 0] + (y - points[i, 1]) * seg_dir[i, 1]
        t = min(max(t, 0.0), seg_len[i])
        if any_near and abs(cum[i] + t - s_hint) > window:
            continue
        cx = points[i, 0] + seg_dir[i, 0] * t
        cy = points[i, 1] + seg_dir[i, 1] * t
        d = math.hypot(cx - x, cy - y)
        if d < best:
            best, best_i, best_t = d, i, t
    cx = points[best_i, 0] + seg_dir[best_i, 0] * best_t
    cy = points[best_i, 1] + seg_dir[best_i, 1] * best_t
    cte = seg_dir[best_i, 0] * (y - cy) - seg_dir[best_i, 1] * (x - cx)
    return best_i, best_t, cte


@njit(cache=True)
def point_at_kernel(points, seg_dir, cum, s):
    """The point at arc length ``s`` (already clamped to [0, length])."""
    n = seg_dir.shape[0]
    # searchsorted(cum, s, side="right") - 1, clamped to a segment
    lo, hi = 0, cum.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if s < cum[mid]:
            hi = mid
        else:
            lo = mid + 1
    i = min(max(lo - 1, 0), n - 1)
    d = s - cum[i]
    return points[i, 0] + seg_dir[i, 0] * d, points[i, 1] + seg_dir[i, 1] * d


@njit(cache=True)
def follow_kernel(points, seg_dir, seg_len, cum, length, x, y, s, window, lookahead):
    """A follower's tick in one call: the closest point to (x, y) within
    ``window`` m of its progress ``s`` (``project_kernel`` with ``s`` as the
    hint), the progress that gives (the larger of ``s`` and that point's
    arc length, as Python's ``max(s, ...)``), and the point ``lookahead`` m
    beyond it (``point_at_kernel``, the arc length clamped to [0, length]
    as ``PolylinePath.point_at`` clamps it).  Returns (progress,
    cross-track error, target x, target y)."""
    i, t, cte = project_kernel(points, seg_dir, seg_len, cum, x, y, s, True, window)
    sp = cum[i] + t
    progress = sp if sp > s else s
    a = progress + lookahead
    a = 0.0 if 0.0 > a else a
    a = length if length < a else a
    qx, qy = point_at_kernel(points, seg_dir, cum, a)
    return progress, cte, qx, qy
