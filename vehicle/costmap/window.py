"""A planning costmap that goes beyond the prior map: a fixed-size window
that rolls with the vehicle (Nav2's ``rolling_window``), filled from the
prior map where there is one, from lidar obstacles everywhere, and with
unknown space traversable at a configurable cost (Nav2's
``allow_unknown`` / ``unknown_cost_value``).

The window never grows: its shape is fixed when it is built (the prior map
plus a margin, or a square of the configured side without one), so memory
stays bounded however far the vehicle drives.  ``follow(x, y)`` re-centres
it on the vehicle (whole cells, so cells keep their world positions) when
the vehicle comes within ``edge_trigger`` metres of an edge; cells that
scroll in are filled from the prior map (known) or are unknown, obstacles
that scroll out are forgotten (the lidar finds them again when it returns).

Obstacles the lidar mapped leave again when it sees their cells free
(``clear_seen_free``, Nav2's clearing by raytracing); the prior map's and
those pinned by ``pin`` (reported, not sensed) never do.

Weights (``astar`` convention, >= 1, inf lethal): the inflation layer's
weight everywhere, and in unknown cells at least ``unknown_weight`` (None:
unknown cells are lethal, Nav2's ``allow_unknown: false``).  Cells become
known when they lie on the prior map or when ``mark_known`` is told a lidar
scan saw them.
"""
from __future__ import annotations

import math

import numpy as np

from edgepilot.vehicle.maps import GridMap

from ._kernels import (CHUNK, TILE, known_weights_kernel, mark_known_chunked_kernel,
                       mark_known_packed_chunked_kernel, tiles_known_kernel, unknown_chunk_counts,
                       unknown_tile_counts)
from .inflation import InflatedCostmap, InflationParams, band_weights, distance_to_obstacles, weights_from_distance


#: Largest band table (squared cell distances) ``WindowCostmap._band_table`` builds: 8 MB
_BAND_TABLE_MAX = 1 << 20
#: Most tile boxes ``WindowCostmap._known_boxes`` holds before it starts over
_KNOWN_BOXES_MAX = 4096


class WindowCostmap(InflatedCostmap):
    """``rows`` x ``cols`` cells at ``resolution`` m, centred near
    ``center`` (map frame, m), over the optional ``static`` map (same
    resolution).  ``known`` is bool (rows, cols): on the prior map or seen
    (read it, do not write it: ``unknown_chunks`` counts its unknown cells
    per row chunk and ``unknown_tiles`` per band of rows of a chunk, and
    the per-scan update skips bands and chunks with none, and without a
    kernel call a window whose tiles it has found all known).
    ``pinned`` is bool (rows, cols): obstacles ``clear_seen_free`` leaves
    (the prior map's, and those given to ``pin``)."""

    def __init__(self, rows: int, cols: int, resolution: float, params: InflationParams,
                 static: GridMap | None = None, center: tuple[float, float] = (0.0, 0.0),
                 unknown_weight: float | None = 1.5, edge_trigger: float | None = None):
        if rows < 3 or cols < 3:
            raise ValueError(f"a planning window needs at least 3 x 3 cells, got {rows} x {cols}")
        if not (math.isfinite(resolution) and resolution > 0):
            raise ValueError(f"resolution must be a positive number of metres per cell, got {resolution!r}")
        if static is not None and not math.isclose(static.resolution, resolution):
            raise ValueError(f"static map resolution {static.resolution} m differs from the window's {resolution} m")
        if unknown_weight is not None and not (math.isfinite(unknown_weight) and unknown_weight >= 1.0):
            raise ValueError(f"unknown_weight must be >= 1 (or None: unknown is lethal), got {unknown_weight!r}")
        self._rows, self._cols = int(rows), int(cols)
        self._static = static
        self.unknown_weight = unknown_weight
        self.edge_trigger = (0.25 * min(rows, cols) * resolution if edge_trigger is None else float(edge_trigger))
        ox, oy = self._snap_origin(center[0], center[1], resolution)
        occ, known = self._static_window(ox, oy, resolution)
        self._set_known(known)
        self.pinned = occ.copy()
        self._new_known = np.empty((0, 2), np.int64)     # mark_known's work space
        self._new_known_d = np.empty(0, np.float32)
        self._band_key = self._band_tab = None            # _band_table's, built on first use
        super().__init__(GridMap(occ, resolution, ox, oy), params)

    def _set_known(self, known: np.ndarray) -> None:
        self.known = known
        self.unknown_chunks = unknown_chunk_counts(known)
        self.unknown_tiles = unknown_tile_counts(self.unknown_chunks)
        self.unknown_cells = int(self.unknown_tiles.sum())
        # boxes of tiles (t0, t1, q0, q1) of ``unknown_tiles`` found all
        # known (all counts 0), which ``_mark`` skips: the kernels only ever
        # count unknown cells down, so a box stays all known until the
        # counts are built anew here
        self._known_boxes = set()

    # -- geometry -----------------------------------------------------------
    def _snap_origin(self, x: float, y: float, res: float) -> tuple[float, float]:
        bx = self._static.origin_x if self._static is not None else 0.0
        by = self._static.origin_y if self._static is not None else 0.0
        return (bx + (math.floor((x - bx) / res) - self._cols // 2) * res,
                by + (math.floor((y - by) / res) - self._rows // 2) * res)

    def _static_window(self, ox: float, oy: float, res: float) -> tuple[np.ndarray, np.ndarray]:
        occ = np.zeros((self._rows, self._cols), bool)
        known = np.zeros((self._rows, self._cols), bool)
        s = self._static
        if s is None:
            return occ, known
        r0 = int(round((oy - s.origin_y) / res))
        c0 = int(round((ox - s.origin_x) / res))
        H, W = s.shape
        a0, a1 = max(0, r0), min(H, r0 + self._rows)
        b0, b1 = max(0, c0), min(W, c0 + self._cols)
        if a0 < a1 and b0 < b1:
            occ[a0 - r0:a1 - r0, b0 - c0:b1 - c0] = s.occupied[a0:a1, b0:b1]
            k = np.ones((a1 - a0, b1 - b0), bool) if s.unknown is None else ~s.unknown[a0:a1, b0:b1]
            known[a0 - r0:a1 - r0, b0 - c0:b1 - c0] = k | s.occupied[a0:a1, b0:b1]
        return occ, known

    def prior_occupied(self, r0: int = 0, r1: int | None = None, c0: int = 0, c1: int | None = None) -> np.ndarray:
        """The prior map's obstacles alone (none the sensors added, no
        transient layer) in rows [r0, r1) x cols [c0, c1) of the window
        (bool, default the whole window); all False without a prior map."""
        r1 = self._rows if r1 is None else r1
        c1 = self._cols if c1 is None else c1
        out = np.zeros((max(0, r1 - r0), max(0, c1 - c0)), bool)
        s = self._static
        if s is None or not out.size:
            return out
        res = self.resolution
        sr = int(round((self.origin_y - s.origin_y) / res)) + r0
        sc = int(round((self.origin_x - s.origin_x) / res)) + c0
        H, W = s.shape
        a0, a1 = max(0, sr), min(H, sr + out.shape[0])
        b0, b1 = max(0, sc), min(W, sc + out.shape[1])
        if a0 < a1 and b0 < b1:
            out[a0 - sr:a1 - sr, b0 - sc:b1 - sc] = s.occupied[a0:a1, b0:b1]
        return out

    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of the window, map frame [m]."""
        return (self.origin_x, self.origin_y, self.origin_x + self._cols * self.resolution,
                self.origin_y + self._rows * self.resolution)

    # -- weights -------------------------------------------------------------
    def _cost_unknown(self, w: np.ndarray, unk: np.ndarray) -> None:
        """Weights ``w`` in the cells ``unk`` (unknown): lethal, or at least ``unknown_weight``."""
        if self.unknown_weight is None:
            w[unk] = np.inf
        else:
            np.maximum(w, np.float32(self.unknown_weight), out=w, where=unk)

    def _unknown(self, r0: int, r1: int, c0: int, c1: int) -> None:
        self._cost_unknown(self.weights[r0:r1, c0:c1], ~self.known[r0:r1, c0:c1])

    def weights_over(self, occupied: np.ndarray) -> np.ndarray:
        """Planner weights (float32, inf lethal) over the window from the
        obstacles ``occupied`` (bool, the window's shape) alone, no
        transient layer, unknown space costed as in ``weights``."""
        w = weights_from_distance(distance_to_obstacles(occupied, self.resolution), self.params)
        self._cost_unknown(w, ~self.known)
        return w

    def _recompute_all(self) -> None:
        super()._recompute_all()
        self._unknown(0, self._rows, 0, self._cols)

    def _update_window(self, r0, r1, c0, c1):
        out = super()._update_window(r0, r1, c0, c1)
        self._unknown(*out)
        return out

    def mark_known(self, known: np.ndarray, origin: tuple[float, float]) -> None:
        """Cells a sensor has observed (bool mask on a grid of the same
        resolution whose south-west corner is ``origin``, map frame [m])
        become known: their weight drops to the inflation layer's."""
        if known.dtype != np.bool_ or known.ndim != 2:
            raise ValueError(f"mark_known: expected a 2-D bool mask, got {known.dtype} {known.shape}")
        h, w = known.shape
        self._mark(known, origin[0], origin[1], None, None, 0, h, 0, w)

    def mark_known_packed(self, cells: np.ndarray, mask: int, bias: int, origin: tuple[float, float],
                          window: tuple[int, int, int, int] | None = None) -> None:
        """As ``mark_known`` with the observed cells given as a packed
        integer grid (C-contiguous rows): observed where
        ``cells & mask != bias`` (the lidar mapper's grid, log-odds not zero).
        ``window`` (r0, r1, c0, c1): the grid is ``cells[r0:r1, c0:c1]``
        (its south-west corner at ``origin``); handing the whole grid with a
        window keeps it C-contiguous, which the kernel reads about twice as
        fast as a slice of it."""
        if cells.ndim != 2 or cells.dtype.kind not in "iu" or cells.strides[1] != cells.itemsize:
            raise ValueError(f"mark_known_packed: expected a 2-D integer grid with contiguous rows, got "
                             f"{cells.dtype} {cells.shape}")
        if window is not None:
            r0, r1, c0, c1 = map(int, window)
            if not (0 <= r0 <= r1 <= cells.shape[0] and 0 <= c0 <= c1 <= cells.shape[1]):
                raise ValueError(f"mark_known_packed: window {tuple(window)} is not within the grid's "
                                 f"shape {cells.shape}")
        else:
            r0, c0 = 0, 0
            r1, c1 = cells.shape
        self._mark(cells, origin[0], origin[1], int(mask), int(bias), r0, r1, c0, c1)

    def _mark(self, src: np.ndarray, ox: float, oy: float, mask: int | None, bias: int | None,
              r0: int, r1: int, c0: int, c1: int) -> None:
        """``src``'s rows [r0, r1) x cols [c0, c1) seen, their south-west
        corner at (``ox``, ``oy``): ``src`` a bool mask (``mask`` None) or a
        packed integer grid, seen where ``src & mask != bias``; checked by
        the callers (``mark_known``, ``mark_known_packed``; ``PlanningGrid.learn``
        hands the lidar mapper's own grid, 2-D int16 with contiguous rows,
        and the window of its latest scan, within it)."""
        res = self.resolution
        dr = int(round((oy - self.origin_y) / res))
        dc = int(round((ox - self.origin_x) / res))
        # the window's rows and cols on the costmap, clipped to it
        a0 = dr if dr > 0 else 0
        a1 = dr + r1 - r0
        if a1 > self._rows:
            a1 = self._rows
        b0 = dc if dc > 0 else 0
        b1 = dc + c1 - c0
        if b1 > self._cols:
            b1 = self._cols
        if a0 >= a1 or b0 >= b1:
            return
        # the tiles the window touches: nothing to do where they are all known
        # (where a lidar scan's window usually lies: on the prior map, or on
        # ground the scans have covered)
        box = (a0 // TILE, (a1 - 1) // TILE + 1, b0 // CHUNK, (b1 - 1) // CHUNK + 1)
        if box in self._known_boxes:
            return
        # one kernel pass: seen and not known yet -> known, listed row-major
        size = (a1 - a0) * (b1 - b0)
        if len(self._new_known) < size:
            self._new_known = np.empty((size, 2), np.int64)
            self._new_known_d = np.empty(size, np.float32)
        if mask is None:
            n = mark_known_chunked_kernel(src, a0 - dr + r0, b0 - dc + c0, self.known, self.unknown_chunks,
                                          self.unknown_tiles, a0, a1, b0, b1, self._new_known)
        else:
            n = mark_known_packed_chunked_kernel(src, mask, bias, a0 - dr + r0, b0 - dc + c0,
                                                 self.known, self.unknown_chunks, self.unknown_tiles,
                                                 a0, a1, b0, b1, self._new_known)
        if n == 0:
            if tiles_known_kernel(self.unknown_tiles, *box):
                if len(self._known_boxes) >= _KNOWN_BOXES_MAX:
                    self._known_boxes.clear()
                self._known_boxes.add(box)
            return
        self.unknown_cells -= n
        # only the weights of newly known cells change: back to the inflation layer's,
        # set in the kernel: where the distance settles them (lethal, or beyond the inflation radius), ...
        # the exponential band's from a table of its weights per distance ...
        p = self.params
        lethal, infl = p.inscribed_radius, p.inflation_radius
        d_tab, w_tab = self._band_table()
        m, odd = known_weights_kernel(self._new_known, n, self.distance, self.weights, float(lethal), float(infl),
                                      1.0 / self.resolution, d_tab, w_tab, self._new_known_d)
        if m:   # ... and by NumPy where the table has not got the distance
            d = self._new_known_d[:m]
            self.weights[self._new_known[:m, 0], self._new_known[:m, 1]] = (
                weights_from_distance(d, p) if odd else band_weights(d, p))
        self.version += 1

    def _band_table(self) -> tuple[np.ndarray, np.ndarray]:
        """float32 (d, w) per squared cell distance k = 0, 1, ... out past the
        inflation radius: the distance [m] the distance transform gives for
        k (float32 sqrt(k), times the resolution as float32:
        ``distance_to_obstacles``) and ``band_weights`` of it (meaningful in
        the band only); empty (the band left to NumPy) when the inflation
        radius spans more than ``_BAND_TABLE_MAX`` entries.  Built for the
        current ``params`` and resolution."""
        p, res = self.params, self.resolution
        key = self._band_key
        if key is None or key[0] is not p or key[1] != res:
            kmax = int(math.ceil(p.inflation_radius / res)) + 2
            k = np.arange(kmax * kmax if kmax * kmax <= _BAND_TABLE_MAX else 0, dtype=np.float64)
            d = np.sqrt(k).astype(np.float32) * np.float32(res)
            self._band_tab = (d, band_weights(d, p))
            self._band_key = (p, res)
        return self._band_tab

    # -- obstacles that may leave ------------------------------------------------
    def pin(self, cells=None, points=None) -> None:
        """Keep the obstacles at ``cells`` (N, 2) int [row, col] or
        ``points`` (N, 2) [x, y] map-frame metres through ``clear_seen_free``
        (obstacles reported rather than sensed); outside the window: ignored."""
        rc = self._cells_from(cells, points)
        self.pinned[rc[:, 0], rc[:, 1]] = True

    def clear_obstacles(self, cells=None, points=None):
        """As ``InflatedCostmap.clear_obstacles``; the cells are unpinned too."""
        rc = self._cells_from(cells, points)
        self.pinned[rc[:, 0], rc[:, 1]] = False
        return super().clear_obstacles(cells=rc)

    def clear_seen_free(self, cells=None, points=None) -> int:
        """A sensor has seen these cells free again (``cells`` (N, 2) int
        [row, col] or ``points`` (N, 2) [x, y] map-frame metres): their
        obstacles leave, except the prior map's and pinned ones.  The
        weights are recomputed near the cells that changed only, one
        local window per cluster of them.  Returns how many of the cells
        given cleared."""
        rc = self._cells_from(cells, points)
        if not len(rc):
            return 0
        r, c = rc[:, 0], rc[:, 1]
        go = self.occupied[r, c] & ~self.pinned[r, c]
        n = int(np.count_nonzero(go))
        if n == 0:
            return 0
        if n < len(rc):
            rc = rc[go]
            r, c = rc[:, 0], rc[:, 1]
        self.occupied[r, c] = False
        self._update_cells(rc)
        return n

    def _update_cells(self, rc: np.ndarray) -> None:
        """Recompute the weights round changed cells (N, 2) [row, col]:
        one window when they lie within 4 inflation radii of each other
        (the usual case: one thing left), else one per tile of that size
        they fall in, so cells far apart do not make one window spanning both."""
        tile = 4 * self.radius_cells
        r, c = rc[:, 0], rc[:, 1]
        r0, r1, c0, c1 = int(r.min()), int(r.max()) + 1, int(c.min()), int(c.max()) + 1
        if r1 - r0 <= tile and c1 - c0 <= tile:
            self._update_window(r0, r1, c0, c1)
            return
        key = (r // tile) * (self._cols // tile + 1) + c // tile
        order = np.argsort(key, kind="stable")
        rc, key = rc[order], key[order]
        cut = np.flatnonzero(key[1:] != key[:-1]) + 1
        for g in np.split(rc, cut):
            self._update_window(int(g[:, 0].min()), int(g[:, 0].max()) + 1,
                                int(g[:, 1].min()), int(g[:, 1].max()) + 1)

    # -- rolling -------------------------------------------------------------
    def near_edge(self, x: float, y: float) -> bool:
        xmin, ymin, xmax, ymax = self.bounds()
        e = self.edge_trigger
        return not (xmin + e <= x <= xmax - e and ymin + e <= y <= ymax - e)

    def follow(self, x: float, y: float) -> bool:
        """Re-centre on the vehicle at (x, y) [m] when it is within
        ``edge_trigger`` of an edge.  Returns True when the window moved."""
        if not (math.isfinite(x) and math.isfinite(y)) or not self.near_edge(x, y):
            return False
        res = self.resolution
        ox, oy = self._snap_origin(x, y, res)
        dc = int(round((ox - self.origin_x) / res))
        dr = int(round((oy - self.origin_y) / res))
        if dr == 0 and dc == 0:
            return False
        occ, known = self._static_window(ox, oy, res)
        pinned = occ.copy()
        R, C = self._rows, self._cols
        a0, a1 = max(0, dr), min(R, R + dr)
        b0, b1 = max(0, dc), min(C, C + dc)
        if a0 < a1 and b0 < b1:      # keep what the old window knew where the windows overlap
            occ[a0 - dr:a1 - dr, b0 - dc:b1 - dc] |= self.occupied[a0:a1, b0:b1]
            known[a0 - dr:a1 - dr, b0 - dc:b1 - dc] |= self.known[a0:a1, b0:b1]
            pinned[a0 - dr:a1 - dr, b0 - dc:b1 - dc] |= self.pinned[a0:a1, b0:b1]
        self.occupied = np.ascontiguousarray(occ)
        self.pinned = pinned
        self._set_known(known)
        self._shift_transient(dr, dc)
        self.origin_x, self.origin_y = ox, oy
        self._recompute_all()
        return True
