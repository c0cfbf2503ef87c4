"""Fleet test helpers: a real-time fleet scenario file, the fleet process,
and a scripted ArduPilot-like MAVLink peer (NOT ArduPilot: a pymavlink
script on 127.0.0.1 that behaves as an ArduPilot Rover does on the
parts a fleet ground station uses)."""
from __future__ import annotations

import threading
import time
from pathlib import Path

from edgepilot.gcs.mav import M, mavutil

YARD_ORIGIN = (47.397742, 8.545594)

FLEET_SCENARIO = """\
name = "fleet_yard_rt"
description = "Two UGVs in a yard, served over MAVLink as two SITL instances."
seed = 1
vehicles = [
  {{vehicle = "ugv", sysid = 1, start = {{x = 4.0, y = 4.0, yaw_deg = 90.0}}}},
  {{vehicle = "ugv", sysid = 2, start = {{x = 8.0, y = 4.0, yaw_deg = 90.0}}, name = "ugv-b"}},
]

[world]
bounds = [0.0, 0.0, 60.0, 40.0]
origin = [{lat}, {lon}]
resolution = 0.05
surface = "ground"

[[world.obstacles]]
name = "container row A"
type = "polygon"
points = [[12, 8], [18, 8], [18, 30], [12, 30]]
"""


def write_fleet_scenario(folder: Path) -> Path:
    p = folder / "fleet_yard_rt.toml"
    p.write_text(FLEET_SCENARIO.format(lat=YARD_ORIGIN[0], lon=YARD_ORIGIN[1]))
    return p


class ArduPilotLikePeer:
    """A scripted MAVLink vehicle that is not edgepilot, run in a thread.

    Heartbeats as an ArduPilot Rover (MAV_TYPE_GROUND_ROVER,
    MAV_AUTOPILOT_ARDUPILOTMEGA, HOLD = custom mode 4) from ``sysid``, sends
    GLOBAL_POSITION_INT, SYS_STATUS and MISSION_CURRENT at 4 Hz to
    ``udpout:127.0.0.1:PORT`` (the ground station's shared port, beside the
    edgepilot fleet), and speaks the mission protocol as ArduPilot does:
    MISSION_COUNT -> MISSION_REQUEST_INT for each seq -> MISSION_ACK; item 0
    is home.  MISSION_START (or DO_SET_MODE AUTO) runs the mission: one item
    per ``item_s`` seconds, MISSION_CURRENT / MISSION_ITEM_REACHED as it
    goes.  Only messages addressed to it (target_system = sysid or 0) are
    acted on, as ArduPilot does; every received message is kept in
    ``received`` (type, target_system) so a test can see what reached it."""

    def __init__(self, port: int, sysid: int = 21, lat: float = 47.3978, lon: float = 8.5457,
                 item_s: float = 0.4):
        self.sysid = sysid
        self.conn = mavutil.mavlink_connection(f"udpout:127.0.0.1:{port}", source_system=sysid,
                                               source_component=1)
        self.lat, self.lon = lat, lon
        self.item_s = item_s
        self.mode = 4                      # HOLD
        self.armed = False
        self.mission: list = []            # received MISSION_ITEM_INTs, seq 0 = home
        self.current = 0
        self.received: list[tuple[str, int | None]] = []
        self._upload: dict | None = None
        self._running_since: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    # -------------------------------------------------------------- main loop
    def _run(self) -> None:
        next_hb = next_tel = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_hb:
                next_hb = now + 1.0
                base = M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED | (M.MAV_MODE_FLAG_SAFETY_ARMED if self.armed else 0)
                self.conn.mav.heartbeat_send(M.MAV_TYPE_GROUND_ROVER, M.MAV_AUTOPILOT_ARDUPILOTMEGA, base,
                                             self.mode, M.MAV_STATE_ACTIVE)
            if now >= next_tel:
                next_tel = now + 0.25
                self._advance(now)
                self._telemetry()
            if self._upload is not None and now - self._upload["sent"] > 0.5:
                self._request(self._upload["next"])          # lost request or item: ask again
            m = self.conn.recv_match(blocking=True, timeout=0.02)
            while m is not None:
                self._handle(m)
                m = self.conn.recv_match(blocking=False)

    def _telemetry(self) -> None:
        mav = self.conn.mav
        mav.global_position_int_send(int(time.monotonic() * 1000) & 0xFFFFFFFF, int(self.lat * 1e7),
                                     int(self.lon * 1e7), 0, 0, 0, 0, 0, 0)
        mav.sys_status_send(0, 0, 0, 500, 12600, -1, 88, 0, 0, 0, 0, 0, 0)
        total = len(self.mission)
        state = (1 if total <= 1 else 5 if self.current >= total else
                 3 if self._running_since is not None else 2)
        mav.send(M.MAVLink_mission_current_message(min(self.current, max(total - 1, 0)), total, state))

    def _advance(self, now: float) -> None:
        if self._running_since is None or self.current >= len(self.mission):
            return
        due = 1 + int((now - self._running_since) / self.item_s)
        while self.current < min(due, len(self.mission)):
            it = self.mission[self.current]
            if it.frame in (M.MAV_FRAME_GLOBAL, M.MAV_FRAME_GLOBAL_RELATIVE_ALT, M.MAV_FRAME_GLOBAL_INT,
                            M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT) and (it.x or it.y):
                self.lat, self.lon = it.x / 1e7, it.y / 1e7
            self.conn.mav.mission_item_reached_send(self.current)
            self.current += 1
        if self.current >= len(self.mission):
            self._running_since = None
            self.mode = 4
            self.conn.mav.statustext_send(M.MAV_SEVERITY_INFO, b"Mission Complete")

    # -------------------------------------------------------------- messages
    def _request(self, seq: int) -> None:
        u = self._upload
        self.conn.mav.send(M.MAVLink_mission_request_int_message(u["src"][0], u["src"][1], seq, 0))
        u["sent"] = time.monotonic()

    def _handle(self, m) -> None:
        t = m.get_type()
        ts = getattr(m, "target_system", None)
        self.received.append((t, ts))
        if ts is not None and ts not in (0, self.sysid):
            return                               # for another vehicle: ArduPilot ignores it
        if t == "MISSION_COUNT" and getattr(m, "mission_type", 0) == 0:
            self._upload = {"count": m.count, "items": [None] * m.count, "next": 0,
                            "src": (m.get_srcSystem(), m.get_srcComponent()), "sent": 0.0}
            self._request(0)
        elif t == "MISSION_ITEM_INT" and self._upload is not None:
            u = self._upload
            if m.seq == u["next"]:
                u["items"][m.seq] = m
                u["next"] += 1
                if u["next"] < u["count"]:
                    self._request(u["next"])
                else:
                    self.mission = u["items"]
                    self.current = 0
                    self._upload = None
                    self.conn.mav.send(M.MAVLink_mission_ack_message(u["src"][0], u["src"][1],
                                                                      M.MAV_MISSION_ACCEPTED, 0))
        elif t == "MISSION_REQUEST_LIST":
            self.conn.mav.send(M.MAVLink_mission_count_message(m.get_srcSystem(), m.get_srcComponent(),
                                                               len(self.mission), 0))
        elif t in ("MISSION_REQUEST_INT", "MISSION_REQUEST") and m.seq < len(self.mission):
            self.conn.mav.send(self.mission[m.seq])
        elif t == "MISSION_ACK":
            pass
        elif t == "COMMAND_LONG":
            result = M.MAV_RESULT_ACCEPTED
            if m.command == M.MAV_CMD_MISSION_START:
                if len(self.mission) <= 1:
                    result = M.MAV_RESULT_DENIED
                else:
                    self.mode, self.current, self._running_since = 10, 1, time.monotonic()
            elif m.command == M.MAV_CMD_DO_SET_MODE:
                self.mode = int(m.param2)
            elif m.command == M.MAV_CMD_COMPONENT_ARM_DISARM:
                self.armed = m.param1 == 1
            elif m.command not in (M.MAV_CMD_REQUEST_MESSAGE,):
                result = M.MAV_RESULT_UNSUPPORTED
            self.conn.mav.command_ack_send(m.command, result, 0, 0, m.get_srcSystem(), m.get_srcComponent())

    def alert(self, text: str, severity: int = M.MAV_SEVERITY_WARNING) -> None:
        """Send a STATUSTEXT (as ArduPilot reports a failsafe or an alert)."""
        self.conn.mav.statustext_send(severity, text.encode()[:50])

    def commands(self) -> list[tuple[str, int | None]]:
        """The command / mission / param messages that reached it (not heartbeats)."""
        return [(t, ts) for t, ts in self.received
                if t.startswith(("COMMAND_", "MISSION_", "PARAM_", "SET_MODE"))]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.conn.close()
