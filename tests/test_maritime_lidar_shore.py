"""Our own lidar in narrow water: the charted quay is never a vessel, a
boat moving along the quay is a contact the helm gives way to, and a boat
moored a few metres off the quay (or a person in the water) is a fixed
object for the map, not a vessel.  The simulated lidar (sim.sensors.lidar)
scans a raster with the quay on the boat's prior map; the maritime layer
(``MaritimeAutonomy``) is the core's own, fed scans taken at the pose the
boat believes (with a position error inside its reported uncertainty)."""
import math

import cv2
import numpy as np
import pytest

from edgepilot.sim.sensors.lidar import Lidar, LidarSpec
from edgepilot.vehicle.config import load_vehicle_config
from edgepilot.vehicle.geo import LocalFrame
from edgepilot.vehicle.maritime import sensing
from edgepilot.vehicle.maritime.autonomy import MaritimeAutonomy
from edgepilot.vehicle.maritime.avoidance import ShoreGrid
from edgepilot.vehicle.maritime.sensing import (LidarVesselTracker, ShoreDistance, shore_distance_fn,
                                                shore_returns)
from edgepilot.vehicle.types import SensorFrame, VehicleState

from pathlib import Path

RES = 0.25
W, H = 120.0, 40.0
QUAY_Y = 2.0             # land south of this line: the quay face
BANK_Y = 34.0            # the far bank, north of this line
POS_ERR = (0.3, -0.4)    # the boat's belief minus the truth [m]
POS_STD = 0.4
VEHICLES = Path(__file__).resolve().parents[1] / "configs" / "vehicles"


def _channel():
    occ = np.zeros((int(H / RES), int(W / RES)), bool)
    occ[: int(QUAY_Y / RES), :] = True
    occ[int(BANK_Y / RES):, :] = True
    return occ


def _shore(occ):
    dist = cv2.distanceTransform((~occ).astype(np.uint8), cv2.DIST_L2, 5).astype(np.float32) * RES
    return ShoreGrid(lambda: dist, 0.0, 0.0, RES, 2.0, 4.0)


def _boat(occ):
    cfg = load_vehicle_config(VEHICLES / "usv_fleet.toml")
    m = MaritimeAutonomy(cfg, LocalFrame(52.0, 4.0))
    m.tracker = LidarVesselTracker(shore_distance_fn(_shore(occ)))   # the quay is on its chart
    return cfg, m


def _run(occ, others, seconds, own0=(10.0, 12.0), own_v=(1.5, 0.0), seed=3):
    """Drive our boat along the channel for ``seconds`` while ``others(t)``
    gives the (K, 3) [x, y, radius] hulls; returns the maritime layer, the
    final believed state and the history of its vessel tracks."""
    cfg, m = _boat(occ)
    lid = Lidar(LidarSpec(beams=360, fov_deg=360, max_range=40.0, noise_std=0.05, dropout=0.01),
                np.random.default_rng(seed))
    yaw = math.atan2(own_v[1], own_v[0])
    vessels_seen = []
    st = None
    for k in range(int(seconds * 10)):
        t = 0.1 * k
        tx, ty = own0[0] + own_v[0] * t, own0[1] + own_v[1] * t
        scan = lid.scan(t, (tx, ty, yaw), occ, RES, (0.0, 0.0), others(t))
        st = VehicleState(t, tx + POS_ERR[0], ty + POS_ERR[1], yaw, own_v[0], own_v[1], 0.0, 0.0, 0.0,
                          POS_STD, True)
        m.sense(t, st, SensorFrame(t, scan=scan))
        vessels_seen.append([(tr.x, tr.y) for tr in m.tracker.vessels])
    return cfg, m, st, vessels_seen


def _returns_on_shore_numpy(pose, ranges, angle_min, inc, max_range, field, origin, res, margin):
    """NumPy oracle of the per-return shore kernel."""
    r = np.asarray(ranges, np.float64)
    a = pose[2] + angle_min + inc * np.arange(r.size)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(r) & (r > 0) & (r < max_range)
    rr = np.where(valid, r, 0.0)
    x = pose[0] + rr * np.cos(a)
    y = pose[1] + rr * np.sin(a)
    c = np.floor((x - origin[0]) / res).astype(np.int64)
    row = np.floor((y - origin[1]) / res).astype(np.int64)
    inside = (row >= 0) & (row < field.shape[0]) & (c >= 0) & (c < field.shape[1])
    out = np.zeros(r.size, bool)
    k = valid & inside
    out[k] = field[row[k], c[k]] <= margin
    return out


# ------------------------------------------------------------------ the kernel
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shore_returns_kernel_matches_numpy(seed):
    rng = np.random.default_rng(seed)
    field = (rng.random((60, 80)) * 6.0).astype(np.float32)
    ranges = rng.uniform(0.0, 30.0, 500)
    ranges[rng.random(500) < 0.1] = np.nan
    ranges[rng.random(500) < 0.05] = np.inf
    ranges[rng.random(500) < 0.05] = -np.inf
    pose = (rng.uniform(0, 20), rng.uniform(0, 15), rng.uniform(-math.pi, math.pi))
    grid = ShoreGrid(lambda: field, -2.0, 1.5, 0.25, 1.0, 2.0)
    got = shore_returns(pose, ranges, -math.pi, 2 * math.pi / 500, 25.0, ShoreDistance(grid), 1.5)
    want = _returns_on_shore_numpy(pose, ranges, -math.pi, 2 * math.pi / 500, 25.0, field, (-2.0, 1.5), 0.25,
                                   1.5)
    assert got.dtype == bool and got.tolist() == want.tolist()
    assert 0 < got.sum() < np.isfinite(ranges).sum()   # the case exercises both answers


def test_shore_returns_rejects_bad_input():
    grid = ShoreGrid(lambda: np.zeros((4, 4), np.float32), 0.0, 0.0, 1.0, 1.0, 2.0)
    with pytest.raises(ValueError, match="ranges must be 1-D"):
        shore_returns((0, 0, 0), np.zeros((2, 2)), 0.0, 0.1, 10.0, ShoreDistance(grid), 1.0)
    with pytest.raises(ValueError, match="margin must be finite"):
        shore_returns((0, 0, 0), np.ones(3), 0.0, 0.1, 10.0, ShoreDistance(grid), math.nan)
    with pytest.raises(TypeError, match="ShoreDistance"):
        LidarVesselTracker(lambda x, y: 0.0)


# ------------------------------------------------------------------ narrow water
def test_quay_returns_never_become_a_vessel_contact():
    occ = _channel()
    cfg, m, st, seen = _run(occ, lambda t: np.zeros((0, 3)), 40.0)
    assert m.tracker.dropped_on_shore > 1000          # the quay and the far bank were in view throughout
    assert not any(seen) and len(m.contacts) == 0
    assert not m.steer(st.t, st, 0.0, 1.5).active    # nothing to give way to


def test_quay_without_the_chart_is_seen_but_still_no_vessel():
    # the same water with no chart: the quay's stretches are objects, but
    # none moves over the water, so none is a contact for the helm
    occ = _channel()
    cfg, m = _boat(occ)
    m.tracker = LidarVesselTracker(None)
    lid = Lidar(LidarSpec(beams=360, fov_deg=360, max_range=40.0, noise_std=0.05), np.random.default_rng(5))
    for k in range(300):
        t = 0.1 * k
        st = VehicleState(t, 10.0 + 1.5 * t, 12.0, 0.0, 1.5, 0.0, 0.0, 0.0, 0.0, POS_STD, True)
        m.sense(t, st, SensorFrame(t, scan=lid.scan(t, (st.x, st.y, 0.0), occ, RES, (0.0, 0.0))))
    assert len(m.contacts) == 0 and not m.tracker.vessels


def test_boat_moving_along_the_quay_is_tracked_and_given_way_to():
    occ = _channel()
    # a 3 m boat 4 m off the quay, coming the other way down the channel
    hull = lambda t: np.array([[75.0 - 1.5 * t, QUAY_Y + 4.0, 1.5]])   # noqa: E731
    cfg, m, st, seen = _run(occ, hull, 15.0)   # in lidar range (40 m) from 8 s
    truth = hull(st.t)[0]
    (v,) = m.tracker.vessels
    assert math.hypot(v.x - truth[0] - POS_ERR[0], v.y - truth[1] - POS_ERR[1]) < 2.0
    assert v.vx == pytest.approx(-1.5, abs=0.5)
    (c,) = m.contacts.contacts.values()
    assert c.mmsi is None and "lidar" in c.sources
    d = m.steer(st.t, st, 0.0, 1.5)
    assert d.active and c.key in m.helm.encounters
    # its returns are the contact's, kept out of the static map
    pts = np.array([[truth[0] + POS_ERR[0], truth[1] + 1.5 + POS_ERR[1]]])
    assert m.vessel_points(st.t, pts).all()


def test_boat_moored_off_the_quay_is_seen_and_goes_to_the_map():
    occ = _channel()
    moored = np.array([[45.0, QUAY_Y + 3.0, 1.0]])       # 3 m off the quay
    cfg, m, st, seen = _run(occ, lambda t: moored, 12.0, own0=(15.0, 12.0))
    (s,) = m.tracker.statics
    assert math.hypot(s.x - 45.0 - POS_ERR[0], s.y - moored[0, 1] - POS_ERR[1]) < 1.5
    assert not any(seen) and len(m.contacts) == 0
    # the lidar's points on it go to the costmap: neither a vessel nor held back
    pts = np.array([[45.0 + POS_ERR[0], moored[0, 1] + 1.0 + POS_ERR[1]]])
    assert not m.vessel_points(st.t, pts).any() and not m.unproven_points(st.t, pts).any()


def test_object_seen_for_the_first_time_is_held_back_from_the_map():
    occ = _channel()
    moored = np.array([[45.0, QUAY_Y + 3.0, 1.0]])
    cfg, m, st, seen = _run(occ, lambda t: moored, 2.0, own0=(15.0, 12.0))
    assert not m.tracker.statics and not m.tracker.vessels
    pts = np.array([[45.0 + POS_ERR[0], moored[0, 1] + 1.0 + POS_ERR[1]]])
    assert m.unproven_points(st.t, pts).all() and not m.vessel_points(st.t, pts).any()


def test_module_constants_are_consistent():
    assert sensing.STATIC_TRAVEL_M < sensing.MIN_VESSEL_TRAVEL_M
