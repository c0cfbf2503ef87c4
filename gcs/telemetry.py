"""What the ground station knows about each vehicle it hears.

A :class:`VehicleView` per system id is updated from every received
message (any sysid on the link, so ``watch`` can show several vehicles).
Times are wall-clock monotonic seconds of *this* process; positions WGS84
degrees; speeds m/s; heading degrees clockwise from north (as MAVLink).
"""
from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field

from edgepilot.gcs.mav import mavutil

from edgepilot.gcs.modes import autopilot_name, mode_name, vehicle_type_name

M = mavutil.mavlink
U16_MAX = 65535
#: A vehicle is "stale" (link lost) after this long without a heartbeat [s].
STALE_AFTER_S = 3.0

_FIX_NAMES = {0: "NO_GPS", 1: "NO_FIX", 2: "2D", 3: "3D", 4: "DGPS", 5: "RTK_FLOAT", 6: "RTK_FIXED",
              7: "STATIC", 8: "PPP"}
_MISSION_STATES = {0: "UNKNOWN", 1: "NO_MISSION", 2: "NOT_STARTED", 3: "ACTIVE", 4: "PAUSED", 5: "COMPLETE"}
SEVERITY_NAMES = {i: e.name.replace("MAV_SEVERITY_", "") for i, e in M.enums["MAV_SEVERITY"].items()
                  if i < M.MAV_SEVERITY_ENUM_END}


@dataclass
class StatusText:
    t: float             # monotonic receive time [s]
    severity: int
    text: str

    @property
    def severity_name(self) -> str:
        return SEVERITY_NAMES.get(self.severity, str(self.severity))


@dataclass
class ThreatAlert:
    """A structured threat alert (our dialect's EDGEPILOT_THREAT_ALERT)."""

    t: float             # monotonic receive time [s]
    kind: str            # ais_dark | ais_mismatch | zone_cpa | restricted_entry
    score: float         # 0..1
    reasons: list
    x: float             # subject's map-frame ENU position [m]
    y: float
    zone: str | None = None
    mmsi: int | None = None
    track: int | None = None
    time_usec: int = 0   # when the vehicle raised it (its fleet clock)

    def line(self) -> str:
        who = f"MMSI {self.mmsi}" if self.mmsi else f"track {self.track}" if self.track else "contact"
        return (f"{self.kind} {who} score {self.score:.2f} at ({self.x:.0f}, {self.y:.0f}) m"
                + (f" zone {self.zone}" if self.zone else "") + (f": {'; '.join(self.reasons)}" if self.reasons else ""))


@dataclass
class VehicleView:
    sysid: int
    compid: int = 1
    autopilot: int = M.MAV_AUTOPILOT_GENERIC
    mav_type: int = 0
    base_mode: int = 0
    custom_mode: int = 0
    system_status: int = 0
    first_seen: float = 0.0
    last_heartbeat: float | None = None
    last_message: float | None = None
    heartbeats: int = 0
    # position / motion
    lat: float | None = None
    lon: float | None = None
    alt: float | None = None             # AMSL [m]
    groundspeed: float | None = None     # [m/s]
    heading: float | None = None         # [deg] CW from north
    # GPS
    gps_fix: int | None = None
    satellites: int | None = None
    hacc: float | None = None            # [m]
    # battery
    battery_voltage: float | None = None     # [V]
    battery_remaining: int | None = None     # [%]
    # mission
    mission_seq: int | None = None
    mission_total: int | None = None
    mission_state: int | None = None
    last_reached: int | None = None
    home: tuple[float, float, float] | None = None
    # identity
    flight_sw_version: int | None = None
    uid: int | None = None
    # link quality
    rx_messages: int = 0
    rx_lost: int = 0
    _last_seq: dict = field(default_factory=dict, repr=False)
    _rx_times: deque = field(default_factory=lambda: deque(maxlen=400), repr=False)
    updated: dict = field(default_factory=dict, repr=False)     # msg type -> monotonic time
    statustexts: deque = field(default_factory=lambda: deque(maxlen=50))
    statustext_count: int = 0
    _chunks: dict = field(default_factory=dict, repr=False)
    threats: deque = field(default_factory=lambda: deque(maxlen=50))   # ThreatAlert, oldest first

    # ------------------------------------------------------------------ derived
    @property
    def armed(self) -> bool:
        return bool(self.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED)

    @property
    def mode(self) -> str:
        return mode_name(self.autopilot, self.mav_type, self.base_mode, self.custom_mode)

    @property
    def fix_name(self) -> str:
        return "-" if self.gps_fix is None else _FIX_NAMES.get(self.gps_fix, str(self.gps_fix))

    @property
    def mission_state_name(self) -> str:
        return "-" if self.mission_state is None else _MISSION_STATES.get(self.mission_state, str(self.mission_state))

    def heartbeat_age(self, now: float | None = None) -> float | None:
        if self.last_heartbeat is None:
            return None
        return (time.monotonic() if now is None else now) - self.last_heartbeat

    def stale(self, now: float | None = None, after: float = STALE_AFTER_S) -> bool:
        age = self.heartbeat_age(now)
        return age is None or age > after

    def loss_percent(self) -> float:
        total = self.rx_messages + self.rx_lost
        return 100.0 * self.rx_lost / total if total else 0.0

    def rx_rate(self, now: float | None = None, window: float = 2.0) -> float:
        now = time.monotonic() if now is None else now
        window = min(window, max(now - self.first_seen, 0.25))   # a young link has less history
        n = sum(1 for t in self._rx_times if now - t <= window)
        return n / window

    def texts_since(self, count: int) -> list[StatusText]:
        """STATUSTEXTs received after ``statustext_count`` was ``count``."""
        n = self.statustext_count - count
        return list(self.statustexts)[-n:] if n > 0 else []

    # ------------------------------------------------------------------ update
    def update(self, m, now: float) -> None:
        t = m.get_type()
        self.rx_messages += 1
        self.last_message = now
        self._rx_times.append(now)
        key = m.get_srcComponent()
        seq = m.get_seq()
        last = self._last_seq.get(key)
        if last is not None:
            self.rx_lost += (seq - last - 1) % 256
        self._last_seq[key] = seq
        self.updated[t] = now
        h = getattr(self, "_on_" + t, None)
        if h is not None:
            h(m, now)

    def _on_HEARTBEAT(self, m, now):
        if m.type == M.MAV_TYPE_GCS or m.autopilot == M.MAV_AUTOPILOT_INVALID:
            return   # another ground station or a peripheral using this sysid
        self.compid = m.get_srcComponent()
        self.autopilot, self.mav_type = m.autopilot, m.type
        self.base_mode, self.custom_mode, self.system_status = m.base_mode, m.custom_mode, m.system_status
        self.last_heartbeat = now
        self.heartbeats += 1

    def _on_GLOBAL_POSITION_INT(self, m, now):
        if m.lat == 0 and m.lon == 0:
            return
        self.lat, self.lon, self.alt = m.lat / 1e7, m.lon / 1e7, m.alt * 1e-3
        self.groundspeed = math.hypot(m.vx, m.vy) / 100.0
        if m.hdg != U16_MAX:
            self.heading = m.hdg / 100.0

    def _on_VFR_HUD(self, m, now):
        self.groundspeed = float(m.groundspeed)
        self.heading = float(m.heading)

    def _on_GPS_RAW_INT(self, m, now):
        self.gps_fix, self.satellites = m.fix_type, (None if m.satellites_visible == 255 else m.satellites_visible)
        h_acc = getattr(m, "h_acc", 0)
        self.hacc = h_acc / 1000.0 if h_acc else None
        if self.lat is None and m.fix_type >= 2 and (m.lat or m.lon):
            self.lat, self.lon = m.lat / 1e7, m.lon / 1e7

    def _on_SYS_STATUS(self, m, now):
        if m.voltage_battery not in (U16_MAX, 0):
            self.battery_voltage = m.voltage_battery / 1000.0
        if m.battery_remaining >= 0:
            self.battery_remaining = m.battery_remaining

    def _on_BATTERY_STATUS(self, m, now):
        if m.battery_remaining >= 0:
            self.battery_remaining = m.battery_remaining
        cells = [v for v in m.voltages if v not in (U16_MAX, U16_MAX - 1)]
        if cells and self.battery_voltage is None:
            self.battery_voltage = sum(cells) / 1000.0

    def _on_MISSION_CURRENT(self, m, now):
        self.mission_seq = m.seq
        total = getattr(m, "total", U16_MAX)
        self.mission_total = None if total == U16_MAX else total
        state = getattr(m, "mission_state", 0)
        self.mission_state = state if state else None

    def _on_MISSION_ITEM_REACHED(self, m, now):
        self.last_reached = m.seq

    def _on_HOME_POSITION(self, m, now):
        self.home = (m.latitude / 1e7, m.longitude / 1e7, m.altitude * 1e-3)

    def _on_AUTOPILOT_VERSION(self, m, now):
        self.flight_sw_version, self.uid = m.flight_sw_version, m.uid

    def _on_UNKNOWN_47105(self, m, now):
        """EDGEPILOT_THREAT_ALERT: ardupilotmega does not know it; our dialect decodes the frame."""
        from edgepilot.gcs.dialect import threat_alert

        a = threat_alert(m.get_msgbuf())
        if a is None:
            return
        if any((x.time_usec, x.kind, x.track, x.mmsi) == (a["time_usec"], a["kind"], a["track"], a["mmsi"])
               for x in self.threats):
            return   # the same alert sent again (a lossy link): shown once
        self.threats.append(ThreatAlert(now, a["kind"], a["score"], a["reasons"], a["x"], a["y"], a["zone"],
                                        a["mmsi"], a["track"], a["time_usec"]))

    def _on_STATUSTEXT(self, m, now):
        text = m.text if isinstance(m.text, str) else m.text.decode("utf-8", "replace")
        text = text.rstrip("\0")
        sid = getattr(m, "id", 0)
        if sid:
            parts = self._chunks.setdefault(sid, {})
            parts[getattr(m, "chunk_seq", 0)] = text
            if len(text) == 50:
                return   # more chunks follow
            text = "".join(parts[k] for k in sorted(parts))
            del self._chunks[sid]
        self.statustexts.append(StatusText(now, m.severity, text))
        self.statustext_count += 1

    # ------------------------------------------------------------------ output
    def version_text(self) -> str | None:
        v = self.flight_sw_version
        if not v:
            return None
        return f"{(v >> 24) & 0xFF}.{(v >> 16) & 0xFF}.{(v >> 8) & 0xFF}"

    def snapshot(self, now: float | None = None, texts: int = 10) -> dict:
        """A JSON-ready dict of everything known (None where not heard)."""
        now = time.monotonic() if now is None else now
        age = self.heartbeat_age(now)
        return {
            "sysid": self.sysid, "compid": self.compid,
            "autopilot": autopilot_name(self.autopilot), "vehicle_type": vehicle_type_name(self.mav_type),
            "firmware_version": self.version_text(),
            "mode": self.mode, "custom_mode": self.custom_mode, "armed": self.armed,
            "system_status": M.enums["MAV_STATE"][self.system_status].name.replace("MAV_STATE_", "")
            if self.system_status in M.enums["MAV_STATE"] else self.system_status,
            "gps": {"fix": self.fix_name, "fix_type": self.gps_fix, "satellites": self.satellites,
                    "h_acc_m": self.hacc},
            "position": {"lat": self.lat, "lon": self.lon, "alt_m": self.alt},
            "speed_m_s": self.groundspeed, "heading_deg": self.heading,
            "battery": {"voltage_v": self.battery_voltage, "remaining_pct": self.battery_remaining},
            "mission": {"current": self.mission_seq, "total": self.mission_total,
                        "state": self.mission_state_name if self.mission_state is not None else None,
                        "last_reached": self.last_reached},
            "home": None if self.home is None else {"lat": self.home[0], "lon": self.home[1], "alt_m": self.home[2]},
            "link": {"heartbeat_age_s": None if age is None else round(age, 3),
                     "stale": self.stale(now), "rx_messages": self.rx_messages,
                     "loss_pct": round(self.loss_percent(), 2), "rx_rate_hz": round(self.rx_rate(now), 1)},
            "statustext": [{"severity": s.severity_name, "text": s.text}
                           for s in list(self.statustexts)[-texts:]],
        }


class Fleet:
    """Every vehicle heard, by sysid."""

    def __init__(self):
        self.vehicles: dict[int, VehicleView] = {}

    def update(self, m, now: float) -> VehicleView | None:
        sysid = m.get_srcSystem()
        v = self.vehicles.get(sysid)
        if v is None:
            if m.get_type() == "HEARTBEAT" and (m.type == M.MAV_TYPE_GCS or m.autopilot == M.MAV_AUTOPILOT_INVALID):
                return None   # ground stations and peripherals are not vehicles
            if m.get_type() != "HEARTBEAT":
                return None   # a vehicle is created by its first heartbeat
            v = self.vehicles[sysid] = VehicleView(sysid=sysid, first_seen=now)
        v.update(m, now)
        return v
