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
    filters of 2 x 2 covariance each (``x``, ``P`` give the 4-state view).
    The NumPy matrix form of the same filter is the test oracle
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
        # per axis (east, north): [pos, vel] and covariance [[a, b], [c, d]]
        self._ax = [[0.0, 0.0, 1e6, 0.0, 0.0, 1e6], [0.0, 0.0, 1e6, 0.0, 0.0, 1e6]]
        # heading: [yaw, rate] and covariance
        self._hd = [0.0, 0.0, 1e3, 0.0, 0.0, 1e3]
        self.t: float | None = None
        self.have_pos = False
        self.have_yaw = False

    # the 4-state and 2-state views (arrays, read-only copies)
    @property
    def x(self) -> np.ndarray:
        """[x, y, vx, vy] map frame [m, m/s]."""
        e, n = self._ax
        return np.array([e[0], n[0], e[1], n[1]])

    @property
    def P(self) -> np.ndarray:
        """4 x 4 covariance of ``x``."""
        e, n = self._ax
        P = np.zeros((4, 4))
        P[0, 0], P[0, 2], P[2, 0], P[2, 2] = e[2], e[3], e[4], e[5]
        P[1, 1], P[1, 3], P[3, 1], P[3, 3] = n[2], n[3], n[4], n[5]
        return P

    @property
    def h(self) -> np.ndarray:
        """[yaw, yaw_rate] [rad, rad/s]."""
        return np.array(self._hd[:2])

    @property
    def Ph(self) -> np.ndarray:
        h = self._hd
        return np.array([[h[2], h[3]], [h[4], h[5]]])

    def predict(self, now: float) -> None:
        """Both filters to ``now``: each [pos, vel] and covariance (6 floats)
        by F = [[1, dt], [0, 1]] and white acceleration over dt,
        G = [dt^2 / 2, dt]: x = F x, P = F P F' + G G' q^2.  One loop body
        for the three states, not a helper called per state (the calls cost
        more than the arithmetic); the noise is computed every step (the
        clock's dt varies in its last bits, so a cache keyed on it would
        seldom hit)."""
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
        q00, q01, q11 = aa * qa, ab * qa, bb * qa
        h00, h01, h11 = aa * qh, ab * qh, bb * qh
        e, n = self._ax
        h = self._hd
        for s, n00, n01, n11 in ((e, q00, q01, q11), (n, q00, q01, q11), (h, h00, h01, h11)):
            s[0] += dt * s[1]
            a00 = s[2] + dt * s[4]
            a01 = s[3] + dt * s[5]
            s[2] = a00 + dt * a01 + n00
            s[3] = a01 + n01
            s[4] = s[4] + dt * s[5] + n01
            s[5] = s[5] + n11
        h[0] = wrap_pi(h[0])

    def update_gps(self, fix: GpsFix) -> None:
        if fix.fix_type < 2:
            return
        px, py = self.frame.to_local(fix.lat, fix.lon)
        hacc, floor = fix.hacc, self.gps_floor
        r_pos = (floor if floor > hacc else hacc) ** 2      # max(hacc, floor) without the call
        rv = self.r_vel
        if not self.have_pos:
            self._ax = [[px, fix.vel_e, r_pos, 0.0, 0.0, rv], [py, fix.vel_n, r_pos, 0.0, 0.0, rv]]
            self.have_pos = True
            return
        e, n = self._ax
        for s, zp, zv in ((e, px, fix.vel_e), (n, py, fix.vel_n)):
            # innovation covariance S = P + R: [[p00 + r_pos, p01], [p10, p11 + rv]]; K = P S^-1
            x, v, p00, p01, p10, p11 = s
            s00, s11 = p00 + r_pos, p11 + rv
            det = s00 * s11 - p01 * p10
            k00 = (p00 * s11 - p01 * p10) / det
            k01 = (p01 * s00 - p00 * p01) / det
            k10 = (p10 * s11 - p11 * p10) / det
            k11 = (p11 * s00 - p10 * p01) / det
            y0, y1 = zp - x, zv - v
            s[:] = (x + (k00 * y0 + k01 * y1), v + (k10 * y0 + k11 * y1),
                    (1.0 - k00) * p00 - k01 * p10, (1.0 - k00) * p01 - k01 * p11,
                    (1.0 - k11) * p10 - k10 * p00, (1.0 - k11) * p11 - k10 * p01)

    def update_compass(self, reading: CompassReading) -> None:
        h = self._hd
        if not self.have_yaw:
            self._hd = [wrap_pi(reading.yaw), 0.0, self.r_yaw, 0.0, 0.0, 1.0]
            self.have_yaw = True
            return
        yaw, rate, p00, p01, p10, p11 = h
        y = wrap_pi(reading.yaw - yaw)
        S = p00 + self.r_yaw
        k0, k1 = p00 / S, p10 / S
        h[:] = (wrap_pi(yaw + k0 * y), rate + k1 * y, p00 - k0 * p00, p01 - k0 * p01, p10 - k1 * p00, p11 - k1 * p01)

    def state(self, now: float) -> VehicleState:
        e, n = self._ax
        x, vx, y, vy = e[0], e[1], n[0], n[1]
        yaw, yaw_rate = self._hd[0], self._hd[1]
        lat, lon = self.frame.to_geo(x, y)
        pe, pn = e[2], n[2]
        pos_std = math.sqrt(pn if pn > pe else pe)      # max(pe, pn) without the call, NaN as max() has it
        valid = self.have_pos and self.have_yaw
        # the fields in order, positionally: keywords cost as much as the rest of the call
        return VehicleState(now, x, y, yaw, vx, vy, yaw_rate, lat, lon, pos_std, valid)
