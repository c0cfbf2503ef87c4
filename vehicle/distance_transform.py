"""Exact Euclidean distance to the nearest occupied cell, bit-for-bit
repeatable (see ``_edt_kernels``): the costmap's inflation, the
localisation likelihood field, the lidar mapper's prior-map margin and
the simulated world's distance map all use it."""
from __future__ import annotations

import numpy as np

from ._edt_kernels import NONE, edt_kernel

__all__ = ["NONE", "distance_cells"]


def distance_cells(occupied: np.ndarray) -> np.ndarray:
    """float32 distance [cells] from each cell centre to the nearest
    occupied cell centre: 0 on occupied cells, ``NONE`` (2**64, as OpenCV
    gives) everywhere when no cell is occupied.  ``occupied``: 2-D bool or
    integer array (non-zero = occupied)."""
    a = np.asarray(occupied)
    if a.ndim != 2:
        raise ValueError(f"distance_cells: expected a 2-D occupancy grid, got shape {a.shape}")
    if a.dtype == np.bool_:
        a = a.view(np.uint8)
    elif a.dtype.kind in "iu":
        a = (a != 0).view(np.uint8)
    else:
        raise ValueError(f"distance_cells: expected a bool or integer occupancy grid, got {a.dtype}")
    a = np.ascontiguousarray(a)
    out = np.empty(a.shape, np.float32)
    if a.size:
        edt_kernel(a, out)
    return out
