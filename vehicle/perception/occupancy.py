"""Log-odds occupancy grid built from planar lidar scans.

Frames and units: the grid lives in the ENU map frame (x east, y north,
metres).  Row 0 is the southern edge and column 0 the western edge, as in
``vehicle.maps.GridMap`` and ROS ``nav_msgs/OccupancyGrid``; ``origin`` is
the map-frame position of the south-west corner of cell (0, 0).  Scan
ranges are metres along beams whose angles are measured in the sensor frame
(x forward, y left, counter-clockwise); the pose is the sensor's (x, y, yaw)
in the map frame.

Update model: one scan is one measurement.  Each cell a beam crosses is
"free" for that scan, each cell in which a beam ends on a return is
"occupied" (occupied wins), and each touched cell gets its log-odds changed
once by ``l_free`` or ``l_occ``, clamped to [``l_min``, ``l_max``].  A range
that is NaN, +-inf, <= 0 or >= ``max_range`` is "no return": with
``clear_no_return`` (the default, right for open water where nothing comes
back) the beam clears free space out to ``max_range``; otherwise it is
ignored.  Nothing beyond ``max_range`` is touched.

Storage: two bytes a cell, log-odds in fixed point of 1/128 (|l| < 16) and a
scan stamp; ``l_free`` etc. are rounded to that step (the attributes hold
the values used).  ``logodds`` / ``probabilities()`` decode to float32.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from edgepilot.vehicle.maps import GridGeometry, GridMap, load_map_server, save_map_server

from ._kernels import (FP_SCALE, FP_SHIFT, LO_BIAS, LO_MASK, LOGODDS_ONE, MAX_STAMP,
                       clear_stamps_box_kernel, clear_stamps_kernel, decode_logodds_kernel,
                       free_update_table, integrate_scan_kernel, prob_kernel, scan_scratch_size,
                       trace_cells_kernel)

_MAX_CELLS_PER_AXIS = 1 << 20       # keeps fixed-point products inside int64
#: free_update_table per (l_free, l_min) in fixed point, read-only: one copy
#: for all the grids with the same increments (a fleet's vehicles), so the
#: few lines a scan looks up stay in cache from one vehicle's scan to the next
_FREE_TABLES: dict = {}
_EMPTY_BOX = (_MAX_CELLS_PER_AXIS, -1, _MAX_CELLS_PER_AXIS, -1)
_BOX = slice(4, 8)                  # the stamp box in OccupancyGrid._kp (see integrate_scan_kernel's kp)
_F32 = np.dtype(np.float32)


#: (angle_min, angle_increment, n) -> ``_beam_table``'s (cos, sin)
_BEAM_TABLES: dict = {}


def _beam_table(angle_min: float, angle_increment: float, n: int):
    """(cos, sin) float64 (n,) of the sensor-frame beam angles
    ``angle_min + angle_increment * i``, computed once per scan layout and
    shared by every grid and by the clustering (``tracking.cluster_scan``),
    which turn them by the sensor's yaw (not to be written to; not flagged
    read-only, as numba's dispatcher types a read-only array on its slow
    path).  (Layouts that differ only in the sign of a zero angle_min share
    a table; the two would differ only in the sign of a zero, which neither
    user depends on.)"""
    key = (angle_min, angle_increment, n)
    tab = _BEAM_TABLES.get(key)
    if tab is None:
        a = angle_min + angle_increment * np.arange(n, dtype=np.float64)
        tab = (np.cos(a), np.sin(a))
        if len(_BEAM_TABLES) >= 16:      # (a NaN layout never matches: bounded all the same)
            _BEAM_TABLES.clear()
        _BEAM_TABLES[key] = tab
    return tab


#: (angle_min, angle_increment, n) -> ``_beam_rows``' array
_BEAM_ROWS: dict = {}


def _beam_rows(angle_min: float, angle_increment: float, n: int) -> np.ndarray:
    """``_beam_table``'s (cos, sin) as the rows of one float64 (2, n)
    array (the scan kernel's argument), computed once per scan layout."""
    key = (angle_min, angle_increment, n)
    tab = _BEAM_ROWS.get(key)
    if tab is None:
        tab = np.stack(_beam_table(angle_min, angle_increment, n))
        if len(_BEAM_ROWS) >= 16:
            _BEAM_ROWS.clear()
        _BEAM_ROWS[key] = tab
    return tab


def _free_table(l_free: int, l_min: int) -> np.ndarray:
    """``free_update_table(l_free, l_min)``, read-only, shared."""
    key = (int(l_free), int(l_min))
    tab = _FREE_TABLES.get(key)
    if tab is None:
        if len(_FREE_TABLES) >= 16:
            _FREE_TABLES.clear()
        tab = free_update_table(*key)
        tab.flags.writeable = False
        _FREE_TABLES[key] = tab
    return tab


def _finite(name: str, v) -> float:
    if type(v) is float and v - v == 0.0:     # fast path: a finite float (inf - inf is NaN)
        return v
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {v!r}") from None
    if not math.isfinite(f):
        raise ValueError(f"{name} must be finite, got {v!r}")
    return f


def _pose3(pose) -> tuple[float, float, float]:
    try:
        n = len(pose)
    except TypeError:
        raise ValueError(f"pose must be (x, y, yaw) in the map frame, got {pose!r}") from None
    if n != 3:
        raise ValueError(f"pose must be (x, y, yaw) in the map frame (3 values), got {n} values")
    return (_finite("pose x", pose[0]), _finite("pose y", pose[1]), _finite("pose yaw", pose[2]))


def _ranges_array(ranges) -> np.ndarray:
    if (type(ranges) is np.ndarray and ranges.dtype == np.float32 and ranges.ndim == 1
            and ranges.size and ranges.flags.c_contiguous):
        return ranges                          # fast path: already what the kernel takes
    arr = np.asarray(ranges)
    if arr.ndim != 1:
        raise ValueError(f"ranges must be a 1-D array of metres, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError("ranges is empty; a scan needs at least one beam")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"ranges must be numeric (float32 metres), got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float32)


class OccupancyGrid(GridGeometry):
    """A log-odds occupancy grid; see the module docstring for the model.

    ``width_m`` x ``height_m`` metres at ``resolution_m`` metres per cell,
    south-west corner at ``origin`` = (x, y) in the map frame.  With
    ``rolling=True`` the window follows the vehicle: when a scan's pose
    leaves the central half of the window, the window is re-centred on it
    (whole cells; cells that scroll in are unknown, cells that scroll out
    are forgotten).
    """

    def __init__(self, width_m: float, height_m: float, resolution_m: float,
                 origin=(0.0, 0.0), *, l_free: float = -0.4, l_occ: float = 0.85,
                 l_min: float = -2.0, l_max: float = 3.5, rolling: bool = False,
                 clear_no_return: bool = True):
        res = _finite("resolution_m", resolution_m)
        if res <= 0:
            raise ValueError(f"resolution_m must be > 0 metres per cell, got {resolution_m!r}")
        wm = _finite("width_m", width_m)
        hm = _finite("height_m", height_m)
        if wm <= 0 or hm <= 0:
            raise ValueError(f"width_m and height_m must be > 0 metres, got {width_m!r} x {height_m!r}")
        cols = int(round(wm / res))
        rows = int(round(hm / res))
        if cols < 1 or rows < 1:
            raise ValueError(f"grid of {width_m} x {height_m} m at {res} m has no cells")
        if cols > _MAX_CELLS_PER_AXIS or rows > _MAX_CELLS_PER_AXIS:
            raise ValueError(f"grid of {rows} x {cols} cells is too large (max {_MAX_CELLS_PER_AXIS} per axis)")
        try:
            ox, oy = origin
        except (TypeError, ValueError):
            raise ValueError(f"origin must be (x, y) metres in the map frame, got {origin!r}") from None
        self.origin_x = _finite("origin x", ox)
        self.origin_y = _finite("origin y", oy)
        self.resolution = res
        for name, v in (("l_free", l_free), ("l_occ", l_occ), ("l_min", l_min), ("l_max", l_max)):
            _finite(name, v)
        if not (l_free < 0 < l_occ):
            raise ValueError(f"need l_free < 0 < l_occ, got l_free={l_free}, l_occ={l_occ}")
        if not (l_min < 0 < l_max):
            raise ValueError(f"need l_min < 0 < l_max, got l_min={l_min}, l_max={l_max}")
        if not (l_min > -LO_BIAS / LOGODDS_ONE and l_max < (LO_MASK - LO_BIAS) / LOGODDS_ONE):
            raise ValueError(f"l_min and l_max must lie within +-{LO_BIAS / LOGODDS_ONE:g}, got {l_min}, {l_max}")
        # The grid stores log-odds in fixed point (1/LOGODDS_ONE); these are
        # the values it really uses.
        q = lambda v: round(float(v) * LOGODDS_ONE) / LOGODDS_ONE  # noqa: E731
        self.l_free, self.l_occ = q(l_free), q(l_occ)
        self.l_min, self.l_max = q(l_min), q(l_max)
        if self.l_free == 0 or self.l_occ == 0:
            raise ValueError(f"l_free and l_occ must be at least 1/{LOGODDS_ONE} in size")
        self.rolling = bool(rolling)
        self.clear_no_return = bool(clear_no_return)
        # Packed cells: scan stamp (bits 12..14), biased fixed-point log-odds (0..11).
        self._cells = np.full((rows, cols), LO_BIAS, np.int16)
        self._lq = np.array([self._q(l_free), self._q(l_occ), self._q(l_min) + LO_BIAS,
                             self._q(l_max) + LO_BIAS], np.int32)
        self._free_lut = _free_table(self._lq[0], self._lq[2])
        # the kernel's per-grid integers: the log-odds steps (_lq) and, at
        # _BOX, the box of the cells stamped since the stamps were last
        # cleared (one array: one argument less to dispatch per scan)
        self._kp = np.array([*self._lq, *_EMPTY_BOX], np.int64)
        self._cur = 0
        self._scratch_n = 0
        self._scratch = self._hit = None
        self._last_nb = 0              # beams of the latest scan (its end cells are in the work space)
        self.scans_integrated = 0
        #: counts the writes of log-odds other than scans (``set_logodds``)
        self.writes = 0

    # ---- geometry -------------------------------------------------------
    @staticmethod
    def _q(l: float) -> int:
        return int(round(float(l) * LOGODDS_ONE))

    @property
    def shape(self) -> tuple[int, int]:
        return self._cells.shape

    @property
    def width_m(self) -> float:
        return self.shape[1] * self.resolution

    @property
    def height_m(self) -> float:
        return self.shape[0] * self.resolution

    @property
    def logodds(self) -> np.ndarray:
        """The log-odds per cell, float32 (rows, cols) (a copy)."""
        out = np.empty(self.shape, np.float32)
        decode_logodds_kernel(self._cells, out)
        return out

    def logodds_fixed(self, rows: slice = slice(None), cols: slice = slice(None)) -> np.ndarray:
        """Log-odds in fixed point (int32, ``LOGODDS_ONE`` = 1.0) of a
        window of the grid, without decoding to float."""
        return (self._cells[rows, cols].astype(np.int32) & LO_MASK) - LO_BIAS

    def set_logodds(self, logodds: np.ndarray) -> None:
        """Replace the log-odds (float, shape of the grid), clamped to
        [l_min, l_max]."""
        arr = np.asarray(logodds, dtype=np.float64)
        if arr.shape != self.shape:
            raise ValueError(f"logodds must have shape {self.shape}, got {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError("logodds must be finite")
        q = np.rint(np.clip(arr, self.l_min, self.l_max) * LOGODDS_ONE).astype(np.int32)
        self._cells[...] = (q + LO_BIAS).astype(np.int16)
        self._kp[_BOX] = _EMPTY_BOX
        self._cur = 0
        self._last_nb = 0
        self.writes += 1

    def in_bounds(self, row: int, col: int) -> bool:
        r, c = self.shape
        return 0 <= row < r and 0 <= col < c

    # ---- rolling window -------------------------------------------------
    def follow(self, x: float, y: float) -> tuple[int, int]:
        """Move the window (whole cells) so that (x, y) is at its centre.
        Returns the shift applied in (rows, cols); cells scrolled in are
        unknown (log-odds 0)."""
        x = _finite("x", x)
        y = _finite("y", y)
        rows, cols = self.shape
        r, c = self.world_to_cell(x, y)
        dr = r - rows // 2
        dc = c - cols // 2
        if dr == 0 and dc == 0:
            return (0, 0)
        new = np.full_like(self._cells, LO_BIAS)
        if abs(dr) < rows and abs(dc) < cols:
            src_r = slice(max(dr, 0), rows + min(dr, 0))
            dst_r = slice(max(-dr, 0), rows + min(-dr, 0))
            src_c = slice(max(dc, 0), cols + min(dc, 0))
            dst_c = slice(max(-dc, 0), cols + min(-dc, 0))
            new[dst_r, dst_c] = self._cells[src_r, src_c]
        self._cells = new
        clear_stamps_kernel(self._cells)
        self._kp[_BOX] = _EMPTY_BOX
        self._cur = 0
        self._last_nb = 0
        self.origin_x += dc * self.resolution
        self.origin_y += dr * self.resolution
        return (dr, dc)

    def _maybe_follow(self, x: float, y: float) -> None:
        cx = self.origin_x + 0.5 * self.width_m
        cy = self.origin_y + 0.5 * self.height_m
        if abs(x - cx) > 0.25 * self.width_m or abs(y - cy) > 0.25 * self.height_m:
            self.follow(x, y)

    # ---- scan integration -------------------------------------------------
    #: Largest shared near field, cells along a fan's major axis; 0 walks
    #: every beam on its own (the result is the same either way).
    near_field_cap = 4096

    def _near_field(self, da: float) -> int:
        # (the kernel limits each fan's near field to what is exact)
        return 0 if da == 0 else max(0, int(self.near_field_cap))

    def _checked_scan_args(self, pose, ranges, angle_min, angle_increment, max_range, angle_max):
        """The slow path of ``integrate_scan``'s checks: every argument
        converted or rejected with an error naming it."""
        px, py, yaw = _pose3(pose)
        r = _ranges_array(ranges)
        a0 = _finite("angle_min", angle_min)
        da = _finite("angle_increment", angle_increment)
        mr = _finite("max_range", max_range)
        if mr <= 0:
            raise ValueError(f"max_range must be > 0 metres, got {max_range!r}")
        if da == 0 and r.size > 1:
            raise ValueError("angle_increment must be non-zero for a scan with more than one beam")
        if angle_max is not None:
            a1 = _finite("angle_max", angle_max)
            expected = int(round((a1 - a0) / da)) + 1 if da != 0 else 1
            if expected != r.size:
                raise ValueError(f"ranges has {r.size} beams but angle_min..angle_max at angle_increment "
                                 f"gives {expected}")
        return px, py, yaw, r, a0, da, mr

    def integrate_scan(self, pose, ranges, angle_min: float, angle_increment: float,
                       max_range: float, angle_max: float | None = None) -> int:
        """Integrate one planar scan taken at ``pose`` = (x, y, yaw), the
        sensor's pose in the map frame (metres, radians CCW from east).
        Beam i points at ``angle_min + i * angle_increment`` in the sensor
        frame; ``ranges`` are metres (float32; NaN/inf/<=0/>=max_range = no
        return).  ``angle_max``, when given, must agree with the number of
        ranges.  Returns the number of beams that ended on a return inside
        the grid (each marks its end cell occupied)."""
        # Fast path (the common call: Python floats, a C-contiguous float32
        # array, no angle_max) checks the same things with fewer Python
        # operations; anything else goes through _checked_scan_args.  x - x
        # is 0.0 only for a finite x.
        try:
            px, py, yaw = pose
        except (TypeError, ValueError):
            px = None
        a0 = angle_min
        da = angle_increment
        mr = max_range
        r = ranges
        if (type(px) is float and type(py) is float and type(yaw) is float and type(a0) is float
                and type(da) is float and type(mr) is float and angle_max is None
                and (px - px) + (py - py) + (yaw - yaw) + (a0 - a0) + (da - da) + (mr - mr) == 0.0
                and mr > 0.0 and type(r) is np.ndarray and r.dtype is _F32 and r.strides == (4,)
                and r.shape[0] > 0 and (da != 0.0 or r.shape[0] == 1)):
            n = r.shape[0]
        else:
            px, py, yaw, r, a0, da, mr = self._checked_scan_args(pose, ranges, angle_min, angle_increment,
                                                                 max_range, angle_max)
            n = r.size
        if self.rolling:
            self._maybe_follow(px, py)
        res = self.resolution
        rows, cols = self._cells.shape
        row = math.floor((py - self.origin_y) / res)
        col = math.floor((px - self.origin_x) / res)
        if not (0 <= row < rows and 0 <= col < cols):
            raise ValueError(f"pose ({px:.3f}, {py:.3f}) is outside the map "
                             f"x [{self.origin_x}, {self.origin_x + self.width_m}], "
                             f"y [{self.origin_y}, {self.origin_y + self.height_m}]")
        beams = _beam_rows(a0, da, n)
        if self._scratch_n < n:
            self._scratch = np.empty(scan_scratch_size(n, rows, cols), np.int64)
            self._hit = np.empty(n, np.uint8)
            self._scratch_n = n
        cur = self._cur + 1
        if cur > MAX_STAMP:
            # only cells inside the box can carry a stamp
            clear_stamps_box_kernel(self._cells, self._kp[_BOX])
            self._kp[_BOX] = _EMPTY_BOX
            cur = 1
        self._cur = cur
        scale = FP_SCALE / res
        kcap = self.near_field_cap if da != 0.0 else 0
        if type(kcap) is not int or kcap < 0:
            kcap = self._near_field(da)
        returns = integrate_scan_kernel(
            self._cells, cur, (px - self.origin_x) * scale, (py - self.origin_y) * scale, beams,
            math.cos(yaw), math.sin(yaw), r, mr, self.clear_no_return, scale,
            self._kp, self._free_lut, self._scratch, self._hit, kcap)
        self._last_nb = n
        self.scans_integrated += 1
        return returns

    def last_scan_ends(self):
        """The latest scan's beam ends as the kernel left them: (hit uint8
        (>= nb,), ends int64, nb); beam i < nb ended on a return in cell
        (ends[nb + i] >> FP_SHIFT, ends[i] >> FP_SHIFT) when hit[i] == 1.
        nb is 0 when no scan was integrated since the grid last moved or
        was overwritten."""
        return self._hit, self._scratch, self._last_nb

    def integrate_laserscan(self, pose, scan) -> int:
        """Integrate a ``vehicle.types.LaserScan`` taken at ``pose`` (the
        sensor pose in the map frame)."""
        return self.integrate_scan(pose, scan.ranges, scan.angle_min, scan.angle_increment,
                                   scan.max_range)

    # ---- read-out ---------------------------------------------------------
    def probabilities(self) -> np.ndarray:
        """Occupancy probability per cell, float32 (rows, cols); 0.5 = unknown."""
        out = np.empty(self.shape, np.float32)
        prob_kernel(self._cells, out)
        return out

    def occupied_mask(self, p_occupied: float = 0.65) -> np.ndarray:
        """bool (rows, cols): cells with probability above ``p_occupied``."""
        return self.logodds_fixed() > self._q(math.log(p_occupied / (1.0 - p_occupied)))

    def free_mask(self, p_free: float = 0.196) -> np.ndarray:
        """bool (rows, cols): cells with probability below ``p_free``."""
        return self.logodds_fixed() < self._q(math.log(p_free / (1.0 - p_free)))

    def occupied_points(self, p_occupied: float = 0.65) -> np.ndarray:
        """(N, 2) float64 map-frame centres [x, y] of occupied cells."""
        rc = np.argwhere(self.occupied_mask(p_occupied))
        return np.column_stack((self.origin_x + (rc[:, 1] + 0.5) * self.resolution,
                                self.origin_y + (rc[:, 0] + 0.5) * self.resolution))

    def to_gridmap(self, p_occupied: float = 0.65, p_free: float = 0.196) -> GridMap:
        """A ``GridMap`` snapshot: occupied above ``p_occupied``, unknown
        between the thresholds."""
        occ = self.occupied_mask(p_occupied)
        unknown = ~occ & ~self.free_mask(p_free)
        return GridMap(occ, self.resolution, self.origin_x, self.origin_y, unknown)

    # ---- files --------------------------------------------------------------
    def save(self, yaml_path: str | Path) -> Path:
        """Write ROS map_server YAML + PGM (trinary), readable by map_server,
        RViz, QGIS and ``vehicle.maps.load_map_server``."""
        return save_map_server(self.to_gridmap(), yaml_path, probabilities=self.probabilities())

    @classmethod
    def load(cls, yaml_path: str | Path, **kwargs) -> "OccupancyGrid":
        """Read a map_server map: occupied cells get ``l_max``, free cells
        ``l_min``, unknown cells 0."""
        gm = load_map_server(yaml_path)
        rows, cols = gm.shape
        grid = cls(cols * gm.resolution, rows * gm.resolution, gm.resolution,
                   (gm.origin_x, gm.origin_y), **kwargs)
        lo = np.full((rows, cols), grid.l_min, np.float32)
        if gm.unknown is not None:
            lo[gm.unknown] = 0.0
        lo[gm.occupied] = grid.l_max
        grid.set_logodds(lo)
        return grid


def trace_cells(start, end, resolution: float, origin=(0.0, 0.0), shape=None) -> np.ndarray:
    """Cells crossed by the segment ``start`` -> ``end`` (map-frame metres),
    in order, as an (N, 2) int64 array of (row, col): the traversal that
    ``integrate_scan`` uses.  Both ends must lie inside the grid given by
    ``shape`` (rows, cols) when it is given, else in the positive quadrant of
    ``origin``."""
    res = _finite("resolution", resolution)
    if res <= 0:
        raise ValueError(f"resolution must be > 0, got {resolution!r}")
    ox, oy = (_finite("origin x", origin[0]), _finite("origin y", origin[1]))
    scale = FP_SCALE / res
    pts = []
    for name, p in (("start", start), ("end", end)):
        x, y = _finite(f"{name} x", p[0]), _finite(f"{name} y", p[1])
        X = int(math.floor((x - ox) * scale))
        Y = int(math.floor((y - oy) * scale))
        if X < 0 or Y < 0:
            raise ValueError(f"{name} ({x}, {y}) lies south or west of the grid origin")
        if shape is not None and ((Y >> FP_SHIFT) >= shape[0] or (X >> FP_SHIFT) >= shape[1]):
            raise ValueError(f"{name} ({x}, {y}) lies outside a grid of shape {tuple(shape)}")
        pts.append((X, Y))
    (X0, Y0), (X1, Y1) = pts
    width = (max(X0, X1) >> FP_SHIFT) + 2 if shape is None else int(shape[1])
    n = abs((X1 >> FP_SHIFT) - (X0 >> FP_SHIFT)) + abs((Y1 >> FP_SHIFT) - (Y0 >> FP_SHIFT)) + 1
    out = np.empty(n, np.int64)
    k = trace_cells_kernel(np.int64(X0), np.int64(Y0), np.int64(X1), np.int64(Y1),
                           np.int64(width), out)
    flat = out[:k]
    return np.column_stack((flat // width, flat % width))
