"""The simulator's numba kernels against their NumPy oracles
(``sim/_reference.py``): the footprint clearance / collision check and the
fleet separation."""
import math

import numpy as np
import pytest

from edgepilot.sim._reference import footprint_clearance_numpy
from edgepilot.sim.scenario import load_scenario
from edgepilot.sim.world import SimWorld


@pytest.fixture(scope="module")
def yard():
    sc = load_scenario("ugv_yard")
    return sc, SimWorld(sc)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_footprint_clearance_equals_the_numpy_oracle(yard, seed):
    sc, w = yard
    rng = np.random.default_rng(seed)
    xmin, ymin, xmax, ymax = sc.world.bounds
    hits = 0
    try:
        for k in range(1500):
            # poses all over the yard and beyond its walls, footprints from tiny to large
            x, y = rng.uniform(xmin - 1, xmax + 1), rng.uniform(ymin - 1, ymax + 1)
            yaw, length, width = rng.uniform(-4, 4), rng.uniform(0.02, 3.0), rng.uniform(0.02, 2.0)
            w.moving = (rng.uniform([xmin, ymin, 0.1], [xmax, ymax, 2.0], size=(int(rng.integers(1, 5)), 3))
                        if k % 3 == 0 else np.zeros((0, 3)))
            got = w.footprint_clearance(x, y, yaw, length, width)
            assert got == footprint_clearance_numpy(w, x, y, yaw, length, width), (x, y, yaw, length, width)
            hits += got[1]
    finally:
        w.moving = np.zeros((0, 3))
    assert 0 < hits < 1500          # both verdicts exercised


def test_footprint_clearance_near_a_wall_and_in_the_open(yard):
    sc, w = yard
    # along a line from the open yard into the west wall: clearance falls to 0, then collided
    y = 0.5 * (sc.world.bounds[1] + sc.world.bounds[3])
    seen = [w.footprint_clearance(x, y, 0.0, 0.8, 0.6) for x in np.linspace(3.0, sc.world.bounds[0], 60)]
    assert all(a == footprint_clearance_numpy(w, x, y, 0.0, 0.8, 0.6)
               for a, x in zip(seen, np.linspace(3.0, sc.world.bounds[0], 60)))
    assert seen[-1] == (0.0, True)
    assert any(c > 0.5 and not hit for c, hit in seen)


@pytest.mark.parametrize("bad", [(math.nan, 1.0, 0.0, 1.0, 1.0), (1.0, 1.0, math.inf, 1.0, 1.0),
                                 (1.0, 1.0, 0.0, 0.0, 1.0), (1.0, 1.0, 0.0, 1.0, -1.0)])
def test_footprint_clearance_refuses_bad_input(yard, bad):
    _, w = yard
    with pytest.raises(ValueError, match="footprint_clearance: expected finite"):
        w.footprint_clearance(*bad)
