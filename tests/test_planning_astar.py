"""Grid A*: optimality against a plain Dijkstra, validity, no corner cutting,
None when unreachable, and the error cases."""
from __future__ import annotations

import heapq
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgepilot.vehicle.planning.astar import _search, astar, path_cost

SQRT2 = math.sqrt(2.0)


def dijkstra(weights: np.ndarray, start, goal, allow_diagonal: bool, rule: str) -> float:
    """Textbook Dijkstra over the same move rules; inf when unreachable."""
    h, w = weights.shape
    moves = [(-1, 0), (1, 0), (0, -1), (0, 1)]
    if allow_diagonal:
        moves += [(-1, -1), (-1, 1), (1, -1), (1, 1)]
    dist = {tuple(start): 0.0}
    pq = [(0.0, tuple(start))]
    done = set()
    while pq:
        d, (r, c) = heapq.heappop(pq)
        if (r, c) in done:
            continue
        done.add((r, c))
        if (r, c) == tuple(goal):
            return d
        for dr, dc in moves:
            nr, nc = r + dr, c + dc
            if not (0 <= nr < h and 0 <= nc < w) or not np.isfinite(weights[nr, nc]):
                continue
            diag = dr != 0 and dc != 0
            if rule == "geometric":
                if diag and (not np.isfinite(weights[r, nc]) or not np.isfinite(weights[nr, c])):
                    continue
                step = 0.5 * (float(weights[r, c]) + float(weights[nr, nc])) * (SQRT2 if diag else 1.0)
            else:
                step = float(weights[nr, nc])
            nd = d + step
            if nd < dist.get((nr, nc), math.inf):
                dist[(nr, nc)] = nd
                heapq.heappush(pq, (nd, (nr, nc)))
    return math.inf


@st.composite
def grids(draw):
    h = draw(st.integers(1, 14))
    w = draw(st.integers(1, 14))
    seed = draw(st.integers(0, 2**32 - 1))
    p_block = draw(st.sampled_from([0.0, 0.2, 0.35, 0.5]))
    max_w = draw(st.sampled_from([1.0, 3.0, 50.0]))
    rng = np.random.default_rng(seed)
    weights = (1.0 + rng.random((h, w)) * (max_w - 1.0)).astype(np.float32)
    weights[rng.random((h, w)) < p_block] = np.inf
    cells = [(r, c) for r in range(h) for c in range(w)]
    s = cells[draw(st.integers(0, len(cells) - 1))]
    g = cells[draw(st.integers(0, len(cells) - 1))]
    weights[s] = max(1.0, float(weights[s]) if np.isfinite(weights[s]) else 1.0)
    weights[g] = max(1.0, float(weights[g]) if np.isfinite(weights[g]) else 1.0)
    return weights, s, g


def check_valid(weights, path, start, goal, allow_diagonal, rule):
    assert path.ndim == 2 and path.shape[1] == 2
    assert tuple(path[0]) == tuple(start) and tuple(path[-1]) == tuple(goal)
    assert np.isfinite(weights[path[:, 0], path[:, 1]]).all(), "path enters a blocked cell"
    d = np.abs(np.diff(path, axis=0))
    assert (d.max(axis=1) == 1).all(), "every move goes to an adjacent cell"
    if not allow_diagonal:
        assert (d.sum(axis=1) == 1).all(), "4-connected path uses only straight moves"
    if rule == "geometric":
        for (r0, c0), (r1, c1) in zip(path[:-1], path[1:]):
            if r0 != r1 and c0 != c1:
                assert np.isfinite(weights[r0, c1]) and np.isfinite(weights[r1, c0]), \
                    "diagonal move cuts the corner of a blocked cell"


@settings(max_examples=300, deadline=None)
@given(grids(), st.booleans(), st.sampled_from(["geometric", "target"]),
       st.sampled_from([None, "buckets", "heap"]))
def test_astar_is_optimal_and_valid(case, allow_diagonal, rule, method):
    # method None is astar's own choice; the others force the bucket-queue
    # and the binary-heap searches for any weights
    weights, s, g = case
    ref = dijkstra(weights, s, g, allow_diagonal, rule)
    if method is None:
        path = astar(weights, s, g, allow_diagonal=allow_diagonal, move_cost=rule)
    else:
        path = _search(weights, s, g, allow_diagonal, rule, method=method).path
    if math.isinf(ref):
        assert path is None
        return
    assert path is not None
    check_valid(weights, path, s, g, allow_diagonal, rule)
    assert path_cost(weights, path, rule) == pytest.approx(ref, rel=1e-7, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32 - 1), st.booleans(), st.sampled_from(["geometric", "target"]))
def test_buckets_stay_optimal_with_wide_weight_ranges(seed, allow_diagonal, rule):
    # wide ratios make the buckets coarse (more out-of-order expansions and
    # reopening); optimality must not depend on the bucket width
    rng = np.random.default_rng(seed)
    weights = np.exp(rng.random((12, 12)) * np.log(250.0)).astype(np.float32)
    weights[rng.random((12, 12)) < 0.2] = np.inf
    weights[0, 0] = weights[11, 11] = 1.0
    ref = dijkstra(weights, (0, 0), (11, 11), allow_diagonal, rule)
    res = _search(weights, (0, 0), (11, 11), allow_diagonal, rule, method="buckets")
    if math.isinf(ref):
        assert res.path is None
        return
    check_valid(weights, res.path, (0, 0), (11, 11), allow_diagonal, rule)
    assert res.cost == pytest.approx(ref, rel=1e-9)
    assert path_cost(weights, res.path, rule) == pytest.approx(ref, rel=1e-9)


def test_start_equals_goal_is_single_cell():
    w = np.ones((3, 3), np.float32)
    assert astar(w, (1, 1), (1, 1)).tolist() == [[1, 1]]


def test_geometric_refuses_corner_cut_target_allows_it():
    # The only way from (0,0) to (1,1) is the diagonal between two walls.
    w = np.array([[1, np.inf], [np.inf, 1]], np.float32)
    assert astar(w, (0, 0), (1, 1), move_cost="geometric") is None
    assert astar(w, (0, 0), (1, 1), move_cost="target").tolist() == [[0, 0], [1, 1]]


def test_unreachable_returns_none():
    w = np.ones((5, 5), np.float32)
    w[:, 2] = np.inf
    assert astar(w, (0, 0), (4, 4)) is None
    assert astar(w, (0, 0), (4, 4), move_cost="target") is None


def test_prefers_cheap_detour_over_expensive_straight_line():
    w = np.ones((5, 9), np.float32)
    w[1:, 4] = 100.0
    p = astar(w, (4, 0), (4, 8))
    assert (p[:, 0] == 0).any(), "the path goes round through the cheap top row"
    assert path_cost(w, p) < 100


def test_large_grid_matches_cost_of_open_straight_line():
    w = np.ones((300, 400), np.float32)
    p = astar(w, (0, 0), (0, 399))
    assert len(p) == 400 and path_cost(w, p) == pytest.approx(399.0)
    p = astar(w, (0, 0), (299, 299))
    assert path_cost(w, p) == pytest.approx(299 * SQRT2)


@pytest.mark.parametrize("weights, match", [
    (np.ones((4, 4), np.float64), "dtype float32"),
    (np.ones(16, np.float32), "2-D"),
    ([[1.0, 1.0]], "2-D numpy array"),
    (np.ones((0, 4), np.float32), "empty"),
    (np.array([[1, np.nan], [1, 1]], np.float32), "NaN"),
    (np.array([[1, 0.5], [1, 1]], np.float32), ">= 1"),
])
def test_bad_weights_raise(weights, match):
    with pytest.raises(ValueError, match=match):
        astar(weights, (0, 0), (1, 1))


@pytest.mark.parametrize("start, goal, match", [
    ((-1, 0), (1, 1), "start .* outside"),
    ((0, 0), (4, 0), "goal .* outside"),
    ((0, 3), (1, 1), "start .* blocked"),
    ((0, 0), (0, 3), "goal .* blocked"),
    ((0,), (1, 1), "start must be a \\(row, col\\) pair"),
    ((0, 0), (1.5, 1), "goal must be a \\(row, col\\) pair"),
    (None, (1, 1), "start must be"),
])
def test_bad_cells_raise(start, goal, match):
    w = np.ones((4, 4), np.float32)
    w[0, 3] = np.inf
    with pytest.raises(ValueError, match=match):
        astar(w, start, goal)


def test_bad_move_cost_raises():
    with pytest.raises(ValueError, match="move_cost"):
        astar(np.ones((2, 2), np.float32), (0, 0), (1, 1), move_cost="euclid")


def test_input_weights_not_modified():
    w = np.ones((6, 6), np.float32)
    w[2, 1:5] = np.inf
    before = w.copy()
    astar(w, (0, 0), (5, 5))
    np.testing.assert_array_equal(w, before)


def _pad_check_range_numpy(w):
    """The padded search grid and its statistics, in NumPy: the oracle of
    ``_astar_kernels.pad`` and ``check_range``."""
    h, ww = w.shape
    out = np.full((h + 2, ww + 2), np.inf, np.float32)
    out[1:-1, 1:-1] = w
    nan = np.isnan(w)
    vals = w[~nan]
    wmin = float(vals.min()) if vals.size else math.inf
    below_inf = vals[vals != np.inf]
    wmax = float(below_inf.max()) if below_inf.size else -math.inf
    return out.ravel(), int(nan.sum()), wmin, wmax


@pytest.mark.parametrize("seed", [0, 1])
def test_pad_and_check_range_equal_the_numpy_oracle(seed):
    """The vectorised range (on the float32 bit patterns) and its value by
    value fall-back (NaN, negative values, -0.0, -inf) against NumPy, and
    the heap search's padded copy (``pad``)."""
    from edgepilot.vehicle.planning._astar_kernels import check_range, pad

    rng = np.random.default_rng(seed)
    common = np.array([1.0, 1.5, 3.25, 21.0, np.inf], np.float32)
    odd = np.array([np.nan, -np.inf, 0.0, -0.0, -2.0, 0.5, 1e-40, np.float32(3e38)], np.float32)
    for trial in range(200):
        h, w = (int(v) for v in rng.integers(0, 25, 2))
        grid = rng.choice(common, (h, w))
        if trial % 2 and h * w:
            k = int(rng.integers(1, 4))
            grid[rng.integers(0, h, k), rng.integers(0, w, k)] = rng.choice(odd, k)
        if trial % 7 == 3:
            grid = np.asfortranarray(grid)
        if trial % 11 == 5:
            grid[:] = np.inf
        padded = pad(grid)
        n_nan, wmin, wmax = check_range(grid)
        want = _pad_check_range_numpy(grid)
        assert np.array_equal(padded.view(np.int32), want[0].view(np.int32)), trial
        assert (n_nan, wmin, wmax) == want[1:], (trial, (n_nan, wmin, wmax), want[1:])


def test_bucket_search_reads_views_and_fortran_grids_in_place():
    """The bucket search reads the weights where they lie (no padded
    copy): a grid that is a view into a larger array or Fortran-ordered
    gives the path and cost of its C-contiguous copy, and the search never
    steps onto the cells round the view (cheap here, so it would)."""
    rng = np.random.default_rng(3)
    for trial in range(30):
        h, w = (int(v) for v in rng.integers(3, 40, 2))
        grid = (1 + 5 * rng.random((h, w))).astype(np.float32)
        grid[rng.random((h, w)) < 0.2] = np.inf
        free = np.argwhere(np.isfinite(grid))
        if len(free) < 2:
            continue
        s, g = (tuple(int(v) for v in free[i]) for i in rng.choice(len(free), 2, replace=False))
        big = np.ones((h + 4, w + 6), np.float32)      # a cheap ring round the view
        big[2:-2, 3:-3] = grid
        want = _search(grid, s, g, True, "geometric", method="buckets")
        for view in (big[2:-2, 3:-3], np.asfortranarray(grid)):
            got = _search(view, s, g, True, "geometric", method="buckets")
            assert got.cost == want.cost and got.expansions == want.expansions, trial
            assert (got.path is None) == (want.path is None), trial
            if want.path is not None:
                np.testing.assert_array_equal(got.path, want.path)
                check_valid(grid, got.path, s, g, True, "geometric")
