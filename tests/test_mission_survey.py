"""Survey blocks: expanded into boustrophedon waypoints and flown in SITL."""
from __future__ import annotations

import math

import numpy as np
import pytest

from edgepilot.sim.lockstep import run_lockstep
from edgepilot.sim.scenario import load_scenario
from edgepilot.sim.simulation import Simulation
from edgepilot.vehicle.mission.survey import expand_survey

SQUARE = [[0.0, 0.0], [10.0, 0.0], [10.0, 6.0], [0.0, 6.0]]


def test_expand_survey_lines_are_swath_apart_along_heading_and_inside_area():
    wps = expand_survey(SQUARE, 2.0, 0.0, start=(-1.0, -1.0))
    # lines along x at y = 1, 3, 5 (swath/2 inside the edges), each flown end to end
    ys = sorted({round(float(y), 6) for y in wps[:, 1]})
    assert ys == pytest.approx([1.0, 3.0, 5.0])
    assert (wps[:, 0] >= -1e-9).all() and (wps[:, 0] <= 10 + 1e-9).all()
    assert np.hypot(*(wps[0] - (-1.0, -1.0))) < np.hypot(*(wps[-1] - (-1.0, -1.0)))
    # rotated heading: lines run north-south
    wn = expand_survey(SQUARE, 2.0, math.pi / 2)
    xs = sorted({round(float(x), 6) for x in wn[:, 0]})
    assert xs == pytest.approx([1.0, 3.0, 5.0, 7.0, 9.0])


def test_expand_survey_bad_input():
    with pytest.raises(ValueError, match="swath"):
        expand_survey(SQUARE, 0.0, 0.0)
    with pytest.raises(ValueError, match="area"):
        expand_survey([[0, 0], [1, 1]], 1.0, 0.0)


def test_survey_scenario_flies_every_line():
    sc = load_scenario("ugv_survey")
    sim = Simulation(sc)
    wps = sim.survey_waypoints()
    assert len(wps) >= 8     # 4 lines, two ends each
    items = sim.mission_items()
    assert len(items) == 1 + 1 + len(wps)
    r = run_lockstep(sc)
    assert r.passed, r.reasons
    assert r.waypoints_reached == r.waypoints_total == 1 + len(wps)
    # the track passes within the acceptance radius of every survey line end
    track = r.track[:, 1:3]
    d = np.hypot(track[:, None, 0] - wps[None, :, 0], track[:, None, 1] - wps[None, :, 1]).min(axis=0)
    assert (d <= sc.vehicle_config.control.acceptance_radius + 0.1).all()
