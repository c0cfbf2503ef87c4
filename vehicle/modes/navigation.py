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
too, else a boat turning wider than the planned arc circles it for good.

A GUIDED target or AUTO waypoint the planner cannot reach only because of
something sensed -- a person, vessel or vehicle the camera sees (the
costmap's transient layer), an obstacle the lidar or camera mapped -- is
waited for, as Nav2's planner server retries within its patience and
ArduPilot's avoidance holds while the way is blocked: the vehicle stops (a
vessel keeps station) in its mode, says once why and for how long, plans
again every ``BLOCKED_RETRY_S`` and goes on as soon as there is a path;
after WP_BLOCKED_WAIT seconds the goal fails as it always did (AUTO: the
mission item fails; both go to HOLD).  A target the prior map or the map's
bounds refuse fails at once: waiting cannot help there.  A mode change
ends the wait."""
from __future__ import annotations

import math
from dataclasses import dataclass
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
#: a vessel joins the line of its leg this many turning radii ahead of
#: where it is along the line (each tried; the shortest path wins, each
#: radian it turns beyond the heading change it needs counted as a
#: turning radius more: see ``_extra_turning``)
LEG_JOIN_RADII = (2.0, 3.0, 4.0, 6.0)
#: ... on a leg at least this many turning radii long (not a short transit)
LEG_JOIN_MIN_RADII = 4.0
#: ... when that is at most this many turning radii longer than the direct plan
LEG_JOIN_SLACK_RADII = 2.0
#: a mission waypoint blocked by something beside it is replaced by the
#: nearest safe point at most this far beyond the planner's clearance [m]
STAND_IN_M = 1.5
#: ... and this far clear of the lethal cost round it [m]
STAND_IN_MARGIN_M = 0.5
#: a goal blocked by something sensed is planned to again this often while waited for [s]
#: (planning is costly: not every tick)
BLOCKED_RETRY_S = 1.0
#: the modes (leg keys) that wait for a goal blocked by something sensed
WAITING_MODES = ("guided", "auto")


@dataclass
class BlockedGoal:
    """A goal waited for: the leg ``key``, since ``since`` [s, core clock],
    what blocks it (``PlanningGrid.sensed_blocker``), the next plan at
    ``retry_at`` [s] and where the vehicle keeps still (x, y) [m]."""

    key: tuple
    since: float
    what: str
    retry_at: float
    hold_xy: tuple[float, float]


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
        self._stand_in = None                      # (leg key, (x, y)): a blocked waypoint's nearest safe point
        self.blocked: BlockedGoal | None = None    # the goal waited for while something sensed blocks it

    def new_leg(self) -> None:
        """Plan again on the next ``drive_to``."""
        self.leg_key = None

    def end_wait(self) -> None:
        """Forget a goal waited for (the mode changed: the operator or a
        failsafe took over)."""
        self.blocked = None

    def cruise(self) -> float:
        """[m/s]: the operator's speed, else the mission's, else WP_SPEED."""
        if self.speed_override:
            return self.speed_override
        ex = self.core._exec
        if ex and ex.speed_override:
            return ex.speed_override
        return self.core.params.table["WP_SPEED"]

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

    def drive_to(self, key, x: float, y: float, speed: float, stop_at_end: bool,
                 leg_from: tuple[float, float] | None = None,
                 leg_next: tuple[float, float] | None = None) -> tuple[ActuatorCommand, bool]:
        """The command towards (x, y) [m, map frame] at ``speed`` [m/s], and
        whether the vehicle is there: within WP_RADIUS, or within
        ``FINISH_LINE_RADII`` of it past its finish line or (a vessel)
        passing it abeam -- see the module docstring."""
        c = self.core
        st = c._state
        if self._stand_in is not None:
            if self._stand_in[0] == key:
                x, y = self._stand_in[1]
            else:
                self._stand_in = None
        dist = math.hypot(x - st.x, y - st.y)
        self.wp_distance = dist
        p = c.params.table
        radius = p["WP_RADIUS"]
        if dist <= radius:
            return ActuatorCommand.stop(), True
        near = dist <= FINISH_LINE_RADII * radius
        on_leg = key == self.leg_key
        if on_leg and self._passed_abeam(x, y, dist) and near:
            return ActuatorCommand.stop(), True
        if on_leg and self.passed_finish_line(x, y):
            if near:
                return ActuatorCommand.stop(), True
            c._emit("wp_missed", f"Passed the target {dist:.1f} m off (beyond {FINISH_LINE_RADII * radius:.1f} m): "
                    f"replanning to come back", Severity.NOTICE, distance=dist)
            self.new_leg()
        b = self.blocked
        if b is not None and b.key == key == self.leg_key and c.now >= b.retry_at:
            self.leg_key = None                  # waiting for a blocked goal: time to plan again
        if key != self.leg_key:
            self.leg_key = key
            self._closing = False
            carry = self._carry_on(leg_from, x, y)
            c.follower.reset()
            try:
                pts = (c.planning.plan(st.x, st.y, x, y, st.yaw) if c.planning is not None
                       else np.array([[st.x, st.y], [x, y]]))
                if carry is not None:
                    pts = carry
                elif leg_from is not None:
                    pts = self._plan_along_leg(leg_from, x, y, pts)
                if leg_next is not None:
                    pts = self._plan_lined_up(pts, x, y, leg_from, leg_next)
            except PlanningError as e:
                pts = self._plan_to_stand_in(key, x, y)
                if pts is None:
                    self.path = None
                    reason = self._wait_while_blocked(key, x, y, str(e))
                    if reason is None:
                        return self.hold_at(*self.blocked.hold_xy), False
                    self._plan_failed(key, reason)
                    return ActuatorCommand.stop(), False
            b = self.blocked
            if b is not None:
                self.blocked = None
                if b.key == key:
                    c._emit("goal_clear", f"{key[0].upper()}: goal clear after {c.now - b.since:.1f} s: continuing",
                            Severity.INFO, waited_s=c.now - b.since)
            self.path = PolylinePath(pts)
        if self.path is None:
            b = self.blocked
            if b is not None and b.key == key:
                return self.hold_at(*b.hold_xy), False
            return ActuatorCommand.stop(), False
        la = p["WP_LOOKAHEAD"]
        # UGV only (a USV's movers are COLREGs' business), and not when the
        # safety layer's obstacle stop (AVOID_ENABLE) is the chosen reaction
        # to anything in the path, moving or not.
        if c.maritime is None and p["AVOID_MOVERS"] and not p["AVOID_ENABLE"] and self._give_way(st, speed):
            return ActuatorCommand.stop(), False
        f = c.follower
        if isinstance(f, PurePursuit):
            cmd, cte = f.command(st, self.path, speed, la, stop_at_end)
        else:  # USV: LOS guidance, then the COLREGs helm, then heading/speed control
            gains = {k: p[k] for k in ("HDG_KP", "HDG_KD", "SPD_KP", "SPD_KI", "LOS_KI")}
            e_int = f.e_int
            # a route's turns are flown as laid; a GUIDED target's path is re-laid as the target moves
            heading_d, u_d, cte = f.desired(st, self.path, speed, la, stop_at_end, gains,
                                            fly_turns=c.mode != Mode.GUIDED)
            d = c.maritime.steer(c.now, st, heading_d, u_d, self.path, f.s, own_route=c.route_ahead)
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

    def _carry_on(self, leg_from: tuple[float, float] | None, x: float, y: float) -> np.ndarray | None:
        """A vessel whose path to the waypoint ``leg_from`` [m] it has just
        reached (inside the acceptance radius, maybe still in the turn onto
        the next leg) already arrives heading for (x, y): the rest of that
        path, then straight on to (x, y) -- the turn is flown to its end, not
        planned again from mid-turn.  None when that does not apply."""
        c = self.core
        g = c.planning
        old = self.path
        if (leg_from is None or c.maritime is None or old is None or g is None or not g.turning_radius
                or self._manoeuvring):
            return None
        if math.hypot(old.points[-1][0] - leg_from[0], old.points[-1][1] - leg_from[1]) > 1e-6:
            return None
        L = math.hypot(x - leg_from[0], y - leg_from[1])
        if L < 1.0:
            return None
        dx, dy = old.seg_dir[-1]
        if (dx * (x - leg_from[0]) + dy * (y - leg_from[1])) / L < math.cos(math.radians(10.0)):
            return None
        s = c.follower.s
        st = c.state
        if abs(old.project(st.x, st.y, s_hint=s).cross_track_error) > c.params.get("WP_RADIUS"):
            return None
        rest = old.points[np.searchsorted(old.cum, s, side="right"):]
        pts = np.vstack(([[st.x, st.y]], rest, [[x, y]]))
        if g.path_blocked(pts):
            return None
        return pts

    def _plan_along_leg(self, leg_from: tuple[float, float], x: float, y: float,
                        direct: np.ndarray) -> np.ndarray:
        """A vessel's leg from the waypoint it last reached, ``leg_from``
        [m], to (x, y): the planned turn-in joins the line between them,
        arriving on its heading, and the path then runs along the line (as
        Rover tracks the line from the previous waypoint), so a survey lane
        is flown where it was laid out and not from wherever the acceptance
        radius let the last waypoint count.  The join point is tried
        ``LEG_JOIN_RADII`` turning radii ahead of the vessel's projection on
        the line; the shortest path to (x, y) wins, unless it is more than
        ``LEG_JOIN_SLACK_RADII`` turning radii longer than ``direct`` (the
        plan straight to the target), which is then kept -- as it is for a
        ground vehicle, a planner without a turning radius, a leg shorter
        than ``LEG_JOIN_MIN_RADII`` turning radii (a transit between lanes)
        or a line that crosses lethal cost."""
        c = self.core
        g = c.planning
        if c.maritime is None or g is None or not g.turning_radius or g.partial:
            return direct
        ax, ay = leg_from
        L = math.hypot(x - ax, y - ay)
        if L < LEG_JOIN_MIN_RADII * g.turning_radius:
            return direct
        ux, uy = (x - ax) / L, (y - ay) / L
        st = c.state
        s0 = max(0.0, (st.x - ax) * ux + (st.y - ay) * uy)
        best = None
        for k in LEG_JOIN_RADII:
            sj = s0 + k * g.turning_radius
            if sj > L - 1.0:
                break
            jx, jy = ax + sj * ux, ay + sj * uy
            if g.path_blocked(np.array([[jx, jy], [x, y]])):
                return direct
            head = g.plan_to_pose(st.x, st.y, st.yaw, jx, jy, math.atan2(uy, ux))
            if head is None:
                continue
            length = float(np.hypot(*np.diff(head, axis=0).T).sum()) + (L - sj)
            score = length + g.turning_radius * _extra_turning(head, st.yaw)
            if best is None or score < best[2]:
                best = (length, np.vstack((head, [[x, y]])), score)
        direct_length = float(np.hypot(*np.diff(direct, axis=0).T).sum())
        if best is None or best[0] > direct_length + LEG_JOIN_SLACK_RADII * g.turning_radius:
            return direct
        return best[1]

    def _plan_lined_up(self, pts: np.ndarray, x: float, y: float, leg_from: tuple[float, float] | None,
                       leg_next: tuple[float, float]) -> np.ndarray:
        """A vessel making for (x, y) [m] with the next waypoint ``leg_next``
        after it, the next leg a long one (``LEG_JOIN_MIN_RADII`` turning
        radii or more: a survey lane) and this one not (the first leg, or a
        transit between lanes, from ``leg_from``): when ``pts`` (the plan)
        turns into its end, plan instead to arrive heading for ``leg_next``,
        so the lane starts lined up rather than with a turn the acceptance
        radius cuts short; kept only when at most ``LEG_JOIN_SLACK_RADII``
        turning radii longer than ``pts``.  ``pts`` unchanged otherwise (a
        ground vehicle, no turning radius, a partial plan, a lane's end)."""
        c = self.core
        g = c.planning
        if c.maritime is None or g is None or not g.turning_radius or g.partial or len(pts) < 2:
            return pts
        long_leg = LEG_JOIN_MIN_RADII * g.turning_radius
        if math.hypot(leg_next[0] - x, leg_next[1] - y) < long_leg:
            return pts
        if leg_from is not None and math.hypot(x - leg_from[0], y - leg_from[1]) >= long_leg:
            return pts
        yaw1 = math.atan2(leg_next[1] - y, leg_next[0] - x)
        d = pts[-1] - pts[-2]
        if abs(math.remainder(math.atan2(d[1], d[0]) - yaw1, math.tau)) < math.radians(10.0):
            return pts                                   # arrives lined up already
        if float(np.hypot(*pts[-1] - pts[0])) < 2.0 * g.turning_radius:
            return pts                                   # too close to line up
        st = c.state
        lined = g.plan_to_pose(st.x, st.y, st.yaw, x, y, yaw1)
        if lined is None:
            return pts
        length = float(np.hypot(*np.diff(pts, axis=0).T).sum())
        if float(np.hypot(*np.diff(lined, axis=0).T).sum()) > length + LEG_JOIN_SLACK_RADII * g.turning_radius:
            return pts
        return lined

    def _plan_to_stand_in(self, key, x: float, y: float) -> np.ndarray | None:
        """A mission waypoint (x, y) [m] the planner refuses because
        something now lies next to it (a broken-down vehicle on a search
        lane's end, say), though not on it: plan to the nearest safe point
        within ``STAND_IN_M`` beyond the clearance the planner keeps
        (and ``STAND_IN_MARGIN_M`` clear of it) instead, and count the waypoint reached there.  A target inside an
        obstacle still fails the item.  None when there is no such point
        or no path to it."""
        c = self.core
        g = c.planning
        if key[0] != "auto" or g is None:
            return None
        h, w = g.weights.shape
        r, col = g.cell(x, y)
        if not (0 <= r < h and 0 <= col < w) or np.isfinite(g.weights[r, col]) or g.distance[r, col] <= 0:
            return None
        # the nearest cell STAND_IN_MARGIN_M clear of lethal cost, so the
        # stand-in does not creep as more of the obstacle is seen
        n = int(math.ceil((g.keep_clear + STAND_IN_M) / g.resolution))
        r0, c0 = max(0, r - n), max(0, col - n)
        win = g.distance[r0:r + n + 1, c0:col + n + 1] >= g.keep_clear + STAND_IN_MARGIN_M
        win &= np.isfinite(g.weights[r0:r + n + 1, c0:col + n + 1])
        if not win.any():
            return None
        rr, cc = np.nonzero(win)
        k = int(np.argmin((rr + r0 - r) ** 2 + (cc + c0 - col) ** 2))
        sx, sy = (float(v) for v in g.costmap.cell_to_world(int(rr[k] + r0), int(cc[k] + c0)))
        st = c.state
        try:
            pts = g.plan(st.x, st.y, sx, sy, st.yaw)
        except PlanningError:
            return None
        self._stand_in = (key, (sx, sy))
        c._emit("wp_blocked", f"Waypoint ({x:.1f}, {y:.1f}) m is blocked ({g.distance[r, col]:.2f} m from an "
                f"obstacle): going to the nearest safe point ({sx:.1f}, {sy:.1f}) m instead",
                Severity.NOTICE, x=sx, y=sy)
        return pts

    def _following_to(self, x: float, y: float, within: float) -> bool:
        """The vehicle follows a path (no replan pending, the COLREGs helm
        not steering off it) that ends at (x, y), and is within ``within``
        [m] of its end along it."""
        c = self.core
        path = self.path
        if path is None or self.leg_key is None or self._manoeuvring:
            return False
        if not c.follower.s >= path.length - within:    # short of the end (most ticks): the cheapest test first
            return False
        m = c.maritime
        if m is not None and m.last_decision is not None and m.last_decision.active:
            return False
        # a partial plan (to the window's edge): not the target's line
        return not math.hypot(path.end_x - x, path.end_y - y) > 1e-6

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
        if not self._following_to(x, y, c.params.table["WP_RADIUS"]):
            return False
        dx, dy = self.path.seg_dir[-1]
        st = c.state
        return (st.x - x) * dx + (st.y - y) * dy >= 0.0

    def _rejoin_or_replan(self, lookahead: float) -> None:
        """A COLREGs manoeuvre just ended: head back to the path only if the
        way there is clear of lethal cost -- the straight line to the point
        ``lookahead`` [m] ahead of our progress on it, and the track the
        boat will sweep getting there (``rejoin_track``: it turns at its
        planned turn rate, so it swings wide of that line); otherwise plan
        the leg again from here."""
        c = self.core
        if c.planning is None or self.path is None:
            return
        st = c.state
        px, py = self.path.point_at(c.follower.s + lookahead)
        swept = self.rejoin_track(lookahead)
        if (c.planning.path_blocked(np.array([[st.x, st.y], [px, py]]))
                or (len(swept) > 1 and c.planning.path_blocked(swept))):
            c._emit("rejoin", "COLREGs manoeuvre over: the way back to the path is blocked, replanning",
                    Severity.NOTICE)
            self.new_leg()

    def rejoin_track(self, lookahead: float, step: float = 0.5) -> np.ndarray:
        """The track (N, 2) [m] a vessel sweeps rejoining its path from where
        it is: LOS guidance on the path (``lookahead`` [m]), the heading
        turning towards it at the helm's planned turn rate, at the speed it
        has now (at least 0.5 m/s), until it is within a metre of the path
        or has gone twice the way back.  Empty without a path or LOS
        follower."""
        c = self.core
        path = self.path
        rate = getattr(c.follower, "turn_rate", None)
        if path is None or rate is None:
            return np.empty((0, 2))
        st = c.state
        x, y, yaw = st.x, st.y, st.yaw
        v = max(0.5, math.hypot(st.vx, st.vy))
        s = c.follower.s
        back = math.hypot(*(np.array(path.point_at(s + lookahead)) - (x, y)))
        pts = [(x, y)]
        for _ in range(int(math.ceil(2.0 * (back + lookahead) / step))):
            pr = path.project(x, y, s_hint=s, window=max(4.0 * lookahead, 10.0))
            s = max(s, pr.s)
            if abs(pr.cross_track_error) < 1.0 or s >= path.length:
                break
            want = pr.heading - math.atan(pr.cross_track_error / lookahead)
            turn = math.remainder(want - yaw, math.tau)
            yaw += max(-rate * step / v, min(rate * step / v, turn))
            x, y = x + step * math.cos(yaw), y + step * math.sin(yaw)
            pts.append((x, y))
        return np.array(pts)

    def _give_way(self, st, speed: float) -> bool:
        """Moving obstacles: stop while a tracked mover's predicted path
        crosses ours within the next seconds (vehicle/perception/front.py);
        ``st``: the core's state this tick (as drive_to read it)."""
        c = self.core
        perception = c.perception
        was = perception.yielding
        tr = perception.give_way(st, self.path.points, c.follower.s, speed)
        if tr is not None and was is None:
            c._emit("give_way", f"Giving way to a moving object (track {tr.id}, {tr.speed:.1f} m/s)",
                    Severity.NOTICE, track=tr.id)
        elif tr is None and was is not None:
            c._emit("give_way", "Moving object clear: continuing", Severity.INFO)
        return tr is not None

    def _wait_while_blocked(self, key, x: float, y: float, reason: str) -> str | None:
        """The plan to (x, y) [m] for the leg ``key`` failed with ``reason``:
        None while the goal is to be waited for (blocked only by something
        sensed, WP_BLOCKED_WAIT not over: the next plan is due
        ``BLOCKED_RETRY_S`` on), else the reason to fail it with."""
        c = self.core
        wait = c.params.get("WP_BLOCKED_WAIT")
        b = self.blocked
        if b is not None and b.key != key:
            b = self.blocked = None
        if wait <= 0 or key[0] not in WAITING_MODES or c.planning is None:
            self.blocked = None
            return reason
        now = c.now
        if b is None:
            st = c.state
            what = c.planning.sensed_blocker(st.x, st.y, x, y)
            if what is None:             # the prior map or the map's bounds: waiting cannot help
                return reason
            b = self.blocked = BlockedGoal(key, now, what, now, (st.x, st.y))
            data = {"seq": key[1]} if key[0] == "auto" else {}
            c._emit("goal_blocked", f"{key[0].upper()}: goal blocked by {what}: waiting (up to {wait:g} s)",
                    Severity.WARNING, what=what, wait_s=wait, **data)
        end = b.since + wait
        if now >= end:
            self.blocked = None
            return f"{reason} (blocked by {b.what} for {now - b.since:.0f} s)"
        b.retry_at = min(now + BLOCKED_RETRY_S, end)
        return None

    def _plan_failed(self, key, reason: str) -> None:
        c = self.core
        if key[0] == "auto":
            c.failure_reason = f"Mission item {key[1]}: {reason}"
            c._emit("mission_failed", c.failure_reason, Severity.ERROR, seq=key[1])
        else:
            c._emit("text", f"{key[0].upper()}: {reason}", Severity.ERROR)
        c.set_mode(c.now, Mode.HOLD)


def _extra_turning(pts: np.ndarray, yaw0: float) -> float:
    """How much more a vessel starting on heading ``yaw0`` [rad] turns
    along the polyline ``pts`` (N, 2) [m] than the net change of heading
    asks [rad]: 0 for a turn one way, twice the overshoot for an S-bend (the
    planner's lattice reaching a pose just off its arcs).  A boat flies an
    S-bend of a few metres badly (its heading lags the reversal and it
    leaves the line on the other side, in flood SAR towards a casualty 3 m
    off the lane), so a lane join without one is preferred."""
    d = np.diff(np.asarray(pts, np.float64).reshape(-1, 2), axis=0)
    d = d[np.hypot(d[:, 0], d[:, 1]) > 1e-9]
    if len(d) == 0:
        return 0.0
    h = np.concatenate(([yaw0], np.arctan2(d[:, 1], d[:, 0])))
    dh = np.remainder(np.diff(h) + np.pi, 2.0 * np.pi) - np.pi
    return float(np.abs(dh).sum() - abs(dh.sum()))
