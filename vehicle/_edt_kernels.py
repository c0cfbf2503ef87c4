"""Exact Euclidean distance transform (numba), integer arithmetic.

Felzenszwalb & Huttenlocher's separable method: a pass down each column
gives the distance in cells to the nearest occupied cell of that column;
a pass along each row takes the lower envelope of the parabolas
``(c - q)^2 + g(q)^2``.  Squared distances are whole numbers and stay
integers to the end, so the result is the correctly rounded square root
of an exact integer: the same bits on every call and every machine.
(OpenCV's precise mode differs from call to call in the last bit, which
made seeded runs diverge.)
"""
from __future__ import annotations

import numpy as np
from numba import njit

NONE = np.float32(2.0 ** 64)      # no occupied cell at all: OpenCV's value too


@njit(cache=True)
def edt_kernel(occupied, out):
    """out[r, c] = distance in cells from cell (r, c) to the nearest cell
    with occupied != 0 (0 on them; NONE when the grid has none).
    ``occupied`` uint8 (R, C), ``out`` float32 (R, C), both C-contiguous."""
    R, C = occupied.shape
    big = R + C + 1                      # beyond any real column distance
    # columns: distance along the column, exact small integers in float32
    for c in range(C):
        d = big
        for r in range(R):
            if occupied[r, c] != 0:
                d = 0
            elif d < big:
                d += 1
            out[r, c] = d
        d = big
        for r in range(R - 1, -1, -1):
            if occupied[r, c] != 0:
                d = 0
            elif d < big:
                d += 1
            if d < out[r, c]:
                out[r, c] = d
    # rows: lower envelope of parabolas over the finite column distances
    v = np.empty(C, np.int64)
    z = np.empty(C + 1, np.float64)
    f = np.empty(C, np.int64)
    any_occ = False
    for r in range(R):
        k = -1
        for q in range(C):
            g = np.int64(out[r, q])
            if g >= big:
                continue
            fq = g * g
            f[q] = fq
            if k < 0:
                k = 0
                v[0] = q
                z[0] = -np.inf
                z[1] = np.inf
                continue
            while True:
                p = v[k]
                s = ((fq + q * q) - (f[p] + p * p)) / (2.0 * (q - p))
                if s <= z[k] and k > 0:
                    k -= 1
                    continue
                if s <= z[k]:            # k == 0 and z[0] == -inf: cannot happen
                    break
                k += 1
                v[k] = q
                z[k] = s
                z[k + 1] = np.inf
                break
        if k < 0:
            for c in range(C):
                out[r, c] = NONE
            continue
        any_occ = True
        j = 0
        for c in range(C):
            while z[j + 1] < c:
                j += 1
            p = v[j]
            dc = c - p
            out[r, c] = np.float32(np.sqrt(np.float64(dc * dc + f[p])))
    return any_occ
