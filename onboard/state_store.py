"""Durable vehicle state: mission, fence, parameters and home survive a
process restart.

Every file is written atomically (temp file in the same folder, fsync,
rename, fsync of the folder — ``edgepilot.atomic``), so a
crash mid-write leaves the previous version intact.  Mission and fence are
JSON lists of MissionItem fields; home is JSON; parameters are the
``.parm`` file of ``onboard.param_file`` (its own CRC-32 header).  Each JSON file carries a
format version and a CRC-32 of its payload so a file damaged by something
other than our writer is refused, not half-loaded.

``EventLog`` appends one JSON line per core event and fsyncs at most once
a second: a crash loses at most the last second of events.
"""
from __future__ import annotations

import json
import math
import os
import zlib
from dataclasses import asdict, fields
from pathlib import Path

from edgepilot.atomic import atomic_write_text
from edgepilot.onboard.param_file import persisted_params
from edgepilot.vehicle.params import ParamStore
from edgepilot.vehicle.types import Event, GeoPoint, MissionItem, Severity
from edgepilot.vehicle.validation import check_plan

FORMAT = 1


class StateError(ValueError):
    """A state file exists but cannot be used; the message names it."""


def _dump(kind: str, payload) -> str:
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return json.dumps({"format": FORMAT, "kind": kind, "crc32": zlib.crc32(body.encode()), "payload": body}) + "\n"


#: Largest state file read (checked before reading): 65534 mission items as
#: JSON are about 10 MB.
MAX_STATE_BYTES = 64 * 2**20


def _load(path: Path, kind: str):
    size = path.stat().st_size
    if size > MAX_STATE_BYTES:
        raise StateError(f"{path}: {size} bytes; a {kind} state file is limited to {MAX_STATE_BYTES} bytes")
    try:
        doc = json.loads(path.read_text())
        body = doc["payload"]
        if doc.get("kind") != kind or doc.get("format") != FORMAT:
            raise StateError(f"{path}: not a {kind} state file of format {FORMAT}")
        if zlib.crc32(body.encode()) != doc["crc32"]:
            raise StateError(f"{path}: checksum mismatch (file damaged)")
        return json.loads(body)
    except RecursionError:
        raise StateError(f"{path}: unreadable {kind} state file: JSON nested too deeply") from None
    except (ValueError, KeyError, TypeError) as e:
        if isinstance(e, StateError):
            raise
        raise StateError(f"{path}: unreadable {kind} state file: {e}") from None


_ITEM_FIELDS = {f.name for f in fields(MissionItem)}
_ITEM_REQUIRED = ("seq", "command")


def _items_from(path: Path, payload) -> list[MissionItem]:
    """MissionItems from a decoded plan payload; every field must be a
    number (a hand edit putting a string where a number goes is refused
    with a StateError naming the file, the item and the field)."""
    if not isinstance(payload, list):
        raise StateError(f"{path}: expected a list of items, got {type(payload).__name__}")
    out = []
    for i, d in enumerate(payload):
        if not isinstance(d, dict):
            raise StateError(f"{path}: item {i}: expected an object of item fields, got {type(d).__name__}")
        unknown = sorted(set(d) - _ITEM_FIELDS)
        if unknown:
            raise StateError(f"{path}: item {i}: unknown field(s) {', '.join(map(str, unknown))}")
        missing = [k for k in _ITEM_REQUIRED if k not in d]
        if missing:
            raise StateError(f"{path}: item {i}: missing field(s) {', '.join(missing)}")
        for k, v in d.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise StateError(f"{path}: item {i}: field {k!r} must be a number, got "
                                 f"{type(v).__name__} {v!r}")
        out.append(MissionItem(**d))
    return out


class StateStore:
    """One folder of state files: mission.json, fence.json, home.json, params.parm."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._saved: dict[str, object] = {}
        self.dropped: list[str] = []    # plans restore() refused, each naming its file and why

    @property
    def params_path(self) -> Path:
        return self.folder / "params.parm"

    def params(self, cfg) -> ParamStore:
        """A ParamStore loading from and persisting to this folder."""
        return persisted_params(cfg, self.params_path)

    # ------------------------------------------------------------ items
    def save_items(self, kind: str, items) -> None:
        atomic_write_text(self.folder / f"{kind}.json", _dump(kind, [asdict(it) for it in items]))

    def load_items(self, kind: str) -> list[MissionItem] | None:
        p = self.folder / f"{kind}.json"
        if not p.exists():
            return None
        return _items_from(p, _load(p, kind))

    def save_home(self, home: GeoPoint | None) -> None:
        atomic_write_text(self.folder / "home.json", _dump("home", None if home is None else asdict(home)))

    def load_home(self) -> GeoPoint | None:
        p = self.folder / "home.json"
        if not p.exists():
            return None
        d = _load(p, "home")
        if d is None:
            return None
        if not isinstance(d, dict) or set(d) - {"lat", "lon", "alt"} or not {"lat", "lon"} <= set(d):
            raise StateError(f"{p}: expected an object with lat, lon and alt, got {d!r}")
        for k, v in d.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise StateError(f"{p}: field {k!r} must be a number, got {type(v).__name__} {v!r}")
        home = GeoPoint(**d)
        if not (math.isfinite(home.lat) and math.isfinite(home.lon) and math.isfinite(home.alt)
                and -90 <= home.lat <= 90 and -180 <= home.lon <= 180):
            raise StateError(f"{p}: home {home.lat}, {home.lon}, {home.alt} is not a valid position")
        return home

    # ------------------------------------------------------------ with a core
    def restore(self, core) -> list[str]:
        """Load saved mission, fence and home into ``core``; returns what
        was restored (for a boot STATUSTEXT)."""
        done = []
        self.dropped = []
        for kind, apply in (("mission", core.set_mission), ("fence", core.set_fence)):
            items = self.load_items(kind)
            if items:
                # The same table the MAVLink upload is checked against: an
                # item that fails it (a NaN DO_JUMP count saved by an older
                # version, a hand edit) drops the plan with an error; it is
                # never flown.  The file stays for the operator to inspect.
                path = self.folder / f"{kind}.json"
                bad = check_plan(items, fence=kind == "fence")
                reason = str(bad) if bad is not None else None
                if reason is None:
                    res = apply(items)
                    reason = None if res.ok else res.reason
                if reason is not None:
                    self.dropped.append(f"{path}: {kind} not restored (dropped, not flown): {reason}")
                    continue
                done.append(f"{kind} ({len(items)} items)")
        home = self.load_home()
        if home is not None:
            core.home = home
            done.append("home")
        self._saved = {"mission": core.mission, "fence": self._fence_items(core), "home": core.home}
        return done

    @staticmethod
    def _fence_items(core):
        return core.fence.items if core.fence is not None else ()

    def sync(self, core) -> list[str]:
        """Write whatever changed since the last call (cheap when nothing
        did: identity checks).  Call once per tick from the runtime loop."""
        wrote = []
        for kind, now in (("mission", core.mission), ("fence", self._fence_items(core))):
            if self._saved.get(kind) is not now:
                self.save_items(kind, now)
                self._saved[kind] = now
                wrote.append(kind)
        if self._saved.get("home") != core.home or "home" not in self._saved:
            self.save_home(core.home)
            self._saved["home"] = core.home
            wrote.append("home")
        return wrote


class EventLog:
    """Append-only JSON-lines log of core events, fsynced at most every
    ``sync_every_s`` seconds of the caller's clock (default 1 s).

    Call :meth:`tick` once per loop iteration as well: a record written
    just after a sync is otherwise held in the process's buffer until the
    next write, however long that takes; ``tick`` syncs it once
    ``sync_every_s`` has passed, so a crash loses at most that much."""

    def __init__(self, path: str | Path, sync_every_s: float = 1.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.path, "a", encoding="utf-8")
        self.sync_every_s = sync_every_s
        self._last_sync: float | None = None
        self._dirty = False

    def write(self, e: Event, now: float) -> None:
        rec = {"t": e.t, "kind": e.kind, "severity": int(e.severity), "text": e.text,
               "data": {k: v for k, v in e.data.items() if isinstance(v, (int, float, str, bool, type(None)))}}
        self._f.write(json.dumps(rec) + "\n")
        self._dirty = True
        self.maybe_sync(now)

    def maybe_sync(self, now: float) -> None:
        if self._last_sync is None or now - self._last_sync >= self.sync_every_s:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._last_sync = now
            self._dirty = False

    def tick(self, now: float) -> None:
        """Sync pending records once ``sync_every_s`` has passed (cheap otherwise)."""
        if self._dirty:
            self.maybe_sync(now)

    def close(self) -> None:
        if self._f.closed:
            return
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()

    @staticmethod
    def read(path: str | Path) -> list[dict]:
        """Every complete line; a torn last line (crash mid-append) is skipped."""
        out = []
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out


class Persistence:
    """Durable state for a running vehicle process (``edgepilot sitl run
    --realtime --state-dir``, ``edgepilot vehicle run``): one
    :class:`StateStore` folder holding mission, fence, home and params,
    plus ``events.jsonl`` (the core's event log).

    Wiring, in order: ``params()`` for the core's ParamStore (every PARAM_SET
    is written before PARAM_VALUE answers), ``restore(core)`` once the core
    exists, ``attach(endpoint)`` so a mission/fence upload is on disk before
    its MISSION_ACK, then ``tick(core, wall)`` once per loop iteration (home
    changes, events; ``wall`` a monotonic clock in seconds) and ``close()``.
    """

    def __init__(self, folder: str | Path, sync_every_s: float = 1.0):
        self.store = StateStore(folder)
        self.events = EventLog(self.store.folder / "events.jsonl", sync_every_s)
        self.restored: list[str] = []
        self._core = None
        self._cursor = 0

    @property
    def folder(self) -> Path:
        return self.store.folder

    def check(self) -> None:
        """Read every saved file once; raises StateError naming a damaged one."""
        self.store.load_items("mission")
        self.store.load_items("fence")
        self.store.load_home()

    def params(self, cfg, path: str | Path | None = None) -> ParamStore:
        """The core's ParamStore: persisted in the state folder (or ``path``)."""
        return persisted_params(cfg, path) if path else self.store.params(cfg)

    @property
    def dropped(self) -> list[str]:
        """Saved plans restore() refused (each names its file and the reason)."""
        return self.store.dropped

    def restore(self, core) -> list[str]:
        self._core = core
        self.restored = self.store.restore(core)
        # Events the core emitted while being restored are of this boot.
        _, self._cursor = core.events_since(0)
        for text in self.store.dropped:
            self.events.write(Event(core.now, "state_dropped", text, Severity.ERROR, {}), float("inf"))
        return self.restored

    def attach(self, endpoint) -> None:
        """Persist plans from the MAVLink mission service before it ACKs."""
        endpoint.mission.after_change.append(lambda: self.sync())

    def sync(self) -> list[str]:
        return self.store.sync(self._core) if self._core is not None else []

    def tick(self, core, wall: float) -> None:
        if self._core is None:
            self._core = core
        self.store.sync(core)
        evs, self._cursor = core.events_since(self._cursor)
        for e in evs:
            self.events.write(e, wall)
        self.events.tick(wall)

    def close(self) -> None:
        try:
            if self._core is not None:
                self.tick(self._core, float("inf"))
        finally:
            self.events.close()
