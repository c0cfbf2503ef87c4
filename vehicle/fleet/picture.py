"""One vehicle's share of the fleet's contact picture: what its own sensors
see of other vessels and people, in the map frame, for the threat watch
(``vehicle.fleet.threats``).

Three sources, fused where they agree:

- the **contact table** of a boat (``vehicle.maritime.contacts``): lidar
  tracks fused with AIS where they agree and split from it when they part;
  a contact counts as seen while a sensor (lidar, camera, radar) has
  refreshed it within ``fresh_s`` (a contact only AIS holds is AIS, not a
  sighting);
- **lidar tracks** of a vehicle without a contact table (a UGV's
  ``VehicleCore.tracks``): confirmed tracks whose velocity has settled;
- **camera detections** (``vehicle.perception.detection.CameraDetection``):
  a detection whose label names a kind (``labels``: colour -> "person" or
  "vessel") is placed at its bearing and range from the vehicle's pose.  A
  camera sighting within ``camera_gate_m`` of a lidar/AIS one is that
  contact: it gives it its kind and adds "camera" to its sources (the lidar
  gives the motion, the camera says what it is); a camera sighting alone is
  a contact of its own, with no velocity (one frame gives none).

Pure: state and detections in, sightings out.  Map-frame ENU metres, m/s,
seconds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

SENSOR_SOURCES = ("lidar", "camera", "radar")
FRESH_S = 2.0                   # a sensor refresh older than this is not a sighting now
MAX_SPEED_VAR = 0.25            # [m^2/s^2] a lidar track's velocity is used below this variance
CAMERA_GATE_M = 6.0             # a camera sighting this near a lidar/AIS sighting is that contact
OWN_VEHICLE_M = 6.0             # a sighting this near a fleet member's reported position is that member
KINDS = ("vessel", "person", "unknown")


@dataclass(frozen=True)
class Sighting:
    """One contact as one vehicle sees it now.  ``key`` is stable while the
    source keeps the contact (the contact-table key or the lidar track id;
    None for a camera-only sighting); ``has_velocity`` False: vx, vy are 0
    because the source gives none."""

    key: int | None
    x: float
    y: float
    vx: float
    vy: float
    kind: str
    sources: tuple[str, ...]
    mmsi: int | None = None
    has_velocity: bool = True
    label: str | None = None


@dataclass(frozen=True)
class CameraSighting:
    """A camera detection placed in the map frame: (x, y) [m] from the
    vehicle's pose and the detection's bearing [rad, + left] and range [m]."""

    x: float
    y: float
    kind: str
    label: str
    bearing: float
    range: float


def camera_sightings(state, detections, labels: dict, max_range_m: float) -> list[CameraSighting]:
    """The detections whose label ``labels`` maps to a kind, nearer than
    ``max_range_m`` (the range from a blob's size grows uncertain far off),
    at x = x0 + range cos(yaw + bearing), y = y0 + range sin(yaw + bearing).
    Nothing while the pose is not valid."""
    if not getattr(state, "valid", True):
        return []
    out = []
    for d in detections:
        kind = labels.get(d.label)
        if kind is None or not (math.isfinite(d.range) and math.isfinite(d.bearing)) or d.range > max_range_m:
            continue
        a = state.yaw + d.bearing
        out.append(CameraSighting(state.x + d.range * math.cos(a), state.y + d.range * math.sin(a), kind,
                                  d.label, float(d.bearing), float(d.range)))
    return out


def table_sightings(now: float, contacts, exclude_mmsi=(), fresh_s: float = FRESH_S) -> list[Sighting]:
    """Sightings from a contact table's contacts (``Contact`` objects):
    those a sensor refreshed within ``fresh_s``, dead reckoned to ``now``;
    the fleet's own boats (``exclude_mmsi``) left out.  A contact fused
    with AIS carries its MMSI."""
    out = []
    for c in contacts:
        if c.mmsi is not None and c.mmsi in exclude_mmsi:
            continue
        seen = [s for s in SENSOR_SOURCES if now - c.last_seen.get(s, -math.inf) <= fresh_s]
        if not seen or not (math.isfinite(c.x) and math.isfinite(c.y)):
            continue
        dt = now - c.t
        src = tuple(seen) + (("ais",) if c.mmsi is not None and "ais" in c.sources else ())
        out.append(Sighting(c.key, c.x + c.vx * dt, c.y + c.vy * dt, c.vx, c.vy, "vessel", src, c.mmsi))
    return out


def track_sightings(now: float, tracks, kind: str = "unknown", fresh_s: float = FRESH_S,
                    max_speed_var: float = MAX_SPEED_VAR) -> list[Sighting]:
    """Sightings from lidar tracks (``vehicle.perception.tracking.Track``):
    confirmed, fresh, velocity settled; ``kind`` until a camera says more."""
    out = []
    for tr in tracks:
        if not tr.confirmed or now - tr.t > fresh_s:
            continue
        if max(float(tr.cov[2][2]), float(tr.cov[3][3])) > max_speed_var:
            continue
        dt = now - tr.t
        out.append(Sighting(int(tr.id), tr.x + tr.vx * dt, tr.y + tr.vy * dt, tr.vx, tr.vy, kind, ("lidar",)))
    return out


def fuse_camera(sightings, cams, gate_m: float = CAMERA_GATE_M) -> list[Sighting]:
    """Each camera sighting joins the nearest lidar/AIS sighting within
    ``gate_m`` (it takes the camera's kind and 'camera' joins its sources);
    the rest are camera-only sightings.  Two camera sightings of one kind
    within the gate of each other (one object seen twice) count once."""
    out = list(sightings)
    alone: list[CameraSighting] = []
    for c in cams:
        best, bd = None, gate_m
        for k, s in enumerate(out):
            d = math.hypot(s.x - c.x, s.y - c.y)
            if d < bd:
                best, bd = k, d
        if best is not None:
            s = out[best]
            src = s.sources if "camera" in s.sources else s.sources + ("camera",)
            out[best] = Sighting(s.key, s.x, s.y, s.vx, s.vy, c.kind, src, s.mmsi, s.has_velocity, c.label)
        elif not any(a.kind == c.kind and math.hypot(a.x - c.x, a.y - c.y) < gate_m for a in alone):
            alone.append(c)
    out.extend(Sighting(None, c.x, c.y, 0.0, 0.0, c.kind, ("camera",), None, False, c.label) for c in alone)
    return out


def without_members(sightings, members, radius_m: float = OWN_VEHICLE_M) -> list[Sighting]:
    """The sightings not on a fleet member's reported position (x, y)."""
    return [s for s in sightings if not any(math.hypot(s.x - mx, s.y - my) < radius_m for mx, my in members)]


__all__ = ["CameraSighting", "Sighting", "camera_sightings", "fuse_camera", "table_sightings", "track_sightings",
           "without_members"]
