"""The maritime layer the vehicle core calls for a USV: contacts in,
avoidance between guidance and control, station keeping for holds."""
from __future__ import annotations

import math

import numpy as np

from edgepilot.vehicle.config import VehicleConfig
from edgepilot.vehicle.geo import LocalFrame
from edgepilot.vehicle.maritime.avoidance import ColregsHelm, HelmDecision, ShoreGrid
from edgepilot.vehicle.maritime.contacts import ContactTable
from edgepilot.vehicle.maritime.mates import ROUTE_STEP_S, FleetMates, along
from edgepilot.vehicle.maritime.sensing import (LidarVesselTracker, ProvisionalCells, points_on_vessels,
                                                reach_distance, shore_distance_fn)
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
        self.mates = FleetMates()
        self._times = np.arange(0.0, m.horizon_s + 1e-9, ROUTE_STEP_S)
        self.keeper = StationKeeper(cfg)
        self.last_decision: HelmDecision | None = None
        # Our own lidar's vessel tracks, when the core does not pass tracks in.
        self.tracker = (LidarVesselTracker(shore_distance_fn(shore) if shore is not None else None)
                        if cfg.sensors.lidar is not None else None)
        # costmap cells standing for unproven lidar objects within reach
        self._planning = planning
        self.provisional = ProvisionalCells() if planning is not None and self.tracker is not None else None

    def ingest(self, now: float, reports) -> None:
        self.contacts.ingest(reports, now)

    def sense(self, now: float, state: VehicleState, frame: SensorFrame, tracks=None) -> list[tuple[str, dict]]:
        """One tick's sensing into the contact table: AIS (and any other
        ``ContactReport``) from ``frame.contacts``, then sensor tracks —
        ``tracks`` (map-frame ``Track`` objects) when the core runs a
        tracker of its own, otherwise the vessels of our lidar tracker on
        ``frame.scan`` taken at ``state`` (fixed and unproven objects are
        not contacts: see ``vehicle.maritime.sensing``).  Returns the contact table's
        life-cycle events (text, data) for the core to report."""
        if frame.contacts:
            self.contacts.ingest(frame.contacts, now)
        if tracks is not None:
            self.contacts.ingest_tracks(tracks, now, "lidar")
        elif self.tracker is not None and frame.scan is not None:
            # only tracks that have shown motion over the water are vessels
            self.tracker.update(state, frame.scan)
            self.contacts.ingest_tracks(self.tracker.vessels, now, "lidar")
        else:
            self.contacts.prune(now)
        return self.contacts.drain_events()

    def vessel_points(self, now: float, points: np.ndarray) -> np.ndarray:
        """bool (N,): which map-frame obstacle ``points`` (N, 2) [m] the lidar
        put on a vessel — a contact (dead reckoned to ``now``) or a lidar
        track that has shown motion over the water — rather than on the
        shore or a fixed object.  Moving hulls must not be stamped into the
        static costmap: the helm keeps them at the safe distance."""
        pts = np.asarray(points, np.float64).reshape(-1, 2)
        cs = self.contacts.snapshot(now)
        cx, cy, r = [cs.x], [cs.y], [cs.radius]
        if self.tracker is not None:
            _add_objects(self.tracker.vessels, cx, cy, r)
        return points_on_vessels(pts, np.concatenate(cx), np.concatenate(cy), np.concatenate(r),
                                 VESSEL_POINT_MARGIN_M)

    def unproven_points(self, now: float, points: np.ndarray) -> np.ndarray:
        """bool (N,): which map-frame obstacle ``points`` (N, 2) [m] lie on an
        object of our lidar whose motion is not known yet (an unproven
        track, or an object of the last scan) and not on one known to be
        fixed.  The core holds them back from the costmap and has them
        reported again later: by then the object is a vessel (a contact,
        never map) or fixed (map: the planner routes around it, as it does
        around anything else the lidar finds off the chart)."""
        pts = np.asarray(points, np.float64).reshape(-1, 2)
        if self.tracker is None or len(pts) == 0:
            return np.zeros(len(pts), bool)
        cx, cy, r = [], [], []
        _add_objects(self.tracker.unproven, cx, cy, r)
        _add_objects(self.tracker.last_clusters, cx, cy, r)
        held = points_on_vessels(pts, np.concatenate(cx), np.concatenate(cy), np.concatenate(r),
                                 VESSEL_POINT_MARGIN_M)
        fixed = self.tracker.statics
        if held.any() and fixed:
            sx, sy, sr = [], [], []
            _add_objects(fixed, sx, sy, sr)
            held &= ~points_on_vessels(pts, np.concatenate(sx), np.concatenate(sy), np.concatenate(sr),
                                       VESSEL_POINT_MARGIN_M)
        return held

    def provisional_obstacles(self, now: float, st: VehicleState, unproven: np.ndarray,
                              mapped: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(stamp, clear): map-frame points (N, 2) [m] the core adds to and
        removes from the costmap so that lidar objects whose motion is not
        known yet (``unproven``, the held-back points of this tick) cannot
        be run into before they are classified (see
        ``vehicle.maritime.sensing``).  Those within ``reach_distance`` of
        us at our speed over ground are stamped provisionally; closer than
        the planner's own clearance they are not (no path could start
        there: the leg would fail).  Cells that went to the map for good
        (``mapped``, this tick's reported points) are no longer
        provisional; cells on a vessel, or not seen for
        ``PROVISIONAL_HOLD_S``, are cleared."""
        empty = np.zeros((0, 2))
        prov = self.provisional
        if prov is None:
            return empty, empty
        if len(mapped) and len(prov):
            prov.settle(self._cell_centres(mapped)[0])
        clear = prov.expire(now, self.vessel_points(now, prov.points)) if len(prov) else empty
        pts = np.asarray(unproven, np.float64).reshape(-1, 2)
        if not len(pts) or not st.valid:
            return empty, clear
        keep_clear = self._planning.keep_clear
        reach = reach_distance(math.hypot(st.vx, st.vy), self.cfg.limits.max_accel, keep_clear)
        d = np.hypot(pts[:, 0] - st.x, pts[:, 1] - st.y)
        pts = pts[(d <= reach) & (d > keep_clear)]
        if not len(pts):
            return empty, clear
        centres, free = self._cell_centres(pts)
        return prov.mark(now, centres, free), clear

    def _cell_centres(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Centres (N, 2) [m] of the planning costmap's cells under map-frame
        ``pts`` inside its window, and whether each is free of obstacles."""
        cm = self._planning.costmap
        r, c = cm.points_to_cells(pts)
        h, w = cm.occupied.shape
        inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
        r, c = r[inside], c[inside]
        return cm.cells_to_world(np.column_stack((r, c))), ~cm.occupied[r, c]

    def steer(self, now: float, st: VehicleState, heading_d: float, speed_d: float,
              path=None, s: float | None = None, own_route=None) -> HelmDecision:
        """The helm's heading [rad ENU] and speed [m/s] given the mission's
        (LOS guidance) wish.  With the path and our along-track distance
        ``s`` the helm weighs candidates against the heading to a point
        ``TRACK_AHEAD_M`` further along the track rather than the LOS
        intercept heading, which swings hard while we are off the track on
        purpose.  ``own_route()``: our route ahead ((N, 2) map-frame points
        from our position, planned speed [m/s]) or None; with it, the
        fleet-mates whose shared routes are usable are predicted along
        theirs and we along ours (vehicle/maritime/mates.py)."""
        if len(self.contacts) == 0 and not self.helm.encounters:
            self.mates.note_used(())
            d = HelmDecision(heading_d, speed_d, False)
        else:
            self.contacts.prune(now)
            cs = self.contacts.snapshot(now)
            mission = heading_d
            if path is not None and s is not None:
                px, py = path.point_at(s + TRACK_AHEAD_M)
                if math.hypot(px - st.x, py - st.y) > 1.0:
                    mission = math.atan2(py - st.y, px - st.x)
            d = self.helm.decide(now, (st.x, st.y, st.yaw, st.vx, st.vy), mission, speed_d, cs,
                                 self._routes(now, cs, own_route))
            if not d.active:
                d = HelmDecision(heading_d, speed_d, False, d.events)
        self.last_decision = d
        return d

    def _routes(self, now: float, cs, own_route):
        """(our predicted positions, {key: a fleet-mate's}) for the helm, or
        None when no contact is a fleet-mate with a usable route or we
        follow none."""
        self.mates.note_used(())
        if not self.mates.routes or own_route is None:
            return None
        theirs = {}
        for i, k in enumerate(cs.keys):
            r = self.mates.usable(int(k), now, float(cs.x[i]), float(cs.y[i]))
            if r is not None:
                theirs[int(k)] = self.mates.predict(r, now, self._times)
        if not theirs:
            return None
        mine = own_route()
        if mine is None:
            return None
        self.mates.note_used(theirs)
        pts, speed = mine
        return along(pts, speed * self._times), theirs

    def hold(self, st: VehicleState, target: tuple[float, float], gains: dict) -> ActuatorCommand:
        return self.keeper.command(st, target, gains)

    @staticmethod
    def warm() -> None:
        from edgepilot.vehicle.maritime import warm_kernels

        warm_kernels()



def _add_objects(objs, cx: list, cy: list, r: list) -> None:
    """Append the centres and radii of ``objs`` (tracks or clusters) as arrays."""
    cx.append(np.array([o.x for o in objs], np.float64))
    cy.append(np.array([o.y for o in objs], np.float64))
    r.append(np.array([o.radius for o in objs], np.float64))
