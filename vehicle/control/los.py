"""Line-of-sight guidance with current compensation for a twin-thruster USV.

Guidance (integral LOS): the heading command is the path direction
corrected by ``atan((e + k_i * e_int) / lookahead)``, e the cross-track
error.  The integral state grows while a cross current holds the boat off
the line and settles at the crab angle the current needs, so the boat
tracks the line with zero steady-state error.
Control: heading PD -> differential thrust, surge speed PI with drag
feed-forward -> common thrust.
"""
from __future__ import annotations

import math

from edgepilot.vehicle.config import VehicleConfig
from edgepilot.vehicle.control.path import PolylinePath
from edgepilot.vehicle.geo import wrap_pi
from edgepilot.vehicle.types import ActuatorCommand, VehicleState


class LosGuidance:
    def __init__(self, cfg: VehicleConfig):
        if cfg.hull is None:
            raise ValueError("LOS guidance needs a [hull] config")
        self.cfg = cfg
        self.reset()

    def reset(self) -> None:
        self.s = 0.0
        self.e_int = 0.0
        self.v_int = 0.0
        self.t_prev: float | None = None

    def command(self, state: VehicleState, path: PolylinePath, speed: float, lookahead: float,
                stop_at_end: bool, gains: dict) -> tuple[ActuatorCommand, float]:
        heading_d, u_d, e = self.desired(state, path, speed, lookahead, stop_at_end, gains)
        return self.track(state, heading_d, u_d, gains), e

    def desired(self, state: VehicleState, path: PolylinePath, speed: float, lookahead: float,
                stop_at_end: bool, gains: dict) -> tuple[float, float, float]:
        """Guidance only: (heading [rad ENU], surge speed [m/s], cross-track
        error [m]) to follow ``path``.  A collision-avoidance helm may
        replace the heading and speed before ``track``."""
        dt = 0.0 if self.t_prev is None else max(0.0, state.t - self.t_prev)
        self.t_prev = state.t
        self._dt = dt
        proj = path.project(state.x, state.y, s_hint=self.s, window=max(4.0 * lookahead, 10.0))
        self.s = max(self.s, proj.s)
        e = proj.cross_track_error
        ki = gains["LOS_KI"]
        if ki > 0 and dt > 0:
            self.e_int += dt * lookahead * e / ((e + ki * self.e_int) ** 2 + lookahead ** 2)
            self.e_int = max(-20.0, min(20.0, self.e_int))
        course_d = proj.heading - math.atan((e + ki * self.e_int) / lookahead)
        heading_d = wrap_pi(course_d)
        dist_end = math.hypot(path.points[-1][0] - state.x, path.points[-1][1] - state.y)
        u_d = min(speed, self.cfg.limits.max_speed)
        if stop_at_end:
            u_d = min(u_d, 0.3 * dist_end + 0.2)
        return heading_d, u_d, e

    def track(self, state: VehicleState, heading_d: float, u_d: float, gains: dict) -> ActuatorCommand:
        """Control only: heading PD and surge-speed PI to hold ``heading_d``
        [rad ENU] and ``u_d`` [m/s]; call after ``desired`` each tick."""
        dt = getattr(self, "_dt", 0.0)
        err = wrap_pi(heading_d - state.yaw)
        hull = self.cfg.hull
        u_d *= max(0.2, math.cos(min(abs(err), math.pi / 2)))  # slow while turning hard
        # Speed along our heading, over ground (the thrust has to make it so).
        u = state.vx * math.cos(state.yaw) + state.vy * math.sin(state.yaw)
        ev = u_d - u
        if dt > 0:
            self.v_int = max(-1.0, min(1.0, self.v_int + gains["SPD_KI"] * ev * dt))
        drag = hull.surge_drag_linear * u_d + hull.surge_drag_quadratic * u_d * abs(u_d)
        surge = drag / (2.0 * hull.max_thrust) + gains["SPD_KP"] * ev + self.v_int
        turn = gains["HDG_KP"] * err - gains["HDG_KD"] * state.yaw_rate
        surge = max(-hull.reverse_ratio, min(1.0, surge))
        turn = max(-1.0, min(1.0, turn))
        left, right = surge - turn, surge + turn
        m = max(abs(left), abs(right), 1.0)
        return ActuatorCommand(left / m, right / m)
