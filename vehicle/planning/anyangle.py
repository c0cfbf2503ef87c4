"""Any-angle planning (Theta*) and the weighted line cost it uses.

Cells are (row, col) of a float32 weight grid (the ``astar`` convention:
>= 1, ``np.inf`` blocked).  Costs are in cell lengths x weight: a segment
costs the line integral of the weight along it, so a straight grid move
costs the same as under astar's "geometric" rule and costs are comparable
with astar's.  Theta* is not guaranteed optimal, but its path is never
costlier than the grid path it would otherwise take through the same
parents, and usually shorter and smoother.
"""
from __future__ import annotations

import math

import numpy as np

from edgepilot.vehicle.planning._anyangle_kernels import line_cost as _line_cost
from edgepilot.vehicle.planning._anyangle_kernels import theta_star_kernel
from edgepilot.vehicle.planning._astar_kernels import check_range
from edgepilot.vehicle.planning.astar import _check_cell, _check_weights


def _validated_wmin(weights: np.ndarray) -> float:
    _check_weights(weights)
    n_nan, wmin, _ = check_range(weights)
    if n_nan:
        raise ValueError(f"weights contains {n_nan} NaN value(s); use np.inf for blocked cells")
    if wmin < 1.0:
        raise ValueError(f"weights must be >= 1 (got minimum {float(wmin)})")
    return float(wmin) if math.isfinite(wmin) else 1.0


def line_cost(weights: np.ndarray, a, b) -> float:
    """Cost of the straight segment between the centres of cells ``a`` and
    ``b`` ((row, col)); inf when it crosses or corner-touches a blocked cell
    or leaves the grid."""
    _check_weights(weights)
    return float(_line_cost(weights, int(a[0]), int(a[1]), int(b[0]), int(b[1])))


def theta_star(weights: np.ndarray, start, goal) -> np.ndarray | None:
    """Any-angle path from ``start`` to ``goal`` ((row, col) cells).

    Returns the (M, 2) int array of vertices (start and goal included;
    consecutive vertices joined by free straight segments) or None when the
    goal is unreachable.  Raises ValueError like ``astar`` for bad input.
    """
    wmin = _validated_wmin(weights)
    sr, sc = _check_cell("start", start, weights)
    gr, gc = _check_cell("goal", goal, weights)
    verts, cost = theta_star_kernel(np.ascontiguousarray(weights), sr, sc, gr, gc, wmin)
    if not math.isfinite(cost):
        return None
    return verts


def polyline_cost(weights: np.ndarray, verts: np.ndarray) -> float:
    """Sum of line costs of consecutive vertices (inf if any is blocked)."""
    _check_weights(weights)
    v = np.asarray(verts, dtype=np.int64)
    return float(sum(_line_cost(weights, v[i, 0], v[i, 1], v[i + 1, 0], v[i + 1, 1])
                     for i in range(len(v) - 1)))
