"""Numba kernels of the planning window's per-scan update: cells a lidar
scan has seen become known, and their weights drop to the inflation
layer's.  The validating front is ``WindowCostmap.mark_known``; the NumPy
oracle is the mask expression in ``tests/test_costmap_window_kernel.py``.

The window keeps, per row, the count of unknown cells in each chunk of
``CHUNK`` columns (``unknown_chunks``, uint8 (rows, ceil(cols / CHUNK))):
a chunk whose count is 0 is all known and the kernels skip it, so a scan
over a window that is already known (the prior map's extent, or ground the
lidar has covered) reads one byte per chunk instead of every cell.  The
same counts summed over bands of ``TILE`` rows (``unknown_tiles``, int32
(ceil(rows / TILE), ceil(cols / CHUNK))) let the kernels skip a band of
rows whose chunks in the window are all known without reading its rows'
counts: a lidar scan's 243 x 243-cell window over known ground costs
81 reads instead of 2187."""
from __future__ import annotations

import numpy as np
from numba import njit

from edgepilot.vehicle._prefetch import prefetch_l2

CHUNK = 32
TILE = 32


def unknown_chunk_counts(known: np.ndarray) -> np.ndarray:
    """uint8 (rows, ceil(cols / CHUNK)): unknown cells per row chunk of ``known``."""
    rows, cols = known.shape
    nq = (cols + CHUNK - 1) // CHUNK
    pad = np.zeros((rows, nq * CHUNK), np.uint8)
    pad[:, :cols] = ~known
    return pad.reshape(rows, nq, CHUNK).sum(axis=2, dtype=np.int64).astype(np.uint8)


def unknown_tile_counts(chunks: np.ndarray) -> np.ndarray:
    """int32 (ceil(rows / TILE), nq): the row chunk counts ``chunks``
    (``unknown_chunk_counts``) summed over bands of TILE rows."""
    rows, nq = chunks.shape
    nt = (rows + TILE - 1) // TILE
    pad = np.zeros((nt * TILE, nq), np.int32)
    pad[:rows] = chunks
    return pad.reshape(nt, TILE, nq).sum(axis=1, dtype=np.int32)


@njit(cache=True)
def _band_known(tiles, t, q0, q1):
    """True when the chunks q0..q1-1 of row band ``t`` are all known."""
    for q in range(q0, q1):
        if tiles[t, q] != 0:
            return False
    return True


@njit(cache=True)
def tiles_known_kernel(tiles, t0, t1, q0, q1):
    """True when the chunks q0..q1-1 of the row bands t0..t1-1 are all
    known (their ``tiles`` counts all 0): ``not tiles[t0:t1, q0:q1].any()``."""
    for t in range(t0, t1):
        if not _band_known(tiles, t, q0, q1):
            return False
    return True


@njit(cache=True)
def mark_known_chunked_kernel(src, sr, sc, known, unk, tiles, a0, a1, b0, b1, out):
    """``mark_known_kernel`` that skips the row bands ``tiles`` and the
    chunks ``unk`` (unknown cells per row chunk of CHUNK columns) say are
    all known, and keeps both up to date.  Same result, same order."""
    n = 0
    q0 = b0 // CHUNK
    q1 = (b1 - 1) // CHUNK + 1
    for t in range(a0 // TILE, (a1 - 1) // TILE + 1):
        if _band_known(tiles, t, q0, q1):
            continue
        for r in range(max(a0, t * TILE), min(a1, (t + 1) * TILE)):
            ur = unk[r]
            for q in range(q0, q1):
                if ur[q] == 0:
                    continue
                c0 = max(b0, q * CHUNK)
                c1 = min(b1, (q + 1) * CHUNK)
                m = 0
                for c in range(c0, c1):
                    s = src[r - a0 + sr, c - b0 + sc]
                    kn = known[r, c]
                    out[n + m, 0] = r
                    out[n + m, 1] = c
                    m += s > kn
                    known[r, c] = kn | s
                ur[q] -= m
                tiles[t, q] -= m
                n += m
    return n


@njit(cache=True)
def mark_known_packed_chunked_kernel(cells, mask, bias, sr, sc, known, unk, tiles, a0, a1, b0, b1, out):
    """``mark_known_packed_kernel`` that skips the row bands ``tiles`` and
    the chunks ``unk`` say are all known, and keeps both up to date.  Same
    result, same order."""
    n = 0
    mk = cells.dtype.type(mask)
    bb = cells.dtype.type(bias)
    q0 = b0 // CHUNK
    q1 = (b1 - 1) // CHUNK + 1
    t0 = a0 // TILE
    t1 = (a1 - 1) // TILE + 1
    # The chunks with unknown cells are mostly ground no scan reaches: cold
    # in the cache (a fleet runs the other vehicles between two scans).
    # Hint their lines first so that the misses overlap.
    for t in range(t0, t1):
        if _band_known(tiles, t, q0, q1):
            continue
        for r in range(max(a0, t * TILE), min(a1, (t + 1) * TILE)):
            ur = unk[r]
            row = cells[r - a0 + sr]
            kr = known[r]
            for q in range(q0, q1):
                if ur[q] != 0:
                    c0 = max(b0, q * CHUNK)
                    prefetch_l2(row, c0 + sc - b0)
                    prefetch_l2(row, min(b1, (q + 1) * CHUNK) - 1 + sc - b0)
                    prefetch_l2(kr, c0)
    # one uint8 view of the whole mask: a view taken per row cost more
    # than the rest of the kernel on a window that is all known
    known8 = known.view(np.uint8)
    for t in range(t0, t1):
        if _band_known(tiles, t, q0, q1):
            continue
        for r in range(max(a0, t * TILE), min(a1, (t + 1) * TILE)):
            ur = unk[r]
            row = cells[r - a0 + sr]
            k8 = known8[r]
            for q in range(q0, q1):
                if ur[q] == 0:
                    continue
                c0 = max(b0, q * CHUNK)
                c1 = min(b1, (q + 1) * CHUNK)
                off = sc - b0
                # the chunk's cells as slices indexed from 0: numba then emits
                # no negative-index wraparound code and the count vectorises
                # (4x faster than indexing the rows at c + off)
                seg = row[c0 + off:c1 + off]
                kseg = k8[c0:c1]
                cnt = 0
                for j in range(c1 - c0):
                    cnt += ((seg[j] & mk) != bb) & ~kseg[j] & 1
                if cnt == 0:
                    continue
                for c in range(c0, c1):
                    s = (row[c + off] & mk) != bb
                    kn = known[r, c]
                    out[n, 0] = r
                    out[n, 1] = c
                    n += s > kn
                    known[r, c] = kn | s
                ur[q] -= cnt
                tiles[t, q] -= cnt
    return n


@njit(cache=True)
def known_weights_kernel(cells, n, distance, weights, lethal64, infl64, inv_res, d_tab, w_tab, rest_d):
    """The inflation layer's weights of the newly known cells ``cells[:n]``
    (row, col) that their ``distance`` settles: inf within the inscribed
    radius ``lethal``, 1 beyond the inflation radius ``infl``
    (``weights_from_distance``'s rule), and in the exponential band
    between them the weight ``w_tab[k]`` when the distance is ``d_tab[k]``,
    k = round((distance * ``inv_res``) ** 2) (a table of the distances the
    distance transform gives, per squared cell distance k, and their band
    weights: ``WindowCostmap._band_table``).  Each threshold (float64) is
    compared both as float64 and rounded to float32 and a cell is settled
    only where the two agree, so the answer is NumPy's whichever precision
    it compares in.
    The other cells (a band distance not in the table, a NaN, a distance
    between a threshold's two roundings) are moved to the front of
    ``cells``, in order, with their distances in ``rest_d``, for NumPy.
    Returns how many were moved and whether any of them is not plainly in
    the band."""
    m = 0
    odd = False
    lethal32 = np.float32(lethal64)
    infl32 = np.float32(infl64)
    nt = d_tab.shape[0]
    for i in range(n):
        r = cells[i, 0]
        c = cells[i, 1]
        d = np.float32(distance[r, c])      # weights_from_distance's astype(float32)
        if d <= lethal64 and d <= lethal32:
            weights[r, c] = np.inf
        elif d > infl64 and d > infl32:
            weights[r, c] = 1.0
        else:
            if d > lethal64 and d > lethal32 and d <= infl64 and d <= infl32:
                q = d * inv_res
                k = int(q * q + 0.5)
                if k < nt and d_tab[k] == d:
                    weights[r, c] = w_tab[k]
                    continue
            else:
                odd = True
            cells[m, 0] = r
            cells[m, 1] = c
            rest_d[m] = d
            m += 1
    return m, odd
