"""The tracker's kernels (perception._kernels.track_scan_kernel: track_update_kernel and the new tracks, behind
MultiObjectTracker) against its NumPy oracle (perception._reference.
NumpyTracker): the same tracks, ids, life cycle and association scan by
scan, and estimates equal to float rounding."""
import numpy as np
import pytest

from edgepilot.vehicle.perception._reference import NumpyTracker
from edgepilot.vehicle.perception.tracking import MultiObjectTracker


def _objects(rng, k):
    """(k, 4) x0, y0, vx, vy: objects on straight lines across a 10 m
    square, so that some cross (merged blobs, coasting)."""
    return np.column_stack((rng.uniform(-5, 5, (k, 2)), rng.uniform(-1, 1, (k, 2))))


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_tracker_kernel_equals_the_numpy_oracle(seed):
    rng = np.random.default_rng(seed)
    objs = _objects(rng, 6)
    radii = rng.uniform(0.2, 1.2, len(objs))
    kw = dict(accel_std=float(rng.uniform(0.2, 0.8)), meas_std=float(rng.uniform(0.05, 0.3)))
    ours, ref = MultiObjectTracker(**kw), NumpyTracker(**kw)
    t = 0.0
    for step in range(150):
        t += float(rng.choice([0.1, 0.1, 0.1, 0.2, 0.0]))     # repeated stamps (dt = 0) too
        pos = objs[:, :2] + objs[:, 2:] * t
        seen = rng.random(len(objs)) > 0.15
        # each seen with noise, some missed, plus clutter that comes and goes
        det = np.column_stack((pos[seen] + rng.normal(0, 0.05, (seen.sum(), 2)), radii[seen]))
        if rng.random() < 0.3:                                 # clutter
            det = np.vstack((det, [[rng.uniform(-8, 8), rng.uniform(-8, 8), rng.uniform(0.1, 0.5)]]))
        det = det[rng.permutation(len(det))]
        a = ours.update(t, det)
        b = ref.update(t, det)
        assert [(x.id, x.confirmed, x.hits, x.misses) for x in a] == [(r[0], r[7], r[8], r[9]) for r in b], step
        for x, r in zip(a, b):
            got = np.array([x.x, x.y, x.vx, x.vy, x.radius])
            want = np.array([r[1], r[2], r[3], r[4], r[6]])
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(x.cov, r[5], rtol=1e-9, atol=1e-12)
    assert any(x.confirmed for x in a)          # the scene exercised confirmation
    assert ours._next_id > 7                    # and track births beyond the objects (clutter)


def test_tracker_grows_past_its_initial_capacity():
    trk = MultiObjectTracker()
    det = np.column_stack((np.arange(30.0) * 5.0, np.zeros(30), np.full(30, 0.3)))
    for k in range(5):
        tracks = trk.update(0.1 * k, det)
    assert len(tracks) == 30 and all(tr.confirmed for tr in tracks)
    assert sorted(tr.id for tr in tracks) == list(range(1, 31))


def test_tracker_refuses_non_finite_detections():
    with pytest.raises(ValueError, match="finite"):
        MultiObjectTracker().update(0.0, np.array([[np.nan, 0.0, 0.3]]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_held_back_cells_kernel_equals_the_numpy_oracle(seed):
    """Perception._near_unsettled_tracks (one kernel over the tracks)
    against the per-track NumPy expression: tentative, unsettled, moving,
    standing and barely moving tracks over random points."""
    from edgepilot.vehicle.config import load_vehicle_config
    from edgepilot.vehicle.perception._reference import near_unsettled_tracks_numpy
    from edgepilot.vehicle.perception.front import Perception
    from edgepilot.vehicle.perception.tracking import Track

    from edgepilot import configs_dir

    p = Perception(load_vehicle_config(configs_dir() / "vehicles" / "ugv_lidar.toml"), None)
    rng = np.random.default_rng(seed)
    held = 0
    for _ in range(60):
        n = int(rng.integers(0, 80))
        pts = rng.uniform(-6.0, 6.0, (n, 2))
        tracks = []
        for i in range(int(rng.integers(0, 6))):
            v = rng.choice([0.0, 1e-7, 0.2, 0.5, 1.5]) * rng.uniform(-1.0, 1.0, 2)
            tracks.append(Track(i, 0.0, *rng.uniform(-5.0, 5.0, 2), *v, np.eye(4), float(rng.uniform(0.1, 1.0)),
                                bool(rng.random() < 0.8), int(rng.integers(1, 12)), 0))
        p.tracks = tracks
        got = p._near_unsettled_tracks(pts)
        want = near_unsettled_tracks_numpy(pts, tracks, p.margin_m, p.settle_hits, p.min_moving_speed)
        assert np.array_equal(got, want)
        hold, count = p._hold_back(pts)                   # the front's call: the mask and its count
        assert np.array_equal(hold, want) and count == int(want.sum())
        held += int(got.sum())
    assert held > 50


def test_tracks_are_the_constructed_frozen_tracks():
    """MultiObjectTracker.tracks() builds each Track without the dataclass
    constructor: equal to the constructed one, frozen, covariance its own."""
    import dataclasses

    from edgepilot.vehicle.perception.tracking import Cluster, Track, cluster_scan

    tr = MultiObjectTracker()
    for k in range(5):
        out = tr.update(0.1 * k, [Cluster(1.0 + 0.1 * k, 2.0, 0.3, 5), Cluster(-3.0, 0.5 * k, 0.5, 4)])
    assert len(out) == 2 and all(t.confirmed for t in out)
    for t in out:
        made = Track(*(getattr(t, f.name) for f in dataclasses.fields(Track)))
        assert t == made and repr(t) == repr(made)
        with pytest.raises(dataclasses.FrozenInstanceError):
            t.x = 0.0
    clusters = cluster_scan((0.0, 0.0, 0.0), np.full(90, 5.0, np.float32), -0.3, 0.002, 12.0)
    assert len(clusters) == 1
    for c in clusters:
        made = Cluster(c.x, c.y, c.radius, c.n)            # cluster_scan's clusters are made the same way
        assert c == made and repr(c) == repr(made) and vars(c) == vars(made)
        with pytest.raises(dataclasses.FrozenInstanceError):
            c.x = 0.0
    out[0].cov[0, 0] = 99.0                      # a caller's copy: the tracker is not touched
    assert tr.tracks()[0].cov[0, 0] != 99.0
    with pytest.raises(ValueError, match="finite"):
        tr.update(1.0, [Cluster(float("nan"), 0.0, 0.3, 5)])


def test_a_refused_scan_leaves_the_tracks_as_they_were():
    """NaN or infinite detections (a list of clusters or an array) and a
    scan time going backwards raise before the kernel runs: the tracks and
    the next id stay as they were, and the next good scan goes on from them."""
    import math

    from edgepilot.vehicle.perception.tracking import Cluster

    tr = MultiObjectTracker()
    for k in range(4):
        tr.advance(0.1 * k, [Cluster(1.0 + 0.05 * k, 2.0, 0.3, 5), Cluster(4.0, -1.0, 0.4, 6)])
    before = (tr.rows(), tr._P[:tr._n].copy(), tr._next_id, tr.t)
    for bad in (math.nan, math.inf, -math.inf):
        for det in ([Cluster(1.2, 2.0, 0.3, 5), Cluster(bad, -1.0, 0.4, 6)], [Cluster(1.2, 2.0, bad, 5)],
                    np.array([[1.2, 2.0], [4.0, bad]]), np.array([[1.2, 2.0, bad]])):
            with pytest.raises(ValueError, match="detections must be finite"):
                tr.advance(0.4, det)
    with pytest.raises(ValueError, match="time went backwards"):
        tr.advance(0.2, [Cluster(1.2, 2.0, 0.3, 5)])
    assert tr.rows() == before[0] and np.array_equal(tr._P[:tr._n], before[1])
    assert (tr._next_id, tr.t) == before[2:]
    tr.advance(0.4, [Cluster(1.2, 2.0, 0.3, 5), Cluster(4.0, -1.0, 0.4, 6), Cluster(-3.0, 0.0, 0.2, 4)])
    floats, ints = tr.rows()
    assert [i[0] for i in ints] == [1, 2, 3] and ints[2] == [3, 1, 0, 0]       # the new one: tentative
    assert floats[2] == [0.4, -3.0, 0.0, 0.0, 0.0, 0.2] and tr._next_id == 4
    pv = tr.R[0, 0]
    assert np.array_equal(tr._P[2], np.diag([pv, pv, tr.init_vel_var, tr.init_vel_var]))


@pytest.mark.parametrize("col", [0, 1, 2])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_tracker_refuses_non_finite_detections_and_changes_nothing(col, bad):
    """The kernel checks the detections (clusters or an array) before it
    changes anything: the same message as before, and the tracker as it was."""
    from edgepilot.vehicle.perception._kernels import track_scan_kernel
    from edgepilot.vehicle.perception.tracking import Cluster

    trk = MultiObjectTracker()
    for k in range(4):
        trk.update(0.1 * k, [Cluster(1.0, 2.0 + 0.1 * k, 0.3, 5), Cluster(-3.0, 0.5, 0.2, 4)])
    before = (trk.t, trk._n, trk._next_id, trk._f.copy(), trk._i.copy(), trk._P.copy())
    row = [4.0, 5.0, 0.25]
    row[col] = bad
    for det in ([Cluster(1.0, 2.4, 0.3, 5), Cluster(*row, 3)], np.array([[1.0, 2.4, 0.3], row])):
        with pytest.raises(ValueError, match="detections must be finite"):
            trk.advance(0.5, det)
        assert (trk.t, trk._n, trk._next_id) == before[:3]
        for a, b in zip((trk._f, trk._i, trk._P), before[3:]):
            np.testing.assert_array_equal(a, b)
    if col < 2:             # an (N, 2) array: no radius column
        with pytest.raises(ValueError, match="detections must be finite"):
            trk.advance(0.5, np.array([[1.0, 2.4], row[:2]]))
    # the kernel itself: -1, the blocks and the next id untouched
    z = np.array([[1.0, 2.4, 0.3], row])
    f, i, P = trk._f.copy(), trk._i.copy(), trk._P.copy()
    par, ipar = np.array([0.25, 0.0225, 9.21, 4.0]), np.array([trk._next_id, 3, 8, 2])
    got = track_scan_kernel(f, i, P, trk._n, 0.5, z, par, ipar, np.empty(64), np.empty(24, np.uint8))
    assert got == -1 and ipar[0] == trk._next_id
    for a, b in zip((f, i, P), before[3:]):
        np.testing.assert_array_equal(a, b)
    # and the tracker goes on from where it was
    tracks = trk.update(0.5, [Cluster(1.0, 2.4, 0.3, 5)])
    assert [t.id for t in tracks][:1] == [1] and trk.t == 0.5


def test_tracker_takes_an_empty_scan_of_clusters():
    trk = MultiObjectTracker()
    trk.update(0.0, [])
    assert trk._n == 0 and trk.t == 0.0
    trk.update(0.1, [])
    assert trk.tracks() == []


def test_tracker_takes_every_detections_form_alike():
    """A float64 C-contiguous (N, 3) array goes to the kernel as it is; any
    other array (float32, Fortran order, a view, (N, 2)) or a list of
    clusters is converted first: all give the same tracks."""
    from edgepilot.vehicle.perception.tracking import Cluster

    rng = np.random.default_rng(7)
    scans = [np.column_stack((rng.normal(k * 0.1, 0.05, 4), rng.normal(0.0, 0.05, 4) + np.arange(4) * 3.0,
                              np.full(4, 0.25))) for k in range(12)]
    forms = [lambda z: z, lambda z: np.asfortranarray(z), lambda z: np.hstack((z, z))[:, :3],
             lambda z: [Cluster(x, y, r, 5) for x, y, r in z.tolist()]]
    got = []
    for form in forms:
        tr = MultiObjectTracker()
        for k, z in enumerate(scans):
            tr.advance(0.1 * k, form(z))
        got.append((tr.rows(), tr._P[:tr._n].copy(), tr._next_id))
    for g in got[1:]:
        assert g[0] == got[0][0] and np.array_equal(g[1], got[0][1]) and g[2] == got[0][2]
    # (N, 2) without a radius: the same as radius 0
    a, b = MultiObjectTracker(), MultiObjectTracker()
    for k, z in enumerate(scans):
        a.advance(0.1 * k, np.ascontiguousarray(z[:, :2]))
        b.advance(0.1 * k, np.column_stack((z[:, :2], np.zeros(len(z)))))
    assert a.rows() == b.rows()
    with pytest.raises(ValueError, match=r"detections must be \(N, 2\) or \(N, 3\), got shape \(2, 4\)"):
        MultiObjectTracker().advance(0.0, np.zeros((2, 4)))


def test_tracker_parameters_set_later_act_as_given_at_construction():
    """The parameters live packed for the kernel; setting one re-packs it."""
    kw = dict(accel_std=0.7, gate=5.0, confirm_hits=2, max_misses=3, tentative_misses=1, init_speed_std=1.5)
    a = MultiObjectTracker(**kw)
    b = MultiObjectTracker()
    b.q, b.gate, b.init_vel_var = 0.7 ** 2, 5.0, 1.5 ** 2
    b.confirm_hits, b.max_misses, b.tentative_misses = 2, 3, 1
    assert (b.q, b.gate, b.init_vel_var, b.confirm_hits, b.max_misses, b.tentative_misses) == (
        0.7 ** 2, 5.0, 1.5 ** 2, 2, 3, 1)
    assert isinstance(b.confirm_hits, int) and isinstance(b.gate, float)
    rng = np.random.default_rng(3)
    for k in range(30):
        z = np.column_stack((rng.normal(0.2 * k, 0.1, 3), [0.0, 4.0, 8.0], np.full(3, 0.3)))
        z = z[rng.random(3) > 0.3]
        a.advance(0.1 * k, z)
        b.advance(0.1 * k, z)
        assert a.rows() == b.rows() and np.array_equal(a._P[:a._n], b._P[:b._n])
    np.testing.assert_array_equal(a.R, np.eye(2) * 0.15 ** 2)
    with pytest.raises(ValueError):
        a.R[0, 0] = 1.0                     # read-only: a copy of the packed value


def test_cluster_rows_are_cluster_scans_clusters():
    """``cluster_rows`` (the front's way to the tracker) gives the fields of
    ``cluster_scan``'s ``Cluster`` objects, in order, and refuses the same
    input with the same message."""
    from edgepilot.vehicle.perception.tracking import cluster_rows, cluster_scan

    rng = np.random.default_rng(11)
    for _ in range(20):
        r = rng.uniform(1.0, 12.0, 360).astype(np.float32)
        r[rng.random(360) < 0.3] = np.inf
        r[40:60] = 4.0                          # an object
        args = ((float(rng.uniform(-5, 5)), float(rng.uniform(-5, 5)), float(rng.uniform(-3, 3))), r,
                -np.pi, 2 * np.pi / 360, 12.0)
        rows = cluster_rows(*args)
        assert rows and rows == [(c.x, c.y, c.radius, c.n) for c in cluster_scan(*args)]
        assert all(type(n) is int for *_, n in rows)
        # with a work space of its own (kept from scan to scan, left dirty), or one too short
        work = np.full((361, 5), np.nan)
        assert cluster_rows(*args, work=work) == rows and cluster_rows(*args, work=work) == rows
        assert cluster_rows(*args, work=np.empty((360, 5))) == rows
    for f in (cluster_rows, cluster_scan):
        with pytest.raises(ValueError, match=r"ranges must be 1-D, got shape \(2, 3\)"):
            f((0.0, 0.0, 0.0), np.ones((2, 3), np.float32), 0.0, 0.01, 12.0)


def test_the_fronts_tracker_gets_the_clusters_off_the_prior():
    """The front gives the tracker ``cluster_rows``' rows without those
    ``near_prior`` (as arrays, no Cluster objects): the same tracks as
    ``LidarMapper._off_prior`` of ``cluster_scan``'s clusters give."""
    from dataclasses import replace

    from edgepilot import configs_dir
    from edgepilot.vehicle.config import load_vehicle_config
    from edgepilot.vehicle.maps import GridMap
    from edgepilot.vehicle.perception.front import Perception
    from edgepilot.vehicle.perception.tracking import cluster_scan
    from edgepilot.vehicle.types import LaserScan, SensorFrame, VehicleState

    occ = np.zeros((100, 100), bool)
    occ[:, 90:] = True                          # a wall at x >= 9 m
    p = Perception(load_vehicle_config(configs_dir() / "vehicles" / "ugv_lidar.toml"), GridMap(occ, 0.1, 0.0, 0.0),
                   resolution=0.1)
    ref = MultiObjectTracker()
    state = VehicleState(t=0.0, x=2.0, y=5.0, yaw=0.0, vx=0.0, vy=0.0, yaw_rate=0.0, lat=0.0, lon=0.0,
                         pos_std=0.05, valid=True)
    a = np.linspace(-0.8, 0.8, 321)
    dropped = 0
    for k in range(12):
        t = 0.1 * k
        r = np.full(len(a), np.inf)
        r[np.abs(a - 0.05 * k / 12) < 0.04] = 3.0 + 0.02 * k              # a crate in the open, moving
        r[np.abs(a - 0.5) < 0.03] = (8.95 - 2.0) / np.cos(a[np.abs(a - 0.5) < 0.03])   # one on the wall
        scan = LaserScan(t, float(a[0]), float(a[1] - a[0]), 12.0, r.astype(np.float32))
        st = replace(state, t=t)
        pose = p.mapper.sensor_pose(st)
        p.process(t, SensorFrame(t=t, scan=scan), st)
        clusters = cluster_scan(pose, scan.ranges, scan.angle_min, scan.angle_increment, scan.max_range)
        kept = p.mapper._off_prior(clusters)
        dropped += len(clusters) - len(kept)
        ref.advance(t, kept)
        assert p.tracker.rows() == ref.rows() and np.array_equal(p.tracker._P[:ref._n], ref._P[:ref._n])
    assert dropped >= 10 and ref._n >= 1                # the wall's crate was left out, the other tracked


def test_tracker_work_space_fits_every_scan_its_blocks_fit():
    """The kernel's work space comes with the blocks: n tracks and D
    detections that fit (n + D <= capacity) fit it too (no bounds checks in
    the kernel)."""
    for cap in range(1, 200):
        assert all(n * (cap - n) <= cap * cap // 4 for n in range(cap + 1))
    trk = MultiObjectTracker()
    rng = np.random.default_rng(5)
    for k in range(40):
        d = int(rng.integers(0, 40))
        det = np.column_stack((rng.uniform(-50, 50, (d, 2)), np.full(d, 0.2)))
        n = trk._n
        trk.advance(0.1 * k, det)
        cap = len(trk._f)
        assert n + d <= cap and len(trk._cost) >= n * d and len(trk._flags) >= n + d
        assert len(trk._i) == len(trk._P) == cap
