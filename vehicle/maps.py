"""Grid maps in the map frame, and ROS map_server PGM+YAML load/save.

Convention: a grid's row 0 is its southern edge (y = origin_y) and column 0
its western edge (x = origin_x), the same as ROS ``nav_msgs/OccupancyGrid``.
Image files store the northern row first; load/save flip accordingly.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml


class MapFileError(ValueError):
    """A map file is missing, malformed or inconsistent."""


#: Default limit on the memory a map image may take while it is decoded
#: (checked from the image header before decoding; see ``load_map_server``).
DEFAULT_MAP_BUDGET_BYTES = 512 * 2**20
#: Decoding memory per pixel: float32 lightness, occupancy probability,
#: masks and flipped copies (binary PGM / PNG) ...
MAP_BYTES_PER_PIXEL = 12
#: ... and for a plain-text P2 PGM, whose numbers are split into a list first.
MAP_BYTES_PER_PIXEL_PLAIN = 80


class GridGeometry:
    """Cell <-> map-frame conversions for anything with ``resolution``,
    ``origin_x`` and ``origin_y`` (row 0 south, column 0 west)."""

    resolution: float
    origin_x: float
    origin_y: float

    def world_to_cell(self, x: float, y: float) -> tuple[int, int]:
        """Map-frame metres -> (row, col).  May be outside the grid."""
        return (int(math.floor((y - self.origin_y) / self.resolution)),
                int(math.floor((x - self.origin_x) / self.resolution)))

    def cell_to_world(self, row: float, col: float) -> tuple[float, float]:
        """(row, col) -> map-frame position of the cell centre."""
        return (self.origin_x + (col + 0.5) * self.resolution,
                self.origin_y + (row + 0.5) * self.resolution)

    def points_to_cells(self, points) -> tuple[np.ndarray, np.ndarray]:
        """Map-frame points (N, 2) [x, y] metres -> (rows, cols), int64
        arrays; they may lie outside the grid."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        return (np.floor((pts[:, 1] - self.origin_y) / self.resolution).astype(np.int64),
                np.floor((pts[:, 0] - self.origin_x) / self.resolution).astype(np.int64))

    def cells_to_world(self, cells: np.ndarray) -> np.ndarray:
        """(N, 2) [row, col] (float allowed) -> (N, 2) [x, y] cell centres."""
        cells = np.asarray(cells, dtype=np.float64).reshape(-1, 2)
        return np.column_stack((self.origin_x + (cells[:, 1] + 0.5) * self.resolution,
                                self.origin_y + (cells[:, 0] + 0.5) * self.resolution))


@dataclass
class GridMap(GridGeometry):
    """Occupancy on a regular grid.

    ``occupied``: bool (rows, cols); ``unknown``: bool (rows, cols) or None.
    ``resolution`` metres per cell; ``origin_x``/``origin_y`` the map-frame
    position of the south-west corner of cell (0, 0).
    """

    occupied: np.ndarray
    resolution: float
    origin_x: float = 0.0
    origin_y: float = 0.0
    unknown: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.occupied.shape

    @property
    def width_m(self) -> float:
        return self.occupied.shape[1] * self.resolution

    @property
    def height_m(self) -> float:
        return self.occupied.shape[0] * self.resolution

    def in_bounds(self, row: int, col: int) -> bool:
        r, c = self.occupied.shape
        return 0 <= row < r and 0 <= col < c


def _read_meta(yaml_path: Path) -> dict:
    try:
        if yaml_path.stat().st_size > 1 << 20:
            raise MapFileError(f"{yaml_path}: {yaml_path.stat().st_size} bytes; a map YAML is limited to 1 MiB")
        meta = yaml.safe_load(yaml_path.read_text())
    except OSError as e:
        raise MapFileError(f"{yaml_path}: cannot read map file: {e}") from None
    except yaml.YAMLError as e:
        raise MapFileError(f"{yaml_path}: not valid YAML: {e}") from None
    if not isinstance(meta, dict):
        raise MapFileError(f"{yaml_path}: expected a mapping with image, resolution, origin")
    return meta


def map_image_shape(yaml_path: str | Path) -> tuple[int, int] | None:
    """(width, height) in pixels of a map_server map's image, read from the
    PGM or PNG header alone; None for another image type."""
    yaml_path = Path(yaml_path)
    meta = _read_meta(yaml_path)
    if "image" not in meta:
        raise MapFileError(f"{yaml_path}: missing key 'image'")
    image_path = (yaml_path.parent / str(meta["image"])).resolve()
    try:
        with open(image_path, "rb") as f:
            head = f.read(4096)
    except OSError as e:
        raise MapFileError(f"{yaml_path}: 'image' {meta['image']!r} could not be read: {e}") from None
    m = _PGM_HEADER.match(head)
    if m:
        return int(m.group(1)), int(m.group(2))
    if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 24:
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    return None


def _check_budget(yaml_path: Path, name: str, w: int, h: int, per_pixel: int, budget: int) -> None:
    need = w * h * per_pixel
    if need > budget:
        raise MapFileError(f"{yaml_path}: 'image' {name!r}: {w} x {h} pixels need about {need / 2**20:.0f} MiB "
                           f"to load, over the map budget of {budget / 2**20:.0f} MiB")


def load_map_server(yaml_path: str | Path, budget_bytes: int = DEFAULT_MAP_BUDGET_BYTES) -> GridMap:
    """Load a ROS map_server map (YAML + PGM/PNG image).  An image whose
    decoding would take more than ``budget_bytes`` (told from its header,
    before it is decoded) is refused with MapFileError naming the sizes."""
    yaml_path = Path(yaml_path)
    meta = _read_meta(yaml_path)
    for key in ("image", "resolution", "origin"):
        if key not in meta:
            raise MapFileError(f"{yaml_path}: missing key '{key}'")
    res = meta["resolution"]
    if not isinstance(res, (int, float)) or res <= 0:
        raise MapFileError(f"{yaml_path}: 'resolution' must be a positive number of metres per cell, got {res!r}")
    origin = meta["origin"]
    if not (isinstance(origin, list) and len(origin) == 3 and all(isinstance(v, (int, float)) for v in origin)):
        raise MapFileError(f"{yaml_path}: 'origin' must be [x, y, yaw], got {origin!r}")
    if origin[2] != 0:
        raise MapFileError(f"{yaml_path}: 'origin' yaw must be 0 (rotated maps are not supported), got {origin[2]!r}")
    negate = int(meta.get("negate", 0))
    occ_th = float(meta.get("occupied_thresh", 0.65))
    free_th = float(meta.get("free_thresh", 0.196))
    image_path = (yaml_path.parent / meta["image"]).resolve()
    p = _read_pgm(image_path, yaml_path, meta["image"], budget_bytes)
    if p is None:             # not a PGM: PNG, BMP... through OpenCV
        import cv2  # local: the vehicle's start-up reads PGM maps without importing OpenCV

        shape = map_image_shape(yaml_path)
        if shape is not None:
            _check_budget(yaml_path, meta["image"], shape[0], shape[1], MAP_BYTES_PER_PIXEL, budget_bytes)

        img = cv2.imread(str(image_path), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise MapFileError(f"{yaml_path}: 'image' {meta['image']!r} could not be read as an image")
        p = img.astype(np.float32) / 255.0
    occ_p = p if negate else 1.0 - p
    occupied = np.flipud(occ_p > occ_th)
    unknown = np.flipud((occ_p >= free_th) & (occ_p <= occ_th))
    return GridMap(np.ascontiguousarray(occupied), float(res), float(origin[0]), float(origin[1]),
                   np.ascontiguousarray(unknown))


#: A netpbm greymap header: magic, then width, height and maxval, each after
#: whitespace and #-comments, then exactly one whitespace byte.
_PGM_HEADER = re.compile(rb"P[25]" + rb"(?:\s|#[^\r\n]*)+(\d+)" * 3 + rb"\s")


def _read_pgm(path: Path, yaml_path: Path, name: str, budget: int = DEFAULT_MAP_BUDGET_BYTES) -> np.ndarray | None:
    """A netpbm greymap (binary P5 or plain P2, 8 or 16 bit) as float32
    lightness in [0, 1] (value / maxval), rows as in the file; None when the
    file is not a PGM.  Raises MapFileError naming the file for a PGM that
    is malformed or truncated."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > budget:
                raise MapFileError(f"{yaml_path}: 'image' {name!r}: {size} bytes, over the map budget of "
                                   f"{budget / 2**20:.0f} MiB")
            data = f.read(budget + 1)
    except OSError as e:
        raise MapFileError(f"{yaml_path}: 'image' {name!r} could not be read: {e}") from None
    if data[:2] not in (b"P5", b"P2"):
        return None
    binary = data[:2] == b"P5"
    m = _PGM_HEADER.match(data)
    if m is None:
        raise MapFileError(f"{yaml_path}: 'image' {name!r}: PGM header ends early or is malformed: expected "
                           f"width, height and maxval numbers after the magic (comments start with #)")
    w, h, maxval = (int(v) for v in m.groups())
    i = m.end()               # past the single whitespace byte that ends the header
    if w <= 0 or h <= 0 or not 0 < maxval < 65536:
        raise MapFileError(f"{yaml_path}: 'image' {name!r}: PGM width {w}, height {h}, maxval {maxval}; "
                           f"expected positive sizes and maxval in 1..65535")
    _check_budget(yaml_path, name, w, h, MAP_BYTES_PER_PIXEL if binary else MAP_BYTES_PER_PIXEL_PLAIN, budget)
    if binary:
        dtype = np.dtype(">u2") if maxval > 255 else np.dtype(np.uint8)
        need = w * h * dtype.itemsize
        if len(data) - i < need:
            raise MapFileError(f"{yaml_path}: 'image' {name!r}: PGM raster truncated: {len(data) - i} bytes for "
                               f"{w} x {h} pixels, expected {need}")
        img = np.frombuffer(data, dtype, count=w * h, offset=i).reshape(h, w)
    else:
        try:
            vals = np.array(data[i:].split(), dtype=np.int64)
        except ValueError:
            raise MapFileError(f"{yaml_path}: 'image' {name!r}: plain PGM raster holds a non-number") from None
        if vals.size < w * h:
            raise MapFileError(f"{yaml_path}: 'image' {name!r}: PGM raster truncated: {vals.size} values for "
                               f"{w} x {h} pixels")
        img = vals[:w * h].reshape(h, w)
    if int(img.max(initial=0)) > maxval:
        raise MapFileError(f"{yaml_path}: 'image' {name!r}: PGM pixel value above maxval {maxval}")
    return img.astype(np.float32) / np.float32(maxval)


def save_map_server(grid: GridMap, yaml_path: str | Path, probabilities: np.ndarray | None = None) -> Path:
    """Write ``grid`` as map_server YAML + PGM (trinary: 0 occupied,
    254 free, 205 unknown).  With ``probabilities`` (rows, cols, 0..1, NaN
    or 0.5 unknown) the image is thresholded from those instead."""
    import cv2

    yaml_path = Path(yaml_path)
    pgm_path = yaml_path.with_suffix(".pgm")
    if probabilities is not None:
        prob = np.asarray(probabilities, dtype=np.float64)
        img = np.full(prob.shape, 205, np.uint8)
        img[prob > 0.65] = 0
        img[prob < 0.196] = 254
    else:
        img = np.full(grid.occupied.shape, 254, np.uint8)
        if grid.unknown is not None:
            img[grid.unknown] = 205
        img[grid.occupied] = 0
    if not cv2.imwrite(str(pgm_path), np.flipud(img)):
        raise MapFileError(f"{pgm_path}: could not write image")
    meta = {
        "image": pgm_path.name,
        "resolution": float(grid.resolution),
        "origin": [float(grid.origin_x), float(grid.origin_y), 0.0],
        "negate": 0,
        "occupied_thresh": 0.65,
        "free_thresh": 0.196,
        "mode": "trinary",
    }
    yaml_path.write_text(yaml.safe_dump(meta, sort_keys=False))
    return yaml_path
