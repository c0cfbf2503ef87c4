"""The maritime layer the vehicle core calls for a USV: contacts in,
avoidance between guidance and control, station keeping for holds."""
from __future__ import annotations

import math

import numpy as np

from vehicle.config import VehicleConfig
from vehicle.geo import LocalFrame
from vehicle.maritime.avoidance import ColregsHelm, HelmDecision, ShoreGrid
from vehicle.maritime.contacts import ContactTable
from vehicle.maritime.station_keeping import StationKeeper
from vehicle.types import ActuatorCommand, VehicleState

TRACK_AHEAD_M = 60.0


class MaritimeAutonomy:
    def __init__(self, cfg: VehicleConfig, frame: LocalFrame, planning=None):
        m = cfg.maritime
        self.cfg = cfg
        self.contacts = ContactTable(frame, m.contact_stale_s, m.default_contact_radius_m)
        shore = None
        if planning is not None:
            cm = planning.costmap
            shore = ShoreGrid(lambda: planning.distance, cm.origin_x, cm.origin_y, planning.resolution,
                              planning.lethal_radius, cm.params.inflation_radius)
        self.helm = ColregsHelm(m, cfg.limits.max_speed, shore)
        self.keeper = StationKeeper(cfg)
        self.last_decision: HelmDecision | None = None

    def ingest(self, now: float, reports) -> None:
        self.contacts.ingest(reports, now)

    def steer(self, now: float, st: VehicleState, heading_d: float, speed_d: float,
              path=None, s: float | None = None) -> HelmDecision:
        """The helm's heading [rad ENU] and speed [m/s] given the mission's
        (LOS guidance) wish.  With the path and our along-track distance
        ``s`` the helm weighs candidates against the heading to a point
        ``TRACK_AHEAD_M`` further along the track rather than the LOS
        intercept heading, which swings hard while we are off the track on
        purpose."""
        if len(self.contacts) == 0 and not self.helm.encounters:
            d = HelmDecision(heading_d, speed_d, False)
        else:
            self.contacts.prune(now)
            cs = self.contacts.snapshot(now)
            mission = heading_d
            if path is not None and s is not None:
                px, py = path.point_at(s + TRACK_AHEAD_M)
                if math.hypot(px - st.x, py - st.y) > 1.0:
                    mission = math.atan2(py - st.y, px - st.x)
            d = self.helm.decide(now, (st.x, st.y, st.yaw, st.vx, st.vy), mission, speed_d, cs)
            if not d.active:
                d = HelmDecision(heading_d, speed_d, False, d.events)
        self.last_decision = d
        return d

    def hold(self, st: VehicleState, target: tuple[float, float], gains: dict) -> ActuatorCommand:
        return self.keeper.command(st, target, gains)

    @staticmethod
    def warm() -> None:
        from vehicle.maritime import _cpa_kernels, _helm_kernels
        _cpa_kernels.warm()
        _helm_kernels.warm()

