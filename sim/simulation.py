"""One simulated vehicle in one world on one clock.

``Simulation`` owns the truth: dynamics, world, sensors and environment.
It exposes what real hardware would — sensor frames out, actuator commands
in — so the lockstep runner and the real-time runner drive the same
``VehicleCore`` a real vehicle runs.
"""
from __future__ import annotations

import math

import numpy as np

from sim.dynamics import DiffDriveModel, Truth, TwinThrusterModel
from sim.scenario import Scenario
from sim.sensors.lidar import Lidar, LidarSpec
from sim.sensors.navigation import BatteryModel, CompassModel, GpsModel
from sim.world import SimWorld
from vehicle.core import VehicleCore
from vehicle.geo import LocalFrame
from vehicle.params import ParamStore
from vehicle.types import ActuatorCommand, Cmd, GeoPoint, MissionItem, SensorFrame

PHYSICS_DT = 0.01  # [s]


class Simulation:
    def __init__(self, scenario: Scenario, seed: int | None = None):
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else int(seed)
        self.rng = np.random.default_rng(self.seed)
        self.cfg = scenario.vehicle_config
        w = scenario.world
        self.frame = LocalFrame(*w.origin)
        self.world = SimWorld(scenario)
        st = scenario.start
        yaw = math.radians(st.yaw_deg)
        if self.cfg.kind == "ugv":
            self.model = DiffDriveModel(self.cfg.drive, st.x, st.y, yaw)
        else:
            self.model = TwinThrusterModel(self.cfg.hull, st.x, st.y, yaw)
        self.gps = GpsModel(self.cfg.sensors.gps, self.frame, self.rng)
        self.compass = CompassModel(self.cfg.sensors.compass, self.rng)
        self.battery = BatteryModel()
        lid = self.cfg.sensors.lidar
        # its own stream, so adding a lidar leaves the other sensors' noise unchanged
        self.lidar = Lidar(LidarSpec(beams=lid.beams, fov_deg=lid.fov_deg, max_range=lid.max_range,
                                     noise_std=lid.noise_m, dropout=lid.dropout, rate_hz=lid.rate_hz),
                           np.random.default_rng([self.seed, 1])) if lid is not None else None
        self.current = tuple(w.current)
        self.wind = tuple(w.wind)
        self.t = 0.0
        self._steps = 0
        self._reported: set[int] = set()

    @property
    def truth(self) -> Truth:
        return self.model.truth

    def step(self, dt: float, cmd: ActuatorCommand) -> None:
        """Advance the world by ``dt`` seconds under ``cmd``."""
        self.model.step(dt, cmd, self.current, self.wind)
        self.battery.step(dt, cmd.left, cmd.right)
        self._steps += 1
        self.t = self._steps * dt if dt == PHYSICS_DT else self.t + dt
        self.world.rebuild(self.t)

    def sensors(self, now: float) -> SensorFrame:
        """Every sensor sample due by ``now``."""
        tr = self.model.truth
        scan = None
        if self.lidar is not None and self.lidar.due(now):
            w = self.world
            scan = self.lidar.scan(now, (tr.x, tr.y, tr.yaw), w.truth.occupied, w.resolution,
                                   (w.origin_x, w.origin_y))
        return SensorFrame(t=now, gps=self.gps.sample(now, tr), compass=self.compass.sample(now, tr),
                           scan=scan, battery_v=self.battery.voltage,
                           battery_remaining=self.battery.remaining)

    def map_updates(self) -> list[np.ndarray]:
        """Obstacles marked ``reported`` that have appeared since the last
        call, each as (N, 2) map-frame points [m] (its raster cell centres)."""
        out = []
        for i, (o, img) in enumerate(self.world._layers):
            if o.reported and o.appear_at_s <= self.t and i not in self._reported:
                self._reported.add(i)
                rr, cc = np.nonzero(img)
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
        return VehicleCore(self.cfg, GeoPoint(lat, lon), self.world.prior_map(), params)

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
        if m.return_home:
            items.append(MissionItem(len(items), int(Cmd.NAV_RETURN_TO_LAUNCH)))
        return items
