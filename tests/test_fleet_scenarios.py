"""Fleet SITL: several vehicles in one lockstep world (sim/fleet), run the
way a user runs them (`edgepilot sitl run fleet_xxx`), with their reports."""
from __future__ import annotations

import csv
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from edgepilot.sim.fleet.world import rect_gap


def sitl(*args, timeout=900):
    return subprocess.run([sys.executable, "-m", "edgepilot", "sitl", "run", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_two_vehicles_one_world_cli_report(tmp_path):
    out = tmp_path / "rep"
    p = sitl("fleet_crossing", "--quiet", "--out", str(out))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "PASS" in p.stdout and "ugv1" in p.stdout and "ugv2" in p.stdout and "min separation" in p.stdout
    s = json.loads((out / "summary.json").read_text())
    assert [r["vehicle"] for r in s["vehicles"]] == ["ugv1", "ugv2"]
    assert all(r["mission_complete"] for r in s["vehicles"])
    f = s["fleet"]
    assert f["vehicles"] == 2 and f["collisions"] == 0 and f["vehicle_collisions"] == 0
    # their routes cross: they came close, and kept apart
    assert 0.5 <= f["min_separation_m"] < 6.0
    for name in ("ugv1", "ugv2"):
        rows = np.loadtxt(out / "tracks" / f"{name}.csv", delimiter=",", skiprows=1)
        assert rows.shape[1] == 6 and len(rows) > 100
    with open(out / "tracks.csv") as fh:
        who = {r["vehicle"] for r in csv.DictReader(fh)}
    assert who == {"ugv1", "ugv2"}
    assert (out / "trajectory.png").stat().st_size > 10_000
    # the same seed gives the same run
    p2 = sitl("fleet_crossing", "--quiet", "--out", str(tmp_path / "rep2"))
    s2 = json.loads((tmp_path / "rep2" / "summary.json").read_text())
    assert s2["fleet"]["min_separation_m"] == f["min_separation_m"]
    assert [r["path_length_m"] for r in s2["vehicles"]] == [r["path_length_m"] for r in s["vehicles"]]


def test_bad_fleet_file_names_file_and_key(tmp_path):
    from edgepilot import configs_dir

    text = (configs_dir() / "fleet" / "fleet_crossing.toml").read_text().replace("sysid = 2", "sysid = 1")
    bad = tmp_path / "bad_fleet.toml"
    bad.write_text(text)
    p = sitl(str(bad), "--quiet")
    assert p.returncode == 2
    assert str(bad) in p.stderr and "vehicles.1.sysid" in p.stderr and "repeats" in p.stderr


def test_rect_gap_matches_shapely():
    from shapely.geometry import Polygon

    from edgepilot.sim.fleet.world import _corners

    rng = np.random.default_rng(4)
    for _ in range(300):
        a = (rng.uniform(-3, 3), rng.uniform(-3, 3), rng.uniform(-math.pi, math.pi))
        b = (rng.uniform(-3, 3), rng.uniform(-3, 3), rng.uniform(-math.pi, math.pi))
        la, wa, lb, wb = rng.uniform(0.3, 2.5, 4)
        want = Polygon(_corners(a, la, wa)).distance(Polygon(_corners(b, lb, wb)))
        assert rect_gap(a, la, wa, b, lb, wb) == pytest.approx(want, abs=1e-9)
