"""The autonomy core: state in, command out.

``VehicleCore.step(now, frame)`` runs one control tick: estimation, mode
logic, mission execution, planning and path following, and returns the
``ActuatorCommand`` for the drivers.  Operator commands (arm, modes,
missions, goto) are methods returning ``CommandResult``.  Nothing here reads
the clock or touches I/O; the runtime loop or the simulator calls in.
"""
from __future__ import annotations

import math

import numpy as np

from edgepilot.vehicle.config import VehicleConfig
from edgepilot.vehicle.control.los import LosGuidance
from edgepilot.vehicle.control.path import PolylinePath
from edgepilot.vehicle.control.pure_pursuit import PurePursuit
from edgepilot.vehicle.estimation import GpsCompassFilter
from edgepilot.vehicle.geo import LocalFrame
from edgepilot.vehicle.maps import GridMap
from edgepilot.vehicle.mission import MissionExecutor, NavTarget, validate_mission
from edgepilot.vehicle.params import ParamStore
from edgepilot.vehicle.safety import SafetyManager
from edgepilot.vehicle.control.target import motion_target
from edgepilot.vehicle.types import (ActionKind, ActuatorCommand, CommandResult, Event, GeoPoint, GpsFix, MissionItem,
                           MissionState, Mode, SafetyAction, SensorFrame, Setpoint, Severity, VehicleState)

LETHAL_COST = np.float32(np.inf)
MAV_RESULT_ACCEPTED, MAV_RESULT_TEMP_REJECTED, MAV_RESULT_DENIED, MAV_RESULT_UNSUPPORTED, MAV_RESULT_FAILED = 0, 1, 2, 3, 4


class PlanningError(Exception):
    """No safe path to a target; the message says why in an operator's words."""


class PlanningGrid:
    """The prior map as an inflated costmap at the planning resolution, and
    the planners that run on it.

    Occupancy is coarsened to ``cfg.planning.resolution`` (a coarse cell is
    occupied when any prior cell in it is) and inflated Nav2-style
    (``InflatedCostmap``): lethal within the vehicle's inscribed radius
    plus safety margin plus one cell diagonal (cell centres stand for
    anywhere in the cell, the obstacle's and the vehicle's alike), then an
    exponential cost decaying to 1 at the inflation radius, so paths keep
    away from obstacles when there is room.

    Planners: grid A* (MCP_Geometric's rule) followed by cost-bounded
    line-of-sight shortcutting that never enters lethal cost nor raises the
    path's weighted cost; with ``cfg.planning.turning_radius`` set (boats),
    Hybrid-A* from the vehicle's pose (forward only, free final heading),
    falling back to the grid planner when it finds nothing."""

    def __init__(self, prior: GridMap, cfg: VehicleConfig):
        # The planners, the costmap (OpenCV) and their numba kernels are
        # imported here, not with the core: see VehicleCore.bring_up.
        from edgepilot.vehicle.costmap import InflatedCostmap, InflationParams
        from edgepilot.vehicle.planning.hybrid_astar import HybridParams

        res = cfg.planning.resolution
        factor = max(1, int(round(res / prior.resolution)))
        self.resolution = prior.resolution * factor
        occ = prior.occupied
        rows, cols = occ.shape[0] // factor, occ.shape[1] // factor
        coarse = occ[: rows * factor, : cols * factor].reshape(rows, factor, cols, factor).any(axis=(1, 3))
        self.lethal_radius = cfg.geometry.inscribed_radius + cfg.planning.safety_margin
        # Distances are measured between cell centres: allow one cell diagonal.
        lethal = self.lethal_radius + math.sqrt(2.0) * self.resolution
        self.keep_clear = lethal
        infl = max(cfg.planning.inflation_radius, lethal + self.resolution)
        params = InflationParams(inscribed_radius=lethal, inflation_radius=infl,
                                 cost_scaling_factor=3.0 / (infl - lethal), max_weight=21.0)
        self.costmap = InflatedCostmap(GridMap(coarse, self.resolution, prior.origin_x, prior.origin_y), params)
        self.turning_radius = cfg.planning.turning_radius
        self.hybrid_params = (HybridParams(self.turning_radius, max_expansions=30_000)
                              if self.turning_radius else None)

    @property
    def weights(self) -> np.ndarray:
        """float32 planner weights (>= 1, inf lethal), row 0 south."""
        return self.costmap.weights

    @property
    def distance(self) -> np.ndarray:
        """float32 distance [m] from each cell centre to the nearest obstacle cell centre."""
        return self.costmap.distance

    def add_obstacles(self, points: np.ndarray) -> tuple[int, int, int, int] | None:
        """Mark obstacle points (N, 2) [x, y] map-frame metres; the costmap
        is updated in the window they can influence only.  Returns the
        updated (r0, r1, c0, c1) window or None when nothing changed."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        return self.costmap.add_obstacles(points=pts[np.isfinite(pts).all(axis=1)])

    def path_blocked(self, pts: np.ndarray) -> bool:
        """True when the polyline (N, 2) [x, y] m crosses a lethal cell or
        leaves the map (sampled every half cell)."""
        pts = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        if len(pts) < 2:
            return False
        from edgepilot.vehicle.planning.smoothing import densify

        dense = densify(pts, 0.5 * self.resolution)
        h, w = self.weights.shape
        rows, cols = self.costmap.points_to_cells(dense)
        if (rows < 0).any() or (rows >= h).any() or (cols < 0).any() or (cols >= w).any():
            return True
        return not bool(np.isfinite(self.weights[rows, cols]).all())

    def cell(self, x: float, y: float) -> tuple[int, int]:
        return self.costmap.world_to_cell(x, y)

    def nearest_free(self, r: int, c: int, radius_cells: int) -> tuple[int, int] | None:
        h, w = self.weights.shape
        r0, r1 = max(0, r - radius_cells), min(h, r + radius_cells + 1)
        c0, c1 = max(0, c - radius_cells), min(w, c + radius_cells + 1)
        win = np.isfinite(self.weights[r0:r1, c0:c1])
        if not win.any():
            return None
        rr, cc = np.nonzero(win)
        k = int(np.argmin((rr + r0 - r) ** 2 + (cc + c0 - c) ** 2))
        return int(rr[k] + r0), int(cc[k] + c0)

    def plan(self, x0: float, y0: float, x1: float, y1: float, yaw0: float | None = None) -> np.ndarray:
        """Map-frame points from (x0, y0) to (x1, y1); raises PlanningError.
        ``yaw0`` [rad] is the vehicle's heading, used by the kinematic
        planner when a turning radius is configured."""
        from edgepilot.vehicle.planning import astar
        from edgepilot.vehicle.planning.hybrid_astar import hybrid_astar
        from edgepilot.vehicle.planning.smoothing import shortcut

        h, w = self.weights.shape
        gr, gc = self.cell(x1, y1)
        if not (0 <= gr < h and 0 <= gc < w):
            raise PlanningError(f"target ({x1:.1f}, {y1:.1f}) m is outside the map")
        if not np.isfinite(self.weights[gr, gc]):
            d = self.distance[gr, gc]
            where = "inside an obstacle" if d <= 0 else f"{d:.2f} m from an obstacle"
            raise PlanningError(f"target ({x1:.1f}, {y1:.1f}) m is {where}; the planner keeps "
                                f"{self.keep_clear:.2f} m clear ({self.lethal_radius:.2f} m footprint and "
                                f"margin plus one {self.resolution:.2f} m cell)")
        sr, sc = self.cell(x0, y0)
        if not (0 <= sr < h and 0 <= sc < w):
            raise PlanningError(f"vehicle position ({x0:.1f}, {y0:.1f}) m is outside the map")
        if self.hybrid_params is not None and yaw0 is not None and (sr, sc) != (gr, gc):
            hp = hybrid_astar(self.costmap, (x0, y0, yaw0), (x1, y1), self.hybrid_params)
            if hp is not None:
                pts = hp.points.copy()
                pts[-1] = (x1, y1)
                return pts
        if not np.isfinite(self.weights[sr, sc]):
            near = self.nearest_free(sr, sc, int(math.ceil(1.5 / self.resolution)))
            if near is None:
                raise PlanningError("vehicle is boxed in: no free cell within 1.5 m")
            sr, sc = near
        cells = astar(self.weights, (sr, sc), (gr, gc))
        if cells is None:
            raise PlanningError(f"no safe path to ({x1:.1f}, {y1:.1f}) m")
        cells = shortcut(self.weights, cells)
        pts = self.costmap.cells_to_world(cells)
        pts[0] = (x0, y0)
        pts[-1] = (x1, y1)
        return pts


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
        self.follower = PurePursuit(config) if config.kind == "ugv" else LosGuidance(config)
        self._prior_map = prior_map
        # Built by bring_up(); perception is published last and marks the core ready.
        self.planning: PlanningGrid | None = None
        self.maritime = None
        self.perception = None
        self._hold_xy: tuple[float, float] | None = None
        self.mode = Mode.HOLD
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
        self._guided: tuple[float, float, float | None] | None = None
        self._speed_override: float | None = None
        self._leg_key = None
        self._path: PolylinePath | None = None
        self._loiter_until: float | None = None
        self.safety = SafetyManager(config, self.params, self.frame, self._emit)
        self.failure_reason: str | None = None
        self.cross_track_error = 0.0
        self.wp_distance = 0.0
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
        planning = PlanningGrid(prior, self.cfg) if prior is not None else None
        # Perception (vehicle/perception/front.py): lidar occupancy grid and
        # tracks, camera detections, each at its own rate; obstacles the prior
        # map lacks go into the planning costmap (add_obstacles), moving
        # tracks into the give-way rule in _drive_to.
        perception = Perception(self.cfg, prior)
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
        if self._exec is None or not self._exec.has_nav:
            return MissionState.NO_MISSION
        if self._exec.complete:
            return MissionState.COMPLETE
        if not self._mission_started:
            return MissionState.NOT_STARTED
        return MissionState.ACTIVE if self.mode == Mode.AUTO else MissionState.PAUSED

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
        return self._path

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
            failures = self.safety.prearm(now, self)
            if failures:
                refused = self._refuse(failures[0], MAV_RESULT_FAILED)
                for extra in failures[1:]:
                    self._emit("text", extra, Severity.WARNING)
                return refused
        self.armed = True
        if self._state.valid and (self.home is None or self._home_offset() > 1.0):
            self._set_home()  # home is where the vehicle arms, as ArduPilot
        self._emit("armed", "Armed", Severity.INFO)
        return CommandResult(True)

    def disarm(self, now: float, force: bool = False) -> CommandResult:
        self.now = now
        if not self.armed:
            return CommandResult(True, "already disarmed")
        if not force and self._state.speed > 0.5 and self.mode in (Mode.AUTO, Mode.GUIDED, Mode.RTL):
            return self._refuse("Disarm refused: vehicle is moving (use force)", MAV_RESULT_DENIED)
        self.armed = False
        self._emit("disarmed", "Disarmed", Severity.INFO)
        return CommandResult(True)

    def estop(self, now: float, source: str = "command") -> CommandResult:
        """Immediate stop and disarm; latched until ``clear_estop``."""
        self.now = now
        self.safety.estop(now, self, source)
        return CommandResult(True)

    def clear_estop(self, now: float) -> CommandResult:
        self.now = now
        return self.safety.clear_estop(now, self)

    def _safety_stop(self, now: float) -> None:
        """The safety layer's STOP action: motors stopped at once, disarmed."""
        self.armed = False
        self.mode = Mode.HOLD
        self.last_setpoint = Setpoint.stop(now, estop=True)
        self._emit("disarmed", "Disarmed by failsafe", Severity.CRITICAL)

    def apply_action(self, now: float, action: SafetyAction) -> CommandResult:
        """Act on a decision made elsewhere: the safety layer's failsafe
        actions, or a driver's report that the motors cannot do what the
        core asks (an autopilot refused to arm or was taken over)."""
        self.now = now
        k = action.kind
        if k is ActionKind.NONE:
            return CommandResult(True)
        if k is ActionKind.STOP:
            self._safety_stop(now)
            return CommandResult(True)
        if k is ActionKind.ESTOP:
            return self.estop(now, action.reason or "command")
        if k is ActionKind.DISARM:
            return self.disarm(now, force=True)
        mode = {ActionKind.HOLD: Mode.HOLD, ActionKind.RTL: Mode.RTL}.get(k, action.mode)
        if mode is None or mode == self.mode:
            return CommandResult(True)
        return self.set_mode(now, mode)

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
        self.now = now
        try:
            mode = Mode(mode)
        except ValueError:
            return self._refuse(f"Mode {mode} is not supported", MAV_RESULT_UNSUPPORTED)
        if mode == Mode.AUTO:
            if self._exec is None or not self._exec.has_nav:
                return self._refuse("AUTO needs a mission with at least one waypoint", MAV_RESULT_DENIED)
            if self._exec.complete:
                self._exec.restart()
            self._mission_started = True
        if mode == Mode.RTL and self.home is None and not self._state.valid:
            return self._refuse("RTL needs a home position", MAV_RESULT_DENIED)
        if mode == Mode.GUIDED and self._guided is None and self._state.valid:
            self._guided = (self._state.x, self._state.y, None)
        if mode != self.mode:
            self._leg_key = None
            self._loiter_until = None
            self._hold_xy = None
            self.mode = mode
            self._emit("mode", f"Mode {mode.name}", Severity.INFO, mode=int(mode))
        return CommandResult(True)

    def set_mission(self, items: list[MissionItem]) -> CommandResult:
        items = list(items)
        if not items:
            self._mission, self._exec = (), None
            self._mission_started = False
            return CommandResult(True)
        reason = validate_mission(items)
        if reason:
            return self._refuse(f"Mission rejected: {reason}", MAV_RESULT_DENIED)
        self._mission = tuple(items)
        self._exec = MissionExecutor(items)
        self._mission_started = False
        self.failure_reason = None
        if self.mode == Mode.AUTO:
            self._leg_key = None
        return CommandResult(True)

    def start_mission(self, now: float, first: int | None = None) -> CommandResult:
        """AUTO from item ``first`` (default 1, the first after home)."""
        if self._exec is None or not self._exec.has_nav:
            return self._refuse("Mission start refused: no mission loaded", MAV_RESULT_DENIED)
        if first is not None and not (0 <= first < len(self._exec.items)):
            return self._refuse(f"Mission start refused: no item {first}", MAV_RESULT_DENIED)
        self._exec.restart(first)
        self._leg_key = None
        return self.set_mode(now, Mode.AUTO)

    def set_current(self, seq: int) -> CommandResult:
        if self._exec is None or not self._exec.set_current(int(seq)):
            return CommandResult(False, f"no mission item {seq}", MAV_RESULT_DENIED)
        self._leg_key = None
        self._emit("text", f"Mission: current item {self._exec.current}", Severity.INFO)
        return CommandResult(True)

    def goto(self, now: float, lat: float, lon: float, speed: float | None = None) -> CommandResult:
        if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
            return CommandResult(False, f"invalid target {lat}, {lon}", MAV_RESULT_DENIED)
        x, y = self.frame.to_local(lat, lon)
        if self.planning is not None:
            try:
                self.planning.plan(x, y, x, y)
            except PlanningError as e:
                return self._refuse(f"Goto refused: {e}", MAV_RESULT_DENIED)
        self._guided = (x, y, speed)
        self._leg_key = None
        if self.mode != Mode.GUIDED:
            return self.set_mode(now, Mode.GUIDED)
        return CommandResult(True)

    def add_obstacles(self, now: float, points) -> bool:
        """A map update: obstacle points (N, 2) [x, y] map-frame metres seen
        or reported now.  The planning costmap is updated in the affected
        window only; when the path being followed now crosses lethal cost
        the leg is replanned from the vehicle's position on the next tick.
        Returns True when a replan was triggered."""
        self.now = now
        if self.planning is None:
            return False
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if self.planning.add_obstacles(pts) is None:
            return False
        if self._path is not None and self.planning.path_blocked(self._path.points):
            self._leg_key = None
            self._emit("replan", f"New obstacle on the path ({len(pts)} points): replanning",
                       Severity.NOTICE)
            return True
        return False

    def set_speed(self, speed: float) -> CommandResult:
        if not (math.isfinite(speed) and 0 < speed <= self.cfg.limits.max_speed):
            return CommandResult(False, f"speed must be in (0, {self.cfg.limits.max_speed}] m/s, got {speed}",
                                 MAV_RESULT_DENIED)
        self._speed_override = float(speed)
        return CommandResult(True)

    def gcs_heartbeat(self, now: float) -> None:
        self.safety.gcs_heartbeat(now)

    def _refuse(self, reason: str, result: int) -> CommandResult:
        self._emit("text", reason, Severity.WARNING)
        return CommandResult(False, reason, result)

    def _home_offset(self) -> float:
        hx, hy = self._home_xy()
        return math.hypot(self._state.x - hx, self._state.y - hy)

    def _set_home(self) -> None:
        self.home = GeoPoint(self._state.lat, self._state.lon, 0.0)
        self._emit("text", f"Home set at {self.home.lat:.7f}, {self.home.lon:.7f}", Severity.INFO)

    # ------------------------------------------------------------ the tick
    def step(self, now: float, frame: SensorFrame) -> Setpoint:
        """One control tick at ``now`` [s]: the setpoint for the actuators."""
        self.now = now
        f = self.filter
        f.predict(now)
        if frame.gps is not None:
            self.last_gps = frame.gps
            f.update_gps(frame.gps)
        if frame.compass is not None:
            f.update_compass(frame.compass)
        if frame.battery_v is not None:
            self.battery_voltage = frame.battery_v
        if frame.battery_remaining is not None:
            self.battery_remaining = frame.battery_remaining
        self._state = f.state(now)
        if self.maritime is not None:  # AIS and the lidar's vessel tracks into the contact table
            for text, data in self.maritime.sense(now, self._state, frame):
                self._emit("contact", text, Severity.INFO, **data)
        if self.perception is not None:
            self.perception.set_stale_after(self.params.get("FS_SENS_TIMEOUT"))
            seen = self.perception.process(now, frame, self._state)
            if len(seen) and self.maritime is not None:
                seen = seen[~self.maritime.vessel_points(now, seen)]  # hulls are contacts, not map
            if len(seen):
                self.add_obstacles(now, seen)
        if self.home is None and self._state.valid:
            self._set_home()
        self.safety.update(now, frame, self)
        # Not ready (bring_up pending) also covers a forced arm, which skips the pre-arm checks.
        cmd = (self._mode_command(now) if (self.armed and self._state.valid and self.ready)
               else ActuatorCommand.stop())
        cmd = self.safety.filter_command(cmd)
        self.last_setpoint = self._setpoint(now, cmd)
        return self.last_setpoint

    @property
    def last_command(self) -> ActuatorCommand:
        """The latest setpoint's wheel / thruster command."""
        return self.last_setpoint.command

    def _setpoint(self, now: float, cmd: ActuatorCommand) -> Setpoint:
        if self.target_lookahead is None or cmd.estop:
            return Setpoint(now, self.armed, self.mode, actuators=cmd)
        driving = (self.armed and self.mode in (Mode.AUTO, Mode.GUIDED, Mode.RTL) and self._path is not None
                   and not (cmd.left == 0.0 and cmd.right == 0.0))
        target = motion_target(self.frame, self._state, self._path, self.follower.s, self.target_lookahead,
                               self._cruise(), driving)
        return Setpoint(now, self.armed, self.mode, target=target)

    def _cruise(self) -> float:
        if self._speed_override:
            return self._speed_override
        if self._exec and self._exec.speed_override:
            return self._exec.speed_override
        return self.params.get("WP_SPEED")

    def _mode_command(self, now: float) -> ActuatorCommand:
        st = self._state
        if self.mode == Mode.GUIDED and self._guided is not None:
            x, y, spd = self._guided
            cmd, arrived = self._drive_to(("guided", x, y), x, y, spd or self._cruise(), True)
            return self._hold_at(x, y) if arrived else cmd
        if self.mode == Mode.RTL:
            hx, hy = self._home_xy()
            rtl_speed = self.params.get("RTL_SPEED") or self._cruise()
            cmd, arrived = self._drive_to(("rtl",), hx, hy, rtl_speed, True)
            if arrived:
                self._emit("text", "Reached home", Severity.INFO)
                self.set_mode(now, Mode.HOLD)
                return ActuatorCommand.stop()
            return cmd
        if self.mode == Mode.AUTO and self._exec is not None:
            return self._auto(now)
        if self.maritime is not None and self.mode in (Mode.HOLD, Mode.LOITER):
            if self._hold_xy is None:
                self._hold_xy = (st.x, st.y)
            return self._hold_at(*self._hold_xy)
        return ActuatorCommand.stop()

    def _hold_at(self, x: float, y: float) -> ActuatorCommand:
        """Stay at (x, y): a USV keeps station against current and wind, a UGV stops."""
        if self.maritime is None:
            return ActuatorCommand.stop()
        gains = {k: self.params.get(k) for k in ("HDG_KP", "HDG_KD")}
        return self.maritime.hold(self._state, (x, y), gains)

    def _home_xy(self) -> tuple[float, float]:
        if self.home is None:
            return self._state.x, self._state.y
        return self.frame.to_local(self.home.lat, self.home.lon)

    def _auto(self, now: float) -> ActuatorCommand:
        ex = self._exec
        for _ in range(len(ex.items) + 2):
            tgt: NavTarget = ex.current_target()
            if tgt.kind == "done":
                self._finish_mission(now)
                return ActuatorCommand.stop()
            if tgt.kind == "rtl":
                x, y = self._home_xy()
            else:
                x, y = self.frame.to_local(tgt.lat, tgt.lon)
            stop_here = tgt.kind != "waypoint" or self._next_is_stop()
            cmd, arrived = self._drive_to(("auto", tgt.seq, x, y), x, y, self._cruise(), stop_here)
            if self.failure_reason is not None:
                return ActuatorCommand.stop()
            if not arrived:
                return cmd
            if tgt.kind == "loiter_unlim":
                return self._hold_at(x, y)
            if tgt.kind == "loiter_time":
                if self._loiter_until is None:
                    self._loiter_until = now + tgt.hold_s
                if now < self._loiter_until:
                    return self._hold_at(x, y)
                self._loiter_until = None
            self._emit("item_reached", f"Reached waypoint #{tgt.seq}", Severity.INFO, seq=tgt.seq)
            ex.advance()
            self._leg_key = None
        return ActuatorCommand.stop()

    def _next_is_stop(self) -> bool:
        """True when the item after the current NAV item is not another
        pass-through waypoint (so the vehicle should stop at this one)."""
        ex = self._exec
        for it in ex.items[ex.current + 1:]:
            if it.command == 16:
                return False
            if it.command in (19, 17, 20):
                return True
        return True

    def _finish_mission(self, now: float) -> None:
        if self.mode == Mode.AUTO:
            self._emit("mission_complete", "Mission complete", Severity.INFO)
            self.set_mode(now, Mode.HOLD)

    def _drive_to(self, key, x: float, y: float, speed: float, stop_at_end: bool) -> tuple[ActuatorCommand, bool]:
        st = self._state
        dist = math.hypot(x - st.x, y - st.y)
        self.wp_distance = dist
        radius = self.params.get("WP_RADIUS")
        if dist <= radius:
            return ActuatorCommand.stop(), True
        if key != self._leg_key:
            self._leg_key = key
            self.follower.reset()
            try:
                pts = (self.planning.plan(st.x, st.y, x, y, st.yaw) if self.planning is not None
                       else np.array([[st.x, st.y], [x, y]]))
            except PlanningError as e:
                self._path = None
                self._plan_failed(key, str(e))
                return ActuatorCommand.stop(), False
            self._path = PolylinePath(pts)
        if self._path is None:
            return ActuatorCommand.stop(), False
        la = self.params.get("WP_LOOKAHEAD")
        # UGV only (a USV's movers are COLREGs' business), and not when the
        # safety layer's obstacle stop (AVOID_ENABLE) is the chosen reaction
        # to anything in the path, moving or not.
        if self.maritime is None and self.params.get("AVOID_MOVERS") and not self.params.get("AVOID_ENABLE") \
                and self._give_way(speed):
            return ActuatorCommand.stop(), False
        if isinstance(self.follower, PurePursuit):
            cmd, cte = self.follower.command(st, self._path, speed, la, stop_at_end)
        else:  # USV: LOS guidance, then the COLREGs helm, then heading/speed control
            gains = {k: self.params.get(k) for k in ("HDG_KP", "HDG_KD", "SPD_KP", "SPD_KI", "LOS_KI")}
            e_int = self.follower.e_int
            heading_d, u_d, cte = self.follower.desired(st, self._path, speed, la, stop_at_end, gains)
            d = self.maritime.steer(self.now, st, heading_d, u_d, self._path, self.follower.s)
            for text, data in d.events:
                self._emit("colregs", text, Severity.NOTICE, **data)
            if d.active:
                self.follower.e_int = e_int  # off the track on purpose: no current-compensation windup
            cmd = self.follower.track(st, d.heading, d.speed, gains)
        self.cross_track_error = cte
        return cmd, False

    def _give_way(self, speed: float) -> bool:
        """Moving obstacles: stop while a tracked mover's predicted path
        crosses ours within the next seconds (vehicle/perception/front.py)."""
        was = self.perception.yielding
        tr = self.perception.give_way(self._state, self._path.points, self.follower.s, speed)
        if tr is not None and was is None:
            self._emit("give_way", f"Giving way to a moving object (track {tr.id}, {tr.speed:.1f} m/s)",
                       Severity.NOTICE, track=tr.id)
        elif tr is None and was is not None:
            self._emit("give_way", "Moving object clear: continuing", Severity.INFO)
        return tr is not None

    def _plan_failed(self, key, reason: str) -> None:
        if key[0] == "auto":
            self.failure_reason = f"Mission item {key[1]}: {reason}"
            self._emit("mission_failed", self.failure_reason, Severity.ERROR, seq=key[1])
        else:
            self._emit("text", f"{key[0].upper()}: {reason}", Severity.ERROR)
        self.set_mode(self.now, Mode.HOLD)
