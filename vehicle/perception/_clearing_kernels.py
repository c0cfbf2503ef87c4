"""Numba kernel of the lidar's free-space clearing: which cells the mapper
reported as obstacles it has since seen free.  The validating front is
``vehicle.perception.clearing.SeenFreeClearing``; the NumPy oracle is
in ``tests/test_perception_clearing.py``.

Kept apart from ``_kernels.py`` (the mapper's scan kernels) so the two
change independently."""
from __future__ import annotations

import math

from numba import njit

from ._kernels import LO_BIAS, LO_MASK


@njit(cache=True, inline="always")
def _cell_of(x, y, ox, oy, res, rows, cols):
    """Row and column of the grid cell holding the point (x, y) [m], or
    (-1, -1) when it is off the grid or not finite."""
    if math.isfinite(x) and math.isfinite(y):
        r = int(math.floor((y - oy) / res))
        c = int(math.floor((x - ox) / res))
        if r >= 0 and r < rows and c >= 0 and c < cols:
            return r, c
    return -1, -1


@njit(cache=True)
def clear_seen_free_kernel(cells, reported, listed, n, new_pts, k, ox, oy, res, dr, dc, a0, a1, b0, b1,
                           threshold, out):
    """One scan's clearing pass over the list of reported cells.

    ``cells`` int16 (rows, cols): the occupancy grid's packed cells
    (biased fixed-point log-odds in the low bits); ``reported`` bool
    (rows, cols): the mapper's reported flags; ``listed`` int64 (>= n + k,
    2): rows [0, n) are the reported cells known so far as [row, col] in
    grid-fixed coordinates (grid row + ``dr``, grid col + ``dc``: they do
    not change when the grid rolls); ``new_pts`` float64 (>= k, 2): map-frame
    [x, y] of the cells reported by this scan (rows [0, k); a cell is
    floor((v - origin) / res), as ``GridGeometry.points_to_cells``; those
    off the grid or not finite are skipped); the grid's south-west corner
    (``ox``, ``oy``) and ``res`` [m]; rows [a0, a1) x cols [b0, b1) of the
    grid: the window the scan can have touched (this scan's cells lie in
    it); ``threshold``: fixed-point log-odds below which a cell is seen
    free; ``out`` float64 (>= n, 2).

    An entry is dropped when its cell has left the grid, or lies in the
    scan's window and is no longer reported (the front unreported it, or
    the entry is stale: its cell is reported anew this scan, listed again
    below); a reported cell in the window whose log-odds is below
    ``threshold`` is unreported and its centre written to ``out`` (x, y:
    origin + (index + 0.5) * res, list order); the rest stay, in order
    (outside the window nothing can have changed: they are not read), and
    this scan's cells are appended.  Returns (entries now listed, cells out)."""
    rows, cols = reported.shape
    for j in range(k):                 # entries of this scan's cells are stale: dropped below
        r, c = _cell_of(new_pts[j, 0], new_pts[j, 1], ox, oy, res, rows, cols)
        if r >= 0:
            reported[r, c] = False
    m = 0
    q = 0
    for i in range(n):
        r = listed[i, 0] - dr
        c = listed[i, 1] - dc
        if r < 0 or r >= rows or c < 0 or c >= cols:
            continue
        if r >= a0 and r < a1 and c >= b0 and c < b1:
            if not reported[r, c]:
                continue
            lo = (cells[r, c] & LO_MASK) - LO_BIAS
            if lo < threshold:
                reported[r, c] = False
                out[q, 0] = ox + (c + 0.5) * res
                out[q, 1] = oy + (r + 0.5) * res
                q += 1
                continue
        listed[m, 0] = listed[i, 0]
        listed[m, 1] = listed[i, 1]
        m += 1
    for j in range(k):
        r, c = _cell_of(new_pts[j, 0], new_pts[j, 1], ox, oy, res, rows, cols)
        if r >= 0:
            reported[r, c] = True
            listed[m, 0] = r + dr
            listed[m, 1] = c + dc
            m += 1
    return m, q
