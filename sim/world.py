"""The simulated world: a fine occupancy raster of ground truth, the prior
map the vehicle is given, and footprint collision/clearance queries.

Every obstacle — polygons, circles and a map_server base layer — is drawn
into ONE shared raster at ``world.resolution`` (not one full-size raster per
obstacle): each cell holds the *level* of the earliest-present thing that
covers it (1 the outer wall and the map, 2 obstacles on the vehicle's map
from the start, 3.. one level per distinct ``appear_at_s`` of the rest), so
the truth at time t is ``0 < level <= L(t)`` and the prior map
``0 < level <= 2``.  The world's outer bounds are a wall.  A Euclidean
distance transform of the truth answers clearance queries for the vehicle's
rectangular footprint.

Memory is bounded before anything is allocated: :func:`raster_estimate`
computes, from the geometry alone, the bytes the run's rasters take at their
peak (the simulator's world, the vehicle's planning and mapping grids at the
planning resolution, a map_server image, the report's picture), and
:func:`check_raster_budget` refuses a scenario above the budget with a
ConfigError (exit 2) naming the sizes and the budget.  The budget is
``world.raster_budget_mib`` in the scenario, else the environment variable
``EDGEPILOT_RASTER_BUDGET_MIB``, else :data:`DEFAULT_RASTER_BUDGET_MIB`.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgepilot.sim._kernels import footprint_clearance_kernel
from edgepilot.sim.scenario import Scenario
from edgepilot.vehicle.config import ConfigError
from edgepilot.vehicle.distance_transform import distance_cells
from edgepilot.vehicle.maps import MAP_BYTES_PER_PIXEL, GridMap, MapFileError, load_map_server, map_image_shape

#: Default memory budget for all the rasters one run allocates.
DEFAULT_RASTER_BUDGET_MIB = 512
ENV_RASTER_BUDGET = "EDGEPILOT_RASTER_BUDGET_MIB"
#: Peak bytes per world cell and per planning-resolution cell, calibrated
#: on a whole `edgepilot sitl run` (ugv_yard grown to 240 x 160 m at 0.05 m:
#: 15.4 M world cells and 3.8 M planning cells peaked 1.7 GB above the
#: shipped yard).  World: the shared level raster, truth, the distance
#: transform and OpenCV's buffers, the lidar's view of them, and the
#: report's second world and RGB picture.  Planning: the vehicle's inflated
#: costmap, its distance field and search buffers, the lidar mapper's grids.
WORLD_BYTES_PER_CELL = 80
PLAN_BYTES_PER_CELL = 128
_FLOAT64 = np.dtype(np.float64)


@dataclass(frozen=True)
class RasterEstimate:
    world_shape: tuple[int, int]
    resolution: float
    plan_shape: tuple[int, int]
    plan_resolution: float
    map_pixels: int
    bytes: int

    def describe(self) -> str:
        r, c = self.world_shape
        pr, pc = self.plan_shape
        s = (f"world raster {c} x {r} cells at {self.resolution:g} m, planning grid {pc} x {pr} cells at "
             f"{self.plan_resolution:g} m")
        if self.map_pixels:
            s += f", map image {self.map_pixels} pixels"
        return s + f": about {_mib(self.bytes)} at peak"


def _mib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def _map_pixels(path: Path) -> int:
    """Width x height of a map_server image, from its header only; 0 when it
    cannot be told (loading the map names the problem later)."""
    try:
        shape = map_image_shape(path)
    except MapFileError:
        return 0
    return shape[0] * shape[1] if shape else 0


def raster_estimate(scenario: Scenario) -> RasterEstimate:
    """Peak bytes of the rasters a run of ``scenario`` allocates, from its
    geometry alone (nothing is allocated)."""
    w = scenario.world
    xmin, ymin, xmax, ymax = w.bounds
    shape = (int(math.ceil((ymax - ymin) / w.resolution)), int(math.ceil((xmax - xmin) / w.resolution)))
    vc = scenario.vehicle_config
    plan_res = float(vc.planning.resolution) if vc is not None else w.resolution
    factor = max(1, int(round(plan_res / w.resolution)))
    plan_res = w.resolution * factor
    plan_shape = (-(-shape[0] // factor), -(-shape[1] // factor))
    # The vehicle plans on a window (vehicle/planning_grid.py): its prior map
    # plus window_m / 8 on every side, or a window_m square without one.
    window = (vc.planning.window_m if vc is not None and vc.planning.window_m is not None
              else 1000 * plan_res)
    if w.prior_map:
        if w.prior_map_bounds is not None:
            a, b, c, d = w.prior_map_bounds
            plan_shape = (int(math.ceil((d - b) / plan_res)), int(math.ceil((c - a) / plan_res)))
        m = 2 * int(math.ceil(window / 8.0 / plan_res))
        plan_shape = (plan_shape[0] + m, plan_shape[1] + m)
    else:
        n = max(3, int(round(window / plan_res)))
        plan_shape = (n, n)
    pixels = _map_pixels(scenario.resolve(w.map)) if w.map else 0
    total = (shape[0] * shape[1] * WORLD_BYTES_PER_CELL + plan_shape[0] * plan_shape[1] * PLAN_BYTES_PER_CELL
             + pixels * MAP_BYTES_PER_PIXEL)
    return RasterEstimate(shape, w.resolution, plan_shape, plan_res, pixels, total)


def raster_budget(scenario: Scenario) -> tuple[int, str]:
    """(budget in bytes, where it came from)."""
    mib = getattr(scenario.world, "raster_budget_mib", None)
    if mib is not None:
        return int(mib * 2**20), "world.raster_budget_mib"
    env = os.environ.get(ENV_RASTER_BUDGET)
    if env:
        try:
            v = float(env)
        except ValueError:
            raise ConfigError(f"${ENV_RASTER_BUDGET}: expected a number of MiB, got {env!r}") from None
        if not (math.isfinite(v) and v > 0):
            raise ConfigError(f"${ENV_RASTER_BUDGET}: expected a positive number of MiB, got {env!r}")
        return int(v * 2**20), f"${ENV_RASTER_BUDGET}"
    return DEFAULT_RASTER_BUDGET_MIB * 2**20, "the default"


def check_raster_budget(scenario: Scenario) -> RasterEstimate:
    """Raise ConfigError (naming the sizes and the budget) when the run's
    rasters would not fit the budget; called before anything is allocated."""
    est = raster_estimate(scenario)
    budget, source = raster_budget(scenario)
    if est.bytes > budget:
        where = scenario.source or scenario.name
        raise ConfigError(
            f"{where}: world: {est.describe()}, over the raster budget of {_mib(budget)} ({source}); "
            f"use a coarser world.resolution, smaller world.bounds, or raise world.raster_budget_mib "
            f"(or ${ENV_RASTER_BUDGET}) if the machine has the memory")
    return est


class SimWorld:
    def __init__(self, scenario: Scenario):
        check_raster_budget(scenario)
        w = scenario.world
        self.spec = w
        xmin, ymin, xmax, ymax = w.bounds
        res = w.resolution
        self.resolution = res
        self.origin_x, self.origin_y = xmin, ymin
        cols = int(math.ceil((xmax - xmin) / res))
        rows = int(math.ceil((ymax - ymin) / res))
        self.shape = (rows, cols)
        self.obstacles = list(w.obstacles)
        # Levels: 1 wall/map, 2 mapped and present from the start, then one
        # level per distinct appear_at_s of every other obstacle.
        later = sorted({o.appear_at_s for o in self.obstacles if not (o.mapped and o.appear_at_s <= 0)})
        self._level_times = later                       # level 3 + i appears at later[i]
        self._obstacle_level = [2 if (o.mapped and o.appear_at_s <= 0) else 3 + later.index(o.appear_at_s)
                                for o in self.obstacles]
        dtype = np.uint8 if 3 + len(later) < 255 else np.uint16
        layer = np.zeros(self.shape, dtype)             # the ONE shared raster
        # Highest level first: a lower (earlier) level drawn later wins the cell.
        for i in sorted(range(len(self.obstacles)), key=lambda i: -self._obstacle_level[i]):
            self._draw(layer, self.obstacles[i], self._obstacle_level[i])
        if w.map:
            try:
                self._draw_map(layer, load_map_server(scenario.resolve(w.map)))
            except MapFileError as e:
                raise ConfigError(f"{scenario.source or scenario.name}: world.map: {e}") from None
        layer[0, :] = layer[-1, :] = 1
        layer[:, 0] = layer[:, -1] = 1
        self._layer = layer
        self.t_built = -1.0
        #: [lo, hi): the times over which what is present stays what the truth
        #: shows (``rebuild(t)`` for t in it changes nothing; empty before the first)
        self.stable = (math.inf, -math.inf)
        self._present = None
        self.moving = np.zeros((0, 3))   # (K, 3) [x, y, radius] moving circular obstacles (traffic)
        self.rebuild(0.0)

    # -------------------------------------------------------------- raster
    def _to_px(self, pts) -> np.ndarray:
        pts = np.asarray(pts, dtype=np.float64)
        px = (pts - [self.origin_x, self.origin_y]) / self.resolution
        return np.round(px * 16).astype(np.int32)  # 4 fractional bits for cv2

    def _draw(self, img: np.ndarray, o, value: int, offset=(0, 0)) -> None:
        """Draw obstacle ``o`` into ``img`` with ``value``; ``offset`` (col, row)
        is the world cell of img[0, 0] (for a crop)."""
        shift = np.array([offset[0] * 16, offset[1] * 16], np.int32)
        if o.type == "polygon":
            cv2.fillPoly(img, [self._to_px(o.points) - shift], int(value), lineType=cv2.LINE_8, shift=4)
        else:
            c = self._to_px([o.center])[0] - shift
            cv2.circle(img, (int(c[0]), int(c[1])), int(round(o.radius / self.resolution * 16)), int(value), -1,
                       lineType=cv2.LINE_8, shift=4)

    def obstacle_cells(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols) of the world cells obstacle ``i`` covers, rasterised
        into a crop of its bounding box only (never a full-size array)."""
        o = self.obstacles[i]
        if o.type == "polygon":
            pts = np.asarray(o.points, dtype=np.float64)
            lo, hi = pts.min(axis=0), pts.max(axis=0)
        else:
            lo = np.asarray(o.center, dtype=np.float64) - o.radius
            hi = np.asarray(o.center, dtype=np.float64) + o.radius
        c0 = max(0, int(math.floor((lo[0] - self.origin_x) / self.resolution)) - 1)
        r0 = max(0, int(math.floor((lo[1] - self.origin_y) / self.resolution)) - 1)
        c1 = min(self.shape[1], int(math.ceil((hi[0] - self.origin_x) / self.resolution)) + 2)
        r1 = min(self.shape[0], int(math.ceil((hi[1] - self.origin_y) / self.resolution)) + 2)
        if c1 <= c0 or r1 <= r0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        crop = np.zeros((r1 - r0, c1 - c0), np.uint8)
        self._draw(crop, o, 1, offset=(c0, r0))
        rr, cc = np.nonzero(crop)
        return rr + r0, cc + c0

    def _draw_map(self, layer: np.ndarray, m: GridMap) -> None:
        """Resample a map_server map into the world raster (nearest cell) as level 1."""
        rows, cols = self.shape
        ys = self.origin_y + (np.arange(rows) + 0.5) * self.resolution
        xs = self.origin_x + (np.arange(cols) + 0.5) * self.resolution
        mr = np.floor((ys - m.origin_y) / m.resolution).astype(int)
        mc = np.floor((xs - m.origin_x) / m.resolution).astype(int)
        vr = (mr >= 0) & (mr < m.shape[0])
        vc = (mc >= 0) & (mc < m.shape[1])
        rr, cc = np.nonzero(vr)[0], np.nonzero(vc)[0]
        for r in rr:                        # one row at a time: no full-size temporaries
            row = m.occupied[mr[r], mc[vc]]
            layer[r, cc[row]] = 1

    def _truth_level(self, t: float) -> int:
        return 2 + sum(1 for at in self._level_times if at <= t)

    def rebuild(self, t: float) -> bool:
        """Recompute the truth raster for obstacles present at time ``t``
        (t >= 0).  Returns True when it changed."""
        lo, hi = self.stable
        if lo <= t < hi:              # no appearance time crossed (called every physics step)
            return False
        present = tuple(o.appear_at_s <= t for o in self.obstacles)
        # what is present stays the same between consecutive appearance times
        times = [o.appear_at_s for o in self.obstacles]
        self.stable = (max((a for a in times if a <= t), default=-math.inf),
                       min((a for a in times if a > t), default=math.inf))
        if self._present == present:
            return False
        self._present = present
        # 0 < level <= L: with unsigned wrap-around, level - 1 < L.
        truth = np.less(self._layer - self._layer.dtype.type(1), self._truth_level(t))
        self.truth = GridMap(truth, self.resolution, self.origin_x, self.origin_y)
        dist = distance_cells(truth)
        dist *= self.resolution
        self.distance = dist
        return True

    def prior_map(self) -> GridMap:
        """What the vehicle is told before it starts: the base layer and the
        obstacles that are mapped and present from the start."""
        grid = np.less(self._layer - self._layer.dtype.type(1), 2)
        pb = self.spec.prior_map_bounds
        if pb is None:
            return GridMap(grid, self.resolution, self.origin_x, self.origin_y)
        # only part of the world was surveyed: crop (whole cells)
        c0, r0 = (int(round((pb[0] - self.origin_x) / self.resolution)),
                  int(round((pb[1] - self.origin_y) / self.resolution)))
        c1, r1 = (int(round((pb[2] - self.origin_x) / self.resolution)),
                  int(round((pb[3] - self.origin_y) / self.resolution)))
        return GridMap(np.ascontiguousarray(grid[r0:r1, c0:c1]), self.resolution,
                       self.origin_x + c0 * self.resolution, self.origin_y + r0 * self.resolution)

    def vehicle_prior_map(self) -> GridMap | None:
        """The prior map the vehicle is given: None when the scenario says
        ``world.prior_map = false``."""
        return self.prior_map() if self.spec.prior_map else None

    # ------------------------------------------------------------ queries
    def _cells(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = np.floor((ys - self.origin_y) / self.resolution).astype(np.int64)
        c = np.floor((xs - self.origin_x) / self.resolution).astype(np.int64)
        return np.clip(r, 0, self.shape[0] - 1), np.clip(c, 0, self.shape[1] - 1)

    def footprint_points(self, x: float, y: float, yaw: float, length: float, width: float,
                         interior: bool) -> np.ndarray:
        step = 0.5 * self.resolution
        nl = max(2, int(math.ceil(length / step)) + 1)
        nw = max(2, int(math.ceil(width / step)) + 1)
        ls = np.linspace(-length / 2, length / 2, nl)
        ws = np.linspace(-width / 2, width / 2, nw)
        if interior:
            a, b = np.meshgrid(ls, ws)
            a, b = a.ravel(), b.ravel()
        else:
            a = np.concatenate((ls, ls, np.full(nw, -length / 2), np.full(nw, length / 2)))
            b = np.concatenate((np.full(nl, -width / 2), np.full(nl, width / 2), ws, ws))
        cy, sy = math.cos(yaw), math.sin(yaw)
        return np.column_stack((x + a * cy - b * sy, y + a * sy + b * cy))

    def footprint_clearance(self, x: float, y: float, yaw: float, length: float, width: float) -> tuple[float, bool]:
        """(clearance [m], collided) for a length x width rectangle centred at
        (x, y) with heading ``yaw``.  Clearance is the distance from the
        footprint's edge to the nearest obstacle cell's edge, to within half
        a cell; 0 with collided=True when any part overlaps an obstacle.

        One numba kernel (``sim._kernels.footprint_clearance_kernel``, the
        NumPy oracle is ``sim._reference.footprint_clearance_numpy``): the
        footprint sampled every half cell, its interior against the truth,
        its edge against the distance transform and the moving circles."""
        x, y, yaw, length, width = float(x), float(y), float(yaw), float(length), float(width)
        if not (length > 0.0 and width > 0.0 and math.isfinite(x + y + yaw + length + width)):
            raise ValueError(f"footprint_clearance: expected finite (x, y, yaw) and length, width > 0 m, "
                             f"got ({x}, {y}, {yaw}), {length} x {width}")
        step = 0.5 * self.resolution
        nl = math.ceil(length / step) + 1       # max(2, ...) as comparisons (an int: both are finite)
        if nl < 2:
            nl = 2
        nw = math.ceil(width / step) + 1
        if nw < 2:
            nw = 2
        moving = self.moving
        if moving.dtype != _FLOAT64 or moving.ndim != 2 or moving.shape[1] != 3 or not moving.flags.c_contiguous:
            moving = np.ascontiguousarray(moving, dtype=np.float64).reshape(-1, 3)
        d, hit = footprint_clearance_kernel(self.truth.occupied, self.distance, self.origin_x, self.origin_y,
                                            self.resolution, x, y, yaw, length, width, nl, nw, moving)
        return float(d), bool(hit)
