"""ArduPilot ``.parm`` parameter files.

One parameter per line, ``NAME VALUE`` (whitespace) or ``NAME,VALUE``
(Mission Planner's comma form); ``#`` starts a comment; blank lines are
ignored.  Names are MAVLink param ids: 1..16 characters of letters, digits
and ``_``.  Values are written in the shortest form that reads back as the
same float32, which is what the wire carries.
"""
from __future__ import annotations

import math
import re
import struct
from pathlib import Path

from edgepilot.gcs.errors import FileFormatError, read_text_file
from edgepilot.gcs.fileio import atomic_write_text

NAME_RE = re.compile(r"^[A-Za-z0-9_]{1,16}$")
#: Largest .parm file read (checked before reading): ArduPilot has about
#: 1500 parameters, some 40 kB; 8 MiB leaves room for any comments.
MAX_FILE_BYTES = 8 * 2**20


def parse_parm(text: str, path: str | Path = "<params>") -> dict[str, float]:
    """Returns name -> value in file order; raises FileFormatError naming the line."""
    out: dict[str, float] = {}
    first_line: dict[str, int] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        s = raw.split("#", 1)[0].strip()
        if not s:
            continue
        parts = [p for p in re.split(r"[,\s]+", s) if p]
        if len(parts) != 2:
            raise FileFormatError(path, lineno, f"expected 'NAME VALUE', got {s!r}")
        name, tok = parts
        if not NAME_RE.match(name):
            raise FileFormatError(path, lineno, f"parameter name {name!r} is not 1-16 letters, digits or '_'")
        try:
            value = float(tok)
        except ValueError:
            raise FileFormatError(path, lineno, f"{name}: value {tok!r} is not a number") from None
        if not math.isfinite(value):
            raise FileFormatError(path, lineno, f"{name}: value {tok!r} is not a finite number")
        if name in out:
            raise FileFormatError(path, lineno, f"{name} is set again (first set on line {first_line[name]})")
        out[name] = value
        first_line[name] = lineno
    return out


def float32(v: float) -> float:
    return struct.unpack("<f", struct.pack("<f", v))[0]


def format_value(v: float) -> str:
    """Shortest decimal text that reads back as the same float32."""
    if float(v).is_integer() and abs(v) < 1e9:
        return str(int(v))
    f32 = float32(v)
    for digits in range(1, 10):
        s = f"{f32:.{digits}g}"
        if float32(float(s)) == f32:
            return s
    return repr(f32)


def format_parm(params: dict[str, float], header: str | None = None) -> str:
    lines = [f"# {line}" for line in (header or "").splitlines()]
    width = max((len(n) for n in params), default=0)
    lines += [f"{n:<{width}} {format_value(v)}" for n, v in sorted(params.items())]
    return "\n".join(lines) + "\n"


def load_parm(path: str | Path) -> dict[str, float]:
    p, text = read_text_file(path, MAX_FILE_BYTES, "parameter file")
    return parse_parm(text, p)


def save_parm(params: dict[str, float], path: str | Path, header: str | None = None) -> None:
    atomic_write_text(path, format_parm(params, header))
