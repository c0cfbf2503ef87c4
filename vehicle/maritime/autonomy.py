"""The maritime layer the vehicle core calls for a USV: contacts in,
avoidance between guidance and control, station keeping for holds."""
from __future__ import annotations

import math

import numpy as np

from edgepilot.vehicle.config import VehicleConfig
from edgepilot.vehicle.geo import LocalFrame
from edgepilot.vehicle.maritime.avoidance import ColregsHelm, HelmDecision, ShoreGrid
from edgepilot.vehicle.maritime.contacts import ContactTable
from edgepilot.vehicle.maritime.sensing import LidarVesselTracker, points_on_vessels, shore_distance_fn
from edgepilot.vehicle.maritime.station_keeping import StationKeeper
from edgepilot.vehicle.types import ActuatorCommand, SensorFrame, VehicleState

TRACK_AHEAD_M = 60.0
VESSEL_POINT_MARGIN_M = 3.0   # lidar hits this far outside a vessel's radius are still the vessel


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
        # Our own lidar's vessel tracks, when the core does not pass tracks in.
        self.tracker = (LidarVesselTracker(shore_distance_fn(shore) if shore is not None else None)
                        if cfg.sensors.lidar is not None else None)

    def ingest(self, now: float, reports) -> None:
        self.contacts.ingest(reports, now)

    def sense(self, now: float, state: VehicleState, frame: SensorFrame, tracks=None) -> list[tuple[str, dict]]:
        """One tick's sensing into the contact table: AIS (and any other
        ``ContactReport``) from ``frame.contacts``, then sensor tracks —
        ``tracks`` (map-frame ``Track`` objects) when the core runs a
        tracker of its own, otherwise our lidar vessel tracker on
        ``frame.scan`` taken at ``state``.  Returns the contact table's
        life-cycle events (text, data) for the core to report."""
        if frame.contacts:
            self.contacts.ingest(frame.contacts, now)
        if tracks is not None:
            self.contacts.ingest_tracks(tracks, now, "lidar")
        elif self.tracker is not None and frame.scan is not None:
            self.contacts.ingest_tracks(self.tracker.update(state, frame.scan), now, "lidar")
        else:
            self.contacts.prune(now)
        return self.contacts.drain_events()

    def vessel_points(self, now: float, points: np.ndarray) -> np.ndarray:
        """bool (N,): which map-frame obstacle ``points`` (N, 2) [m] the lidar
        put on a vessel — a contact (dead reckoned to ``now``), a live lidar
        track or an object of the last scan off the prior map's shore —
        rather than on the shore.  Moving hulls must not be stamped into
        the static costmap; a small object off the shore is a contact
        (the helm keeps it at the safe distance), not map."""
        pts = np.asarray(points, np.float64).reshape(-1, 2)
        cs = self.contacts.snapshot(now)
        cx, cy, r = [cs.x], [cs.y], [cs.radius]
        if self.tracker is not None:   # live tracks and this scan's objects
            for objs in (self.tracker.tracks, self.tracker.last_clusters):
                cx.append(np.array([o.x for o in objs], np.float64))
                cy.append(np.array([o.y for o in objs], np.float64))
                r.append(np.array([o.radius for o in objs], np.float64))
        return points_on_vessels(pts, np.concatenate(cx), np.concatenate(cy), np.concatenate(r),
                                 VESSEL_POINT_MARGIN_M)

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
        from edgepilot.vehicle.maritime import warm_kernels

        warm_kernels()

