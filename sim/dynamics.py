"""Vehicle dynamics models, stepped on the simulated clock.

Both consume the same normalised ``ActuatorCommand`` (left, right in
[-1, 1]) a real motor controller gets, and keep their state in the ENU map
frame.  Units SI, angles radians.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from edgepilot.vehicle.config import DiffDrive, Hull
from edgepilot.vehicle.types import ActuatorCommand


_PI = math.pi
_TWO_PI = 2 * math.pi
_cos, _sin = math.cos, math.sin


def _clip(v: float, lo: float, hi: float) -> float:
    return lo if v < lo else hi if v > hi else v


@dataclass
class Truth:
    """True kinematic state in the map frame."""

    x: float
    y: float
    yaw: float
    vx: float = 0.0        # velocity over ground [m/s]
    vy: float = 0.0
    yaw_rate: float = 0.0

    @property
    def speed(self) -> float:
        return math.hypot(self.vx, self.vy)


class DiffDriveModel:
    """Differential-drive UGV: each wheel follows its commanded rim speed
    through a first-order lag, rate-limited by the wheel acceleration limit
    and saturated at the wheel's top speed; the body moves on the exact arc."""

    def __init__(self, drive: DiffDrive, x: float, y: float, yaw: float):
        self._p = drive
        # the chassis constants ``step`` reads, taken once (the config is frozen),
        # the limits with their negatives
        amax, vmax = drive.wheel_max_accel, drive.wheel_max_speed
        self._wheel = (amax, -amax, vmax, -vmax, drive.wheel_time_constant, drive.track_width)
        self.truth = Truth(x, y, yaw)
        self.vl = 0.0
        self.vr = 0.0

    @property
    def p(self) -> DiffDrive:
        """The chassis (fixed at construction: ``step`` uses its constants)."""
        return self._p

    def step(self, dt: float, cmd: ActuatorCommand, current=(0.0, 0.0), wind=(0.0, 0.0)) -> None:
        # Both wheels written out (this runs every physics step of every
        # vehicle; ``_clip`` and ``max`` inlined as conditional expressions,
        # the chassis constants one tuple with the limits' negatives, the
        # math functions and 2 pi module constants, no tuples packed for the
        # stores).
        amax, namax, vmax, nvmax, tau, track = self._wheel
        vl = self.vl
        vr = self.vr
        if cmd.estop:       # e-stop: the controller brakes at its limit, no lag
            a = vl / dt
            vl = vl - (namax if a < namax else amax if a > amax else a) * dt
            a = vr / dt
            vr = vr - (namax if a < namax else amax if a > amax else a) * dt
        else:               # each rim speed follows its command: lag, rate limit, saturation
            if dt > tau:                    # max(wheel_time_constant, dt)
                tau = dt
            c = cmd.left
            rate = ((-1.0 if c < -1.0 else 1.0 if c > 1.0 else c) * vmax - vl) / tau
            vl += (namax if rate < namax else amax if rate > amax else rate) * dt
            vl = nvmax if vl < nvmax else vmax if vl > vmax else vl
            c = cmd.right
            rate = ((-1.0 if c < -1.0 else 1.0 if c > 1.0 else c) * vmax - vr) / tau
            vr += (namax if rate < namax else amax if rate > amax else rate) * dt
            vr = nvmax if vr < nvmax else vmax if vr > vmax else vr
        self.vl = vl
        self.vr = vr
        v = 0.5 * (vl + vr)
        w = (vr - vl) / track
        t = self.truth
        yaw = t.yaw
        yaw1 = yaw + w * dt                 # the heading after the step, before wrapping
        if -1e-9 < w < 1e-9:                # abs(w) < 1e-9
            t.x += v * _cos(yaw) * dt
            t.y += v * _sin(yaw) * dt
        else:
            r = v / w
            t.x += r * (_sin(yaw1) - _sin(yaw))
            t.y -= r * (_cos(yaw1) - _cos(yaw))
        yaw = (yaw1 + _PI) % _TWO_PI - _PI
        t.yaw = yaw
        t.vx = v * _cos(yaw)
        t.vy = v * _sin(yaw)
        t.yaw_rate = w


class TwinThrusterModel:
    """3-DOF (surge, sway, yaw) displacement hull with two fixed thrusters.

    The state is the velocity relative to the water (u, v body frame, r);
    drag (linear + quadratic) acts on it, so a boat with no thrust ends up
    drifting with the current.  Over ground: R(yaw) [u, v] + current.
    Rigid-body Coriolis terms with diagonal (added) mass; wind pushes with a
    force proportional to the squared relative wind speed."""

    def __init__(self, hull: Hull, x: float, y: float, yaw: float):
        self.p = hull
        self.truth = Truth(x, y, yaw)
        self.u = 0.0
        self.v = 0.0
        self.r = 0.0
        self.tl = 0.0
        self.tr = 0.0

    def _thrust(self, t: float, cmd: float, dt: float) -> float:
        p = self.p
        c = _clip(cmd, -1.0, 1.0)
        target = c * p.max_thrust * (1.0 if c >= 0 else p.reverse_ratio)
        if p.thrust_time_constant <= dt:
            return target
        return t + (target - t) * dt / p.thrust_time_constant

    def step(self, dt: float, cmd: ActuatorCommand, current=(0.0, 0.0), wind=(0.0, 0.0)) -> None:
        p = self.p
        left, right = (0.0, 0.0) if cmd.estop else (cmd.left, cmd.right)
        self.tl = self._thrust(self.tl, left, dt)
        self.tr = self._thrust(self.tr, right, dt)
        t = self.truth
        c, s = math.cos(t.yaw), math.sin(t.yaw)
        u, v, r = self.u, self.v, self.r
        # Relative wind in the body frame (air velocity minus hull velocity over ground).
        vx_g = c * u - s * v + current[0]
        vy_g = s * u + c * v + current[1]
        wx, wy = wind[0] - vx_g, wind[1] - vy_g
        w_mag = math.hypot(wx, wy)
        fw_x = p.wind_coefficient * w_mag * (c * wx + s * wy)
        fw_y = p.wind_coefficient * w_mag * (-s * wx + c * wy)
        X = self.tl + self.tr - p.surge_drag_linear * u - p.surge_drag_quadratic * u * abs(u) + fw_x
        Y = -p.sway_drag_linear * v - p.sway_drag_quadratic * v * abs(v) + fw_y
        N = ((self.tr - self.tl) * 0.5 * p.thruster_separation
             - p.yaw_drag_linear * r - p.yaw_drag_quadratic * r * abs(r))
        m11, m22, m33 = p.mass, p.sway_mass, p.yaw_inertia
        du = (X + m22 * v * r) / m11
        dv = (Y - m11 * u * r) / m22
        dr = (N - (m22 - m11) * u * v) / m33
        self.u, self.v, self.r = u + du * dt, v + dv * dt, r + dr * dt
        t.yaw = (t.yaw + self.r * dt + math.pi) % (2 * math.pi) - math.pi
        c, s = math.cos(t.yaw), math.sin(t.yaw)
        t.vx = c * self.u - s * self.v + current[0]
        t.vy = s * self.u + c * self.v + current[1]
        t.x += t.vx * dt
        t.y += t.vy * dt
        t.yaw_rate = self.r
