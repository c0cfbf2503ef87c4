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

Layout (block-based scanning, as in Harabor & Grastien 2014): the grid
padded with a blocked one-cell border is held twice as bitsets of blocked
cells, row-major (``R``: line r, bit c) and column-major (``C``: line c,
bit r), 64 cells per int64 word.  A straight ray then tests 64 cells per
word: with ``M`` the ray's line and ``U``/``D`` its two neighbour lines,
the cells that end it are ``M | (~U & U shifted one cell back) | (~D & D
shifted back)`` and the first set bit (count trailing/leading zeros) is
the stop.  Search state (g, parent, open/closed) is kept for jump points
only, in flat arrays indexed r * Wp + c over the padded grid.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core.extending import intrinsic

from edgepilot.vehicle.planning._astar_kernels import _pop, _push, f64_bits, key_shift, row_of

SQRT2 = math.sqrt(2.0)


@intrinsic
def _cttz(typingctx, x):
    """Count of trailing zero bits of a non-zero int64."""
    if not isinstance(x, types.Integer) or x.bitwidth != 64:
        return None

    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 1))

    return types.int64(x), codegen


@intrinsic
def _ctlz(typingctx, x):
    """Count of leading zero bits of a non-zero int64."""
    if not isinstance(x, types.Integer) or x.bitwidth != 64:
        return None

    def codegen(context, builder, signature, args):
        return builder.ctlz(args[0], ir.Constant(ir.IntType(1), 1))

    return types.int64(x), codegen


@intrinsic
def _lshr(typingctx, x, s):
    """Logical (zero-filling) right shift of an int64 by 0..63."""
    if not (isinstance(x, types.Integer) and x.bitwidth == 64 and isinstance(s, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        sh = context.cast(builder, args[1], signature.args[1], types.int64)
        return builder.lshr(args[0], sh)

    return types.int64(x, s), codegen


@njit(cache=True)
def cols_from_rows(R, nwr, h, w):
    """Column-major bitset (C, nwc) of the row-major padded bitset ``R``
    (line c of ``nwc`` words, bit r set when padded cell (r, c) is
    blocked; bits past the edge set), by 64 x 64 bit-block transposes."""
    Hp = h + 2
    Wp = w + 2
    nwc = (Hp + 63) >> 6
    C = np.empty(Wp * nwc, np.int64)
    A = np.empty(64, np.int64)
    for kb in range(nwc):
        r0 = kb << 6
        for kw in range(nwr):
            for i in range(64):
                r = r0 + i
                A[i] = R[r * nwr + kw] if r < Hp else np.int64(-1)
            j = 32
            m = np.int64(0xFFFFFFFF)
            while j != 0:
                k = 0
                while k < 64:
                    t = (_lshr(A[k], j) ^ A[k + j]) & m
                    A[k + j] ^= t
                    A[k] ^= t << j
                    k = (k + j + 1) & ~j
                j >>= 1
                m ^= m << j
            c0 = kw << 6
            for i in range(min(64, Wp - c0)):
                C[(c0 + i) * nwc + kb] = A[i]
    return C, nwc


@njit(cache=True)
def _blocked(R, nwr, r, c):
    return (R[r * nwr + (c >> 6)] >> (c & 63)) & 1


@njit(cache=True)
def _ray(B, nw, line, p, step, gp):
    """Straight ray in bitset ``B`` (lines of ``nw`` words) along line
    ``line`` from position ``p`` (exclusive) in direction ``step`` (+1/-1).
    ``gp`` is the goal's position on this line or -1.  Returns the position
    of the jump point (goal or forced neighbour) or -1 when a blocked cell
    comes first.  The padded border guarantees a stop inside the line."""
    mb = line * nw
    ub = mb - nw
    db = mb + nw
    if step > 0:
        q = p + 1
        k = q >> 6
        first = np.int64(-1) << (q & 63)
        while True:
            m = B[mb + k]
            u = B[ub + k]
            d = B[db + k]
            if k > 0:
                ua = (u << 1) | _lshr(B[ub + k - 1], 63)
                da = (d << 1) | _lshr(B[db + k - 1], 63)
            else:
                ua = u << 1
                da = d << 1
            stop = (m | (~u & ua) | (~d & da)) & first
            if gp > p and (gp >> 6) == k:
                stop |= np.int64(1) << (gp & 63)
            if stop != 0:
                i = _cttz(stop)
                if (m >> i) & 1:
                    return -1
                return (k << 6) + i
            first = np.int64(-1)
            k += 1
    else:
        q = p - 1
        k = q >> 6
        first = _lshr(np.int64(-1), 63 - (q & 63))
        last = nw - 1
        while True:
            m = B[mb + k]
            u = B[ub + k]
            d = B[db + k]
            if k < last:
                ua = _lshr(u, 1) | (B[ub + k + 1] << 63)
                da = _lshr(d, 1) | (B[db + k + 1] << 63)
            else:
                ua = _lshr(u, 1)
                da = _lshr(d, 1)
            stop = (m | (~u & ua) | (~d & da)) & first
            if 0 <= gp < p and (gp >> 6) == k:
                stop |= np.int64(1) << (gp & 63)
            if stop != 0:
                i = 63 - _ctlz(stop)
                if (m >> i) & 1:
                    return -1
                return (k << 6) + i
            first = np.int64(-1)
            k -= 1


@njit(cache=True)
def _ray_v(C, nwc, r, c, dr, tr, tc):
    """Vertical ray from (r, c) in direction dr; the jump point's row or -1."""
    return _ray(C, nwc, c, r, dr, tr if tc == c else -1)


@njit(cache=True)
def _ray_h(R, nwr, r, c, dc, tr, tc):
    """Horizontal ray from (r, c) in direction dc; the jump point's column or -1."""
    return _ray(R, nwr, r, c, dc, tc if tr == r else -1)


@njit(cache=True)
def _diag(R, C, nwr, nwc, r, c, dr, dc, tr, tc):
    """Diagonal ray from (r, c) in direction (dr, dc), every step needing
    both orthogonal cells free.  Returns the padded flat-free (row, col) of
    the first cell that is the goal or starts a straight ray reaching a
    jump point, or (-1, -1) when the ray is blocked."""
    while True:
        if _blocked(R, nwr, r + dr, c) or _blocked(R, nwr, r, c + dc):
            return -1, -1
        r += dr
        c += dc
        if _blocked(R, nwr, r, c):
            return -1, -1
        if r == tr and c == tc:
            return r, c
        if _ray_v(C, nwc, r, c, dr, tr, tc) >= 0 or _ray_h(R, nwr, r, c, dc, tr, tc) >= 0:
            return r, c


@njit(cache=True)
def _relax(state, g, parent, heap, n, shift, cur, rc, cc, gcur, rj, cj, Wp, tr, tc):
    """Relax the straight or diagonal jump (rc, cc) -> (rj, cj); returns the
    new heap size."""
    if rj < 0:
        return n
    j = rj * Wp + cj
    st = state[j]
    if st == 2:
        return n
    a = abs(rj - rc)
    b = abs(cj - cc)
    if a > b:
        seg = (a - b) + SQRT2 * b
    else:
        seg = (b - a) + SQRT2 * a
    ng = gcur + seg
    if st == 0:
        state[j] = 1
    elif ng >= g[j]:
        return n
    g[j] = ng
    parent[j] = cur
    dr = abs(rj - tr)
    dc = abs(cj - tc)
    if dr > dc:
        hh = (dr - dc) + SQRT2 * dc
    else:
        hh = (dc - dr) + SQRT2 * dr
    _push(heap, n, ((f64_bits(ng + hh) >> shift) << shift) | j)
    return n + 1


@njit(cache=True)
def jps_search(R, C, nwr, nwc, h, w, sr, sc, gr, gc):
    """JPS in unit costs (straight 1, diagonal sqrt 2) on the bitsets of
    ``bits_from_grid`` / ``cols_from_rows``.
    Coordinates are unpadded (row, col).  Returns (path (N, 2) int64 of
    every cell, cost, jump points expanded); an empty path and inf cost
    when the goal is unreachable."""
    Wp = w + 2
    inv_w = 1.0 / Wp
    ncell = (h + 2) * Wp
    state = np.zeros(ncell, np.uint8)     # 0 unseen, 1 open, 2 closed
    g = np.empty(ncell, np.float64)
    parent = np.empty(ncell, np.int32)
    shift = key_shift(ncell)
    mask = (np.int64(1) << shift) - 1
    cap = 1024
    heap = np.empty(cap, np.int64)
    tr = gr + 1
    tc = gc + 1
    s = (sr + 1) * Wp + (sc + 1)
    t = tr * Wp + tc
    g[s] = 0.0
    parent[s] = -1
    state[s] = 1
    heap[0] = s
    n = 1
    found = False
    nexp = 0
    while n > 0:
        cur = _pop(heap, n) & mask
        n -= 1
        if state[cur] == 2:
            continue
        if cur == t:
            found = True
            break
        state[cur] = 2
        nexp += 1
        gcur = g[cur]
        if n + 8 > cap:
            cap *= 2
            nh = np.empty(cap, np.int64)
            nh[:n] = heap[:n]
            heap = nh
        rc = row_of(cur, Wp, inv_w)
        cc = cur - rc * Wp
        p = parent[cur]
        if p < 0:
            dr = 0
            dc = 0
        else:
            rp = row_of(p, Wp, inv_w)
            cp = p - rp * Wp
            dr = 0 if rc == rp else (1 if rc > rp else -1)
            dc = 0 if cc == cp else (1 if cc > cp else -1)
        if dr == 0 and dc == 0:
            # the start: every direction
            for d in (-1, 1):
                n = _relax(state, g, parent, heap, n, shift, cur, rc, cc, gcur,
                           _ray_v(C, nwc, rc, cc, d, tr, tc), cc, Wp, tr, tc)
                j = _ray_h(R, nwr, rc, cc, d, tr, tc)
                n = _relax(state, g, parent, heap, n, shift, cur, rc, cc, gcur,
                           rc if j >= 0 else -1, j, Wp, tr, tc)
            for d1 in (-1, 1):
                for d2 in (-1, 1):
                    rj, cj = _diag(R, C, nwr, nwc, rc, cc, d1, d2, tr, tc)
                    n = _relax(state, g, parent, heap, n, shift, cur, rc, cc, gcur,
                               rj, cj, Wp, tr, tc)
        elif dr != 0 and dc != 0:
            n = _relax(state, g, parent, heap, n, shift, cur, rc, cc, gcur,
                       _ray_v(C, nwc, rc, cc, dr, tr, tc), cc, Wp, tr, tc)
            j = _ray_h(R, nwr, rc, cc, dc, tr, tc)
            n = _relax(state, g, parent, heap, n, shift, cur, rc, cc, gcur,
                       rc if j >= 0 else -1, j, Wp, tr, tc)
            rj, cj = _diag(R, C, nwr, nwc, rc, cc, dr, dc, tr, tc)
            n = _relax(state, g, parent, heap, n, shift, cur, rc, cc, gcur,
                       rj, cj, Wp, tr, tc)
        elif dr != 0:
            n = _relax(state, g, parent, heap, n, shift, cur, rc, cc, gcur,
                       _ray_v(C, nwc, rc, cc, dr, tr, tc), cc, Wp, tr, tc)
            for s2 in (-1, 1):
                if not _blocked(R, nwr, rc, cc + s2) and _blocked(R, nwr, rc - dr, cc + s2):
                    # forced: turn along s2, and the diagonal (dr, s2)
                    j = _ray_h(R, nwr, rc, cc, s2, tr, tc)
                    n = _relax(state, g, parent, heap, n, shift, cur, rc, cc, gcur,
                               rc if j >= 0 else -1, j, Wp, tr, tc)
                    rj, cj = _diag(R, C, nwr, nwc, rc, cc, dr, s2, tr, tc)
                    n = _relax(state, g, parent, heap, n, shift, cur, rc, cc, gcur,
                               rj, cj, Wp, tr, tc)
        else:
            j = _ray_h(R, nwr, rc, cc, dc, tr, tc)
            n = _relax(state, g, parent, heap, n, shift, cur, rc, cc, gcur,
                       rc if j >= 0 else -1, j, Wp, tr, tc)
            for s2 in (-1, 1):
                if not _blocked(R, nwr, rc + s2, cc) and _blocked(R, nwr, rc + s2, cc - dc):
                    n = _relax(state, g, parent, heap, n, shift, cur, rc, cc, gcur,
                               _ray_v(C, nwc, rc, cc, s2, tr, tc), cc, Wp, tr, tc)
                    rj, cj = _diag(R, C, nwr, nwc, rc, cc, s2, dc, tr, tc)
                    n = _relax(state, g, parent, heap, n, shift, cur, rc, cc, gcur,
                               rj, cj, Wp, tr, tc)
    if not found:
        return np.empty((0, 2), np.int64), np.inf, nexp
    return _unfold(parent, s, t, Wp), g[t], nexp


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
