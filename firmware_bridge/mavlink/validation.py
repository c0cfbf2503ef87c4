"""Every numeric MAVLink field the vehicle acts on, checked before the core
sees it, from one table.

:data:`COMMAND_RULES` lists, per MAV_CMD, the parameters its handler reads
(COMMAND_LONG param1..7; for COMMAND_INT x / y are int32 and z is param7);
:data:`MESSAGE_RULES` lists the fields of the other messages we act on.
Mission and fence items are checked by ``vehicle.validation`` (the core's
table, which the mission executor and the state restore use too); this
module maps its violations to MAV_MISSION_RESULT.

A rule says whether the protocol means an integer (a float must then be a
whole number: a mode number, an item index, ARM's param1), the range, and
whether NaN means "unset" for that field (MAVLink allows it for some, as
DO_REPOSITION's speed).  Integer fields of the wire format (uint8..int32)
cannot be NaN or fractional but are still range-checked where it matters.
"""
from __future__ import annotations

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edgepilot.vehicle.validation import U16_MAX, Rule, Violation

M = mavlink
U32_MAX = 2**32 - 1
#: Largest speed [m/s] a command may ask for (any vehicle of ours is far slower).
MAX_SPEED = 100.0
#: MAVLink message ids are 24-bit.
MAX_MSG_ID = 2**24 - 1

_LAT = Rule("p5", "latitude [deg]", -90.0, 90.0)
_LON = Rule("p6", "longitude [deg]", -180.0, 180.0)

#: Per command: the parameters (p1..p7) its handler acts on.
COMMAND_RULES: dict[int, tuple[Rule, ...]] = {
    M.MAV_CMD_COMPONENT_ARM_DISARM: (Rule("p1", "arm (1) / disarm (0)", 0, 1, integer=True),
                                     Rule("p2", "force (21196)", 0, 65535, integer=True, nan_ok=True)),
    M.MAV_CMD_DO_SET_MODE: (Rule("p1", "base mode", 0, 255, integer=True),
                            Rule("p2", "custom mode", 0, U32_MAX, integer=True)),
    M.MAV_CMD_MISSION_START: (Rule("p1", "first item", 0, U16_MAX, integer=True, nan_ok=True),),
    M.MAV_CMD_NAV_RETURN_TO_LAUNCH: (),
    # param1 speed: < 0 or NaN means "default" (ArduPilot reads it so).
    M.MAV_CMD_DO_REPOSITION: (Rule("p1", "speed [m/s]", -1.0, MAX_SPEED, nan_ok=True),),
    # param2 speed: -1 / -2 / 0 mean "no change", NaN likewise.
    M.MAV_CMD_DO_CHANGE_SPEED: (Rule("p2", "speed [m/s]", -2.0, MAX_SPEED, nan_ok=True),),
    M.MAV_CMD_DO_FLIGHTTERMINATION: (Rule("p1", "terminate (1) / clear (0)", 0, 1),),
    M.MAV_CMD_DO_SET_MISSION_CURRENT: (Rule("p1", "mission item", 0, U16_MAX, integer=True),),
    M.MAV_CMD_SET_MESSAGE_INTERVAL: (Rule("p1", "message id", 0, MAX_MSG_ID, integer=True),
                                     Rule("p2", "interval [us]", -1, U32_MAX)),
    M.MAV_CMD_GET_MESSAGE_INTERVAL: (Rule("p1", "message id", 0, MAX_MSG_ID, integer=True),),
    M.MAV_CMD_REQUEST_MESSAGE: (Rule("p1", "message id", 0, MAX_MSG_ID, integer=True),),
    M.MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES: (),
    M.MAV_CMD_GET_HOME_POSITION: (),
}
#: COMMAND_LONG only: DO_REPOSITION's position travels in param5/6 as degrees.
LONG_POSITION_RULES: dict[int, tuple[Rule, ...]] = {M.MAV_CMD_DO_REPOSITION: (_LAT, _LON)}

#: Per message type: the fields its handler acts on.
MESSAGE_RULES: dict[str, tuple[Rule, ...]] = {
    "SET_MODE": (Rule("base_mode", "base mode", 0, 255, integer=True),
                 Rule("custom_mode", "custom mode", 0, U32_MAX, integer=True)),
    "MISSION_COUNT": (Rule("count", "item count", 0, U16_MAX, integer=True),),
    "MISSION_SET_CURRENT": (Rule("seq", "mission item", 0, U16_MAX, integer=True),),
    "MISSION_REQUEST": (Rule("seq", "item", 0, U16_MAX, integer=True),),
    "MISSION_REQUEST_INT": (Rule("seq", "item", 0, U16_MAX, integer=True),),
    "PARAM_SET": (Rule("param_value", "parameter value"),),
    "SET_POSITION_TARGET_GLOBAL_INT": (Rule("lat_int", "latitude [degE7]", -900_000_000, 900_000_000, integer=True),
                                       Rule("lon_int", "longitude [degE7]", -1_800_000_000, 1_800_000_000,
                                            integer=True)),
}


def _first(rules, get) -> tuple[Rule, str] | None:
    for r in rules:
        why = r.check(get(r.field))
        if why is not None:
            return r, why
    return None


def check_command(args) -> str | None:
    """None when the command's parameters pass, else a reason naming the
    command and the parameter.  ``args`` is a ``command.CommandArgs``."""
    rules = COMMAND_RULES.get(int(args.command), ())
    if not args.is_int:
        rules = rules + LONG_POSITION_RULES.get(int(args.command), ())
    bad = _first(rules, lambda f: getattr(args, f))
    if bad is None:
        return None
    r, why = bad
    return f"{command_name(args.command)}: param{r.field[1:]} {r.what} {why}"


def check_message(m) -> tuple[str, str] | None:
    """None when the fields of message ``m`` we act on pass, else
    (field, reason naming the message and the field)."""
    rules = MESSAGE_RULES.get(m.get_type())
    if not rules:
        return None
    bad = _first(rules, lambda f: getattr(m, f))
    if bad is None:
        return None
    r, why = bad
    return r.field, f"{m.get_type()}: {r.field} ({r.what}) {why}"


def command_name(command: int) -> str:
    e = M.enums["MAV_CMD"].get(int(command))
    return e.name.replace("MAV_CMD_", "") if e is not None else f"command {int(command)}"


#: MAVLink parameter number (vehicle.validation.PARAM_NUMBER) -> MAV_MISSION_RESULT.
_PARAM_RESULT = {1: M.MAV_MISSION_INVALID_PARAM1, 2: M.MAV_MISSION_INVALID_PARAM2,
                 3: M.MAV_MISSION_INVALID_PARAM3, 4: M.MAV_MISSION_INVALID_PARAM4,
                 5: M.MAV_MISSION_INVALID_PARAM5_X, 6: M.MAV_MISSION_INVALID_PARAM6_Y,
                 7: M.MAV_MISSION_INVALID_PARAM7}


def mission_result(v: Violation) -> int:
    """The MAV_MISSION_RESULT that names the failed field of an item."""
    if v.field == "seq":
        return M.MAV_MISSION_INVALID_SEQUENCE
    if v.field == "command":
        return M.MAV_MISSION_UNSUPPORTED
    if v.field == "frame":
        return M.MAV_MISSION_UNSUPPORTED_FRAME
    return _PARAM_RESULT.get(v.param, M.MAV_MISSION_INVALID)
