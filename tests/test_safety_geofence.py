"""Fence items, geometry and the stopping-distance breach prediction."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safety_rig import ORIGIN, Rig
from edgepilot.vehicle.geo import LocalFrame
from edgepilot.vehicle.safety.geofence import (CIRCLE_EXCLUSION, POLY_EXCLUSION, POLY_INCLUSION, Fence, FenceError,
                                     load_fence_file, polygon_signed_distance, specs_to_items, FenceZoneSpec)
from edgepilot.vehicle.config import ConfigError
from edgepilot.vehicle.types import Mode, MissionItem

FRAME = LocalFrame(ORIGIN.lat, ORIGIN.lon)


def poly_items(pts, cmd=POLY_INCLUSION, start=0):
    return [MissionItem(start + i, cmd, *FRAME.to_geo(x, y), param1=len(pts), frame=0)
            for i, (x, y) in enumerate(pts)]


SQUARE = [(-10, -10), (10, -10), (10, 10), (-10, 10)]


def test_items_roundtrip_to_map_frame_zones():
    items = poly_items(SQUARE) + [MissionItem(4, CIRCLE_EXCLUSION, *FRAME.to_geo(3, 4), param1=2.0, frame=0)]
    f = Fence.from_items(items, FRAME)
    assert len(f) == 2 and f.zones[0].inclusion and not f.zones[1].inclusion
    assert np.allclose(f.zones[0].points, SQUARE, atol=1e-3)
    assert f.contains(0, 0) and not f.contains(3, 4) and not f.contains(11, 0)
    c, _ = f.clearance([[0.0, -9.0], [3.0, 6.5], [12.0, 0.0]])
    assert c == pytest.approx([1.0, 0.5, -2.0], abs=1e-3)


@pytest.mark.parametrize("items, msg", [
    (lambda: poly_items(SQUARE)[:3], "polygon needs 4 consecutive vertex items"),
    (lambda: [MissionItem(0, 16, 47.0, 8.0)], "command 16 is not a fence command"),
    (lambda: [MissionItem(0, CIRCLE_EXCLUSION, 47.0, 8.0, param1=0.0)], "circle radius (param1) must be > 0"),
    (lambda: [MissionItem(1, CIRCLE_EXCLUSION, 47.0, 8.0, param1=1.0)], "fence item 0 has seq 1"),
    (lambda: poly_items([(0, 0), (1, 0)]), "vertex count (param1) must be an integer in 3..100"),
    (lambda: poly_items([(0, 0), (1, 1), (2, 2)]), "polygon has zero area"),
    (lambda: [MissionItem(0, CIRCLE_EXCLUSION, 95.0, 8.0, param1=1.0)], "invalid position"),
])
def test_bad_fence_items_are_rejected_with_the_item_named(items, msg):
    with pytest.raises(FenceError) as e:
        Fence.from_items(items(), FRAME)
    assert msg in str(e.value)


def test_core_set_fence_refuses_bad_upload_and_keeps_the_old_fence():
    rig = Rig()
    assert rig.core.set_fence(poly_items(SQUARE)).ok
    r = rig.core.set_fence(poly_items(SQUARE)[:2])
    assert not r.ok and "Fence rejected" in r.reason and len(rig.core.fence) == 1
    assert rig.core.set_fence([]).ok and rig.core.fence is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-20, 20), st.floats(-20, 20)), min_size=1, max_size=20))
def test_polygon_signed_distance_matches_shapely(pts):
    from shapely.geometry import Point, Polygon
    poly = np.array([(0, 0), (10, 0), (10, 6), (4, 6), (4, 12), (0, 12)], float)   # concave L
    d = polygon_signed_distance(np.array(pts), poly)
    P = Polygon(poly)
    for (x, y), got in zip(pts, d):
        ref = P.exterior.distance(Point(x, y))
        if ref > 1e-6:
            assert got == pytest.approx(ref if P.contains(Point(x, y)) else -ref, abs=1e-9)


def test_breach_prediction_uses_speed_and_stopping_distance():
    f = Fence.from_items(poly_items(SQUARE), FRAME)
    # 1 m/s towards the east edge at x=10, footprint radius 0.6, 1.5 m/s^2, 0.1 s reaction:
    # stopping distance 0.1 + 1/3 = 0.433 m.
    slow = f.check(8.0, 0.0, 1.0, 0.0, 0.6, 1.5, 0.1, 0.5)
    assert not slow.breach and slow.stopping_distance == pytest.approx(0.4333, abs=1e-3)
    fast = f.check(8.0, 0.0, 2.0, 0.0, 0.6, 1.5, 0.1, 0.5)     # 1.53 m: would end 0.13 m from the edge
    assert fast.breach and fast.clearance_min < 0.5 < fast.clearance_now
    away = f.check(8.0, 0.0, -2.0, 0.0, 0.6, 1.5, 0.1, 0.5)
    assert not away.breach


def fenced_rig(items):
    rig = Rig().ready()
    assert rig.core.set_fence(items).ok
    assert rig.core.params.set("FENCE_ENABLE", 1).ok
    return rig


def test_vehicle_holds_before_its_footprint_reaches_an_exclusion_zone():
    outer = poly_items([(-50, -50), (50, -50), (50, 50), (-50, 50)])
    zone = poly_items([(12, -3), (16, -3), (16, 3), (12, 3)], POLY_EXCLUSION, start=4)
    rig = fenced_rig(outer + zone)
    trig = rig.core.safety.failsafes.trigger("fence")
    v = 1.2
    while rig.core.mode == Mode.GUIDED:        # drive east at 1.2 m/s, GPS reporting it
        assert rig.pos[0] < 12.0, "no fence stop"
        rig.pos = (rig.pos[0] + v * 0.05, 0.0)
        rig.tick(1, vel=(v, 0.0))
    c = trig.last_check
    p = rig.core.params
    assert c.clearance_now > 0                  # not breached yet
    # tripped as soon as the stopping distance plus margin reached the zone, not earlier
    assert c.clearance_min < p.get("FENCE_MARGIN") <= c.clearance_now
    assert c.stopping_distance == pytest.approx(v * 0.1 + v * v / (2 * p.get("FENCE_BRAKE_ACC")), rel=0.15)
    front_gap = 12.0 - rig.core.state.x - rig.core.cfg.geometry.circumscribed_radius
    assert front_gap > c.stopping_distance
    # standing still at the same spot is no breach
    still = Rig().ready()
    assert still.core.set_fence(outer + zone).ok and still.core.params.set("FENCE_ENABLE", 1).ok
    still.pos = rig.pos
    still.tick(5)
    assert not still.failsafe_events("trip")


def test_fence_breach_trips_hold_and_operator_mode_change_clears_it():
    rig = fenced_rig(poly_items([(5, -5), (7.0, -5), (7.0, 5), (5, 5)], POLY_INCLUSION))
    rig.tick(1)                      # at x=6 with a 0.61 m footprint: 0.39 m from the edge < margin
    assert rig.core.mode == Mode.HOLD and rig.failsafe_events("trip")[0].data["trigger"] == "fence"
    assert "fence" in rig.core.safety.failsafes.active
    assert rig.core.set_mode(rig.t, Mode.RTL).ok
    rig.tick(1)
    assert [e.data["phase"] for e in rig.failsafe_events()][:2] == ["trip", "clear"]


def test_fence_file_and_scenario_specs(tmp_path):
    p = tmp_path / "fence.toml"
    p.write_text('[[fence]]\ntype = "circle"\ninclusion = true\ncenter = [47.3977, 8.5456]\nradius = 50\n'
                 '[[fence]]\ntype = "polygon"\ninclusion = false\npoints = [[47.3978, 8.5457], [47.3979, 8.5457], '
                 '[47.3979, 8.5458]]\n')
    items = load_fence_file(p)
    assert [it.command for it in items] == [5003, 5002, 5002, 5002] and items[0].param1 == 50
    p.write_text('[[fence]]\ntype = "circle"\ncenter = [147.0, 8.0]\nradius = 5\n')
    with pytest.raises(ConfigError, match=r"fence.0: \[147.0, 8.0\] is not a WGS84"):
        load_fence_file(p)
    p.write_text('[[fence]]\ntype = "polygon"\npoints = [[47.0, 8.0]]\n')
    with pytest.raises(ConfigError, match="fence.0: .*polygon fence needs 'points'"):
        load_fence_file(p)
    spec = FenceZoneSpec(type="circle", center=(1.0, 2.0), radius=3.0, inclusion=False)
    it = specs_to_items([spec], FRAME.to_geo)[0]
    assert it.command == CIRCLE_EXCLUSION and math.isclose(FRAME.to_local(it.lat, it.lon)[1], 2.0, abs_tol=1e-6)
