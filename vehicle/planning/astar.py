"""Optimal 8-connected grid A* (numba kernel + validating Python front).

Calling convention follows pyastar2d: ``weights`` is a 2-D float32 array of
per-cell costs >= 1 with ``np.inf`` marking blocked cells; ``start`` and
``goal`` are (row, col); the result is an (N, 2) int array of cells from
start to goal inclusive, or None when the goal cannot be reached.

Move-cost rules (both give optimal paths under their rule):
- ``"geometric"``: a move costs its length (1 or sqrt 2) times the mean of
  the two cells' weights, and a diagonal move may not cut the corner of a
  blocked cell (scikit-image MCP_Geometric's rule).
- ``"target"``: every move, diagonal too, costs the weight of the cell
  entered (pyastar2d's rule).

Behind ``astar`` several searches share this contract (see METHODS):
grids whose finite weights are all equal get a specialised 8-connected
search (Dial's exact bucket queue for "target"; for "geometric" jump point
search on uncluttered maps, else a bucket queue), other grids a bucket
queue or, for extreme weight ratios, a binary heap.  ``search_stats`` says
which one ran and how many cells it expanded.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from edgepilot.vehicle.planning._astar_kernels import astar_padded, check_range, pad, path_cost_kernel
from edgepilot.vehicle.planning._bucket_kernels import (bits_from_grid, bucket_geometric, bucket_weighted,
                                              dial_target, uniform_grid)
from edgepilot.vehicle.planning._jps_kernels import cols_from_rows, jps_search

SQRT2 = math.sqrt(2.0)
_RULES = {"geometric": 0, "target": 1}


def _rule(move_cost: str) -> int:
    if move_cost not in _RULES:
        raise ValueError(f"move_cost must be one of {sorted(_RULES)}, got {move_cost!r}")
    return _RULES[move_cost]


def _check_weights(weights) -> None:
    if not isinstance(weights, np.ndarray) or weights.ndim != 2:
        raise ValueError(f"weights must be a 2-D numpy array, got {type(weights).__name__} "
                         f"with shape {getattr(weights, 'shape', None)}")
    if weights.dtype != np.float32:
        raise ValueError(f"weights must have dtype float32, got {weights.dtype}")
    if weights.size == 0:
        raise ValueError(f"weights is empty (shape {weights.shape})")


def _check_cell(name: str, cell, weights: np.ndarray) -> tuple[int, int]:
    shape = weights.shape
    try:
        if len(cell) != 2:
            raise ValueError
        r, c = int(cell[0]), int(cell[1])
        if r != cell[0] or c != cell[1]:
            raise ValueError
    except (TypeError, IndexError, ValueError):
        raise ValueError(f"{name} must be a (row, col) pair of integers, got {cell!r}") from None
    if not (0 <= r < shape[0] and 0 <= c < shape[1]):
        raise ValueError(f"{name} {(r, c)} is outside the grid of shape {shape}")
    if not np.isfinite(weights[r, c]):
        raise ValueError(f"{name} {(r, c)} is a blocked cell (weight inf)")
    return r, c


def astar(weights: np.ndarray, start, goal, allow_diagonal: bool = True,
          move_cost: str = "geometric") -> np.ndarray | None:
    """Optimal grid path from ``start`` to ``goal``; see the module docstring.

    Raises ValueError (naming the argument) for a non-2-D or non-float32
    ``weights``, NaN or values < 1 in it, an unknown ``move_cost``, and a
    ``start``/``goal`` that is not a (row, col) pair, lies outside the grid
    or is blocked.
    """
    return _search(weights, start, goal, allow_diagonal, move_cost).path


class SearchStats(NamedTuple):
    """What ``search_stats`` reports about one search."""
    path: np.ndarray | None    # as astar returns it
    cost: float                # path cost under the move-cost rule; inf when unreachable
    expansions: int            # cells (jump points for "jps") taken off the open list and expanded
    method: str                # which search ran: one of METHODS


# The searches behind astar, all optimal under the same rules:
# "dial"          uniform weights, target rule, 8-connected: exact bucket queue (Dial)
# "jps"           uniform weights, geometric rule, 8-connected, few obstacle corners:
#                 jump point search on bitsets
# "unit-buckets"  uniform weights, geometric rule, 8-connected: bucket queue, reopening
# "buckets"       any weights with max <= BUCKET_MAX_RATIO * min: bucket queue, reopening
# "heap"          any weights: binary-heap A*
METHODS = ("dial", "jps", "unit-buckets", "buckets", "heap")
# Jump point search pays per obstacle corner and saves per open cell: it is
# used when obstacle corners are at most this fraction of the free cells
# (rooms-like maps ~0.5%, 1% random clutter ~4%, 25% clutter ~60%).
JPS_MAX_CORNERS = 0.01
# Grids taller than 256 rows count corners on every 7th pair of rows (a prime,
# so as not to alias with power-of-two or round-number room and tile
# layouts; 15 aliased with 50-cell rooms in the tests).  Measured on the
# benchmark maps: estimates within 11% of the exact count (rooms 2048: 0.90x,
# random 1% and 25% clutter: within 0.5%), far from flipping the 1%
# threshold; the grid pass drops from 0.38 (stride 3) to 0.34 ms on 1024^2
# (0.23 and 0.20 ms since its loops accumulate in uint32).
CORNER_STRIDE = 7
# Beyond this weight ratio the buckets get coarse relative to the smallest
# step (reopening grows), so the binary heap takes over.
BUCKET_MAX_RATIO = 256.0


def search_stats(weights: np.ndarray, start, goal, allow_diagonal: bool = True,
                 move_cost: str = "geometric") -> SearchStats:
    """``astar`` with diagnostics (for benchmarks and tests): the path, its
    cost, the number of expansions and which search of METHODS ran."""
    return _search(weights, start, goal, allow_diagonal, move_cost)


def _search(weights, start, goal, allow_diagonal, move_cost, method=None,
            cap0=None) -> SearchStats:
    """Validate, pick the search (``method`` forces one of METHODS, for
    tests; it must fit the query) and run it.  ``cap0`` overrides the
    initial bucket capacity (tests use a tiny one to exercise the retry)."""
    _check_weights(weights)
    rule = _rule(move_cost)
    sr, sc = _check_cell("start", start, weights)
    gr, gc = _check_cell("goal", goal, weights)
    if method is not None and method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    h, w = weights.shape
    diag = bool(allow_diagonal)
    if diag and method in (None, "dial", "jps", "unit-buckets"):
        # uniform_grid gives up at the first second value or bad value; it
        # reads the weights' float32 bits (a view, no copy when C-contiguous)
        wbits = np.ascontiguousarray(weights).reshape(-1).view(np.uint32)
        # obstacle corners choose jps or unit-buckets: not needed for the
        # target rule, sampled on every CORNER_STRIDE-th row pair of big grids
        stride = 0 if rule == 1 or method is not None else (1 if h <= 256 else CORNER_STRIDE)
        ok, grid, w0_bits, n_free, n_corners = uniform_grid(wbits, h, w, stride)
        if ok:
            w0 = float(np.uint32(w0_bits).view(np.float32))
            if method is None:
                if rule == 1:
                    method = "dial"
                elif n_corners <= JPS_MAX_CORNERS * n_free:
                    method = "jps"
                else:
                    method = "unit-buckets"
            if (method == "dial") != (rule == 1):
                raise ValueError(f"method {method!r} does not serve move_cost {move_cost!r}")
            if method == "jps":
                rbits, nwr = bits_from_grid(grid, h, w)
                cbits, nwc = cols_from_rows(rbits, nwr, h, w)
                path, ucost, nexp = jps_search(rbits, cbits, nwr, nwc, h, w, sr, sc, gr, gc)
            else:
                kernel = dial_target if method == "dial" else bucket_geometric
                # bucket capacity: a few times the open list's usual size
                # (~ the map's perimeter), x4 and a fresh grid on overflow
                cap = cap0 or (8 * (h + w) + 64 if method == "dial" else 2 * (h + w) + 64)
                while True:
                    path, ucost, nexp, ok = kernel(grid, h, w, sr, sc, gr, gc, cap)
                    if ok:
                        break
                    cap *= 4
                    grid = uniform_grid(wbits, h, w, 0)[1]
            return _stats(path, ucost * w0, nexp, method)
    if method in ("dial", "jps", "unit-buckets"):
        raise ValueError(f"method {method!r} needs allow_diagonal and uniform finite weights")
    # One pass validates the values (no copy: the bucket search reads the
    # grid in place; the heap search gets a padded copy it may modify).
    n_nan, wmin, wmax = check_range(weights)
    if n_nan:
        raise ValueError(f"weights contains {n_nan} NaN value(s); use np.inf for blocked cells")
    if wmin < 1.0:
        raise ValueError(f"weights must be >= 1 (got minimum {float(wmin)})")
    if method is None:
        method = "buckets" if wmax <= BUCKET_MAX_RATIO * wmin else "heap"
    if method == "buckets":
        cap = cap0 or 16 * (h + w) + 64
        while True:
            path, cost, nexp, ok = bucket_weighted(weights, h, w, sr, sc, gr, gc, diag, rule,
                                                   float(wmin), float(max(wmax, wmin)), cap)
            if ok:
                break
            cap *= 4
    else:
        path, cost, nexp = astar_padded(pad(weights), h, w, sr, sc, gr, gc, diag, rule, float(wmin))
    return _stats(path, cost, nexp, method)


def _stats(path, cost, nexp, method) -> SearchStats:
    if not math.isfinite(cost):
        return SearchStats(None, math.inf, int(nexp), method)
    return SearchStats(path, float(cost), int(nexp), method)


def path_cost(weights: np.ndarray, path: np.ndarray, move_cost: str = "geometric") -> float:
    """Cost of a cell path (N, 2) [row, col] under a move-cost rule: the sum
    over moves of length x mean weight ("geometric") or of the entered
    cell's weight ("target").  Units are the weights' (cell-lengths x weight)."""
    _check_weights(weights)
    rule = _rule(move_cost)
    p = np.ascontiguousarray(np.asarray(path, dtype=np.int64))
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"path must be an (N, 2) array of (row, col), got shape {p.shape}")
    return float(path_cost_kernel(weights, p, rule))
