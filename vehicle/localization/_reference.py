"""Vectorised NumPy versions of the localizer kernels: the oracle of the
tests and the peer of benchmarks/localization.py."""
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
