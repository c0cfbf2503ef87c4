"""Closest point of approach (CPA) and time to it (TCPA) for many contacts.

Straight-line motion at constant velocity over ground for both vessels.
Positions are map-frame ENU metres, velocities over ground m/s (ENU),
times in seconds from now.  The numba kernels live in ``_cpa_kernels``;
this module validates inputs and allocates outputs.
"""
from __future__ import annotations

import math

import numpy as np

from edgepilot.vehicle.maritime import _cpa_kernels as K


def _vec(name: str, a, n: int | None = None) -> np.ndarray:
    """``a`` as a contiguous 1-D float64 array (of ``n`` elements when
    given): shape, dtype and layout only; finiteness is checked by
    ``_finite`` in one pass over the arrays that go in together.  An array
    that already is contiguous float64 is used as it is, not copied."""
    if type(a) is np.ndarray and a.dtype == np.float64 and a.flags.c_contiguous:
        arr = a
    else:
        arr = np.ascontiguousarray(np.asarray(a, dtype=np.float64))
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} must have {n} elements (one per contact), got {arr.shape[0]}")
    return arr


def _finite(names: tuple[str, str, str, str], a, b, c, d) -> None:
    """Raise naming the first of four equal-length arrays with a NaN/inf."""
    bad = K.first_non_finite(a, b, c, d)
    if bad >= 0:
        raise ValueError(f"{names[bad % 4]} must be finite (no NaN/inf), element {bad // 4} is "
                         f"{(a, b, c, d)[bad % 4][bad // 4]}")


def _own(own) -> tuple[float, float, float, float]:
    try:
        ox, oy, ovx, ovy = own
        ox, oy, ovx, ovy = float(ox), float(oy), float(ovx), float(ovy)
    except (TypeError, ValueError):
        raise ValueError(f"own must be (x, y, vx, vy) finite metres and m/s, got {own!r}") from None
    if not (math.isfinite(ox) and math.isfinite(oy) and math.isfinite(ovx) and math.isfinite(ovy)):
        raise ValueError(f"own must be (x, y, vx, vy) finite metres and m/s, got {own!r}")
    return ox, oy, ovx, ovy


def cpa(own, x, y, vx, vy, future_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """CPA of every contact relative to own ship.

    own: (x, y, vx, vy) of own ship [m, m/s]; x, y, vx, vy: (N,) contact
    positions and velocities over ground.  Returns (dcpa [m], tcpa [s]),
    each (N,) float64.  tcpa < 0 means the closest approach is past (the
    range is opening); with ``future_only`` tcpa is clamped at 0 and dcpa is
    then the present range."""
    ox, oy, ovx, ovy = _own(own)
    x = _vec("x", x)
    n = x.shape[0]
    y, vx, vy = _vec("y", y, n), _vec("vx", vx, n), _vec("vy", vy, n)
    _finite(("x", "y", "vx", "vy"), x, y, vx, vy)
    dcpa = np.empty(n)
    tcpa = np.empty(n)
    K.cpa_kernel(ox, oy, ovx, ovy, x, y, vx, vy, bool(future_only), dcpa, tcpa)
    return dcpa, tcpa


def cpa_candidates(own_xy, cand_vx, cand_vy, x, y, vx, vy, radius, horizon: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Closest range within ``horizon`` seconds for each candidate own
    velocity (M,) against each contact (N,), less the contact radius.
    Returns (dcpa (M, N) [m], tcpa (M, N) [s] in [0, horizon])."""
    ox, oy = (float(v) for v in own_xy)
    if not (np.isfinite(ox) and np.isfinite(oy)):
        raise ValueError(f"own_xy must be finite (x, y) metres, got {own_xy!r}")
    if not (np.isfinite(horizon) and horizon > 0):
        raise ValueError(f"horizon must be > 0 s, got {horizon}")
    cvx = _vec("cand_vx", cand_vx)
    cvy = _vec("cand_vy", cand_vy, cvx.shape[0])
    _finite(("cand_vx", "cand_vy", "cand_vx", "cand_vy"), cvx, cvy, cvx, cvy)
    x = _vec("x", x)
    n = x.shape[0]
    y, vx, vy, r = _vec("y", y, n), _vec("vx", vx, n), _vec("vy", vy, n), _vec("radius", radius, n)
    _finite(("x", "y", "vx", "vy"), x, y, vx, vy)
    _finite(("radius",) * 4, r, r, r, r)
    d = np.empty((cvx.shape[0], n))
    t = np.empty((cvx.shape[0], n))
    K.min_cpa_over_candidates(ox, oy, cvx, cvy, x, y, vx, vy, r, float(horizon), d, t)
    return d, t


def cpa_numpy(own, x, y, vx, vy, future_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The same as ``cpa`` in plain vectorised NumPy: the reference the
    tests compare against and the peer the benchmark times."""
    ox, oy, ovx, ovy = own
    px, py = np.asarray(x) - ox, np.asarray(y) - oy
    rvx, rvy = np.asarray(vx) - ovx, np.asarray(vy) - ovy
    v2 = rvx * rvx + rvy * rvy
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(v2 > 1e-9, -(px * rvx + py * rvy) / np.where(v2 > 1e-9, v2, 1.0), 0.0)
    if future_only:
        t = np.maximum(t, 0.0)
    return np.hypot(px + rvx * t, py + rvy * t), t
