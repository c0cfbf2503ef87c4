"""Camera in the loop: the simulator renders frames at the camera rate from
the vehicle TOML's settings, the core's perception front detects painted
objects and turns them into costmap obstacles; a camera-only vehicle avoids
a barrel missing from its prior map."""
import math

import numpy as np
import pytest

from edgepilot import configs_dir
from edgepilot.sim.lockstep import run_lockstep
from edgepilot.sim.scenario import load_scenario
from edgepilot.sim.simulation import Simulation
from edgepilot.vehicle.config import ConfigError, load_vehicle_config

BARREL = (20.0, 11.0)


def _standing(x: float, seconds: float, scenario="ugv_camera_barrel", **cam):
    sc = load_scenario(scenario)
    cfg = sc.vehicle_config
    if cam:
        cfg = cfg.model_copy(update={"sensors": cfg.sensors.model_copy(
            update={"camera": cfg.sensors.camera.model_copy(update=cam)})})
    sim = Simulation(sc.model_copy(update={"start": sc.start.model_copy(update={"x": x}),
                                           "vehicle_config": cfg}))
    core = sim.make_core()
    frames = []
    for k in range(int(round(seconds * 20))):
        t = 0.05 * k
        f = sim.sensors(t)
        frames.append(f)
        core.step(t, f)
    return sim, core, frames


def test_camera_only_vehicle_detects_and_avoids_the_unmapped_barrel():
    sc = load_scenario("ugv_camera_barrel")
    assert sc.vehicle_config.sensors.lidar is None and sc.vehicle_config.sensors.camera is not None
    res = run_lockstep(sc)
    assert res.passed, res.reasons
    assert res.collisions == 0
    replans = [e for e in res.events if e.kind == "replan"]
    assert replans and replans[0].t < 10.0           # seen well before the vehicle gets there
    # the vehicle went round: it left the straight line y = 11 m beside the barrel
    near = np.abs(res.track[:, 1] - BARREL[0]) < 0.5
    assert np.abs(res.track[near, 2] - BARREL[1]).min() > 0.9


def test_without_the_camera_the_same_run_hits_the_barrel():
    sc = load_scenario("ugv_camera_barrel")
    cfg = sc.vehicle_config
    blind = cfg.model_copy(update={"sensors": cfg.sensors.model_copy(update={"camera": None})})
    crit = sc.criteria.model_copy(update={"max_time_s": 22.0})
    res = run_lockstep(sc.model_copy(update={"vehicle_config": blind, "criteria": crit}))
    assert not res.passed and res.collisions >= 1


def test_detection_becomes_a_map_frame_obstacle_in_the_costmap():
    sim, core, frames = _standing(11.0, 1.0)
    # frames at the camera's 10 Hz, each carrying its image
    imgs = [f for f in frames if f.camera_t is not None]
    assert len(imgs) == 10 and all(f.camera_image.shape == (480, 640, 3) for f in imgs)
    assert all(f.camera_image is None for f in frames if f.camera_t is None)
    dets = core.camera_detections
    assert len(dets) == 1 and dets[0].label == "red"
    # vehicle frame: from the vehicle's centre (x = 11 m) to the barrel's centre, dead ahead
    assert dets[0].range == pytest.approx(BARREL[0] - 11.0, abs=0.5)
    assert abs(dets[0].bearing) < math.radians(2.0)
    obs = core.perception.camera_obstacles
    assert obs.shape == (1, 3)
    assert math.dist(obs[0, :2], BARREL) < 0.5 and obs[0, 2] == pytest.approx(0.4)
    assert not np.isfinite(core.planning.weights[core.planning.cell(*obs[0, :2])])
    # a far barrel is detected but not yet trusted as an obstacle (obstacle_range_m = 12)
    _, core2, _ = _standing(3.0, 0.6)
    assert len(core2.camera_detections) == 1 and core2.camera_detections[0].range > 12.0
    assert core2.perception.camera_obstacles.shape == (0, 3)


def test_detector_rate_and_staleness_come_from_the_rate_manager():
    _, core, _ = _standing(11.0, 2.0)
    st = core.perception.status(core.now)["camera"]
    assert st.count == 20 and st.rate_hz == pytest.approx(10.0, rel=0.05) and not st.stale
    # detect_hz = 5: the detector ran on every other frame only
    assert core.perception.camera_frames_processed == 10
    assert core.perception.stale(core.now + 1.0) == ["camera"]     # FS_SENS_TIMEOUT = 0.5 s


def test_exposure_and_noise_settings_reach_the_rendered_frames():
    _, _, plain = _standing(11.0, 0.1, noise_std=0.0, exposure=1.0)
    _, _, bright = _standing(11.0, 0.1, noise_std=0.0, exposure=1.4)
    _, _, noisy = _standing(11.0, 0.1, noise_std=8.0, exposure=1.0)
    a, b, c = (f[0].camera_image.astype(float) for f in (plain, bright, noisy))
    assert b.mean() > 1.2 * a.mean()
    assert np.std(c - a) == pytest.approx(8.0, rel=0.15)
    # same seed, same frames
    _, _, again = _standing(11.0, 0.1, noise_std=8.0, exposure=1.0)
    assert np.array_equal(again[0].camera_image, noisy[0].camera_image)


def test_no_camera_configured_means_no_frames():
    sim = Simulation(load_scenario("ugv_unmapped_obstacle"))
    assert sim.camera is None
    assert all(sim.sensors(0.05 * k).camera_image is None for k in range(10))


def test_bad_camera_settings_are_refused_naming_the_field(tmp_path):
    text = (configs_dir() / "vehicles" / "ugv_camera.toml").read_text()
    p = tmp_path / "v.toml"
    p.write_text(text.replace("noise_std = 3.0", "noise_std = -2.0"))
    with pytest.raises(ConfigError, match=r"sensors\.camera\.noise_std: Input should be greater than or equal to 0"):
        load_vehicle_config(p)
    p.write_text(text.replace("mount_height = 0.9", "mount_height = 0"))
    with pytest.raises(ConfigError, match=r"sensors\.camera\.mount_height"):
        load_vehicle_config(p)


def test_colour_is_for_circle_obstacles_only(tmp_path):
    text = (configs_dir() / "scenarios" / "ugv_camera_barrel.toml").read_text()
    bad = text.replace('points = [[14, 18], [26, 18], [26, 24], [14, 24]]',
                       'points = [[14, 18], [26, 18], [26, 24], [14, 24]]\ncolor = "red"')
    p = tmp_path / "s.toml"
    p.write_text(bad.replace('vehicle = "ugv_camera"',
                             f'vehicle = "{configs_dir() / "vehicles" / "ugv_camera.toml"}"'))
    with pytest.raises(ConfigError, match="'color' is for circle obstacles only"):
        load_scenario(p)
