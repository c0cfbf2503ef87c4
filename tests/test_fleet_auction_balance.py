"""How the fleet auction spreads work while it is being done: the real
``CbbaAgent`` and ``LeaseBook`` of every vehicle, exchanging their views
each round (one round late, as over the V2V link), and vehicles that
drive straight at 1 m/s and work only on a task whose lease they hold,
as the on-board auction does (onboard/fleet_auction.py: the task a
vehicle is busy with held at ``COMMIT_BID``; on finishing one it prices
from where it is and bids again; waiting for the lease on the first task
of its route it works on a later one it holds when that costs less than
the wait, ``lease.work_first``).

The shape that went wrong on the real-time ``fleet_partition`` run: one
vehicle did 1 task, another 7.  An auction that prices a task only by the
work it adds (travel + service) lets the vehicle that chains the most
tasks keep them while one a little farther off stands idle, and bids
made from where each vehicle was when the plan arrived never change.
The tests hold the auction (``FLEET``: the fleets' latency weight and
takeover price) to: every task done exactly once, also through a
partition; no vehicle idle while another holds 3 or more tasks it has
not started that the idle one could each finish sooner, lease handover
included; and, against the central OR-Tools plan of the same tasks, the
last task done no later on average than that plan's longest route for
at most 25 % more work on average (the central plan minimises work
alone and pays nothing for rounds and leases)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from edgepilot.fleet.central import solve_routing
from edgepilot.onboard.fleet_auction import COMMIT_BID
from edgepilot.vehicle.fleet.cbba import FLEET_LATENCY_WEIGHT, CbbaAgent, CbbaParams
from edgepilot.vehicle.fleet.costs import fleet_costs, route_check, straight_line_matrix
from edgepilot.vehicle.fleet.lease import LeaseBook, LeaseParams, work_first
from edgepilot.vehicle.fleet.tasks import parse_tasks

PERIOD_S = 1.0          # auction rounds
DT = 0.25               # motion steps [s]
SPEED = 1.0             # [m/s]
SERVICE_S = 10.0
LEASE = LeaseParams(settle_s=PERIOD_S)      # the on-board auction's defaults
#: what taking a task over costs before work starts: the old promise lapses (duration + margin), a round or two
HANDOVER_S = LEASE.duration_s + LEASE.margin_s + 2 * PERIOD_S

#: fleet_partition's yard (configs/fleet/fleet_partition.toml, tasks/partition_visits.toml)
YARD_STARTS = [(10.0, 6.0), (26.0, 30.0), (54.0, 6.0), (70.0, 36.0)]
YARD_TASKS = [(12.0, 40.0), (22.0, 8.0), (6.0, 24.0), (30.0, 44.0), (32.0, 20.0),
              (50.0, 42.0), (60.0, 10.0), (74.0, 28.0), (70.0, 45.0), (48.0, 22.0)]


def _euclid(domain, s, t):
    return straight_line_matrix(s, t)


class FleetRun:
    """V vehicles sharing visits by the auction with leases, to the end."""

    def __init__(self, starts, tasks, params: CbbaParams, stale_after: float = 90.0):
        self.tf = parse_tasks({
            "vehicle": [{"name": f"v{i}", "sysid": i + 1, "domain": "land", "start": list(p), "speed": SPEED}
                        for i, p in enumerate(starts)],
            "task": [{"id": f"t{j}", "kind": "visit", "position": list(p), "service_s": SERVICE_S}
                     for j, p in enumerate(tasks)]})
        self.costs = fleet_costs(list(self.tf.task), list(self.tf.vehicle), _euclid)
        V, T = self.costs.n_vehicles, self.costs.n_tasks
        self.V, self.T = V, T
        p = replace(params, stale_after=stale_after)
        # each agent its own start row (repriced from where it finishes a task)
        self.agents = [CbbaAgent(v, replace(self.costs, start_s=self.costs.start_s.copy()), p) for v in range(V)]
        self.books = [LeaseBook(v, V, T, LEASE) for v in range(V)]
        self.pos = np.array(starts, float)
        self.goal = np.array(tasks, float)
        self.cur: list[int | None] = [None] * V        # the task a vehicle is busy with (driving to / serving)
        self.serve_left = np.zeros(V)
        self.done_by: dict[int, list[int]] = {}
        self.last_done = np.zeros(V)
        self.busy_s = np.zeros(V)                      # travel + service, the work it did
        self.idle_while_loaded_s = np.zeros(V)         # idle while another holds >= 3 tasks it could do
        self.idle_sooner_s = np.zeros(V)               # idle while it could do another's task sooner
        self.inbox: list[list] = [[] for _ in range(V)]
        self.t = 0.0

    # ------------------------------------------------------------ auction
    def _round(self, group):
        out = []
        for v, (a, book) in enumerate(zip(self.agents, self.books)):
            j = self.cur[v]
            if j is not None and a.winner[j] == v:
                a.bid[j] = COMMIT_BID
            inbox, self.inbox[v] = self.inbox[v], []
            m = a.step(self.t, [x[0] for x in inbox])
            for x in inbox:
                book.merge(x[1])
            book.grant(self.t, a.winner, a.heard, a.done)
            out.append((m, book.view(self.t)))
        for v, msg in enumerate(out):
            for w in range(self.V):
                if w != v and (group is None or group[v] == group[w]):
                    self.inbox[w].append(msg)

    # ------------------------------------------------------------ motion
    def _next_task(self, v) -> int | None:
        """The on-board rule: the task it is on while it holds that lease,
        else ``lease.work_first`` (a later task of its route whose lease it
        holds when that beats waiting for the first's)."""
        a, book = self.agents[v], self.books[v]
        j = self.cur[v]
        if j is not None and not a.done[j] and j in a.route and book.holds(j, self.t):
            return j
        self.cur[v] = None
        route = list(a.route) if j is None or j not in a.route else [j] + [k for k in a.route if k != j]
        held = [book.holds(k, self.t) for k in route]
        if not any(held[1:]):
            return route[0] if held and held[0] else None
        here = np.hypot(*(self.goal - self.pos[v]).T) / SPEED
        return work_first(route, [0.0 if h else book.wait_s(k, self.t) for k, h in zip(route, held)], here,
                          a.costs.between_s[v], a.costs.service_s[v], a.params.latency_weight)

    def _move(self):
        for v in range(self.V):
            j = self._next_task(v)
            if j is None:
                continue
            self.cur[v] = j
            self.busy_s[v] += DT
            d = self.goal[j] - self.pos[v]
            dist = float(np.hypot(*d))
            if dist > 1e-9:
                step = min(dist, SPEED * DT)
                self.pos[v] += d / dist * step
                self.serve_left[v] = SERVICE_S
                continue
            self.serve_left[v] -= DT
            if self.serve_left[v] > 1e-9:
                continue
            a = self.agents[v]
            a.complete(j)
            self.books[v].complete(j)
            self.done_by.setdefault(j, []).append(v)
            self.last_done[v] = self.t + DT
            self.cur[v] = None
            # the on-board auction: price from here, bid again
            a.costs.start_s[v] = np.hypot(*(self.goal - self.pos[v]).T) / SPEED
            a.rebid()

    def _finish_times(self, w) -> dict[int, float]:
        """When vehicle w will have done each task of its route, from now,
        going on as it is (its current task first)."""
        a = self.agents[w]
        route = a.route if self.cur[w] is None else [self.cur[w]] + [j for j in a.route if j != self.cur[w]]
        t, here, out = 0.0, self.pos[w], {}
        for j in route:
            t += float(np.hypot(*(self.goal[j] - here))) / SPEED
            t += self.serve_left[w] if (j == self.cur[w] and np.allclose(here, self.goal[j])) else SERVICE_S
            here = self.goal[j]
            out[j] = t
        return out

    def _idle_check(self):
        done = np.zeros(self.T, bool)
        for a in self.agents:
            done |= a.done
        for v in range(self.V):
            if self.cur[v] is not None or self.agents[v].route:
                continue
            for w in range(self.V):
                if w == v:
                    continue
                fin = self._finish_times(w)
                waiting = [j for j in self.agents[w].route if j != self.cur[w] and not done[j]
                           and self.costs.able[v, j]]
                if len(waiting) >= 3:
                    self.idle_while_loaded_s[v] += DT
                # ... and could have done 3 of them sooner, even after waiting for their leases
                sooner = [j for j in waiting
                          if float(np.hypot(*(self.goal[j] - self.pos[v]))) / SPEED + SERVICE_S + HANDOVER_S < fin[j]]
                if len(sooner) >= 3:
                    self.idle_sooner_s[v] += DT
                if len(waiting) >= 3:
                    break

    def run(self, until: float = 600.0, partition=None):
        """``partition``: (from, to, group per vehicle) when they cannot hear the other group."""
        next_round = PERIOD_S
        while self.t < until and len(self.done_by) < self.T:
            if self.t + 1e-9 >= next_round:
                next_round += PERIOD_S
                apart = partition is not None and partition[0] <= self.t < partition[1]
                self._round(partition[2] if apart else None)
            self._move()
            if self.t > 5.0:               # after the first auction has settled
                self._idle_check()
            self.t += DT
        return self


def central(run: FleetRun) -> tuple[float, float]:
    """The central OR-Tools plan of the same tasks (run to a fixed number
    of solutions: the same plan every run): its total work and its
    longest route [s]."""
    plan = solve_routing(run.costs, time_limit_s=None, solution_limit=300)
    routes = [[run.costs.task_ids.index(t) for t in plan.routes[v]] for v in run.costs.vehicle_ids]
    finish = max(route_check(run.costs, v, r).finish_s for v, r in enumerate(routes))
    return plan.cost, finish


def random_layout(seed):
    """4 vehicles starting anywhere in an 80 m square, 12 visits in its 60 m corner."""
    rng = np.random.default_rng(seed)
    starts = [tuple(rng.uniform(0, 80, 2)) for _ in range(4)]
    tasks = [tuple(rng.uniform(0, 60, 2)) for _ in range(12)]
    return starts, tasks


def counts(run: FleetRun) -> list[int]:
    return [sum(v in who for who in run.done_by.values()) for v in range(run.V)]


def done_once(run: FleetRun) -> None:
    assert sorted(run.done_by) == list(range(run.T)), f"not every task done: {sorted(run.done_by)}"
    assert all(len(who) == 1 for who in run.done_by.values()), f"a task done twice: {run.done_by}"


FLEET = CbbaParams(latency_weight=FLEET_LATENCY_WEIGHT,
                   takeover_s=FLEET_LATENCY_WEIGHT * (LEASE.duration_s + LEASE.margin_s))
#: [s] a vehicle may stand idle while another holds 3 tasks it could each do sooner (a round or two of news,
#: a takeover's lease wait); on main's auction it was 16 to 142 s on 6 of these 8 layouts
IDLE_SOONER_MAX_S = 10.0


def test_no_vehicle_idles_while_another_holds_work_it_could_do_sooner():
    """Eight random layouts: every task done once; no vehicle idle (no task,
    none to go to) for more than ``IDLE_SOONER_MAX_S`` while another holds
    3 or more tasks it has not started that the idle one could each finish
    sooner, even after a lease handover; on average the last task done no
    later than the central plan's longest route (main: 1.18 x; now 0.82 x)
    for at most 25 % more work than the central plan's (now 14 %)."""
    late, work = [], []
    for seed in range(1, 9):
        run = FleetRun(*random_layout(seed), FLEET).run()
        done_once(run)
        assert run.idle_sooner_s.max() <= IDLE_SOONER_MAX_S, \
            (f"layout {seed}: idle {run.idle_sooner_s.tolist()} s while another held 3 tasks it could do sooner; "
             f"tasks done per vehicle {counts(run)}")
        cost, finish = central(run)
        late.append(run.last_done.max() / finish)
        work.append(run.busy_s.sum() / cost)
    assert np.mean(late) <= 1.0, f"last task done at {np.round(late, 2).tolist()} x the central plan's longest route"
    assert np.mean(work) <= 1.25, f"work {np.round(work, 2).tolist()} x the central plan's"


def test_partition_yard_work_spread_and_every_task_done_once():
    """fleet_partition's yard, its link split 2 | 2 from 10 s to 70 s:
    every task done once (the side without a lease quorum waits; the
    other may take its tasks over once their leases lapse, so a vehicle of
    the waiting side may end with one task), and no vehicle doing most of
    the work (main: 1, 6, 1, 2 tasks, the last done 1.65 x the central
    plan's longest route; now 3, 4, 1, 2 and 1.24 x)."""
    run = FleetRun(YARD_STARTS, YARD_TASKS, FLEET).run(partition=(10.0, 70.0, [0, 0, 1, 1]))
    done_once(run)
    n = counts(run)
    assert max(n) <= 4, n
    assert run.idle_sooner_s.max() <= IDLE_SOONER_MAX_S, (run.idle_sooner_s.tolist(), n)
    cost, finish = central(run)
    assert run.last_done.max() <= 1.35 * finish, (run.last_done.max(), finish, n)
