"""Our MAVLink dialect at the ground station: the messages of
``edgepilot.xml`` (ardupilotmega.xml plus the fleet messages,
docs/fleet_dialect.md) that the operator sees, decoded here.

The ground station speaks MAVLink only, so it reads the dialect's XML (a
MAVLink format, shipped beside the vehicle's copy in
``firmware_bridge/mavlink/dialects/``) and builds the Python module with
pymavlink's own generator, into the same content-keyed cache the vehicle
side uses (``edgepilot.mavgen_cache``).  The link itself stays on
ardupilotmega: pymavlink hands a message it does not know over as
``UNKNOWN_<id>`` with the frame's bytes, which ``decode_frame`` parses
(checksum included) with the dialect.

Message used: EDGEPILOT_THREAT_ALERT (47105), the structured threat alert
that goes with an "ALERT ..." STATUSTEXT.
"""
from __future__ import annotations

from pathlib import Path
from types import ModuleType

from edgepilot import mavgen_cache

THREAT_ALERT_ID = 47105
#: EDGEPILOT_THREAT_KIND values, in the XML's order.
THREAT_KINDS = ("ais_dark", "ais_mismatch", "zone_cpa", "restricted_entry")
_loaded: ModuleType | None = None


def dialect_xml() -> Path:
    """edgepilot.xml: beside the gcs package (installed) or at the repository's top level."""
    here = Path(__file__).parent
    for base in (here.parent, here.resolve().parent):
        p = base / "firmware_bridge" / "mavlink" / "dialects" / "edgepilot.xml"
        if p.exists():
            return p
    raise FileNotFoundError("edgepilot.xml (our MAVLink dialect) not found beside the gcs package")


def load() -> ModuleType:
    """The dialect's pymavlink module (generated on first use, then cached)."""
    global _loaded
    if _loaded is None:
        _loaded = mavgen_cache.load_module(dialect_xml(), "edgepilot_gcs_mavlink_dialect")
    return _loaded


def decode_frame(frame: bytes):
    """The dialect's message in one MAVLink frame (its checksum checked),
    or None when the frame does not decode."""
    mod = load()
    p = mod.MAVLink(None)
    p.robust_parsing = True
    try:
        msgs = p.parse_buffer(bytes(frame)) or []
    except mod.MAVError:
        return None
    return next((m for m in msgs if m.get_msgId() >= 0), None)


def restore_header(m) -> None:
    """pymavlink leaves a message it does not know (``UNKNOWN_<id>``)
    without its header: sender 0, sequence 0.  Take them from the frame's
    bytes, so the message is counted for the vehicle that sent it."""
    buf = bytes(m.get_msgbuf())
    if len(buf) >= 10 and buf[0] == 0xFD:          # MAVLink 2: len, incompat, compat, seq, sys, comp, id(3)
        msgid = buf[7] | buf[8] << 8 | buf[9] << 16
        hdr = (msgid, buf[2], buf[3], buf[1], buf[4], buf[5], buf[6])
    elif len(buf) >= 6 and buf[0] == 0xFE:         # MAVLink 1: len, seq, sys, comp, id
        hdr = (buf[5], 0, 0, buf[1], buf[2], buf[3], buf[4])
    else:
        return
    m._header = type(m._header)(*hdr)


def _text(v) -> str:
    return (v.decode("utf-8", "replace") if isinstance(v, (bytes, bytearray)) else str(v)).rstrip("\0")


def threat_alert(frame: bytes) -> dict | None:
    """An EDGEPILOT_THREAT_ALERT frame as a plain dict (kind, score,
    reasons, map-frame x / y [m], zone, mmsi, track, time_usec), or None
    when the frame is not a valid one."""
    m = decode_frame(frame)
    if m is None or m.get_msgId() != THREAT_ALERT_ID:
        return None
    kind = THREAT_KINDS[m.kind] if m.kind < len(THREAT_KINDS) else f"kind {m.kind}"
    return {"kind": kind, "score": round(float(m.score), 3),
            "reasons": [r for r in _text(m.reasons).split("; ") if r],
            "x": round(float(m.x), 1), "y": round(float(m.y), 1), "zone": _text(m.zone) or None,
            "mmsi": m.mmsi or None, "track": m.track_id or None, "time_usec": int(m.time_usec)}


__all__ = ["THREAT_ALERT_ID", "THREAT_KINDS", "decode_frame", "dialect_xml", "load", "restore_header",
           "threat_alert"]
