"""NumPy oracles of the path-following kernels (``vehicle/control/_kernels.py``):
the vectorised versions they replaced, kept for the tests."""
from __future__ import annotations

import math

import numpy as np


def project_numpy(path, x: float, y: float, s_hint: float | None = None,
                  window: float = 10.0) -> tuple[float, float, int, float]:
    """``PolylinePath.project`` over all segments at once: (s, cross-track
    error, segment, heading)."""
    p = np.array([x, y])
    d = p - path.points[:-1]
    t = np.clip(np.einsum("ij,ij->i", d, path.seg_dir), 0.0, path.seg_len)
    closest = path.points[:-1] + path.seg_dir * t[:, None]
    dist = np.hypot(*(closest - p).T)
    if s_hint is not None:
        s_seg = path.cum[:-1] + t
        far = np.abs(s_seg - s_hint) > window
        if not far.all():
            dist = np.where(far, np.inf, dist)
    i = int(np.argmin(dist))
    dx, dy = path.seg_dir[i]
    rel = p - closest[i]
    cte = float(dx * rel[1] - dy * rel[0])
    return float(path.cum[i] + t[i]), cte, i, math.atan2(dy, dx)


def point_at_numpy(path, s: float) -> tuple[float, float]:
    s = min(max(s, 0.0), path.length)
    i = int(np.searchsorted(path.cum, s, side="right") - 1)
    i = min(max(i, 0), len(path.seg_len) - 1)
    q = path.points[i] + path.seg_dir[i] * (s - path.cum[i])
    return float(q[0]), float(q[1])
