"""The simulated lidar's circle test tries, per beam, only the circles the
beam can meet (``sim.sensors.lidar._circle_beams``): the same ranges, bit
for bit, as trying every circle (the NumPy oracle below)."""
import math

import numpy as np
import pytest

from edgepilot.sim.sensors.lidar import _BEAM_MARGIN, _circle_beams, _circle_terms, raycast


def _circles_numpy(circles, pose, angles, max_range):
    """Oracle: every circle along every beam, the kernel's arithmetic
    (each beam's unit vector rotated by the yaw; nearest crossing ahead,
    0 from inside one, inf beyond max_range)."""
    px, py, yaw = pose
    cx = px - circles[:, 0]
    cy = py - circles[:, 1]
    c = cx * cx + cy * cy - circles[:, 2] * circles[:, 2]
    out = np.full(len(angles), np.inf)
    cos_yaw, sin_yaw = math.cos(yaw), math.sin(yaw)
    for i, (ca, sa) in enumerate(zip(np.cos(angles).tolist(), np.sin(angles).tolist())):
        dx, dy = ca * cos_yaw - sa * sin_yaw, sa * cos_yaw + ca * sin_yaw
        b = dx * cx + dy * cy
        disc = b * b - c
        ok = disc >= 0.0
        sq = np.sqrt(np.where(ok, disc, 0.0))
        t0 = -b - sq
        ahead = ok & (t0 >= 0.0)
        best = t0[ahead].min() if ahead.any() else np.inf
        if (ok & (t0 < 0.0) & (-b + sq >= 0.0)).any():
            best = 0.0
        out[i] = best if best <= max_range else np.inf
    return out.astype(np.float32)


def _circles(rng, pose, k):
    d = rng.uniform(0.0, 12.0, k)
    br = rng.uniform(-math.pi, math.pi, k)
    rad = rng.uniform(0.05, 2.0, k)
    d[: k // 4] = rad[: k // 4] * rng.uniform(0.5, 1.05, k // 4)     # in it, on it, nearly in it
    return np.column_stack((pose[0] + d * np.cos(br), pose[1] + d * np.sin(br), rad))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("layout", ["360", "270", "reversed", "uneven"])
def test_circle_ranges_equal_the_every_circle_oracle(seed, layout):
    rng = np.random.default_rng(seed)
    occ = np.zeros((400, 400), bool)                     # open ground: the circles alone
    dist = np.full(occ.shape, 100.0, np.float32)
    res, origin = 0.1, (-20.0, -20.0)
    if layout == "360":
        ang = -math.pi + 2 * math.pi / 3600 * np.arange(3600)
    elif layout == "270":
        ang = np.linspace(-0.75 * math.pi, 0.75 * math.pi, 2701)
    elif layout == "reversed":                           # not increasing: every circle on every beam
        ang = np.linspace(math.pi, -math.pi, 1801)
    else:
        ang = np.sort(rng.uniform(-math.pi, math.pi, 1500))
    n_hit = 0
    for k in (1, 3, 8, 40, 70):                          # 70: more than the masks hold
        pose = (rng.uniform(-5, 5), rng.uniform(-5, 5), rng.uniform(-4, 4))
        circ = _circles(rng, pose, k)
        want = _circles_numpy(circ, pose, ang, 15.0)
        for d in (None, dist):
            got = raycast(occ, res, origin, circ, pose, ang, 15.0, d)
            assert np.array_equal(got, want)
        n_hit += int(np.isfinite(want).sum())
    assert n_hit > 500


def test_circle_beams_masks():
    """Uniform increasing beams get masks (a circle ahead only on the
    beams towards it; one the sensor is in on all); the fallbacks get none."""
    ang = np.linspace(-math.pi, math.pi, 361)[:-1]
    circ = np.array([[5.0, 0.0, 0.5], [0.0, 0.1, 0.5], [-5.0, 0.0, 0.5]])
    pre = _circle_terms(circ, 0.0, 0.0)
    m = _circle_beams(pre, circ, 0.0, ang)
    ahead = np.flatnonzero(m & 1)
    assert len(ahead) == 11 and np.all(np.abs(ang[ahead]) < 0.11)
    assert np.all(m & 2)
    behind = np.flatnonzero(m & 4)                       # the span wraps past the first beam
    assert set(behind) >= {0, 359} and len(behind) == 11
    assert len(_circle_beams(pre, circ, 0.0, ang[::-1].copy())) == 0
    many = np.tile(circ, (21, 1))
    assert len(_circle_beams(_circle_terms(many, 0.0, 0.0), many, 0.0, ang)) == 0
    assert len(_circle_beams(pre, circ, 5e3, ang)) == 0
    for k in (0, 1, 180, 358, 359):                      # one pair not strictly increasing, anywhere
        for v in (ang[k - 1] if k else ang[1], math.nan):
            bad = ang.copy()
            bad[k] = v
            assert len(_circle_beams(pre, circ, 0.0, bad)) == 0, (k, v)


@pytest.mark.parametrize("yaw", [0.0, 2.5, -999.0, 1e3])
def test_grazing_beams_keep_their_circles(yaw):
    """Beams near a circle's tangents, yaw up to the 1000 rad the masks
    allow: within 1e-12 rad (hits and misses rounding decides), across
    the masks' edges (``_BEAM_MARGIN`` outside the tangents) and beyond
    them.  The masks leave out only beams that miss; the ranges are the
    every-circle oracle's."""
    rng = np.random.default_rng(int(abs(yaw)) + 7)
    occ = np.zeros((10, 10), bool)
    edge = np.linspace(-1e-9, 1e-9, 41)
    off = np.concatenate((np.linspace(-3e-6, 3e-6, 301), np.linspace(-1e-12, 1e-12, 41),
                          _BEAM_MARGIN + edge, -_BEAM_MARGIN + edge))
    n_hit = n_miss = n_out = 0
    for _ in range(20):
        pose = (rng.uniform(-5, 5), rng.uniform(-5, 5), yaw)
        rad, br = rng.uniform(0.05, 2.0), rng.uniform(-math.pi, math.pi)
        dd = rad * rng.uniform(1.02, 30.0)
        circ = np.array([[pose[0] + dd * math.cos(br), pose[1] + dd * math.sin(br), rad]])
        half = math.asin(rad / dd)
        ang = np.concatenate(((br - half - yaw) + off, (br + half - yaw) + off))
        ang = np.unique(np.mod(ang + math.pi, 2 * math.pi) - math.pi)     # increasing, within one turn
        want = _circles_numpy(circ, pose, ang, 40.0)
        masks = _circle_beams(_circle_terms(circ, pose[0], pose[1]), circ, yaw, ang)
        assert masks.size == ang.size and np.all(np.isinf(want[masks == 0]))
        got = raycast(occ, 10.0, (-50.0, -50.0), circ, pose, ang, 40.0)
        assert np.array_equal(got, want)
        n_hit += int(np.isfinite(want).sum())
        n_miss += int(np.isinf(want).sum())
        n_out += int((masks == 0).sum())
    assert n_hit > 1000 and n_miss > 1000 and n_out > 1000
