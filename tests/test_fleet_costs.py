"""Allocation costs: planner path-length matrices and the per-vehicle arrays."""
import math

import numpy as np
import pytest

from edgepilot.vehicle.fleet.costs import (fleet_costs, make_plan, path_length_matrix, route_check,
                                           straight_line_matrix)
from edgepilot.vehicle.fleet.tasks import parse_tasks
from edgepilot.vehicle.planning.astar import astar, path_cost


def _wall_grid():
    """40 x 40 cells of 0.5 m with a wall at column 20 open only at the top."""
    w = np.ones((40, 40), np.float32)
    w[:35, 20] = np.inf
    return w


def test_path_lengths_are_planner_paths_round_walls():
    w = _wall_grid()
    pts = np.array([[2.0, 2.0], [18.0, 2.0], [2.0, 18.0]])
    d = path_length_matrix(w, 0.5, (0.0, 0.0), pts, pts)
    e = straight_line_matrix(pts, pts)
    assert np.allclose(np.diag(d), 0) and np.allclose(d, d.T)
    # across the wall: the detour through the gap at the top, far longer than straight
    assert d[0, 1] > 2.0 * e[0, 1]
    # same side: close to straight (8-connected grid: within 8 %)
    assert e[0, 2] <= d[0, 2] <= 1.08 * e[0, 2]
    # and exactly what A* itself says
    p = astar(w, (4, 4), (4, 36))
    assert math.isclose(d[0, 1], path_cost(w, p) * 0.5, rel_tol=1e-9)


def test_unreachable_and_off_map_are_inf():
    w = _wall_grid()
    w[:, 20] = np.inf                                          # no gap now
    d = path_length_matrix(w, 0.5, (0.0, 0.0), [[2.0, 2.0], [-5.0, 0.0]], [[18.0, 2.0], [3.0, 3.0]])
    assert d[0, 0] == math.inf and math.isfinite(d[0, 1])
    assert np.all(np.isinf(d[1]))
    with pytest.raises(ValueError, match="resolution must be > 0"):
        path_length_matrix(w, 0.0, (0, 0), [[0, 0]], [[1, 1]])


def test_fleet_costs_per_domain_skills_and_time():
    tf = parse_tasks({
        "vehicle": [{"name": "ugv", "sysid": 1, "domain": "land", "start": [0.0, 0.0], "speed": 2.0},
                    {"name": "usv", "sysid": 2, "domain": "water", "start": [0.0, 0.0], "speed": 4.0,
                     "payload_kg": 5.0}],
        "task": [{"id": "a", "kind": "visit", "position": [10.0, 0.0], "service_s": 3.0},
                 {"id": "b", "kind": "hold", "domain": "water", "position": [20.0, 0.0], "duration_s": 7.0},
                 {"id": "c", "kind": "search", "area": [[0, 10], [10, 10], [10, 20], [0, 20]], "swath": 5.0}]})
    calls = []

    def dist(domain, s, t):
        calls.append(domain)
        return straight_line_matrix(s, t) * (2.0 if domain == "land" else 1.0)   # land detours

    c = fleet_costs(list(tf.task), list(tf.vehicle), dist)
    assert sorted(calls) == ["land", "water"]
    assert c.start_s[0, 0] == pytest.approx(20.0 / 2.0) and c.start_s[1, 0] == pytest.approx(10.0 / 4.0)
    assert not c.able[0, 1] and c.start_s[0, 1] == math.inf and c.service_s[1, 1] == 7.0
    assert c.service_s[0, 0] == 3.0
    assert c.service_s[0, 2] == pytest.approx(2 * c.service_s[1, 2])   # coverage length / speed
    plan = make_plan(c, [[0, 2], [1]], "test")
    assert plan.unassigned == () and plan.assignment() == {"a": "ugv", "c": "ugv", "b": "usv"}
    with pytest.raises(ValueError, match="route of ugv infeasible: cannot do task b"):
        make_plan(c, [[1], []], "test")
    with pytest.raises(ValueError, match="task a assigned to ugv and usv"):
        make_plan(c, [[0], [0]], "test")


def test_route_check_windows_and_capacity():
    tf = parse_tasks({
        "vehicle": [{"name": "u", "sysid": 1, "domain": "land", "start": [0.0, 0.0], "speed": 1.0,
                     "payload_kg": 10.0, "endurance_s": 100.0}],
        "task": [{"id": "a", "kind": "deliver", "position": [10.0, 0.0], "load_kg": 6.0, "window_s": [5.0, 15.0]},
                 {"id": "b", "kind": "deliver", "position": [20.0, 0.0], "load_kg": 6.0},
                 {"id": "c", "kind": "deliver", "position": [5.0, 0.0], "load_kg": 1.0, "window_s": [30.0, 40.0]}]})
    c = fleet_costs(list(tf.task), list(tf.vehicle), lambda d, s, t: straight_line_matrix(s, t))
    ok = route_check(c, 0, [2])
    assert ok.feasible and ok.cost_s == 5.0 and ok.finish_s == 30.0      # waits for the window
    assert route_check(c, 0, [0, 2]).feasible
    assert "exceeds payload" in route_check(c, 0, [0, 1]).problem
    assert "window closes" in route_check(c, 0, [1, 0]).problem
