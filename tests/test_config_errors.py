"""Bad vehicle and scenario files refuse to load, naming file, key and expectation."""
from pathlib import Path

import pytest

from edgepilot import configs_dir
from edgepilot.sim.scenario import load_scenario
from edgepilot.vehicle.config import ConfigError, load_vehicle_config

UGV = (configs_dir() / "vehicles" / "ugv.toml").read_text()
YARD = (configs_dir() / "scenarios" / "ugv_yard.toml").read_text()


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_shipped_configs_load():
    for p in (configs_dir() / "vehicles").glob("*.toml"):
        assert load_vehicle_config(p).name
    for p in (configs_dir() / "scenarios").glob("*.toml"):
        sc = load_scenario(p)
        assert sc.vehicle_config is not None and sc.mission.waypoints


def test_wrong_type_names_file_key_and_expectation(tmp_path):
    p = write(tmp_path, "bad.toml", UGV.replace("max_speed = 1.5", 'max_speed = "fast"'))
    with pytest.raises(ConfigError) as e:
        load_vehicle_config(p)
    msg = str(e.value)
    assert str(p) in msg and "limits.max_speed" in msg and "valid number" in msg and "'fast'" in msg


def test_negative_value_rejected_with_bound(tmp_path):
    p = write(tmp_path, "bad.toml", UGV.replace("track_width = 0.6", "track_width = -0.6"))
    with pytest.raises(ConfigError, match=r"drive\.track_width: Input should be greater than 0"):
        load_vehicle_config(p)


def test_missing_key(tmp_path):
    p = write(tmp_path, "bad.toml", UGV.replace("wheel_max_speed = 1.6", ""))
    with pytest.raises(ConfigError, match=r"drive\.wheel_max_speed: required key is missing"):
        load_vehicle_config(p)


def test_unknown_key_is_a_typo(tmp_path):
    p = write(tmp_path, "bad.toml", UGV.replace("max_yaw_rate = 1.5", "max_yaw_rate = 1.5\nmax_yawrate = 2"))
    with pytest.raises(ConfigError, match=r"limits\.max_yawrate: unknown key"):
        load_vehicle_config(p)


def test_not_toml(tmp_path):
    p = write(tmp_path, "bad.toml", "[geometry\nlength = 1")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        load_vehicle_config(p)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_vehicle_config(tmp_path / "nope.toml")


def test_ugv_without_drive_table(tmp_path):
    text = UGV.split("[drive]")[0] + "[sensors" + UGV.split("[sensors", 1)[1]
    p = write(tmp_path, "bad.toml", text)
    with pytest.raises(ConfigError, match=r"needs a \[drive\] table"):
        load_vehicle_config(p)


def test_scenario_waypoint_outside_bounds(tmp_path):
    p = write(tmp_path, "sc.toml", YARD.replace("[54, 30]", "[540, 30]"))
    with pytest.raises(ConfigError, match=r"mission\.waypoints\.4: \(540\.0, 30\.0\) is outside world\.bounds"):
        load_scenario(p)


def test_scenario_polygon_needs_points(tmp_path):
    p = write(tmp_path, "sc.toml", YARD.replace("points = [[48, 4], [56, 4], [56, 12], [52, 12], [52, 8], [48, 8]]", ""))
    with pytest.raises(ConfigError, match=r"world\.obstacles\.3: Value error, a polygon obstacle needs 'points'"):
        load_scenario(p)


def test_scenario_unknown_vehicle(tmp_path):
    p = write(tmp_path, "sc.toml", YARD.replace('vehicle = "ugv"', 'vehicle = "hovercraft"'))
    with pytest.raises(ConfigError, match=r"vehicle: no vehicle file .*hovercraft\.toml"):
        load_scenario(p)


def test_scenario_ugv_on_water(tmp_path):
    p = write(tmp_path, "sc.toml", YARD.replace('surface = "ground"', 'surface = "water"'))
    with pytest.raises(ConfigError, match=r"world\.surface: a ugv needs surface = ground"):
        load_scenario(p)


def test_bad_scenario_refuses_to_start(tmp_path, ep):
    p = write(tmp_path, "sc.toml", YARD.replace("seed = 1", "seed = 1.5"))
    r = ep("sitl", "run", str(p), "--out", str(tmp_path / "out"))
    assert r.returncode == 2
    assert "seed" in r.stderr and str(p) in r.stderr.replace("\n", "")
    assert not (tmp_path / "out").exists()


def test_an_ais_receiver_is_for_a_boat(tmp_path):
    hw = ('\n[hardware]\nwiring = "direct"\n[hardware.motor]\nport = "/dev/ttyACM0"\n[hardware.gps]\n'
          'source = "/dev/ttyUSB0"\n[hardware.ais]\nsource = "/dev/ttyUSB1"\n')
    p = write(tmp_path, "ugv_ais.toml", UGV + hw)
    with pytest.raises(ConfigError, match=r"hardware\.ais is for kind 'usv'") as e:
        load_vehicle_config(p)
    assert str(p) in str(e.value)
    usv = (configs_dir() / "vehicles" / "usv.toml").read_text()
    ais = load_vehicle_config(write(tmp_path, "usv_ais.toml", usv + hw)).hardware.ais
    assert (ais.source, ais.baud) == ("/dev/ttyUSB1", 38400)
