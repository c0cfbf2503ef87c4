"""Simulated 2-D lidar: a numba raycaster against the ground-truth world.

The world is a fine raster (bool ``occupied`` (rows, cols), row 0 = south
edge, ``resolution`` m/cell, south-west corner at ``origin``) plus dynamic
circular obstacles as an (N, 3) float64 array [x, y, radius] in the map
frame (ENU metres).  ``raycast`` is a pure function of those; ``Lidar`` adds
the sensor's beam layout, noise, dropouts and rate and produces
``vehicle.types.LaserScan`` in the sensor frame (x forward, y left).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

# each beam's direction: its unit vector turned by the yaw, the vehicle's own rule
from edgepilot.vehicle.perception._kernels import beam_direction as _beam_direction
from edgepilot.vehicle.types import LaserScan


@njit(cache=True, inline="always")
def _axis_walk(g, cell, d):
    """One axis of the Amanatides-Woo walk from coordinate ``g`` [cells] in
    ``cell`` along direction component ``d``: (step, ray parameter of the
    first cell boundary, parameter between boundaries)."""
    if d > 0.0:
        return 1, (cell + 1 - g) / d, 1.0 / d
    if d < 0.0:
        return -1, (g - cell) / -d, -1.0 / d
    return 0, np.inf, np.inf


@njit(cache=True)
def _circle_terms(circles, px, py):
    """Per circle of ``circles`` (N, 3) [x, y, radius], the beam-independent
    terms of the ray test from (px, py): (px - x, py - y, squared distance
    less squared radius), computed once per scan."""
    pre = np.empty((circles.shape[0], 3))
    for j in range(circles.shape[0]):
        cx = px - circles[j, 0]
        cy = py - circles[j, 1]
        rad = circles[j, 2]
        pre[j, 0] = cx
        pre[j, 1] = cy
        pre[j, 2] = cx * cx + cy * cy - rad * rad
    return pre


@njit(cache=True, inline="always")
def _circles_hit(pre, beams, dx, dy):
    """Distance [m] along the unit direction (dx, dy) from the point the
    terms ``pre`` (``_circle_terms``) were taken at to the nearest circle
    of those whose bit is set in ``beams`` (-1: all of them): 0 when the
    point is inside one, inf when the ray meets none.  The circles are
    tried in index order."""
    best = np.inf
    for j in range(pre.shape[0]):
        if beams != -1:
            if (beams >> j) == 0:
                break                       # no candidate left
            if not (beams >> j) & 1:
                continue
        b = dx * pre[j, 0] + dy * pre[j, 1]
        disc = b * b - pre[j, 2]
        if disc < 0.0:
            continue
        sq = math.sqrt(disc)
        t0 = -b - sq
        if t0 >= 0.0:
            if t0 < best:
                best = t0
        elif -b + sq >= 0.0:
            best = 0.0
    return best


#: The angular margin [rad] ``_circle_beams`` adds on each side of a circle.
_BEAM_MARGIN = 1e-6


def _beam_units(angles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cos, sin) of the sensor-frame beam ``angles`` (float64 (N,)), the
    unit vectors the kernels rotate by the sensor's yaw."""
    return np.cos(angles), np.sin(angles)


@njit(cache=True)
def _circle_beams(pre, circles, yaw, angles):
    """Which circles each beam can meet: (N,) int64 bit masks (bit j:
    circle j) for beams along map-frame angles yaw + angles[i], or an
    empty array when every beam must try every circle (more than 62
    circles, angles not strictly increasing within one turn, or a yaw
    or first angle beyond 1000 rad).

    A circle of radius r whose centre lies D > 1.01 r from the sensor
    spans the bearings within asin(r / D) of its centre's bearing; along
    any other bearing the ray test's discriminant is negative (the line
    misses) or both crossings lie behind the sensor, so the circle cannot
    change the beam's range.  With ``_BEAM_MARGIN`` on each side that
    stays true under rounding: of the bearings here (well below 1e-12
    rad with yaw and angles within 1000 rad), of the ray test, and of
    the beams' directions (``_beam_direction``: within 1e-15, a few ulp,
    of the unit vector at the exact angle yaw + angles[i], in angle and
    in length); a circle the sensor is in or nearly in (D <= 1.01 r) is
    a candidate for every beam."""
    n = angles.shape[0]
    k = pre.shape[0]
    none = np.zeros(0, np.int64)
    if k > 62 or n == 0:
        return none
    increasing = True
    for i in range(n - 1):
        increasing &= angles[i] < angles[i + 1]      # (no early exit: the loop vectorises, 4x faster)
    if not increasing:
        return none
    a0 = angles[0]
    turn = 2.0 * math.pi
    if not (angles[n - 1] - a0 < turn and abs(yaw) <= 1e3 and abs(a0) <= 1e3):
        return none                         # (and no bearing far from zero: the margin covers its rounding)
    masks = np.zeros(n, np.int64)
    for j in range(k):
        bit = np.int64(1) << j
        rad = circles[j, 2]
        dd = math.hypot(pre[j, 0], pre[j, 1])
        if not dd > 1.01 * rad:             # in or nearly in it (or NaN): every beam
            for i in range(n):
                masks[i] |= bit
            continue
        half = math.asin(rad / dd) + _BEAM_MARGIN
        # the centre's bearing in the sensor frame, moved into [a0, a0 + 2 pi)
        lo = math.atan2(-pre[j, 1], -pre[j, 0]) - yaw - half
        lo = a0 + ((lo - a0) % turn)
        hi = lo + 2.0 * half
        for i in range(np.searchsorted(angles, lo), np.searchsorted(angles, hi, side="right")):
            masks[i] |= bit
        if hi - turn >= a0:                 # the span wraps past a0 + 2 pi
            for i in range(0, np.searchsorted(angles, hi - turn, side="right")):
                masks[i] |= bit
    return masks


@njit(cache=True)
def _raycast_kernel(occ, res, ox, oy, circles, px, py, yaw, angles, cos_a, sin_a, max_range, out):
    """out[i] = distance [m] from (px, py) along map-frame angle
    yaw + angles[i] to the first occupied cell boundary or circle, or inf
    when nothing lies within max_range.  A ray starting inside an obstacle
    gives 0.  occ bool or uint8 (H, W); circles float64 (N, 3); cos_a,
    sin_a: cos and sin of ``angles`` (``_beam_units``), each beam's
    direction their rotation by the yaw (``_beam_direction``)."""
    h, w = occ.shape
    inv = 1.0 / res
    gx = (px - ox) * inv                    # grid-frame position, cells
    gy = (py - oy) * inv
    pre = _circle_terms(circles, px, py)
    beams = _circle_beams(pre, circles, yaw, angles) if pre.shape[0] else np.zeros(0, np.int64)
    every = beams.shape[0] == 0
    cos_yaw = math.cos(yaw)
    sin_yaw = math.sin(yaw)
    for i in range(angles.shape[0]):
        dx, dy = _beam_direction(cos_a[i], sin_a[i], cos_yaw, sin_yaw)
        best = _circles_hit(pre, -1 if every else beams[i], dx, dy)   # circles first: they bound the grid walk
        limit = min(best, max_range) * inv        # in cells
        # Amanatides-Woo walk over the raster, in cells.
        col = int(math.floor(gx))
        row = int(math.floor(gy))
        if col < 0 or row < 0 or col >= w or row >= h:
            out[i] = best if best <= max_range else np.inf
            continue
        sx, tmx, tdx = _axis_walk(gx, col, dx)
        sy, tmy, tdy = _axis_walk(gy, row, dy)
        t = 0.0
        hit_t = np.inf
        while t <= limit:
            if occ[row, col]:
                hit_t = t
                break
            if tmx < tmy:
                t = tmx
                tmx += tdx
                col += sx
                if col < 0 or col >= w:
                    break
            else:
                t = tmy
                tmy += tdy
                row += sy
                if row < 0 or row >= h:
                    break
        d = min(hit_t * res, best)
        out[i] = d if d <= max_range else np.inf


@njit(cache=True)
def _raycast_skip_kernel(occ, dist, res, ox, oy, circles, px, py, yaw, angles, cos_a, sin_a, max_range, out):
    """``_raycast_kernel`` that leaps over free space: ``dist`` float32 (H, W)
    is each cell centre's distance [m] to the nearest occupied cell centre
    (the world's distance transform).  From a point in a cell whose
    centre lies d cells from every occupied centre, no occupied cell's
    square is within d - sqrt(2) cells along any direction, so the ray
    jumps d - sqrt(2) - 0.5 cells at once; near obstacles it walks cell by
    cell (Amanatides-Woo) from the point it reached.  The first occupied
    cell a ray enters is the one the walk alone finds; its distance is
    computed from the jump point instead of summed step by step, so it
    agrees with ``_raycast_kernel`` to float rounding (the NumPy oracle in
    tests/test_lidar_raycast.py checks both).  Every ray's first leap is
    the one from the sensor's cell: taken once per scan, and a ray whose
    first leap already passes its limit walks no further (as it would
    not: it ends there without a hit)."""
    h, w = occ.shape
    inv = 1.0 / res
    gx = (px - ox) * inv
    gy = (py - oy) * inv
    lead = math.sqrt(2.0) + 0.5          # what a jump leaves to the walk [cells]
    pre = _circle_terms(circles, px, py)
    beams = _circle_beams(pre, circles, yaw, angles) if pre.shape[0] else np.zeros(0, np.int64)
    every = beams.shape[0] == 0
    cos_yaw = math.cos(yaw)
    sin_yaw = math.sin(yaw)
    # the sensor's cell, and where every ray's first leap from it ends (t = 0.0 + d, that is d;
    # no leap when d <= 1): the same for every beam
    col0 = int(math.floor(gx))
    row0 = int(math.floor(gy))
    inside = not (col0 < 0 or row0 < 0 or col0 >= w or row0 >= h)
    first = dist[row0, col0] * inv - lead if inside else 0.0
    if not first > 1.0:
        first = -1.0                     # (no leap: no ray ends at it)
    for i in range(angles.shape[0]):
        dx, dy = _beam_direction(cos_a[i], sin_a[i], cos_yaw, sin_yaw)
        best = _circles_hit(pre, -1 if every else beams[i], dx, dy)
        limit = min(best, max_range) * inv
        if not inside or first > limit:     # off the raster, or the first leap passes the limit: no hit
            out[i] = best if best <= max_range else np.inf
            continue
        col = col0
        row = row0
        t = 0.0
        hit_t = np.inf
        done = False
        while not done:
            # leap while the cell is far from every obstacle
            d = dist[row, col] * inv - lead
            if d > 1.0:
                t += d
                if t > limit:
                    break
                col = int(math.floor(gx + t * dx))
                row = int(math.floor(gy + t * dy))
                if col < 0 or row < 0 or col >= w or row >= h:
                    break
                continue
            # walk from the point at t until a hit, the limit, the edge or open space again
            sx, tmx, tdx = _axis_walk(gx + t * dx, col, dx)
            sy, tmy, tdy = _axis_walk(gy + t * dy, row, dy)
            tmx += t
            tmy += t
            while True:
                if t > limit:
                    done = True
                    break
                if occ[row, col]:
                    hit_t = t
                    done = True
                    break
                if tmx < tmy:
                    t = tmx
                    tmx += tdx
                    col += sx
                    if col < 0 or col >= w:
                        done = True
                        break
                else:
                    t = tmy
                    tmy += tdy
                    row += sy
                    if row < 0 or row >= h:
                        done = True
                        break
                if dist[row, col] * inv - lead > 2.0:
                    break
        d = min(hit_t * res, best)
        out[i] = d if d <= max_range else np.inf


@njit(cache=True)
def _scan_kernel(occ, dist, res, ox, oy, circles, px, py, yaw, angles, cos_a, sin_a, max_range, min_range,
                 noise_std, z, drop_u, dropout, out):
    """One lidar scan into ``out`` (float32): the exact ranges of
    ``_raycast_skip_kernel`` (``_raycast_kernel`` when ``dist`` is empty),
    plus the range noise ``0.0 + noise_std * z[i]`` [m] (``z``: standard
    normal draws, float64; the noise is what ``Generator.normal(0.0,
    noise_std)`` makes of the same draws, rounded to float32 and added in
    float32; empty: none), then: +inf at or beyond ``max_range``, -inf
    below ``min_range`` (both compared in float32), NaN where ``drop_u[i] <
    dropout`` (empty: no dropouts).  The same numbers the NumPy steps
    ``r + rng.normal(0.0, noise_std, n).astype(float32)``, the two masks
    and the dropout mask give (``Lidar.scan`` before this kernel; the
    oracle is in tests/test_lidar_raycast.py)."""
    if dist.shape[0] == 0:
        _raycast_kernel(occ, res, ox, oy, circles, px, py, yaw, angles, cos_a, sin_a, max_range, out)
    else:
        _raycast_skip_kernel(occ, dist, res, ox, oy, circles, px, py, yaw, angles, cos_a, sin_a, max_range, out)
    hi = np.float32(max_range)
    lo = np.float32(min_range)
    for i in range(out.shape[0]):
        r = out[i]
        if z.shape[0] != 0:
            r = r + np.float32(0.0 + noise_std * z[i])
        if math.isfinite(r):
            if r >= hi:
                r = np.float32(np.inf)
            elif r < lo:
                r = np.float32(-np.inf)
        if drop_u.shape[0] != 0 and drop_u[i] < dropout:
            r = np.float32(np.nan)
        out[i] = r


_NO_DISTANCE = np.zeros((0, 0), np.float32)
_NO_CIRCLES = np.zeros((0, 3), np.float64)
_NO_DRAWS = np.zeros(0, np.float64)
_BOOL, _UINT8, _FLOAT32, _FLOAT64 = np.dtype(np.bool_), np.dtype(np.uint8), np.dtype(np.float32), np.dtype(np.float64)


def _circle_input(circles):
    """``circles`` as the kernels take them: float64 (K, 3) C-contiguous
    (``_NO_CIRCLES`` when None or empty)."""
    if circles is None:
        return _NO_CIRCLES
    circ = circles
    if not (isinstance(circ, np.ndarray) and circ.dtype == _FLOAT64 and circ.flags.c_contiguous):
        circ = np.ascontiguousarray(circ, dtype=np.float64)
    if circ.size == 0:
        circ = _NO_CIRCLES
    if circ.ndim != 2 or circ.shape[1] != 3:
        raise ValueError(f"circles must be an (N, 3) array of [x, y, radius], got shape {circ.shape}")
    return circ


def _raster_inputs(occupied, resolution: float, circles, distance, max_range: float):
    """Validated kernel inputs: (occupancy bool/uint8 C-contiguous, distance
    float32 (empty when None), circles float64 (K, 3))."""
    occ = occupied if isinstance(occupied, np.ndarray) else np.asarray(occupied)
    if occ.ndim != 2 or occ.size == 0:
        raise ValueError(f"occupied must be a non-empty 2-D array, got shape {occ.shape}")
    if not ((occ.dtype == _BOOL or occ.dtype == _UINT8) and occ.flags.c_contiguous):
        occ = np.ascontiguousarray(occ) if occ.dtype == _BOOL else np.ascontiguousarray(occ, dtype=np.uint8)
    if not (resolution > 0):
        raise ValueError(f"resolution must be > 0 m/cell, got {resolution!r}")
    if not (max_range > 0):
        raise ValueError(f"max_range must be > 0 m, got {max_range!r}")
    circ = _circle_input(circles)
    if distance is None:
        return occ, _NO_DISTANCE, circ
    dist = distance if isinstance(distance, np.ndarray) else np.asarray(distance)
    if dist.shape != occ.shape or dist.dtype != _FLOAT32:
        raise ValueError(f"distance must be a float32 array shaped like occupied {occ.shape}, "
                         f"got {dist.dtype} {dist.shape}")
    return occ, (dist if dist.flags.c_contiguous else np.ascontiguousarray(dist)), circ


def _finite_pose(pose) -> tuple[float, float, float]:
    px, py, yaw = pose
    px, py, yaw = float(px), float(py), float(yaw)
    if not (math.isfinite(px) and math.isfinite(py) and math.isfinite(yaw)):
        raise ValueError(f"pose must be finite (x, y, yaw), got {pose!r}")
    return px, py, yaw


def raycast(occupied: np.ndarray, resolution: float, origin, circles: np.ndarray | None,
            pose, angles: np.ndarray, max_range: float, distance: np.ndarray | None = None) -> np.ndarray:
    """Exact ranges [m] (float32, inf = nothing within ``max_range``) from
    ``pose`` = (x, y, yaw) in the map frame along sensor-frame ``angles``
    [rad] against the raster and the circles (see the module docstring),
    each beam along the unit vector of its angle rotated by the yaw.
    ``distance``: float32 (same shape) distance [m] from each cell centre
    to the nearest occupied cell centre (``SimWorld.distance``); with it
    the rays leap over open space (``_raycast_skip_kernel``)."""
    occ, dist, circ = _raster_inputs(occupied, resolution, circles, distance, max_range)
    ang = np.ascontiguousarray(angles, dtype=np.float64)
    if ang.ndim != 1:
        raise ValueError(f"angles must be 1-D, got shape {ang.shape}")
    px, py, yaw = _finite_pose(pose)
    cos_a, sin_a = _beam_units(ang)
    out = np.empty(ang.size, np.float32)
    if distance is None:
        _raycast_kernel(occ, float(resolution), float(origin[0]), float(origin[1]), circ, px, py, yaw,
                        ang, cos_a, sin_a, float(max_range), out)
        return out
    _raycast_skip_kernel(occ, dist, float(resolution), float(origin[0]), float(origin[1]),
                         circ, px, py, yaw, ang, cos_a, sin_a, float(max_range), out)
    return out


@dataclass(frozen=True)
class LidarSpec:
    """A planar lidar: ``beams`` over ``fov_deg`` centred on the sensor's
    forward axis, ranges in [``min_range``, ``max_range``] m, Gaussian range
    noise ``noise_std`` m, independent dropouts with probability
    ``dropout`` (reported as NaN), ``rate_hz`` scans per second, mounted at
    (``mount_x``, ``mount_y``) m in the vehicle frame, looking along the
    vehicle's forward axis rotated by ``mount_yaw`` rad."""

    beams: int = 360
    fov_deg: float = 270.0
    max_range: float = 30.0
    min_range: float = 0.1
    noise_std: float = 0.01
    dropout: float = 0.0
    rate_hz: float = 10.0
    mount_x: float = 0.0
    mount_y: float = 0.0
    mount_yaw: float = 0.0

    def __post_init__(self):
        if self.beams < 1:
            raise ValueError(f"lidar beams must be >= 1, got {self.beams}")
        if not (0 < self.fov_deg <= 360):
            raise ValueError(f"lidar fov_deg must be in (0, 360], got {self.fov_deg}")
        if not (0 <= self.min_range < self.max_range):
            raise ValueError(f"lidar needs 0 <= min_range < max_range, got {self.min_range}, {self.max_range}")
        if self.noise_std < 0 or not (0 <= self.dropout <= 1):
            raise ValueError("lidar noise_std must be >= 0 and dropout in [0, 1]")
        if self.rate_hz <= 0:
            raise ValueError(f"lidar rate_hz must be > 0, got {self.rate_hz}")

    @property
    def angle_increment(self) -> float:
        fov = math.radians(self.fov_deg)
        if self.beams == 1:
            return 0.0
        # a full circle does not repeat its first beam
        return fov / self.beams if self.fov_deg == 360 else fov / (self.beams - 1)

    @property
    def angle_min(self) -> float:
        return -0.5 * math.radians(self.fov_deg) if self.fov_deg < 360 else -math.pi

    def angles(self) -> np.ndarray:
        return self.angle_min + self.angle_increment * np.arange(self.beams)


class ScanRaster:
    """The raster ``Lidar.scan`` takes (``occupied``, ``resolution``,
    ``origin``, ``distance``) checked and converted once, as ``scan`` checks
    and converts it (the same errors), for ``Lidar.scan_raster`` to scan
    many times.  Its arrays are the caller's own when they already were
    what the kernels take (bool/uint8 and float32, C-contiguous), so the
    scans read them as they are at the time."""

    __slots__ = ("occupied", "distance", "resolution", "origin_x", "origin_y")

    def __init__(self, occupied: np.ndarray, resolution: float, origin, distance: np.ndarray | None = None):
        # (max_range inf: there is no range to check here, the lidar's own is checked by its spec)
        self.occupied, self.distance, _ = _raster_inputs(occupied, resolution, None, distance, math.inf)
        self.resolution, self.origin_x, self.origin_y = float(resolution), float(origin[0]), float(origin[1])


class Lidar:
    """A simulated lidar producing ``LaserScan`` at ``spec.rate_hz``."""

    def __init__(self, spec: LidarSpec, rng: np.random.Generator):
        self._spec = spec
        self.rng = rng
        self._angles = spec.angles()
        self._cos_a, self._sin_a = _beam_units(self._angles)      # the fixed beams' unit vectors
        self._angle_min, self._angle_increment = spec.angle_min, spec.angle_increment
        self._next_t = 0.0
        # what a scan reads of the spec, taken once (the spec is frozen and
        # ``spec`` read-only): the scan period [s], the mount, and the
        # kernel's float arguments
        self._period = 1.0 / spec.rate_hz
        self._mount = (spec.mount_x, spec.mount_y, spec.mount_yaw)
        self._ranges = (float(spec.max_range), float(spec.min_range), float(spec.noise_std), float(spec.dropout))

    @property
    def spec(self) -> LidarSpec:
        return self._spec

    def due(self, t: float) -> bool:
        """True when a scan is due at simulated time ``t`` [s]."""
        return t + 1e-9 >= self._next_t

    def sensor_pose(self, vehicle_pose) -> tuple[float, float, float]:
        x, y, yaw = vehicle_pose
        c, s = math.cos(yaw), math.sin(yaw)
        mx, my, myaw = self._mount
        return x + c * mx - s * my, y + s * mx + c * my, yaw + myaw

    def scan(self, t: float, vehicle_pose, occupied: np.ndarray, resolution: float, origin,
             circles: np.ndarray | None = None, distance: np.ndarray | None = None) -> LaserScan:
        """One scan at time ``t`` from the vehicle pose (map frame).  Ranges
        are relative to the sensor; no return is +inf, a dropout NaN,
        anything closer than ``min_range`` -inf (too close, REP 117).
        ``distance``: the raster's distance transform (see ``raycast``)."""
        return self._scan(t, vehicle_pose, None, circles, occupied, resolution, origin, distance)

    def scan_raster(self, t: float, vehicle_pose, raster: ScanRaster,
                    circles: np.ndarray | None = None) -> LaserScan:
        """``scan`` against a raster checked once (``ScanRaster``), for a
        caller that scans the same raster many times: the same scan, clock
        and draws as ``scan`` with the raster's arrays and numbers (the
        circles and the pose are checked per scan)."""
        return self._scan(t, vehicle_pose, raster, circles, None, None, None, None)

    def _scan(self, t, vehicle_pose, raster, circles, occupied, resolution, origin, distance) -> LaserScan:
        """``scan`` (``raster`` None: validate ``occupied`` ... ``distance``)
        or ``scan_raster``."""
        nt = self._next_t + self._period
        self._next_t = t if t > nt else nt              # max(nt, t)
        max_range, min_range, noise_std, dropout = self._ranges
        if raster is None:
            occ, dist, circ = _raster_inputs(occupied, resolution, circles, distance, max_range)
        else:
            occ, dist, circ = raster.occupied, raster.distance, _circle_input(circles)
        px, py, yaw = _finite_pose(self.sensor_pose(vehicle_pose))
        # the random draws in the order they always came: range noise, then
        # dropouts (the standard normal draws ``normal(0.0, noise_std, n)``
        # takes, scaled in the kernel as it scales them)
        rng = self.rng
        n = self._angles.size
        z = rng.standard_normal(n) if noise_std > 0 else _NO_DRAWS
        u = rng.random(n) if dropout > 0 else _NO_DRAWS
        if raster is None:      # (scan's numbers taken where they always were: after the draws)
            res, ox, oy = float(resolution), float(origin[0]), float(origin[1])
        else:
            res, ox, oy = raster.resolution, raster.origin_x, raster.origin_y
        r = np.empty(n, _FLOAT32)
        _scan_kernel(occ, dist, res, ox, oy, circ, px, py, yaw, self._angles, self._cos_a, self._sin_a, max_range,
                     min_range, noise_std, z, u, dropout, r)
        return LaserScan(float(t), self._angle_min, self._angle_increment, self._spec.max_range, r)


def warm_kernels() -> None:
    """Compile (or load from numba's cache) the raycaster for both raster
    dtypes."""
    for occ in (np.zeros((4, 4), bool), np.zeros((4, 4), np.uint8)):
        raycast(occ, 0.1, (0.0, 0.0), np.array([[0.3, 0.2, 0.05]]), (0.1, 0.1, 0.0),
                np.zeros(2), 1.0)
        raycast(occ, 0.1, (0.0, 0.0), np.array([[0.3, 0.2, 0.05]]), (0.1, 0.1, 0.0),
                np.zeros(2), 1.0, np.full((4, 4), 1.0, np.float32))
        for dist in (None, np.full((4, 4), 1.0, np.float32)):
            Lidar(LidarSpec(beams=2, max_range=1.0, noise_std=0.01, dropout=0.1), np.random.default_rng(0)).scan(
                0.0, (0.1, 0.1, 0.0), occ, 0.1, (0.0, 0.0), np.array([[0.3, 0.2, 0.05]]), dist)
