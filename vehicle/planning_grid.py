"""The prior map as a planning costmap, and the planners that run on it
(used by the core's navigation; the heavy parts are imported when built)."""
from __future__ import annotations

import math

import numpy as np

from edgepilot.vehicle.config import VehicleConfig
from edgepilot.vehicle.maps import GridMap


class PlanningError(Exception):
    """No safe path to a target; the message says why in an operator's words."""


class PlanningGrid:
    """The prior map as an inflated costmap at the planning resolution, and
    the planners that run on it.

    Occupancy is coarsened to ``cfg.planning.resolution`` (a coarse cell is
    occupied when any prior cell in it is) and inflated Nav2-style
    (``InflatedCostmap``): lethal within the vehicle's inscribed radius
    plus safety margin plus one cell diagonal (cell centres stand for
    anywhere in the cell, the obstacle's and the vehicle's alike), then an
    exponential cost decaying to 1 at the inflation radius, so paths keep
    away from obstacles when there is room.

    Planners: grid A* (MCP_Geometric's rule) followed by cost-bounded
    line-of-sight shortcutting that never enters lethal cost nor raises the
    path's weighted cost; with ``cfg.planning.turning_radius`` set (boats),
    Hybrid-A* from the vehicle's pose (forward only, free final heading),
    falling back to the grid planner when it finds nothing."""

    def __init__(self, prior: GridMap, cfg: VehicleConfig):
        # The planners, the costmap (OpenCV) and their numba kernels are
        # imported here, not with the core: see VehicleCore.bring_up.
        from edgepilot.vehicle.costmap import InflatedCostmap, InflationParams
        from edgepilot.vehicle.planning.hybrid_astar import HybridParams

        res = cfg.planning.resolution
        factor = max(1, int(round(res / prior.resolution)))
        self.resolution = prior.resolution * factor
        occ = prior.occupied
        rows, cols = occ.shape[0] // factor, occ.shape[1] // factor
        coarse = occ[: rows * factor, : cols * factor].reshape(rows, factor, cols, factor).any(axis=(1, 3))
        self.lethal_radius = cfg.geometry.inscribed_radius + cfg.planning.safety_margin
        # Distances are measured between cell centres: allow one cell diagonal.
        lethal = self.lethal_radius + math.sqrt(2.0) * self.resolution
        self.keep_clear = lethal
        infl = max(cfg.planning.inflation_radius, lethal + self.resolution)
        params = InflationParams(inscribed_radius=lethal, inflation_radius=infl,
                                 cost_scaling_factor=3.0 / (infl - lethal), max_weight=21.0)
        self.costmap = InflatedCostmap(GridMap(coarse, self.resolution, prior.origin_x, prior.origin_y), params)
        self.turning_radius = cfg.planning.turning_radius
        self.hybrid_params = (HybridParams(self.turning_radius, max_expansions=30_000)
                              if self.turning_radius else None)

    @property
    def weights(self) -> np.ndarray:
        """float32 planner weights (>= 1, inf lethal), row 0 south."""
        return self.costmap.weights

    @property
    def distance(self) -> np.ndarray:
        """float32 distance [m] from each cell centre to the nearest obstacle cell centre."""
        return self.costmap.distance

    def add_obstacles(self, points: np.ndarray) -> tuple[int, int, int, int] | None:
        """Mark obstacle points (N, 2) [x, y] map-frame metres; the costmap
        is updated in the window they can influence only.  Returns the
        updated (r0, r1, c0, c1) window or None when nothing changed."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        return self.costmap.add_obstacles(points=pts[np.isfinite(pts).all(axis=1)])

    def path_blocked(self, pts: np.ndarray) -> bool:
        """True when the polyline (N, 2) [x, y] m crosses a lethal cell or
        leaves the map (sampled every half cell)."""
        pts = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        if len(pts) < 2:
            return False
        from edgepilot.vehicle.planning.smoothing import densify

        dense = densify(pts, 0.5 * self.resolution)
        h, w = self.weights.shape
        rows, cols = self.costmap.points_to_cells(dense)
        if (rows < 0).any() or (rows >= h).any() or (cols < 0).any() or (cols >= w).any():
            return True
        return not bool(np.isfinite(self.weights[rows, cols]).all())

    def cell(self, x: float, y: float) -> tuple[int, int]:
        return self.costmap.world_to_cell(x, y)

    def nearest_free(self, r: int, c: int, radius_cells: int) -> tuple[int, int] | None:
        h, w = self.weights.shape
        r0, r1 = max(0, r - radius_cells), min(h, r + radius_cells + 1)
        c0, c1 = max(0, c - radius_cells), min(w, c + radius_cells + 1)
        win = np.isfinite(self.weights[r0:r1, c0:c1])
        if not win.any():
            return None
        rr, cc = np.nonzero(win)
        k = int(np.argmin((rr + r0 - r) ** 2 + (cc + c0 - c) ** 2))
        return int(rr[k] + r0), int(cc[k] + c0)

    def plan(self, x0: float, y0: float, x1: float, y1: float, yaw0: float | None = None) -> np.ndarray:
        """Map-frame points from (x0, y0) to (x1, y1); raises PlanningError.
        ``yaw0`` [rad] is the vehicle's heading, used by the kinematic
        planner when a turning radius is configured."""
        from edgepilot.vehicle.planning import astar
        from edgepilot.vehicle.planning.hybrid_astar import hybrid_astar
        from edgepilot.vehicle.planning.smoothing import shortcut

        h, w = self.weights.shape
        gr, gc = self.cell(x1, y1)
        if not (0 <= gr < h and 0 <= gc < w):
            raise PlanningError(f"target ({x1:.1f}, {y1:.1f}) m is outside the map")
        if not np.isfinite(self.weights[gr, gc]):
            d = self.distance[gr, gc]
            where = "inside an obstacle" if d <= 0 else f"{d:.2f} m from an obstacle"
            raise PlanningError(f"target ({x1:.1f}, {y1:.1f}) m is {where}; the planner keeps "
                                f"{self.keep_clear:.2f} m clear ({self.lethal_radius:.2f} m footprint and "
                                f"margin plus one {self.resolution:.2f} m cell)")
        sr, sc = self.cell(x0, y0)
        if not (0 <= sr < h and 0 <= sc < w):
            raise PlanningError(f"vehicle position ({x0:.1f}, {y0:.1f}) m is outside the map")
        if self.hybrid_params is not None and yaw0 is not None and (sr, sc) != (gr, gc):
            hp = hybrid_astar(self.costmap, (x0, y0, yaw0), (x1, y1), self.hybrid_params)
            if hp is not None:
                pts = hp.points.copy()
                pts[-1] = (x1, y1)
                return pts
        if not np.isfinite(self.weights[sr, sc]):
            near = self.nearest_free(sr, sc, int(math.ceil(1.5 / self.resolution)))
            if near is None:
                raise PlanningError("vehicle is boxed in: no free cell within 1.5 m")
            sr, sc = near
        cells = astar(self.weights, (sr, sc), (gr, gc))
        if cells is None:
            raise PlanningError(f"no safe path to ({x1:.1f}, {y1:.1f}) m")
        cells = shortcut(self.weights, cells)
        pts = self.costmap.cells_to_world(cells)
        pts[0] = (x0, y0)
        pts[-1] = (x1, y1)
        return pts
