"""MAVLink 2 signing-key files: 64 hex characters (32 bytes), surrounding
whitespace ignored.

One parser for the vehicle (``edgepilot.firmware_bridge``) and the ground
station (``edgepilot.gcs``): this module imports only the standard library,
so either side may use it without depending on the other.
"""
from __future__ import annotations

from pathlib import Path

KEY_BYTES = 32


class KeyFileError(ValueError):
    """A signing key that cannot be used; the message names its source."""


def parse_key(text: str, source: str = "signing key") -> bytes:
    """Parse a 32-byte secret key written as 64 hex characters."""
    s = text.strip()
    if len(s) != 2 * KEY_BYTES:
        raise KeyFileError(f"{source}: expected 64 hex characters (32 bytes), got {len(s)} characters")
    try:
        return bytes.fromhex(s)
    except ValueError:
        raise KeyFileError(f"{source}: expected 64 hex characters (32 bytes), found a non-hex character") from None


def load_key(path: str | Path, source: str | None = None) -> bytes:
    """Read a signing key file.  ``source`` names it in errors (default:
    ``signing key file 'PATH'``)."""
    p = Path(path)
    name = source or f"signing key file {str(p)!r}"
    try:
        data = p.read_bytes()
    except OSError as e:
        raise KeyFileError(f"{name}: cannot read ({e.strerror or e})") from None
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise KeyFileError(f"{name}: expected 64 hex characters (32 bytes), found a non-ASCII byte") from None
    return parse_key(text, name)
