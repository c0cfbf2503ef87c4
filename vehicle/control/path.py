"""Polyline paths in the map frame and the geometry followers need."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._kernels import follow_kernel, point_at_kernel, project_kernel


@dataclass(frozen=True)
class Projection:
    s: float                  # along-track distance of the closest point [m]
    cross_track_error: float  # signed, positive when the path is to the vehicle's right... see below
    segment: int              # index of the segment holding the closest point
    heading: float            # path direction there [rad, ENU]


class PolylinePath:
    """An (N, 2) float64 array of map-frame points [x, y] with arc length.

    ``cross_track_error`` is positive when the vehicle is to the *left* of
    the path direction (ENU: counter-clockwise side)."""

    def __init__(self, points: np.ndarray):
        pts = np.asarray(points, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 1:
            raise ValueError(f"path points must be (N, 2) with N >= 1, got shape {pts.shape}")
        if len(pts) == 1:
            pts = np.vstack((pts, pts))
        # Drop repeated points: zero-length segments have no direction.
        keep = np.ones(len(pts), bool)
        keep[1:] = np.hypot(*(pts[1:] - pts[:-1]).T) > 1e-9
        pts = pts[keep]
        if len(pts) == 1:
            pts = np.vstack((pts, pts + [1e-6, 0.0]))
        self.points = pts
        seg = pts[1:] - pts[:-1]
        self.seg_len = np.hypot(seg[:, 0], seg[:, 1])
        self.seg_dir = seg / self.seg_len[:, None]
        self.cum = np.concatenate(([0.0], np.cumsum(self.seg_len)))
        self.length = float(self.cum[-1])
        # the kernels' one array (vehicle/control/_kernels.py): per point x, y, the segment from it
        # (direction x, y, length; zeros on the last point) and the arc length there -- copies, the same floats
        geom = np.zeros((len(pts), 6))
        geom[:, 0:2] = pts
        geom[:-1, 2:4] = self.seg_dir
        geom[:-1, 4] = self.seg_len
        geom[:, 5] = self.cum
        self._geom = geom
        # the last point as Python floats (followers ask for it every tick)
        self.end_x = float(pts[-1, 0])
        self.end_y = float(pts[-1, 1])

    def project(self, x: float, y: float, s_hint: float | None = None, window: float = 10.0) -> Projection:
        """Closest point on the path.  With ``s_hint`` only segments within
        ``window`` metres of it are searched, so a path that doubles back
        does not make the follower jump ahead.  (One numba kernel over the
        segments; the NumPy oracle is ``vehicle.control._reference``.)"""
        use_hint = s_hint is not None
        i, t, cte = project_kernel(self._geom, float(x), float(y), float(s_hint) if use_hint else 0.0, use_hint,
                                   float(window))
        dx, dy = self.seg_dir[i]
        return Projection(float(self.cum[i] + t), float(cte), int(i), math.atan2(dy, dx))

    def project_s(self, x: float, y: float, s_hint: float, window: float) -> tuple[float, float]:
        """``project(x, y, s_hint, window)``'s (s, cross_track_error) only:
        the same kernel and floats, without the ``Projection``."""
        i, t, cte = project_kernel(self._geom, float(x), float(y), float(s_hint), True, float(window))
        return float(self.cum[i] + t), float(cte)

    def follow(self, x: float, y: float, s: float, window: float, lookahead: float) -> tuple[float, float, float, float]:
        """A follower's tick at (x, y) with progress ``s`` [m along]: the new
        progress ``max(s, project_s(x, y, s, window)[0])``, the cross-track
        error, and ``point_at`` (new progress + ``lookahead``) -- the same
        floats as those calls, in one kernel call."""
        # the kernel's float64 results come back as Python floats already
        return follow_kernel(self._geom, float(x), float(y), float(s), float(window), float(lookahead))

    #: a corner's heading change is spread over at most this much path [m]
    #: when its legs are long (a sharp polyline corner, not a sampled arc)
    CORNER_SPREAD_M = 4.0

    def turns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The path's curvature as a chain of turns, one per interior vertex:
        (s [m] along the path, signed curvature [1/m, > 0 to the left],
        length [m] the turn is spread over, centred on s).  A sampled arc
        (Hybrid-A*, Dubins) gives its own curvature; a polyline corner's
        heading change is spread over the mean of its two legs, at most
        ``CORNER_SPREAD_M``.  Computed once per path."""
        cached = getattr(self, "_turns", None)
        if cached is not None:
            return cached
        if len(self.seg_len) < 2:
            z = np.zeros(0)
            self._turns = (z, z, z)
            return self._turns
        h = np.arctan2(self.seg_dir[:, 1], self.seg_dir[:, 0])
        dh = (np.diff(h) + np.pi) % (2.0 * np.pi) - np.pi
        span = np.minimum(0.5 * (self.seg_len[:-1] + self.seg_len[1:]), self.CORNER_SPREAD_M)
        self._turns = (self.cum[1:-1].copy(), dh / span, span)
        return self._turns

    def point_at(self, s: float) -> tuple[float, float]:
        s = min(max(s, 0.0), self.length)
        qx, qy = point_at_kernel(self._geom, float(s))
        return float(qx), float(qy)
