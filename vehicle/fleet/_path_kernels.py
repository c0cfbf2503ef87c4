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


@njit(cache=True)
def path_field_kernel(wp, Wp, src, stop, nbuckets, dist, nxt, prv, inb):
    """Dijkstra from padded cell ``src`` over ``wp`` ((H+2)*(W+2),) float64:
    the grid's weights (>= 1, inf blocked) with a border of inf, row-major
    with ``Wp`` = W + 2 columns; geometric rule; distances in cells x weight.

    A bucket queue of width 1 (Dial's, generalised): every move costs at
    least 1 (weights >= 1), so no cell of the lowest non-empty bucket can
    lower another's distance and each is final when taken; ``nbuckets``
    (> the largest move cost, sqrt 2 x the largest weight, + 1) buckets
    are reused cyclically.  Buckets are doubly linked lists over cells
    (``nxt``, ``prv``, ``inb`` (N,) int32 work buffers: the cell's bucket, -1
    none, -2 settled), so a decrease moves a cell, no duplicates.

    ``dist`` (N,) float64 is overwritten.  ``stop`` (K,) int64 padded cell
    indices: the sweep ends once every one of them is settled (K = 0: sweep
    everything reachable).  On return ``dist`` is exact for every settled
    cell and every cell of ``stop`` (inf: unreachable).  Returns the number
    of cells settled."""
    N = wp.shape[0]
    for i in range(N):
        dist[i] = np.inf
        inb[i] = -1
    head = np.full(nbuckets, -1, np.int64)
    K = stop.shape[0]
    wanted = np.zeros(N, np.bool_)
    left = 0
    for k in range(K):
        s = stop[k]
        if not wanted[s]:
            wanted[s] = True
            left += 1
    if not wp[src] < np.inf:
        return 0
    offs = np.array([-Wp - 1, -Wp, -Wp + 1, -1, 1, Wp - 1, Wp, Wp + 1], np.int64)
    # for a diagonal move: the two orthogonal cells whose corner it passes
    ca = np.array([-Wp, 0, -Wp, 0, 0, Wp, 0, Wp], np.int64)
    cb = np.array([-1, 0, 1, 0, 0, -1, 0, 1], np.int64)
    ln = np.array([SQRT2, 1.0, SQRT2, 1.0, 1.0, SQRT2, 1.0, SQRT2])
    dist[src] = 0.0
    nxt[src] = -1
    prv[src] = -1
    inb[src] = 0
    head[0] = src
    queued = 1
    b = 0
    settled = 0
    while queued > 0:
        while head[b % nbuckets] < 0:
            b += 1
        hb = b % nbuckets
        cur = head[hb]
        nx = nxt[cur]
        head[hb] = nx
        if nx >= 0:
            prv[nx] = -1
        inb[cur] = -2
        queued -= 1
        settled += 1
        if wanted[cur]:
            left -= 1
            if left == 0 and K > 0:
                break
        d = dist[cur]
        wc = wp[cur]
        for k in range(8):
            nb = cur + offs[k]
            if inb[nb] == -2:
                continue
            wn = wp[nb]
            if not wn < np.inf:
                continue
            if ln[k] != 1.0 and not (wp[cur + ca[k]] < np.inf and wp[cur + cb[k]] < np.inf):
                continue          # no corner cutting past a blocked cell
            nd = d + 0.5 * (wc + wn) * ln[k]
            if nd < dist[nb]:
                dist[nb] = nd
                old = inb[nb]
                if old >= 0:      # unlink from its bucket
                    p = prv[nb]
                    q = nxt[nb]
                    if p >= 0:
                        nxt[p] = q
                    else:
                        head[old] = q
                    if q >= 0:
                        prv[q] = p
                else:
                    queued += 1
                nbk = np.int64(nd) % nbuckets
                h = head[nbk]
                nxt[nb] = h
                prv[nb] = -1
                if h >= 0:
                    prv[h] = nb
                head[nbk] = nb
                inb[nb] = nbk
    return settled
