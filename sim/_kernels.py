"""Numba kernels of the simulator's per-step queries: the footprint
clearance / collision check against the truth raster, and the fleet's
footprint separation over a spatial hash, and which members a member's
sensors reach.  The validating fronts are ``SimWorld.footprint_clearance``,
``FleetWorld.separation`` and ``FleetWorld.near``; the NumPy oracles are in
``sim/_reference.py``.

The clearance kernel reproduces the NumPy version operation for operation
(``np.linspace`` samples, the same rounding to cells), so it gives
bit-identical clearances and the same collision verdicts.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def _lin(i, n, half):
    """``np.linspace(-half, half, n)[i]`` exactly (numpy: i * step + start,
    the last sample set to the stop)."""
    if i == n - 1:
        return half
    return (i * 1.0) * ((half - (-half)) / (n - 1)) + (-half)


@njit(cache=True, inline="always")
def _cell(v, o, res, n):
    k = int(math.floor((v - o) / res))
    if k < 0:
        return 0
    if k > n - 1:
        return n - 1
    return k


@njit(cache=True)
def footprint_clearance_kernel(occ, dist, ox, oy, res, x, y, yaw, length, width, nl, nw, moving):
    """(clearance [m], collided) of a ``length`` x ``width`` rectangle at
    (x, y, yaw): collided when a sample of its interior (an nl x nw grid of
    points, both ends included) lies in an occupied cell of ``occ`` (bool
    (H, W)); else the smallest ``dist`` (float32 (H, W), metres to the
    nearest obstacle) over its edge samples less half a cell, and the
    rectangle-to-circle distance to each ``moving`` (K, 3) [x, y, radius]
    circle (<= 0: collided)."""
    h, w = occ.shape
    hl = length / 2
    hw = width / 2
    cy = math.cos(yaw)
    sy = math.sin(yaw)
    # Every interior sample's cell centre lies within half the diagonal plus
    # sqrt(2) cells of the centre's cell centre: when the distance transform
    # there says the nearest obstacle is farther, no interior sample can be
    # in an obstacle (the same verdict without the nl x nw lookups).
    r0 = int(math.floor((y - oy) / res))
    c0 = int(math.floor((x - ox) / res))
    clear_inside = False
    if 0 <= r0 < h and 0 <= c0 < w:
        clear_inside = dist[r0, c0] > 0.5 * math.hypot(length, width) + 1.5 * res
    for j in range(0 if clear_inside else nw):
        b = _lin(j, nw, hw)
        for i in range(nl):
            a = _lin(i, nl, hl)
            px = x + a * cy - b * sy
            py = y + a * sy + b * cy
            if occ[_cell(py, oy, res, h), _cell(px, ox, res, w)]:
                return 0.0, True
    best = np.float32(np.inf)
    for k in range(2 * nl + 2 * nw):
        if k < nl:
            a = _lin(k, nl, hl)
            b = -hw
        elif k < 2 * nl:
            a = _lin(k - nl, nl, hl)
            b = hw
        elif k < 2 * nl + nw:
            a = -hl
            b = _lin(k - 2 * nl, nw, hw)
        else:
            a = hl
            b = _lin(k - 2 * nl - nw, nw, hw)
        px = x + a * cy - b * sy
        py = y + a * sy + b * cy
        dv = dist[_cell(py, oy, res, h), _cell(px, ox, res, w)]
        if dv < best:
            best = dv
    d = float(best) - 0.5 * res
    if moving.shape[0]:
        dm = np.inf
        for k in range(moving.shape[0]):
            dx = moving[k, 0] - x
            dy = moving[k, 1] - y
            qa = max(abs(cy * dx + sy * dy) - 0.5 * length, 0.0)
            qb = max(abs(-sy * dx + cy * dy) - 0.5 * width, 0.0)
            v = math.hypot(qa, qb) - moving[k, 2]
            if v < dm:
                dm = v
        if dm <= 0:
            return 0.0, True
        d = min(d, dm)
    return max(d, 0.0), False



# ------------------------------------------------------------- spatial hash
# Points (x, y) bucketed by their cell (floor(x / h), floor(y / h)) in an
# open table of 2^k buckets: ``head`` (T + 1) bucket starts into ``items``
# (N point indices), ``cell`` (N, 2) each point's cell.  Two cells that
# share a bucket only cost an extra comparison: queries check the cell.

@njit(cache=True, inline="always")
def _bucket(cx, cy, mask):
    return ((cx * 73856093) ^ (cy * 19349663)) & mask


@njit(cache=True)
def hash_build_kernel(px, py, h, mask, cell, head, items):
    """Fill ``cell``, ``head`` (mask + 2 entries) and ``items`` for the
    points (px, py) at cell size ``h`` [m] (counting sort by bucket);
    returns False, filling nothing, when a coordinate is not finite."""
    n = px.shape[0]
    for k in range(n):
        if not (math.isfinite(px[k]) and math.isfinite(py[k])):
            return False
    head[:] = 0
    for k in range(n):
        cx = int(math.floor(px[k] / h))
        cy = int(math.floor(py[k] / h))
        cell[k, 0] = cx
        cell[k, 1] = cy
        head[_bucket(cx, cy, mask) + 1] += 1
    for b in range(mask + 1):
        head[b + 1] += head[b]
    fill = head[:-1].copy()
    for k in range(n):
        b = _bucket(cell[k, 0], cell[k, 1], mask)
        items[fill[b]] = k
        fill[b] += 1
    return True


@njit(cache=True)
def hash_within_kernel(px, py, radius, h, mask, cell, head, items, x, y, reach, exclude, out):
    """Indices k != ``exclude`` with hypot(px[k] - x, py[k] - y) <= reach +
    radius[k], in increasing order, into ``out``; returns how many."""
    rmax = 0.0
    for k in range(radius.shape[0]):
        if radius[k] > rmax:
            rmax = radius[k]
    ring = int(math.ceil((reach + rmax) / h))
    cx0 = int(math.floor(x / h))
    cy0 = int(math.floor(y / h))
    n = 0
    for cx in range(cx0 - ring, cx0 + ring + 1):
        for cy in range(cy0 - ring, cy0 + ring + 1):
            b = _bucket(cx, cy, mask)
            for q in range(head[b], head[b + 1]):
                k = items[q]
                if k == exclude or cell[k, 0] != cx or cell[k, 1] != cy:
                    continue
                if math.hypot(px[k] - x, py[k] - y) <= reach + radius[k]:
                    out[n] = k
                    n += 1
    # increasing index order (the order the members are listed in)
    for a in range(1, n):
        v = out[a]
        b = a - 1
        while b >= 0 and out[b] > v:
            out[b + 1] = out[b]
            b -= 1
        out[b + 1] = v
    return n



#: ``near_kernel``'s guard band: a member whose squared distance is within
#: this relative margin of (reach + radius)^2 is left to ``math.hypot``.
NEAR_BAND = 2.0 ** -30


@njit(cache=True)
def near_kernel(pos, radius, idx, x, y, reach, exclude, hit, out):
    """Of the members k = idx[j] != ``exclude`` (in the order of ``idx``),
    those with math.hypot(pos[k, 0] - x, pos[k, 1] - y) <= reach + radius[k]:
    their indices into ``hit`` and their [x, y, radius] rows into ``out``;
    returns how many, or -1 when that rule is not decided here: a position
    not finite, or a member whose squared distance lies within ``NEAR_BAND``
    of (reach + radius)^2.  Outside that band the squares decide exactly
    what ``math.hypot`` (within 1 ulp) would: the differences are the same
    operations, the squares and their sum are within a few ulps."""
    if not (math.isfinite(x) and math.isfinite(y)):
        return -1
    lo = 1.0 - NEAR_BAND
    hi = 1.0 + NEAR_BAND
    n = 0
    for j in range(idx.shape[0]):
        k = idx[j]
        if k == exclude:
            continue
        px = pos[k, 0]
        py = pos[k, 1]
        if not (math.isfinite(px) and math.isfinite(py)):
            return -1
        lim = reach + radius[k]
        if lim < 0.0:                    # hypot >= 0: out
            continue
        dx = px - x
        dy = py - y
        d2 = dx * dx + dy * dy
        l2 = lim * lim
        if not (1e-300 <= l2 <= 1e300 and d2 <= 1e300):     # squares out of the band's range (or NaN)
            return -1
        if d2 < l2 * lo:
            hit[n] = k
            out[n, 0] = px
            out[n, 1] = py
            out[n, 2] = radius[k]
            n += 1
        elif not d2 > l2 * hi:
            return -1
    return n


# ------------------------------------------------------------- separation
@njit(cache=True, inline="always")
def _corners(x, y, yaw, length, width, out):
    c = math.cos(yaw)
    s = math.sin(yaw)
    hl = 0.5 * length
    hw = 0.5 * width
    out[0, 0] = x + hl * c - hw * s
    out[0, 1] = y + hl * s + hw * c
    out[1, 0] = x + hl * c - (-hw) * s
    out[1, 1] = y + hl * s + (-hw) * c
    out[2, 0] = x + (-hl) * c - (-hw) * s
    out[2, 1] = y + (-hl) * s + (-hw) * c
    out[3, 0] = x + (-hl) * c - hw * s
    out[3, 1] = y + (-hl) * s + hw * c


@njit(cache=True)
def _separated_on_edges(P, A, B):
    for k in range(4):
        ex = P[(k + 1) % 4, 0] - P[k, 0]
        ey = P[(k + 1) % 4, 1] - P[k, 1]
        ax, ay = -ey, ex
        amin = amax = A[0, 0] * ax + A[0, 1] * ay
        bmin = bmax = B[0, 0] * ax + B[0, 1] * ay
        for m in range(1, 4):
            va = A[m, 0] * ax + A[m, 1] * ay
            vb = B[m, 0] * ax + B[m, 1] * ay
            amin, amax = min(amin, va), max(amax, va)
            bmin, bmax = min(bmin, vb), max(bmax, vb)
        if amax < bmin or bmax < amin:
            return True
    return False


@njit(cache=True)
def _pts_to_poly(P, Q):
    best = math.inf
    for e in range(4):
        ax, ay = Q[e, 0], Q[e, 1]
        abx, aby = Q[(e + 1) % 4, 0] - ax, Q[(e + 1) % 4, 1] - ay
        ab2 = abx * abx + aby * aby
        for k in range(4):
            apx, apy = P[k, 0] - ax, P[k, 1] - ay
            t = min(max((apx * abx + apy * aby) / ab2, 0.0), 1.0)
            dx, dy = apx - t * abx, apy - t * aby
            d = math.sqrt(dx * dx + dy * dy)
            if d < best:
                best = d
    return best


@njit(cache=True)
def rect_gap_kernel(xa, ya, yawa, la, wa, xb, yb, yawb, lb, wb):
    """Distance [m] between two oriented rectangles; 0 when they overlap."""
    A = np.empty((4, 2))
    B = np.empty((4, 2))
    _corners(xa, ya, yawa, la, wa, A)
    _corners(xb, yb, yawb, lb, wb, B)
    if not (_separated_on_edges(A, A, B) or _separated_on_edges(B, A, B)):
        return 0.0
    return min(_pts_to_poly(A, B), _pts_to_poly(B, A))


@njit(cache=True)
def separation_kernel(pos, length, width, half_diag, h, mask, cell, head, items):
    """The smallest footprint gap [m] between any two of the rectangles
    (pos (N, 3) x, y, yaw; length, width, half_diag (N,)) and the pair (i <
    j), with (inf, -1, -1) for fewer than two.  Pairs come from the spatial
    hash (cell size ``h``) ring by ring around each rectangle; a pair whose
    bounding circles are farther apart than the best gap so far is skipped,
    and the rings grow only while an unvisited pair could still be closer."""
    n = pos.shape[0]
    best = math.inf
    bi = -1
    bj = -1
    hdmax = 0.0
    for k in range(n):
        if half_diag[k] > hdmax:
            hdmax = half_diag[k]
    ring = 1
    done = 0                      # rings already visited
    while True:
        for i in range(n):
            cx0, cy0 = cell[i, 0], cell[i, 1]
            for cx in range(cx0 - ring, cx0 + ring + 1):
                for cy in range(cy0 - ring, cy0 + ring + 1):
                    if done > 0 and max(abs(cx - cx0), abs(cy - cy0)) <= done:
                        continue          # visited in an earlier round
                    b = _bucket(cx, cy, mask)
                    for q in range(head[b], head[b + 1]):
                        j = items[q]
                        if j <= i or cell[j, 0] != cx or cell[j, 1] != cy:
                            continue
                        d = math.hypot(pos[i, 0] - pos[j, 0], pos[i, 1] - pos[j, 1])
                        low = d - half_diag[i] - half_diag[j]
                        if low >= best:
                            continue
                        g = rect_gap_kernel(pos[i, 0], pos[i, 1], pos[i, 2], length[i], width[i],
                                            pos[j, 0], pos[j, 1], pos[j, 2], length[j], width[j])
                        if g < best or (g == best and (i < bi or (i == bi and j < bj))):
                            best, bi, bj = g, i, j
        # an unvisited pair has centres more than ring * h apart
        if n < 2 or best <= ring * h - 2.0 * hdmax:
            break
        # every pair visited once the rings span all the cells in use
        span = 0
        for k in range(n):
            span = max(span, abs(cell[k, 0] - cell[0, 0]), abs(cell[k, 1] - cell[0, 1]))
        if ring >= 2 * span:
            break
        done = ring
        ring = 2 * ring
    return best, bi, bj


@njit(cache=True)
def separation_scan_kernel(pos, dims):
    """``separation_kernel`` without the hash, for a few rectangles: every
    pair (i < j) in that order, skipped when the bounding circles are
    farther apart than the best gap so far (pos (N, 3) x, y, yaw; dims (N,
    >= 3) length, width, half diagonal).  The smallest gap and the first
    pair with it, (inf, -1, -1) for fewer than two; (nan, -2, -2) when a
    position (x, y) is not finite."""
    n = pos.shape[0]
    for k in range(n):
        if not (math.isfinite(pos[k, 0]) and math.isfinite(pos[k, 1])):
            return math.nan, -2, -2
    best = math.inf
    bi = -1
    bj = -1
    for i in range(n):
        for j in range(i + 1, n):
            d = math.hypot(pos[i, 0] - pos[j, 0], pos[i, 1] - pos[j, 1])
            low = d - dims[i, 2] - dims[j, 2]
            if low >= best:
                continue
            g = rect_gap_kernel(pos[i, 0], pos[i, 1], pos[i, 2], dims[i, 0], dims[i, 1],
                                pos[j, 0], pos[j, 1], pos[j, 2], dims[j, 0], dims[j, 1])
            if g < best:              # (a tie comes later in the order: the first pair keeps it)
                best, bi, bj = g, i, j
    return best, bi, bj


def warm_sim_kernels() -> None:
    """Compile (or load from numba's cache) the kernels above on tiny inputs."""
    occ = np.zeros((8, 8), np.bool_)
    dist = np.ones((8, 8), np.float32)
    footprint_clearance_kernel(occ, dist, 0.0, 0.0, 0.1, 0.4, 0.4, 0.1, 0.2, 0.1, 5, 3, np.zeros((1, 3)))
    from edgepilot.sim.fleet.world import SpatialHash

    pos = np.array([[0.0, 0.0, 0.0], [1.5, 0.2, 0.3], [40.0, 0.0, 0.0]])
    dims = np.array([[0.9, 0.6, 0.55, 0.45]] * 3)
    h = SpatialHash()
    h.build(pos, 1.1)
    separation_kernel(pos, dims[:, 0], dims[:, 1], dims[:, 2], h.h, h.mask, h.cell, h.head, h.items)
    separation_scan_kernel(pos, dims)
    hash_within_kernel(pos[:, 0], pos[:, 1], dims[:, 3], h.h, h.mask, h.cell, h.head, h.items, 0.0, 0.0, 5.0, 0,
                       h.out)
    near_kernel(pos, np.ascontiguousarray(dims[:, 3]), np.arange(3), 0.0, 0.0, 5.0, 0, np.empty(3, np.int64),
                np.empty((3, 3)))
