"""Camera detections of things that can move (people, vessels, vehicles:
``CameraConfig.object_classes``) are a transient obstacle layer
(vehicle/perception/transient.py, the costmap's ``set_transient``): the
vehicle keeps away from where the thing is while it is seen, and the place
is free again once it has walked on -- no trail of obstacles behind a
walker.  Static things the camera sees are still mapped for good."""
from __future__ import annotations

import math

import numpy as np
import pytest

from edgepilot import configs_dir
from edgepilot.sim.lockstep import run_lockstep
from edgepilot.sim.scenario import load_scenario
from edgepilot.sim.simulation import Simulation
from edgepilot.vehicle.config import ConfigError, load_vehicle_config
from edgepilot.vehicle.costmap import InflationParams
from edgepilot.vehicle.costmap.inflation import distance_to_obstacles, weights_from_distance
from edgepilot.vehicle.costmap.window import WindowCostmap
from edgepilot.vehicle.perception.transient import TransientObjects

BARREL = (20.0, 11.0)


# ------------------------------------------------------------------ the tracker
def test_a_walker_is_followed_and_forgotten_once_it_has_gone():
    tro = TransientObjects(gate_m=1.0, forget_s=2.0)
    # walking east at 1.2 m/s, seen at 5 frames/s for 4 s
    ts = np.arange(0.0, 4.0, 0.2)
    for k, t in enumerate(ts):
        tro.update(t, [(10.0 + 1.2 * t, 5.0, 0.4, "person")])
        obs = tro.obstacles()
        if k == 0:
            assert obs.shape == (0, 3)                     # one frame: not yet trusted
        else:                                              # one obstacle, where it is now
            assert obs.shape == (1, 3) and obs[0, 0] == pytest.approx(10.0 + 1.2 * t) and obs[0, 2] == 0.4
    assert len(tro.objects) == 1 and tro.objects[0].hits == len(ts)
    last = ts[-1]
    # out of view: kept for forget_s (a missed frame is not "gone"), then forgotten
    v = tro.version
    assert not tro.expire(last + 1.9) and tro.obstacles().shape == (1, 3) and tro.version == v
    assert tro.expire(last + 2.1) and tro.obstacles().shape == (0, 3) and tro.version == v + 1


def test_a_person_standing_in_view_is_never_cleared():
    tro = TransientObjects(gate_m=1.0, forget_s=2.0)
    rng = np.random.default_rng(1)
    for k, t in enumerate(np.arange(0.0, 30.0, 0.2)):       # 15 x forget_s
        if k % 7 == 3:
            tro.update(t, [])                                # a frame the detector missed it
        else:
            tro.update(t, [(6.0 + rng.normal(0, 0.2), 1.0 + rng.normal(0, 0.2), 0.4, "person")])
        if k >= 1:
            obs = tro.obstacles()
            assert obs.shape == (1, 3) and math.hypot(obs[0, 0] - 6.0, obs[0, 1] - 1.0) < 1.0, t
    assert len(tro.objects) == 1


def test_kinds_and_distance_keep_objects_apart():
    tro = TransientObjects(gate_m=1.0, forget_s=2.0)
    for t in (0.0, 0.2):
        tro.update(t, [(0.0, 0.0, 0.4, "person"), (0.5, 0.0, 2.0, "vessel"), (9.0, 0.0, 0.4, "person")])
    assert sorted((o.kind, o.x) for o in tro.confirmed()) == [("person", 0.0), ("person", 9.0), ("vessel", 0.5)]
    with pytest.raises(ValueError, match="forget_s"):
        TransientObjects(forget_s=0.0)


# ------------------------------------------------------------------ the costmap layer
def _params():
    return InflationParams(inscribed_radius=0.35, inflation_radius=1.0, cost_scaling_factor=3.0, max_weight=21.0)


def test_transient_layer_matches_the_numpy_oracle_and_keeps_static_obstacles():
    rng = np.random.default_rng(7)
    res = 0.1
    cm = WindowCostmap(80, 90, res, _params(), center=(4.5, 4.0), unknown_weight=None)
    cm.known[:] = True
    cm._recompute_all()
    static = rng.random((80, 90)) < 0.01
    cm.add_obstacles(cells=np.argwhere(static))

    def oracle(trans):
        d = distance_to_obstacles(static | trans, res)
        return d, weights_from_distance(d, cm.params)

    for step in range(6):
        trans = np.zeros((80, 90), bool)
        r, c = 10 + 10 * step, 20 + 8 * step                 # a disc walking across
        rr, cc = np.ogrid[:80, :90]
        trans |= (rr - min(r, 75)) ** 2 + (cc - c) ** 2 <= 16
        assert cm.set_transient(cells=np.argwhere(trans))
        d, w = oracle(trans)
        cap = (cm.radius_cells + 1) * res                     # window updates cap distances beyond inflation
        np.testing.assert_allclose(np.minimum(cm.distance, cap), np.minimum(d, cap), atol=1e-4)
        assert np.array_equal(np.isinf(cm.weights), np.isinf(w))
        np.testing.assert_allclose(cm.weights[np.isfinite(w)], w[np.isfinite(w)], rtol=1e-5)
    assert not cm.set_transient(cells=np.argwhere(trans))   # the same layer again: no change
    # clearing the layer leaves every static obstacle; clear_obstacles leaves the layer
    assert cm.set_transient(cells=np.empty((0, 2), np.int64))
    assert np.array_equal(cm.occupied, static) and not cm.transient.any()
    assert np.array_equal(np.isinf(cm.weights), np.isinf(oracle(np.zeros_like(static))[1]))
    cm.set_transient(points=np.array([[4.0, 4.0]]))
    cm.clear_obstacles(points=np.array([[4.0, 4.0]]))
    assert not np.isfinite(cm.weights[cm.world_to_cell(4.0, 4.0)])


def test_transient_cells_keep_their_place_when_the_window_rolls():
    cm = WindowCostmap(60, 60, 0.1, _params(), center=(0.0, 0.0), unknown_weight=1.5, edge_trigger=2.0)
    cm.set_transient(points=np.array([[0.5, 0.5]]))
    assert cm.follow(2.5, 0.0)                                # near the east edge: rolls
    assert cm.transient.sum() == 1 and not np.isfinite(cm.weights[cm.world_to_cell(0.5, 0.5)])
    assert cm.set_transient(points=np.empty((0, 2)))
    assert np.isfinite(cm.weights[cm.world_to_cell(0.5, 0.5)])


# ------------------------------------------------------------------ in the loop, rendered frames
def _scenario(tmp_path, fault: str, barrel: bool = True, classes: dict | None = None):
    """ugv_camera_barrel (camera only, no lidar) with a person in an orange
    vest (``fault``: a crossing's start, velocity and times)."""
    text = (configs_dir() / "scenarios" / "ugv_camera_barrel.toml").read_text()
    if not barrel:
        text = text.replace('color = "red"\nmapped = false', 'mapped = false').replace(
            "center = [20.0, 11.0]", "center = [38.0, 2.0]")
    text += ('\n[[faults]]\ntype = "crossing"\nkind = "person"\nradius = 0.4\nheight = 1.7\ncolor = "orange"\n'
             + fault + "\n")
    f = tmp_path / "walker.toml"
    f.write_text(text)
    sc = load_scenario(f)
    cfg = sc.vehicle_config
    cam = cfg.sensors.camera.model_copy(update={"object_classes": classes if classes is not None
                                                else {"orange": "person"}})
    return sc.model_copy(update={"vehicle_config": cfg.model_copy(
        update={"sensors": cfg.sensors.model_copy(update={"camera": cam})})})


WALKER_X = 15.0
WALK = f"start_s = 0.5\nduration_s = 10.0\nstart = [{WALKER_X}, 5.0]\nvelocity = [0.0, 1.5]"   # y 5 -> 20 m


def _watch_walker(sc, seconds: float):
    """The vehicle stands at (10, 11) looking east at the barrel; the
    walker crosses its view 5 m ahead from south to north and walks out of
    it (the 90 degree view ends about y = 15.6).  Returns the core and,
    per camera frame with the walker well in view and trusted, whether its
    true position is lethal."""
    sim = Simulation(sc.model_copy(update={"start": sc.start.model_copy(update={"x": 10.0})}))
    core = sim.make_core()
    cam_x = 10.0 + sc.vehicle_config.sensors.camera.mount_x
    lethal_at_walker = []
    for k in range(int(round(seconds * 20))):
        t = 0.05 * k
        f = sim.sensors(t)
        core.step(t, f)
        people = sim.faults.crossings(t)
        if f.camera_t is not None and people and abs(math.atan2(people[0][3] - 11.0, WALKER_X - cam_x)) < 0.7 \
                and t >= 1.5:
            _, _, x, y = people[0]
            g = core.planning
            lethal_at_walker.append(not np.isfinite(g.weights[g.cell(x, y)]))
    return core, lethal_at_walker


def _walked_path_free(core) -> bool:
    g = core.planning
    return all(np.isfinite(g.weights[g.cell(WALKER_X, y)]) for y in np.arange(5.0, 16.0, 0.25))


def test_a_walker_across_the_camera_view_blocks_while_there_and_leaves_no_trail(tmp_path):
    core, lethal = _watch_walker(_scenario(tmp_path, WALK), 13.5)
    # while it was in view the planner kept off where it was, every frame
    assert len(lethal) >= 25 and all(lethal)
    # it walked out of view at about 8 s and was forgotten 2 s later: nothing left behind
    assert core.perception.transient_obstacles.shape == (0, 3) and not core.planning.costmap.transient.any()
    assert _walked_path_free(core)
    assert core.planning.target_refusal(WALKER_X, 13.0) is None
    # the barrel (red: a static thing) is mapped as before, and only the barrel
    obs = core.perception.camera_obstacles
    assert obs.shape == (1, 3) and math.dist(obs[0, :2], BARREL) < 0.6
    assert not np.isfinite(core.planning.weights[core.planning.cell(*obs[0, :2])])


def test_without_the_class_the_same_walker_leaves_a_trail(tmp_path):
    """Orange not named a person: mapped for good, as every colour was."""
    core, _ = _watch_walker(_scenario(tmp_path, WALK, classes={}), 13.5)
    assert len(core.perception.camera_obstacles) >= 4          # the trail
    assert not _walked_path_free(core)


def test_a_person_standing_on_the_path_is_never_driven_into(tmp_path):
    """Camera only, no lidar: a person stands where the barrel was, on the
    straight path, for the whole run.  The vehicle goes round (no
    collision) -- the person stays an obstacle while in view."""
    sc = _scenario(tmp_path, "start_s = 0.0\nduration_s = 200.0\nstart = [20.0, 11.0]\nvelocity = [0.0, 0.0]",
                   barrel=False)
    res = run_lockstep(sc)
    assert res.passed, res.reasons
    assert res.collisions == 0
    near = np.abs(res.track[:, 1] - 20.0) < 0.5
    assert np.abs(res.track[near, 2] - 11.0).min() > 0.9


def test_object_classes_are_checked_naming_the_key(tmp_path):
    text = (configs_dir() / "vehicles" / "ugv_fleet.toml").read_text()
    f = tmp_path / "v.toml"
    f.write_text(text.replace('object_classes = { orange = "person" }', 'object_classes = { orange = "dog" }'))
    with pytest.raises(ConfigError, match="object_classes"):
        load_vehicle_config(f)
    assert load_vehicle_config(configs_dir() / "vehicles" / "ugv_fleet.toml").sensors.camera.object_classes == \
        {"orange": "person"}
