"""Vectorised NumPy versions of the localizer kernels: the oracles of the
tests (written for clarity) and, for the particle weights, a tuned NumPy
version that is the peer of benchmarks/localization.py (the tests hold it
to the oracle)."""
from __future__ import annotations

import numpy as np


def _lookup(lik, res, ox, oy, lik_outside, x, y):
    rows, cols = lik.shape
    fc = (x - ox) / res
    fr = (y - oy) / res
    inside = (fc >= 0) & (fr >= 0) & (fc < cols) & (fr < rows)
    r = np.where(inside, fr, 0).astype(np.int64)
    c = np.where(inside, fc, 0).astype(np.int64)
    return np.where(inside, lik[r, c].astype(np.float64), lik_outside)


def particle_weights_ref(poses, bx, by, cube, scale, res, ox, oy, cube_outside):
    """1 + sum over beams of the (quantised) pz^3 table at the endpoints."""
    c = np.cos(poses[:, 2])[:, None]
    s = np.sin(poses[:, 2])[:, None]
    x = poses[:, 0:1] + c * bx[None] - s * by[None]
    y = poses[:, 1:2] + s * bx[None] + c * by[None]
    q = _lookup(cube, res, ox, oy, cube_outside, x, y)
    return 1.0 + q.sum(axis=1) * scale


def particle_weights_numpy(poses, bx, by, table, rows, cols, scale, res, ox, oy, chunk=256):
    """``particle_weights_ref`` written for speed, as one would in NumPy:
    the endpoints of a block of particles in cell units by one matrix
    product ((m, 2, 3) particle transforms @ (3, beams)); blocks of
    ``chunk`` particles keep the temporaries in cache instead of faulting
    in fresh pages for a (particles x beams) array per step; in-place
    operations; off-map endpoints index the sentinel cell of ``table`` (the
    field's ``cube_flat``), so one ``take`` does the lookups; integer sums."""
    inv = 1.0 / res
    n = poses.shape[0]
    A = np.empty((n, 2, 3))
    c, s = np.cos(poses[:, 2]), np.sin(poses[:, 2])
    A[:, 0, 0], A[:, 0, 1], A[:, 0, 2] = c, -s, (poses[:, 0] - ox) * inv
    A[:, 1, 0], A[:, 1, 1], A[:, 1, 2] = s, c, (poses[:, 1] - oy) * inv
    B = np.vstack((bx * inv, by * inv, np.ones_like(bx)))
    total = np.empty(n, np.int64)
    for i in range(0, n, chunk):
        F = A[i:i + chunk] @ B                       # (m, 2, beams): column, row in cells
        fc, fr = F[:, 0], F[:, 1]
        inside = fc >= 0
        inside &= fr >= 0
        inside &= fc < cols
        inside &= fr < rows
        k = fr.astype(np.int32)
        k *= np.int32(cols)
        k += fc.astype(np.int32)
        np.putmask(k, ~inside, rows * cols)
        total[i:i + chunk] = table.take(k).sum(axis=1, dtype=np.int64)
    return 1.0 + total * scale


def correlative_search_ref(x0, y0, yaw0, bx, by, lik, res, ox, oy, lik_outside, n_lin, lin_step, n_ang,
                           ang_step):
    """Returns the score array [angle, dy, dx] (argmax = the kernel's best)."""
    a = yaw0 + (np.arange(2 * n_ang + 1) - n_ang) * ang_step
    off = (np.arange(2 * n_lin + 1) - n_lin) * lin_step
    c, s = np.cos(a)[:, None], np.sin(a)[:, None]
    rx = c * bx[None] - s * by[None]          # (A, B)
    ry = s * bx[None] + c * by[None]
    x = x0 + off[None, None, :, None] + rx[:, None, None, :]          # (A, 1, X, B)
    y = y0 + off[None, :, None, None] + ry[:, None, None, :]          # (A, Y, 1, B)
    x, y = np.broadcast_arrays(x, y)
    return _lookup(lik, res, ox, oy, lik_outside, x, y).sum(axis=-1)


def global_scores_ref(cx, cy, yaws, bx, by, lik, res, ox, oy, lik_outside):
    """(A, K) sum of the field over the beam endpoints of every heading A
    at every candidate position K."""
    c, s = np.cos(yaws)[:, None], np.sin(yaws)[:, None]
    rx = c * bx[None] - s * by[None]          # (A, B)
    ry = s * bx[None] + c * by[None]
    x = cx[None, :, None] + rx[:, None, :]   # (A, K, B)
    y = cy[None, :, None] + ry[:, None, :]
    inv = 1.0 / res
    rows, cols = lik.shape
    fc, fr = (x - ox) * inv, (y - oy) * inv
    inside = (fc >= 0) & (fr >= 0) & (fc < cols) & (fr < rows)
    v = lik[np.where(inside, fr, 0).astype(np.int64), np.where(inside, fc, 0).astype(np.int64)]
    return np.where(inside, v.astype(np.float64), lik_outside).sum(axis=-1)
