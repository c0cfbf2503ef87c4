"""The fleet runner's control ticks in two passes (sim/fleet/runner.py:
every member's sensor frame, then every due core's step): the same runs as
sensing each member right before its own core step, since no core step
reaches a member's sensors."""
from __future__ import annotations

import numpy as np
import pytest

import edgepilot.sim.fleet.runner as runner
from edgepilot.sim.fleet.scenario import load_fleet_scenario
from edgepilot.sim.lockstep import act_core, sense_core, tick_core


def _outcome(res):
    return ([v.track for v in res.vehicles], [[(e.t, e.kind, e.text) for e in v.events] for v in res.vehicles],
            res.min_separation_m, res.steps)


@pytest.mark.parametrize("name, seconds", [("fleet_crossing", 30.0), ("fleet_flood_sar", 30.0)])
def test_two_passes_run_as_sensing_right_before_each_core_step(monkeypatch, name, seconds):
    """``sense_core`` deferred to the core's own step (the frame taken
    right before it, after the members before it stepped): bit for bit the
    same tracks, events and separation as the two passes."""
    two_pass = _outcome(runner.run_fleet(load_fleet_scenario(name), max_time_s=seconds))
    monkeypatch.setattr(runner, "sense_core", lambda sim, core, t: (sim, core, t))
    monkeypatch.setattr(runner, "act_core", lambda sim, core, t, later: tick_core(*later))
    interleaved = _outcome(runner.run_fleet(load_fleet_scenario(name), max_time_s=seconds))
    tracks_a, events_a, sep_a, steps_a = two_pass
    tracks_b, events_b, sep_b, steps_b = interleaved
    assert steps_a == steps_b and repr(sep_a) == repr(sep_b) and events_a == events_b
    assert all(np.array_equal(a, b) for a, b in zip(tracks_a, tracks_b)) and len(tracks_a) == len(tracks_b)
    assert sum(len(e) for e in events_a) > 0


def test_tick_core_is_sense_then_act():
    """``tick_core`` is ``sense_core`` then ``act_core``: a simulation
    ticked either way gives the same setpoints and truth."""
    from edgepilot.sim.scenario import load_scenario
    from edgepilot.sim.simulation import PHYSICS_DT, Simulation

    sims = [Simulation(load_scenario("ugv_yard")) for _ in range(2)]
    cores = [s.make_core() for s in sims]
    for s, c in zip(sims, cores):
        assert c.set_mission(s.mission_items()).ok
    for step in range(300):
        t = step * PHYSICS_DT
        if step % 5 == 0:
            tick_core(sims[0], cores[0], t)
            act_core(sims[1], cores[1], t, sense_core(sims[1], cores[1], t))
            assert sims[0]._applied == sims[1]._applied
        for s in sims:
            s.step(PHYSICS_DT)
    assert repr(vars(sims[0].truth)) == repr(vars(sims[1].truth))
