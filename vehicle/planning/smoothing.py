"""Path post-processing: cost-aware shortcutting on a costmap, densifying,
and speed profiles that respect acceleration and curvature limits.

Shortcutting works on cells (row, col) of a float32 weight grid (>= 1, inf
lethal) and never enters a lethal cell nor raises the path's weighted cost
by more than ``slack``.  Speed profiles work on map-frame points (metres).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgepilot.vehicle.planning._anyangle_kernels import shortcut_kernel
from edgepilot.vehicle.planning.astar import _check_weights


def shortcut(weights: np.ndarray, path: np.ndarray, slack: float = 0.0) -> np.ndarray:
    """Drop vertices of a cell path wherever a straight segment joining the
    kept vertices is free of lethal cells and its weighted cost is at most
    (1 + slack) x the cost of the path it replaces.  Returns (K, 2) int
    vertices, first and last kept."""
    _check_weights(weights)
    p = np.ascontiguousarray(np.asarray(path, dtype=np.int64))
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"path must be an (N, 2) array of (row, col), got shape {p.shape}")
    if not (math.isfinite(slack) and slack >= 0):
        raise ValueError(f"slack must be a finite number >= 0, got {slack!r}")
    if len(p) <= 2:
        return p.copy()
    keep = shortcut_kernel(np.ascontiguousarray(weights), p, float(slack))
    return p[keep]


def densify(points: np.ndarray, step: float) -> np.ndarray:
    """Insert points so that consecutive points are at most ``step`` metres
    apart (vertices kept).  points (N, 2) [x, y]."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0:
        raise ValueError(f"points must be a non-empty (N, 2) array of [x, y], got shape {pts.shape}")
    if not (math.isfinite(step) and step > 0):
        raise ValueError(f"step must be a positive number of metres, got {step!r}")
    out = [pts[:1]]
    for a, b in zip(pts[:-1], pts[1:]):
        n = max(1, int(math.ceil(np.hypot(*(b - a)) / step)))
        t = np.arange(1, n + 1)[:, None] / n
        out.append(a + (b - a) * t)
    return np.vstack(out)


def curvature(points: np.ndarray) -> np.ndarray:
    """Unsigned curvature [1/m] at each point of a polyline (N, 2) [x, y]
    from the circle through it and its neighbours (0 at the ends and on
    repeated points)."""
    p = np.asarray(points, dtype=np.float64)
    k = np.zeros(len(p))
    if len(p) < 3:
        return k
    a, b, c = p[:-2], p[1:-1], p[2:]
    ab = np.hypot(*(b - a).T)
    bc = np.hypot(*(c - b).T)
    ca = np.hypot(*(a - c).T)
    cross = np.abs((b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0])
    den = ab * bc * ca
    with np.errstate(divide="ignore", invalid="ignore"):
        kk = np.where(den > 1e-12, 2.0 * cross / den, 0.0)
    # a reversal (a == c) has no circle; treat as the tightest turn we can see
    rev = (ca < 1e-9) & (ab > 1e-9)
    kk[rev] = 2.0 / np.maximum(ab[rev], 1e-9)
    k[1:-1] = kk
    return k


@dataclass(frozen=True)
class SpeedLimits:
    """Vehicle limits: speeds m/s, accelerations m/s^2, yaw rate rad/s."""

    v_max: float
    a_accel: float
    a_decel: float
    a_lat: float
    yaw_rate_max: float = math.inf

    def __post_init__(self):
        for name in ("v_max", "a_accel", "a_decel", "a_lat", "yaw_rate_max"):
            v = getattr(self, name)
            if not (v > 0) or math.isnan(v):
                raise ValueError(f"{name} must be > 0, got {v!r}")


def speed_profile(points: np.ndarray, limits: SpeedLimits, v_start: float = 0.0,
                  v_end: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Speeds [m/s] at each point of a path (N, 2) [x, y] metres and the
    times [s] to reach them, such that speed <= v_max, the lateral
    acceleration v^2 kappa <= a_lat, the yaw rate v kappa <= yaw_rate_max,
    and along-track acceleration stays within +a_accel / -a_decel between
    points (forward then backward pass).  Densify first for a fine profile."""
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 2 or len(p) == 0:
        raise ValueError(f"points must be a non-empty (N, 2) array of [x, y], got shape {p.shape}")
    if v_start < 0 or v_end < 0:
        raise ValueError(f"v_start and v_end must be >= 0 m/s, got {v_start}, {v_end}")
    k = curvature(p)
    with np.errstate(divide="ignore"):
        vlim = np.minimum(limits.v_max, np.sqrt(limits.a_lat / np.maximum(k, 1e-12)))
        vlim = np.minimum(vlim, limits.yaw_rate_max / np.maximum(k, 1e-12))
    ds = np.hypot(*np.diff(p, axis=0).T)
    v = vlim.copy()
    v[0] = min(v[0], v_start)
    for i in range(1, len(p)):
        v[i] = min(v[i], math.sqrt(v[i - 1] ** 2 + 2 * limits.a_accel * ds[i - 1]))
    v[-1] = min(v[-1], v_end)
    for i in range(len(p) - 2, -1, -1):
        v[i] = min(v[i], math.sqrt(v[i + 1] ** 2 + 2 * limits.a_decel * ds[i]))
    t = np.zeros(len(p))
    vm = 0.5 * (v[:-1] + v[1:])
    with np.errstate(divide="ignore"):
        dt = np.where(vm > 0, ds / np.maximum(vm, 1e-12), np.where(ds > 0, np.inf, 0.0))
    t[1:] = np.cumsum(dt)
    return v, t
