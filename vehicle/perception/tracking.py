"""Lidar obstacle clustering and multi-object tracking.

``cluster_scan`` splits a planar scan into objects with an adaptive
breakpoint rule (consecutive returns belong together when their gap is
below what the beam spacing at that range allows, Borges & Aldon / Dietmayer
style).  ``MultiObjectTracker`` follows them with one constant-velocity
Kalman filter per object (state x, y, vx, vy in the map frame, metres and
m/s; white-acceleration process noise), gated global-nearest-neighbour data
association on the Mahalanobis distance, and a tentative -> confirmed ->
deleted track life cycle.  A blob that covers two confirmed tracks (objects
merged in the scan while they cross) updates neither: both coast.  Confirmed moving tracks are what planning needs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgepilot.vehicle.types import direct_init

from ._kernels import cluster_scan_kernel, track_scan_kernel
from .occupancy import _beam_table


@direct_init        # made for every object of every scan: fields stored straight into the instance dict
@dataclass(frozen=True)
class Cluster:
    """An object seen in one scan: centre (x, y) in the map frame [m],
    ``radius`` [m] (half its visible extent), ``n`` returns."""

    x: float
    y: float
    radius: float
    n: int


_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_TWO_OVER_PI = 2.0 / math.pi        # the centre shift's factor (a lidar sees the near half of a round object)
def cluster_scan(pose, ranges, angle_min: float, angle_increment: float, max_range: float,
                 min_points: int = 3, gap_m: float = 0.3, gap_factor: float = 3.0,
                 max_radius: float = 3.0) -> list[Cluster]:
    """Cluster a scan taken at sensor ``pose`` = (x, y, yaw) (map frame).
    Consecutive valid returns i, i+1 join when their distance is below
    ``max(gap_m, gap_factor * r * angle_increment)``.  Clusters with fewer
    than ``min_points`` returns or wider than ``2 * max_radius`` (walls,
    shore) are dropped.  The centre is moved away from the sensor by
    (2/pi) * radius because a lidar sees only the near half of a round
    object, whose centroid lies that far in front of its centre."""
    return [Cluster(x, y, rad, n) for x, y, rad, n in cluster_rows(
        pose, ranges, angle_min, angle_increment, max_range, min_points, gap_m, gap_factor, max_radius)]


def cluster_rows(pose, ranges, angle_min: float, angle_increment: float, max_range: float,
                 min_points: int = 3, gap_m: float = 0.3, gap_factor: float = 3.0,
                 max_radius: float = 3.0, work: np.ndarray | None = None) -> list[tuple[float, float, float, int]]:
    """``cluster_scan``'s clusters as plain tuples (x, y, radius, n), in
    order (what it makes its ``Cluster`` objects from; the perception
    front gives them to the tracker without the objects).  ``work``: the
    kernel's work space to use, float64 C-contiguous (rows, 5) with rows >
    the number of beams (the front keeps one for its scans); a new one
    when None or too short."""
    r = ranges
    if type(r) is not np.ndarray or r.dtype is not _F32 or r.ndim != 1:
        # (float32 ranges, as a lidar gives them, go as they are: the
        # kernel widens each to float64, exactly as this conversion does)
        r = np.asarray(ranges, np.float64)
        if r.ndim != 1:
            raise ValueError(f"ranges must be 1-D, got shape {r.shape}")
    px, py, yaw = pose
    px, py, yaw = float(px), float(py), float(yaw)
    n = r.size
    cos_b, sin_b = _beam_table(float(angle_min), float(angle_increment), n)
    # the returns, their points (the beam directions turned by the yaw),
    # the splitting and the means in one kernel (perception._kernels.
    # cluster_scan_kernel; the NumPy version is perception._reference.
    # cluster_scan_numpy), the few clusters' geometry here
    runs = work if work is not None and len(work) > n else np.empty((n + 1, 5))     # (a run has >= 1 return)
    k = cluster_scan_kernel(r, float(max_range), cos_b, sin_b, math.cos(yaw), math.sin(yaw), px, py,
                            float(gap_m), float(gap_factor), abs(float(angle_increment)), int(min_points), runs)
    if k == 0:
        return []
    out = []
    for cnt, cx, cy, dx, dy in runs[:k].tolist():
        rad = 0.5 * math.hypot(dx, dy)
        if rad > max_radius:
            continue
        los = math.hypot(cx - px, cy - py)
        if los > 1e-9:
            f = _TWO_OVER_PI * rad / los
            cx += (cx - px) * f
            cy += (cy - py) * f
        out.append((cx, cy, rad, int(cnt)))
    return out


@direct_init        # the tracker makes every track anew each scan
@dataclass(frozen=True)
class Track:
    """A tracked object at time ``t``: position [m] and velocity [m/s] in
    the map frame, ``cov`` 4x4 covariance of (x, y, vx, vy), ``radius`` [m]."""

    id: int
    t: float
    x: float
    y: float
    vx: float
    vy: float
    cov: np.ndarray
    radius: float
    confirmed: bool
    hits: int
    misses: int

    @property
    def speed(self) -> float:
        return math.hypot(self.vx, self.vy)


class _Packed:
    """A tracker parameter kept in one of its packed kernel arrays
    (``MultiObjectTracker._par`` / ``_ipar``): set converts the value
    (``float`` / ``int``, as the kernel call did) and stores it there."""

    def __init__(self, array: str, index: int, conv, doc: str):
        self.array, self.index, self.conv, self.__doc__ = array, index, conv, doc

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        return self.conv(getattr(obj, self.array)[self.index])

    def __set__(self, obj, value) -> None:
        getattr(obj, self.array)[self.index] = self.conv(value)


class MultiObjectTracker:
    """Constant-velocity Kalman tracks with gated GNN association.

    ``accel_std`` [m/s^2]: white-acceleration process noise; ``meas_std``
    [m]: position measurement noise; ``gate`` chi-square bound on the
    squared Mahalanobis distance (9.21 = 99 % for 2 dof); a track is
    confirmed after ``confirm_hits`` updates and deleted after
    ``max_misses`` consecutive scans without one (tentative tracks after
    ``tentative_misses``).

    The tracks live in arrays (one row each); a scan is one kernel call
    (``perception._kernels.track_scan_kernel``: ``track_update_kernel``,
    then the new tracks; the NumPy version is
    ``perception._reference.NumpyTracker``).  ``update`` returns the
    tracks as ``Track`` objects; ``advance`` is the same scan without them
    (``tracks()`` or the plain ``rows()`` when wanted)."""

    def __init__(self, accel_std: float = 0.5, meas_std: float = 0.15, gate: float = 9.21,
                 confirm_hits: int = 3, max_misses: int = 8, tentative_misses: int = 2,
                 init_speed_std: float = 2.0):
        if accel_std <= 0 or meas_std <= 0 or gate <= 0:
            raise ValueError("accel_std, meas_std and gate must be > 0")
        # the kernel's parameters, packed once (the properties below re-pack
        # a value when it is set): float64 [q, r_meas, gate, init_vel_var]
        # and int64 [next_id, confirm_hits, max_misses, tentative_misses]
        # (next_id: the kernel's running state, the id of the next new track)
        self._par = np.zeros(4)
        self._ipar = np.zeros(4, np.int64)
        self._ipar[0] = 1
        self.q = accel_std ** 2
        self._par[1] = meas_std ** 2
        self.gate = gate
        self.confirm_hits = confirm_hits
        self.max_misses = max_misses
        self.tentative_misses = tentative_misses
        self.init_vel_var = init_speed_std ** 2
        self.t: float | None = None
        self._n = 0
        self._alloc(8)

    q = _Packed("_par", 0, float, "white-acceleration process noise [m^2/s^4] (accel_std squared)")
    gate = _Packed("_par", 2, float, "chi-square bound on the squared Mahalanobis distance")
    init_vel_var = _Packed("_par", 3, float, "a new track's velocity variance [m^2/s^2] (init_speed_std squared)")
    confirm_hits = _Packed("_ipar", 1, int, "updates after which a track is confirmed")
    max_misses = _Packed("_ipar", 2, int, "scans without an update after which a confirmed track is deleted")
    tentative_misses = _Packed("_ipar", 3, int, "the same for a tentative track")

    @property
    def R(self) -> np.ndarray:
        """2x2 position measurement covariance (meas_std squared on the
        diagonal); a new read-only array each read."""
        R = np.eye(2) * self._par[1]
        R.flags.writeable = False
        return R

    @property
    def _next_id(self) -> int:
        """The id of the next new track."""
        return int(self._ipar[0])

    def _alloc(self, cap: int) -> None:
        # one float row [t, x, y, vx, vy, radius] and one int row [id, hits,
        # misses, confirmed] per track (tracks() reads each block with one
        # tolist); the kernel gets the columns as views
        n = self._n
        old = (self._f, self._i, self._P) if n else None
        self._f = np.zeros((cap, 6))
        self._i = np.zeros((cap, 4), np.int64)
        self._P = np.zeros((cap, 4, 4))
        self._tt = self._f[:, 0]
        self._x = self._f[:, 1:5]
        self._rad = self._f[:, 5]
        self._ids = self._i[:, 0]
        self._hits = self._i[:, 1]
        self._misses = self._i[:, 2]
        self._conf = self._i[:, 3]
        # the kernel's work space, enough for any scan that fits (n + D <= cap):
        # n * D <= cap**2 / 4 distances; n "keep" then D "starts a track" flags
        self._cost = np.empty(cap * cap // 4)
        self._flags = np.empty(cap, np.uint8)
        if old is not None:
            for dst, src in zip((self._f, self._i, self._P), old):
                dst[:n] = src[:n]

    def update(self, t: float, detections) -> list[Track]:
        """Advance to time ``t`` [s] and fuse ``detections``: a list of
        ``Cluster`` or an (N, 2) / (N, 3) array of [x, y(, radius)] in the
        map frame.  Returns the current tracks."""
        self.advance(t, detections)
        return self.tracks()

    def advance(self, t: float, detections) -> None:
        """``update`` without building the tracks (``tracks()`` gives them
        when wanted)."""
        t = float(t)
        if self.t is not None and t < self.t:
            raise ValueError(f"time went backwards: {t} < {self.t}")
        z = detections
        if type(z) is np.ndarray and z.dtype is _F64 and z.ndim == 2 and z.shape[1] == 3 and z.flags.c_contiguous:
            pass                                        # the kernel reads it as it is (and does not write it)
        elif isinstance(detections, np.ndarray):
            det = np.asarray(detections, np.float64).reshape(-1, detections.shape[-1] if detections.ndim > 1 else 2)
            if det.shape[1] not in (2, 3):
                raise ValueError(f"detections must be (N, 2) or (N, 3), got shape {detections.shape}")
            z = np.zeros((len(det), 3))                 # [x, y, radius], radius 0 when not given
            z[:, :det.shape[1]] = det
        else:
            # a scan's few clusters, one array (from a flat list: quicker to convert than rows)
            z = np.array([v for c in detections for v in (c.x, c.y, c.radius)], np.float64).reshape(-1, 3)
        n, nd = self._n, len(z)
        if len(self._f) < n + nd:
            self._alloc(max(2 * len(self._f), n + nd))      # (with the work space)
        # the scan and the tracks it starts, one kernel call; it checks that
        # the detections are finite before it changes anything
        m = track_scan_kernel(self._f, self._i, self._P, n, t, z, self._par, self._ipar, self._cost, self._flags)
        if m < 0:
            raise ValueError("detections must be finite")
        self.t = t
        self._n = m

    def rows(self) -> tuple[list, list]:
        """The tracks as Python lists, one row each in ``tracks()`` order:
        [t, x, y, vx, vy, radius] (floats) and [id, hits, misses,
        confirmed] (ints, confirmed 0 or 1): what ``tracks()`` builds its
        Track objects from."""
        n = self._n
        return self._f[:n].tolist(), self._i[:n].tolist()

    def tracks(self, confirmed_only: bool = False) -> list[Track]:
        n = self._n
        if n == 0:
            return []
        rows = zip(*self.rows(), self._P[:n].copy())
        return [Track(i, t, x, y, vx, vy, P, r, c != 0, h, m)
                for (t, x, y, vx, vy, r), (i, h, m, c), P in rows if c or not confirmed_only]

    def moving_obstacles(self, min_speed: float = 0.3) -> np.ndarray:
        """(N, 5) float64 [x, y, radius, vx, vy] of confirmed tracks moving
        faster than ``min_speed`` m/s (for planning), map frame."""
        n = self._n
        x = self._x[:n]
        ok = (self._conf[:n] != 0) & (np.hypot(x[:, 2], x[:, 3]) >= min_speed)
        return np.column_stack((x[ok, 0], x[ok, 1], self._rad[:n][ok], x[ok, 2], x[ok, 3])).reshape(-1, 5)
