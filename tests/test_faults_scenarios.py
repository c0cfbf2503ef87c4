"""The fault scenario suite in lockstep: every scenario's expectations
(failsafe action, reaction time, motors stopped, resumption), no collision
and no fence breach; determinism; the expectations can fail."""

import numpy as np
import pytest

from edgepilot import configs_dir
from edgepilot.sim.lockstep import run_lockstep
from edgepilot.sim.scenario import load_scenario
from tests.plot_util import colour_blobs, colour_pixels, read_png

pytestmark = pytest.mark.slow

FAULT_SCENARIOS = sorted(p.stem for p in (configs_dir() / "scenarios").glob("fault_*.toml"))


def test_there_are_at_least_fifteen_fault_scenarios_covering_every_fault_type():
    from edgepilot.sim.faults import FAULT_TYPES
    assert len(FAULT_SCENARIOS) >= 15
    used = {f.type for n in FAULT_SCENARIOS for f in load_scenario(n).faults}
    assert used == set(FAULT_TYPES)


@pytest.mark.parametrize("name", FAULT_SCENARIOS)
def test_fault_scenario(name):
    sc = load_scenario(name)
    res = run_lockstep(sc)
    assert res.passed, res.reasons
    assert res.collisions == 0
    assert len(res.faults) == len(sc.faults)
    for f, out in zip(sc.faults, res.faults):
        if f.expect.action in ("HOLD", "RTL", "STOP"):
            assert out.action == f.expect.action and out.reaction_s is not None
            if f.expect.max_reaction_s:
                assert out.reaction_s <= f.expect.max_reaction_s
        if f.expect.resume:
            assert out.resumed and res.mission_complete
    s = res.summary()["failsafes"]
    assert [x["ok"] for x in s["faults"]] == [True] * len(sc.faults)
    if any(f.expect.action in ("HOLD", "RTL", "STOP") for f in sc.faults):
        assert any(e["phase"] == "trip" for e in s["events"])


def test_estop_stops_the_motors_within_100_ms_of_simulated_time():
    for name in ("fault_estop_mavlink", "fault_estop_serial"):
        res = run_lockstep(load_scenario(name))
        out = res.faults[0]
        assert out.motors_stopped_s is not None and out.motors_stopped_s <= 0.1
        assert out.trigger == "estop" and out.reaction_s <= 0.1
        t0 = out.start_s
        tr = res.track
        after = tr[(tr[:, 0] >= t0 + 1.0) & (tr[:, 0] < t0 + 1.5)]
        assert after[:, 4].max() < 0.05          # and the vehicle is standing a second later


def test_same_seed_same_track_and_events():
    sc = load_scenario("fault_gps_dropout")
    a, b = run_lockstep(sc), run_lockstep(sc)
    assert np.array_equal(a.track, b.track)
    assert [(e.t, e.text) for e in a.events] == [(e.t, e.text) for e in b.events]


def _with_expect(name, **expect):
    sc = load_scenario(name)
    f = sc.faults[0]
    f2 = f.model_copy(update={"expect": f.expect.model_copy(update=expect)})
    return sc.model_copy(update={"faults": [f2]})


def test_wrong_expectations_fail_with_reasons():
    res = run_lockstep(_with_expect("fault_gps_dropout", action="RTL"))
    assert not res.passed and any("expected RTL (gps) after onset" in r for r in res.reasons)
    res = run_lockstep(_with_expect("fault_gcs_link_loss", max_reaction_s=1.0))
    assert not res.passed and any("limit 1 s" in r for r in res.reasons)
    res = run_lockstep(_with_expect("fault_mavlink_degraded", action="HOLD", trigger="gcs"))
    assert not res.passed


def test_unexpected_failsafe_fails_a_none_expectation():
    sc = load_scenario("fault_serial_corruption")
    f = sc.faults[0].model_copy(update={"rate": 1.0})
    res = run_lockstep(sc.model_copy(update={"faults": [f]}))
    assert not res.passed and any("unexpected failsafe" in r and "motor controller link lost" in r
                                  for r in res.reasons)


def test_fence_breach_and_crossing_collision_are_detected_when_safety_is_off():
    sc = load_scenario("fault_fence_exclusion")
    sc = sc.model_copy(update={"params": {"FENCE_ACTION": 0.0}})
    res = run_lockstep(sc)
    assert any("fence breached by the footprint" in r for r in res.reasons)
    sc = load_scenario("fault_person_crossing")
    sc = sc.model_copy(update={"params": {"AVOID_ENABLE": 0.0, "AVOID_MOVERS": 0.0}})
    res = run_lockstep(sc)
    assert any("collision with the crossing person" in r for r in res.reasons)


def test_sitl_run_prints_failsafes_and_marks_them_on_the_plot(tmp_path, ep):
    import json
    r = ep("sitl", "run", "fault_gps_dropout", "--out", str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "failsafes" in r.stdout and "gps" in r.stdout and "HOLD" in r.stdout
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["failsafes"]["faults"][0]["trigger"] == "gps"
    img = read_png(tmp_path / "trajectory.png")
    assert colour_pixels(img, "#d62728") > 500             # the driven track
    # the gold failsafe star on the track, besides the one in the legend
    assert colour_blobs(img, "#ffd700") >= 2
