"""Vessels seen by our own lidar, for the contact table.

The maritime front runs this when the core does not already track lidar
objects itself: each scan is clustered (``cluster_scan``) and the clusters
followed by constant-velocity Kalman tracks (``MultiObjectTracker``), both
from ``vehicle.perception.tracking``, with settings for vessels rather than
people and carts: bigger objects (a cluster may be up to
``max_vessel_radius_m`` in radius), a looser measurement noise (a hull's
centre from a few returns at 100 m is good to a metre, not centimetres)
and a gentler process noise (ships do not accelerate hard).

Two tests keep the shore and other fixed things from becoming vessels the
helm gives way to:

- Returns that fall on the prior map (shore, quays, piers: within
  ``shore_margin_m`` plus twice our position's standard deviation of a
  charted obstacle) are dropped *before* clustering, one by one.  A hull
  moored a few metres off a quay keeps its own returns; a cluster-level
  test ("is the blob near the shore?") would drop it with the quay, and
  would still let through the visible stretch of a long wall whose centre
  lies off the chart.
- A track is a vessel only once it has shown consistent motion over the
  water: confirmed, a settled velocity of at least ``MIN_VESSEL_SPEED_MPS``
  and at least ``MIN_VESSEL_TRAVEL_M`` from where it was first seen.  Only
  vessels go to the contact table.  A track that stays put for
  ``STATIC_AFTER_S`` (a person in the water, a buoy, a moored boat, an
  uncharted wall) is a static object: map, for the planner to route
  around, not a contact for the COLREGs helm.  Until a track is either, it
  is unproven and its returns are held back from the map.

Holding back an unproven object must not let us run into it: a moored boat
that comes into view from behind a quay corner 10 m ahead would otherwise
be neither mapped nor avoided for ``STATIC_AFTER_S``, 10 m at 2 m/s.  So
the returns of an unproven object within ``reach_distance`` (what we cover
while it is being classified, plus our stopping distance and the
planner's clearance) stand in the costmap provisionally
(``ProvisionalCells``): cleared once they lie on a vessel (the COLREGs
helm keeps clear of it then) or are not seen again for
``PROVISIONAL_HOLD_S``, kept for good when the object proves fixed.
Farther objects stay held back: clutter far off neither blocks nor bends
the route.

Everything is in the map frame (ENU metres, m/s); the scan is taken at the
vehicle's estimated pose (the sensor at the vehicle's origin, facing
forward).
"""
from __future__ import annotations

import math

import numpy as np

from edgepilot.vehicle.maritime import _sensing_kernels as K
from edgepilot.vehicle.perception.tracking import Cluster, MultiObjectTracker, Track, cluster_scan
from edgepilot.vehicle.types import LaserScan, VehicleState

MAX_VESSEL_RADIUS_M = 15.0     # a 30 m vessel; bigger blobs are shore, walls, moles
SHORE_MARGIN_M = 1.0           # returns this close to a charted obstacle (plus 2 sigma of our position) are shore
MAX_POS_STD_M = 3.0            # scans are not tracked while our own position is worse than this
MIN_VESSEL_SPEED_MPS = 0.3     # a vessel under way; slower tracks are drifting or fixed things
MIN_VESSEL_TRAVEL_M = 2.0      # and it has moved this far from where it was first seen
STATIC_AFTER_S = 5.0           # a track this old that has moved less than STATIC_TRAVEL_M is fixed
STATIC_TRAVEL_M = 1.0
MAX_TRACK_SPEED_STD = 0.5      # [m/s] a velocity is settled below this standard deviation
PROVISIONAL_HOLD_S = 1.0       # a provisional costmap cell not seen again for this long is cleared

UNPROVEN, STATIC, VESSEL = 0, 1, 2


class ShoreDistance:
    """Distance [m] to the nearest obstacle of a ``ShoreGrid`` as it is at
    construction — the prior map: obstacles added later (seen by the lidar)
    do not count, or a hull once stamped into the costmap would hide the
    vessel from its own tracker.  The grid's origin is read live (the
    planning window rolls).  ``shore(x, y)`` is one point; ``field`` the
    float32 (rows, cols) raster for the per-return kernel."""

    def __init__(self, shore):
        self.shore = shore
        self.field = np.ascontiguousarray(np.array(shore.distance(), dtype=np.float32))
        if self.field.ndim != 2:
            raise ValueError(f"shore distance field must be 2-D, got shape {self.field.shape}")
        if not shore.resolution > 0:
            raise ValueError(f"shore grid resolution must be > 0 m, got {shore.resolution}")

    @property
    def origin(self) -> tuple[float, float]:
        return float(self.shore.origin_x), float(self.shore.origin_y)

    @property
    def resolution(self) -> float:
        return float(self.shore.resolution)

    def __call__(self, x: float, y: float) -> float:
        ox, oy = self.origin
        c = int(math.floor((x - ox) / self.resolution))
        r = int(math.floor((y - oy) / self.resolution))
        if not (0 <= r < self.field.shape[0] and 0 <= c < self.field.shape[1]):
            return math.inf
        return float(self.field[r, c])


def shore_returns(pose, ranges, angle_min: float, angle_increment: float, max_range: float,
                  shore: ShoreDistance, margin: float) -> np.ndarray:
    """bool (N,): which returns of a scan taken at sensor ``pose`` = (x, y,
    yaw) (map frame) hit within ``margin`` [m] of a charted obstacle of
    ``shore``.  Invalid returns (NaN, inf, <= 0, >= ``max_range``) are
    False.  The per-return loop is ``_sensing_kernels.returns_on_shore``."""
    r = np.ascontiguousarray(ranges, dtype=np.float64)
    if r.ndim != 1:
        raise ValueError(f"ranges must be 1-D, got shape {r.shape}")
    px, py, yaw = (float(v) for v in pose)
    for name, v in (("pose", px), ("pose", py), ("pose", yaw), ("angle_min", angle_min),
                    ("angle_increment", angle_increment), ("margin", margin)):
        if not math.isfinite(v):
            raise ValueError(f"{name} must be finite, got {v}")
    if not max_range > 0:
        raise ValueError(f"max_range must be > 0 m, got {max_range}")
    out = np.zeros(r.size, np.bool_)
    ox, oy = shore.origin
    K.returns_on_shore(r, yaw + float(angle_min), float(angle_increment), px, py, float(max_range), shore.field,
                       ox, oy, shore.resolution, float(margin), out)
    return out


class LidarVesselTracker:
    """Scans in, tracks (``Track``, map frame) out; ``vessels`` are the
    tracks that have shown consistent motion over the water, ``statics``
    the fixed objects, ``unproven`` the rest (see the module docstring).

    ``shore_distance`` (optional, a ``ShoreDistance``) is the prior map's
    distance field; returns within ``shore_margin_m`` plus twice our
    position's standard deviation of it are dropped before clustering."""

    def __init__(self, shore_distance: ShoreDistance | None = None,
                 max_vessel_radius_m: float = MAX_VESSEL_RADIUS_M,
                 shore_margin_m: float = SHORE_MARGIN_M, meas_std_m: float = 1.5,
                 accel_std: float = 0.3, max_misses: int = 20):
        if not max_vessel_radius_m > 0:
            raise ValueError(f"max_vessel_radius_m must be > 0 m, got {max_vessel_radius_m}")
        if not (math.isfinite(shore_margin_m) and shore_margin_m >= 0):
            raise ValueError(f"shore_margin_m must be >= 0 m, got {shore_margin_m}")
        if shore_distance is not None and not isinstance(shore_distance, ShoreDistance):
            raise TypeError(f"shore_distance must be a ShoreDistance (shore_distance_fn), "
                            f"got {type(shore_distance).__name__}")
        self.shore_distance = shore_distance
        self.max_radius = float(max_vessel_radius_m)
        self.shore_margin = float(shore_margin_m)
        self.tracker = MultiObjectTracker(accel_std=accel_std, meas_std=meas_std_m, confirm_hits=3,
                                          max_misses=max_misses, tentative_misses=2, init_speed_std=3.0)
        self.scans = 0
        self.dropped_on_shore = 0          # returns dropped on the charted shore, all scans
        self._tracks: list[Track] = []
        self._clusters: list[Cluster] = []
        self._seen: dict[int, list] = {}   # track id -> [x0, y0, t0, kind]: where first seen, UNPROVEN/STATIC/VESSEL

    @property
    def last_clusters(self) -> list[Cluster]:
        """The vessel-sized objects off the shore in the last tracked scan."""
        return self._clusters

    @property
    def tracks(self) -> list[Track]:
        """The tracks after the last scan (tentative ones included)."""
        return self._tracks

    def kind(self, track_id: int) -> int:
        """UNPROVEN, STATIC or VESSEL for a current track id (UNPROVEN if unknown)."""
        h = self._seen.get(int(track_id))
        return UNPROVEN if h is None else h[3]

    @property
    def vessels(self) -> list[Track]:
        """Current tracks that have shown consistent motion: the contacts."""
        return [t for t in self._tracks if self._seen[t.id][3] == VESSEL]

    @property
    def statics(self) -> list[Track]:
        """Current tracks of fixed objects: map, not contacts."""
        return [t for t in self._tracks if self._seen[t.id][3] == STATIC]

    @property
    def unproven(self) -> list[Track]:
        """Current tracks (tentative ones included) not yet a vessel or static."""
        return [t for t in self._tracks if self._seen[t.id][3] == UNPROVEN]

    def shore_margin_for(self, state: VehicleState) -> float:
        """Returns within this many metres of a charted obstacle are shore:
        ``shore_margin_m`` plus two standard deviations of our position."""
        return self.shore_margin + 2.0 * max(float(state.pos_std), 0.0)

    def clusters(self, state: VehicleState, scan: LaserScan) -> list[Cluster]:
        """Objects in ``scan`` (taken at ``state``) from its returns off the prior map's shore."""
        ranges = scan.ranges
        if self.shore_distance is not None:
            on = shore_returns((state.x, state.y, state.yaw), ranges, scan.angle_min, scan.angle_increment,
                               scan.max_range, self.shore_distance, self.shore_margin_for(state))
            n = int(on.sum())
            if n:
                ranges = np.where(on, np.inf, np.asarray(ranges, np.float64))   # no return there
                self.dropped_on_shore += n
        return cluster_scan((state.x, state.y, state.yaw), ranges, scan.angle_min, scan.angle_increment,
                            scan.max_range, min_points=3, max_radius=self.max_radius)

    def _classify(self) -> None:
        """Update each track's kind from its motion since it was first seen."""
        live = set()
        for t in self._tracks:
            live.add(t.id)
            h = self._seen.get(t.id)
            if h is None:
                h = self._seen[t.id] = [t.x, t.y, t.t, UNPROVEN]
            if h[3] == VESSEL or not t.confirmed:
                continue
            travel = math.hypot(t.x - h[0], t.y - h[1])
            speed = math.hypot(t.vx, t.vy)
            settled = max(float(t.cov[2][2]), float(t.cov[3][3])) <= MAX_TRACK_SPEED_STD ** 2
            if settled and speed >= MIN_VESSEL_SPEED_MPS and travel >= MIN_VESSEL_TRAVEL_M:
                h[3] = VESSEL
            elif h[3] == UNPROVEN and t.t - h[2] >= STATIC_AFTER_S and travel < STATIC_TRAVEL_M \
                    and speed < MIN_VESSEL_SPEED_MPS:
                h[3] = STATIC
        for k in [k for k in self._seen if k not in live]:
            del self._seen[k]

    def update(self, state: VehicleState, scan: LaserScan) -> list[Track]:
        """Track one scan; returns every current track (``vessels`` are the
        contacts among them).  Scans taken while the position estimate is
        invalid or poorer than ``MAX_POS_STD_M`` are skipped (the tracks
        coast)."""
        if not state.valid or state.pos_std > MAX_POS_STD_M:
            return self._tracks
        self._clusters = self.clusters(state, scan)
        self._tracks = self.tracker.update(scan.t, self._clusters)
        self._classify()
        self.scans += 1
        return self._tracks


def reach_distance(speed: float, max_decel: float, keep_clear: float) -> float:
    """[m] Range within which an object whose motion is not known yet is
    kept clear of as if it were fixed: what we cover at ``speed`` [m/s]
    while it is being classified (``STATIC_AFTER_S``), our stopping
    distance at ``max_decel`` [m/s^2], and ``keep_clear`` [m] (the
    planner's clearance from obstacles)."""
    for name, v in (("speed", speed), ("keep_clear", keep_clear)):
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"{name} must be finite and >= 0, got {v}")
    if not (math.isfinite(max_decel) and max_decel > 0):
        raise ValueError(f"max_decel must be > 0 m/s^2, got {max_decel}")
    return speed * STATIC_AFTER_S + speed * speed / (2.0 * max_decel) + keep_clear


class ProvisionalCells:
    """Costmap cells stamped for lidar objects whose motion is not known
    yet (see the module docstring), by their centres (map frame [m]; a
    rolling costmap keeps cells at their world positions).  Only cells
    that were free when stamped are ours: clearing ours never removes the
    shore or a fixed object.

    ``mark`` the cells an unproven object occupies in this scan (the ones
    to stamp come back), ``settle`` the cells that went to the map for
    good, ``expire`` for the cells to clear."""

    def __init__(self, hold_s: float = PROVISIONAL_HOLD_S):
        if not (math.isfinite(hold_s) and hold_s > 0):
            raise ValueError(f"hold_s must be > 0 s, got {hold_s}")
        self.hold_s = float(hold_s)
        self._cells: dict[tuple[int, int], list] = {}   # centre in mm -> [x, y, last seen]

    def __len__(self) -> int:
        return len(self._cells)

    @staticmethod
    def _key(x: float, y: float) -> tuple[int, int]:
        return int(round(x * 1000.0)), int(round(y * 1000.0))

    @property
    def points(self) -> np.ndarray:
        """(N, 2) centres [m] of our cells, in the order ``expire`` takes its mask."""
        return np.array([c[:2] for c in self._cells.values()], np.float64).reshape(-1, 2)

    def mark(self, now: float, centres: np.ndarray, free: np.ndarray) -> np.ndarray:
        """Cells (centres (N, 2) [m]) an unproven object occupies at ``now``
        [s]; ``free`` (N,) bool: the costmap cell holds no obstacle yet.
        Returns the centres to stamp: ours already (seen again) or free."""
        pts = np.asarray(centres, np.float64).reshape(-1, 2)
        free = np.asarray(free, bool).reshape(-1)
        if len(free) != len(pts):
            raise ValueError(f"free must have one flag per centre: {len(free)} for {len(pts)}")
        keep = np.zeros(len(pts), bool)
        for i, (x, y) in enumerate(pts):
            k = self._key(x, y)
            c = self._cells.get(k)
            if c is not None:
                c[2] = float(now)
                keep[i] = True
            elif free[i]:
                self._cells[k] = [float(x), float(y), float(now)]
                keep[i] = True
        return pts[keep]

    def settle(self, centres: np.ndarray) -> None:
        """These cells (centres [m]) are in the map for good now: not ours to clear."""
        for x, y in np.asarray(centres, np.float64).reshape(-1, 2):
            self._cells.pop(self._key(x, y), None)

    def expire(self, now: float, on_vessel: np.ndarray | None = None) -> np.ndarray:
        """Forget and return (N, 2) the centres [m] to clear from the
        costmap: not seen again for ``hold_s``, or (``on_vessel``, bool over
        ``points``) on a vessel, which the helm keeps clear of."""
        if on_vessel is not None and len(on_vessel) != len(self._cells):
            raise ValueError(f"on_vessel must have one flag per cell: {len(on_vessel)} for {len(self._cells)}")
        out = []
        for i, (k, c) in enumerate(list(self._cells.items())):
            if now - c[2] > self.hold_s or (on_vessel is not None and on_vessel[i]):
                out.append(c[:2])
                del self._cells[k]
        return np.array(out, np.float64).reshape(-1, 2)


def points_on_vessels(points: np.ndarray, cx: np.ndarray, cy: np.ndarray, radius: np.ndarray,
                      margin: float) -> np.ndarray:
    """bool (N,): which map-frame ``points`` (N, 2) [m] lie within
    ``radius + margin`` of a vessel centred at (cx, cy) (K,) [m]."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    if len(pts) == 0 or len(cx) == 0:
        return np.zeros(len(pts), bool)
    d = np.hypot(pts[:, :1] - np.asarray(cx)[None, :], pts[:, 1:] - np.asarray(cy)[None, :])
    return (d <= np.asarray(radius)[None, :] + margin).any(axis=1)


def shore_distance_fn(shore) -> ShoreDistance:
    """``(x, y) -> metres`` to the nearest obstacle of a ``ShoreGrid`` as it
    is now — the prior map (see ``ShoreDistance``).  inf outside the grid:
    no shore is known there."""
    return ShoreDistance(shore)
