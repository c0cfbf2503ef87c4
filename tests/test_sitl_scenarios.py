"""The shipped scenarios through the real ``edgepilot`` command, and determinism."""
import json

import numpy as np
import pytest

from edgepilot.sim.lockstep import run_lockstep
from edgepilot.sim.scenario import load_scenario
from tests.plot_util import colour_pixels, read_png

pytestmark = pytest.mark.slow

PASSING = ["ugv_yard", "ugv_corridor", "usv_harbor"]


@pytest.mark.parametrize("name", PASSING)
def test_scenario_passes_end_to_end(name, tmp_path, ep):
    out = tmp_path / "report"
    r = ep("sitl", "run", name, "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["passed"] and summary["collisions"] == 0
    assert summary["waypoints_reached"] == summary["waypoints_total"] >= 4
    assert summary["real_time_factor"] > 1.0
    # decoded: the full-size figure with the driven track drawn (far more red
    # pixels than the legend's sample line alone)
    img = read_png(out / "trajectory.png")
    assert img.shape[1] == 1000 and img.shape[0] >= 400
    assert colour_pixels(img, "#d62728") > 500             # tab:red, the driven track
    track = np.loadtxt(out / "track.csv", delimiter=",", skiprows=1)
    # t, truth x y yaw speed clearance, then the estimate beside it: x y yaw pos_std (issue 15)
    assert track.shape[1] == 10 and track[:, 5].min() >= 0
    assert "result              PASS" in r.stdout and "Reached waypoint" in r.stdout


def test_default_run_is_the_ugv_yard(tmp_path, ep):
    r = ep("sitl", "run", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ugv_yard" in r.stdout
    assert (tmp_path / "reports" / "ugv_yard" / "summary.json").exists()


def test_goal_inside_obstacle_fails_with_a_clear_reason(tmp_path, ep):
    r = ep("sitl", "run", "ugv_goal_in_obstacle", "--out", str(tmp_path))
    assert r.returncode == 1
    flat = " ".join(r.stdout.split())
    assert "FAIL reason: Mission item 3: target (23.0, 11.5) m is inside an obstacle" in flat
    s = json.loads((tmp_path / "summary.json").read_text())
    assert not s["passed"] and s["waypoints_reached"] == 2 and s["collisions"] == 0


def test_unknown_scenario_is_a_usage_error(ep):
    r = ep("sitl", "run", "no_such_scenario")
    assert r.returncode == 2 and "no scenario named 'no_such_scenario'" in r.stderr


def test_same_seed_gives_identical_tracks():
    sc = load_scenario("ugv_corridor")
    a = run_lockstep(sc)
    b = run_lockstep(sc)
    assert a.passed and np.array_equal(a.track, b.track)
    c = run_lockstep(sc, seed=sc.seed + 1)
    assert c.track.shape != a.track.shape or not np.array_equal(c.track, a.track)


def test_usv_same_seed_identical():
    sc = load_scenario("usv_harbor")
    sc = sc.model_copy(update={"mission": sc.mission.model_copy(update={"waypoints": sc.mission.waypoints[:1]})})
    a, b = run_lockstep(sc), run_lockstep(sc)
    assert a.passed and np.array_equal(a.track, b.track)
