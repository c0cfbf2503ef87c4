"""The simulated world: a fine occupancy raster of ground truth, the prior
map the vehicle is given, and footprint collision/clearance queries.

Every obstacle — polygons, circles and a map_server base layer — is drawn
into one raster at ``world.resolution``; the world's outer bounds are a
wall.  A Euclidean distance transform of that raster answers clearance
queries for the vehicle's rectangular footprint.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from edgepilot.sim.scenario import Scenario
from edgepilot.vehicle.maps import GridMap, load_map_server


class SimWorld:
    def __init__(self, scenario: Scenario):
        w = scenario.world
        self.spec = w
        xmin, ymin, xmax, ymax = w.bounds
        res = w.resolution
        self.resolution = res
        self.origin_x, self.origin_y = xmin, ymin
        cols = int(math.ceil((xmax - xmin) / res))
        rows = int(math.ceil((ymax - ymin) / res))
        self.shape = (rows, cols)
        base = np.zeros(self.shape, np.uint8)
        if w.map:
            self._draw_map(base, load_map_server(scenario.resolve(w.map)))
        base[0, :] = base[-1, :] = 1
        base[:, 0] = base[:, -1] = 1
        self._base = base
        self.obstacles = list(w.obstacles)
        self._layers = [(o, self._raster(o)) for o in self.obstacles]
        self.t_built = -1.0
        self.moving = np.zeros((0, 3))   # (K, 3) [x, y, radius] moving circular obstacles (traffic)
        self.rebuild(0.0)

    # -------------------------------------------------------------- raster
    def _to_px(self, pts) -> np.ndarray:
        pts = np.asarray(pts, dtype=np.float64)
        px = (pts - [self.origin_x, self.origin_y]) / self.resolution
        return np.round(px * 16).astype(np.int32)  # 4 fractional bits for cv2

    def _raster(self, o) -> np.ndarray:
        img = np.zeros(self.shape, np.uint8)
        if o.type == "polygon":
            cv2.fillPoly(img, [self._to_px(o.points)], 1, lineType=cv2.LINE_8, shift=4)
        else:
            c = self._to_px([o.center])[0]
            cv2.circle(img, (int(c[0]), int(c[1])), int(round(o.radius / self.resolution * 16)), 1, -1,
                       lineType=cv2.LINE_8, shift=4)
        return img

    def _draw_map(self, base: np.ndarray, m: GridMap) -> None:
        """Resample a map_server map into the world raster (nearest cell)."""
        rows, cols = self.shape
        ys = self.origin_y + (np.arange(rows) + 0.5) * self.resolution
        xs = self.origin_x + (np.arange(cols) + 0.5) * self.resolution
        mr = np.floor((ys - m.origin_y) / m.resolution).astype(int)
        mc = np.floor((xs - m.origin_x) / m.resolution).astype(int)
        vr = (mr >= 0) & (mr < m.shape[0])
        vc = (mc >= 0) & (mc < m.shape[1])
        sub = m.occupied[np.ix_(mr[vr], mc[vc])]
        base[np.ix_(np.nonzero(vr)[0], np.nonzero(vc)[0])] |= sub.astype(np.uint8)

    def rebuild(self, t: float) -> bool:
        """Recompute the truth raster for obstacles present at time ``t``.
        Returns True when it changed."""
        present = tuple(o.appear_at_s <= t for o in self.obstacles)
        if getattr(self, "_present", None) == present:
            return False
        self._present = present
        truth = self._base.copy()
        for (o, img), on in zip(self._layers, present):
            if on:
                truth |= img
        self.truth = GridMap(truth.astype(bool), self.resolution, self.origin_x, self.origin_y)
        free = (truth == 0).astype(np.uint8)
        self.distance = cv2.distanceTransform(free, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) * self.resolution
        return True

    def prior_map(self) -> GridMap:
        """What the vehicle is told before it starts: the base layer and the
        obstacles that are mapped and present from the start."""
        grid = self._base.copy()
        for o, img in self._layers:
            if o.mapped and o.appear_at_s <= 0:
                grid |= img
        return GridMap(grid.astype(bool), self.resolution, self.origin_x, self.origin_y)

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
        a cell; 0 with collided=True when any part overlaps an obstacle."""
        pts = self.footprint_points(x, y, yaw, length, width, interior=True)
        r, c = self._cells(pts[:, 0], pts[:, 1])
        if self.truth.occupied[r, c].any():
            return 0.0, True
        edge = self.footprint_points(x, y, yaw, length, width, interior=False)
        r, c = self._cells(edge[:, 0], edge[:, 1])
        d = float(self.distance[r, c].min()) - 0.5 * self.resolution
        if len(self.moving):
            # Rectangle-to-circle distance in the footprint's frame.
            dx, dy = self.moving[:, 0] - x, self.moving[:, 1] - y
            cy, sy = math.cos(yaw), math.sin(yaw)
            a = np.maximum(np.abs(cy * dx + sy * dy) - 0.5 * length, 0.0)
            b = np.maximum(np.abs(-sy * dx + cy * dy) - 0.5 * width, 0.0)
            dm = float((np.hypot(a, b) - self.moving[:, 2]).min())
            if dm <= 0:
                return 0.0, True
            d = min(d, dm)
        return max(d, 0.0), False
