"""Hardware-in-the-loop: an unmodified `edgepilot vehicle run` process flies
a scenario through the simulator's motor controller and GPS on real ptys,
and the scenario passes as it does in lockstep."""
from __future__ import annotations

import pytest

from edgepilot.sim.hil import run_hil
from edgepilot.sim.lockstep import run_lockstep
from edgepilot.sim.scenario import load_scenario
from tests.conftest import run_edgepilot
from tests.hw_util import hil_config

pytestmark = [pytest.mark.interop, pytest.mark.slow]


@pytest.mark.timeout(480)   # hang guard: start-up may take minutes on a cold cache (see STARTUP_DEADLINE_S)
def test_short_scenario_passes_in_hil_as_in_lockstep(tmp_path):
    sc = load_scenario("ugv_hil_short")
    lock = run_lockstep(sc)
    assert lock.passed, lock.reasons
    res = run_hil(sc, hil_config(tmp_path), work_dir=tmp_path / "work")
    assert res.passed, (res.reasons, res.vehicle_output[-3000:])
    assert res.waypoints_reached == lock.waypoints_reached == 2
    assert res.collisions == 0 and res.min_clearance_m >= sc.criteria.min_clearance_m
    out = res.vehicle_output
    # The vehicle process really used its serial drivers and reported its start-up.
    assert "driver          motor controller" in out and "found" in out
    assert "first control tick" in out
    assert "motor_rx_dropped 0" in out and "gps_dropped 0" in out


def test_hil_refuses_a_config_without_pty_paths(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(hil_config(tmp_path).read_text().replace(f'port = "{tmp_path}/ttyMOTOR"',
                                                             'port = "socket://127.0.0.1:9"'))
    r = run_edgepilot("sitl", "run", "ugv_hil_short", "--hil", "--hil-config", str(cfg), timeout=60)
    assert r.returncode == 2
    assert "must be a file path" in r.stderr
