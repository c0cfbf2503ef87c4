"""CPA/TCPA kernels and COLREGs encounter classification."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgepilot.vehicle.maritime.colregs import Encounter, classify, relative_bearing_deg
from edgepilot.vehicle.maritime._cpa_kernels import _EPS_V2
from edgepilot.vehicle.maritime.cpa import cpa, cpa_candidates, cpa_numpy

finite = st.floats(-500, 500, allow_nan=False)
vel = st.floats(-10, 10, allow_nan=False)


def test_head_on_cpa_is_the_lateral_offset_at_the_meeting_time():
    # Own at origin going east 2 m/s; contact 100 m east, 10 m north, going west 3 m/s.
    d, t = cpa((0, 0, 2, 0), [100.0], [10.0], [-3.0], [0.0])
    assert t[0] == pytest.approx(20.0) and d[0] == pytest.approx(10.0)


def test_opening_contact_has_negative_tcpa_and_future_only_gives_present_range():
    d, t = cpa((0, 0, 1, 0), [-30.0], [40.0], [-2.0], [0.0])
    assert t[0] < 0
    d2, t2 = cpa((0, 0, 1, 0), [-30.0], [40.0], [-2.0], [0.0], future_only=True)
    assert t2[0] == 0 and d2[0] == pytest.approx(50.0)


def test_same_velocity_keeps_the_present_range():
    d, t = cpa((5, 5, 1, 1), [8.0], [9.0], [1.0], [1.0])
    assert t[0] == 0 and d[0] == pytest.approx(5.0)


@settings(max_examples=200, deadline=None)
@given(finite, finite, vel, vel, st.lists(st.tuples(finite, finite, vel, vel), min_size=1, max_size=20))
def test_kernel_matches_numpy_and_brute_force_sampling(ox, oy, ovx, ovy, cs):
    a = np.array(cs, float)
    d, t = cpa((ox, oy, ovx, ovy), a[:, 0], a[:, 1], a[:, 2], a[:, 3])
    dn, tn = cpa_numpy((ox, oy, ovx, ovy), a[:, 0], a[:, 1], a[:, 2], a[:, 3])
    np.testing.assert_allclose(d, dn, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(t, tn, rtol=1e-9, atol=1e-9)
    # No sampled time gets closer than the CPA (below a relative speed of
    # sqrt(_EPS_V2) the geometry counts as frozen: allow what it moves in 200 s).
    ts = np.linspace(-200, 200, 801)
    for i in range(len(a)):
        rvx, rvy = a[i, 2] - ovx, a[i, 3] - ovy
        rx = a[i, 0] - ox + rvx * ts
        ry = a[i, 1] - oy + rvy * ts
        v2 = rvx * rvx + rvy * rvy
        slack = 200.0 * np.sqrt(v2) if v2 <= _EPS_V2 else 0.0
        assert np.hypot(rx, ry).min() >= d[i] - 1e-6 - slack


def test_candidates_clamp_to_horizon_and_subtract_radius():
    # Contact dead ahead 100 m, stationary, radius 5; heading at it vs away.
    d, t = cpa_candidates((0, 0), [2.0, -2.0], [0.0, 0.0], [100.0], [0.0], [0.0], [0.0], [5.0], 30.0)
    assert t[0, 0] == 30.0 and d[0, 0] == pytest.approx(100 - 60 - 5)
    assert t[1, 0] == 0.0 and d[1, 0] == pytest.approx(95.0)


def test_bad_input_names_the_field():
    with pytest.raises(ValueError, match="vx must have 2 elements"):
        cpa((0, 0, 0, 0), [1, 2], [1, 2], [1], [1, 2])
    with pytest.raises(ValueError, match="y must be finite"):
        cpa((0, 0, 0, 0), [1], [np.nan], [1], [1])
    with pytest.raises(ValueError, match="own must be"):
        cpa((0, 0, 0), [1], [1], [1], [1])
    with pytest.raises(ValueError, match="horizon must be > 0"):
        cpa_candidates((0, 0), [1], [1], [1], [1], [1], [1], [1], 0.0)


@pytest.mark.parametrize("field", ["x", "y", "vx", "vy"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_one_pass_finiteness_check_names_the_field_and_element(field, bad):
    arrs = {k: np.linspace(1.0, 2.0, 50) for k in ("x", "y", "vx", "vy")}
    arrs[field][37] = bad
    with pytest.raises(ValueError, match=rf"^{field} must be finite \(no NaN/inf\), element 37 "):
        cpa((0, 0, 1, 0), arrs["x"], arrs["y"], arrs["vx"], arrs["vy"])
    r = np.full(50, 5.0)
    with pytest.raises(ValueError, match=rf"^{field} must be finite"):
        cpa_candidates((0, 0), [1.0], [0.0], arrs["x"], arrs["y"], arrs["vx"], arrs["vy"], r, 60.0)
    ok = {k: np.linspace(1.0, 2.0, 50) for k in arrs}
    r[49] = np.nan
    with pytest.raises(ValueError, match="radius must be finite"):
        cpa_candidates((0, 0), [1.0], [0.0], ok["x"], ok["y"], ok["vx"], ok["vy"], r, 60.0)
    with pytest.raises(ValueError, match="cand_vy must be finite"):
        cpa_candidates((0, 0), [1.0], [np.inf], ok["x"], ok["y"], ok["vx"], ok["vy"], np.ones(50), 60.0)


def test_own_state_must_be_four_finite_numbers():
    for own in [(0, 0, 0), (0, 0, 0, np.nan), (0, "a", 0, 0), 5]:
        with pytest.raises(ValueError, match="own must be"):
            cpa(own, [1.0], [1.0], [0.0], [0.0])


def test_relative_bearing_is_clockwise_from_the_bow():
    # Heading north (ENU yaw pi/2); a point to the east is on the starboard beam.
    assert relative_bearing_deg(0, 0, math.pi / 2, 10, 0) == pytest.approx(90)
    assert relative_bearing_deg(0, 0, math.pi / 2, -10, 0) == pytest.approx(270)
    assert relative_bearing_deg(0, 0, math.pi / 2, 0, -10) == pytest.approx(180)


E, N, W, S = 0.0, math.pi / 2, math.pi, -math.pi / 2


@pytest.mark.parametrize("cx, cy, cyaw, cspd, want", [
    (0, 200, S, 2.0, Encounter.HEAD_ON),                 # dead ahead, reciprocal
    (10, 200, math.radians(-92), 2.0, Encounter.HEAD_ON),  # nearly ahead, nearly reciprocal
    (150, 150, W, 2.0, Encounter.GIVE_WAY),              # on our starboard bow crossing to the west
    (-150, 150, E, 2.0, Encounter.STAND_ON),             # on our port bow crossing to the east
    (0, 60, N, 0.8, Encounter.OVERTAKING),               # ahead, same course, slower: we overtake
    (0, -60, N, 3.0, Encounter.OVERTAKEN),               # astern, same course, faster
    (60, -60, N, 3.0, Encounter.OVERTAKEN),              # starboard quarter (135 deg), faster
    (100, 100, W, 0.0, Encounter.OBSTACLE),              # stopped
    (0, 200, math.radians(-70), 2.0, Encounter.GIVE_WAY),  # ahead but 20 deg off reciprocal: crossing
])
def test_classification_rules_13_to_15(cx, cy, cyaw, cspd, want):
    got = classify(0.0, 0.0, N, 1.5, [cx], [cy], [cyaw], [cspd])
    assert Encounter(int(got[0])) == want


def test_overtaking_wins_over_crossing_at_the_22_5_deg_boundary():
    # Contact heading north; we are 120 deg abaft her bow on her starboard quarter -> overtaking.
    b = math.radians(90 - 120)  # ENU angle of our position from her, heading north
    ox, oy = 50 * math.cos(b), 50 * math.sin(b)
    assert classify(ox, oy, N, 2.0, [0.0], [0.0], [N], [1.0])[0] == Encounter.OVERTAKING
    # 105 deg abaft her bow (forward of the 22.5 deg line): crossing, she is on our port side.
    b = math.radians(90 - 105)
    ox, oy = 50 * math.cos(b), 50 * math.sin(b)
    assert classify(ox, oy, N, 2.0, [0.0], [0.0], [N], [1.0])[0] != Encounter.OVERTAKING


def test_classification_is_mirror_symmetric_for_crossings():
    a = classify(0, 0, N, 1.5, [150.0], [150.0], [W], [2.0])[0]
    b = classify(0, 0, N, 1.5, [-150.0], [150.0], [E], [2.0])[0]
    assert (Encounter(a), Encounter(b)) == (Encounter.GIVE_WAY, Encounter.STAND_ON)


def test_warm_compiles_every_maritime_kernel_with_its_real_signature():
    from edgepilot.vehicle.maritime.autonomy import MaritimeAutonomy
    MaritimeAutonomy.warm()   # raises TypeError if a kernel's warm-up call drifted from its signature
