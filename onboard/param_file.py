"""The vehicle's persisted parameters: an ArduPilot-style ``.parm`` file with
an integrity check.

Format (any ground station that reads ``.parm`` reads it: ``#`` lines are
comments)::

    # edgepilot parameters crc32 1a2b3c4d
    BATT_CRT_PCT 10
    ...

The header's CRC-32 covers every byte after the header line.  A file cut
short anywhere (``WP_RADIUS 12.5`` -> ``WP_RADIUS 1``), or a header cut
itself, fails the check and the vehicle refuses to start, naming the file,
as it does for a damaged mission.  Writes are atomic (temp file, fsync,
rename, fsync of the folder: ``edgepilot.atomic``), so a crash mid-write
leaves the previous file.

A file without our header is one written by hand or by a ground station
(``--params FILE`` pointing at a saved ``.parm``): it is accepted, line by
line.  In both kinds every line must be ``NAME VALUE`` (space, tab or comma
between), the file UTF-8 text of at most :data:`MAX_BYTES`, and every value
finite and in its parameter's range; names this build does not know are
skipped (a parameter another version had).  Errors name the file and line.
"""
from __future__ import annotations

import logging
import math
import re
import zlib
from pathlib import Path

from edgepilot.atomic import atomic_write_text
from edgepilot.vehicle.config import VehicleConfig
from edgepilot.vehicle.params import ParamStore

log = logging.getLogger(__name__)

HEADER = "# edgepilot parameters crc32 "
#: Larger files are refused before they are read.
MAX_BYTES = 1 << 20
_HEADER_RE = re.compile(r"# edgepilot parameters crc32 ([0-9a-f]{8})\n")


class ParamFileError(ValueError):
    """A parameter file that cannot be used; the message names it."""


def format_params(items: list[tuple[str, float]]) -> str:
    body = "".join(f"{n} {v:.9g}\n" for n, v in items)
    return f"{HEADER}{zlib.crc32(body.encode('utf-8')):08x}\n{body}"


def save(store: ParamStore, path: str | Path) -> None:
    """Atomically write every parameter of ``store`` to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, format_params(store.items()))


def read_values(path: str | Path, store: ParamStore) -> dict[str, float]:
    """The values in the file at ``path``, checked against ``store``'s
    parameters (names it does not know skipped).  Raises ParamFileError."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise ParamFileError(f"{p}: {size} bytes, more than the {MAX_BYTES} a parameter file may have")
        data = p.read_bytes()
    except OSError as e:
        raise ParamFileError(f"{p}: cannot read the parameter file ({e.strerror or e})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ParamFileError(f"{p}: not a text parameter file: byte 0x{data[e.start]:02x} at offset {e.start} "
                             f"is not UTF-8") from None
    first = 1
    if text.startswith(HEADER[:12]) or (text and HEADER.startswith(text)):   # ours, perhaps cut short
        m = _HEADER_RE.match(text)
        if m is None:
            raise ParamFileError(f"{p}: damaged parameter file (its first line, the integrity header, is cut "
                                 f"or altered); restore it or delete it to start from the defaults")
        body = text[m.end():]
        if zlib.crc32(body.encode("utf-8")) != int(m.group(1), 16):
            raise ParamFileError(f"{p}: damaged parameter file (checksum mismatch: cut short or altered); "
                                 f"restore it or delete it to start from the defaults")
        text, first = body, 2
    if not text.strip() and first == 1:
        raise ParamFileError(f"{p}: empty parameter file; delete it to start from the defaults")
    values: dict[str, float] = {}
    for lineno, raw in enumerate(text.splitlines(), first):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.replace(",", " ").split()
        if len(parts) != 2:
            raise ParamFileError(f"{p}:{lineno}: expected 'NAME VALUE', got {raw.strip()[:60]!r}")
        name, sval = parts
        try:
            value = float(sval)
        except ValueError:
            raise ParamFileError(f"{p}:{lineno}: {name}: expected a number, got {sval[:30]!r}") from None
        if name not in store:
            log.warning("%s:%d: unknown parameter %s skipped", p, lineno, name)
            continue
        if not math.isfinite(value):
            raise ParamFileError(f"{p}:{lineno}: {name}: expected a finite number, got {sval[:30]}")
        reason = store.check(name, value)
        if reason is not None:
            raise ParamFileError(f"{p}:{lineno}: {reason}")
        values[name] = value
    return values


def persisted_params(cfg: VehicleConfig, path: str | Path) -> ParamStore:
    """A ParamStore restored from ``path`` (when it exists) whose every
    accepted change is written back before the setter returns."""
    store = ParamStore(cfg)
    path = Path(path)
    if path.exists():
        store.load(read_values(path, store))
    store.on_change.append(lambda s: save(s, path))
    return store
