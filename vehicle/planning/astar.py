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
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

SQRT2 = math.sqrt(2.0)
_RULES = {"geometric": 0, "target": 1}


@njit(cache=True)
def _heap_push(hk, hv, n, key, val):
    i = n
    hk[i] = key
    hv[i] = val
    while i > 0:
        p = (i - 1) >> 1
        if hk[p] <= hk[i]:
            break
        hk[p], hk[i] = hk[i], hk[p]
        hv[p], hv[i] = hv[i], hv[p]
        i = p
    return n + 1


@njit(cache=True)
def _heap_pop(hk, hv, n):
    key = hk[0]
    val = hv[0]
    n -= 1
    hk[0] = hk[n]
    hv[0] = hv[n]
    i = 0
    while True:
        l = 2 * i + 1
        if l >= n:
            break
        c = l
        if l + 1 < n and hk[l + 1] < hk[l]:
            c = l + 1
        if hk[i] <= hk[c]:
            break
        hk[c], hk[i] = hk[i], hk[c]
        hv[c], hv[i] = hv[i], hv[c]
        i = c
    return key, val, n


@njit(cache=True)
def _astar_kernel(weights, start, goal, allow_diagonal, rule, parents):
    """Fills ``parents`` (flat indices, -1 unset) and returns the path cost,
    or inf when unreachable.  ``weights`` float32 (H, W)."""
    h, w = weights.shape
    n_cells = h * w
    g = np.full(n_cells, np.inf)
    closed = np.zeros(n_cells, np.bool_)
    cap = 8 * n_cells + 8
    hk = np.empty(cap, np.float64)
    hv = np.empty(cap, np.int64)
    # Admissible heuristic: octile distance times the smallest weight.
    wmin = np.inf
    for r in range(h):
        for c in range(w):
            if weights[r, c] < wmin:
                wmin = weights[r, c]
    gr = goal // w
    gc = goal % w
    dr8 = np.array([-1, 1, 0, 0, -1, -1, 1, 1])
    dc8 = np.array([0, 0, -1, 1, -1, 1, -1, 1])
    nmoves = 8 if allow_diagonal else 4
    g[start] = 0.0
    n = _heap_push(hk, hv, 0, 0.0, start)
    while n > 0:
        _, cur, n = _heap_pop(hk, hv, n)
        if closed[cur]:
            continue
        closed[cur] = True
        if cur == goal:
            return g[cur]
        r = cur // w
        c = cur % w
        wc = weights[r, c]
        for k in range(nmoves):
            nr = r + dr8[k]
            nc = c + dc8[k]
            if nr < 0 or nr >= h or nc < 0 or nc >= w:
                continue
            wn = weights[nr, nc]
            if wn == np.inf:
                continue
            diag = k >= 4
            if rule == 0:
                if diag and (weights[r, nc] == np.inf or weights[nr, c] == np.inf):
                    continue
                step = 0.5 * (wc + wn) * (SQRT2 if diag else 1.0)
            else:
                step = wn
            nb = nr * w + nc
            ng = g[cur] + step
            if ng < g[nb]:
                g[nb] = ng
                parents[nb] = cur
                dr = abs(nr - gr)
                dc = abs(nc - gc)
                if allow_diagonal:
                    if rule == 0:
                        hh = (max(dr, dc) - min(dr, dc)) + SQRT2 * min(dr, dc)
                    else:
                        hh = max(dr, dc)
                else:
                    hh = dr + dc
                n = _heap_push(hk, hv, n, ng + hh * wmin, nb)
    return np.inf


def _check_cell(name: str, cell, shape, weights) -> tuple[int, int]:
    try:
        r, c = (int(cell[0]), int(cell[1]))
    except (TypeError, IndexError, ValueError):
        raise ValueError(f"{name} must be a (row, col) pair of integers, got {cell!r}") from None
    if len(cell) != 2:
        raise ValueError(f"{name} must be a (row, col) pair, got {cell!r}")
    if not (0 <= r < shape[0] and 0 <= c < shape[1]):
        raise ValueError(f"{name} {(r, c)} is outside the grid of shape {shape}")
    if not np.isfinite(weights[r, c]):
        raise ValueError(f"{name} {(r, c)} is a blocked cell (weight inf)")
    return r, c


def astar(weights: np.ndarray, start, goal, allow_diagonal: bool = True,
          move_cost: str = "geometric") -> np.ndarray | None:
    """Optimal grid path from ``start`` to ``goal``; see the module docstring."""
    if not isinstance(weights, np.ndarray) or weights.ndim != 2:
        raise ValueError(f"weights must be a 2-D numpy array, got {type(weights).__name__} "
                         f"with shape {getattr(weights, 'shape', None)}")
    if weights.dtype != np.float32:
        raise ValueError(f"weights must have dtype float32, got {weights.dtype}")
    if weights.size == 0:
        raise ValueError("weights is empty")
    if np.isnan(weights).any():
        raise ValueError("weights contains NaN; use np.inf for blocked cells")
    if (weights < 1.0).any():
        raise ValueError(f"weights must be >= 1 (got minimum {float(weights.min())})")
    if move_cost not in _RULES:
        raise ValueError(f"move_cost must be one of {sorted(_RULES)}, got {move_cost!r}")
    sr, sc = _check_cell("start", start, weights.shape, weights)
    gr, gc = _check_cell("goal", goal, weights.shape, weights)
    w = np.ascontiguousarray(weights)
    width = w.shape[1]
    parents = np.full(w.size, -1, np.int64)
    cost = _astar_kernel(w, sr * width + sc, gr * width + gc, bool(allow_diagonal),
                         _RULES[move_cost], parents)
    if not np.isfinite(cost):
        return None
    path = [gr * width + gc]
    s = sr * width + sc
    while path[-1] != s:
        path.append(int(parents[path[-1]]))
    flat = np.array(path[::-1], dtype=np.int64)
    return np.column_stack((flat // width, flat % width)).astype(np.intp)


def path_cost(weights: np.ndarray, path: np.ndarray, move_cost: str = "geometric") -> float:
    """Cost of a cell path under a move-cost rule (for tests and benchmarks)."""
    total = 0.0
    for (r0, c0), (r1, c1) in zip(path[:-1], path[1:]):
        diag = r0 != r1 and c0 != c1
        if move_cost == "geometric":
            total += 0.5 * (float(weights[r0, c0]) + float(weights[r1, c1])) * (SQRT2 if diag else 1.0)
        else:
            total += float(weights[r1, c1])
    return total
