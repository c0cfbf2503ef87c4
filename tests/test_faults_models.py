"""Scenario [[faults]] tables are validated with clear errors."""
import pytest

from edgepilot import configs_dir
from edgepilot.sim.scenario import load_scenario
from edgepilot.vehicle.config import ConfigError

BASE = (configs_dir() / "scenarios" / "fault_gps_dropout.toml").read_text()
HEAD = BASE[:BASE.index("[[faults]]")].replace('vehicle = "fault_vehicles/ugv_sensors.toml"', 'vehicle = "ugv"')


def load(tmp_path, text):
    p = tmp_path / "s.toml"
    p.write_text(HEAD + text)
    return load_scenario(p)


def test_a_valid_fault_table_becomes_its_typed_model(tmp_path):
    sc = load(tmp_path, '[[faults]]\ntype = "motor_failure"\nstart_s = 2\nduration_s = 1\nside = "right"\n')
    f = sc.faults[0]
    assert type(f).__name__ == "MotorFailure" and f.side == "right" and f.end_s == 3.0
    assert f.active(2.0) and not f.active(3.0) and f.expect.action == "NONE"


@pytest.mark.parametrize("table, msg", [
    ('type = "gps_meltdown"\nstart_s = 1\nduration_s = 1', "faults.0: Input tag 'gps_meltdown'"),
    ('type = "gps_dropout"\nstart_s = 1', "faults.0.gps_dropout.duration_s: required key is missing"),
    ('type = "serial_corruption"\nstart_s = 1\nduration_s = 1\nrate = 1.5', "faults.0.serial_corruption.rate"),
    ('type = "gps_dropout"\nstart_s = -1\nduration_s = 1', "faults.0.gps_dropout.start_s"),
    ('type = "motor_failure"\nstart_s = 1\nduration_s = 1\nside = "middle"', "faults.0.motor_failure.side"),
    ('type = "lidar_blackout"\nstart_s = 1\nduration_s = 1\nfoo = 2', "faults.0.lidar_blackout.foo: unknown key"),
    ('type = "gps_dropout"\nstart_s = 1\nduration_s = 1\nexpect = { action = "PANIC" }',
     "faults.0.gps_dropout.expect.action"),
])
def test_bad_fault_tables_name_the_key(tmp_path, table, msg):
    with pytest.raises(ConfigError) as e:
        load(tmp_path, "[[faults]]\n" + table + "\n")
    assert msg in str(e.value)


def test_unknown_param_override_is_refused_when_the_core_is_made(tmp_path):
    from edgepilot.sim.simulation import Simulation
    sc = load(tmp_path, '[params]\nFS_NOPE = 1\n')
    with pytest.raises(ConfigError, match="params.FS_NOPE: unknown parameter"):
        Simulation(sc).make_core()
    sc = load(tmp_path, '[params]\nFS_GPS_TIMEOUT = 0\n')
    with pytest.raises(ConfigError, match=r"params.FS_GPS_TIMEOUT: FS_GPS_TIMEOUT must be in \[0.1, 30\]"):
        Simulation(sc).make_core()
