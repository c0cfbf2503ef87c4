"""Numba kernel of the lidar's free-space clearing: which cells the mapper
reported as obstacles it has since seen free.  The validating front is
``vehicle.perception.clearing.SeenFreeClearing``; the NumPy oracle is
in ``tests/test_perception_clearing.py``.

Kept apart from ``_kernels.py`` (the mapper's scan kernels) so the two
change independently."""
from __future__ import annotations

from numba import njit

from ._kernels import LO_BIAS, LO_MASK


@njit(cache=True)
def clear_seen_free_kernel(cells, reported, listed, n, new_rc, k, dr, dc, threshold, out):
    """One scan's clearing pass over the list of reported cells.

    ``cells`` int16 (rows, cols): the occupancy grid's packed cells
    (biased fixed-point log-odds in the low bits); ``reported`` bool
    (rows, cols): the mapper's reported flags; ``listed`` int64 (>= n + k,
    2): rows [0, n) are the reported cells known so far as [row, col] in
    grid-fixed coordinates (grid row + ``dr``, grid col + ``dc``: they do
    not change when the grid rolls); ``new_rc`` int64 (>= k, 2): the grid
    cells reported by this scan (rows [0, k)); ``threshold``: fixed-point
    log-odds below which a cell is seen free; ``out`` int64 (>= n, 2).

    An entry is dropped when its cell has left the grid or is no longer
    reported (the front unreported it, or the entry is stale: its cell is
    reported anew this scan, listed again below); a reported cell whose
    log-odds is below ``threshold`` is unreported and written to ``out``
    (grid [row, col], list order); the rest stay, in order, and this
    scan's cells are appended.  Returns (entries now listed, cells out)."""
    rows, cols = reported.shape
    for j in range(k):                 # entries of this scan's cells are stale: dropped below
        reported[new_rc[j, 0], new_rc[j, 1]] = False
    m = 0
    q = 0
    for i in range(n):
        r = listed[i, 0] - dr
        c = listed[i, 1] - dc
        if r < 0 or r >= rows or c < 0 or c >= cols or not reported[r, c]:
            continue
        lo = (cells[r, c] & LO_MASK) - LO_BIAS
        if lo < threshold:
            reported[r, c] = False
            out[q, 0] = r
            out[q, 1] = c
            q += 1
            continue
        listed[m, 0] = listed[i, 0]
        listed[m, 1] = listed[i, 1]
        m += 1
    for j in range(k):
        r = new_rc[j, 0]
        c = new_rc[j, 1]
        reported[r, c] = True
        listed[m, 0] = r + dr
        listed[m, 1] = c + dc
        m += 1
    return m, q
