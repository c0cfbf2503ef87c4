"""The ground station's fleet: every vehicle heard on one link or several,
its one-row status, the alert list, the central plan's missions uploaded
through the mission protocol and the tasks' progress from MISSION_CURRENT.

MAVLink only (like all of ``edgepilot.gcs``): any vehicle that heartbeats
and speaks the mission protocol is a fleet member, ours or ArduPilot/PX4.
Making a plan needs our planner and lives outside this package
(``edgepilot.fleet.plan``); here a plan is a JSON document (below) that is
uploaded, shown and tracked.

Every message to a vehicle names it (target_system / target_component)
and goes to its address on a shared UDP link (``Link.route_to``); every
reply is taken only from that vehicle's system id (``Vehicle.wait``).

Plan document (``fleet plan --save PLAN.json``)::

    {"format": "edgepilot-fleet-plan", "version": 1,
     "name": ..., "method": "ortools", "cost_s": 812.4, "origin": [lat, lon],
     "unassigned": ["task-id", ...],
     "vehicles": [{"name": "ugv1", "sysid": 1, "kind": "edgepilot", "autopilot": null,
                   "tasks": ["t1", "t2"], "cost_s": 400.1,
                   "items": [{"command": 16, "frame": 3, "params": [p1, p2, p3, p4],
                              "lat": ..., "lon": ..., "alt": 0.0}, ...],   # item 0 = home
                   "item_task": [null, "t1", "t1", "t2"]}]}               # per item: its task
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from edgepilot.gcs.connection import Link, Vehicle
from edgepilot.gcs.errors import BadInputError, FileFormatError, NoLinkError
from edgepilot.gcs.formats.mission import Mission, MissionItem
from edgepilot.gcs.mav import mavutil
from edgepilot.gcs.telemetry import VehicleView

M = mavutil.mavlink
PLAN_FORMAT = "edgepilot-fleet-plan"
#: STATUSTEXTs at this severity or worse are alerts (WARNING = 4).
ALERT_SEVERITY = M.MAV_SEVERITY_WARNING


class FleetLinks:
    """All the ground station's links, and the vehicles heard on them."""

    def __init__(self, links: list[Link]):
        if not links:
            raise BadInputError("fleet: expected at least one --connect")
        self.links = links
        self._streams_asked: set[int] = set()
        #: ``f(msg)`` called with every message received (the auction views)
        self.listeners: list[Callable[[object], None]] = []

    def poll(self, timeout: float = 0.05) -> None:
        per = timeout / len(self.links) if timeout > 0 else 0.0
        for link in self.links:
            msgs = link.poll(per)
            for f in self.listeners:
                for m in msgs or ():
                    f(m)
        self._ask_streams()

    def pump_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.poll(min(0.05, max(0.0, end - time.monotonic())))

    def views(self) -> dict[int, VehicleView]:
        """sysid -> the freshest view of it across links."""
        out: dict[int, VehicleView] = {}
        for link in self.links:
            for s, v in link.fleet.vehicles.items():
                cur = out.get(s)
                if cur is None or (v.last_heartbeat or -1) > (cur.last_heartbeat or -1):
                    out[s] = v
        return dict(sorted(out.items()))

    def link_of(self, sysid: int) -> Link | None:
        best, best_t = None, -math.inf
        for link in self.links:
            v = link.fleet.vehicles.get(sysid)
            if v is not None and v.last_heartbeat is not None and v.last_heartbeat > best_t:
                best, best_t = link, v.last_heartbeat
        return best

    def vehicle(self, sysid: int) -> Vehicle:
        link = self.link_of(sysid)
        if link is None:
            heard = ", ".join(map(str, self.views())) or "none"
            raise NoLinkError(f"no heartbeat from vehicle sysid {sysid} on "
                              f"{', '.join(l.endpoint for l in self.links)} (heard sysid: {heard})")
        return Vehicle(link, sysid, link.fleet.vehicles[sysid].compid)

    def _ask_streams(self) -> None:
        for s, v in self.views().items():
            if s not in self._streams_asked and v.last_heartbeat is not None:
                self._streams_asked.add(s)
                self.vehicle(s).request_streams()

    def wait(self, sysids: Iterable[int] = (), expect: int = 0, timeout: float = 3.0,
             settle: float = 1.2, want: Iterable[str] = ("HEARTBEAT", "GLOBAL_POSITION_INT")) -> None:
        """Collect telemetry until every sysid in ``sysids`` (and at least
        ``expect`` vehicles) has sent every message type in ``want``, or
        ``timeout``.  With neither given, listens ``settle`` s after the
        first vehicle so the others' 1 Hz heartbeats arrive too."""
        need = set(sysids)
        want = set(want)
        end = time.monotonic() + timeout
        first = None
        while time.monotonic() < end:
            self.poll(0.05)
            views = self.views()
            if views and first is None:
                first = time.monotonic()
            complete = [s for s, v in views.items() if want <= set(v.updated)]
            if need or expect:
                if need <= set(complete) and len(complete) >= expect:
                    return
            elif first is not None and time.monotonic() - first >= settle and len(complete) == len(views):
                return

    def close(self) -> None:
        for link in self.links:
            link.close()


# ------------------------------------------------------------------ status rows
def vehicle_row(v: VehicleView, now: float | None = None, plan: dict | None = None) -> dict:
    """One vehicle's fleet row (JSON-ready)."""
    now = time.monotonic() if now is None else now
    s = v.snapshot(now, texts=0)
    row = {"sysid": v.sysid, "type": s["vehicle_type"], "autopilot": s["autopilot"], "mode": s["mode"],
           "armed": s["armed"], "lat": v.lat, "lon": v.lon, "speed_m_s": v.groundspeed,
           "battery_pct": v.battery_remaining, "battery_v": v.battery_voltage,
           "mission": {"current": v.mission_seq, "total": v.mission_total,
                       "state": s["mission"]["state"]},
           "heartbeat_age_s": s["link"]["heartbeat_age_s"], "stale": s["link"]["stale"]}
    pv = plan_vehicle(plan, v.sysid) if plan else None
    if pv is not None:
        row["name"] = pv["name"]
        row["tasks"] = task_progress(pv, v)
    return row


def alerts(views: dict[int, VehicleView], limit: int = 20) -> list[dict]:
    """Every vehicle's structured threat alerts (EDGEPILOT_THREAT_ALERT:
    ``threat`` holds kind, score, reasons, position) and its other
    warning-or-worse STATUSTEXTs, oldest first.  The "ALERT <kind> ..."
    STATUSTEXT a threat alert comes with is not listed twice."""
    out = []
    for s, v in views.items():
        kinds = set()
        for a in v.threats:
            kinds.add(a.kind)
            out.append({"t": a.t, "sysid": s, "severity": "THREAT", "text": a.line(),
                        "threat": {"kind": a.kind, "score": a.score, "reasons": list(a.reasons), "x": a.x, "y": a.y,
                                   "zone": a.zone, "mmsi": a.mmsi, "track": a.track}})
        for t in v.statustexts:
            if t.severity <= ALERT_SEVERITY:
                w = t.text.split()
                if len(w) >= 2 and w[0] == "ALERT" and w[1] in kinds:
                    continue
                out.append({"t": t.t, "sysid": s, "severity": t.severity_name, "text": t.text})
    out.sort(key=lambda a: a["t"])
    return out[-limit:]


# ------------------------------------------------------------------ plans
def load_plan(path: str | Path) -> dict:
    """A plan document; FileFormatError names the file and what is wrong."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInputError(f"{p}: plan file not found (make one with `edgepilot gcs fleet plan TASKS.toml`)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise BadInputError(f"{p}: cannot read the plan: {e}") from None
    except json.JSONDecodeError as e:
        raise FileFormatError(str(p), e.lineno, f"not JSON: {e.msg}") from None
    check_plan(doc, str(p))
    return doc


def check_plan(doc, source: str = "<plan>") -> None:
    def bad(msg):
        raise FileFormatError(source, None, msg)

    if not isinstance(doc, dict) or doc.get("format") != PLAN_FORMAT:
        bad(f"format: expected {PLAN_FORMAT!r} (a plan from `edgepilot gcs fleet plan`)")
    vs = doc.get("vehicles")
    if not isinstance(vs, list):
        bad("vehicles: expected a list")
    seen = set()
    for i, v in enumerate(vs):
        if not isinstance(v, dict):
            bad(f"vehicles.{i}: expected an object")
        sid = v.get("sysid")
        if not isinstance(sid, int) or not 1 <= sid <= 255:
            bad(f"vehicles.{i}.sysid: expected 1..255, got {sid!r}")
        if sid in seen:
            bad(f"vehicles.{i}.sysid: {sid} appears twice")
        seen.add(sid)
        items = v.get("items")
        if not isinstance(items, list) or not items:
            bad(f"vehicles.{i}.items: expected a list of mission items starting with home")
        it = v.get("item_task")
        if not isinstance(it, list) or len(it) != len(items):
            bad(f"vehicles.{i}.item_task: expected one entry per item ({len(items)})")
        for j, item in enumerate(items):
            try:
                _item(item)
            except (KeyError, TypeError, ValueError) as e:
                bad(f"vehicles.{i}.items.{j}: {e}")


def save_plan(doc: dict, path: str | Path) -> None:
    from edgepilot.gcs.fileio import atomic_write_text

    atomic_write_text(str(path), json.dumps(doc, indent=2, allow_nan=False) + "\n")


def plan_vehicle(plan: dict, sysid: int) -> dict | None:
    return next((v for v in plan.get("vehicles", ()) if v["sysid"] == sysid), None)


def _item(d: dict) -> MissionItem:
    p = [float(x) for x in d["params"]]
    if len(p) != 4:
        raise ValueError("params: expected 4 numbers")
    lat, lon, alt = float(d["lat"]), float(d["lon"]), float(d.get("alt", 0.0))
    if not (all(math.isfinite(x) for x in (lat, lon, alt)) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"lat/lon/alt: expected finite degrees and metres, got {lat}, {lon}, {alt}")
    return MissionItem(command=int(d["command"]), frame=int(d.get("frame", M.MAV_FRAME_GLOBAL_RELATIVE_ALT)),
                       param1=p[0], param2=p[1], param3=p[2], param4=p[3], x=lat, y=lon, z=alt)


def vehicle_mission(pv: dict) -> Mission:
    """The plan's mission for one vehicle (item 0 its home)."""
    items = [_item(d) for d in pv["items"]]
    return Mission(items=tuple(items[1:]), home=items[0])


def task_progress(pv: dict, view: VehicleView | None) -> list[dict]:
    """Each of the vehicle's tasks as pending / active / done, from its
    MISSION_CURRENT (the item it works on; wire seq, home = 0)."""
    it = pv["item_task"]
    seq = None if view is None else view.mission_seq
    complete = view is not None and view.mission_state_name == "COMPLETE"
    out = []
    for tid in pv["tasks"]:
        idx = [i for i, t in enumerate(it) if t == tid]
        first, last = (min(idx), max(idx)) if idx else (None, None)
        if first is None or seq is None:
            state = "unknown" if seq is None and view is None else "pending"
        elif complete or seq > last:
            state = "done"
        elif seq >= first:
            state = "active"
        else:
            state = "pending"
        out.append({"task": tid, "items": [first, last], "state": state})
    return out


@dataclass
class UploadResult:
    name: str
    sysid: int
    ok: bool
    items: int = 0
    error: str = ""


def upload_plan(fleet: FleetLinks, plan: dict, progress: Callable[[str, int, int], None] | None = None,
                start: bool = False) -> list[UploadResult]:
    """Each vehicle's mission through the mission protocol (any MAVLink
    vehicle), optionally started; failures are reported per vehicle."""
    from edgepilot.gcs.command import CommandClient
    from edgepilot.gcs.errors import GcsError
    from edgepilot.gcs.mission import MissionClient

    out = []
    for pv in plan["vehicles"]:
        name, sysid = pv.get("name", str(pv["sysid"])), pv["sysid"]
        if not pv.get("tasks"):
            out.append(UploadResult(name, sysid, True, 0, "no tasks: mission left unchanged"))
            continue
        try:
            v = fleet.vehicle(sysid)
            mission = vehicle_mission(pv)
            n = MissionClient(v).upload(mission, (lambda d, t, nm=name: progress(nm, d, t)) if progress else None)
            if start:
                CommandClient(v).mission_start()
            out.append(UploadResult(name, sysid, True, n))
        except GcsError as e:
            out.append(UploadResult(name, sysid, False, 0, str(e)))
    return out


# ------------------------------------------------------------------ the on-board auction
#: A task file handed to the fleet for its on-board auction (``fleet tasks upload FILE --auction``):
#: {"format", "version", "name", "plan_id", "tasks": [id, ...], "vehicles": [{"name", "sysid"}, ...]}
AUCTION_FORMAT = "edgepilot-fleet-auction"
#: Seconds between re-sending the task file to a vehicle that has not shown it yet.
HANDOVER_RESEND_S = 1.5


def load_auction(path: str | Path) -> dict:
    """An auction document saved by ``fleet tasks upload FILE --auction``."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInputError(f"{p}: auction file not found (hand a task file to the fleet with "
                            f"`edgepilot gcs fleet tasks upload TASKS.toml --auction`)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise BadInputError(f"{p}: cannot read the auction file: {e}") from None
    except json.JSONDecodeError as e:
        raise FileFormatError(str(p), e.lineno, f"not JSON: {e.msg}") from None
    if not isinstance(doc, dict) or doc.get("format") != AUCTION_FORMAT:
        raise FileFormatError(str(p), None, f"format: expected {AUCTION_FORMAT!r} (from `fleet tasks upload "
                                            f"FILE --auction`)")
    if not isinstance(doc.get("plan_id"), int) or not isinstance(doc.get("tasks"), list) \
            or not isinstance(doc.get("vehicles"), list):
        raise FileFormatError(str(p), None, "expected plan_id (integer), tasks and vehicles (lists)")
    for i, v in enumerate(doc["vehicles"]):
        if not isinstance(v, dict) or not isinstance(v.get("sysid"), int) or not 1 <= v["sysid"] <= 255:
            raise FileFormatError(str(p), None, f"vehicles.{i}.sysid: expected 1..255")
    return doc


def _send_until_answered(fleet: FleetLinks, members: set[int], answered, listen: Callable[[object], None],
                         messages_for: Callable[[int], list], resend_s: float, wait: float) -> dict[int, float]:
    """Send ``messages_for(sysid)`` to every member heard, each addressed to
    it, again every ``resend_s`` until it is in ``answered`` (a set or dict
    that ``listen``, a link listener for the time of the call, fills in);
    stop when every member answered, or every member heard answered and
    3 s have passed, or after ``wait`` s.  Returns {sysid: time last sent}."""
    fleet.listeners.append(listen)
    sent: dict[int, float] = {}
    start = time.monotonic()
    end = start + wait
    try:
        while time.monotonic() < end:
            fleet.poll(0.05)
            now = time.monotonic()
            heard = [s for s in sorted(members) if s in fleet.views()]
            for s in heard:
                if s not in answered and now - sent.get(s, -math.inf) >= resend_s:
                    v = fleet.vehicle(s)
                    for msg in messages_for(s):
                        v.mav.send(msg)
                    sent[s] = now
            if members <= set(answered) or (heard and set(heard) <= set(answered) and now - start >= 3.0):
                break
    finally:
        fleet.listeners.remove(listen)
    return sent


def hand_over_tasks(fleet: FleetLinks, doc: dict, messages_for: Callable[[int], list],
                    decode: Callable[[object], object], wait: float) -> dict:
    """Send the task file to every auction member heard, each addressed to
    it, again every ``HANDOVER_RESEND_S`` until the vehicle's own auction
    views carry the plan's id (it has the file and bids), or ``wait`` s.
    Members not heard get it from the others over their V2V link.  Returns
    {"handed_to": [sysid, ...] (showing the plan), "sent_to": [...], "not_heard": [...]}."""
    members = {v["sysid"] for v in doc["vehicles"]}
    acked: set[int] = set()

    def listen(m):
        d = decode(m)
        if d is not None and d.get_type() == "EDGEPILOT_TASK_BID" and d.plan_id == doc["plan_id"]:
            if d.get_srcSystem() in members:
                acked.add(d.get_srcSystem())

    sent = _send_until_answered(fleet, members, acked, listen, messages_for, HANDOVER_RESEND_S, wait)
    return {"handed_to": sorted(acked), "sent_to": sorted(sent), "not_heard": sorted(members - set(sent) - acked)}


def auction_status(fleet: FleetLinks, doc: dict, decode: Callable[[object], object], wait: float) -> dict:
    """Who does what in the fleet's on-board auction, from the vehicles' own
    views (EDGEPILOT_TASK_BID winners and done bits, EDGEPILOT_TASK_CLAIM
    routes, EDGEPILOT_TASK_COMPLETE), collected until every member's view
    has been heard or ``wait`` s."""
    pid, ids = doc["plan_id"], list(doc["tasks"])
    names = {v["sysid"]: v.get("name", str(v["sysid"])) for v in doc["vehicles"]}
    T = len(ids)
    bids: dict[int, dict] = {}          # sender -> {"t": time_usec, "winner": [...], "done": [...]}
    claims: dict[int, dict] = {}        # sender -> {"t", "parts": {part: [...]}, "n": parts, "route": [...]}
    completed: dict[int, tuple[int, int]] = {}      # task index -> (completed_by, result)

    def listen(m):
        d = decode(m)
        if d is None or getattr(d, "plan_id", None) != pid:
            return
        src, t = d.get_srcSystem(), d.get_type()
        if t == "EDGEPILOT_TASK_BID" and d.task_count == T:
            b = bids.get(src)
            if b is None or d.time_usec > b["t"]:
                b = bids[src] = {"t": d.time_usec, "winner": list(b["winner"]) if b else [0] * T,
                                 "done": list(b["done"]) if b else [False] * T}
            if d.time_usec == b["t"]:
                for q in range(min(d.count, T - d.first_task)):
                    b["winner"][d.first_task + q] = d.winner[q]
                    b["done"][d.first_task + q] = bool(d.done >> q & 1)
        elif t == "EDGEPILOT_TASK_CLAIM":
            c = claims.get(src)
            if c is None or d.time_usec > c["t"]:
                c = claims[src] = {"t": d.time_usec, "parts": {}, "n": d.parts,
                                   "route": c["route"] if c else None}
            if d.time_usec == c["t"]:
                c["parts"][d.part] = [r for r in d.route[:d.count] if r < T]
                if len(c["parts"]) >= max(c["n"], 1):
                    c["route"] = [r for k in sorted(c["parts"]) for r in c["parts"][k]]
        elif t == "EDGEPILOT_TASK_COMPLETE" and d.task_index < T:
            if d.result == 0 or d.task_index not in completed:     # a completion is a fact: it wins over a cancel
                completed[d.task_index] = (d.completed_by, d.result)

    fleet.listeners.append(listen)
    end = time.monotonic() + wait
    try:
        while time.monotonic() < end:
            fleet.poll(0.05)
            if set(names) <= set(bids) and all(claims.get(s, {}).get("route") is not None for s in names):
                fleet.poll(0.3)           # the COMPLETE repeats of the same round
                break
    finally:
        fleet.listeners.remove(listen)
    freshest = max(bids.values(), key=lambda b: b["t"], default=None)
    tasks = []
    for j, tid in enumerate(ids):
        done = j in completed or any(b["done"][j] for b in bids.values())
        by = (completed.get(j, (None, None))[0] if done else (freshest["winner"][j] if freshest else 0)) or None
        state = ("cancelled" if completed.get(j, (0, 0))[1] == 1 else "done") if done else \
            ("claimed" if by else "open")
        tasks.append({"task": tid, "state": state, "sysid": by, "vehicle": names.get(by) if by else None})
    vehicles = []
    for s, name in names.items():
        c = claims.get(s)
        route = [ids[r] for r in (c["route"] or [])] if c else []
        vehicles.append({"name": name, "sysid": s, "heard": s in bids,
                         "route": [r for r in route if not any(x["task"] == r and x["state"] != "claimed"
                                                               for x in tasks)],
                         "done": [x["task"] for x in tasks if x["state"] == "done" and x["sysid"] == s]})
    return {"plan": doc.get("name"), "plan_id": pid, "tasks": tasks, "vehicles": vehicles}


#: Seconds between re-sending a cancel to a vehicle that has not answered it.
CANCEL_RESEND_S = 1.0


def cancel_auction_task(fleet: FleetLinks, doc: dict, task_id: str, message_for: Callable[[int], object],
                        decode: Callable[[object], object], answer_of: Callable[[object], dict | None],
                        wait: float) -> dict:
    """Send EDGEPILOT_TASK_CANCEL of ``task_id`` to every auction member
    heard, each addressed to it, again every ``CANCEL_RESEND_S`` until it
    answers (EDGEPILOT_TASK_CANCEL_ACK), or ``wait`` s.  Members not heard
    learn the cancel from the others over V2V.  Returns {"task",
    "answers": {sysid: answer}, "sent_to": [...], "not_heard": [...]}."""
    members = {v["sysid"] for v in doc["vehicles"]}
    answers: dict[int, dict] = {}

    def listen(m):
        a = answer_of(decode(m))
        if a is not None and a["plan_id"] == doc["plan_id"] and a["task"] == task_id:
            src = m.get_srcSystem()
            if src in members:
                answers[src] = a

    sent = _send_until_answered(fleet, members, answers, listen, lambda s: [message_for(s)], CANCEL_RESEND_S,
                                wait)
    return {"task": task_id, "answers": dict(sorted(answers.items())), "sent_to": sorted(sent),
            "not_heard": sorted(members - set(sent) - set(answers))}


__all__ = ["ALERT_SEVERITY", "cancel_auction_task", "AUCTION_FORMAT", "FleetLinks", "PLAN_FORMAT", "auction_status", "hand_over_tasks",
           "load_auction", "UploadResult", "alerts", "check_plan", "load_plan",
           "plan_vehicle", "save_plan", "task_progress", "upload_plan", "vehicle_mission", "vehicle_row"]
