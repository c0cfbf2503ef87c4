"""Threat alerts: each kind raised when it should, not when it should not,
with scores and reasons; point-in-polygon against shapely."""
import numpy as np
import pytest
from shapely.geometry import Point, Polygon

from edgepilot.vehicle.fleet.tasks import ShadowTask, VisitTask
from edgepilot.vehicle.fleet.threats import (AisReport, SensorCoverage, Track, Zone, assess, points_in_polygon)

HARBOUR = Zone("harbour", ((0.0, 0.0), (200.0, 0.0), (200.0, 100.0), (0.0, 100.0)))
DEPOT = Zone("fuel_depot", ((500.0, 500.0), (540.0, 500.0), (540.0, 530.0), (500.0, 530.0)), kind="restricted")


def test_points_in_polygon_matches_shapely():
    rng = np.random.default_rng(0)
    poly = np.array([[0, 0], [10, 0], [10, 10], [5, 4], [0, 10]], float)   # concave
    x, y = rng.uniform(-2, 12, 500), rng.uniform(-2, 12, 500)
    ref = [Polygon(poly).contains(Point(a, b)) for a, b in zip(x, y)]
    assert points_in_polygon(x, y, poly).tolist() == ref


def test_dark_vessel_running_at_the_harbour_gets_both_alerts_and_a_shadow_task():
    fast = Track(7, x=100.0, y=-400.0, vx=0.0, vy=9.0, first_seen=0.0, last_seen=40.0)
    with_ais = Track(8, x=400.0, y=-300.0, vx=-1.0, vy=0.0, first_seen=0.0, last_seen=40.0)
    ais = [AisReport(244000001, 402.0, -301.0, -1.0, 0.0, t=38.0)]
    alerts = assess(40.0, [fast, with_ais], ais, [HARBOUR])
    kinds = [(a.kind, a.track_id) for a in alerts]
    assert ("ais_dark", 7) in kinds and ("zone_cpa", 7) in kinds
    assert all(a.track_id != 8 for a in alerts)          # it has AIS and passes clear
    zone = next(a for a in alerts if a.kind == "zone_cpa")
    assert zone.zone == "harbour" and "no AIS" in zone.reasons and zone.score > 0.7
    assert any("closest approach to zone harbour is inside it in" in r for r in zone.reasons)
    dark = next(a for a in alerts if a.kind == "ais_dark")
    assert any("moving at 9.0 m/s" in r for r in dark.reasons)
    assert alerts[0].score >= alerts[-1].score
    t = zone.task(standoff_m=40.0)
    assert isinstance(t, ShadowTask) and t.contact == "track-7" and t.standoff_m == 40.0 and t.domain == "water"
    assert len(zone.text()) <= 50


def test_young_or_slow_or_ais_covered_tracks_are_not_dark():
    young = Track(1, 0.0, -500.0, 0.0, 0.0, first_seen=38.0, last_seen=40.0)
    covered = Track(2, 300.0, -500.0, 0.0, 3.0, first_seen=0.0, last_seen=40.0)
    ais = [AisReport(1, 310.0, -480.0, 0.0, 0.0, t=40.0)]
    assert [a for a in assess(40.0, [young, covered], ais) if a.kind == "ais_dark"] == []
    # the same AIS report, but too old: the covered track is dark now
    assert [a.track_id for a in assess(200.0, [covered], ais) if a.kind == "ais_dark"] == [2]


def test_ais_disagreeing_with_what_we_see():
    tr = Track(3, 0.0, -300.0, 2.0, 0.0, first_seen=0.0, last_seen=10.0, mmsi=244000002)
    spoof = AisReport(244000002, 0.0, -600.0, 2.0, 0.0, t=10.0)        # 300 m off
    a = assess(10.0, [tr], [spoof])
    assert [x.kind for x in a] == ["ais_mismatch"] and "300 m from where we see it" in a[0].reasons[0]
    assert assess(10.0, [tr], [AisReport(244000002, 30.0, -300.0, 2.0, 0.0, t=10.0)]) == []
    # AIS says a ship is right in front of our lidar; nothing is there
    ghost = AisReport(244000003, 50.0, 50.0, 0.0, 0.0, t=10.0)
    cov = SensorCoverage(((40.0, 40.0, 100.0),))
    g = assess(10.0, [], [ghost], coverage=cov)
    assert [x.kind for x in g] == ["ais_mismatch"] and g[0].mmsi == 244000003
    assert isinstance(g[0].task(), VisitTask)
    assert assess(10.0, [], [ghost], coverage=SensorCoverage(((900.0, 900.0, 100.0),))) == []


def test_person_in_or_entering_a_restricted_zone():
    inside = Track(10, 520.0, 510.0, 0.0, 0.0, kind="person")
    coming = Track(11, 490.0, 510.0, 1.5, 0.0, kind="person")
    leaving = Track(12, 490.0, 510.0, -1.5, 0.0, kind="person")
    a = assess(0.0, [inside, coming, leaving], [], [DEPOT])
    assert [(x.kind, x.track_id) for x in a] == [("restricted_entry", 10), ("restricted_entry", 11)]
    assert a[0].score > a[1].score
    t = a[0].task()
    assert isinstance(t, VisitTask) and t.domain == "land" and t.sensors == ("camera",)


def test_deterministic_and_bad_zone_refused():
    tracks = [Track(i, float(i * 30), -200.0, 0.0, 5.0, first_seen=0.0) for i in range(6)]
    assert assess(30.0, tracks, [], [HARBOUR]) == assess(30.0, list(reversed(tracks)), [], [HARBOUR])
    with pytest.raises(ValueError, match="zone 'x': polygon must be >= 3"):
        Zone("x", ((0, 0), (1, 1)))
