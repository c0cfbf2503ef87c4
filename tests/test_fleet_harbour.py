"""fleet_harbour_security: 3 USVs patrol, an AIS-dark fast boat runs at the
protected zone; the fleet's threat watch (sim/fleet/threat_response.py)
alerts, the nearest free boat shadows it at the stand-off and the others
close the patrol gap.  Run the way a user runs it (`edgepilot sitl run`),
on the file's seed and on other seeds with small timing changes."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from conftest import process_batch, selected_in_module
from edgepilot import configs_dir

SCENARIO = configs_dir() / "fleet" / "fleet_harbour_security.toml"


def sitl(*args, timeout=900):
    return subprocess.run([sys.executable, "-m", "edgepilot", "sitl", "run", *args], capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def harbour_runs(request, tmp_path_factory):
    """The harbour runs of the tests selected in this module (the file's
    seed, the variants), started together at the first of them
    (conftest.ProcessBatch: each is a seeded lockstep run, ~35 s of one
    core); each test reads its own: ``harbour_runs(key)`` -> (process,
    summary, report folder)."""
    base = tmp_path_factory.mktemp("harbour")
    folders = {}
    with process_batch() as batch:
        for item in selected_in_module(request):
            if item.originalname == "test_harbour_security_passes_on_its_seed":
                key, scenario, extra = "file-seed", SCENARIO, []
            elif item.originalname == "test_harbour_security_other_seeds_and_timings":
                key = item.callspec.params["variant"]
                seed, subs = VARIANTS[key]
                text = SCENARIO.read_text()
                for a, b in subs:
                    text = text.replace(a, b)
                scenario = base / key / "harbour.toml"
                scenario.parent.mkdir()
                scenario.write_text(text)
                extra = ["--seed", str(seed)]
            else:
                continue
            folders[key] = base / key / "rep"
            batch.submit(key, [sys.executable, "-m", "edgepilot", "sitl", "run", scenario, "--quiet",
                               "--out", folders[key], *extra])

        def result(key):
            p = batch.result(key)
            out = folders[key]
            assert (out / "summary.json").exists(), p.stdout + p.stderr
            return p, json.loads((out / "summary.json").read_text()), out

        yield result


def check(p, s):
    """The issue's pass criteria, read back from the summary."""
    assert p.returncode == 0, p.stdout + "\n".join(s["reasons"])
    h = s["harbour"]
    det = h["detection"]["fastboat"]
    assert det["ais"] is False and 0 <= det["latency_s"] <= 10.0
    # the alert: score, reasons, a STATUSTEXT line and the structured message
    first = [a for a in h["alerts"] if a["truth"] == "fastboat"]
    assert {a["kind"] for a in first} >= {"ais_dark", "zone_cpa"}
    assert all(0.5 <= a["score"] <= 1 and a["reasons"] and a["statustext"].startswith("ALERT ") for a in first)
    assert h["alert_packets"] == len(h["alerts"])
    assert all(a["truth_error_m"] < 5.0 for a in first)             # where we say it is vs where it is
    # one vessel, one shadow, by the nearest free boat (true distances)
    assert len(h["shadows"]) == 1 and h["shadows_per_vessel"] == {"fastboat": 1}
    sh = h["shadows"][0]
    cand = sh["candidates"]
    assert sh["by"] == sh["nearest_free_truth"] == min(cand, key=lambda k: cand[k]["truth_m"])
    # the vessel had more than one track (lost, then seen again): still one vessel
    v = next(v for v in h["vessels"].values() if v["truth"] == "fastboat")
    assert len(v["tracks"]) >= 2
    # stand-off: the dash (faster than the boats) is left out, the rest is held
    so = h["standoff"][0]
    assert so["not_assessed_contact_faster_s"] > 0 and so["assessed_s"] >= 30.0
    assert so["inside_fraction"] >= 0.95 and so["worst_assessed_error_m"] <= so["tolerance_m"] + 1.0
    # the patrol closes up when the shadower leaves and spreads again when it is back
    gaps = h["patrol_gap"]
    assert [g["boats"] for g in gaps] == [2, 3]
    assert all(g["closed_after_s"] is not None and g["closed_after_s"] <= 120.0 for g in gaps)
    assert gaps[0]["largest_gap_at_change_m"] > 1.1 * gaps[0]["ideal_gap_m"]   # there was a gap to close
    assert s["fleet"]["collisions"] == 0 and s["fleet"]["min_separation_m"] >= 2.0
    return h


def test_harbour_security_passes_on_its_seed(harbour_runs):
    p, s, out = harbour_runs("file-seed")
    check(p, s)
    assert s["seed"] == 7 and (out / "trajectory.png").stat().st_size > 10_000
    # the operator's view on the console: the alert with its score and reasons, the shadow, the patrol
    assert "alert  [" in p.stdout and "ais_dark score" in p.stdout and "no AIS within" in p.stdout
    assert "shadow shadow-v1 by usv3" in p.stdout and "gap closed" in p.stdout


VARIANTS = {
    "seed-1": (1, []),
    "seed-2": (2, []),
    "seed-3-faster-patrol": (3, [("speed = 1.2", "speed = 1.35")]),
    "seed-4-starts-shifted": (4, [("x = 140.0, y = 40.0", "x = 150.0, y = 40.0"),
                                  ("x = 170.0, y = 110.0", "x = 170.0, y = 100.0"),
                                  ("x = 120.0, y = 120.0", "x = 120.0, y = 128.0")]),
}


@pytest.mark.slow
# three variants in the suite (it must stay under 20 min on 2 cores: with the
# file's seed that is four runs, two rounds of the batch's two workers);
# EDGEPILOT_ALL_SEEDS=1 runs seed-1 as well
@pytest.mark.parametrize("variant", sorted(VARIANTS) if os.environ.get("EDGEPILOT_ALL_SEEDS")
                         else sorted(set(VARIANTS) - {"seed-1"}))
def test_harbour_security_other_seeds_and_timings(harbour_runs, variant):
    seed, subs = VARIANTS[variant]
    text = SCENARIO.read_text()
    for a, _ in subs:
        assert a in text                  # the variant really changes the file (harbour_runs wrote it)
    p, s, _ = harbour_runs(variant)
    assert s["seed"] == seed
    check(p, s)


def test_patrol_loop_geometry():
    from edgepilot.sim.fleet.threat_response import Loop

    loop = Loop([(0, 0), (50, 0), (50, 100), (0, 100)])
    assert loop.length == 300.0
    assert loop.point(75.0) == (50.0, 25.0) and loop.point(375.0) == (50.0, 25.0)
    s, d = loop.project(60.0, 25.0)
    assert math.isclose(s, 75.0) and math.isclose(d, 10.0)
    assert sorted(loop.gaps([10.0, 110.0, 210.0])) == [100.0, 100.0, 100.0]
    assert sorted(loop.gaps([10.0, 110.0])) == [100.0, 200.0]


def test_bad_harbour_file_names_file_and_key(tmp_path):
    text = SCENARIO.read_text().replace("leg_speeds = [3.0, 1.0,", "leg_speeds = [3.0,")
    bad = tmp_path / "bad_harbour.toml"
    bad.write_text(text)
    p = sitl(str(bad), "--quiet")
    assert p.returncode == 2
    assert str(bad) in p.stderr and "leg_speeds" in p.stderr and "one speed per leg" in p.stderr
    text = SCENARIO.read_text().replace('name = "usv3"', 'name = "usv3"\nmission = { waypoints = [[1.0, 1.0]] }') \
        .replace("[patrol]", '[patrol]\nvehicles = ["usv1", "usv9"]')
    bad.write_text(text)
    p = sitl(str(bad), "--quiet")
    assert p.returncode == 2 and "patrol.vehicles" in p.stderr and "usv9" in p.stderr
