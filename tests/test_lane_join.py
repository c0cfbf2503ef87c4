"""A vessel joining a survey lane prefers a join without an S-bend
(vehicle/modes/navigation.py ``_extra_turning``): in flood SAR the boat
flew the planner's S-bend onto her first lane with its heading lagging the
reversal, left the lane by 0.9 m on the far side and passed a casualty
3 m off the lane at 0.95 m."""
from __future__ import annotations

import math

import numpy as np

from edgepilot.vehicle.modes.navigation import _extra_turning


def _arc(x0, y0, yaw0, radius, turn, n=20):
    """Points of a circular arc from (x0, y0) on heading yaw0, turning
    ``turn`` rad (> 0 left) at ``radius`` m."""
    side = 1.0 if turn > 0 else -1.0
    cx, cy = x0 - side * radius * math.sin(yaw0), y0 + side * radius * math.cos(yaw0)
    a = np.linspace(0.0, turn, n) + yaw0
    return np.column_stack((cx + side * radius * np.sin(a), cy - side * radius * np.cos(a)))


def test_a_turn_one_way_has_no_extra_turning():
    pts = _arc(0.0, 0.0, math.radians(126), 4.0, math.radians(54))
    assert _extra_turning(pts, math.radians(126)) < 1e-9
    straight = np.array([[0.0, 0.0], [5.0, 0.0], [9.0, 0.0]])
    assert _extra_turning(straight, 0.0) == 0.0


def test_an_s_bend_counts_twice_its_overshoot():
    first = _arc(0.0, 0.0, 0.0, 4.0, math.radians(30))
    back = _arc(*first[-1], math.radians(30), 4.0, math.radians(-30))
    pts = np.vstack((first, back[1:]))
    assert math.radians(55) < _extra_turning(pts, 0.0) <= math.radians(60)   # chords cut a sampled arc short
