"""Occupancy grid: known geometry, agreement with the NumPy oracle, rolling
window, map_server files, bad input."""
import math

import numpy as np
import pytest

from edgepilot.vehicle.maps import load_map_server
from edgepilot.vehicle.perception import OccupancyGrid
from edgepilot.vehicle.perception._reference import integrate_scan_numpy
from edgepilot.vehicle.types import LaserScan

RES = 0.05


def _wall_scan(n=181, fov=math.radians(60), wall=5.025):
    """Beams at a wall perpendicular to +x, ``wall`` metres ahead (mid-cell
    by default, so rounding cannot put a hit in the neighbouring cell)."""
    a = np.linspace(-fov / 2, fov / 2, n)
    r = (wall / np.cos(a)).astype(np.float32)
    return r, float(a[0]), float(a[1] - a[0])


def test_wall_at_5m_occupied_at_5m_free_before():
    g = OccupancyGrid(20, 20, RES, (-10, -10))
    r, a0, da = _wall_scan()
    for _ in range(5):
        g.integrate_scan((0.0, 0.0, 0.0), r, a0, da, 30.0)
    p = g.probabilities()
    row, _ = g.world_to_cell(0.0, 0.0)
    line = p[row]
    wall_col = g.world_to_cell(5.0, 0.0)[1]
    assert line[wall_col] > 0.9                                # the hit
    sensor_col = g.world_to_cell(0.0, 0.0)[1]
    assert np.all(line[sensor_col:wall_col] < 0.2)             # free before
    assert np.all(line[wall_col + 1:] == 0.5)                  # nothing behind
    # the whole wall: occupied cells lie at x = 5 m
    occ = g.occupied_points()
    assert len(occ) > 50
    assert np.all(np.abs(occ[:, 0] - 5.025) < 0.5 * RES)
    assert np.abs(occ[:, 1]).max() == pytest.approx(5 * math.tan(math.radians(30)), abs=0.1)


def test_yaw_rotates_the_scan():
    g = OccupancyGrid(20, 20, RES, (-10, -10))
    r, a0, da = _wall_scan()
    g.integrate_scan((0.0, 0.0, math.pi / 2), r, a0, da, 30.0)
    occ = g.occupied_points(0.6)
    assert np.all(np.abs(occ[:, 1] - 5.025) < 0.5 * RES)       # wall now north


def test_matches_numpy_oracle_on_random_scans():
    rng = np.random.default_rng(3)
    g = OccupancyGrid(30, 30, RES, (-15, -15))
    ref = np.zeros(g.shape, np.float32)
    for _ in range(6):
        n = 720
        r = rng.uniform(0.3, 25.0, n).astype(np.float32)
        r[rng.random(n) < 0.2] = np.nan
        r[rng.random(n) < 0.1] = np.inf
        r[rng.random(n) < 0.05] = 0.0
        pose = (rng.uniform(-3, 3), rng.uniform(-3, 3), rng.uniform(-3, 3))
        a0, da = -math.radians(135), math.radians(270) / (n - 1)
        hits = g.integrate_scan(pose, r, a0, da, 20.0)
        hits_ref = integrate_scan_numpy(ref, (g.origin_x, g.origin_y), RES, pose, r, a0, da, 20.0,
                                        g.l_free, g.l_occ, g.l_min, g.l_max)
        assert hits == hits_ref
    np.testing.assert_array_equal(g.logodds, ref)          # fixed point, exactly
    assert (ref != 0).sum() > 10000


def test_occupied_wins_and_cells_update_once_per_scan():
    g = OccupancyGrid(10, 10, RES, (-5, -5))
    # two beams along +x: one ends at 2 m, the other passes it to 4 m
    r = np.array([2.0, 4.0], np.float32)
    g.integrate_scan((0.01, 0.01, 0.0), r, 0.0, 1e-9, 30.0)
    lo = g.logodds
    row, col2 = g.world_to_cell(2.01, 0.01)
    assert lo[row, col2] == pytest.approx(0.85, abs=0.005)     # hit, not hit+free
    _, col1 = g.world_to_cell(1.0, 0.01)
    assert lo[row, col1] == pytest.approx(-0.4, abs=0.005)     # crossed twice, updated once


def test_no_return_values_never_crash_and_clear_to_max_range():
    g = OccupancyGrid(40, 40, RES, (-20, -20))
    r = np.array([np.nan, np.inf, -np.inf, 0.0, -3.0, 50.0], np.float32)
    hits = g.integrate_scan((0, 0, 0), r, -1.0, 0.4, 8.0)
    assert hits == 0
    lo = g.logodds
    assert (lo > 0).sum() == 0
    free = np.argwhere(lo < 0)
    xy = np.array([g.cell_to_world(rr, cc) for rr, cc in free])
    dist = np.hypot(xy[:, 0], xy[:, 1])
    assert dist.max() <= 8.0 + RES and dist.max() > 7.8         # nothing past max range
    g2 = OccupancyGrid(40, 40, RES, (-20, -20), clear_no_return=False)
    assert g2.integrate_scan((0, 0, 0), r, -1.0, 0.4, 8.0) == 0
    assert (g2.logodds != 0).sum() == 0


def test_beams_leaving_the_grid_clip_without_hits():
    g = OccupancyGrid(4, 4, RES, (0, 0))
    r = np.full(90, 10.0, np.float32)
    hits = g.integrate_scan((2, 2, 0), r, 0.0, 2 * math.pi / 90, 30.0)
    assert hits == 0
    assert (g.logodds > 0).sum() == 0
    lo = g.logodds
    assert (lo[0] < 0).any() and (lo[-1] < 0).any() and (lo[:, -1] < 0).any()  # edges reached


def test_laserscan_and_world_to_cell():
    g = OccupancyGrid(10, 8, 0.1, (-2.0, -3.0))
    assert g.shape == (80, 100)
    assert g.world_to_cell(-2.0, -3.0) == (0, 0)
    assert g.world_to_cell(-1.95, -2.85) == (1, 0)
    assert g.world_to_cell(7.99, 4.99) == (79, 99)
    scan = LaserScan(t=0.0, angle_min=0.0, angle_increment=0.01, max_range=10.0,
                     ranges=np.full(3, 3.0, np.float32))
    assert g.integrate_laserscan((0.0, 0.0, 0.0), scan) == 3


def test_rolling_window_follows_and_keeps_overlap():
    g = OccupancyGrid(10, 10, RES, (-5, -5), rolling=True)
    r, a0, da = _wall_scan(wall=3.025)
    g.integrate_scan((0.0, 0.0, 0.0), r, a0, da, 30.0)
    before = g.occupied_points(0.6)
    assert np.all(np.abs(before[:, 0] - 3.025) < RES)
    # drive 2.6 m east: outside the central half -> the window re-centres
    g.integrate_scan((2.6, 0.0, math.pi), np.full(3, np.nan, np.float32), 0.0, 0.01, 0.4)
    assert g.origin_x == pytest.approx(-5.0 + 2.6, abs=RES)
    after = g.occupied_points(0.6)
    assert len(after) == len(before)
    np.testing.assert_allclose(np.sort(after[:, 1]), np.sort(before[:, 1]))
    np.testing.assert_allclose(after[:, 0], before[:, 0])
    # a pose far away drops everything
    g.follow(100.0, 100.0)
    assert (g.logodds != 0).sum() == 0
    assert g.world_to_cell(100.0, 100.0) == (g.shape[0] // 2, g.shape[1] // 2)


def test_save_load_map_server(tmp_path):
    g = OccupancyGrid(12, 10, RES, (-6, -5))
    r, a0, da = _wall_scan(wall=4.025)
    for _ in range(5):
        g.integrate_scan((0, 0, 0), r, a0, da, 30.0)
    path = g.save(tmp_path / "scan_map.yaml")
    assert (tmp_path / "scan_map.pgm").exists()
    gm = load_map_server(path)                     # the standard loader reads it
    assert gm.shape == g.shape
    np.testing.assert_array_equal(gm.occupied, g.occupied_mask())
    g2 = OccupancyGrid.load(path)
    assert (g2.origin_x, g2.origin_y, g2.resolution) == (g.origin_x, g.origin_y, g.resolution)
    np.testing.assert_array_equal(g2.occupied_mask(), g.occupied_mask())
    np.testing.assert_array_equal(g2.free_mask(), g.free_mask())


def test_bad_input_errors_name_the_field():
    g = OccupancyGrid(10, 10, RES, (0, 0))
    r = np.full(5, 2.0, np.float32)
    with pytest.raises(ValueError, match="outside the map"):
        g.integrate_scan((20.0, 5.0, 0.0), r, 0.0, 0.1, 10.0)
    with pytest.raises(ValueError, match="pose"):
        g.integrate_scan((5.0, 5.0), r, 0.0, 0.1, 10.0)
    with pytest.raises(ValueError, match="pose x"):
        g.integrate_scan((np.nan, 5.0, 0.0), r, 0.0, 0.1, 10.0)
    with pytest.raises(ValueError, match="5 beams"):
        g.integrate_scan((5, 5, 0), r, 0.0, 0.1, 10.0, angle_max=1.0)
    with pytest.raises(ValueError, match="ranges must be a 1-D"):
        g.integrate_scan((5, 5, 0), r.reshape(5, 1), 0.0, 0.1, 10.0)
    with pytest.raises(ValueError, match="ranges is empty"):
        g.integrate_scan((5, 5, 0), np.array([], np.float32), 0.0, 0.1, 10.0)
    with pytest.raises(ValueError, match="max_range"):
        g.integrate_scan((5, 5, 0), r, 0.0, 0.1, 0.0)
    with pytest.raises(ValueError, match="angle_increment"):
        g.integrate_scan((5, 5, 0), r, 0.0, 0.0, 10.0)
    with pytest.raises(ValueError, match="resolution_m"):
        OccupancyGrid(10, 10, -1.0)
    with pytest.raises(ValueError, match="origin"):
        OccupancyGrid(10, 10, 0.1, origin=5)
    with pytest.raises(ValueError, match="l_free"):
        OccupancyGrid(10, 10, 0.1, l_free=0.5)


def test_many_scans_across_stamp_wraps_match_the_oracle():
    """Stamps wrap every few scans and only the box the scans touched is
    cleared: scans of very different extent from moving poses (a small
    scan right after a large one, etc.) must still update every cell once
    per scan."""
    rng = np.random.default_rng(11)
    g = OccupancyGrid(20, 20, RES, (0, 0))
    ref = np.zeros(g.shape, np.float32)
    n = 360
    a0, da = -math.pi, 2 * math.pi / n
    for k in range(30):
        size = [0.6, 9.0, 2.0][k % 3] if k < 20 else rng.uniform(0.3, 12.0)
        r = (size + rng.normal(0, 0.02, n)).astype(np.float32)
        r[rng.random(n) < 0.1] = np.inf
        pose = (rng.uniform(4, 16), rng.uniform(4, 16), rng.uniform(-3, 3))
        mr = 1.0 if k % 4 == 0 else 12.0
        h1 = g.integrate_scan(pose, r, a0, da, mr)
        h2 = integrate_scan_numpy(ref, (0, 0), RES, pose, r, a0, da, mr,
                                  g.l_free, g.l_occ, g.l_min, g.l_max)
        assert h1 == h2
        np.testing.assert_array_equal(g.logodds, ref)


def test_fast_and_checked_argument_paths_give_the_same_grid():
    """integrate_scan checks the common call (Python floats, C-contiguous
    float32) on a fast path; other argument types go through the full
    conversion.  Both must give the same grid and returns."""
    rng = np.random.default_rng(3)
    n = 200
    r64 = rng.uniform(0.2, 4.0, 2 * n)
    r64[::7] = np.inf
    fast = OccupancyGrid(10, 10, RES, (0, 0))
    checked = OccupancyGrid(10, 10, RES, (0, 0))
    calls = [
        # (pose, ranges, angle_min, angle_increment, max_range) on the checked path
        (np.array([5.0, 5.0, 0.3]), r64[:n], np.float64(-1.5), np.float64(0.015), np.float64(3.5)),
        ((5, 5, 0), list(r64[:n].astype(np.float32)), -1.5, 0.015, 3),
        ([5.0, 5.0, 0.7], r64.astype(np.float32)[::2], -1.5, 0.015, 3.5),     # strided
        ((5.0, 5.0, 0.7), r64[:n].astype(">f4"), -1.5, 0.015, 3.5),           # byte-swapped
    ]
    for pose, ranges, a0, da, mr in calls:
        h_checked = checked.integrate_scan(pose, ranges, a0, da, mr)
        args = (tuple(float(v) for v in pose), np.ascontiguousarray(ranges, np.float32),
                float(a0), float(da), float(mr))
        h_fast = fast.integrate_scan(*args)
        assert h_fast == h_checked > 0
        np.testing.assert_array_equal(fast._cells, checked._cells)


def test_fast_path_rejects_what_the_checked_path_rejects():
    g = OccupancyGrid(10, 10, RES, (0, 0))
    r = np.full(5, 2.0, np.float32)
    for bad, field in ((dict(pose=(5.0, math.inf, 0.0)), "pose y"),
                       (dict(pose=(5.0, 5.0, math.nan)), "pose yaw"),
                       (dict(angle_min=math.nan), "angle_min"),
                       (dict(angle_increment=math.inf), "angle_increment"),
                       (dict(angle_increment=0.0), "angle_increment"),
                       (dict(max_range=math.inf), "max_range"),
                       (dict(max_range=-1.0), "max_range"),
                       (dict(ranges=np.zeros(0, np.float32)), "ranges is empty")):
        kw = dict(pose=(5.0, 5.0, 0.0), ranges=r, angle_min=0.0, angle_increment=0.1, max_range=10.0)
        kw.update(bad)
        with pytest.raises(ValueError, match=field):
            g.integrate_scan(**kw)
    assert g.scans_integrated == 0 and not (g.logodds != 0).any()


def test_max_range_compares_in_float32():
    """A range equal to max_range in float32 is no return (cleared, not a
    hit), even when max_range is not a float32 value; one step below is a
    return.  The oracle agrees."""
    mr = 2.1                                            # not representable in float32
    at = np.float32(mr)
    below = np.nextafter(at, np.float32(0))
    for r, hits in ((at, 0), (below, 1)):
        g = OccupancyGrid(6, 6, RES, (0, 0))
        ref = np.zeros(g.shape, np.float32)
        ranges = np.array([r], np.float32)
        assert g.integrate_scan((1.0, 3.0, 0.0), ranges, 0.0, 0.0, mr) == hits
        assert integrate_scan_numpy(ref, (0, 0), RES, (1.0, 3.0, 0.0), ranges, 0.0, 0.0, mr,
                                    g.l_free, g.l_occ, g.l_min, g.l_max) == hits
        np.testing.assert_array_equal(g.logodds, ref)
        assert (g.logodds > 0).sum() == hits


def test_grids_with_the_same_increments_share_one_read_only_free_table():
    """The free-update table is one read-only copy per (l_free, l_min): the
    table free_update_table makes; a grid whose copy is its own (writeable,
    as after a deep copy) integrates scans to the same cells."""
    import copy

    from edgepilot.vehicle.perception._kernels import free_update_table

    a = OccupancyGrid(10.0, 10.0, 0.1)
    b = OccupancyGrid(20.0, 5.0, 0.05, (1.0, 2.0))
    c = OccupancyGrid(10.0, 10.0, 0.1, l_free=-0.3)
    assert a._free_lut is b._free_lut and a._free_lut is not c._free_lut
    assert not a._free_lut.flags.writeable
    with pytest.raises(ValueError):
        a._free_lut[1, 0] = 0
    assert np.array_equal(a._free_lut, free_update_table(a._lq[0], a._lq[2]))
    d = copy.deepcopy(a)
    assert d._free_lut.flags.writeable
    rng = np.random.default_rng(0)
    for _ in range(10):
        r = rng.uniform(0.2, 6.0, 360).astype(np.float32)
        pose = (float(rng.uniform(3, 7)), float(rng.uniform(3, 7)), float(rng.uniform(-3, 3)))
        a.integrate_scan(pose, r, -math.pi, 2 * math.pi / 360, 5.0)
        d.integrate_scan(pose, r, -math.pi, 2 * math.pi / 360, 5.0)
    assert np.array_equal(a._cells, d._cells)
