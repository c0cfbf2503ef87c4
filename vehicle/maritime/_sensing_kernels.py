"""Numba kernel of the lidar vessel tracker: which returns of a scan fall
on the charted shore.  Inputs are validated by ``vehicle.maritime.sensing``.
Map frame ENU, metres, radians."""
from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def returns_on_shore(ranges, angle0, increment, px, py, max_range, distance, origin_x, origin_y, res,
                     margin, out):
    """out[i] = True when return i (range ``ranges[i]`` [m] at bearing
    ``angle0 + i * increment`` [rad ENU] from the sensor at (px, py)) is a
    valid hit (finite, > 0, < ``max_range``) whose point lies within
    ``margin`` [m] of a charted obstacle: ``distance`` (rows = y, cols = x,
    cell size ``res``, float32) is the distance field of the prior map.
    Off the grid no shore is charted: False.  Returns the count of True."""
    rows, cols = distance.shape
    n = 0
    for i in range(ranges.shape[0]):
        r = ranges[i]
        out[i] = False
        if not (r > 0.0 and r < max_range):     # NaN and inf fail too
            continue
        a = angle0 + i * increment
        x = px + r * math.cos(a)
        y = py + r * math.sin(a)
        ci = int(math.floor((x - origin_x) / res))
        ri = int(math.floor((y - origin_y) / res))
        if ri < 0 or ri >= rows or ci < 0 or ci >= cols:
            continue
        if distance[ri, ci] <= margin:
            out[i] = True
            n += 1
    return n


def warm() -> None:
    out = np.zeros(1, np.bool_)
    returns_on_shore(np.ones(1), 0.0, 0.1, 0.0, 0.0, 10.0, np.zeros((1, 1), np.float32), 0.0, 0.0, 1.0, 1.0, out)
