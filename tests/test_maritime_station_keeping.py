"""Station keeping (HOLD / LOITER) for the USV against current and wind."""
import math

import numpy as np
import pytest

from edgepilot.sim.scenario import load_scenario
from edgepilot.sim.simulation import PHYSICS_DT, Simulation
from edgepilot.vehicle.types import Mode

SCENARIO = """
name = "hold_test"
vehicle = "usv"
seed = 5
[world]
bounds = [0.0, 0.0, 200.0, 200.0]
origin = [54.40, 10.20]
resolution = 0.5
surface = "water"
current = [0.5, 0.0]
wind = [2.0, 1.0]
[start]
x = 100.0
y = 100.0
yaw_deg = 90.0
[mission]
waypoints = [[150, 100]]
"""


def run_hold(tmp_path, mode=Mode.HOLD, seconds=150.0, into_disturbance=True, vehicle_extra=""):
    vfile = tmp_path / "usv.toml"
    from edgepilot import configs_dir
    base = (configs_dir() / "vehicles" / "usv.toml").read_text()
    vfile.write_text(base + f"\n[maritime]\nhold_into_disturbance = {str(into_disturbance).lower()}\n" + vehicle_extra)
    sfile = tmp_path / "hold.toml"
    sfile.write_text(SCENARIO.replace('vehicle = "usv"', f'vehicle = "{vfile}"'))
    sim = Simulation(load_scenario(sfile))
    core = sim.make_core()
    every = int(round(0.1 / PHYSICS_DT))
    cmd = core.last_command
    rows = []
    armed = False
    for step in range(int(seconds / PHYSICS_DT)):
        t = step * PHYSICS_DT
        if step % every == 0:
            cmd = core.step(t, sim.sensors(t))
            if not armed and core.state.valid:
                assert core.arm(t).ok and core.set_mode(t, mode).ok
                armed = True
            tr = sim.truth
            rows.append((t, tr.x, tr.y, tr.yaw))
        sim.step(PHYSICS_DT, cmd)
    return np.array(rows), core


@pytest.mark.parametrize("mode", [Mode.HOLD, Mode.LOITER])
def test_hold_keeps_position_against_current_and_wind(tmp_path, mode):
    tr, core = run_hold(tmp_path, mode)
    settled = tr[tr[:, 0] > 60]
    d = np.hypot(settled[:, 1] - 100.0, settled[:, 2] - 100.0)
    # Zero thrust would drift 0.5 m/s x 150 s = 75 m; GPS noise is 0.5 m.
    assert d.max() < 4.0 and np.median(d) < 2.0
    # Bow into the disturbance: current sets east, wind blows to the NE, so
    # the net push is to the east-north-east and the bow points roughly west.
    yaw = settled[:, 3]
    mean_yaw = math.atan2(np.sin(yaw).mean(), np.cos(yaw).mean())
    assert abs((mean_yaw - math.pi + math.pi) % (2 * math.pi) - math.pi) < math.radians(35)


def test_hold_without_bow_into_disturbance_still_holds_loosely(tmp_path):
    tr, _ = run_hold(tmp_path, into_disturbance=False)
    settled = tr[tr[:, 0] > 60]
    d = np.hypot(settled[:, 1] - 100.0, settled[:, 2] - 100.0)
    assert d.max() < 10.0


def test_a_ugv_in_hold_still_just_stops():
    sim = Simulation(load_scenario("ugv_corridor"))
    core = sim.make_core()
    assert core.maritime is None
    for step in range(300):
        t = step * 0.1
        cmd = core.step(t, sim.sensors(t))
        if core.state.valid and not core.armed:
            assert core.arm(t).ok and core.set_mode(t, Mode.HOLD).ok
        sim.step(0.1, cmd)
    assert core.armed and (cmd.left, cmd.right) == (0.0, 0.0)
