"""Telemetry microservice: periodic streams per link, STATUSTEXT and
MISSION_ITEM_REACHED for core events, and one-shot message requests.

Rates are per link, as ArduPilot keeps them per channel, and are set by
SET_MESSAGE_INTERVAL (MAV_CMD 511), the older REQUEST_DATA_STREAM message
(stream groups mapped as ArduPilot maps them) or requested once with
MAV_CMD_REQUEST_MESSAGE (512).  Intervals are wall-clock seconds.

Frames: the core works in ENU (yaw CCW from east); MAVLink wants NED
(yaw/heading CW from north, velocities north/east/down).
"""
from __future__ import annotations

import math

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edgepilot.vehicle.geo import enu_yaw_to_compass_deg
from edgepilot.vehicle.types import Mode, MissionState

from .identity import autopilot_version
from .proximity import obstacle_distance
from .service import Service

M = mavlink
U16_MAX = 65535
I16_MAX = 32767

#: Streams every link gets unasked, msg id -> interval [s].
DEFAULT_INTERVALS = {
    M.MAVLINK_MSG_ID_SYS_STATUS: 1.0,
    M.MAVLINK_MSG_ID_GPS_RAW_INT: 0.5,
    M.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: 0.25,
    M.MAVLINK_MSG_ID_ATTITUDE: 0.25,
    M.MAVLINK_MSG_ID_VFR_HUD: 0.5,
    M.MAVLINK_MSG_ID_BATTERY_STATUS: 1.0,
    M.MAVLINK_MSG_ID_HOME_POSITION: 5.0,
    M.MAVLINK_MSG_ID_MISSION_CURRENT: 1.0,
    M.MAVLINK_MSG_ID_EXTENDED_SYS_STATE: 1.0,
}

#: Streams an EKF vehicle (navigation.estimator = "ekf") adds, as ArduPilot
#: streams its EKF_STATUS_REPORT with EXTRA3.
EKF_INTERVALS = {M.MAVLINK_MSG_ID_EKF_STATUS_REPORT: 1.0}

#: EKF_STATUS_FLAGS a filter that is initialised and healthy sets (for a
#: vehicle on the GPS + compass filter, which has no innovation tests).
GPS_COMPASS_EKF_FLAGS = (M.EKF_ATTITUDE | M.EKF_VELOCITY_HORIZ | M.EKF_POS_HORIZ_REL | M.EKF_POS_HORIZ_ABS
                         | M.EKF_PRED_POS_HORIZ_REL | M.EKF_PRED_POS_HORIZ_ABS)

#: REQUEST_DATA_STREAM groups, as ArduPilot assigns messages to them.
DATA_STREAMS = {
    M.MAV_DATA_STREAM_EXTENDED_STATUS: (M.MAVLINK_MSG_ID_SYS_STATUS, M.MAVLINK_MSG_ID_GPS_RAW_INT,
                                        M.MAVLINK_MSG_ID_MISSION_CURRENT),
    M.MAV_DATA_STREAM_POSITION: (M.MAVLINK_MSG_ID_GLOBAL_POSITION_INT,),
    M.MAV_DATA_STREAM_EXTRA1: (M.MAVLINK_MSG_ID_ATTITUDE,),
    M.MAV_DATA_STREAM_EXTRA2: (M.MAVLINK_MSG_ID_VFR_HUD,),
    M.MAV_DATA_STREAM_EXTRA3: (M.MAVLINK_MSG_ID_BATTERY_STATUS, M.MAVLINK_MSG_ID_EXTENDED_SYS_STATE),
}

#: Shortest interval we accept [s] (faster requests are clamped).
MIN_INTERVAL_S = 0.01

#: After their first sample, streams are set this far apart [s] (modulo
#: their interval), so streams with the same or related intervals do not all
#: fall due in the same runtime tick; each then keeps its own cadence
#: (due + interval), staying apart.
STREAM_PHASE_STEP_S = 0.011


def ned_yaw(enu_yaw: float) -> float:
    """ENU yaw [rad, CCW from east] -> NED yaw [rad, CW from north] in [-pi, pi)."""
    return (math.pi / 2 - enu_yaw + math.pi) % (2 * math.pi) - math.pi


def _pct(x: float | None) -> int:
    return -1 if x is None else int(round(max(0.0, min(1.0, x)) * 100))


class TelemetryService(Service):
    name = "telemetry"

    def __init__(self, endpoint):
        super().__init__(endpoint)
        self._event_cursor = 0
        self.builders = {
            M.MAVLINK_MSG_ID_HEARTBEAT: lambda now: endpoint.heartbeat.make(),
            M.MAVLINK_MSG_ID_SYS_STATUS: self.sys_status,
            M.MAVLINK_MSG_ID_GPS_RAW_INT: self.gps_raw_int,
            M.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: self.global_position_int,
            M.MAVLINK_MSG_ID_ATTITUDE: self.attitude,
            M.MAVLINK_MSG_ID_VFR_HUD: self.vfr_hud,
            M.MAVLINK_MSG_ID_BATTERY_STATUS: self.battery_status,
            M.MAVLINK_MSG_ID_HOME_POSITION: self.home_position,
            M.MAVLINK_MSG_ID_MISSION_CURRENT: self.mission_current,
            M.MAVLINK_MSG_ID_EXTENDED_SYS_STATE: self.extended_sys_state,
            M.MAVLINK_MSG_ID_AUTOPILOT_VERSION: lambda now: autopilot_version(endpoint.vehicle_id),
            M.MAVLINK_MSG_ID_EKF_STATUS_REPORT: self.ekf_status_report,
            M.MAVLINK_MSG_ID_OBSTACLE_DISTANCE: lambda now: obstacle_distance(self.core, now),   # on request
        }
        endpoint.on("REQUEST_DATA_STREAM", self._on_request_data_stream)
        cmd = endpoint.command
        cmd.register(M.MAV_CMD_SET_MESSAGE_INTERVAL, self._cmd_set_interval)
        cmd.register(M.MAV_CMD_GET_MESSAGE_INTERVAL, self._cmd_get_interval)
        cmd.register(M.MAV_CMD_REQUEST_MESSAGE, self._cmd_request_message)
        cmd.register(M.MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES,
                     lambda link, a, now: self._request(link, M.MAVLINK_MSG_ID_AUTOPILOT_VERSION))
        cmd.register(M.MAV_CMD_GET_HOME_POSITION,
                     lambda link, a, now: self._request(link, M.MAVLINK_MSG_ID_HOME_POSITION))

    # ------------------------------------------------------------ per-link state
    def _st(self, link) -> dict:
        st = link.state.get(self.name)
        if st is None:
            iv = dict(DEFAULT_INTERVALS)
            if getattr(self.core, "estimator", None) is not None:
                iv.update(EKF_INTERVALS)
            st = {"interval": iv, "next": {}, "pending": []}
            link.state[self.name] = st
        return st

    def set_interval(self, link, msg_id: int, interval_s: float | None) -> None:
        """None disables the stream; 0 restores its default."""
        st = self._st(link)
        if interval_s is None:
            st["interval"].pop(msg_id, None)
        elif interval_s == 0:
            if msg_id in DEFAULT_INTERVALS:
                st["interval"][msg_id] = DEFAULT_INTERVALS[msg_id]
            else:
                st["interval"].pop(msg_id, None)
        else:
            st["interval"][msg_id] = max(MIN_INTERVAL_S, interval_s)
        st["next"].pop(msg_id, None)

    # ------------------------------------------------------------ requests
    def _on_request_data_stream(self, link, m, now):
        if m.req_stream_id == M.MAV_DATA_STREAM_ALL:
            groups = list(DATA_STREAMS.values())
        else:
            g = DATA_STREAMS.get(m.req_stream_id)
            if g is None:
                return
            groups = [g]
        for g in groups:
            for msg_id in g:
                if m.start_stop == 0 or m.req_message_rate == 0:
                    self.set_interval(link, msg_id, None)
                else:
                    self.set_interval(link, msg_id, 1.0 / m.req_message_rate)

    def _cmd_set_interval(self, link, a, now):
        msg_id = int(a.p1)
        if msg_id not in self.builders or msg_id == M.MAVLINK_MSG_ID_AUTOPILOT_VERSION:
            return M.MAV_RESULT_UNSUPPORTED, f"SET_MESSAGE_INTERVAL: message {msg_id} not streamed"
        us = a.p2
        if us < 0:
            self.set_interval(link, msg_id, None)
        else:
            self.set_interval(link, msg_id, us * 1e-6)
        return M.MAV_RESULT_ACCEPTED

    def _cmd_get_interval(self, link, a, now):
        msg_id = int(a.p1)
        if msg_id not in self.builders:
            return M.MAV_RESULT_UNSUPPORTED
        iv = self._st(link)["interval"].get(msg_id)
        us = -1 if iv is None else int(round(iv * 1e6))
        self._st(link)["pending"].append(M.MAVLink_message_interval_message(msg_id, us))
        return M.MAV_RESULT_ACCEPTED

    def _cmd_request_message(self, link, a, now):
        return self._request(link, int(a.p1))

    def _request(self, link, msg_id: int):
        b = self.builders.get(msg_id)
        if b is None:
            return M.MAV_RESULT_UNSUPPORTED
        msg = b(self.ep.now)
        if msg is None:
            return M.MAV_RESULT_FAILED, "requested message not available yet"
        # Queued so the COMMAND_ACK goes out first, as the spec orders it.
        self._st(link)["pending"].append(msg)
        return M.MAV_RESULT_ACCEPTED

    # ------------------------------------------------------------ periodic work
    def update(self, now, wall):
        ep = self.ep
        events, self._event_cursor = self.core.events_since(self._event_cursor)
        for ev in events:
            if ev.kind == "item_reached" and "seq" in ev.data:
                ep.broadcast(M.MAVLink_mission_item_reached_message(int(ev.data["seq"])))
            if ev.kind in ("item_reached", "mission_complete", "mode"):
                # Ground stations also see these as MISSION_CURRENT / HEARTBEAT;
                # push a fresh MISSION_CURRENT so the change is seen at once.
                ep.broadcast(self.mission_current(now))
            if ev.text:
                ep.statustext(ev.text, int(ev.severity))
        cache: dict[int, object] = {}
        for link in list(ep.links.values()):
            st = self._st(link)
            if st["pending"]:
                for msg in st["pending"]:
                    link.send(msg)
                st["pending"].clear()
            nxt = st["next"]
            for i, (msg_id, iv) in enumerate(st["interval"].items()):
                due = nxt.get(msg_id)
                if due is not None and wall < due:
                    continue
                if due is None:
                    # The first sample goes at once (a new ground station sees
                    # everything); the cadence after it is out of phase.
                    nxt[msg_id] = wall + iv + (STREAM_PHASE_STEP_S * i) % iv
                else:
                    nxt[msg_id] = wall + iv if wall - due > iv else due + iv
                if msg_id not in cache:
                    cache[msg_id] = self.builders[msg_id](now)
                msg = cache[msg_id]
                if msg is not None:
                    link.send(msg)

    # ------------------------------------------------------------ builders
    def sys_status(self, now):
        core = self.core
        st = core.state
        gps = core.last_gps
        valid = bool(st is not None and st.valid)
        S = M
        present = (S.MAV_SYS_STATUS_SENSOR_GPS | S.MAV_SYS_STATUS_SENSOR_3D_MAG
                   | S.MAV_SYS_STATUS_AHRS | S.MAV_SYS_STATUS_SENSOR_BATTERY
                   | S.MAV_SYS_STATUS_SENSOR_MOTOR_OUTPUTS | S.MAV_SYS_STATUS_PREARM_CHECK)
        health = S.MAV_SYS_STATUS_SENSOR_MOTOR_OUTPUTS
        if gps is not None and gps.fix_type >= 3:
            health |= S.MAV_SYS_STATUS_SENSOR_GPS
        if valid:
            health |= S.MAV_SYS_STATUS_AHRS | S.MAV_SYS_STATUS_SENSOR_3D_MAG | S.MAV_SYS_STATUS_PREARM_CHECK
        v = core.battery_voltage
        if v is not None:
            health |= S.MAV_SYS_STATUS_SENSOR_BATTERY
        enabled = present
        # errors_count4: contained internal errors (VehicleCore.contain_fault), as ArduPilot reports its count.
        return M.MAVLink_sys_status_message(
            present, enabled, health, 0,
            U16_MAX if v is None else int(round(v * 1000)), -1, _pct(core.battery_remaining),
            0, 0, 0, 0, 0, min(U16_MAX, int(getattr(core, "internal_errors", 0))))

    def gps_raw_int(self, now):
        g = self.core.last_gps
        if g is None:
            return M.MAVLink_gps_raw_int_message(int(now * 1e6), 0, 0, 0, 0, U16_MAX, U16_MAX,
                                                 U16_MAX, U16_MAX, 0)
        vel = math.hypot(g.vel_e, g.vel_n)
        cog = int(round(math.degrees(math.atan2(g.vel_e, g.vel_n)) * 100)) % 36000 if vel > 0.05 else U16_MAX
        # eph is HDOP*100; with no DOP from the receiver we report the
        # 1-sigma accuracy in metres (a UERE of 1 m), and h_acc exactly.
        eph = min(U16_MAX - 1, int(round(g.hacc * 100)))
        return M.MAVLink_gps_raw_int_message(
            int(g.t * 1e6), int(g.fix_type), int(round(g.lat * 1e7)), int(round(g.lon * 1e7)),
            0, eph, U16_MAX, int(round(vel * 100)), cog, int(g.satellites),
            alt_ellipsoid=0, h_acc=int(round(g.hacc * 1000)), v_acc=0, vel_acc=0, hdg_acc=0, yaw=0)

    def ekf_status_report(self, now):
        """EKF_STATUS_REPORT as ArduPilot fills it: the EKF_STATUS_FLAGS and,
        in the *_variance fields, the innovation test ratios (< 1 passing,
        > 1 failing; 0 where there is no such measurement).  GPS_RAW_INT
        stays the receiver's own report and GLOBAL_POSITION_INT the fused
        estimate, so a ground station shows a rejected (spoofed) GNSS beside
        where the vehicle navigates."""
        est = getattr(self.core, "estimator", None)
        if est is None:
            st = self.core.state
            flags = GPS_COMPASS_EKF_FLAGS if (st is not None and st.valid) else M.EKF_UNINITIALIZED
            return M.MAVLink_ekf_status_report_message(flags, 0.0, 0.0, 0.0, 0.0, 0.0)
        s = est.status(now)
        return M.MAVLink_ekf_status_report_message(
            int(s.flags) & 0xFFFF, float(s.velocity_variance), float(s.pos_horiz_variance), 0.0,
            float(s.compass_variance), 0.0)

    def global_position_int(self, now):
        st = self.core.state
        if st is None or not st.valid:
            return None
        home = self.core.home
        alt_mm = int(round((home.alt if home is not None else 0.0) * 1000))
        return M.MAVLink_global_position_int_message(
            int(now * 1000) & 0xFFFFFFFF, int(round(st.lat * 1e7)), int(round(st.lon * 1e7)),
            alt_mm, 0, int(round(st.vy * 100)), int(round(st.vx * 100)), 0,
            int(round(enu_yaw_to_compass_deg(st.yaw) * 100)) % 36000)

    def attitude(self, now):
        st = self.core.state
        if st is None or not st.valid:
            return None
        return M.MAVLink_attitude_message(int(now * 1000) & 0xFFFFFFFF, 0.0, 0.0, ned_yaw(st.yaw),
                                          0.0, 0.0, -st.yaw_rate)

    def vfr_hud(self, now):
        st = self.core.state
        if st is None or not st.valid:
            return None
        cmd = getattr(self.ep, "last_command", None)
        throttle = 0 if cmd is None else int(round(min(1.0, abs(cmd.left + cmd.right) / 2) * 100))
        home = self.core.home
        return M.MAVLink_vfr_hud_message(st.speed, st.speed, int(enu_yaw_to_compass_deg(st.yaw)) % 360,
                                         throttle, home.alt if home is not None else 0.0, 0.0)

    def battery_status(self, now):
        v = self.core.battery_voltage
        cells = [U16_MAX] * 10
        if v is not None:
            cells[0] = min(U16_MAX - 1, int(round(v * 1000)))
        return M.MAVLink_battery_status_message(
            0, M.MAV_BATTERY_FUNCTION_ALL, M.MAV_BATTERY_TYPE_UNKNOWN, I16_MAX, cells, -1, -1, -1,
            _pct(self.core.battery_remaining))

    def home_position(self, now):
        h = self.core.home
        if h is None:
            return None
        # x/y/z (local NED position of home) are left 0: we do not publish a
        # local frame; clients use the geodetic fields.
        return M.MAVLink_home_position_message(
            int(round(h.lat * 1e7)), int(round(h.lon * 1e7)), int(round(h.alt * 1000)),
            0.0, 0.0, 0.0, [1.0, 0.0, 0.0, 0.0], 0.0, 0.0, 0.0, time_usec=int(now * 1e6))

    def mission_current(self, now):
        core = self.core
        n = len(core.mission)
        total = n - 1 if n > 1 else U16_MAX
        mode = Mode(core.mode)
        mstate = int(core.mission_state) if n > 1 else int(MissionState.NO_MISSION)
        # The core's index runs one past the last item once the mission is
        # done; MAVLink wants seq == total on the last item.
        seq = min(int(core.mission_current), total) if n > 1 else 0
        return M.MAVLink_mission_current_message(
            seq, total, mstate, 1 if mode == Mode.AUTO else 0)

    def extended_sys_state(self, now):
        return M.MAVLink_extended_sys_state_message(M.MAV_VTOL_STATE_UNDEFINED, M.MAV_LANDED_STATE_ON_GROUND)
