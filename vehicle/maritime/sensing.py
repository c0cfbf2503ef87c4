"""Vessels seen by our own lidar, for the contact table.

The maritime front runs this when the core does not already track lidar
objects itself: each scan is clustered (``cluster_scan``) and the clusters
followed by constant-velocity Kalman tracks (``MultiObjectTracker``), both
from ``vehicle.perception.tracking``, with settings for vessels rather than
people and carts: bigger objects (a cluster may be up to
``max_vessel_radius_m`` in radius), a looser measurement noise (a hull's
centre from a few returns at 100 m is good to a metre, not centimetres)
and a gentler process noise (ships do not accelerate hard).

A cluster touching an obstacle of the prior map (shore, piers: within its
own radius plus ``shore_margin_m``) is the map's, not a vessel's, and is
not tracked.  Everything is in the map frame (ENU metres, m/s); the scan is
taken at the vehicle's estimated pose (the sensor at the vehicle's origin,
facing forward).
"""
from __future__ import annotations

import math

import numpy as np

from edgepilot.vehicle.perception.tracking import Cluster, MultiObjectTracker, Track, cluster_scan
from edgepilot.vehicle.types import LaserScan, VehicleState

MAX_VESSEL_RADIUS_M = 15.0     # a 30 m vessel; bigger blobs are shore, walls, moles
SHORE_MARGIN_M = 2.0
MAX_POS_STD_M = 3.0            # scans are not tracked while our own position is worse than this


class LidarVesselTracker:
    """Scans in, vessel tracks (``Track``, map frame) out.

    ``shore_distance(x, y)`` [m] (optional) gives the distance from a point
    to the nearest prior-map obstacle; clusters closer than their radius
    plus ``shore_margin_m`` are dropped."""

    def __init__(self, shore_distance=None, max_vessel_radius_m: float = MAX_VESSEL_RADIUS_M,
                 shore_margin_m: float = SHORE_MARGIN_M, meas_std_m: float = 1.5,
                 accel_std: float = 0.3, max_misses: int = 20):
        if not max_vessel_radius_m > 0:
            raise ValueError(f"max_vessel_radius_m must be > 0 m, got {max_vessel_radius_m}")
        self.shore_distance = shore_distance
        self.max_radius = float(max_vessel_radius_m)
        self.shore_margin = float(shore_margin_m)
        self.tracker = MultiObjectTracker(accel_std=accel_std, meas_std=meas_std_m, confirm_hits=3,
                                          max_misses=max_misses, tentative_misses=2, init_speed_std=3.0)
        self.scans = 0
        self.dropped_on_shore = 0
        self._tracks: list[Track] = []
        self._clusters: list[Cluster] = []

    @property
    def last_clusters(self) -> list[Cluster]:
        """The vessel-sized objects off the shore in the last tracked scan."""
        return self._clusters

    @property
    def tracks(self) -> list[Track]:
        """The tracks after the last scan (tentative ones included)."""
        return self._tracks

    def clusters(self, state: VehicleState, scan: LaserScan) -> list[Cluster]:
        """Objects in ``scan`` (taken at ``state``) that are not on the prior map's shore."""
        cl = cluster_scan((state.x, state.y, state.yaw), scan.ranges, scan.angle_min, scan.angle_increment,
                          scan.max_range, min_points=3, max_radius=self.max_radius)
        if self.shore_distance is None:
            return cl
        keep = [c for c in cl if not self._on_shore(state, c)]
        self.dropped_on_shore += len(cl) - len(keep)
        return keep

    def _on_shore(self, state: VehicleState, c: Cluster) -> bool:
        """True when the cluster's near side (its centre moved ``radius``
        towards the sensor: where the returns are) is within ``radius +
        shore_margin_m`` of a prior-map obstacle.  The near side, not the
        centre: a stretch of wall at the edge of the range looks like a
        round object whose centre lies behind the wall, off the map."""
        dx, dy = c.x - state.x, c.y - state.y
        d = math.hypot(dx, dy)
        k = min(c.radius / d, 1.0) if d > 1e-9 else 0.0
        return self.shore_distance(c.x - k * dx, c.y - k * dy) <= c.radius + self.shore_margin

    def update(self, state: VehicleState, scan: LaserScan) -> list[Track]:
        """Track one scan; returns every current track.  Scans taken while
        the position estimate is invalid or poorer than ``MAX_POS_STD_M``
        are skipped (the tracks coast)."""
        if not state.valid or state.pos_std > MAX_POS_STD_M:
            return self._tracks
        self._clusters = self.clusters(state, scan)
        self._tracks = self.tracker.update(scan.t, self._clusters)
        self.scans += 1
        return self._tracks


def points_on_vessels(points: np.ndarray, cx: np.ndarray, cy: np.ndarray, radius: np.ndarray,
                      margin: float) -> np.ndarray:
    """bool (N,): which map-frame ``points`` (N, 2) [m] lie within
    ``radius + margin`` of a vessel centred at (cx, cy) (K,) [m]."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    if len(pts) == 0 or len(cx) == 0:
        return np.zeros(len(pts), bool)
    d = np.hypot(pts[:, :1] - np.asarray(cx)[None, :], pts[:, 1:] - np.asarray(cy)[None, :])
    return (d <= np.asarray(radius)[None, :] + margin).any(axis=1)


def shore_distance_fn(shore) -> callable:
    """``(x, y) -> metres`` to the nearest obstacle of a ``ShoreGrid`` as it
    is now — the prior map: obstacles added later (seen by the lidar) do not
    count, or a hull once stamped into the costmap would hide the vessel
    from its own tracker.  inf outside the grid: no shore is known there."""
    field = np.array(shore.distance(), dtype=np.float32)

    def dist(x: float, y: float) -> float:
        c = int(math.floor((x - shore.origin_x) / shore.resolution))
        r = int(math.floor((y - shore.origin_y) / shore.resolution))
        if not (0 <= r < field.shape[0] and 0 <= c < field.shape[1]):
            return math.inf
        return float(field[r, c])
    return dist
