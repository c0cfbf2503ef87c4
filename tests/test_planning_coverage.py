"""Coverage patterns: every free point of the area is within half a swath
of the path; search patterns have the IAMSAR geometry."""
from __future__ import annotations

import math

import numpy as np
import pytest

from edgepilot.vehicle.planning.coverage import boustrophedon, expanding_square, sector_search


def _inside(poly: np.ndarray, pts: np.ndarray) -> np.ndarray:
    x, y = pts[:, 0], pts[:, 1]
    inside = np.zeros(len(pts), bool)
    q = np.roll(poly, -1, axis=0)
    for (x0, y0), (x1, y1) in zip(poly, q):
        m = (y0 <= y) != (y1 <= y)
        xi = x0 + (y - y0) / np.where(y1 != y0, y1 - y0, 1) * (x1 - x0)
        inside ^= m & (x < xi)
    return inside


def _dist_to_path(pts: np.ndarray, path: np.ndarray) -> np.ndarray:
    best = np.full(len(pts), np.inf)
    for a, b in zip(path[:-1], path[1:]):
        ab = b - a
        L2 = float(ab @ ab)
        t = np.clip(((pts - a) @ ab) / L2, 0, 1) if L2 > 0 else np.zeros(len(pts))
        best = np.minimum(best, np.hypot(*(a + t[:, None] * ab - pts).T))
    return best


def _free_samples(area, obstacles, step):
    lo, hi = area.min(axis=0), area.max(axis=0)
    xs, ys = np.meshgrid(np.arange(lo[0], hi[0], step) + step / 2, np.arange(lo[1], hi[1], step) + step / 2)
    pts = np.column_stack((xs.ravel(), ys.ravel()))
    free = _inside(area, pts)
    for o in obstacles:
        free &= ~_inside(o, pts)
    return pts[free]


CASES = [
    # rectangle with two rectangular obstacles, lines east-west
    (np.array([[0, 0], [60, 0], [60, 40], [0, 40]], float),
     [np.array([[10, 10], [20, 10], [20, 18], [10, 18]], float),
      np.array([[35, 22], [48, 22], [48, 31], [35, 31]], float)], 4.0, 0.0),
    # convex hexagon, lines at 30 degrees, one triangular obstacle
    (np.array([[0, 0], [40, -5], [70, 15], [65, 45], [20, 50], [-5, 25]], float),
     [np.array([[30, 20], [42, 22], [35, 32]], float)], 5.0, math.radians(30)),
    # thin slanted sliver polygon (sharp vertices), no obstacles
    (np.array([[0, 0], [80, 10], [75, 22], [5, 8]], float), [], 3.0, math.radians(-10)),
]


@pytest.mark.parametrize("area, obstacles, swath, heading", CASES)
def test_every_free_point_within_half_swath(area, obstacles, swath, heading):
    plan = boustrophedon(area, swath, heading, obstacles, start=area[0])
    pts = _free_samples(area, obstacles, swath / 8)
    d = _dist_to_path(pts, plan.path)
    assert d.max() <= swath / 2 + 1e-6, f"uncovered point at {pts[np.argmax(d)]}, {d.max():.3f} m"


def test_lines_spaced_one_swath_and_run_along_heading():
    area = np.array([[0, 0], [100, 0], [100, 40], [0, 40]], float)
    plan = boustrophedon(area, 4.0, 0.0, contours=False)
    ys = sorted({round(float(p[0, 1]), 6) for p in plan.passes})
    assert np.allclose(np.diff(ys), 4.0) and len(ys) == 10
    assert ys[0] == pytest.approx(2.0) and ys[-1] == pytest.approx(38.0)
    for p in plan.passes:
        assert p[0, 1] == pytest.approx(p[1, 1])


def test_ordering_keeps_transit_short():
    area = np.array([[0, 0], [100, 0], [100, 40], [0, 40]], float)
    plan = boustrophedon(area, 4.0, 0.0, contours=False, start=(0, 0))
    # alternating lines: each transit is one swath to the next line
    assert plan.transit_length <= 9 * 4.0 + math.hypot(0, 2) + 1e-6


def test_obstacle_free_lines_never_cross_obstacles():
    area = np.array([[0, 0], [60, 0], [60, 40], [0, 40]], float)
    obs = np.array([[10, 10], [20, 10], [20, 18], [10, 18]], float)
    plan = boustrophedon(area, 4.0, 0.0, [obs], contours=False)
    for p in plan.passes:
        mid = np.linspace(p[0], p[-1], 200)[1:-1]
        assert not _inside(obs, mid).any()


def test_boustrophedon_errors():
    with pytest.raises(ValueError, match="area"):
        boustrophedon(np.zeros((2, 2)), 1.0)
    with pytest.raises(ValueError, match="swath"):
        boustrophedon(np.array([[0, 0], [1, 0], [0, 1]], float), 0.0)
    with pytest.raises(ValueError, match=r"obstacles\[0\]"):
        boustrophedon(np.array([[0, 0], [1, 0], [0, 1]], float), 1.0, obstacles=[[[0, 0]]])


def test_expanding_square_geometry_and_coverage():
    wp = expanding_square((10.0, 20.0), 5.0, 12)
    legs = np.hypot(*np.diff(wp, axis=0).T)
    assert np.allclose(legs, [5, 5, 10, 10, 15, 15, 20, 20, 25, 25, 30, 30])
    d = np.diff(wp, axis=0)
    cross = d[:-1, 0] * d[1:, 1] - d[:-1, 1] * d[1:, 0]
    assert (cross < 0).all(), "every turn is to the right"
    assert np.allclose(wp[1] - wp[0], [0, 5])
    # the square the spiral has swept: most points within S/2 of a leg; the
    # pattern's inner lap corners leave gaps, but nothing is beyond S/sqrt2
    xs, ys = np.meshgrid(np.linspace(-10, 10, 41), np.linspace(-10, 10, 41))
    pts = np.column_stack((xs.ravel(), ys.ravel())) + [10.0 + 2.5, 20.0]
    d = _dist_to_path(pts, wp)
    assert d.max() <= 5.0 / math.sqrt(2) + 1e-6
    assert (d <= 2.5 + 1e-6).mean() > 0.95


def test_sector_search_geometry():
    wp = sector_search((0.0, 0.0), 100.0)
    assert len(wp) == 10 and np.allclose(wp[0], 0) and np.allclose(wp[-1], 0)
    assert np.allclose(wp[3], 0) and np.allclose(wp[6], 0)
    assert np.allclose(np.hypot(*np.diff(wp, axis=0).T), 100.0)
    first_legs = [math.atan2(*(wp[i][::-1])) for i in (1, 4, 7)]
    assert np.allclose(np.diff(np.degrees(first_legs)), -30.0)
    with pytest.raises(ValueError, match="radius"):
        sector_search((0, 0), -1)


def test_an_area_swept_edge_to_edge_has_no_contour_and_no_spikes():
    """A rectangle whose lines reach every edge: the contour would cover
    nothing new, so the path is the lines alone (a boat cannot fly the
    1.5 m spikes a contour puts toward each corner)."""
    area = np.array([[64, 6], [92, 6], [92, 26], [64, 26]], float)
    plan = boustrophedon(area, 10.0, 0.0)
    assert len(plan.passes) == 2 and len(plan.path) == 4
    assert {round(float(p[0, 1]), 6) for p in plan.passes} == {11.0, 21.0}
    pts = _free_samples(area, [], 10.0 / 8)
    assert _dist_to_path(pts, plan.path).max() <= 5.0 + 1e-6
    # the order starts at the line end nearest `start`, flown away from it
    plan = boustrophedon(area, 10.0, 0.0, start=(96.0, 21.0))
    assert plan.path[0].tolist() == [92.0, 21.0] and plan.path[1].tolist() == [64.0, 21.0]


def test_a_slanted_area_keeps_its_contour_where_the_lines_leave_gaps():
    area = CASES[2][0]
    with_c = boustrophedon(area, 3.0, math.radians(-10), start=area[0])
    without = boustrophedon(area, 3.0, math.radians(-10), start=area[0], contours=False)
    pts = _free_samples(area, [], 3.0 / 8)
    assert _dist_to_path(pts, without.path).max() > 1.5 + 1e-6       # the lines alone miss some
    assert len(with_c.passes) > len(without.passes)
    assert _dist_to_path(pts, with_c.path).max() <= 1.5 + 1e-6


def test_overlap_spaces_the_lines_closer_and_centres_them():
    area = np.array([[4, 4], [24, 4], [24, 24], [4, 24]], float)
    plain = boustrophedon(area, 7.0, 0.0)
    side = boustrophedon(area, 7.0, 0.0, overlap=0.15)
    ys = sorted({round(float(p[0, 1]), 6) for p in side.passes})
    assert len(plain.passes) == 3 and len(ys) == 4
    assert np.allclose(np.diff(ys), 7.0 * 0.85)
    assert ys[0] - 4.0 == pytest.approx(24.0 - ys[-1]) and ys[0] - 4.0 < 3.5 - 1.0   # a metre in from the edge
    with pytest.raises(ValueError, match=r"overlap must be a fraction in \[0, 0.5\), got 0.5"):
        boustrophedon(area, 7.0, 0.0, overlap=0.5)
