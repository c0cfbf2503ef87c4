"""Simulated lidar against known geometry."""
import math

import numpy as np
import pytest

from edgepilot.sim.sensors.lidar import Lidar, LidarSpec, _beam_direction, _beam_units, raycast
from edgepilot.vehicle.perception import OccupancyGrid

RES = 0.05


def _room(size=20.0):
    n = int(size / RES)
    occ = np.zeros((n, n), bool)
    occ[0, :] = occ[-1, :] = occ[:, 0] = occ[:, -1] = True
    return occ, (-size / 2, -size / 2)


def test_wall_distances_in_a_square_room():
    occ, origin = _room()
    ang = np.array([0.0, math.pi / 2, math.pi, -math.pi / 2, math.pi / 4])
    r = raycast(occ, RES, origin, None, (0.0, 0.0, 0.0), ang, 30.0)
    # walls' inner faces at +-(10 - RES)
    np.testing.assert_allclose(r[:4], 10.0 - RES, atol=1e-4)
    assert r[4] == pytest.approx((10.0 - RES) * math.sqrt(2), abs=1e-3)


def test_yaw_and_offset_pose():
    occ, origin = _room()
    r = raycast(occ, RES, origin, None, (3.0, -2.0, math.pi / 2), np.array([0.0, -math.pi / 2]), 30.0)
    assert r[0] == pytest.approx(9.95 + 2.0, abs=1e-4)      # north wall
    assert r[1] == pytest.approx(9.95 - 3.0, abs=1e-4)      # east wall


def test_circles_and_max_range():
    occ = np.zeros((400, 400), bool)
    circles = np.array([[5.0, 0.0, 0.5], [0.0, 3.0, 1.0]])
    graze = math.asin(0.49 / 5.0)              # passes 1 cm inside the rim
    ang = np.array([0.0, math.pi / 2, math.pi, graze])
    r = raycast(occ, RES, (-10, -10), circles, (0.0, 0.0, 0.0), ang, 8.0)
    assert r[0] == pytest.approx(4.5, abs=1e-5)
    assert r[1] == pytest.approx(2.0, abs=1e-5)
    assert np.isinf(r[2])                                    # open space, 8 m max range
    along = 5.0 * math.cos(graze)
    half_chord = math.sqrt(0.5 ** 2 - 0.49 ** 2)
    assert r[3] == pytest.approx(along - half_chord, abs=1e-4)     # grazing the circle
    inside = raycast(occ, RES, (-10, -10), circles, (5.0, 0.0, 0.0), ang[:1], 8.0)
    assert inside[0] == 0.0


def test_lidar_model_noise_dropout_rate_and_layout():
    occ, origin = _room()
    spec = LidarSpec(beams=721, fov_deg=270, max_range=30, noise_std=0.02, dropout=0.1, rate_hz=10)
    lid = Lidar(spec, np.random.default_rng(1))
    assert lid.due(0.0)
    scan = lid.scan(0.0, (0.0, 0.0, 0.0), occ, RES, origin)
    assert not lid.due(0.05) and lid.due(0.1)
    assert scan.ranges.dtype == np.float32 and scan.ranges.size == 721
    assert scan.angle_min == pytest.approx(-math.radians(135))
    assert scan.angle_min + 720 * scan.angle_increment == pytest.approx(math.radians(135))
    drop = np.isnan(scan.ranges).mean()
    assert 0.07 < drop < 0.13
    # forward beam (index 360) hits the east wall; noise is about 2 cm
    truth = raycast(occ, RES, origin, None, (0, 0, 0), spec.angles(), 30.0)
    ok = np.isfinite(scan.ranges)
    err = scan.ranges[ok] - truth[ok]
    assert 0.015 < err.std() < 0.025 and abs(err.mean()) < 0.005
    # same seed, same scan
    again = Lidar(spec, np.random.default_rng(1)).scan(0.0, (0, 0, 0), occ, RES, origin)
    np.testing.assert_array_equal(np.nan_to_num(again.ranges), np.nan_to_num(scan.ranges))


def test_mount_offset():
    occ, origin = _room()
    spec = LidarSpec(beams=1, fov_deg=1, noise_std=0.0, mount_x=1.0)
    lid = Lidar(spec, np.random.default_rng(0))
    s = lid.scan(0.0, (0.0, 0.0, math.pi), occ, RES, origin)
    assert s.ranges[0] == pytest.approx(9.95 - 1.0, abs=1e-3)


def test_scan_into_occupancy_grid_maps_the_walls():
    occ, origin = _room(10.0)
    spec = LidarSpec(beams=1080, fov_deg=360, max_range=30, noise_std=0.0)
    lid = Lidar(spec, np.random.default_rng(0))
    g = OccupancyGrid(10, 10, RES, origin)
    for _ in range(3):
        s = lid.scan(0.0, (0.3, -0.2, 0.4), occ, RES, origin)
        g.integrate_laserscan((0.3, -0.2, 0.4), s)
    mapped = g.occupied_mask(0.9)
    # returns lie on the walls' faces (cell boundaries), so a mapped cell is a
    # wall cell or its inner neighbour; and the walls are seen all round
    import cv2
    near_wall = cv2.dilate(occ.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert np.all(near_wall[mapped])
    rows, cols = np.nonzero(mapped)
    assert rows.min() <= 1 and rows.max() >= occ.shape[0] - 2
    assert cols.min() <= 1 and cols.max() >= occ.shape[1] - 2
    assert mapped.sum() > 0.8 * occ.sum()


def test_bad_input():
    occ, origin = _room()
    with pytest.raises(ValueError, match="circles"):
        raycast(occ, RES, origin, np.zeros((2, 2)), (0, 0, 0), np.zeros(3), 10.0)
    with pytest.raises(ValueError, match="max_range"):
        raycast(occ, RES, origin, None, (0, 0, 0), np.zeros(3), 0.0)
    with pytest.raises(ValueError, match="fov_deg"):
        LidarSpec(fov_deg=400)


def _directions(yaw, angles):
    """The beams' map-frame unit directions as the kernels take them: each
    beam's unit vector (cos a, sin a) rotated by (cos yaw, sin yaw)."""
    ca, sa = np.cos(angles), np.sin(angles)
    cy, sy = math.cos(yaw), math.sin(yaw)
    return ca * cy - sa * sy, sa * cy + ca * sy


def test_beam_directions_are_cos_sin_of_the_bearing():
    """The kernels' beam directions (``_beam_direction`` of the beams'
    unit vectors ``_beam_units``, the arithmetic of ``_directions`` above)
    are cos and sin of yaw + a to a few ulp: within 2 ulp of the exact
    values (long double), within 6 of ``cos(yaw + a)``, ``sin(yaw + a)``
    in float64 (whose sum yaw + a rounds), of unit length to 2 ulp; and
    exactly those of the angle alone at yaw 0."""
    rng = np.random.default_rng(3)
    ulp = np.finfo(np.float64).eps
    ang = np.concatenate((LidarSpec(beams=540, fov_deg=270).angles(), LidarSpec(beams=1080, fov_deg=360).angles(),
                          rng.uniform(-7.0, 7.0, 500)))
    cos_a, sin_a = _beam_units(ang)
    assert np.max(np.abs(cos_a - [math.cos(a) for a in ang])) <= ulp            # (NumPy's or libm's: to 1 ulp)
    assert np.max(np.abs(sin_a - [math.sin(a) for a in ang])) <= ulp
    lid = Lidar(LidarSpec(beams=540, fov_deg=270), np.random.default_rng(0))
    assert np.array_equal(lid._cos_a, cos_a[:540]) and np.array_equal(lid._sin_a, sin_a[:540])
    ld = np.longdouble
    for yaw in np.concatenate(([0.0, math.pi, -math.pi / 2, 999.0, -1e3], rng.uniform(-4.0, 4.0, 40))):
        dx, dy = _directions(yaw, ang)
        cy, sy = math.cos(yaw), math.sin(yaw)
        for i in range(0, ang.size, 7):                  # the kernels' own arithmetic, every 7th beam
            assert _beam_direction(cos_a[i], sin_a[i], cy, sy) == (dx[i], dy[i])
        if np.finfo(ld).eps < ulp / 100:                 # (where long double is wider than double)
            ex, ey = np.cos(ld(yaw) + ang.astype(ld)), np.sin(ld(yaw) + ang.astype(ld))
            assert np.max(np.abs(dx - ex)) < 2 * ulp and np.max(np.abs(dy - ey)) < 2 * ulp
            assert np.max(np.abs(np.hypot(dx.astype(ld), dy.astype(ld)) - 1)) < 2 * ulp
        if abs(yaw) < 10:                                # (beyond, the sum's rounding dominates)
            assert np.max(np.abs(dx - np.cos(yaw + ang))) < 6 * ulp
            assert np.max(np.abs(dy - np.sin(yaw + ang))) < 6 * ulp
        if yaw == 0.0:
            assert np.array_equal(dx, cos_a) and np.array_equal(dy, sin_a)


def _raycast_numpy(occ, res, origin, pose, angles, max_range):
    """Oracle: for each beam (along ``_directions``), every cell boundary
    the ray crosses within range (x = k and y = k lines, vectorised), the
    cells in order of entry, and the first occupied one's entry distance;
    inf when none."""
    h, w = occ.shape
    gx, gy = (pose[0] - origin[0]) / res, (pose[1] - origin[1]) / res
    lim = max_range / res
    out = np.full(len(angles), np.inf)
    dxs, dys = _directions(pose[2], np.asarray(angles, dtype=np.float64))
    for i, (dx, dy) in enumerate(zip(dxs.tolist(), dys.tolist())):
        ts = [np.zeros(1)]
        for g, d in ((gx, dx), (gy, dy)):
            if abs(d) > 1e-12:
                k = np.arange(math.floor(g) + (d > 0), math.floor(g + lim * d) + (d > 0) + 1 if d > 0
                              else math.floor(g + lim * d) - 1, 1 if d > 0 else -1)
                ts.append((k - g) / d)
        t = np.unique(np.concatenate(ts))
        t = t[(t >= 0) & (t <= lim)]
        mid = t + 1e-9                                   # just inside the cell entered at t
        c = np.floor(gx + mid * dx).astype(int)
        r = np.floor(gy + mid * dy).astype(int)
        inside = (c >= 0) & (c < w) & (r >= 0) & (r < h)
        stop = np.flatnonzero(~inside)
        n = stop[0] if len(stop) else len(t)
        hit = np.flatnonzero(occ[r[:n], c[:n]])
        if len(hit):
            out[i] = t[hit[0]] * res
    return out


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_free_space_leaping_raycast_equals_the_numpy_oracle(seed):
    """With the world's distance transform the rays leap over open space
    (sim.sensors.lidar._raycast_skip_kernel): the same returns as the
    cell-by-cell walk and the NumPy oracle, ranges equal to float rounding."""
    import cv2

    rng = np.random.default_rng(seed)
    occ = np.zeros((300, 400), bool)
    for _ in range(25):                                  # boxes, thin walls, single cells
        r, c = rng.integers(0, 300), rng.integers(0, 400)
        occ[r:r + rng.integers(1, 30), c:c + rng.integers(1, 30)] = True
    occ[rng.integers(0, 300, 40), rng.integers(0, 400, 40)] = True
    res, origin = 0.1, (-3.0, 2.0)
    dist = cv2.distanceTransform((~occ).view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE) * res
    ang = np.linspace(-math.pi, math.pi, 361)[:-1]
    n_hits = 0
    for _ in range(12):
        pose = (origin[0] + rng.uniform(0, 40), origin[1] + rng.uniform(0, 30), rng.uniform(-math.pi, math.pi))
        walk = raycast(occ, res, origin, None, pose, ang, 15.0)
        leap = raycast(occ, res, origin, None, pose, ang, 15.0, dist)
        ref = _raycast_numpy(occ, res, origin, pose, ang, 15.0)
        assert np.array_equal(np.isinf(leap), np.isinf(ref)) and np.array_equal(np.isinf(leap), np.isinf(walk))
        fin = np.isfinite(ref)
        np.testing.assert_allclose(leap[fin], ref[fin], atol=2e-5)
        np.testing.assert_allclose(leap[fin], walk[fin], rtol=1e-6, atol=1e-6)
        n_hits += int(fin.sum())
        circ = np.column_stack((pose[0] + rng.uniform(-8, 8, 4), pose[1] + rng.uniform(-8, 8, 4),
                                rng.uniform(0.2, 1.0, 4)))             # moving things bound the walk
        walk = raycast(occ, res, origin, circ, pose, ang, 15.0)
        leap = raycast(occ, res, origin, circ, pose, ang, 15.0, dist)
        assert np.array_equal(np.isinf(leap), np.isinf(walk))
        np.testing.assert_allclose(leap[np.isfinite(walk)], walk[np.isfinite(walk)], rtol=1e-6, atol=1e-6)
    assert n_hits > 1000
    with pytest.raises(ValueError, match="distance must be a float32 array"):
        raycast(occ, res, origin, None, (0.0, 3.0, 0.0), ang, 15.0, dist.astype(np.float64))



def test_leaping_rays_that_end_at_the_first_leap():
    """_raycast_skip_kernel takes every ray's first leap (from the sensor's
    cell) once per scan, and a ray whose first leap passes its limit (the
    reach, or the circle it meets first) ends there: far from every
    occupied cell, or off the raster, the ranges are bit for bit the
    cell-by-cell walk's (the circles' alone); near a wall, where rays leap
    on and walk, they agree with it and with the NumPy oracle."""
    import cv2

    res, origin = 0.1, (0.0, 0.0)
    occ = np.zeros((300, 600), bool)
    occ[:, :4] = True                                    # a wall on the west side
    dist = cv2.distanceTransform((~occ).view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE) * res
    ang = np.linspace(-0.75 * math.pi, 0.75 * math.pi, 540)
    rng = np.random.default_rng(7)
    for x in (40.0, 25.0, -3.0, 70.0):                   # far from the wall, nearer, off the raster (both sides)
        for _ in range(4):
            pose = (x, rng.uniform(5, 25), rng.uniform(-math.pi, math.pi))
            circ = np.column_stack((pose[0] + rng.uniform(-8, 8, 5), pose[1] + rng.uniform(-8, 8, 5),
                                    rng.uniform(0.2, 1.0, 5)))
            for c in (None, circ):
                walk = raycast(occ, res, origin, c, pose, ang, 12.0)
                leap = raycast(occ, res, origin, c, pose, ang, 12.0, dist)
                if c is not None:
                    assert np.isfinite(walk).sum() > 20           # the circles are seen
                assert np.array_equal(leap, walk)             # no wall within reach: no cell hit
    hits = 0
    for _ in range(6):                                   # within reach of the wall: the rays walk to it
        pose = (rng.uniform(1.0, 8.0), rng.uniform(5, 25), rng.uniform(-math.pi, math.pi))
        circ = np.column_stack((pose[0] + rng.uniform(-8, 8, 3), pose[1] + rng.uniform(-8, 8, 3),
                                rng.uniform(0.2, 1.0, 3)))
        walk = raycast(occ, res, origin, circ, pose, ang, 12.0)
        leap = raycast(occ, res, origin, circ, pose, ang, 12.0, dist)
        ref = _raycast_numpy(occ, res, origin, pose, ang, 12.0)
        assert np.array_equal(np.isinf(leap), np.isinf(walk))
        np.testing.assert_allclose(leap[np.isfinite(walk)], walk[np.isfinite(walk)], rtol=1e-6, atol=1e-6)
        free = np.isinf(walk)
        assert np.array_equal(leap[free], walk[free])
        hits += int(np.isfinite(ref).sum())
        wall = np.isfinite(ref) & (ref <= walk + 1e-5)    # (the wall nearer than any circle)
        np.testing.assert_allclose(leap[wall], ref[wall], atol=2e-5)
    assert hits > 500

def _scan_numpy(lid: Lidar, t, pose, occ, res, origin, circles, dist):
    """Oracle of ``Lidar.scan``: the exact ranges, then range noise, the
    range limits and dropouts as NumPy array steps (draws in the same order)."""
    sp = lid.spec
    r = raycast(occ, res, origin, circles, lid.sensor_pose(pose), sp.angles(), sp.max_range, dist)
    if sp.noise_std > 0:
        r = r + lid.rng.normal(0.0, sp.noise_std, r.size).astype(np.float32)
    finite = np.isfinite(r)
    r[finite & (r >= sp.max_range)] = np.inf
    r[finite & (r < sp.min_range)] = -np.inf
    if sp.dropout > 0:
        r[lid.rng.random(r.size) < sp.dropout] = np.nan
    return r


@pytest.mark.parametrize("noise, dropout, min_range", [(0.0, 0.0, 0.1), (0.03, 0.0, 0.1), (0.05, 0.2, 0.7)])
def test_scan_kernel_equals_the_numpy_steps(noise, dropout, min_range):
    """``Lidar.scan`` does noise, range limits and dropouts in its raycast
    kernel (``_scan_kernel``): bit for bit what the NumPy steps give, with
    and without the distance transform, ranges near both limits included."""
    import cv2

    rng = np.random.default_rng(5)
    occ = np.zeros((200, 200), bool)
    for _ in range(30):
        r, c = rng.integers(0, 200, 2)
        occ[r:r + rng.integers(1, 15), c:c + rng.integers(1, 15)] = True
    res, origin = 0.1, (0.0, 0.0)
    dist = cv2.distanceTransform((~occ).view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE) * res
    spec = LidarSpec(beams=540, fov_deg=270, max_range=8.0, min_range=min_range, noise_std=noise,
                     dropout=dropout)
    n_limits = 0
    for k in range(8):
        pose = (rng.uniform(1, 19), rng.uniform(1, 19), rng.uniform(-math.pi, math.pi))
        circles = np.column_stack((pose[0] + rng.uniform(-3, 3, 3), pose[1] + rng.uniform(-3, 3, 3),
                                   rng.uniform(0.2, 0.8, 3)))
        for d in (None, dist):
            a, b = Lidar(spec, np.random.default_rng(k)), Lidar(spec, np.random.default_rng(k))
            got = a.scan(0.0, pose, occ, res, origin, circles, d).ranges
            want = _scan_numpy(b, 0.0, pose, occ, res, origin, circles, d)
            assert got.dtype == np.float32
            assert np.array_equal(got, want, equal_nan=True)
            assert a.rng.random() == b.rng.random()          # the same draws were taken
            n_limits += int(np.isneginf(got).sum() + np.isposinf(got).sum())
    assert n_limits > 50
