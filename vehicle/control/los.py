"""Line-of-sight guidance with current compensation for a twin-thruster USV,
and the helm that flies the path's turns.

Guidance (integral LOS): the course command is the path direction
corrected by ``atan((e + k_i * e_int) / lookahead)``, e the cross-track
error.  The integral state grows while a cross current holds the boat off
the line and settles at the crab angle the current needs, so the boat
tracks the line with zero steady-state error.  It is held on a turn: the
error a turn leaves is the turn's, not a current's.

Turns (the planner's arcs, a polyline's corners; ``PolylinePath.turns``):

- speed: the boat slows for the turns ahead, as ArduPilot Rover limits
  speed by lateral acceleration (ATC_TURN_MAX_G) and turn rate: in a turn
  of radius R at most ``min(sqrt(TURN_LAT_ACCEL * R), r_turn * R)``, r_turn
  ``TURN_RATE_SHARE`` of the steady yaw rate full differential thrust
  gives the hull (and at most ``limits.max_yaw_rate``), reached by
  braking at ``limits.max_accel`` before the turn begins;
- yaw rate feed-forward: on a turn the heading command turns at
  ``speed x curvature``; the controller adds the differential thrust the
  hull's yaw drag takes at that rate and damps the yaw-rate *error*
  (the rate controller after a heading P term, as AR_AttitudeControl's
  steering rate loop with its feed-forward), so the heading no longer lags
  the path round a turn;
- sideslip: a hull turning at rate r skids outwards at the sway speed that
  balances its centripetal force (m11 u r against the sway drag); the
  heading command leads the course by that angle.

Control: heading P + yaw-rate PD with feed-forward -> differential thrust,
surge speed PI with drag feed-forward -> common thrust.
"""
from __future__ import annotations

import math

import numpy as np

from edgepilot.vehicle.config import VehicleConfig
from edgepilot.vehicle.control.path import PolylinePath
from edgepilot.vehicle.geo import wrap_pi
from edgepilot.vehicle.types import ActuatorCommand, VehicleState

#: lateral acceleration the helm plans its turns for [m/s^2] (Rover's ATC_TURN_MAX_G x g)
TURN_LAT_ACCEL = 0.3
#: share of the hull's full-thrust steady yaw rate a planned turn may use
#: (the rest is the heading loop's, to correct)
TURN_RATE_SHARE = 0.5
#: never slow below this for a turn [m/s]: the hull needs way on to turn
MIN_TURN_SPEED = 0.4
#: the feed-forward looks this far ahead [s] (thrust and yaw inertia lag)
TURN_LEAD_S = 0.4
#: curvature [1/m] above which the boat is on a turn (ILOS integral held)
ON_TURN_CURVATURE = 0.05


class LosGuidance:
    def __init__(self, cfg: VehicleConfig):
        if cfg.hull is None:
            raise ValueError("LOS guidance needs a [hull] config")
        self.cfg = cfg
        hull = cfg.hull
        # steady yaw rate at full differential thrust: yaw drag = max_thrust x separation
        a, b, n = hull.yaw_drag_quadratic, hull.yaw_drag_linear, hull.max_thrust * hull.thruster_separation
        r_full = n / b if a <= 0 else (-b + math.sqrt(b * b + 4.0 * a * n)) / (2.0 * a)
        self.turn_rate = TURN_RATE_SHARE * min(r_full, cfg.limits.max_yaw_rate)   # [rad/s]
        self.reset()

    def reset(self) -> None:
        self.s = 0.0
        self.e_int = 0.0
        self.v_int = 0.0
        self.t_prev: float | None = None
        self.r_ff = 0.0            # yaw-rate feed-forward of the last ``desired`` [rad/s]
        self._heading_d = None     # and the heading it went with [rad]

    # ----------------------------------------------------------------- turns
    def turn_speed(self, curvature) -> np.ndarray:
        """Highest speed [m/s] for a turn of ``curvature`` [1/m] (array):
        the lateral-acceleration and turn-rate limits, never below
        ``MIN_TURN_SPEED``."""
        k = np.maximum(np.abs(np.asarray(curvature, dtype=np.float64)), 1e-9)
        v = np.minimum(np.sqrt(TURN_LAT_ACCEL / k), self.turn_rate / k)
        return np.maximum(v, MIN_TURN_SPEED)

    def speed_for_turns(self, path: PolylinePath, s: float, speed: float) -> float:
        """``speed`` [m/s] limited so the boat at ``s`` [m] along ``path``
        can brake (at ``limits.max_accel``) to each turn's speed before the
        turn begins."""
        ks, kap, span = path.turns()
        if len(ks) == 0:
            return speed
        a = self.cfg.limits.max_accel
        i0 = int(np.searchsorted(ks + 0.5 * span, s))
        horizon = s + speed * speed / (2.0 * a) + path.CORNER_SPREAD_M
        i1 = int(np.searchsorted(ks - 0.5 * span, horizon, side="right"))
        if i1 <= i0:
            return speed
        d = np.maximum(ks[i0:i1] - 0.5 * span[i0:i1] - s, 0.0)
        v = np.sqrt(self.turn_speed(kap[i0:i1]) ** 2 + 2.0 * a * d)
        return float(min(speed, v.min()))

    @staticmethod
    def curvature_at(path: PolylinePath, s: float) -> float:
        """Signed curvature [1/m] of ``path`` at ``s`` [m] (0 between turns)."""
        ks, kap, span = path.turns()
        i = int(np.searchsorted(ks + 0.5 * span, s))
        if i < len(ks) and ks[i] - 0.5 * span[i] <= s:
            return float(kap[i])
        return 0.0

    def sideslip(self, u: float, r: float) -> float:
        """Sideslip [rad] (course minus heading) of the hull in a steady turn
        at surge ``u`` [m/s] and yaw rate ``r`` [rad/s]: the sway speed
        whose drag balances the centripetal force m11 u r."""
        hull = self.cfg.hull
        f = abs(hull.mass * u * r)
        if f <= 0.0 or u <= 0.0:
            return 0.0
        q, lin = hull.sway_drag_quadratic, hull.sway_drag_linear
        v = f / lin if q <= 0 else (-lin + math.sqrt(lin * lin + 4.0 * q * f)) / (2.0 * q)
        return math.atan2(-math.copysign(v, u * r), u)

    # ------------------------------------------------------------- guidance
    def command(self, state: VehicleState, path: PolylinePath, speed: float, lookahead: float,
                stop_at_end: bool, gains: dict) -> tuple[ActuatorCommand, float]:
        heading_d, u_d, e = self.desired(state, path, speed, lookahead, stop_at_end, gains)
        return self.track(state, heading_d, u_d, gains), e

    def desired(self, state: VehicleState, path: PolylinePath, speed: float, lookahead: float,
                stop_at_end: bool, gains: dict, fly_turns: bool = True) -> tuple[float, float, float]:
        """Guidance only: (heading [rad ENU], surge speed [m/s], cross-track
        error [m]) to follow ``path``, slowed for its turns.  ``fly_turns``
        False (a pursuit: the path to a target that moves is laid anew from
        the boat every time the target moves, so its arcs are never flown to
        their end) leaves out the turn's yaw-rate feed-forward and sideslip
        lead and keeps the ILOS integral running; the feed-forward of an arc
        replaced a second later fights the heading loop (a shadowing boat
        fell out of its stand-off band).  A
        collision-avoidance helm may replace the heading and speed before
        ``track`` (the turn feed-forward then stays off)."""
        dt = 0.0 if self.t_prev is None else max(0.0, state.t - self.t_prev)
        self.t_prev = state.t
        self._dt = dt
        proj = path.project(state.x, state.y, s_hint=self.s, window=max(4.0 * lookahead, 10.0))
        self.s = max(self.s, proj.s)
        e = proj.cross_track_error
        ground = math.hypot(state.vx, state.vy)
        kappa = self.curvature_at(path, self.s + ground * TURN_LEAD_S)
        ki = gains["LOS_KI"]
        if not fly_turns:
            kappa = 0.0
        if ki > 0 and dt > 0 and abs(kappa) < ON_TURN_CURVATURE:
            self.e_int += dt * lookahead * e / ((e + ki * self.e_int) ** 2 + lookahead ** 2)
            self.e_int = max(-20.0, min(20.0, self.e_int))
        course_d = proj.heading - math.atan((e + ki * self.e_int) / lookahead)
        lim = self.cfg.limits
        r_ff = max(-lim.max_yaw_rate, min(lim.max_yaw_rate, ground * kappa))
        u = state.vx * math.cos(state.yaw) + state.vy * math.sin(state.yaw)
        heading_d = wrap_pi(course_d - self.sideslip(u, r_ff))
        dist_end = math.hypot(path.points[-1][0] - state.x, path.points[-1][1] - state.y)
        u_d = self.speed_for_turns(path, self.s, min(speed, lim.max_speed))
        if stop_at_end:
            u_d = min(u_d, 0.3 * dist_end + 0.2)
        self.r_ff, self._heading_d = r_ff, heading_d
        return heading_d, u_d, e

    def track(self, state: VehicleState, heading_d: float, u_d: float, gains: dict) -> ActuatorCommand:
        """Control only: heading P, yaw-rate PD with the turn's feed-forward
        and surge-speed PI to hold ``heading_d`` [rad ENU] and ``u_d``
        [m/s]; call after ``desired`` each tick."""
        dt = getattr(self, "_dt", 0.0)
        err = wrap_pi(heading_d - state.yaw)
        hull = self.cfg.hull
        # the turn's feed-forward only on the guidance's own heading (not a COLREGs helm's)
        r_ff = self.r_ff if self._heading_d is not None and heading_d == self._heading_d else 0.0
        u_d *= max(0.2, math.cos(min(abs(err), math.pi / 2)))  # slow while turning hard
        # Speed along our heading, over ground (the thrust has to make it so).
        u = state.vx * math.cos(state.yaw) + state.vy * math.sin(state.yaw)
        ev = u_d - u
        if dt > 0:
            self.v_int = max(-1.0, min(1.0, self.v_int + gains["SPD_KI"] * ev * dt))
        drag = hull.surge_drag_linear * u_d + hull.surge_drag_quadratic * u_d * abs(u_d)
        surge = drag / (2.0 * hull.max_thrust) + gains["SPD_KP"] * ev + self.v_int
        yaw_drag = hull.yaw_drag_linear * r_ff + hull.yaw_drag_quadratic * r_ff * abs(r_ff)
        turn = (gains["HDG_KP"] * err + gains["HDG_KD"] * (r_ff - state.yaw_rate)
                + yaw_drag / (hull.max_thrust * hull.thruster_separation))
        surge = max(-hull.reverse_ratio, min(1.0, surge))
        turn = max(-1.0, min(1.0, turn))
        left, right = surge - turn, surge + turn
        m = max(abs(left), abs(right), 1.0)
        return ActuatorCommand(left / m, right / m)
