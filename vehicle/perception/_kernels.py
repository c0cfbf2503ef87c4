"""Numba kernels for the occupancy grid (no Python objects, no allocation in
per-cell loops).  The validating Python front is ``occupancy.py``.

Grid traversal
--------------
Beams are traced with an exact 4-connected grid traversal (Amanatides & Woo)
done in integer fixed point: positions are quantised to ``1 / FP_SCALE`` of a
cell (1/65536 of a cell, under a micrometre at 5 cm) by flooring, which keeps
every point in the cell it was in, and the crossing order is then decided by
an integer error term, exactly.  A crossing of a cell boundary in the
negative direction happens just *after* the ray reaches the boundary (a point
on a boundary belongs to the upper cell, as ``floor`` says), which fixes the
order of ties and guarantees the walk ends in the cell of the end point.

The loop body is branch-free: a few integer operations, one load, one
table look-up and one store per cell.  The x-or-y choice of each step is a
sign mask, not a select: LLVM turns a select in an unrolled loop into a
branch, and on the short walks of an indoor scan that branch mispredicts.
A walk's state (the error term's top bits over the flat index) is one
int64 (``_pack``), so that two walks side by side fit in the registers.
Beams that fan out from the sensor share their near field: it is filled
once, row by row, and each beam walks on from its exact traversal state
(see ``integrate_scan_kernel``), so the cells and the grid are the same as
walking every beam.  The walks beyond a near field go two at a time (two
independent dependency chains the core overlaps).  The end points of all
beams are computed first in a branch-free loop that vectorises.

Update rule (per scan)
----------------------
Each scan is one measurement: every cell it touches is updated once per scan
(the inverse sensor model of Thrun et al., *Probabilistic Robotics*, Table
9.1, and OctoMap's key-set insertion).  A cell where any beam ends on a
return is occupied this scan (occupied wins over free); every other cell a
beam crosses is free.  A per-cell stamp (the top bits of the packed cell)
records which scan touched a cell last, so cells near the sensor crossed by
hundreds of beams are updated once per scan.  The free update is a table
look-up (``free_update_table``): a cell already stamped with this scan's
stamp is left as it is, any other is stamped and updated.  Stamps cycle
through 1..MAX_STAMP; before one is reused, the stamp bits are cleared in the
box of the cells the scans since the last clearing touched.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from edgepilot.vehicle._prefetch import prefetch_l2

FP_SHIFT = 16
FP_SCALE = 1 << FP_SHIFT
LOGODDS_ONE = 1 << 7       # fixed-point log-odds: 1.0 == 128 (12-bit field, |l| < 16)
# Packed cell (int16, 2 bytes a cell so a 1000 x 1000 grid fits in a core's
# L2): bits 12..14 the stamp of the last scan that touched the cell (0..7),
# bits 0..11 the log-odds in fixed point plus LO_BIAS.
STAMP_SHIFT = 12
LO_MASK = (1 << 12) - 1
LO_BIAS = 1 << 11
MAX_STAMP = 7


@njit(cache=True, inline="always")
def _quantise(v):
    """Grid-frame coordinate in fixed-point units (float64) -> int64 floor."""
    return np.int64(math.floor(v))


@njit(cache=True, inline="always")
def beam_direction(cos_a, sin_a, cos_yaw, sin_yaw):
    """The map-frame unit direction (dx, dy) of a beam at sensor-frame
    angle a (``cos_a``, ``sin_a``: its unit vector) from a sensor at yaw
    (``cos_yaw``, ``sin_yaw``): the beam's vector turned by the yaw, (cos,
    sin) of yaw + a to a few ulp without a cos and sin per beam.  The one
    rule of the scan integration, the clustering and the simulated lidar
    (``sim.sensors.lidar``)."""
    return cos_a * cos_yaw - sin_a * sin_yaw, sin_a * cos_yaw + cos_a * sin_yaw


@njit(cache=True)
def _beam_end_fp(fx0, fy0, cos_a, sin_a, rng, scale, w_fp, h_fp):
    """End point of a beam of length ``rng`` metres from (fx0, fy0) (grid
    frame, fixed-point units as float64) clipped to the grid box.
    Returns (fx1, fy1, clipped)."""
    dx = cos_a * rng * scale
    dy = sin_a * rng * scale
    fx1 = fx0 + dx
    fy1 = fy0 + dy
    # most beams end inside the grid: no divisions for them
    if 0.0 <= fx1 <= w_fp - 1.0 and 0.0 <= fy1 <= h_fp - 1.0:
        return fx1, fy1, False
    t = 1.0
    if dx > 0.0:
        tt = (w_fp - 1.0 - fx0) / dx
        if tt < t:
            t = tt
    elif dx < 0.0:
        tt = -fx0 / dx
        if tt < t:
            t = tt
    if dy > 0.0:
        tt = (h_fp - 1.0 - fy0) / dy
        if tt < t:
            t = tt
    elif dy < 0.0:
        tt = -fy0 / dy
        if tt < t:
            t = tt
    fx1 = fx0 + t * dx
    fy1 = fy0 + t * dy
    # Rounding can push a clipped point a hair outside; clamp it back.
    fx1 = min(max(fx1, 0.0), w_fp - 1.0)
    fy1 = min(max(fy1, 0.0), h_fp - 1.0)
    return fx1, fy1, t < 1.0


@njit(cache=True, inline="always")
def _dda_setup(X0, Y0, X1, Y1, width):
    """Integer traversal set-up between fixed-point points (int64).

    Returns (idx0, n_steps, e, tie, step_x_idx, step_y_idx, add_x, sub_y):
    start flat index, number of steps to the end cell, the error term, the
    tie threshold (step x when e < tie), the flat-index increments of an
    x and a y step, and the error increments."""
    c0 = X0 >> FP_SHIFT
    r0 = Y0 >> FP_SHIFT
    c1 = X1 >> FP_SHIFT
    r1 = Y1 >> FP_SHIFT
    adx = X1 - X0
    ady = Y1 - Y0
    if adx >= 0:
        sx = 1
        dist_x = ((c0 + 1) << FP_SHIFT) - X0
    else:
        sx = -1
        adx = -adx
        dist_x = X0 - (c0 << FP_SHIFT)
    if ady >= 0:
        sy = 1
        dist_y = ((r0 + 1) << FP_SHIFT) - Y0
    else:
        sy = -1
        ady = -ady
        dist_y = Y0 - (r0 << FP_SHIFT)
    # x boundary first when dist_x / adx < dist_y / ady.
    e = dist_x * ady - dist_y * adx
    # Ties (exact corner): a negative-direction crossing happens just after
    # the boundary is reached, so with x negative and y positive y goes
    # first; otherwise x goes first.
    tie = 0 if (sx < 0 and sy > 0) else 1
    n = abs(c1 - c0) + abs(r1 - r0)
    return (r0 * width + c0, n, e, tie, sx, sy * width,
            ady << FP_SHIFT, adx << FP_SHIFT)


@njit(cache=True)
def trace_cells_kernel(X0, Y0, X1, Y1, width, out):
    """Write the flat cell indices of the traversal into ``out`` (length at
    least n_steps + 1); return the count."""
    idx, n, e, tie, six, siy, ax, ay = _dda_setup(X0, Y0, X1, Y1, width)
    for k in range(n):
        out[k] = idx
        m = e < tie
        idx += six if m else siy
        e += ax if m else -ay
    out[n] = idx
    return n + 1


@njit(cache=True, inline="always")
def _free_run_f(g, idx, n, f, siy, dsi, ay, dse, lut):
    """``_free_run`` from the state f = e - tie, dsi = six - siy,
    dse = ax + ay.  Branch-free on purpose (m = -1 for an x step, else 0):
    the x/y choice is data-dependent, and as a branch (LLVM turns a select
    in an unrolled loop into one) it mispredicts on the short walks beyond
    a shared near field, ~25% of an indoor scan."""
    for k in range(n):
        u = np.uint64(idx)
        g[u] = lut[g[u]]
        m = f >> 63
        idx += siy + (dsi & m)
        f += (dse & m) - ay


@njit(cache=True, inline="always")
def _free_run(g, idx, n, e, tie, six, siy, ax, ay, lut):
    """Free update (``lut``, see ``free_update_table``) of the ``n`` cells of
    a traversal from state (idx, e).  ``g`` is the grid viewed as uint16;
    indexing with unsigned integers spares numba's negative-index fix-up."""
    _free_run_f(g, idx, n, e - tie, siy, six - siy, ay, ax + ay, lut)


_PACK = 1 << 32            # packed walk state: (f >> FP_SHIFT) * _PACK + flat index
_PACK_LIMIT = 1 << 46      # ax, ay (fixed point << FP_SHIFT) below this keep f >> FP_SHIFT in int32


@njit(cache=True, inline="always")
def _pack(idx, f, siy, dsi, ay, dse):
    """The state (idx, f) of ``_free_run_f`` as one int64 P = F * _PACK +
    idx, F = f >> FP_SHIFT, and its two steps: SY (a y step: F -= ay >>
    FP_SHIFT, idx += siy) and DS (added on an x step).  ax and ay are
    multiples of 2**FP_SHIFT, so a walk never changes f's low FP_SHIFT bits
    and f < 0 exactly when F < 0, that is when P < 0 (0 <= idx < 2**32;
    |F| < 2**31 when ax, ay < _PACK_LIMIT).  Returns (P, SY, DS)."""
    return ((f >> FP_SHIFT) * _PACK + idx, siy - (ay >> FP_SHIFT) * _PACK,
            dsi + (dse >> FP_SHIFT) * _PACK)


@njit(cache=True, inline="always")
def _free_run_p(g, P, n, SY, DS, lut):
    """``_free_run_f`` on the packed state of ``_pack``: one register a
    walk instead of two, and no shared step registers, so that two walks
    side by side fit in the core's registers."""
    for k in range(n):
        u = np.uint64(P & 0xFFFFFFFF)
        g[u] = lut[g[u]]
        P += SY + (DS & (P >> 63))


@njit(cache=True, inline="always")
def _free_run_pair(g, Pa, na, SYa, DSa, Pb, nb, SYb, DSb, lut):
    """Two packed walks (``_pack``) interleaved: their dependency chains are
    independent, so the core overlaps them.  The free update is idempotent
    within a scan, so the order of the cells does not change the grid.
    ``na``, ``nb`` >= 0 (the cells left after the K-th major step; the
    caller's K and minor offset never exceed the beam's own)."""
    nn = na if na < nb else nb
    for k in range(nn):
        ua = np.uint64(Pa & 0xFFFFFFFF)
        g[ua] = lut[g[ua]]
        ub = np.uint64(Pb & 0xFFFFFFFF)
        g[ub] = lut[g[ub]]
        Pa += SYa + (DSa & (Pa >> 63))
        Pb += SYb + (DSb & (Pb >> 63))
    if na > nn:
        _free_run_p(g, Pa, na - nn, SYa, DSa, lut)
    elif nb > nn:
        _free_run_p(g, Pb, nb - nn, SYb, DSb, lut)


_ROW_SPAN = 32             # cells of a near-field row updated at a time: one 512-bit vector of int16


@njit(cache=True, inline="always")
def _free_span(g, s, m, C, l_free, l_min):
    """Free update (as ``_free_row``) of the cells s .. s + m - 1 of ``g``,
    0 < m <= _ROW_SPAN (int16), reading the _ROW_SPAN cells from s
    (s + _ROW_SPAN <= g.size): a loop of constant length, which LLVM turns
    into whole vectors, the cells from m on stored as they were (a masked
    store, where the machine has one: they are not written)."""
    for t in range(_ROW_SPAN):
        u = s + np.uint64(t)
        v = g[u]
        lo = np.int16((v & LO_MASK) + l_free)
        lo = lo if lo > l_min else l_min
        cand = np.int16(C | lo)
        cand = cand if cand > v else v
        g[u] = cand if np.int16(t) < m else v


@njit(cache=True, inline="always")
def _free_row(g, start, n, C, l_free, l_min):
    """Free update of the ``n`` cells start, start + 1, ... of the int16
    grid ``g`` (arithmetic, not the table, so that it vectorises),
    _ROW_SPAN cells at a time (``_free_span``): the rows of a near field
    are short, mostly fewer than _ROW_SPAN cells, which a plain loop over
    them would do one by one.  ``C``, ``l_free``, ``l_min`` are int16
    (``_fill_consts``): every value in the loop then fits 16 bits, and the
    truncations to int16 let LLVM vectorise with 16-bit lanes."""
    s = np.uint64(start)
    left = np.int64(n)
    last = np.int64(g.shape[0]) - _ROW_SPAN       # the last span start inside the grid
    while left > 0:
        if np.int64(s) <= last:
            _free_span(g, s, np.int16(left if left < _ROW_SPAN else _ROW_SPAN), C, l_free, l_min)
        else:                                      # the grid's last cells: one by one
            for u in range(s, s + np.uint64(left)):
                v = g[u]
                lo = np.int16((v & LO_MASK) + l_free)
                lo = lo if lo > l_min else l_min
                cand = np.int16(C | lo)
                g[u] = cand if cand > v else v
            break
        s += np.uint64(_ROW_SPAN)
        left -= _ROW_SPAN


@njit(cache=True, inline="always")
def _fill_consts(cur, l_free, l_min):
    """int16 (C, l_free, l_min) for ``_free_row``: the stamp bits of scan
    ``cur``, l_free no lower than -(LO_MASK + 1) (the same updates: a cell's
    log-odds field is at most LO_MASK, so from there on lo + l_free < 0 <=
    l_min and the clamp to l_min decides), l_min (+ LO_BIAS, in 0..LO_MASK)."""
    lf = l_free if l_free > -(LO_MASK + 1) else -(LO_MASK + 1)
    return np.int16(cur << STAMP_SHIFT), np.int16(lf), np.int16(l_min)


@njit(cache=True, inline="always")
def _first_major(e, ax, ay, tie, xmajor):
    """Minor-axis steps a traversal from state e takes before its first
    major step, and its error term just after that step."""
    j = 0
    if xmajor:
        while e >= tie:                 # y steps before the first x step
            e -= ay
            j += 1
        return j, e + ax
    while e < tie:                      # x steps before the first y step
        e += ax
        j += 1
    return j, e - ay


@njit(cache=True, inline="always")
def _major_entries(ea, axa, aya, eb, axb, ayb, tie, K, xmajor, out_a, out_b):
    """out_a[k] = minor-axis steps traversal a (state ea, increments axa,
    aya) takes before its k-th major step, k = 0..K (its walk as
    ``trace_cells_kernel``); out_b the same for traversal b, of the same
    quadrant and major axis (the same tie rule): a fan's two extreme beams,
    side by side in one loop so that their dependency chains overlap.

    Along the major axis a step moves the error term by the smaller of
    ax, ay, so between two major steps there is at most one minor step
    (x-major: after an x step e < tie + ax, and a y step takes it below
    tie - ay + ax <= tie); the loop is branch-free after the first major
    step (sign masks, no mispredicted branches)."""
    out_a[0] = 0
    out_b[0] = 0
    if K < 1:
        return
    ja, ea = _first_major(ea, axa, aya, tie, xmajor)
    jb, eb = _first_major(eb, axb, ayb, tie, xmajor)
    out_a[1] = ja
    out_b[1] = jb
    if xmajor:
        for k in range(2, K + 1):
            ma = ~((ea - tie) >> 63)    # -1: a y step comes first
            mb = ~((eb - tie) >> 63)
            ja -= ma
            jb -= mb
            ea += axa - (aya & ma)
            eb += axb - (ayb & mb)
            out_a[np.uint64(k)] = ja
            out_b[np.uint64(k)] = jb
    else:
        for k in range(2, K + 1):
            ma = (ea - tie) >> 63       # -1: an x step comes first
            mb = (eb - tie) >> 63
            ja -= ma
            jb -= mb
            ea += (axa & ma) - aya
            eb += (axb & mb) - ayb
            out_a[np.uint64(k)] = ja
            out_b[np.uint64(k)] = jb


@njit(cache=True, inline="always")
def _minor_before(e0, ax, ay, tie, k, xmajor):
    """Minor-axis steps a traversal takes before its k-th (k >= 1) major
    step.  x-major: y-steps before the k-th x-step, the smallest j >= 0 with
    e0 + (k-1) ax - j ay < tie.  y-major: x-steps before the k-th y-step,
    the smallest j >= 0 with e0 + j ax - (k-1) ay >= tie."""
    if xmajor:
        j = (e0 + (k - 1) * ax - tie) // ay + 1
    else:
        j = -((e0 - (k - 1) * ay - tie) // ax)
    return j if j > 0 else 0


@njit(cache=True, inline="always")
def _minor_before_near(e0, ax, ay, tie, k, xmajor, guess):
    """``_minor_before`` without a division, from a guess (the answer of
    the beam before in a fan, which differs by at most one): the answer is
    the smallest j >= 0 with j * D >= T, found by one branch-free step from
    the guess and loops that make it exact whatever the guess."""
    if xmajor:
        D = ay
        T = e0 + (k - 1) * ax - tie + 1
    else:
        D = ax
        T = tie - e0 + (k - 1) * ay
    j = guess
    j += np.int64(j * D < T) - np.int64((j > 0) & ((j - 1) * D >= T))
    while j * D < T:
        j += 1
    while j > 0 and (j - 1) * D >= T:
        j -= 1
    return j


@njit(cache=True, inline="always")
def _walk_on(X0, Y0, X1, Y1, width, end_cell, K, xmajor, guess):
    """The state of a fan's beam at its K-th major step, packed for
    ``_free_run_p`` / ``_free_run_pair`` (``_pack``): (P, cells left (the
    end cell too when ``end_cell``), SY, DS, minor steps before the K-th
    major step).  ``guess``: that count for a neighbouring
    beam of the fan (``_minor_before_near``), or < 0 (a division)."""
    idx, n, e, tie, six, siy, ax, ay = _dda_setup(X0, Y0, X1, Y1, width)
    if end_cell:
        n += 1
    if guess < 0:
        mj = _minor_before(e, ax, ay, tie, K, xmajor)
    else:
        mj = _minor_before_near(e, ax, ay, tie, K, xmajor, guess)
    if xmajor:
        idx += K * six + mj * siy
        e += K * ax - mj * ay
    else:
        idx += mj * six + K * siy
        e += mj * ax - K * ay
    P, SY, DS = _pack(idx, e - tie, siy, six - siy, ay, ax + ay)
    return P, n - K - mj, SY, DS, mj


@njit(cache=True, inline="always")
def _fan_extremes(end_x, end_y, X0, Y0, i, j, xmajor):
    """The beams of least and of largest slope (minor over major extent,
    from the sensor at (X0, Y0) to the end points) among beams i..j - 1
    of a fan (one quadrant and major axis): (i_min, i_max), the first of
    each (exact integer comparisons of the slopes' fractions)."""
    i_min = i
    i_max = i
    for b in range(i + 1, j):
        dx = abs(end_x[b] - X0)
        dy = abs(end_y[b] - Y0)
        na = dy if xmajor else dx
        nb = dx if xmajor else dy
        dx = abs(end_x[i_min] - X0)
        dy = abs(end_y[i_min] - Y0)
        if na * (dx if xmajor else dy) < (dy if xmajor else dx) * nb:
            i_min = b
        dx = abs(end_x[i_max] - X0)
        dy = abs(end_y[i_max] - Y0)
        if na * (dx if xmajor else dy) > (dy if xmajor else dx) * nb:
            i_max = b
    return i_min, i_max


_FAN_LIMIT = 1 << 30       # |end - start| below this (fixed point): int64 fan arithmetic, packed walks
_FAN_MIN = 8               # shortest near field worth sharing, cells
_FAN_KEEP = 6              # a fan's near field stays >= _FAN_KEEP / 8 of its first beam's
_FAN_GROW = 12             # a beam that allows _FAN_GROW / 8 of a fan's near field or more starts a new fan


@njit(cache=True, inline="always")
def _prefetch_box(g, w, r0, r1, c0, c1):
    """Prefetch rows r0..r1, cols c0..c1 (inclusive) of the flat (H, W)
    grid ``g``: one hint per 64-byte line of int16 cells, and the last cell."""
    for r in range(r0, r1 + 1):
        base = r * w
        for c in range(c0, c1 + 1, 32):
            prefetch_l2(g, base + c)
        prefetch_l2(g, base + c1)


@njit(cache=True)
def integrate_scan_kernel(cells, cur, fx0, fy0, beams, cos_yaw, sin_yaw, ranges,
                          max_range, clear_no_return, scale, kp, free_lut, scratch, hit, kcap):
    """Integrate one scan in place; returns the number of beams that ended on
    a return inside the grid.

    ``cells`` int16 (H, W) C-contiguous, packed (see STAMP_SHIFT, LO_BIAS).
    ``cur`` is this scan's stamp (1..MAX_STAMP, larger than every stamp in
    the grid).  (fx0, fy0): sensor position in the grid
    frame, fixed-point units (float64).  ``beams`` float64 (2, N): the cos
    and sin of the beam directions in the sensor frame, rotated here by
    (cos_yaw, sin_yaw).
    ranges float32 (N,) metres; max_range metres (float64, compared in
    float32).  ``kp`` int64 (8,): l_free, l_occ, l_min + LO_BIAS,
    l_max + LO_BIAS in fixed point, then the box (below).  free_lut uint16 (MAX_STAMP + 1, 2**15):
    the free update of a packed cell in scan ``cur`` (``free_update_table``).
    ``scratch`` int64, at least ``scan_scratch_size(N, H, W)`` long, and
    ``hit`` uint8 (N,): work space (no allocation per scan).  ``kcap``: the largest near field (cells along the major axis)
    shared by a fan of beams; 0 walks every beam on its own.  The box,
    kp[4:8]: row min, row max, col min, col max of the cells stamped since
    the stamps were last cleared, grown here to cover this scan.

    Packing the stamp with the log-odds makes the per-cell free update one
    load, one table look-up and one store, with no branch.

    Near-field sharing (exact).  Consecutive beams in one quadrant with the
    same major axis (x-major: |dx| >= |dy|) form a fan.  In its first K
    columns (x-major; rows for y-major) a traversal visits, in column k, the
    rows from j(k) to j(k+1), j(k) = ``_minor_before`` its k-th major step,
    a non-decreasing function g of u(k) = ((d_x + (k-1)) |s| - d_y)
    (cells; s the slope, d_x, d_y the distances to the first boundaries,
    shared by the fan) with g(u + 1) <= g(u) + 1.  If adjacent beams'
    slopes differ by at most 1 / (K - 1), their u differ by at most 1 in
    every column k < K, so their row intervals overlap or touch, the union
    over the fan is one interval per column, from j(k) of the beam with the
    least |s| to j(k+1) of the beam with the largest.  That union is filled
    once; each beam then walks on from the exact traversal state at its
    K-th major step (so the same cells, each once, as walking every beam).
    The near fields of all the fans are filled first, then the walks (the
    free updates of a scan commute)."""
    h, w = cells.shape
    g = cells.reshape(h * w)
    cos_b = beams[0]
    sin_b = beams[1]
    lq = kp[:4]
    box = kp[4:8]
    c = np.int32(cur)
    C = np.int32(cur << STAMP_SHIFT)
    l_occ = lq[1]
    l_max = lq[3]
    h_fp = float(h) * (1 << FP_SHIFT)
    w_fp = float(w) * (1 << FP_SHIFT)
    X0 = _quantise(fx0)
    Y0 = _quantise(fy0)
    nb = ranges.shape[0]
    returns = 0
    m_j = max(h, w) + 2
    end_x = scratch[:nb]
    end_y = scratch[nb:2 * nb]
    lo_j = scratch[2 * nb:2 * nb + m_j]
    hi_j = scratch[2 * nb + m_j:2 * nb + 2 * m_j]
    klo = scratch[2 * nb + 2 * m_j:2 * nb + 3 * m_j]
    khi = scratch[2 * nb + 3 * m_j:2 * nb + 4 * m_j]
    f0 = 2 * nb + 4 * m_j
    fan_i = scratch[f0:f0 + nb]                  # the fans' beams i..j - 1 and near fields
    fan_j = scratch[f0 + nb:f0 + 2 * nb]         # (K, negative for a y-major fan), walked
    fan_k = scratch[f0 + 2 * nb:f0 + 3 * nb]     # on after all the near fields
    nf = 0
    # Pass 1a: end points of all beams as if inside the grid, without
    # branches so that the loop vectorises; bit 0 of hit: a return, bit 1:
    # the end point lies inside the grid.
    mr32 = np.float32(max_range)          # ranges are float32: compare in float32
    mrf = float(mr32)
    w_in = w_fp - 1.0
    h_in = h_fp - 1.0
    for i in range(nb):
        r = ranges[i]
        returned = (r > 0.0) & (r < mr32)             # False for NaN too
        rr = float(r) if returned else mrf
        ca, sa = beam_direction(cos_b[i], sin_b[i], cos_yaw, sin_yaw)
        # the arithmetic of _beam_end_fp, so the end points are the same
        fx1 = fx0 + ca * rr * scale
        fy1 = fy0 + sa * rr * scale
        inside = (fx1 >= 0.0) & (fx1 <= w_in) & (fy1 >= 0.0) & (fy1 <= h_in)
        end_x[i] = _quantise(fx1)
        end_y[i] = _quantise(fy1)
        hit[i] = np.uint8(returned) | (np.uint8(inside) << np.uint8(1))
    # Pass 1b: clip the beams that leave the grid, mark occupied cells
    # first (so that free never overrides occupied within a scan), and the
    # box of the cells touched: the sensor cell and the end cells.
    c0 = X0 >> FP_SHIFT
    r0 = Y0 >> FP_SHIFT
    b_r0 = r0
    b_r1 = r0
    b_c0 = c0
    b_c1 = c0
    for i in range(nb):
        fl = hit[i]
        returned = (fl & 1) != 0
        if not returned and not clear_no_return:
            hit[i] = 2                                 # beam ignored
            continue
        clipped = False
        if (fl & 2) == 0:
            rr = float(ranges[i]) if returned else mrf
            ca, sa = beam_direction(cos_b[i], sin_b[i], cos_yaw, sin_yaw)
            fx1, fy1, clipped = _beam_end_fp(fx0, fy0, ca, sa, rr, scale, w_fp, h_fp)
            end_x[i] = _quantise(fx1)
            end_y[i] = _quantise(fy1)
        X1 = end_x[i]
        Y1 = end_y[i]
        ce = X1 >> FP_SHIFT
        re = Y1 >> FP_SHIFT
        b_r0 = re if re < b_r0 else b_r0
        b_r1 = re if re > b_r1 else b_r1
        b_c0 = ce if ce < b_c0 else b_c0
        b_c1 = ce if ce > b_c1 else b_c1
        if returned and not clipped:
            hit[i] = 1
            idx = re * w + ce
            v = g[idx]
            returns += 1
            if (v >> STAMP_SHIFT) != c:
                lo = (v & LO_MASK) + l_occ
                lo = lo if lo < l_max else l_max
                g[idx] = C | lo
        else:
            hit[i] = 0
    box[0] = min(box[0], b_r0)
    box[1] = max(box[1], b_r1)
    box[2] = min(box[2], b_c0)
    box[3] = max(box[3], b_c1)
    # Bring the box the beams cross towards the core before walking it
    _prefetch_box(g, w, b_r0, b_r1, b_c0, b_c1)
    # Pass 2: free cells along each beam (the end cell too when the beam
    # did not end on a return), fan by fan.
    lut = free_lut[cur]
    gu = g.view(np.uint16)
    C16, lf16, lm16 = _fill_consts(cur, lq[0], lq[2])
    # packed walks (_pack) need flat indices below 2**32; fans walk packed
    packs = h * w <= _PACK
    if not packs:
        kcap = 0
    i = 0
    while i < nb:
        if hit[i] == 2:
            i += 1
            continue
        dxa = end_x[i] - X0
        dya = end_y[i] - Y0
        xmaj = abs(dxa) >= abs(dya)
        ext = abs((end_x[i] >> FP_SHIFT) - c0) if xmaj else abs((end_y[i] >> FP_SHIFT) - r0)
        K = ext if ext < kcap else kcap
        k_floor = (K * _FAN_KEEP) >> 3
        j = i + 1
        rises = False                                # some beam's slope above the one before it
        falls = False                                # some beam's slope below the one before it
        if K >= _FAN_MIN and abs(dxa) < _FAN_LIMIT and abs(dya) < _FAN_LIMIT:
            # grow the fan: same quadrant and major axis, long enough, and
            # adjacent slopes within 1 / (K - 1); K shrinks to fit each
            # beam, down to _FAN_KEEP / 8 of what the first pair allows.  A
            # beam that would allow a much larger K than the fan's (long
            # beams after a run of short returns, such as a vehicle a few
            # metres off among no-returns) starts a new fan instead of
            # walking most of its length on its own.
            qx = dxa >= 0
            qy = dya >= 0
            pa = abs(dya) if xmaj else abs(dxa)      # slope = pa / pb
            pb = abs(dxa) if xmaj else abs(dya)
            k_grow = _FAN_LIMIT
            while j < nb and hit[j] != 2:
                dxb = end_x[j] - X0
                dyb = end_y[j] - Y0
                if (dxb >= 0) != qx or (dyb >= 0) != qy or (abs(dxb) >= abs(dyb)) != xmaj:
                    break
                if abs(dxb) >= _FAN_LIMIT or abs(dyb) >= _FAN_LIMIT:
                    break
                ext_b = abs((end_x[j] >> FP_SHIFT) - c0) if xmaj else abs((end_y[j] >> FP_SHIFT) - r0)
                na = abs(dyb) if xmaj else abs(dxb)
                nbb = abs(dxb) if xmaj else abs(dyb)
                turn = na * pb - pa * nbb            # > 0: a larger slope than beam j - 1's
                cross = abs(turn)
                lim = ext_b
                # the slope bound (K - 1) * cross <= pb * nbb can only lower
                # K when it fails for the K so far; a float test with a
                # margin rounding cannot cross leaves the exact (64-bit)
                # division to the beams that may fail it
                if cross > 0 and float(K - 1) * float(cross) > 0.999 * float(pb * nbb):
                    kc = (pb * nbb) // cross + 1
                    lim = kc if kc < lim else lim
                if j == i + 1:
                    # the first pair sets the fan's near field
                    K = lim if lim < K else K
                    k_floor = (K * _FAN_KEEP) >> 3
                    if k_floor < _FAN_MIN:
                        break
                    k_grow = (K * _FAN_GROW) >> 3
                    k_grow = k_grow if k_grow <= kcap else _FAN_LIMIT
                elif lim < k_floor:
                    break
                elif ext_b >= k_grow and float(k_grow - 1) * float(cross) <= float(pb * nbb):
                    # (a float test: which fan a beam joins never changes the grid)
                    break
                K = lim if lim < K else K
                rises |= turn > 0
                falls |= turn < 0
                pa = na
                pb = nbb
                j += 1
        if j - i < 2:
            # a lone beam: walk it
            hi = hit[i]
            idx, n, e, tie, six, siy, ax, ay = _dda_setup(X0, Y0, end_x[i], end_y[i], w)
            if hi == 0:
                n += 1
            if ax < _PACK_LIMIT and ay < _PACK_LIMIT and packs:
                P, SY, DS = _pack(idx, e - tie, siy, six - siy, ay, ax + ay)
                _free_run_p(gu, P, n, SY, DS, lut)
            else:
                _free_run(gu, idx, n, e, tie, six, siy, ax, ay, lut)
            i += 1
            continue
        # the shared near field: K columns (x-major) or rows (y-major),
        # bounded by the traversals of the fan's extreme beams: its first
        # and last when the slopes only rise or only fall along the fan
        # (beams in angle order; beams of equal slope have the same
        # traversal bounds, so any of them will do)
        if rises and falls:
            i_min, i_max = _fan_extremes(end_x, end_y, X0, Y0, i, j, xmaj)
        elif falls:
            i_min = j - 1
            i_max = i
        else:
            i_min = i
            i_max = j - 1
        idx0, _n, e_lo, tie, six, siy, ax_lo, ay_lo = _dda_setup(X0, Y0, end_x[i_min], end_y[i_min], w)
        _i, _n, e_hi, _t, _sx, _sy, ax_hi, ay_hi = _dda_setup(X0, Y0, end_x[i_max], end_y[i_max], w)
        _major_entries(e_lo, ax_lo, ay_lo, e_hi, ax_hi, ay_hi, tie, K, xmaj, lo_j, hi_j)
        if xmaj:
            # column k holds minor offsets lo_j[k]..hi_j[k + 1]; sweep the
            # rows instead (both bounds non-decreasing in k), so each run
            # of cells is contiguous in memory.  Row jj holds the columns
            # klo[jj] = min k with hi_j[k + 1] >= jj to khi[jj] = max
            # k < K with lo_j[k] <= jj, written in loops without branches
            # (a search per row mispredicts its exits): after the first
            # major step the bounds grow by at most one a column, so each
            # row past hi_j[1] is some hi_j[k + 1] (the smallest such k is
            # written last) and each row up to lo_j[K - 1] past lo_j[1]
            # some lo_j[k] (the largest is written last)
            nr = hi_j[K] + 1
            for jj in range(hi_j[1] + 1):
                klo[np.uint64(jj)] = 0
            for k in range(K - 1, -1, -1):
                klo[np.uint64(hi_j[np.uint64(k + 1)])] = k
            for jj in range(lo_j[1]):
                khi[np.uint64(jj)] = 0
            for k in range(1, K):
                khi[np.uint64(lo_j[np.uint64(k)])] = k
            for jj in range(lo_j[K - 1] + 1, nr):
                khi[np.uint64(jj)] = K - 1
            for jj in range(nr):
                k_lo = klo[np.uint64(jj)]
                k_hi = khi[np.uint64(jj)]
                a = c0 + six * (k_lo if six > 0 else k_hi)
                _free_row(g, (r0 + (jj if siy > 0 else -jj)) * w + a, k_hi - k_lo + 1,
                          C16, lf16, lm16)
        else:
            for k in range(K):
                a = lo_j[np.uint64(k)]
                b = hi_j[np.uint64(k + 1)]
                col = c0 + six * (a if six > 0 else b)
                _free_row(g, (r0 + (k if siy > 0 else -k)) * w + col, b - a + 1, C16, lf16, lm16)
        # the walks on come after all the near fields (below), so that the
        # near fields of neighbouring fans, which share cache lines, are
        # filled one after the other (the free updates of a scan commute)
        fan_i[nf] = i
        fan_j[nf] = j
        fan_k[nf] = K if xmaj else -K
        nf += 1
        i = j
    for f in range(nf):
        # each beam walks on from its K-th major step, two at a time: beam
        # i + t with beam i + t + half, apart in the fan, so that the two
        # walks do not meet in a cell (adjacent beams often share cells just
        # beyond K, and a load of a cell the other walk has just stored waits)
        i = fan_i[f]
        j = fan_j[f]
        K = fan_k[f]
        xmaj = K >= 0
        K = abs(K)
        half = (j - i + 1) >> 1
        mj_a = -1
        mj_b = -1
        for b_a in range(i, i + half):
            P_a, n_a, SY_a, DS_a, mj_a = _walk_on(X0, Y0, end_x[b_a], end_y[b_a], w, hit[b_a] == 0, K, xmaj, mj_a)
            b_b = b_a + half
            if b_b < j:
                P_b, n_b, SY_b, DS_b, mj_b = _walk_on(X0, Y0, end_x[b_b], end_y[b_b], w, hit[b_b] == 0,
                                                      K, xmaj, mj_b)
                _free_run_pair(gu, P_a, n_a, SY_a, DS_a, P_b, n_b, SY_b, DS_b, lut)
            else:
                _free_run_p(gu, P_a, n_a, SY_a, DS_a, lut)
    return returns


def scan_scratch_size(n_beams, rows, cols):
    """Length of the int64 work space ``integrate_scan_kernel`` needs."""
    return 5 * n_beams + 4 * (max(rows, cols) + 2)


def free_update_table(l_free, l_min):
    """uint16 (MAX_STAMP + 1, 2**15): row ``cur`` maps a packed cell to its
    value after a free update in scan ``cur``: unchanged if the cell's stamp
    is already ``cur`` (touched this scan: occupied wins, once per scan),
    else stamp ``cur`` and log-odds max(lo + l_free, l_min).  ``l_free``
    fixed point, ``l_min`` fixed point + LO_BIAS."""
    v = np.arange(1 << 15, dtype=np.int32)
    lo = np.maximum((v & LO_MASK) + int(l_free), int(l_min))
    out = np.empty((MAX_STAMP + 1, 1 << 15), np.uint16)
    for c in range(MAX_STAMP + 1):
        out[c] = np.where((v >> STAMP_SHIFT) == c, v, (c << STAMP_SHIFT) | lo)
    return out


@njit(cache=True)
def clear_stamps_kernel(cells):
    """Zero the stamp byte of every cell (when the scan counter wraps)."""
    h, w = cells.shape
    g = cells.reshape(h * w)
    for i in range(h * w):
        g[i] &= LO_MASK


@njit(cache=True)
def clear_stamps_box_kernel(cells, box):
    """Zero the stamp bits of the cells in rows box[0]..box[1], columns
    box[2]..box[3] (inclusive; nothing if empty)."""
    h, w = cells.shape
    g = cells.reshape(h * w)
    c_lo = max(box[2], 0)
    c_hi = min(box[3] + 1, w)
    if c_hi <= c_lo:
        return
    for r in range(max(box[0], 0), min(box[1] + 1, h)):
        s = np.uint64(r * w + c_lo)
        for u in range(s, s + np.uint64(c_hi - c_lo)):
            g[u] &= LO_MASK


@njit(cache=True)
def decode_logodds_kernel(cells, out):
    """out float32 (H, W) = log-odds of the packed cells."""
    h, w = cells.shape
    inv = 1.0 / LOGODDS_ONE
    for r in range(h):
        for c in range(w):
            out[r, c] = ((cells[r, c] & LO_MASK) - LO_BIAS) * inv


@njit(cache=True)
def prob_kernel(cells, out):
    """out float32 (H, W) = 1 / (1 + exp(-l)) of the packed cells."""
    h, w = cells.shape
    inv = 1.0 / LOGODDS_ONE
    for r in range(h):
        for c in range(w):
            out[r, c] = 1.0 / (1.0 + math.exp(-((cells[r, c] & LO_MASK) - LO_BIAS) * inv))


@njit(cache=True)
def report_new_cells_kernel(cells, reported, near_prior, r0, r1, c0, c1, threshold, out):
    """The lidar mapper's per-scan read-out over the window rows [r0, r1) x
    cols [c0, c1): cells whose fixed-point log-odds exceed ``threshold``,
    not yet ``reported`` and not ``near_prior`` are marked reported and
    their (row, col) written to ``out`` (int64 (K, 2), K >= window size) in
    row-major order; returns how many."""
    n = 0
    # packed log-odds above threshold <=> (cell & LO_MASK) > threshold + LO_BIAS, in [0, LO_MASK]
    if threshold + LO_BIAS >= LO_MASK:
        return 0
    thr = np.int16(max(threshold + LO_BIAS, -1))
    mask = np.int16(LO_MASK)
    for r in range(r0, r1):
        # a branch-free count first (it vectorises; most rows have nothing new)
        row = cells[r, c0:c1]
        rp = reported[r, c0:c1].view(np.uint8)
        nr = near_prior[r, c0:c1].view(np.uint8)
        cnt = 0
        for c in range(c1 - c0):
            cnt += ((row[c] & mask) > thr) & ~(rp[c] | nr[c]) & 1
        if cnt == 0:
            continue
        for c in range(c0, c1):
            if ((cells[r, c] & LO_MASK) - LO_BIAS) > threshold and not reported[r, c] \
                    and not near_prior[r, c]:
                reported[r, c] = True
                out[n, 0] = r
                out[n, 1] = c
                n += 1
    return n


@njit(cache=True)
def report_hit_cells_kernel(cells, reported, near_prior, hit, ends, nb, pend, npend,
                            r0, r1, c0, c1, threshold, out):
    """``report_new_cells_kernel`` over the cells that can have crossed the
    threshold since the last read-out, not the whole window: a scan raises
    log-odds only in the cells where its beams end on a return (a free
    update lowers them), so after a read-out every cell above the threshold
    is reported or near the prior map, except cells ``unreport``-ed since,
    which wait in ``pend``.  Candidates: the end cells of the beams of the
    latest scan with ``hit[i] == 1``, as ``integrate_scan_kernel`` leaves
    its work space (cell (ends[nb + i] >> FP_SHIFT, ends[i] >> FP_SHIFT),
    i < nb), and the ``npend`` cells pend[:npend]
    (int64 (K, 2) [row, col]) inside rows [r0, r1) x cols [c0, c1).  Those
    above ``threshold``, not reported and not near the prior map are marked
    reported and written to ``out`` in row-major order (as the window pass
    writes them); returns (how many, pending kept).  Pending cells inside
    the window leave ``pend`` (below the threshold they come back as hits);
    those outside it stay, compacted to the front."""
    n = 0
    if threshold + LO_BIAS < LO_MASK:
        for i in range(nb):
            if hit[i] != 1:
                continue
            r = ends[nb + i] >> FP_SHIFT
            c = ends[i] >> FP_SHIFT
            if r < r0 or r >= r1 or c < c0 or c >= c1:
                continue
            if ((cells[r, c] & LO_MASK) - LO_BIAS) > threshold and not reported[r, c] and not near_prior[r, c]:
                reported[r, c] = True
                out[n, 0] = r
                out[n, 1] = c
                n += 1
    kept = 0
    for k in range(npend):
        r = pend[k, 0]
        c = pend[k, 1]
        if r < r0 or r >= r1 or c < c0 or c >= c1:
            pend[kept, 0] = r
            pend[kept, 1] = c
            kept += 1
            continue
        if threshold + LO_BIAS < LO_MASK and ((cells[r, c] & LO_MASK) - LO_BIAS) > threshold \
                and not reported[r, c] and not near_prior[r, c]:
            reported[r, c] = True
            out[n, 0] = r
            out[n, 1] = c
            n += 1
    # row-major, as the window pass writes them (the cells are distinct)
    if n > 1:
        w = cells.shape[1]
        key = np.empty(n, np.int64)
        for i in range(n):
            key[i] = out[i, 0] * w + out[i, 1]
        key.sort()
        for i in range(n):
            out[i, 0] = key[i] // w
            out[i, 1] = key[i] - (key[i] // w) * w
    return n, kept


@njit(cache=True)
def report_hit_centres_kernel(cells, reported, near_prior, hit, ends, nb, pend, npend, r0, r1, c0, c1,
                              threshold, origin_x, origin_y, resolution, out):
    """``report_hit_cells_kernel`` (its cells to a work array of its own)
    and then ``cell_centres_kernel`` of those cells into ``out`` (float64
    (>= nb + npend, 2)) in one call; returns (how many, pending kept)."""
    rc = np.empty((out.shape[0], 2), np.int64)
    k, kept = report_hit_cells_kernel(cells, reported, near_prior, hit, ends, nb, pend, npend,
                                      r0, r1, c0, c1, threshold, rc)
    cell_centres_kernel(rc, k, origin_x, origin_y, resolution, out)
    return k, kept


@njit(cache=True)
def cell_centres_kernel(rc, k, origin_x, origin_y, resolution, out):
    """Map-frame centres of the first ``k`` cells of ``rc`` int64 (>= k, 2)
    [row, col] into ``out`` float64 (>= k, 2) [x, y]: origin + (index +
    0.5) * resolution, NumPy's operations in NumPy's order."""
    for i in range(k):
        out[i, 0] = (rc[i, 1] + 0.5) * resolution + origin_x
        out[i, 1] = (rc[i, 0] + 0.5) * resolution + origin_y


@njit(cache=True, inline="always")
def _interp(x, xp, fp):
    """``np.interp(x, xp, fp)`` for one x (xp increasing), the same floats."""
    n = xp.shape[0]
    if x > xp[n - 1]:
        return fp[n - 1]
    if x < xp[0]:
        return fp[0]
    lo, hi = 0, n            # the largest j with xp[j] <= x
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if xp[mid] <= x:
            lo = mid
        else:
            hi = mid
    j = lo
    if j == n - 1 or xp[j] == x:
        return fp[j]
    slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])
    v = slope * (x - xp[j]) + fp[j]
    if v != v:
        v = slope * (x - xp[j + 1]) + fp[j + 1]
        if v != v and fp[j] == fp[j + 1]:
            v = fp[j]
    return v


@njit(cache=True)
def give_way_conflict_kernel(pts, s0, speed, n_t, dt_s, x0, y0, now, movers, vehicle_radius, margin, cum, vxy):
    """Index of the first mover (rows of ``movers``: x, y, vx, vy, t,
    radius) whose straight-on prediction comes within ``vehicle_radius`` +
    its radius + ``margin`` of the vehicle predicted along the polyline ``pts`` (N, 2) from
    arc length ``s0`` at ``speed`` (``n_t`` samples ``dt_s`` apart, the first
    one the vehicle's own position (x0, y0)), or -1.  ``cum`` (at least N)
    and ``vxy`` (n_t, 2) are work space."""
    n = pts.shape[0]
    cum[0] = 0.0
    for k in range(1, n):
        cum[k] = cum[k - 1] + math.hypot(pts[k, 0] - pts[k - 1, 0], pts[k, 1] - pts[k - 1, 1])
    total = cum[n - 1]
    sp = max(speed, 0.0)
    # only this path's arc lengths: the work space can be longer (a longer
    # path before), and past n it holds stale values
    cn = cum[:n]
    for i in range(n_t):
        s = s0 + sp * (i * dt_s)
        s = min(max(s, 0.0), total)
        vxy[i, 0] = _interp(s, cn, pts[:, 0])
        vxy[i, 1] = _interp(s, cn, pts[:, 1])
    vxy[0, 0] = x0
    vxy[0, 1] = y0
    for m in range(movers.shape[0]):
        lag = max(0.0, now - movers[m, 4])
        lim = vehicle_radius + movers[m, 5] + margin
        for i in range(n_t):
            dt = i * dt_s + lag
            ox = movers[m, 0] + movers[m, 2] * dt
            oy = movers[m, 1] + movers[m, 3] * dt
            if _closer_than(vxy[i, 0] - ox, vxy[i, 1] - oy, lim):      # hypot < lim
                return m
    return -1


@njit(cache=False)
def _pairwise_sum(a, lo, n):
    """NumPy's pairwise summation of a[lo:lo + n] (blocks of 8 below 128
    elements, halves above), so a mean here equals ``ndarray.mean``.
    (Not disk-cached: it is compiled into its caller, whose cache holds it;
    numba cannot link a recursive function loaded from its cache into a
    caller compiled later for new argument types: "Symbol not found".)"""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    if n <= 128:
        r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
        r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
        i = 8
        while i < n - (n % 8):
            r0 += a[lo + i]
            r1 += a[lo + i + 1]
            r2 += a[lo + i + 2]
            r3 += a[lo + i + 3]
            r4 += a[lo + i + 4]
            r5 += a[lo + i + 5]
            r6 += a[lo + i + 6]
            r7 += a[lo + i + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res += a[lo + i]
            i += 1
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return _pairwise_sum(a, lo, n2) + _pairwise_sum(a, lo + n2, n - n2)


@njit(cache=True, inline="always")
def _hypot_side(dx, dy, lim):
    """Where ``math.hypot(dx, dy)`` lies against ``lim`` when the squares
    tell it whatever the rounding (a few ulp): -1 surely below, 1 surely
    above (the squared distance beyond lim^2 (1 -/+ 1e-6)); 0 undecided:
    between those, or a lim too small or too large for squares (or NaN).
    Saves the libm call for most distances in the tests below."""
    if 1e-100 < lim < 1e100:
        d2 = dx * dx + dy * dy
        l2 = lim * lim
        if d2 < l2 * (1.0 - 1e-6):
            return -1
        if d2 > l2 * (1.0 + 1e-6):
            return 1
    return 0


@njit(cache=True, inline="always")
def _gap_exceeds(dx, dy, thr):
    """``math.hypot(dx, dy) > thr``, the same answer (``_hypot_side``)."""
    side = _hypot_side(dx, dy, thr)
    return side > 0 if side != 0 else math.hypot(dx, dy) > thr


@njit(cache=True, inline="always")
def _closer_than(dx, dy, reach):
    """``math.hypot(dx, dy) < reach``, the same answer (``_hypot_side``)."""
    side = _hypot_side(dx, dy, reach)
    return side < 0 if side != 0 else math.hypot(dx, dy) < reach


@njit(cache=True)
def cluster_scan_kernel(r, max_range, cos_b, sin_b, cos_yaw, sin_yaw, px, py, gap_m, gap_factor, abs_inc,
                        min_points, out):
    """``cluster_scan``'s returns, points and runs in one pass.  Beam i of
    ranges ``r`` (N,) (float64, or float32 widened to float64 exactly) is a
    return when its range is finite and in (0, max_range); its map-frame
    direction is the sensor-frame beam direction (``cos_b[i]``,
    ``sin_b[i]``) turned by the sensor's yaw (``cos_yaw``, ``sin_yaw``):
    (cos_b cos_yaw - sin_b sin_yaw, sin_b cos_yaw + cos_b sin_yaw), as
    ``integrate_scan_kernel`` turns its beams; its point is (px + r dx,
    py + r dy).  Runs of consecutive returns (in beam order) are split
    where the gap exceeds max(gap_m, gap_factor * r * abs_inc * beams
    apart) or more than 2 beams are missing.  Each run of at least
    ``min_points`` returns goes to an ``out`` row (count, mean x, mean y,
    x and y of its last point minus its first) (means as ``ndarray.mean``
    computes them); ``out`` needs a row for every run that can be kept
    (at most N: a run has at least one return).  Returns how many rows."""
    nb = r.shape[0]
    idx = np.empty(nb, np.int64)            # the returns: beam index, range, point
    rs = np.empty(nb)
    xs = np.empty(nb)
    ys = np.empty(nb)
    m = 0
    for i in range(nb):
        v = np.float64(r[i])
        if math.isfinite(v) and v > 0.0 and v < max_range:
            dx, dy = beam_direction(cos_b[i], sin_b[i], cos_yaw, sin_yaw)
            idx[m] = i
            rs[m] = v
            xs[m] = px + v * dx
            ys[m] = py + v * dy
            m += 1
    k = 0
    start = 0
    for e in range(1, m + 1):
        if e < m:
            step = idx[e] - idx[e - 1]
            if step <= 2 and not _gap_exceeds(xs[e] - xs[e - 1], ys[e] - ys[e - 1],
                                              max(gap_m, gap_factor * rs[e - 1] * abs_inc * step)):
                continue
        n = e - start
        if n >= min_points:
            out[k, 0] = n
            out[k, 1] = (0.0 + _pairwise_sum(xs, start, n)) / n
            out[k, 2] = (0.0 + _pairwise_sum(ys, start, n)) / n
            out[k, 3] = xs[e - 1] - xs[start]
            out[k, 4] = ys[e - 1] - ys[start]
            k += 1
        start = e
    return k


@njit(cache=True)
def track_update_kernel(ids, x, P, tt, rad, hits, misses, conf, n, t, z, q, r_meas, gate, confirm_hits,
                        max_misses, tentative_misses, cost, keep, new_det):
    """One scan of the constant-velocity multi-object tracker
    (``tracking.MultiObjectTracker.update``) over its ``n`` tracks in place:
    rows of ``x`` (K, 4) [x, y, vx, vy], ``P`` (K, 4, 4), ``tt`` (K,) last
    time, ``rad`` radius, ``hits``, ``misses`` (int64), ``conf`` (uint8).

    Predict every track to ``t`` (white acceleration ``q`` [m^2/s^4]), gate
    the squared Mahalanobis distance of each detection, a row of ``z`` (D, 3)
    [x, y, extent], at ``gate``; a detection whose extent covers two or more
    confirmed tracks is objects merged in the scan: it updates none and the
    tracks it covers coast.  Pairs are taken greedily from the smallest
    distance (ties: the lower track, then the lower detection), the pairs
    updated (position measurement, variance ``r_meas``), the life cycle
    applied.  ``ids`` (K,) int64 move with their rows.  Work space: ``cost`` (>= n * D), ``keep`` uint8 (>= n).  On
    return the surviving tracks are compacted to the first rows (their
    order kept) and ``new_det`` uint8 (D,) marks the detections that start
    a track (the caller appends them); returns how many survive."""
    nd = z.shape[0]
    # predict: x = F x, P = F P F' + Q, F = [[I, dt I], [0, I]]
    for i in range(n):
        dt = t - tt[i]
        if dt <= 0.0:
            continue
        dt2 = dt * dt
        q11 = q * (dt2 * dt2 / 4.0)
        q12 = q * (dt2 * dt / 2.0)
        q22 = q * dt2
        x[i, 0] += dt * x[i, 2]
        x[i, 1] += dt * x[i, 3]
        # A = F P: rows 0, 1 gain dt * rows 2, 3
        for c in range(4):
            P[i, 0, c] += dt * P[i, 2, c]
            P[i, 1, c] += dt * P[i, 3, c]
        # (F P) F': columns 0, 1 gain dt * columns 2, 3
        for r in range(4):
            P[i, r, 0] += dt * P[i, r, 2]
            P[i, r, 1] += dt * P[i, r, 3]
        P[i, 0, 0] += q11
        P[i, 1, 1] += q11
        P[i, 0, 2] += q12
        P[i, 2, 0] += q12
        P[i, 1, 3] += q12
        P[i, 3, 1] += q12
        P[i, 2, 2] += q22
        P[i, 3, 3] += q22
        tt[i] = t
    # gated distances; covers by confirmed tracks counted per detection
    inf = np.inf
    for j in range(nd):
        new_det[j] = 0
    for i in range(n):
        s00 = P[i, 0, 0] + r_meas
        s01 = P[i, 0, 1]
        s10 = P[i, 1, 0]
        s11 = P[i, 1, 1] + r_meas
        det = s00 * s11 - s01 * s10
        for j in range(nd):
            dx = z[j, 0] - x[i, 0]
            dy = z[j, 1] - x[i, 1]
            d2 = (dx * (s11 * dx - s01 * dy) + dy * (s00 * dy - s10 * dx)) / det
            cost[i * nd + j] = d2 if d2 <= gate else inf
            if conf[i] and math.hypot(dx, dy) < z[j, 2] + rad[i]:
                new_det[j] += 1           # confirmed tracks covered (merged when >= 2)
    # keep[i]: bit 0 matched, bit 1 coasting (covered by a merged blob)
    for i in range(n):
        keep[i] = 0
    for j in range(nd):
        if new_det[j] >= 2:
            for i in range(n):
                cost[i * nd + j] = inf
                dx = z[j, 0] - x[i, 0]
                dy = z[j, 1] - x[i, 1]
                if math.hypot(dx, dy) < z[j, 2] + rad[i]:
                    keep[i] |= 2
            new_det[j] = 2                # merged: no new track either
        else:
            new_det[j] = 0
    # greedy global nearest neighbour
    K = np.empty((4, 2))
    top0 = np.empty(4)
    top1 = np.empty(4)
    while True:
        best = inf
        bi = -1
        bj = -1
        for i in range(n):
            if keep[i] & 1:
                continue
            for j in range(nd):
                c = cost[i * nd + j]
                if c < best:
                    best = c
                    bi = i
                    bj = j
        if bi < 0:
            break
        keep[bi] |= 1
        for i in range(n):
            cost[i * nd + bj] = inf
        new_det[bj] = 1                   # used
        # Kalman update with H = [I 0]: K = P[:, :2] S^-1
        s00 = P[bi, 0, 0] + r_meas
        s01 = P[bi, 0, 1]
        s10 = P[bi, 1, 0]
        s11 = P[bi, 1, 1] + r_meas
        det = s00 * s11 - s01 * s10
        i00 = s11 / det
        i01 = -s01 / det
        i10 = -s10 / det
        i11 = s00 / det
        ex = z[bj, 0] - x[bi, 0]
        ey = z[bj, 1] - x[bi, 1]
        for r in range(4):
            K[r, 0] = P[bi, r, 0] * i00 + P[bi, r, 1] * i10
            K[r, 1] = P[bi, r, 0] * i01 + P[bi, r, 1] * i11
        for r in range(4):
            x[bi, r] += K[r, 0] * ex + K[r, 1] * ey
        # P = (I - K H) P, then symmetrised
        for c in range(4):
            top0[c] = P[bi, 0, c]
            top1[c] = P[bi, 1, c]
        for r in range(4):
            for c in range(4):
                P[bi, r, c] -= K[r, 0] * top0[c] + K[r, 1] * top1[c]
        for r in range(4):
            for c in range(r + 1, 4):
                s = 0.5 * (P[bi, r, c] + P[bi, c, r])
                P[bi, r, c] = s
                P[bi, c, r] = s
        rad[bi] = 0.8 * rad[bi] + 0.2 * z[bj, 2] if hits[bi] > 1 else z[bj, 2]
        hits[bi] += 1
        misses[bi] = 0
        if hits[bi] >= confirm_hits:
            conf[bi] = 1
    # life cycle, compacting the survivors in order
    m = 0
    for i in range(n):
        if keep[i] == 0:
            misses[i] += 1
        limit = max_misses if conf[i] else tentative_misses
        if misses[i] <= limit:
            if m != i:
                ids[m] = ids[i]
                x[m] = x[i]
                P[m] = P[i]
                tt[m] = tt[i]
                rad[m] = rad[i]
                hits[m] = hits[i]
                misses[m] = misses[i]
                conf[m] = conf[i]
            m += 1
    for j in range(nd):
        new_det[j] = 1 if new_det[j] == 0 else 0
    return m



@njit(cache=True)
def track_scan_kernel(f, ints, P, n, t, z, par, ipar, cost, flags):
    """``MultiObjectTracker.advance``'s scan in one call: ``track_update_kernel``
    over the tracker's blocks (rows of ``f`` float64 (K, 6) [t, x, y, vx,
    vy, radius], ``ints`` int64 (K, 4) [id, hits, misses, confirmed], ``P``
    (K, 4, 4)), then a track started at each detection (a row of ``z`` (D,
    3) [x, y, radius]) it marks: at ``t``, still, ids from next_id on, one
    hit, tentative, covariance diag(r_meas, r_meas, init_vel_var,
    init_vel_var).  The parameters come packed: ``par`` float64 [q,
    r_meas, gate, init_vel_var], ``ipar`` int64 [next_id, confirm_hits,
    max_misses, tentative_misses] (next_id is advanced in place).  The
    blocks need room for the survivors and the new tracks (K >= n + D);
    work space: ``cost`` float64 (>= n * D), ``flags`` uint8 (>= n + D).
    Returns how many tracks; -1, nothing changed, when a value of ``z`` is
    not finite (the caller refuses those detections)."""
    for j in range(z.shape[0]):
        if not (math.isfinite(z[j, 0]) and math.isfinite(z[j, 1]) and math.isfinite(z[j, 2])):
            return -1
    r_meas = par[1]
    init_vel_var = par[3]
    next_id = ipar[0]
    nd = z.shape[0]
    new_det = flags[n:n + nd]
    m = track_update_kernel(ints[:, 0], f[:, 1:5], P, f[:, 0], f[:, 5], ints[:, 1], ints[:, 2], ints[:, 3], n, t,
                            z, par[0], r_meas, par[2], ipar[1], ipar[2], ipar[3], cost, flags[:n], new_det)
    for j in range(nd):
        if new_det[j]:                  # detection j starts a track
            f[m, 0] = t
            f[m, 1] = z[j, 0]
            f[m, 2] = z[j, 1]
            f[m, 3] = 0.0
            f[m, 4] = 0.0
            f[m, 5] = z[j, 2]
            ints[m, 0] = next_id
            ints[m, 1] = 1
            ints[m, 2] = 0
            ints[m, 3] = 0
            P[m] = 0.0
            P[m, 0, 0] = r_meas
            P[m, 1, 1] = r_meas
            P[m, 2, 2] = init_vel_var
            P[m, 3, 3] = init_vel_var
            next_id += 1
            m += 1
    ipar[0] = next_id
    return m


@njit(cache=True)
def unreport_points_kernel(points, origin_x, origin_y, resolution, reported, pend, npend):
    """``LidarMapper.unreport`` in one pass: the cells under map-frame
    ``points`` float64 (N, 2) [x, y] m (finite; cell = floor((v - origin) /
    resolution)) that lie inside ``reported`` bool (H, W) are cleared there
    and appended to ``pend`` int64 (K, 2) [row, col] after its first
    ``npend`` rows (the caller makes room for N more).  Returns (how many of
    those cells were reported before, counted per point as the NumPy
    gather-then-clear counts them, the new npend); (-1, npend), nothing
    changed, when a point is not finite (the caller's NumPy way takes those)."""
    h, w = reported.shape
    n = points.shape[0]
    for i in range(n):
        if not (math.isfinite(points[i, 0]) and math.isfinite(points[i, 1])):
            return -1, npend
    was = 0
    for i in range(n):          # gather first: a cell under two points counts twice
        r = math.floor((points[i, 1] - origin_y) / resolution)
        c = math.floor((points[i, 0] - origin_x) / resolution)
        if 0 <= r < h and 0 <= c < w and reported[r, c]:
            was += 1
    for i in range(n):
        r = math.floor((points[i, 1] - origin_y) / resolution)
        c = math.floor((points[i, 0] - origin_x) / resolution)
        if 0 <= r < h and 0 <= c < w:
            reported[r, c] = False
            pend[npend, 0] = r
            pend[npend, 1] = c
            npend += 1
    return was, npend


@njit(cache=True)
def hold_near_tracks_kernel(pts, trk, hold):
    """``Perception._near_unsettled_tracks`` over all tracks at once.
    ``pts`` float64 (N, 2) map-frame points [m]; ``trk`` float64 (K, 6)
    rows (kind, reach, ax, ay, bx, by): kind 1 holds the points within
    ``reach`` of (bx, by), kind 2 those within ``reach`` of the segment
    a-b (a track's swept path), other kinds nothing.  ``hold`` bool (N,)
    is or-ed in place; returns how many of its points are held then.  The
    arithmetic is the NumPy version's, per point (perception.front's
    docstring of the oracle in the tests)."""
    n = pts.shape[0]
    for k in range(trk.shape[0]):
        kind = trk[k, 0]
        reach = trk[k, 1]
        ax = trk[k, 2]
        ay = trk[k, 3]
        bx = trk[k, 4]
        by = trk[k, 5]
        if kind == 1.0:
            for i in range(n):
                if _closer_than(pts[i, 0] - bx, pts[i, 1] - by, reach):
                    hold[i] = True
        elif kind == 2.0:
            dx = bx - ax
            dy = by - ay
            L2 = dx * dx + dy * dy
            if L2 <= 1e-12:
                for i in range(n):
                    if _closer_than(pts[i, 0] - ax, pts[i, 1] - ay, reach):
                        hold[i] = True
                continue
            for i in range(n):
                u = ((pts[i, 0] - ax) * dx + (pts[i, 1] - ay) * dy) / L2
                u = 0.0 if u < 0.0 else u
                u = 1.0 if u > 1.0 else u
                if _closer_than(pts[i, 0] - (ax + u * dx), pts[i, 1] - (ay + u * dy), reach):
                    hold[i] = True
    held = 0
    for i in range(n):
        if hold[i]:
            held += 1
    return held


@njit(cache=True)
def hold_unreport_kernel(pts, trk, origin_x, origin_y, resolution, reported, pend, npend, hold, kept):
    """The front's hold-back of a scan's new cells in one call:
    ``hold_near_tracks_kernel(pts, trk, hold)`` (``hold`` bool (N,) all
    False on entry), then ``unreport_points_kernel`` of the held points, in
    order (``pend`` must have room for N more rows), and the other points,
    in order, to the first rows of ``kept`` float64 (N, 2).  Returns (held,
    was, npend), the counts and ``npend`` as those two kernels give them;
    (held, -1, npend) with nothing unreported or kept when a held point is
    not finite (the caller takes the NumPy way), (0, 0, npend) with nothing
    done when no point is held."""
    held = hold_near_tracks_kernel(pts, trk, hold)
    if held == 0:
        return 0, 0, npend
    n = pts.shape[0]
    hp = np.empty((held, 2))
    m = 0
    for i in range(n):
        if hold[i]:
            hp[m, 0] = pts[i, 0]
            hp[m, 1] = pts[i, 1]
            m += 1
    was, npend2 = unreport_points_kernel(hp, origin_x, origin_y, resolution, reported, pend, npend)
    if was < 0:
        return held, -1, npend
    m = 0
    for i in range(n):
        if not hold[i]:
            kept[m, 0] = pts[i, 0]
            kept[m, 1] = pts[i, 1]
            m += 1
    return held, was, npend2


@njit(cache=True)
def track_shapes_kernel(f, hits, conf, n, margin, settle_hits, min_speed, hold, movers):
    """``Perception._track_shapes`` of the tracker's first ``n`` tracks in
    one pass over its arrays: rows of ``f`` float64 (>= n, 6) [t, x, y, vx,
    vy, radius], ``hits`` and ``conf`` int (>= n,) (0 tentative).  The
    hold-back rows (kind, reach, ax, ay, bx, by) of
    ``hold_near_tracks_kernel`` go to the first rows of ``hold`` (>= n, 6):
    kind 1 at a track not confirmed or seen fewer than ``settle_hits``
    times, kind 2 its path over the last 2 s for a settled one moving at
    ``min_speed`` or more, reach its radius + ``margin``; the movers
    (confirmed, moving) as rows [x, y, vx, vy, t, radius] to the first rows
    of ``movers`` (>= n, 6); both in track order.  Returns (how many hold
    rows, how many movers); (-1, -1), the rows unfinished, when a track's
    speed lies too close to ``min_speed`` to tell from squares (or is NaN,
    or ``min_speed`` is out of the squares' range): the caller's plain rule
    (``math.hypot``) decides those."""
    nh = 0
    nm = 0
    for k in range(n):
        vx = f[k, 3]
        vy = f[k, 4]
        side = _hypot_side(vx, vy, min_speed)       # hypot(vx, vy) against min_speed
        if side == 0:
            return -1, -1
        moving = side > 0
        x = f[k, 1]
        y = f[k, 2]
        reach = f[k, 5] + margin
        confirmed = conf[k] != 0
        if not confirmed or hits[k] < settle_hits:
            hold[nh, 0] = 1.0
            hold[nh, 1] = reach
            hold[nh, 2] = x
            hold[nh, 3] = y
            hold[nh, 4] = x
            hold[nh, 5] = y
            nh += 1
        elif moving:
            hold[nh, 0] = 2.0
            hold[nh, 1] = reach
            hold[nh, 2] = x - 2.0 * vx
            hold[nh, 3] = y - 2.0 * vy
            hold[nh, 4] = x
            hold[nh, 5] = y
            nh += 1
        if confirmed and moving:
            movers[nm, 0] = x
            movers[nm, 1] = y
            movers[nm, 2] = vx
            movers[nm, 3] = vy
            movers[nm, 4] = f[k, 0]
            movers[nm, 5] = f[k, 5]
            nm += 1
    return nh, nm
