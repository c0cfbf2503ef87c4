"""A small Kalman filter fusing GPS position/velocity and compass heading.

Two decoupled linear filters, both in the ENU map frame:
- translation, state [x, y, vx, vy] with a constant-velocity model driven
  by white acceleration noise, measured by GPS position and velocity;
- heading, state [yaw, yaw_rate], measured by the compass, innovations
  wrapped to (-pi, pi].
Fixes with no 2-D/3-D solution are ignored.
"""
from __future__ import annotations

import math

import numpy as np

from edgepilot.vehicle.geo import LocalFrame, wrap_pi
from edgepilot.vehicle.types import CompassReading, GpsFix, VehicleState


class GpsCompassFilter:
    """Both filters in plain floats: with the GPS measuring the whole
    translation state (H = I) and diagonal noise, the east and north axes
    never couple, so the translation filter is two [position, velocity]
    filters of 2 x 2 covariance each.  Their covariances are always equal:
    the covariance recursion does not depend on the measured values, and
    both axes start alike and see the same model noise and the same
    measurement noise.  So the axes share one covariance (and one gain),
    computed once per step (``x``, ``P`` give the 4-state view).  The NumPy
    matrix form of the same filter is the test oracle
    (tests/test_gps_compass_filter.py)."""

    def __init__(self, frame: LocalFrame, accel_noise: float = 0.5, yaw_accel_noise: float = 1.0,
                 gps_noise_floor: float = 0.3, compass_noise: float = math.radians(3.0),
                 velocity_noise: float = 0.1):
        self.frame = frame
        self.q_acc = accel_noise
        self.q_yaw = yaw_accel_noise
        self.gps_floor = gps_noise_floor
        self.r_yaw = compass_noise ** 2
        self.r_vel = velocity_noise ** 2
        # per axis (east, north): [pos, vel]; their one covariance [[a, b], [c, d]] as [a, b, c, d]
        self._e = [0.0, 0.0]
        self._n = [0.0, 0.0]
        self._P = [1e6, 0.0, 0.0, 1e6]
        # heading: [yaw, rate] and its covariance
        self._h = [0.0, 0.0]
        self._Ph = [1e3, 0.0, 0.0, 1e3]
        self.t: float | None = None
        self.have_pos = False
        self.have_yaw = False

    # the 4-state and 2-state views (arrays, read-only copies)
    @property
    def x(self) -> np.ndarray:
        """[x, y, vx, vy] map frame [m, m/s]."""
        e, n = self._e, self._n
        return np.array([e[0], n[0], e[1], n[1]])

    @property
    def P(self) -> np.ndarray:
        """4 x 4 covariance of ``x`` (each axis's block the shared one)."""
        a, b, c, d = self._P
        P = np.zeros((4, 4))
        P[0, 0], P[0, 2], P[2, 0], P[2, 2] = a, b, c, d
        P[1, 1], P[1, 3], P[3, 1], P[3, 3] = a, b, c, d
        return P

    @property
    def h(self) -> np.ndarray:
        """[yaw, yaw_rate] [rad, rad/s]."""
        return np.array(self._h)

    @property
    def Ph(self) -> np.ndarray:
        a, b, c, d = self._Ph
        return np.array([[a, b], [c, d]])

    def predict(self, now: float) -> None:
        """Both filters to ``now``: each [pos, vel] and covariance by
        F = [[1, dt], [0, 1]] and white acceleration over dt,
        G = [dt^2 / 2, dt]: x = F x, P = F P F' + G G' q^2 (the shared
        translation covariance once, then the heading's).  One loop body for
        the two covariances, not a helper called per covariance (the calls
        cost more than the arithmetic); the noise is computed every step
        (the clock's dt varies in its last bits, so a cache keyed on it
        would seldom hit)."""
        t = self.t
        if t is None:
            self.t = now
            return
        dt = now - t
        if dt <= 0:
            return
        self.t = now
        a = 0.5 * dt * dt
        aa, ab, bb = a * a, a * dt, dt * dt
        qa, qh = self.q_acc ** 2, self.q_yaw ** 2
        e, n, h = self._e, self._n, self._h
        e[0] += dt * e[1]
        n[0] += dt * n[1]
        h[0] = wrap_pi(h[0] + dt * h[1])
        for P, q in ((self._P, qa), (self._Ph, qh)):
            p00, p01, p10, p11 = P
            a00 = p00 + dt * p10
            a01 = p01 + dt * p11
            n01 = ab * q
            P[:] = (a00 + dt * a01 + aa * q, a01 + n01, p10 + dt * p11 + n01, p11 + bb * q)

    def update_gps(self, fix: GpsFix) -> None:
        if fix.fix_type < 2:
            return
        px, py = self.frame.to_local(fix.lat, fix.lon)
        hacc, floor = fix.hacc, self.gps_floor
        r_pos = (floor if floor > hacc else hacc) ** 2      # max(hacc, floor) without the call
        rv = self.r_vel
        if not self.have_pos:
            self._e, self._n = [px, fix.vel_e], [py, fix.vel_n]
            self._P = [r_pos, 0.0, 0.0, rv]
            self.have_pos = True
            return
        # innovation covariance S = P + R: [[p00 + r_pos, p01], [p10, p11 + rv]]; K = P S^-1 (both axes)
        P = self._P
        p00, p01, p10, p11 = P
        s00, s11 = p00 + r_pos, p11 + rv
        det = s00 * s11 - p01 * p10
        k00 = (p00 * s11 - p01 * p10) / det
        k01 = (p01 * s00 - p00 * p01) / det
        k10 = (p10 * s11 - p11 * p10) / det
        k11 = (p11 * s00 - p10 * p01) / det
        for s, zp, zv in ((self._e, px, fix.vel_e), (self._n, py, fix.vel_n)):
            x, v = s
            y0, y1 = zp - x, zv - v
            s[0] = x + (k00 * y0 + k01 * y1)
            s[1] = v + (k10 * y0 + k11 * y1)
        P[:] = ((1.0 - k00) * p00 - k01 * p10, (1.0 - k00) * p01 - k01 * p11,
                (1.0 - k11) * p10 - k10 * p00, (1.0 - k11) * p11 - k10 * p01)

    def update_compass(self, reading: CompassReading) -> None:
        if not self.have_yaw:
            self._h = [wrap_pi(reading.yaw), 0.0]
            self._Ph = [self.r_yaw, 0.0, 0.0, 1.0]
            self.have_yaw = True
            return
        h, P = self._h, self._Ph
        yaw, rate = h
        p00, p01, p10, p11 = P
        y = wrap_pi(reading.yaw - yaw)
        S = p00 + self.r_yaw
        k0, k1 = p00 / S, p10 / S
        h[0] = wrap_pi(yaw + k0 * y)
        h[1] = rate + k1 * y
        P[:] = (p00 - k0 * p00, p01 - k0 * p01, p10 - k1 * p00, p11 - k1 * p01)

    def state(self, now: float) -> VehicleState:
        e, n = self._e, self._n
        x, vx, y, vy = e[0], e[1], n[0], n[1]
        yaw, yaw_rate = self._h
        lat, lon = self.frame.to_geo(x, y)
        pos_std = math.sqrt(self._P[0])       # the position variance, the same on both axes
        valid = self.have_pos and self.have_yaw
        # the fields in order, positionally: keywords cost as much as the rest of the call
        return VehicleState(now, x, y, yaw, vx, vy, yaw_rate, lat, lon, pos_std, valid)
