"""Tasks in the fleet run: allocation, missions, completion, evaluation.

- **Costs** come from our grid A* on each domain's prior map (coarsened to
  ``COST_RESOLUTION``), ``vehicle.fleet.costs.fleet_costs``.
- **cbba**: one pure ``CbbaAgent`` per vehicle; every ``link.period_s``
  each working vehicle takes the auction views it has received, steps its
  agent and broadcasts its view as our MAVLink dialect's packets
  (``firmware_bridge.fleet_link``) over the simulated V2V radio
  (``sim.fleet.link``).  A view reaches the others only when every one of
  its packets got through.  A vehicle uploads its route as its mission once
  the route has stayed the same for ``SETTLE_ROUNDS`` rounds.
- **central** (OR-Tools, ``edgepilot.fleet.central``) / **greedy**: the
  ground station plans once at the start and re-plans the remaining tasks
  from the vehicles' positions when a vehicle is lost (``stale_after_s``
  after it went silent) or a task appears or is cancelled.
- Missions: ``vehicle.fleet.missions.route_mission``; a vehicle busy with a
  task keeps doing it first when its route changes (a search resumes at
  the lane it was on).  A task is done when the vehicle reaches its last
  mission item.
- Casualties: each vehicle with a camera reports what its detector sees in
  a casualty colour at the map position its own pose estimate gives.
"""
from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np

from edgepilot.firmware_bridge.fleet_link import encode_leases
from edgepilot.sim.fleet.link import V2VEnds, V2VRadio, fleet_key
from edgepilot.sim.fleet.scenario import FleetScenario
from edgepilot.vehicle.fleet.cbba import CbbaAgent, CbbaParams
from edgepilot.vehicle.fleet.costs import fleet_costs, path_length_matrix, route_check, travel_grid
from edgepilot.vehicle.fleet.missions import route_mission
from edgepilot.vehicle.fleet.tasks import VehicleCapabilities, load_tasks, search_plan
from edgepilot.vehicle.types import Event, MissionState, Mode, Severity

COST_RESOLUTION = 0.5      # [m] grid the allocation's A* path lengths are computed on
#: The bid a vehicle holds on the task it is busy with: above any auction
#: score, so nobody outbids a vehicle half-way through a search (the
#: allocation's costs are from the depots, not from where vehicles are now).
COMMIT_BID = 1.0e9
SETTLE_ROUNDS = 2          # auction rounds a route must stay the same before it becomes the mission
CASUALTY_CLUSTER_M = 4.0   # sightings this close are one casualty report
COVERAGE_CELL_M = 0.25
SEARCH_LEAD_M = 5.0        # searches are ordered from this far ahead of a vehicle's start [m]


def _weights(world, clearance_m: float) -> tuple[np.ndarray, float, tuple[float, float]]:
    """float32 traversal weights (1 free, inf blocked) at COST_RESOLUTION
    from a world's prior map, obstacles grown by ``clearance_m``."""
    w, res = travel_grid(world.prior_map().occupied, world.resolution, clearance_m, COST_RESOLUTION)
    return w, res, (world.origin_x, world.origin_y)


class _Exec:
    """What one vehicle is doing: the route uploaded as its mission and
    which mission items belong to which task."""

    def __init__(self):
        self.route: list[int] = []         # task indices of the uploaded mission
        self.first_seq: dict[int, int] = {}
        self.last_seq: dict[int, int] = {}
        self.seq_task: dict[int, int] = {}
        self.pending: tuple | None = None   # candidate route and rounds it has stayed the same
        self.rounds_same = 0
        self.uploads = 0


class Tasking:
    def __init__(self, sc: FleetScenario, fw, runs, seed: int):
        self.sc = sc
        self.fw = fw
        self.runs = runs
        self.frame = fw.frame
        tf = load_tasks(sc.tasks)
        self.tasks = list(tf.task)
        self.ids = [t.id for t in self.tasks]
        self.index = {tid: j for j, tid in enumerate(self.ids)}
        T = len(self.tasks)
        self.caps = [self._caps(r.m.spec, (r.m.spec.start.x, r.m.spec.start.y)) for r in runs]
        self._weights = {}
        self.costs = self._costs(self.tasks, self.caps)
        held = {f.task for f in sc.faults if f.type == "new_task"}
        self.known = np.array([tid not in held for tid in self.ids])       # what the ground station knows
        self.cancelled: dict[str, float] = {}
        self.done_by: dict[str, list[str]] = {}
        self.done_at: dict[str, float] = {}
        self.arrivals: dict[str, float] = {}
        self.log: list[dict] = []
        self.ex = [_Exec() for _ in runs]
        self.fault_fired = [False] * len(sc.faults)
        self.allocator = sc.allocator
        self.radio = V2VRadio.of_scenario(sc, fw, seed)
        self.next_round = sc.link.period_s    # the fleet clock's first tick (t = 0 has no timestamp on the wire)
        self.initial_plan = None
        self.plan_cost = None
        self.replan_at: float | None = None
        self.sightings: list[dict] = []
        self._last_dets = [None] * len(runs)
        self.casualty_colours = {c.color for c in sc.casualties}
        self.worked: list[dict] = []                 # closed work intervals: vehicle, task, from, to
        self._working: list[tuple | None] = [None] * len(runs)    # (task, since) per vehicle
        self.at_once: dict[str, dict] = {}         # task -> first instant two vehicles worked on it
        self.withdrawn_at: dict[str, float] = {}
        if self.allocator == "cbba":
            from edgepilot.firmware_bridge.fleet_link import FleetCodec, LeaseAssembler, ViewAssembler
            from edgepilot.firmware_bridge.mavlink import dialects
            from edgepilot.vehicle.fleet.energy import EnduranceParams, EnduranceWatch
            from edgepilot.vehicle.fleet.lease import LeaseBook, LeaseParams

            self.mod = dialects.load()
            sysids = [r.m.spec.sysid for r in runs]
            self.codec = FleetCodec(tuple(sysids), T)
            params = CbbaParams(stale_after=sc.stale_after_s, max_bundle=sc.max_tasks_per_vehicle,
                                latency_weight=sc.latency_weight,
                                takeover_s=sc.latency_weight * (sc.lease.duration_s + sc.lease.margin_s))
            # each agent its own start row: repriced from where it finished a task (``_complete``)
            self.agents = [CbbaAgent(i, dataclasses.replace(self.costs, start_s=self.costs.start_s.copy()), params,
                                     known=self.known.copy()) for i in range(len(runs))]
            # each vehicle's end of the radio signs its frames with the fleet key and checks what it hears
            self.ends = V2VEnds(sysids, fleet_key(sc, seed))
            self.assemblers = [ViewAssembler(self.codec) for _ in runs]
            lp = LeaseParams(duration_s=sc.lease.duration_s, margin_s=sc.lease.margin_s,
                             renew_within_s=sc.lease.renew_within_s, settle_s=sc.link.period_s)
            self.books = [LeaseBook(i, len(runs), T, lp) for i in range(len(runs))]
            self.lease_asm = [LeaseAssembler(self.codec) for _ in runs]
            self.paused = [False] * len(runs)
            self._here: dict[int, tuple] = {}           # vehicle -> (its cell, path lengths to every task's entry)
            self.watch = [EnduranceWatch(EnduranceParams(reserve=sc.battery_reserve)) for _ in runs]
        else:
            self._plan_central(0.0, initial=True)

    # ------------------------------------------------------------ set-up
    def _caps(self, v, start) -> VehicleCapabilities:
        cfg = v.vehicle_config
        sensors = tuple(s for s in ("camera", "lidar") if getattr(cfg.sensors, s) is not None)
        if v.domain == "water":
            sensors += ("ais",)
        return VehicleCapabilities(name=v.name, sysid=v.sysid, domain=v.domain, start=tuple(map(float, start)),
                                   speed=v.speed or cfg.control.cruise_speed, payload_kg=v.payload_kg,
                                   endurance_s=v.endurance_s, sensors=sensors)

    def _distance(self, domain: str, sources, targets) -> np.ndarray:
        if domain not in self._weights:
            world = self.fw.worlds[domain]
            half = max(0.5 * r.m.spec.vehicle_config.geometry.width for r in self.runs if r.m.spec.domain == domain)
            self._weights[domain] = _weights(world, half)
        w, res, origin = self._weights[domain]
        return path_length_matrix(w, res, origin, sources, targets)

    def _costs(self, tasks, caps):
        return fleet_costs(tasks, caps, self._distance)

    # ------------------------------------------------------------ the loop
    def on_event(self, r, e: Event, t: float) -> None:
        if e.kind == "mission_failed":
            self._skip_blocked(r, e.data.get("seq"), t)
            return
        if e.kind != "item_reached":
            return
        i = r.m.index
        ex = self.ex[i]
        seq = e.data["seq"]
        j = ex.seq_task.get(seq)
        if j is None:
            return
        tid = self.ids[j]
        if seq == ex.first_seq[j] and tid not in self.arrivals:
            self.arrivals[tid] = t
        if seq == ex.last_seq[j]:
            self._complete(i, j, t)

    def _skip_blocked(self, r, seq, t: float) -> None:
        """A search lane's waypoint the vehicle cannot reach (something its
        lidar sees sits on it: a broken-down vehicle, a casualty): go on
        with the next one, as an operator would tell it to; the coverage
        measurement says what was missed.  A point task that cannot be
        reached is left undone (and reported as such)."""
        i = r.m.index
        ex = self.ex[i]
        j = ex.seq_task.get(seq)
        if j is None or self.tasks[j].kind != "search":
            return
        items = list(r.core.mission)
        self._log(t, "skip", f"{r.m.spec.name}: {self.ids[j]} waypoint #{seq} unreachable, skipped")
        if seq == ex.last_seq[j]:
            self._complete(i, j, t)
        r.core.set_mission(items)                 # clears the failure
        if seq + 1 < len(items):
            r.core.start_mission(t, seq + 1)

    def _complete(self, i: int, j: int, t: float) -> None:
        tid = self.ids[j]
        name = self.runs[i].m.spec.name
        self.done_by.setdefault(tid, []).append(name)
        self.done_at.setdefault(tid, t)
        self._log(t, "task_done", f"{name} completed {tid}")
        self.runs[i].events.append(Event(t, "task", f"{name}: task {tid} done", Severity.INFO, {"task": tid}))
        if self.allocator == "cbba":
            a = self.agents[i]
            a.complete(j)
            self.books[i].complete(j)
            # its route now starts where j ends: price from there and bid again for
            # all but the task it goes on with (as the on-board auction does)
            a.costs.start_s[i] = a.costs.between_s[i, j]
            nxt = self.ex[i].seq_task.get(self.ex[i].last_seq[j] + 1)
            a.rebid(() if nxt is None or a.done[nxt] else (nxt,))

    def on_breakdown(self, r, t: float) -> None:
        self._log(t, "breakdown", f"{r.m.spec.name} broke down")
        if self.allocator != "cbba":
            # the ground station notices the silence after stale_after_s and re-plans
            at = t + self.sc.stale_after_s
            self.replan_at = at if self.replan_at is None else min(self.replan_at, at)

    def tick(self, t: float) -> None:
        self._fleet_faults(t)
        self._sight(t)
        if self.allocator == "cbba":
            if t + 1e-9 >= self.next_round:
                self.next_round += self.sc.link.period_s
                self._auction_round(t)
            self._enforce_leases(t)
        elif self.replan_at is not None and t >= self.replan_at:
            self.replan_at = None
            self._plan_central(t)
        self._record_work(t)

    def _fleet_faults(self, t: float) -> None:
        for k, f in enumerate(self.sc.faults):
            if self.fault_fired[k] or f.type not in ("new_task", "cancel_task") or t < f.at_s:
                continue
            self.fault_fired[k] = True
            j = self.index[f.task]
            to = [i for i, r in enumerate(self.runs) if f.to is None or r.m.spec.name in f.to]
            if f.type == "new_task":
                self.known[j] = True
                self._log(t, "new_task", f"task {f.task} announced to {', '.join(self.runs[i].m.spec.name for i in to)}")
                if self.allocator == "cbba":
                    for i in to:
                        self.agents[i].announce(j)
                else:
                    self.replan_at = t
            else:
                self.cancelled[f.task] = t
                self._log(t, "cancel_task", f"task {f.task} cancelled, told to "
                                            f"{', '.join(self.runs[i].m.spec.name for i in to)}")
                if self.allocator == "cbba":
                    for i in to:
                        self.agents[i].complete(j)     # done = nobody does it any more
                        self.books[i].complete(j)
                else:
                    self.replan_at = t

    # ------------------------------------------------------------ auction
    def _auction_round(self, t: float) -> None:
        out = []
        for i, r in enumerate(self.runs):
            if r.broken_at is not None:
                continue
            inbox, tables = [], []
            for pkt in self.radio.receive(i, t):
                for msg in self.ends.parse(i, pkt):
                    try:
                        if msg.get_type() == "EDGEPILOT_TASK_LEASE":
                            row = self.lease_asm[i].add(msg)
                            if row is not None:
                                tables.append(row)
                            continue
                        view = self.assemblers[i].add(msg)
                    except ValueError:
                        continue
                    if view is not None:
                        inbox.append(view)
            if not self.radio.radio_up(i, t):
                inbox, tables = [], []
            a = self.agents[i]
            cur = self._in_progress(i)
            if cur is not None and a.winner[cur] == i:
                a.bid[cur] = COMMIT_BID
            self._check_endurance(i, t)
            m = a.step(t, inbox)
            book = self.books[i]
            for row in tables:
                book.merge_row(*row)
            book.grant(t, a.winner, a.heard, a.done)
            out.append((i, m))
        for i, m in out:
            pk = self.ends.pack(i, self.codec.encode(m) + encode_leases(self.codec, self.books[i].view(t)))
            self.radio.broadcast(i, t, pk)
        for i, m in out:
            if self.runs[i].m.spec.name not in self.withdrawn_at:
                self._consider(i, [j for j in self.agents[i].route], t)
        if self.initial_plan is None and all(self.ex[i].uploads for i, _ in out):
            routes = [list(self.ex[i].route) for i in range(len(self.runs))]
            self._record_plan(routes, "cbba")

    def _consider(self, i: int, route: list[int], t: float) -> None:
        """Upload ``route`` as vehicle i's mission once it has settled."""
        ex = self.ex[i]
        done = {self.index[k] for k in self.done_by} | {self.index[k] for k in self.cancelled
                                                         if self.agents[i].done[self.index[k]]}
        route = self._head_first(i, [j for j in route if j not in done and not self.agents[i].done[j]])
        key = tuple(route)
        if ex.pending == key:
            ex.rounds_same += 1
        else:
            ex.pending, ex.rounds_same = key, 1
        current = [j for j in ex.route if j not in done and not self.agents[i].done[j]]
        if ex.rounds_same >= SETTLE_ROUNDS and (key != tuple(current) or (ex.uploads == 0 and route)):
            self._upload(i, route, t)

    # ------------------------------------------------------------ leases, endurance
    def _enforce_leases(self, t: float) -> None:
        """A vehicle works on a task only while it holds the task's lease:
        it holds (mode HOLD) when it does not, works meanwhile on a later
        task of its route whose lease it holds when that costs less than
        the wait (``_task_to_work``: its mission reordered to start there),
        and goes on with the task it was at when that one's lease comes."""
        for i, r in enumerate(self.runs):
            if r.broken_at is not None or not r.started or r.m.spec.name in self.withdrawn_at:
                continue
            if r.core.mission_state == MissionState.COMPLETE:
                continue
            j = self.ex[i].seq_task.get(r.core.mission_current)
            if j is not None and self.agents[i].done[j]:
                # done by another or cancelled while it was on the way: off the mission
                self._log(t, "drop", f"{r.m.spec.name}: {self.ids[j]} is done or cancelled, dropped from its mission")
                self._upload(i, [k for k in self.ex[i].route if not self.agents[i].done[k]], t)
                j = self.ex[i].seq_task.get(r.core.mission_current)
            if j is None:
                continue
            book = self.books[i]
            if r.core.mode == Mode.AUTO and not book.holds(j, t):
                r.core.set_mode(t, Mode.HOLD)
                if not self.paused[i]:
                    self._log(t, "lease_wait", f"{r.m.spec.name}: no lease on {self.ids[j]}, holding")
                self.paused[i] = True
            if not (self.paused[i] and r.core.mode == Mode.HOLD):
                continue
            # holding: the task it is at once its lease comes; meanwhile a later one it holds, when that pays
            a = self.agents[i]
            k = self._task_to_work(i, j, t)
            if k == j:
                r.core.start_mission(t, r.core.mission_current)
                self.paused[i] = False
                self._log(t, "lease", f"{r.m.spec.name}: holds the lease on {self.ids[j]}, working")
            elif k is not None:
                # the mission becomes its route with k first (a search left part-way starts again)
                self._upload(i, [k] + [x for x in self.ex[i].route if x != k and not a.done[x]], t)
                self.paused[i] = r.core.mode != Mode.AUTO
                self._log(t, "lease_first", f"{r.m.spec.name}: no lease on {self.ids[j]}, holds the lease on "
                                            f"{self.ids[k]}: works on it first")

    def _task_to_work(self, i: int, j: int, t: float) -> int | None:
        """Task j (the one vehicle i's mission is at) when it holds its
        lease; else a later task of its route whose lease it holds when
        working on it first beats waiting for j's (``lease.work_first``,
        priced from where the vehicle is); else None (it waits)."""
        from edgepilot.vehicle.fleet.lease import work_first

        a, book = self.agents[i], self.books[i]
        route = [j] + [x for x in self.ex[i].route if x != j and not a.done[x]]
        held = [book.holds(x, t) for x in route]
        if held[0] or not any(held):
            return j if held[0] else None
        wait = [0.0 if h else book.wait_s(x, t) for x, h in zip(route, held)]
        st = self.runs[i].core.state
        cell = (round(st.x / COST_RESOLUTION), round(st.y / COST_RESOLUTION))
        if self._here.get(i, (None,))[0] != cell:       # one path-length sweep per cell it holds in
            entries = np.array([self._entry(x) for x in range(len(self.tasks))])
            self._here[i] = (cell, self._distance(self.runs[i].m.spec.domain, np.array([[st.x, st.y]]), entries)[0])
        d = self._here[i][1]
        return work_first(route, wait, d / self.caps[i].speed, a.costs.between_s[i], a.costs.service_s[i],
                          a.params.latency_weight)

    def _record_work(self, t: float) -> None:
        """Who works on which task, from the simulator's side: a vehicle in
        AUTO whose current mission item belongs to the task."""
        now: dict[int, list[int]] = {}
        for i, r in enumerate(self.runs):
            j = None
            if r.broken_at is None and r.started and r.core.mode == Mode.AUTO:
                j = self.ex[i].seq_task.get(r.core.mission_current)
            cur = self._working[i]
            if cur is not None and cur[0] != j:
                self.worked.append({"vehicle": r.m.spec.name, "task": self.ids[cur[0]], "from_s": round(cur[1], 2),
                                    "to_s": round(t, 2)})
                cur = None
            if j is not None:
                if cur is None:
                    cur = (j, t)
                now.setdefault(j, []).append(i)
            self._working[i] = cur
        for j, who in now.items():
            if len(who) > 1 and self.ids[j] not in self.at_once:
                names = [self.runs[i].m.spec.name for i in who]
                self.at_once[self.ids[j]] = {"t": round(t, 2), "vehicles": names}
                self._log(t, "at_once", f"task {self.ids[j]} worked on by {' and '.join(names)} at once")

    def _check_endurance(self, i: int, t: float) -> None:
        """Keep the tasks only while the battery covers them and the way
        home: otherwise withdraw from the auction (the others take them
        over once the leases lapse) and return to launch."""
        from edgepilot.vehicle.fleet.energy import route_and_return_s

        r = self.runs[i]
        name = r.m.spec.name
        w = self.watch[i]
        w.add(t, r.core.battery_remaining)
        if name in self.withdrawn_at or not r.started:
            return
        ex = self.ex[i]
        route = [j for j in ex.route if not self.agents[i].done[j]]
        st = r.core.state
        speed = self.caps[i].speed
        if route:
            e = self._entry(route[0])
            first = math.hypot(e[0] - st.x, e[1] - st.y) / speed
        else:
            first = math.hypot(r.m.spec.start.x - st.x, r.m.spec.start.y - st.y) / speed
        need = route_and_return_s(self.costs, i, route, first)
        if w.covers(need):
            return
        self.withdrawn_at[name] = t
        self.agents[i].withdraw()
        left = w.left_s()
        self._log(t, "withdraw", f"{name}: battery {100 * (r.core.battery_remaining or 0):.0f} %, draining "
                                 f"{100 * (w.drain_per_s() or 0):.2f} %/s: {left:.0f} s left above the reserve, "
                                 f"route and return need {need:.0f} s; gives up "
                                 f"{[self.ids[j] for j in route] or 'nothing'} and returns home")
        r.events.append(Event(t, "withdraw", f"{name}: battery cannot cover its tasks, returning home",
                              Severity.WARNING, {"tasks": [self.ids[j] for j in route]}))
        res = r.core.set_mode(t, Mode.RTL)
        if not res.ok:
            self._log(t, "withdraw", f"{name}: RTL refused: {res.reason}")

    def _entry(self, j: int) -> tuple[float, float]:
        from edgepilot.vehicle.fleet.tasks import task_work

        e = task_work(self.tasks[j]).entry
        return float(e[0]), float(e[1])

    # ------------------------------------------------------------ central
    def _plan_central(self, t: float, initial: bool = False) -> None:
        from edgepilot.vehicle.fleet.allocation import GreedyAllocator

        alive = [i for i, r in enumerate(self.runs) if r.broken_at is None]
        busy = {i: self._in_progress(i) for i in alive} if not initial else {}
        open_tasks = [j for j in range(len(self.tasks)) if self.known[j] and self.ids[j] not in self.done_by
                      and self.ids[j] not in self.cancelled and j not in busy.values()]
        tasks = [self.tasks[j] for j in open_tasks]
        caps = []
        for i in alive:
            r = self.runs[i]
            if initial:
                caps.append(self.caps[i])
            else:
                j = busy.get(i)
                pos = self.tasks[j].position if j is not None and hasattr(self.tasks[j], "position") else None
                tr = r.m.sim.truth
                caps.append(self._caps(r.m.spec, pos if pos is not None else (tr.x, tr.y)))
        costs = self._costs(tasks, caps)
        if self.allocator == "central":
            from edgepilot.fleet.central import OrToolsAllocator

            plan = OrToolsAllocator(time_limit_s=None, solution_limit=self.sc.central_solution_limit).allocate(
                tasks, caps, costs)
        else:
            plan = GreedyAllocator().allocate(tasks, caps, costs)
        self._log(t, "plan", f"{plan.method} plan of {len(tasks)} tasks for {len(alive)} vehicles, "
                             f"cost {plan.cost:.0f} s" + (f", unassigned {list(plan.unassigned)}" if plan.unassigned else ""))
        if initial:
            self.initial_plan = {k: list(v) for k, v in plan.routes.items()}
            self.plan_cost = plan.cost
            self._plan_costs = (costs, tasks, caps)
        for i, cap in zip(alive, caps):
            route = [self.index[tid] for tid in plan.routes.get(cap.name, ())]
            if busy.get(i) is not None:
                route = [busy[i]] + route
            if route != self.ex[i].route or initial:
                self._upload(i, route, t)

    def _record_plan(self, routes, method) -> None:
        known = [j for j in range(len(self.tasks)) if self.known[j]]
        self.initial_plan = {self.runs[i].m.spec.name: [self.ids[j] for j in r] for i, r in enumerate(routes)}
        self.plan_cost = float(sum(route_check(self.costs, i, r).cost_s for i, r in enumerate(routes)))
        self._plan_costs = None
        self._known_at_plan = known

    # ------------------------------------------------------------ missions
    def _in_progress(self, i: int) -> int | None:
        r = self.runs[i]
        ex = self.ex[i]
        if not r.started or r.core.mode != Mode.AUTO:
            return None
        j = ex.seq_task.get(r.core.mission_current)
        if j is None or self.ids[j] in self.done_by:
            return None
        return j

    def _head_first(self, i: int, route: list[int]) -> list[int]:
        """The task vehicle i is busy with stays first: it finishes what it started."""
        cur = self._in_progress(i)
        if cur is not None and cur in route:
            return [cur] + [j for j in route if j != cur]
        return list(route)

    def _upload(self, i: int, route: list[int], t: float) -> None:
        r = self.runs[i]
        ex = self.ex[i]
        core = r.core
        cur = self._in_progress(i)
        resume = None
        route = self._head_first(i, route)
        if cur is not None and route and route[0] == cur:
            resume = r.core.mission_current - ex.first_seq[cur]
        name = r.m.spec.name
        ex.route = list(route)
        ex.uploads += 1
        self._log(t, "mission", f"{name}: route {[self.ids[j] for j in route] or 'empty'}")
        if not route:
            ex.first_seq, ex.last_seq, ex.seq_task = {}, {}, {}
            if r.started:
                core.set_mode(t, Mode.HOLD)
            return
        st = r.m.spec.start
        # Searches ordered from a point SEARCH_LEAD_M ahead of the start along
        # its heading: the first lane is one the vehicle heads into, not one
        # behind it (a boat would have to turn round for it).  Fixed per
        # vehicle, so a resumed search keeps its waypoints.
        yaw = math.radians(st.yaw_deg)
        ahead = (st.x + SEARCH_LEAD_M * math.cos(yaw), st.y + SEARCH_LEAD_M * math.sin(yaw))
        items = route_mission([self.ids[j] for j in route], self.tasks, self.frame, (st.x, st.y),
                              search_from=ahead)
        ex.first_seq, ex.last_seq, ex.seq_task = {}, {}, {}
        seq = 1
        for j in route:
            n = self._n_items(self.tasks[j])
            ex.first_seq[j], ex.last_seq[j] = seq, seq + n - 1
            for s in range(seq, seq + n):
                ex.seq_task[s] = j
            seq += n
        assert seq == len(items), (seq, len(items))
        res = core.set_mission(items)
        if not res.ok:
            raise ValueError(f"{self.sc.source}: {name}: mission for {route}: {res.reason}")
        r.has_mission = True
        r.reached = set()
        r.n_wp = len(items) - 1
        if r.started:
            first = 1 + (resume or 0)
            core.start_mission(t, first)

    def _n_items(self, task) -> int:
        if task.kind == "search":
            return len(search_plan(task).path)
        return 1

    # ------------------------------------------------------------ casualties
    def _sight(self, t: float) -> None:
        if not self.casualty_colours:
            return
        for i, r in enumerate(self.runs):
            if r.broken_at is not None:
                continue
            dets = r.core.camera_detections
            if dets is self._last_dets[i] or not dets:
                self._last_dets[i] = dets
                continue
            self._last_dets[i] = dets
            st = r.core.state
            c, s = math.cos(st.yaw), math.sin(st.yaw)
            near = r.m.spec.vehicle_config.sensors.camera.obstacle_range_m
            for d in dets:
                # reported from a close look only: the range from a target's size grows uncertain far off
                if d.label not in self.casualty_colours or not (math.isfinite(d.range) and d.range <= near):
                    continue
                x, y = st.x + c * d.x - s * d.y, st.y + s * d.x + c * d.y
                self._report(r, x, y, d.range, t)

    def _report(self, r, x: float, y: float, rng: float, t: float) -> None:
        for s in self.sightings:
            if math.hypot(s["x"] - x, s["y"] - y) < CASUALTY_CLUSTER_M:
                # keep the estimate from the closest look (the range error grows with range)
                if rng < s["range"]:
                    s.update(x=x, y=y, range=rng)
                s["n"] += 1
                return
        name = r.m.spec.name
        self.sightings.append({"x": x, "y": y, "range": rng, "n": 1, "by": name, "t": t})
        self._log(t, "casualty", f"{name} reports a casualty at ({x:.1f}, {y:.1f}) m")
        r.events.append(Event(t, "casualty", f"{name}: casualty sighted at ({x:.1f}, {y:.1f}) m", Severity.ALERT,
                              {"x": x, "y": y}))

    # ------------------------------------------------------------ end
    def finished(self, t: float) -> bool:
        if not all(self.fault_fired[k] for k, f in enumerate(self.sc.faults) if f.type in ("new_task", "cancel_task")):
            return False
        if self.replan_at is not None:
            return False
        for f in self.sc.faults:       # the fleet must have met again (and agreed) after a partition
            if f.type in ("link_partition", "link_loss") and t < f.at_s + f.duration_s + 5 * self.sc.link.period_s:
                return False
        for j, tid in enumerate(self.ids):
            if self.known[j] and tid not in self.cancelled and tid not in self.done_by:
                return False
        if self.sc.criteria.home_within_m is not None:
            for name in self.withdrawn_at:
                if self._from_home(name) > self.sc.criteria.home_within_m:
                    return False
        return t > 2 * self.sc.link.period_s

    def _from_home(self, name: str) -> float:
        r = next(r for r in self.runs if r.m.spec.name == name)
        tr, st = r.m.sim.truth, r.m.spec.start
        return math.hypot(tr.x - st.x, tr.y - st.y)

    def _log(self, t: float, kind: str, text: str) -> None:
        self.log.append({"t": round(t, 2), "kind": kind, "text": text})

    def link_stats(self) -> dict:
        if self.allocator != "cbba":
            return {}
        return {**self.radio.stats(), "refused_signature": sum(self.ends.rejected)}

    def evaluate(self, t_end: float):
        sc = self.sc
        crit = sc.criteria
        reasons = []
        twice = {tid: who for tid, who in self.done_by.items() if len(who) > 1}
        dropped = [tid for j, tid in enumerate(self.ids)
                   if self.known[j] and tid not in self.cancelled and tid not in self.done_by]
        never = [tid for j, tid in enumerate(self.ids) if not self.known[j]]
        if crit.all_tasks:
            for tid, who in twice.items():
                reasons.append(f"task {tid} done {len(who)} times (by {', '.join(who)})")
            if dropped:
                reasons.append(f"tasks not done within {t_end:.0f} s: {', '.join(dropped)}")
        coverage = {}
        for j, task in enumerate(self.tasks):
            if task.kind == "search" and self.known[j] and task.id not in self.cancelled:
                coverage[task.id] = round(self._coverage(task), 4)
                if crit.min_coverage is not None and coverage[task.id] < crit.min_coverage:
                    reasons.append(f"search {task.id} covered {100 * coverage[task.id]:.1f} %, "
                                   f"below the required {100 * crit.min_coverage:.0f} %")
        late = []
        for task in self.tasks:
            if task.kind == "deliver" and task.window_s is not None and task.id in self.arrivals:
                a = self.arrivals[task.id]
                if a > task.window_s[1] + 1e-6:
                    late.append({"task": task.id, "arrived_s": round(a, 1), "window_s": list(task.window_s)})
        if late and crit.all_tasks:
            reasons += [f"delivery {x['task']} arrived at {x['arrived_s']:.0f} s, after its window closed at "
                        f"{x['window_s'][1]:.0f} s" for x in late]
        casualties = []
        for c in sc.casualties:
            best = min(self.sightings, key=lambda s: math.hypot(s["x"] - c.position[0], s["y"] - c.position[1]),
                       default=None)
            err = None if best is None else math.hypot(best["x"] - c.position[0], best["y"] - c.position[1])
            ok = err is not None and (crit.casualty_within_m is None or err <= crit.casualty_within_m)
            casualties.append({"name": c.name, "position": list(c.position),
                               "reported": None if not ok else [round(best["x"], 2), round(best["y"], 2)],
                               "by": best["by"] if ok else None, "t": round(best["t"], 1) if ok else None,
                               "error_m": round(err, 2) if ok else None})
            if crit.casualty_within_m is not None and not ok:
                reasons.append(f"casualty {c.name} at {list(c.position)} not reported within "
                               f"{crit.casualty_within_m:g} m" + ("" if err is None else f" (nearest report {err:.1f} m off)"))
        ref = reference = None
        if crit.max_plan_cost_ratio is not None and self.plan_cost is not None:
            ref, source, digest = self._reference_cost()
            reference = {"source": source, "digest": digest, "cost_s": ref}
            ratio = self.plan_cost / ref if ref > 0 else math.inf
            if ratio > crit.max_plan_cost_ratio:
                reasons.append(f"plan cost {self.plan_cost:.0f} s is {100 * (ratio - 1):.1f} % above OR-Tools' "
                               f"best with a {crit.reference_time_limit_s:g} s limit ({ref:.0f} s); allowed "
                               f"{100 * (crit.max_plan_cost_ratio - 1):.0f} %")
        for tid, x in self.at_once.items():
            reasons.append(f"task {tid} worked on by {' and '.join(x['vehicles'])} at once at t={x['t']:.1f} s")
        if crit.withdrawn is not None and sorted(crit.withdrawn) != sorted(self.withdrawn_at):
            reasons.append(f"vehicles that gave their tasks up for want of battery: "
                           f"{sorted(self.withdrawn_at) or 'none'}, expected {sorted(crit.withdrawn) or 'none'}")
        if crit.home_within_m is not None:
            for name in self.withdrawn_at:
                d = self._from_home(name)
                if d > crit.home_within_m:
                    reasons.append(f"{name} gave its tasks up but ended {d:.1f} m from its start, "
                                   f"more than {crit.home_within_m:g} m")
        agreed = None
        if self.allocator == "cbba":
            alive = [i for i, r in enumerate(self.runs) if r.broken_at is None]
            open_ = np.array([self.known[j] and self.ids[j] not in self.done_by and self.ids[j] not in self.cancelled
                              for j in range(len(self.ids))])
            views = [np.where(open_, self.agents[i].winner, -1) for i in alive]
            agreed = all(np.array_equal(views[0], v) for v in views[1:])
            if not agreed and crit.all_tasks:
                reasons.append("the vehicles' auction views still disagree at the end of the run")
        summary = {
            "allocator": self.allocator, "agreed_at_end": agreed, "count": len(self.ids), "done_count": len(self.done_by),
            "initial_plan": self.initial_plan, "plan_cost_s": None if self.plan_cost is None else round(self.plan_cost, 1),
            "reference_cost_s": None if ref is None else round(ref, 1),
            "reference": reference,
            "done_by": self.done_by, "done_at": {k: round(v, 1) for k, v in self.done_at.items()},
            "done_twice": twice, "dropped": dropped, "cancelled": sorted(self.cancelled), "never_announced": never,
            "late_deliveries": late, "coverage": coverage, "log": self.log,
            "worked": self._work_intervals(t_end), "worked_at_once": self.at_once,
            "withdrawn": {k: round(v, 1) for k, v in self.withdrawn_at.items()},
            "missions_uploaded": {r.m.spec.name: self.ex[i].uploads for i, r in enumerate(self.runs)},
            "areas": {t.id: [list(p) for p in t.area] for t in self.tasks if t.kind == "search"},
            "points": {t.id: list(t.position) for t in self.tasks if hasattr(t, "position")},
        }
        return summary, casualties, reasons

    def _work_intervals(self, t_end: float) -> list[dict]:
        out = list(self.worked)
        for i, cur in enumerate(self._working):
            if cur is not None:
                out.append({"vehicle": self.runs[i].m.spec.name, "task": self.ids[cur[0]],
                            "from_s": round(cur[1], 2), "to_s": round(t_end, 2)})
        return sorted(out, key=lambda x: (x["from_s"], x["vehicle"]))

    def _reference_cost(self) -> tuple[float, str, str]:
        """OR-Tools' best with the criteria's long time limit for the tasks
        known at the start; the scenario's recorded one when it was recorded
        for this very problem (its digest), which spares the long solve."""
        from edgepilot.fleet.central import reference_cost

        crit = self.sc.criteria
        known = [j for j in range(len(self.tasks)) if self.known_at_start(j)]
        tasks = [self.tasks[j] for j in known]
        costs = self._costs(tasks, self.caps)
        stored = None if crit.reference_digest is None else (crit.reference_digest, crit.reference_cost_s)
        return reference_cost(costs, crit.reference_time_limit_s, stored)

    def known_at_start(self, j: int) -> bool:
        return self.ids[j] not in {f.task for f in self.sc.faults if f.type == "new_task"}

    def _coverage(self, task) -> float:
        """Fraction of the search area's free cells within swath/2 of some
        vehicle's true track (any vehicle of the task's domain)."""
        domain = task.domain if task.domain != "any" else "land"
        world = self.fw.worlds.get(domain) or next(iter(self.fw.worlds.values()))
        area = np.asarray(task.area, dtype=np.float64)
        lo, hi = area.min(axis=0), area.max(axis=0)
        res = COVERAGE_CELL_M
        W, H = int(math.ceil((hi[0] - lo[0]) / res)), int(math.ceil((hi[1] - lo[1]) / res))
        poly = np.zeros((H, W), np.uint8)
        cv2.fillPoly(poly, [np.round((area - lo) / res * 16).astype(np.int32)], 1, shift=4)
        xs = lo[0] + (np.arange(W) + 0.5) * res
        ys = lo[1] + (np.arange(H) + 0.5) * res
        gx, gy = np.meshgrid(xs, ys)
        r_, c_ = world._cells(gx.ravel(), gy.ravel())
        free = ~world.truth.occupied[r_, c_].reshape(H, W)
        seen = np.zeros((H, W), np.uint8)
        thick = max(1, int(round(task.swath / res)))
        for r in self.runs:
            if r.m.spec.domain != domain or not r.rows:
                continue
            tr = np.array([(row[1], row[2]) for row in r.rows])
            near = ((tr[:, 0] > lo[0] - task.swath) & (tr[:, 0] < hi[0] + task.swath)
                    & (tr[:, 1] > lo[1] - task.swath) & (tr[:, 1] < hi[1] + task.swath))
            if near.sum() < 1:
                continue
            pts = np.round((tr - lo) / res * 16).astype(np.int32)
            # split into runs of consecutive nearby samples
            idx = np.flatnonzero(near)
            splits = np.flatnonzero(np.diff(idx) > 1) + 1
            for seg in np.split(idx, splits):
                cv2.polylines(seen, [pts[seg]], False, 1, thickness=thick, lineType=cv2.LINE_8, shift=4)
                for p in pts[seg[[0, -1]]]:
                    cv2.circle(seen, (int(p[0]), int(p[1])), int(round(thick / 2 * 16)), 1, -1, shift=4)
        want = (poly > 0) & free
        n = int(want.sum())
        return float(((seen > 0) & want).sum() / n) if n else 1.0
