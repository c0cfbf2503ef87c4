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
the listed cells (the obstacles the lidar added, not the map).
"""
from __future__ import annotations

import math

import numpy as np

from ._clearing_kernels import clear_seen_free_kernel
from ._kernels import LOGODDS_ONE

_NO_CELLS = np.zeros((0, 2), np.int64)


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
        self._out = np.empty((64, 2), np.int64)
        #: cells cleared so far
        self.cleared_cells = 0

    @property
    def listed(self) -> int:
        """Reported cells followed now."""
        return self._n

    def _offset(self) -> tuple[int, int]:
        g = self.mapper.grid
        return (int(round((g.origin_y - self._oy) / g.resolution)),
                int(round((g.origin_x - self._ox) / g.resolution)))

    def update(self, new_points: np.ndarray) -> np.ndarray:
        """After a scan was integrated and its newly reported cells were
        read out: ``new_points`` (N, 2) map-frame [x, y] cell centres [m] of
        those still reported (the front's hold-backs unreported).  Returns
        the (K, 2) map-frame cell centres of listed cells now seen free
        (unreported on the mapper), and lists the new ones."""
        m = self.mapper
        g = m.grid
        if len(new_points):
            rows, cols = g.shape
            r, c = g.points_to_cells(new_points)
            ok = (r >= 0) & (r < rows) & (c >= 0) & (c < cols)
            new_rc = np.ascontiguousarray(np.column_stack((r[ok], c[ok])))
        else:
            new_rc = _NO_CELLS
        k = len(new_rc)
        if self._n + k > len(self._listed):
            grown = np.empty((max(self._n + k, 2 * len(self._listed)), 2), np.int64)
            grown[:self._n] = self._listed[:self._n]
            self._listed = grown
        if self._n > len(self._out):
            self._out = np.empty((max(self._n, 2 * len(self._out)), 2), np.int64)
        if self._n == 0 and k == 0:
            return np.zeros((0, 2))
        dr, dc = self._offset()
        self._n, q = clear_seen_free_kernel(g._cells, m._reported, self._listed, self._n, new_rc, k, dr, dc,
                                            self.threshold, self._out)
        if q == 0:
            return np.zeros((0, 2))
        m.reported_cells -= int(q)
        self.cleared_cells += int(q)
        return g.cells_to_world(self._out[:q])
