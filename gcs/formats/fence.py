"""Geofence files: the ``geoFence`` section of a QGroundControl ``.plan`` and
a plain text format, both read into a :class:`Fence` of zones that maps
one to one onto MAVLink fence items (MAV_MISSION_TYPE_FENCE).

QGroundControl ``.plan`` (``"fileType": "Plan"``)::

    "geoFence": {
        "version": 2,
        "polygons": [{"version": 1, "inclusion": true,
                      "polygon": [[LAT, LON], [LAT, LON], [LAT, LON], ...]}],
        "circles":  [{"version": 1, "inclusion": false,
                      "circle": {"center": [LAT, LON], "radius": METRES}}],
        "breachReturn": [LAT, LON, ALT]            (optional)
    }

Text (``.fence`` / ``.txt``; ``#`` starts a comment)::

    polygon inclusion          # vertices follow, one "LAT LON" per line
    47.3977 8.5455
    47.3981 8.5455
    47.3981 8.5461
    circle exclusion 47.3979 8.5458 2.5      # LAT LON RADIUS_M
    return 47.3977 8.5456                    # breach return point (optional)

Coordinates are WGS84 degrees, radii metres.  Everything is validated
before anything is sent; errors name the line (text) or the JSON path and
line (``.plan``) and what is wrong.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edgepilot.gcs.errors import FileFormatError, read_text_file
from edgepilot.gcs.formats.jsonscan import array_item_lines
from edgepilot.gcs.formats.mission import MissionItem, load_plan_json

M = mavlink
RETURN_POINT = M.MAV_CMD_NAV_FENCE_RETURN_POINT                    # 5000
POLY_INCLUSION = M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION      # 5001, param1 = vertex count
POLY_EXCLUSION = M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION      # 5002
CIRCLE_INCLUSION = M.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION            # 5003, param1 = radius [m]
CIRCLE_EXCLUSION = M.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION            # 5004
MAX_VERTICES = 100
EARTH_RADIUS_M = 6371008.8
#: Largest fence file read (checked before reading); as large as a mission
#: file, because a fence is often uploaded from a .plan that holds both.
MAX_FILE_BYTES = 64 * 2**20


@dataclass(frozen=True)
class Zone:
    """One fence zone: a polygon (``points`` [(lat, lon), ...]) or a circle
    (``points`` [(lat, lon)] = centre, ``radius`` [m])."""

    kind: str                 # "polygon" | "circle"
    inclusion: bool
    points: tuple[tuple[float, float], ...]
    radius: float = 0.0

    @property
    def label(self) -> str:
        return f"{'inclusion' if self.inclusion else 'exclusion'} {self.kind}"


@dataclass(frozen=True)
class Fence:
    zones: tuple[Zone, ...]
    return_point: tuple[float, float] | None = None

    def to_items(self) -> list[MissionItem]:
        """MAVLink fence items in upload order (frame MAV_FRAME_GLOBAL)."""
        out: list[MissionItem] = []
        g = M.MAV_FRAME_GLOBAL
        for z in self.zones:
            if z.kind == "circle":
                cmd = CIRCLE_INCLUSION if z.inclusion else CIRCLE_EXCLUSION
                out.append(MissionItem(command=cmd, frame=g, param1=float(z.radius), x=z.points[0][0],
                                       y=z.points[0][1]))
            else:
                cmd = POLY_INCLUSION if z.inclusion else POLY_EXCLUSION
                out += [MissionItem(command=cmd, frame=g, param1=float(len(z.points)), x=lat, y=lon)
                        for lat, lon in z.points]
        if self.return_point is not None:
            out.append(MissionItem(command=RETURN_POINT, frame=g, x=self.return_point[0], y=self.return_point[1]))
        return out

    def same_as(self, other: "Fence", deg_tol: float = 1.5e-7, tol: float = 1e-4) -> bool:
        """Equal within what a MAVLink round trip keeps (degE7, float32)."""
        if len(self.zones) != len(other.zones) or (self.return_point is None) != (other.return_point is None):
            return False

        def close(a, b):
            return all(abs(p - q) <= deg_tol for p, q in zip(a, b))

        for a, b in zip(self.zones, other.zones):
            if (a.kind, a.inclusion, len(a.points)) != (b.kind, b.inclusion, len(b.points)):
                return False
            if abs(a.radius - b.radius) > tol * max(1.0, a.radius) or not all(map(close, a.points, b.points)):
                return False
        return self.return_point is None or close(self.return_point, other.return_point)


def from_items(items: list[MissionItem]) -> Fence:
    """Zones from downloaded fence items (the vehicle validated them; this
    only groups polygon vertices).  Raises ValueError for an item list
    that is not a fence."""
    zones: list[Zone] = []
    ret = None
    i = 0
    while i < len(items):
        it = items[i]
        if it.command == RETURN_POINT:
            ret = (it.x, it.y)
            i += 1
        elif it.command in (CIRCLE_INCLUSION, CIRCLE_EXCLUSION):
            zones.append(Zone("circle", it.command == CIRCLE_INCLUSION, ((it.x, it.y),), float(it.param1)))
            i += 1
        elif it.command in (POLY_INCLUSION, POLY_EXCLUSION):
            n = int(it.param1)
            verts = items[i:i + n]
            if n < 3 or len(verts) < n or any(v.command != it.command for v in verts):
                raise ValueError(f"fence item {i}: polygon of {it.param1:g} vertices is incomplete")
            zones.append(Zone("polygon", it.command == POLY_INCLUSION, tuple((v.x, v.y) for v in verts)))
            i += n
        else:
            raise ValueError(f"fence item {i}: command {it.command} is not a fence command")
    return Fence(tuple(zones), ret)


# --------------------------------------------------------------------------- validation
def _check_point(p, path, where, what: str) -> tuple[float, float]:
    lat, lon = p
    if not (math.isfinite(lat) and -90.0 <= lat <= 90.0):
        raise FileFormatError(path, where, f"{what}: latitude {lat} out of range (expected -90..90 degrees)")
    if not (math.isfinite(lon) and -180.0 <= lon <= 180.0):
        raise FileFormatError(path, where, f"{what}: longitude {lon} out of range (expected -180..180 degrees)")
    return float(lat), float(lon)


def _local(points):
    """Equirectangular metres around the first point (fine at fence scale)."""
    lat0 = points[0][0]
    k = math.pi / 180 * EARTH_RADIUS_M
    c = math.cos(math.radians(lat0))
    return [((lon - points[0][1]) * k * c, (lat - lat0) * k) for lat, lon in points]


def _segments_cross(a, b, c, d) -> bool:
    def orient(p, q, r):
        v = (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])
        return 0 if abs(v) < 1e-12 else (1 if v > 0 else -1)

    return orient(a, b, c) * orient(a, b, d) < 0 and orient(c, d, a) * orient(c, d, b) < 0


def _check_polygon(points, path, where, what: str) -> None:
    if not 3 <= len(points) <= MAX_VERTICES:
        raise FileFormatError(path, where, f"{what}: a polygon needs 3..{MAX_VERTICES} vertices, got {len(points)}")
    xy = _local(points)
    n = len(xy)
    for i in range(n):
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue    # neighbours through the closing edge
            if _segments_cross(xy[i], xy[(i + 1) % n], xy[j], xy[(j + 1) % n]):
                raise FileFormatError(path, where, f"{what}: polygon edges {i + 1} and {j + 1} cross "
                                                   "(a fence polygon must not intersect itself)")
    area = 0.5 * sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(xy, xy[1:] + xy[:1]))
    if abs(area) < 1e-2:
        raise FileFormatError(path, where, f"{what}: polygon has (almost) zero area ({abs(area):.3g} m^2)")


def _check_radius(r, path, where, what: str) -> float:
    if isinstance(r, bool) or not isinstance(r, (int, float)) or not math.isfinite(r) or r <= 0:
        raise FileFormatError(path, where, f"{what}: radius must be a number > 0 m, got {r!r}")
    return float(r)


def _check_count(zones, path) -> None:
    if not zones:
        raise FileFormatError(path, None, "no fence zones (use `fence clear` to remove the vehicle's fence)")


# --------------------------------------------------------------------------- text
def parse_text(text: str, path: str | Path = "<fence>") -> Fence:
    zones: list[Zone] = []
    ret = None
    poly: list | None = None            # [inclusion, start_line, points]

    def close_polygon():
        nonlocal poly
        if poly is not None:
            incl, line, pts = poly
            what = f"{'inclusion' if incl else 'exclusion'} polygon started here"
            _check_polygon(pts, path, line, what)
            zones.append(Zone("polygon", incl, tuple(pts)))
            poly = None

    def side(tok: str, lineno: int) -> bool:
        if tok not in ("inclusion", "exclusion"):
            raise FileFormatError(path, lineno, f"expected 'inclusion' or 'exclusion', got {tok!r}")
        return tok == "inclusion"

    def numbers(toks, names, lineno) -> list[float]:
        if len(toks) != len(names):
            raise FileFormatError(path, lineno, f"expected {' '.join(names)}, got {len(toks)} value(s)")
        out = []
        for name, t in zip(names, toks):
            try:
                out.append(float(t))
            except ValueError:
                raise FileFormatError(path, lineno, f"{name} is {t!r}; expected a number") from None
        return out

    for lineno, raw in enumerate(text.splitlines(), 1):
        toks = raw.split("#", 1)[0].split()
        if not toks:
            continue
        key = toks[0].lower()
        if key == "polygon":
            close_polygon()
            if len(toks) != 2:
                raise FileFormatError(path, lineno, "expected 'polygon inclusion' or 'polygon exclusion'")
            poly = [side(toks[1].lower(), lineno), lineno, []]
        elif key == "circle":
            close_polygon()
            if len(toks) < 2:
                raise FileFormatError(path, lineno, "expected 'circle inclusion|exclusion LAT LON RADIUS_M'")
            incl = side(toks[1].lower(), lineno)
            lat, lon, r = numbers(toks[2:], ("LAT", "LON", "RADIUS_M"), lineno)
            c = _check_point((lat, lon), path, lineno, "circle centre")
            zones.append(Zone("circle", incl, (c,), _check_radius(r, path, lineno, "circle")))
        elif key == "return":
            close_polygon()
            ret = _check_point(tuple(numbers(toks[1:], ("LAT", "LON"), lineno)), path, lineno, "return point")
        else:
            if poly is None:
                raise FileFormatError(path, lineno, f"unexpected {toks[0]!r}: expected 'polygon', 'circle' or "
                                                    "'return' (vertices go after a 'polygon' line)")
            lat, lon = numbers(toks, ("LAT", "LON"), lineno)
            poly[2].append(_check_point((lat, lon), path, lineno, "vertex"))
    close_polygon()
    _check_count(zones, path)
    return Fence(tuple(zones), ret)


def format_text(f: Fence) -> str:
    out = ["# edgepilot fence: WGS84 degrees, radii in metres"]
    for z in f.zones:
        side = "inclusion" if z.inclusion else "exclusion"
        if z.kind == "circle":
            out.append(f"circle {side} {z.points[0][0]:.7f} {z.points[0][1]:.7f} {z.radius:g}")
        else:
            out.append(f"polygon {side}")
            out += [f"{lat:.7f} {lon:.7f}" for lat, lon in z.points]
    if f.return_point is not None:
        out.append(f"return {f.return_point[0]:.7f} {f.return_point[1]:.7f}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- .plan
def _latlon(v, path, where, what) -> tuple[float, float]:
    if (not isinstance(v, list) or len(v) not in (2, 3)
            or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in v)):
        raise FileFormatError(path, where, f"{what}: expected [latitude, longitude], got {v!r}")
    return _check_point((float(v[0]), float(v[1])), path, where, what)


def parse_plan(text: str, path: str | Path = "<fence>") -> Fence:
    doc = load_plan_json(text, path)
    gf = doc.get("geoFence")
    if not isinstance(gf, dict):
        raise FileFormatError(path, "geoFence", 'missing the "geoFence" object (the plan has no fence)')
    zones: list[Zone] = []
    for key, kind in (("polygons", "polygon"), ("circles", "circle")):
        lst = gf.get(key, [])
        if not isinstance(lst, list):
            raise FileFormatError(path, f"geoFence.{key}", f'expected "{key}" to be a list')
        lines = array_item_lines(text, ("geoFence", key))
        for i, obj in enumerate(lst):
            where = f"geoFence.{key}[{i}]" + (f", line {lines[i]}" if i < len(lines) else "")
            if not isinstance(obj, dict):
                raise FileFormatError(path, where, "expected an object")
            incl = obj.get("inclusion")
            if not isinstance(incl, bool):
                raise FileFormatError(path, where, f'"inclusion" must be true or false, got {incl!r}')
            what = f"{'inclusion' if incl else 'exclusion'} {kind}"
            if kind == "polygon":
                pts = obj.get("polygon")
                if not isinstance(pts, list):
                    raise FileFormatError(path, where, f'{what}: expected "polygon": [[lat, lon], ...]')
                pts = [_latlon(p, path, where, f"{what} vertex {j + 1}") for j, p in enumerate(pts)]
                _check_polygon(pts, path, where, what)
                zones.append(Zone("polygon", incl, tuple(pts)))
            else:
                c = obj.get("circle")
                if not isinstance(c, dict) or "center" not in c or "radius" not in c:
                    raise FileFormatError(path, where, f'{what}: expected "circle": {{"center": [lat, lon], '
                                                       '"radius": metres}')
                centre = _latlon(c["center"], path, where, f"{what} center")
                zones.append(Zone("circle", incl, (centre,), _check_radius(c["radius"], path, where, what)))
    ret = None
    br = gf.get("breachReturn")
    if br is not None:
        ret = _latlon(br, path, "geoFence.breachReturn", "breach return point")
        if ret == (0.0, 0.0):
            ret = None          # QGroundControl writes a zero point when none is set
    _check_count(zones, path)
    return Fence(tuple(zones), ret)


def format_plan(f: Fence) -> str:
    """A QGroundControl ``.plan`` holding this fence (and an empty mission)."""
    polys = [{"inclusion": z.inclusion, "polygon": [[lat, lon] for lat, lon in z.points], "version": 1}
             for z in f.zones if z.kind == "polygon"]
    circles = [{"circle": {"center": [z.points[0][0], z.points[0][1]], "radius": z.radius},
                "inclusion": z.inclusion, "version": 1} for z in f.zones if z.kind == "circle"]
    gf = {"circles": circles, "polygons": polys, "version": 2}
    if f.return_point is not None:
        gf["breachReturn"] = [f.return_point[0], f.return_point[1], 0]
    doc = {"fileType": "Plan", "groundStation": "edgepilot", "version": 1, "geoFence": gf,
           "rallyPoints": {"points": [], "version": 2},
           "mission": {"version": 2, "firmwareType": M.MAV_AUTOPILOT_ARDUPILOTMEGA,
                       "vehicleType": M.MAV_TYPE_GROUND_ROVER, "cruiseSpeed": 1, "hoverSpeed": 1,
                       "plannedHomePosition": [0, 0, 0], "items": []}}
    return json.dumps(doc, indent=4) + "\n"


# --------------------------------------------------------------------------- by file
def load_fence(path: str | Path) -> Fence:
    """Read a fence file: ``.plan`` (or JSON content) as QGroundControl's
    geoFence, anything else as the text format."""
    p, text = read_text_file(path, MAX_FILE_BYTES, "fence file")
    if p.suffix.lower() == ".plan" or text.lstrip().startswith("{"):
        return parse_plan(text, p)
    return parse_text(text, p)


__all__ = ["Fence", "Zone", "from_items", "load_fence", "parse_plan", "parse_text", "format_plan", "format_text"]
