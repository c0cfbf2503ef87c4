"""What a fleet member's sensors get of the others (``Neighbours``,
``FleetWorld.near``): the same circles and camera objects, in the same order
and bit for bit, as the plain rule -- every other member whose centre is
within reach + its radius by ``math.hypot``, in member order, then the
traffic vessels within reach by ``np.hypot`` -- for random fleets, members
exactly at the reach, far outside the world, a fleet of one, traffic, and
the spatial-hash path of large fleets."""
import math
from types import SimpleNamespace as NS

import numpy as np
import pytest

from edgepilot.sim.fleet import world as fwm
from edgepilot.sim.sensors.camera import VisibleObject


class _Truth:
    def __init__(self, x, y, yaw=0.0):
        self.x, self.y, self.yaw = x, y, yaw


class _Traffic:
    """The part of ``sim.traffic.Traffic`` the neighbours read."""

    def __init__(self, rows):
        self.rows = [tuple(float(v) for v in r) for r in rows]
        self.t = 0.0

    def ais_bytes(self, t):
        return b""

    def advance(self, t, own):
        self.t = t

    def __len__(self):
        return len(self.rows)

    def circles(self):
        return np.array(self.rows, dtype=np.float64).reshape(-1, 3)

    def visible_objects(self):
        return [VisibleObject(x, y, r, 1.5) for x, y, r in self.rows]


def _fleet(xy, radii, reaches, traffic=None):
    fw = fwm.FleetWorld({}, None, traffic, np.random.default_rng(0))
    for i, ((x, y), r, reach) in enumerate(zip(xy, radii, reaches)):
        sensors = NS(lidar=NS(max_range=reach), camera=None)
        spec = NS(vehicle_config=NS(geometry=NS(length=2 * r, width=r), sensors=sensors), domain="land")
        tr = _Truth(float(x), float(y))
        sim = NS(model=NS(truth=tr), truth=tr, shared=None)
        m = fwm.Member(i, spec, sim)
        fw.add(m)
        sim.shared = fw.neighbours(m)
    return fw


def _plain_circles(nb, sim):
    """The rule (the code before the kernel): every other member by math.hypot, then the traffic."""
    tr = sim.truth
    rows = [(m.sim.model.truth.x, m.sim.model.truth.y, m.radius) for m in nb.fw.members
            if m is not nb.me and math.hypot(m.sim.model.truth.x - tr.x, m.sim.model.truth.y - tr.y)
            <= nb.reach + m.radius]
    c = np.array(rows, dtype=np.float64) if rows else np.zeros((0, 3))
    traffic = nb.fw.traffic
    if traffic is not None and len(traffic):
        tc = traffic.circles()
        near = np.hypot(tc[:, 0] - tr.x, tc[:, 1] - tr.y) <= nb.reach + tc[:, 2]
        if near.any():
            c = np.vstack((c, tc[near]))
    return c


def _plain_objects(nb, sim):
    tr = sim.truth
    objs = [VisibleObject(m.sim.model.truth.x, m.sim.model.truth.y, m.radius, m.height, fwm.HULL_BGR,
                          kind="obstacle") for m in nb.fw.members
            if m is not nb.me and math.hypot(m.sim.model.truth.x - tr.x, m.sim.model.truth.y - tr.y)
            <= nb.reach + m.radius]
    if nb.fw.traffic is not None:
        objs += nb.fw.traffic.visible_objects()
    return objs


def _same(fw):
    for m in fw.members:
        nb, sim = m.sim.shared, m.sim
        got, want = nb.circles(sim, 0.0), _plain_circles(nb, sim)
        assert got.shape == want.shape and got.dtype == want.dtype and got.tobytes() == want.tobytes()
        assert nb.visible_objects(sim, 0.0) == _plain_objects(nb, sim)
        assert list(fw.near(sim.truth.x, sim.truth.y, nb.reach, m.index)) == [
            k for k, o in enumerate(fw.members) if o is not m and
            math.hypot(o.sim.truth.x - sim.truth.x, o.sim.truth.y - sim.truth.y) <= nb.reach + o.radius]


def _random_fleet(rng, n, traffic=None):
    layout = rng.integers(0, 3)
    if layout == 0:                 # lanes 4 m apart, as the benchmark
        xy = np.column_stack((rng.uniform(0, 120, n), 4.0 * np.arange(n) + 5.0))
    elif layout == 1:               # whole metres: members exactly at reach + radius
        xy = np.round(rng.uniform(-15, 15, (n, 2)))
    else:                           # scattered, some far outside any world
        xy = rng.uniform(-60, 60, (n, 2))
        xy[rng.random(n) < 0.2] *= 1e4
    radii = rng.choice([0.5, 1.0, 0.45], n)
    reaches = rng.choice([12.0, 5.5, 4.0, 1.0], n)
    return _fleet(xy, radii, reaches, traffic)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_neighbours_equal_the_plain_rule(seed, monkeypatch):
    rng = np.random.default_rng(seed)
    plain = []
    orig = fwm.FleetWorld._near_plain
    monkeypatch.setattr(fwm.FleetWorld, "_near_plain", lambda self, *a: plain.append(a) or orig(self, *a))
    for k in range(60):
        n = int(rng.integers(1, 25))
        traffic = _Traffic(np.column_stack((rng.uniform(-20, 20, (3, 2)), [2.0, 3.0, 4.0]))) if k % 3 == 0 else None
        fw = _random_fleet(rng, n, traffic)
        _same(fw)
        # the members move, the world advances: the next queries take the new positions
        for m in fw.members:
            m.sim.truth.x += float(rng.normal(0, 2.0))
            m.sim.truth.y += float(rng.normal(0, 2.0))
        fw.advance(0.01)
        _same(fw)
    assert plain          # members exactly at the reach were decided by math.hypot


def test_neighbours_through_the_spatial_hash(monkeypatch):
    """Beyond ``NEAR_SCAN_MAX`` members the candidates come from the hash."""
    rng = np.random.default_rng(5)
    for n in (1, 2, 30):
        monkeypatch.setattr(fwm, "NEAR_SCAN_MAX", 0)
        _same(_random_fleet(rng, n, _Traffic([(0.0, 5.0, 2.0)])))
    monkeypatch.undo()
    xy = np.column_stack((6.0 + 20.0 * (np.arange(300) // 10), 4.0 * (np.arange(300) % 10) + 5.0))
    fw = _fleet(xy, [0.45] * 300, [12.0] * 300)
    assert len(fw.members) > fwm.NEAR_SCAN_MAX
    _same(fw)


def test_a_fleet_of_one_sees_only_traffic():
    fw = _fleet([(3.0, 4.0)], [0.5], [12.0], _Traffic([(10.0, 4.0, 2.0), (40.0, 4.0, 2.0)]))
    m = fw.members[0]
    assert m.sim.shared.circles(m.sim, 0.0).tolist() == [[10.0, 4.0, 2.0]]
    assert len(fw.near(3.0, 4.0, 100.0, 0)) == 0
    _same(fw)


def test_neighbours_refuse_positions_that_are_not_finite():
    fw = _fleet([(0.0, 0.0), (3.0, 0.0), (500.0, 0.0)], [0.5] * 3, [12.0] * 3)
    m = fw.members[0]
    assert m.sim.shared.circles(m.sim, 0.0).tolist() == [[3.0, 0.0, 0.5]]
    fw.members[2].sim.truth.y = math.nan          # far away, still refused (as the spatial hash does)
    fw.advance(0.01)
    with pytest.raises(ValueError, match="positions must be finite"):
        m.sim.shared.circles(m.sim, 0.0)
    with pytest.raises(ValueError, match="positions must be finite"):
        m.sim.shared.visible_objects(m.sim, 0.0)
