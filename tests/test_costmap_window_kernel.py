"""WindowCostmap.mark_known (one numba kernel) against the NumPy mask
expression it replaced (the oracle)."""
import copy

import numpy as np
import pytest

from edgepilot.vehicle.costmap import InflationParams, WindowCostmap, distance_to_obstacles, weights_from_distance
from edgepilot.vehicle.costmap.inflation import band_weights
from edgepilot.vehicle.maps import GridMap


def _mark_known_numpy(cm, known, origin):
    res = cm.resolution
    dr = int(round((origin[1] - cm.origin_y) / res))
    dc = int(round((origin[0] - cm.origin_x) / res))
    h, w = known.shape
    rows, cols = cm.known.shape
    a0, a1 = max(0, dr), min(rows, dr + h)
    b0, b1 = max(0, dc), min(cols, dc + w)
    if a0 >= a1 or b0 >= b1:
        return
    src = known[a0 - dr:a1 - dr, b0 - dc:b1 - dc]
    new = src & ~cm.known[a0:a1, b0:b1]
    if not new.any():
        return
    cm.known[a0:a1, b0:b1] |= src
    win = cm.weights[a0:a1, b0:b1]
    win[new] = weights_from_distance(cm.distance[a0:a1, b0:b1][new], cm.params)
    cm.version += 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mark_known_equals_the_numpy_oracle(seed):
    rng = np.random.default_rng(seed)
    occ = rng.random((60, 50)) < 0.03
    static = GridMap(occ, 0.1, 0.0, 0.0)
    a = WindowCostmap(80, 70, 0.1, InflationParams(0.3, 1.0), static=static, center=(2.5, 3.0), unknown_weight=2.0)
    b = copy.deepcopy(a)
    for _ in range(40):
        h, w = rng.integers(1, 40, 2)
        mask = rng.random((h, w)) < 0.6
        # anywhere around the window, partly or wholly outside it
        origin = (a.origin_x + 0.1 * int(rng.integers(-30, 80)), a.origin_y + 0.1 * int(rng.integers(-30, 90)))
        a.mark_known(mask, origin)
        _mark_known_numpy(b, mask, origin)
        assert np.array_equal(a.known, b.known)
        assert np.array_equal(a.weights, b.weights)
        assert a.version == b.version
        _assert_chunks_count_the_unknown(a)
    assert a.known.sum() > 0


def _assert_chunks_count_the_unknown(cm):
    """The per-row chunk and per-band counts the kernels skip by match ``known``."""
    from edgepilot.vehicle.costmap._kernels import CHUNK, TILE

    rows, cols = cm.known.shape
    for q in range(cm.unknown_chunks.shape[1]):
        want = (~cm.known[:, q * CHUNK:(q + 1) * CHUNK]).sum(axis=1)
        assert np.array_equal(cm.unknown_chunks[:, q], want)
    assert cm.unknown_tiles.shape == ((rows + TILE - 1) // TILE, cm.unknown_chunks.shape[1])
    for t in range(cm.unknown_tiles.shape[0]):
        for q in range(cm.unknown_tiles.shape[1]):
            want = int((~cm.known[t * TILE:(t + 1) * TILE, q * CHUNK:(q + 1) * CHUNK]).sum())
            assert cm.unknown_tiles[t, q] == want
    assert cm.unknown_cells == int((~cm.known).sum())


def test_mark_known_skips_known_chunks_and_rolls():
    """A window of 100 columns (chunks of 32, the last one partial), marked
    from sources that cover chunks whole, partly and across their edges,
    then rolled: the result is the NumPy oracle's and the chunk counts stay
    exact."""
    rng = np.random.default_rng(5)
    static = GridMap(rng.random((50, 60)) < 0.02, 0.1, 0.0, 0.0)
    a = WindowCostmap(90, 100, 0.1, InflationParams(0.3, 1.0), static=static, center=(3.0, 2.5), unknown_weight=2.0)
    b = copy.deepcopy(a)
    _assert_chunks_count_the_unknown(a)
    for k in range(60):
        h, w = (int(v) for v in rng.integers(1, 70, 2))
        mask = rng.random((h, w)) < (0.97 if k % 3 else 0.4)
        origin = (a.origin_x + 0.1 * int(rng.integers(-20, 100)), a.origin_y + 0.1 * int(rng.integers(-20, 90)))
        a.mark_known(mask, origin)
        _mark_known_numpy(b, mask, origin)
        assert np.array_equal(a.known, b.known) and np.array_equal(a.weights, b.weights)
        _assert_chunks_count_the_unknown(a)
        if k == 30:
            a.edge_trigger = b.edge_trigger = 2.0
            assert a.follow(a.origin_x + 9.5, a.origin_y + 4.0) and b.follow(b.origin_x + 9.5, b.origin_y + 4.0)
            _assert_chunks_count_the_unknown(a)
    assert 0 < a.unknown_cells < a.known.size


def test_mark_known_refuses_a_non_bool_mask():
    cm = WindowCostmap(8, 8, 0.5, InflationParams(0.5, 1.0))
    with pytest.raises(ValueError, match="mark_known: expected a 2-D bool mask"):
        cm.mark_known(np.ones((2, 2)), (0.0, 0.0))


@pytest.mark.parametrize("seed", [0, 1])
def test_mark_known_packed_equals_the_bool_mask(seed):
    """The lidar mapper's packed cells (stamp in the high bits, log-odds +
    bias in the low 12) marked straight: the same as the bool mask
    ``cells & mask != bias`` through mark_known (and its NumPy oracle)."""
    rng = np.random.default_rng(seed)
    static = GridMap(rng.random((60, 50)) < 0.03, 0.1, 0.0, 0.0)
    a = WindowCostmap(80, 70, 0.1, InflationParams(0.3, 1.0), static=static, center=(2.5, 3.0), unknown_weight=2.0)
    b = copy.deepcopy(a)
    mask, bias = (1 << 12) - 1, 1 << 11
    for _ in range(40):
        h, w = rng.integers(1, 40, 2)
        lo = np.where(rng.random((h, w)) < 0.5, bias, rng.integers(0, mask + 1, (h, w)))
        cells = ((rng.integers(0, 16, (h, w)) << 12) | lo).astype(np.uint16).view(np.int16)
        origin = (a.origin_x + 0.1 * int(rng.integers(-30, 80)), a.origin_y + 0.1 * int(rng.integers(-30, 90)))
        a.mark_known_packed(cells, mask, bias, origin)
        _mark_known_numpy(b, (cells & mask) != bias, origin)
        assert np.array_equal(a.known, b.known)
        assert np.array_equal(a.weights, b.weights)
        assert a.version == b.version
        _assert_chunks_count_the_unknown(a)
    assert a.known.sum() > 0
    with pytest.raises(ValueError, match="mark_known_packed: expected a 2-D integer grid"):
        a.mark_known_packed(np.ones((2, 2)), mask, bias, (0.0, 0.0))


def test_mark_known_skips_known_bands():
    """A window of 150 rows (bands of 32, the last one partial) with known
    and unknown bands, marked by sources that start and end inside bands
    and across them: the NumPy oracle's result, the band counts exact."""
    rng = np.random.default_rng(11)
    static = GridMap(rng.random((120, 90)) < 0.02, 0.1, 0.0, 0.0)
    a = WindowCostmap(150, 110, 0.1, InflationParams(0.3, 1.0), static=static, center=(4.5, 6.0), unknown_weight=2.0)
    b = copy.deepcopy(a)
    _assert_chunks_count_the_unknown(a)
    assert (a.unknown_tiles == 0).any() and (a.unknown_tiles > 0).any()
    mask, bias = (1 << 12) - 1, 1 << 11
    for k in range(50):
        h, w = (int(v) for v in rng.integers(1, 120, 2))
        lo = np.where(rng.random((h, w)) < (0.3 if k % 2 else 0.9), bias, rng.integers(0, mask + 1, (h, w)))
        cells = ((rng.integers(0, 16, (h, w)) << 12) | lo).astype(np.uint16).view(np.int16)
        origin = (a.origin_x + 0.1 * int(rng.integers(-40, 110)), a.origin_y + 0.1 * int(rng.integers(-40, 150)))
        if k % 3:
            a.mark_known_packed(cells, mask, bias, origin)
        else:
            a.mark_known((cells & mask) != bias, origin)
        _mark_known_numpy(b, (cells & mask) != bias, origin)
        assert np.array_equal(a.known, b.known) and np.array_equal(a.weights, b.weights)
        assert a.version == b.version
        _assert_chunks_count_the_unknown(a)
    assert 0 < a.unknown_cells < a.known.size


def _threshold_distances(rng, p):
    """float32 distances round both thresholds: their float32 roundings and
    neighbours, values between the float32 and float64 thresholds, NaN,
    inf, and random ones on either side and in the band."""
    special = []
    for t in (p.inscribed_radius, p.inflation_radius):
        t32 = np.float32(t)
        special += [t32, np.nextafter(t32, np.float32(0)), np.nextafter(t32, np.float32(np.inf))]
    special += [np.float32(np.nan), np.float32(np.inf), np.float32(0.0), np.float32(1e9)]
    rand = rng.uniform(0.0, 1.5 * p.inflation_radius, 200).astype(np.float32)
    return np.concatenate([np.array(special, np.float32), rand])


def _one_row_case(d, p):
    """known_weights_kernel's inputs for distances ``d`` as one row of cells,
    all newly known: (dist, the weights weights_from_distance gives, weights
    to fill (-1: not yet), the cells (row, col), the leftover distances' room)."""
    dist = d.reshape(1, -1)
    want = weights_from_distance(dist, p)
    weights = np.full(dist.shape, -1.0, np.float32)
    cells = np.stack([np.zeros(d.size, np.int64), np.arange(d.size)], axis=1)
    return dist, want, weights, cells, np.empty(d.size, np.float32)


@pytest.mark.parametrize("radii", [(0.3, 1.0), (0.45, 1.3), (0.1, 0.1), (0.7, 2.2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_known_weights_kernel_equals_weights_from_distance(radii, dtype):
    """The kernel settles lethal and far cells, NumPy the band: together
    weights_from_distance's weights, also on the float32 roundings of the
    thresholds (NumPy compares a float32 array with a Python float in
    float32) and for NaN; float64 distances are taken as float32, as
    weights_from_distance takes them."""
    from edgepilot.vehicle.costmap._kernels import known_weights_kernel
    from edgepilot.vehicle.costmap.inflation import band_weights

    rng = np.random.default_rng(3)
    p = InflationParams(*radii)
    d = _threshold_distances(rng, p).astype(dtype)
    if dtype is np.float64:     # the thresholds themselves, and values a float32 rounding away
        d = np.concatenate([d, [t + e for t in (p.inscribed_radius, p.inflation_radius) for e in (0.0, 1e-9, -1e-9)]])
    rng.shuffle(d)
    dist, want, weights, cells, rest_d = _one_row_case(d, p)
    no_table = np.empty(0, np.float32)          # no band distance in the table: the band left to NumPy
    m, odd = known_weights_kernel(cells, d.size, dist, weights, float(p.inscribed_radius),
                                  float(p.inflation_radius), 10.0, no_table, no_table, rest_d)
    assert odd                                      # the NaN at least
    settled = weights[0] != -1.0
    assert np.array_equal(weights[0][settled], want[0][settled])
    rest = cells[:m, 1]
    assert np.array_equal(np.sort(rest), np.flatnonzero(~settled))     # every other cell listed once ...
    assert np.all(np.diff(rest) > 0)                                   # ... in order
    assert np.array_equal(rest_d[:m], d[rest].astype(np.float32), equal_nan=True)
    weights[0, rest] = weights_from_distance(rest_d[:m], p)
    assert np.array_equal(weights, want)
    band = (rest_d[:m] > p.inscribed_radius) & (rest_d[:m] <= p.inflation_radius)
    assert np.array_equal(band_weights(rest_d[:m][band], p), want[0, rest[band]])


@pytest.mark.parametrize("radii", [(0.3, 1.0), (0.45, 1.3), (0.1, 0.1), (0.7, 2.2), (0.0, 0.55)])
@pytest.mark.parametrize("res", [0.1, 0.25, 0.3])
def test_known_weights_kernel_band_table(radii, res):
    """With the window's band table the kernel settles the band too, for
    every distance the distance transform gives (the table's) and leaves
    other band distances to NumPy: weights_from_distance's weights, on the
    thresholds' roundings as well."""
    from edgepilot.vehicle.costmap._kernels import known_weights_kernel

    rng = np.random.default_rng(5)
    p = InflationParams(*radii)
    cm = WindowCostmap(8, 8, res, p)
    d_tab, w_tab = cm._band_table()
    assert d_tab[-1] > p.inflation_radius
    # the table's distances are the distance transform's: a lone obstacle's distances are all of them nearby
    occ = np.zeros((41, 41), bool)
    occ[0, 0] = True
    d_edt = distance_to_obstacles(occ, res).ravel()
    assert np.all(np.isin(d_edt[d_edt <= d_tab[-1]], d_tab))
    # NumPy's float32 exp gives an element the same bits whatever the array round it (the table's
    # weights stand for band_weights of the few cells of one call)
    singles = np.concatenate([band_weights(d_tab[i:i + 1], p) for i in range(len(d_tab))])
    assert np.array_equal(singles.view(np.uint32), w_tab.view(np.uint32))
    assert np.array_equal(band_weights(d_tab[3::7], p).view(np.uint32), w_tab[3::7].view(np.uint32))
    d = np.concatenate([d_tab, d_edt, _threshold_distances(rng, p),
                        rng.uniform(p.inscribed_radius, p.inflation_radius, 100).astype(np.float32)])
    rng.shuffle(d)
    dist, want, weights, cells, rest_d = _one_row_case(d, p)
    m, odd = known_weights_kernel(cells, d.size, dist, weights, float(p.inscribed_radius),
                                  float(p.inflation_radius), 1.0 / res, d_tab, w_tab, rest_d)
    rest = cells[:m, 1]
    settled = weights[0] != -1.0
    assert np.array_equal(np.sort(rest), np.flatnonzero(~settled)) and np.all(np.diff(rest) > 0)
    # plainly in the band (in float32 and in float64): from the table when it has the distance
    d64 = d.astype(np.float64)
    plain = ((d > np.float32(p.inscribed_radius)) & (d64 > p.inscribed_radius)
             & (d <= np.float32(p.inflation_radius)) & (d64 <= p.inflation_radius))
    from_table = plain & np.isin(d, d_tab)
    assert settled[from_table].all() and (from_table.any() or p.inflation_radius - p.inscribed_radius < res)
    weights[0, rest] = weights_from_distance(rest_d[:m], p)
    assert np.array_equal(weights.view(np.uint32), want.view(np.uint32))


def test_band_table_follows_the_params():
    """The band table is rebuilt when the costmap's params change; an
    inflation radius of too many cells gets no table (NumPy's band, the
    same weights)."""
    cm = WindowCostmap(8, 8, 0.1, InflationParams(0.3, 1.0))
    a = cm._band_table()
    assert cm._band_table() is a
    cm.params = InflationParams(0.3, 1.5, 2.0)
    d, w = cm._band_table()
    assert d[-1] > 1.5 and np.array_equal(w, band_weights(d, cm.params))
    rng = np.random.default_rng(2)
    static = GridMap(rng.random((30, 30)) < 0.02, 0.01, 0.0, 0.0, rng.random((30, 30)) < 0.5)
    big = WindowCostmap(40, 40, 0.01, InflationParams(0.03, 11.0), static=static, center=(0.15, 0.15),
                        unknown_weight=2.0)
    assert len(big._band_table()[0]) == 0
    oracle = copy.deepcopy(big)
    big.mark_known(np.ones((40, 40), bool), (big.origin_x, big.origin_y))
    _mark_known_numpy(oracle, np.ones((40, 40), bool), (oracle.origin_x, oracle.origin_y))
    assert np.array_equal(big.weights, oracle.weights) and big.unknown_cells == 0


def test_mark_known_on_real_distances_equals_numpy():
    """Cells becoming known round real obstacles (the band from the table)
    get the oracle's weights."""
    rng = np.random.default_rng(11)
    for res, radii in ((0.1, (0.3, 1.0)), (0.2, (0.45, 1.3)), (0.25, (0.2, 0.9))):
        static = GridMap(rng.random((40, 40)) < 0.02, res, 0.0, 0.0,
                         rng.random((40, 40)) < 0.5)
        a = WindowCostmap(60, 60, res, InflationParams(*radii), static=static, center=(20 * res, 20 * res),
                          unknown_weight=2.0)
        a.add_obstacles(points=rng.uniform(-2 * res, 60 * res, (20, 2)) + (a.origin_x, a.origin_y))
        b = copy.deepcopy(a)
        for _ in range(20):
            h, w = (int(v) for v in rng.integers(1, 30, 2))
            mask = rng.random((h, w)) < 0.7
            origin = (a.origin_x + res * int(rng.integers(-10, 60)), a.origin_y + res * int(rng.integers(-10, 60)))
            a.mark_known(mask, origin)
            _mark_known_numpy(b, mask, origin)
            assert np.array_equal(a.weights, b.weights) and np.array_equal(a.known, b.known)


def test_mark_known_weights_on_the_thresholds():
    """Cells whose distance is a threshold's float32 rounding, a neighbour
    of it, or NaN get weights_from_distance's weight when they become
    known (the oracle), with and without such cells among them."""
    rng = np.random.default_rng(9)
    static = GridMap(rng.random((40, 40)) < 0.03, 0.1, 0.0, 0.0)
    a = WindowCostmap(60, 60, 0.1, InflationParams(0.3, 1.0), static=static, center=(2.0, 2.0), unknown_weight=2.0)
    d = _threshold_distances(rng, a.params)
    unknown = np.argwhere(~a.known)
    pick = unknown[rng.choice(len(unknown), d.size, replace=False)]
    a.distance[pick[:, 0], pick[:, 1]] = d                 # distances the layer could have
    b = copy.deepcopy(a)
    for k in range(30):
        h, w = (int(v) for v in rng.integers(1, 30, 2))
        mask = rng.random((h, w)) < 0.7
        origin = (a.origin_x + 0.1 * int(rng.integers(-10, 60)), a.origin_y + 0.1 * int(rng.integers(-10, 60)))
        a.mark_known(mask, origin)
        _mark_known_numpy(b, mask, origin)
        assert np.array_equal(a.weights, b.weights) and np.array_equal(a.known, b.known)
        assert a.version == b.version
    a.mark_known(np.ones((60, 60), bool), (a.origin_x, a.origin_y))
    _mark_known_numpy(b, np.ones((60, 60), bool), (b.origin_x, b.origin_y))
    assert np.array_equal(a.weights, b.weights) and a.unknown_cells == 0


def test_mark_known_packed_window_equals_the_slice():
    """The whole packed grid with a window (the planning grid's call: the
    grid stays C-contiguous) marks what the window's slice marks, at the
    same origin; a window outside the grid is refused."""
    rng = np.random.default_rng(4)
    static = GridMap(rng.random((60, 50)) < 0.03, 0.1, 0.0, 0.0)
    a = WindowCostmap(80, 70, 0.1, InflationParams(0.3, 1.0), static=static, center=(2.5, 3.0), unknown_weight=2.0)
    b = copy.deepcopy(a)
    mask, bias = (1 << 12) - 1, 1 << 11
    H, W = 90, 100
    for _ in range(40):
        lo = np.where(rng.random((H, W)) < 0.6, bias, rng.integers(0, mask + 1, (H, W)))
        grid = ((rng.integers(0, 16, (H, W)) << 12) | lo).astype(np.uint16).view(np.int16)
        r0, c0 = (int(v) for v in rng.integers(0, 60, 2))
        r1, c1 = r0 + int(rng.integers(0, 31)), c0 + int(rng.integers(0, 41))
        origin = (a.origin_x + 0.1 * int(rng.integers(-30, 80)), a.origin_y + 0.1 * int(rng.integers(-30, 90)))
        a.mark_known_packed(grid, mask, bias, origin, (r0, r1, c0, c1))
        b.mark_known_packed(grid[r0:r1, c0:c1], mask, bias, origin)
        assert np.array_equal(a.known, b.known) and np.array_equal(a.weights, b.weights)
        assert a.version == b.version
        _assert_chunks_count_the_unknown(a)
    assert a.known.sum() > 0
    with pytest.raises(ValueError, match="mark_known_packed: window"):
        a.mark_known_packed(grid, mask, bias, (0.0, 0.0), (0, H + 1, 0, 5))
    with pytest.raises(ValueError, match="mark_known_packed: window"):
        a.mark_known_packed(grid, mask, bias, (0.0, 0.0), (5, 4, 0, 5))
    # a window of NumPy integers (converted) is refused with the same message, and marks what Python ints mark
    with pytest.raises(ValueError, match=r"mark_known_packed: window \(np.int64\(5\), 4, 0, 5\) is not within"):
        a.mark_known_packed(grid, mask, bias, (0.0, 0.0), (np.int64(5), 4, 0, 5))
    c = copy.deepcopy(a)
    origin = (a.origin_x + 0.3, a.origin_y - 0.2)
    a.mark_known_packed(grid, mask, bias, origin, (3, 40, 2, 50))
    c.mark_known_packed(grid, np.int64(mask), np.int16(bias), origin, [np.int64(3), np.int32(40), 2.0, np.uint8(50)])
    assert np.array_equal(a.known, c.known) and np.array_equal(a.weights, c.weights) and a.version == c.version


def test_tiles_known_kernel_equals_numpy():
    """tiles_known_kernel against its NumPy expression, over boxes of tile
    counts with zeros and not, empty boxes included."""
    from edgepilot.vehicle.costmap._kernels import tiles_known_kernel

    rng = np.random.default_rng(2)
    for _ in range(300):
        tiles = (rng.random((7, 9)) < 0.15).astype(np.int32) * rng.integers(1, 50, (7, 9)).astype(np.int32)
        t0, t1 = sorted(int(v) for v in rng.integers(0, 8, 2))
        q0, q1 = sorted(int(v) for v in rng.integers(0, 10, 2))
        assert tiles_known_kernel(tiles, t0, t1, q0, q1) == (not tiles[t0:t1, q0:q1].any())


def test_mark_skips_known_boxes_and_forgets_them_on_a_roll():
    """Marking the same windows again and again: the boxes of tiles found
    all known are skipped (no kernel call), the result stays the NumPy
    oracle's, and a roll (new known counts) forgets the boxes."""
    import edgepilot.vehicle.costmap.window as window

    rng = np.random.default_rng(8)
    static = GridMap(rng.random((100, 100)) < 0.02, 0.1, 0.0, 0.0)
    a = WindowCostmap(160, 130, 0.1, InflationParams(0.3, 1.0), static=static, center=(5.0, 5.0), unknown_weight=2.0)
    b = copy.deepcopy(a)
    calls = []
    real = window.mark_known_packed_chunked_kernel

    def counting(*args):
        calls.append(args[8:12])             # (a0, a1, b0, b1)
        return real(*args)

    window.mark_known_packed_chunked_kernel = counting
    try:
        mask, bias = (1 << 12) - 1, 1 << 11
        seen = np.full((64, 64), 7, np.int16)            # all seen, whole tiles (32 x 32) ...
        origins = [(a.origin_x + 0.1 * c, a.origin_y + 0.1 * r) for r, c in ((0, 32), (64, 64), (96, 0))]
        ragged = np.full((40, 45), 7, np.int16)          # ... and not
        a.mark_known_packed(ragged, mask, bias, (a.origin_x + 1.3, a.origin_y + 2.1))
        _mark_known_numpy(b, (ragged & mask) != bias, (a.origin_x + 1.3, a.origin_y + 2.1))
        for k in range(12):
            origin = origins[k % 3]
            a.mark_known_packed(seen, mask, bias, origin)
            _mark_known_numpy(b, (seen & mask) != bias, origin)
            assert np.array_equal(a.known, b.known) and np.array_equal(a.weights, b.weights)
            assert a.version == b.version
            _assert_chunks_count_the_unknown(a)
        assert len(a._known_boxes) == 3 and len(calls) == 1 + 6     # each box: marked, then found known
        n = len(calls)
        a.mark_known_packed(seen, mask, bias, origins[1])       # known: skipped
        assert len(calls) == n
        a.edge_trigger = b.edge_trigger = 2.0
        assert a.follow(a.origin_x + 12.5, a.origin_y + 3.0) and b.follow(b.origin_x + 12.5, b.origin_y + 3.0)
        assert not a._known_boxes
        origins = [(a.origin_x + 0.1 * c, a.origin_y + 0.1 * r) for r, c in ((0, 32), (64, 64), (96, 0))]
        for k in range(6):
            a.mark_known_packed(seen, mask, bias, origins[k % 3])
            _mark_known_numpy(b, (seen & mask) != bias, origins[k % 3])
            assert np.array_equal(a.known, b.known) and np.array_equal(a.weights, b.weights)
            assert a.version == b.version
            _assert_chunks_count_the_unknown(a)
        assert len(a._known_boxes) == 3 and len(calls) == n + 6
    finally:
        window.mark_known_packed_chunked_kernel = real


def test_warm_kernels_runs_the_window_kernels():
    """The costmap's warm-up compiles (or loads) every kernel the window's
    per-scan update calls, the all-known check of a window's tiles too."""
    from edgepilot.vehicle.costmap import _kernels, warm_kernels

    warm_kernels()
    for k in (_kernels.mark_known_chunked_kernel, _kernels.mark_known_packed_chunked_kernel,
              _kernels.known_weights_kernel, _kernels.tiles_known_kernel):
        assert k.signatures, k.__name__
