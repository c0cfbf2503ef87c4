"""Lidar localization on the prior map: kernels against the NumPy oracle,
the likelihood field, the scan matcher, the particle filter (tracking,
global re-localization, a kidnapped vehicle)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from edgepilot.vehicle.localization import (LocalizerParams, MapLocalizer, MatcherParams, ParticleFilter,
                                            ParticleFilterParams, ScanMatcher, SensorModel, build_likelihood_field,
                                            scan_endpoints)
from edgepilot.vehicle.localization import _kernels as K
from edgepilot.vehicle.localization._reference import (correlative_search_ref, particle_weights_numpy,
                                                        particle_weights_ref)
from edgepilot.vehicle.localization.particle_filter import weigh_particles
from edgepilot.vehicle.localization.likelihood_field import distance_to_obstacles
from edgepilot.vehicle.maps import GridMap
from nav_world import lidar, trajectory, yard


@pytest.fixture(scope="module")
def world():
    g = yard()
    return g, build_likelihood_field(g)


def _scan(g, pose, seed=0, **kw):
    return lidar(seed, **kw).scan(0.0, pose, g.occupied, g.resolution, (0.0, 0.0))


def _wrap(a):
    return (a + math.pi) % (2 * math.pi) - math.pi


def test_distance_field_matches_brute_force():
    rng = np.random.default_rng(0)
    occ = rng.random((30, 40)) < 0.03
    d = distance_to_obstacles(occ, 0.1)
    r, c = np.nonzero(occ)
    rr, cc = np.mgrid[0:30, 0:40]
    brute = np.min(np.hypot(rr[..., None] - r, cc[..., None] - c), axis=-1) * 0.1
    np.testing.assert_allclose(d, brute, atol=1e-4)


def test_likelihood_field_is_amcls_mixture(world):
    g, f = world
    m = f.model
    d = f.dist[100, 100]
    expect = m.z_hit * math.exp(-d * d / (2 * m.sigma_hit ** 2)) + m.z_rand / m.max_range
    assert f.lik[100, 100] == pytest.approx(expect, rel=1e-6)
    assert f.dist.max() == pytest.approx(m.max_dist)
    assert f.lik_outside == pytest.approx(m.z_rand / m.max_range + m.z_hit * math.exp(-m.max_dist ** 2 / (2 * 0.04)))
    assert f.lik[g.occupied].min() == pytest.approx(m.z_hit + m.z_rand / m.max_range)
    assert len(f.free_cells) == (~g.occupied).sum()


def test_bad_maps_and_models_are_refused():
    with pytest.raises(ValueError, match="no occupied cell"):
        build_likelihood_field(GridMap(np.zeros((5, 5), bool), 0.1))
    with pytest.raises(ValueError, match="SensorModel.sigma_hit must be a finite number > 0"):
        SensorModel(sigma_hit=0.0)
    with pytest.raises(ValueError, match="ParticleFilterParams.particles"):
        ParticleFilterParams(particles=3)
    with pytest.raises(ValueError, match="MatcherParams.min_inlier_fraction"):
        MatcherParams(min_inlier_fraction=0.0)


def test_particle_weights_kernel_matches_numpy_oracle(world):
    g, f = world
    rng = np.random.default_rng(1)
    poses = np.column_stack((rng.uniform(-5, 45, 500), rng.uniform(-5, 35, 500), rng.uniform(-4, 4, 500)))
    bx, by = scan_endpoints(_scan(g, (20.0, 15.0, 0.3)), 180)
    out = np.zeros(500)
    weigh_particles(f, poses, bx, by, out)
    ref = particle_weights_ref(poses, bx, by, f.cube, f.cube_scale, f.resolution, f.origin_x, f.origin_y,
                               f.cube_outside)
    np.testing.assert_allclose(out, ref, rtol=1e-12)
    # the quantised table is AMCL's float formula to within 1/65535 of the largest pz^3 per beam
    exact = 1.0 + (_exact_pz(f, poses, bx, by) ** 3).sum(axis=1)
    np.testing.assert_allclose(out, exact, atol=bx.size * f.cube_scale)
    # the true pose scores higher than anything random
    weigh_particles(f, np.array([[20.0, 15.0, 0.3]]), bx, by, out[:1])
    assert out[0] > ref.max()


def test_particle_weights_parallel_kernel_and_numpy_peer_match_the_oracle(world):
    g, f = world
    rng = np.random.default_rng(2)
    n = 777                                     # not a multiple of the peer's block or of the threads
    poses = np.column_stack((rng.uniform(-5, 45, n), rng.uniform(-5, 35, n), rng.uniform(-4, 4, n)))
    bx, by = scan_endpoints(_scan(g, (20.0, 15.0, 0.3)), 180)
    ref = particle_weights_ref(poses, bx, by, f.cube, f.cube_scale, f.resolution, f.origin_x, f.origin_y,
                               f.cube_outside)
    one = weigh_particles(f, poses, bx, by)
    np.testing.assert_allclose(one, ref, rtol=1e-12)
    # integer sums per particle: the threaded kernel gives the very same numbers
    np.testing.assert_array_equal(weigh_particles(f, poses, bx, by, threads=2), one)
    np.testing.assert_array_equal(weigh_particles(f, poses, bx, by, threads=64), one)   # capped at the pool
    rows, cols = f.cube.shape
    peer = particle_weights_numpy(poses, bx, by, f.cube_flat, rows, cols, f.cube_scale, f.resolution, f.origin_x,
                                  f.origin_y)
    np.testing.assert_allclose(peer, ref, rtol=1e-12)
    assert f.cube_flat[-1] == f.cube_outside and np.shares_memory(f.cube, f.cube_flat)


def test_particle_weights_off_the_map_and_bad_inputs(world):
    g, f = world
    bx, by = scan_endpoints(_scan(g, (20.0, 15.0, 0.3)), 180)
    off = 1.0 + bx.size * f.cube_outside * f.cube_scale
    poses = np.array([[np.nan, 15.0, 0.3], [20.0, np.inf, 0.3], [20.0, 15.0, np.nan], [1e300, -1e300, 0.0],
                      [-1000.0, -1000.0, 1.0]])
    for threads in (1, 2):
        np.testing.assert_allclose(weigh_particles(f, poses, bx, by, threads=threads), off, rtol=1e-12)
    with pytest.raises(ValueError, match=r"poses must be an \(N, 3\) array"):
        weigh_particles(f, np.zeros((4, 2)), bx, by)
    with pytest.raises(ValueError, match="bx and by must be 1-D arrays of one length"):
        weigh_particles(f, np.zeros((4, 3)), bx, by[:-1])
    with pytest.raises(ValueError, match=r"out must be a writeable contiguous float64 array of shape \(4,\)"):
        weigh_particles(f, np.zeros((4, 3)), bx, by, np.zeros(3))
    with pytest.raises(ValueError, match="threads must be an integer >= 1"):
        weigh_particles(f, np.zeros((4, 3)), bx, by, threads=0)
    with pytest.raises(ValueError, match="ParticleFilterParams.threads must be an integer >= 1"):
        ParticleFilterParams(threads=0)


def _exact_pz(f, poses, bx, by):
    c, s = np.cos(poses[:, 2])[:, None], np.sin(poses[:, 2])[:, None]
    x = poses[:, 0:1] + c * bx - s * by
    y = poses[:, 1:2] + s * bx + c * by
    r, col = np.floor(y / f.resolution).astype(int), np.floor(x / f.resolution).astype(int)
    inside = (r >= 0) & (col >= 0) & (r < f.shape[0]) & (col < f.shape[1])
    d = np.where(inside, f.dist[np.where(inside, r, 0), np.where(inside, col, 0)], f.model.max_dist)
    m = f.model
    return m.z_hit * np.exp(-d.astype(float) ** 2 / (2 * m.sigma_hit ** 2)) + m.z_rand / m.max_range


def test_correlative_search_matches_numpy_oracle(world):
    g, f = world
    bx, by = scan_endpoints(_scan(g, (14.0, 12.0, 1.0)), 90)
    scores = np.zeros((9, 11, 11))
    k, i, j = K.correlative_search(14.1, 11.85, 1.05, bx, by, f.lik, f.resolution, f.origin_x, f.origin_y,
                                   f.lik_outside, 5, 0.05, 4, math.radians(1.0), scores)
    ref = correlative_search_ref(14.1, 11.85, 1.05, bx, by, f.lik, f.resolution, f.origin_x, f.origin_y,
                                 f.lik_outside, 5, 0.05, 4, math.radians(1.0))
    np.testing.assert_allclose(scores, ref, rtol=1e-9)
    assert (k, i, j) == np.unravel_index(np.argmax(ref), ref.shape)
    assert (j - 5, i - 5) == (-2, 3)          # the search moved the pose back to the truth


@pytest.mark.parametrize("offset", [(0.3, -0.25, 4.0), (-0.1, 0.35, -5.0), (0.0, 0.0, 0.0)])
def test_scan_matcher_recovers_the_pose(world, offset):
    g, f = world
    truth = (17.0, 13.0, 0.7)
    bx, by = scan_endpoints(_scan(g, truth), 180)
    m = ScanMatcher(f)
    prior = (truth[0] + offset[0], truth[1] + offset[1], truth[2] + math.radians(offset[2]))
    fix = m.match(1.0, bx, by, prior)
    assert fix.ok, fix.reason
    assert math.hypot(fix.x - truth[0], fix.y - truth[1]) < 0.03
    assert abs(_wrap(fix.yaw - truth[2])) < math.radians(0.3)
    assert np.all(np.linalg.eigvalsh(fix.cov) > 0)
    assert 0.02 <= math.sqrt(fix.cov[0, 0]) < 0.1
    assert fix.inlier_fraction > 0.9


def test_scan_matcher_refuses_a_scene_that_is_not_the_map(world):
    g, f = world
    other = GridMap(np.zeros_like(g.occupied), g.resolution)
    other.occupied[200:210, :] = True             # a lone wall somewhere else
    bx, by = scan_endpoints(_scan(other, (20.0, 13.0, 0.0)), 180)
    fix = ScanMatcher(f).match(0.0, bx, by, (20.0, 13.0, 0.0))
    assert not fix.ok and "beams fit the map" in fix.reason


def test_scan_matcher_ignores_unmapped_obstacles(world):
    g, f = world
    truth = (17.0, 13.0, 0.7)
    world_now = yard(extra_box=(18.0, 12.0, 19.0, 16.0))     # a parked truck not on the map
    bx, by = scan_endpoints(_scan(world_now, truth), 180)
    fix = ScanMatcher(f).match(0.0, bx, by, (17.2, 12.9, 0.75))
    assert fix.ok
    assert math.hypot(fix.x - truth[0], fix.y - truth[1]) < 0.05


def _odometry(tr, k, rng, noise=0.02):
    d = math.hypot(tr[k, 1] - tr[k - 1, 1], tr[k, 2] - tr[k - 1, 2])
    dyaw = _wrap(tr[k, 3] - tr[k - 1, 3])
    return d * (1 + noise * rng.standard_normal()), dyaw + noise * 0.5 * rng.standard_normal()


def test_particle_filter_tracks_along_a_trajectory(world):
    g, f = world
    tr = trajectory(150)
    rng = np.random.default_rng(2)
    pf = ParticleFilter(f, np.random.default_rng(3), ParticleFilterParams(particles=500))
    pf.initialise(tr[0, 1] + 0.2, tr[0, 2] - 0.2, tr[0, 3] + 0.05)
    sensor = lidar(4)
    errs = []
    for k in range(1, len(tr)):
        pf.predict(*_odometry(tr, k, rng))
        scan = sensor.scan(tr[k, 0], tr[k, 1:4], g.occupied, g.resolution, (0.0, 0.0))
        pf.update(*scan_endpoints(scan, 90))
        e = pf.estimate()
        errs.append(math.hypot(e.x - tr[k, 1], e.y - tr[k, 2]))
    assert max(errs[20:]) < 0.25 and np.mean(errs[20:]) < 0.1
    assert pf.estimate().converged


def test_localizer_relocalizes_globally_and_after_a_kidnap(world):
    """Unknown start: particles over all free space converge on the truth;
    then the vehicle is carried 10 m away: 'lost', re-localized, fixes resume."""
    g, f = world
    tr = trajectory(260)
    rng = np.random.default_rng(5)
    loc = MapLocalizer(f, np.random.default_rng(6), LocalizerParams(max_beams=120),
                       ParticleFilterParams(particles=3000))
    sensor = lidar(7)
    first_fix = None
    fixes_after = []
    kidnap_k = 130
    for k in range(1, len(tr)):
        src = k
        if k >= kidnap_k:                                 # lifted, set down 9 m away, drives on from there
            src = k - kidnap_k + 1
        pose = tr[src, 1:4].copy()
        dist, dyaw = _odometry(tr, src, rng) if k != kidnap_k else (0.0, 0.0)
        scan = sensor.scan(tr[k, 0], pose, g.occupied, g.resolution, (0.0, 0.0))
        fix = loc.process(tr[k, 0], dist, dyaw, scan)
        if fix is not None and fix.ok:
            err = math.hypot(fix.x - pose[0], fix.y - pose[1])
            if k < kidnap_k and first_fix is None:
                first_fix = (k, err)
            if k > kidnap_k:
                fixes_after.append((k, err))
    # what the operator is told: converged, lost (once), converged again
    kinds = [e.kind for e in loc.events if e.announce]
    assert first_fix is not None and first_fix[0] < 80, loc.events
    assert kinds == ["converged", "lost", "converged"], \
        [(round(float(e.t), 1), e.text) for e in loc.events]
    lost = next(e.t for e in loc.events if e.kind == "lost" and e.announce)
    assert tr[kidnap_k, 0] < lost <= tr[kidnap_k, 0] + 1.5                  # noticed within 1.5 s (lost_scans at 10 Hz)
    assert fixes_after, "no fix after the kidnap"
    good = [e for _, e in fixes_after[-20:]]
    assert max(good) < 0.1


def test_localizer_is_deterministic(world):
    g, f = world
    tr = trajectory(20)
    out = []
    for _ in range(2):
        loc = MapLocalizer(f, np.random.default_rng(1), pf_params=ParticleFilterParams(particles=200))
        loc.initialise(*tr[0, 1:4])
        rng = np.random.default_rng(2)
        sensor = lidar(3)
        for k in range(1, len(tr)):
            scan = sensor.scan(tr[k, 0], tr[k, 1:4], g.occupied, g.resolution, (0.0, 0.0))
            fix = loc.process(tr[k, 0], *_odometry(tr, k, rng), scan)
        out.append((loc.pf.poses.copy(), fix.x, fix.y))
    assert np.array_equal(out[0][0], out[1][0]) and out[0][1:] == out[1][1:]



def test_localizer_threads_change_nothing_but_the_threads(world):
    """The parallel weighting gives the same run as one thread, global
    re-localization (the boosted spread) included."""
    g, f = world
    tr = trajectory(12)
    out = []
    for threads in (1, 2):
        loc = MapLocalizer(f, np.random.default_rng(1),
                           pf_params=ParticleFilterParams(particles=300, threads=threads))
        rng = np.random.default_rng(2)
        sensor = lidar(3)
        scan = sensor.scan(tr[0, 0], tr[0, 1:4], g.occupied, g.resolution, (0.0, 0.0))
        loc.pf.relocalize_global(*scan_endpoints(scan, 90))
        for k in range(1, len(tr)):
            scan = sensor.scan(tr[k, 0], tr[k, 1:4], g.occupied, g.resolution, (0.0, 0.0))
            loc.process(tr[k, 0], *_odometry(tr, k, rng), scan)
        out.append((loc.pf.poses.copy(), loc.pf.weights.copy()))
    assert np.array_equal(out[0][0], out[1][0]) and np.array_equal(out[0][1], out[1][1])

def test_standing_vehicle_lifted_and_set_down_relocalizes(world):
    """The ugv_kidnapped case: disarmed and still, carried 18 m and turned;
    the localizer says so and finds the new pose from scans alone."""
    g, f = world
    loc = MapLocalizer(f, np.random.default_rng(6), pf_params=ParticleFilterParams(particles=2000))
    sensor = lidar(7)
    a, b = (12.0, 15.0, 0.3), (30.0, 13.0, 2.0)
    loc.initialise(*a)
    found = None
    for k in range(250):
        pose = a if k < 20 else b
        fix = loc.process(k * 0.1, 0.0, 0.0, sensor.scan(k * 0.1, pose, g.occupied, g.resolution, (0.0, 0.0)))
        if k >= 20 and fix is not None and fix.ok and found is None:
            found = (k, math.hypot(fix.x - b[0], fix.y - b[1]), abs(_wrap(fix.yaw - b[2])))
    lost = [e for e in loc.events if e.kind == "lost"]
    assert lost and 2.0 <= lost[0].t <= 3.5, loc.events          # noticed within 1.5 s of the lift
    assert found is not None and found[0] <= 200, loc.events      # re-localized within 18 s, standing still
    assert found[1] < 0.05 and found[2] < math.radians(1.0)
    assert loc.events[-1].kind == "converged"


def test_open_water_gives_no_fix_and_the_localizer_waits(world):
    """A USV out of range of the shore and piers: no returns, no fix, no
    false 'lost' -- dead reckoning carries on until the scans fit again."""
    g, f = world
    loc = MapLocalizer(f, np.random.default_rng(0), pf_params=ParticleFilterParams(particles=300))
    loc.initialise(20.0, 15.0, 0.0)
    empty = _scan(g, (20.0, 15.0, 0.0))
    empty = type(empty)(empty.t, empty.angle_min, empty.angle_increment, empty.max_range,
                        np.full_like(empty.ranges, np.inf))
    fix = ScanMatcher(f).match(0.0, *scan_endpoints(empty), (20.0, 15.0, 0.0))
    assert not fix.ok and fix.reason == "only 0 valid beams"
    for k in range(30):
        loc.process(k * 0.1, 0.1, 0.0, empty)
    assert not [e for e in loc.events if e.kind == "lost"]
