"""The shipped scenarios through the real ``edgepilot`` command, and determinism."""
import json
import os

import numpy as np
import pytest

from edgepilot.sim.lockstep import run_lockstep
from edgepilot.sim.scenario import load_scenario
from tests.conftest import REPO, edgepilot_cmd, process_batch, selected_in_module
from tests.plot_util import colour_pixels, read_png

pytestmark = pytest.mark.slow

PASSING = ["ugv_yard", "ugv_corridor", "usv_harbor"]


@pytest.fixture(scope="module")
def sitl_runs(request, tmp_path_factory):
    """The `edgepilot sitl run`s of the tests selected in this module (seeded
    lockstep runs, 1-4 s of one core each), started together at the first
    of them (conftest.ProcessBatch, two at a time); each test asserts on its
    own: ``sitl_runs(key)`` -> (process, its folder: the report folder, or
    the working directory of the run without arguments)."""
    base = tmp_path_factory.mktemp("sitl")
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    runs = {}
    for item in selected_in_module(request):
        name = item.originalname
        if name == "test_scenario_passes_end_to_end":
            sc = item.callspec.params["name"]
            runs[sc] = (["sitl", "run", sc, "--out", base / sc / "report"], base / sc / "report")
        elif name == "test_default_run_is_the_ugv_yard":
            runs["default"] = (["sitl", "run"], base / "default")
        elif name == "test_goal_inside_obstacle_fails_with_a_clear_reason":
            runs["goal"] = (["sitl", "run", "ugv_goal_in_obstacle", "--out", base / "goal"], base / "goal")
        elif name == "test_unknown_scenario_is_a_usage_error":
            runs["unknown"] = (["sitl", "run", "no_such_scenario"], base / "unknown")
    with process_batch() as batch:
        for key, (args, folder) in runs.items():
            folder.mkdir(parents=True, exist_ok=True)
            cwd = folder if key == "default" else REPO
            batch.submit(key, edgepilot_cmd() + args, timeout=300, cwd=cwd, env=env)

        def result(key):
            return batch.result(key), runs[key][1]

        yield result


@pytest.mark.parametrize("name", PASSING)
def test_scenario_passes_end_to_end(name, sitl_runs):
    r, out = sitl_runs(name)
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


def test_default_run_is_the_ugv_yard(sitl_runs):
    r, tmp_path = sitl_runs("default")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ugv_yard" in r.stdout
    assert (tmp_path / "reports" / "ugv_yard" / "summary.json").exists()


def test_goal_inside_obstacle_fails_with_a_clear_reason(sitl_runs):
    r, tmp_path = sitl_runs("goal")
    assert r.returncode == 1
    flat = " ".join(r.stdout.split())
    assert "FAIL reason: Mission item 3: target (23.0, 11.5) m is inside an obstacle" in flat
    s = json.loads((tmp_path / "summary.json").read_text())
    assert not s["passed"] and s["waypoints_reached"] == 2 and s["collisions"] == 0


def test_unknown_scenario_is_a_usage_error(sitl_runs):
    r, _ = sitl_runs("unknown")
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
