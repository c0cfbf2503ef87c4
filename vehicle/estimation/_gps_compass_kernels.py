"""Numba kernels of the GPS + compass filter (``vehicle/estimation/gps_compass.py``,
the validating front): the prediction, the GPS update and the compass update
on the filter's one float64 state array, in place.  They do the plain-float
arithmetic of the filter as it was written in Python, in the same order, so
they give the same floats (tests/test_gps_compass_filter.py checks them bit
for bit against that form).  A Python call costs a float object per
operation; the kernels run once per control tick each, a call with a few
float arguments, about half the time.

The state array (``GpsCompassFilter._s``): the east axis [position,
velocity], the north axis [position, velocity], the heading [yaw, rate],
the translation axes' one shared covariance [a, b, c, d] (the 2 x 2
[[a, b], [c, d]]) and the heading's."""
from __future__ import annotations

from numba import njit
from numba.extending import register_jitable

from edgepilot.vehicle.geo import wrap_pi

# state array indices
E, EV, N, NV, YAW, RATE, P, PH = 0, 1, 2, 3, 4, 5, 6, 10
SIZE = 14

# geo.wrap_pi, the one rule, compiled into the kernels below (it stays a plain
# Python function for Python callers).  numba's cache of these kernels is kept
# by this file: a change to wrap_pi needs this file touched to recompile them.
register_jitable(wrap_pi)


@njit(cache=True)
def predict_kernel(s, dt, qa, qh):
    """Both filters ``dt`` [s] on: each [pos, vel] by F = [[1, dt], [0, 1]],
    the covariances by P = F P F' + G G' q (G = [dt^2 / 2, dt], ``qa`` and
    ``qh`` the translation's and heading's q = noise^2), the yaw wrapped."""
    a = 0.5 * dt * dt
    aa, ab, bb = a * a, a * dt, dt * dt
    s[E] += dt * s[EV]
    s[N] += dt * s[NV]
    s[YAW] = wrap_pi(s[YAW] + dt * s[RATE])
    for k in range(2):
        i = P if k == 0 else PH
        q = qa if k == 0 else qh
        p00, p01, p10, p11 = s[i], s[i + 1], s[i + 2], s[i + 3]
        a00 = p00 + dt * p10
        a01 = p01 + dt * p11
        n01 = ab * q
        s[i] = a00 + dt * a01 + aa * q
        s[i + 1] = a01 + n01
        s[i + 2] = p10 + dt * p11 + n01
        s[i + 3] = p11 + bb * q


@njit(cache=True)
def update_gps_kernel(s, px, py, ve, vn, r_pos, rv):
    """A GPS fix, position (``px``, ``py``) [m] and velocity (``ve``, ``vn``)
    [m/s], variances ``r_pos`` and ``rv``: both axes by the one gain
    K = P (P + R)^-1, then the shared covariance.  A zero determinant raises
    Python's ZeroDivisionError before anything changes, as the float
    division did."""
    p00, p01, p10, p11 = s[P], s[P + 1], s[P + 2], s[P + 3]
    s00, s11 = p00 + r_pos, p11 + rv
    det = s00 * s11 - p01 * p10
    if det == 0.0:
        raise ZeroDivisionError("float division by zero")
    k00 = (p00 * s11 - p01 * p10) / det
    k01 = (p01 * s00 - p00 * p01) / det
    k10 = (p10 * s11 - p11 * p10) / det
    k11 = (p11 * s00 - p10 * p01) / det
    for k in range(2):
        i = E if k == 0 else N
        zp = px if k == 0 else py
        zv = ve if k == 0 else vn
        x, v = s[i], s[i + 1]
        y0, y1 = zp - x, zv - v
        s[i] = x + (k00 * y0 + k01 * y1)
        s[i + 1] = v + (k10 * y0 + k11 * y1)
    s[P] = (1.0 - k00) * p00 - k01 * p10
    s[P + 1] = (1.0 - k00) * p01 - k01 * p11
    s[P + 2] = (1.0 - k11) * p10 - k10 * p00
    s[P + 3] = (1.0 - k11) * p11 - k10 * p01


@njit(cache=True)
def update_compass_kernel(s, yaw_meas, r_yaw):
    """A compass heading ``yaw_meas`` [rad], variance ``r_yaw``: the
    innovation wrapped, the gain from the heading covariance, the yaw
    wrapped again.  A zero innovation variance raises Python's
    ZeroDivisionError before anything changes."""
    yaw, rate = s[YAW], s[RATE]
    p00, p01, p10, p11 = s[PH], s[PH + 1], s[PH + 2], s[PH + 3]
    y = wrap_pi(yaw_meas - yaw)
    S = p00 + r_yaw
    if S == 0.0:
        raise ZeroDivisionError("float division by zero")
    k0, k1 = p00 / S, p10 / S
    s[YAW] = wrap_pi(yaw + k0 * y)
    s[RATE] = rate + k1 * y
    s[PH] = p00 - k0 * p00
    s[PH + 1] = p01 - k0 * p01
    s[PH + 2] = p10 - k1 * p00
    s[PH + 3] = p11 - k1 * p01
