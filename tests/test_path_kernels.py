"""Path projection and point-at-arc-length kernels against their NumPy
oracles (``vehicle/control/_reference.py``): the same floats."""
import numpy as np
import pytest

from edgepilot.vehicle.control._reference import point_at_numpy, project_numpy
from edgepilot.vehicle.control.path import PolylinePath


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_project_and_point_at_equal_the_numpy_oracle(seed):
    rng = np.random.default_rng(seed)
    for k in range(600):
        n = int(rng.integers(1, 30))
        pts = np.cumsum(rng.normal(size=(n, 2)) * rng.uniform(0.1, 5.0), axis=0)
        if k % 7 == 0 and n > 3:
            pts[2] = pts[1]                 # a repeated point (dropped by the path)
        if k % 11 == 0:
            pts = np.vstack((pts, pts[::-1]))   # a path that doubles back: the hint matters
        p = PolylinePath(pts)
        x, y = rng.normal(size=2) * 5.0
        hint = None if k % 2 else float(rng.uniform(-1.0, p.length + 1.0))
        window = float(rng.uniform(0.1, 10.0))
        got = p.project(x, y, s_hint=hint, window=window)
        assert (got.s, got.cross_track_error, got.segment, got.heading) == project_numpy(p, x, y, hint, window)
        s = float(rng.uniform(-2.0, p.length + 2.0))
        assert p.point_at(s) == point_at_numpy(p, s)


def test_projection_on_a_known_path():
    p = PolylinePath(np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]]))
    pr = p.project(4.0, 1.5)
    assert (pr.s, pr.cross_track_error, pr.segment) == (4.0, 1.5, 0)     # left of the path: positive
    pr = p.project(11.0, 6.0)
    assert (pr.s, pr.cross_track_error, pr.segment) == (16.0, -1.0, 1)
    assert p.point_at(15.0) == (10.0, 5.0)
    assert p.point_at(-3.0) == (0.0, 0.0) and p.point_at(99.0) == (10.0, 10.0)
    # doubling back: the hint keeps the follower on the leg it is on
    back = PolylinePath(np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 0.2]]))
    assert back.project(2.0, 0.1, s_hint=1.0, window=3.0).segment == 0
    assert back.project(2.0, 0.1, s_hint=18.0, window=3.0).segment == 1


def test_project_s_is_projects_s_and_cross_track_error():
    """The follower's short form (PolylinePath.project_s) gives project's
    floats, and end_x / end_y are the last point."""
    rng = np.random.default_rng(7)
    for k in range(300):
        pts = np.cumsum(rng.normal(size=(int(rng.integers(1, 20)), 2)) * 2.0, axis=0)
        p = PolylinePath(pts)
        x, y = rng.normal(size=2) * 5.0
        hint, window = float(rng.uniform(-1.0, p.length + 1.0)), float(rng.uniform(0.1, 10.0))
        pr = p.project(x, y, s_hint=hint, window=window)
        assert p.project_s(x, y, hint, window) == (pr.s, pr.cross_track_error)
        assert (p.end_x, p.end_y) == tuple(p.points[-1].tolist())


def test_follow_is_project_s_max_then_point_at():
    """The follower's one-call tick (PolylinePath.follow) gives the floats
    of project_s, Python's max of the progress, then point_at -- and so of
    the NumPy oracles -- including progress at or past either end and a
    path that doubles back."""
    rng = np.random.default_rng(11)
    for k in range(600):
        pts = np.cumsum(rng.normal(size=(int(rng.integers(1, 25)), 2)) * rng.uniform(0.1, 4.0), axis=0)
        if k % 9 == 0:
            pts = np.vstack((pts, pts[::-1]))
        p = PolylinePath(pts)
        x, y = rng.normal(size=2) * 5.0
        s = float(rng.uniform(-1.0, p.length + 1.0)) if k % 5 else 0.0
        window, lookahead = float(rng.uniform(0.1, 10.0)), float(rng.choice([0.0, rng.uniform(0.1, 6.0), -1.0]))
        sp, cte = p.project_s(x, y, s, window)
        progress = max(s, sp)
        want = (progress, cte, *p.point_at(progress + lookahead))
        got = p.follow(x, y, s, window, lookahead)
        assert got == want and type(got) is tuple and all(type(v) is float for v in got), k   # Python floats
        o = project_numpy(p, x, y, s, window)
        assert (sp, cte) == o[:2] and want[2:] == point_at_numpy(p, progress + lookahead), k
