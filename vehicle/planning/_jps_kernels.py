"""Numba kernels for Jump Point Search (JPS) on uniform-cost grids under the
geometric move rule (no corner cutting); validated and dispatched by
vehicle.planning.astar.

JPS is A* that expands only "jump points": it scans straight and diagonal
rays from a node and stops where an optimal path may have to turn.  On a
grid where every free cell has the same weight ``w0`` every move costs its
length times ``w0`` (1 or sqrt 2), so among equal-cost paths a canonical
one (diagonal moves before straight ones, turning only at a jump point)
always exists, and searching jump points only finds an optimal path
(Harabor & Grastien, AAAI 2011; the no-corner-cutting rules of ICAPS 2014):

- A diagonal move needs both orthogonal cells free; it has no forced
  neighbours.  A diagonal ray stops at a cell from which a straight ray
  along one of its two components reaches a jump point.
- A straight ray (say east, from p to x) stops at x when a perpendicular
  cell x+q is free but p+q is blocked (x+q and the diagonal past it are
  then reachable optimally only through x).

Grid layout as in _astar_kernels: the padded flat float32 ``wp`` with an
``+inf`` border; ``+w`` unseen, ``-w`` open, ``-inf`` closed, ``+inf``
blocked, so "blocked" is the single test ``wp[k] == +inf``.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from vehicle.planning._astar_kernels import _pop, _push, f64_bits

SQRT2 = math.sqrt(2.0)
INF32 = np.float32(np.inf)


@njit(cache=True)
def _jump_straight(wp, x, d, q, t):
    """Scan from x along the straight flat offset ``d`` (``q`` is the
    perpendicular offset).  Returns the first jump point (the goal ``t`` or
    a cell with a forced neighbour) or -1 when a blocked cell ends the ray."""
    while True:
        x += d
        if wp[x] == INF32:
            return -1
        if x == t:
            return x
        if wp[x + q] != INF32 and wp[x - d + q] == INF32:
            return x
        if wp[x - q] != INF32 and wp[x - d - q] == INF32:
            return x


@njit(cache=True)
def _jump_diag(wp, x, dv, dh, t, W):
    """Scan from x along the diagonal dv + dh (dv = +-W, dh = +-1), each step
    needing both orthogonal cells free.  Returns the first cell that is the
    goal or from which a straight ray along dv or dh finds a jump point;
    -1 when the ray is blocked."""
    while True:
        if wp[x + dv] == INF32 or wp[x + dh] == INF32:
            return -1
        x += dv + dh
        if wp[x] == INF32:
            return -1
        if x == t:
            return x
        if _jump_straight(wp, x, dv, 1, t) != -1 or _jump_straight(wp, x, dh, W, t) != -1:
            return x


@njit(cache=True)
def _relax_jp(wp, g, parent, heap, n, shift, cur, gcur, j, W, gr, gc, w0):
    """Relax the jump cur -> j (a straight or diagonal segment); returns the
    new heap size."""
    if j < 0:
        return n
    v = wp[j]
    if v == -INF32:
        return n
    rj = j // W
    cj = j - rj * W
    rc = cur // W
    cc = cur - rc * W
    a = abs(rj - rc)
    b = abs(cj - cc)
    if a > b:
        seg = (a - b) + SQRT2 * b
    else:
        seg = (b - a) + SQRT2 * a
    ng = gcur + seg * w0
    if v > 0:
        wp[j] = -v
    elif ng >= g[j]:
        return n
    g[j] = ng
    parent[j] = cur
    dr = abs(rj - 1 - gr)
    dc = abs(cj - 1 - gc)
    if dr > dc:
        hh = (dr - dc) + SQRT2 * dc
    else:
        hh = (dc - dr) + SQRT2 * dr
    _push(heap, n, ((f64_bits(ng + hh * w0) >> shift) << shift) | j)
    return n + 1


@njit(cache=True)
def jps_padded(wp, h, w, sr, sc, gr, gc, w0):
    """JPS over the padded flat grid ``wp`` whose free cells all weigh
    ``w0`` (modified: it ends holding the search state).  Coordinates are
    unpadded (row, col).  Returns (path (N, 2) int64 of every cell, cost,
    jump points expanded); an empty path and inf cost when unreachable."""
    W = w + 2
    ncell = (h + 2) * W
    g = np.empty(ncell, np.float64)
    parent = np.empty(ncell, np.int32)
    ibits = 1
    while (1 << ibits) < ncell:
        ibits += 1
    shift = np.int64(ibits)
    mask = (np.int64(1) << shift) - 1
    cap = 1024
    heap = np.empty(cap, np.int64)
    s = (sr + 1) * W + (sc + 1)
    t = (gr + 1) * W + (gc + 1)
    g[s] = 0.0
    parent[s] = -1
    wp[s] = -wp[s]
    heap[0] = s
    n = 1
    found = False
    nexp = 0
    while n > 0:
        key = _pop(heap, n)
        n -= 1
        cur = key & mask
        if wp[cur] == -INF32:
            continue
        if cur == t:
            found = True
            break
        wp[cur] = -INF32
        nexp += 1
        gcur = g[cur]
        if n + 8 > cap:
            cap *= 2
            nh = np.empty(cap, np.int64)
            nh[:n] = heap[:n]
            heap = nh
        p = parent[cur]
        if p < 0:
            # the start: every direction
            for dv in (-W, W):
                n = _relax_jp(wp, g, parent, heap, n, shift, cur, gcur,
                              _jump_straight(wp, cur, dv, 1, t), W, gr, gc, w0)
            for dh in (-1, 1):
                n = _relax_jp(wp, g, parent, heap, n, shift, cur, gcur,
                              _jump_straight(wp, cur, dh, W, t), W, gr, gc, w0)
            for dv in (-W, W):
                for dh in (-1, 1):
                    n = _relax_jp(wp, g, parent, heap, n, shift, cur, gcur,
                                  _jump_diag(wp, cur, dv, dh, t, W), W, gr, gc, w0)
            continue
        rc = cur // W
        rp = p // W
        dv = 0 if rc == rp else (W if rc > rp else -W)
        cc = cur - rc * W
        cp = p - rp * W
        dh = 0 if cc == cp else (1 if cc > cp else -1)
        if dv != 0 and dh != 0:
            n = _relax_jp(wp, g, parent, heap, n, shift, cur, gcur,
                          _jump_straight(wp, cur, dv, 1, t), W, gr, gc, w0)
            n = _relax_jp(wp, g, parent, heap, n, shift, cur, gcur,
                          _jump_straight(wp, cur, dh, W, t), W, gr, gc, w0)
            n = _relax_jp(wp, g, parent, heap, n, shift, cur, gcur,
                          _jump_diag(wp, cur, dv, dh, t, W), W, gr, gc, w0)
        else:
            d = dv + dh
            q = 1 if dh == 0 else W
            n = _relax_jp(wp, g, parent, heap, n, shift, cur, gcur,
                          _jump_straight(wp, cur, d, q, t), W, gr, gc, w0)
            for sq in (q, -q):
                if wp[cur + sq] != INF32 and wp[cur - d + sq] == INF32:
                    # forced: turn along sq, and the diagonal d + sq
                    n = _relax_jp(wp, g, parent, heap, n, shift, cur, gcur,
                                  _jump_straight(wp, cur, sq, abs(d), t), W, gr, gc, w0)
                    if dh == 0:
                        n = _relax_jp(wp, g, parent, heap, n, shift, cur, gcur,
                                      _jump_diag(wp, cur, d, sq, t, W), W, gr, gc, w0)
                    else:
                        n = _relax_jp(wp, g, parent, heap, n, shift, cur, gcur,
                                      _jump_diag(wp, cur, sq, d, t, W), W, gr, gc, w0)
    if not found:
        return np.empty((0, 2), np.int64), np.inf, nexp
    return _unfold(parent, s, t, W), g[t], nexp


@njit(cache=True)
def _unfold(parent, s, t, W):
    """Every cell (N, 2) [row, col] (unpadded) from s to t: the jump-point
    chain in ``parent`` with each straight/diagonal segment filled in."""
    m = 1
    k = t
    while k != s:
        p = parent[k]
        a = abs(k // W - p // W)
        b = abs(k % W - p % W)
        m += a if a > b else b
        k = p
    path = np.empty((m, 2), np.int64)
    i = m - 1
    k = t
    path[i, 0] = k // W - 1
    path[i, 1] = k % W - 1
    while k != s:
        p = parent[k]
        rk = k // W
        ck = k % W
        rp = p // W
        cp = p % W
        sr = 0 if rp == rk else (1 if rp > rk else -1)
        sc = 0 if cp == ck else (1 if cp > ck else -1)
        while rk != rp or ck != cp:
            rk += sr
            ck += sc
            i -= 1
            path[i, 0] = rk - 1
            path[i, 1] = ck - 1
        k = p
    return path
