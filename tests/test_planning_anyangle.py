"""Theta*, line cost, shortcutting and speed profiles."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgepilot.vehicle.planning import astar
from edgepilot.vehicle.planning.anyangle import line_cost, polyline_cost, theta_star
from edgepilot.vehicle.planning.astar import path_cost
from edgepilot.vehicle.planning.smoothing import SpeedLimits, curvature, densify, shortcut, speed_profile


def test_line_cost_matches_grid_moves_and_integrates_weights():
    w = np.ones((5, 5), np.float32)
    w[2, 3] = 3.0
    assert line_cost(w, (2, 2), (2, 3)) == pytest.approx(0.5 * (1 + 3))
    assert line_cost(w, (0, 0), (1, 1)) == pytest.approx(math.sqrt(2))
    assert line_cost(w, (2, 0), (2, 4)) == pytest.approx(3 * 1 + 1 * 3)
    assert line_cost(w, (0, 0), (4, 2)) == pytest.approx(math.hypot(4, 2))


def test_line_cost_blocked_and_corner_touch():
    w = np.ones((3, 3), np.float32)
    w[1, 1] = np.inf
    assert line_cost(w, (0, 0), (2, 2)) == math.inf
    w = np.ones((2, 2), np.float32)
    w[0, 1] = np.inf
    assert line_cost(w, (0, 0), (1, 1)) == math.inf, "passing a blocked corner is not free"


@st.composite
def maps(draw):
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    h, w = draw(st.integers(5, 30)), draw(st.integers(5, 30))
    weights = (1 + rng.random((h, w)) * draw(st.sampled_from([0.0, 5.0]))).astype(np.float32)
    weights[rng.random((h, w)) < draw(st.sampled_from([0.0, 0.15, 0.3]))] = np.inf
    weights[0, 0] = 1.0
    weights[h - 1, w - 1] = 1.0
    return weights


@settings(max_examples=120, deadline=None)
@given(maps())
def test_theta_star_valid_and_no_worse_than_grid(weights):
    h, w = weights.shape
    grid = astar(weights, (0, 0), (h - 1, w - 1))
    verts = theta_star(weights, (0, 0), (h - 1, w - 1))
    if grid is None:
        assert verts is None
        return
    assert verts is not None
    assert tuple(verts[0]) == (0, 0) and tuple(verts[-1]) == (h - 1, w - 1)
    c = polyline_cost(weights, verts)
    assert math.isfinite(c), "every segment is free"
    # any-angle costs at most ~the optimal 8-connected grid path; allow the
    # known Theta* slack of a few percent on weighted maps
    assert c <= path_cost(weights, grid) * 1.05 + 1e-6


def test_theta_star_open_map_is_straight():
    w = np.ones((40, 60), np.float32)
    verts = theta_star(w, (0, 0), (39, 59))
    assert len(verts) == 2
    assert polyline_cost(w, verts) == pytest.approx(math.hypot(39, 59))


def test_theta_star_unreachable_and_errors():
    w = np.ones((5, 5), np.float32)
    w[:, 2] = np.inf
    assert theta_star(w, (0, 0), (4, 4)) is None
    with pytest.raises(ValueError, match="goal .* blocked"):
        theta_star(w, (0, 0), (0, 2))
    with pytest.raises(ValueError, match="float32"):
        theta_star(w.astype(np.float64), (0, 0), (4, 4))


@settings(max_examples=80, deadline=None)
@given(maps(), st.sampled_from([0.0, 0.1]))
def test_shortcut_never_enters_lethal_nor_costs_more(weights, slack):
    h, w = weights.shape
    grid = astar(weights, (0, 0), (h - 1, w - 1))
    if grid is None:
        return
    sc = shortcut(weights, grid, slack=slack)
    assert tuple(sc[0]) == tuple(grid[0]) and tuple(sc[-1]) == tuple(grid[-1])
    c = polyline_cost(weights, sc)
    assert math.isfinite(c)
    assert c <= path_cost(weights, grid) * (1 + slack) + 1e-6
    assert len(sc) <= len(grid)


def test_shortcut_straightens_staircase():
    w = np.ones((30, 30), np.float32)
    grid = astar(w, (0, 0), (29, 10))
    assert len(shortcut(w, grid)) == 2


def test_speed_profile_respects_limits():
    # a straight run, a 90-degree turn of radius 2 m, another straight run
    a = np.column_stack((np.linspace(0, 20, 41), np.zeros(41)))
    th = np.linspace(-math.pi / 2, 0, 20)
    arc = np.column_stack((20 + 2 * np.cos(th), 2 + 2 * np.sin(th)))
    b = np.column_stack((np.full(40, 22.0), np.linspace(2.5, 22, 40)))
    pts = densify(np.vstack((a, arc[1:], b)), 0.25)
    lim = SpeedLimits(v_max=3.0, a_accel=0.5, a_decel=1.0, a_lat=1.0)
    v, t = speed_profile(pts, lim, v_start=0.0, v_end=0.0)
    k = curvature(pts)
    assert v[0] == 0 and v[-1] == 0 and v.max() <= 3.0 + 1e-9
    assert (v ** 2 * k <= 1.0 + 1e-6).all()
    ds = np.hypot(*np.diff(pts, axis=0).T)
    acc = (v[1:] ** 2 - v[:-1] ** 2) / (2 * ds)
    assert acc.max() <= 0.5 + 1e-6 and acc.min() >= -1.0 - 1e-6
    assert (np.diff(t) > 0).all()
    assert v[np.argmax(k)] <= math.sqrt(1.0 * 2.0) + 0.1     # ~sqrt(a_lat * R) in the turn
    assert v.max() > 2.5, "reaches near v_max on the straights"


def test_speed_limits_validation():
    with pytest.raises(ValueError, match="a_lat"):
        SpeedLimits(v_max=1, a_accel=1, a_decel=1, a_lat=0)
