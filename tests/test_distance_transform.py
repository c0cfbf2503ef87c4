"""The exact distance transform (vehicle.distance_transform) against a
brute-force NumPy oracle, OpenCV's precise mode, and itself: the same bits
on every call (OpenCV's last bit changes from call to call)."""
import cv2
import numpy as np
import pytest

from edgepilot.vehicle.distance_transform import NONE, distance_cells


def _oracle(occ):
    pts = np.argwhere(occ)
    R, C = occ.shape
    if len(pts) == 0:
        return np.full(occ.shape, NONE, np.float32)
    rr, cc = np.mgrid[0:R, 0:C]
    d2 = ((rr[..., None] - pts[:, 0]) ** 2 + (cc[..., None] - pts[:, 1]) ** 2).min(-1)
    return np.sqrt(d2.astype(np.float64)).astype(np.float32)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_against_brute_force_and_close_to_opencv(seed):
    rng = np.random.default_rng(seed)
    for _ in range(80):
        R, C = (int(v) for v in rng.integers(1, 40, 2))
        occ = rng.random((R, C)) < rng.choice([0.0, 0.005, 0.03, 0.2, 1.0])
        d = distance_cells(occ)
        assert d.dtype == np.float32 and d.shape == occ.shape
        assert np.array_equal(d, _oracle(occ))
        if occ.any():
            cv = cv2.distanceTransform((~occ).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
            np.testing.assert_allclose(d, cv, rtol=1e-5, atol=1e-5)


def test_integer_grids_and_single_lines():
    occ = np.zeros((1, 9), np.int32)
    occ[0, 2] = 7
    assert distance_cells(occ).tolist() == [[2, 1, 0, 1, 2, 3, 4, 5, 6]]
    col = np.zeros((5, 1), bool)
    col[4, 0] = True
    assert distance_cells(col)[:, 0].tolist() == [4, 3, 2, 1, 0]


def test_same_bits_on_every_call():
    rng = np.random.default_rng(3)
    occ = rng.random((300, 280)) < 0.01
    first = distance_cells(occ)
    for _ in range(30):
        assert np.array_equal(distance_cells(occ), first)


def test_bad_grids_are_refused():
    with pytest.raises(ValueError, match="2-D occupancy grid"):
        distance_cells(np.zeros(5, bool))
    with pytest.raises(ValueError, match="bool or integer occupancy grid"):
        distance_cells(np.zeros((3, 3), np.float32))
