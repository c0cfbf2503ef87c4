"""The likelihood field of a prior occupancy grid (AMCL's laser model).

For a beam ending at a point whose distance to the nearest occupied cell is
d (capped at ``max_dist``, AMCL's laser_likelihood_max_dist), the
likelihood of the reading is the mixture

    pz(d) = z_hit * exp(-d^2 / (2 sigma_hit^2)) + z_rand / max_range

(a Gaussian about the mapped obstacle plus a uniform term for random
returns).  Both the capped distance (for the scan matcher) and pz (for the
particle weights) are precomputed per cell, so a beam costs one lookup.
Endpoints off the map take pz(max_dist).  The particle weights need pz^3
(AMCL's combination), kept as a uint16 table (``cube`` * ``cube_scale``):
the lookups are the cost of a particle update, and a quarter of the
memory keeps more of the field in cache; the quantisation step is 1/65535
of the largest pz^3.  ``cube_flat`` is the same table row-major with the
off-map value appended as one more cell, so the particle kernel reads an
off-map endpoint without a branch (``cube`` is a 2-D view of it).  Max-range and invalid beams are
not used (AMCL's likelihood field skips them too).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from edgepilot.vehicle.distance_transform import distance_cells
from edgepilot.vehicle.maps import GridGeometry, GridMap
from edgepilot.vehicle.types import LaserScan


@dataclass(frozen=True)
class SensorModel:
    """AMCL's likelihood-field parameters (Nav2 defaults for z_hit, z_rand,
    sigma_hit and max_dist)."""

    z_hit: float = 0.5
    z_rand: float = 0.5
    sigma_hit: float = 0.2          # [m]
    max_dist: float = 2.0           # distance cap of the field [m]
    max_range: float = 30.0         # the lidar's max range [m] (uniform term)

    def __post_init__(self):
        for name in ("sigma_hit", "max_dist", "max_range"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"SensorModel.{name} must be a finite number > 0, got {v!r}")
        for name in ("z_hit", "z_rand"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and 0 <= v <= 1):
                raise ValueError(f"SensorModel.{name} must be in [0, 1], got {v!r}")
        if self.z_hit + self.z_rand <= 0:
            raise ValueError("SensorModel: z_hit + z_rand must be > 0")

    def pz(self, d):
        d = np.minimum(np.asarray(d, dtype=np.float64), self.max_dist)
        return self.z_hit * np.exp(-d * d / (2.0 * self.sigma_hit ** 2)) + self.z_rand / self.max_range


@dataclass(frozen=True)
class LikelihoodField(GridGeometry):
    dist: np.ndarray               # float32 (rows, cols) capped distance to the nearest obstacle [m]
    lik: np.ndarray                # float32 (rows, cols) pz per cell
    resolution: float
    origin_x: float
    origin_y: float
    model: SensorModel
    lik_outside: float             # pz off the map
    free_cells: np.ndarray         # int64 (K, 2) rows/cols of known free cells (global re-localization)
    cube: np.ndarray               # uint16 (rows, cols) pz^3 / cube_scale, rounded
    cube_scale: float
    cube_outside: float            # quantised pz^3 off the map
    cube_flat: np.ndarray          # uint16 (rows * cols + 1,) cube row-major, then cube_outside

    @property
    def shape(self) -> tuple[int, int]:
        return self.dist.shape


def distance_to_obstacles(occupied: np.ndarray, resolution: float) -> np.ndarray:
    """Euclidean distance [m] from each cell centre to the nearest occupied
    cell centre (0 on occupied cells); inf everywhere if nothing is occupied."""
    if not occupied.any():
        return np.full(occupied.shape, np.inf, np.float32)
    return distance_cells(occupied) * np.float32(resolution)


def surface_cells(occupied: np.ndarray) -> np.ndarray:
    """The occupied cells with a free 4-neighbour (or on the grid's edge
    next to free space): the surfaces a lidar can hit."""
    occ = np.ascontiguousarray(occupied, dtype=np.uint8)
    inner = cv2.erode(occ, cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3)), borderType=cv2.BORDER_REPLICATE)
    return occupied & (inner == 0)


def build_likelihood_field(grid: GridMap, model: SensorModel | None = None, surface: bool = False) -> LikelihoodField:
    """The field of a prior map.  Unknown cells count as free for the
    distance and are left out of global re-localization.

    ``surface`` True builds the *surface field*: the distance is to the
    nearest surface cell (``surface_cells``) instead of the nearest occupied
    one, so an endpoint that falls inside a mapped obstacle no longer fits
    perfectly.  For a USV's chart, whose land, piers and breakwater are
    filled polygons metres to kilometres wide, this matters: with the plain
    field a scan shifted along a quay by a pier's width fits as well as the
    true pose (the pier's far face lands inside the pier)."""
    model = model or SensorModel()
    occ = np.asarray(grid.occupied)
    if occ.dtype != bool or occ.ndim != 2 or occ.size == 0:
        raise ValueError(f"grid.occupied must be a non-empty 2-D bool array, got {occ.dtype} {occ.shape}")
    if not (math.isfinite(grid.resolution) and grid.resolution > 0):
        raise ValueError(f"grid.resolution must be > 0 [m], got {grid.resolution!r}")
    if not occ.any():
        raise ValueError("the prior map has no occupied cell: nothing for the lidar to localize against")
    target = surface_cells(occ) if surface else occ
    d = np.minimum(distance_to_obstacles(target, grid.resolution), np.float32(model.max_dist))
    lik = model.pz(d).astype(np.float32)
    free = ~occ if grid.unknown is None else (~occ & ~np.asarray(grid.unknown))
    cube = lik.astype(np.float64) ** 3
    scale = float(cube.max()) / 65535.0
    outside = float(model.pz(model.max_dist))
    q_outside = round(outside ** 3 / scale)
    flat = np.empty(cube.size + 1, np.uint16)
    flat[:-1] = np.round(cube / scale).ravel()
    flat[-1] = q_outside
    return LikelihoodField(np.ascontiguousarray(d, dtype=np.float32), np.ascontiguousarray(lik),
                           float(grid.resolution), float(grid.origin_x), float(grid.origin_y), model,
                           outside, np.argwhere(free).astype(np.int64), flat[:-1].reshape(cube.shape), scale,
                           float(q_outside), flat)


def scan_endpoints(scan: LaserScan, max_beams: int | None = None,
                   mount: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    """Endpoints of the scan's valid beams in the vehicle frame, (bx, by)
    float64 arrays; beams with no return (NaN, inf, <= 0, >= max_range) are
    dropped.  ``max_beams`` evenly spaced beams of the scan are used (AMCL's
    max_beams).  ``mount`` = lidar (x, y, yaw) in the vehicle frame."""
    r = np.asarray(scan.ranges, dtype=np.float64)
    if r.ndim != 1:
        raise ValueError(f"scan.ranges must be 1-D, got shape {r.shape}")
    idx = np.arange(r.size)
    if max_beams is not None:
        if max_beams < 1:
            raise ValueError(f"max_beams must be >= 1, got {max_beams}")
        if r.size > max_beams:
            idx = np.unique(np.round(np.linspace(0, r.size - 1, max_beams)).astype(np.int64))
    rr = r[idx]
    ok = np.isfinite(rr) & (rr > 0) & (rr < scan.max_range)
    a = scan.angle_min + idx[ok] * scan.angle_increment + mount[2]
    rr = rr[ok]
    return (np.ascontiguousarray(mount[0] + rr * np.cos(a)), np.ascontiguousarray(mount[1] + rr * np.sin(a)))
