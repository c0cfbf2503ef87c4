"""vehicle/fleet/picture.py: one vehicle's share of the fleet's contact
picture: camera detections placed by bearing and range, fused with lidar /
AIS sightings where they agree; the contact table's sensor-held contacts;
settled lidar tracks."""
import math

import numpy as np

from edgepilot.vehicle.fleet.picture import (Sighting, camera_sightings, fuse_camera, table_sightings,
                                             track_sightings, without_members)
from edgepilot.vehicle.geo import LocalFrame
from edgepilot.vehicle.maritime.contacts import ContactTable
from edgepilot.vehicle.perception.detection import CameraDetection
from edgepilot.vehicle.perception.tracking import Track
from edgepilot.vehicle.types import VehicleState


def det(label, bearing, rng):
    return CameraDetection("buoy", label, bearing, rng, rng * math.cos(bearing), rng * math.sin(bearing),
                           0.0, 0.0, (0, 0, 1, 1), 1.0)


def state(x, y, yaw, valid=True):
    return VehicleState(t=0.0, x=x, y=y, yaw=yaw, vx=0.0, vy=0.0, yaw_rate=0.0, lat=0.0, lon=0.0, pos_std=0.1,
                        valid=valid)


def test_camera_detection_is_placed_by_bearing_and_range_from_the_pose():
    st = state(10.0, 5.0, math.pi / 2)                       # facing north
    cams = camera_sightings(st, [det("orange", math.radians(-30), 8.0), det("red", 0.0, 5.0),
                                 det("orange", 0.0, 30.0)], {"orange": "person"}, 16.0)
    assert len(cams) == 1                                    # red names no kind, 30 m is beyond reach
    c = cams[0]
    assert c.kind == "person" and c.label == "orange"
    assert math.isclose(c.x, 10.0 + 8.0 * math.cos(math.radians(60)), abs_tol=1e-9)
    assert math.isclose(c.y, 5.0 + 8.0 * math.sin(math.radians(60)), abs_tol=1e-9)
    assert camera_sightings(state(0, 0, 0, valid=False), [det("orange", 0.0, 5.0)], {"orange": "person"}, 16) == []


def test_camera_names_the_lidar_track_it_agrees_with_and_stands_alone_otherwise():
    lidar = [Sighting(4, 20.0, 10.0, 0.8, 0.0, "unknown", ("lidar",))]
    st = state(10.0, 10.0, 0.0)
    cams = camera_sightings(st, [det("orange", 0.0, 11.5), det("orange", math.pi / 2, 6.0),
                                 det("orange", math.pi / 2 - 0.02, 6.1)], {"orange": "person"}, 16.0)
    out = fuse_camera(lidar, cams, gate_m=6.0)
    assert len(out) == 2                                     # the two looks at the same upright count once
    fused, alone = out
    assert fused.key == 4 and fused.kind == "person" and fused.sources == ("lidar", "camera")
    assert (fused.x, fused.y, fused.vx) == (20.0, 10.0, 0.8)   # the lidar keeps the position and the motion
    assert alone.key is None and alone.sources == ("camera",) and not alone.has_velocity
    assert math.isclose(alone.y, 16.0, abs_tol=1e-6)


def test_contact_table_sightings_are_sensor_held_contacts_not_ais_alone():
    tab = ContactTable(LocalFrame(53.54, 9.97))

    class Tr:
        def __init__(self, i, t, x, y):
            self.id, self.t, self.x, self.y, self.vx, self.vy = i, t, x, y, 1.0, 0.0
            self.confirmed, self.radius = True, 2.0
            self.cov = np.diag([1.0, 1.0, 0.01, 0.01])

    from edgepilot.vehicle.types import ContactReport
    lat, lon = tab.frame.to_geo(300.0, 0.0)
    tab.update(ContactReport(t=1.0, source="ais", id=244000001, lat=lat, lon=lon, sog=1.0, cog=0.0))
    own_lat, own_lon = tab.frame.to_geo(-200.0, 0.0)
    tab.update(ContactReport(t=1.0, source="ais", id=993000011, lat=own_lat, lon=own_lon, sog=0.0, cog=0.0))
    tab.ingest_tracks([Tr(1, 1.0, 50.0, 0.0), Tr(2, 1.0, 301.0, 0.0), Tr(3, 1.0, -199.0, 0.0)], 1.0)
    got = {s.key: s for s in table_sightings(2.0, tab.contacts.values(), exclude_mmsi={993000011})}
    # the dark track on its own, the AIS vessel the lidar also sees with its MMSI; our own boat left out
    assert set(got) == {-2, 244000001}
    assert got[-2].mmsi is None and got[-2].sources == ("lidar",) and math.isclose(got[-2].x, 51.0)
    assert got[244000001].mmsi == 244000001 and got[244000001].sources == ("lidar", "ais")
    # unrefreshed by any sensor for longer than fresh_s: AIS alone is not a sighting
    assert table_sightings(10.0, tab.contacts.values(), exclude_mmsi={993000011}) == []


def test_lidar_tracks_count_once_confirmed_and_settled():
    def tr(i, confirmed, var):
        return Track(id=i, t=1.0, x=1.0, y=2.0, vx=0.5, vy=0.0, cov=np.diag([0.1, 0.1, var, var]), radius=0.3,
                     confirmed=confirmed, hits=5, misses=0)
    out = track_sightings(1.5, [tr(1, True, 0.01), tr(2, False, 0.01), tr(3, True, 2.0)])
    assert [s.key for s in out] == [1] and math.isclose(out[0].x, 1.25) and out[0].kind == "unknown"
    assert without_members(out, [(1.0, 2.0)]) == [] and without_members(out, [(20.0, 2.0)]) == out


def test_camera_on_an_ais_contact_keeps_its_identity():
    """A boat's camera sees a vessel its lidar and AIS already hold: one
    contact, the MMSI and the table key kept, 'camera' among its sources."""
    held = [Sighting(244000001, 100.0, 0.0, 2.0, 0.0, "vessel", ("lidar", "ais"), 244000001)]
    cams = camera_sightings(state(90.0, 0.0, 0.0), [det("yellow", 0.0, 12.0)], {"yellow": "vessel"}, 20.0)
    [s] = fuse_camera(held, cams)
    assert (s.key, s.mmsi, s.kind, s.sources) == (244000001, 244000001, "vessel", ("lidar", "ais", "camera"))
    assert (s.x, s.vx) == (100.0, 2.0)
