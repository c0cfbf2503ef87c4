"""Numba kernel of the auction's path costs: one Dijkstra sweep over a
planning grid from one cell, which gives the planner's path length from
that cell to every other (or, stopped early, to the cells asked for).

The move rule is grid A*'s "geometric" rule (``vehicle/planning/astar``,
scikit-image MCP_Geometric's): a move costs its length (1 or sqrt 2 cells)
times the mean of the two cells' weights, and a diagonal move may not cut
the corner of a blocked cell.  So the sweep's distance to a cell is the
cost of an optimal A* path to it, and the rule is symmetric: the distance
from a to b is the distance from b to a.

Inputs are validated by ``costs.path_field`` / ``costs.PathLengths``; the
NumPy oracle is ``costs.path_field_numpy``.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

SQRT2 = math.sqrt(2.0)
IN_NONE = -1          # pos[] of a cell never queued
IN_DONE = -2          # pos[] of a settled cell


@njit(cache=True)
def _sift_up(heap, pos, key, i):
    c = heap[i]
    kc = key[c]
    while i > 0:
        p = (i - 1) >> 1
        q = heap[p]
        if key[q] <= kc:
            break
        heap[i] = q
        pos[q] = i
        i = p
    heap[i] = c
    pos[c] = i


@njit(cache=True)
def _sift_down(heap, pos, key, n, i):
    c = heap[i]
    kc = key[c]
    while True:
        l = 2 * i + 1
        if l >= n:
            break
        r = l + 1
        m = l
        if r < n and key[heap[r]] < key[heap[l]]:
            m = r
        q = heap[m]
        if key[q] >= kc:
            break
        heap[i] = q
        pos[q] = i
        i = m
    heap[i] = c
    pos[c] = i


@njit(cache=True)
def path_field_kernel(weights, sr, sc, stop, dist, heap, pos):
    """Dijkstra from cell (sr, sc) over ``weights`` (H, W) float32 (>= 1,
    inf blocked), geometric rule, distances in cells x weight.

    ``dist`` (H*W,) float64 and ``heap`` (H*W,) int64 are work buffers
    (overwritten), ``pos`` (H*W,) int32 likewise.  ``stop`` (K,) int64 flat
    cell indices: the sweep ends once every one of them is settled (K = 0:
    sweep everything reachable).  On return ``dist[i]`` is the exact
    distance of every settled cell and of every cell in ``stop`` (inf when
    unreachable); other cells hold upper bounds or inf.  Returns the number
    of cells settled."""
    H, W = weights.shape
    N = H * W
    for i in range(N):
        dist[i] = np.inf
        pos[i] = IN_NONE
    K = stop.shape[0]
    wanted = np.zeros(N, np.bool_)
    left = 0
    for k in range(K):
        s = stop[k]
        if not wanted[s]:
            wanted[s] = True
            left += 1
    src = sr * W + sc
    if not weights[sr, sc] < np.inf:
        return 0
    dist[src] = 0.0
    heap[0] = src
    pos[src] = 0
    n = 1
    settled = 0
    while n > 0:
        cur = heap[0]
        n -= 1
        if n > 0:
            heap[0] = heap[n]
            pos[heap[0]] = 0
            _sift_down(heap, pos, dist, n, 0)
        pos[cur] = IN_DONE
        settled += 1
        if wanted[cur]:
            left -= 1
            if left == 0 and K > 0:
                break
        d = dist[cur]
        r = cur // W
        c = cur - r * W
        wc = np.float64(weights[r, c])
        for dr in range(-1, 2):
            rr = r + dr
            if rr < 0 or rr >= H:
                continue
            for dc in range(-1, 2):
                if dr == 0 and dc == 0:
                    continue
                cc = c + dc
                if cc < 0 or cc >= W:
                    continue
                nb = rr * W + cc
                if pos[nb] == IN_DONE:
                    continue
                wn = np.float64(weights[rr, cc])
                if not wn < np.inf:
                    continue
                ln = 1.0
                if dr != 0 and dc != 0:
                    # no corner cutting past a blocked cell
                    if not (weights[r, cc] < np.inf and weights[rr, c] < np.inf):
                        continue
                    ln = SQRT2
                nd = d + 0.5 * (wc + wn) * ln
                if nd < dist[nb]:
                    dist[nb] = nd
                    if pos[nb] == IN_NONE:
                        heap[n] = nb
                        pos[nb] = n
                        n += 1
                        _sift_up(heap, pos, dist, n - 1)
                    else:
                        _sift_up(heap, pos, dist, pos[nb])
    return settled
