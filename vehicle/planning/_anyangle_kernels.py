"""Numba kernels: exact weighted line cost on a grid, and Theta*.

A segment joins two cell centres.  Its cost is the line integral of the
weight field (piecewise constant per cell): the sum over the cells it
crosses of (length inside the cell) x (cell weight), in cell lengths.  For
a straight or diagonal grid move this equals the geometric rule's cost, so
any-angle and grid paths are costed alike.  A segment through a blocked
cell, or exactly through a corner next to a blocked cell, costs inf.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from edgepilot.vehicle.planning._astar_kernels import _pop, _push, f64_bits, key_shift

SQRT2 = math.sqrt(2.0)


@njit(cache=True)
def line_cost(weights, r0, c0, r1, c1):
    """Weighted length of the segment between the centres of (r0, c0) and
    (r1, c1) (Amanatides-Woo traversal); inf when it touches a blocked cell
    or leaves the grid."""
    h, w = weights.shape
    if r0 < 0 or r0 >= h or c0 < 0 or c0 >= w or r1 < 0 or r1 >= h or c1 < 0 or c1 >= w:
        return np.inf
    dr = r1 - r0
    dc = c1 - c0
    length = math.sqrt(dr * dr + dc * dc)
    if length == 0.0:
        return 0.0 if weights[r0, c0] < np.inf else np.inf
    sr = 1 if dr > 0 else -1
    sc = 1 if dc > 0 else -1
    adr = abs(dr)
    adc = abs(dc)
    # integer parametrisation avoids float ties: boundary crossings happen
    # at t = (2k+1) / (2|dr|); compare (2k+1)*|dc| against (2m+1)*|dr|.
    kr = 0  # crossings made in rows
    kc = 0
    r = r0
    c = c0
    total = 0.0
    t = 0.0
    while True:
        wv = weights[r, c]
        if not (wv < np.inf):
            return np.inf
        # next crossing parameters (as fractions); compare via integers
        nr_num = (2 * kr + 1) * adc  # proportional to t of next row crossing (scaled by 2*adr*adc)
        nc_num = (2 * kc + 1) * adr
        has_r = kr < adr
        has_c = kc < adc
        if not has_r and not has_c:
            total += (1.0 - t) * wv
            break
        if has_r and (not has_c or nr_num < nc_num):
            tn = (2 * kr + 1) / (2.0 * adr)
            total += (tn - t) * wv
            t = tn
            kr += 1
            r += sr
        elif has_c and (not has_r or nc_num < nr_num):
            tn = (2 * kc + 1) / (2.0 * adc)
            total += (tn - t) * wv
            t = tn
            kc += 1
            c += sc
        else:
            # exactly through a corner: both side cells must be free
            tn = (2 * kr + 1) / (2.0 * adr)
            total += (tn - t) * wv
            t = tn
            if not (weights[r + sr, c] < np.inf) or not (weights[r, c + sc] < np.inf):
                return np.inf
            kr += 1
            kc += 1
            r += sr
            c += sc
    return total * length


@njit(cache=True)
def theta_star_kernel(weights, sr, sc, gr, gc, wmin):
    """Theta* from (sr, sc) to (gr, gc) on float32 ``weights``.  Returns
    (vertices (M, 2) int64, cost); empty and inf when unreachable."""
    h, w = weights.shape
    n = h * w
    g = np.full(n, np.inf)
    parent = np.full(n, -1, np.int64)
    closed = np.zeros(n, np.bool_)
    shift = key_shift(n)
    mask = (np.int64(1) << shift) - 1
    cap = 1024
    heap = np.empty(cap, np.int64)
    s = sr * w + sc
    t = gr * w + gc
    g[s] = 0.0
    parent[s] = s
    heap[0] = s
    hn = 1
    drs = (-1, 1, 0, 0, -1, -1, 1, 1)
    dcs = (0, 0, -1, 1, -1, 1, -1, 1)
    found = False
    while hn > 0:
        key = _pop(heap, hn)
        hn -= 1
        cur = key & mask
        if closed[cur]:
            continue
        if cur == t:
            found = True
            break
        closed[cur] = True
        r = cur // w
        c = cur - r * w
        p = parent[cur]
        pr = p // w
        pc = p - pr * w
        if hn + 8 > cap:
            cap *= 2
            nh = np.empty(cap, np.int64)
            nh[:hn] = heap[:hn]
            heap = nh
        for k in range(8):
            nr = r + drs[k]
            nc = c + dcs[k]
            if nr < 0 or nr >= h or nc < 0 or nc >= w:
                continue
            nb = nr * w + nc
            if closed[nb] or not (weights[nr, nc] < np.inf):
                continue
            direct = line_cost(weights, r, c, nr, nc)
            if direct == np.inf:
                continue
            best = g[cur] + direct
            bpar = cur
            if p != cur:
                via = line_cost(weights, pr, pc, nr, nc)
                if g[p] + via < best:
                    best = g[p] + via
                    bpar = p
            if best < g[nb]:
                g[nb] = best
                parent[nb] = bpar
                dy = nr - gr
                dx = nc - gc
                f = best + wmin * math.sqrt(dy * dy + dx * dx)
                _push(heap, hn, ((f64_bits(f) >> shift) << shift) | nb)
                hn += 1
    if not found:
        return np.empty((0, 2), np.int64), np.inf
    m = 1
    k = t
    while k != s:
        k = parent[k]
        m += 1
    out = np.empty((m, 2), np.int64)
    k = t
    for i in range(m - 1, -1, -1):
        out[i, 0] = k // w
        out[i, 1] = k % w
        k = parent[k]
    return out, g[t]


@njit(cache=True)
def shortcut_kernel(weights, verts, slack):
    """Greedy shortcutting of a vertex path (M, 2): from each kept vertex
    extend the straight segment vertex by vertex while it stays free and
    costs at most (1 + slack) x the path it replaces.  Returns a boolean
    keep mask (first and last always kept)."""
    m = verts.shape[0]
    keep = np.zeros(m, np.bool_)
    if m == 0:
        return keep
    # cumulative cost along the given path
    cum = np.zeros(m)
    for i in range(1, m):
        cum[i] = cum[i - 1] + line_cost(weights, verts[i - 1, 0], verts[i - 1, 1], verts[i, 0], verts[i, 1])
    i = 0
    keep[0] = True
    while i < m - 1:
        j = i + 1
        while j + 1 < m:
            lc = line_cost(weights, verts[i, 0], verts[i, 1], verts[j + 1, 0], verts[j + 1, 1])
            if not (lc < np.inf and lc <= (cum[j + 1] - cum[i]) * (1.0 + slack) + 1e-9):
                break
            j += 1
        keep[j] = True
        i = j
    return keep
