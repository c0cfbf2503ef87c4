"""Survey areas in missions: a polygon, a swath width and a line heading,
expanded into the boustrophedon (lawnmower) waypoints the executor flies.

Frames: polygon vertices and waypoints are map-frame ENU metres (x east,
y north); ``heading`` is the direction of the survey lines in radians CCW
from east; ``swath`` the sensor's swath width in metres.
"""
from __future__ import annotations

import math

import numpy as np

from edgepilot.vehicle.planning.coverage import boustrophedon


def expand_survey(polygon, swath: float, heading: float, start=None,
                  contours: bool = False) -> np.ndarray:
    """Waypoints (N, 2) [x, y] m covering ``polygon`` with lines ``swath``
    apart along ``heading``, starting from the line end nearest ``start``
    ((x, y) m, e.g. the previous waypoint).  Consecutive duplicate points
    are dropped.  Raises ValueError for a bad polygon, swath or heading."""
    if not (isinstance(swath, (int, float)) and math.isfinite(swath) and swath > 0):
        raise ValueError(f"survey swath must be a positive number of metres, got {swath!r}")
    plan = boustrophedon(np.asarray(polygon, dtype=np.float64), float(swath), float(heading),
                         start=None if start is None else np.asarray(start, dtype=np.float64),
                         contours=contours)
    pts = np.asarray(plan.path, dtype=np.float64)
    if len(pts) == 0:
        raise ValueError(f"survey area is narrower than the swath {swath} m: nothing to cover")
    keep = np.ones(len(pts), bool)
    keep[1:] = np.hypot(*np.diff(pts, axis=0).T) > 1e-6
    return pts[keep]
