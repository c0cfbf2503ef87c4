"""Numba kernels for A* with a bucket queue on uniform-cost grids (every
free cell has the same weight ``w0``); validated and dispatched by
vehicle.planning.astar.  8-connected only.

On such a grid every cost is ``w0`` times a unit cost, so the search runs in
unit costs and multiplies by ``w0`` at the end.  Along any move the A*
priority f = g + h rises by 0..2 units (target rule, Chebyshev h) or by
0..2 sqrt 2 (geometric rule, octile h), so the open list only ever spans a
narrow window of f and a ring of buckets replaces the binary heap:

- target rule: every f is an integer; three LIFO buckets (f mod 3) give an
  exact A* order (Dial's algorithm) with O(1) queue operations.  LIFO
  inside a bucket breaks f ties towards the most recent, deepest nodes.
- geometric rule: f = a + b sqrt 2 is bucketed by floor(f / DELTA).
  Inside a bucket the order is LIFO, not exact, so a node can be expanded
  before its best g is known: a later, shorter path reopens it (label
  correcting).  The search stops only once every open node's f is at least
  the goal's g, which makes the result optimal (up to a relative 1e-12).

Grid layout: a padded flat uint8 grid with a blocked one-cell border; per
cell bits 0-1 hold the state (0 unseen, 1 open, 2 closed, 3 blocked) and
bits 2-4 the direction of the move that reached it (the parent link).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from edgepilot.vehicle._prefetch import prefetch
from edgepilot.vehicle.planning._astar_kernels import _trace_parent, row_of

SQRT2 = math.sqrt(2.0)
DELTA_INV = 16.0          # geometric bucket width 1/16 unit
NB = 64                   # ring size; > 2 sqrt 2 * DELTA_INV + 1
UNSEEN, OPEN, CLOSED, BLOCKED = 0, 1, 2, 3
# unsigned array indices: numba emits no negative-index wraparound code for them
U64 = np.uint64
INF32 = np.float32(np.inf)
# direction k: (dr, dc); the parent of a cell reached by k is cell - OFF[k]
DR = np.array([-1, 1, 0, 0, -1, -1, 1, 1], np.int64)
DC = np.array([0, 0, -1, 1, -1, 1, -1, 1], np.int64)


INF_BITS = np.uint32(0x7F800000)      # float32 +inf
ONE_BITS = np.uint32(0x3F800000)      # float32 1.0


@njit(cache=True)
def uniform_grid(wbits, h, w, corner_stride):
    """The padded uint8 state grid (3 blocked, 0 free; a blocked one-cell
    border) of an (H, W) float32 weight grid given as its flat uint32 bit
    view ``wbits`` (C order), when every finite weight is one value >= 1.
    Returns (ok, grid, w0_bits, n_free, n_corners): w0_bits the bits of that
    float32 weight; n_corners estimates the 2 x 2 windows of the padded grid
    holding an odd number of blocked cells (obstacle corners: a clutter
    measure, and where jump point search must stop), counted on every
    ``corner_stride``-th pair of rows and scaled up (1: exact; 0: not
    counted, n_corners 0; the count is half of this pass's time, and it
    only chooses between two optimal searches).  ok is False when a
    second finite value, a NaN, -inf or a value < 1 is present: the caller
    then takes the general path, which reports bad values.

    Integer compares on the bits (equal floats have equal bits, except
    +-0, which is < 1 and rejected anyway) and whole-row slices keep the
    inner loops branch-free and vectorised: one pass, ~0.2 ns per cell
    (uint32 accumulators: 8 lanes a vector, not 4)."""
    Hp = h + 2
    Wp = w + 2
    grid = np.empty(Hp * Wp, np.uint8)
    w0 = np.uint32(0)
    for i in range(h * w):
        if wbits[i] != INF_BITS:
            w0 = wbits[i]
            break
    # a float32 in [1, inf) has bits in [ONE_BITS, INF_BITS) (sign bit clear)
    if not (w0 >= ONE_BITS and w0 < INF_BITS):
        return False, grid, w0, 0, 0
    grid[:Wp] = BLOCKED
    grid[(h + 1) * Wp:] = BLOCKED
    n_blocked = 0
    n_corners = 0
    n_pairs = 0
    for r in range(h):
        row = grid[(r + 1) * Wp:(r + 2) * Wp]
        src = wbits[r * w:(r + 1) * w]
        row[0] = BLOCKED
        row[w + 1] = BLOCKED
        # uint32 throughout (numba widens mixed or int32 arithmetic to
        # int64, which halves the vector lanes): bad collects the bits in
        # which a free cell differs from w0 (isb - 1 masks blocked cells
        # out); 0.30 -> 0.19 ms on 1024^2
        bad = np.uint32(0)
        nb = np.uint32(0)
        for c in range(w):
            v = src[c]
            isb = np.uint32(v == INF_BITS)
            bad = np.uint32(bad | ((v ^ w0) & (isb - np.uint32(1))))
            nb = np.uint32(nb + isb)
            row[c + 1] = np.uint8(3 * isb)
        if bad != 0:
            return False, grid, w0, 0, 0
        n_blocked += nb
        if corner_stride > 0 and r % corner_stride == 0:
            n_corners += _odd_windows(grid[r * Wp:(r + 1) * Wp], row)
            n_pairs += 1
    if corner_stride > 0 and h % corner_stride == 0:
        n_corners += _odd_windows(grid[h * Wp:(h + 1) * Wp], grid[(h + 1) * Wp:])
        n_pairs += 1
    if n_pairs > 0:
        n_corners = (n_corners * (h + 1)) // n_pairs
    return True, grid, w0, h * w - n_blocked, n_corners


@njit(cache=True)
def _odd_windows(a, b):
    """Count of 2 x 2 windows over grid rows ``a`` (above) and ``b`` holding
    an odd number of blocked cells (blocked = 3, free = 0: bit 0 is the
    blocked flag)."""
    n = np.uint32(0)
    for c in range(a.shape[0] - 1):
        n = np.uint32(n + np.uint32((a[c] ^ a[c + 1] ^ b[c] ^ b[c + 1]) & np.uint8(1)))
    return n


@njit(cache=True)
def bits_from_grid(grid, h, w):
    """Row-major bitset of the blocked cells of the padded state grid
    (bit 0 of each state is the blocked flag while no search has run):
    line r of ``nwr`` int64 words, bit c set when padded cell (r, c) is
    blocked, bits past the east edge set.  Returns (R, nwr)."""
    Hp = h + 2
    Wp = w + 2
    nwr = (Wp + 63) >> 6
    R = np.empty(Hp * nwr, np.int64)
    for r in range(Hp):
        row = grid[r * Wp:(r + 1) * Wp]
        for k in range(nwr):
            c0 = k << 6
            n = min(64, Wp - c0)
            word = np.int64(-1) << n if n < 64 else np.int64(0)
            for i in range(n):
                word |= np.int64(row[c0 + i] & np.uint8(1)) << i
            R[r * nwr + k] = word
    return R, nwr


@njit(cache=True)
def _offsets(Wp):
    off = np.empty(8, np.int64)
    for k in range(8):
        off[k] = DR[k] * Wp + DC[k]
    return off


@njit(cache=True)
def _trace(grid, off, s, t, Wp):
    """Cells (N, 2) [row, col] (unpadded) from s to t along the direction
    bits of ``grid``."""
    m = 1
    k = t
    while k != s:
        k -= off[(grid[k] >> 2) & 7]
        m += 1
    path = np.empty((m, 2), np.int64)
    k = t
    for i in range(m - 1, -1, -1):
        rr = k // Wp
        path[i, 0] = rr - 1
        path[i, 1] = k - rr * Wp - 1
        if i > 0:
            k -= off[(grid[k] >> 2) & 7]
    return path


@njit(cache=True)
def dial_target(grid, h, w, sr, sc, gr, gc, cap):
    """Exact A* (Dial buckets) under the target rule with unit costs on the
    padded state grid (modified).  Returns (path, unit cost, expansions,
    ok); an empty path and inf when the goal is unreachable; ok is False
    when a bucket outgrew ``cap`` entries (the caller retries with a larger
    ``cap`` on a fresh grid: growing inside the loop costs a reference-count
    update on every array access in numba)."""
    Wp = w + 2
    inv_w = 1.0 / Wp
    off = _offsets(Wp)
    g = np.empty((h + 2) * Wp, np.int32)
    stk = np.empty((3, cap), np.int32)
    sz = np.zeros(3, np.int64)
    tr = gr + 1
    tc = gc + 1
    s = (sr + 1) * Wp + sc + 1
    t = tr * Wp + tc
    g[s] = 0
    grid[s] = OPEN
    f = max(abs(sr - gr), abs(sc - gc))
    b = f % 3
    stk[b, 0] = s
    sz[b] = 1
    nexp = 0
    found = False
    while True:
        if sz[b] == 0:
            b1 = b + 1 if b < 2 else 0
            if sz[b1] > 0:
                b = b1
                continue
            b2 = b1 + 1 if b1 < 2 else 0
            if sz[b2] > 0:
                b = b2
                continue
            break
        sz[b] -= 1
        cur = stk[b, sz[b]]
        if grid[cur] & 3 == CLOSED:
            continue
        if cur == t:
            found = True
            break
        grid[cur] = (grid[cur] & 0xFC) | CLOSED
        nexp += 1
        if sz[0] + 8 > cap or sz[1] + 8 > cap or sz[2] + 8 > cap:
            return np.empty((0, 2), np.int64), np.inf, nexp, False
        ng = g[cur] + 1
        rr = row_of(cur, Wp, inv_w)
        dr0 = rr - tr
        dc0 = cur - rr * Wp - tc
        for k in range(8):
            nb = cur + off[k]
            st = grid[nb] & 3
            if st >= CLOSED:
                continue
            if st == OPEN and ng >= g[nb]:
                continue
            g[nb] = ng
            grid[nb] = np.uint8(OPEN | (k << 2))
            hr = abs(dr0 + DR[k])
            hc = abs(dc0 + DC[k])
            fb = (ng + (hr if hr > hc else hc)) % 3
            stk[fb, sz[fb]] = nb
            sz[fb] += 1
    if not found:
        return np.empty((0, 2), np.int64), np.inf, nexp, True
    return _trace(grid, off, s, t, Wp), np.float64(g[t]), nexp, True


@njit(cache=True, inline="always", fastmath={"contract"})
def _octile(dr, dc):
    """Octile distance of a cell offset (dr, dc) >= 0, in unit costs."""
    return max(dr, dc) + (SQRT2 - 1.0) * min(dr, dc)


@njit(cache=True, inline="always")
def _bucket_push(stk, sz, cell, bi, maxsz):
    """Push ``cell`` on bucket ``bi`` (absolute index; ring slot bi mod NB);
    returns the new high-water mark of the bucket sizes."""
    fs = U64(bi & (NB - 1))
    m = sz[fs]
    stk[fs, U64(m)] = cell
    sz[fs] = m + 1
    return max(maxsz, m + 1)


# contract: FMA in the octile and bucket arithmetic (~1%); it changes only
# the last bit of f, far below the 1/16 bucket width and the 1e-12 tolerance
@njit(cache=True, fastmath={"contract"})
def bucket_geometric(grid, h, w, sr, sc, gr, gc, cap):
    """Optimal A* under the geometric rule (no corner cutting) with unit
    costs on the padded state grid (modified), bucket queue with
    reopening.  Returns (path, unit cost, expansions, ok) as dial_target.

    Speed (each step measured on the 1024^2 25%-clutter map of
    benchmarks/planning.py, where A* must expand the ~353k cells with
    f < C*): array indices are unsigned (numba then emits no
    negative-index wraparound code: -11%); a neighbour that lands in the
    current bucket is expanded next without a push/pop (-8%); the cell
    below the top of the current bucket, the likely next pop, has its grid
    and g rows prefetched (-6%); neighbour octile offsets are computed only
    on a push (fewer live registers: -2%).  Tried and dropped (slower):
    g packed as exact (straight, diagonal) step counts in a uint32, alone
    or with the state bits; branch-free relaxation; a neighbour bit mask
    walked with cttz; labelling a diagonal neighbour through an already
    labelled corner cell (halves the stale pops, costs more than it saves);
    tagging closed cells with their bucket to skip their g load; holding
    the lowest-bucket neighbour instead of a current-bucket one; diagonal
    moves first; one 4-byte load per grid row (store-forwarding stalls);
    a transposed bucket array; bucket widths 1/1, 1/2, 1/4, 1/8; canonical
    (jump-point-style) successor pruning by arrival direction, as a mask
    (+4%) or a table-driven loop (+58%); (row, col) stack entries instead
    of row_of (+5%); blocked as 0xFF to drop the state masks (+2.5%).

    Round 2 (kernel alone, A/B interleaved in one process, 40-60 rounds;
    the machine is shared, so about +-1% is noise): kept: relabel test
    g + eps < old g, one add per expansion off the load-compare-branch
    path (-1.6%); raw neighbour state bytes without masks (only blocked is
    3, only unseen 0: -2 to -3%); close as st + 1 (-1.1 to -1.6%); no
    open-entry counter, an empty bucket scans the ring instead (-1%); the
    next pop's own grid row prefetched too (-1%); a diagonal tested for
    unseen before blocked (-0.9%); 'st & 2' as the stale
    test (neutral).  Dropped: huge pages (g, grid and stacks from a
    MADV_HUGEPAGE mmap, THP confirmed in smaps: <0.5%, noise; no page
    faults to save either, glibc reuses the freed heap); g, stacks passed
    in instead of allocated here (+6%: numba cannot tell they do not
    alias); the grid built inside this kernel (+1%); one fused float64 g
    (+inf unseen, NaN blocked, sign = closed; parents recovered from g):
    kernel equal when g is warm, +6% in the benchmark's interleaving, and
    filling 8 bytes a cell costs 0.6-1.1 ms against 0.3 ms for the byte
    grid; flat power-of-two bucket stacks with a shift (+6%: the stack
    tops alias in the cache sets); buckets 1/32 (neutral); float octile
    offsets (+3%); diagonal states loaded before the orthogonal stores
    (+4%); removing a relabelled cell's old entry from its bucket's top
    (+23%); capacity checked at each push instead of a high-water mark
    (+1.5%); found folded into gt (+1.5%); prefetching the held cell's
    far row (+4%); prefetching two below the top (neutral); diagonal
    conditions as one bitwise test (+5%); the bucket index as g * 16 +
    16 octile (neutral); an orthogonal cell tested for unseen before
    blocked, in one condition (+2%); the next pop's prefetch without its
    m > 0 branch (+4%)."""
    Wp = w + 2
    inv_w = 1.0 / Wp
    off = _offsets(Wp)
    g = np.empty((h + 2) * Wp, np.float64)
    stk = np.empty((NB, cap), np.int32)
    sz = np.zeros(NB, np.int64)
    tr = gr + 1
    tc = gc + 1
    s = (sr + 1) * Wp + sc + 1
    t = tr * Wp + tc
    h0 = _octile(abs(sr - gr), abs(sc - gc))
    g[U64(s)] = 0.0
    grid[U64(s)] = OPEN
    cb = np.int64(h0 * DELTA_INV)         # absolute index of the current bucket
    stk[U64(cb & (NB - 1)), U64(0)] = s
    sz[U64(cb & (NB - 1))] = 1
    maxsz = 1
    nexp = 0
    found = False
    gt = np.inf
    eps = 1e-12 * (h0 + 1.0)
    wp = U64(Wp)
    one = U64(1)
    nxt = np.int64(-1)                    # held cell to expand next, or -1
    while True:
        if nxt >= 0:
            cur = nxt
            nxt = -1
        else:
            slot = U64(cb & (NB - 1))
            m = sz[slot]
            if m == 0:
                # on to the next non-empty bucket; none in the ring: the
                # open list is empty (every f lies within NB buckets of cb)
                k = 1
                while k < NB and sz[U64((cb + k) & (NB - 1))] == 0:
                    k += 1
                if k == NB:
                    break
                cb += k
                if found and cb / DELTA_INV >= gt:
                    break
                continue
            m -= 1
            sz[slot] = m
            cur = np.int64(stk[slot, U64(m)])
            if m > 0:
                pn = U64(stk[slot, U64(m - 1)])
                prefetch(grid, pn - wp)
                prefetch(grid, pn)
                prefetch(grid, pn + wp)
                prefetch(g, pn - wp)
                prefetch(g, pn)
                prefetch(g, pn + wp)
        uc = U64(cur)
        st = grid[uc]
        # a stacked cell is OPEN (1) or CLOSED (2), never UNSEEN or BLOCKED:
        # bit 1 alone tells them apart (one test instruction)
        if st & 2:
            continue
        gcur = g[uc]
        if cur == t:
            found = True
            gt = gcur
            grid[uc] = st + 1                 # OPEN (1) -> CLOSED (2), direction kept
            continue
        rr = row_of(cur, Wp, inv_w)
        dr0 = rr - tr
        dc0 = cur - rr * Wp - tc
        if found and gcur + _octile(abs(dr0), abs(dc0)) >= gt - eps:
            continue
        grid[uc] = st + 1                 # OPEN (1) -> CLOSED (2), direction kept
        nexp += 1
        if maxsz + 8 > cap:
            return np.empty((0, 2), np.int64), np.inf, nexp, False
        g1 = gcur + 1.0
        g2 = gcur + SQRT2
        # relabel when the new g beats the old by more than eps: g + eps < old
        # (one add per expansion instead of a subtract per neighbour)
        g1e = g1 + eps
        g2e = g2 + eps
        # raw state bytes: only a blocked cell's byte is 3 and only an unseen
        # one's is 0 (open and closed ones carry direction bits: 1 + 4k,
        # 2 + 4k), so the tests below need no state mask
        sn = grid[uc - wp]
        ss = grid[uc + wp]
        sw = grid[uc - one]
        se = grid[uc + one]
        # direction k's bits: OPEN | k << 2 (k as in DR/DC).  A cell whose f lands
        # in the current bucket is held in nxt (when free) and expanded next
        # without a push and pop: LIFO order would pop it next anyway, and its
        # neighbourhood is hot in cache.
        if sn != BLOCKED:
            nb = uc - wp
            if sn == UNSEEN or g1e < g[nb]:
                g[nb] = g1
                grid[nb] = 1
                bi = max(np.int64((g1 + _octile(abs(dr0 - 1), abs(dc0))) * DELTA_INV), cb)
                if bi == cb and nxt < 0:
                    nxt = np.int64(nb)
                else:
                    maxsz = _bucket_push(stk, sz, np.int32(nb), bi, maxsz)
        if ss != BLOCKED:
            nb = uc + wp
            if ss == UNSEEN or g1e < g[nb]:
                g[nb] = g1
                grid[nb] = 5
                bi = max(np.int64((g1 + _octile(abs(dr0 + 1), abs(dc0))) * DELTA_INV), cb)
                if bi == cb and nxt < 0:
                    nxt = np.int64(nb)
                else:
                    maxsz = _bucket_push(stk, sz, np.int32(nb), bi, maxsz)
        if sw != BLOCKED:
            nb = uc - one
            if sw == UNSEEN or g1e < g[nb]:
                g[nb] = g1
                grid[nb] = 9
                bi = max(np.int64((g1 + _octile(abs(dr0), abs(dc0 - 1))) * DELTA_INV), cb)
                if bi == cb and nxt < 0:
                    nxt = np.int64(nb)
                else:
                    maxsz = _bucket_push(stk, sz, np.int32(nb), bi, maxsz)
        if se != BLOCKED:
            nb = uc + one
            if se == UNSEEN or g1e < g[nb]:
                g[nb] = g1
                grid[nb] = 13
                bi = max(np.int64((g1 + _octile(abs(dr0), abs(dc0 + 1))) * DELTA_INV), cb)
                if bi == cb and nxt < 0:
                    nxt = np.int64(nb)
                else:
                    maxsz = _bucket_push(stk, sz, np.int32(nb), bi, maxsz)
        # a diagonal needs both orthogonal cells it passes free (no corner cutting)
        if sn != BLOCKED and sw != BLOCKED:
            nb = uc - wp - one
            sd = grid[nb]
            if sd == UNSEEN or (sd != BLOCKED and g2e < g[nb]):
                g[nb] = g2
                grid[nb] = 17
                bi = max(np.int64((g2 + _octile(abs(dr0 - 1), abs(dc0 - 1))) * DELTA_INV), cb)
                if bi == cb and nxt < 0:
                    nxt = np.int64(nb)
                else:
                    maxsz = _bucket_push(stk, sz, np.int32(nb), bi, maxsz)
        if sn != BLOCKED and se != BLOCKED:
            nb = uc - wp + one
            sd = grid[nb]
            if sd == UNSEEN or (sd != BLOCKED and g2e < g[nb]):
                g[nb] = g2
                grid[nb] = 21
                bi = max(np.int64((g2 + _octile(abs(dr0 - 1), abs(dc0 + 1))) * DELTA_INV), cb)
                if bi == cb and nxt < 0:
                    nxt = np.int64(nb)
                else:
                    maxsz = _bucket_push(stk, sz, np.int32(nb), bi, maxsz)
        if ss != BLOCKED and sw != BLOCKED:
            nb = uc + wp - one
            sd = grid[nb]
            if sd == UNSEEN or (sd != BLOCKED and g2e < g[nb]):
                g[nb] = g2
                grid[nb] = 25
                bi = max(np.int64((g2 + _octile(abs(dr0 + 1), abs(dc0 - 1))) * DELTA_INV), cb)
                if bi == cb and nxt < 0:
                    nxt = np.int64(nb)
                else:
                    maxsz = _bucket_push(stk, sz, np.int32(nb), bi, maxsz)
        if ss != BLOCKED and se != BLOCKED:
            nb = uc + wp + one
            sd = grid[nb]
            if sd == UNSEEN or (sd != BLOCKED and g2e < g[nb]):
                g[nb] = g2
                grid[nb] = 29
                bi = max(np.int64((g2 + _octile(abs(dr0 + 1), abs(dc0 + 1))) * DELTA_INV), cb)
                if bi == cb and nxt < 0:
                    nxt = np.int64(nb)
                else:
                    maxsz = _bucket_push(stk, sz, np.int32(nb), bi, maxsz)
    if not found:
        return np.empty((0, 2), np.int64), np.inf, nexp, True
    return _trace(grid, off, s, t, Wp), gt, nexp, True



@njit(cache=True, inline="always")
def _weight_at(weights, h, w, r, c):
    """weights[r, c], or +inf off the (h, w) grid: the grid read as if it
    had a blocked one-cell border."""
    if r < 0 or r >= h or c < 0 or c >= w:
        return INF32
    return weights[r, c]


@njit(cache=True)
def bucket_weighted(weights, h, w, sr, sc, gr, gc, allow_diagonal, rule, wmin, wmax, cap):
    """Optimal A* on the (h, w) float32 weight grid ``weights`` (not
    modified nor copied; checked by _astar_kernels.check_range) with any
    weights >= 1, bucket queue with reopening.  ``rule`` 0 geometric (no
    corner cutting), 1 target.  Cells are numbered as in a grid padded by
    a blocked one-cell border (flat index (row + 1) * (w + 2) + col + 1),
    which ``_weight_at`` gives when a neighbour is off the grid.

    Along a move f rises by at most (step + heuristic change) <=
    SQRT2 * (wmax + wmin), so a ring of NBW buckets of width ``delta`` >=
    wmin / 16 covers the open list.  Buckets are singly linked lists in an
    entry pool of ``cap`` entries with a free list.  Returns (path, cost,
    expansions, ok); ok is False when the pool ran out (the caller retries
    with a larger ``cap``: growing inside the loop costs a reference-count
    update on every array access in numba)."""
    Wp = w + 2
    inv_w = 1.0 / Wp
    ncell = (h + 2) * Wp
    NBW = 4096
    state = np.zeros(ncell, np.uint8)     # 0 unseen, 1 open, 2 closed
    g = np.empty(ncell, np.float64)
    parent = np.empty(ncell, np.int32)
    span = SQRT2 * (wmax + wmin) if allow_diagonal else (wmax + wmin)
    delta = max(wmin / 16.0, span / (NBW - 4))
    inv = 1.0 / delta
    head = np.full(NBW, -1, np.int32)
    ecell = np.empty(cap, np.int32)
    enext = np.empty(cap, np.int32)
    used = 0
    free = -1
    tr = gr + 1
    tc = gc + 1
    s = (sr + 1) * Wp + sc + 1
    t = tr * Wp + tc
    octile = allow_diagonal and rule == 0
    a = abs(sr - gr)
    b = abs(sc - gc)
    if not allow_diagonal:
        h0 = a + b
    elif octile:
        h0 = max(a, b) + (SQRT2 - 1.0) * min(a, b)
    else:
        h0 = max(a, b)
    eps = 1e-12 * (h0 * wmin + wmax)
    g[s] = 0.0
    parent[s] = -1
    state[s] = 1
    cb = np.int64(h0 * wmin * inv)
    ecell[0] = s
    enext[0] = -1
    used = 1
    head[cb & (NBW - 1)] = 0
    n_open = 1
    nexp = 0
    found = False
    gt = np.inf
    ndir = 8 if allow_diagonal else 4
    while n_open > 0:
        slot = cb & (NBW - 1)
        i = head[slot]
        if i < 0:
            cb += 1
            if found and cb * delta >= gt:
                break
            continue
        head[slot] = enext[i]
        cur = ecell[i]
        enext[i] = free
        free = i
        n_open -= 1
        if state[cur] == 2:
            continue
        gcur = g[cur]
        if cur == t:
            found = True
            gt = gcur
            state[cur] = 2
            continue
        rr = row_of(cur, Wp, inv_w)
        cc = cur - rr * Wp
        dr0 = rr - tr
        dc0 = cc - tc
        if found:
            ar = abs(dr0)
            ac = abs(dc0)
            if not allow_diagonal:
                hc = ar + ac
            elif octile:
                hc = max(ar, ac) + (SQRT2 - 1.0) * min(ar, ac)
            else:
                hc = max(ar, ac)
            if gcur + hc * wmin >= gt - eps:
                continue
        state[cur] = 2
        nexp += 1
        if n_open + 8 > cap:     # free list + unused pool < 8 entries
            return np.empty((0, 2), np.int64), np.inf, nexp, False
        ur = rr - 1               # the cell's row and column on the grid
        uc = cc - 1
        wc = np.float64(weights[ur, uc])
        for k in range(ndir):
            dr = DR[k]
            dc = DC[k]
            nb = cur + dr * Wp + dc
            v = _weight_at(weights, h, w, ur + dr, uc + dc)
            if v == INF32:
                continue
            wn = np.float64(v)
            if k >= 4:
                if rule == 0:
                    if (_weight_at(weights, h, w, ur + dr, uc) == INF32
                            or _weight_at(weights, h, w, ur, uc + dc) == INF32):
                        continue
                    ng = gcur + 0.5 * (wc + wn) * SQRT2
                else:
                    ng = gcur + wn
            elif rule == 0:
                ng = gcur + 0.5 * (wc + wn)
            else:
                ng = gcur + wn
            st = state[nb]
            if st != 0 and ng >= g[nb] - eps:
                continue
            g[nb] = ng
            parent[nb] = cur
            state[nb] = 1
            hr = abs(dr0 + dr)
            hc = abs(dc0 + dc)
            if not allow_diagonal:
                hh = hr + hc
            elif octile:
                hh = hr + (SQRT2 - 1.0) * hc if hr > hc else hc + (SQRT2 - 1.0) * hr
            else:
                hh = hr if hr > hc else hc
            bi = np.int64((ng + hh * wmin) * inv)
            if bi < cb:
                bi = cb
            elif bi >= cb + NBW:
                bi = cb + NBW - 1
            if free >= 0:
                e = free
                free = enext[e]
            else:
                e = used
                used += 1
            fs = bi & (NBW - 1)
            ecell[e] = nb
            enext[e] = head[fs]
            head[fs] = e
            n_open += 1
    if not found:
        return np.empty((0, 2), np.int64), np.inf, nexp, True
    return _trace_parent(parent, s, t, Wp), gt, nexp, True
