"""SITL: an obstacle missing from the prior map is detected by the lidar,
mapped into the costmap and avoided."""
import math

import numpy as np

from edgepilot.sim.lockstep import run_lockstep
from edgepilot.sim.scenario import load_scenario
from edgepilot.sim.simulation import Simulation
from edgepilot.vehicle.maps import GridMap
from edgepilot.vehicle.perception.mapping import LidarMapper
from edgepilot.vehicle.types import VehicleState


def test_unmapped_obstacle_is_detected_mapped_and_avoided():
    sc = load_scenario("ugv_unmapped_obstacle")
    assert sc.vehicle_config.sensors.lidar is not None
    res = run_lockstep(sc)
    assert res.passed, res.reasons
    assert res.collisions == 0
    kinds = [e["kind"] for e in res.to_dict()["events"]] if hasattr(res, "to_dict") else \
        [e.kind for e in res.events]
    assert "replan" in kinds


def test_without_the_lidar_the_same_run_hits_the_wall():
    sc = load_scenario("ugv_unmapped_obstacle")
    cfg = sc.vehicle_config
    blind = cfg.model_copy(update={"sensors": cfg.sensors.model_copy(update={"lidar": None})})
    crit = sc.criteria.model_copy(update={"max_time_s": 20.0})
    res = run_lockstep(sc.model_copy(update={"vehicle_config": blind, "criteria": crit}))
    assert not res.passed
    assert res.collisions >= 1


def test_core_maps_what_the_prior_lacks_and_only_that():
    sc = load_scenario("ugv_unmapped_obstacle")
    sim = Simulation(sc.model_copy(update={"start": sc.start.model_copy(update={"x": 9.0})}))
    core = sim.make_core()
    # stand still 9 m from the wall, facing it, and let the lidar look
    for k in range(40):
        t = 0.05 * k
        core.step(t, sim.sensors(t))
    assert core.mapper is not None and core.mapper.scans >= 10
    grid = core.mapper.grid
    occ = grid.occupied_points(0.8)
    assert len(occ) > 20
    truth = sim.world.truth
    prior = sim.world.prior_map()
    # the newly seen cells are on the unmapped wall (its west face at x = 18 m)
    unmapped = truth.occupied & ~prior.occupied
    new_pts = occ[~_near(prior, occ, 0.5)]
    assert len(new_pts) > 10
    assert np.all(np.abs(new_pts[:, 0] - 18.0) < 0.4)
    assert np.all((new_pts[:, 1] > 5.5) & (new_pts[:, 1] < 15.5))
    assert unmapped.any()
    # every mapped cell lies on a real obstacle (within pose and cell error)
    assert _near(truth, occ, 0.3).all()
    # and the planning costmap now blocks the wall
    assert not np.isfinite(core.planning.weights[core.planning.cell(17.95, 11.0)])


def _near(prior: GridMap, pts, margin):
    import cv2
    free = (~prior.occupied).astype(np.uint8)
    d = cv2.distanceTransform(free, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) * prior.resolution
    r = np.clip(((pts[:, 1] - prior.origin_y) / prior.resolution).astype(int), 0, prior.shape[0] - 1)
    c = np.clip(((pts[:, 0] - prior.origin_x) / prior.resolution).astype(int), 0, prior.shape[1] - 1)
    return d[r, c] <= margin


def test_mapper_skips_bad_pose_and_known_walls():
    occ = np.zeros((200, 200), bool)
    occ[:, 150:152] = True                                    # a known wall at x = 7.5 m
    prior = GridMap(occ, 0.05, 0.0, 0.0)
    m = LidarMapper(prior, resolution=0.1)
    from edgepilot.sim.sensors.lidar import Lidar, LidarSpec
    lid = Lidar(LidarSpec(beams=360, fov_deg=180, max_range=12, noise_std=0.0), np.random.default_rng(0))
    st = VehicleState(0, 2.0, 5.0, 0.0, 0, 0, 0, 0, 0, pos_std=0.1, valid=True)
    for _ in range(3):
        assert len(m.integrate(st, lid.scan(0, (2.0, 5.0, 0.0), occ, 0.05, (0, 0)))) == 0
    # an unmapped post is reported once
    circles = np.array([[5.0, 5.0, 0.3]])
    # (its cells were seen free three times first, so it takes four scans)
    got = [m.integrate(st, lid.scan(0, (2.0, 5.0, 0.0), occ, 0.05, (0, 0), circles)) for _ in range(6)]
    pts = np.vstack(got)
    assert len(pts) >= 3 and np.all(np.hypot(pts[:, 0] - 5.0, pts[:, 1] - 5.0) < 0.5)
    assert len(got[-1]) == 0                                   # nothing twice
    bad = VehicleState(0, 2.0, 5.0, 0.0, 0, 0, 0, 0, 0, pos_std=5.0, valid=True)
    assert len(m.integrate(bad, lid.scan(0, (2.0, 5.0, 0.0), occ, 0.05, (0, 0), circles))) == 0
    assert not math.isnan(m.grid.probabilities().sum())
