"""The fleet task auction on board: a vehicle allocates a task list with the
other vehicles over the V2V link, without the ground station.

The ground station hands the fleet a task file (``edgepilot gcs fleet tasks
upload FILE --auction``): EDGEPILOT_TASK_FILE parts (docs/fleet_dialect.md)
to each vehicle it hears; a vehicle that has the whole file repeats it over
the V2V link for a few rounds, so a member out of the ground station's
reach gets it too.  The file's ``[[vehicle]]`` entries of kind
``edgepilot`` are the auction's members (their system ids, in file order,
are the agents); a vehicle not among them ignores the plan.

Then every ``period_s`` of the vehicle clock the vehicle steps its
``vehicle.fleet.cbba.CbbaAgent`` on the views it heard and broadcasts its
own (EDGEPILOT_TASK_BID / _TASK_CLAIM / _FLEET_HEARD, signed) on the V2V
link and to its ground stations, which so see who does what.  A vehicle
bids with its own travel costs: our planner's path lengths over its map
(the prior map at planning resolution, coarsened to
``costs.COST_RESOLUTION`` and grown by half its width:
``vehicle.fleet.costs.travel_grid``) over its speed, from where it is when
the plan arrives, and again from where it is each time it finishes or
drops a task (``PathLengths``: one Dijkstra sweep per task for the plan,
one per new vehicle cell after that, cached per pair of cells); each time
it reprices it bids again for its tasks but the one it is on its way to
(``CbbaAgent.rebid``).  Bids weigh when work gets done as well as how
much there is (``cbba.FLEET_LATENCY_WEIGHT``), so an idle vehicle outbids
one that would do the task only at the end of a long route.  A
vehicle without a prior map (or whose planning is not built yet when the
plan arrives) bids with straight lines.  Only an agent's own
costs decide its bids; the others' entries (from the file, straight lines)
and the rewards, scaled from the file alone, are the same on every vehicle.

The operator cancels a task with EDGEPILOT_TASK_CANCEL (``edgepilot gcs
fleet tasks cancel TASK_ID --auction``): the vehicle marks it done (result
CANCELLED), drops it from its auction and, if it is working on it, from its
mission at once (it goes on with the rest of its route), answers
EDGEPILOT_TASK_CANCEL_ACK, and repeats EDGEPILOT_TASK_COMPLETE (completed_by
0, CANCELLED) every round; its views' done bits carry it too.  A refusal
(another plan, no such task, a bad id, already done) is a NACK and a
STATUSTEXT naming the task.  Why a cancelled task never comes back:
docs/fleet.md, "Cancelling a task".

A task file that extends the one being auctioned (the same members, its
tasks first and in the same order: the ground station appended new ones)
does not start the auction again: the vehicle carries its beliefs about the
old tasks (winners, bids, done, cancels, who it heard when), its bundle,
route and mission over to the new plan, keeps the old reward scale, and
still accepts a cancel naming the old plan.  It repeats the longer file
over V2V for a few rounds and again whenever it hears a member auctioning
a plan with fewer tasks; a file that its own plan extends is ignored.

Execution follows the lockstep runner's (``sim/fleet/tasking.py``): the
vehicle's route becomes its mission once it has stayed the same for
``SETTLE_ROUNDS`` rounds; the task it is busy with stays first and is held
at a bid nobody outbids; a task is done when its last mission item is
reached, and EDGEPILOT_TASK_COMPLETE says so (every vehicle repeats the
completions it knows every round, so a ground station that starts
listening later, even after the vehicle that did it has gone silent,
still sees who did it).  With
the file's START flag the vehicle arms and runs its mission as soon as its
share settles.  A member unheard for ``stale_after_s`` is presumed gone:
its tasks go back to auction (CBBA's liveness rule).

Task leases (``vehicle.fleet.lease``, the lockstep runner's rule, the
argument in docs/fleet.md "Task leases"): the auction says who *should* do
a task, a lease who *may* work on it now.  Every round the vehicle grants
its promises from its auction view (``LeaseBook.grant``), merges the
promise tables it heard and broadcasts the newest table it knows of every
granter (EDGEPILOT_TASK_LEASE, ``fleet_link.encode_leases``) beside its
views.  It flies to / works on the task its mission is at only while it
holds that task's lease: otherwise it holds (mode HOLD, "no lease on X,
holding") and goes on when it gets it; meanwhile it works on a later task
of its route whose lease it holds when that costs less than the wait
(``lease.work_first``, priced from where it is, the wait estimated by
``LeaseBook.wait_s``): its mission becomes the route with that task first,
and it comes back to the first after.  So during a partition the side
without a quorum (fewer than half the members, or exactly half without
the first) does no work, and no task is worked on by two vehicles at once
whatever the auction believes on each side.
"""
from __future__ import annotations

import copy
import logging
import tomllib

import numpy as np

from edgepilot.firmware_bridge.fleet_link import (CANCEL_ACCEPTED, CANCEL_ALREADY_DONE, CANCEL_BAD_ID,
                                                  CANCEL_UNKNOWN_PLAN, CANCEL_UNKNOWN_TASK, NO_TASK_INDEX,
                                                  RESULT_CANCELLED, RESULT_DONE, TASK_FILE_START, FleetCodec,
                                                  LeaseAssembler, TaskFileAssembler, TaskFileReceived,
                                                  ViewAssembler, cancel_ack_message, encode_leases, read_task_id,
                                                  task_id_problem)
from edgepilot.vehicle.config import ConfigError
from edgepilot.vehicle.fleet.cbba import FLEET_LATENCY_WEIGHT, CbbaAgent, CbbaParams
from edgepilot.vehicle.fleet.costs import (PathLengths, fleet_costs, straight_line_matrix, travel_grid,
                                           with_vehicle_row)
from edgepilot.vehicle.fleet.lease import LeaseBook, LeaseParams, work_first
from edgepilot.vehicle.fleet.missions import route_mission
from edgepilot.vehicle.fleet.tasks import parse_tasks, search_plan, task_work
from edgepilot.vehicle.geo import LocalFrame
from edgepilot.vehicle.types import Mode, MissionState

log = logging.getLogger(__name__)

#: The bid held on the task a vehicle is busy with: above any auction score.
COMMIT_BID = 1.0e9
#: Rounds a route must stay the same before it becomes the mission.
SETTLE_ROUNDS = 2
#: Rounds a vehicle repeats a task file it received over the V2V link.
RELAY_ROUNDS = 5
_SEV_INFO, _SEV_WARNING = 6, 4


def _straight(domain, sources, targets):
    return straight_line_matrix(sources, targets)


def auction_costs(tasks, members, me: int, start, distance) -> tuple:
    """What vehicle ``me`` of ``members`` (the plan's ``VehicleCapabilities``)
    bids with: (``FleetCosts``, reward scale [s]).  Its own row is priced
    with ``distance`` (``fleet_costs``' distance function: its path lengths)
    from ``start`` (where it is, task-file frame); the others' rows and the
    scale are straight lines from the file's starts, the same on every vehicle."""
    scale = fleet_costs(tasks, members, _straight).scale()
    caps = [v.model_copy(update={"start": tuple(map(float, start))}) if i == me else v
            for i, v in enumerate(members)]
    costs = fleet_costs(tasks, caps, _straight)
    return with_vehicle_row(costs, me, fleet_costs(tasks, [caps[me]], distance)), scale


def vehicle_path_lengths(core) -> PathLengths | None:
    """Path lengths over the vehicle's own map (its prior map at planning
    resolution, grown by half its width; map frame of ``core``), or None
    when it has no prior map."""
    pg = getattr(core, "planning", None)
    prior = getattr(pg, "prior", None)
    if prior is None:
        return None
    w, res = travel_grid(prior.occupied, prior.resolution, 0.5 * core.cfg.geometry.width)
    return PathLengths(w, res, (prior.origin_x, prior.origin_y))


def frame_distance(lengths: PathLengths, task_frame: LocalFrame, map_frame: LocalFrame):
    """``fleet_costs``' distance function over ``lengths`` (map frame) for
    points given in the task file's frame."""
    same = (task_frame is map_frame or (task_frame.origin_lat, task_frame.origin_lon)
            == (map_frame.origin_lat, map_frame.origin_lon))

    def to_map(pts):
        pts = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        if same:
            return pts
        return np.array([map_frame.to_local(*task_frame.to_geo(x, y)) for x, y in pts]).reshape(-1, 2)

    return lambda domain, sources, targets: lengths.matrix(to_map(sources), to_map(targets))


class _Plan:
    """One task file being auctioned: tasks, codec, agent and what this
    vehicle's mission holds of it."""

    def __init__(self, got: TaskFileReceived, tf, me: int, sysids: tuple[int, ...], frame: LocalFrame,
                 agent: CbbaAgent, lease: LeaseParams):
        self.id = got.plan_id
        self.flags = got.flags
        self.file_msgs = [_to_every_vehicle(m) for m in got.messages]     # relayed over V2V
        self.tf = tf
        self.tasks = list(tf.task)
        self.ids = [t.id for t in self.tasks]
        self.me = me
        self.sysids = sysids
        self.names = {v.sysid: v.name for v in tf.vehicle}
        self.frame = frame
        self.agent = agent
        self.codec = FleetCodec(sysids, len(self.tasks), got.plan_id)
        self.views = ViewAssembler(self.codec)
        self.inbox: list = []
        # task leases: this vehicle's promises and the newest heard of every granter
        self.book = LeaseBook(me, len(sysids), len(self.tasks), lease)
        self.leases = LeaseAssembler(self.codec)
        self.tables: list = []                      # granters' tables heard since the last round
        self.paused = False                         # holding: no lease on the task its mission is at
        self.done_by: dict[int, int] = {}           # task index -> sysid that completed it (0: the operator)
        self.result: dict[int, int] = {}            # task index -> RESULT_DONE / RESULT_CANCELLED
        # pricing: this vehicle's distance function, speed, and the tasks it can do at all
        self.distance = None
        self.speed = 1.0
        self.able = np.ones(len(self.tasks), bool)
        self.entries = np.zeros((len(self.tasks), 2))
        self.relay_left = RELAY_ROUNDS
        # the mission
        self.route: list[int] = []
        self.first_seq: dict[int, int] = {}
        self.last_seq: dict[int, int] = {}
        self.seq_task: dict[int, int] = {}
        self.pending: tuple | None = None
        self.rounds_same = 0
        self.uploads = 0
        self.want_start = False
        self.mission = None                         # the core's mission tuple we set
        self.ancestors: set[int] = set()            # the plans this one extends (their task indices are ours)


class FleetAuction:
    """The auction of one vehicle: ``poll(now)`` once per runtime tick (with
    the MAVLink endpoint's), ``fds()`` for the loop to wait on, ``close()``."""

    def __init__(self, core, endpoint, v2v, *, period_s: float = 1.0, stale_after_s: float = 10.0,
                 max_bundle: int | None = None, fleet_clock=None, lease: LeaseParams | None = None):
        """``fleet_clock()``: the time every member shares [s] (the auction's
        timestamps; on a vehicle ``time.time``, GPS/NTP-disciplined); None:
        the core's clock passed to ``poll`` (real-time SITL: one world clock).
        ``lease``: the task leases' times (None: ``LeaseParams`` defaults,
        a new holder named once the auction showed it for one round)."""
        if getattr(endpoint, "dialect", None) is None:
            raise ValueError("fleet auction: the MAVLink endpoint must parse our dialect "
                             "(MavlinkEndpoint(..., dialect=dialects.load())) to hear EDGEPILOT_TASK_FILE")
        if not period_s > 0 or not stale_after_s > period_s:
            raise ValueError(f"fleet auction: need period_s > 0 and stale_after_s > period_s, got "
                             f"{period_s}, {stale_after_s}")
        self.core = core
        self.ep = endpoint
        self.v2v = v2v
        self.sysid = endpoint.sysid
        self.period_s = float(period_s)
        self.stale_after_s = float(stale_after_s)
        self.max_bundle = max_bundle
        self.fleet_clock = fleet_clock
        self.lease = lease if lease is not None else LeaseParams(settle_s=self.period_s)
        self.files = TaskFileAssembler()
        self.plan: _Plan | None = None
        self.next_round: float | None = None
        self._cursor = len(core.events_since(0)[0])
        self.refused = 0
        endpoint.on("EDGEPILOT_TASK_FILE", lambda link, m, now: self._file_part(m, now))
        endpoint.on("EDGEPILOT_TASK_CANCEL", self._cancel_request)

    def _ft(self, now: float) -> float:
        return now if self.fleet_clock is None else float(self.fleet_clock())

    # ------------------------------------------------------------ inputs
    def _file_part(self, m, now: float) -> None:
        try:
            got = self.files.add(m)
        except (ValueError, UnicodeDecodeError) as e:
            self.refused += 1
            self.ep.statustext(f"Fleet: task file refused: {e}"[:150], _SEV_WARNING)
            return
        if got is not None:
            self._start_plan(got, now)

    def _start_plan(self, got: TaskFileReceived, now: float) -> None:
        try:
            tf = parse_tasks(tomllib.loads(got.text), f"task file of plan {got.plan_id}")
        except (ConfigError, tomllib.TOMLDecodeError) as e:
            self.refused += 1
            self.ep.statustext(f"Fleet: task file refused: {e}"[:150], _SEV_WARNING)
            return
        members = [v for v in tf.vehicle if v.kind == "edgepilot"]
        sysids = tuple(v.sysid for v in members)
        if self.sysid not in sysids or not tf.task:
            self.ep.statustext(f"Fleet plan {got.plan_id}: sysid {self.sysid} is not one of its vehicles "
                               f"({', '.join(map(str, sysids)) or 'none'}) or it has no tasks", _SEV_WARNING)
            return
        old = self.plan
        if old is not None and old.id == got.plan_id:
            return          # the plan we run, again (the ground station's retry, or a member's relay)
        ids = [t.id for t in tf.task]
        if old is not None and old.sysids == sysids and len(ids) < len(old.ids) and old.ids[:len(ids)] == ids:
            return          # a plan ours extends (relayed late by a member that has not our newer one yet)
        me = sysids.index(self.sysid)
        core = self.core
        frame = LocalFrame(*tf.origin) if tf.origin is not None else core.frame
        start = members[me].start
        st = core.state
        if st.valid:                   # bid from where the vehicle is, in the task file's frame
            lat, lon = core.frame.to_geo(st.x, st.y)
            start = tuple(map(float, frame.to_local(lat, lon)))
        tasks = list(tf.task)
        lengths = vehicle_path_lengths(core)
        distance = _straight if lengths is None else frame_distance(lengths, frame, core.frame)
        costs, scale = auction_costs(tasks, members, me, start, distance)
        extends = (old is not None and old.sysids == sysids and len(ids) > len(old.ids)
                   and ids[:len(old.ids)] == old.ids)
        # an extension keeps the reward scale of the plan it extends: every member prices on one scale
        reward = old.agent.params.reward if extends else 10.0 * scale
        # a task taken over from another member starts only once its leases lapsed: priced as that wait
        params = CbbaParams(reward=reward, stale_after=self.stale_after_s, max_bundle=self.max_bundle,
                            latency_weight=FLEET_LATENCY_WEIGHT,
                            takeover_s=FLEET_LATENCY_WEIGHT * (self.lease.duration_s + self.lease.margin_s))
        agent = CbbaAgent(me, costs, params)
        ft = self._ft(now)
        agent.heard[:] = ft            # every member counts as heard at the start (none presumed gone yet)
        p = self.plan = _Plan(got, tf, me, sysids, frame, agent, self.lease)
        if extends:
            _carry_over(old, p)
        p.distance, p.speed = distance, float(members[me].speed)
        p.able = fleet_costs(tasks, [members[me]], lambda d, s, t: np.zeros((len(s), len(t)))).able[0]
        p.entries = np.array([task_work(t).entry for t in tasks], dtype=np.float64).reshape(-1, 2)
        self.next_round = ft
        if extends:
            self.ep.statustext(f"Fleet plan {got.plan_id}: extends plan {old.id} by "
                               f"{', '.join(ids[len(old.ids):])}"[:150], _SEV_INFO)
            self._drop_finished(p, now)
            return
        self.ep.statustext(f"Fleet plan {got.plan_id}: {len(tasks)} tasks, auction among sysid "
                           f"{', '.join(map(str, sysids))}; costs: "
                           f"{'straight lines (no map)' if lengths is None else 'path lengths on my map'}", _SEV_INFO)

    def _reprice(self, p: _Plan) -> None:
        """This vehicle's travel from where it is now to each task (its route
        starts here from now on): one row of path lengths, cached per cell."""
        st = self.core.state
        if not st.valid:
            return
        lat, lon = self.core.frame.to_geo(st.x, st.y)
        here = np.array([p.frame.to_local(lat, lon)], dtype=np.float64)
        d = np.asarray(p.distance(None, here, p.entries), dtype=np.float64)[0]
        row = p.agent.costs.start_s[p.me]
        row[:] = np.where(p.able & np.isfinite(d), d / p.speed, np.inf)
        # its bids were priced from where it was: bid again from here for all
        # but the task it is on its way to (a vehicle now nearer or idle may
        # outbid the rest; without this, bids from the plan's start stand)
        cur = self._in_progress(p)
        p.agent.rebid(() if cur is None else (cur,))

    # ------------------------------------------------------------ operator cancel
    def _cancel_request(self, link, m, now: float) -> None:
        """EDGEPILOT_TASK_CANCEL from a ground station: cancel and ACK, or NACK naming the task."""
        if m.target_system not in (0, self.sysid):
            return
        tid = read_task_id(m)
        p = self.plan

        def answer(result: int, text: str, j: int = NO_TASK_INDEX, by: int = 0) -> None:
            self.ep.statustext(text[:150], _SEV_INFO if result == CANCEL_ACCEPTED else _SEV_WARNING, link=link)
            self.ep.send(link, cancel_ack_message(m.plan_id, tid, result, j, by))

        problem = task_id_problem(tid)
        if problem:
            answer(CANCEL_BAD_ID, f"Fleet: cancel refused: {problem}")
        elif p is None or (m.plan_id != p.id and m.plan_id not in p.ancestors):
            answer(CANCEL_UNKNOWN_PLAN, f"Fleet: cancel of task {tid} refused: plan {m.plan_id} is not auctioned "
                                        f"here ({'no plan' if p is None else f'plan {p.id}'})")
        elif tid not in p.ids:
            answer(CANCEL_UNKNOWN_TASK, f"Fleet: cancel refused: plan {p.id} has no task {tid} "
                                        f"(its tasks: {', '.join(p.ids)})")
        else:
            j = p.ids.index(tid)
            if p.result.get(j) == RESULT_DONE:
                by = p.done_by.get(j, 0)
                answer(CANCEL_ALREADY_DONE, f"Fleet: cancel of task {tid} refused: already done by sysid {by}", j, by)
                return
            fresh = self._cancelled(p, j, now)
            answer(CANCEL_ACCEPTED, f"Fleet: task {tid} cancelled{'' if fresh else ' (already)'}", j)
            if fresh:
                self._send([p.codec.complete(j, 0, self._ft(now), RESULT_CANCELLED)])

    def _cancelled(self, p: _Plan, j: int, now: float) -> bool:
        """Task j is cancelled (by the operator here, or heard from another
        vehicle): done for the auction, off the mission at once.  Returns
        whether this is news."""
        if p.result.get(j) is not None:
            return False
        p.agent.complete(j)
        p.book.complete(j)
        p.done_by[j] = 0
        p.result[j] = RESULT_CANCELLED
        self._drop_finished(p, now)
        return True

    def _drop_finished(self, p: _Plan, now: float) -> None:
        """If the mission holds a task the auction now knows is done or
        cancelled, replace it at once by the route without it (going on
        with the rest if the vehicle was running it) and price bids from here."""
        done = p.agent.done
        if not any(done[j] and p.done_by.get(j) != self.sysid for j in p.route):
            return                          # (its own completions leave the mission as it runs)
        core = self.core
        if not self._upload(p, [j for j in p.route if not done[j]], now):
            if core.mission is p.mission and core.mode == Mode.AUTO:
                core.set_mode(now, Mode.HOLD)   # the new mission was refused: never go on with a dropped task
        self._reprice(p)

    def _v2v_in(self, now: float) -> None:
        for m in self.v2v.receive():
            t = m.get_type()
            if t == "EDGEPILOT_TASK_FILE":
                if m.target_system in (0, self.sysid):
                    self._file_part(m, now)
                continue
            p = self.plan
            if p is None or getattr(m, "plan_id", None) != p.id:
                if (p is not None and t == "EDGEPILOT_TASK_BID" and m.get_srcSystem() in p.sysids
                        and m.task_count < len(p.ids)):
                    p.relay_left = max(p.relay_left, 1)      # a member on a plan ours extends: send it ours
                continue
            try:
                if t == "EDGEPILOT_TASK_LEASE":
                    row = p.leases.add(m)
                    if row is not None:
                        p.tables.append(row)
                    continue
                if t == "EDGEPILOT_TASK_COMPLETE":
                    j, _, result = p.codec.read_complete(m)
                    if result == RESULT_CANCELLED:
                        self._cancelled(p, j, now)
                    elif p.result.get(j) != RESULT_DONE:       # a completion is a fact: it wins over a cancel
                        p.agent.complete(j)
                        p.book.complete(j)
                        p.done_by[j] = m.completed_by
                        p.result[j] = RESULT_DONE
                    continue
                view = p.views.add(m)
            except ValueError:
                self.refused += 1
                continue
            if view is not None:
                p.inbox.append(view)

    def _core_events(self, now: float) -> None:
        events, self._cursor = self.core.events_since(self._cursor)
        p = self.plan
        if p is None or self.core.mission is not p.mission:
            return
        for e in events:
            if e.kind != "item_reached":
                continue
            j = p.seq_task.get(e.data.get("seq"))
            if j is not None and e.data["seq"] == p.last_seq[j] and not p.agent.done[j]:
                p.agent.complete(j)
                p.book.complete(j)
                p.done_by[j] = self.sysid
                p.result[j] = RESULT_DONE
                self.ep.statustext(f"Fleet: task {p.ids[j]} done", _SEV_INFO)
                self._send([p.codec.complete(j, self.sysid, self._ft(now))])
                self._reprice(p)

    # ------------------------------------------------------------ the loop
    def poll(self, now: float) -> None:
        self._v2v_in(now)
        self._core_events(now)
        p = self.plan
        if p is not None:
            self._drop_finished(p, now)        # done or cancelled elsewhere (a done bit in a view): stop now
        ft = self._ft(now)
        if p is None:
            return
        if ft + 1e-9 >= self.next_round:
            self.next_round = max(self.next_round + self.period_s, ft)
            self._round(p, now, ft)
        self._enforce_lease(p, now, ft)

    def _send(self, msgs) -> None:
        self.v2v.send(msgs)
        for m in msgs:
            self.ep.broadcast(m)

    def _round(self, p: _Plan, now: float, ft: float) -> None:
        """One auction round at fleet time ``ft`` (core time ``now``)."""
        a = p.agent
        cur = self._in_progress(p)
        if cur is not None and a.winner[cur] == p.me:
            a.bid[cur] = COMMIT_BID
        inbox, p.inbox = p.inbox, []
        view = a.step(ft, inbox)
        tables, p.tables = p.tables, []
        for row in tables:
            p.book.merge_row(*row)
        p.book.grant(ft, a.winner, a.heard, a.done)
        msgs = p.codec.encode(view) + encode_leases(p.codec, p.book.view(ft))
        # every completion this vehicle knows of, again: a member or ground station
        # that missed it (or started listening later) learns who did what
        msgs += [p.codec.complete(j, s, ft, p.result.get(j, RESULT_DONE)) for j, s in sorted(p.done_by.items())]
        self._send(msgs)
        if p.relay_left > 0:
            p.relay_left -= 1
            self.v2v.send(p.file_msgs)
        self._consider(p, list(a.route), now)
        if p.want_start:
            self._run_mission(p, now)

    # ------------------------------------------------------------ leases
    def _enforce_lease(self, p: _Plan, now: float, ft: float) -> None:
        """Work on the task the mission is at only while holding its lease:
        HOLD when the lease is not (or no longer) held; while holding, work
        on a later task of the route whose lease it does hold when that
        costs less than the wait (the mission reordered to start with it),
        on again with the task it was at when that one's lease comes."""
        core = self.core
        j = p.seq_task.get(core.mission_current) if core.mission is p.mission else None
        if j is None or p.agent.done[j] or core.mission_state == MissionState.COMPLETE:
            p.paused = False
            return
        held = p.book.holds(j, ft)
        if core.mode == Mode.AUTO and not held:
            core.set_mode(now, Mode.HOLD)
            if not p.paused:
                log.info("sysid %d: no lease on %s, holding", self.sysid, p.ids[j])
                self.ep.statustext(f"Fleet: no lease on {p.ids[j]}, holding", _SEV_INFO)
            p.paused = True
        if not (p.paused and core.mode == Mode.HOLD):
            return
        k = self._task_to_work(p, j, ft)
        if k == j:
            if core.start_mission(now, core.mission_current).ok:
                p.paused = False
                self.ep.statustext(f"Fleet: holds the lease on {p.ids[j]}, working", _SEV_INFO)
        elif k is not None:
            self._work_first(p, j, k, now)

    def _task_to_work(self, p: _Plan, j: int, ft: float) -> int | None:
        """Task j (the one the mission is at) when its lease is held; else a
        later task of the route whose lease is held when working on it
        first beats waiting for j's (``lease.work_first``, priced from
        where the vehicle is); else None (it waits)."""
        route = [j] + [x for x in p.route if x != j and not p.agent.done[x]]
        held = [p.book.holds(x, ft) for x in route]
        if held[0] or not any(held):
            return j if held[0] else None
        wait = [0.0 if h else p.book.wait_s(x, ft) for x, h in zip(route, held)]
        st = self.core.state
        if not st.valid:
            return None
        lat, lon = self.core.frame.to_geo(st.x, st.y)
        here = np.array([p.frame.to_local(lat, lon)], dtype=np.float64)
        d = np.asarray(p.distance(None, here, p.entries), dtype=np.float64)[0]
        a = p.agent
        return work_first(route, wait, d / p.speed, a.costs.between_s[p.me], a.costs.service_s[p.me],
                          a.params.latency_weight)

    def _work_first(self, p: _Plan, j: int, k: int, now: float) -> None:
        """No lease on task j, the one the mission is at, but on k, later in
        the route: the mission becomes the route with k first, run from k
        (j and the rest follow in their order; a search left part-way starts
        again at its first item)."""
        route = [k] + [x for x in p.route if x != k and not p.agent.done[x]]
        if self._upload(p, route, now, go=True) and self.core.mode == Mode.AUTO:
            p.paused = False
            log.info("sysid %d: no lease on %s, holds the lease on %s: works on it first",
                     self.sysid, p.ids[j], p.ids[k])
            self.ep.statustext(f"Fleet: no lease on {p.ids[j]}, holds the lease on {p.ids[k]}, working on it first"
                               [:150], _SEV_INFO)

    # ------------------------------------------------------------ missions
    def _in_progress(self, p: _Plan) -> int | None:
        core = self.core
        if core.mission is not p.mission or core.mode != Mode.AUTO:
            return None
        j = p.seq_task.get(core.mission_current)
        return None if j is None or p.agent.done[j] else j

    def _consider(self, p: _Plan, route: list[int], now: float) -> None:
        done = p.agent.done
        route = [j for j in route if not done[j]]
        cur = self._in_progress(p)
        if cur is not None and cur in route:
            route = [cur] + [j for j in route if j != cur]
        key = tuple(route)
        if p.pending == key:
            p.rounds_same += 1
        else:
            p.pending, p.rounds_same = key, 1
        current = [j for j in p.route if not done[j]]
        if p.rounds_same >= SETTLE_ROUNDS and (key != tuple(current) or (p.uploads == 0 and route)):
            self._upload(p, route, now)

    def _upload(self, p: _Plan, route: list[int], now: float, go: bool = False) -> bool:
        """Make ``route`` the mission; False when the core refused it.
        ``go``: run it from its first task now (a task whose lease this
        vehicle holds)."""
        core = self.core
        cur = self._in_progress(p)
        running = core.mission is p.mission and core.mode == Mode.AUTO and p.mission is not None
        resume = core.mission_current - p.first_seq[cur] if cur is not None and route and route[0] == cur else 0
        p.route = list(route)
        p.uploads += 1
        p.first_seq, p.last_seq, p.seq_task = {}, {}, {}
        if not route:
            p.want_start = False
            if core.mission is p.mission and core.mode == Mode.AUTO:
                core.set_mode(now, Mode.HOLD)
            return True
        st = core.state
        start = next(v.start for v in p.tf.vehicle if v.sysid == self.sysid)
        if st.valid:
            lat, lon = core.frame.to_geo(st.x, st.y)
            home = tuple(map(float, p.frame.to_local(lat, lon)))
        else:
            home = start
        # searches ordered from the task file's start, the same every upload (resume by index)
        items = route_mission([p.ids[j] for j in route], p.tasks, p.frame, home, search_from=start)
        seq = 1
        for j in route:
            n = _n_items(p.tasks[j])
            p.first_seq[j], p.last_seq[j] = seq, seq + n - 1
            for s in range(seq, seq + n):
                p.seq_task[s] = j
            seq += n
        res = core.set_mission(items)
        if not res.ok:
            self.ep.statustext(f"Fleet: mission for {[p.ids[j] for j in route]} refused: {res.reason}"[:150],
                               _SEV_WARNING)
            return False
        p.mission = core.mission
        self.ep.statustext(f"Fleet: my tasks {', '.join(p.ids[j] for j in route)}"[:150], _SEV_INFO)
        if go:
            p.want_start = False
            core.start_mission(now, 1)
        elif cur is not None:
            core.start_mission(now, 1 + resume)
        elif running:                  # its task was dropped (done elsewhere, cancelled): on with the rest
            core.start_mission(now, 1)
        elif p.flags & TASK_FILE_START:
            p.want_start = True
            self._run_mission(p, now)
        return True

    def _run_mission(self, p: _Plan, now: float) -> None:
        """Arm (retried every round until the pre-arm checks pass) and start."""
        core = self.core
        if core.mission is not p.mission or core.mission_state == MissionState.COMPLETE:
            p.want_start = False
            return
        if not core.armed and not core.arm(now).ok:
            return
        ft = self._ft(now)
        j = p.seq_task.get(1)
        if j is not None and not p.book.holds(j, ft):
            # not before this vehicle may work on a task: the first of its route whose lease it holds
            k = self._task_to_work(p, j, ft)
            if k is not None:
                self._work_first(p, j, k, now)
            return
        if core.start_mission(now, 1).ok:
            p.want_start = False

    # ------------------------------------------------------------ status
    def status(self) -> dict:
        p = self.plan
        if p is None:
            return {"plan_id": None}
        return {"plan_id": p.id, "route": [p.ids[j] for j in p.route],
                "done_by": {p.ids[j]: s for j, s in p.done_by.items() if p.result.get(j) != RESULT_CANCELLED},
                "cancelled": sorted(p.ids[j] for j, r in p.result.items() if r == RESULT_CANCELLED),
                "winner": [int(w) for w in p.agent.winner], "uploads": p.uploads}

    def fds(self) -> list[int]:
        return self.v2v.fds()

    def close(self) -> None:
        self.v2v.close()


def _to_every_vehicle(m):
    """A copy of an EDGEPILOT_TASK_FILE part addressed to every vehicle
    (``target_system`` 0): the parts the ground station addressed to this
    vehicle would be ignored by the others it repeats them to."""
    c = copy.copy(m)
    c.target_system = 0
    return c


def _carry_over(old: _Plan, p: _Plan) -> None:
    """``p`` extends ``old`` (the same members, old's tasks first, in
    order; the ground station appended new ones): the auction and the
    mission go on where they were.  What the agent believed of the old
    tasks (winners, bids, done, who it heard when), its bundle and route,
    the completions and cancels it knows, and which mission items belong to
    which task carry over; the new tasks start unclaimed and known."""
    a, b = p.agent, old.agent
    n = len(old.ids)
    a.winner[:n], a.bid[:n], a.done[:n] = b.winner, b.bid, b.done
    a.heard[:] = b.heard
    a.bundle, a.route, a.withdrawn = list(b.bundle), list(b.route), b.withdrawn
    p.done_by, p.result = dict(old.done_by), dict(old.result)
    p.route, p.first_seq, p.last_seq, p.seq_task = list(old.route), dict(old.first_seq), dict(old.last_seq), \
        dict(old.seq_task)
    p.pending, p.rounds_same, p.uploads = old.pending, old.rounds_same, old.uploads
    p.want_start, p.mission = old.want_start, old.mission
    p.book, p.paused = old.book.extended(len(p.ids)), old.paused
    p.ancestors = old.ancestors | {old.id}


def _n_items(task) -> int:
    if task.kind == "search":
        return len(search_plan(task).path)
    return 1


__all__ = ["COMMIT_BID", "FleetAuction", "auction_costs", "frame_distance", "vehicle_path_lengths", "RELAY_ROUNDS", "SETTLE_ROUNDS"]
