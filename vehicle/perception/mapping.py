"""Lidar mapping for the core: scans into an ``OccupancyGrid`` aligned with
the prior map, and the obstacles it finds that the prior map lacks, as
points for the planning costmap (``VehicleCore.add_obstacles``).

Frames: the grid is in the map frame (ENU metres) over the prior map's
extent; scans are in the sensor frame, the sensor at the vehicle's
estimated pose (a lidar mount offset, when configured, is applied here).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from edgepilot.vehicle.maps import GridMap
from edgepilot.vehicle.types import LaserScan, VehicleState

from ._kernels import LOGODDS_ONE
from .occupancy import OccupancyGrid


class LidarMapper:
    """Integrates scans and reports newly occupied cells.

    A cell is reported once, when its occupancy probability first exceeds
    ``p_report`` (two agreeing hits with the default log-odds), unless it is
    within ``prior_margin`` metres of an obstacle already on the prior map:
    pose error smears known walls and they must not be re-added as new
    obstacles.  Scans are skipped while the pose estimate is worse than
    ``max_pos_std`` metres."""

    def __init__(self, prior: GridMap, resolution: float = 0.1, p_report: float = 0.8,
                 prior_margin: float = 0.5, max_pos_std: float = 1.0,
                 mount=(0.0, 0.0, 0.0)):
        if resolution <= 0:
            raise ValueError(f"resolution must be > 0 m, got {resolution}")
        self.grid = OccupancyGrid(prior.width_m, prior.height_m, resolution,
                                  (prior.origin_x, prior.origin_y))
        self.p_report = float(p_report)
        self._l_report = math.log(p_report / (1.0 - p_report))
        self.max_pos_std = float(max_pos_std)
        self.mount = tuple(float(v) for v in mount)
        # distance [m] from each mapping cell to the nearest prior obstacle
        rows, cols = self.grid.shape
        ys = prior.origin_y + (np.arange(rows) + 0.5) * resolution
        xs = prior.origin_x + (np.arange(cols) + 0.5) * resolution
        free = (~prior.occupied).astype(np.uint8)
        dist = cv2.distanceTransform(free, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) * prior.resolution
        pr = np.clip(np.floor((ys - prior.origin_y) / prior.resolution).astype(int), 0, prior.shape[0] - 1)
        pc = np.clip(np.floor((xs - prior.origin_x) / prior.resolution).astype(int), 0, prior.shape[1] - 1)
        self._near_prior = dist[np.ix_(pr, pc)] <= prior_margin
        self._reported = np.zeros(self.grid.shape, bool)
        self.scans = 0
        self.reported_cells = 0

    def sensor_pose(self, state: VehicleState) -> tuple[float, float, float]:
        mx, my, myaw = self.mount
        c, s = math.cos(state.yaw), math.sin(state.yaw)
        return (state.x + c * mx - s * my, state.y + s * mx + c * my, state.yaw + myaw)

    def integrate(self, state: VehicleState, scan: LaserScan) -> np.ndarray:
        """Integrate ``scan`` taken at ``state``; returns (N, 2) map-frame
        points [x, y] (cell centres) of obstacles seen for the first time."""
        if not state.valid or state.pos_std > self.max_pos_std:
            return np.zeros((0, 2))
        pose = self.sensor_pose(state)
        r, c = self.grid.world_to_cell(pose[0], pose[1])
        if not self.grid.in_bounds(r, c):
            return np.zeros((0, 2))
        self.grid.integrate_laserscan(pose, scan)
        self.scans += 1
        # only the window the scan can have touched
        reach = int(math.ceil(scan.max_range / self.grid.resolution)) + 1
        rows, cols = self.grid.shape
        r0, r1 = max(0, r - reach), min(rows, r + reach + 1)
        c0, c1 = max(0, c - reach), min(cols, c + reach + 1)
        lo = self.grid.logodds_fixed(slice(r0, r1), slice(c0, c1))
        new = (lo > int(self._l_report * LOGODDS_ONE)) & ~self._reported[r0:r1, c0:c1] \
            & ~self._near_prior[r0:r1, c0:c1]
        rr, cc = np.nonzero(new)
        if rr.size == 0:
            return np.zeros((0, 2))
        self._reported[rr + r0, cc + c0] = True
        self.reported_cells += int(rr.size)
        res = self.grid.resolution
        return np.column_stack((self.grid.origin_x + (cc + c0 + 0.5) * res,
                                self.grid.origin_y + (rr + r0 + 0.5) * res))

    def _cells_of(self, points) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Grid (rows, cols) of map-frame points (N, 2) [m], and which lie inside."""
        r, c = self.grid.points_to_cells(points)
        rows, cols = self.grid.shape
        return r, c, (r >= 0) & (r < rows) & (c >= 0) & (c < cols)

    def unreport(self, points: np.ndarray) -> None:
        """Forget that the cells under ``points`` (N, 2) map frame [m] were
        reported: they are reported again by a later scan that finds them
        still occupied (the front holds back cells a moving object explains)."""
        r, c, ok = self._cells_of(points)
        was = self._reported[r[ok], c[ok]]
        self._reported[r[ok], c[ok]] = False
        self.reported_cells -= int(was.sum())

    def near_prior(self, points: np.ndarray) -> np.ndarray:
        """True for map-frame points (N, 2) [m] within ``prior_margin`` of an
        obstacle on the prior map (or outside the grid)."""
        r, c, ok = self._cells_of(points)
        out = np.ones(len(r), bool)
        out[ok] = self._near_prior[r[ok], c[ok]]
        return out
