"""fleet_restricted_entry: a UGV patrols a yard loop; a person in an orange
vest walks into the restricted fuel depot.  The UGV's camera says what its
lidar track is (a person: vehicle/fleet/picture.py), the fleet's threat
watch (sim/fleet/threat_watch.py) raises restricted_entry with its score
and the zone in its reasons, and an inspect task sends the patroller to
look.  Run the way a user runs it (`edgepilot sitl run`) on the file's seed
and two more, plus the two ways it must not alert."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from edgepilot import configs_dir

SCENARIO = configs_dir() / "fleet" / "fleet_restricted_entry.toml"


def run(tmp_path, scenario=SCENARIO, *extra):
    out = tmp_path / "rep"
    p = subprocess.run([sys.executable, "-m", "edgepilot", "sitl", "run", str(scenario), "--quiet", "--out", str(out),
                        *extra], capture_output=True, text=True, timeout=600)
    assert (out / "summary.json").exists(), p.stdout + p.stderr
    return p, json.loads((out / "summary.json").read_text())


def variant(tmp_path, subs):
    text = SCENARIO.read_text()
    for a, b in subs:
        assert a in text, a
        text = text.replace(a, b)
    f = tmp_path / "restricted.toml"
    f.write_text(text)
    return f


@pytest.mark.parametrize("seed", [5, 1, 2])
def test_person_entering_the_depot_is_alerted_and_inspected(tmp_path, seed):
    p, s = run(tmp_path, SCENARIO, "--seed", str(seed))
    assert s["seed"] == seed
    assert p.returncode == 0, p.stdout + "\n".join(s["reasons"])
    h = s["harbour"]
    [e] = h["restricted_entries"]
    assert e["person"] == "walker" and e["zone"] == "depot"
    assert 20.0 <= e["entered_s"] <= 25.0                     # truth: 10 s + 10 m at 0.8 m/s
    assert e["alert_after_entry_s"] <= 10.0 and 0.5 <= e["score"] <= 1.0
    assert any("restricted zone depot" in r for r in e["reasons"]), e["reasons"]
    # the camera said what it is, the lidar how it moves
    assert e["sources"] == ["camera", "lidar"]
    [a] = [a for a in h["alerts"] if a["kind"] == "restricted_entry"]
    assert a["subject"] == "person" and a["truth"] == "walker" and a["truth_error_m"] < 3.0
    assert a["statustext"].startswith("ALERT restricted_entry track-") and a["by"] == "ugv1" and a["sysid"] == 1
    assert h["alert_packets"] == len(h["alerts"])
    # one inspect task, visited (believed and true position both near the spot), then back on patrol
    [i] = h["inspections"]
    assert i["by"] == "ugv1" and i["alert"] == "restricted_entry" and i["zone"] == "depot"
    assert i["visited_at"] is not None and i["visit_error_m"] <= 5.5 and i["ended"] is not None
    assert h["patrol_gap"] and h["patrol_gap"][-1]["why"] == "ugv1 rejoins the patrol"
    assert h["shadows"] == []
    assert "entry  walker into depot" in p.stdout and "inspect inspect-v" in p.stdout and "visited at" in p.stdout


def test_a_person_walking_past_the_depot_is_not_alerted(tmp_path):
    """North of the depot, parallel to its edge: no alert, no task."""
    f = variant(tmp_path, [("start = [30.0, 8.0]", "start = [30.0, 19.0]"),
                           ("expect_inspections = 1", "expect_inspections = 0")])
    p, s = run(tmp_path, f)
    assert p.returncode == 0, p.stdout + "\n".join(s["reasons"])
    h = s["harbour"]
    assert h["alerts"] == [] and h["inspections"] == [] and h["restricted_entries"] == []


def test_without_the_camera_the_lidar_track_is_no_person(tmp_path):
    """The camera is what makes the lidar track a person: with it left out
    of the picture the walker enters unalerted and the run fails, naming it."""
    f = variant(tmp_path, [('camera_labels = { orange = "person" }', "camera_labels = {}")])
    p, s = run(tmp_path, f)
    assert p.returncode == 1
    assert any("walker entered restricted zone depot" in r and "no alert" in r for r in s["reasons"]), s["reasons"]
    assert s["harbour"]["alerts"] == []
