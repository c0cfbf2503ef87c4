"""Bracket-nesting scan shared by the JSON (``edgepilot.gcs.formats``) and
TOML (``edgepilot.vehicle.config``) readers.  Standard library only and
imports nothing of edgepilot, so every layer may use it."""
from __future__ import annotations


def line_of_depth(blank: str, limit: int) -> int:
    """Line (1-based) of the first ``[`` or ``{`` that opens nesting level
    ``limit + 1`` in ``blank`` — text whose strings and comments the caller
    has already blanked out, keeping its newlines.  Linear time; returns the
    last line when no bracket goes that deep."""
    depth = 0
    line = 1
    for c in blank:
        if c == "\n":
            line += 1
        elif c in "[{":
            depth += 1
            if depth > limit:
                return line
        elif c in "]}":
            depth -= 1
    return line
