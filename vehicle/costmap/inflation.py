"""Inflated costmaps for the grid planners, in the manner of Nav2's inflation layer.

A costmap turns occupancy into float32 planner weights (the ``astar``
convention: >= 1, ``np.inf`` lethal):

- ``d`` is the Euclidean distance in metres from a cell centre to the
  nearest obstacle cell centre (a distance transform of the occupancy);
- ``d <= inscribed_radius``: lethal (``inf``) — the footprint would touch
  an obstacle;
- ``inscribed_radius < d <= inflation_radius``:
  ``1 + (max_weight - 1) * exp(-cost_scaling_factor * (d - inscribed_radius))``
  (Nav2's exponential decay, mapped from 0..252 onto 1..max_weight);
- farther: 1.

New obstacles update only the window they can influence (the changed
cells' bounding box grown by the inflation radius), so the cost of an
update is independent of the map's size.

Two layers of obstacles: ``occupied`` (kept until cleared: walls, parked
things) and ``transient`` (replaced as a whole by ``set_transient``: what
is in the way now but can move, such as a person the camera sees).  The
distance and weights are those of their union; replacing the transient
layer never clears an ``occupied`` cell.

Frames: cells are (row, col) of the GridMap (row 0 south, col 0 west);
world points are map-frame ENU metres.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgepilot.vehicle.distance_transform import NONE, distance_cells
from edgepilot.vehicle.maps import GridGeometry, GridMap


@dataclass(frozen=True)
class InflationParams:
    """Inflation settings.  Radii in metres, ``cost_scaling_factor`` in 1/m,
    ``max_weight`` the weight of a cell just outside the inscribed radius."""

    inscribed_radius: float
    inflation_radius: float
    cost_scaling_factor: float = 3.0
    max_weight: float = 50.0

    def __post_init__(self):
        if not (math.isfinite(self.inscribed_radius) and self.inscribed_radius >= 0):
            raise ValueError(f"inscribed_radius must be a finite number >= 0 m, got {self.inscribed_radius!r}")
        if not (math.isfinite(self.inflation_radius) and self.inflation_radius >= self.inscribed_radius):
            raise ValueError("inflation_radius must be finite and >= inscribed_radius "
                             f"({self.inscribed_radius} m), got {self.inflation_radius!r}")
        if not (math.isfinite(self.cost_scaling_factor) and self.cost_scaling_factor >= 0):
            raise ValueError(f"cost_scaling_factor must be >= 0 (1/m), got {self.cost_scaling_factor!r}")
        if not (math.isfinite(self.max_weight) and self.max_weight >= 1):
            raise ValueError(f"max_weight must be finite and >= 1, got {self.max_weight!r}")


def distance_to_obstacles(occupied: np.ndarray, resolution: float) -> np.ndarray:
    """Exact Euclidean distance [m] from each cell centre to the nearest
    occupied cell centre (0 on obstacles; a large value when there are none)."""
    d = distance_cells(occupied)
    if d.size and d.flat[0] == NONE:         # nothing occupied: NONE everywhere
        d[:] = np.float32(1e9)
        return d
    return d * np.float32(resolution)


def weights_from_distance(distance: np.ndarray, p: InflationParams) -> np.ndarray:
    """Planner weights (float32, >= 1, inf lethal) from obstacle distances [m]."""
    d = distance.astype(np.float32, copy=False)
    w = np.ones(d.shape, np.float32)
    band = (d > p.inscribed_radius) & (d <= p.inflation_radius)
    w[band] = band_weights(d[band], p)
    w[d <= p.inscribed_radius] = np.inf
    return w


def band_weights(d: np.ndarray, p: InflationParams) -> np.ndarray:
    """Weights at float32 distances ``d`` [m] that all lie in the band
    (inscribed_radius, inflation_radius]: Nav2's exponential decay."""
    return 1.0 + (p.max_weight - 1.0) * np.exp(-p.cost_scaling_factor * (d - p.inscribed_radius))


class InflatedCostmap(GridGeometry):
    """An occupancy grid plus its obstacle distance and planner weights.

    Public attributes (read them, do not write them): ``occupied`` bool
    (rows, cols); ``transient`` bool (rows, cols), the layer
    ``set_transient`` replaces; ``distance`` float32 metres; ``weights`` float32 (>= 1,
    inf lethal) ready for ``vehicle.planning.astar``; ``resolution``,
    ``origin_x``, ``origin_y`` as in GridMap.  ``version`` increments on
    every change, and ``last_update`` holds the (r0, r1, c0, c1) half-open
    window whose weights last changed.
    """

    def __init__(self, grid: GridMap, params: InflationParams, unknown_is_lethal: bool = False):
        if not isinstance(grid, GridMap):
            raise ValueError(f"grid must be a GridMap, got {type(grid).__name__}")
        occ = np.array(grid.occupied, dtype=bool, copy=True)
        if occ.ndim != 2 or occ.size == 0:
            raise ValueError(f"grid.occupied must be a non-empty 2-D array, got shape {occ.shape}")
        if unknown_is_lethal and grid.unknown is not None:
            occ |= np.asarray(grid.unknown, dtype=bool)
        self.params = params
        self.resolution = float(grid.resolution)
        self.origin_x = float(grid.origin_x)
        self.origin_y = float(grid.origin_y)
        self.occupied = np.ascontiguousarray(occ)
        self.transient = np.zeros(occ.shape, bool)
        self._n_transient = 0
        self.version = 0
        self._recompute_all()

    # -- geometry -------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        return self.occupied.shape

    @property
    def radius_cells(self) -> int:
        """Cells within which an obstacle can change a weight."""
        return int(math.ceil(self.params.inflation_radius / self.resolution)) + 1

    # -- updates ----------------------------------------------------------
    def _occupancy(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        """Both layers' obstacles in rows [r0, r1) x cols [c0, c1)."""
        occ = self.occupied[r0:r1, c0:c1]
        return occ | self.transient[r0:r1, c0:c1] if self._n_transient else occ

    def _recompute_all(self) -> None:
        self.distance = distance_to_obstacles(self._occupancy(0, self.shape[0], 0, self.shape[1]), self.resolution)
        self.weights = weights_from_distance(self.distance, self.params)
        self.last_update = (0, self.shape[0], 0, self.shape[1])
        self.version += 1

    def _update_window(self, r0: int, r1: int, c0: int, c1: int) -> tuple[int, int, int, int]:
        """Recompute distance and weights for every cell an occupancy change
        inside rows [r0, r1) x cols [c0, c1) can influence."""
        R = self.radius_cells
        H, W = self.shape
        # cells whose weight may change
        a0, a1, b0, b1 = max(0, r0 - R), min(H, r1 + R), max(0, c0 - R), min(W, c1 + R)
        # obstacles that can matter to those cells
        e0, e1, f0, f1 = max(0, a0 - R), min(H, a1 + R), max(0, b0 - R), min(W, b1 + R)
        d = distance_to_obstacles(self._occupancy(e0, e1, f0, f1), self.resolution)
        cap = np.float32((R + 1) * self.resolution)
        inner = np.minimum(d[a0 - e0:a1 - e0, b0 - f0:b1 - f0], cap)
        # outside the window the old distance may be a large "no obstacle" value: cap alike
        self.distance[a0:a1, b0:b1] = inner
        self.weights[a0:a1, b0:b1] = weights_from_distance(inner, self.params)
        self.last_update = (a0, a1, b0, b1)
        self.version += 1
        return self.last_update

    def _cells_from(self, cells, points) -> np.ndarray:
        if (cells is None) == (points is None):
            raise ValueError("give exactly one of cells (N, 2 [row, col]) or points (N, 2 [x, y] metres)")
        if cells is not None:
            arr = np.asarray(cells)
            if arr.size == 0:
                return np.empty((0, 2), np.int64)
            if arr.ndim != 2 or arr.shape[1] != 2 or not np.issubdtype(arr.dtype, np.integer):
                raise ValueError(f"cells must be an (N, 2) integer array of [row, col], got {arr.dtype} {arr.shape}")
            rc = arr.astype(np.int64)
        else:
            arr = np.asarray(points, dtype=np.float64)
            if arr.size == 0:
                return np.empty((0, 2), np.int64)
            if arr.ndim != 2 or arr.shape[1] != 2 or not np.isfinite(arr).all():
                raise ValueError(f"points must be an (N, 2) finite array of [x, y] metres, got shape {arr.shape}")
            rc = np.column_stack(self.points_to_cells(arr))
        H, W = self.shape
        keep = (rc[:, 0] >= 0) & (rc[:, 0] < H) & (rc[:, 1] >= 0) & (rc[:, 1] < W)
        return rc[keep]

    def _set(self, cells, points, value: bool) -> tuple[int, int, int, int] | None:
        rc = self._cells_from(cells, points)
        if len(rc) == 0:
            return None
        changed = self.occupied[rc[:, 0], rc[:, 1]] != value
        rc = rc[changed]
        if len(rc) == 0:
            return None
        self.occupied[rc[:, 0], rc[:, 1]] = value
        return self._update_window(int(rc[:, 0].min()), int(rc[:, 0].max()) + 1,
                                   int(rc[:, 1].min()), int(rc[:, 1].max()) + 1)

    def add_obstacles(self, cells=None, points=None) -> tuple[int, int, int, int] | None:
        """Mark obstacles given as ``cells`` (N, 2) int [row, col] or
        ``points`` (N, 2) [x, y] map-frame metres; those outside the grid are
        ignored.  Updates only the affected window and returns it as
        (r0, r1, c0, c1) half-open, or None when nothing changed.  Widely
        scattered batches are best given in separate calls (one window each)."""
        return self._set(cells, points, True)

    def clear_obstacles(self, cells=None, points=None) -> tuple[int, int, int, int] | None:
        """Remove obstacles (same arguments and return as add_obstacles).
        The transient layer is not touched (``set_transient`` owns it)."""
        return self._set(cells, points, False)

    def set_transient(self, cells=None, points=None) -> bool:
        """Replace the transient layer by ``cells`` (N, 2) int [row, col] or
        ``points`` (N, 2) [x, y] map-frame metres (outside the grid:
        ignored; empty: the layer is cleared).  The weights are updated
        where a cell left the layer and where one joined it (one window
        each).  Returns True when the layer changed."""
        rc = self._cells_from(cells, points)
        W = self.shape[1]
        now = np.unique(rc[:, 0] * W + rc[:, 1])
        was = np.flatnonzero(self.transient) if self._n_transient else now[:0]
        gone = np.setdiff1d(was, now, assume_unique=True)
        came = np.setdiff1d(now, was, assume_unique=True)
        if not len(gone) and not len(came):
            return False
        flat = self.transient.reshape(-1)
        flat[gone] = False
        flat[came] = True
        self._n_transient = len(now)
        for ch in (gone, came):
            if len(ch):
                r, c = ch // W, ch % W
                self._update_window(int(r.min()), int(r.max()) + 1, int(c.min()), int(c.max()) + 1)
        return True

    def _shift_transient(self, dr: int, dc: int) -> None:
        """The window moved by (dr, dc) cells: transient cells keep their
        world positions where the old and new windows overlap."""
        if not self._n_transient:
            return
        H, W = self.shape
        new = np.zeros((H, W), bool)
        a0, a1 = max(0, dr), min(H, H + dr)
        b0, b1 = max(0, dc), min(W, W + dc)
        if a0 < a1 and b0 < b1:
            new[a0 - dr:a1 - dr, b0 - dc:b1 - dc] = self.transient[a0:a1, b0:b1]
        self.transient = new
        self._n_transient = int(np.count_nonzero(new))


class RollingCostmap(InflatedCostmap):
    """A square local window of ``size_m`` metres that follows the vehicle.

    The window is filled from an optional static GridMap (the global map)
    and keeps obstacles it was told about while they stay inside it.
    ``follow(x, y)`` re-centres it on the vehicle in whole cells, so cells
    keep their world positions; moved-in cells come from the static map.
    """

    def __init__(self, size_m: float, resolution: float, params: InflationParams,
                 static_map: GridMap | None = None, center: tuple[float, float] = (0.0, 0.0)):
        if not (math.isfinite(size_m) and size_m > 0):
            raise ValueError(f"size_m must be a positive number of metres, got {size_m!r}")
        if not (math.isfinite(resolution) and resolution > 0):
            raise ValueError(f"resolution must be a positive number of metres per cell, got {resolution!r}")
        if static_map is not None and not math.isclose(static_map.resolution, resolution):
            raise ValueError(f"static_map resolution {static_map.resolution} m differs from the "
                             f"window's resolution {resolution} m")
        n = max(3, int(round(size_m / resolution)))
        self._n = n
        self._static = static_map
        ox, oy = self._snap_origin(center[0], center[1], resolution)
        occ = self._static_window(ox, oy, n, resolution)
        super().__init__(GridMap(occ, resolution, ox, oy), params)

    def _snap_origin(self, x: float, y: float, res: float) -> tuple[float, float]:
        base_x = self._static.origin_x if self._static is not None else 0.0
        base_y = self._static.origin_y if self._static is not None else 0.0
        half = self._n // 2
        ox = base_x + (math.floor((x - base_x) / res) - half) * res
        oy = base_y + (math.floor((y - base_y) / res) - half) * res
        return ox, oy

    def _static_window(self, ox: float, oy: float, n: int, res: float) -> np.ndarray:
        occ = np.zeros((n, n), bool)
        s = self._static
        if s is None:
            return occ
        r0 = int(round((oy - s.origin_y) / res))
        c0 = int(round((ox - s.origin_x) / res))
        H, W = s.shape
        a0, a1 = max(0, r0), min(H, r0 + n)
        b0, b1 = max(0, c0), min(W, c0 + n)
        if a0 < a1 and b0 < b1:
            occ[a0 - r0:a1 - r0, b0 - c0:b1 - c0] = s.occupied[a0:a1, b0:b1]
        return occ

    def follow(self, x: float, y: float) -> bool:
        """Re-centre on the vehicle at map-frame (x, y) [m].  Returns True
        when the window moved."""
        ox, oy = self._snap_origin(x, y, self.resolution)
        dc = int(round((ox - self.origin_x) / self.resolution))
        dr = int(round((oy - self.origin_y) / self.resolution))
        if dr == 0 and dc == 0:
            return False
        n = self._n
        new = self._static_window(ox, oy, n, self.resolution)
        # keep what the old window knew where the windows overlap
        a0, a1 = max(0, dr), min(n, n + dr)
        b0, b1 = max(0, dc), min(n, dc + n)
        if a0 < a1 and b0 < b1:
            new[a0 - dr:a1 - dr, b0 - dc:b1 - dc] |= self.occupied[a0:a1, b0:b1]
        self.occupied = np.ascontiguousarray(new)
        self._shift_transient(dr, dc)
        self.origin_x, self.origin_y = ox, oy
        self._recompute_all()
        return True
