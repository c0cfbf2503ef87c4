"""The autonomy core: state in, setpoint out.

``VehicleCore.step(now, frame)`` runs one control tick: estimation, safety,
the current mode's update (vehicle/modes: one class per mode, the core owns
the transitions), and returns the ``Setpoint`` for whatever moves the
vehicle.  Operator commands (arm, modes, missions, goto) are methods
returning ``CommandResult``; safety decisions come back as ``SafetyAction``s
the core applies (``apply_action``).  Nothing here reads the clock or
touches I/O; the runtime loop or the simulator calls in.
"""
from __future__ import annotations

import math
from collections.abc import Set as AbstractSet

import numpy as np

from edgepilot.vehicle.config import VehicleConfig
from edgepilot.vehicle.control.los import LosGuidance
from edgepilot.vehicle.control.path import PolylinePath
from edgepilot.vehicle.control.pure_pursuit import PurePursuit
from edgepilot.vehicle.control.target import motion_target
from edgepilot.vehicle.estimation import GpsCompassFilter
from edgepilot.vehicle.geo import LocalFrame
from edgepilot.vehicle.maps import GridMap
from edgepilot.vehicle.maritime.mates import ROUTE_AHEAD_M, ROUTE_MAX_POINTS, SharedRoute
from edgepilot.vehicle.mission import MissionExecutor, validate_mission
from edgepilot.vehicle.modes import Navigator, VehicleMode, make_modes
from edgepilot.vehicle.params import ParamStore
from edgepilot.vehicle.planning_grid import PlanningError, PlanningGrid, operating_area_refusal
from edgepilot.vehicle.safety import CoreView, SafetyManager
from edgepilot.vehicle.types import (ActionKind, ActuatorCommand, Cmd, CommandResult, Event, GeoPoint, GpsFix, MissionItem,
                                     MissionState, Mode, Outcome, SafetyAction, SensorFrame, Setpoint, Severity,
                                     VehicleState)

LETHAL_COST = np.float32(np.inf)
#: Mission items whose lat/lon is a place to drive to (checked against the operating area).
NAV_POSITION_COMMANDS = (int(Cmd.NAV_WAYPOINT), int(Cmd.NAV_LOITER_UNLIM), int(Cmd.NAV_LOITER_TIME))
# bound once: an enum member look-up costs several times a global's, and
# mission_state is asked every physics step (the fleet runner's end test)
_AUTO = Mode.AUTO
_NO_MISSION, _NOT_STARTED, _ACTIVE, _PAUSED, _COMPLETE = (MissionState.NO_MISSION, MissionState.NOT_STARTED,
                                                          MissionState.ACTIVE, MissionState.PAUSED,
                                                          MissionState.COMPLETE)
__all__ = ["PlanningError", "PlanningGrid", "VehicleCore"]


class _Enterable(AbstractSet):
    """``CoreView.can_enter``: the modes the core would enter at ``now``.
    A mode's ``refusal`` (no side effects) is asked only when the safety
    layer asks about that mode (a failsafe's mode, seldom), not for every
    mode every tick.  The core does not change while safety decides."""

    __slots__ = ("_modes", "_now")

    def __init__(self, modes: dict, now: float):
        self._modes = modes
        self._now = now

    def __contains__(self, mode) -> bool:
        m = self._modes.get(mode)
        return m is not None and m.refusal(self._now) is None

    def __iter__(self):
        return (n for n, m in self._modes.items() if m.refusal(self._now) is None)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class VehicleCore:
    def __init__(self, config: VehicleConfig, origin: GeoPoint, prior_map: GridMap | None,
                 params: ParamStore | None = None, defer_bring_up: bool = False):
        """``defer_bring_up``: leave the heavy subsystems to a later
        ``bring_up()`` call (the onboard runtime makes it off the control
        thread once the loop runs); by default they are built here."""
        self.cfg = config
        self.frame = LocalFrame(origin.lat, origin.lon)
        self.params = params or ParamStore(config)
        s = config.sensors
        self.filter = GpsCompassFilter(self.frame, gps_noise_floor=max(s.gps.noise_m, 0.05),
                                       compass_noise=math.radians(max(s.compass.noise_deg, 0.5)),
                                       velocity_noise=max(s.gps.velocity_noise, 0.02))
        #: The IMU-driven EKF, GNSS monitor and map localizer when the vehicle
        #: file says navigation.estimator = "ekf"; None: ``filter`` owns the pose.
        self.estimator = None
        if config.navigation.estimator == "ekf":
            from edgepilot.vehicle.estimation.navigation import NavEstimator

            self.estimator = NavEstimator(config, self.frame)
        self.follower = PurePursuit(config) if config.kind == "ugv" else LosGuidance(config)
        self._prior_map = prior_map
        # Built by bring_up(); perception is published last and marks the core ready.
        self.planning: PlanningGrid | None = None
        self.maritime = None
        self.perception = None
        self._transient_version = 0                # of perception's transient obstacles in the costmap
        self._transient_replan_t = -math.inf
        self.nav = Navigator(self)
        #: One instance per mode (vehicle/modes); ``active`` is the current one.
        self.modes: dict[Mode, VehicleMode] = make_modes(self)
        self.active: VehicleMode = self.modes[Mode.HOLD]
        self.armed = False
        self.home: GeoPoint | None = None
        self._mission: tuple[MissionItem, ...] = ()
        self._exec: MissionExecutor | None = None
        self._mission_started = False
        self._events: list[Event] = []
        self._state = VehicleState(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, origin.lat, origin.lon, 1e3, False)
        self.last_gps: GpsFix | None = None
        self.battery_voltage: float | None = None
        self.battery_remaining: float | None = None
        self.safety = SafetyManager(config, self.params, self.frame, self._emit)
        self.failure_reason: str | None = None
        self.last_setpoint = Setpoint.stop()
        hw = config.hardware
        #: Companion wiring: an autopilot drives the motors, so the output is a
        #: motion target this far [m] ahead along the path; else wheel commands.
        self.target_lookahead: float | None = (hw.companion.lookahead_m if hw is not None and hw.wiring == "companion"
                                               and hw.companion is not None else None)
        self.now = 0.0
        self.safety.extra_prearm_checks.append(
            lambda: None if self.ready else "PreArm: still starting up (planning and perception)")
        if not defer_bring_up:
            self.bring_up()

    def bring_up(self) -> None:
        """Build the subsystems that cost start-up time: the planning costmap
        from the prior map (a distance transform over the whole map) and the
        planners, perception (occupancy grid, tracker, camera detector) and,
        for a surface vessel, the maritime autonomy (contacts, COLREGs helm,
        station keeping); with them come OpenCV and the numba kernels.

        Until it has run the core estimates, keeps its links and modes,
        commands a stop and fails the pre-arm check, so the onboard runtime
        can start its control loop first and call this from another thread:
        each part is published by a single attribute store once complete,
        perception (which makes the core ``ready``) last."""
        if self.ready:
            return
        from edgepilot.vehicle.perception.front import Perception

        prior = self._prior_map
        if self.estimator is not None:
            self.estimator.attach_map(prior)
        # The planning costmap rolls with the vehicle beyond the prior map (or without one).
        st = self._state
        planning = PlanningGrid(prior, self.cfg, (st.x, st.y) if st.valid else None)
        # Perception (vehicle/perception/front.py): lidar occupancy grid and
        # tracks, camera detections, each at its own rate; obstacles the prior
        # map lacks go into the planning costmap (add_obstacles), moving
        # tracks into the give-way rule in _drive_to.  The lidar maps the
        # planning window and rolls with it.
        perception = Perception(self.cfg, prior, resolution=planning.resolution, window=planning.window())
        # USV: contacts, COLREGs helm between LOS guidance and control, station keeping.
        maritime = None
        if self.cfg.kind == "usv":
            # Imported here: a ground vehicle never pays for the COLREGs helm.
            from edgepilot.vehicle.maritime.autonomy import MaritimeAutonomy

            maritime = MaritimeAutonomy(self.cfg, self.frame, planning)
        self.planning = planning
        self.maritime = maritime
        self.perception = perception

    @property
    def ready(self) -> bool:
        """True once bring_up() has built planning, perception and (USV) the
        maritime autonomy; until then the core estimates, talks and holds
        still, and refuses to arm."""
        return self.perception is not None

    @property
    def mapper(self):
        """The lidar mapper (``vehicle.perception.mapping.LidarMapper``), or
        None without a lidar and prior map or before bring_up()."""
        return self.perception.mapper if self.perception is not None else None

    # ------------------------------------------------------------ read-only
    @property
    def mode(self) -> Mode:
        return self.active.number

    @property
    def state(self) -> VehicleState:
        return self._state

    @property
    def mission(self) -> tuple[MissionItem, ...]:
        return self._mission

    @property
    def mission_current(self) -> int:
        return self._exec.current if self._exec else 0

    @property
    def mission_state(self) -> MissionState:
        ex = self._exec
        if ex is None or not ex.has_nav:
            return _NO_MISSION
        if ex.complete:
            return _COMPLETE
        if not self._mission_started:
            return _NOT_STARTED
        return _ACTIVE if self.mode == _AUTO else _PAUSED

    @property
    def tracks(self):
        """Lidar tracks this tick: ``list[vehicle.perception.tracking.Track]``
        (id, t, x, y, vx, vy, cov, radius, confirmed, hits, misses), map
        frame ENU metres and m/s; tentative ones included (``confirmed``)."""
        return self.perception.tracks if self.perception is not None else []

    @property
    def camera_detections(self):
        """The latest processed camera frame's detections
        (``vehicle.perception.detection.CameraDetection``, vehicle frame)."""
        return self.perception.camera_detections if self.perception is not None else []

    @property
    def path(self) -> PolylinePath | None:
        """The path being followed now (map frame), if any."""
        return self.nav.path

    @property
    def cross_track_error(self) -> float:
        """Off the path being followed [m]."""
        return self.nav.cross_track_error

    def route_ahead(self, max_m: float = ROUTE_AHEAD_M, max_points: int = ROUTE_MAX_POINTS + 1):
        """Where this vehicle means to go, as it shares it with its
        fleet-mates (vehicle/maritime/mates.py): ((N, 2) map-frame points
        [m], the first its position, then the rest of the path it follows
        and, in AUTO, the mission's next waypoints, up to ``max_m`` along,
        resampled evenly to at most ``max_points``; the speed it plans
        [m/s]).  None when it follows no route: disarmed, not in AUTO or
        GUIDED, no path, or a vessel off its path on purpose (the COLREGs
        helm is steering)."""
        nav, st = self.nav, self._state
        if (not self.armed or self.mode not in (Mode.AUTO, Mode.GUIDED) or nav.path is None or not st.valid
                or nav._manoeuvring):
            return None
        p = nav.path
        rest = p.points[np.searchsorted(p.cum, self.follower.s, side="right"):]
        pts = [np.array([[st.x, st.y]]), rest]
        ex = self._exec
        if self.mode == Mode.AUTO and ex is not None and not ex.complete:
            for it in ex.items[ex.current + 1:]:
                if it.command == Cmd.NAV_RETURN_TO_LAUNCH:
                    pts.append(np.array([self.nav.home_xy()]))
                    break
                if it.command in NAV_POSITION_COMMANDS:
                    pts.append(np.array([self.frame.to_local(it.lat, it.lon)]))
                    if it.command != Cmd.NAV_WAYPOINT or len(pts) > max_points:
                        break
        pts = np.vstack(pts)
        seg = np.hypot(*(pts[1:] - pts[:-1]).T)
        cum = np.concatenate(([0.0], np.cumsum(seg)))
        length = min(float(cum[-1]), max_m)
        d = np.linspace(0.0, length, max_points) if length > 0 else np.zeros(1)
        out = np.column_stack((np.interp(d, cum, pts[:, 0]), np.interp(d, cum, pts[:, 1])))
        return out, float(nav.cruise())

    def mate_route_in(self, mmsi: int, t: float, lat, lon, speed: float) -> bool:
        """A fleet-mate's route ahead as EDGEPILOT_ROUTE_AHEAD carries it
        (WGS84 degrees, her position first; ``t`` [s] when she was at the
        first point, on this core's clock; planned speed [m/s]; no points:
        she follows no route) for the COLREGs helm.  Returns whether it was
        taken (False: older than the route held of her, or this is a ground
        vehicle, which has no use for it); ValueError, naming her MMSI, for
        a route that cannot be one (``FleetMates.update``)."""
        if self.maritime is None:
            return False
        x, y = self.frame.to_local(np.asarray(lat, np.float64), np.asarray(lon, np.float64))
        return self.maritime.mates.update(SharedRoute(int(mmsi), float(t), np.column_stack((x, y)), float(speed)))

    def mate_routes(self) -> dict:
        """What the COLREGs helm made of its fleet-mates' routes: ``heard``
        (routes taken in), ``used`` (of them, the ones it predicted a mate
        along at least once), ``ticks_along`` (helm ticks predicting some
        mate along her route), ``in_use`` (the MMSIs predicted so at its
        last tick).  All zero on a ground vehicle."""
        m = self.maritime.mates if self.maritime is not None else None
        if m is None:
            return {"heard": 0, "used": 0, "ticks_along": 0, "in_use": frozenset()}
        return {"heard": m.heard, "used": m.used, "ticks_along": m.ticks_along, "in_use": m.in_use}

    def events_since(self, cursor: int) -> tuple[list[Event], int]:
        return self._events[cursor:], len(self._events)

    def _emit(self, kind: str, text: str, severity: Severity = Severity.INFO, **data) -> None:
        self._events.append(Event(self.now, kind, text, severity, data))

    # ------------------------------------------------------------ commands
    def arm(self, now: float, force: bool = False) -> CommandResult:
        self.now = now
        if self.armed:
            return CommandResult(True, "already armed")
        if not force:
            failures = self.safety.prearm(now, self._view(now))
            if failures:
                refused = self._refuse(failures[0], Outcome.FAILED)
                for extra in failures[1:]:
                    self._emit("text", extra, Severity.WARNING)
                return refused
        self.armed = True
        if self._state.valid and (self.home is None or math.hypot(self._state.x - self.nav.home_xy()[0],
                                                                   self._state.y - self.nav.home_xy()[1]) > 1.0):
            self._set_home()  # home is where the vehicle arms, as ArduPilot
        self._emit("armed", "Armed", Severity.INFO)
        return CommandResult(True)

    def disarm(self, now: float, force: bool = False) -> CommandResult:
        self.now = now
        if not self.armed:
            return CommandResult(True, "already disarmed")
        if not force and self._state.speed > 0.5 and self.active.drives:
            return self._refuse("Disarm refused: vehicle is moving (use force)", Outcome.DENIED)
        self.armed = False
        self._emit("disarmed", "Disarmed", Severity.INFO)
        return CommandResult(True)

    def estop(self, now: float, source: str = "command") -> CommandResult:
        """Immediate stop and disarm; latched until ``clear_estop``."""
        self.now = now
        for a in self.safety.estop(now, self._view(now), source):
            self.apply_action(now, a)
        return CommandResult(True)

    def clear_estop(self, now: float) -> CommandResult:
        self.now = now
        res, actions = self.safety.clear_estop(now, self._view(now))
        for a in actions:
            self.apply_action(now, a)
        return res

    def apply_action(self, now: float, action: SafetyAction) -> CommandResult:
        """Act on a decision made elsewhere: the safety layer's failsafe
        actions, or a driver's report that the motors cannot do what the
        core asks (an autopilot refused to arm or was taken over)."""
        self.now = now
        k = action.kind
        if k is ActionKind.NONE:
            return CommandResult(True)
        if k is ActionKind.STOP:      # motors stopped at once, disarmed
            self.armed = False
            self._switch(now, Mode.HOLD, announce=False)
            self.last_setpoint = Setpoint.stop(now, estop=True)
            self._emit("disarmed", "Disarmed by failsafe", Severity.CRITICAL)
            return CommandResult(True)
        if k is ActionKind.ESTOP:
            return self.estop(now, action.reason or "command")
        if k is ActionKind.DISARM:
            return self.disarm(now, force=True)
        mode = {ActionKind.HOLD: Mode.HOLD, ActionKind.RTL: Mode.RTL}.get(k, action.mode)
        if mode is None or mode == self.mode:
            return CommandResult(True)
        res = self.set_mode(now, mode)
        if res.ok and k is ActionKind.RESUME and action.data:
            self._emit("failsafe", action.reason, Severity.NOTICE, **action.data)
        return res

    def _view(self, now: float) -> CoreView:
        """What the safety layer decides from (it never calls into the core)."""
        return CoreView(self.armed, self.mode, self._state, _Enterable(self.modes, now), self._mission,
                        self.perception.status(now) if self.perception is not None else {},
                        self.estimator.health(now) if self.estimator is not None else None)

    def set_start_pose(self, now: float, x: float, y: float, yaw: float, pos_std: float = 0.1,
                       yaw_std: float = math.radians(2.0)) -> CommandResult:
        """The operator's word for where the vehicle is: map frame ENU
        ``x, y`` [m], ``yaw`` [rad, CCW from east], 1-sigma ``pos_std`` [m]
        and ``yaw_std`` [rad].  The navigation EKF starts there (a vehicle
        without GNSS); refused with the GPS + compass filter, which takes
        its position from GPS only, and while armed."""
        self.now = now
        if self.estimator is None:
            return self._refuse("Start pose refused: needs navigation.estimator = \"ekf\" (the GPS + compass "
                                "filter takes its position from GPS)", Outcome.UNSUPPORTED)
        if self.armed:
            return self._refuse("Start pose refused: vehicle is armed", Outcome.DENIED)
        for name, v in (("x", x), ("y", y), ("yaw", yaw)):
            if not (isinstance(v, (int, float)) and math.isfinite(v)):
                return self._refuse(f"Start pose refused: {name} must be a finite number, got {v!r}",
                                    Outcome.DENIED)
        for name, v in (("pos_std", pos_std), ("yaw_std", yaw_std)):
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                return self._refuse(f"Start pose refused: {name} must be a finite number > 0, got {v!r}",
                                    Outcome.DENIED)
        reason = self._target_refusal(x, y)
        if reason:
            return self._refuse(f"Start pose refused: {reason}", Outcome.DENIED)
        yaw = (yaw + math.pi) % (2.0 * math.pi) - math.pi
        self.estimator.set_pose(now, float(x), float(y), float(yaw), float(pos_std), float(yaw_std))
        self._state = self.estimator.state(now)
        self._emit("text", f"Start pose set: ({x:.2f}, {y:.2f}) m, yaw {math.degrees(yaw):.1f} deg",
                   Severity.INFO)
        return CommandResult(True)

    def set_fence(self, items: list[MissionItem]) -> CommandResult:
        """Fence items (MAV_MISSION_TYPE_FENCE semantics); [] clears it."""
        return self.safety.set_fence(items)

    @property
    def fence(self):
        return self.safety.fence

    @property
    def failsafe_active(self) -> bool:
        return self.safety.failsafe_active

    def set_mode(self, now: float, mode: Mode) -> CommandResult:
        """Enter ``mode`` (a ``Mode`` or its number) unless it refuses."""
        self.now = now
        try:
            new = self.modes[Mode(mode)]
        except (ValueError, KeyError):
            return self._refuse(f"Mode {mode} is not supported", Outcome.UNSUPPORTED)
        reason = new.refusal(now)
        if reason:
            return self._refuse(reason, Outcome.DENIED)
        new.enter(now)
        self._switch(now, new.number)
        return CommandResult(True)

    def _switch(self, now: float, mode: Mode, announce: bool = True) -> None:
        """The transition itself: the old mode exits, the next leg is planned afresh."""
        new = self.modes[mode]
        if new is self.active:
            return
        self.active.exit(now)
        self.nav.new_leg()
        self.nav.end_wait()          # a goal waited for is the old mode's
        self.active = new
        if announce:
            self._emit("mode", f"Mode {mode.name}", Severity.INFO, mode=int(mode))

    def set_mission(self, items: list[MissionItem]) -> CommandResult:
        items = list(items)
        if not items:
            self._mission, self._exec = (), None
            self._mission_started = False
            return CommandResult(True)
        reason = validate_mission(items) or self._mission_area_refusal(items)
        if reason:
            return self._refuse(f"Mission rejected: {reason}", Outcome.DENIED)
        self._mission = tuple(items)
        self._exec = MissionExecutor(items)
        self._mission_started = False
        self.failure_reason = None
        if self.mode == Mode.AUTO:
            self.nav.new_leg()
        return CommandResult(True)

    def start_mission(self, now: float, first: int | None = None) -> CommandResult:
        """AUTO from item ``first`` (default 1, the first after home)."""
        if self._exec is None or not self._exec.has_nav:
            return self._refuse("Mission start refused: no mission loaded", Outcome.DENIED)
        if first is not None and not (0 <= first < len(self._exec.items)):
            return self._refuse(f"Mission start refused: no item {first}", Outcome.DENIED)
        self._exec.restart(first)
        self.nav.new_leg()
        return self.set_mode(now, Mode.AUTO)

    def set_current(self, seq: int) -> CommandResult:
        if self._exec is None or not self._exec.set_current(int(seq)):
            return CommandResult(False, f"no mission item {seq}", Outcome.DENIED)
        self.nav.new_leg()
        self._emit("text", f"Mission: current item {self._exec.current}", Severity.INFO)
        return CommandResult(True)

    def goto(self, now: float, lat: float, lon: float, speed: float | None = None) -> CommandResult:
        if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
            return CommandResult(False, f"invalid target {lat}, {lon}", Outcome.DENIED)
        x, y = self.frame.to_local(lat, lon)
        reason = self._target_refusal(x, y)
        if reason is None and self.planning is not None:
            reason = self.planning.target_refusal(x, y)
        if reason:
            return self._refuse(f"Goto refused: {reason}", Outcome.DENIED)
        self.modes[Mode.GUIDED].target = (x, y, speed)
        self.nav.new_leg()
        if self.mode != Mode.GUIDED:
            return self.set_mode(now, Mode.GUIDED)
        return CommandResult(True)

    def add_obstacles(self, now: float, points, pinned: bool = True) -> bool:
        """A map update: obstacle points (N, 2) [x, y] map-frame metres seen
        or reported now.  The planning costmap is updated in the affected
        window only; when the path being followed now crosses lethal cost
        the leg is replanned from the vehicle's position on the next tick.
        ``pinned`` (reported obstacles): they stay when the lidar sees the
        place free; the tick's own sensed obstacles are not pinned.
        Returns True when a replan was triggered."""
        self.now = now
        if self.planning is None:
            return False
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if self.planning.add_obstacles(pts, pinned=pinned) is None:
            return False
        if self.nav.path is not None and self.planning.path_blocked(self.nav.path.points):
            self.nav.new_leg()
            self._emit("replan", f"New obstacle on the path ({len(pts)} points): replanning",
                       Severity.NOTICE)
            return True
        return False

    def _set_transient(self, now: float) -> bool:
        """The movable things the camera sees now (people, vessels,
        vehicles: ``Perception.transient_obstacles``) into the costmap's
        transient layer, replacing what was there, so a place is free again
        once the thing has moved on; replanned as ``add_obstacles`` does
        when the path now crosses lethal cost.  True when a replan was
        triggered."""
        self._transient_version = self.perception.transient_version
        if not self.planning.set_transient(self.perception.transient_points()):
            return False
        if self.nav.path is not None and self.planning.path_blocked(self.nav.path.points):
            self.nav.new_leg()
            if now - self._transient_replan_t >= 5.0:     # a walker in view moves every frame: not every time
                self._transient_replan_t = now
                self._emit("replan", "A person, vessel or vehicle in view is on the path: replanning",
                           Severity.NOTICE)
            return True
        return False

    def _target_refusal(self, x: float, y: float) -> str | None:
        """Beyond the operating area (vehicle/planning_grid.py): the prior
        map, an inclusion fence, planning.operating_area or
        planning.operating_radius_m around home (the map origin before home)."""
        center = self.nav.home_xy() if self.home is not None else (0.0, 0.0)
        return operating_area_refusal(x, y, self.cfg, center, self._prior_map, self.safety.fence)

    def _mission_area_refusal(self, items) -> str | None:
        for it in items[1:]:    # item 0 is home
            if (it.command in NAV_POSITION_COMMANDS and (it.lat, it.lon) != (0.0, 0.0)
                    and math.isfinite(it.lat) and math.isfinite(it.lon)):
                reason = self._target_refusal(*self.frame.to_local(it.lat, it.lon))
                if reason:
                    return f"item {it.seq}: {reason}"
        return None

    def set_speed(self, speed: float) -> CommandResult:
        if not (math.isfinite(speed) and 0 < speed <= self.cfg.limits.max_speed):
            return CommandResult(False, f"speed must be in (0, {self.cfg.limits.max_speed}] m/s, got {speed}",
                                 Outcome.DENIED)
        self.nav.speed_override = float(speed)
        return CommandResult(True)

    def gcs_heartbeat(self, now: float) -> None:
        self.safety.gcs_heartbeat(now)

    def _refuse(self, reason: str, result: Outcome) -> CommandResult:
        self._emit("text", reason, Severity.WARNING)
        return CommandResult(False, reason, result)

    def _set_home(self) -> None:
        self.home = GeoPoint(self._state.lat, self._state.lon, 0.0)
        self._emit("text", f"Home set at {self.home.lat:.7f}, {self.home.lon:.7f}", Severity.INFO)

    # ------------------------------------------------------------ the tick
    def step(self, now: float, frame: SensorFrame) -> Setpoint:
        """One control tick at ``now`` [s]: the setpoint for the actuators."""
        self.now = now
        # each frame field read once (as SafetyManager.observe reads them)
        gps = frame.gps
        if self.estimator is not None:
            if gps is not None:
                self.last_gps = gps
            for ev in self.estimator.update(now, frame):
                self._emit(ev.kind, ev.text, ev.severity, what=ev.what)
            self._state = self.estimator.state(now)
        else:
            f = self.filter
            f.predict(now)
            if gps is not None:
                self.last_gps = gps
                f.update_gps(gps)
            if (compass := frame.compass) is not None:
                f.update_compass(compass)
            self._state = f.state(now)
        if (battery_v := frame.battery_v) is not None:
            self.battery_voltage = battery_v
        if (battery_remaining := frame.battery_remaining) is not None:
            self.battery_remaining = battery_remaining
        st = self._state
        planning = self.planning
        maritime = self.maritime
        perception = self.perception
        mapper = perception.mapper if perception is not None else None
        if planning is not None and st.valid:
            scans = mapper.scans if mapper is not None else 0
            if planning.track(st.x, st.y, mapper):   # the window rolled
                self.nav.new_leg()
                if maritime is not None and maritime.helm.shore is not None:
                    maritime.helm.shore.origin_x = planning.costmap.origin_x
                    maritime.helm.shore.origin_y = planning.costmap.origin_y
        if maritime is not None:  # AIS and the lidar's vessel tracks into the contact table
            for text, data in maritime.sense(now, st, frame):
                self._emit("contact", text, Severity.INFO, **data)
        if perception is not None:
            perception.set_stale_after(self.params.table["FS_SENS_TIMEOUT"])
            seen = perception.process(now, frame, st)
            if maritime is not None:
                unproven = seen[:0]
                if len(seen):
                    vessel = maritime.vessel_points(now, seen)      # hulls are contacts, not map
                    held = ~vessel & maritime.unproven_points(now, seen)
                    if held.any() and mapper is not None:
                        # motion not known yet: reported again while the cell stays occupied
                        mapper.unreport(seen[held])
                    unproven = seen[held]
                    seen = seen[~(vessel | held)]
                if planning is not None:
                    # ... but one within reach stands in the costmap until it is known
                    stamp, clear = maritime.provisional_obstacles(now, st, unproven, seen)
                    if len(clear):
                        planning.costmap.clear_obstacles(points=clear)
                    if len(stamp):
                        self.add_obstacles(now, stamp, pinned=False)
            if planning is not None and len(perception.seen_free):
                # mapped obstacles the lidar now sees free: gone (a car drove off, a gate opened)
                planning.clear_seen_free(perception.seen_free)
            if len(seen):
                self.add_obstacles(now, seen, pinned=False)
            if planning is not None and perception.transient_version != self._transient_version:
                self._set_transient(now)
            if planning is not None and st.valid:
                planning.learn(mapper, scans)     # seen cells are no longer unknown
        if self.home is None and self._state.valid:
            self._set_home()
        for a in self.safety.update(now, frame, self._view(now)):   # safety decides, the core acts
            self.apply_action(now, a)
        # Not ready (bring_up pending) also covers a forced arm, which skips the pre-arm checks.
        cmd = (self.active.update(now) if (self.armed and self._state.valid and self.ready)
               else ActuatorCommand.stop())
        cmd = self.safety.filter_command(cmd)
        if self.target_lookahead is None or cmd.estop:
            # actuators=cmd, passed by position: a keyword costs ~0.2 us a call here
            self.last_setpoint = Setpoint(now, self.armed, self.mode, cmd)
        else:   # an autopilot drives: where to go, from the path and the follower's progress
            path = self.nav.path
            driving = self.armed and self.active.drives and path is not None and (cmd.left, cmd.right) != (0, 0)
            self.last_setpoint = Setpoint(now, self.armed, self.mode, target=motion_target(
                self.frame, self._state, path, self.follower.s, self.target_lookahead, self.nav.cruise(), driving))
        return self.last_setpoint

    @property
    def last_command(self) -> ActuatorCommand:
        """The latest setpoint's wheel / thruster command."""
        return self.last_setpoint.command

    # ------------------------------------------------------------ internal errors
    #: Exceptions contained so far (ArduPilot's internal error count); see contain_fault.
    internal_errors = 0
    #: "where: what" of the latest contained exception, None before the first.
    last_internal_error: str | None = None
    _internal_error_text_at = -1e9

    def contain_fault(self, now: float, where: str, exc: BaseException) -> Setpoint:
        """An exception escaped ``where`` (the tick, a mission item, a MAVLink
        handler, a driver): the vehicle stops its motors, goes to HOLD, counts
        the error and says so (CRITICAL), and the caller keeps serving; as
        ArduPilot's internal errors.  Returns the stop setpoint to send now.
        The STATUSTEXT is repeated at most once a second for a fault that
        recurs every tick; the count grows with each one."""
        self.now = now
        self.internal_errors += 1
        what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        self.last_internal_error = f"{where}: {what}"
        # HOLD directly, without the old mode's exit: the mode logic may be what failed.
        hold = self.modes[Mode.HOLD]
        self.nav.end_wait()
        if self.active is not hold:
            self.active = hold
            self._emit("mode", f"Mode {Mode.HOLD.name}", Severity.INFO, mode=int(Mode.HOLD))
        try:
            self.nav.new_leg()
        except Exception:  # noqa: BLE001 - planning state may be what failed; HOLD needs none
            pass
        sp = Setpoint(now, self.armed, Mode.HOLD, actuators=ActuatorCommand.stop())
        self.last_setpoint = sp
        if now - self._internal_error_text_at >= 1.0 or self.internal_errors == 1:
            self._internal_error_text_at = now
            self._emit("internal_error", f"Internal error #{self.internal_errors} in {where}: {what}; HOLD",
                       Severity.CRITICAL, where=where, count=self.internal_errors)
        return sp
