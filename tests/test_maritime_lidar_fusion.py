"""Our own lidar's vessel tracks in the contact table: the tracker in the
maritime front (clusters off the shore, Kalman tracks), fusion with AIS
contacts, the contact life-cycle events, hulls kept out of the static
costmap; and the AIS-dropout scenario end to end in lockstep SITL."""
import math

import numpy as np
import pytest

from edgepilot.sim.lockstep import run_lockstep
from edgepilot.sim.scenario import load_scenario
from edgepilot.sim.sensors.lidar import Lidar, LidarSpec
from edgepilot.vehicle.geo import LocalFrame
from edgepilot.vehicle.maritime.avoidance import ShoreGrid
from edgepilot.vehicle.maritime.contacts import ContactTable
from edgepilot.vehicle.maritime.sensing import LidarVesselTracker, points_on_vessels, shore_distance_fn
from edgepilot.vehicle.perception.tracking import Track
from edgepilot.vehicle.types import ContactReport, VehicleState

F = LocalFrame(54.4, 10.2)
MMSI = 211000111


def ais(t, mmsi, x, y, sog=2.0, cog=0.0):
    lat, lon = F.to_geo(x, y)
    return ContactReport(t, "ais", mmsi, lat, lon, sog, cog)


def track(tid, t, x, y, vx, vy, speed_std, radius=5.0, confirmed=True):
    cov = np.diag([1.0, 1.0, speed_std ** 2, speed_std ** 2])
    return Track(tid, t, x, y, vx, vy, cov, radius, confirmed, 10, 0)


# ------------------------------------------------------------------ contact table
def test_unsettled_track_moves_the_ais_contact_but_keeps_its_velocity():
    tab = ContactTable(F, max_track_speed_std=0.5)
    tab.ingest([ais(0.0, 7, 100.0, 0.0, sog=2.0, cog=0.0)], 0.0)
    tab.ingest_tracks([track(1, 1.0, 103.0, 1.0, -4.0, 3.0, speed_std=2.0)], 1.0)
    c = tab.get(7)
    assert (c.x, c.y) == (103.0, 1.0) and c.vx == pytest.approx(2.0, abs=0.01) and abs(c.vy) < 0.01
    tab.ingest_tracks([track(1, 2.0, 105.0, 1.0, 2.1, 0.1, speed_std=0.2)], 2.0)
    assert (c.vx, c.vy) == (2.1, 0.1)             # settled: the track's velocity now


def test_lone_track_becomes_a_contact_only_once_its_velocity_settles():
    tab = ContactTable(F, max_track_speed_std=0.5)
    tab.ingest_tracks([track(4, 1.0, 0.0, 50.0, 3.0, 0.0, speed_std=1.5)], 1.0)
    assert len(tab) == 0
    tab.ingest_tracks([track(4, 2.0, 1.0, 50.0, 1.0, 0.0, speed_std=0.3)], 2.0)
    assert tab.get(-5) is not None and tab.get(-5).vx == 1.0
    ev = tab.drain_events()
    assert [d["contact"] for _, d in ev] == ["new"] and ev[0][1]["track"] == 4


def test_non_finite_track_is_rejected():
    tab = ContactTable(F)
    tab.ingest_tracks([track(2, 1.0, math.nan, 0.0, 0.0, 0.0, speed_std=0.1)], 1.0)
    assert len(tab) == 0 and tab.counters.rejected == 1


def test_two_tracks_on_one_vessel_both_refresh_it_without_stealing_it():
    tab = ContactTable(F)
    tab.ingest([ais(0.0, 8, 100.0, 0.0)], 0.0)
    for k in range(10):
        t = 0.1 * (k + 1)
        tab.ingest_tracks([track(1, t, 100.0 + 2 * t, 0.5, 2.0, 0.0, 0.2),
                           track(2, t, 100.0 + 2 * t, -0.5, 2.0, 0.0, 0.2)], t)
    fused = [d["track"] for _, d in tab.drain_events() if d["contact"] == "fused"]
    assert fused == [1, 2] and len(tab) == 1 and tab.get(8).track_id == 2


def test_life_cycle_events_ais_silent_held_by_lidar_back_and_dropped():
    tab = ContactTable(F, stale_after_s=30.0, ais_silent_after_s=10.0)
    tab.ingest([ais(0.0, 9, 200.0, 0.0, sog=2.0, cog=math.pi)], 0.0)
    for k in range(1, 16):                        # lidar keeps seeing it, AIS says nothing
        t = float(k)
        tab.ingest_tracks([track(3, t, 200.0 - 2 * t, 0.0, -2.0, 0.0, 0.2)], t)
    tab.ingest([ais(20.0, 9, 160.0, 0.0, sog=2.0, cog=math.pi)], 20.0)
    tab.ingest([], 60.0)
    ev = [(d["contact"], d) for _, d in tab.drain_events()]
    kinds = [k for k, _ in ev]
    assert kinds == ["new", "fused", "ais_silent", "ais_back", "dropped"]
    silent = ev[2][1]
    assert silent["held_by"] == ["lidar"] and silent["track"] == 3 and silent["key"] == 9
    assert ev[3][1]["silent_s"] == pytest.approx(20.0)


# ------------------------------------------------------------------ lidar tracker
def _scan_world(x_wall_m: float = 0.0):
    """A 400 x 400 m raster (0.5 m cells) with a wall along its west edge."""
    occ = np.zeros((800, 800), bool)
    occ[:, : int(x_wall_m / 0.5) + 1] = True
    return occ


def _shore_for(occ):
    import cv2
    dist = cv2.distanceTransform((~occ).astype(np.uint8), cv2.DIST_L2, 5).astype(np.float32) * 0.5
    return ShoreGrid(lambda: dist, 0.0, 0.0, 0.5, 3.0, 12.0)


def test_tracker_follows_a_vessel_and_ignores_the_wall_at_the_range_edge():
    occ = _scan_world()
    lid = Lidar(LidarSpec(beams=720, fov_deg=360, max_range=200.0, noise_std=0.05), np.random.default_rng(1))
    trk = LidarVesselTracker(shore_distance_fn(_shore_for(occ)))
    blind = LidarVesselTracker(None)
    own = VehicleState(0.0, 200.1, 200.0, 0.0, 0, 0, 0, 0, 0, 0.3, True)   # the wall face 199.6 m west
    for k in range(60):                            # 6 s, a vessel crossing 120 m ahead at 2 m/s
        t = 0.1 * k
        vessel = np.array([[310.0, 150.0 + 2.0 * t, 8.0]])
        scan = lid.scan(t, (own.x, own.y, own.yaw), occ, 0.5, (0.0, 0.0), vessel)
        st = VehicleState(t, *[getattr(own, f) for f in ("x", "y", "yaw", "vx", "vy", "yaw_rate", "lat", "lon",
                                                          "pos_std", "valid")])
        tracks = trk.update(st, scan)
        blind.update(st, scan)
    conf = [t for t in tracks if t.confirmed]
    assert len(conf) == 1
    v = conf[0]
    assert math.hypot(v.x - 310.0, v.y - (150.0 + 2.0 * 5.9)) < 2.5
    assert abs(v.vx) < 0.5 and v.vy == pytest.approx(2.0, abs=0.5)
    assert trk.dropped_on_shore > 0
    # without the shore test the wall's visible stretch is tracked as an object too
    assert any(t.confirmed and t.x < 10.0 for t in blind.tracks)


def test_points_on_vessels():
    pts = np.array([[0.0, 0.0], [12.0, 0.0], [14.5, 0.0], [100.0, 100.0]])
    on = points_on_vessels(pts, np.array([0.0]), np.array([0.0]), np.array([10.0]), 3.0)
    assert on.tolist() == [True, True, False, False]
    assert points_on_vessels(pts, np.zeros(0), np.zeros(0), np.zeros(0), 3.0).tolist() == [False] * 4


# ------------------------------------------------------------------ SITL
def _mine(res, kind):
    return [e for e in res.events if e.kind == kind and e.data.get("key") == MMSI]


def test_ais_dropout_contact_held_by_lidar_and_avoided():
    sc = load_scenario("usv_ais_dropout_lidar")
    assert sc.vehicle_config.sensors.lidar is not None
    (outage,) = sc.traffic[0].ais_outages
    r = run_lockstep(sc)
    assert r.passed, r.reasons
    assert r.collisions == 0 and r.mission_complete
    assert r.min_cpa_m >= sc.criteria.min_cpa_m >= sc.vehicle_config.maritime.safe_distance_m
    (enc,) = r.encounter_results
    assert enc["reported"] == ["HEAD_ON", "CLEAR"] and enc["course_change_deg"] >= 20
    t_cpa = enc["t_cpa"]
    assert outage[0] < enc["t_start"] < t_cpa < outage[1]     # AIS silent before and through the encounter
    ev = _mine(r, "contact")
    silent = next(e for e in ev if e.data["contact"] == "ais_silent")
    fused = next(e for e in ev if e.data["contact"] == "fused")
    # the lidar took the contact over while its AIS was silent, before it went stale
    stale_at = silent.t - silent.data["silent_s"] + sc.vehicle_config.maritime.contact_stale_s
    assert fused.data["source"] == "lidar" and fused.data["ais_silent_s"] > 0 and fused.t < stale_at
    assert not [e for e in ev if e.data["contact"] in ("dropped", "ais_back") and e.t <= t_cpa + 10]
    assert not [e for e in _mine(r, "colregs") if e.data.get("encounter") == "lost"]
    # hulls are contacts, not map: open water never needs a replan
    assert not [e for e in r.events if e.kind == "replan"]


def test_ais_dropout_without_the_lidar_loses_the_contact_and_closes_in():
    sc = load_scenario("usv_ais_dropout_lidar")
    cfg = sc.vehicle_config
    blind = cfg.model_copy(update={"sensors": cfg.sensors.model_copy(update={"lidar": None})})
    r = run_lockstep(sc.model_copy(update={"vehicle_config": blind}))
    (enc,) = r.encounter_results
    dropped = [e for e in _mine(r, "contact") if e.data["contact"] == "dropped"]
    assert dropped and dropped[0].t < enc["t_cpa"]
    assert [e.t for e in _mine(r, "colregs") if e.data.get("encounter") == "lost"] == [dropped[0].t]
    assert not r.passed and r.min_cpa_m < cfg.maritime.safe_distance_m
