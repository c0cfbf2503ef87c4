"""SITL: an obstacle appears on the planned path mid-mission, is reported to
the vehicle, and the vehicle replans around it without collision."""
from __future__ import annotations

import numpy as np

from edgepilot.sim.lockstep import run_lockstep
from edgepilot.sim.scenario import load_scenario


def test_new_obstacle_on_path_triggers_replan_and_mission_completes():
    sc = load_scenario("ugv_replan")
    r = run_lockstep(sc)
    assert r.passed, r.reasons
    assert r.collisions == 0
    kinds = [e.kind for e in r.events]
    assert "replan" in kinds
    t_replan = next(e.t for e in r.events if e.kind == "replan")
    assert 6.0 <= t_replan <= 6.2, "replanned within one control cycle of the report"
    # the first plan ran straight through where the wall appeared; the final
    # plans go round it (no point of them inside the wall's x-y box)
    first = r.planned_paths[0]
    assert any(20 <= x <= 21 for x, _ in first) or (first[:, 0].min() < 20 < first[:, 0].max())
    after = [p for p in r.planned_paths[1:]]
    assert after, "a new path was planned"
    dense = np.vstack([np.linspace(a, b, 50) for p in after for a, b in zip(p[:-1], p[1:])])
    inside = (dense[:, 0] >= 19.9) & (dense[:, 0] <= 21.1) & (dense[:, 1] >= 5.9) & (dense[:, 1] <= 15.1)
    assert not inside.any()


def test_sim_reports_obstacle_once_when_it_appears():
    from edgepilot.sim.simulation import Simulation
    from edgepilot.vehicle.types import ActuatorCommand
    sim = Simulation(load_scenario("ugv_replan"))
    assert sim.map_updates() == []
    for _ in range(601):
        sim.step(0.01, ActuatorCommand.stop())
    ups = sim.map_updates()
    assert len(ups) == 1 and ups[0].shape[1] == 2
    assert ups[0][:, 0].min() >= 19.9 and ups[0][:, 0].max() <= 21.1
    assert sim.map_updates() == []
