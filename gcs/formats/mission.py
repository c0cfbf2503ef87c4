"""Mission files: QGC WPL 110 text and QGroundControl ``.plan`` JSON.

Both read into a :class:`Mission`: an optional home item and the mission
items after it, in MAVLink MISSION_ITEM terms (``x``/``y`` are latitude /
longitude in WGS84 degrees for commands with a location, else raw param5 /
param6; ``z`` is param7, altitude in metres in the item's frame).

Parsers validate everything before anything is sent and raise
:class:`gcs.errors.FileFormatError` naming the line (WPL) or the JSON path
and line (``.plan``) and what is wrong.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edgepilot.gcs.errors import FileFormatError, read_text_file
from edgepilot.gcs.fileio import atomic_write_text
from edgepilot.gcs.formats.jsonscan import array_item_lines, load_json

M = mavlink
WPL_HEADER = "QGC WPL 110"
#: Versions of the WPL header we accept on input (120 is the same layout).
WPL_VERSIONS = ("110", "120")
#: Global frames: x/y are latitude/longitude degrees.
GLOBAL_FRAMES = frozenset({M.MAV_FRAME_GLOBAL, M.MAV_FRAME_GLOBAL_RELATIVE_ALT, M.MAV_FRAME_GLOBAL_INT,
                           M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, M.MAV_FRAME_GLOBAL_TERRAIN_ALT,
                           M.MAV_FRAME_GLOBAL_TERRAIN_ALT_INT})
MAX_ITEMS = 65534
#: Largest mission file read (checked before reading): 65534 items of a
#: QGroundControl .plan are about 28 MB as QGroundControl indents them.
MAX_FILE_BYTES = 64 * 2**20


def command_name(cmd: int) -> str:
    e = M.enums["MAV_CMD"].get(int(cmd))
    return e.name.replace("MAV_CMD_", "") if e is not None else str(cmd)


def has_location(cmd: int) -> bool:
    """True when the command's param5/6 are a latitude/longitude."""
    e = M.enums["MAV_CMD"].get(int(cmd))
    return bool(e is not None and getattr(e, "has_location", int(cmd) < 100))


@dataclass(frozen=True)
class MissionItem:
    """One mission item (MAVLink MISSION_ITEM_INT semantics, float degrees)."""

    command: int
    frame: int = M.MAV_FRAME_GLOBAL_RELATIVE_ALT
    param1: float = 0.0
    param2: float = 0.0
    param3: float = 0.0
    param4: float = 0.0
    x: float = 0.0            # latitude [deg] for located commands, else param5
    y: float = 0.0            # longitude [deg] for located commands, else param6
    z: float = 0.0            # altitude [m] in ``frame`` (param7)
    autocontinue: bool = True

    @property
    def params(self) -> tuple[float, float, float, float]:
        return (self.param1, self.param2, self.param3, self.param4)

    def same_as(self, other: "MissionItem", deg_tol: float = 1.5e-7, tol: float = 1e-4) -> bool:
        """Equal within the precision a MAVLink round trip keeps (degE7
        positions, float32 params)."""
        if (self.command, self.frame, bool(self.autocontinue)) != (other.command, other.frame,
                                                                   bool(other.autocontinue)):
            return False

        def close(a, b, t):
            if math.isnan(a) or math.isnan(b):
                return math.isnan(a) and math.isnan(b)
            return abs(a - b) <= t * max(1.0, abs(a))

        pos_tol = deg_tol if self.frame in GLOBAL_FRAMES and has_location(self.command) else tol
        return (all(close(a, b, tol) for a, b in zip(self.params, other.params))
                and close(self.x, other.x, pos_tol) and close(self.y, other.y, pos_tol)
                and close(self.z, other.z, 1e-3))


@dataclass(frozen=True)
class Mission:
    """``home`` is item 0 in ArduPilot numbering (None when a file has none);
    ``items`` are items 1..N."""

    items: tuple[MissionItem, ...]
    home: MissionItem | None = None
    meta: dict = field(default_factory=dict, compare=False)

    def same_as(self, other: "Mission", compare_home: bool = True) -> bool:
        if len(self.items) != len(other.items):
            return False
        if compare_home and (self.home is None) != (other.home is None):
            return False
        if compare_home and self.home is not None and not self.home.same_as(other.home):
            return False
        return all(a.same_as(b) for a, b in zip(self.items, other.items))


# --------------------------------------------------------------------------- validation
def _check_item(it: MissionItem, path, where) -> None:
    if int(it.command) not in M.enums["MAV_CMD"]:
        raise FileFormatError(path, where, f"unknown MAV_CMD {it.command} (not in the MAVLink command list)")
    if int(it.frame) not in M.enums["MAV_FRAME"] or it.frame >= M.MAV_FRAME_ENUM_END:
        raise FileFormatError(path, where, f"unknown MAV_FRAME {it.frame}")
    if it.frame in GLOBAL_FRAMES and has_location(it.command):
        if not (math.isfinite(it.x) and -90.0 <= it.x <= 90.0):
            raise FileFormatError(path, where, f"latitude {it.x} out of range (expected -90..90 degrees)")
        if not (math.isfinite(it.y) and -180.0 <= it.y <= 180.0):
            raise FileFormatError(path, where, f"longitude {it.y} out of range (expected -180..180 degrees)")
    if math.isinf(it.z) or any(math.isinf(p) for p in it.params):
        raise FileFormatError(path, where, "infinite parameter value")


def _check_count(n: int, path, max_items: int | None = MAX_ITEMS) -> None:
    if n == 0:
        raise FileFormatError(path, None, "no mission items (an empty mission; use `mission clear` to erase)")
    if max_items is not None and n > max_items:
        raise FileFormatError(path, None, f"{n} mission items; MAVLink allows at most {max_items}")


# --------------------------------------------------------------------------- QGC WPL 110
def _int(tok: str) -> int:
    """An integer field; ``16`` and ``16.0`` are both accepted (writers differ)."""
    v = float(tok)
    if not v.is_integer():
        raise ValueError(tok)
    return int(v)


_WPL_FIELDS = ("INDEX", "CURRENT_WP", "COORD_FRAME", "COMMAND", "PARAM1", "PARAM2", "PARAM3", "PARAM4",
               "PARAM5/X/LATITUDE", "PARAM6/Y/LONGITUDE", "PARAM7/Z/ALTITUDE", "AUTOCONTINUE")


def parse_wpl(text: str, path: str | Path = "<mission>", max_items: int | None = MAX_ITEMS) -> Mission:
    """Parse QGC WPL 110 text: a header line, then one item per line with 12
    tab- (or space-) separated fields.  Line 0 after the header is home.
    Linear in the text; more than ``max_items`` items (None: no limit, for
    tools) is refused after the whole file was checked."""
    lines = text.splitlines()
    first = next((i for i, l in enumerate(lines) if l.strip()), None)
    if first is None:
        raise FileFormatError(path, 1, f"empty file; expected the header {WPL_HEADER!r}")
    head = lines[first].strip().split()
    if len(head) != 3 or head[:2] != ["QGC", "WPL"] or head[2] not in WPL_VERSIONS:
        raise FileFormatError(path, first + 1, f"expected the header {WPL_HEADER!r}, got {lines[first].strip()!r}")
    rows: list[tuple[int, MissionItem]] = []
    for lineno, raw in enumerate(lines[first + 1:], first + 2):
        s = raw.strip()
        if not s or s.startswith("#"):
            continue
        f = s.split()
        if len(f) != 12:
            raise FileFormatError(path, lineno, f"expected 12 fields (INDEX CURRENT_WP COORD_FRAME COMMAND "
                                                f"PARAM1..4 LAT LON ALT AUTOCONTINUE), got {len(f)}")
        vals = []
        for name, tok, kind in zip(_WPL_FIELDS, f, (int, int, int, int) + (float,) * 7 + (int,)):
            try:
                vals.append(_int(tok) if kind is int else float(tok))
            except ValueError:
                want = "an integer" if kind is int else "a number"
                raise FileFormatError(path, lineno, f"{name} is {tok!r}; expected {want}") from None
        idx, cur, frame, cmd = vals[0:4]
        if idx != len(rows):
            raise FileFormatError(path, lineno, f"INDEX is {idx}, expected {len(rows)} (items are numbered 0, 1, 2, ... in order)")
        if cur not in (0, 1):
            raise FileFormatError(path, lineno, f"CURRENT_WP is {cur}; expected 0 or 1")
        if vals[11] not in (0, 1):
            raise FileFormatError(path, lineno, f"AUTOCONTINUE is {vals[11]}; expected 0 or 1")
        it = MissionItem(command=cmd, frame=frame, param1=vals[4], param2=vals[5], param3=vals[6],
                         param4=vals[7], x=vals[8], y=vals[9], z=vals[10], autocontinue=bool(vals[11]))
        # Home (index 0) often carries a frame-0 placeholder; validate it too,
        # it is uploaded as item 0.
        _check_item(it, path, lineno)
        rows.append((lineno, it))
    if not rows:
        raise FileFormatError(path, None, "no mission items after the header")
    home, items = rows[0][1], tuple(it for _, it in rows[1:])
    _check_count(len(items), path, max_items)
    return Mission(items=items, home=home)


def _num(v: float) -> str:
    """Shortest text that reads back as the same float ('%.17g' would be exact but noisy)."""
    if math.isnan(v):
        return "nan"
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    r = repr(float(v))
    return r


def format_wpl(m: Mission) -> str:
    """QGC WPL 110 text (tab-separated, ``\\n`` line ends).  A mission without
    home gets a zero home line, as QGroundControl writes for PX4."""
    home = m.home or MissionItem(command=M.MAV_CMD_NAV_WAYPOINT, frame=M.MAV_FRAME_GLOBAL)
    out = [WPL_HEADER]
    for i, it in enumerate((home,) + tuple(m.items)):
        f = [str(i), "1" if i == 0 else "0", str(int(it.frame)), str(int(it.command)),
             *(_num(p) for p in it.params), _num(it.x), _num(it.y), _num(it.z), "1" if it.autocontinue else "0"]
        out.append("\t".join(f))
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- .plan JSON
def load_plan_json(text: str, path: str | Path) -> dict:
    """The top-level object of a QGroundControl ``.plan`` (fileType "Plan"),
    or FileFormatError naming the line of a JSON error (nesting is bounded,
    see :mod:`gcs.formats.jsonscan`)."""
    doc = load_json(text, path)
    if not isinstance(doc, dict) or doc.get("fileType") != "Plan":
        raise FileFormatError(path, "fileType", 'not a QGroundControl plan: expected "fileType": "Plan"')
    return doc


def _plan_item(obj, path, where) -> MissionItem:
    """One mission.items entry (a SimpleItem), checked."""
    if not isinstance(obj, dict):
        raise FileFormatError(path, where, "expected an object")
    typ = obj.get("type")
    if typ != "SimpleItem":
        kind = obj.get("complexItemType", typ)
        raise FileFormatError(path, where, f"item type {kind!r} is not supported (only SimpleItem; "
                                           "convert survey/corridor patterns to waypoints in QGroundControl)")
    for k in ("command", "frame", "params"):
        if k not in obj:
            raise FileFormatError(path, where, f'missing "{k}"')
    cmd, frame, params = obj["command"], obj["frame"], obj["params"]
    if not isinstance(cmd, int) or isinstance(cmd, bool):
        raise FileFormatError(path, where, f'"command" is {cmd!r}; expected an integer MAV_CMD')
    if not isinstance(frame, int) or isinstance(frame, bool):
        raise FileFormatError(path, where, f'"frame" is {frame!r}; expected an integer MAV_FRAME')
    if not isinstance(params, list) or len(params) != 7:
        raise FileFormatError(path, where, f'"params" must be a list of 7 numbers (null allowed), got {params!r}')
    ps = []
    for j, p in enumerate(params):
        if p is None:
            ps.append(math.nan)
        elif isinstance(p, (int, float)) and not isinstance(p, bool):
            ps.append(float(p))
        else:
            raise FileFormatError(path, where, f"params[{j}] is {p!r}; expected a number or null")
    ac = obj.get("autoContinue", True)
    if not isinstance(ac, bool):
        raise FileFormatError(path, where, f'"autoContinue" is {ac!r}; expected true or false')
    if has_location(cmd) and frame in GLOBAL_FRAMES and (math.isnan(ps[4]) or math.isnan(ps[5])):
        raise FileFormatError(path, where, f"{command_name(cmd)} needs a latitude and longitude (params[4], params[5])")
    it = MissionItem(command=cmd, frame=frame, param1=ps[0], param2=ps[1], param3=ps[2], param4=ps[3],
                     x=ps[4], y=ps[5], z=0.0 if math.isnan(ps[6]) else ps[6], autocontinue=ac)
    _check_item(it, path, where)
    return it


def parse_plan(text: str, path: str | Path = "<mission>", max_items: int | None = MAX_ITEMS) -> Mission:
    """Parse a QGroundControl ``.plan`` (fileType "Plan", mission.items of
    SimpleItem, mission.plannedHomePosition [lat, lon, alt]).  ``null``
    params are NaN, as QGroundControl means them.  Linear in the text, with
    the JSON nesting bounded (:mod:`gcs.formats.jsonscan`); ``max_items`` as
    for :func:`parse_wpl`."""
    doc = load_plan_json(text, path)
    mission = doc.get("mission")
    if not isinstance(mission, dict):
        raise FileFormatError(path, "mission", 'missing the "mission" object')
    items = mission.get("items")
    if not isinstance(items, list):
        raise FileFormatError(path, "mission.items", 'expected "items" to be a list')
    out: list[MissionItem] = []
    for i, obj in enumerate(items):
        try:
            out.append(_plan_item(obj, path, None))
        except FileFormatError as e:
            # Only now find the item's line: the happy path never re-scans the text.
            lines = array_item_lines(text, ("mission", "items"))
            where = f"mission.items[{i}], line {lines[i]}" if i < len(lines) else f"mission.items[{i}]"
            raise FileFormatError(path, where, e.problem) from None
    _check_count(len(out), path, max_items)
    home = None
    hp = mission.get("plannedHomePosition")
    if hp is not None:
        if (not isinstance(hp, list) or len(hp) != 3
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in hp)):
            raise FileFormatError(path, "mission.plannedHomePosition",
                                  f"expected [latitude, longitude, altitude], got {hp!r}")
        home = MissionItem(command=M.MAV_CMD_NAV_WAYPOINT, frame=M.MAV_FRAME_GLOBAL,
                           x=float(hp[0]), y=float(hp[1]), z=float(hp[2]))
        _check_item(home, path, "mission.plannedHomePosition")
    meta = {k: mission[k] for k in ("firmwareType", "vehicleType", "cruiseSpeed", "hoverSpeed") if k in mission}
    return Mission(items=tuple(out), home=home, meta=meta)


def format_plan(m: Mission, firmware_type: int = M.MAV_AUTOPILOT_ARDUPILOTMEGA,
                vehicle_type: int = M.MAV_TYPE_GROUND_ROVER) -> str:
    """QGroundControl ``.plan`` JSON (NaN params written as null)."""

    def num(v):
        return None if math.isnan(v) else (int(v) if float(v).is_integer() else v)

    items = []
    for i, it in enumerate(m.items, 1):
        items.append({
            "autoContinue": bool(it.autocontinue), "command": int(it.command), "doJumpId": i,
            "frame": int(it.frame), "params": [num(p) for p in (*it.params, it.x, it.y, it.z)],
            "type": "SimpleItem"})
    home = m.home
    doc = {
        "fileType": "Plan", "groundStation": "edgepilot", "version": 1,
        "geoFence": {"circles": [], "polygons": [], "version": 2},
        "rallyPoints": {"points": [], "version": 2},
        "mission": {
            "version": 2, "firmwareType": int(firmware_type), "vehicleType": int(vehicle_type),
            "cruiseSpeed": m.meta.get("cruiseSpeed", 1), "hoverSpeed": m.meta.get("hoverSpeed", 1),
            "plannedHomePosition": [num(home.x), num(home.y), num(home.z)] if home else [0, 0, 0],
            "items": items,
        },
    }
    return json.dumps(doc, indent=4) + "\n"


# --------------------------------------------------------------------------- by file name
def is_plan(path: str | Path, text: str | None = None) -> bool:
    p = str(path).lower()
    if p.endswith(".plan"):
        return True
    if text is not None and not p.endswith((".waypoints", ".txt", ".mission")):
        return text.lstrip().startswith("{")
    return False


def load_mission(path: str | Path) -> Mission:
    """Read a mission file; the format is chosen by content/extension
    (``.plan`` JSON, anything else QGC WPL)."""
    p, text = read_text_file(path, MAX_FILE_BYTES, "mission file")
    return parse_plan(text, p) if is_plan(p, text) else parse_wpl(text, p)


def save_mission(m: Mission, path: str | Path, firmware_type: int = M.MAV_AUTOPILOT_ARDUPILOTMEGA,
                 vehicle_type: int = M.MAV_TYPE_GROUND_ROVER) -> None:
    p = Path(path)
    text = format_plan(m, firmware_type, vehicle_type) if is_plan(p) else format_wpl(m)
    atomic_write_text(p, text)


__all__ = ["Mission", "MissionItem", "parse_wpl", "format_wpl", "parse_plan", "format_plan",
           "load_mission", "save_mission", "command_name", "has_location"]
