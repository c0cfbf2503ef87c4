"""The auction's travel costs from our planner's path lengths
(vehicle/fleet/costs.py: the Dijkstra sweep kernel, ``PathLengths``'
per-cell cache, ``travel_grid``) and the on-board auction's pricing
(onboard/fleet_auction.py: ``auction_costs``, ``vehicle_path_lengths``)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from edgepilot.onboard.fleet_auction import auction_costs, frame_distance, vehicle_path_lengths
from edgepilot.vehicle.fleet.cbba import CbbaAgent, CbbaParams, run_rounds
from edgepilot.vehicle.fleet.costs import (PathLengths, path_field, path_field_numpy, path_length_matrix,
                                           straight_line_matrix, travel_grid)
from edgepilot.vehicle.fleet.tasks import parse_tasks


def random_grid(rng, h=24, w=31):
    w_ = rng.choice([1.0, 1.0, 1.0, 2.5, 7.0, np.inf], size=(h, w)).astype(np.float32)
    return w_


@pytest.mark.parametrize("seed", range(6))
def test_sweep_kernel_matches_the_numpy_oracle(seed):
    rng = np.random.default_rng(seed)
    w = random_grid(rng)
    src = (int(rng.integers(0, w.shape[0])), int(rng.integers(0, w.shape[1])))
    w[src] = 1.0
    got = path_field(w, 0.5, src)
    want = path_field_numpy(w, 0.5, src)
    assert np.array_equal(np.isfinite(got), np.isfinite(want))
    f = np.isfinite(want)
    np.testing.assert_allclose(got[f], want[f], rtol=1e-12, atol=1e-12)
    assert got[src] == 0.0 and (~f).any() and f.sum() > 1          # blocked cells exist, something reached


def test_sweep_forbids_cutting_a_blocked_corner():
    w = np.ones((2, 2), np.float32)
    w[0, 1] = np.inf
    w[1, 0] = np.inf
    d = path_field(w, 1.0, (0, 0))
    assert math.isinf(d[1, 1])                  # the only way is through the two blocked corners
    w[1, 0] = 1.0
    assert path_field(w, 1.0, (0, 0))[1, 1] == pytest.approx(2.0)


@pytest.mark.parametrize("seed", range(4))
def test_path_lengths_equal_grid_astar_path_costs(seed):
    """The sweeps give what the planner's A* gives for every pair (the
    rule is the same and symmetric), from far fewer searches."""
    rng = np.random.default_rng(10 + seed)
    w = random_grid(rng, 40, 50)
    pts = rng.uniform([0.0, 0.0], [50 * 0.4, 40 * 0.4], size=(12, 2))
    pl = PathLengths(w, 0.4, (0.0, 0.0), snap_m=0.0)
    got = pl.matrix(pts[:7], pts[7:])
    want = path_length_matrix(w, 0.4, (0.0, 0.0), pts[:7], pts[7:])
    assert np.array_equal(np.isfinite(got), np.isfinite(want))
    f = np.isfinite(want)
    np.testing.assert_allclose(got[f], want[f], rtol=1e-9)
    assert pl.sweeps <= 5                        # at most one per target cell


def test_path_lengths_cache_per_cell_pair():
    """A plan's matrix costs one sweep per task; the same question again
    none; a vehicle in a new cell one sweep for all tasks; a cell it has been
    in before none."""
    w = np.ones((60, 80), np.float32)
    w[10:50, 40] = np.inf
    pl = PathLengths(w, 0.5, (0.0, 0.0))
    tasks = np.array([[5.0, 5.0], [35.0, 25.0], [30.0, 5.0], [10.0, 28.0]])
    starts = np.array([[1.0, 1.0], [39.0, 29.0]])
    m = pl.matrix(np.vstack((starts, tasks)), tasks)
    assert pl.sweeps == 4
    np.testing.assert_allclose(m, path_length_matrix(w, 0.5, (0.0, 0.0), np.vstack((starts, tasks)), tasks),
                               rtol=1e-9)
    pl.matrix(np.vstack((starts, tasks)), tasks)
    assert pl.sweeps == 4
    here = np.array([[12.2, 14.9]])
    row = pl.matrix(here, tasks)
    assert pl.sweeps == 5
    np.testing.assert_allclose(row, path_length_matrix(w, 0.5, (0.0, 0.0), here, tasks), rtol=1e-9)
    pl.matrix(here + 0.05, tasks)                # the same cell
    assert pl.sweeps == 5


def test_points_off_the_grid_or_walled_in_are_unreachable_and_a_point_on_a_wall_snaps():
    w = np.ones((20, 20), np.float32)
    w[:, 10] = np.inf
    pl = PathLengths(w, 1.0, (0.0, 0.0), snap_m=1.5)
    m = pl.matrix([[2.5, 2.5], [30.0, 2.0], [10.5, 5.5]], [[5.5, 2.5], [15.5, 2.5]])
    assert m[0, 0] == pytest.approx(3.0) and math.isinf(m[0, 1])      # the wall splits the grid
    assert np.isinf(m[1]).all()                                     # off the grid
    assert np.isfinite(m[2]).sum() == 1         # on the wall itself: snapped to the nearest free side
    with pytest.raises(ValueError, match="weights must be >= 1"):
        PathLengths(np.zeros((3, 3), np.float32), 1.0, (0, 0))
    with pytest.raises(ValueError, match="resolution must be > 0"):
        PathLengths(w, 0.0, (0, 0))
    with pytest.raises(ValueError, match="float32"):
        PathLengths(w.astype(np.float64), 1.0, (0, 0))


def test_travel_grid_coarsens_and_grows_obstacles():
    occ = np.zeros((40, 40), bool)
    occ[20, 20] = True
    w, res = travel_grid(occ, 0.1, 0.3, 0.5)
    assert w.shape == (8, 8) and res == pytest.approx(0.5)
    assert math.isinf(w[4, 4]) and math.isinf(w[3, 4]) and w[0, 0] == 1.0
    with pytest.raises(ValueError, match="clearance_m"):
        travel_grid(occ, 0.1, -1.0)


# ------------------------------------------------------------------ the on-board pricing
WALL_TASKS = """
[[vehicle]]
name = "west"
sysid = 1
domain = "land"
start = [8.0, 6.0]
speed = 1.0

[[vehicle]]
name = "north"
sysid = 2
domain = "land"
start = [24.0, 17.0]
speed = 1.0

[[task]]
id = "behind-the-wall"
kind = "visit"
position = [8.0, 14.0]
"""


def wall_map():
    """40 m x 20 m at 0.1 m cells, a wall at y = 9..10 m from x = 0 to 34 m:
    from the south-west the only way north is round its east end."""
    occ = np.zeros((200, 400), bool)
    occ[90:100, 0:340] = True
    return occ


def winner(tf, distances) -> str:
    members = list(tf.vehicle)
    tasks = list(tf.task)
    agents = []
    for me, (v, dist) in enumerate(zip(members, distances)):
        costs, scale = auction_costs(tasks, members, me, v.start, dist)
        agents.append(CbbaAgent(me, costs, CbbaParams(reward=10.0 * scale)))
    run_rounds(agents, 20)
    w = {int(a.winner[0]) for a in agents}
    assert len(w) == 1, w
    return members[w.pop()].name


def test_the_vehicle_nearer_by_path_wins_the_task_behind_a_wall():
    """West is 8 m from the task in a straight line but ~62 m by any path
    (round the wall's end); north is 17.9 m away either way.  With each
    vehicle bidding its own path lengths north wins; with the straight
    lines the auction used before, west would have."""
    tf = parse_tasks(__import__("tomllib").loads(WALL_TASKS), "wall tasks")
    w, res = travel_grid(wall_map(), 0.1, 0.3)
    paths = [PathLengths(w, res, (0.0, 0.0)) for _ in tf.vehicle]     # each vehicle its own map
    path_d = [lambda d, s, t, pl=pl: pl.matrix(s, t) for pl in paths]
    straight = [lambda d, s, t: straight_line_matrix(s, t)] * 2
    west = paths[0].matrix([[8.0, 6.0]], [[8.0, 14.0]])[0, 0]
    north = paths[1].matrix([[24.0, 17.0]], [[8.0, 14.0]])[0, 0]
    assert west > 55.0 and north == pytest.approx(math.hypot(16.0, 3.0), rel=0.1) and north < west
    assert winner(tf, path_d) == "north"
    assert winner(tf, straight) == "west"


def test_vehicle_path_lengths_come_from_the_vehicles_own_map():
    """A real core of the yard (its prior map): the path from one side of
    the container row to the other is longer than the straight line, and
    the task file's own frame is honoured."""
    from edgepilot.sim.scenario import load_scenario
    from edgepilot.sim.simulation import Simulation
    from edgepilot.vehicle.core import VehicleCore
    from edgepilot.vehicle.geo import LocalFrame
    from edgepilot.vehicle.types import GeoPoint

    sim = Simulation(load_scenario("ugv_yard"))
    lat, lon = sim.scenario.world.origin
    core = VehicleCore(sim.cfg, GeoPoint(lat, lon), sim.world.prior_map(), defer_bring_up=True)
    assert vehicle_path_lengths(core) is None               # no planning grid yet: straight lines
    core.bring_up()
    pl = vehicle_path_lengths(core)
    assert pl is not None
    a, b = (8.0, 20.0), (22.0, 20.0)            # either side of the yard's container row (x 12..18, y 8..30)
    d = pl.matrix([a], [b])[0, 0]
    assert math.isfinite(d) and d > math.dist(a, b) + 10.0
    # the same points in a task file frame 100 m east of the map's: the same length
    shifted = LocalFrame(*core.frame.to_geo(-100.0, 0.0))
    dist = frame_distance(pl, shifted, core.frame)
    d2 = dist(None, [[a[0] + 100.0, a[1]]], [[b[0] + 100.0, b[1]]])[0, 0]
    assert d2 == pytest.approx(d, abs=0.6)
