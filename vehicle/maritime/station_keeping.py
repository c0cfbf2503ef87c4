"""Station keeping for a twin-thruster USV (HOLD, LOITER, loiter mission
items): hold a point against current and wind.

A boat with two fixed thrusters can only push along its bow, so the
controller works out the force it needs in the map frame — PID on the
position error, the integral term learning the steady push of current and
wind — and turns the bow along that force and thrusts.  In steady state the
integral carries the disturbance and the bow points into it (up-current,
up-wind), the way a skipper holds a boat on a mooring.  With
``hold_into_disturbance = false`` the bow only turns towards the hold
point when the boat has drifted out of the deadband (cheaper, sloppier).
Far from the point (more than ``FAR_FACTOR`` deadbands) the boat first
drives back to it at a speed proportional to the distance.

Force units are fractions of the total forward thrust (2 x max_thrust).
Map frame ENU, metres, seconds, radians.
"""
from __future__ import annotations

import math

from edgepilot.vehicle.config import VehicleConfig
from edgepilot.vehicle.geo import wrap_pi
from edgepilot.vehicle.types import ActuatorCommand, VehicleState

KP = 0.06          # per metre of position error
KD = 0.35          # per m/s of velocity over ground
KI = 0.01          # per metre-second
I_MAX = 0.6        # integral term bound (fraction of full thrust)
FAR_FACTOR = 4.0


class StationKeeper:
    def __init__(self, cfg: VehicleConfig):
        if cfg.hull is None:
            raise ValueError("station keeping needs a [hull] config")
        self.cfg = cfg
        self.reset()

    def reset(self) -> None:
        self.ix = 0.0
        self.iy = 0.0
        self.t_prev: float | None = None
        self.target: tuple[float, float] | None = None

    def command(self, state: VehicleState, target: tuple[float, float], gains: dict) -> ActuatorCommand:
        """Thrust to hold ``target`` (x, y) [m]; ``gains`` has HDG_KP, HDG_KD."""
        if self.target is None or math.hypot(target[0] - self.target[0], target[1] - self.target[1]) > 0.01:
            self.reset()
            self.target = (float(target[0]), float(target[1]))
        dt = 0.0 if self.t_prev is None else max(0.0, state.t - self.t_prev)
        self.t_prev = state.t
        m = self.cfg.maritime
        ex, ey = target[0] - state.x, target[1] - state.y
        dist = math.hypot(ex, ey)
        hull = self.cfg.hull
        if dist > FAR_FACTOR * m.hold_radius_m:
            # Drive back: heading to the point, speed proportional to distance.
            heading_d = math.atan2(ey, ex)
            u_d = min(0.25 * dist, 0.6 * self.cfg.limits.max_speed)
            err = wrap_pi(heading_d - state.yaw)
            u = state.vx * math.cos(state.yaw) + state.vy * math.sin(state.yaw)
            drag = hull.surge_drag_linear * u_d + hull.surge_drag_quadratic * u_d * u_d
            surge = drag / (2.0 * hull.max_thrust) + 0.4 * (u_d - u) + self._i_along(state.yaw)
            surge *= max(0.0, math.cos(err))
            return self._mix(surge, err, state, gains)
        if dt > 0:
            self.ix = max(-I_MAX, min(I_MAX, self.ix + KI * ex * dt))
            self.iy = max(-I_MAX, min(I_MAX, self.iy + KI * ey * dt))
        fx = KP * ex + self.ix - KD * state.vx
        fy = KP * ey + self.iy - KD * state.vy
        fmag = math.hypot(fx, fy)
        if m.hold_into_disturbance:
            heading_d = math.atan2(fy, fx) if fmag > 0.01 else state.yaw
        elif dist > m.hold_radius_m:
            heading_d = math.atan2(ey, ex)
        else:
            heading_d = state.yaw
        err = wrap_pi(heading_d - state.yaw)
        surge = (fx * math.cos(state.yaw) + fy * math.sin(state.yaw)) * 2.0
        if abs(err) > math.pi / 2:
            surge = min(surge, 0.0)
        return self._mix(surge, err, state, gains)

    def _i_along(self, yaw: float) -> float:
        return self.ix * math.cos(yaw) + self.iy * math.sin(yaw)

    def _mix(self, surge: float, err: float, state: VehicleState, gains: dict) -> ActuatorCommand:
        hull = self.cfg.hull
        turn = gains["HDG_KP"] * err - gains["HDG_KD"] * state.yaw_rate
        surge = max(-hull.reverse_ratio, min(1.0, surge))
        turn = max(-1.0, min(1.0, turn))
        left, right = surge - turn, surge + turn
        mx = max(abs(left), abs(right), 1.0)
        return ActuatorCommand(left / mx, right / mx)
