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
    def __init__(self, frame: LocalFrame, accel_noise: float = 0.5, yaw_accel_noise: float = 1.0,
                 gps_noise_floor: float = 0.3, compass_noise: float = math.radians(3.0),
                 velocity_noise: float = 0.1):
        self.frame = frame
        self.q_acc = accel_noise
        self.q_yaw = yaw_accel_noise
        self.gps_floor = gps_noise_floor
        self.r_yaw = compass_noise ** 2
        self.r_vel = velocity_noise ** 2
        self.x = np.zeros(4)
        self.P = np.eye(4) * 1e6
        self.h = np.zeros(2)
        self.Ph = np.eye(2) * 1e3
        self.t: float | None = None
        self.have_pos = False
        self.have_yaw = False
        self._model_key = None
        self._model_cache = None

    def predict(self, now: float) -> None:
        if self.t is None:
            self.t = now
            return
        dt = now - self.t
        if dt <= 0:
            return
        self.t = now
        F, FT, Q, Fh, FhT, Qh = self._model(dt)
        self.x = F @ self.x
        self.P = F @ self.P @ FT + Q
        self.h = Fh @ self.h
        self.h[0] = wrap_pi(self.h[0])
        self.Ph = Fh @ self.Ph @ FhT + Qh

    def _model(self, dt: float):
        """Transition matrices and process noise for a step of ``dt`` s,
        kept for the last dt (a control loop steps by the same dt every
        tick: no arrays built per tick, the same numbers)."""
        key = (dt, self.q_acc, self.q_yaw)
        if self._model_key != key:
            F = np.array([[1, 0, dt, 0], [0, 1, 0, dt], [0, 0, 1, 0], [0, 0, 0, 1]], float)
            g = np.array([[0.5 * dt * dt, 0], [0, 0.5 * dt * dt], [dt, 0], [0, dt]])
            Fh = np.array([[1, dt], [0, 1]], float)
            gh = np.array([0.5 * dt * dt, dt])
            self._model_cache = (F, F.T, g @ g.T * self.q_acc ** 2, Fh, Fh.T, np.outer(gh, gh) * self.q_yaw ** 2)
            self._model_key = key
        return self._model_cache

    def update_gps(self, fix: GpsFix) -> None:
        if fix.fix_type < 2:
            return
        px, py = self.frame.to_local(fix.lat, fix.lon)
        r_pos = max(fix.hacc, self.gps_floor) ** 2
        if not self.have_pos:
            self.x[:] = (px, py, fix.vel_e, fix.vel_n)
            self.P = np.diag([r_pos, r_pos, self.r_vel, self.r_vel])
            self.have_pos = True
            return
        z = np.array([px, py, fix.vel_e, fix.vel_n])
        H = np.eye(4)
        R = np.diag([r_pos, r_pos, self.r_vel, self.r_vel])
        y = z - H @ self.x
        S = H @ self.P @ H.T + R
        K = self.P @ H.T @ np.linalg.inv(S)
        self.x = self.x + K @ y
        self.P = (np.eye(4) - K @ H) @ self.P

    def update_compass(self, reading: CompassReading) -> None:
        if not self.have_yaw:
            self.h[:] = (wrap_pi(reading.yaw), 0.0)
            self.Ph = np.diag([self.r_yaw, 1.0])
            self.have_yaw = True
            return
        y = wrap_pi(reading.yaw - self.h[0])
        S = self.Ph[0, 0] + self.r_yaw
        K = self.Ph[:, 0] / S
        self.h = self.h + K * y
        self.h[0] = wrap_pi(self.h[0])
        self.Ph = self.Ph - np.outer(K, self.Ph[0, :])

    def state(self, now: float) -> VehicleState:
        lat, lon = self.frame.to_geo(self.x[0], self.x[1])
        return VehicleState(
            t=now, x=float(self.x[0]), y=float(self.x[1]), yaw=float(self.h[0]),
            vx=float(self.x[2]), vy=float(self.x[3]), yaw_rate=float(self.h[1]),
            lat=lat, lon=lon, pos_std=float(math.sqrt(max(self.P[0, 0], self.P[1, 1]))),
            valid=self.have_pos and self.have_yaw)
