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

from edgepilot.vehicle.estimation import _gps_compass_kernels as K
from edgepilot.vehicle.estimation._gps_compass_kernels import predict_kernel, update_compass_kernel, update_gps_kernel
from edgepilot.vehicle.geo import LocalFrame, wrap_pi
from edgepilot.vehicle.types import CompassReading, GpsFix, VehicleState


class GpsCompassFilter:
    """Both filters as plain per-axis arithmetic: with the GPS measuring the whole
    translation state (H = I) and diagonal noise, the east and north axes
    never couple, so the translation filter is two [position, velocity]
    filters of 2 x 2 covariance each.  Their covariances are always equal:
    the covariance recursion does not depend on the measured values, and
    both axes start alike and see the same model noise and the same
    measurement noise.  So the axes share one covariance (and one gain),
    computed once per step (``x``, ``P`` give the 4-state view).

    The state lives in one float64 array (``_s``: east [position,
    velocity], north [position, velocity], heading [yaw, rate], the shared
    translation covariance [a, b, c, d], the heading's) that numba kernels
    update in place (``vehicle/estimation/_gps_compass_kernels.py``): the
    same arithmetic in the same order as the plain-float form, once a tick
    each for about half the time of the Python floats.  The NumPy matrix
    form of the same filter is the test oracle, and the plain-float form
    the bit-for-bit one (tests/test_gps_compass_filter.py)."""

    def __init__(self, frame: LocalFrame, accel_noise: float = 0.5, yaw_accel_noise: float = 1.0,
                 gps_noise_floor: float = 0.3, compass_noise: float = math.radians(3.0),
                 velocity_noise: float = 0.1):
        self.frame = frame
        self.q_acc = accel_noise
        self.q_yaw = yaw_accel_noise
        self.gps_floor = gps_noise_floor
        self.r_yaw = compass_noise ** 2
        self.r_vel = velocity_noise ** 2
        s = np.zeros(K.SIZE)
        s[K.P:K.P + 4] = (1e6, 0.0, 0.0, 1e6)
        s[K.PH:K.PH + 4] = (1e3, 0.0, 0.0, 1e3)
        self._s = s
        self.t: float | None = None
        self.have_pos = False
        self.have_yaw = False

    # the 4-state and 2-state views (arrays, read-only copies)
    @property
    def x(self) -> np.ndarray:
        """[x, y, vx, vy] map frame [m, m/s]."""
        s = self._s
        return np.array([s[K.E], s[K.N], s[K.EV], s[K.NV]])

    @property
    def P(self) -> np.ndarray:
        """4 x 4 covariance of ``x`` (each axis's block the shared one)."""
        a, b, c, d = self._s[K.P:K.P + 4].tolist()
        P = np.zeros((4, 4))
        P[0, 0], P[0, 2], P[2, 0], P[2, 2] = a, b, c, d
        P[1, 1], P[1, 3], P[3, 1], P[3, 3] = a, b, c, d
        return P

    @property
    def h(self) -> np.ndarray:
        """[yaw, yaw_rate] [rad, rad/s]."""
        return self._s[K.YAW:K.RATE + 1].copy()

    @property
    def Ph(self) -> np.ndarray:
        return self._s[K.PH:K.PH + 4].reshape(2, 2).copy()

    def predict(self, now: float) -> None:
        """Both filters to ``now``: each [pos, vel] and covariance by
        F = [[1, dt], [0, 1]] and white acceleration over dt,
        G = [dt^2 / 2, dt]: x = F x, P = F P F' + G G' q^2 (the shared
        translation covariance once, then the heading's;
        ``predict_kernel``).  The noise is computed every step (the clock's
        dt varies in its last bits, so a cache keyed on it would seldom
        hit)."""
        t = self.t
        if t is None:
            self.t = now
            return
        dt = now - t
        if dt <= 0:
            return
        self.t = now
        predict_kernel(self._s, dt, self.q_acc ** 2, self.q_yaw ** 2)

    def update_gps(self, fix: GpsFix) -> None:
        if fix.fix_type < 2:
            return
        px, py = self.frame.to_local(fix.lat, fix.lon)
        hacc, floor = fix.hacc, self.gps_floor
        r_pos = (floor if floor > hacc else hacc) ** 2      # max(hacc, floor) without the call
        rv = self.r_vel
        if not self.have_pos:
            s = self._s
            s[K.E], s[K.EV], s[K.N], s[K.NV] = px, fix.vel_e, py, fix.vel_n
            s[K.P:K.P + 4] = (r_pos, 0.0, 0.0, rv)
            self.have_pos = True
            return
        # innovation covariance S = P + R: [[p00 + r_pos, p01], [p10, p11 + rv]]; K = P S^-1 (both axes)
        update_gps_kernel(self._s, px, py, fix.vel_e, fix.vel_n, r_pos, rv)

    def update_compass(self, reading: CompassReading) -> None:
        if not self.have_yaw:
            s = self._s
            s[K.YAW], s[K.RATE] = wrap_pi(reading.yaw), 0.0
            s[K.PH:K.PH + 4] = (self.r_yaw, 0.0, 0.0, 1.0)
            self.have_yaw = True
            return
        update_compass_kernel(self._s, reading.yaw, self.r_yaw)

    def state(self, now: float) -> VehicleState:
        # east, north, heading and the position variance (the shared covariance's first) as Python floats
        x, vx, y, vy, yaw, yaw_rate, p_pos = self._s[:K.P + 1].tolist()
        lat, lon = self.frame.to_geo(x, y)
        pos_std = math.sqrt(p_pos)       # the position variance, the same on both axes
        valid = self.have_pos and self.have_yaw
        # the fields in order, positionally: keywords cost as much as the rest of the call
        return VehicleState(now, x, y, yaw, vx, vy, yaw_rate, lat, lon, pos_std, valid)
