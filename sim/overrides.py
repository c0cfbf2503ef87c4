"""Scenario overrides: ``KEY=VALUE`` edits of a loaded scenario, validated.

A key is a dotted path into the scenario model, with ``[i]`` for list
items: ``start.x``, ``world.current``, ``faults[0].start_s``,
``traffic[1].behaviour``, ``criteria.max_time_s``.  Keys under
``vehicle.`` edit the vehicle file the scenario names
(``vehicle.sensors.gps.noise_m``).  Two more forms:

- ``LIST[+]`` appends an item: ``faults[+]={type="gps_dropout", start_s=12.5, duration_s=2.0}``;
- velocity vectors (``current``, ``wind``, ``velocity``: ``[east, north]``
  m/s) have polar views ``.speed`` [m/s] and ``.direction_deg`` (ENU,
  degrees CCW from east, the direction the flow goes to):
  ``world.current.speed=0.4``.

A VALUE is a TOML value (``0.25``, ``true``, ``[1.0, 2.0]``, an inline
table ``{a = 1}``, a quoted string); anything that does not parse as TOML
is taken as a bare string (``traffic[0].behaviour=colregs``).

Overrides apply, in order, to the validated scenario with all its defaults
filled in (so ``criteria.max_time_s`` can be set even where the file leaves
it out); the result is validated again.  A key the scenario does not have,
an index out of range or a value of the wrong type is refused with a
``ConfigError`` that names the key.  Floats are formatted with ``repr`` so a
printed command replays the exact same bits.
"""
from __future__ import annotations

import math
import re
import shlex
import tomllib
from dataclasses import dataclass
from typing import Any

from edgepilot.vehicle.config import ConfigError

#: Leaf names that are [east, north] velocity vectors and get polar views.
VECTOR_FIELDS = ("current", "wind", "velocity")
POLAR_KEYS = ("speed", "direction_deg")
APPEND = "+"

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_INDEX = r"\[(?:\d+|\+)\]"
_KEY_RE = re.compile(rf"{_NAME}(?:{_INDEX})*(?:\.(?:{_NAME}|\d+)(?:{_INDEX})*)*")
_TOKEN_RE = re.compile(rf"{_NAME}|\d+|{_INDEX}")


@dataclass(frozen=True)
class Override:
    """One ``key=value`` edit: ``key`` as written, ``value`` already parsed."""

    key: str
    value: Any

    @property
    def path(self) -> tuple:
        return parse_key(self.key)

    def to_arg(self) -> str:
        """``key=value`` text that parses back to exactly this override."""
        return f"{self.key}={format_value(self.value)}"


def parse_key(key: str) -> tuple:
    """``faults[0].start_s`` -> ``('faults', 0, 'start_s')``; a ``.N`` part
    is an index too (``faults.0.start_s``); ``[+]`` is ``APPEND``."""
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
        raise ConfigError(f"override key {key!r}: expected a dotted path such as start.x or faults[0].start_s")
    out = []
    for tok in _TOKEN_RE.findall(key):
        if tok.startswith("["):
            tok = tok[1:-1]
        out.append(APPEND if tok == APPEND else int(tok) if tok.isdigit() else tok)
    if APPEND in out[:-1]:
        raise ConfigError(f"override key {key!r}: [+] (append) must be the last part of the key")
    return tuple(out)


def format_key(path) -> str:
    out = ""
    for p in path:
        if isinstance(p, int) or p == APPEND:
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out


def parse_value(text: str) -> Any:
    """A TOML value, or the text itself as a string when it is not one."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def format_value(v: Any) -> str:
    """TOML text for ``v`` that ``parse_value`` reads back to an equal value
    (floats bit for bit)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        r = repr(v)
        return r if ("." in r or "e" in r or "n" in r) else r + ".0"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(format_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_format_table_key(k)} = {format_value(x)}" for k, x in v.items()) + "}"
    if v is None:
        raise ConfigError("override value None cannot be written in TOML")
    raise ConfigError(f"override value {v!r}: unsupported type {type(v).__name__}")


def _format_table_key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else format_value(str(k))


def parse_set(arg: str) -> Override:
    """``--set KEY=VALUE`` text -> Override (the key is checked for form)."""
    if "=" not in arg:
        raise ConfigError(f"--set {arg!r}: expected KEY=VALUE, e.g. start.x=4.5 or faults[0].start_s=12")
    key, text = arg.split("=", 1)
    key = key.strip()
    parse_key(key)
    return Override(key, parse_value(text.strip()))


def command_args(overrides) -> list[str]:
    """``--set`` arguments (unquoted) for ``overrides``."""
    out = []
    for o in overrides:
        out += ["--set", o.to_arg()]
    return out


def shell_join(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)


# ------------------------------------------------------------------ applying
def plain(obj):
    """Tuples to lists, recursively (model_dump keeps tuples)."""
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj


def _is_vector(node, name) -> bool:
    return (name in VECTOR_FIELDS and isinstance(node, list) and len(node) == 2
            and all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in node))


def apply_override(data: dict, ov: Override, what: str = "scenario", prefix: str = "") -> None:
    """Apply one override to plain model data in place; ``ConfigError``
    naming the key when the path does not exist in ``data``."""
    path = ov.path
    fk = lambda w: prefix + format_key(w)  # noqa: E731
    node: Any = data
    where: list = []
    for i, part in enumerate(path):
        last = i == len(path) - 1
        here = (fk(where) if where else what)
        if isinstance(node, dict):
            if not isinstance(part, str):
                raise ConfigError(f"{prefix}{ov.key}: {here} is a table, not a list (use .name, not [{part}])")
            if part not in node:
                keys = ", ".join(sorted(node)) or "none"
                raise ConfigError(f"{prefix}{ov.key}: {what} has no key {fk(where + [part])!r} "
                                  f"(keys of {here}: {keys})")
            if last:
                node[part] = ov.value
                return
            nxt = node[part]
            if nxt is None:
                raise ConfigError(f"{prefix}{ov.key}: {fk(where + [part])} is not set in this {what}: "
                                  f"set the whole table first ({fk(where + [part])}={{...}})")
            if isinstance(path[i + 1], str) and path[i + 1] in POLAR_KEYS and _is_vector(nxt, part) and i + 1 == len(path) - 1:
                _set_polar(nxt, path[i + 1], ov)
                return
            node, where = nxt, where + [part]
        elif isinstance(node, list):
            if part == APPEND:
                node.append(ov.value)
                return
            if not isinstance(part, int):
                raise ConfigError(f"{prefix}{ov.key}: {here} is a list: expected an index [0..{len(node) - 1}], got .{part}")
            if not 0 <= part < len(node):
                rng = f"0..{len(node) - 1}" if node else "none: the list is empty, append with [+]"
                raise ConfigError(f"{prefix}{ov.key}: index {part} is out of range for {here} (items: {rng})")
            if last:
                node[part] = ov.value
                return
            node, where = node[part], where + [part]
        else:
            raise ConfigError(f"{prefix}{ov.key}: {here} is a value ({node!r}), it has no {format_key([part])!r}")


def _set_polar(vec: list, which: str, ov: Override) -> None:
    v = ov.value
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ConfigError(f"{ov.key}: expected a finite number, got {v!r}")
    speed = math.hypot(vec[0], vec[1])
    direction = math.atan2(vec[1], vec[0]) if speed > 0 else 0.0
    if which == "speed":
        if v < 0:
            raise ConfigError(f"{ov.key}: speed must be >= 0, got {v!r}")
        speed = float(v)
    else:
        direction = math.radians(float(v))
    vec[0] = speed * math.cos(direction)
    vec[1] = speed * math.sin(direction)


def apply_overrides(data: dict, overrides, what: str = "scenario", prefix: str = "") -> dict:
    for ov in overrides:
        apply_override(data, ov, what, prefix)
    return data


def blame(loc: tuple, overrides) -> Override | None:
    """The last override whose key path leads to the error location ``loc``
    (pydantic inserts union tags into locations, so match as a subsequence)."""
    for ov in reversed(list(overrides)):
        path = [p for p in ov.path if p != APPEND]
        if path and path[-1] in POLAR_KEYS:
            path = path[:-1]
        it = iter(loc)
        if all(any(p == q for q in it) for p in path):
            return ov
    return None


def split_vehicle(overrides) -> tuple[list[Override], list[Override]]:
    """(scenario overrides, vehicle-config overrides with ``vehicle.`` stripped)."""
    scen, veh = [], []
    for ov in overrides:
        path = ov.path
        if path[0] == "vehicle" and len(path) > 1:
            veh.append(Override(format_key(path[1:]), ov.value))
        else:
            scen.append(ov)
    return scen, veh


def validate_overridden(model, obj, overrides, source, what: str, exclude=None):
    """``obj`` (a validated pydantic model) with ``overrides`` applied and
    validated again; errors name the file and the override key."""
    from pydantic import ValidationError

    data = plain(obj.model_dump(exclude=exclude))
    prefix = "vehicle." if what == "vehicle" else ""
    try:
        apply_overrides(data, overrides, what, prefix)
    except ConfigError as e:
        raise ConfigError(f"{source}: --set {e}") from None
    try:
        return model.model_validate(data)
    except ValidationError as err:
        lines = []
        for e in err.errors():
            loc = tuple(e["loc"])
            ov = blame(loc, overrides)
            name = f"--set {prefix}{ov.key}" if ov is not None else "(after overrides)"
            msg = "unknown key (check spelling)" if e["type"] == "extra_forbidden" else e["msg"]
            got = "" if e["type"] in ("missing", "extra_forbidden") else f" (got {e.get('input')!r})"
            lines.append(f"{source}: {name}: {prefix}{'.'.join(map(str, loc))}: {msg}{got}")
        raise ConfigError("\n".join(lines)) from None
