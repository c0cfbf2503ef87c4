"""The perception front the vehicle core calls once per tick.

``Perception.process(now, frame, state)`` takes the tick's ``SensorFrame``
and the core's state estimate and runs each sensor's pipeline at its own
rate (``RateManager``):

* lidar: the occupancy grid (``LidarMapper``) and obstacle tracking
  (``cluster_scan`` + ``MultiObjectTracker``; with a prior map, clusters on
  its known structure are not tracked).  Newly occupied cells are
  handed to planning as static obstacles, except cells on or behind a
  moving track (a walking person must not leave a wall in the costmap);
  cells near a track whose motion is not yet known wait for it.  Cells
  handed over that the lidar later sees free again (``SeenFreeClearing``:
  the thing has gone) are given back as ``seen_free`` for the planning
  costmap to drop, except where the camera mapped a static object
  (batched: at most every ``clear_period_s``, so the costmap redoes its
  inflation round them once for several scans).
* camera: coloured-object detection (``BuoyDetector``); an object seen in
  two frames at the same place (within ``camera_gate_m``) and nearer than
  ``obstacle_range_m`` becomes a static obstacle (a disc of the configured
  object radius), once.  A colour the camera config's ``object_classes``
  names a person, vessel or vehicle (a thing that can move) is not mapped
  for good, as the lidar does not map its moving tracks: it is a
  transient obstacle (``perception.transient``) that follows the
  detection and is forgotten ``transient_forget_s`` after it was last
  seen; ``transient_obstacles`` / ``transient_version`` give it to the
  core, which keeps it in the costmap's transient layer.

It returns map-frame obstacle points for ``VehicleCore.add_obstacles``.

Public results, refreshed every tick (map frame ENU, metres, m/s, seconds
on the core's clock):

* ``tracks``: ``list[vehicle.perception.tracking.Track]`` — every live lidar
  track (tentative and confirmed; use ``confirmed``), positions and
  velocities in the map frame, ``t`` the time of the scan they were last
  predicted to.  Empty without a lidar.
* ``camera_detections``: ``list[CameraDetection]`` of the latest processed
  frame, in the vehicle frame (x forward, y left), and
  ``camera_obstacles`` (N, 3) [x, y, radius] map frame of those accepted.
* ``seen_free`` (N, 2) [x, y] map frame: cell centres of obstacles the
  lidar mapped (handed over on an earlier tick) that it has seen free
  again: given on the tick they are seen free when none were given in
  the last ``clear_period_s`` seconds, else gathered until that has
  passed (those found occupied again meanwhile left out); empty on the
  other ticks.
* ``transient_obstacles`` (N, 3) [x, y, radius] map frame: the movable
  things the camera sees now (or saw within ``transient_forget_s``);
  ``transient_version`` changes whenever they do.
* ``status(now)``: per-sensor ``SensorStatus`` (age, stale, measured rate).

``give_way(state, path, speed)`` is the moving-obstacle rule planning uses:
the vehicle yields (stops) while a confirmed moving track's predicted path
comes within reach of the vehicle's own predicted path over the next
``horizon_s`` seconds.
"""
from __future__ import annotations

import math

import numpy as np

from edgepilot.vehicle.maps import GridMap
from edgepilot.vehicle.types import SensorFrame, VehicleState

from ._kernels import give_way_conflict_kernel, hold_near_tracks_kernel, track_shapes_kernel
from .clearing import _NO_POINTS, SeenFreeClearing
from .mapping import LidarMapper
from .rates import RateManager, SensorStatus
from .tracking import MultiObjectTracker, Track, cluster_rows
from .transient import MOVABLE_CLASSES, TransientObjects


#: Time step of the give-way prediction [s].
GIVE_WAY_DT_S = 0.2

_NO_ROWS = np.empty((0, 6))        # no hold-back rows, no movers
_F64 = np.dtype(np.float64)        # (an array of another dtype object is converted: the same floats)


class Perception:
    """Per-sensor pipelines behind one call.  ``cfg`` is the
    ``VehicleConfig``; ``prior`` the prior map; ``window`` the planning
    window the lidar maps (rows, cols, origin_x, origin_y at ``resolution``);
    neither: no mapping."""

    def __init__(self, cfg, prior: GridMap | None, resolution: float | None = None,
                 min_moving_speed: float = 0.3, horizon_s: float = 4.0, margin_m: float = 0.4,
                 camera_gate_m: float = 1.0, clear_s: float = 0.5, settle_hits: int = 10,
                 window: tuple[int, int, float, float] | None = None, clear_period_s: float = 0.5):
        s = cfg.sensors
        self.cfg = cfg
        self.rates = RateManager()
        res = resolution if resolution is not None else cfg.planning.resolution
        self.resolution = float(res)
        self.min_moving_speed = float(min_moving_speed)
        self.horizon_s = float(horizon_s)
        self.margin_m = float(margin_m)
        self.camera_gate_m = float(camera_gate_m)
        g = cfg.geometry
        self.vehicle_radius = 0.5 * math.hypot(g.length, g.width)
        self.mapper = None
        self.clearing = None
        self.tracker = None
        if s.lidar is not None:
            self.rates.add("lidar", s.lidar.rate_hz)
            self.tracker = MultiObjectTracker()
            # cluster_rows' work space for a scan of the configured beams (another size gets its own)
            self._cluster_work = np.empty((s.lidar.beams + 1, 5))
            if prior is not None or window is not None:
                # window (rows, cols, origin_x, origin_y): map where the planning
                # window is, beyond the prior map or without one; it rolls with it
                self.mapper = LidarMapper(prior, resolution=res, window=window)
                self.clearing = SeenFreeClearing(self.mapper)
        self.camera = None
        self.detector = None
        if s.camera is not None:
            from .camera_model import PinholeCamera
            from .detection import BuoyDetector      # OpenCV's ArUco module loads on demand
            self.rates.add("camera", s.camera.rate_hz, process_hz=s.camera.detect_hz)
            self.camera = PinholeCamera.from_config(s.camera)
            self.detector = BuoyDetector(self.camera, radius=s.camera.object_radius)
            self.object_radius = s.camera.object_radius
            self.obstacle_range = s.camera.obstacle_range_m
            self.movable = {c: k for c, k in s.camera.object_classes.items() if k in MOVABLE_CLASSES}
            self.transient = TransientObjects(gate_m=camera_gate_m, forget_s=s.camera.transient_forget_s)
        self._tracks: list[Track] | None = []     # None: the tracker's, built on first read
        self._tracked = False       # the tracks are the tracker's latest scan (not a list given to ``tracks``)
        self._rows = None           # ``_track_rows`` of the tracker's latest scan, once asked for
        self._movers = None         # ``_moving_rows`` of the tracker's latest scan, once picked
        self._movers_speed = None   # the min_moving_speed they were picked with
        self.seen_free = _NO_POINTS
        if not (math.isfinite(clear_period_s) and clear_period_s >= 0):
            raise ValueError(f"clear_period_s must be a number of seconds >= 0, got {clear_period_s!r}")
        self.clear_period_s = float(clear_period_s)
        self._free_pending: list[np.ndarray] = []
        self._free_due = -math.inf
        self.camera_detections: list = []
        self.camera_frames_processed = 0
        self.scans_processed = 0
        self._cam_candidates: list[tuple[float, float, float]] = []   # (x, y, t) seen once
        self._cam_obstacles: list[tuple[float, float, float]] = []
        self.yielding: Track | None = None
        self.clear_s = float(clear_s)
        self.settle_hits = int(settle_hits)
        self._clear_since: float | None = None
        self._n_t: int | None = None              # give-way prediction samples, work space
        self._veh_xy = np.empty((0, 2))
        self._path_cum = np.empty(0)

    # ------------------------------------------------------------ results
    @property
    def tracks(self) -> list[Track]:
        """Every live lidar track of the latest scan (see the module
        docstring).  The tracker's arrays are made into ``Track`` objects on
        the first read after the scan (the tracker changes only in the
        scan's update); a list assigned here is what is read until the
        next scan."""
        tracks = self._tracks
        if tracks is None:
            tracks = self._tracks = self.tracker.tracks()
        return tracks

    @tracks.setter
    def tracks(self, tracks: list[Track]) -> None:
        self._tracks = tracks
        self._tracked = False       # hold-back and give-way read these objects

    @property
    def transient_version(self) -> int:
        """Changes whenever ``transient_obstacles`` does (0 without a camera)."""
        return self.transient.version if self.detector is not None else 0

    @property
    def transient_obstacles(self) -> np.ndarray:
        """(N, 3) float64 [x, y, radius] map frame: movable things the camera sees."""
        return self.transient.obstacles() if self.detector is not None else np.zeros((0, 3))

    def transient_points(self) -> np.ndarray:
        """(N, 2) map-frame points covering ``transient_obstacles`` (discs)."""
        obs = self.transient_obstacles
        if not len(obs):
            return np.zeros((0, 2))
        return np.vstack([_disc(x, y, r, 0.5 * self.resolution) for x, y, r in obs])

    @property
    def camera_obstacles(self) -> np.ndarray:
        """(N, 3) float64 [x, y, radius] map frame: camera objects accepted as obstacles."""
        return np.array(self._cam_obstacles, np.float64).reshape(-1, 3)

    def moving_tracks(self) -> list[Track]:
        """Confirmed tracks moving at least ``min_moving_speed`` m/s."""
        return [t for t in self.tracks if t.confirmed and t.speed >= self.min_moving_speed]

    def status(self, now: float) -> dict[str, SensorStatus]:
        return self.rates.status(now)

    def stale(self, now: float) -> list[str]:
        return self.rates.stale(now)

    def set_stale_after(self, seconds: float) -> None:
        """Every sensor counts as stale after ``seconds`` without data."""
        self.rates.set_stale_after_all(seconds)

    # ------------------------------------------------------------ per tick
    def process(self, now: float, frame: SensorFrame, state: VehicleState) -> np.ndarray:
        """Run the due pipelines on ``frame``; returns (N, 2) map-frame
        obstacle points [m] new this tick (possibly empty)."""
        out = []
        self.seen_free = _NO_POINTS
        if frame.scan is not None and self.tracker is not None:
            self.rates.arrived("lidar", frame.scan.t)
            if self.rates.should_process("lidar", now):
                out.append(self._lidar(frame.scan, state))
        if frame.camera_t is not None and self.detector is not None:
            self.rates.arrived("camera", frame.camera_t)
            if frame.camera_image is not None and self.rates.should_process("camera", now):
                out.append(self._camera(frame.camera_t, frame.camera_image, state))
        if self.detector is not None:
            self.transient.expire(now)      # bounded even when frames stop coming
        if self._free_pending and now >= self._free_due:
            self._give_free(now)
        if len(out) == 1:
            return out[0]           # a new (N, 2) array of its pipeline: no copy needed
        return np.vstack(out) if out else _NO_POINTS

    def _give_free(self, now: float) -> None:
        """The cells seen free since the last time into ``seen_free``."""
        free = self._free_pending[0] if len(self._free_pending) == 1 else np.vstack(self._free_pending)
        self._free_pending = []
        self._free_due = now + self.clear_period_s
        free = free[self.clearing.still_free(free)]         # not found occupied again meanwhile
        if len(free) and self._cam_obstacles:
            # the camera mapped a static object there for good (the lidar may see past a low one)
            free = free[~_in_discs(free, self._cam_obstacles, 0.5 * self.resolution)]
        self.seen_free = free

    def _lidar(self, scan, state: VehicleState) -> np.ndarray:
        if not state.valid:
            return np.zeros((0, 2))
        mapper = self.mapper
        pose = mapper.sensor_pose(state) if mapper is not None else (state.x, state.y, state.yaw)
        self.scans_processed += 1
        # cluster_scan's clusters as rows (x, y, radius, n): no Cluster objects on the way to the tracker
        rows = cluster_rows(pose, scan.ranges, scan.angle_min, scan.angle_increment, scan.max_range,
                            work=self._cluster_work)
        if mapper is not None and rows:
            # pieces of known structure (prior-map walls) are not objects to
            # track: their visible ends wander with noise and range limits
            rows = mapper._off_prior(rows, rows)     # those not near_prior (a row starts with x, y)
        z = np.array([v for x, y, rad, _ in rows for v in (x, y, rad)], np.float64).reshape(-1, 3)
        self.tracker.advance(scan.t, z)     # update() without the Track objects: ``tracks`` builds them
        self._tracks = None
        self._tracked = True
        self._rows = self._movers = None
        if mapper is None:
            return np.zeros((0, 2))
        scans = mapper.scans
        new = mapper.integrate(state, scan, pose)
        if len(new):
            rows = self._hold_rows()
            if len(rows):
                # cells _near_unsettled_tracks: not reported now; reported later if
                # the cell is still occupied and no moving track explains it
                new = mapper._unreport_held(new, rows)
        if mapper.scans != scans:
            free = self.clearing.update(new)
            if len(free):
                self._free_pending.append(free)
        return new

    def _near_unsettled_tracks(self, pts: np.ndarray) -> np.ndarray:
        """True for points on or behind a moving track (its swept path over
        the last two seconds) or near a track seen fewer than
        ``settle_hits`` times (its motion is not known yet)."""
        return self._hold_back(pts)[0]

    def _hold_back(self, pts: np.ndarray) -> tuple[np.ndarray, int]:
        """``_near_unsettled_tracks`` of ``pts`` and how many are True."""
        hold = np.zeros(len(pts), bool)
        held = 0
        rows = self._hold_rows()
        if len(rows) and len(pts):
            # one kernel (perception._kernels.hold_near_tracks_kernel; the
            # NumPy version is perception._reference.near_unsettled_tracks_numpy)
            p = pts
            if type(p) is not np.ndarray or p.dtype != np.float64 or not p.flags.c_contiguous:
                p = np.ascontiguousarray(p, np.float64)
            held = hold_near_tracks_kernel(p.reshape(-1, 2), rows, hold)
        return hold, held

    def _hold_rows(self) -> np.ndarray:
        """The tracks ``_near_unsettled_tracks`` holds points near, as (K, 6)
        float64 rows (kind, reach, ax, ay, bx, by) of
        ``hold_near_tracks_kernel``: kind 1 a disc at (bx, by), kind 2 the
        segment a-b (``_track_shapes``)."""
        return self._track_shapes()[0]

    def _track_shapes(self) -> tuple[np.ndarray, np.ndarray]:
        """The hold-back rows (``_hold_rows``) and the movers
        (``_moving_rows``: [x, y, vx, vy, t, radius] of ``moving_tracks()``)
        of the ``tracks``, both (K, 6) float64 in track order, by the rules
        below over ``_track_rows``.  Of the tracker's latest scan the same
        rows come from one kernel pass over its arrays
        (``_kernels.track_shapes_kernel``; none without tracks) when the
        squares of the velocities tell every track's speed against
        ``min_moving_speed`` (all but a speed within about 1e-6 of it
        relatively, a NaN one, or a threshold of 0 or NaN).  The movers of
        the tracker's scan are kept for ``_moving_rows``."""
        margin, settle, min_speed = self.margin_m, self.settle_hits, self.min_moving_speed
        if self._tracked:
            tr = self.tracker
            n = tr._n
            if n == 0:                  # no tracks, no rows (nothing in sight)
                self._movers, self._movers_speed = _NO_ROWS, min_speed
                return _NO_ROWS, _NO_ROWS
            hold, movers = np.empty((n, 6)), np.empty((n, 6))
            nh, nm = track_shapes_kernel(tr._f, tr._hits, tr._conf, n, margin, settle, min_speed, hold, movers)
            if nh >= 0:
                hold = hold if nh == n else hold[:nh]
                movers = movers if nm == n else movers[:nm]
                self._movers, self._movers_speed = movers, min_speed
                return hold, movers
        hold, movers = [], []
        for x, y, vx, vy, t, r, hits, confirmed in self._track_rows():
            reach = r + margin
            moving = math.hypot(vx, vy) >= min_speed     # Track.speed
            if not confirmed or hits < settle:
                # motion not known yet (the velocity starts at 0 and converges): near it
                hold.append((1.0, reach, x, y, x, y))
            elif moving:
                # on or behind its path over the last 2 s
                hold.append((2.0, reach, x - 2.0 * vx, y - 2.0 * vy, x, y))
            if confirmed and moving:                    # moving_tracks()'s rule
                movers.append((x, y, vx, vy, t, r))
        hold = np.array(hold, np.float64) if hold else _NO_ROWS
        movers = np.array(movers, np.float64) if movers else _NO_ROWS
        if self._tracked:
            self._movers, self._movers_speed = movers, min_speed
        return hold, movers

    def _camera(self, t: float, image: np.ndarray, state: VehicleState) -> np.ndarray:
        self.camera_detections = self.detector.detect(image)
        self.camera_frames_processed += 1
        if not state.valid:
            return np.zeros((0, 2))
        c, s = math.cos(state.yaw), math.sin(state.yaw)
        gate = self.camera_gate_m
        out = []
        seen = []
        movers = []
        for d in self.camera_detections:
            if d.kind != "buoy" or d.range > self.obstacle_range:
                continue
            x, y = state.x + c * d.x - s * d.y, state.y + s * d.x + c * d.y
            if d.label in self.movable:         # can move: where it is now, not for good
                movers.append((x, y, self.object_radius, self.movable[d.label]))
                continue
            if any(math.hypot(x - ox, y - oy) < gate for ox, oy, _ in self._cam_obstacles):
                continue
            if any(math.hypot(x - cx, y - cy) < gate for cx, cy, _ in self._cam_candidates):
                self._cam_obstacles.append((x, y, self.object_radius))
                out.append(_disc(x, y, self.object_radius, 0.5 * self.resolution))
            else:
                seen.append((x, y, t))
        # a candidate lives for one second of frames
        self._cam_candidates = [cd for cd in self._cam_candidates if t - cd[2] <= 1.0] + seen
        self.transient.update(t, movers)
        return np.vstack(out) if out else np.zeros((0, 2))

    # ------------------------------------------------------------ planning
    def give_way(self, state: VehicleState, path_pts: np.ndarray | None, s0: float,
                 speed: float) -> Track | None:
        """The confirmed moving track the vehicle must yield to now, or None.

        The vehicle is predicted along ``path_pts`` (N, 2) map frame from arc
        length ``s0`` [m] at ``speed`` [m/s] (standing still past its end),
        each track straight on at its velocity, every 0.2 s over
        ``horizon_s``; a conflict is a predicted centre distance below the
        vehicle's circumscribed radius + the track's radius + ``margin_m``.
        Once yielding, the vehicle waits until the way has been clear for
        ``clear_s`` seconds."""
        hit = self._conflict(state, path_pts, s0, speed)
        if hit is not None:
            self.yielding, self._clear_since = hit, None
        elif self.yielding is not None:
            # keep yielding until the way has been clear for clear_s (no flapping)
            if self._clear_since is None:
                self._clear_since = state.t
            if state.t - self._clear_since >= self.clear_s:
                self.yielding = None
        return self.yielding

    def _track_rows(self) -> list[tuple]:
        """The ``tracks`` as rows (x, y, vx, vy, t, radius, hits, confirmed),
        in order.  Of the tracker's latest scan they come from its arrays
        (no Track objects), read once a scan; a list assigned to ``tracks``
        is read as it is now."""
        if not self._tracked:
            return [(t.x, t.y, t.vx, t.vy, t.t, t.radius, t.hits, t.confirmed) for t in self.tracks]
        rows = self._rows
        if rows is None:
            floats, ints = self.tracker.rows()
            rows = self._rows = [(x, y, vx, vy, t, r, hits, confirmed != 0)
                                 for (t, x, y, vx, vy, r), (_, hits, _, confirmed) in zip(floats, ints)]
        return rows

    def _moving_rows(self) -> np.ndarray | None:
        """(K, 6) float64 [x, y, vx, vy, t, radius] of ``moving_tracks()``,
        in their order; None when there are none.  Of the tracker's latest
        scan: picked once a scan (again when ``min_moving_speed`` changed;
        ``_track_shapes``)."""
        mv = self._movers if self._tracked and self._movers_speed == self.min_moving_speed else None
        if mv is None:
            mv = self._track_shapes()[1]
        return mv if len(mv) else None

    def _conflict(self, state, path_pts, s0, speed) -> Track | None:
        if path_pts is None or len(path_pts) < 2:
            return None
        mv = self._moving_rows()
        if mv is None:
            return None
        # one kernel (perception._kernels.give_way_conflict_kernel; the
        # NumPy version is perception._reference.give_way_conflict_numpy)
        pts = path_pts
        if type(pts) is not np.ndarray or pts.dtype is not _F64 or pts.ndim != 2 or pts.shape[1] != 2:
            pts = np.asarray(path_pts, np.float64).reshape(-1, 2)
        n_t = self._n_t
        if n_t is None:
            n_t = self._n_t = len(np.arange(0.0, self.horizon_s + 1e-9, GIVE_WAY_DT_S))
            self._veh_xy = np.empty((n_t, 2))
        if len(self._path_cum) < len(pts):
            self._path_cum = np.empty(len(pts))
        k = give_way_conflict_kernel(pts, float(s0), float(speed), n_t, GIVE_WAY_DT_S, float(state.x),
                                     float(state.y), float(state.t), mv, self.vehicle_radius, self.margin_m,
                                     self._path_cum, self._veh_xy)
        return self.moving_tracks()[k] if k >= 0 else None


def _in_discs(pts: np.ndarray, discs, pad: float) -> np.ndarray:
    """True for points (N, 2) [m] within ``pad`` of a disc (x, y, radius) [m]."""
    inside = np.zeros(len(pts), bool)
    for x, y, r in discs:
        inside |= np.hypot(pts[:, 0] - x, pts[:, 1] - y) <= r + pad
    return inside


def _disc(x: float, y: float, r: float, step: float) -> np.ndarray:
    """Points covering a disc of radius ``r`` m at (x, y), ``step`` m apart."""
    k = int(math.ceil(r / step))
    g = np.arange(-k, k + 1) * step
    gx, gy = np.meshgrid(g, g)
    m = gx * gx + gy * gy <= r * r + 1e-12
    return np.column_stack((x + gx[m], y + gy[m]))
