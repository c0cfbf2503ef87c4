"""Issue 15's remaining localization gaps: the global search (kernel against
its NumPy oracle, coarse-to-fine on the yard, refusing ambiguous and
unfitting scans), the scan matcher's tracking mode (a few returns around
the EKF's pose, only well-conditioned fixes), the surface field of a chart
with filled land, and the localizer's lost/degraded hysteresis."""
from __future__ import annotations

import math

import numpy as np
import pytest

from edgepilot.vehicle.localization import (LocalizerParams, MapLocalizer, ParticleFilterParams, ScanMatcher,
                                            build_likelihood_field, scan_endpoints)
from edgepilot.vehicle.localization._kernels import global_scores
from edgepilot.vehicle.localization._reference import global_scores_ref
from edgepilot.vehicle.localization.global_search import GlobalSearch, GlobalSearchParams
from edgepilot.vehicle.localization.likelihood_field import surface_cells
from edgepilot.vehicle.maps import GridMap
from nav_world import lidar, yard


@pytest.fixture(scope="module")
def world():
    g = yard()
    return g, build_likelihood_field(g)


@pytest.fixture(scope="module")
def search(world):
    return GlobalSearch(world[1])


def _scan(g, pose, seed=0, noise=0.02, beams=360):
    return lidar(seed, beams=beams, noise=noise).scan(0.0, pose, g.occupied, g.resolution, (0.0, 0.0))


def _wrap(a):
    return (a + math.pi) % (2 * math.pi) - math.pi


def _free_pose(g, rng, margin=0.5):
    while True:
        x, y = rng.uniform(1.0, 39.0), rng.uniform(1.0, 29.0)
        m = int(margin / g.resolution)
        r, c = int(y / g.resolution), int(x / g.resolution)
        if not g.occupied[max(r - m, 0):r + m, max(c - m, 0):c + m].any():
            return x, y, rng.uniform(-math.pi, math.pi)


# ------------------------------------------------------------ the kernel
def test_global_scores_kernel_matches_numpy_oracle(world, search):
    g, f = world
    rng = np.random.default_rng(0)
    bx, by = scan_endpoints(_scan(g, (20.0, 15.0, 0.4)), 60)
    coarse = search.coarse_field(0.3)
    # candidates on the map, off it, and straddling its edge
    cx = np.ascontiguousarray(rng.uniform(-5.0, 45.0, 300))
    cy = np.ascontiguousarray(rng.uniform(-5.0, 35.0, 300))
    yaws = np.ascontiguousarray(np.linspace(-math.pi, math.pi, 37)[:-1])
    out = np.empty((yaws.size, cx.size), np.float32)
    global_scores(cx, cy, yaws, bx, by, coarse, search.coarse_res, f.origin_x, f.origin_y, f.lik_outside, out)
    ref = global_scores_ref(cx, cy, yaws, bx, by, coarse, search.coarse_res, f.origin_x, f.origin_y, f.lik_outside)
    np.testing.assert_allclose(out, ref, rtol=1e-5)
    # and it is the fine field's sum where the coarse field is the fine one
    out1 = np.empty((yaws.size, cx.size), np.float32)
    global_scores(cx, cy, yaws, bx, by, f.lik, f.resolution, f.origin_x, f.origin_y, f.lik_outside, out1)
    ref1 = global_scores_ref(cx, cy, yaws, bx, by, f.lik, f.resolution, f.origin_x, f.origin_y, f.lik_outside)
    np.testing.assert_allclose(out1, ref1, rtol=1e-5)


def test_coarse_field_bounds_the_true_pose_score(world, search):
    """The coarse hypothesis next to the truth scores at least what the
    truth scores on the fine field: the search cannot prune the truth."""
    g, f = world
    rng = np.random.default_rng(3)
    for _ in range(5):
        x, y, yaw = _free_pose(g, rng)
        bx, by = scan_endpoints(_scan(g, (x, y, yaw)), 60)
        fine = global_scores_ref(np.array([x]), np.array([y]), np.array([yaw]), bx, by, f.lik, f.resolution,
                                 f.origin_x, f.origin_y, f.lik_outside)[0, 0]
        rng_m = float(np.median(np.hypot(bx, by)))
        step = 2 * math.pi / search.yaws.size
        coarse = search.coarse_field(0.5 * math.sqrt(2) * search.coarse_res + rng_m * 0.5 * step)
        k = int(np.argmin(np.hypot(search.cand_x - x, search.cand_y - y)))
        a = int(np.argmin(np.abs(_wrap(search.yaws - yaw))))
        # only endpoints within the median range are covered by the blur; the
        # bound holds on those beams
        near = np.hypot(bx, by) <= rng_m
        fine_near = global_scores_ref(np.array([x]), np.array([y]), np.array([yaw]), bx[near], by[near], f.lik,
                                      f.resolution, f.origin_x, f.origin_y, f.lik_outside)[0, 0]
        c = global_scores_ref(search.cand_x[k:k + 1], search.cand_y[k:k + 1], search.yaws[a:a + 1], bx[near],
                              by[near], coarse, search.coarse_res, f.origin_x, f.origin_y, f.lik_outside)[0, 0]
        assert c >= fine_near - 1e-6, (x, y, yaw, c, fine_near, fine)


def test_global_search_validates_its_inputs(world, search):
    with pytest.raises(ValueError, match="bx and by must be 1-D arrays of one length"):
        search.search(np.zeros(5), np.zeros(4))
    with pytest.raises(ValueError, match="coarse_factor"):
        GlobalSearchParams(coarse_factor=0)
    with pytest.raises(ValueError, match="ambiguity_ratio"):
        GlobalSearchParams(ambiguity_ratio=1.5)
    r = search.search(np.ones(4), np.ones(4))
    assert not r.ok and r.verdict == "few_returns" and "too few" in r.reason


# ------------------------------------------------------------ the search
def test_global_search_finds_the_pose_anywhere_in_the_yard(world, search):
    """No prior at all: random poses over the yard's free space and any
    heading, found within a few centimetres and a degree."""
    g, _ = world
    rng = np.random.default_rng(11)
    for trial in range(6):
        x, y, yaw = _free_pose(g, rng)
        r = search.search(*scan_endpoints(_scan(g, (x, y, yaw), seed=trial), 60))
        assert r.ok, (x, y, yaw, r.reason)
        assert math.hypot(r.x - x, r.y - y) < 0.1 and abs(_wrap(r.yaw - yaw)) < math.radians(1.0), (x, y, yaw, r)
        assert r.runner_up < GlobalSearchParams().ambiguity_ratio * r.score
        assert r.cov.shape == (3, 3) and np.all(np.linalg.eigvalsh(r.cov) > 0)


def _symmetric_room() -> GridMap:
    """A 20 x 10 m room with two equal boxes placed point-symmetrically: every
    scan fits at its pose and at the pose turned 180 deg about the centre."""
    res = 0.05
    occ = np.zeros((200, 400), bool)
    occ[:6, :] = occ[-6:, :] = occ[:, :6] = occ[:, -6:] = True
    occ[40:80, 80:120] = True            # (4..6, 2..4) m
    occ[120:160, 280:320] = True         # its image (14..16, 6..8) m
    return GridMap(occ, res)


def test_global_search_refuses_an_ambiguous_scan():
    g = _symmetric_room()
    f = build_likelihood_field(g)
    gs = GlobalSearch(f)
    r = gs.search(*scan_endpoints(_scan(g, (7.0, 6.5, 0.3)), 60))
    assert not r.ok and r.verdict == "ambiguous", r
    assert "two places fit the scan alike" in r.reason
    # the two places are the pose and its image
    assert min(math.hypot(r.x - 7.0, r.y - 6.5), math.hypot(r.x - 13.0, r.y - 3.5)) < 0.1


def test_global_search_refuses_a_scan_that_fits_nowhere(world, search):
    """A scan of another place (a plain 6 m square room) fits nowhere in the yard."""
    occ = np.zeros((120, 120), bool)
    occ[:4, :] = occ[-4:, :] = occ[:, :4] = occ[:, -4:] = True
    room = GridMap(occ, 0.05)
    sc = lidar(0).scan(0.0, (2.0, 3.5, 0.2), room.occupied, room.resolution, (0.0, 0.0))
    r = search.search(*scan_endpoints(sc, 60))
    assert not r.ok and r.verdict in ("no_fit", "ambiguous"), r


def test_localizer_relocalizes_a_kidnapped_standing_vehicle_in_one_scan(world):
    """At rest, carried 20 m and turned: noticed after lost_scans / lost_after_s,
    and the global search puts the particles on the true pose at once."""
    g, f = world
    loc = MapLocalizer(f, np.random.default_rng(1), pf_params=ParticleFilterParams(particles=500))
    a, b = (12.0, 15.0, 0.3), (30.0, 13.0, 2.0)
    loc.initialise(*a)
    sensor = lidar(2)
    found = None
    for k in range(60):
        t = k * 0.1
        pose = a if k < 20 else b
        fix = loc.process(t, 0.0, 0.0, sensor.scan(t, pose, g.occupied, g.resolution, (0.0, 0.0)))
        if k >= 20 and fix is not None and fix.ok and found is None:
            found = (t, math.hypot(fix.x - b[0], fix.y - b[1]), abs(_wrap(fix.yaw - b[2])))
    lost = next(e for e in loc.events if e.kind == "lost" and e.announce)
    assert 2.0 < lost.t <= 3.2
    assert any(e.kind == "global" and e.text.startswith("Global search: scan fits at (30.0, 13.0)")
               for e in loc.events)
    assert found is not None and found[0] <= lost.t + 0.5, loc.events
    assert found[1] < 0.05 and found[2] < math.radians(1.0)


def test_localizer_waits_on_an_ambiguous_place_instead_of_guessing():
    """Powered up in the symmetric room with no prior: the search refuses and
    the particles are not allowed to converge on one of the two places."""
    g = _symmetric_room()
    f = build_likelihood_field(g)
    loc = MapLocalizer(f, np.random.default_rng(0), pf_params=ParticleFilterParams(particles=500))
    sensor = lidar(1)
    for k in range(40):
        loc.process(k * 0.1, 0.0, 0.0, sensor.scan(k * 0.1, (7.0, 6.5, 0.3), g.occupied, g.resolution, (0.0, 0.0)))
    assert not loc.converged
    assert loc.last_global is not None and loc.last_global.verdict == "ambiguous"
    assert [e.text for e in loc.events if e.kind == "global"][0].startswith("Global search refused: ambiguous")


# ------------------------------------------------------------ tracking mode
def _breakwater():
    """A harbour chart: filled land along the south, a 6 m wide pier, a
    breakwater with a pointed head, at 0.2 m."""
    res = 0.2
    occ = np.zeros((500, 500), bool)                      # 100 x 100 m
    occ[:50, :] = True                                   # land, y < 10
    occ[50:200, 300:330] = True                          # pier x 60..66, y 10..40
    for r in range(300, 360):                            # breakwater y 60..72, x 0..50, head to x 56
        half = min(r - 300, 360 - r) * res               # 0..6 m
        occ[r, :int((50 + half) / res)] = True
    return GridMap(occ, res)


def test_tracking_fix_from_a_few_returns_of_the_breakwater_head():
    g = _breakwater()
    f = build_likelihood_field(g, surface=True)
    m = ScanMatcher(f)
    truth = (62.0, 82.0, -1.2)
    sc = lidar(0, beams=360, noise=0.05).scan(0.0, truth, g.occupied, g.resolution, (0.0, 0.0))
    sc = type(sc)(sc.t, sc.angle_min, sc.angle_increment, 20.0,
                  np.where(np.asarray(sc.ranges) < 20.0, sc.ranges, np.inf))   # a short-range lidar: the head only
    bx, by = scan_endpoints(sc, 180)
    assert 8 <= bx.size < 40, bx.size
    prior = (truth[0] + 1.2, truth[1] - 0.9, truth[2] + math.radians(1.5))
    cov = np.diag([1.0, 1.0, math.radians(2.0) ** 2])
    fix = m.track(5.0, bx, by, prior, cov)
    assert fix.ok, fix.reason
    # within two chart cells, and consistent with the fix's own covariance
    # (the 0.2 m raster of a pointed head biases the fit by up to a cell)
    e = np.array([fix.x - truth[0], fix.y - truth[1], _wrap(fix.yaw - truth[2])])
    assert math.hypot(e[0], e[1]) < 0.4 and abs(e[2]) < math.radians(1.0), fix
    assert fix.t == 5.0 and np.all(np.linalg.eigvalsh(fix.cov) > 0) and math.sqrt(fix.cov[0, 0]) < 0.5
    assert float(e @ np.linalg.solve(fix.cov, e)) < 14.2       # chi-square, 3 dof, 99.7 %


def test_tracking_refuses_a_straight_wall_and_a_scene_not_on_the_map():
    g = _breakwater()
    f = build_likelihood_field(g, surface=True)
    m = ScanMatcher(f)
    cov = np.diag([1.0, 1.0, math.radians(2.0) ** 2])
    # beams on the breakwater's straight north face only (x 10..40, y 72)
    xs = np.linspace(10.0, 40.0, 30)
    pose = (25.0, 80.0, 0.0)
    bx, by = np.ascontiguousarray(xs - pose[0]), np.full(30, 72.0 - pose[1] + 0.1)
    fix = m.track(0.0, bx, by, (pose[0] + 0.5, pose[1] + 0.3, 0.0), cov)
    assert not fix.ok and "one direction only" in fix.reason, fix
    # points in open water, nowhere near anything mapped
    a = np.linspace(0, 2 * math.pi, 30, endpoint=False)
    fix = m.track(0.0, 3.0 * np.cos(a), 3.0 * np.sin(a), (80.0, 90.0, 0.0), cov)
    assert not fix.ok and "fit the map" in fix.reason
    # too few returns
    fix = m.track(0.0, np.ones(3), np.ones(3), (80.0, 90.0, 0.0), cov)
    assert not fix.ok and fix.reason == "only 3 returns"
    with pytest.raises(ValueError, match="prior_cov must be a finite"):
        m.track(0.0, np.ones(10), np.ones(10), (80.0, 90.0, 0.0), np.eye(2))


def test_surface_field_does_not_fit_inside_the_pier():
    """With filled land the plain field calls a point inside the pier a
    perfect fit; the surface field measures it to the pier's faces."""
    g = _breakwater()
    plain = build_likelihood_field(g)
    surf = build_likelihood_field(g, surface=True)
    r, c = int(25.0 / 0.2), int(63.0 / 0.2)            # the pier's middle, 3 m from either face
    assert plain.dist[r, c] == 0.0
    assert surf.dist[r, c] == pytest.approx(min(3.0, surf.model.max_dist), abs=0.25)
    # the faces themselves fit in both; free cells are the water's, not the land's
    s = surface_cells(g.occupied)
    assert s[r, int(60.1 / 0.2)] and not s[r, c]
    assert len(surf.free_cells) == len(plain.free_cells)


# ------------------------------------------------------------ hysteresis
def _sparse_scan(g, pose, bad: bool, seed: int):
    """A scan of the yard; a bad one sees only unmapped clutter around the vehicle."""
    sc = _scan(g, pose, seed=seed, beams=360)
    if not bad:
        return sc
    r = np.full(360, 1.5) + 0.2 * np.sin(np.arange(360) * 0.37)
    return type(sc)(sc.t, sc.angle_min, sc.angle_increment, sc.max_range, r)


def test_localizer_hysteresis_short_poor_spells_are_not_a_loss(world):
    """Poor scans in bursts shorter than lost_after_s (a sparse yard while
    moving): no loss, no degraded, no event for the operator."""
    g, f = world
    loc = MapLocalizer(f, np.random.default_rng(0), pf_params=ParticleFilterParams(particles=300))
    pose = (20.0, 15.0, 0.0)
    loc.initialise(*pose)
    for k in range(200):
        bad = 20 <= k and (k // 8) % 2 == 1            # 0.8 s poor, 0.8 s fine, ...
        loc.process(k * 0.1, 0.0, 0.0, _sparse_scan(g, pose, bad, k), prior=pose, prior_trusted=True)
    # ("Localization uncertain" flickers are the cloud's, never told)
    told = [e for e in loc.events if e.announce and e.t > 0.0]
    assert not told, told
    assert not [e for e in loc.events if e.kind == "degraded" or e.text.startswith("Localization lost")]


def test_localizer_hysteresis_announces_a_degraded_spell_once(world):
    """Poor for longer than degraded_after_s while the EKF vouches: one
    'degraded' for the operator, re-seeded around the prior (no global
    search), and repeats within recover_s are acted on but not announced;
    after recover_s of good fit a new spell is news again."""
    g, f = world
    p = LocalizerParams()
    loc = MapLocalizer(f, np.random.default_rng(0), p, pf_params=ParticleFilterParams(particles=300))
    pose = (20.0, 15.0, 0.0)
    loc.initialise(*pose)
    t, k = 0.0, 0

    def run(seconds, bad):
        nonlocal t, k
        for _ in range(int(round(seconds / 0.1))):
            loc.process(t, 0.0, 0.0, _sparse_scan(g, pose, bad, k), prior=pose, prior_trusted=True)
            t += 0.1
            k += 1

    run(2.0, False)
    run(p.degraded_after_s + 1.0, True)                 # one spell
    deg = [e for e in loc.events if e.kind == "degraded"]
    assert len(deg) == 1 and deg[0].announce and deg[0].text.startswith("Localization degraded")
    assert not [e for e in loc.events if e.kind in ("lost", "global")]
    run(2.0, False)                                      # back, but not for recover_s
    run(p.degraded_after_s + 1.0, True)                  # a second spell: acted on, not told
    deg = [e for e in loc.events if e.kind == "degraded"]
    assert len(deg) == 2 and not deg[1].announce
    run(p.recover_s + 2.0, False)                         # recovered
    run(p.degraded_after_s + 1.0, True)
    deg = [e for e in loc.events if e.kind == "degraded"]
    assert len(deg) == 3 and deg[2].announce
    # a convergence after a degraded spell is not operator news
    assert not [e for e in loc.events if e.kind == "converged" and e.announce and e.t > 1.0]


def test_localizer_untrusted_loss_needs_lost_after_s(world):
    """At rest (no trusted prior) the loss comes after lost_scans and
    lost_after_s of poor fit -- not at the first poor scan."""
    g, f = world
    loc = MapLocalizer(f, np.random.default_rng(0), LocalizerParams(lost_after_s=1.5),
                       pf_params=ParticleFilterParams(particles=300))
    pose = (20.0, 15.0, 0.0)
    loc.initialise(*pose)
    for k in range(60):
        loc.process(k * 0.1, 0.0, 0.0, _sparse_scan(g, pose, k >= 20, k))
    lost = [e for e in loc.events if e.kind == "lost" and e.text.startswith("Localization lost")]
    assert len(lost) == 1 and 3.4 <= lost[0].t <= 3.6, loc.events


def test_prearm_refuses_when_the_scan_does_not_fit():
    from edgepilot.vehicle.estimation.navigation import NavHealth
    from edgepilot.vehicle.safety.prearm import _nav_failures

    class P:
        def get(self, name):
            return {"FS_EKF_POS_STD": 0.5}[name]

    ok = NavHealth(True, True, 0.05, True, True, False, False)
    assert ok.scan_fits and _nav_failures(ok, P()) == []
    bad = NavHealth(True, True, 0.05, True, True, False, False, scan_fits=False)
    out = _nav_failures(bad, P())
    assert out == ["PreArm: lidar scan does not fit the map at the estimated pose (vehicle moved, or the map "
                   "is wrong here); wait for re-localization"]
