"""The contact table: AIS updates, dead reckoning, ageing out, fusion with
sensor tracks; and the helm's behaviour at the unit level."""
import math

import numpy as np
import pytest

from edgepilot.vehicle.config import Maritime
from edgepilot.vehicle.geo import LocalFrame
from edgepilot.vehicle.maritime.avoidance import ColregsHelm
from edgepilot.vehicle.maritime.contacts import ContactTable
from edgepilot.vehicle.types import ContactReport

F = LocalFrame(54.4, 10.2)


def ais(t, mmsi, x, y, sog=2.0, cog=0.0, **kw):
    lat, lon = F.to_geo(x, y)
    return ContactReport(t, "ais", mmsi, lat, lon, sog, cog, kw.pop("heading", None), **kw)


def track(t, tid, x, y, sog=2.0, cog=0.0, source="lidar"):
    lat, lon = F.to_geo(x, y)
    return ContactReport(t, source, tid, lat, lon, sog, cog)


def test_ais_contact_is_dead_reckoned_and_aged_out():
    tab = ContactTable(F, stale_after_s=30.0)
    tab.ingest([ais(0.0, 1, 100.0, 50.0, sog=2.0, cog=math.pi / 2)], 0.0)
    s = tab.snapshot(5.0)
    assert s.x[0] == pytest.approx(100.0, abs=0.01) and s.y[0] == pytest.approx(60.0, abs=0.01)
    tab.ingest([], 29.0)
    assert 1 in tab
    tab.ingest([], 31.0)
    assert 1 not in tab and tab.counters.dropped_stale == 1


def test_static_data_before_a_position_sets_the_radius():
    tab = ContactTable(F, default_radius=3.0)
    tab.update(ContactReport(0.0, "ais", 7, name="FERRY", ship_type=60, length=40.0, beam=10.0))
    assert len(tab.snapshot(0.0)) == 0          # no position yet
    tab.update(ais(1.0, 7, 0.0, 0.0))
    s = tab.snapshot(1.0)
    assert s.radius[0] == 20.0 and tab.get(7).name == "FERRY"


def test_lidar_track_fuses_with_the_nearby_ais_contact_and_survives_an_ais_dropout():
    tab = ContactTable(F, stale_after_s=10.0, fusion_gate_m=15.0)
    tab.ingest([ais(0.0, 5, 100.0, 0.0, sog=2.0, cog=0.0, length=20.0)], 0.0)
    tab.ingest([track(1.0, 42, 104.0, 1.0), track(1.0, 43, 300.0, 300.0)], 1.0)
    assert tab.counters.fused == 1 and len(tab) == 2
    c = tab.get(5)
    assert c.track_id == 42 and {"ais", "lidar"} <= c.sources and c.x == pytest.approx(104.0, abs=0.01)
    # AIS goes silent; the lidar keeps the contact (with its AIS identity and size) alive.
    for t in np.arange(2.0, 25.0, 1.0):
        tab.ingest([track(t, 42, 104.0 + 2.0 * (t - 1.0), 1.0)], t)
    c = tab.get(5)
    assert c is not None and c.radius(3.0) == 10.0 and c.x == pytest.approx(104.0 + 2 * 23.0, abs=0.01)
    assert -44 not in tab   # track 43 stopped reporting and aged out
    # An AIS report within the gate but no fresher than the track does not pull the contact back.
    tab.ingest([ais(24.5, 5, 140.0, 1.0)], 24.5)
    assert tab.get(5).x == pytest.approx(150.0, abs=0.01) and tab.counters.split == 0


def test_a_dark_boat_passing_an_ais_vessel_does_not_take_its_identity():
    """A boat with no AIS, first tracked 9 m from a moored AIS vessel (it
    came out from behind it), runs on past it: its lidar track fuses with the AIS contact (the gate is 15 m), then runs on.  Once
    AIS and track are more than the gate apart they are two contacts again:
    the AIS vessel where AIS puts it, the dark boat as a track of its own,
    so both stay in the picture (the helm avoids both, the threat watch sees
    the dark one).  The table used to keep them fused for good: the moored
    vessel followed the dark boat, and its own position was lost."""
    tab = ContactTable(F, stale_after_s=30.0, fusion_gate_m=15.0)
    tab.ingest([ais(0.0, 9, 0.0, 0.0, sog=0.0, cog=0.0, length=30.0)], 0.0)
    for k in range(41):
        t = 0.5 * k
        reports = [track(t, 7, -8.0 + 3.0 * t, 5.0, sog=3.0, cog=0.0)]
        if k % 4 == 0:
            reports.append(ais(t, 9, 0.0, 0.0, sog=0.0, cog=0.0))
        tab.ingest(reports, t)
    assert tab.counters.fused == 1 and tab.counters.split == 1
    moored, dark = tab.get(9), tab.get(-8)
    assert moored is not None and dark is not None and len(tab) == 2
    assert moored.x == pytest.approx(0.0, abs=0.01) and moored.track_id is None and moored.sources == {"ais"}
    assert dark.mmsi is None and dark.track_id == 7 and dark.x == pytest.approx(52.0, abs=0.01)
    kinds = [d["contact"] for _, d in tab.drain_events()]
    assert kinds.count("split") == 1 and kinds.index("fused") < kinds.index("split")
    # the dark boat's track keeps refreshing its own contact, never the AIS one
    tab.ingest([track(20.5, 7, 53.5, 5.0, sog=3.0, cog=0.0)], 20.5)
    assert tab.get(-8).x == pytest.approx(53.5, abs=0.01) and tab.get(9).x == pytest.approx(0.0, abs=0.01)


def test_unknown_source_is_rejected_and_counted():
    tab = ContactTable(F)
    assert tab.update(ContactReport(0.0, "sonar?", 1, 54.4, 10.2)) is None
    assert tab.counters.rejected == 1


def helm_for(contact, own_heading=0.0, speed=1.5):
    """One decision: own at the origin heading ``own_heading`` at ``speed``."""
    tab = ContactTable(F)
    tab.ingest([contact], 0.0)
    h = ColregsHelm(Maritime(), 2.0)
    own = (0.0, 0.0, own_heading, speed * math.cos(own_heading), speed * math.sin(own_heading))
    return h, h.decide(0.0, own, own_heading, speed, tab.snapshot(0.0))


def test_helm_passes_the_mission_through_when_nothing_is_near():
    h, d = helm_for(ais(0.0, 1, 0.0, 200.0, sog=2.0, cog=math.pi / 2))   # ahead-left, going away north
    assert not d.active and d.heading == 0.0 and d.speed == 1.5 and not h.encounters


def test_helm_turns_to_starboard_substantially_for_a_head_on_ferry():
    h, d = helm_for(ais(0.0, 1, 200.0, 0.0, sog=2.5, cog=math.pi))
    assert d.active and h.encounters[1].encounter.name == "HEAD_ON"
    assert -math.radians(90) <= d.heading <= -math.radians(25)   # starboard = clockwise = negative yaw


def test_helm_passes_astern_of_a_crossing_give_way_vessel():
    # Crossing from starboard, heading north, would pass 0 m at CPA.
    h, d = helm_for(ais(0.0, 1, 150.0, -150.0, sog=1.5, cog=math.pi / 2))
    assert h.encounters[1].encounter.name == "GIVE_WAY" and d.heading < -math.radians(25)


def test_stand_on_vessel_holds_until_the_other_clearly_fails_to_act():
    # From port, crossing to the south, CPA near zero, far away: hold.
    h, d = helm_for(ais(0.0, 1, 150.0, 150.0, sog=1.5, cog=-math.pi / 2))
    assert h.encounters[1].encounter.name == "STAND_ON" and not d.active and d.heading == 0.0
    # Close and still not giving way (CPA 20 s away): act, and not to port.
    h, d = helm_for(ais(0.0, 1, 30.0, 30.0, sog=1.5, cog=-math.pi / 2))
    e = h.encounters[1]
    assert e.encounter.name == "STAND_ON" and e.stand_on_acting and d.active
    assert d.heading <= 0.05 or d.speed < 1.5   # Rule 17(c): no turn to port for a vessel to port


def test_perception_tracks_in_the_map_frame_fuse_with_ais():
    from edgepilot.vehicle.perception.tracking import Track

    cov = np.diag([1.0, 1.0, 0.04, 0.04])          # settled: speed std 0.2 m/s

    def tr(tid, x, y, vx, vy, radius, confirmed):
        return Track(tid, 0.5, x, y, vx, vy, cov, radius, confirmed, 5, 0)

    tab = ContactTable(F, stale_after_s=10.0)
    tab.ingest([ais(0.0, 9, 50.0, 50.0, sog=1.0, cog=0.0)], 0.0)
    tab.ingest_tracks([tr(3, 52.0, 49.0, 1.0, 0.0, 4.0, True),
                       tr(4, -80.0, 10.0, 0.0, 0.0, 1.5, True),
                       tr(5, 0.0, -90.0, 0.0, 0.0, 1.0, False)], 0.5)
    assert tab.get(9).track_id == 3 and tab.get(9).x == 52.0
    lone = tab.get(-5)
    assert lone is not None and lone.radius(3.0) == 1.5 and lone.mmsi is None
    assert -6 not in tab          # tentative tracks are not contacts
