"""``.tlog`` summaries and track plots.

A tlog is a sequence of records: 8-byte big-endian microseconds since the
UNIX epoch, then one raw MAVLink frame (what MAVProxy and QGroundControl
write and ``mavlogdump.py`` reads).  Recording lives in
:class:`gcs.connection.TlogRecorder`.

The summary follows one vehicle (``sysid``, default the first vehicle
heartbeat in the log): duration, distance travelled (great-circle sum over
GLOBAL_POSITION_INT fixes), time in each mode, events (arm/disarm, mode
changes, waypoints reached, warnings), maximum ground speed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from edgepilot.gcs.mav import mavutil

from edgepilot.gcs.errors import FileFormatError
from edgepilot.gcs.modes import mode_name

M = mavutil.mavlink
EARTH_RADIUS_M = 6371008.8
#: Position jumps faster than this are glitches, not travel [m/s].
MAX_PLAUSIBLE_SPEED = 100.0


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


@dataclass
class TlogSummary:
    path: str
    sysid: int | None
    messages: int = 0
    start: float | None = None            # UNIX seconds
    end: float | None = None
    distance_m: float = 0.0
    max_speed_m_s: float = 0.0
    mode_time_s: dict = field(default_factory=dict)
    events: list = field(default_factory=list)       # (t_offset_s, text)
    track: list = field(default_factory=list)        # (t, lat, lon, mode)
    reached: list = field(default_factory=list)      # (t_offset_s, seq, lat, lon)

    @property
    def duration_s(self) -> float:
        return 0.0 if self.start is None else self.end - self.start

    def as_dict(self) -> dict:
        return {"file": self.path, "sysid": self.sysid, "messages": self.messages,
                "duration_s": round(self.duration_s, 3), "distance_m": round(self.distance_m, 2),
                "max_speed_m_s": round(self.max_speed_m_s, 3),
                "modes": {k: round(v, 2) for k, v in self.mode_time_s.items()},
                "events": [{"t_s": round(t, 2), "text": e} for t, e in self.events],
                "waypoints_reached": [s for _, s, _, _ in self.reached]}


def summarize(path: str | Path, sysid: int | None = None) -> TlogSummary:
    p = Path(path)
    if not p.is_file():
        raise FileFormatError(p, None, "no such file")
    if p.stat().st_size == 0:
        raise FileFormatError(p, None, "empty file (no MAVLink records)")
    try:
        log = mavutil.mavlink_connection(str(p), robust_parsing=True, notimestamps=False)
    except Exception as e:
        raise FileFormatError(p, None, f"cannot open as a tlog: {e}") from None
    s = TlogSummary(str(p), sysid)
    mode = None
    mode_since = None
    armed = None
    last_pos = None      # (receive time, lat, lon, vehicle time_boot [s])
    bad = 0
    try:
        while True:
            m = log.recv_msg()
            if m is None:
                break
            t_msg = m.get_type()
            if t_msg == "BAD_DATA":
                bad += 1
                continue
            src = m.get_srcSystem()
            if s.sysid is None:
                if t_msg == "HEARTBEAT" and m.type != M.MAV_TYPE_GCS and m.autopilot != M.MAV_AUTOPILOT_INVALID:
                    s.sysid = src
                else:
                    continue
            if src != s.sysid:
                continue
            t = getattr(m, "_timestamp", None)
            if t is None:
                continue
            s.messages += 1
            s.start = t if s.start is None else s.start
            s.end = t if s.end is None else max(s.end, t)
            off = t - s.start
            if t_msg == "HEARTBEAT":
                if m.type == M.MAV_TYPE_GCS or m.autopilot == M.MAV_AUTOPILOT_INVALID:
                    continue
                a = bool(m.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED)
                if a != armed:
                    if armed is not None or a:
                        s.events.append((off, "armed" if a else "disarmed"))
                    armed = a
                name = mode_name(m.autopilot, m.type, m.base_mode, m.custom_mode)
                if name != mode:
                    if mode is not None:
                        s.mode_time_s[mode] = s.mode_time_s.get(mode, 0.0) + (t - mode_since)
                        s.events.append((off, f"mode {mode} -> {name}"))
                    else:
                        s.events.append((off, f"mode {name}"))
                    mode, mode_since = name, t
            elif t_msg == "GLOBAL_POSITION_INT":
                if m.lat == 0 and m.lon == 0:
                    continue
                lat, lon = m.lat / 1e7, m.lon / 1e7
                s.max_speed_m_s = max(s.max_speed_m_s, math.hypot(m.vx, m.vy) / 100.0)
                boot = m.time_boot_ms * 1e-3
                if last_pos is not None:
                    d = haversine_m(last_pos[1], last_pos[2], lat, lon)
                    # Judge the jump on the vehicle's own clock: receive times
                    # bunch up when the link or the vehicle's loop stalls (and a
                    # SITL runs faster than real time), which would make real
                    # travel look like a glitch.  A clock that went backwards
                    # (reboot) falls back to receive time.
                    dt = boot - last_pos[3] if boot > last_pos[3] else t - last_pos[0]
                    if d / max(dt, 1e-3) <= MAX_PLAUSIBLE_SPEED:
                        s.distance_m += d
                last_pos = (t, lat, lon, boot)
                s.track.append((t, lat, lon, mode))
            elif t_msg == "VFR_HUD":
                s.max_speed_m_s = max(s.max_speed_m_s, float(m.groundspeed))
            elif t_msg == "MISSION_ITEM_REACHED":
                s.events.append((off, f"waypoint {m.seq} reached"))
                if last_pos is not None:
                    s.reached.append((off, m.seq, last_pos[1], last_pos[2]))
            elif t_msg == "STATUSTEXT" and m.severity <= M.MAV_SEVERITY_NOTICE:
                s.events.append((off, f"{M.enums['MAV_SEVERITY'][m.severity].name[13:]}: {m.text}"))
    except Exception as e:
        raise FileFormatError(p, None, f"unreadable tlog: {e}") from None
    finally:
        log.close()
    if mode is not None and s.end is not None:
        s.mode_time_s[mode] = s.mode_time_s.get(mode, 0.0) + (s.end - mode_since)
    if s.messages == 0:
        why = f" from sysid {sysid}" if sysid is not None else " from any vehicle"
        raise FileFormatError(p, None, f"no MAVLink messages{why} ({bad} undecodable bytes/frames; is it a .tlog?)")
    return s


def plot_track(s: TlogSummary, out: str | Path) -> Path:
    """Draw the track (east/north metres from the first fix, coloured by
    mode) with start, end and reached waypoints to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    if not s.track:
        raise FileFormatError(s.path, None, "no positions (GLOBAL_POSITION_INT) in the log to plot")
    lat0, lon0 = s.track[0][1], s.track[0][2]
    k_lat = math.pi / 180 * EARTH_RADIUS_M
    k_lon = k_lat * math.cos(math.radians(lat0))

    def en(lat, lon):
        return (lon - lon0) * k_lon, (lat - lat0) * k_lat

    fig, ax = plt.subplots(figsize=(7, 6), dpi=100)
    seg_mode, xs, ys = None, [], []
    colors = {}
    cmap = plt.get_cmap("tab10")

    def flush():
        if len(xs) > 1:
            c = colors.setdefault(seg_mode, cmap(len(colors) % 10))
            ax.plot(xs, ys, color=c, lw=1.8, label=seg_mode if seg_mode not in ax.get_legend_handles_labels()[1] else None)

    for _, lat, lon, mode in s.track:
        x, y = en(lat, lon)
        if mode != seg_mode and xs:
            flush()
            xs, ys = [xs[-1]], [ys[-1]]
        seg_mode = mode
        xs.append(x)
        ys.append(y)
    flush()
    x0, y0 = en(s.track[0][1], s.track[0][2])
    x1, y1 = en(s.track[-1][1], s.track[-1][2])
    ax.plot([x0], [y0], "go", ms=8, label="start")
    ax.plot([x1], [y1], "rs", ms=8, label="end")
    for _, seq, lat, lon in s.reached:
        x, y = en(lat, lon)
        ax.plot([x], [y], "k^", ms=6)
        ax.annotate(str(seq), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel("east [m]")
    ax.set_ylabel("north [m]")
    ax.set_aspect("equal", adjustable="datalim")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    ax.set_title(f"{Path(s.path).name}: {s.distance_m:.1f} m in {s.duration_s:.1f} s (sysid {s.sysid})")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
