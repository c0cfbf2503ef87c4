"""Property tests for the exact grid traversal used by integrate_scan."""
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from edgepilot.vehicle.perception import trace_cells
from edgepilot.vehicle.perception._kernels import FP_SCALE

RES = 0.05
# free floats, and points exactly on cell boundaries and centres (ties everywhere)
coord = st.one_of(st.floats(min_value=0.0, max_value=3.0, allow_nan=False, allow_infinity=False),
                  st.integers(0, 120).map(lambda k: k * (RES / 2)))


def _fp(v: float) -> int:
    import math
    return int(math.floor(v * (FP_SCALE / RES)))


def _segment_touches_cell(p0, p1, row, col) -> bool:
    """Exact test (rationals, fixed-point units) that the closed segment
    p0-p1 meets the closed square of cell (row, col)."""
    (x0, y0), (x1, y1) = p0, p1
    lo_x, hi_x = Fraction(col * FP_SCALE), Fraction((col + 1) * FP_SCALE)
    lo_y, hi_y = Fraction(row * FP_SCALE), Fraction((row + 1) * FP_SCALE)
    t0, t1 = Fraction(0), Fraction(1)
    for p, d, lo, hi in ((x0, x1 - x0, lo_x, hi_x), (y0, y1 - y0, lo_y, hi_y)):
        if d == 0:
            if not (lo <= p <= hi):
                return False
            continue
        a, b = (lo - p) / d, (hi - p) / d
        if a > b:
            a, b = b, a
        t0, t1 = max(t0, a), min(t1, b)
        if t0 > t1:
            return False
    return True


@settings(max_examples=300, deadline=None)
@given(coord, coord, coord, coord)
def test_traversal_properties(x0, y0, x1, y1):
    cells = trace_cells((x0, y0), (x1, y1), RES)
    p0, p1 = (_fp(x0), _fp(y0)), (_fp(x1), _fp(y1))
    start = (p0[1] >> 16, p0[0] >> 16)
    end = (p1[1] >> 16, p1[0] >> 16)
    # starts in the sensor's cell and ends in the hit cell
    assert tuple(cells[0]) == start
    assert tuple(cells[-1]) == end
    # every cell once
    assert len({tuple(c) for c in cells}) == len(cells)
    # in order: 4-connected unit steps, monotone in the direction of travel
    steps = np.diff(cells, axis=0)
    assert np.all(np.abs(steps).sum(axis=1) == 1)
    sr, sc = np.sign(end[0] - start[0]), np.sign(end[1] - start[1])
    assert np.all(steps[:, 0] * sr >= 0) and np.all(steps[:, 1] * sc >= 0)
    # minimal length, and every visited cell really meets the segment
    assert len(cells) == abs(end[0] - start[0]) + abs(end[1] - start[1]) + 1
    for r, c in cells:
        assert _segment_touches_cell(p0, p1, int(r), int(c))


@pytest.mark.parametrize("x0,y0,x1,y1", [
    (0.125, 0.125, 0.375, 0.375),     # exact diagonal through corners, both +
    (0.375, 0.375, 0.125, 0.125),     # both -
    (0.375, 0.125, 0.125, 0.375),     # x-, y+ : the tie case that must go y first
    (0.125, 0.375, 0.375, 0.125),     # x+, y-
    (0.10, 0.10, 0.30, 0.10),         # start on a boundary, horizontal
    (0.30, 0.10, 0.10, 0.10),         # moving west from a boundary
    (0.1, 0.3, 0.1, 0.1),             # vertical, endpoints on boundaries
])
def test_traversal_corner_cases(x0, y0, x1, y1):
    cells = trace_cells((x0, y0), (x1, y1), RES)
    p0, p1 = (_fp(x0), _fp(y0)), (_fp(x1), _fp(y1))
    assert tuple(cells[0]) == (p0[1] >> 16, p0[0] >> 16)
    assert tuple(cells[-1]) == (p1[1] >> 16, p1[0] >> 16)
    assert np.all(np.abs(np.diff(cells, axis=0)).sum(axis=1) == 1)
    for r, c in cells:
        assert _segment_touches_cell(p0, p1, int(r), int(c))


def test_horizontal_traversal_is_the_row():
    cells = trace_cells((0.01, 0.26), (0.49, 0.26), RES)
    assert cells.tolist() == [[5, c] for c in range(10)]


def test_trace_cells_bad_input():
    with pytest.raises(ValueError, match="resolution"):
        trace_cells((0, 0), (1, 1), 0.0)
    with pytest.raises(ValueError, match="start"):
        trace_cells((-1.0, 0.0), (1, 1), RES)
    with pytest.raises(ValueError, match="end"):
        trace_cells((0.0, 0.0), (10.0, 0.0), RES, shape=(10, 10))


# ---- near-field sharing in integrate_scan: same grid as walking every beam ----

from edgepilot.vehicle.perception import OccupancyGrid  # noqa: E402
from edgepilot.vehicle.perception._reference import integrate_scan_numpy  # noqa: E402


def _both_ways(pose, ranges, a0, da, max_range, size=6.0, res=RES, cap=None, **params):
    shared = OccupancyGrid(size, size, res, (0, 0), **params)
    walked = OccupancyGrid(size, size, res, (0, 0), **params)
    if cap is not None:
        shared.near_field_cap = cap
    walked.near_field_cap = 0                       # every beam walked on its own
    ref = np.zeros(shared.shape, np.float32)
    for _ in range(2):                              # the second scan sees stamps of the first
        h1 = shared.integrate_scan(pose, ranges, a0, da, max_range)
        h2 = walked.integrate_scan(pose, ranges, a0, da, max_range)
        h3 = integrate_scan_numpy(ref, (0, 0), res, pose, ranges, a0, da, max_range,
                                  shared.l_free, shared.l_occ, shared.l_min, shared.l_max,
                                  clear_no_return=shared.clear_no_return)
        assert h1 == h2 == h3
    np.testing.assert_array_equal(shared._cells, walked._cells)
    np.testing.assert_array_equal(shared.logodds, ref)
    return shared


# sensor anywhere, or exactly on cell boundaries / centres (ties in every traversal)
pos = st.one_of(st.floats(0.5, 5.5), st.integers(20, 220).map(lambda k: k * (RES / 2)))


@settings(max_examples=60, deadline=None)
@given(pos, pos, st.floats(-4.0, 4.0) | st.sampled_from([0.0, np.pi / 4, np.pi / 2, -np.pi]),
       st.sampled_from([90, 360, 1080, 2400]), st.sampled_from([1.0, -1.0]),
       st.floats(0.3, 8.0), st.floats(0.0, 0.4), st.integers(0, 2**32 - 1))
def test_shared_near_field_is_exact(x, y, yaw, n, sign, dist, wobble, seed):
    """Smooth ranges (walls) make long fans of beams; a few no-returns and
    short beams break them; beams leave the grid and clip."""
    rng = np.random.default_rng(seed)
    da = sign * 2 * np.pi / n
    a = np.arange(n) * da
    r = (dist * (1 + wobble * np.sin(3 * a)) + rng.normal(0, 0.02, n)).astype(np.float32)
    r[rng.random(n) < 0.03] = np.inf
    r[rng.random(n) < 0.02] = 0.2
    _both_ways((x, y, yaw), r, -np.pi * sign, da, 10.0)


def test_shared_near_field_exact_on_the_benchmark_scans():
    n = 1080
    a0, da = -np.radians(135), np.radians(270) / (n - 1)
    rng = np.random.default_rng(0)
    a = a0 + da * np.arange(n)
    indoor = (6.0 + 0.4 * np.sin(3 * a) + rng.normal(0, 0.05, n)).astype(np.float32)
    sea = np.full(n, np.inf, np.float32)
    blocks = (np.arange(n) // 30) % 2 == 0
    sea[blocks] = rng.uniform(8.0, 25.0, blocks.sum()).astype(np.float32)
    for r in (indoor, sea):
        g = _both_ways((12.5123, 12.4987, 0.3), r, a0, da, 30.0, size=25.0)
        assert (g.logodds < 0).sum() > 20000


yaw_any = st.floats(-4.0, 4.0) | st.sampled_from([0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4, -np.pi, -np.pi / 2])


@settings(max_examples=80, deadline=None)
@given(pos, pos, yaw_any, st.sampled_from([360, 540, 1080]), st.sampled_from([1.0, -1.0]),
       st.booleans(), st.sampled_from([None, 12, 40]), st.integers(0, 2**32 - 1))
def test_short_returns_among_long_beams_are_exact(x, y, yaw, n, sign, clear, cap, seed):
    """Runs of short returns (a vehicle a few metres off) and single short
    beams among long returns and no-returns, all round the sensor: fans end
    at the short beams and start again after them with a larger near field
    (``_FAN_GROW``), beams leave the grid near its edges, no-returns are
    walked to their end cell or ignored, small near-field caps; the grid is
    that of walking every beam and of the NumPy oracle."""
    rng = np.random.default_rng(seed)
    da = sign * 2 * np.pi / n
    r = np.full(n, np.inf, np.float32)
    far = rng.random(n) < rng.uniform(0.0, 0.8)
    r[far] = rng.uniform(3.0, 9.0, far.sum())
    for _ in range(rng.integers(1, 7)):
        run = (rng.integers(0, n) + np.arange(rng.integers(1, n // 12))) % n
        r[run] = rng.uniform(0.3, 2.0) + rng.normal(0, 0.03, run.size)
    single = rng.random(n) < 0.03
    r[single] = rng.uniform(0.1, 2.0, single.sum())
    _both_ways((x, y, yaw), r, -np.pi * sign, da, 10.0, cap=cap, clear_no_return=clear)


@pytest.mark.parametrize("yaw", [0.0, 0.5, np.pi / 2, 2.6, -2.0])
@pytest.mark.parametrize("where", [(15.03, 14.98), (1.47, 28.61), (28.9, 1.2)])
def test_fleet_scans_with_neighbours_are_exact(yaw, where):
    """The fleet benchmark's lidar (540 beams over 270 degrees, 12 m, 0.1 m
    cells) in a lane with vehicles 4 m either side: runs of ~30 returns at
    3.5 m among no-returns, in the middle of the grid and at its corners."""
    rng = np.random.default_rng(abs(int(yaw * 100)) + int(where[0]))
    n = 540
    a0, da = -np.radians(135), np.radians(270) / n
    a = a0 + da * np.arange(n) + yaw
    r = np.full(n, np.inf, np.float32)
    for side in (1.0, -1.0):                         # a neighbour 4 m to the left and right, +-0.45 m wide
        for off in (-1.5, 0.0, 2.0):
            s = np.sin(a) * side
            lat = np.where(s > 0.05, 3.5 / np.maximum(s, 1e-9), np.inf)
            along = np.cos(a) * lat - off
            on = (np.abs(along) < 0.45) & (lat < 12.0) & ~np.isfinite(r)
            r[on] = (lat[on] + rng.normal(0, 0.02, on.sum())).astype(np.float32)
    assert 20 < np.isfinite(r).sum() < n // 2
    _both_ways((where[0], where[1], yaw), r, a0, da, 12.0, size=30.0, res=0.1)


@pytest.mark.parametrize("params", [
    dict(l_free=-1 / 128),                           # the smallest free step
    dict(l_free=-12.0, l_min=-15.9),                 # one free update from l_max to l_min
    dict(l_free=-40.0, l_min=-0.5, l_max=15.9),      # l_free below what 16 bits hold: clamped, same updates
])
def test_shared_near_field_exact_with_extreme_log_odds(params):
    """The near-field fill's 16-bit arithmetic (``_fill_consts``) gives the
    table's updates for any l_free, l_min, l_max the grid accepts."""
    rng = np.random.default_rng(11)
    n = 720
    a = np.arange(n) * (2 * np.pi / n)
    r = (2.5 + 0.3 * np.sin(3 * a) + rng.normal(0, 0.02, n)).astype(np.float32)
    r[rng.random(n) < 0.05] = np.inf
    for yaw in (0.0, 0.7, 2.0):
        _both_ways((3.01, 2.97, yaw), r, -np.pi, 2 * np.pi / n, 4.0, **params)


# ---- the kernel's shortcuts equal the plain walk ----

from edgepilot.vehicle.perception import _kernels as K_  # noqa: E402
from edgepilot.vehicle.perception._kernels import FP_SHIFT, trace_cells_kernel  # noqa: E402

# The helpers are compiled into the kernel that calls them (checked end to
# end against the oracle above); here their arithmetic runs as Python (no
# overflow in these ranges), which leaves no cache index of their own.
_dda_setup = K_._dda_setup.py_func
_major_entries = K_._major_entries.py_func
_minor_before = K_._minor_before.py_func
_minor_before_near = K_._minor_before_near.py_func
_fill_consts = K_._fill_consts.py_func

# fixed-point end points: anywhere in a 600-cell square, or on cell corners
fp_coord = st.one_of(st.integers(0, 600 * FP_SCALE - 1), st.integers(0, 600).map(lambda k: k * FP_SCALE))


def _walk_entries(X0, Y0, X1, Y1, width):
    """out[k] = minor steps before the k-th major step, read off the plain
    traversal (``trace_cells_kernel``); plus whether x is the major axis."""
    n = abs((X1 >> FP_SHIFT) - (X0 >> FP_SHIFT)) + abs((Y1 >> FP_SHIFT) - (Y0 >> FP_SHIFT)) + 1
    out = np.empty(n, np.int64)
    k = trace_cells_kernel(X0, Y0, X1, Y1, width, out)
    steps = np.abs(np.diff(out[:k]))                 # 1: an x step, width: a y step
    xmajor = abs(X1 - X0) >= abs(Y1 - Y0)
    major = steps == 1 if xmajor else steps == width
    minor_seen = np.cumsum(~major)                   # minor steps up to and including each step
    entries = [0] + [int(minor_seen[s] - (0 if major[s] else 1)) for s in np.flatnonzero(major)]
    return entries, xmajor


@settings(max_examples=300, deadline=None)
@given(fp_coord, fp_coord, fp_coord, fp_coord, st.integers(-40 * FP_SCALE, 40 * FP_SCALE),
       st.integers(-40 * FP_SCALE, 40 * FP_SCALE))
def test_major_entries_match_the_walk(X0, Y0, X1, Y1, dx2, dy2):
    """The branch-free near-field bounds (at most one minor step between two
    major ones) are those of the plain traversal, ties included, for two
    beams of one quadrant and major axis side by side (a fan's extremes)."""
    width = 601
    X2 = min(max(X1 + dx2, 0), 600 * FP_SCALE - 1)
    Y2 = min(max(Y1 + dy2, 0), 600 * FP_SCALE - 1)
    entries, xmajor = _walk_entries(X0, Y0, X1, Y1, width)
    entries2, xmajor2 = _walk_entries(X0, Y0, X2, Y2, width)
    _i, _n, e, tie, _sx, _sy, ax, ay = _dda_setup(X0, Y0, X1, Y1, width)
    _i, _n, e2, tie2, _sx, _sy, ax2, ay2 = _dda_setup(X0, Y0, X2, Y2, width)
    same_fan = xmajor2 == xmajor and tie2 == tie and (X2 >= X0) == (X1 >= X0) and (Y2 >= Y0) == (Y1 >= Y0)
    if not same_fan:                                 # the beam beside itself
        entries2, e2, ax2, ay2 = entries, e, ax, ay
    K = min(len(entries), len(entries2)) - 1
    out = np.full(K + 2, -7, np.int64)
    out2 = np.full(K + 2, -7, np.int64)
    _major_entries(e, ax, ay, e2, ax2, ay2, tie, K, xmajor, out, out2)
    assert out[:K + 1].tolist() == entries[:K + 1]
    assert out2[:K + 1].tolist() == entries2[:K + 1]
    for k in range(1, len(entries)):
        assert _minor_before(e, ax, ay, tie, k, xmajor) == entries[k]


@settings(max_examples=300, deadline=None)
@given(fp_coord, fp_coord, fp_coord, fp_coord, st.integers(0, 700), st.integers(0, 10**9))
def test_minor_before_without_division_is_exact_from_any_guess(X0, Y0, X1, Y1, guess, pick):
    """The fan walk's division-free minor offset equals the division for
    any guess, near (the usual case) or far."""
    width = 601
    _i, n, e, tie, _sx, _sy, ax, ay = _dda_setup(X0, Y0, X1, Y1, width)
    xmajor = abs(X1 - X0) >= abs(Y1 - Y0)
    K = abs((X1 >> FP_SHIFT) - (X0 >> FP_SHIFT)) if xmajor else abs((Y1 >> FP_SHIFT) - (Y0 >> FP_SHIFT))
    if K < 1:
        assume(False)                                # no major step to ask about
    k = 1 + pick % K
    exact = _minor_before(e, ax, ay, tie, k, xmajor)
    for g in (guess, exact, max(exact - 1, 0), exact + 1):
        assert _minor_before_near(e, ax, ay, tie, k, xmajor, g) == exact


def test_fill_constants_fit_16_bits():
    for l_free in (-1, -51, -4095, -4096, -4097, -5120, -(2**31)):
        for l_min in (1, 1792, 4095):
            C, lf, lm = _fill_consts(7, np.int32(l_free), np.int32(l_min))
            assert (int(C), int(lm)) == (7 << 12, l_min)
            assert int(lf) == max(l_free, -4096)
            for lo in (0, 1, 2047, 4095):                # any log-odds field: the same clamped value
                assert max(lo + int(lf), l_min) == max(lo + l_free, l_min)


_pack = K_._pack.py_func


def _packed_walk(X0, Y0, X1, Y1, width):
    """The cells of ``_free_run_p`` from the packed state (``_pack``) of the
    traversal's start, in Python integers (the kernel's int64 arithmetic
    does not overflow where the state packs)."""
    idx, n, e, tie, six, siy, ax, ay = _dda_setup(X0, Y0, X1, Y1, width)
    assert ax < K_._PACK_LIMIT and ay < K_._PACK_LIMIT
    P, SY, DS = _pack(idx, e - tie, siy, six - siy, ay, ax + ay)
    out = []
    for _ in range(n + 1):
        assert -2**63 <= P < 2**63
        out.append(P & 0xFFFFFFFF)
        P += SY + (DS & (P >> 63))
    return out


@settings(max_examples=300, deadline=None)
@given(fp_coord, fp_coord, fp_coord, fp_coord)
def test_packed_walk_is_the_traversal(X0, Y0, X1, Y1):
    """One int64 a walk (f's top bits over the flat index) visits the cells
    of the plain traversal, ties included."""
    width = 601
    n = abs((X1 >> FP_SHIFT) - (X0 >> FP_SHIFT)) + abs((Y1 >> FP_SHIFT) - (Y0 >> FP_SHIFT)) + 1
    ref = np.empty(n, np.int64)
    k = trace_cells_kernel(X0, Y0, X1, Y1, width, ref)
    assert _packed_walk(X0, Y0, X1, Y1, width) == ref[:k].tolist()


def test_packed_walk_at_its_limits():
    """|end - start| just below _FAN_LIMIT (2**14 cells): the packed state
    stays in int64 and the walk is the traversal, both quadrants."""
    lim = K_._FAN_LIMIT - 1
    width = (lim >> FP_SHIFT) + 2
    for X0, Y0, X1, Y1 in ((0, 0, lim, 3 * FP_SCALE + 7), (lim, 5 * FP_SCALE, 1, 0),
                           (3, 0, 5 * FP_SCALE, lim), (2 * FP_SCALE, lim, 0, 1)):
        n = abs((X1 >> FP_SHIFT) - (X0 >> FP_SHIFT)) + abs((Y1 >> FP_SHIFT) - (Y0 >> FP_SHIFT)) + 1
        ref = np.empty(n, np.int64)
        k = trace_cells_kernel(X0, Y0, X1, Y1, width, ref)
        assert _packed_walk(X0, Y0, X1, Y1, width) == ref[:k].tolist()


def test_beams_too_long_to_pack_walk_unpacked():
    """A grid more than 2**14 cells wide: beams longer than the packed
    walk allows take the plain walk, and the grid is the oracle's."""
    res = 0.1
    g = OccupancyGrid(1700.0, 0.6, res, (0, 0))
    ranges = np.array([1650.0, 1000.0, 1690.0, 3.0, np.inf], np.float32)
    pose = (1.03, 0.27, 0.0)
    a0, da = -1e-5, 5e-6
    ref = np.zeros(g.shape, np.float32)
    for _ in range(2):
        h1 = g.integrate_scan(pose, ranges, a0, da, 1695.0)
        h2 = integrate_scan_numpy(ref, (0, 0), res, pose, ranges, a0, da, 1695.0,
                                  g.l_free, g.l_occ, g.l_min, g.l_max, clear_no_return=g.clear_no_return)
        assert h1 == h2
    np.testing.assert_array_equal(g.logodds, ref)
    assert (g.logodds[2] < 0).sum() > 16384                 # the long beams were walked


from numba import njit  # noqa: E402


@njit(cache=False)
def _free_rows(g, starts, ns, C, lf, lm):
    for i in range(starts.shape[0]):
        K_._free_row(g, starts[i], ns[i], C, lf, lm)


@pytest.mark.parametrize("size", [5, 31, 32, 33, 100])
def test_free_row_spans_are_the_table_update(size):
    """The near-field fill (``_free_row``: masked spans of ``_ROW_SPAN``
    cells, one by one at the end of the grid) updates exactly the cells of
    its row, as the free-update table does, and leaves every other cell as
    it was."""
    rng = np.random.default_rng(size)
    l_free, l_min = -51, 1792
    lut = K_.free_update_table(l_free, l_min)
    cur = K_.MAX_STAMP                              # no cell carries a later stamp than the scan's
    C, lf, lm = _fill_consts(cur, np.int32(l_free), np.int32(l_min))
    rows = [(s, n) for s in range(size) for n in range(0, size - s + 1)]
    for s, n in rows:
        stamp = rng.integers(0, cur + 1, size)
        lo = rng.integers(l_min, K_.LO_MASK + 1, size)
        g = ((stamp << K_.STAMP_SHIFT) | lo).astype(np.int16)
        want = g.copy()
        want[s:s + n] = lut[cur][g[s:s + n].view(np.uint16)].view(np.int16)
        _free_rows(g, np.array([s]), np.array([n]), C, lf, lm)
        np.testing.assert_array_equal(g, want)


_fan_extremes = K_._fan_extremes.py_func


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**24), st.integers(0, 2**24)), min_size=1, max_size=12),
       st.booleans())
def test_fan_extremes_are_the_first_least_and_largest_slopes(ends, xmajor):
    """The fallback for a fan whose slopes do not only rise or only fall:
    the first beam of least and the first of largest |minor| / |major|."""
    X0, Y0 = 2**24, 2**24
    ex = np.array([X0 + a for a, b in ends], np.int64)
    ey = np.array([Y0 - b for a, b in ends], np.int64)
    if any((a if xmajor else b) == 0 for a, b in ends):
        assume(False)                                # no major extent: not a fan's beam
    slopes = [Fraction(b, a) if xmajor else Fraction(a, b) for a, b in ends]
    i_min, i_max = _fan_extremes(ex, ey, X0, Y0, 0, len(ends), xmajor)
    assert i_min == slopes.index(min(slopes)) and i_max == slopes.index(max(slopes))


@pytest.mark.parametrize("yaw", [0.1, 0.9, 2.2, -1.3])
def test_fans_of_nearly_equal_slopes_are_exact(yaw):
    """Beams 1e-7 rad apart, closer than their end points' fixed point
    tells apart, so the slopes of a fan rise and fall (its extremes found
    by comparison, ``_fan_extremes``): the grid of walking every beam and
    of the NumPy oracle."""
    rng = np.random.default_rng(int(yaw * 10) + 50)
    r = (2.0 + rng.uniform(-1e-3, 1e-3, 400)).astype(np.float32)
    for da in (1e-7, 3e-8):
        _both_ways((3.01, 2.97, yaw), r, 0.0, da, 4.0)
