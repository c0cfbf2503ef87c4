"""The numeric rules every mission and fence item must meet, in one table.

A boundary (the MAVLink mission service, the state restore of a persisted
plan, the mission executor itself) checks an item against :data:`ITEM_RULES`
before the core acts on it.  A rule names the field, what the protocol means
by it (an integer or a real number), its range and whether NaN is allowed
("unset", as QGroundControl sends for a waypoint's yaw).  Fields of an item
we do not act on are not listed: they are stored and echoed back as sent.

A failed check is a :class:`Violation`: the field, the MAVLink parameter
number it travels in (1..7: param1..4, x, y, z; 0 for seq / command /
frame) and a reason in an operator's words.  The MAVLink side maps the
parameter number to MAV_MISSION_INVALID_PARAMn.

Pure: no I/O, no MAVLink imports (the numbers here are MAV_CMD values).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from edgepilot.vehicle.types import Cmd

#: Fence item commands (MAV_CMD_NAV_FENCE_*).
FENCE_RETURN_POINT = 5000
FENCE_POLYGON_INCLUSION = 5001
FENCE_POLYGON_EXCLUSION = 5002
FENCE_CIRCLE_INCLUSION = 5003
FENCE_CIRCLE_EXCLUSION = 5004
FENCE_COMMANDS = frozenset(range(5000, 5005))
#: Largest polygon a fence item may announce (vehicle.safety.geofence.MAX_VERTICES;
#: not imported: safety imports the mission package, which imports this).
MAX_FENCE_VERTICES = 100
#: Largest speed [m/s] an item may ask for; beyond it is a typo or garbage.
MAX_ITEM_SPEED = 100.0
#: Longest timed loiter [s] (one day).
MAX_LOITER_S = 86_400.0
#: Largest |altitude| [m] an item may carry (we drive on the surface; it is echoed).
MAX_ALT = 100_000.0
#: DO_JUMP repeat count: -1 repeats for ever (ArduPilot), else 0..this.
MAX_JUMP_REPEAT = 32_767
U16_MAX = 65_535

#: MAVLink parameter number of each item field (MAV_MISSION_INVALID_PARAMn).
PARAM_NUMBER = {"param1": 1, "param2": 2, "param3": 3, "param4": 4, "lat": 5, "lon": 6, "alt": 7,
                "seq": 0, "command": 0, "frame": 0, "autocontinue": 0}


@dataclass(frozen=True)
class Rule:
    """One numeric field: ``integer`` when the protocol means a whole number
    (carried in a float it must still be integral); ``lo``..``hi`` inclusive;
    ``nan_ok`` when NaN means "unset" and the consumer treats it so."""

    field: str
    what: str
    lo: float = -math.inf
    hi: float = math.inf
    integer: bool = False
    nan_ok: bool = False

    def check(self, value) -> str | None:
        """None when ``value`` passes, else why not (without the field name)."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"expected a number, got {type(value).__name__} {value!r}"
        v = float(value)
        if math.isnan(v):
            return None if self.nan_ok else "must be a number, got NaN"
        if not math.isfinite(v):
            return f"must be finite, got {v}"
        if self.integer and v != math.floor(v):
            return f"must be a whole number, got {v}"
        if not self.lo <= v <= self.hi:
            lo = int(self.lo) if self.integer else self.lo
            hi = int(self.hi) if self.integer else self.hi
            return f"must be in {lo}..{hi}, got {int(v) if self.integer else v}"
        return None


@dataclass(frozen=True)
class Violation:
    """An item field that failed its rule."""

    index: int        # the item's position in the plan
    field: str        # MissionItem field name
    param: int        # MAVLink parameter number 1..7, 0 for seq/command/frame
    reason: str

    def __str__(self) -> str:
        return f"item {self.index}: {self.reason}"


def _lat(what="latitude") -> Rule:
    return Rule("lat", what, -90.0, 90.0)


def _lon(what="longitude") -> Rule:
    return Rule("lon", what, -180.0, 180.0)


#: Fields every item carries and every consumer reads.
COMMON_RULES = (
    Rule("seq", "sequence number", 0, U16_MAX, integer=True),
    Rule("command", "command", 0, U16_MAX, integer=True),
    Rule("frame", "frame", 0, 255, integer=True),
    # Not acted on (always continue; the surface is the altitude), only
    # stored and echoed: any byte, and NaN altitude ("unset") as sent.
    Rule("autocontinue", "autocontinue", 0, 255, integer=True),
    Rule("alt", "altitude [m]", -MAX_ALT, MAX_ALT, nan_ok=True),
)

_POSITION = (_lat(), _lon())

#: Per command, the fields the vehicle acts on.  Commands not listed are
#: not supported in that plan type (checked by the caller).
ITEM_RULES: dict[int, tuple[Rule, ...]] = {
    Cmd.NAV_WAYPOINT: _POSITION,
    Cmd.NAV_LOITER_UNLIM: _POSITION,
    Cmd.NAV_LOITER_TIME: _POSITION + (Rule("param1", "hold time [s]", 0.0, MAX_LOITER_S),),
    Cmd.NAV_RETURN_TO_LAUNCH: (),
    Cmd.DO_JUMP: (Rule("param1", "DO_JUMP target item", 1, U16_MAX, integer=True),
                  Rule("param2", "DO_JUMP repeat count", -1, MAX_JUMP_REPEAT, integer=True)),
    # param2 speed: -1 / -2 / 0 mean "no change" (MAVLink), NaN likewise.
    Cmd.DO_CHANGE_SPEED: (Rule("param2", "speed [m/s]", -2.0, MAX_ITEM_SPEED, nan_ok=True),),
}

#: Home (item 0 of a mission): its command is not executed, its position is echoed.
HOME_RULES = (_lat("home latitude"), _lon("home longitude"))

FENCE_RULES: dict[int, tuple[Rule, ...]] = {
    FENCE_RETURN_POINT: _POSITION,
    FENCE_POLYGON_INCLUSION: _POSITION + (Rule("param1", "vertex count", 3, MAX_FENCE_VERTICES, integer=True),),
    FENCE_POLYGON_EXCLUSION: _POSITION + (Rule("param1", "vertex count", 3, MAX_FENCE_VERTICES, integer=True),),
    FENCE_CIRCLE_INCLUSION: _POSITION + (Rule("param1", "radius [m]", 1e-3, 1e6),),
    FENCE_CIRCLE_EXCLUSION: _POSITION + (Rule("param1", "radius [m]", 1e-3, 1e6),),
}


def _run(rules, item, index: int) -> Violation | None:
    for r in rules:
        why = r.check(getattr(item, r.field))
        if why is not None:
            return Violation(index, r.field, PARAM_NUMBER[r.field], f"{r.what} ({r.field}) {why}")
    return None


def check_mission_item(item, index: int, count: int | None = None) -> Violation | None:
    """Check one mission item at position ``index`` of a plan of ``count``
    items (None when not yet known).  Item 0 is home."""
    v = _run(COMMON_RULES, item, index)
    if v is not None:
        return v
    if int(item.seq) != index:
        return Violation(index, "seq", 0, f"sequence number {int(item.seq)} out of order (expected {index})")
    if index == 0:
        return _run(HOME_RULES, item, index)
    rules = ITEM_RULES.get(int(item.command))
    if rules is None:
        return Violation(index, "command", 0, f"command {int(item.command)} is not supported")
    v = _run(rules, item, index)
    if v is not None:
        return v
    if rules[:2] == _POSITION and item.lat == 0.0 and item.lon == 0.0:
        return Violation(index, "lat", 5, f"{Cmd(int(item.command)).name} needs a valid latitude/longitude, "
                                          "got 0, 0 (unset)")
    if item.command == Cmd.DO_JUMP and count is not None:
        target = int(item.param1)
        if not (1 <= target < count) or target == index:
            return Violation(index, "param1", 1, f"DO_JUMP target {target} must be another item in 1..{count - 1}")
    return None


def check_fence_item(item, index: int) -> Violation | None:
    """Check one fence item (numbered from 0, no home item)."""
    v = _run(COMMON_RULES, item, index)
    if v is not None:
        return v
    if int(item.seq) != index:
        return Violation(index, "seq", 0, f"sequence number {int(item.seq)} out of order (expected {index})")
    rules = FENCE_RULES.get(int(item.command))
    if rules is None:
        return Violation(index, "command", 0, f"command {int(item.command)} is not a fence command")
    return _run(rules, item, index)


def check_plan(items, fence: bool = False) -> Violation | None:
    """The first violation in a whole plan, or None."""
    items = list(items)
    for i, it in enumerate(items):
        v = check_fence_item(it, i) if fence else check_mission_item(it, i, len(items))
        if v is not None:
            return v
    return None
