"""Numba kernel of the planning window's per-scan update: cells a lidar
scan has seen become known.  The validating front is
``WindowCostmap.mark_known``; the NumPy oracle is the mask expression in
``tests/test_costmap_window_kernel.py``."""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def mark_known_kernel(src, sr, sc, known, a0, a1, b0, b1, out):
    """Cells (r, c) of ``known`` in rows [a0, a1) x cols [b0, b1) with
    ``src[r - a0 + sr, c - b0 + sc]`` set and not yet known become known;
    their (r, c) go to ``out`` (int64 (K, 2), K >= the window's cells) in
    row-major order.  Returns how many.  A row is first counted branch-free
    (it vectorises; once an area is known most rows have nothing new), then
    compacted branch-free (seen / known patterns are too irregular for a
    branch per cell)."""
    n = 0
    nb = b1 - b0
    for r in range(a0, a1):
        # the count on uint8 views of the bool rows: bool arithmetic does not vectorise
        s8 = src[r - a0 + sr, sc:sc + nb].view(np.uint8)
        k8 = known[r, b0:b1].view(np.uint8)
        cnt = 0
        for c in range(nb):
            cnt += s8[c] & ~k8[c] & 1
        if cnt == 0:
            continue
        for c in range(b0, b1):
            s = src[r - a0 + sr, c - b0 + sc]
            kn = known[r, c]
            out[n, 0] = r
            out[n, 1] = c
            n += s > kn
            known[r, c] = kn | s
    return n


@njit(cache=True)
def mark_known_packed_kernel(cells, mask, bias, sr, sc, known, a0, a1, b0, b1, out):
    """``mark_known_kernel`` with the seen mask read straight off a packed
    integer grid: cell (r, c) of the source counts as seen when
    ``cells[r - a0 + sr, c - b0 + sc] & mask != bias`` (the lidar mapper's
    log-odds field is not zero), so no bool window is built per scan."""
    n = 0
    nb = b1 - b0
    m = cells.dtype.type(mask)
    bb = cells.dtype.type(bias)
    for r in range(a0, a1):
        row = cells[r - a0 + sr, sc:sc + nb]
        k8 = known[r, b0:b1].view(np.uint8)
        cnt = 0
        for c in range(nb):
            cnt += ((row[c] & m) != bb) & ~k8[c] & 1
        if cnt == 0:
            continue
        # new cells lie on the edge of what the lidar saw before (a thin
        # arc): chunks of the row, counted first, compacted only where new
        for c0 in range(0, nb, 32):
            c1 = min(c0 + 32, nb)
            cnt = 0
            for c in range(c0, c1):
                cnt += ((row[c] & m) != bb) & ~k8[c] & 1
            if cnt == 0:
                continue
            for c in range(c0, c1):
                s = (row[c] & m) != bb
                kn = known[r, b0 + c]
                out[n, 0] = r
                out[n, 1] = b0 + c
                n += s > kn
                known[r, b0 + c] = kn | s
    return n
