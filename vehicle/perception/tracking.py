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

from ._kernels import cluster_scan_kernel


@dataclass(frozen=True)
class Cluster:
    """An object seen in one scan: centre (x, y) in the map frame [m],
    ``radius`` [m] (half its visible extent), ``n`` returns."""

    x: float
    y: float
    radius: float
    n: int


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
    r = np.asarray(ranges, np.float64)
    if r.ndim != 1:
        raise ValueError(f"ranges must be 1-D, got shape {r.shape}")
    px, py, yaw = (float(v) for v in pose)
    n = r.size
    a = yaw + angle_min + angle_increment * np.arange(n)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(r) & (r > 0) & (r < max_range)
    idx = np.flatnonzero(valid)
    if idx.size == 0:
        return []
    xs = px + r[idx] * np.cos(a[idx])
    ys = py + r[idx] * np.sin(a[idx])
    # the splitting and the means in one kernel (perception._kernels.
    # cluster_scan_kernel; the NumPy version is perception._reference.
    # cluster_scan_numpy), the few clusters' geometry here
    runs = np.empty((idx.size, 4))
    k = cluster_scan_kernel(xs, ys, r[idx], idx.astype(np.int64), float(gap_m), float(gap_factor),
                            abs(float(angle_increment)), int(min_points), runs)
    out = []
    for first, m, cx, cy in runs[:k].tolist():
        a, b = int(first), int(first) + int(m) - 1
        rad = 0.5 * math.hypot(float(xs[b] - xs[a]), float(ys[b] - ys[a]))
        if rad > max_radius:
            continue
        los = math.hypot(cx - px, cy - py)
        if los > 1e-9:
            k = (2.0 / math.pi) * rad / los
            cx += (cx - px) * k
            cy += (cy - py) * k
        out.append(Cluster(float(cx), float(cy), float(rad), int(m)))
    return out


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


class _KF:
    __slots__ = ("id", "x", "P", "t", "radius", "hits", "misses", "confirmed")

    def __init__(self, tid, t, z, radius, pos_var, vel_var):
        self.id = tid
        self.x = np.array([z[0], z[1], 0.0, 0.0])
        self.P = np.diag([pos_var, pos_var, vel_var, vel_var])
        self.t = t
        self.radius = radius
        self.hits = 1
        self.misses = 0
        self.confirmed = False


class MultiObjectTracker:
    """Constant-velocity Kalman tracks with gated GNN association.

    ``accel_std`` [m/s^2]: white-acceleration process noise; ``meas_std``
    [m]: position measurement noise; ``gate`` chi-square bound on the
    squared Mahalanobis distance (9.21 = 99 % for 2 dof); a track is
    confirmed after ``confirm_hits`` updates and deleted after
    ``max_misses`` consecutive scans without one (tentative tracks after
    ``tentative_misses``)."""

    def __init__(self, accel_std: float = 0.5, meas_std: float = 0.15, gate: float = 9.21,
                 confirm_hits: int = 3, max_misses: int = 8, tentative_misses: int = 2,
                 init_speed_std: float = 2.0):
        if accel_std <= 0 or meas_std <= 0 or gate <= 0:
            raise ValueError("accel_std, meas_std and gate must be > 0")
        self.q = accel_std ** 2
        self.R = np.eye(2) * meas_std ** 2
        self.gate = gate
        self.confirm_hits = confirm_hits
        self.max_misses = max_misses
        self.tentative_misses = tentative_misses
        self.init_vel_var = init_speed_std ** 2
        self._tracks: list[_KF] = []
        self._next_id = 1
        self._model_key = None       # (dt, q) of the cached transition and process noise
        self._model = None
        self.t: float | None = None

    def _predict(self, k: _KF, t: float) -> None:
        dt = t - k.t
        if dt <= 0:
            return
        if self._model_key != (dt, self.q):
            # kept for the last dt (scans come at a steady rate): the same
            # numbers without building the arrays per track and scan
            F = np.eye(4)
            F[0, 2] = F[1, 3] = dt
            q = self.q
            dt2, dt3, dt4 = dt * dt, dt ** 3, dt ** 4
            Q = q * np.array([[dt4 / 4, 0, dt3 / 2, 0], [0, dt4 / 4, 0, dt3 / 2],
                              [dt3 / 2, 0, dt2, 0], [0, dt3 / 2, 0, dt2]])
            self._model = (F, F.T, Q)
            self._model_key = (dt, self.q)
        F, FT, Q = self._model
        k.x = F @ k.x
        k.P = F @ k.P @ FT + Q
        k.t = t

    def update(self, t: float, detections) -> list[Track]:
        """Advance to time ``t`` [s] and fuse ``detections``: a list of
        ``Cluster`` or an (N, 2) / (N, 3) array of [x, y(, radius)] in the
        map frame.  Returns the current tracks."""
        t = float(t)
        if self.t is not None and t < self.t:
            raise ValueError(f"time went backwards: {t} < {self.t}")
        if isinstance(detections, np.ndarray):
            det = np.asarray(detections, np.float64).reshape(-1, detections.shape[-1] if detections.ndim > 1 else 2)
            if det.shape[1] not in (2, 3):
                raise ValueError(f"detections must be (N, 2) or (N, 3), got shape {detections.shape}")
            z = det[:, :2]
            rad = det[:, 2] if det.shape[1] == 3 else np.zeros(len(det))
        else:
            z = np.array([[c.x, c.y] for c in detections], np.float64).reshape(-1, 2)
            rad = np.array([c.radius for c in detections], np.float64)
        self.t = t
        for k in self._tracks:
            self._predict(k, t)
        # gated squared Mahalanobis distances
        nt, nd = len(self._tracks), len(z)
        cost = np.full((nt, nd), np.inf)
        # covers[i, j]: track i's predicted centre lies inside detection j's extent
        covers = np.zeros((nt, nd), bool)
        for i, k in enumerate(self._tracks):
            S = k.P[:2, :2] + self.R
            Si = np.linalg.inv(S)
            dz = z - k.x[:2]
            d2 = np.einsum("ni,ij,nj->n", dz, Si, dz)
            cost[i] = np.where(d2 <= self.gate, d2, np.inf)
            covers[i] = np.hypot(dz[:, 0], dz[:, 1]) < rad + k.radius
        # A blob that covers two or more confirmed tracks is objects merged
        # in the scan (crossing, occlusion): it updates none of them, they
        # coast on their prediction, and it does not start a track.
        conf = np.array([k.confirmed for k in self._tracks], bool)
        merged = (covers & conf[:, None]).sum(axis=0) >= 2 if nt else np.zeros(nd, bool)
        cost[:, merged] = np.inf
        coasting = covers[:, merged].any(axis=1) if nt else np.zeros(0, bool)
        # global nearest neighbour, greedy on the smallest distances
        pairs = []
        if nt and nd:
            order = np.argsort(cost, axis=None)
            used_t, used_d = set(), set()
            for flat in order:
                i, j = divmod(int(flat), nd)
                if not np.isfinite(cost[i, j]):
                    break
                if i in used_t or j in used_d:
                    continue
                used_t.add(i)
                used_d.add(j)
                pairs.append((i, j))
        matched_t = {i for i, _ in pairs}
        matched_d = {j for _, j in pairs}
        H = np.zeros((2, 4))
        H[0, 0] = H[1, 1] = 1.0
        for i, j in pairs:
            k = self._tracks[i]
            S = k.P[:2, :2] + self.R
            K = k.P[:, :2] @ np.linalg.inv(S)
            k.x = k.x + K @ (z[j] - k.x[:2])
            k.P = (np.eye(4) - K @ H) @ k.P
            k.P = 0.5 * (k.P + k.P.T)
            k.radius = 0.8 * k.radius + 0.2 * float(rad[j]) if k.hits > 1 else float(rad[j])
            k.hits += 1
            k.misses = 0
            if k.hits >= self.confirm_hits:
                k.confirmed = True
        keep = []
        for i, k in enumerate(self._tracks):
            if i not in matched_t and not coasting[i]:
                k.misses += 1
            limit = self.max_misses if k.confirmed else self.tentative_misses
            if k.misses <= limit:
                keep.append(k)
        self._tracks = keep
        for j in range(nd):
            if j not in matched_d and not merged[j]:
                self._tracks.append(_KF(self._next_id, t, z[j], float(rad[j]), self.R[0, 0],
                                        self.init_vel_var))
                self._next_id += 1
        return self.tracks()

    def tracks(self, confirmed_only: bool = False) -> list[Track]:
        return [Track(k.id, k.t, float(k.x[0]), float(k.x[1]), float(k.x[2]), float(k.x[3]),
                      k.P.copy(), k.radius, k.confirmed, k.hits, k.misses)
                for k in self._tracks if k.confirmed or not confirmed_only]

    def moving_obstacles(self, min_speed: float = 0.3) -> np.ndarray:
        """(N, 5) float64 [x, y, radius, vx, vy] of confirmed tracks moving
        faster than ``min_speed`` m/s (for planning), map frame."""
        rows = [[k.x[0], k.x[1], k.radius, k.x[2], k.x[3]] for k in self._tracks
                if k.confirmed and math.hypot(k.x[2], k.x[3]) >= min_speed]
        return np.array(rows, np.float64).reshape(-1, 5)
