"""MAVLink 2 message signing: key loading and per-link setup.

When a key is configured, signing is *required*: every frame we send is
signed, and incoming frames that are unsigned or carry a bad signature are
rejected by the parser (pymavlink raises "Invalid signature", which the
endpoint counts per link).  The one exception, as in ArduPilot, is
RADIO_STATUS, which radios inject unsigned.
"""
from __future__ import annotations

import time
from pathlib import Path

from pymavlink.dialects.v20 import ardupilotmega as mavlink

#: Signing timestamps count 10 microsecond units since 2015-01-01 00:00 UTC.
SIGNING_EPOCH_UNIX = 1420070400

#: Messages accepted unsigned even when signing is required (radio modems
#: generate them and cannot sign).
UNSIGNED_ALLOWED = frozenset({mavlink.MAVLINK_MSG_ID_RADIO_STATUS})


def parse_key(text: str, source: str = "signing key") -> bytes:
    """Parse a 32-byte secret key written as 64 hex characters."""
    s = text.strip()
    if len(s) != 64:
        raise ValueError(f"{source}: expected 64 hex characters (32 bytes), got {len(s)} characters")
    try:
        return bytes.fromhex(s)
    except ValueError:
        raise ValueError(f"{source}: expected 64 hex characters (32 bytes), found a non-hex character") from None


def load_key(path: str | Path) -> bytes:
    """Read a signing key file (64 hex characters, surrounding whitespace ignored)."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ValueError(f"signing key file {str(p)!r}: cannot read ({e.strerror})") from None
    return parse_key(text, f"signing key file {str(p)!r}")


def signing_timestamp(unix_time: float | None = None) -> int:
    """Current signing timestamp (10 us units since 2015-01-01)."""
    t = time.time() if unix_time is None else unix_time
    return int(max(0.0, t - SIGNING_EPOCH_UNIX) * 100_000)


def _allow_unsigned(_mav, msg_id: int) -> bool:
    return msg_id in UNSIGNED_ALLOWED


def configure(mav: mavlink.MAVLink, key: bytes | None, link_id: int) -> None:
    """Turn signing on for one link's MAVLink object (or leave it off when
    ``key`` is None)."""
    if key is None:
        return
    if len(key) != 32:
        raise ValueError(f"signing key: expected 32 bytes, got {len(key)}")
    mav.signing.secret_key = key
    mav.signing.sign_outgoing = True
    mav.signing.allow_unsigned_callback = _allow_unsigned
    mav.signing.link_id = link_id & 0xFF
    mav.signing.timestamp = signing_timestamp()
