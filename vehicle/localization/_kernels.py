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
from numba import njit


@njit(cache=True)
def particle_weights(poses, bx, by, lik, res, ox, oy, lik_outside, out):
    """AMCL's likelihood-field weight of every particle: p = 1 + sum over
    beams of pz^3, pz the field value at the beam's endpoint (``lik_outside``
    off the map).  out: float64 (N,)."""
    rows, cols = lik.shape
    inv = 1.0 / res
    nb = bx.shape[0]
    for i in range(poses.shape[0]):
        c = math.cos(poses[i, 2])
        s = math.sin(poses[i, 2])
        px = poses[i, 0]
        py = poses[i, 1]
        p = 1.0
        for j in range(nb):
            x = px + c * bx[j] - s * by[j]
            y = py + s * bx[j] + c * by[j]
            fc = (x - ox) * inv
            fr = (y - oy) * inv
            if fc >= 0.0 and fr >= 0.0 and fc < cols and fr < rows:
                pz = lik[int(fr), int(fc)]
            else:
                pz = lik_outside
            p += pz * pz * pz
        out[i] = p


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
