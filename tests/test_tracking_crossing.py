"""Lidar clustering and multi-object tracking: two objects crossing."""
import math

import numpy as np
import pytest

from edgepilot.sim.sensors.lidar import Lidar, LidarSpec
from edgepilot.vehicle.perception.tracking import Cluster, MultiObjectTracker, cluster_scan

RES = 0.05


def _paths(t):
    """Object A heads north-east, B south-east; they cross at (10, 0) at t = 5 s."""
    a = np.array([5.0 + 1.0 * t, -5.0 + 1.0 * t])
    b = np.array([5.0 + 1.0 * t, 5.0 - 1.0 * t])
    return a, b


def test_two_crossing_objects_keep_their_identities_from_lidar():
    occ = np.zeros((800, 800), bool)                       # open water, 40 x 40 m
    origin = (-10.0, -20.0)
    spec = LidarSpec(beams=720, fov_deg=360, max_range=30, noise_std=0.02, dropout=0.02, rate_hz=10)
    lidar = Lidar(spec, np.random.default_rng(4))
    trk = MultiObjectTracker(accel_std=0.3, meas_std=0.1)
    pose = (0.0, 0.0, 0.0)
    ids_a, ids_b = [], []
    for k in range(101):
        t = 0.1 * k
        a, b = _paths(t)
        circles = np.array([[a[0], a[1], 0.5], [b[0], b[1], 0.5]])
        scan = lidar.scan(t, pose, occ, RES, origin, circles)
        clusters = cluster_scan(pose, scan.ranges, scan.angle_min, scan.angle_increment, scan.max_range)
        tracks = trk.update(t, clusters)
        conf = [tr for tr in tracks if tr.confirmed]
        if t > 1.0 and abs(t - 5.0) > 1.0:
            # away from the crossing both are seen and tracked
            assert len(conf) == 2
            for tr in conf:
                pa, pb = math.dist((tr.x, tr.y), a), math.dist((tr.x, tr.y), b)
                (ids_a if pa < pb else ids_b).append(tr.id)
                assert min(pa, pb) < 0.3
    # identities survive the crossing
    assert len(set(ids_a)) == 1 and len(set(ids_b)) == 1 and ids_a[0] != ids_b[0]
    final = {tr.id: tr for tr in trk.tracks(confirmed_only=True)}
    ta, tb = final[ids_a[0]], final[ids_b[0]]
    assert (ta.vx, ta.vy) == pytest.approx((1.0, 1.0), abs=0.2)
    assert (tb.vx, tb.vy) == pytest.approx((1.0, -1.0), abs=0.2)
    for tr in (ta, tb):
        assert np.all(np.linalg.eigvalsh(tr.cov) > 0)          # a real covariance
        assert math.sqrt(tr.cov[0, 0]) < 0.2
    mov = trk.moving_obstacles(0.5)
    assert mov.shape == (2, 5)
    assert np.all(np.abs(mov[:, 2] - 0.5) < 0.25)              # radius estimate


def test_crossing_with_noisy_point_measurements_gnn():
    rng = np.random.default_rng(9)
    trk = MultiObjectTracker(accel_std=0.2, meas_std=0.2)
    first = {}
    for k in range(100):
        t = 0.1 * k
        a, b = _paths(t)
        z = np.vstack((a, b)) + rng.normal(0, 0.2, (2, 2))
        if k % 2:
            z = z[::-1]                                    # order carries no identity
        trk.update(t, z)
        conf = trk.tracks(confirmed_only=True)
        if k == 20:
            first = {("a" if math.dist((tr.x, tr.y), a) < 1 else "b"): tr.id for tr in conf}
    conf = {tr.id: tr for tr in trk.tracks(confirmed_only=True)}
    a, b = _paths(9.9)
    assert math.dist((conf[first["a"]].x, conf[first["a"]].y), a) < 0.5
    assert math.dist((conf[first["b"]].x, conf[first["b"]].y), b) < 0.5


def test_cluster_scan_geometry_and_walls_dropped():
    # a 0.5 m circle 10 m ahead and a long wall
    n = 721
    a = np.linspace(-math.pi / 2, math.pi / 2, n)
    r = np.full(n, np.inf)
    # wall at y = -6 (right side)
    with np.errstate(divide="ignore"):
        wall = -6.0 / np.sin(a)
    r[(a < -0.3)] = wall[(a < -0.3)]
    b = 10.0 * np.cos(a)
    disc = b ** 2 - (100 - 0.25)
    ok = disc >= 0
    r[ok] = b[ok] - np.sqrt(disc[ok])
    cl = cluster_scan((0, 0, 0), r.astype(np.float32), float(a[0]), float(a[1] - a[0]), 30.0)
    assert len(cl) == 1
    assert cl[0].x == pytest.approx(10.0, abs=0.15) and cl[0].y == pytest.approx(0.0, abs=0.05)
    assert cl[0].radius == pytest.approx(0.5, abs=0.1)


def test_tracker_bad_input():
    trk = MultiObjectTracker()
    trk.update(1.0, [Cluster(0, 0, 0.3, 5)])
    with pytest.raises(ValueError, match="backwards"):
        trk.update(0.5, [])
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        trk.update(2.0, np.zeros((3, 4)))
