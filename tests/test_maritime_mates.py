"""Fleet-mates at sea (vehicle/maritime/mates.py): a fleet-mate turning at
the end of her lane is predicted along the route she shared, not along
the velocity that points across at us; every way the route can fail
falls back to ordinary COLREGs."""
from __future__ import annotations

import math

import numpy as np
import pytest

from edgepilot import configs_dir
from edgepilot.vehicle.config import load_vehicle_config
from edgepilot.vehicle.control.path import PolylinePath
from edgepilot.vehicle.geo import LocalFrame
from edgepilot.vehicle.maritime.autonomy import MaritimeAutonomy
from edgepilot.vehicle.maritime.mates import FleetMates, SharedRoute, along
from edgepilot.vehicle.types import ContactReport, VehicleState

MATE = 993000012
NOW = 100.0
FRAME = LocalFrame(52.0, 4.0)
# We run north up our lane at x = 0; she has just reached the end of hers,
# 16 m east, and is turning west (her velocity points across our lane:
# straight lines put her 4 m from us in 9 s) onto her next lane at x = 12.
HER_TURN = [(16.0, 10.0), (13.0, 11.0), (12.0, 14.0), (12.0, 60.0)]


def _boat() -> MaritimeAutonomy:
    cfg = load_vehicle_config(configs_dir() / "vehicles" / "usv_fleet.toml")
    m = MaritimeAutonomy(cfg, FRAME)
    lat, lon = FRAME.to_geo(16.0, 10.0)
    m.ingest(NOW, [ContactReport(NOW, "ais", MATE, lat, lon, sog=1.5, cog=math.pi, heading=math.pi)])
    return m


def _steer(m: MaritimeAutonomy, routes=True):
    st = VehicleState(NOW, 0.0, 0.0, math.pi / 2, 0.0, 1.5, 0.0, 52.0, 4.0, 0.5, True)
    path = PolylinePath(np.array([[0.0, 0.0], [0.0, 80.0]]))
    mine = (lambda: (np.array([[0.0, 0.0], [0.0, 80.0]]), 1.5)) if routes else (lambda: None)
    return m.steer(NOW, st, math.pi / 2, 1.5, path, 0.0, own_route=mine)


def _encounters(d) -> list[str]:
    return [data["encounter"] for _, data in d.events if "encounter" in data]


def test_straight_lines_make_a_turning_mate_a_give_way_encounter():
    d = _steer(_boat())
    assert d.active and _encounters(d) == ["GIVE_WAY"]


def test_her_shared_route_clears_the_false_alarm():
    m = _boat()
    m.mates.update(SharedRoute(MATE, NOW - 0.5, np.array(HER_TURN), 1.5))
    d = _steer(m)
    assert not d.active and _encounters(d) == [] and not m.helm.encounters
    assert (d.heading, d.speed) == (math.pi / 2, 1.5)          # the mission's, unchanged


def test_a_route_that_does_cross_ours_is_still_a_colregs_encounter():
    m = _boat()
    m.mates.update(SharedRoute(MATE, NOW, np.array([(16.0, 10.0), (-20.0, 16.0)]), 1.5))
    d = _steer(m)
    assert d.active and _encounters(d) == ["GIVE_WAY"]
    text = [t for t, data in d.events if data.get("encounter") == "GIVE_WAY"][0]
    assert "along the shared routes" in text


@pytest.mark.parametrize("why", ["stale", "not_following", "disagrees_with_what_we_see", "we_follow_none"])
def test_every_failed_route_falls_back_to_ordinary_colregs(why):
    m = _boat()
    pts = np.array(HER_TURN)
    t = NOW - 0.5
    if why == "stale":
        # sent 4 s ago (the link went silent): 6 m back along the same route
        pts, t = np.vstack(([22.0, 10.0], pts)), NOW - 4.0
    elif why == "not_following":
        pts = pts[:1]                               # she holds or manoeuvres: no route
    elif why == "disagrees_with_what_we_see":
        pts = pts + [25.0, 0.0]                     # her route is not where AIS puts her
    m.mates.update(SharedRoute(MATE, t, pts, 1.5))
    d = _steer(m, routes=why != "we_follow_none")
    assert d.active and _encounters(d) == ["GIVE_WAY"]
    if why == "stale":                              # only its age made the difference
        m2 = _boat()
        m2.mates = FleetMates(fresh_s=5.0)
        m2.mates.update(SharedRoute(MATE, t, pts, 1.5))
        assert not _steer(m2).active


def test_a_stranger_is_never_predicted_along_a_route_shared_under_another_mmsi():
    m = _boat()
    m.mates.update(SharedRoute(MATE + 1, NOW, np.array(HER_TURN), 1.5))
    assert _steer(m).active


def test_along_interpolates_and_holds_at_the_end():
    pts = np.array([[0.0, 0.0], [3.0, 4.0], [3.0, 10.0]])
    got = along(pts, np.array([-1.0, 0.0, 2.5, 5.0, 8.0, 30.0]))
    assert np.allclose(got, [[0, 0], [0, 0], [1.5, 2.0], [3, 4], [3, 7], [3, 10]])


def test_bad_route_is_refused_naming_the_mmsi():
    with pytest.raises(ValueError, match="993000012"):
        FleetMates().update(SharedRoute(MATE, NOW, np.array([[0.0, math.nan]]), 1.5))


def test_route_ahead_travels_as_mavlink_and_lands_in_the_map_frame():
    """EDGEPILOT_ROUTE_AHEAD packed, parsed by a second MAVLink object and
    read back: the points come back within the wire's 1e-7 deg (about 1 cm)."""
    from edgepilot.firmware_bridge.fleet_link import read_route_ahead, route_ahead_message
    from edgepilot.firmware_bridge.mavlink import dialects

    mod = dialects.load()
    xy = np.array(HER_TURN)
    lat, lon = FRAME.to_geo(xy[:, 0], xy[:, 1])
    b = route_ahead_message(MATE, NOW, lat, lon, 1.5).pack(mod.MAVLink(None, srcSystem=12, srcComponent=1))
    msg = mod.MAVLink(None).parse_buffer(b)[0]
    mmsi, t, la, lo, speed = read_route_ahead(msg)
    x, y = FRAME.to_local(la, lo)
    assert (mmsi, t, speed) == (MATE, NOW, 1.5)
    assert np.abs(np.column_stack((x, y)) - xy).max() < 0.02
    with pytest.raises(ValueError, match="at most 12"):
        route_ahead_message(MATE, NOW, [52.0] * 13, [4.0] * 13, 1.5)
