"""The vehicle-to-vehicle task auction on the wire: ``CbbaMessage`` <-> our
MAVLink dialect's EDGEPILOT_TASK_BID / _TASK_CLAIM / _FLEET_HEARD messages
(docs/fleet_dialect.md), plus task announcements and completions.

A CBBA view of T tasks and V vehicles is ceil(T/32) TASK_BID, one or more
TASK_CLAIM and ceil(V/16) FLEET_HEARD messages, all with the view's
``time_usec``; ``ViewAssembler`` collects them per sender and hands back
the ``CbbaMessage`` when a view is complete (an incomplete view, because
a part was lost, is simply superseded by the sender's next one).

Agents are vehicle indices in the auction; on the wire they are MAVLink
system ids: ``sysids[agent]``.  Fleet time is seconds (the same clock
every vehicle uses, GPS time on real vehicles); on the wire microseconds.
Signing is the link's business (``mavlink.signing.configure``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgepilot.firmware_bridge.mavlink import dialects
from edgepilot.vehicle.fleet.cbba import NONE, CbbaMessage
from edgepilot.vehicle.fleet.tasks import TaskWork, task_work
from edgepilot.vehicle.fleet.threats import Alert

BIDS_PER_MSG = 32
ROUTE_PER_MSG = 48
HEARD_PER_MSG = 16
RESULT_DONE = 0
RESULT_CANCELLED = 1


KINDS = ("visit", "search", "deliver", "shadow", "hold")       # EDGEPILOT_TASK_KIND values
DOMAINS = ("any", "land", "water")                             # EDGEPILOT_TASK_DOMAIN values
THREATS = ("ais_dark", "ais_mismatch", "zone_cpa", "restricted_entry")   # EDGEPILOT_THREAT_KIND values


@dataclass(frozen=True)
class AnnouncedTask:
    """A task as EDGEPILOT_TASK_ANNOUNCE carries it: enough to price it
    (``work``), not its full geometry (a search area travels as its entry
    point and coverage length; its exit is taken to be its entry)."""

    index: int
    count: int
    id: str
    kind: str
    domain: str
    priority: float
    work: TaskWork


def _usec(t: float) -> int:
    return 0 if not math.isfinite(t) or t <= 0 else int(round(t * 1e6))


def _sec(u: int) -> float:
    return -math.inf if u == 0 else u / 1e6


@dataclass
class FleetCodec:
    """Encoding for one plan: ``sysids[i]`` is auction agent i's system id,
    ``n_tasks`` the plan's task count, ``plan_id`` tells plans apart."""

    sysids: tuple[int, ...]
    n_tasks: int
    plan_id: int = 1

    def __post_init__(self):
        self.sysids = tuple(int(s) for s in self.sysids)
        if len(set(self.sysids)) != len(self.sysids) or not all(1 <= s <= 255 for s in self.sysids):
            raise ValueError(f"sysids must be distinct system ids 1..255, got {list(self.sysids)}")
        self.agent_of = {s: i for i, s in enumerate(self.sysids)}
        self.mod = dialects.load()

    # --------------------------------------------------------------- encode
    def encode(self, m: CbbaMessage) -> list:
        """The MAVLink messages of one CBBA view (pack them with the
        sender's MAVLink object, which signs them)."""
        M = self.mod
        T, V = self.n_tasks, len(self.sysids)
        t = _usec(m.sent_at)
        out = []
        for first in range(0, T, BIDS_PER_MSG):
            n = min(BIDS_PER_MSG, T - first)
            sl = slice(first, first + n)
            win = [self.sysids[z] if z >= 0 else 0 for z in m.winner[sl]] + [0] * (BIDS_PER_MSG - n)
            bid = [float(b) for b in m.bid[sl]] + [0.0] * (BIDS_PER_MSG - n)
            known = sum(1 << q for q, k in enumerate(m.known[sl]) if k)
            done = sum(1 << q for q, d in enumerate(m.done[sl]) if d)
            out.append(M.MAVLink_edgepilot_task_bid_message(t, self.plan_id, known, done, bid, first, T, n, win))
        route = list(m.route)
        parts = math.ceil(len(route) / ROUTE_PER_MSG)
        for p in range(max(parts, 1)):
            chunk = route[p * ROUTE_PER_MSG:(p + 1) * ROUTE_PER_MSG]
            out.append(M.MAVLink_edgepilot_task_claim_message(
                t, self.plan_id, chunk + [0] * (ROUTE_PER_MSG - len(chunk)), len(chunk), p, parts))
        hparts = math.ceil(V / HEARD_PER_MSG)
        for p in range(hparts):
            ids = list(range(p * HEARD_PER_MSG, min(V, (p + 1) * HEARD_PER_MSG)))
            pad = HEARD_PER_MSG - len(ids)
            out.append(M.MAVLink_edgepilot_fleet_heard_message(
                t, [_usec(m.heard[i]) for i in ids] + [0] * pad, self.plan_id,
                [self.sysids[i] for i in ids] + [0] * pad, len(ids), p, hparts))
        return out

    def complete(self, task: int, by_sysid: int, now: float, result: int = RESULT_DONE):
        return self.mod.MAVLink_edgepilot_task_complete_message(_usec(now), self.plan_id, task, by_sysid, result)

    def announce(self, task, index: int, now: float):
        """EDGEPILOT_TASK_ANNOUNCE for a task-file task (``tasks.py`` model)."""
        w = task_work(task)
        p = [0.0, 0.0, 0.0, 0.0]
        if task.kind == "visit":
            p[0] = task.service_s
        elif task.kind == "search":
            p[:2] = [task.swath, w.work_m]
        elif task.kind == "deliver":
            p = [task.load_kg, w.window[0], w.window[1], task.service_s]
        elif task.kind == "shadow":
            p[:2] = [task.standoff_m, task.duration_s]
        else:
            p[:2] = [task.duration_s, task.radius_m]
        return self.mod.MAVLink_edgepilot_task_announce_message(
            _usec(now), self.plan_id, float(w.entry[0]), float(w.entry[1]), float(task.priority),
            float(p[0]), float(p[1]), float(p[2]), float(p[3]), index, self.n_tasks, KINDS.index(task.kind),
            DOMAINS.index(task.domain), task.id.encode()[:32])

    def read_announce(self, msg) -> AnnouncedTask:
        """The task an EDGEPILOT_TASK_ANNOUNCE describes; ValueError names a bad field."""
        if msg.kind >= len(KINDS):
            raise ValueError(f"EDGEPILOT_TASK_ANNOUNCE: kind {msg.kind} is not an EDGEPILOT_TASK_KIND")
        if msg.domain >= len(DOMAINS):
            raise ValueError(f"EDGEPILOT_TASK_ANNOUNCE: domain {msg.domain} is not an EDGEPILOT_TASK_DOMAIN")
        if msg.task_index >= msg.task_count:
            raise ValueError(f"EDGEPILOT_TASK_ANNOUNCE: task_index {msg.task_index} >= task_count {msg.task_count}")
        kind = KINDS[msg.kind]
        e = np.array([msg.x, msg.y], dtype=np.float64)
        work_m, dwell, load, window = 0.0, 0.0, 0.0, (0.0, math.inf)
        if kind == "visit":
            dwell = msg.param1
        elif kind == "search":
            work_m = msg.param2
        elif kind == "deliver":
            load, window, dwell = msg.param1, (float(msg.param2), float(msg.param3)), msg.param4
        else:                                   # shadow: duration in param2; hold: in param1
            dwell = msg.param2 if kind == "shadow" else msg.param1
        tid = msg.task_id.decode(errors="replace") if isinstance(msg.task_id, bytes) else str(msg.task_id)
        return AnnouncedTask(msg.task_index, msg.task_count, tid.rstrip("\0"), kind, DOMAINS[msg.domain],
                             float(msg.priority), TaskWork(e, e.copy(), float(work_m), float(dwell),
                                                           float(load), window))

    def alert(self, a: Alert):
        """EDGEPILOT_THREAT_ALERT for a threat alert (send a.text() as STATUSTEXT beside it)."""
        return self.mod.MAVLink_edgepilot_threat_alert_message(
            _usec(a.t), a.mmsi or 0, a.track_id or 0, float(a.x), float(a.y), float(a.score),
            THREATS.index(a.kind), (a.zone or "").encode()[:16], "; ".join(a.reasons).encode()[:100])

    def read_alert(self, msg) -> Alert:
        if msg.kind >= len(THREATS):
            raise ValueError(f"EDGEPILOT_THREAT_ALERT: kind {msg.kind} is not an EDGEPILOT_THREAT_KIND")

        def text(v):
            return (v.decode(errors="replace") if isinstance(v, bytes) else str(v)).rstrip("\0")
        reasons = tuple(r for r in text(msg.reasons).split("; ") if r)
        return Alert(THREATS[msg.kind], float(msg.score), reasons, float(msg.x), float(msg.y),
                     msg.track_id or None, msg.mmsi or None, text(msg.zone) or None, _sec(msg.time_usec))

    def read_complete(self, msg) -> tuple[int, int | None, int]:
        """(task index, the auction agent that did it or None, result) of an
        EDGEPILOT_TASK_COMPLETE."""
        if msg.task_index >= self.n_tasks:
            raise ValueError(f"EDGEPILOT_TASK_COMPLETE: task_index {msg.task_index} beyond the plan's {self.n_tasks}")
        return msg.task_index, self.agent_of.get(msg.completed_by), msg.result


class ViewAssembler:
    """Collects the parts of each sender's views; ``add`` returns a
    ``CbbaMessage`` when one is complete.  Messages of other plans, from
    unknown systems, or describing more tasks than the plan has are
    refused with ValueError naming the message and field."""

    def __init__(self, codec: FleetCodec):
        self.codec = codec
        self._views: dict[tuple[int, int], dict] = {}
        self._newest: dict[int, int] = {}

    def add(self, msg, src_sysid: int | None = None) -> CbbaMessage | None:
        c = self.codec
        name = msg.get_type()
        if name not in ("EDGEPILOT_TASK_BID", "EDGEPILOT_TASK_CLAIM", "EDGEPILOT_FLEET_HEARD"):
            return None
        if msg.plan_id != c.plan_id:
            return None
        src = msg.get_srcSystem() if src_sysid is None else src_sysid
        if src not in c.agent_of:
            raise ValueError(f"{name} from system {src}, which is not in the fleet {list(c.sysids)}")
        if msg.time_usec < self._newest.get(src, 0):
            return None                                    # part of a view already superseded
        key = (src, msg.time_usec)
        v = self._views.setdefault(key, {"bids": {}, "claims": {}, "claim_parts": None, "heard": {},
                                         "heard_parts": None})
        T = c.n_tasks
        if name == "EDGEPILOT_TASK_BID":
            if msg.task_count != T or msg.first_task + msg.count > T or not 1 <= msg.count <= BIDS_PER_MSG:
                raise ValueError(f"EDGEPILOT_TASK_BID from system {src}: first_task {msg.first_task} + count "
                                 f"{msg.count} of task_count {msg.task_count}, the plan has {T} tasks")
            v["bids"][msg.first_task] = msg
        elif name == "EDGEPILOT_TASK_CLAIM":
            if any(r >= T for r in msg.route[:msg.count]):
                raise ValueError(f"EDGEPILOT_TASK_CLAIM from system {src}: route {list(msg.route[:msg.count])} "
                                 f"names a task beyond the plan's {T}")
            v["claims"][msg.part] = list(msg.route[:msg.count])
            v["claim_parts"] = msg.parts
        else:
            v["heard"][msg.part] = msg
            v["heard_parts"] = msg.parts
        need_bids = math.ceil(T / BIDS_PER_MSG)
        if (len(v["bids"]) < need_bids or v["heard_parts"] is None or len(v["heard"]) < v["heard_parts"]
                or v["claim_parts"] is None or len(v["claims"]) < max(v["claim_parts"], 1)):
            return None
        del self._views[key]
        self._newest[src] = msg.time_usec
        for k in [k for k in self._views if k[0] == src and k[1] <= msg.time_usec]:
            del self._views[k]
        return self._build(src, msg.time_usec, v)

    def _build(self, src: int, t_usec: int, v: dict) -> CbbaMessage:
        c = self.codec
        T, V = c.n_tasks, len(c.sysids)
        winner = np.full(T, NONE, dtype=np.int64)
        bid = np.zeros(T)
        known = np.zeros(T, bool)
        done = np.zeros(T, bool)
        for first, b in v["bids"].items():
            for q in range(b.count):
                j = first + q
                s = b.winner[q]
                winner[j] = c.agent_of.get(s, NONE) if s else NONE
                bid[j] = b.bid[q]
                known[j] = bool(b.known >> q & 1)
                done[j] = bool(b.done >> q & 1)
        heard = np.full(V, -np.inf)
        for h in v["heard"].values():
            for q in range(h.count):
                a = c.agent_of.get(h.sysid[q])
                if a is not None:
                    heard[a] = _sec(h.heard_usec[q])
        route = tuple(r for p in sorted(v["claims"]) for r in v["claims"][p])
        return CbbaMessage(c.agent_of[src], _sec(t_usec), winner, bid, heard, known, done, route)


# ------------------------------------------------------------------ task files
#: Bytes of a task file one EDGEPILOT_TASK_FILE carries.
TASK_FILE_CHUNK = 200
#: EDGEPILOT_TASK_FILE_FLAGS: arm and run the share as soon as it settles.
TASK_FILE_START = 1
#: Largest compressed task file accepted [bytes] (a few hundred tasks).
TASK_FILE_MAX = 256 * 1024


def plan_id_of(blob: bytes) -> int:
    """The plan id of a compressed task file: its CRC-32, never 0 or 1 (1 is
    the lockstep runner's single plan)."""
    import zlib

    p = zlib.crc32(blob) & 0xFFFFFFFF
    return p if p > 1 else p + 2


def task_file_messages(text: str, *, target_system: int = 0, flags: int = 0,
                       plan_id: int | None = None) -> list:
    """The EDGEPILOT_TASK_FILE messages of a task file's TOML ``text``
    (compressed; ``plan_id`` defaults to :func:`plan_id_of` the blob)."""
    import zlib

    blob = zlib.compress(text.encode("utf-8"), 9)
    if len(blob) > TASK_FILE_MAX:
        raise ValueError(f"task file: {len(blob)} bytes compressed, more than the {TASK_FILE_MAX} a vehicle takes")
    pid = plan_id_of(blob) if plan_id is None else int(plan_id)
    crc = zlib.crc32(blob) & 0xFFFFFFFF
    M = dialects.load()
    out = []
    for off in range(0, len(blob), TASK_FILE_CHUNK):
        part = blob[off:off + TASK_FILE_CHUNK]
        out.append(M.MAVLink_edgepilot_task_file_message(pid, len(blob), crc, off, target_system, 0, len(part),
                                                         flags, list(part) + [0] * (TASK_FILE_CHUNK - len(part))))
    return out


@dataclass(frozen=True)
class TaskFileReceived:
    plan_id: int
    text: str
    flags: int
    messages: tuple = ()          # the parts, to repeat to others


class TaskFileAssembler:
    """Collects EDGEPILOT_TASK_FILE parts; ``add`` returns the file when its
    last missing byte arrives and the CRC matches (ValueError for a part
    that contradicts the file's others or is out of bounds, naming the field)."""

    def __init__(self):
        self._parts: dict[int, dict] = {}
        self.done: set[int] = set()

    def add(self, msg) -> TaskFileReceived | None:
        import zlib

        pid = msg.plan_id
        if pid in self.done:
            return None
        if not 0 < msg.size <= TASK_FILE_MAX:
            raise ValueError(f"EDGEPILOT_TASK_FILE: size {msg.size} is not in 1..{TASK_FILE_MAX}")
        if not 1 <= msg.count <= TASK_FILE_CHUNK or msg.offset + msg.count > msg.size:
            raise ValueError(f"EDGEPILOT_TASK_FILE: offset {msg.offset} + count {msg.count} beyond size {msg.size}")
        st = self._parts.setdefault(pid, {"size": msg.size, "crc": msg.crc32, "flags": msg.flags, "data": {},
                                          "msgs": {}})
        if (st["size"], st["crc"]) != (msg.size, msg.crc32):
            raise ValueError(f"EDGEPILOT_TASK_FILE: plan {pid}: size/crc32 {msg.size}/{msg.crc32} differ from "
                             f"its earlier parts' {st['size']}/{st['crc']}")
        st["data"][msg.offset] = bytes(msg.data[:msg.count])
        st["msgs"][msg.offset] = msg
        have = sum(len(b) for b in st["data"].values())
        if have < st["size"]:
            return None
        blob = b"".join(st["data"][k] for k in sorted(st["data"]))
        del self._parts[pid]
        if len(blob) != st["size"] or zlib.crc32(blob) & 0xFFFFFFFF != st["crc"]:
            raise ValueError(f"EDGEPILOT_TASK_FILE: plan {pid}: the parts do not make a file of the CRC-32 sent")
        self.done.add(pid)
        text = zlib.decompress(blob).decode("utf-8")
        return TaskFileReceived(pid, text, st["flags"], tuple(st["msgs"][k] for k in sorted(st["msgs"])))


# ------------------------------------------------------------------ leases
LEASES_PER_MSG = 16


def encode_leases(codec: FleetCodec, view) -> list:
    """EDGEPILOT_TASK_LEASE messages for every granter table a
    ``vehicle.fleet.lease.LeaseView`` knows (its own and relayed ones)."""
    M = codec.mod
    T = codec.n_tasks
    out = []
    for g in range(len(codec.sysids)):
        if not math.isfinite(view.issued[g]):
            continue
        t = _usec(view.issued[g])
        for first in range(0, T, LEASES_PER_MSG):
            n = min(LEASES_PER_MSG, T - first)
            hold = view.holder[g, first:first + n]
            until = view.until[g, first:first + n]
            who = [codec.sysids[h] if h >= 0 else 0 for h in hold] + [0] * (LEASES_PER_MSG - n)
            exp = [_usec(u) if h >= 0 else 0 for h, u in zip(hold, until)] + [0] * (LEASES_PER_MSG - n)
            out.append(M.MAVLink_edgepilot_task_lease_message(t, exp, codec.plan_id, first, T,
                                                             codec.sysids[g], n, who))
    return out


class LeaseAssembler:
    """Collects the parts of granters' lease tables; ``add`` returns
    ``(granter agent, issued [s], holder (T,), until (T,))`` when a table
    is complete.  A message of another plan is ignored; one naming a system
    outside the fleet or tasks beyond the plan is refused with ValueError."""

    def __init__(self, codec: FleetCodec):
        self.codec = codec
        self._parts: dict[tuple[int, int], dict[int, object]] = {}
        self._newest: dict[int, int] = {}

    def add(self, msg):
        c = self.codec
        if msg.get_type() != "EDGEPILOT_TASK_LEASE" or msg.plan_id != c.plan_id:
            return None
        T = c.n_tasks
        if msg.granter not in c.agent_of:
            raise ValueError(f"EDGEPILOT_TASK_LEASE: granter {msg.granter} is not in the fleet {list(c.sysids)}")
        if msg.task_count != T or msg.first_task + msg.count > T or not 1 <= msg.count <= LEASES_PER_MSG:
            raise ValueError(f"EDGEPILOT_TASK_LEASE from granter {msg.granter}: first_task {msg.first_task} + "
                             f"count {msg.count} of task_count {msg.task_count}, the plan has {T} tasks")
        bad = [h for h in msg.holder[:msg.count] if h and h not in c.agent_of]
        if bad:
            raise ValueError(f"EDGEPILOT_TASK_LEASE from granter {msg.granter}: holder {bad[0]} is not in the "
                             f"fleet {list(c.sysids)}")
        g = msg.granter
        if msg.time_usec <= self._newest.get(g, 0):
            return None                          # this table or a newer one was already complete
        key = (g, msg.time_usec)
        parts = self._parts.setdefault(key, {})
        parts[msg.first_task] = msg
        if len(parts) < math.ceil(T / LEASES_PER_MSG):
            return None
        del self._parts[key]
        self._newest[g] = msg.time_usec
        for k in [k for k in self._parts if k[0] == g and k[1] <= msg.time_usec]:
            del self._parts[k]
        holder = np.full(T, NONE, np.int64)
        until = np.full(T, -np.inf)
        for first, m in parts.items():
            for q in range(m.count):
                h = m.holder[q]
                if h:
                    holder[first + q] = c.agent_of[h]
                    until[first + q] = _sec(m.until_usec[q])
        return c.agent_of[g], _sec(msg.time_usec), holder, until


# ------------------------------------------------------------------ operator cancel
#: EDGEPILOT_TASK_CANCEL_RESULT values, in the XML's order.
CANCEL_ACCEPTED, CANCEL_UNKNOWN_PLAN, CANCEL_UNKNOWN_TASK, CANCEL_ALREADY_DONE, CANCEL_BAD_ID = range(5)
CANCEL_RESULTS = ("accepted", "unknown_plan", "unknown_task", "already_done", "bad_id")
#: task_index of an EDGEPILOT_TASK_CANCEL_ACK naming no task of the plan.
NO_TASK_INDEX = 65535
_TASK_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-")


def task_id_problem(task_id: str) -> str:
    """Why ``task_id`` cannot be a task file's task id ("" when it can):
    1..32 characters of A-Z a-z 0-9 _ . : - (``vehicle.fleet.tasks``)."""
    if not task_id:
        return "a task id is 1..32 characters, got an empty one"
    if len(task_id.encode("utf-8")) > 32:
        return f"task id {task_id!r} is longer than 32 characters"
    bad = sorted(set(task_id) - _TASK_ID_CHARS)
    if bad:
        return f"task id {task_id!r} has {''.join(bad)!r}: expected only A-Z a-z 0-9 _ . : -"
    return ""


def _text(v) -> str:
    return (v.decode("utf-8", "replace") if isinstance(v, (bytes, bytearray)) else str(v)).rstrip("\0")


def cancel_message(plan_id: int, task_id: str, target_system: int = 0, now: float = 0.0):
    """EDGEPILOT_TASK_CANCEL: the operator cancels ``task_id`` of plan ``plan_id``."""
    return dialects.load().MAVLink_edgepilot_task_cancel_message(_usec(now), int(plan_id), int(target_system), 0,
                                                                 task_id.encode("utf-8")[:32])


def cancel_ack_message(plan_id: int, task_id: str, result: int, task_index: int = NO_TASK_INDEX,
                       completed_by: int = 0):
    """EDGEPILOT_TASK_CANCEL_ACK answering a cancel of ``task_id``."""
    return dialects.load().MAVLink_edgepilot_task_cancel_ack_message(int(plan_id), int(task_index), int(result),
                                                                     int(completed_by),
                                                                     task_id.encode("utf-8", "replace")[:32])


def read_task_id(msg) -> str:
    """The task_id of an EDGEPILOT_TASK_CANCEL / _CANCEL_ACK as text."""
    return _text(msg.task_id)


#: EDGEPILOT_ROUTE_AHEAD carries at most this many points (the sender's position first)
ROUTE_POINTS_PER_MSG = 12
#: The fastest planned speed a route may carry [m/s] (a faster one is not a boat of ours: refused)
ROUTE_MAX_SPEED = 30.0


def route_ahead_message(mmsi: int, now: float, lat, lon, speed: float):
    """EDGEPILOT_ROUTE_AHEAD (47110) of a boat at fleet time ``now`` [s]:
    her route ahead in WGS84 degrees (her position first; at most
    ``ROUTE_POINTS_PER_MSG`` points, none when she follows no route) and
    the speed she plans along it [m/s]."""
    lat, lon = list(lat), list(lon)
    if len(lat) != len(lon) or len(lat) > ROUTE_POINTS_PER_MSG:
        raise ValueError(f"a route ahead is at most {ROUTE_POINTS_PER_MSG} (lat, lon) points, "
                         f"got {len(lat)} latitudes and {len(lon)} longitudes")
    if not (0 < int(mmsi) < 1 << 32):
        raise ValueError(f"mmsi must be a 9-digit MMSI (1..2^32-1), got {mmsi}")
    if lat and not (math.isfinite(speed) and 0.0 <= speed <= ROUTE_MAX_SPEED):
        raise ValueError(f"speed must be a number in 0..{ROUTE_MAX_SPEED:g} m/s, got {speed}")
    n = len(lat)
    pad = [0] * (ROUTE_POINTS_PER_MSG - n)
    la = [int(round(v * 1e7)) for v in lat] + pad
    lo = [int(round(v * 1e7)) for v in lon] + pad
    return dialects.load().MAVLink_edgepilot_route_ahead_message(
        _usec(now), int(mmsi), float(speed) if n else 0.0, la, lo, n)


def read_route_ahead(msg) -> tuple[int, float, np.ndarray, np.ndarray, float]:
    """(mmsi, fleet time [s], lat, lon [deg] arrays, speed [m/s]) of an
    EDGEPILOT_ROUTE_AHEAD.  ValueError names the field and what was
    expected when the message cannot be a route: count beyond
    ``ROUTE_POINTS_PER_MSG``, no MMSI, no time, a speed that is not a
    number in 0..``ROUTE_MAX_SPEED`` m/s, a point off the globe."""
    n = int(msg.count)
    who = f"EDGEPILOT_ROUTE_AHEAD from MMSI {int(msg.mmsi)}"
    if n > ROUTE_POINTS_PER_MSG:
        raise ValueError(f"{who}: count {n} is more than {ROUTE_POINTS_PER_MSG} points")
    if int(msg.mmsi) == 0:
        raise ValueError("EDGEPILOT_ROUTE_AHEAD: mmsi 0: expected the sender's AIS MMSI")
    if int(msg.time_usec) == 0:
        raise ValueError(f"{who}: time_usec 0: expected the fleet time the sender was at point 0")
    speed = float(msg.speed)
    if not (math.isfinite(speed) and 0.0 <= speed <= ROUTE_MAX_SPEED):
        raise ValueError(f"{who}: speed {speed:g} m/s: expected a number in 0..{ROUTE_MAX_SPEED:g} m/s")
    lat = np.asarray(msg.lat[:n], np.float64) * 1e-7
    lon = np.asarray(msg.lon[:n], np.float64) * 1e-7
    bad = np.flatnonzero((np.abs(lat) > 90.0) | (np.abs(lon) > 180.0))
    if len(bad):
        k = int(bad[0])
        raise ValueError(f"{who}: point {k} at lat {lat[k]:.7f}, lon {lon[k]:.7f}: expected -90..90, -180..180 deg")
    return int(msg.mmsi), _sec(msg.time_usec), lat, lon, speed
