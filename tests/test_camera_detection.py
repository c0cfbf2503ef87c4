"""Camera detectors on rendered frames with known ground truth."""
import math

import numpy as np
import pytest

from edgepilot.sim.sensors.camera import VisibleObject, render_frame, to_vehicle
from edgepilot.vehicle.perception.camera_model import PinholeCamera
from edgepilot.vehicle.perception.detection import (ArucoMarkerDetector, BuoyDetector, detect_horizon,
                                          detections_to_obstacles)

CAM = PinholeCamera(width=640, height=480, hfov_deg=70, mount_height=1.5)
COLOURS = {"red": (0, 0, 220), "green": (0, 170, 0), "yellow": (0, 210, 235), "orange": (0, 120, 255)}


def _scene(rng, n=3):
    """n buoys of distinct colours, 5-28 m ahead, inside the view, not overlapping."""
    objs = []
    names = list(COLOURS)
    rng.shuffle(names)
    used = []
    for name in names[:n]:
        for _ in range(100):
            d = rng.uniform(5.0, 28.0)
            b = rng.uniform(-0.45, 0.45)
            if all(abs(b - ub) > 0.08 for ub in used):
                break
        used.append(b)
        objs.append((name, VisibleObject(d * math.cos(b), d * math.sin(b), 0.4, 1.0, COLOURS[name], "buoy")))
    return objs


def test_buoy_bearing_range_and_detection_rate():
    rng = np.random.default_rng(11)
    det = BuoyDetector(CAM, radius=0.4)
    seen = total = 0
    bearing_err, range_err = [], []
    for k in range(25):
        scene = _scene(rng)
        exposure = [0.75, 1.0, 1.25][k % 3]
        img = render_frame(CAM, (0.0, 0.0, 0.0), [o for _, o in scene], rng=rng, noise_std=4.0,
                           exposure=exposure)
        found = det.detect(img)
        for name, o in scene:
            total += 1
            match = [d for d in found if d.label == name]
            if match:
                seen += 1
                d = match[0]
                bearing_err.append(abs(d.bearing - math.atan2(o.y, o.x)))
                range_err.append(abs(d.range - math.hypot(o.x, o.y)) / math.hypot(o.x, o.y))
        assert len(found) <= len(scene)                     # no extra blobs
    assert seen / total >= 0.95
    assert max(bearing_err) < math.radians(0.5)
    assert np.median(range_err) < 0.04 and max(range_err) < 0.10


def test_buoys_with_moving_vehicle_pose_and_attitude():
    cam = CAM.with_attitude(pitch=0.03, roll=-0.08)
    pose = (10.0, -5.0, 0.7)
    target = VisibleObject(10.0 + 12 * math.cos(0.8), -5.0 + 12 * math.sin(0.8), 0.4, 1.0, COLOURS["red"])
    img = render_frame(cam, pose, [target], rng=np.random.default_rng(0), noise_std=3.0)
    dets = BuoyDetector(cam).detect(img)
    assert len(dets) == 1
    vx, vy = to_vehicle(pose, target.x, target.y)
    assert dets[0].bearing == pytest.approx(math.atan2(vy, vx), abs=math.radians(0.5))
    assert dets[0].range == pytest.approx(12.0, rel=0.06)
    obs = detections_to_obstacles(dets, 0.4, pose)
    assert obs.shape == (1, 3)
    assert math.hypot(obs[0, 0] - target.x, obs[0, 1] - target.y) < 0.8


def test_no_false_positives_on_empty_frames():
    rng = np.random.default_rng(5)
    det = BuoyDetector(CAM)
    for k in range(16):
        cam = CAM.with_attitude(rng.uniform(-0.05, 0.05), rng.uniform(-0.15, 0.15))
        img = render_frame(cam, (0, 0, 0), [], rng=rng, noise_std=6.0, exposure=rng.uniform(0.6, 1.4),
                           surface="water" if k % 2 else "ground")
        assert BuoyDetector(cam).detect(img) == []
        assert ArucoMarkerDetector(cam, 0.4).detect(img) == []
    assert det.detect(render_frame(CAM, (0, 0, 0), [])) == []


def test_aruco_marker_id_and_position():
    rng = np.random.default_rng(2)
    for marker_id, (x, y) in ((7, (6.0, 1.0)), (23, (10.0, -2.0)), (3, (4.0, 0.0))):
        board = VisibleObject(x, y, 0.45, 1.8, kind="marker", marker_id=marker_id)
        img = render_frame(CAM, (0, 0, 0), [board], rng=rng, noise_std=3.0)
        side = 2 * 0.45 * 2 / 3                 # the marker is 2/3 of its board
        dets = ArucoMarkerDetector(CAM, side).detect(img)
        assert [d.label for d in dets] == [str(marker_id)]
        d = dets[0]
        assert d.bearing == pytest.approx(math.atan2(y, x), abs=math.radians(0.5))
        assert d.range == pytest.approx(math.hypot(x, y), rel=0.05)


@pytest.mark.parametrize("pitch,roll", [(0.0, 0.0), (0.04, 0.1), (-0.03, -0.2), (0.02, 0.25)])
def test_horizon_recovers_pitch_and_roll(pitch, roll):
    cam = CAM.with_attitude(pitch, roll)
    scene = [VisibleObject(15, 2, 0.4, 1.0, COLOURS["red"])]
    img = render_frame(cam, (0, 0, 0), scene, rng=np.random.default_rng(1), noise_std=4.0)
    hz = detect_horizon(img, CAM)
    assert hz is not None
    assert hz.roll == pytest.approx(roll, abs=math.radians(0.5))
    assert hz.pitch == pytest.approx(pitch, abs=math.radians(0.5))


def test_horizon_absent_when_no_edge():
    flat = np.full((480, 640, 3), 120, np.uint8)
    assert detect_horizon(flat, CAM) is None


def test_bad_input():
    det = BuoyDetector(CAM)
    with pytest.raises(ValueError, match="640 x 480"):
        det.detect(np.zeros((100, 100, 3), np.uint8))
    with pytest.raises(ValueError, match="BGR uint8"):
        det.detect(np.zeros((480, 640), np.float32))
    with pytest.raises(ValueError, match="kind"):
        VisibleObject(1, 1, 0.3, 1.0, kind="boat")
    with pytest.raises(ValueError, match="rng"):
        render_frame(CAM, (0, 0, 0), [], noise_std=2.0)
