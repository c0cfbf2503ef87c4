"""Traffic vessels are visible to the simulated camera: one VisibleObject
per vessel on its collision circle, rendered into the frames a USV with a
camera receives."""
import numpy as np
import pytest
from pydantic import ValidationError

from edgepilot.sim.scenario import load_scenario
from edgepilot.sim.simulation import Simulation
from edgepilot.sim.traffic import Traffic, TrafficVesselSpec
from edgepilot.vehicle.config import CameraConfig
from edgepilot.vehicle.geo import LocalFrame
from edgepilot.vehicle.types import ActuatorCommand


def test_every_vessel_is_an_obstacle_object_on_its_circle():
    specs = [TrafficVesselSpec(name="a", mmsi=211000001, waypoints=[(0, 0), (100, 0)], speed=2.0,
                               length=20.0, height=6.0, hull_color=(10, 20, 30)),
             TrafficVesselSpec(name="b", mmsi=211000002, waypoints=[(50, 50), (50, 150)], speed=1.0)]
    tr = Traffic(specs, LocalFrame(54.4, 10.2), np.random.default_rng(0))
    tr.advance(10.0, None)
    objs = tr.visible_objects()
    circles = tr.circles()
    assert len(objs) == 2
    for o, (x, y, r) in zip(objs, circles):
        assert (o.x, o.y, o.radius, o.kind) == (x, y, r, "obstacle")
    assert objs[0].x == pytest.approx(20.0, abs=0.01) and objs[0].height == 6.0 and objs[0].color == (10, 20, 30)
    assert objs[1].height == 4.0 and objs[1].radius == 6.0


def test_hull_color_is_validated():
    with pytest.raises(ValidationError, match="hull_color"):
        TrafficVesselSpec(name="a", mmsi=211000001, waypoints=[(0, 0), (1, 0)], speed=1.0, hull_color=(0, 0, 300))


def test_a_usv_camera_sees_the_ferry_ahead():
    sc = load_scenario("usv_colregs_head_on")        # the ferry comes at us along y = 201 from x = 390
    cfg = sc.vehicle_config
    cam = CameraConfig(rate_hz=5, width=160, height=120, fov_deg=60, mount_height=1.5)
    sc = sc.model_copy(update={"vehicle_config": cfg.model_copy(
        update={"sensors": cfg.sensors.model_copy(update={"camera": cam})})})
    with_traffic = Simulation(sc)
    empty = Simulation(sc.model_copy(update={"traffic": []}))
    assert empty.traffic is None
    frames = {}
    for name, sim in (("traffic", with_traffic), ("empty", empty)):
        for k in range(90):                         # 90 s: the ferry closes from 360 m to about 135 m
            t = float(k)
            f = sim.sensors(t)
            for _ in range(100):
                sim.step(0.01, ActuatorCommand.stop())
        f = sim.sensors(sim.t + 1.0)
        assert f.camera_image is not None and f.camera_image.shape == (120, 160, 3)
        frames[name] = f.camera_image.astype(int)
    diff = np.abs(frames["traffic"] - frames["empty"]).sum(axis=2)
    cols = np.nonzero((diff > 60).any(axis=0))[0]
    assert len(cols) >= 3                             # the ferry's hull, in the middle of the picture
    assert abs(cols.mean() - 80) < 10
    hull = frames["traffic"][diff > 60]
    assert hull.mean() < 80                           # dark grey, as configured
