"""Who the endpoint says it is.

Ground stations decode flight modes only for autopilots they know, so the
HEARTBEAT speaks ArduPilot Rover's interface (autopilot ARDUPILOTMEGA,
GROUND_ROVER / SURFACE_BOAT, Rover custom-mode numbers).  AUTOPILOT_VERSION
and the boot STATUSTEXT say honestly that this is edgepilot.
"""
from __future__ import annotations

import hashlib
import struct

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edgepilot.vehicle.types import Mode

SOFTWARE_NAME = "edgepilot"
SOFTWARE_VERSION = (0, 1, 0)
#: FIRMWARE_VERSION_TYPE_OFFICIAL in the low byte of flight_sw_version.
_FW_TYPE_OFFICIAL = 255

#: MAV_TYPE by vehicle kind.
VEHICLE_TYPES = {
    "ugv": mavlink.MAV_TYPE_GROUND_ROVER,
    "usv": mavlink.MAV_TYPE_SURFACE_BOAT,
}

#: What AUTOPILOT_VERSION advertises.  MAVLink has no capability bit for
#: signing; signing support is shown by answering signed frames.
CAPABILITIES = (
    mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_FLOAT
    | mavlink.MAV_PROTOCOL_CAPABILITY_PARAM_FLOAT
    | mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_INT
    | mavlink.MAV_PROTOCOL_CAPABILITY_COMMAND_INT
    | mavlink.MAV_PROTOCOL_CAPABILITY_SET_POSITION_TARGET_GLOBAL_INT
    | mavlink.MAV_PROTOCOL_CAPABILITY_FLIGHT_TERMINATION
    | mavlink.MAV_PROTOCOL_CAPABILITY_MAVLINK2
)

#: ArduPilot Rover custom modes this vehicle can enter, by number.
SUPPORTED_MODES = {int(m): m for m in Mode}

#: Rover mode names, for messages (includes modes we refuse).
ROVER_MODE_NAMES = {0: "MANUAL", 1: "ACRO", 3: "STEERING", 4: "HOLD", 5: "LOITER", 6: "FOLLOW",
                    7: "SIMPLE", 10: "AUTO", 11: "RTL", 12: "SMART_RTL", 15: "GUIDED"}


def vehicle_mav_type(kind: str) -> int:
    try:
        return VEHICLE_TYPES[kind.lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"vehicle kind: expected one of {sorted(VEHICLE_TYPES)}, got {kind!r}") from None


def base_mode(mode: Mode, armed: bool) -> int:
    """HEARTBEAT base_mode flags as ArduPilot Rover sets them."""
    bm = mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
    if armed:
        bm |= mavlink.MAV_MODE_FLAG_SAFETY_ARMED
    if mode == Mode.MANUAL:
        bm |= mavlink.MAV_MODE_FLAG_MANUAL_INPUT_ENABLED
    else:
        bm |= mavlink.MAV_MODE_FLAG_STABILIZE_ENABLED
    if mode in (Mode.GUIDED, Mode.AUTO, Mode.RTL):
        bm |= mavlink.MAV_MODE_FLAG_GUIDED_ENABLED
    if mode in (Mode.AUTO, Mode.RTL):
        bm |= mavlink.MAV_MODE_FLAG_AUTO_ENABLED
    return bm


def flight_sw_version() -> int:
    major, minor, patch = SOFTWARE_VERSION
    return (major << 24) | (minor << 16) | (patch << 8) | _FW_TYPE_OFFICIAL


def stable_uid(vehicle_id: str) -> tuple[int, bytes]:
    """A uid that stays the same across restarts of the same vehicle: derived
    from its configured identity, not from the clock.  Returns (uid, uid2)."""
    d = hashlib.sha256(f"{SOFTWARE_NAME}:{vehicle_id}".encode()).digest()
    uid = struct.unpack("<Q", d[:8])[0] or 1
    return uid, d[8:26]


def autopilot_version(vehicle_id: str) -> mavlink.MAVLink_autopilot_version_message:
    uid, uid2 = stable_uid(vehicle_id)
    fw = flight_sw_version()
    return mavlink.MAVLink_autopilot_version_message(
        capabilities=CAPABILITIES, flight_sw_version=fw, middleware_sw_version=fw,
        os_sw_version=0, board_version=0,
        flight_custom_version=list(SOFTWARE_NAME.encode()[:8].ljust(8, b"\0")),
        middleware_custom_version=[0] * 8, os_custom_version=[0] * 8,
        vendor_id=0, product_id=0, uid=uid, uid2=list(uid2))


def boot_text() -> str:
    major, minor, patch = SOFTWARE_VERSION
    return f"{SOFTWARE_NAME} {major}.{minor}.{patch} (speaks ArduPilot Rover MAVLink)"
