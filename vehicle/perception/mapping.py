"""Lidar mapping for the core: scans into an ``OccupancyGrid`` aligned with
the prior map, and the obstacles it finds that the prior map lacks, as
points for the planning costmap (``VehicleCore.add_obstacles``).

Frames: the grid is in the map frame (ENU metres) over the prior map's
extent; scans are in the sensor frame, the sensor at the vehicle's
estimated pose (a lidar mount offset, when configured, is applied here).
"""
from __future__ import annotations

import math

import numpy as np

from edgepilot.vehicle.distance_transform import distance_cells
from edgepilot.vehicle.maps import GridMap
from edgepilot.vehicle.types import LaserScan, VehicleState

from ._kernels import (LO_BIAS, LO_MASK, LOGODDS_ONE, cell_centres_kernel, hold_near_tracks_kernel,
                       hold_unreport_kernel, report_hit_centres_kernel, report_new_cells_kernel,
                       unreport_points_kernel)
from .occupancy import OccupancyGrid

#: NumPy's float64 dtype: the usual points' dtype is this very object, and ``is``
#: tests it without the comparison's dtype conversion (any other float64 dtype
#: object takes the NumPy way, with the same result)
_F64 = np.dtype(np.float64)


class LidarMapper:
    """Integrates scans and reports newly occupied cells.

    A cell is reported once, when its occupancy probability first exceeds
    ``p_report`` (two agreeing hits with the default log-odds), unless it is
    within ``prior_margin`` metres of an obstacle already on the prior map:
    pose error smears known walls and they must not be re-added as new
    obstacles.  Scans are skipped while the pose estimate is worse than
    ``max_pos_std`` metres."""

    def __init__(self, prior: GridMap | None, resolution: float = 0.1, p_report: float = 0.8,
                 prior_margin: float = 0.5, max_pos_std: float = 1.0,
                 mount=(0.0, 0.0, 0.0), window: tuple[int, int, float, float] | None = None):
        """``window`` = (rows, cols, origin_x, origin_y): map that window (at
        ``resolution``; it rolls with ``align``) instead of the prior map's
        extent, so the vehicle maps beyond the prior map or without one."""
        if resolution <= 0:
            raise ValueError(f"resolution must be > 0 m, got {resolution}")
        if prior is None and window is None:
            raise ValueError("LidarMapper needs a prior map or a window (rows, cols, origin_x, origin_y)")
        if window is not None:
            rows, cols, ox, oy = window
            self.grid = OccupancyGrid(cols * resolution, rows * resolution, resolution, (ox, oy))
        else:
            self.grid = OccupancyGrid(prior.width_m, prior.height_m, resolution,
                                      (prior.origin_x, prior.origin_y))
        self.p_report = float(p_report)
        self._l_report = math.log(p_report / (1.0 - p_report))
        self._thr = int(self._l_report * LOGODDS_ONE)      # in the grid's fixed point
        self.max_pos_std = float(max_pos_std)
        self.mount = tuple(float(v) for v in mount)
        # within prior_margin [m] of an obstacle on the prior map, at the prior's resolution
        self._prior = prior
        self._prior_margin = float(prior_margin)
        self._prior_close = None
        if prior is not None:
            dist = distance_cells(prior.occupied) * prior.resolution
            self._prior_close = dist <= prior_margin
        self._near_prior = self._near_prior_window()
        self._reported = np.zeros(self.grid.shape, bool)
        self.scans = 0
        self.reported_cells = 0
        self._new_rc = None            # (K, 2) int64 scratch of the per-scan read-out
        # The read-out looks only at cells that can have crossed p_report
        # since the last one (report_hit_cells_kernel): the latest scan's
        # return cells and the cells unreported since, pending here.  The
        # grid overwritten other than by scans: back to the window pass.
        self._pend = np.empty((64, 2), np.int64)
        self._npend = 0
        self._grid_writes = self.grid.writes

    def _near_prior_window(self) -> np.ndarray:
        """bool (rows, cols) of the grid: cells near a prior-map obstacle."""
        rows, cols = self.grid.shape
        prior = self._prior
        if prior is None:
            return np.zeros((rows, cols), bool)
        res = self.grid.resolution
        ys = self.grid.origin_y + (np.arange(rows) + 0.5) * res
        xs = self.grid.origin_x + (np.arange(cols) + 0.5) * res
        pr = np.floor((ys - prior.origin_y) / prior.resolution).astype(int)
        pc = np.floor((xs - prior.origin_x) / prior.resolution).astype(int)
        # just outside the prior map its edge counts (a wall on the edge is
        # seen from outside it too); farther out there is no prior structure
        m = int(math.ceil(self._prior_margin / prior.resolution)) + 1
        vr = (pr >= -m) & (pr < prior.shape[0] + m)
        vc = (pc >= -m) & (pc < prior.shape[1] + m)
        pr = np.clip(pr, 0, prior.shape[0] - 1)
        pc = np.clip(pc, 0, prior.shape[1] - 1)
        out = np.zeros((rows, cols), bool)
        out[np.ix_(vr, vc)] = self._prior_close[np.ix_(pr[vr], pc[vc])]
        return out

    def align(self, origin_x: float, origin_y: float) -> bool:
        """Roll the grid (whole cells) so its south-west corner is at
        (origin_x, origin_y) [m]; cells scrolled in are unknown.  Returns
        True when it moved."""
        g = self.grid
        res = g.resolution
        dc = int(round((origin_x - g.origin_x) / res))
        dr = int(round((origin_y - g.origin_y) / res))
        if dr == 0 and dc == 0:
            return False
        rows, cols = g.shape
        # OccupancyGrid.follow centres the window on a point: the one that gives this shift
        g.follow(g.origin_x + (cols // 2 + dc + 0.5) * res, g.origin_y + (rows // 2 + dr + 0.5) * res)
        rep = np.zeros_like(self._reported)
        a0, a1 = max(0, dr), min(rows, rows + dr)
        b0, b1 = max(0, dc), min(cols, cols + dc)
        if a0 < a1 and b0 < b1:
            rep[a0 - dr:a1 - dr, b0 - dc:b1 - dc] = self._reported[a0:a1, b0:b1]
        self._reported = rep
        self._near_prior = self._near_prior_window()
        if self._npend:              # pending cells keep their world positions
            p = self._pend[:self._npend] - np.array([dr, dc], np.int64)
            p = p[(p[:, 0] >= 0) & (p[:, 0] < rows) & (p[:, 1] >= 0) & (p[:, 1] < cols)]
            self._npend = len(p)
            self._pend[:self._npend] = p
        return True

    def seen(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        """bool of the grid window rows [r0, r1) x cols [c0, c1): cells a
        scan has told anything about (free or occupied, not unknown)."""
        # log-odds != 0 straight on the packed cells (no int32 decode)
        return (self.grid._cells[r0:r1, c0:c1] & LO_MASK) != LO_BIAS

    def packed(self, r0: int = 0, r1: int | None = None, c0: int = 0,
               c1: int | None = None) -> tuple[np.ndarray, int, int]:
        """The grid window rows [r0, r1) x cols [c0, c1) (default: the whole
        grid) as its packed int16 cells (a view; the whole grid's is its own
        array, C-contiguous) with the mask and bias that say seen:
        ``cells & mask != bias`` is ``seen(r0, r1, c0, c1)``."""
        cells = self.grid._cells
        if r0 == 0 and c0 == 0 and r1 is None and c1 is None:
            return cells, LO_MASK, LO_BIAS
        return cells[r0:r1, c0:c1], LO_MASK, LO_BIAS

    #: (r0, r1, c0, c1) of the grid the latest integrated scan could touch, or None
    last_window = None

    def sensor_pose(self, state: VehicleState) -> tuple[float, float, float]:
        mx, my, myaw = self.mount
        c, s = math.cos(state.yaw), math.sin(state.yaw)
        return (state.x + c * mx - s * my, state.y + s * mx + c * my, state.yaw + myaw)

    def integrate(self, state: VehicleState, scan: LaserScan,
                  pose: tuple[float, float, float] | None = None) -> np.ndarray:
        """Integrate ``scan`` taken at ``state``; returns (N, 2) map-frame
        points [x, y] (cell centres) of obstacles seen for the first time.
        ``pose``: ``sensor_pose(state)`` when the caller has it already."""
        if not state.valid or state.pos_std > self.max_pos_std:
            return np.zeros((0, 2))
        if pose is None:
            pose = self.sensor_pose(state)
        g = self.grid
        res = g.resolution
        r = math.floor((pose[1] - g.origin_y) / res)     # g.world_to_cell, inline
        c = math.floor((pose[0] - g.origin_x) / res)
        rows, cols = g._cells.shape
        if not (0 <= r < rows and 0 <= c < cols):
            return np.zeros((0, 2))
        g.integrate_scan(pose, scan.ranges, scan.angle_min, scan.angle_increment, scan.max_range)
        self.scans += 1
        # only the window the scan can have touched
        reach = int(math.ceil(scan.max_range / res)) + 1
        r0 = r - reach if r > reach else 0
        r1 = r + reach + 1 if r + reach + 1 < rows else rows
        c0 = c - reach if c > reach else 0
        c1 = c + reach + 1 if c + reach + 1 < cols else cols
        self.last_window = (r0, r1, c0, c1)
        # above p_report, not reported yet, not near the prior map ->
        # reported now (row-major order)
        thr = self._thr
        hit, ends, nb = g._hit, g._scratch, g._last_nb      # g.last_scan_ends()
        if g.writes == self._grid_writes and nb > 0:
            # only this scan's return cells and the pending ones can be new,
            # read out with their centres in one kernel call
            out = np.empty((nb + self._npend, 2))
            k, self._npend = report_hit_centres_kernel(g._cells, self._reported, self._near_prior, hit, ends, nb,
                                                       self._pend, self._npend, r0, r1, c0, c1, thr,
                                                       float(g.origin_x), float(g.origin_y), float(res), out)
            if k:
                self.reported_cells += k
            return out[:k]                   # (0, 2) when none is new
        else:
            # one kernel pass over the window
            size = (r1 - r0) * (c1 - c0)
            if self._new_rc is None or len(self._new_rc) < size:
                self._new_rc = np.empty((size, 2), np.int64)
            k = report_new_cells_kernel(self.grid._cells, self._reported, self._near_prior, r0, r1, c0, c1,
                                        thr, self._new_rc)
        if k == 0:
            return np.zeros((0, 2))
        self.reported_cells += int(k)
        # cell centres: origin + (index + 0.5) * res (GridGeometry.cells_to_world's arithmetic)
        out = np.empty((k, 2))
        cell_centres_kernel(self._new_rc, k, float(g.origin_x), float(g.origin_y), float(res), out)
        return out

    def _cells_of(self, points) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Grid (rows, cols) of map-frame points (N, 2) [m], and which lie inside."""
        r, c = self.grid.points_to_cells(points)
        rows, cols = self.grid.shape
        return r, c, (r >= 0) & (r < rows) & (c >= 0) & (c < cols)

    def unreport(self, points: np.ndarray) -> None:
        """Forget that the cells under ``points`` (N, 2) map frame [m] were
        reported: they are reported again by a later scan that finds them
        still occupied (the front holds back cells a moving object explains)."""
        pts = points
        if (type(pts) is np.ndarray and pts.dtype is _F64 and pts.ndim == 2 and pts.shape[1] == 2
                and pts.flags.c_contiguous):
            # the common call (the front's (N, 2) cell centres): one kernel,
            # which leaves points that are not finite to the NumPy way below
            self._pend_room(len(pts))
            g = self.grid
            was, self._npend = unreport_points_kernel(pts, float(g.origin_x), float(g.origin_y),
                                                      float(g.resolution), self._reported, self._pend,
                                                      self._npend)
            if was >= 0:
                self.reported_cells -= int(was)
                return
        r, c, ok = self._cells_of(points)
        was = self._reported[r[ok], c[ok]]
        self._reported[r[ok], c[ok]] = False
        self.reported_cells -= int(was.sum())
        k = int(ok.sum())
        if k:                        # checked again by the next read-outs
            self._pend_room(k)
            need = self._npend + k
            self._pend[self._npend:need, 0] = r[ok]
            self._pend[self._npend:need, 1] = c[ok]
            self._npend = need

    def _pend_room(self, n: int) -> None:
        """Room in ``_pend`` for ``n`` more pending cells after the first
        ``_npend`` (it at least doubles when it grows)."""
        need = self._npend + n
        if need > len(self._pend):
            grown = np.empty((max(need, 2 * len(self._pend)), 2), np.int64)
            grown[:self._npend] = self._pend[:self._npend]
            self._pend = grown

    def _unreport_held(self, points: np.ndarray, shapes: np.ndarray) -> np.ndarray:
        """The front's hold-back of a scan's new cells: ``unreport`` the
        ``points`` (N, 2) map frame [m] that ``shapes`` (K, 6) float64 hold
        (``_kernels.hold_near_tracks_kernel``: discs and swept paths of
        tracks) and return the others (M, 2), in order (``points`` itself
        when none is held).  One kernel call for the usual points (float64,
        C-contiguous, finite)."""
        pts = points
        n = len(pts)
        hold = np.zeros(n, bool)
        if (type(pts) is np.ndarray and pts.dtype is _F64 and pts.ndim == 2 and pts.shape[1] == 2
                and pts.flags.c_contiguous):
            self._pend_room(n)
            g = self.grid
            kept = np.empty((n, 2))
            held, was, npend = hold_unreport_kernel(pts, shapes, float(g.origin_x), float(g.origin_y),
                                                    float(g.resolution), self._reported, self._pend,
                                                    self._npend, hold, kept)
            if held == 0:
                return pts
            if was >= 0:
                self._npend = npend
                self.reported_cells -= int(was)
                return kept[:n - held]
            # a held point not finite: the NumPy way (hold is filled)
        else:
            pts = np.ascontiguousarray(pts, np.float64).reshape(-1, 2)
            held = hold_near_tracks_kernel(pts, shapes, hold)
            if held == 0:
                return points
        self.unreport(pts[hold])
        return pts[~hold]

    def near_prior(self, points: np.ndarray) -> np.ndarray:
        """True for map-frame points (N, 2) [m] within ``prior_margin`` of an
        obstacle on the prior map (or outside the grid)."""
        if type(points) is np.ndarray and points.ndim == 2 and points.shape[1] == 2 and len(points) <= 16:
            # a scan's few clusters: plain float math
            return np.array(self._near_prior_xy(points.tolist()), bool)
        r, c, ok = self._cells_of(points)
        out = np.ones(len(r), bool)
        out[ok] = self._near_prior[r[ok], c[ok]]
        return out

    def _near_prior_xy(self, xy) -> list[bool]:
        """``near_prior`` of a few points given as (x, y) float pairs [m]
        (a list; longer rows that start with x, y do as well, e.g.
        ``tracking.cluster_rows``' tuples), as a list: the same cells,
        floor((v - origin) / resolution)."""
        g = self.grid
        ox, oy, res = g.origin_x, g.origin_y, g.resolution
        near = self._near_prior
        rows, cols = near.shape             # the grid's
        isf = math.isfinite
        out = []
        for p in xy:
            x = p[0]
            y = p[1]
            if not (isf(x) and isf(y)):
                out.append(True)
                continue
            r = math.floor((y - oy) / res)
            c = math.floor((x - ox) / res)
            out.append(near.item(r, c) if 0 <= r < rows and 0 <= c < cols else True)
        return out

    def _off_prior(self, objects: list, xy: list | None = None) -> list:
        """The ``objects`` (anything with map-frame ``x``, ``y`` [m], e.g. a
        scan's clusters) that are not ``near_prior``, in order: the test of
        ``_near_prior_xy`` on their centres (``objects`` itself when none is).
        ``xy``: the centres [(x, y)] in the same order (or rows that start
        with them), for objects without ``x``, ``y`` attributes
        (``tracking.cluster_rows``' tuples: ``xy`` the objects themselves)."""
        near = self._near_prior_xy([(o.x, o.y) for o in objects] if xy is None else xy)
        if True not in near:
            return objects
        return [o for o, n in zip(objects, near) if not n]
