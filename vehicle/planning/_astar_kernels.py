"""Numba kernels for grid A* (no Python objects; validated by vehicle.planning.astar).

Layout and tricks, each chosen for speed on large grids:

- The heap search's grid is copied once into a padded flat float32 array
  ``wp`` with a one-cell border of ``+inf``, so the eight neighbours of any
  interior cell are fixed flat offsets and need no bounds test.  (The
  bucket search, ``_bucket_kernels.bucket_weighted``, reads the grid where
  it lies: ``check_range`` measures it without a copy.)
- The same array holds the search state (the closed set lives in the grid):
  ``+w`` unseen, ``-w`` open (its ``g`` is valid), ``-inf`` closed, ``+inf``
  blocked.  One load per neighbour tells blocked/closed/seen and the weight;
  ``g`` and ``parent`` therefore need no initialisation pass.
- The open list is a 4-ary heap of single int64 keys: the IEEE bits of
  ``f`` (non-negative, so integer order equals float order) with their
  ``key_shift`` low bits replaced by the cell index.  The truncation perturbs ``f``
  by a relative 2**-(52 - key_shift) (< 1e-8 for grids up to 16M cells), far
  below the tolerance any cost comparison uses.
- The 8-neighbour update is written out once per direction (inlined).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.core.extending import intrinsic

SQRT2 = math.sqrt(2.0)
INF32 = np.float32(np.inf)


@intrinsic
def f64_bits(typingctx, x):
    """The IEEE-754 bits of a float64 as an int64 (a register bitcast; a
    store-and-reload through an array view costs 4x more in the search)."""
    if not isinstance(x, types.Float) or x.bitwidth != 64:
        return None
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.int64))

    return sig, codegen


@njit(cache=True, inline="always")
def row_of(k, W, inv_w):
    """k // W for 0 <= k < 2**31 given inv_w = 1 / W, by a float multiply
    and one correction: a 64-bit integer division costs 40-90 cycles, the
    largest single cost of an expansion."""
    q = np.int64(k * inv_w)
    r = k - q * W
    if r < 0:
        q -= 1
    elif r >= W:
        q += 1
    return q


_INF_BITS = np.int32(0x7F800000)
_INT32_MIN = np.int32(-(1 << 31))


@njit(cache=True)
def pad(weights):
    """Copy (H, W) float32 ``weights`` into a flat (H+2)*(W+2) float32
    array with an inf border (the heap search's grid and state)."""
    h, w = weights.shape
    wp_ = w + 2
    out = np.empty((h + 2) * wp_, np.float32)
    ob = out.view(np.int32)    # bit for bit (NaN payloads too)
    for c in range(wp_):
        ob[c] = _INF_BITS
        ob[(h + 1) * wp_ + c] = _INF_BITS
    for r in range(h):
        base = (r + 1) * wp_
        ob[base] = _INF_BITS
        ob[base + w + 1] = _INF_BITS
        row = weights[r].view(np.int32)
        for c in range(w):
            ob[base + c + 1] = row[c]
    return out


@njit(cache=True)
def check_range(weights):
    """(n_nan, min_weight, max_weight) of (H, W) float32 ``weights``, the
    range over the finite weights (inf and -inf when there are none); any
    value < 1 shows as min_weight < 1.  Reads the grid, copies nothing.

    The common grid (no NaN, no negative value nor -0.0) takes one pass
    that vectorises: the range on the float32 bit patterns as int32, whose
    order is the floats' order for non-negative floats (+inf above every
    finite one, NaN above +inf).  Any other grid is measured again by
    ``_check_range_slow`` (value by value), so the result is the same."""
    h, w = weights.shape
    bmin = _INF_BITS
    bmax = _INT32_MIN          # largest pattern over all cells (NaN above inf)
    bfin = _INT32_MIN          # largest pattern below +inf
    for r in range(h):
        row = weights[r].view(np.int32)
        lo = _INF_BITS
        hi = _INT32_MIN
        fi = _INT32_MIN
        for c in range(w):
            b = row[c]
            lo = min(lo, b)
            hi = max(hi, b)
            fi = max(fi, b if b != _INF_BITS else _INT32_MIN)
        bmin = min(bmin, lo)
        bmax = max(bmax, hi)
        bfin = max(bfin, fi)
    if h * w > 0 and (bmin < 0 or bmax > _INF_BITS):
        return _check_range_slow(weights)
    wmin = np.inf
    wmax = -np.inf
    if bmin != _INF_BITS:
        wmin = float(np.array([bmin], np.int32).view(np.float32)[0])
    if bfin != _INT32_MIN:
        wmax = float(np.array([bfin], np.int32).view(np.float32)[0])
    return 0, wmin, wmax


@njit(cache=True)
def _check_range_slow(weights):
    """``check_range`` value by value (any float32 grid)."""
    h, w = weights.shape
    n_nan = 0
    wmin = np.inf
    wmax = -np.inf
    for r in range(h):
        for c in range(w):
            v = weights[r, c]
            if v != v:
                n_nan += 1
            else:
                if v < wmin:
                    wmin = v
                if v > wmax and v != INF32:
                    wmax = v
    return n_nan, wmin, wmax


@njit(cache=True)
def key_shift(ncell):
    """Bits of a packed heap key that hold the cell index (see the module
    docstring): the fewest that count up to ``ncell``."""
    b = 1
    while (1 << b) < ncell:
        b += 1
    return np.int64(b)


@njit(cache=True)
def _push(heap, n, key):
    """Insert ``key`` into the 4-ary min-heap heap[0:n]; heap has room."""
    i = n
    while i > 0:
        p = (i - 1) >> 2
        pk = heap[p]
        if pk <= key:
            break
        heap[i] = pk
        i = p
    heap[i] = key


@njit(cache=True)
def _pop(heap, n):
    """Remove and return the smallest key of the 4-ary min-heap heap[0:n]
    (n >= 1).  Bottom-up: the hole walks down along smallest children to a
    leaf, then the last key sifts up from there (fewer compares: the last
    key nearly always belongs near the bottom)."""
    top = heap[0]
    n -= 1
    if n == 0:
        return top
    last = heap[n]
    i = 0
    while True:
        c = 4 * i + 1
        if c + 3 < n:
            m = c
            mk = heap[c]
            k1 = heap[c + 1]
            if k1 < mk:
                m = c + 1
                mk = k1
            k2 = heap[c + 2]
            if k2 < mk:
                m = c + 2
                mk = k2
            k3 = heap[c + 3]
            if k3 < mk:
                m = c + 3
                mk = k3
        elif c < n:
            m = c
            mk = heap[c]
            for j in range(c + 1, n):
                if heap[j] < mk:
                    m = j
                    mk = heap[j]
        else:
            break
        heap[i] = mk
        i = m
    _push(heap, i, last)      # the hole at i: sift the last key up into it
    return top


@njit(cache=True)
def _relax(wp, g, parent, heap, n, shift, cur, gcur, wc, nb, step_len,
           corner_a, corner_b, diag, rule, nr, nc, gr, gc, hscale, octile):
    """Relax the move cur -> nb; returns the new heap size (may exceed
    capacity by one only if the caller left no room: it always does)."""
    v = wp[nb]
    if v == INF32 or v == -INF32:
        return n
    if diag and rule == 0:
        # no corner cutting past a blocked cell (geometric rule)
        if wp[corner_a] == INF32 or wp[corner_b] == INF32:
            return n
    wn = np.float64(v) if v > 0 else -np.float64(v)
    if rule == 0:
        step = 0.5 * (wc + wn) * step_len
    else:
        step = wn
    ng = gcur + step
    if v > 0:
        wp[nb] = -v
    elif ng >= g[nb]:
        return n
    g[nb] = ng
    parent[nb] = cur
    dr = nr - gr
    if dr < 0:
        dr = -dr
    dc = nc - gc
    if dc < 0:
        dc = -dc
    if octile:
        if dr > dc:
            hh = (dr - dc) + SQRT2 * dc
        else:
            hh = (dc - dr) + SQRT2 * dr
    else:
        hh = max(dr, dc)
    key = ((f64_bits(ng + hh * hscale) >> shift) << shift) | nb
    _push(heap, n, key)
    return n + 1


@njit(cache=True)
def astar_padded(wp, h, w, sr, sc, gr, gc, allow_diagonal, rule, wmin):
    """A* over the padded flat grid ``wp`` (modified: it ends holding the
    search state).  ``rule`` 0 geometric, 1 target.  Coordinates are
    unpadded (row, col).  Returns (path (N, 2) int64, cost); an empty path
    and inf cost when the goal is unreachable."""
    W = w + 2
    ncell = (h + 2) * W
    g = np.empty(ncell, np.float64)
    parent = np.empty(ncell, np.int32)
    shift = key_shift(ncell)
    mask = (np.int64(1) << shift) - 1
    cap = 1024
    heap = np.empty(cap, np.int64)
    s = (sr + 1) * W + (sc + 1)
    t = (gr + 1) * W + (gc + 1)
    octile = allow_diagonal and rule == 0
    hscale = wmin
    inv_w = 1.0 / W
    g[s] = 0.0
    parent[s] = -1
    wp[s] = -wp[s]
    heap[0] = s  # f = 0 packs as just the index
    n = 1
    found = False
    nexp = 0
    while n > 0:
        key = _pop(heap, n)
        n -= 1
        cur = key & mask
        v = wp[cur]
        if v == -INF32:
            continue  # stale entry of an already closed cell
        if cur == t:
            found = True
            break
        wp[cur] = -INF32
        nexp += 1
        wc = -np.float64(v)
        gcur = g[cur]
        if n + 8 > cap:
            cap *= 2
            nh = np.empty(cap, np.int64)
            nh[:n] = heap[:n]
            heap = nh
        r = row_of(cur, W, inv_w) - 1
        c = cur - (r + 1) * W - 1
        if allow_diagonal:
            n = _relax(wp, g, parent, heap, n, shift, cur, gcur, wc, cur - W, 1.0,
                       0, 0, False, rule, r - 1, c, gr, gc, hscale, octile)
            n = _relax(wp, g, parent, heap, n, shift, cur, gcur, wc, cur + W, 1.0,
                       0, 0, False, rule, r + 1, c, gr, gc, hscale, octile)
            n = _relax(wp, g, parent, heap, n, shift, cur, gcur, wc, cur - 1, 1.0,
                       0, 0, False, rule, r, c - 1, gr, gc, hscale, octile)
            n = _relax(wp, g, parent, heap, n, shift, cur, gcur, wc, cur + 1, 1.0,
                       0, 0, False, rule, r, c + 1, gr, gc, hscale, octile)
            n = _relax(wp, g, parent, heap, n, shift, cur, gcur, wc, cur - W - 1, SQRT2,
                       cur - W, cur - 1, True, rule, r - 1, c - 1, gr, gc, hscale, octile)
            n = _relax(wp, g, parent, heap, n, shift, cur, gcur, wc, cur - W + 1, SQRT2,
                       cur - W, cur + 1, True, rule, r - 1, c + 1, gr, gc, hscale, octile)
            n = _relax(wp, g, parent, heap, n, shift, cur, gcur, wc, cur + W - 1, SQRT2,
                       cur + W, cur - 1, True, rule, r + 1, c - 1, gr, gc, hscale, octile)
            n = _relax(wp, g, parent, heap, n, shift, cur, gcur, wc, cur + W + 1, SQRT2,
                       cur + W, cur + 1, True, rule, r + 1, c + 1, gr, gc, hscale, octile)
        else:
            n = _relax4(wp, g, parent, heap, n, shift, cur, gcur, wc, cur - W,
                        rule, r - 1, c, gr, gc, hscale)
            n = _relax4(wp, g, parent, heap, n, shift, cur, gcur, wc, cur + W,
                        rule, r + 1, c, gr, gc, hscale)
            n = _relax4(wp, g, parent, heap, n, shift, cur, gcur, wc, cur - 1,
                        rule, r, c - 1, gr, gc, hscale)
            n = _relax4(wp, g, parent, heap, n, shift, cur, gcur, wc, cur + 1,
                        rule, r, c + 1, gr, gc, hscale)
    if not found:
        return np.empty((0, 2), np.int64), np.inf, nexp
    return _trace_parent(parent, s, t, W), g[t], nexp


@njit(cache=True)
def _relax4(wp, g, parent, heap, n, shift, cur, gcur, wc, nb, rule, nr, nc, gr, gc,
            hscale):
    """4-connected relaxation (Manhattan heuristic)."""
    v = wp[nb]
    if v == INF32 or v == -INF32:
        return n
    wn = np.float64(v) if v > 0 else -np.float64(v)
    if rule == 0:
        step = 0.5 * (wc + wn)
    else:
        step = wn
    ng = gcur + step
    if v > 0:
        wp[nb] = -v
    elif ng >= g[nb]:
        return n
    g[nb] = ng
    parent[nb] = cur
    key = ((f64_bits(ng + (abs(nr - gr) + abs(nc - gc)) * hscale) >> shift) << shift) | nb
    _push(heap, n, key)
    return n + 1


@njit(cache=True)
def path_cost_kernel(weights, path, rule):
    """Cost of the cell path ``path`` (N, 2) on ``weights`` (H, W) float32."""
    total = 0.0
    for i in range(path.shape[0] - 1):
        r0 = path[i, 0]
        c0 = path[i, 1]
        r1 = path[i + 1, 0]
        c1 = path[i + 1, 1]
        w1 = np.float64(weights[r1, c1])
        if rule == 0:
            ln = SQRT2 if (r0 != r1 and c0 != c1) else 1.0
            total += 0.5 * (np.float64(weights[r0, c0]) + w1) * ln
        else:
            total += w1
    return total


@njit(cache=True)
def _trace_parent(parent, s, t, Wp):
    """Cells (N, 2) [row, col] (unpadded) from s to t along ``parent``."""
    m = 1
    k = t
    while k != s:
        k = parent[k]
        m += 1
    path = np.empty((m, 2), np.int64)
    k = t
    for i in range(m - 1, -1, -1):
        rr = k // Wp
        path[i, 0] = rr - 1
        path[i, 1] = k - rr * Wp - 1
        if i > 0:
            k = parent[k]
    return path
