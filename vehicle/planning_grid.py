"""The prior map as a planning costmap, and the planners that run on it
(used by the core's navigation; the heavy parts are imported when built)."""
from __future__ import annotations

import math

import numpy as np

from edgepilot.vehicle.config import VehicleConfig
from edgepilot.vehicle.maps import GridMap


class PlanningError(Exception):
    """No safe path to a target; the message says why in an operator's words."""


#: What blocks a goal when only something sensed does (``PlanningGrid.sensed_blocker``),
#: in an operator's words: a movable thing the camera sees (the costmap's transient layer) ...
BLOCKED_BY_TRANSIENT = "a person, vessel or vehicle in view"
#: ... or an obstacle the lidar or camera mapped that the prior map lacks
BLOCKED_BY_SENSED = "an obstacle the sensors found (not on the prior map)"


class PlanningGrid:
    """The prior map as an inflated costmap at the planning resolution, and
    the planners that run on it.  The costmap is a window that rolls with
    the vehicle beyond the prior map (``vehicle.costmap.window``): the prior
    map plus a margin of ``planning.window_m / 8`` on every side, or a
    ``window_m`` square without a prior map; unknown cells cost
    ``planning.unknown_cost`` (lethal unless ``planning.allow_unknown``).  A
    target beyond the window is planned towards: the path ends where the
    line to it leaves the window (``partial``), and the core plans the leg
    again each time the window rolls.

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

    def __init__(self, prior: GridMap | None, cfg: VehicleConfig, center: tuple[float, float] | None = None):
        # The planners, the costmap (OpenCV) and their numba kernels are
        # imported here, not with the core: see VehicleCore.bring_up.
        from edgepilot.vehicle.costmap import InflationParams
        from edgepilot.vehicle.costmap.window import WindowCostmap
        from edgepilot.vehicle.planning.hybrid_astar import HybridParams

        pc = cfg.planning
        res = pc.resolution
        static = None
        if prior is not None:
            factor = max(1, int(round(res / prior.resolution)))
            self.resolution = prior.resolution * factor
            occ = prior.occupied
            rows, cols = occ.shape[0] // factor, occ.shape[1] // factor
            coarse = occ[: rows * factor, : cols * factor].reshape(rows, factor, cols, factor).any(axis=(1, 3))
            unknown = None
            if prior.unknown is not None:
                unknown = prior.unknown[: rows * factor, : cols * factor].reshape(rows, factor, cols, factor)
                unknown = unknown.all(axis=(1, 3)) & ~coarse
            static = GridMap(coarse, self.resolution, prior.origin_x, prior.origin_y, unknown)
        else:
            self.resolution = float(res)
        self.prior = static
        window = pc.window_m if pc.window_m is not None else 1000 * self.resolution
        self.window_m = float(window)
        self.lethal_radius = cfg.geometry.inscribed_radius + pc.safety_margin
        # Distances are measured between cell centres: allow one cell diagonal.
        lethal = self.lethal_radius + math.sqrt(2.0) * self.resolution
        self.keep_clear = lethal
        infl = max(pc.inflation_radius, lethal + self.resolution)
        params = InflationParams(inscribed_radius=lethal, inflation_radius=infl,
                                 cost_scaling_factor=3.0 / (infl - lethal), max_weight=21.0)
        unknown_weight = pc.unknown_cost if pc.allow_unknown else None
        if static is not None:
            # the prior map plus a margin on every side; it rolls when the vehicle nears an edge
            margin = window / 8.0
            m = int(math.ceil(margin / self.resolution))
            rows, cols = static.shape[0] + 2 * m, static.shape[1] + 2 * m
            c = (static.origin_x + 0.5 * static.width_m, static.origin_y + 0.5 * static.height_m)
            trigger = 0.5 * margin
        else:
            rows = cols = max(3, int(round(window / self.resolution)))
            c = center if center is not None else (0.0, 0.0)
            trigger = 0.25 * window
        self.costmap = WindowCostmap(rows, cols, self.resolution, params, static, c, unknown_weight, trigger)
        #: True when the latest plan ends where the target's direction leaves the window (not at the target)
        self.partial = False
        self.turning_radius = pc.turning_radius
        self.hybrid_params = (HybridParams(self.turning_radius, max_expansions=30_000)
                              if self.turning_radius else None)

    def follow(self, x: float, y: float) -> bool:
        """Roll the window with the vehicle at (x, y) [m]; True when it moved
        (the path being followed must be planned again)."""
        return self.costmap.follow(x, y)

    def window(self) -> tuple[int, int, float, float]:
        """(rows, cols, origin_x, origin_y) of the costmap window now."""
        h, w = self.weights.shape
        return h, w, self.costmap.origin_x, self.costmap.origin_y

    def track(self, x: float, y: float, mapper=None) -> bool:
        """Once a tick with the vehicle at (x, y) [m]: roll the window when
        the vehicle nears its edge, and the lidar mapper's grid with it.
        Returns True when the window moved (plan the leg again)."""
        if not self.costmap.follow(x, y):      # self.follow, one call less
            return False
        if mapper is not None and mapper.grid.resolution == self.resolution:
            mapper.align(self.costmap.origin_x, self.costmap.origin_y)
        return True

    def learn(self, mapper, scans_before: int) -> None:
        """After perception: cells the lidar scan of this tick has seen are
        no longer unknown (their weight drops from ``unknown_cost``)."""
        if (mapper is None or mapper.scans == scans_before or mapper.last_window is None
                or self.costmap.unknown_cells == 0 or mapper.grid.resolution != self.resolution):
            return
        r0, r1, c0, c1 = mapper.last_window
        g = mapper.grid
        res = g.resolution
        # straight off the mapper's packed cells (no bool window built): log-odds != 0 is seen;
        # the whole grid with the scan's window beside it (C-contiguous: the kernel reads it faster).
        # The mapper's own grid (2-D int16, contiguous rows) and its scan's window (Python ints,
        # within it): what mark_known_packed checks holds, so straight to its _mark
        cells, mask, bias = mapper.packed()
        self.costmap._mark(cells, g.origin_x + c0 * res, g.origin_y + r0 * res, mask, bias, r0, r1, c0, c1)

    def mark_known(self, known: np.ndarray, origin: tuple[float, float]) -> None:
        """Cells the lidar has seen (bool mask, planning resolution, SW corner at ``origin``)."""
        self.costmap.mark_known(known, origin)

    @property
    def weights(self) -> np.ndarray:
        """float32 planner weights (>= 1, inf lethal), row 0 south."""
        return self.costmap.weights

    @property
    def distance(self) -> np.ndarray:
        """float32 distance [m] from each cell centre to the nearest obstacle cell centre."""
        return self.costmap.distance

    def add_obstacles(self, points: np.ndarray, pinned: bool = False) -> tuple[int, int, int, int] | None:
        """Mark obstacle points (N, 2) [x, y] map-frame metres; the costmap
        is updated in the window they can influence only.  Returns the
        updated (r0, r1, c0, c1) window or None when nothing changed.
        ``pinned``: reported rather than sensed, they stay when the lidar
        sees their cells free (``clear_seen_free``), as the prior map does."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        pts = pts[np.isfinite(pts).all(axis=1)]
        out = self.costmap.add_obstacles(points=pts)
        if pinned:
            self.costmap.pin(points=pts)
        return out

    def clear_seen_free(self, points: np.ndarray) -> int:
        """Cells (N, 2) [x, y] map-frame metres the lidar mapped and has
        since seen free (``Perception.seen_free``) leave the costmap, its
        inflation recomputed round them only; the prior map's obstacles
        and pinned ones stay.  Returns how many cells cleared."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        return self.costmap.clear_seen_free(points=pts[np.isfinite(pts).all(axis=1)])

    def set_transient(self, points: np.ndarray) -> bool:
        """Replace the costmap's transient layer (things that can move, seen
        now) by obstacle points (N, 2) [x, y] map-frame metres; the
        obstacles ``add_obstacles`` marked stay.  True when it changed."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        return self.costmap.set_transient(points=pts[np.isfinite(pts).all(axis=1)])

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

    def nearest_free(self, r: int, c: int, radius_cells: int,
                     weights: np.ndarray | None = None) -> tuple[int, int] | None:
        """The free cell of ``weights`` (default the costmap's) nearest (r, c)
        within ``radius_cells`` cells each way, or None."""
        wts = self.weights if weights is None else weights
        h, w = wts.shape
        r0, r1 = max(0, r - radius_cells), min(h, r + radius_cells + 1)
        c0, c1 = max(0, c - radius_cells), min(w, c + radius_cells + 1)
        win = np.isfinite(wts[r0:r1, c0:c1])
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
        gx, gy = x1, y1
        gr, gc = self.cell(x1, y1)
        self.partial = False
        if not (0 <= gr < h and 0 <= gc < w):
            if self.costmap.unknown_weight is None:
                raise PlanningError(f"target ({x1:.1f}, {y1:.1f}) m is outside the map")
            # Beyond the window: plan to where the straight line to the target
            # leaves it; the leg is planned again as the window rolls on.
            gx, gy = self._exit_point(x0, y0, x1, y1)
            gr, gc = self.cell(gx, gy)
            if not np.isfinite(self.weights[gr, gc]):
                near = self.nearest_free(gr, gc, int(math.ceil(5.0 / self.resolution)))
                if near is None:
                    raise PlanningError(f"no safe way out of the planning window towards ({x1:.1f}, {y1:.1f}) m")
                gr, gc = near
                gx, gy = self.costmap.cell_to_world(gr, gc)
            self.partial = True
        elif self.costmap.unknown_weight is None and not self.costmap.known[gr, gc]:
            raise PlanningError(f"target ({x1:.1f}, {y1:.1f}) m is in unknown space (planning.allow_unknown "
                                f"is false)")
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
            hp = hybrid_astar(self.costmap, (x0, y0, yaw0), (gx, gy), self.hybrid_params)
            if hp is not None:
                pts = hp.points.copy()
                pts[-1] = (gx, gy)
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
        pts[-1] = (gx, gy)
        return pts

    def plan_to_pose(self, x0: float, y0: float, yaw0: float, x1: float, y1: float,
                     yaw1: float) -> np.ndarray | None:
        """Map-frame points from the pose (x0, y0, yaw0) to (x1, y1) arriving
        on heading ``yaw1`` [m, rad] with the kinematic planner (Hybrid-A*
        with the configured turning radius); None without a turning radius,
        with the goal off the window or lethal, or when no path is found."""
        if self.hybrid_params is None:
            return None
        from edgepilot.vehicle.planning.hybrid_astar import hybrid_astar

        h, w = self.weights.shape
        gr, gc = self.cell(x1, y1)
        sr, sc = self.cell(x0, y0)
        if not (0 <= gr < h and 0 <= gc < w and 0 <= sr < h and 0 <= sc < w):
            return None
        if not np.isfinite(self.weights[gr, gc]):
            return None
        hp = hybrid_astar(self.costmap, (x0, y0, yaw0), (x1, y1, yaw1), self.hybrid_params)
        if hp is None:
            return None
        pts = hp.points.copy()
        pts[-1] = (x1, y1)
        return pts

    def _exit_point(self, x0: float, y0: float, x1: float, y1: float) -> tuple[float, float]:
        """Where the segment (x0, y0) -> (x1, y1) leaves the window shrunk
        by the clearance the planner keeps plus a cell (map frame, m)."""
        xmin, ymin, xmax, ymax = self.costmap.bounds()
        inset = self.keep_clear + 2.0 * self.resolution
        xmin, ymin, xmax, ymax = xmin + inset, ymin + inset, xmax - inset, ymax - inset
        x0, y0 = min(max(x0, xmin), xmax), min(max(y0, ymin), ymax)
        dx, dy = x1 - x0, y1 - y0
        t = 1.0
        for d, p, lo, hi in ((dx, x0, xmin, xmax), (dy, y0, ymin, ymax)):
            if d > 0:
                t = min(t, (hi - p) / d)
            elif d < 0:
                t = min(t, (lo - p) / d)
        t = max(t, 0.0)
        return x0 + t * dx, y0 + t * dy

    def target_refusal(self, x: float, y: float) -> str | None:
        """Why a target at (x, y) [m] cannot be planned to, judged on the
        costmap as it is (None when it can be tried)."""
        h, w = self.weights.shape
        r, c = self.cell(x, y)
        if not (0 <= r < h and 0 <= c < w):
            return None if self.costmap.unknown_weight is not None else f"target ({x:.1f}, {y:.1f}) m is outside the map"
        try:
            self.plan(x, y, x, y)
        except PlanningError as e:
            return str(e)
        return None

    def sensed_blocker(self, x0: float, y0: float, x1: float, y1: float) -> str | None:
        """What keeps the planner from a path from (x0, y0) to (x1, y1)
        [m, map frame] when only something sensed does, something that
        may go away: ``BLOCKED_BY_TRANSIENT`` (the camera's movable things,
        the costmap's transient layer) or ``BLOCKED_BY_SENSED`` (obstacles
        the lidar or camera mapped).  None when waiting cannot help: the
        target or the vehicle is off the window, the target is in unknown
        space the planner may not enter, or the prior map alone makes the
        target lethal or leaves no way to it; None too when nothing blocks.

        The target cell is judged on the cells round it; the way with the
        grid planner on the prior map's layer alone and then on the layers
        without the transient one, each rebuilt over the window (a distance
        transform and a search each): call it once when a plan fails, not
        every tick."""
        h, w = self.weights.shape
        gr, gc = self.cell(x1, y1)
        sr, sc = self.cell(x0, y0)
        if not (0 <= gr < h and 0 <= gc < w and 0 <= sr < h and 0 <= sc < w):
            return None
        goal = self._goal_layer(gr, gc)
        if goal == "prior":
            return None
        if not self._reachable(self.costmap.weights_over(self.costmap.prior_occupied()), (sr, sc), (gr, gc)):
            return None
        if goal == "transient":
            return BLOCKED_BY_TRANSIENT
        if goal == "sensed":
            return BLOCKED_BY_SENSED
        if self._reachable(self.weights, (sr, sc), (gr, gc)):
            return None                   # nothing blocks
        cm = self.costmap
        if cm.transient.any() and self._reachable(cm.weights_over(cm.occupied), (sr, sc), (gr, gc)):
            return BLOCKED_BY_TRANSIENT
        return BLOCKED_BY_SENSED

    def _goal_layer(self, r: int, c: int) -> str:
        """Why cell (r, c) is lethal: "free" (it is not), "prior" (unknown
        space the planner may not enter, or a prior-map obstacle within
        the lethal radius), else "sensed" (a mapped obstacle the prior map
        lacks is within it) or "transient" (only the transient layer is)."""
        cm = self.costmap
        if cm.unknown_weight is None and not cm.known[r, c]:
            return "prior"
        if np.isfinite(self.weights[r, c]):
            return "free"
        lethal = cm.params.inscribed_radius
        n = int(math.ceil(lethal / self.resolution)) + 1
        h, w = self.weights.shape
        r0, r1, c0, c1 = max(0, r - n), min(h, r + n + 1), max(0, c - n), min(w, c + n + 1)
        dr, dc = np.ogrid[r0 - r:r1 - r, c0 - c:c1 - c]
        # the distance transform's rule: cell centre to cell centre, lethal within the inscribed radius
        near = np.hypot(dr, dc) * self.resolution <= lethal + 1e-4
        if (cm.prior_occupied(r0, r1, c0, c1) & near).any():
            return "prior"
        if (cm.occupied[r0:r1, c0:c1] & near).any():
            return "sensed"
        if (cm.transient[r0:r1, c0:c1] & near).any():
            return "transient"
        return "prior"                     # lethal for a reason no layer shows: waiting will not help

    def _reachable(self, wts: np.ndarray, start: tuple[int, int], goal: tuple[int, int]) -> bool:
        """The grid planner finds a path over ``wts`` from the start cell
        (or, boxed in, the nearest free cell within 1.5 m, as ``plan``
        does) to the goal cell."""
        from edgepilot.vehicle.planning import astar

        if not np.isfinite(wts[goal]):
            return False
        if not np.isfinite(wts[start]):
            start = self.nearest_free(*start, int(math.ceil(1.5 / self.resolution)), wts)
            if start is None:
                return False
        return astar(wts, start, goal) is not None


def operating_area_refusal(x: float, y: float, cfg: VehicleConfig, center: tuple[float, float],
                           prior: GridMap | None = None, fence=None) -> str | None:
    """Why a target at (x, y) [m, map frame] is beyond where the vehicle
    may be sent, or None.  Anywhere on the prior map, inside the fence's
    inclusion zones (when there is a fence), inside ``planning.operating_area``
    or within ``planning.operating_radius_m`` of ``center`` (home) is fine."""
    pc = cfg.planning
    if prior is not None:
        r, c = prior.world_to_cell(x, y)
        if prior.in_bounds(r, c):
            return None
    if fence is not None and len(fence) and any(z.inclusion for z in fence.zones) and fence.contains(x, y):
        return None
    if pc.operating_area is not None:
        from edgepilot.vehicle.safety.geofence import polygon_signed_distance

        if polygon_signed_distance(np.array([[x, y]]), np.asarray(pc.operating_area, np.float64))[0] >= 0:
            return None
    d = math.hypot(x - center[0], y - center[1])
    if d <= pc.operating_radius_m:
        return None
    area = " or planning.operating_area" if pc.operating_area is not None else ""
    return (f"target ({x:.1f}, {y:.1f}) m is {d:.0f} m from home, beyond the operating area "
            f"(planning.operating_radius_m = {pc.operating_radius_m:g} m{area})")
