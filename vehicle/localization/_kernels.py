"""Numba kernels of the lidar localizer (validated fronts in
likelihood_field.py, particle_filter.py and scan_matcher.py; NumPy oracle in
_reference.py).

Conventions: grids are row-major (row 0 south, column 0 west), a point
(x, y) falls in cell (floor((y - oy) / res), floor((x - ox) / res)).  Beam
endpoints are given in the vehicle frame (x forward, y left) as two float64
arrays bx, by; poses as (x, y, yaw) rows of a float64 (N, 3) array.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange


@njit(cache=True, boundscheck=False, inline="always")
def _particle_score(x, y, yaw, bxs, bys, table, rows, cols, ox, oy, inv):
    """Sum over the beams of the quantised pz^3 at the beam endpoints of
    one particle (integer: exact, whatever the order).  bxs, bys: the beam
    endpoints in cell units; table: the field's ``cube_flat`` (row-major
    cells, then the off-map value at index rows * cols)."""
    c = math.cos(yaw)
    s = math.sin(yaw)
    X = (x - ox) * inv
    Y = (y - oy) * inv
    fcols = float(cols)
    frows = float(rows)
    ncols = np.int32(cols)
    off_map = np.int32(rows * cols)
    acc = np.int64(0)
    for j in range(bxs.shape[0]):
        fc = X + c * bxs[j] - s * bys[j]
        fr = Y + s * bxs[j] + c * bys[j]
        # branch-free: an off-map endpoint reads the sentinel cell, so the
        # loop vectorises (the lookups become a gather); NaN compares False
        inside = (fc >= 0.0) & (fr >= 0.0) & (fc < fcols) & (fr < frows)
        k = np.int32(fr) * ncols + np.int32(fc)
        acc += table[k if inside else off_map]
    return acc


@njit(cache=True, boundscheck=False)
def _beams_in_cells(bx, by, inv):
    nb = bx.shape[0]
    bxs = np.empty(nb)
    bys = np.empty(nb)
    for j in range(nb):
        bxs[j] = bx[j] * inv
        bys[j] = by[j] * inv
    return bxs, bys


@njit(cache=True, boundscheck=False)
def particle_weights(poses, bx, by, table, rows, cols, scale, res, ox, oy, out):
    """AMCL's likelihood-field weight of every particle: p = 1 + sum over
    beams of pz^3, pz the field at the beam's endpoint, one thread.
    ``table`` is the field's ``cube_flat``: pz^3 per cell quantised to
    uint16 (value * scale = pz^3; a quarter of the float64 table's memory),
    row-major, with the off-map value appended at index rows * cols.
    out: float64 (N,).  Inputs are checked by the callers
    (``particle_filter.weigh_particles``): no bounds checks here.

    Particle-major: each particle's rotation is computed once, its sum stays
    in a register, and the beam loop vectorises."""
    inv = 1.0 / res
    bxs, bys = _beams_in_cells(bx, by, inv)
    for i in range(poses.shape[0]):
        out[i] = 1.0 + _particle_score(poses[i, 0], poses[i, 1], poses[i, 2], bxs, bys, table, rows, cols,
                                       ox, oy, inv) * scale


@njit(cache=True, boundscheck=False, parallel=True)
def particle_weights_parallel(poses, bx, by, table, rows, cols, scale, res, ox, oy, out):
    """``particle_weights`` with the particles split over numba's threads
    (prange); the same numbers (integer sums per particle)."""
    inv = 1.0 / res
    bxs, bys = _beams_in_cells(bx, by, inv)
    for i in prange(poses.shape[0]):
        out[i] = 1.0 + _particle_score(poses[i, 0], poses[i, 1], poses[i, 2], bxs, bys, table, rows, cols,
                                       ox, oy, inv) * scale


@njit(cache=True)
def correlative_search(x0, y0, yaw0, bx, by, lik, res, ox, oy, lik_outside, n_lin, lin_step, n_ang, ang_step,
                       scores):
    """Exhaustive search of the window (2 n_lin + 1)^2 x (2 n_ang + 1) poses
    around (x0, y0, yaw0); the score of a pose is the sum of the field over
    the beam endpoints.  scores: float64 (2 n_ang + 1, 2 n_lin + 1, 2 n_lin + 1)
    [angle, dy, dx].  Returns the index (k, i, j) of the best pose."""
    rows, cols = lik.shape
    inv = 1.0 / res
    nb = bx.shape[0]
    best = -1.0
    bk = bi = bj = 0
    rx = np.empty(nb)
    ry = np.empty(nb)
    for k in range(2 * n_ang + 1):
        a = yaw0 + (k - n_ang) * ang_step
        c = math.cos(a)
        s = math.sin(a)
        for m in range(nb):
            rx[m] = c * bx[m] - s * by[m]
            ry[m] = s * bx[m] + c * by[m]
        for i in range(2 * n_lin + 1):
            py = y0 + (i - n_lin) * lin_step
            for j in range(2 * n_lin + 1):
                px = x0 + (j - n_lin) * lin_step
                sc = 0.0
                for m in range(nb):
                    fc = (px + rx[m] - ox) * inv
                    fr = (py + ry[m] - oy) * inv
                    if fc >= 0.0 and fr >= 0.0 and fc < cols and fr < rows:
                        sc += lik[int(fr), int(fc)]
                    else:
                        sc += lik_outside
                scores[k, i, j] = sc
                if sc > best:
                    best = sc
                    bk = k
                    bi = i
                    bj = j
    return bk, bi, bj


@njit(cache=True)
def _dist_grad(dist, res, ox, oy, x, y, out):
    """Bilinear distance at (x, y) and its gradient (cell centres are the
    samples).  Returns False off the interior of the grid."""
    rows, cols = dist.shape
    u = (x - ox) / res - 0.5
    v = (y - oy) / res - 0.5
    j0 = int(math.floor(u))
    i0 = int(math.floor(v))
    if j0 < 0 or i0 < 0 or j0 + 1 >= cols or i0 + 1 >= rows:
        return False
    fu = u - j0
    fv = v - i0
    d00 = dist[i0, j0]
    d01 = dist[i0, j0 + 1]
    d10 = dist[i0 + 1, j0]
    d11 = dist[i0 + 1, j0 + 1]
    out[0] = (d00 * (1 - fu) + d01 * fu) * (1 - fv) + (d10 * (1 - fu) + d11 * fu) * fv
    out[1] = ((d01 - d00) * (1 - fv) + (d11 - d10) * fv) / res
    out[2] = ((d10 - d00) * (1 - fu) + (d11 - d01) * fu) / res
    return True


@njit(cache=True)
def refine_pose(pose, bx, by, dist, res, ox, oy, inlier_dist, huber, iterations, H, stats):
    """Point-to-map Gauss-Newton on the distance field: minimise the Huber
    loss of the endpoint's distance to the nearest mapped obstacle.  Points
    farther than ``inlier_dist`` (obstacles not on the map, off-map points)
    are left out.  pose (3,) updated in place; H (3, 3) receives J^T W J of
    the last iteration; stats = (inliers, weighted residual sum of squares,
    iterations run)."""
    nb = bx.shape[0]
    g = np.empty(3)
    b = np.empty(3)
    A = np.empty((3, 3))
    n_in = 0
    rss = 0.0
    it = 0
    for it in range(iterations):
        c = math.cos(pose[2])
        s = math.sin(pose[2])
        for r in range(3):
            b[r] = 0.0
            for q in range(3):
                A[r, q] = 0.0
        n_in = 0
        rss = 0.0
        for m in range(nb):
            x = pose[0] + c * bx[m] - s * by[m]
            y = pose[1] + s * bx[m] + c * by[m]
            if not _dist_grad(dist, res, ox, oy, x, y, g):
                continue
            d = g[0]
            if d > inlier_dist:
                continue
            w = 1.0 if d <= huber else huber / d
            j0 = g[1]
            j1 = g[2]
            j2 = g[1] * (-s * bx[m] - c * by[m]) + g[2] * (c * bx[m] - s * by[m])
            J = (j0, j1, j2)
            for r in range(3):
                b[r] += w * J[r] * d
                for q in range(3):
                    A[r, q] += w * J[r] * J[q]
            n_in += 1
            rss += w * d * d
        for r in range(3):
            for q in range(3):
                H[r, q] = A[r, q]
        if n_in < 3:
            break
        # solve (A + lambda I) delta = -b by Cramer's rule (3x3)
        for r in range(3):
            A[r, r] += 1e-6
        det = (A[0, 0] * (A[1, 1] * A[2, 2] - A[1, 2] * A[2, 1])
               - A[0, 1] * (A[1, 0] * A[2, 2] - A[1, 2] * A[2, 0])
               + A[0, 2] * (A[1, 0] * A[2, 1] - A[1, 1] * A[2, 0]))
        if abs(det) < 1e-18:
            break
        dx = -(b[0] * (A[1, 1] * A[2, 2] - A[1, 2] * A[2, 1])
               - A[0, 1] * (b[1] * A[2, 2] - A[1, 2] * b[2])
               + A[0, 2] * (b[1] * A[2, 1] - A[1, 1] * b[2])) / det
        dy = -(A[0, 0] * (b[1] * A[2, 2] - A[1, 2] * b[2])
               - b[0] * (A[1, 0] * A[2, 2] - A[1, 2] * A[2, 0])
               + A[0, 2] * (A[1, 0] * b[2] - b[1] * A[2, 0])) / det
        dt = -(A[0, 0] * (A[1, 1] * b[2] - b[1] * A[2, 1])
               - A[0, 1] * (A[1, 0] * b[2] - b[1] * A[2, 0])
               + b[0] * (A[1, 0] * A[2, 1] - A[1, 1] * A[2, 0])) / det
        # a trust region: one step never moves more than a cell or a degree-ish
        lim = 2.0 * res
        dx = min(max(dx, -lim), lim)
        dy = min(max(dy, -lim), lim)
        dt = min(max(dt, -0.05), 0.05)
        pose[0] += dx
        pose[1] += dy
        pose[2] = (pose[2] + dt + math.pi) % (2.0 * math.pi) - math.pi
        if abs(dx) < 1e-4 and abs(dy) < 1e-4 and abs(dt) < 1e-5:
            break
    stats[0] = n_in
    stats[1] = rss
    stats[2] = it + 1


@njit(cache=True, boundscheck=False)
def global_scores(cx, cy, yaws, bx, by, lik, res, ox, oy, lik_outside, out):
    """Score of every (candidate position, heading) pair of a global
    search: the sum of the (coarse) field over the beam endpoints.
    cx, cy: float64 (K,) candidate positions [m]; yaws: float64 (A,)
    headings [rad]; lik: float32 (rows, cols) field of cell size ``res``;
    out: float32 (A, K), filled.  Heading-major: the beams are rotated once
    per heading, then every position reads the field at its endpoints."""
    rows, cols = lik.shape
    inv = 1.0 / res
    nb = bx.shape[0]
    rx = np.empty(nb)
    ry = np.empty(nb)
    for a in range(yaws.shape[0]):
        c = math.cos(yaws[a])
        s = math.sin(yaws[a])
        for m in range(nb):
            rx[m] = c * bx[m] - s * by[m]
            ry[m] = s * bx[m] + c * by[m]
        for k in range(cx.shape[0]):
            sc = 0.0
            for m in range(nb):
                # the oracle's arithmetic, so both pick the same cell
                fc = (cx[k] + rx[m] - ox) * inv
                fr = (cy[k] + ry[m] - oy) * inv
                if fc >= 0.0 and fr >= 0.0 and fc < cols and fr < rows:
                    sc += lik[int(fr), int(fc)]
                else:
                    sc += lik_outside
            out[a, k] = sc
