"""Beyond the prior map (issue 15 item 7): a rolling planning window, unknown
space traversable at a cost, lidar-built occupancy everywhere, and an
operating area that refuses targets beyond it with a clear reason."""
import json
import math
import re

import numpy as np
import pytest

from edgepilot import configs_dir
from edgepilot.sim.lockstep import run_lockstep
from edgepilot.sim.scenario import load_scenario
from edgepilot.sim.simulation import Simulation
from edgepilot.vehicle.config import load_vehicle_config
from edgepilot.vehicle.planning_grid import PlanningError, PlanningGrid
from edgepilot.vehicle.types import Cmd, MissionItem, Outcome

YARD = (configs_dir() / "scenarios" / "ugv_yard.toml").read_text()
UGV = str(configs_dir() / "vehicles" / "ugv.toml")


def _yard_beyond(tmp_path, waypoints, name="yard_beyond.toml"):
    """The yard, with the world extended 20 m north of what the prior map covers."""
    s = YARD.replace('vehicle = "ugv"', f'vehicle = "{UGV}"')
    s = re.sub(r"bounds = \[[^\]]*\]", "bounds = [0.0, 0.0, 60.0, 60.0]\nprior_map_bounds = [0.0, 0.0, 60.0, 40.0]",
               s, count=1)
    s = re.sub(r"waypoints = \[.*\]", f"waypoints = {waypoints}", s, count=1)
    p = tmp_path / name
    p.write_text(s)
    return load_scenario(p)


def test_waypoint_outside_the_yard_map_is_accepted_and_flown(tmp_path):
    sc = _yard_beyond(tmp_path, [[8, 20], [4, 44], [4, 5]])
    sim = Simulation(sc)
    prior = sim.world.vehicle_prior_map()
    assert prior.origin_y + prior.height_m == pytest.approx(40.0)         # (4, 44) is off the prior map
    res = run_lockstep(sc)
    assert res.passed, res.reasons
    assert res.waypoints_reached == res.waypoints_total == 3 and res.collisions == 0
    # it really went there
    assert np.hypot(res.track[:, 1] - 4.0, res.track[:, 2] - 44.0).min() < 1.0
    assert not any(e.kind == "mission_failed" for e in res.events)


def test_targets_beyond_the_operating_area_are_refused_with_the_reason(tmp_path):
    sc = _yard_beyond(tmp_path, [[8, 20]])
    sim = Simulation(sc)
    core = sim.make_core()
    for k in range(20):
        core.step(0.05 * k, sim.sensors(0.05 * k))
    assert core.state.valid
    home = core.frame.to_geo(4.0, 4.0)

    def mission(*xy):
        items = [MissionItem(0, int(Cmd.NAV_WAYPOINT), *home)]
        for x, y in xy:
            items.append(MissionItem(len(items), int(Cmd.NAV_WAYPOINT), *core.frame.to_geo(x, y)))
        return items

    ok = core.set_mission(mission((8, 20), (4, 44)))                  # off the map, inside the area
    assert ok.ok, ok.reason
    radius = core.cfg.planning.operating_radius_m
    far = core.set_mission(mission((8, 20), (4, 4 + radius + 100)))
    assert not far.ok and far.result == Outcome.DENIED
    assert "item 2" in far.reason and "beyond the operating area" in far.reason
    assert "planning.operating_radius_m" in far.reason
    assert core.mission and len(core.mission) == 3                     # the accepted one stays
    g = core.goto(1.0, *core.frame.to_geo(4.0, 4 + radius + 100))
    assert not g.ok and "beyond the operating area" in g.reason
    g = core.goto(1.0, *core.frame.to_geo(4.0, 44.0))
    assert g.ok, g.reason
    # an inclusion fence reaching farther makes a target inside it fine
    from edgepilot.vehicle.safety.geofence import FenceZoneSpec, specs_to_items
    spec = FenceZoneSpec(type="polygon", inclusion=True,
                         points=[(-10.0, -10.0), (70.0, -10.0), (70.0, radius + 900.0), (-10.0, radius + 900.0)])
    assert core.set_fence(specs_to_items([spec], core.frame.to_geo)).ok
    assert core.set_mission(mission((8, 20), (4, radius + 500))).ok
    assert not core.set_mission(mission((8, 20), (200, radius + 500))).ok     # outside fence and radius


def test_without_allow_unknown_the_old_refusal_stands(tmp_path):
    cfg = load_vehicle_config(UGV)
    strict = cfg.model_copy(update={"planning": cfg.planning.model_copy(update={"allow_unknown": False})})
    sc = _yard_beyond(tmp_path, [[8, 20]])
    grid = PlanningGrid(Simulation(sc).world.vehicle_prior_map(), strict)
    with pytest.raises(PlanningError, match=r"target \(4.0, 44.0\) m is (outside the map|in unknown space)"):
        grid.plan(4.0, 4.0, 4.0, 44.0)
    # allowed: planned, at a cost in unknown space
    grid = PlanningGrid(Simulation(sc).world.vehicle_prior_map(), cfg)
    pts = grid.plan(4.0, 4.0, 4.0, 44.0)
    assert tuple(pts[-1]) == (4.0, 44.0) and not grid.partial
    assert grid.weights[grid.cell(4.0, 44.0)] == pytest.approx(cfg.planning.unknown_cost)
    assert grid.weights[grid.cell(4.0, 35.0)] == pytest.approx(1.0)     # the prior map's free space


def test_rolling_window_stays_the_same_size_and_plans_towards_far_targets():
    cfg = load_vehicle_config(str(configs_dir() / "vehicles" / "ugv_lidar.toml"))
    grid = PlanningGrid(None, cfg, (0.0, 0.0))
    shape = grid.weights.shape
    nbytes = grid.weights.nbytes + grid.distance.nbytes + grid.costmap.occupied.nbytes + grid.costmap.known.nbytes
    # a target 2 km east: the path ends where the line leaves the window
    pts = grid.plan(0.0, 0.0, 2000.0, 0.0)
    assert grid.partial and 40.0 < pts[-1, 0] < 50.0 and abs(pts[-1, 1]) < 1e-6
    moves = 0
    for x in np.arange(0.0, 2000.0, 5.0):
        moves += grid.track(float(x), 0.0)
        xmin, ymin, xmax, ymax = grid.costmap.bounds()
        assert xmin + 0.2 * grid.window_m <= x <= xmax - 0.2 * grid.window_m
    assert moves >= 2000.0 / (0.5 * grid.window_m)       # it rolled all the way
    assert grid.weights.shape == shape
    assert grid.weights.nbytes + grid.distance.nbytes + grid.costmap.occupied.nbytes + \
        grid.costmap.known.nbytes == nbytes
    # an obstacle told about near the vehicle is kept while in the window
    grid.add_obstacles(np.array([[2010.0, 0.0]]))
    grid.track(2000.0, 0.0)
    assert not np.isfinite(grid.weights[grid.cell(2010.0, 0.0)])
    xmax = grid.costmap.bounds()[2]
    pts = grid.plan(1995.0, 0.0, xmax - 10.0, 0.0)
    assert not np.isfinite(grid.weights[grid.cell(2010.0, 0.0)]) and xmax - 10.0 > 2012.0
    assert not grid.partial and not grid.path_blocked(pts)


@pytest.mark.slow
def test_ugv_unmapped_field_scenario_end_to_end(tmp_path, ep):
    """No prior map: a 400 m patrol round a field, obstacles only the lidar
    sees, GNSS degraded on the north leg; through the real command."""
    out = tmp_path / "report"
    r = ep("sitl", "run", "ugv_unmapped_field", "--out", str(out), timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["passed"] and summary["collisions"] == 0
    assert summary["waypoints_reached"] == summary["waypoints_total"] == 4
    assert summary["path_length_m"] >= 400.0
    sc = load_scenario("ugv_unmapped_field")
    assert sc.world.prior_map is False and Simulation(sc).world.vehicle_prior_map() is None
    assert any(f.type == "gps_jamming" for f in sc.faults)


def test_window_keeps_world_positions_when_it_rolls_and_seen_cells_lose_the_unknown_cost():
    from edgepilot.vehicle.costmap import InflationParams, WindowCostmap
    from edgepilot.vehicle.maps import GridMap

    occ = np.zeros((40, 40), bool)
    occ[20, 20] = True                                        # a prior obstacle at (10.25, 10.25)
    prior = GridMap(occ, 0.5, 0.0, 0.0)
    wc = WindowCostmap(100, 100, 0.5, InflationParams(0.6, 1.5), prior, (10.0, 10.0), unknown_weight=3.0,
                       edge_trigger=5.0)                   # x, y in [-15, 35] m
    assert wc.weights[wc.world_to_cell(5.0, 5.0)] == pytest.approx(1.0)      # prior free space: known
    assert wc.weights[wc.world_to_cell(-8.0, 5.0)] == pytest.approx(3.0)     # off the prior map: unknown
    wc.add_obstacles(points=np.array([[-5.0, 5.0]]))
    seen = np.ones((4, 4), bool)
    wc.mark_known(seen, (-10.0, 14.0))                       # a lidar saw 2 x 2 m there
    assert wc.weights[wc.world_to_cell(-9.0, 15.0)] == pytest.approx(1.0)
    assert not wc.follow(10.0, 10.0)                          # centred: stays
    assert not wc.follow(29.0, 10.0)                          # 6 m from the edge: stays
    assert wc.follow(31.0, 10.0)                              # near the east edge: rolls
    assert wc.bounds()[0] == pytest.approx(6.0) and wc.weights.shape == (100, 100)
    assert not np.isfinite(wc.weights[wc.world_to_cell(10.25, 10.25)])     # the prior obstacle, same place
    assert wc.weights[wc.world_to_cell(50.0, 5.0)] == pytest.approx(3.0)    # scrolled in: unknown
    wc.follow(-12.0, 10.0)                                    # back west: the lidar obstacle was forgotten
    assert np.isfinite(wc.weights[wc.world_to_cell(-5.0, 5.0)])


def test_mapper_rolls_with_the_window_and_keeps_what_it_reported():
    from edgepilot.sim.sensors.lidar import Lidar, LidarSpec
    from edgepilot.vehicle.perception import LidarMapper
    from edgepilot.vehicle.types import VehicleState

    occ = np.zeros((400, 400), bool)
    occ[195:205, 260:270] = True                              # a post at x = 13..13.5 m (0.05 m cells)
    m = LidarMapper(None, resolution=0.1, window=(200, 200, -5.0, 0.0))
    lid = Lidar(LidarSpec(beams=360, fov_deg=180, max_range=12, noise_std=0.0), np.random.default_rng(0))
    st = VehicleState(0, 5.0, 10.0, 0.0, 0, 0, 0, 0, 0, pos_std=0.1, valid=True)
    pts = np.vstack([m.integrate(st, lid.scan(0, (5.0, 10.0, 0.0), occ, 0.05, (0, 0))) for _ in range(4)])
    assert len(pts) and np.all(np.abs(pts[:, 0] - 13.0) < 0.3)
    before = m.grid.occupied_points(0.8)
    assert m.align(0.0, 2.0)                                  # 5 m east, 2 m north
    after = m.grid.occupied_points(0.8)
    assert len(after) == len(before) and np.allclose(np.sort(after, axis=0), np.sort(before, axis=0))
    # reported cells stay reported after the roll: nothing new from the same post
    assert len(m.integrate(st, lid.scan(0, (5.0, 10.0, 0.0), occ, 0.05, (0, 0)))) == 0


@pytest.mark.interop
@pytest.mark.timeout(240)
def test_ground_station_upload_off_the_map_is_flown_and_beyond_the_area_refused(tmp_path):
    """Through the real ground-station CLI against a real realtime SITL of
    the extended yard: the (4, 44) m mission is accepted, armed, started and
    completed; one with a waypoint beyond the operating area is refused with
    the reason."""
    from edgepilot.sim.realtime import free_port, spawn, stop
    from tests.test_gcs_e2e import gcs, ok, write_mission, yard_mission

    sc = _yard_beyond(tmp_path, [[8, 20]])
    tcp = free_port("tcp")
    p = spawn(sc.source, [f"tcpin:127.0.0.1:{tcp}"], 8.0)
    ep = f"tcp:127.0.0.1:{tcp}"
    try:
        radius = sc.vehicle_config.planning.operating_radius_m
        far = write_mission(tmp_path / "far.waypoints", yard_mission([(8.0, 20.0), (4.0, 4.0 + radius + 50.0)]))
        r = gcs("-c", ep, "mission", "upload", str(far), timeout=60)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "beyond the operating area" in r.stderr and "planning.operating_radius_m" in r.stderr, r.stderr
        off = write_mission(tmp_path / "off.waypoints", yard_mission([(8.0, 20.0), (4.0, 44.0)]))
        assert "uploaded 2 mission items" in ok(gcs("-c", ep, "mission", "upload", str(off), timeout=60))
        ok(gcs("-c", ep, "arm", timeout=60))
        r = gcs("-c", ep, "mission", "start", "--wait", "--wait-timeout", "60", timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "mission complete (item 2 reached)" in r.stdout, r.stdout
    finally:
        stop(p)


def test_learn_marks_what_mark_known_packed_marks():
    """PlanningGrid.learn hands the mapper's own grid and its scan's window
    straight to the costmap's _mark (mark_known_packed's checks hold for
    them): the same costmap, bit for bit, as mark_known_packed of the
    scan's window, through scans that move and the window rolling."""
    import copy

    from edgepilot.sim.sensors.lidar import Lidar, LidarSpec
    from edgepilot.vehicle.perception import LidarMapper
    from edgepilot.vehicle.types import VehicleState

    cfg = load_vehicle_config(UGV)
    occ = np.zeros((800, 800), bool)
    occ[395:405, 460:470] = True                              # a post at x = 23..23.5 m (0.05 m cells)
    a = PlanningGrid(None, cfg, center=(5.0, 10.0))
    res = a.resolution
    h, w, ox, oy = a.window()
    m = LidarMapper(None, resolution=res, window=(h, w, ox, oy))
    b = copy.deepcopy(a)
    lid = Lidar(LidarSpec(beams=360, fov_deg=270, max_range=12, noise_std=0.0), np.random.default_rng(0))
    for i in range(12):
        x = 5.0 + 4.0 * i
        st = VehicleState(0, x, 10.0, 0.0, 0, 0, 0, 0, 0, pos_std=0.1, valid=True)
        if a.track(x, 10.0, m):
            assert b.follow(x, 10.0)
        scans = m.scans
        m.integrate(st, lid.scan(0, (x, 10.0, 0.0), occ, 0.05, (0, 0)))
        a.learn(m, scans)
        # the oracle: the checked front with the scan's window
        r0, r1, c0, c1 = m.last_window
        g = m.grid
        cells, mask, bias = m.packed()
        b.costmap.mark_known_packed(cells, mask, bias, (g.origin_x + c0 * g.resolution,
                                                        g.origin_y + r0 * g.resolution), (r0, r1, c0, c1))
        ca, cb = a.costmap, b.costmap
        assert np.array_equal(ca.known, cb.known) and ca.weights.tobytes() == cb.weights.tobytes()
        assert np.array_equal(ca.unknown_chunks, cb.unknown_chunks)
        assert np.array_equal(ca.unknown_tiles, cb.unknown_tiles)
        assert (ca.unknown_cells, ca.version) == (cb.unknown_cells, cb.version)
    assert a.costmap.version > 0 and (a.costmap.origin_x, a.costmap.origin_y) != (ox, oy)
