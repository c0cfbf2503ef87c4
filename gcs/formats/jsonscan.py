"""JSON reading shared by the ``.plan`` mission and fence parsers.

Both run in time linear in the file size and refuse nesting deeper than
:data:`MAX_DEPTH` before the recursive decoder sees it (a hostile
``[[[[...]]]]`` would otherwise end in a RecursionError):

* :func:`load_json` — the decoded document, or FileFormatError naming the
  line of the JSON error / of the first too-deep bracket;
* :func:`array_item_lines` — the line on which each element of an array
  starts (for error messages such as ``mission.items[7], line 88``),
  counting newlines incrementally instead of from the start of the text
  for every element.
"""
from __future__ import annotations

import json
import re
from itertools import accumulate
from pathlib import Path

from edgepilot.gcs.errors import FileFormatError
from edgepilot.nesting import line_of_depth

#: Deepest nesting of arrays/objects accepted.  A QGroundControl ``.plan``
#: is 5 deep (plan > mission > items > item > params); 64 leaves room for
#: any extension without letting the decoder's recursion anywhere near
#: Python's limit.
MAX_DEPTH = 64

# A JSON string (no raw newline inside, so the line count is kept when it is
# blanked); whatever is not a string or a bracket is dropped before counting.
# The pattern matches at every quote, also an unterminated string (up to the
# line end), and its body is possessive: a regex that could fail there would
# be retried at each later quote, quadratic in a line of escaped quotes.
_STRING = re.compile(r'"(?:[^"\\\n]|\\[^\n])*+(?:"|\\?(?=\n|\Z))')
_BRACKETS_ONLY = {c: None for c in range(128)}
for _c in "[]{}":
    del _BRACKETS_ONLY[ord(_c)]
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def max_depth(text: str) -> int:
    """Deepest array/object nesting in ``text`` (strings ignored), linear time."""
    brackets = _STRING.sub('""', text).translate(_BRACKETS_ONLY)
    brackets = "".join(c for c in brackets if c in _STEP) if not brackets.isascii() else brackets
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def _line_of_depth(text: str, limit: int) -> int:
    """Line of the first bracket that opens nesting level ``limit + 1``
    (only called for a file already known to be too deep)."""
    return line_of_depth(_STRING.sub('""', text), limit)


def load_json(text: str, path: str | Path, limit: int = MAX_DEPTH):
    """``json.loads(text)`` with the nesting checked first."""
    if max_depth(text) > limit:
        raise FileFormatError(path, _line_of_depth(text, limit),
                              f"JSON nested more than {limit} levels deep (a .plan needs 5); refused")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise FileFormatError(path, e.lineno, f"not valid JSON: {e.msg} (column {e.colno})") from None


def array_item_lines(text: str, keys: tuple[str, ...]) -> list[int]:
    """Line numbers where each element of the array under ``keys`` starts.

    Best effort, for error messages: each key is found as the next
    ``"key"`` after the previous one, then the elements of the ``[`` that
    follows are skipped one by one with the decoder.  Call only after
    :func:`load_json` accepted the text (valid, bounded depth)."""
    pos = 0
    for k in keys:
        pos = text.find(f'"{k}"', pos)
        if pos < 0:
            return []
        pos += len(k) + 2
    i = text.find("[", pos)
    if i < 0:
        return []
    dec = json.JSONDecoder()
    out: list[int] = []
    line, counted = 1, 0          # newlines in text[:counted] is line - 1
    i += 1
    n = len(text)
    while True:
        while i < n and text[i] in " \t\r\n,":
            i += 1
        if i >= n or text[i] == "]":
            return out
        line += text.count("\n", counted, i)
        counted = i
        out.append(line)
        try:
            _, i = dec.raw_decode(text, i)
        except ValueError:
            return out


__all__ = ["MAX_DEPTH", "array_item_lines", "load_json", "max_depth"]
