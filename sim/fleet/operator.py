"""The operator at the ground station of a real-time fleet run (``edgepilot
sitl run --realtime FLEET --v2v``): the scenario's task file and its task
faults played as an operator plays them, over MAVLink.

The lockstep runner (``sim/fleet/tasking.py``) announces a ``new_task`` to
the CBBA agents the fault names (every vehicle by default) and marks a
``cancel_task`` done on theirs; the task file's tasks that a ``new_task``
announces are unknown until then.  In real time the vehicles run the
auction on board (``onboard/fleet_auction.py``), so this operator does what
``edgepilot gcs fleet tasks upload FILE --auction --start`` and ``fleet
tasks cancel TASK_ID --auction`` do, with the same code
(``gcs.fleet.hand_over_tasks`` / ``cancel_auction_task``, which send to
each vehicle addressed to it, again until it answers):

- at the start it hands the fleet the task file it knows: the scenario's
  tasks without those a ``new_task`` fault announces later, the scenario's
  vehicles as the auction's members (EDGEPILOT_TASK_FILE, START flag: each
  runs its share);
- ``new_task``: it hands the vehicles the fault names (or all) the task file
  extended by that task (appended: the plan's earlier tasks keep their
  indices, so the vehicles carry their auction and missions over, and the
  others get the longer file from them over V2V);  answered when the
  vehicle's own EDGEPILOT_TASK_BID carries the new plan's id;
- ``cancel_task``: EDGEPILOT_TASK_CANCEL to the vehicles the fault names (or
  all), with the plan each is heard auctioning (a vehicle whose plan does
  not have the task yet is handed the current file first); answered by
  EDGEPILOT_TASK_CANCEL_ACK (accepted, or refused and why).

It runs in its own thread with its own UDP socket (``udpin``, a free port
on the loopback; every vehicle's endpoint gets a ``udpout`` to it), as a
ground station process would: the world loop only queues each fault when
its time comes and prints what comes back.  Vehicles that have broken down
are silent and are not sent to.
"""
from __future__ import annotations

import math
import queue
import threading
import time
import tomllib
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from edgepilot.firmware_bridge.fleet_link import plan_id_of
from edgepilot.fleet.auction import AUCTION_FORMAT, AuctionHandoff
from edgepilot.gcs.connection import Link
from edgepilot.gcs.fleet import FleetLinks, cancel_auction_task, hand_over_tasks
from edgepilot.sim.overrides import format_value
from edgepilot.vehicle.config import ConfigError
from edgepilot.vehicle.fleet.tasks import parse_tasks

#: How long one operator action waits for its answers [s of wall time].
ANSWER_WAIT_S = 30.0
#: The operator's MAVLink system id.
OPERATOR_SYSID = 254
#: A vehicle whose heartbeat is older than this is not sent to (broken down, out of reach) [s].
HEARD_WITHIN_S = 3.0


# how long the first hand-over waits for every vehicle's first heartbeat and position [s]
START_WAIT_S = 30.0


def _table(name: str, d: dict) -> str:
    return f"\n[[{name}]]\n" + "".join(f"{k} = {format_value(x)}\n" for k, x in d.items())


def member_entries(sc) -> list[dict]:
    """The scenario's vehicles as a task file's ``[[vehicle]]`` entries,
    with the capabilities the lockstep allocation gives them."""
    out = []
    for v in sc.vehicles:
        cfg = v.vehicle_config
        sensors = [s for s in ("camera", "lidar") if getattr(cfg.sensors, s) is not None]
        if v.domain == "water":
            sensors.append("ais")
        e = {"name": v.name, "sysid": v.sysid, "domain": v.domain, "kind": "edgepilot",
             "start": [float(v.start.x), float(v.start.y)], "speed": float(v.speed or cfg.control.cruise_speed),
             "payload_kg": float(v.payload_kg), "sensors": sensors}
        if math.isfinite(v.endurance_s):
            e["endurance_s"] = float(v.endurance_s)
        out.append(e)
    return out


@dataclass
class Answer:
    """What came back of one played fault (or the start's hand-over)."""

    what: str                     # "hand_over", "new_task", "cancel_task"
    task: str | None
    played_at: float              # world time the fault was due [s]
    plan_id: int | None = None
    #: sysid -> "accepted" (shows the plan / cancelled) or the refusal (unknown_plan, already_done, ...)
    answers: dict = field(default_factory=dict)
    not_answered: list = field(default_factory=list)     # sent to, no answer within ANSWER_WAIT_S
    not_heard: list = field(default_factory=list)        # targeted, but not heard (not sent to)
    note: str = ""


class FleetOperator:
    """``start()`` once the vehicles serve; ``play(fault, t, sysids)`` when a
    task fault is due (from the world loop); ``results()`` what has been
    answered since the last call; ``close()``."""

    def __init__(self, sc, signing_key: bytes | None = None, host: str = "127.0.0.1",
                 wait_s: float = ANSWER_WAIT_S):
        self.sc = sc
        self.wait_s = float(wait_s)
        path = Path(sc.tasks)
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ConfigError(f"{path}: cannot read the task file: {e}") from None
        self.raw_tasks = {t["id"]: t for t in raw.get("task", [])}
        held = [f.task for f in sc.faults if f.type == "new_task"]
        self.name = str(raw.get("name", sc.name))
        self.members = member_entries(sc)
        self.names = {e["sysid"]: e["name"] for e in self.members}
        self.order = [tid for tid in self.raw_tasks if tid not in held]     # the plan's tasks, in order
        self.cancelled: set[str] = set()
        self.handoff = AuctionHandoff()
        # one decoder per listener: a signed frame is taken once per decoder (a second look is a replay)
        self.decode = self.handoff.decoder(signing_key)
        self._decode_track = self.handoff.decoder(signing_key)
        self.docs: dict[int, dict] = {}
        self.doc = self._plan(self.order)            # fails here (before any socket) if the file is bad
        # a second ground station's system id: its signed stream is its own beside a `gcs` on 255
        self.link = Link(f"udpin:{host}:0", signing_key=signing_key, source_system=OPERATOR_SYSID)
        self.port = self.link.conn.port.getsockname()[1]
        self.address = f"udpout:{host}:{self.port}"
        self.fleet = FleetLinks([self.link])
        self.plan_of: dict[int, int] = {}            # sysid -> the plan id its auction views carry
        self.fleet.listeners.append(self._track)
        self.played = {"new_task": 0, "cancel_task": 0}
        self.counts = {"accepted": 0, "refused": 0, "not_answered": 0, "not_heard": 0}
        self._todo: queue.Queue = queue.Queue()
        self._done: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fleet-operator", daemon=True)
        self.errors: list[str] = []
        self.started = False

    # ------------------------------------------------------------ the plan
    def _plan(self, ids: list[str]) -> dict:
        """The auction document (``gcs.fleet`` format, plus ``text``) of a
        task file with the scenario's vehicles and tasks ``ids`` in order."""
        text = (f"# {self.name}: handed to the fleet by the real-time run's operator\n"
                f"name = {format_value(self.name)}\norigin = {format_value([float(c) for c in self.sc.world.origin])}\n"
                + "".join(_table("vehicle", e) for e in self.members)
                + "".join(_table("task", self.raw_tasks[tid]) for tid in ids))
        parse_tasks(tomllib.loads(text), f"{self.sc.tasks} (as handed to the fleet)")
        pid = plan_id_of(zlib.compress(text.encode("utf-8"), 9))
        doc = {"format": AUCTION_FORMAT, "version": 1, "name": self.name, "plan_id": pid, "tasks": list(ids),
               "vehicles": [{"name": e["name"], "sysid": e["sysid"]} for e in self.members], "text": text}
        self.docs[pid] = doc
        return doc

    def _track(self, m) -> None:
        d = self._decode_track(m)
        if d is not None and d.get_type() == "EDGEPILOT_TASK_BID" and d.plan_id in self.docs:
            self.plan_of[d.get_srcSystem()] = d.plan_id

    # ------------------------------------------------------------ the world loop's side
    def start(self) -> None:
        self.started = True
        self._todo.put(("hand_over", None, 0.0, sorted(self.names)))
        self._thread.start()

    def play(self, kind: str, task: str, t: float, sysids: list[int]) -> None:
        """Queue the fault ``kind`` of ``task`` due at world time ``t`` for ``sysids``."""
        self.played[kind] += 1
        self._todo.put((kind, task, t, list(sysids)))

    def results(self) -> list[Answer]:
        out = []
        while True:
            try:
                a = self._done.get_nowait()
            except queue.Empty:
                return out
            for v in a.answers.values():
                self.counts["accepted" if v == "accepted" else "refused"] += 1
            self.counts["not_answered"] += len(a.not_answered)
            self.counts["not_heard"] += len(a.not_heard)
            out.append(a)

    def describe(self) -> str:
        d = self.doc
        return (f"operator: udpin 127.0.0.1:{self.port}; hands over plan {d['plan_id']} ({self.name}: "
                f"{len(d['tasks'])} tasks for sysid {', '.join(map(str, sorted(self.names)))}), then plays "
                f"{self.played_total()} task fault(s)")

    def played_total(self) -> int:
        return sum(1 for f in self.sc.faults if f.type in ("new_task", "cancel_task"))

    def summary(self) -> str:
        c = self.counts
        return (f"operator: task faults played {self.played['new_task']} new_task, {self.played['cancel_task']} "
                f"cancel_task; vehicle answers accepted {c['accepted']}, refused {c['refused']}, not answered "
                f"{c['not_answered']}, not heard {c['not_heard']}"
                + (f"; {len(self.errors)} error(s), the last: {self.errors[-1]}" if self.errors else ""))

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2.0)
        self.fleet.close()

    # ------------------------------------------------------------ the operator's thread
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                job = self._todo.get_nowait()
            except queue.Empty:
                try:
                    self.fleet.poll(0.05)          # keep the views (heartbeats, plans) fresh
                except Exception as e:  # noqa: BLE001 - the link closed under us at the end
                    if not self._stop.is_set():
                        self.errors.append(f"poll: {e}")
                        time.sleep(0.05)
                continue
            kind, task, t, sysids = job
            try:
                a = self._act(kind, task, t, sysids)
            except Exception as e:  # noqa: BLE001 - one action failing does not stop the operator
                if self._stop.is_set():
                    return
                self.errors.append(f"{kind} {task or ''}: {type(e).__name__}: {e}")
                a = Answer(kind, task, t, note=f"failed: {e}")
            self._done.put(a)

    def _heard(self, sysids: list[int]) -> tuple[list[int], list[int]]:
        self.fleet.poll(0.05)
        views = self.fleet.views()
        now = time.monotonic()
        fresh = [s for s in sysids if s in views and views[s].last_heartbeat is not None
                 and now - views[s].last_heartbeat <= HEARD_WITHIN_S]
        return fresh, [s for s in sysids if s not in fresh]

    def _hand(self, doc: dict, sysids: list[int]) -> tuple[dict, list[int]]:
        """Hand ``doc`` to ``sysids``: {sysid: "accepted"} of those showing it, and those sent to without."""
        sub = {**doc, "vehicles": [v for v in doc["vehicles"] if v["sysid"] in sysids]}
        res = hand_over_tasks(self.fleet, sub, lambda s: self.handoff.messages(doc, s, True), self.decode,
                              self.wait_s)
        for s in res["handed_to"]:
            self.plan_of[s] = doc["plan_id"]
        return {s: "accepted" for s in res["handed_to"]}, [s for s in sysids if s not in res["handed_to"]]

    def _act(self, kind: str, task: str | None, t: float, sysids: list[int]) -> Answer:
        fresh, not_heard = self._heard(sysids)
        if kind == "hand_over" and not_heard:          # at the start: wait for every vehicle's first heartbeat
            # (processes start unevenly on a loaded machine: one heard is not all heard)
            self.fleet.wait(sysids, timeout=max(self.wait_s, START_WAIT_S))
            fresh, not_heard = self._heard(sysids)
        a = Answer(kind, task, t, not_heard=not_heard)
        if kind == "new_task":
            if task in self.cancelled:
                a.note = f"not sent: task {task} was cancelled before it was announced"
                return a
            if task not in self.doc["tasks"]:
                self.order.append(task)
                self.doc = self._plan(self.order)
        elif kind == "cancel_task":
            self.cancelled.add(task)
            if task not in self.doc["tasks"]:
                a.note = f"not sent: task {task} has not been announced (it never will be)"
                return a
        a.plan_id = self.doc["plan_id"]
        if not fresh:
            return a
        if kind in ("hand_over", "new_task"):
            a.answers, a.not_answered = self._hand(self.doc, fresh)
            return a
        # cancel_task: with the plan each vehicle is heard auctioning, if that plan has the task
        late = [s for s in fresh if task not in self.docs.get(self.plan_of.get(s), {}).get("tasks", ())]
        if late:                                        # its plan lacks the task: hand it the current file first
            _, not_answered = self._hand(self.doc, late)
            a.not_answered += not_answered
        groups: dict[int, list[int]] = {}
        for s in fresh:
            if s not in a.not_answered:
                pid = self.plan_of.get(s, self.doc["plan_id"])
                groups.setdefault(pid if task in self.docs[pid]["tasks"] else self.doc["plan_id"], []).append(s)
        if groups:                                      # the plan(s) the cancel named, as sent
            a.plan_id = min(groups) if len(groups) == 1 else a.plan_id
            if len(groups) > 1:
                a.note = "by plan: " + "; ".join(f"plan {pid} to sysid {', '.join(map(str, g))}"
                                                for pid, g in sorted(groups.items()))
        for pid, group in sorted(groups.items()):
            doc = self.docs[pid]
            sub = {**doc, "vehicles": [v for v in doc["vehicles"] if v["sysid"] in group]}
            res = cancel_auction_task(self.fleet, sub, task, lambda s, d=doc: self.handoff.cancel(d, s, task),
                                      self.decode, self.handoff.cancel_answer, self.wait_s)
            for s, ans in res["answers"].items():
                a.answers[s] = ans["result"]
            a.not_answered += [s for s in group if s not in res["answers"]]
        return a


__all__ = ["ANSWER_WAIT_S", "Answer", "FleetOperator", "member_entries"]
