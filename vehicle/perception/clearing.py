"""Free-space clearing for the lidar's mapped obstacles (what Nav2's
obstacle layer does by raytracing): an obstacle the lidar mapped, one the
prior map lacks, leaves the costmap once the lidar has seen its cells free
again, so a parked vehicle that drives off, a crate moved away or a gate
opened stops blocking goals and paths.

The occupancy grid already does the evidence: every beam that crosses a
cell lowers its log-odds, every return in it raises them
(``OccupancyGrid.integrate_scan``).  The mapper reports a cell once, when
its probability first exceeds ``p_report`` (0.8); this keeps the list of
reported cells and, after each scan, hands back those whose probability
has fallen below ``p_clear`` (0.3 by default) and unreports them (reported
again should the lidar find them occupied once more).  The gap between the
two thresholds is the hysteresis: with the grid's default increments a
cell the beams have hit often (log-odds at the 3.5 ceiling) must be seen
free in 11 scans in a row to go (about a second at 10 Hz), one reported
just now in 7, and a flickering return that still comes back in one scan
out of three or more keeps it; once gone it takes three or four hits to return.

Cells are listed in grid-fixed coordinates (the grid's row and column plus
how far it has rolled since this was built), so they keep their place as
the grid rolls with the vehicle; cells that roll out are dropped, as the
mapper and the costmap forget them.  The work per scan is one pass over
the listed cells (the obstacles the lidar added, not the map), reading
the grid only for those within the scan's reach.
"""
from __future__ import annotations

import math

import numpy as np

from ._clearing_kernels import clear_seen_free_kernel
from ._kernels import LOGODDS_ONE

_NO_POINTS = np.zeros((0, 2))
_F64 = np.dtype(np.float64)


class SeenFreeClearing:
    """The mapper's reported cells, and which of them the lidar has seen
    free.  ``mapper`` is the ``LidarMapper`` (its grid's packed cells and
    reported flags are read and its flags updated here); ``p_clear`` the
    occupancy probability below which a reported cell is seen free (must
    be below the mapper's ``p_report``)."""

    def __init__(self, mapper, p_clear: float = 0.3):
        p = float(p_clear)
        if not (0.0 < p < mapper.p_report):
            raise ValueError(f"p_clear must lie in (0, p_report = {mapper.p_report:g}), got {p_clear!r}")
        self.mapper = mapper
        self.p_clear = p
        # fixed-point log-odds: lo < ceil(l * ONE) is lo / ONE < l for integer lo
        self.threshold = int(math.ceil(math.log(p / (1.0 - p)) * LOGODDS_ONE))
        g = mapper.grid
        self._ox, self._oy = float(g.origin_x), float(g.origin_y)
        self._listed = np.empty((64, 2), np.int64)
        self._n = 0
        self._out = np.empty((64, 2))
        #: cells cleared so far
        self.cleared_cells = 0

    @property
    def listed(self) -> int:
        """Reported cells followed now."""
        return self._n

    def update(self, new_points: np.ndarray) -> np.ndarray:
        """After a scan was integrated and its newly reported cells were
        read out: ``new_points`` (N, 2) map-frame [x, y] cell centres [m] of
        those still reported (the front's hold-backs unreported).  Returns
        the (K, 2) map-frame cell centres of listed cells now seen free
        (unreported on the mapper), and lists the new ones.  Only listed
        cells within the scan's reach (the mapper's ``last_window``) are
        read: nothing else can have changed."""
        pts = new_points
        if type(pts) is not np.ndarray or pts.dtype is not _F64 or pts.ndim != 2 or not pts.flags.c_contiguous:
            pts = np.ascontiguousarray(np.asarray(pts, np.float64).reshape(-1, 2))
        if pts.shape[1] != 2:
            raise ValueError(f"new_points must be (N, 2) [x, y] metres, got shape {pts.shape}")
        k = len(pts)
        n = self._n
        if n + k == 0:
            return _NO_POINTS
        if n + k > len(self._listed):
            grown = np.empty((max(n + k, 2 * len(self._listed)), 2), np.int64)
            grown[:n] = self._listed[:n]
            self._listed = grown
        if n > len(self._out):
            self._out = np.empty((max(n, 2 * len(self._out)), 2))
        m = self.mapper
        g = m.grid
        res = g.resolution
        ox, oy = g.origin_x, g.origin_y
        # how far the grid has rolled since this was built, whole cells
        dr = int(round((oy - self._oy) / res))
        dc = int(round((ox - self._ox) / res))
        cells = g._cells
        win = m.last_window
        a0, a1, b0, b1 = win if win is not None else (0, cells.shape[0], 0, cells.shape[1])
        self._n, q = clear_seen_free_kernel(cells, m._reported, self._listed, n, pts, k, ox, oy, res, dr, dc,
                                            a0, a1, b0, b1, self.threshold, self._out)
        if q == 0:
            return _NO_POINTS
        m.reported_cells -= q
        self.cleared_cells += q
        return self._out[:q].copy()

    def still_free(self, points: np.ndarray) -> np.ndarray:
        """True for map-frame points (N, 2) [m] whose cell is on the grid
        and not reported now (cleared earlier and not found occupied since)."""
        r, c, ok = self.mapper._cells_of(points)
        out = np.zeros(len(r), bool)
        out[ok] = ~self.mapper._reported[r[ok], c[ok]]
        return out
