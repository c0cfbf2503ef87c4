"""Driving to a point, shared by the modes that move the vehicle (as
Rover's ``Mode::navigate_to_waypoint``): plan a leg once per target, follow
it (pure pursuit on land; LOS guidance, the COLREGs helm and heading/speed
control at sea), give way to movers, keep station.

``drive_to`` plans when the leg's key changes (a new target, or
``new_leg()`` after a map change or a mode change), so replanning is the
caller's decision.

Arrival is ArduPilot Rover's (AR_WPNav): within WP_RADIUS of the target,
or past the *finish line* -- the line through the target perpendicular to
the direction the path arrives from.  A boat that swings wide in a turn
or is set off by a current may overshoot a waypoint without ever entering
its acceptance radius; without the finish line its LOS guidance would carry
on along the last leg's direction, away from the waypoint, for good.
Guarded so it cannot give a false arrival: only on the leg being followed
(no replan pending), when the path ends at the target and the follower has
come to its end, within ``FINISH_LINE_RADII`` acceptance radii of the
target, and never while the COLREGs helm steers off the path.  Past the
line but farther off, the waypoint was missed: the leg is planned again
from where the vehicle is, so it comes back instead of driving away.  A
vessel on the last stretch of its path that closed on the waypoint and
now opens from it, within the same bound, has passed it abeam: that counts
too, else a boat turning wider than the planned arc circles it for good."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from edgepilot.vehicle.control.path import PolylinePath
from edgepilot.vehicle.control.pure_pursuit import PurePursuit
from edgepilot.vehicle.planning_grid import PlanningError
from edgepilot.vehicle.types import ActuatorCommand, Mode, Severity

if TYPE_CHECKING:
    from edgepilot.vehicle.core import VehicleCore

#: The finish line counts only this many acceptance radii (WP_RADIUS) from
#: the target; farther off, crossing it is a miss (the leg is replanned).
FINISH_LINE_RADII = 3.0
#: A vessel near the end of its path passes a waypoint abeam when its range
#: to it, having closed faster than this, opens faster than this [m/s].
ABEAM_RANGE_RATE = 0.3


class Navigator:
    def __init__(self, core: "VehicleCore"):
        self.core = core
        self.leg_key = None
        self.path: PolylinePath | None = None      # the path being followed now (map frame)
        self.cross_track_error = 0.0               # [m]
        self.wp_distance = 0.0                     # to the current target [m]
        self.speed_override: float | None = None   # the operator's DO_CHANGE_SPEED [m/s]
        self._manoeuvring = False                  # the COLREGs helm steered off the path last tick
        self._closing = False                      # a vessel closed on this leg's target near the path's end

    def new_leg(self) -> None:
        """Plan again on the next ``drive_to``."""
        self.leg_key = None

    def cruise(self) -> float:
        """[m/s]: the operator's speed, else the mission's, else WP_SPEED."""
        if self.speed_override:
            return self.speed_override
        ex = self.core._exec
        if ex and ex.speed_override:
            return ex.speed_override
        return self.core.params.get("WP_SPEED")

    def home_xy(self) -> tuple[float, float]:
        """Home in the map frame [m]; where the vehicle is when none is set."""
        c = self.core
        if c.home is None:
            return c.state.x, c.state.y
        return c.frame.to_local(c.home.lat, c.home.lon)

    def hold_at(self, x: float, y: float) -> ActuatorCommand:
        """Stay at (x, y): a USV keeps station against current and wind, a UGV stops."""
        c = self.core
        if c.maritime is None:
            return ActuatorCommand.stop()
        gains = {k: c.params.get(k) for k in ("HDG_KP", "HDG_KD")}
        return c.maritime.hold(c.state, (x, y), gains)

    def drive_to(self, key, x: float, y: float, speed: float, stop_at_end: bool) -> tuple[ActuatorCommand, bool]:
        """The command towards (x, y) [m, map frame] at ``speed`` [m/s], and
        whether the vehicle is there: within WP_RADIUS, or within
        ``FINISH_LINE_RADII`` of it past its finish line or (a vessel)
        passing it abeam -- see the module docstring."""
        c = self.core
        st = c.state
        dist = math.hypot(x - st.x, y - st.y)
        self.wp_distance = dist
        radius = c.params.get("WP_RADIUS")
        if dist <= radius:
            return ActuatorCommand.stop(), True
        near = dist <= FINISH_LINE_RADII * radius
        if key == self.leg_key and self._passed_abeam(x, y, dist) and near:
            return ActuatorCommand.stop(), True
        if key == self.leg_key and self.passed_finish_line(x, y):
            if near:
                return ActuatorCommand.stop(), True
            c._emit("wp_missed", f"Passed the target {dist:.1f} m off (beyond {FINISH_LINE_RADII * radius:.1f} m): "
                    f"replanning to come back", Severity.NOTICE, distance=dist)
            self.new_leg()
        if key != self.leg_key:
            self.leg_key = key
            self._closing = False
            c.follower.reset()
            try:
                pts = (c.planning.plan(st.x, st.y, x, y, st.yaw) if c.planning is not None
                       else np.array([[st.x, st.y], [x, y]]))
            except PlanningError as e:
                self.path = None
                self._plan_failed(key, str(e))
                return ActuatorCommand.stop(), False
            self.path = PolylinePath(pts)
        if self.path is None:
            return ActuatorCommand.stop(), False
        p = c.params
        la = p.get("WP_LOOKAHEAD")
        # UGV only (a USV's movers are COLREGs' business), and not when the
        # safety layer's obstacle stop (AVOID_ENABLE) is the chosen reaction
        # to anything in the path, moving or not.
        if c.maritime is None and p.get("AVOID_MOVERS") and not p.get("AVOID_ENABLE") and self._give_way(speed):
            return ActuatorCommand.stop(), False
        f = c.follower
        if isinstance(f, PurePursuit):
            cmd, cte = f.command(st, self.path, speed, la, stop_at_end)
        else:  # USV: LOS guidance, then the COLREGs helm, then heading/speed control
            gains = {k: p.get(k) for k in ("HDG_KP", "HDG_KD", "SPD_KP", "SPD_KI", "LOS_KI")}
            e_int = f.e_int
            heading_d, u_d, cte = f.desired(st, self.path, speed, la, stop_at_end, gains)
            d = c.maritime.steer(c.now, st, heading_d, u_d, self.path, f.s)
            for text, data in d.events:
                c._emit("colregs", text, Severity.NOTICE, **data)
            if d.active:
                f.e_int = e_int  # off the track on purpose: no current-compensation windup
            elif self._manoeuvring:
                self._rejoin_or_replan(la)
            self._manoeuvring = d.active
            cmd = f.track(st, d.heading, d.speed, gains)
        self.cross_track_error = cte
        return cmd, False

    def _following_to(self, x: float, y: float, within: float) -> bool:
        """The vehicle follows a path (no replan pending, the COLREGs helm
        not steering off it) that ends at (x, y), and is within ``within``
        [m] of its end along it."""
        c = self.core
        path = self.path
        if path is None or self.leg_key is None or self._manoeuvring:
            return False
        m = c.maritime
        if m is not None and m.last_decision is not None and m.last_decision.active:
            return False
        ex, ey = path.points[-1]
        if math.hypot(ex - x, ey - y) > 1e-6:     # a partial plan (to the window's edge): not the target's line
            return False
        return c.follower.s >= path.length - within

    def _passed_abeam(self, x: float, y: float, dist: float) -> bool:
        """A vessel on the last stretch of the path (FINISH_LINE_RADII
        acceptance radii) that closed on the target (x, y) and now opens
        from it has passed it abeam: a boat swept sideways by a current or
        turning wider than the planned arc can pass beside a waypoint
        without crossing its finish line, then circle for it for good.
        Range rate from the velocity estimate, beyond ``ABEAM_RANGE_RATE``
        either way, so a boat drifting off a target it never made for, or
        one slowing to a stop, does not count."""
        c = self.core
        if c.maritime is None or dist <= 0.0:
            return False
        if not self._following_to(x, y, FINISH_LINE_RADII * c.params.get("WP_RADIUS")):
            return False
        st = c.state
        rate = ((st.x - x) * st.vx + (st.y - y) * st.vy) / dist   # [m/s], > 0 opening
        if rate < -ABEAM_RANGE_RATE:
            self._closing = True
        return self._closing and rate > ABEAM_RANGE_RATE

    def passed_finish_line(self, x: float, y: float) -> bool:
        """True when the vehicle is past the line through the target (x, y)
        [m, map frame] perpendicular to the direction the planned path
        arrives from (ArduPilot's "past the interval finish line"), on a
        path that ends at the target and whose end the follower has
        reached, while the vehicle is following it: no replan pending and
        the COLREGs helm not steering off it.  Distance to the target is
        the caller's test."""
        c = self.core
        # At the path's end only: a path may loop past the line early.
        if not self._following_to(x, y, c.params.get("WP_RADIUS")):
            return False
        dx, dy = self.path.seg_dir[-1]
        st = c.state
        return (st.x - x) * dx + (st.y - y) * dy >= 0.0

    def _rejoin_or_replan(self, lookahead: float) -> None:
        """A COLREGs manoeuvre just ended: head back to the path only if the
        way there (to the point ``lookahead`` [m] ahead of our progress on
        it) is clear of lethal cost; otherwise plan the leg again from here."""
        c = self.core
        if c.planning is None or self.path is None:
            return
        st = c.state
        px, py = self.path.point_at(c.follower.s + lookahead)
        if c.planning.path_blocked(np.array([[st.x, st.y], [px, py]])):
            c._emit("rejoin", "COLREGs manoeuvre over: the way back to the path is blocked, replanning",
                    Severity.NOTICE)
            self.new_leg()

    def _give_way(self, speed: float) -> bool:
        """Moving obstacles: stop while a tracked mover's predicted path
        crosses ours within the next seconds (vehicle/perception/front.py)."""
        c = self.core
        was = c.perception.yielding
        tr = c.perception.give_way(c.state, self.path.points, c.follower.s, speed)
        if tr is not None and was is None:
            c._emit("give_way", f"Giving way to a moving object (track {tr.id}, {tr.speed:.1f} m/s)",
                    Severity.NOTICE, track=tr.id)
        elif tr is None and was is not None:
            c._emit("give_way", "Moving object clear: continuing", Severity.INFO)
        return tr is not None

    def _plan_failed(self, key, reason: str) -> None:
        c = self.core
        if key[0] == "auto":
            c.failure_reason = f"Mission item {key[1]}: {reason}"
            c._emit("mission_failed", c.failure_reason, Severity.ERROR, seq=key[1])
        else:
            c._emit("text", f"{key[0].upper()}: {reason}", Severity.ERROR)
        c.set_mode(c.now, Mode.HOLD)
