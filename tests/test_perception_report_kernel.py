"""The lidar mapper's per-scan read-out kernel against the NumPy
expression it replaced (the oracle), and the mapper end to end."""
import math

import numpy as np
import pytest

from edgepilot.vehicle.maps import GridMap
from edgepilot.vehicle.perception._kernels import LO_BIAS, LO_MASK, report_new_cells_kernel
from edgepilot.vehicle.perception.mapping import LidarMapper
from edgepilot.vehicle.types import LaserScan, VehicleState


def _oracle(cells, reported, near, r0, r1, c0, c1, thr):
    lo = (cells[r0:r1, c0:c1].astype(np.int32) & LO_MASK) - LO_BIAS
    new = (lo > thr) & ~reported[r0:r1, c0:c1] & ~near[r0:r1, c0:c1]
    rr, cc = np.nonzero(new)
    return np.column_stack((rr + r0, cc + c0))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_report_kernel_equals_the_numpy_oracle(seed):
    rng = np.random.default_rng(seed)
    for _ in range(50):
        h, w = rng.integers(1, 60, 2)
        # packed cells: stamp bits 12..14 over biased log-odds
        cells = (rng.integers(0, 8, (h, w)) << 12 | rng.integers(LO_BIAS - 300, LO_BIAS + 500, (h, w))).astype(np.int16)
        reported = rng.random((h, w)) < 0.3
        near = rng.random((h, w)) < 0.2
        r0, c0 = int(rng.integers(0, h)), int(rng.integers(0, w))
        r1, c1 = int(rng.integers(r0, h + 1)), int(rng.integers(c0, w + 1))
        thr = int(rng.integers(-100, 300))
        want = _oracle(cells, reported, near, r0, r1, c0, c1, thr)
        rep = reported.copy()
        out = np.empty((max(1, (r1 - r0) * (c1 - c0)), 2), np.int64)
        k = report_new_cells_kernel(cells, rep, near, r0, r1, c0, c1, thr, out)
        assert np.array_equal(out[:k], want)
        expect = reported.copy()
        expect[want[:, 0], want[:, 1]] = True
        assert np.array_equal(rep, expect)


def test_mapper_reports_a_new_wall_once_and_not_the_prior_one():
    occ = np.zeros((100, 100), bool)
    occ[:, 90:] = True                       # a known wall on the prior map, east
    prior = GridMap(occ, 0.1, 0.0, 0.0)
    m = LidarMapper(prior, resolution=0.1)
    st = VehicleState(t=0.0, x=5.0, y=5.0, yaw=0.0, vx=0.0, vy=0.0, yaw_rate=0.0, lat=0.0, lon=0.0, valid=True,
                      pos_std=0.1)
    # beams north hit an unknown wall 3 m away; beams east hit the prior wall 4 m away
    angles = np.linspace(-0.3, 1.9, 200)
    ranges = np.where(angles > 1.2, 3.0 / np.maximum(np.sin(angles), 1e-3), 4.0 / np.maximum(np.cos(angles), 1e-3))
    scan = LaserScan(t=0.0, angle_min=float(angles[0]), angle_increment=float(angles[1] - angles[0]),
                     ranges=np.minimum(ranges, 11.9).astype(np.float32), max_range=12.0)
    seen = [m.integrate(st, scan) for _ in range(3)]
    assert len(seen[0]) == 0 and len(seen[1]) > 0 and len(seen[2]) == 0   # two hits to report, then once
    assert np.all(np.abs(seen[1][:, 1] - 8.0) < 0.3) and np.all(seen[1][:, 0] < 8.5)
    assert m.reported_cells == len(seen[1])
    # the packed cells: the whole grid by default (its own array), else the window's view; seen() agrees
    cells, mask, bias = m.packed()
    assert cells is m.grid._cells
    win, mask2, bias2 = m.packed(10, 60, 20, 70)
    assert (mask2, bias2) == (mask, bias) and np.shares_memory(win, cells)
    assert np.array_equal((win & mask) != bias, m.seen(10, 60, 20, 70))
    assert np.array_equal((cells & mask) != bias, m.seen(0, 100, 0, 100)) and m.seen(0, 100, 0, 100).any()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_give_way_conflict_kernel_equals_the_numpy_oracle(seed):
    from types import SimpleNamespace

    from edgepilot.vehicle.perception._kernels import give_way_conflict_kernel
    from edgepilot.vehicle.perception._reference import give_way_conflict_numpy
    from edgepilot.vehicle.perception.front import GIVE_WAY_DT_S

    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(400):
        n = int(rng.integers(2, 12))
        pts = np.cumsum(rng.normal(size=(n, 2)) * 3.0, axis=0)
        state = SimpleNamespace(x=float(pts[0, 0] + rng.normal()), y=float(pts[0, 1] + rng.normal()),
                                t=float(rng.uniform(0, 2)))
        movers = [SimpleNamespace(x=float(x), y=float(y), vx=float(vx), vy=float(vy), t=float(t), radius=float(r))
                  for x, y, vx, vy, t, r in zip(*(rng.uniform(-10, 10, (2, 3))), *(rng.uniform(-2, 2, (2, 3))),
                                                  rng.uniform(0, 2, 3), rng.uniform(0.2, 1.0, 3))]
        s0, speed, horizon = float(rng.uniform(-1, 20)), float(rng.uniform(-0.5, 3)), float(rng.uniform(0.5, 6))
        want = give_way_conflict_numpy(state, pts, s0, speed, movers, horizon, 0.6, 0.4)
        n_t = len(np.arange(0.0, horizon + 1e-9, GIVE_WAY_DT_S))
        mv = np.array([(m.x, m.y, m.vx, m.vy, m.t, m.radius) for m in movers])
        k = give_way_conflict_kernel(pts, s0, speed, n_t, GIVE_WAY_DT_S, state.x, state.y, state.t, mv, 0.6, 0.4,
                                     np.empty(n), np.empty((n_t, 2)))
        assert (movers[k] if k >= 0 else None) is want
        hits += want is not None
    assert 20 < hits < 380


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cluster_scan_equals_the_numpy_oracle(seed):
    from edgepilot.vehicle.perception._reference import cluster_scan_numpy
    from edgepilot.vehicle.perception.tracking import cluster_scan

    rng = np.random.default_rng(seed)
    total = 0
    for _ in range(200):
        n = int(rng.integers(1, 800))
        # piecewise-smooth ranges (walls, posts), gaps, dropouts, out-of-range and too-close returns
        base = np.repeat(rng.uniform(0.3, 14.0, int(rng.integers(1, 30))), n)[:n] if n else np.zeros(0)
        r = (base[:n] + rng.normal(0, 0.02, n)).astype(np.float32)
        r[rng.random(n) < 0.05] = np.nan
        r[rng.random(n) < 0.05] = np.inf
        r[rng.random(n) < 0.02] = -np.inf
        pose = tuple(rng.uniform(-20, 20, 2)) + (float(rng.uniform(-4, 4)),)
        inc = float(rng.choice([-1, 1]) * rng.uniform(0.002, 0.05))
        args = (pose, r, float(rng.uniform(-3.2, 0)), inc, 12.0, int(rng.integers(1, 6)), 0.3, 3.0,
                float(rng.uniform(0.2, 4.0)))
        want = cluster_scan_numpy(*args)
        got = [(c.x, c.y, c.radius, c.n) for c in cluster_scan(*args)]
        assert got == want
        # float64 ranges (and a list) take the converting path: the same clusters
        for other in (r.astype(np.float64), r.tolist()):
            assert [(c.x, c.y, c.radius, c.n) for c in cluster_scan(pose, other, *args[2:])] == want
        total += len(got)
    with pytest.raises(ValueError, match="1-D"):
        cluster_scan((0.0, 0.0, 0.0), np.ones((2, 3), np.float32), 0.0, 0.01, 12.0)
    assert total > 100


@pytest.mark.parametrize("seed", [0, 1])
def test_mapper_read_out_of_the_hit_cells_equals_the_window_pass(seed):
    """The per-scan read-out over the latest scan's return cells and the
    cells unreported since (report_hit_cells_kernel) reports the same cells
    in the same order as the pass over the whole window (report_new_cells_kernel,
    whose oracle is above): a vehicle driving past random posts and a moving
    box with a prior map, some reported cells unreported (as the front holds
    back cells near unsettled tracks), and the grid rolled twice."""
    from edgepilot.sim.sensors.lidar import Lidar, LidarSpec

    rng = np.random.default_rng(seed)
    occ = np.zeros((400, 600), bool)                      # the world at 0.05 m
    for _ in range(25):
        r, c = rng.integers(20, 380), rng.integers(20, 580)
        occ[r:r + rng.integers(2, 12), c:c + rng.integers(2, 12)] = True
    prior = GridMap(occ[::2, ::2][:, :200].copy(), 0.1, 0.0, 0.0)    # the western third on the prior map
    a = LidarMapper(prior, resolution=0.1, window=(200, 300, 0.0, 0.0))
    b = LidarMapper(prior, resolution=0.1, window=(200, 300, 0.0, 0.0))
    b._grid_writes = -1                                    # b: the window pass every scan
    lid = Lidar(LidarSpec(beams=270, fov_deg=270, max_range=8, noise_std=0.03), np.random.default_rng(seed))
    lid_b = Lidar(LidarSpec(beams=270, fov_deg=270, max_range=8, noise_std=0.03), np.random.default_rng(seed))
    total = 0
    for k in range(120):
        x, y, yaw = 3.0 + 0.2 * k, 10.0 + 2.0 * math.sin(0.05 * k), 0.3 * math.sin(0.1 * k)
        world = occ.copy()
        bx = int(100 + 3 * k) % 560                         # a box moving east, cells left behind
        world[150:160, bx:bx + 10] = True
        st = VehicleState(t=0.1 * k, x=x, y=y, yaw=yaw, vx=0.0, vy=0.0, yaw_rate=0.0, lat=0.0, lon=0.0,
                          valid=True, pos_std=0.1)
        sa = lid.scan(0.1 * k, (x, y, yaw), world, 0.05, (0, 0))
        sb = lid_b.scan(0.1 * k, (x, y, yaw), world, 0.05, (0, 0))
        # a: the sensor pose given (as the front gives it) on odd scans
        pa, pb = a.integrate(st, sa, a.sensor_pose(st) if k % 2 else None), b.integrate(st, sb)
        assert np.array_equal(pa, pb), k
        total += len(pa)
        if len(pa) and k % 3 == 0:                         # hold some back: reported again while occupied
            held = pa[rng.random(len(pa)) < 0.5]
            a.unreport(held)
            b.unreport(held)
        if k in (50, 90):
            assert a.align(a.grid.origin_x + 4.0, a.grid.origin_y - 0.5)
            assert b.align(b.grid.origin_x + 4.0, b.grid.origin_y - 0.5)
        assert np.array_equal(a._reported, b._reported) and a.reported_cells == b.reported_cells
    assert total > 20 and a._npend >= 0


def _unreport_oracle(points, ox, oy, res, reported, pend, npend):
    """The NumPy unreport the kernel replaced: gather, clear, append."""
    r = np.floor((points[:, 1] - oy) / res).astype(np.int64)
    c = np.floor((points[:, 0] - ox) / res).astype(np.int64)
    h, w = reported.shape
    ok = (r >= 0) & (r < h) & (c >= 0) & (c < w)
    was = int(reported[r[ok], c[ok]].sum())
    reported[r[ok], c[ok]] = False
    k = int(ok.sum())
    pend[npend:npend + k, 0] = r[ok]
    pend[npend:npend + k, 1] = c[ok]
    return was, npend + k


@pytest.mark.parametrize("seed", [0, 1])
def test_unreport_kernel_equals_the_numpy_oracle(seed):
    """Points inside and outside the grid, on cell edges, several on one
    cell (counted per point, as the NumPy gather counts them)."""
    from edgepilot.vehicle.perception._kernels import unreport_points_kernel

    rng = np.random.default_rng(seed)
    for _ in range(40):
        h, w = (int(v) for v in rng.integers(1, 40, 2))
        res = float(rng.choice([0.05, 0.1, 0.25]))
        ox, oy = (float(v) for v in rng.uniform(-5.0, 5.0, 2))
        n = int(rng.integers(0, 30))
        pts = np.column_stack((ox + rng.uniform(-2.0, w * res + 2.0, n), oy + rng.uniform(-2.0, h * res + 2.0, n)))
        if n > 2:
            pts[1] = pts[0]                                    # the same cell twice
            pts[2] = (ox + 3 * res, oy + 2 * res)              # on a cell corner
        reported = rng.random((h, w)) < 0.5
        npend = int(rng.integers(0, 5))
        pend = rng.integers(0, 9, (npend + n, 2)).astype(np.int64)
        want_rep, want_pend = reported.copy(), pend.copy()
        want = _unreport_oracle(pts, ox, oy, res, want_rep, want_pend, npend)
        got = unreport_points_kernel(pts, ox, oy, res, reported, pend, npend)
        assert got == want
        assert np.array_equal(reported, want_rep) and np.array_equal(pend[:got[1]], want_pend[:want[1]])
        if n:                                                  # a point not finite: nothing done, -1
            bad = pts.copy()
            bad[int(rng.integers(0, n)), int(rng.integers(0, 2))] = rng.choice([np.nan, np.inf, -np.inf])
            before_rep, before_pend = reported.copy(), pend.copy()
            assert unreport_points_kernel(bad, ox, oy, res, reported, pend, got[1]) == (-1, got[1])
            assert np.array_equal(reported, before_rep) and np.array_equal(pend, before_pend)


@pytest.mark.parametrize("seed", [0, 1])
def test_cell_centres_kernel_equals_cells_to_world(seed):
    from edgepilot.vehicle.perception._kernels import cell_centres_kernel

    rng = np.random.default_rng(seed)
    for _ in range(50):
        res = float(rng.choice([0.05, 0.1, 0.25, 0.3]))
        g = GridMap(np.zeros((3, 3), bool), res, *(float(v) for v in rng.uniform(-500.0, 500.0, 2)))
        k = int(rng.integers(0, 40))
        rc = rng.integers(-10, 3000, (k + 3, 2)).astype(np.int64)
        out = np.full((k + 3, 2), -1.0)
        cell_centres_kernel(rc, k, g.origin_x, g.origin_y, g.resolution, out)
        assert np.array_equal(out[:k], g.cells_to_world(rc[:k])) and (out[k:] == -1.0).all()


@pytest.mark.parametrize("seed", [0, 1])
def test_report_hit_centres_kernel_is_the_read_out_then_the_centres(seed):
    """The mapper's one-call read-out: report_hit_cells_kernel's cells,
    reported flags and pending cells, and their centres as
    GridMap.cells_to_world gives them."""
    from edgepilot.vehicle.perception._kernels import FP_SHIFT, report_hit_cells_kernel, report_hit_centres_kernel

    rng = np.random.default_rng(seed)
    for _ in range(40):
        h, w = (int(v) for v in rng.integers(1, 50, 2))
        cells = (rng.integers(0, 8, (h, w)) << 12 | rng.integers(LO_BIAS - 300, LO_BIAS + 500, (h, w))).astype(np.int16)
        reported = rng.random((h, w)) < 0.3
        near = rng.random((h, w)) < 0.2
        nb = int(rng.integers(1, 60))
        ends = np.empty(2 * nb, np.int64)
        ends[:nb] = rng.integers(-2, w + 2, nb) << FP_SHIFT | rng.integers(0, 1 << FP_SHIFT, nb)
        ends[nb:] = rng.integers(-2, h + 2, nb) << FP_SHIFT | rng.integers(0, 1 << FP_SHIFT, nb)
        hit = rng.integers(0, 3, nb).astype(np.uint8)
        npend = int(rng.integers(0, 10))
        pend = np.column_stack((rng.integers(-2, h + 2, npend + 3), rng.integers(-2, w + 2, npend + 3))).astype(np.int64)
        r0, c0 = int(rng.integers(0, h)), int(rng.integers(0, w))
        r1, c1 = int(rng.integers(r0, h + 1)), int(rng.integers(c0, w + 1))
        thr = int(rng.integers(-100, 300))
        res = float(rng.choice([0.05, 0.1, 0.25]))
        ox, oy = (float(v) for v in rng.uniform(-500.0, 500.0, 2))
        rep_a, pend_a, rc_a = reported.copy(), pend.copy(), np.empty((nb + npend, 2), np.int64)
        want = report_hit_cells_kernel(cells, rep_a, near, hit, ends, nb, pend_a, npend, r0, r1, c0, c1, thr, rc_a)
        rep_b, pend_b = reported.copy(), pend.copy()
        out = np.full((nb + npend, 2), -1.0)
        got = report_hit_centres_kernel(cells, rep_b, near, hit, ends, nb, pend_b, npend, r0, r1, c0, c1, thr,
                                        ox, oy, res, out)
        assert got == want
        k = want[0]
        assert np.array_equal(rep_a, rep_b) and np.array_equal(pend_a, pend_b)
        g = GridMap(np.zeros((3, 3), bool), res, ox, oy)
        assert np.array_equal(out[:k], g.cells_to_world(rc_a[:k])) and (out[k:] == -1.0).all()


def test_mapper_unreport_takes_any_points():
    """A list, float32 or non-finite points go the NumPy way; the cells
    come back to the read-out either way."""
    prior = GridMap(np.zeros((20, 20), bool), 0.1, 0.0, 0.0)
    m = LidarMapper(prior, resolution=0.1)
    m._reported[3, 4] = m._reported[5, 6] = True
    m.reported_cells = 2
    m.unreport([[0.45, 0.35]])                                 # a list: cell (3, 4)
    with np.errstate(invalid="ignore"):                           # NaN: not a cell
        m.unreport(np.array([[0.65, 0.55], [np.nan, 1.0]]))
    assert not m._reported.any() and m.reported_cells == 0
    assert m._pend[:m._npend].tolist() == [[3, 4], [5, 6]]
    m._reported[7, 8] = True
    m.reported_cells = 1
    m.unreport(np.array([[0.85, 0.75], [0.85, 0.75], [50.0, 0.0]]))    # the kernel's path
    assert m.reported_cells == -1 and m._pend[:m._npend].tolist() == [[3, 4], [5, 6], [7, 8], [7, 8]]


@pytest.mark.parametrize("seed", [0, 1])
def test_cluster_scan_kernel_returns_and_points_equal_numpy(seed):
    """The kernel's returns (finite, in (0, max_range), float32 widened
    exactly) and points (the sensor-frame beam directions turned by the
    yaw, the occupancy grid's arithmetic), each return a run of its own
    here (min_points 1, every gap splits): out rows (1, x, y, 0, 0)."""
    from edgepilot.vehicle.perception._kernels import cluster_scan_kernel

    rng = np.random.default_rng(seed)
    for _ in range(50):
        n = int(rng.integers(0, 300))
        r = rng.choice([np.nan, np.inf, -np.inf, 0.0, -1.0, 12.0, 5.0, 0.01, 11.999], n)
        r = np.where(rng.random(n) < 0.5, rng.uniform(-1.0, 14.0, n), r)
        a0, da, yaw = float(rng.uniform(-4, 4)), float(rng.uniform(-0.05, 0.05)), float(rng.uniform(-4, 4))
        px, py = (float(v) for v in rng.uniform(-50, 50, 2))
        a = a0 + da * np.arange(n, dtype=np.float64)
        cb, sb = np.cos(a), np.sin(a)
        for rr in (r, r.astype(np.float32)):
            r64 = np.asarray(rr, np.float64)
            with np.errstate(invalid="ignore"):
                want = np.flatnonzero(np.isfinite(r64) & (r64 > 0) & (r64 < 12.0))
            cy, sy = math.cos(yaw), math.sin(yaw)
            xs = px + r64[want] * (cb[want] * cy - sb[want] * sy)
            ys = py + r64[want] * (sb[want] * cy + cb[want] * sy)
            out = np.empty((n + 1, 5))
            k = cluster_scan_kernel(rr, 12.0, cb, sb, cy, sy, px, py, -1.0, 0.0, abs(da), 1, out)
            assert k == want.size
            assert np.array_equal(out[:k, 0], np.ones(k)) and not out[:k, 3:].any()
            assert np.array_equal(out[:k, 1], 0.0 + xs) and np.array_equal(out[:k, 2], 0.0 + ys)


def test_cluster_scan_beam_table_is_per_layout_and_close_to_the_angle_sums():
    """The sensor-frame beam directions are computed once per scan layout;
    turned by the yaw they are the map-frame directions
    cos(yaw + a), sin(yaw + a) up to rounding (mostly that of the angle
    sum yaw + a itself, up to ~1e-15 for angles near 10 rad)."""
    from edgepilot.vehicle.perception.tracking import _beam_table

    tab = _beam_table(-1.5, 0.01, 300)
    a = -1.5 + 0.01 * np.arange(300, dtype=np.float64)
    assert np.array_equal(tab[0], np.cos(a)) and np.array_equal(tab[1], np.sin(a))
    assert _beam_table(-1.5, 0.01, 300) is tab
    assert _beam_table(-1.5, 0.01, 301)[0].size == 301
    assert _beam_table(-1.5, -0.01, 300)[1][1] == np.sin(-1.5 + -0.01 * 1.0)
    rng = np.random.default_rng(7)
    for _ in range(50):
        n = int(rng.integers(1, 800))
        a0, inc, yaw = float(rng.uniform(-3.2, 0)), float(rng.uniform(-0.05, 0.05)), float(rng.uniform(-7, 7))
        cb, sb = _beam_table(a0, inc, n)
        cy, sy = math.cos(yaw), math.sin(yaw)
        ang = yaw + a0 + inc * np.arange(n)
        assert np.abs((cb * cy - sb * sy) - np.cos(ang)).max() < 4e-15
        assert np.abs((sb * cy + cb * sy) - np.sin(ang)).max() < 4e-15


def test_near_prior_of_a_few_points_equals_the_array_way():
    """Up to 16 points take plain float math; more take the array way: the
    same answer, points outside the grid or not finite count as near."""
    occ = np.zeros((30, 40), bool)
    occ[10:12, 5:30] = True
    m = LidarMapper(GridMap(occ, 0.1, 1.0, 2.0), resolution=0.1)
    rng = np.random.default_rng(0)
    pts = np.column_stack((rng.uniform(0.0, 6.0, 200), rng.uniform(1.0, 6.0, 200)))
    pts[3] = (np.nan, 3.0)
    pts[7] = (np.inf, 3.0)
    pts[9] = (1.0 + 5 * 0.1, 2.0 + 10 * 0.1)               # on a cell corner
    with np.errstate(invalid="ignore"):                    # NaN, inf: no cell
        whole = m.near_prior(pts)                           # > 16 points: the array way
    few = np.concatenate([m.near_prior(pts[i:i + 10]) for i in range(0, 200, 10)])
    assert np.array_equal(few, whole) and whole.dtype == bool
    assert whole[3] and whole[7] and 0 < whole.sum() < 200
    assert m.near_prior(np.zeros((0, 2))).shape == (0,)
    # the front's filter of a scan's clusters: those not near, in order
    from types import SimpleNamespace
    objs = [SimpleNamespace(x=x, y=y) for x, y in pts.tolist()]
    kept = m._off_prior(objs)
    assert kept == [o for o, near in zip(objs, whole) if not near]
    far = [o for o, near in zip(objs, whole) if not near][:5]
    assert len(far) == 5 and m._off_prior(far) is far              # none near: the list itself
    assert m._off_prior([]) == []
    # rows without x, y attributes (cluster_rows' tuples) with their centres beside
    rows = [(x, y, 0.5, 3) for x, y in pts.tolist()]
    assert m._off_prior(rows, [(r[0], r[1]) for r in rows]) == [r for r, near in zip(rows, whole) if not near]
    # ... or the rows themselves as the centres (they start with x, y), as the front gives them
    assert m._off_prior(rows, rows) == [r for r, near in zip(rows, whole) if not near]
    assert all(type(v) is bool for v in m._near_prior_xy(pts[:16].tolist()))


def test_give_way_conflict_kernel_ignores_stale_work_space():
    """The front keeps its arc-length work space from a longer path before:
    the entries past this path's points are stale and must not be read (they
    sent the interpolation past the end of the points)."""
    from types import SimpleNamespace

    from edgepilot.vehicle.perception._kernels import give_way_conflict_kernel
    from edgepilot.vehicle.perception._reference import give_way_conflict_numpy
    from edgepilot.vehicle.perception.front import GIVE_WAY_DT_S

    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(300):
        n = int(rng.integers(2, 8))
        pts = np.cumsum(rng.normal(size=(n, 2)) * 3.0, axis=0)
        state = SimpleNamespace(x=float(pts[0, 0]), y=float(pts[0, 1]), t=0.5)
        movers = [SimpleNamespace(x=float(x), y=float(y), vx=float(vx), vy=float(vy), t=0.5, radius=0.5)
                  for x, y, vx, vy in zip(*rng.uniform(-10, 10, (2, 3)), *rng.uniform(-2, 2, (2, 3)))]
        s0, speed = float(rng.uniform(0, 20)), float(rng.uniform(0.5, 3))
        want = give_way_conflict_numpy(state, pts, s0, speed, movers, 4.0, 0.6, 0.4)
        n_t = len(np.arange(0.0, 4.0 + 1e-9, GIVE_WAY_DT_S))
        mv = np.array([(m.x, m.y, m.vx, m.vy, m.t, m.radius) for m in movers])
        cum = np.empty(n + 40)
        cum[n:] = rng.uniform(0.0, 3.0, 40)               # a shorter, older path's arc lengths
        k = give_way_conflict_kernel(pts, s0, speed, n_t, GIVE_WAY_DT_S, state.x, state.y, state.t, mv, 0.6, 0.4,
                                     cum, np.empty((n_t, 2)))
        assert (movers[k] if k >= 0 else None) is want
        hits += want is not None
    assert 10 < hits < 290


def test_give_way_conflict_kernel_at_the_reach_boundary():
    """The kernel leaves out the hypot where the squared distance is well
    beyond reach: movers a few ulp either side of the reach (and reaches
    too small, too large or NaN for that shortcut) get the oracle's answer."""
    from types import SimpleNamespace

    from edgepilot.vehicle.perception._kernels import give_way_conflict_kernel
    from edgepilot.vehicle.perception._reference import give_way_conflict_numpy
    from edgepilot.vehicle.perception.front import GIVE_WAY_DT_S

    rng = np.random.default_rng(11)
    pts = np.array([[0.0, 0.0], [0.0, 0.0]])           # standing: every sample at the vehicle
    n_t = len(np.arange(0.0, 1.0 + 1e-9, GIVE_WAY_DT_S))
    state = SimpleNamespace(x=0.0, y=0.0, t=0.0)
    hits = misses = 0
    radii = [0.3] * 300 + [1e-120, 1e-300, 0.0, 1e120, np.inf, np.nan]
    for r in radii:
        vr, margin = (0.6, 0.4) if r == 0.3 else (0.0, 0.0)
        lim = vr + r + margin
        a = rng.uniform(0.0, 2 * np.pi)
        d = lim
        for _ in range(int(rng.integers(-6, 7))):
            d = np.nextafter(d, np.inf) if d < lim or rng.random() < 0.5 else np.nextafter(d, 0.0)
        d = d * float(rng.choice([1.0, 1.0 + 1e-7, 1.0 - 1e-7, 1.0 + 1e-5]))
        x, y = (d * np.cos(a), d * np.sin(a)) if np.isfinite(d) else (d, 0.0)
        movers = [SimpleNamespace(x=float(x), y=float(y), vx=0.0, vy=0.0, t=0.0, radius=float(r))]
        want = give_way_conflict_numpy(state, pts, 0.0, 0.0, movers, 1.0, vr, margin)
        mv = np.array([(m.x, m.y, m.vx, m.vy, m.t, m.radius) for m in movers])
        k = give_way_conflict_kernel(pts, 0.0, 0.0, n_t, GIVE_WAY_DT_S, 0.0, 0.0, 0.0, mv, vr, margin,
                                     np.empty(2), np.empty((n_t, 2)))
        assert (movers[k] if k >= 0 else None) is want, (r, d, lim)
        hits += want is not None
        misses += want is None
    assert hits > 50 and misses > 50


def _hypot_rule(name: str):
    """(the kernel helper, the hypot comparison it replaced) for a rule of
    perception._kernels: ``_gap_exceeds`` (cluster_scan_kernel's gap test,
    ``hypot > limit``) or ``_closer_than`` (hold_near_tracks_kernel's reach
    test, ``hypot < limit``)."""
    import math

    from numba import njit

    from edgepilot.vehicle.perception import _kernels

    rule = getattr(_kernels, name)

    @njit
    def fast(dx, dy, lim):
        return rule(dx, dy, lim)

    if name == "_gap_exceeds":
        @njit
        def by_hypot(dx, dy, lim):
            return math.hypot(dx, dy) > lim
    else:
        @njit
        def by_hypot(dx, dy, lim):
            return math.hypot(dx, dy) < lim
    return fast, by_hypot


@pytest.mark.parametrize("name,seed", [("_gap_exceeds", 5), ("_closer_than", 6)])
def test_squared_distance_rules_equal_the_hypot_at_the_boundary(name, seed):
    """cluster_scan_kernel's gap test and hold_near_tracks_kernel's reach
    test decide most cases from squares: the same answer as the
    ``math.hypot`` comparison the kernels had, for distances a few ulp
    either side of the limit, and for limits too small, too large or NaN
    for the squares."""
    import math

    fast, by_hypot = _hypot_rule(name)
    rng = np.random.default_rng(seed)
    true = false = 0
    for _ in range(3000):
        dx, dy = rng.normal(size=2) * 10.0 ** rng.integers(-3, 3)
        lim = math.hypot(dx, dy)
        for _ in range(int(rng.integers(0, 8))):
            lim = np.nextafter(lim, np.inf if rng.random() < 0.5 else 0.0)
        lim *= float(rng.choice([1.0, 1.0 + 1e-7, 1.0 - 1e-7, 1.0 + 1e-5, 0.5, 2.0]))
        want = by_hypot(dx, dy, lim)
        assert fast(dx, dy, lim) == want, (dx, dy, lim)
        true += want
        false += not want
    assert true > 500 and false > 500
    for dx, dy, lim in [(1e-120, 0.0, 1e-120), (3e-101, 4e-101, 5e-101), (1e120, 1e120, 1e120), (1.0, 0.0, math.nan),
                        (math.inf, 0.0, 1.0), (math.nan, 0.0, 1.0), (0.0, 0.0, 0.0), (1e-200, 0.0, 0.0),
                        (1e200, 1e200, 1e99), (0.3, 0.4, math.inf)]:
        assert fast(dx, dy, lim) == by_hypot(dx, dy, lim), (dx, dy, lim)


def _held_numpy(pts, shapes):
    """hold_near_tracks_kernel's shapes the NumPy way (_reference.near_shape_numpy, one shape at a time)."""
    from edgepilot.vehicle.perception._reference import near_shape_numpy

    hold = np.zeros(len(pts), bool)
    for row in shapes.tolist():
        hold |= near_shape_numpy(pts, *row)
    return hold


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_unreport_held_equals_the_hold_mask_then_unreport(seed):
    """LidarMapper._unreport_held (hold_unreport_kernel: the front's
    hold-back in one call) against the NumPy hold mask, the NumPy
    unreport of the held points and the others kept in order: the same
    reported flags, pending cells, count and kept points; no point held:
    the points themselves; a point not finite is never held (kept); a
    list goes the NumPy way."""
    rng = np.random.default_rng(seed)
    prior = GridMap(np.zeros((60, 80), bool), 0.1, -1.0, 2.0)
    a, b = LidarMapper(prior, resolution=0.1), LidarMapper(prior, resolution=0.1)
    held_total = 0
    for step in range(80):
        n = int(rng.integers(0, 40))
        pts = np.column_stack((rng.uniform(-1.5, 7.5, n), rng.uniform(1.5, 8.5, n)))
        if n > 3:
            pts[1] = pts[0]                                     # one cell twice
        shapes = np.array([(float(rng.choice([1.0, 2.0, 3.0])), float(rng.uniform(0.2, 1.5)),
                            *rng.uniform(-1.0, 7.0, 2), *rng.uniform(2.0, 8.0, 2))
                           for _ in range(int(rng.integers(1, 4)))], np.float64)
        if step % 7 == 0:
            shapes[0, 4:] = shapes[0, 2:4]                      # a standing swept path (a point)
        rep = rng.random(a._reported.shape) < 0.3
        a._reported[:] = rep
        b._reported[:] = rep
        a.reported_cells = b.reported_cells = int(rep.sum())
        hold = _held_numpy(pts, shapes)
        if hold.any():
            b.unreport(pts[hold].tolist())                      # the NumPy way (a list)
        got = a._unreport_held(pts, shapes)
        if not hold.any():
            assert got is pts
        assert np.array_equal(got, pts[~hold]) and got.shape == (n - int(hold.sum()), 2)
        assert np.array_equal(a._reported, b._reported) and a.reported_cells == b.reported_cells
        assert np.array_equal(a._pend[:a._npend], b._pend[:b._npend])
        held_total += int(hold.sum())
    assert held_total > 100 and len(a._pend) > 64               # the pending rows grew too
    pts = np.array([[1.0, 3.0], [np.nan, 3.0], [5.0, 5.0]])
    shapes = np.array([(1.0, 100.0, 0.0, 0.0, 1.0, 3.0)])      # holds the finite points only
    a._reported[:] = b._reported[:] = True
    with np.errstate(invalid="ignore"):
        got = a._unreport_held(pts, shapes)
        b.unreport(pts[[0, 2]].tolist())
    assert np.array_equal(got, pts[[1]], equal_nan=True)
    assert np.array_equal(a._reported, b._reported) and np.array_equal(a._pend[:a._npend], b._pend[:b._npend])
    shapes = np.array([(1.0, 100.0, 0.0, 0.0, 1.0, 3.0), (1.0, 1.0, 0.0, 0.0, np.nan, 3.0)])
    with np.errstate(invalid="ignore"):
        assert np.array_equal(a._unreport_held(pts.tolist(), shapes), pts[[1]], equal_nan=True)   # a list too


def test_cluster_scan_kernel_compiles_new_argument_types_beside_its_disk_cache(tmp_path):
    """cluster_scan_kernel loaded from numba's disk cache, then compiled for
    new argument types in the same process (ranges not contiguous, tables
    writable): its recursive summation helper links (it is not loaded from
    the cache on its own)."""
    import os
    import subprocess
    import sys

    code = ("import numpy as np\n"
            "from edgepilot.vehicle.perception._kernels import cluster_scan_kernel as k\n"
            "a = 0.1 * np.arange(10); cb, sb = np.cos(a), np.sin(a); cb.flags.writeable = False\n"
            "k(np.full(10, 5.0, np.float32), 12.0, cb, sb, 1.0, 0.0, 0.0, 0.0, 0.3, 3.0, 0.1, 3, np.empty((11, 5)))\n"
            "import sys\n"
            "if sys.argv[1] == 'new':\n"
            "    print(k(np.full(20, 5.0)[::2], 12.0, np.cos(a), sb, 1.0, 0.0, 0.0, 0.0, 0.3, 3.0, 0.1, 3,"
            " np.empty((11, 5))))\n")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    for arg in ("cache", "new"):
        run = subprocess.run([sys.executable, "-c", code, arg], env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["1"]


def test_points_of_another_float64_dtype_object_go_the_numpy_way_alike():
    """The kernels' path takes points whose dtype is NumPy's float64 dtype
    object itself; float64 points of another dtype object (one with
    metadata) go the NumPy way: the same kept points, flags and pending
    cells from _unreport_held and unreport."""
    f64m = np.dtype(np.float64, metadata={"unit": "m"})
    assert f64m == np.float64 and f64m is not np.dtype(np.float64)
    prior = GridMap(np.zeros((60, 80), bool), 0.1, -1.0, 2.0)
    rng = np.random.default_rng(3)
    pts = np.column_stack((rng.uniform(-1.5, 7.5, 30), rng.uniform(1.5, 8.5, 30)))
    shapes = np.array([(1.0, 1.5, 3.0, 5.0, 3.0, 5.0), (2.0, 0.5, 0.0, 3.0, 6.0, 8.0)])
    for meth in ("_unreport_held", "unreport"):
        a, b = LidarMapper(prior, resolution=0.1), LidarMapper(prior, resolution=0.1)
        a._reported[:] = b._reported[:] = True
        a.reported_cells = b.reported_cells = int(a._reported.sum())
        args = (shapes,) if meth == "_unreport_held" else ()
        got_a = getattr(a, meth)(pts, *args)
        other = pts.view(f64m)
        assert other.dtype is not np.dtype(np.float64)
        got_b = getattr(b, meth)(other, *args)
        if meth == "_unreport_held":
            assert 0 < len(got_a) < len(pts) and np.array_equal(got_a, got_b)
        assert np.array_equal(a._reported, b._reported) and a.reported_cells == b.reported_cells
        assert np.array_equal(a._pend[:a._npend], b._pend[:b._npend]) and a._npend > 0
