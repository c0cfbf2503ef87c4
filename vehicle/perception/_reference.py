"""NumPy-vectorised implementation of the same scan integration as the
numba kernel: the same fixed-point end points, the same integer traversal
(stepped for all beams at once), the same once-per-scan update with
occupied winning over free.  It is the benchmark peer and the test oracle.

Works on a float32 log-odds array (rows, cols) in place.
"""
from __future__ import annotations

import math

import numpy as np

from ._kernels import FP_SCALE, FP_SHIFT


def integrate_scan_numpy(logodds: np.ndarray, origin, resolution: float, pose, ranges,
                         angle_min: float, angle_increment: float, max_range: float,
                         l_free=-0.4, l_occ=0.85, l_min=-2.0, l_max=3.5,
                         clear_no_return: bool = True) -> int:
    h, w = logodds.shape
    scale = FP_SCALE / resolution
    px, py, yaw = (float(v) for v in pose)
    r = np.asarray(ranges, np.float32)
    n = r.size
    a = angle_min + angle_increment * np.arange(n, dtype=np.float64)
    cb, sb = np.cos(a), np.sin(a)
    cy, sy = math.cos(yaw), math.sin(yaw)
    ca = cb * cy - sb * sy
    sa = sb * cy + cb * sy
    fx0 = (px - origin[0]) * scale
    fy0 = (py - origin[1]) * scale
    mr = np.float32(max_range)
    with np.errstate(invalid="ignore"):
        returned = (r > 0.0) & (r < mr)
    use = returned | bool(clear_no_return)
    rr = np.where(returned, r, mr).astype(np.float64)
    dx = ca * rr * scale
    dy = sa * rr * scale
    w_fp, h_fp = float(w) * FP_SCALE, float(h) * FP_SCALE
    t = np.ones(n)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):   # np.where evaluates both sides
        tx = np.where(dx > 0, (w_fp - 1.0 - fx0) / dx, np.where(dx < 0, -fx0 / dx, np.inf))
        ty = np.where(dy > 0, (h_fp - 1.0 - fy0) / dy, np.where(dy < 0, -fy0 / dy, np.inf))
    t = np.minimum(t, np.minimum(tx, ty))
    ex, ey = fx0 + dx, fy0 + dy
    inside = (ex >= 0.0) & (ex <= w_fp - 1.0) & (ey >= 0.0) & (ey <= h_fp - 1.0)
    t[inside] = 1.0                     # as the kernel: no clipping test for these
    fx1 = np.clip(fx0 + t * dx, 0.0, w_fp - 1.0)
    fy1 = np.clip(fy0 + t * dy, 0.0, h_fp - 1.0)
    X0, Y0 = np.int64(math.floor(fx0)), np.int64(math.floor(fy0))
    X1 = np.floor(fx1).astype(np.int64)
    Y1 = np.floor(fy1).astype(np.int64)
    hit = returned & (t >= 1.0)
    X1, Y1, hit = X1[use], Y1[use], hit[use]
    c0, r0 = X0 >> FP_SHIFT, Y0 >> FP_SHIFT
    c1, r1 = X1 >> FP_SHIFT, Y1 >> FP_SHIFT
    adx, ady = X1 - X0, Y1 - Y0
    sx = np.where(adx >= 0, 1, -1)
    sy = np.where(ady >= 0, 1, -1)
    dist_x = np.where(adx >= 0, ((c0 + 1) << FP_SHIFT) - X0, X0 - (c0 << FP_SHIFT))
    dist_y = np.where(ady >= 0, ((r0 + 1) << FP_SHIFT) - Y0, Y0 - (r0 << FP_SHIFT))
    adx, ady = np.abs(adx), np.abs(ady)
    e = dist_x * ady - dist_y * adx
    tie = np.where((sx < 0) & (sy > 0), 0, 1)
    steps = np.abs(c1 - c0) + np.abs(r1 - r0)
    n_free = steps + (~hit)                    # the end cell is free when not a hit
    ax, ay = ady << FP_SHIFT, adx << FP_SHIFT
    siy = sy * w
    idx = np.full(X1.size, r0 * w + c0, np.int64)
    k_max = int(n_free.max()) if n_free.size else 0
    trail = np.empty((k_max, X1.size), np.int64)
    for k in range(k_max):
        trail[k] = idx
        m = e < tie
        idx += np.where(m, sx, siy)
        e += np.where(m, ax, -ay)
    free_idx = trail[np.arange(k_max)[:, None] < n_free[None, :]]
    hit_idx = (r1[hit] * w + c1[hit])
    flat = logodds.reshape(-1)
    old_free = flat[free_idx]
    old_hit = flat[hit_idx]
    # Gathers before scatters: duplicates write equal values, so each cell
    # changes once per scan; hits are written last and win.
    flat[free_idx] = np.maximum(old_free + np.float32(l_free), np.float32(l_min))
    flat[hit_idx] = np.minimum(old_hit + np.float32(l_occ), np.float32(l_max))
    return int(hit.sum())


def give_way_conflict_numpy(state, path_pts, s0: float, speed: float, movers, horizon_s: float,
                            vehicle_radius: float, margin_m: float):
    """``Perception._conflict`` the NumPy way: the vehicle along its path
    every 0.2 s over the horizon (its own position first), each mover
    straight on; the first mover within reach, or None."""
    ts = np.arange(0.0, horizon_s + 1e-9, 0.2)
    pts = np.asarray(path_pts, np.float64)
    seg = np.hypot(np.diff(pts[:, 0]), np.diff(pts[:, 1]))
    cum = np.concatenate(([0.0], np.cumsum(seg)))
    s = np.clip(s0 + max(speed, 0.0) * ts, 0.0, cum[-1])
    veh = np.column_stack((np.interp(s, cum, pts[:, 0]), np.interp(s, cum, pts[:, 1])))
    veh[0] = (state.x, state.y)
    for tr in movers:
        dt = ts + max(0.0, state.t - tr.t)
        ox, oy = tr.x + tr.vx * dt, tr.y + tr.vy * dt
        d = np.hypot(veh[:, 0] - ox, veh[:, 1] - oy)
        if (d < vehicle_radius + tr.radius + margin_m).any():
            return tr
    return None


def cluster_scan_numpy(pose, ranges, angle_min: float, angle_increment: float, max_range: float,
                       min_points: int = 3, gap_m: float = 0.3, gap_factor: float = 3.0,
                       max_radius: float = 3.0) -> list[tuple[float, float, float, int]]:
    """``tracking.cluster_scan`` the NumPy way (split with np.split, mean
    per cluster): (x, y, radius, n) per cluster.  The beam directions are
    the sensor-frame ones turned by the yaw (as the occupancy grid turns
    them)."""
    r = np.asarray(ranges, np.float64)
    px, py, yaw = (float(v) for v in pose)
    a = float(angle_min) + float(angle_increment) * np.arange(r.size, dtype=np.float64)
    cos_b, sin_b = np.cos(a), np.sin(a)
    cy, sy = math.cos(yaw), math.sin(yaw)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(r) & (r > 0) & (r < max_range)
    idx = np.flatnonzero(valid)
    if idx.size == 0:
        return []
    xs = px + r[idx] * (cos_b[idx] * cy - sin_b[idx] * sy)
    ys = py + r[idx] * (sin_b[idx] * cy + cos_b[idx] * sy)
    d = np.hypot(np.diff(xs), np.diff(ys))
    thr = np.maximum(gap_m, gap_factor * r[idx[:-1]] * abs(angle_increment) * np.diff(idx))
    breaks = np.flatnonzero((d > thr) | (np.diff(idx) > 2)) + 1
    out = []
    for seg in np.split(np.arange(idx.size), breaks):
        if seg.size < min_points:
            continue
        cx, cy = xs[seg].mean(), ys[seg].mean()
        rad = 0.5 * math.hypot(xs[seg[-1]] - xs[seg[0]], ys[seg[-1]] - ys[seg[0]])
        if rad > max_radius:
            continue
        los = math.hypot(cx - px, cy - py)
        if los > 1e-9:
            k = (2.0 / math.pi) * rad / los
            cx += (cx - px) * k
            cy += (cy - py) * k
        out.append((float(cx), float(cy), float(rad), int(seg.size)))
    return out


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


class NumpyTracker:
    """The multi-object tracker written with NumPy matrices, one track at a
    time (the oracle of ``perception._kernels.track_update_kernel``; same
    parameters and ``update`` / ``tracks`` as ``tracking.MultiObjectTracker``)."""

    def __init__(self, accel_std: float = 0.5, meas_std: float = 0.15, gate: float = 9.21,
                 confirm_hits: int = 3, max_misses: int = 8, tentative_misses: int = 2,
                 init_speed_std: float = 2.0):
        self.q = accel_std ** 2
        self.R = np.eye(2) * meas_std ** 2
        self.gate = gate
        self.confirm_hits = confirm_hits
        self.max_misses = max_misses
        self.tentative_misses = tentative_misses
        self.init_vel_var = init_speed_std ** 2
        self._tracks: list[_KF] = []
        self._next_id = 1

    def _predict(self, k: _KF, t: float) -> None:
        dt = t - k.t
        if dt <= 0:
            return
        F = np.eye(4)
        F[0, 2] = F[1, 3] = dt
        q = self.q
        dt2, dt3, dt4 = dt * dt, dt ** 3, dt ** 4
        Q = q * np.array([[dt4 / 4, 0, dt3 / 2, 0], [0, dt4 / 4, 0, dt3 / 2],
                          [dt3 / 2, 0, dt2, 0], [0, dt3 / 2, 0, dt2]])
        k.x = F @ k.x
        k.P = F @ k.P @ F.T + Q
        k.t = t

    def update(self, t: float, det: np.ndarray):
        """``det`` (N, 3) [x, y, radius]; returns ``tracks()``."""
        det = np.asarray(det, np.float64).reshape(-1, 3)
        z, rad = det[:, :2], det[:, 2]
        for k in self._tracks:
            self._predict(k, t)
        nt, nd = len(self._tracks), len(z)
        cost = np.full((nt, nd), np.inf)
        covers = np.zeros((nt, nd), bool)
        for i, k in enumerate(self._tracks):
            S = k.P[:2, :2] + self.R
            Si = np.linalg.inv(S)
            dz = z - k.x[:2]
            d2 = np.einsum("ni,ij,nj->n", dz, Si, dz)
            cost[i] = np.where(d2 <= self.gate, d2, np.inf)
            covers[i] = np.hypot(dz[:, 0], dz[:, 1]) < rad + k.radius
        conf = np.array([k.confirmed for k in self._tracks], bool)
        merged = (covers & conf[:, None]).sum(axis=0) >= 2 if nt else np.zeros(nd, bool)
        cost[:, merged] = np.inf
        coasting = covers[:, merged].any(axis=1) if nt else np.zeros(0, bool)
        pairs = []
        if nt and nd:
            order = np.argsort(cost, axis=None, kind="stable")
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
                self._tracks.append(_KF(self._next_id, t, z[j], float(rad[j]), self.R[0, 0], self.init_vel_var))
                self._next_id += 1
        return self.tracks()

    def tracks(self):
        """[(id, x, y, vx, vy, P, radius, confirmed, hits, misses)]"""
        return [(k.id, *k.x.tolist(), k.P.copy(), k.radius, k.confirmed, k.hits, k.misses) for k in self._tracks]


def near_shape_numpy(pts: np.ndarray, kind: float, reach: float, ax: float, ay: float, bx: float,
                     by: float) -> np.ndarray:
    """The points (N, 2) strictly within ``reach`` of one hold-back shape
    (a row of ``_kernels.hold_near_tracks_kernel``'s shapes): kind 1 the
    point (bx, by), kind 2 the segment a-b; any other kind holds none."""
    if kind == 1.0:
        return np.hypot(pts[:, 0] - bx, pts[:, 1] - by) < reach
    if kind != 2.0:
        return np.zeros(len(pts), bool)
    dx, dy = bx - ax, by - ay
    L2 = dx * dx + dy * dy
    if L2 <= 1e-12:
        d = np.hypot(pts[:, 0] - ax, pts[:, 1] - ay)
    else:
        u = np.clip(((pts[:, 0] - ax) * dx + (pts[:, 1] - ay) * dy) / L2, 0.0, 1.0)
        d = np.hypot(pts[:, 0] - (ax + u * dx), pts[:, 1] - (ay + u * dy))
    return d < reach


def near_unsettled_tracks_numpy(pts: np.ndarray, tracks, margin_m: float, settle_hits: int,
                                min_moving_speed: float) -> np.ndarray:
    """``Perception._near_unsettled_tracks`` the NumPy way (the oracle of
    ``_kernels.hold_near_tracks_kernel``): per track, the points within its
    radius + ``margin_m`` of it (not settled yet) or of its path over the
    last two seconds (moving)."""
    hold = np.zeros(len(pts), bool)
    for t in tracks:
        reach = t.radius + margin_m
        if not t.confirmed or t.hits < settle_hits:
            hold |= near_shape_numpy(pts, 1.0, reach, t.x, t.y, t.x, t.y)
        elif t.speed >= min_moving_speed:
            hold |= near_shape_numpy(pts, 2.0, reach, t.x - 2.0 * t.vx, t.y - 2.0 * t.vy, t.x, t.y)
    return hold
