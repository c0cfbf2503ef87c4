"""The simulator's numba kernels against their NumPy oracles
(``sim/_reference.py``): the footprint clearance / collision check, the
fleet separation and who-sees-whom."""
import math

import numpy as np
import pytest

from edgepilot.sim._reference import footprint_clearance_numpy
from edgepilot.sim._kernels import rect_gap_kernel
from edgepilot.sim.scenario import load_scenario
from edgepilot.sim.world import SimWorld


@pytest.fixture(scope="module")
def yard():
    sc = load_scenario("ugv_yard")
    return sc, SimWorld(sc)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_footprint_clearance_equals_the_numpy_oracle(yard, seed):
    sc, w = yard
    rng = np.random.default_rng(seed)
    xmin, ymin, xmax, ymax = sc.world.bounds
    hits = 0
    try:
        for k in range(1500):
            # poses all over the yard and beyond its walls, footprints from tiny to large
            x, y = rng.uniform(xmin - 1, xmax + 1), rng.uniform(ymin - 1, ymax + 1)
            yaw, length, width = rng.uniform(-4, 4), rng.uniform(0.02, 3.0), rng.uniform(0.02, 2.0)
            w.moving = (rng.uniform([xmin, ymin, 0.1], [xmax, ymax, 2.0], size=(int(rng.integers(1, 5)), 3))
                        if k % 3 == 0 else np.zeros((0, 3)))
            got = w.footprint_clearance(x, y, yaw, length, width)
            assert got == footprint_clearance_numpy(w, x, y, yaw, length, width), (x, y, yaw, length, width)
            hits += got[1]
    finally:
        w.moving = np.zeros((0, 3))
    assert 0 < hits < 1500          # both verdicts exercised


def test_footprint_clearance_near_a_wall_and_in_the_open(yard):
    sc, w = yard
    # along a line from the open yard into the west wall: clearance falls to 0, then collided
    y = 0.5 * (sc.world.bounds[1] + sc.world.bounds[3])
    seen = [w.footprint_clearance(x, y, 0.0, 0.8, 0.6) for x in np.linspace(3.0, sc.world.bounds[0], 60)]
    assert all(a == footprint_clearance_numpy(w, x, y, 0.0, 0.8, 0.6)
               for a, x in zip(seen, np.linspace(3.0, sc.world.bounds[0], 60)))
    assert seen[-1] == (0.0, True)
    assert any(c > 0.5 and not hit for c, hit in seen)


@pytest.mark.parametrize("bad", [(math.nan, 1.0, 0.0, 1.0, 1.0), (1.0, 1.0, math.inf, 1.0, 1.0),
                                 (1.0, 1.0, 0.0, 0.0, 1.0), (1.0, 1.0, 0.0, 1.0, -1.0)])
def test_footprint_clearance_refuses_bad_input(yard, bad):
    _, w = yard
    with pytest.raises(ValueError, match="footprint_clearance: expected finite"):
        w.footprint_clearance(*bad)


def _fleet(rng, n, spread):
    pos = np.column_stack((rng.uniform(0, spread, n), rng.uniform(0, spread, n), rng.uniform(-4, 4, n)))
    length, width = rng.uniform(0.4, 3.0, n), rng.uniform(0.3, 1.5, n)
    return pos, length, width, 0.5 * np.hypot(length, width)


def _hashed(pos, length, width, hd):
    from edgepilot.sim.fleet.world import SpatialHash
    from edgepilot.sim._kernels import separation_kernel

    h = SpatialHash()
    h.build(pos, max(2.0 * hd.max(), 0.5))
    best, i, j = separation_kernel(pos, length, width, hd, h.h, h.mask, h.cell, h.head, h.items)
    return float(best), (int(i), int(j))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fleet_separation_equals_the_numpy_oracle(seed):
    from edgepilot.sim._reference import separation_numpy

    rng = np.random.default_rng(seed)
    touching = 0
    for k in range(300):
        n = int(rng.integers(2, 40))
        # dense (overlaps), medium and sparse fleets: the rings must grow for the sparse ones
        pos, length, width, hd = _fleet(rng, n, [3.0, 30.0, 3000.0][k % 3])
        want, pair = separation_numpy(pos, length, width, hd)
        got, gpair = _hashed(pos, length, width, hd)
        assert got == pytest.approx(want, abs=1e-9)
        if want > 0:
            assert gpair == pair or got == pytest.approx(
                separation_numpy(pos[list(gpair)], length[list(gpair)], width[list(gpair)], hd[list(gpair)])[0])
        touching += want == 0
    assert touching > 10


def test_fleet_separation_in_a_lane_fleet():
    """The benchmark's layout (lanes 4 m apart): neighbouring lanes."""
    for n in (10, 40, 160):
        pos = np.column_stack((np.full(n, 6.0), 4.0 * np.arange(n) + 5.0, np.zeros(n)))
        dims = np.full(n, 0.9), np.full(n, 0.6), np.full(n, 0.5 * math.hypot(0.9, 0.6))
        got, pair = _hashed(pos, *dims)
        assert got == pytest.approx(4.0 - 0.6) and pair[1] - pair[0] == 1


def _lanes(rng, n):
    """The benchmark's lanes (4 m apart, equal footprints: equal gaps, ties)
    with the vehicles somewhere along them, some abreast."""
    x = np.where(rng.random(n) < 0.5, 6.0, rng.uniform(0, 100, n))
    pos = np.column_stack((x, 4.0 * np.arange(n) + 5.0, np.where(rng.random(n) < 0.5, 0.0, rng.uniform(-4, 4, n))))
    length, width = np.full(n, 0.9), np.full(n, 0.6)
    return pos, length, width, 0.5 * np.hypot(length, width)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_separation_scan_equals_the_hashed_kernel_and_the_numpy_oracle(seed):
    """Every pair in order (no hash) gives the hashed kernel's gap and pair
    bit for bit, ties included, and the NumPy oracle's gap."""
    from edgepilot.sim._kernels import separation_scan_kernel
    from edgepilot.sim._reference import separation_numpy

    rng = np.random.default_rng(seed)
    ties = 0
    for k in range(400):
        n = int(rng.integers(2, 41))
        if k % 4 == 3:
            pos, length, width, hd = _lanes(rng, n)
        else:
            pos, length, width, hd = _fleet(rng, n, [3.0, 30.0, 3000.0][k % 3])
        dims = np.column_stack((length, width, hd, 0.5 * np.maximum(length, width)))
        best, i, j = separation_scan_kernel(pos, dims)
        got = (float(best), (int(i), int(j)))
        assert got == _hashed(pos, length, width, hd)
        assert got[0] == pytest.approx(separation_numpy(pos, length, width, hd)[0], abs=1e-9)
        gaps = [rect_gap_kernel(*pos[a], length[a], width[a], *pos[b], length[b], width[b])
                for a in range(n) for b in range(a + 1, n)]
        ties += gaps.count(min(gaps)) > 1
    assert ties > 10                                  # equal gaps in the lanes: the first pair keeps it
    assert separation_scan_kernel(np.zeros((1, 3)), np.ones((1, 4))) == (math.inf, -1, -1)
    for bad in (math.nan, math.inf):
        pos = np.zeros((3, 3))
        pos[1, 1] = bad
        best, i, j = separation_scan_kernel(pos, np.ones((3, 4)))
        assert math.isnan(best) and (i, j) == (-2, -2)


@pytest.mark.parametrize("n", [2, 10, 32, 33, 60])
def test_fleet_world_separation_scan_and_hash(n):
    """``FleetWorld.separation``: the pair scan (up to ``SEP_SCAN_MAX``)
    and the hash beyond give the hashed kernel's answer; a position not
    finite is refused with the hash's message either way."""
    from types import SimpleNamespace

    from edgepilot.sim.fleet.world import SEP_SCAN_MAX, FleetWorld, Member

    rng = np.random.default_rng(n)
    fw = FleetWorld({}, None, None, rng)
    pos, length, width, hd = _fleet(rng, n, 30.0)
    for k in range(n):
        spec = SimpleNamespace(domain="land", vehicle_config=SimpleNamespace(
            geometry=SimpleNamespace(length=float(length[k]), width=float(width[k]))))
        m = Member(k, spec, SimpleNamespace(truth=SimpleNamespace(x=pos[k, 0], y=pos[k, 1], yaw=pos[k, 2])))
        fw.add(m)
    for moved in range(3):
        assert fw.separation() == _hashed(fw.positions(), length, width, hd)
        for m in fw.members:
            m.sim.truth.x += rng.uniform(-2, 2)
        fw.advance(0.01 * (moved + 1))
    assert (n <= SEP_SCAN_MAX) == (fw._sep_hash.stale and fw._sep_hash.items.size == 0)   # the hash: not built
    fw.members[n // 2].sim.truth.y = math.nan
    fw.advance(1.0)
    with pytest.raises(ValueError, match="spatial hash: member positions must be finite"):
        fw.separation()


@pytest.mark.parametrize("seed", [0, 1])
def test_fleet_within_equals_the_numpy_oracle(seed):
    from edgepilot.sim._kernels import hash_within_kernel
    from edgepilot.sim._reference import within_numpy
    from edgepilot.sim.fleet.world import SpatialHash

    rng = np.random.default_rng(seed)
    for k in range(200):
        n = int(rng.integers(1, 60))
        pos = np.column_stack((rng.uniform(-50, 50, n), rng.uniform(-50, 50, n), np.zeros(n)))
        radius = rng.uniform(0.2, 2.0, n)
        h = SpatialHash()
        h.build(pos, float(rng.uniform(1.0, 20.0)))
        x, y, reach, me = *rng.uniform(-60, 60, 2), float(rng.uniform(0.5, 30.0)), int(rng.integers(0, n))
        m = hash_within_kernel(pos[:, 0], pos[:, 1], radius, h.h, h.mask, h.cell, h.head, h.items, x, y, reach, me,
                               h.out)
        assert list(h.out[:m]) == list(within_numpy(pos, radius, x, y, reach, me))



def _near(pos, radius, idx, x, y, reach, me):
    from edgepilot.sim._kernels import near_kernel

    n = len(pos)
    hit, out = np.full(n, -7, np.int64), np.full((n, 3), np.nan)
    k = near_kernel(pos, radius, np.asarray(idx, np.int64), x, y, reach, me, hit, out)
    return k, hit, out


@pytest.mark.parametrize("seed", [0, 1])
def test_near_kernel_equals_the_numpy_oracle(seed):
    """Every member or the hash's candidates: the same indices in the same
    order, their rows copied exactly; -1 only for a member so near the
    boundary that the squares cannot tell (then math.hypot decides)."""
    from edgepilot.sim._kernels import NEAR_BAND
    from edgepilot.sim._reference import near_numpy

    rng = np.random.default_rng(seed)
    undecided = 0
    for k in range(400):
        n = int(rng.integers(1, 60))
        pos = np.column_stack((rng.uniform(-40, 40, n), rng.uniform(-40, 40, n), rng.uniform(-3, 3, n)))
        if k % 4 == 0:                       # whole metres, whole limits: members exactly at the reach
            pos[:, :2] = np.round(pos[:, :2] / 5.0)
        radius = rng.choice([0.5, 1.0], n) if k % 4 == 0 else rng.uniform(0.1, 2.0, n)
        idx = np.arange(n) if k % 2 else np.flatnonzero(rng.random(n) < 0.5)
        me = int(rng.integers(0, n))
        x, y = (float(pos[me, 0]), float(pos[me, 1])) if k % 3 else (float(rng.integers(-9, 9)), 0.5)
        reach = float(rng.choice([12.0, 5.5, 4.0])) if k % 4 == 0 else float(rng.uniform(1.0, 30.0))
        got, hit, out = _near(pos, radius, idx, x, y, reach, me)
        want = near_numpy(pos, radius, idx, x, y, reach, me)
        if got < 0:
            undecided += 1
            c = idx[idx != me]
            gap = np.abs((pos[c, 0] - x) ** 2 + (pos[c, 1] - y) ** 2 - (reach + radius[c]) ** 2)
            assert (gap <= 4 * NEAR_BAND * (reach + radius[c]) ** 2).any()
            continue
        assert list(hit[:got]) == list(want)
        assert out[:got, :2].tobytes() == pos[want, :2].tobytes() and out[:got, 2].tobytes() == radius[want].tobytes()
    assert 0 < undecided < 100


def test_near_kernel_leaves_the_boundary_and_bad_positions_to_the_caller():
    pos = np.array([[0.0, 0.0, 0.0], [12.5, 0.0, 0.0], [7.5, 10.0, 0.0], [3.0, 0.0, 0.0]])
    radius = np.full(4, 0.5)
    every = np.arange(4)
    assert _near(pos, radius, every, 0.0, 0.0, 12.0, 0)[0] == -1            # hypot exactly reach + radius
    assert _near(pos, radius, [0, 2], 0.0, 0.0, 12.0, 0)[0] == -1           # (a 3-4-5 triangle)
    k, hit, out = _near(pos, radius, [0, 3], 0.0, 0.0, 12.0, 0)
    assert k == 1 and hit[0] == 3 and list(out[0]) == [3.0, 0.0, 0.5]
    assert _near(pos, radius, every, 0.0, 0.0, 12.1, 0)[0] == 3             # clear of the band
    assert _near(pos, radius, every, 0.0, 0.0, -1.0, 0)[0] == 0             # reach + radius < 0: nobody
    for bad in (np.nan, np.inf, -np.inf):
        p = pos.copy()
        p[2, 1] = bad
        assert _near(p, radius, every, 0.0, 0.0, 1.0, 0)[0] == -1           # far away, still refused
        assert _near(pos, radius, every, bad, 0.0, 12.1, 0)[0] == -1
    assert _near(pos, radius, every, 0.0, 0.0, 12.1, 0)[0] == 3
    assert _near(pos, radius, [0], 0.0, 0.0, 12.1, 0)[0] == 0               # only oneself

def test_spatial_hash_refuses_bad_input():
    from edgepilot.sim.fleet.world import SpatialHash

    with pytest.raises(ValueError, match="cell size must be a positive number"):
        SpatialHash().build(np.zeros((2, 3)), 0.0)
    with pytest.raises(ValueError, match="positions must be finite"):
        SpatialHash().build(np.array([[0.0, np.nan, 0.0]]), 1.0)
