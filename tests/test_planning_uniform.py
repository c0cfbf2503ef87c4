"""The uniform-grid searches behind astar (Dial, bucket A*, jump point
search): each forced on the same grids and checked against a plain
Dijkstra, on random clutter and on structured walls with one-cell gaps and
diagonal squeezes; plus dispatch, fallback and validation on that path."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from test_planning_astar import check_valid, dijkstra
from edgepilot.vehicle.planning._bucket_kernels import bits_from_grid, uniform_grid
from edgepilot.vehicle.planning.astar import _search, astar, path_cost, search_stats

GEOMETRIC = ("jps", "unit-buckets", "buckets", "heap")
TARGET = ("dial", "buckets", "heap")


def check_all_methods(weights, s, g):
    """Every search that serves a rule returns a valid path of Dijkstra's
    optimal cost under that rule, or None exactly when Dijkstra finds none."""
    for rule, methods in (("geometric", GEOMETRIC), ("target", TARGET)):
        ref = dijkstra(weights, s, g, True, rule)
        for method in methods:
            res = _search(weights, s, g, True, rule, method=method)
            assert res.method == method
            if math.isinf(ref):
                assert res.path is None and math.isinf(res.cost), (method, rule)
                continue
            assert res.path is not None, (method, rule)
            check_valid(weights, res.path, s, g, True, rule)
            assert path_cost(weights, res.path, rule) == pytest.approx(ref, rel=1e-9, abs=1e-9), \
                (method, rule)
            assert res.cost == pytest.approx(ref, rel=1e-9, abs=1e-9), (method, rule)


def ends(draw, weights):
    free = np.argwhere(np.isfinite(weights))
    if len(free) == 0:
        weights[0, 0] = weights.max(initial=1.0) if np.isfinite(weights).any() else 1.0
        free = np.argwhere(np.isfinite(weights))
    s = tuple(int(v) for v in free[draw(st.integers(0, len(free) - 1))])
    g = tuple(int(v) for v in free[draw(st.integers(0, len(free) - 1))])
    return s, g


@st.composite
def clutter(draw, max_side=16):
    h = draw(st.integers(1, max_side))
    w = draw(st.integers(1, max_side))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    w0 = draw(st.sampled_from([1.0, 2.5, 7.0]))
    weights = np.full((h, w), w0, np.float32)
    weights[rng.random((h, w)) < draw(st.sampled_from([0.0, 0.1, 0.25, 0.4, 0.55]))] = np.inf
    if not np.isfinite(weights).any():
        weights[0, 0] = w0
    return (weights, *ends(draw, weights))


@st.composite
def walls(draw):
    """Straight walls with one- and two-cell gaps, plus diagonal squeezes
    (two blocked cells touching only at a corner, passable under the target
    rule, not under the geometric rule)."""
    h = draw(st.integers(3, 24))
    w = draw(st.integers(3, 24))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    weights = np.ones((h, w), np.float32)
    for _ in range(draw(st.integers(1, 5))):
        if rng.random() < 0.5:
            r = int(rng.integers(0, h))
            weights[r, :] = np.inf
            for _ in range(int(rng.integers(0, 3))):
                c = int(rng.integers(0, w))
                weights[r, c:c + int(rng.integers(1, 3))] = 1.0
        else:
            c = int(rng.integers(0, w))
            weights[:, c] = np.inf
            for _ in range(int(rng.integers(0, 3))):
                r = int(rng.integers(0, h))
                weights[r:r + int(rng.integers(1, 3)), c] = 1.0
    for _ in range(draw(st.integers(0, 6))):
        r = int(rng.integers(0, h - 1))
        c = int(rng.integers(0, w - 1))
        if rng.random() < 0.5:
            weights[r, c] = weights[r + 1, c + 1] = np.inf
            weights[r + 1, c] = weights[r, c + 1] = 1.0
        else:
            weights[r + 1, c] = weights[r, c + 1] = np.inf
            weights[r, c] = weights[r + 1, c + 1] = 1.0
    if not np.isfinite(weights).any():
        weights[0, 0] = 1.0
    return (weights, *ends(draw, weights))


@settings(max_examples=400, deadline=None)
@given(clutter())
def test_uniform_searches_match_dijkstra_on_clutter(case):
    check_all_methods(*case)


@settings(max_examples=300, deadline=None)
@given(walls())
def test_uniform_searches_match_dijkstra_on_walls_gaps_and_squeezes(case):
    check_all_methods(*case)


@settings(max_examples=25, deadline=None)
@given(clutter(max_side=140))
def test_uniform_searches_match_dijkstra_across_bitset_words(case):
    # sides past 62 put rays across several 64-bit words of the bitsets
    check_all_methods(*case)


@pytest.mark.parametrize("method, rule", [("dial", "target"), ("unit-buckets", "geometric"),
                                          ("buckets", "geometric"), ("buckets", "target")])
def test_bucket_overflow_retries_with_more_room(method, rule):
    # a tiny initial capacity overflows at once; the retry on a fresh grid
    # must give the same optimal answer as a roomy first attempt
    rng = np.random.default_rng(7)
    w = np.ones((60, 70), np.float32)
    w[rng.random(w.shape) < 0.2] = np.inf
    w[0, 0] = w[59, 69] = 1.0
    ref = dijkstra(w, (0, 0), (59, 69), True, rule)
    tiny = _search(w, (0, 0), (59, 69), True, rule, method=method, cap0=8)
    roomy = _search(w, (0, 0), (59, 69), True, rule, method=method, cap0=1 << 16)
    assert tiny.cost == pytest.approx(ref, rel=1e-9) and roomy.cost == pytest.approx(ref, rel=1e-9)
    check_valid(w, tiny.path, (0, 0), (59, 69), True, rule)


def test_long_open_rays_and_exact_costs():
    w = np.ones((150, 300), np.float32)
    w[75, 1:299] = np.inf          # a wall with gaps at both ends
    for s, g in (((0, 0), (149, 299)), ((74, 10), (76, 10)), ((149, 0), (0, 299))):
        check_all_methods(w, s, g)
    res = search_stats(w, (0, 0), (0, 299))
    assert res.method == "jps" and res.cost == pytest.approx(299.0) and len(res.path) == 300


def test_diagonal_squeeze_blocks_geometric_not_target():
    # the only way from (0,0) on is diagonal, squeezing between two blocked cells
    w = np.full((3, 3), np.inf, np.float32)
    w[0, 0] = w[1, 1] = w[2, 2] = 1.0
    for method in GEOMETRIC:
        assert _search(w, (0, 0), (2, 2), True, "geometric", method=method).path is None
    for method in TARGET:
        p = _search(w, (0, 0), (2, 2), True, "target", method=method).path
        assert p.tolist() == [[0, 0], [1, 1], [2, 2]]


def test_dispatch_picks_the_specialised_search():
    open_room = np.ones((64, 64), np.float32)
    open_room[32, 8:56] = np.inf
    assert search_stats(open_room, (0, 0), (63, 63)).method == "jps"
    assert search_stats(open_room, (0, 0), (63, 63), move_cost="target").method == "dial"
    rng = np.random.default_rng(3)
    cluttered = np.ones((64, 64), np.float32)
    cluttered[rng.random((64, 64)) < 0.25] = np.inf
    cluttered[0, 0] = cluttered[63, 63] = 1.0
    assert search_stats(cluttered, (0, 0), (63, 63)).method == "unit-buckets"
    graded = open_room.copy()
    graded[10, 10] = 2.0
    assert search_stats(graded, (0, 0), (63, 63)).method == "buckets"
    assert search_stats(open_room, (0, 0), (63, 63), allow_diagonal=False).method == "buckets"
    graded[10, 10] = 1000.0            # weight ratio past BUCKET_MAX_RATIO
    assert search_stats(graded, (0, 0), (63, 63)).method == "heap"


def test_uniform_weight_scales_the_cost():
    w = np.full((20, 30), 3.0, np.float32)
    w[5:15, 10] = np.inf
    for rule in ("geometric", "target"):
        r3 = search_stats(w, (10, 0), (10, 29), move_cost=rule)
        r1 = search_stats(np.where(np.isfinite(w), 1.0, np.inf).astype(np.float32),
                          (10, 0), (10, 29), move_cost=rule)
        assert r3.cost == pytest.approx(3.0 * r1.cost)
        assert path_cost(w, r3.path, rule) == pytest.approx(r3.cost)


@pytest.mark.parametrize("rule", ["geometric", "target"])
def test_bad_values_still_raise_on_uniform_looking_grids(rule):
    w = np.ones((5, 5), np.float32)
    w[2, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        astar(w, (0, 0), (4, 4), move_cost=rule)
    with pytest.raises(ValueError, match=">= 1"):
        astar(np.full((5, 5), 0.5, np.float32), (0, 0), (4, 4), move_cost=rule)
    w = np.ones((5, 5), np.float32)
    w[3, 3] = -np.inf
    with pytest.raises(ValueError, match=">= 1"):
        astar(w, (0, 0), (4, 4), move_cost=rule)


def test_forced_method_must_fit_the_query():
    w = np.ones((4, 4), np.float32)
    with pytest.raises(ValueError, match="does not serve"):
        _search(w, (0, 0), (3, 3), True, "target", method="jps")
    with pytest.raises(ValueError, match="needs allow_diagonal"):
        _search(w, (0, 0), (3, 3), False, "geometric", method="unit-buckets")
    with pytest.raises(ValueError, match="method must be one of"):
        _search(w, (0, 0), (3, 3), True, "geometric", method="bfs")


def _padded_blocked(weights):
    """Blocked mask of ``weights`` with a blocked one-cell border (numpy reference)."""
    return np.pad(~np.isfinite(weights), 1, constant_values=True)


def _odd_corner_windows(blocked):
    """2 x 2 windows of a boolean grid holding an odd number of True cells."""
    b = blocked.astype(np.int64)
    return int(((b[:-1, :-1] + b[:-1, 1:] + b[1:, :-1] + b[1:, 1:]) % 2).sum())


@settings(max_examples=120, deadline=None)
@given(clutter(max_side=140))
def test_uniform_grid_and_bitset_match_numpy(case):
    weights, _, _ = case
    h, w = weights.shape
    wbits = np.ascontiguousarray(weights).reshape(-1).view(np.uint32)
    ok, grid, w0_bits, n_free, n_corners = uniform_grid(wbits, h, w, 1)
    assert ok
    blocked = _padded_blocked(weights)
    assert np.array_equal(grid.reshape(h + 2, w + 2), np.where(blocked, 3, 0).astype(np.uint8))
    assert np.uint32(w0_bits).view(np.float32) == weights[np.isfinite(weights)][0]
    assert n_free == int(np.isfinite(weights).sum())
    assert n_corners == _odd_corner_windows(blocked)
    assert uniform_grid(wbits, h, w, 0)[4] == 0          # stride 0: not counted
    R, nwr = bits_from_grid(grid, h, w)
    bits = np.unpackbits(R.view(np.uint8), bitorder="little").reshape(h + 2, nwr * 64)
    assert np.array_equal(bits[:, :w + 2].astype(bool), blocked)
    assert bits[:, w + 2:].all()                          # past the east edge: blocked


@pytest.mark.parametrize("bad", [np.nan, -np.inf, 0.5, 0.0, -0.0, 2.0])
def test_uniform_grid_gives_up_on_a_second_or_bad_value(bad):
    w = np.ones((7, 9), np.float32)
    w[1, 1] = np.inf
    w[5, 6] = bad
    ok = uniform_grid(w.reshape(-1).view(np.uint32), 7, 9, 1)[0]
    assert not ok
    lead = np.full((3, 3), bad, np.float32)     # the value first: fine only if it is >= 1
    assert uniform_grid(lead.reshape(-1).view(np.uint32), 3, 3, 1)[0] == (bad >= 1.0)


def test_sampled_corner_count_is_close_and_keeps_the_dispatch():
    rng = np.random.default_rng(11)
    w = np.ones((600, 500), np.float32)
    w[rng.random(w.shape) < 0.25] = np.inf
    exact = _odd_corner_windows(_padded_blocked(w))
    wbits = w.reshape(-1).view(np.uint32)
    est = uniform_grid(wbits, 600, 500, 3)[4]
    assert abs(est - exact) < 0.03 * exact
    w[0, 0] = w[599, 499] = 1.0
    assert search_stats(w, (0, 0), (599, 499)).method == "unit-buckets"
    rooms = np.ones((600, 500), np.float32)
    rooms[::50, :] = np.inf
    rooms[:, ::50] = np.inf
    rooms[25::50, :] = 1.0                       # a corridor through every room row
    rooms[:, 25::50] = 1.0
    assert search_stats(rooms, (1, 1), (598, 498)).method == "jps"


def test_unit_buckets_long_search_matches_the_heap():
    # a grid big enough for deep bucket stacks, held cells and prefetches
    # across rows; the binary heap is the independent reference
    rng = np.random.default_rng(5)
    w = np.ones((300, 260), np.float32)
    w[rng.random(w.shape) < 0.3] = np.inf
    free = np.argwhere(np.isfinite(w))
    for _ in range(4):
        s, g = (tuple(int(v) for v in free[rng.integers(len(free))]) for _ in range(2))
        ours = _search(w, s, g, True, "geometric", method="unit-buckets")
        ref = _search(w, s, g, True, "geometric", method="heap")
        assert ours.cost == pytest.approx(ref.cost, rel=1e-12, abs=1e-12)
        if ours.path is not None:
            check_valid(w, ours.path, s, g, True, "geometric")
            assert path_cost(w, ours.path, "geometric") == pytest.approx(ref.cost, rel=1e-12)
