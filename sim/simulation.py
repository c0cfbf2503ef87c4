"""One simulated vehicle in one world on one clock.

``Simulation`` owns the truth: dynamics, world, sensors and environment.
It exposes what real hardware would — sensor frames out, actuator commands
in — so the lockstep runner and the real-time runner drive the same
``VehicleCore`` a real vehicle runs.
"""
from __future__ import annotations

import copy
import math

import numpy as np

from edgepilot.sim.dynamics import DiffDriveModel, Truth, TwinThrusterModel
from edgepilot.sim.faults import FaultInjector
from edgepilot.sim.scenario import Scenario
from edgepilot.sim.sensors.navigation import BatteryModel, CompassModel, GpsModel
from edgepilot.sim.sensors.camera import PAINT, SimCamera, VisibleObject
from edgepilot.sim.sensors.imu import ImuModel
from edgepilot.sim.sensors.odometry import SpeedLogModel, WheelEncoderModel
from edgepilot.sim.sensors.lidar import Lidar, LidarSpec, ScanRaster
from edgepilot.sim.traffic import Traffic
from edgepilot.firmware_bridge.ais import AisDecoder
from edgepilot.sim.world import SimWorld
from edgepilot.vehicle.core import VehicleCore
from edgepilot.vehicle.geo import LocalFrame
from edgepilot.vehicle.params import ParamStore
from edgepilot.vehicle.types import ActuatorCommand, Cmd, GeoPoint, MissionItem, SensorFrame, Setpoint, as_command

PHYSICS_DT = 0.01  # [s]


class Simulation:
    def __init__(self, scenario: Scenario, seed: int | None = None, world: SimWorld | None = None,
                 shared=None):
        """``world``: a world shared with other vehicles (sim/fleet) instead of
        one built from ``scenario``; ``shared``: what those others look like
        to this vehicle's sensors (``sim.fleet.world.Neighbours``: lidar
        circles, camera objects, AIS bytes), None when alone."""
        self.scenario = scenario
        self.shared = shared
        self._applied = ActuatorCommand.stop()
        self.seed = scenario.seed if seed is None else int(seed)
        self.rng = np.random.default_rng(self.seed)
        self.cfg = scenario.vehicle_config
        w = scenario.world
        self.frame = LocalFrame(*w.origin)
        self.world = world if world is not None else SimWorld(scenario)
        st = scenario.start
        yaw = math.radians(st.yaw_deg)
        if self.cfg.kind == "ugv":
            self.model = DiffDriveModel(self.cfg.drive, st.x, st.y, yaw)
        else:
            self.model = TwinThrusterModel(self.cfg.hull, st.x, st.y, yaw)
        self.gps = GpsModel(self.cfg.sensors.gps, self.frame, self.rng)
        self.compass = CompassModel(self.cfg.sensors.compass, self.rng)
        self.battery = BatteryModel()
        self.current = tuple(w.current)
        self.wind = tuple(w.wind)
        self.t = 0.0
        self._steps = 0
        # Faults, the motor controller's serial link, a scanner and a camera
        # clock (sensor streams the safety checks watch).
        self.faults = FaultInjector(scenario, self)
        s = self.cfg.sensors
        # the numba raycaster against the truth raster and the moving targets
        self.scanner = (Lidar(LidarSpec(beams=s.lidar.beams, fov_deg=s.lidar.fov_deg,
                                        max_range=s.lidar.max_range, noise_std=s.lidar.noise_m,
                                        dropout=s.lidar.dropout, rate_hz=s.lidar.rate_hz),
                              self.faults.rng) if s.lidar is not None else None)
        self._raster = (None, None, None)   # (occupied, distance, the lidar's raster of them): _lidar_raster
        # the camera renders frames of the painted (coloured) circle obstacles
        self.camera = (SimCamera(s.camera, w.surface, self.rng.spawn(1)[0])
                       if s.camera is not None else None)
        self._painted = [(o, VisibleObject(o.center[0], o.center[1], o.radius, o.height, PAINT[o.color]))
                         for o in w.obstacles if o.color is not None]
        self._reported: set[int] = set()
        # the world's obstacles marked ``reported``, with their indices (a
        # SimWorld's obstacles are fixed when it is built: its raster and
        # rebuilds index them)
        self._reportable = [(i, o) for i, o in enumerate(self.world.obstacles) if o.reported]
        # Traffic: moving vessels (collision circles in the world) whose AIS
        # reaches the core as AIVDM bytes through the same decoder a real
        # receiver's output goes through.
        self.traffic = Traffic(scenario.traffic, self.frame, self.rng) if scenario.traffic else None
        self.ais = AisDecoder()
        self._init_dead_reckoning()

    def _init_dead_reckoning(self) -> None:
        """IMU, wheel encoders, speed log: simulated only when the vehicle
        file has them, with the scenario's error models, sampled when the
        core's tick reads the sensors: the IMU samples of the interval since
        the previous tick are synthesised then, with the body's acceleration
        and yaw rate taken as constant over it (so the gyro still integrates
        to the true heading change); per physics step it costs the 100x
        real time the patrol must keep.  Their
        random streams are spawned last, so a vehicle without them draws
        exactly what it drew before they existed."""
        s, err = self.cfg.sensors, self.scenario.sensors
        self.imu = self.encoders = self.speed_log = None
        self._imu_rows: list[np.ndarray] = []
        self._ticks = self._log = None
        if s.imu is None and s.wheel_encoders is None and s.speed_log is None:
            return
        r_imu, r_enc, r_log = self.rng.spawn(3)
        tr = copy.copy(self.model.truth)
        if s.imu is not None:
            self.imu = ImuModel(err.imu.model_copy(update={"rate_hz": s.imu.rate_hz}), r_imu)
            self.imu.sample_array(0.0, tr)
        if s.wheel_encoders is not None:
            e = s.wheel_encoders
            self.encoders = WheelEncoderModel(err.wheel_encoders.model_copy(update=dict(
                rate_hz=e.rate_hz, ticks_per_rev=e.ticks_per_rev, wheel_radius=e.wheel_radius,
                track_width=e.track_width)), r_enc)
            self._ticks = self.encoders.sample(0.0, tr)
        if s.speed_log is not None:
            self.speed_log = SpeedLogModel(err.speed_log.model_copy(update={"rate_hz": s.speed_log.rate_hz}), r_log)

    def _sample_dead_reckoning(self) -> None:
        tr = copy.copy(self.model.truth)   # the models keep the previous truth; dynamics mutate it
        if self.imu is not None:
            rows = self.imu.sample_array(self.t, tr)
            if len(rows):
                self._imu_rows.append(rows)
        if self.encoders is not None:
            ticks = self.encoders.sample(self.t, tr)
            if ticks is not None:
                self._ticks = ticks
        if self.speed_log is not None:
            log = self.speed_log.sample(self.t, tr, self.faults.current(self.t, self.current))
            if log is not None:
                self._log = log

    @property
    def truth(self) -> Truth:
        return self.model.truth

    # The simulated vehicle is a SetpointSink: the runners hand it the
    # core's setpoint as the onboard process hands it to the real drivers.
    def apply(self, setpoint: Setpoint, now: float) -> None:
        """The core's setpoint; the motors follow it from the next ``step``.
        The simulated vehicle drives its own motors: a target setpoint
        (for an external autopilot) is a stop."""
        self._applied = as_command(setpoint)

    def stop(self) -> None:
        self._applied = ActuatorCommand.stop()

    def step(self, dt: float, cmd: Setpoint | ActuatorCommand | None = None) -> None:
        """Advance the world by ``dt`` seconds under ``cmd`` (a setpoint or
        a bare command; None: the one last applied)."""
        t0 = self.t
        cmd = self._applied if cmd is None else as_command(cmd)
        faults = self.faults
        clean = not faults.faults
        if clean:        # the common run: a clean motor link, no drain, nothing after
            cmd = faults.motor.clean(t0, cmd)
            self.model.step(dt, cmd, self.current, self.wind)
            self.battery.step(dt, cmd.left, cmd.right)
        else:
            cmd = faults.actuate(t0, cmd)
            self.model.step(dt, cmd, faults.current(t0, self.current), self.wind)
            self.battery.step(dt, cmd.left, cmd.right)
            self.battery.energy_j = max(0.0, self.battery.energy_j - faults.battery_drain_j(t0, dt))
        steps = self._steps = self._steps + 1
        t = self.t = steps * dt if dt == PHYSICS_DT else t0 + dt
        self.world.rebuild(t)      # (nothing to do unless an appearance time was crossed)
        if self.traffic is not None:
            tr = self.model.truth
            t_before = self.traffic.t
            self.traffic.advance(t, (tr.x, tr.y, tr.yaw, tr.vx, tr.vy))
            if self.traffic.t != t_before or not len(self.world.moving):
                self.world.moving = self.traffic.circles()
        if not clean:
            faults.after_step(t)

    def teleport(self, x: float, y: float, yaw: float) -> None:
        """Lift the vehicle and set it down at (x, y) facing ``yaw``, at
        rest (the kidnap fault).  The dead-reckoning models restart from
        there: nothing they report moves the vehicle."""
        tr = self.model.truth
        tr.x, tr.y, tr.yaw = float(x), float(y), float(yaw)
        tr.vx = tr.vy = tr.yaw_rate = 0.0
        for name in ("vl", "vr", "u", "v", "r"):
            if hasattr(self.model, name):
                setattr(self.model, name, 0.0)
        snap = copy.copy(tr)
        if self.imu is not None:
            self.imu._prev = (self.t, snap)
        if self.encoders is not None:
            self.encoders._prev = (self.t, snap)

    def _moving_circles(self, now: float) -> np.ndarray:
        """(K, 3) [x, y, radius] moving things the lidar sees: fault-injected
        crossing objects, the other vehicles of a fleet (and its traffic
        vessels) within reach, and traffic vessels."""
        dyn = self.faults.dynamic_circles(now)
        if self.shared is not None:       # (no stacking with an empty side)
            near = self.shared.circles(self, now)
            if len(near):
                dyn = np.vstack((dyn, near)) if len(dyn) else near
        if self.traffic is None:
            return dyn
        tc = self.traffic.circles()
        return np.vstack((dyn, tc)) if len(dyn) else tc

    def _lidar_raster(self) -> ScanRaster:
        """The world's truth raster and distance transform as the lidar
        takes them (``ScanRaster``), checked once per build of the
        world: ``SimWorld.rebuild`` replaces both arrays (it never edits
        them in place), and its resolution and origin are fixed."""
        w = self.world
        occ, dist = w.truth.occupied, w.distance
        src_occ, src_dist, raster = self._raster
        if occ is not src_occ or dist is not src_dist:
            raster = ScanRaster(occ, w.resolution, (w.origin_x, w.origin_y), dist)
            self._raster = (occ, dist, raster)
        return raster

    def sensors(self, now: float) -> SensorFrame:
        """Every sensor sample due by ``now``."""
        tr = self.model.truth
        contacts = None
        if self.traffic is not None:
            contacts = tuple(self.ais.feed(self.traffic.ais_bytes(now), now)) or None
        if self.shared is not None:
            heard = self.shared.ais_bytes(self, now)
            if heard:
                contacts = ((contacts or ()) + tuple(self.ais.feed(heard, now))) or None
        scan = None
        if self.scanner is not None and self.scanner.due(now):
            scan = self.scanner.scan_raster(now, (tr.x, tr.y, tr.yaw), self._lidar_raster(),
                                            self._moving_circles(now))
        cam = now if self.camera is not None and self.camera.due(now) else None
        gps = self.gps.sample(now, tr)
        compass = self.compass.sample(now, tr)
        imu = ticks = log = None
        if self.imu is not None or self.encoders is not None or self.speed_log is not None:
            self._sample_dead_reckoning()
            if self.imu is not None:
                imu = np.concatenate(self._imu_rows) if self._imu_rows else np.zeros((0, 7))
                self._imu_rows = []
            ticks, log = self._ticks, self._log
            self._log = None
        # the sensor faults, then the frame built once
        gps, scan, cam, motor = self.faults.sense_fields(now, gps, scan, cam)
        image = None
        if cam is not None:   # rendered only when it survives fault injection
            objs = [v for o, v in self._painted if o.appear_at_s <= now]
            objs += [VisibleObject(x, y, f.radius, f.height, PAINT[f.color], kind="obstacle")
                     for _, f, x, y in self.faults.crossings(now) if f.color is not None]
            if self.traffic is not None:    # traffic vessels are seen too
                objs += self.traffic.visible_objects()
            if self.shared is not None:     # and the other vehicles of a fleet
                objs += self.shared.visible_objects(self, now)
            image = self.camera.capture((tr.x, tr.y, tr.yaw), objs)
        volts, remaining = self.battery.levels()
        # (positional, in field order: t, gps, compass, scan, battery_v, battery_remaining, contacts,
        # motor, camera_t, camera_image, imu, wheel_ticks, speed_log)
        return SensorFrame(now, gps, compass, scan, volts, remaining, contacts, motor, cam, image, imu, ticks, log)

    def map_updates(self) -> list[np.ndarray]:
        """Obstacles marked ``reported`` that have appeared since the last
        call, each as (N, 2) map-frame points [m] (its raster cell centres)."""
        out = []
        for i, o in self._reportable:          # (none in most worlds: no loop)
            if o.appear_at_s <= self.t and i not in self._reported:
                self._reported.add(i)
                rr, cc = self.world.obstacle_cells(i)
                w = self.world
                out.append(np.column_stack((w.origin_x + (cc + 0.5) * w.resolution,
                                            w.origin_y + (rr + 0.5) * w.resolution)))
        return out

    def clearance(self) -> tuple[float, bool]:
        tr = self.model.truth
        g = self.cfg.geometry
        return self.world.footprint_clearance(tr.x, tr.y, tr.yaw, g.length, g.width)

    def make_core(self, params: ParamStore | None = None) -> VehicleCore:
        lat, lon = self.scenario.world.origin
        core = VehicleCore(self.cfg, GeoPoint(lat, lon), self.world.vehicle_prior_map(), params)
        self.faults.configure_core(core)
        return core

    def mission_items(self) -> list[MissionItem]:
        """The scenario's mission as MAVLink-style items, item 0 = home."""
        m = self.scenario.mission
        st = self.scenario.start
        hlat, hlon = self.frame.to_geo(st.x, st.y)
        items = [MissionItem(0, int(Cmd.NAV_WAYPOINT), hlat, hlon)]
        if m.speed:
            items.append(MissionItem(len(items), int(Cmd.DO_CHANGE_SPEED), param1=1.0, param2=m.speed))
        for i, (x, y) in enumerate(m.waypoints):
            lat, lon = self.frame.to_geo(x, y)
            hold = m.loiter_s[i] if m.loiter_s else 0.0
            cmd = Cmd.NAV_LOITER_TIME if hold > 0 else Cmd.NAV_WAYPOINT
            items.append(MissionItem(len(items), int(cmd), lat, lon, param1=hold))
        if m.survey is not None:
            for x, y in self.survey_waypoints():
                lat, lon = self.frame.to_geo(x, y)
                items.append(MissionItem(len(items), int(Cmd.NAV_WAYPOINT), lat, lon))
        if m.return_home:
            items.append(MissionItem(len(items), int(Cmd.NAV_RETURN_TO_LAUNCH)))
        return items

    def survey_waypoints(self):
        """The mission's survey block expanded into (N, 2) waypoints [m]
        (empty when there is none), starting near the last waypoint."""
        import math

        import numpy as np

        from edgepilot.vehicle.mission.survey import expand_survey
        sv = self.scenario.mission.survey
        if sv is None:
            return np.empty((0, 2))
        return expand_survey(sv.polygon, sv.swath, math.radians(sv.heading_deg),
                             start=self.scenario.mission.waypoints[-1])
