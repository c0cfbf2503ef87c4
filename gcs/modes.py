"""Flight-mode names <-> numbers for the autopilots we talk to.

* ArduPilot (autopilot ARDUPILOTMEGA, which edgepilot vehicles also report):
  ``custom_mode`` is the mode number, named per vehicle type from pymavlink's
  tables (Rover for GROUND_ROVER and SURFACE_BOAT: MANUAL 0, ACRO 1,
  STEERING 3, HOLD 4, LOITER 5, FOLLOW 6, SIMPLE 7, AUTO 10, RTL 11,
  SMART_RTL 12, GUIDED 15).  Set with DO_SET_MODE(1, number).
* PX4: ``custom_mode`` packs main mode (bits 16-23) and sub mode (24-31);
  names from pymavlink's PX4 table.  Set with DO_SET_MODE(base, main, sub).
"""
from __future__ import annotations

from edgepilot.gcs.mav import mavutil

M = mavutil.mavlink
AP = M.MAV_AUTOPILOT_ARDUPILOTMEGA
PX4 = M.MAV_AUTOPILOT_PX4


def _ap_table(mav_type: int) -> dict[int, str]:
    return mavutil.mode_mapping_bynumber(mav_type) or mavutil.mode_mapping_rover


def mode_name(autopilot: int, mav_type: int, base_mode: int, custom_mode: int) -> str:
    """The operator-facing name of the mode a HEARTBEAT reports."""
    if autopilot == PX4:
        return mavutil.interpret_px4_mode(base_mode, custom_mode)
    if base_mode & M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED or autopilot == AP:
        return _ap_table(mav_type).get(int(custom_mode), f"MODE{int(custom_mode)}")
    return f"MODE{int(custom_mode)}"


def mode_names(autopilot: int, mav_type: int) -> list[str]:
    if autopilot == PX4:
        return list(mavutil.px4_map)
    return [name for _, name in sorted(_ap_table(mav_type).items())]


def set_mode_params(autopilot: int, mav_type: int, name: str) -> tuple[float, float, float]:
    """(param1, param2, param3) of MAV_CMD_DO_SET_MODE for a mode name
    (case-insensitive).  Raises ValueError listing the valid names."""
    key = name.strip().upper()
    if autopilot == PX4:
        if key in mavutil.px4_map:
            base, main, sub = mavutil.px4_map[key]
            return float(base), float(main), float(sub)
    else:
        for number, n in _ap_table(mav_type).items():
            if n == key:
                return float(M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED), float(number), 0.0
        if key.isdigit():
            return float(M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED), float(int(key)), 0.0
    raise ValueError(f"unknown mode {name!r} for this vehicle; expected one of: "
                     + ", ".join(mode_names(autopilot, mav_type)))


def autopilot_name(autopilot: int) -> str:
    return {AP: "ArduPilot", PX4: "PX4"}.get(autopilot, M.enums["MAV_AUTOPILOT"][autopilot].name.replace(
        "MAV_AUTOPILOT_", "") if autopilot in M.enums["MAV_AUTOPILOT"] else str(autopilot))


def vehicle_type_name(mav_type: int) -> str:
    e = M.enums["MAV_TYPE"].get(mav_type)
    return e.name.replace("MAV_TYPE_", "") if e is not None else str(mav_type)
