"""Inflation costmap: cost shape, incremental updates equal a full
recompute, the rolling window keeps world alignment, bad input errors."""
from __future__ import annotations

import math

import numpy as np
import pytest

from edgepilot.vehicle.costmap import InflatedCostmap, InflationParams, RollingCostmap
from edgepilot.vehicle.maps import GridMap
from edgepilot.vehicle.planning import astar

P = InflationParams(inscribed_radius=0.5, inflation_radius=2.0, cost_scaling_factor=2.0, max_weight=40.0)


def test_weights_follow_distance_rule():
    occ = np.zeros((41, 41), bool)
    occ[20, 20] = True
    cm = InflatedCostmap(GridMap(occ, 0.1), P)
    w = cm.weights
    assert w.dtype == np.float32 and (w >= 1).all()
    assert np.isinf(w[20, 20]) and np.isinf(w[20, 25])          # d = 0.5 m: inscribed -> lethal
    d = 0.6
    assert w[20, 26] == pytest.approx(1 + 39 * math.exp(-2.0 * (d - 0.5)), rel=1e-5)
    assert w[20, 40] == pytest.approx(1 + 39 * math.exp(-3.0), rel=1e-5)  # d = 2.0 m: last inflated
    assert w[0, 19] == 1.0                                      # d = 2.002 m: beyond inflation
    assert w[20, 35] > w[20, 38] > 1.0                          # decays with distance
    assert w[0, 0] == 1.0


def test_incremental_update_equals_full_recompute_and_touches_only_window():
    rng = np.random.default_rng(3)
    occ = rng.random((120, 150)) < 0.01
    cm = InflatedCostmap(GridMap(occ, 0.1), P)
    before = cm.weights.copy()
    new = np.array([[60, 70], [61, 70], [62, 71]])
    win = cm.add_obstacles(cells=new)
    occ2 = occ.copy()
    occ2[new[:, 0], new[:, 1]] = True
    full = InflatedCostmap(GridMap(occ2, 0.1), P)
    np.testing.assert_allclose(cm.weights, full.weights, rtol=1e-6)
    r0, r1, c0, c1 = win
    assert r1 - r0 < 60 and c1 - c0 < 60, "update stays local"
    outside = np.ones(occ.shape, bool)
    outside[r0:r1, c0:c1] = False
    np.testing.assert_array_equal(cm.weights[outside], before[outside])
    # clearing restores the original weights
    cm.clear_obstacles(cells=new)
    np.testing.assert_allclose(cm.weights, before, rtol=1e-6)


def test_add_obstacles_by_points_and_ignores_outside():
    cm = InflatedCostmap(GridMap(np.zeros((50, 50), bool), 0.2, origin_x=-5.0, origin_y=-5.0), P)
    win = cm.add_obstacles(points=np.array([[0.1, 0.1], [100.0, 100.0]]))
    assert win is not None
    assert cm.occupied[25, 25] and cm.occupied.sum() == 1
    assert cm.add_obstacles(points=np.array([[0.1, 0.1]])) is None, "no change, no update"


def test_new_obstacle_blocks_old_path():
    occ = np.zeros((60, 60), bool)
    cm = InflatedCostmap(GridMap(occ, 0.1), P)
    p1 = astar(cm.weights, (30, 2), (30, 57))
    assert (p1[:, 0] == 30).all()
    cm.add_obstacles(cells=np.array([[r, 30] for r in range(15, 46)]))
    p2 = astar(cm.weights, (30, 2), (30, 57))
    assert p2 is not None and np.isfinite(cm.weights[p2[:, 0], p2[:, 1]]).all()
    assert not np.isfinite(cm.weights[p1[:, 0], p1[:, 1]]).all()


@pytest.mark.parametrize("kw, match", [
    (dict(inscribed_radius=-1, inflation_radius=1), "inscribed_radius"),
    (dict(inscribed_radius=1, inflation_radius=0.5), "inflation_radius"),
    (dict(inscribed_radius=0.1, inflation_radius=1, cost_scaling_factor=-1), "cost_scaling_factor"),
    (dict(inscribed_radius=0.1, inflation_radius=1, max_weight=0.5), "max_weight"),
])
def test_bad_params(kw, match):
    with pytest.raises(ValueError, match=match):
        InflationParams(**kw)


def test_bad_obstacle_input():
    cm = InflatedCostmap(GridMap(np.zeros((10, 10), bool), 0.1), P)
    with pytest.raises(ValueError, match="exactly one"):
        cm.add_obstacles()
    with pytest.raises(ValueError, match="cells must be"):
        cm.add_obstacles(cells=np.array([[1.5, 2.0]]))
    with pytest.raises(ValueError, match="points must be"):
        cm.add_obstacles(points=np.array([1.0, 2.0, 3.0]))


def test_rolling_window_follows_and_keeps_world_alignment():
    static = np.zeros((200, 200), bool)
    static[100, 150] = True                         # world x = 15.05, y = 10.05
    smap = GridMap(static, 0.1)
    rc = RollingCostmap(8.0, 0.1, P, static_map=smap, center=(10.0, 10.0))
    assert rc.shape == (80, 80)
    assert not rc.occupied.any(), "static obstacle is outside the first window"
    rc.add_obstacles(points=np.array([[11.0, 10.0]]))
    assert rc.follow(13.0, 10.0)
    r, c = rc.world_to_cell(15.05, 10.05)
    assert rc.occupied[r, c], "static obstacle moved in"
    r, c = rc.world_to_cell(11.0, 10.0)
    assert rc.occupied[r, c], "observed obstacle kept at its world position"
    assert rc.occupied.sum() == 2
    assert not rc.follow(13.01, 10.02), "sub-cell motion keeps the window"
    x, y = rc.cell_to_world(*rc.world_to_cell(13.0, 10.0))
    assert abs(x - 13.0) <= 0.05 + 1e-9 and abs(y - 10.0) <= 0.05 + 1e-9
