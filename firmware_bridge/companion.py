"""Companion link: drive an external autopilot (ArduPilot Rover or PX4) from
the vehicle core over MAVLink.

The companion computer discovers the autopilot by its HEARTBEAT, asks for
the position streams it needs, switches it to GUIDED (ArduPilot) or OFFBOARD
(PX4), arms it, streams position or velocity setpoints
(SET_POSITION_TARGET_GLOBAL_INT / SET_POSITION_TARGET_LOCAL_NED) and reads
its position back.  After link loss (no heartbeat for ``link_timeout_s``) it
re-discovers and re-requests streams when heartbeats return; a TCP link
reconnects by itself.

Non-blocking: call :meth:`CompanionLink.poll` every runtime tick.  Commands
return at once; their COMMAND_ACK result appears in :attr:`acks`.  Units: SI,
geodetic degrees, velocities north/east [m/s] (NED, as MAVLink).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edgepilot.firmware_bridge.mavlink.transport import Channel, open_transport

M = mavlink
ROVER_GUIDED = 15
ROVER_HOLD = 4
PX4_MAIN_MODE_AUTO, PX4_SUB_MODE_AUTO_LOITER = 4, 3
PX4_MAIN_MODE_OFFBOARD = 6
#: type_mask: use position only (velocity, acceleration, yaw, yaw rate ignored)
#: — the form ArduPilot Rover's GUIDED accepts (acceleration bits set).
MASK_POSITION_ONLY = (M.POSITION_TARGET_TYPEMASK_VX_IGNORE | M.POSITION_TARGET_TYPEMASK_VY_IGNORE
                      | M.POSITION_TARGET_TYPEMASK_VZ_IGNORE | M.POSITION_TARGET_TYPEMASK_AX_IGNORE
                      | M.POSITION_TARGET_TYPEMASK_AY_IGNORE | M.POSITION_TARGET_TYPEMASK_AZ_IGNORE
                      | M.POSITION_TARGET_TYPEMASK_YAW_IGNORE | M.POSITION_TARGET_TYPEMASK_YAW_RATE_IGNORE)
#: type_mask: use velocity only.
MASK_VELOCITY_ONLY = (M.POSITION_TARGET_TYPEMASK_X_IGNORE | M.POSITION_TARGET_TYPEMASK_Y_IGNORE
                      | M.POSITION_TARGET_TYPEMASK_Z_IGNORE | M.POSITION_TARGET_TYPEMASK_AX_IGNORE
                      | M.POSITION_TARGET_TYPEMASK_AY_IGNORE | M.POSITION_TARGET_TYPEMASK_AZ_IGNORE
                      | M.POSITION_TARGET_TYPEMASK_YAW_IGNORE | M.POSITION_TARGET_TYPEMASK_YAW_RATE_IGNORE)


@dataclass(frozen=True)
class AutopilotPosition:
    """The autopilot's own estimate, from GLOBAL_POSITION_INT."""

    t: float            # wall time received [s]
    lat: float          # WGS84 degrees
    lon: float
    vn: float           # velocity north [m/s]
    ve: float           # velocity east [m/s]
    heading_deg: float  # compass heading, CW from north [deg]; NaN when the autopilot has none


@dataclass(frozen=True)
class AutopilotGps:
    """The autopilot's GPS receiver state, from GPS_RAW_INT."""

    t: float            # wall time received [s]
    fix_type: int       # GPS_FIX_TYPE (3 = 3-D)
    satellites: int     # 255 = unknown
    hacc_m: float       # horizontal accuracy, 1-sigma [m]; NaN when not reported


@dataclass(frozen=True)
class AutopilotBattery:
    """From SYS_STATUS."""

    t: float
    voltage: float | None     # [V]
    remaining: float | None   # 0..1


class CompanionLink:
    def __init__(self, spec: str, sysid: int = 1, compid: int = M.MAV_COMP_ID_ONBOARD_COMPUTER,
                 link_timeout_s: float = 2.0, position_rate_hz: float = 10.0,
                 clock: Callable[[], float] = time.monotonic):
        self.transport = open_transport(spec)
        self.sysid, self.compid = sysid, compid
        self.link_timeout_s = link_timeout_s
        self.position_rate_hz = position_rate_hz
        self.clock = clock
        self._chan: Channel | None = None
        self.mav: M.MAVLink | None = None
        self.target: tuple[int, int] | None = None   # autopilot (sysid, compid)
        self.autopilot: int | None = None           # MAV_AUTOPILOT_*
        self.custom_mode: int | None = None
        self.armed = False
        self.position: AutopilotPosition | None = None
        self.gps: AutopilotGps | None = None
        self.battery: AutopilotBattery | None = None
        self.attitude_yaw: float | None = None      # NED yaw from ATTITUDE [rad, CW from north]
        self.positions = 0         # GLOBAL_POSITION_INT messages received
        self.texts: list[tuple[int, str]] = []       # autopilot STATUSTEXT (severity, text), newest last
        self.connected = False
        self.connections = 0       # times the autopilot was (re)discovered
        self.acks: dict[int, int] = {}
        self._last_hb_rx = -1e9
        self._next_hb_tx = 0.0

    # ------------------------------------------------------------ I/O
    def _bind(self, ch: Channel) -> None:
        self._chan = ch
        writer = type("W", (), {"write": staticmethod(ch.write)})()
        self.mav = M.MAVLink(writer, srcSystem=self.sysid, srcComponent=self.compid)
        self.mav.robust_parsing = True

    def poll(self) -> None:
        now = self.clock()
        chans = self.transport.service()
        if chans and (self._chan is None or chans[0] is not self._chan):
            self._bind(chans[0])
        if self._chan is not None:
            data = self._chan.take_inbound()
            if data:
                for m in self.mav.parse_buffer(data) or []:
                    self._handle(m, now)
            if now >= self._next_hb_tx:
                self._next_hb_tx = now + 1.0
                self.mav.send(M.MAVLink_heartbeat_message(M.MAV_TYPE_ONBOARD_CONTROLLER,
                                                          M.MAV_AUTOPILOT_INVALID, 0, 0, M.MAV_STATE_ACTIVE, 3))
        if self.connected and now - self._last_hb_rx > self.link_timeout_s:
            self.connected = False

    def _handle(self, m, now: float) -> None:
        t = m.get_type()
        if t == "BAD_DATA":
            return
        if t == "HEARTBEAT":
            if m.autopilot == M.MAV_AUTOPILOT_INVALID or m.type == M.MAV_TYPE_GCS:
                return
            src = (m.get_srcSystem(), m.get_srcComponent())
            if self.target is not None and src != self.target and self.connected:
                return
            self._last_hb_rx = now
            self.custom_mode = m.custom_mode
            self.armed = bool(m.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED)
            if not self.connected:
                self.target, self.autopilot = src, m.autopilot
                self.connected = True
                self.connections += 1
                self._request_streams()
            return
        if self.target is None or (m.get_srcSystem(), m.get_srcComponent()) != self.target:
            return
        if t == "GLOBAL_POSITION_INT":
            self.position = AutopilotPosition(now, m.lat * 1e-7, m.lon * 1e-7, m.vx / 100.0, m.vy / 100.0,
                                              m.hdg / 100.0 if m.hdg != 65535 else float("nan"))
            self.positions += 1
        elif t == "GPS_RAW_INT":
            h_acc = getattr(m, "h_acc", 0) or 0
            hacc = h_acc / 1000.0 if h_acc > 0 else (m.eph / 100.0 if m.eph != 65535 else float("nan"))
            self.gps = AutopilotGps(now, int(m.fix_type), int(m.satellites_visible), hacc)
        elif t == "SYS_STATUS":
            self.battery = AutopilotBattery(now, None if m.voltage_battery == 65535 else m.voltage_battery / 1000.0,
                                            None if m.battery_remaining < 0 else m.battery_remaining / 100.0)
        elif t == "ATTITUDE":
            self.attitude_yaw = float(m.yaw)
        elif t == "STATUSTEXT":
            text = m.text.decode("utf-8", "replace") if isinstance(m.text, bytes) else str(m.text)
            self.texts.append((int(m.severity), text.rstrip("\x00")))
            del self.texts[:-20]
        elif t == "COMMAND_ACK" and m.target_system in (0, self.sysid):
            self.acks[m.command] = m.result

    def _command(self, command: int, *params: float) -> None:
        if self.mav is None or self.target is None:
            raise RuntimeError("companion link: no autopilot discovered yet")
        p = list(params) + [0.0] * (7 - len(params))
        self.acks.pop(command, None)
        self.mav.send(M.MAVLink_command_long_message(self.target[0], self.target[1], command, 0, *p))

    def _request_streams(self) -> None:
        us = 1e6 / self.position_rate_hz
        self._command(M.MAV_CMD_SET_MESSAGE_INTERVAL, M.MAVLINK_MSG_ID_GLOBAL_POSITION_INT, us)
        # Fix quality and battery: what the core's pre-arm checks ask about.
        self._command(M.MAV_CMD_SET_MESSAGE_INTERVAL, M.MAVLINK_MSG_ID_GPS_RAW_INT, 2e5)
        self._command(M.MAV_CMD_SET_MESSAGE_INTERVAL, M.MAVLINK_MSG_ID_SYS_STATUS, 1e6)
        # Older firmware knows only REQUEST_DATA_STREAM; harmless to both.
        for stream, rate in ((M.MAV_DATA_STREAM_POSITION, int(self.position_rate_hz)),
                             (M.MAV_DATA_STREAM_EXTENDED_STATUS, 5)):
            self.mav.send(M.MAVLink_request_data_stream_message(self.target[0], self.target[1], stream, rate, 1))

    # ------------------------------------------------------------ control
    @property
    def is_px4(self) -> bool:
        return self.autopilot == M.MAV_AUTOPILOT_PX4

    @property
    def in_guided(self) -> bool:
        if self.custom_mode is None:
            return False
        if self.is_px4:
            return (self.custom_mode >> 16) & 0xFF == PX4_MAIN_MODE_OFFBOARD
        return self.custom_mode == ROVER_GUIDED

    @property
    def in_hold(self) -> bool:
        """ArduPilot Rover HOLD, or PX4 AUTO.LOITER: the autopilot stops by itself."""
        if self.custom_mode is None:
            return False
        if self.is_px4:
            return ((self.custom_mode >> 16) & 0xFF == PX4_MAIN_MODE_AUTO
                    and (self.custom_mode >> 24) & 0xFF == PX4_SUB_MODE_AUTO_LOITER)
        return self.custom_mode == ROVER_HOLD

    def set_guided(self) -> None:
        """GUIDED on ArduPilot, OFFBOARD on PX4 (PX4 wants setpoints streaming first)."""
        if self.is_px4:
            self._command(M.MAV_CMD_DO_SET_MODE, M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, PX4_MAIN_MODE_OFFBOARD)
        else:
            self._command(M.MAV_CMD_DO_SET_MODE, M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, ROVER_GUIDED)

    def arm(self, arm: bool = True, force: bool = False) -> None:
        """Arm/disarm; ``force`` (disarm only) uses the 21196 magic both
        ArduPilot and PX4 honour to disarm while moving."""
        self._command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1.0 if arm else 0.0, 21196.0 if force and not arm else 0.0)

    def set_hold(self) -> None:
        """HOLD on ArduPilot Rover (mode 4), AUTO.LOITER on PX4: the autopilot stops by itself."""
        if self.is_px4:
            self._command(M.MAV_CMD_DO_SET_MODE, M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, PX4_MAIN_MODE_AUTO,
                          PX4_SUB_MODE_AUTO_LOITER)
        else:
            self._command(M.MAV_CMD_DO_SET_MODE, M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, ROVER_HOLD)

    def change_speed(self, speed_m_s: float) -> None:
        """MAV_CMD_DO_CHANGE_SPEED (ground speed) for the autopilot's guided driving."""
        self._command(M.MAV_CMD_DO_CHANGE_SPEED, 1.0, float(speed_m_s), -1.0)

    def send_position_target(self, lat: float, lon: float) -> None:
        """One position setpoint (degrees); stream it at a few Hz."""
        if self.mav is None or self.target is None:
            raise RuntimeError("companion link: no autopilot discovered yet")
        self.mav.send(M.MAVLink_set_position_target_global_int_message(
            int(self.clock() * 1000) & 0xFFFFFFFF, self.target[0], self.target[1],
            M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, MASK_POSITION_ONLY,
            int(round(lat * 1e7)), int(round(lon * 1e7)), 0.0, 0, 0, 0, 0, 0, 0, 0, 0))

    def send_velocity_target(self, vn: float, ve: float) -> None:
        """One velocity setpoint, north/east [m/s] in the local NED frame."""
        if self.mav is None or self.target is None:
            raise RuntimeError("companion link: no autopilot discovered yet")
        self.mav.send(M.MAVLink_set_position_target_local_ned_message(
            int(self.clock() * 1000) & 0xFFFFFFFF, self.target[0], self.target[1],
            M.MAV_FRAME_LOCAL_NED, MASK_VELOCITY_ONLY, 0, 0, 0, vn, ve, 0, 0, 0, 0, 0, 0))

    def send(self, msg) -> None:
        """Send one ready-made MAVLink message (external navigation)."""
        if self.mav is None or self.target is None:
            raise RuntimeError("companion link: no autopilot discovered yet")
        self.mav.send(msg)

    def set_ekf_origin(self, lat: float, lon: float, alt_m: float = 0.0) -> None:
        """SET_GPS_GLOBAL_ORIGIN: where the autopilot's EKF puts its (0, 0);
        needed for external navigation when it has no GPS."""
        if self.mav is None or self.target is None:
            raise RuntimeError("companion link: no autopilot discovered yet")
        self.mav.send(M.MAVLink_set_gps_global_origin_message(
            self.target[0], int(round(lat * 1e7)), int(round(lon * 1e7)), int(round(alt_m * 1000)),
            int(self.clock() * 1e6)))

    def fds(self) -> list[int]:
        """Descriptors readable when the autopilot sent something."""
        try:
            return self.transport.fds()
        except OSError:
            return []

    def close(self) -> None:
        self.transport.close()
