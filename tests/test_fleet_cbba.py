"""CBBA: kernels against their NumPy oracles, and the auction's guarantees
over a simulated lossy, reordering, partitioning network."""
import dataclasses
import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgepilot.vehicle.fleet import _cbba_kernels as K
from edgepilot.vehicle.fleet.cbba import (FLEET_LATENCY_WEIGHT, CbbaAgent, CbbaParams, agreed, allocate_cbba,
                                          consensus_numpy)
from edgepilot.vehicle.fleet.costs import (best_insertion, best_insertion_numpy, fleet_costs, route_check, schedule,
                                           straight_line_matrix)
from edgepilot.vehicle.fleet.greedy import allocate_greedy
from edgepilot.vehicle.fleet.tasks import parse_tasks


def _euclid(domain, s, t):
    return straight_line_matrix(s, t)


def random_costs(rng, V, T, windows=False, capacity=False, domains=True):
    vehicles = [{"name": f"v{i}", "sysid": i + 1,
                 "domain": ("land", "water")[i % 2] if domains else "land",
                 "start": [float(x) for x in rng.uniform(0, 200, 2)], "speed": float(rng.uniform(1, 3)),
                 "payload_kg": float(rng.uniform(5, 30)) if capacity else 1e6} for i in range(V)]
    tasks = []
    for j in range(T):
        t = {"id": f"t{j}", "position": [float(x) for x in rng.uniform(0, 200, 2)],
             "domain": str(rng.choice(["land", "water", "any"])) if domains else "any"}
        if windows or capacity:
            t.update(kind="deliver", load_kg=float(rng.uniform(1, 8)) if capacity else 1e-3)
            if windows:
                o = float(rng.uniform(0, 200))
                t["window_s"] = [o, o + float(rng.uniform(20, 300))]
        else:
            t.update(kind="visit", service_s=float(rng.uniform(0, 20)))
        tasks.append(t)
    tf = parse_tasks({"vehicle": vehicles, "task": tasks})
    return fleet_costs(list(tf.task), list(tf.vehicle), _euclid)


# ------------------------------------------------------------ oracles
@pytest.mark.parametrize("seed", range(30))
def test_insertion_kernel_matches_numpy_oracle(seed):
    rng = np.random.default_rng(seed)
    c = random_costs(rng, 3, 12, windows=seed % 2 == 0, capacity=seed % 3 == 0)
    for v in range(c.n_vehicles):
        route = []
        for _ in range(6):
            cand = rng.random(c.n_tasks) < 0.8
            cand[route] = False
            d1, p1 = best_insertion(c, v, route, cand)
            d2, p2 = best_insertion_numpy(c, v, route, cand)
            np.testing.assert_allclose(d1, d2, rtol=1e-12, atol=1e-9)
            fin = np.isfinite(d2)
            assert np.array_equal(p1[fin], p2[fin])
            if not fin.any():
                break
            j = int(np.flatnonzero(fin)[0])
            route.insert(int(p1[j]), j)
            chk = route_check(c, v, route)
            assert chk.feasible, chk.problem   # what insertion calls feasible is feasible


@pytest.mark.parametrize("seed", range(20))
def test_latency_insertion_kernel_matches_numpy_oracle(seed):
    """Route cost + lam x the sum of finish times (from t0), the latency part capped per task."""
    rng = np.random.default_rng(seed)
    c = random_costs(rng, 3, 12, windows=seed % 2 == 0, capacity=seed % 3 == 0)
    lam, t0 = float(rng.uniform(0.2, 2.0)), float(rng.uniform(0.0, 60.0))
    lat_cap = rng.uniform(20.0, 400.0, c.n_tasks)          # binds for some tasks
    for v in range(c.n_vehicles):
        route = []
        for _ in range(6):
            cand = rng.random(c.n_tasks) < 0.8
            cand[route] = False
            d1, p1 = np.empty(c.n_tasks), np.empty(c.n_tasks, np.int64)
            K.latency_insertion_kernel(c.start_s[v], c.between_s[v], c.service_s[v], c.open_s, c.close_s,
                                       c.load_kg, c.able[v], cand, np.array(route, np.int64),
                                       float(c.capacity_kg[v]), float(c.endurance_s[v]), lam, t0, lat_cap, d1, p1)
            d2, p2 = best_insertion_numpy(c, v, route, cand, lam, lat_cap, t0)
            np.testing.assert_allclose(d1, d2, rtol=1e-12, atol=1e-9)
            fin = np.isfinite(d2)
            assert np.array_equal(p1[fin], p2[fin])
            d0, _ = best_insertion(c, v, route, cand)
            assert np.array_equal(np.isfinite(d0), fin) and (d2[fin] >= d0[fin] - 1e-9).all()
            if not fin.any():
                break
            j = int(np.flatnonzero(fin)[0])
            route.insert(int(p1[j]), j)


@pytest.mark.parametrize("seed", range(40))
def test_consensus_kernel_matches_numpy_oracle(seed):
    rng = np.random.default_rng(seed)
    V, T = 5, 40
    i, k = (int(x) for x in rng.choice(V, 2, replace=False))
    zk = rng.integers(-1, V, T)
    zi = rng.integers(-1, V, T)
    yk = rng.choice([0.0, 1.0, 2.0, 3.0], T)    # ties on purpose
    yi = rng.choice([0.0, 1.0, 2.0, 3.0], T)
    sk = rng.choice([-np.inf, 1.0, 2.0, 3.0], V)
    si = rng.choice([-np.inf, 1.0, 2.0, 3.0], V)
    z1, y1 = zi.copy(), yi.copy()
    K.consensus_kernel(i, k, zk, yk, sk, z1, y1, si)
    z2, y2 = zi.copy(), yi.copy()
    consensus_numpy(i, k, zk, yk, sk, z2, y2, si)
    assert np.array_equal(z1, z2) and np.array_equal(y1, y2)


def test_bundle_kernel_matches_numpy_bundle_builder():
    for seed in range(10):
        c = random_costs(np.random.default_rng(seed), 3, 15, windows=seed % 2 == 0)
        a, b = (CbbaAgent(0, c, CbbaParams(improve_route=False)) for _ in range(2))
        a._build_bundle()
        b.build_bundle_numpy()
        assert a.bundle == b.bundle and a.route == b.route
        assert np.array_equal(a.bid, b.bid)


def test_bundle_kernel_matches_numpy_builder_with_latency_and_takeover():
    """The fleets' pricing: latency weight, a route that starts later than
    the first round, a takeover price for tasks others have won."""
    for seed in range(10):
        rng = np.random.default_rng(seed)
        c = random_costs(rng, 3, 15, windows=seed % 2 == 0)
        params = CbbaParams(improve_route=False, latency_weight=float(rng.uniform(0.3, 2.0)),
                            takeover_s=float(rng.uniform(0.0, 30.0)))
        a, b = (CbbaAgent(0, c, params) for _ in range(2))
        won = rng.random(15) < 0.4
        for x in (a, b):
            x.step(0.0)                                    # the first round: the clock finish times count from
            x.rebid(at=float(seed * 7))
            x.winner[:] = np.where(won, 1 + (np.arange(15) % 2), -1)
            x.bid[:] = np.where(won, rng.uniform(0.0, 10.0 * c.scale(), 15).astype(np.float32), 0.0) if x is a \
                else a.bid
        a._build_bundle()
        b.build_bundle_numpy()
        assert a.bundle == b.bundle and a.route == b.route
        assert np.array_equal(a.bid, b.bid) and np.array_equal(a.winner, b.winner)


def test_rebid_releases_all_but_the_kept_task_and_bids_again():
    c = random_costs(np.random.default_rng(4), 2, 8, domains=False)
    a = CbbaAgent(0, c, CbbaParams(latency_weight=1.0))
    a.step(0.0)
    assert len(a.bundle) == 8
    keep = a.route[0]
    old = a.bid.copy()
    c.start_s[0] = c.between_s[0, keep]                   # it is now where its first task ends
    a.rebid(keep=(keep,), at=30.0)
    assert a.bundle == [keep] and a.route == [keep]
    assert (a.winner == -1).sum() == 7 and a.winner[keep] == 0 and a.bid[keep] == old[keep]
    a.step(31.0)
    assert sorted(a.bundle) == list(range(8)) and a.route[0] == keep
    assert not np.array_equal(a.bid, old)                 # priced from where it is and from when


def test_route_improvement_keeps_tasks_windows_and_never_costs_more():
    for seed in range(12):
        rng = np.random.default_rng(seed)
        c = random_costs(rng, 1, 9, windows=seed % 2 == 0, domains=False)
        r = [int(j) for j in rng.permutation(9)]
        before = route_check(c, 0, r)
        if not before.feasible:
            continue
        arr = np.array(r, np.int64)
        cost = K.improve_route_kernel(c.start_s[0], c.between_s[0], c.service_s[0], c.open_s, c.close_s,
                                      arr, float(c.endurance_s[0]), 50)
        after = route_check(c, 0, arr.tolist())
        assert sorted(arr.tolist()) == sorted(r) and after.feasible
        assert after.cost_s == pytest.approx(cost) and cost <= before.cost_s + 1e-9
        # with a latency weight: cost + lam x the sum of finish times, never more
        lam = 0.5 + seed / 6

        def objective(route):
            return route_check(c, 0, route).cost_s + lam * float(schedule(c, 0, route).finish.sum())

        arr = np.array(r, np.int64)
        got = K.improve_route_latency_kernel(c.start_s[0], c.between_s[0], c.service_s[0], c.open_s, c.close_s,
                                             arr, float(c.endurance_s[0]), 50, lam)
        assert sorted(arr.tolist()) == sorted(r) and route_check(c, 0, arr.tolist()).feasible
        assert got == pytest.approx(objective(arr.tolist())) and got <= objective(r) + 1e-9


# ------------------------------------------------------------ one-call allocation
def test_allocation_respects_windows_capacity_and_skills():
    c = random_costs(np.random.default_rng(3), 4, 30, windows=True, capacity=True)
    for plan in (allocate_cbba(c), allocate_greedy(c)):
        assigned = [t for r in plan.routes.values() for t in r]
        assert len(assigned) == len(set(assigned))
        for v, r in plan.routes.items():
            vi = c.vehicle_ids.index(v)
            chk = route_check(c, vi, [c.task_ids.index(t) for t in r])
            assert chk.feasible, chk.problem
        assert set(assigned) | set(plan.unassigned) == set(c.task_ids)
        assert math.isclose(plan.cost, sum(plan.route_costs.values()))


def test_auction_beats_or_matches_greedy_and_is_deterministic():
    worse = 0
    for seed in range(8):
        c = random_costs(np.random.default_rng(seed), 4, 40, domains=False)
        a, b = allocate_cbba(c), allocate_cbba(c)
        assert a.routes == b.routes and a.cost == b.cost
        assert not a.unassigned
        worse += a.cost > allocate_greedy(c).cost
    assert worse <= 2


# ------------------------------------------------------------ the network property
class Net:
    """Broadcast network of CBBA agents in rounds of 1 s: per link loss,
    random delay of 1..max_delay rounds (so reordering), partitions."""

    def __init__(self, agents, rng):
        self.agents = agents
        self.rng = rng
        self.alive = [True] * len(agents)
        self.pending = []             # (deliver_round, seq, receiver, message)
        self.seq = 0
        self.last = [None] * len(agents)

    def round(self, r, loss=0.0, max_delay=1, group=None, links=None):
        inbox = [[] for _ in self.agents]
        keep = []
        for item in self.pending:
            (inbox[item[2]] if item[0] <= r else keep).append(item if item[0] > r else item[3])
        self.pending = keep
        for a in self.agents:
            if not self.alive[a.agent]:
                continue
            m = a.step(float(r), inbox[a.agent])
            self.last[a.agent] = m
            for b in self.agents:
                if b is a or not self.alive[b.agent]:
                    continue
                if group is not None and group[a.agent] != group[b.agent]:
                    continue
                if links is not None and not links[a.agent][b.agent]:
                    continue
                if self.rng.random() < loss:
                    continue
                self.seq += 1
                self.pending.append((r + int(self.rng.integers(1, max_delay + 1)), self.seq, b.agent, m))

    def live_messages(self):
        return [m for m, ok in zip(self.last, self.alive) if ok]


def _chain_links(alive):
    """A chain through the live vehicles in index order: diameter n-1, so
    consensus must be relayed."""
    order = [v for v, ok in enumerate(alive) if ok]
    at = {v: n for n, v in enumerate(order)}
    V = len(alive)
    return [[i in at and j in at and abs(at[i] - at[j]) == 1 for j in range(V)] for i in range(V)]


#: what the fleets add to the auction's pricing (the lockstep runner, the on-board auction)
FLEET_PRICING = {"latency_weight": FLEET_LATENCY_WEIGHT, "takeover_s": 10.0}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), V=st.integers(2, 5), T=st.integers(1, 14),
       loss=st.floats(0.0, 0.6), max_delay=st.integers(1, 4), chaos=st.integers(0, 40),
       fail=st.booleans(), new_task=st.booleans(), partition=st.booleans(), complete=st.booleans(),
       line=st.booleans(), fleet=st.booleans())
def test_after_any_loss_or_partition_no_task_twice_none_dropped(seed, V, T, loss, max_delay, chaos, fail,
                                                                new_task, partition, complete, line, fleet):
    """``fleet``: priced as the fleets do (latency weight, takeover price)
    and a vehicle that completes a task bids again from there."""
    rng = np.random.default_rng(seed)
    c = random_costs(rng, V, T)
    stale = 6.0
    known = np.ones(T, bool)
    late = int(rng.integers(T)) if new_task else None
    if late is not None:
        known[late] = False
    params = CbbaParams(stale_after=stale, **(FLEET_PRICING if fleet else {}))
    agents = [CbbaAgent(v, replace(c, start_s=c.start_s.copy()), params, known=known) for v in range(V)]
    net = Net(agents, rng)
    group = [int(g) for g in rng.integers(0, 2, V)] if partition else None
    victim = int(rng.integers(V)) if fail else None
    r = 0
    for r in range(1, chaos + 1):
        if victim is not None and r == chaos // 2 + 1:
            net.alive[victim] = False                          # breaks down, silently
        if late is not None and r == chaos // 3 + 1:
            agents[int(rng.integers(V))].announce(late)         # a new task appears at one vehicle
        if complete and r == chaos // 2 + 2:
            a = agents[int(rng.integers(V))]
            if a.route and net.alive[a.agent]:
                j = a.route[0]
                a.complete(j)                                   # it finishes its first task
                if fleet:
                    a.costs.start_s[a.agent] = a.costs.between_s[a.agent, j]
                    a.rebid(at=float(r))
        net.round(r, loss=loss, max_delay=max_delay, group=group)
    if late is not None and not any(a.known[late] for a, ok in zip(agents, net.alive) if ok):
        agents[[v for v in range(V) if net.alive[v]][0]].announce(late)
    # the network heals: no loss, one-round delay; maybe only a chain of links
    links = _chain_links(net.alive) if line else None
    diameter = (sum(net.alive) - 1) if line else 1
    # bound: delayed old messages drain, a dead winner goes stale, then CBBA's
    # T x diameter rounds, one round for relayed stamps and the settle rounds
    bound = max_delay + int(stale) + 2 * diameter + (T + 1) * diameter + 3
    prev, same, healed_at = None, 0, None
    for n in range(1, 10 * bound):
        r += 1
        net.round(r, links=links)
        msgs = net.live_messages()
        sig = [(m.winner.tobytes(), m.bid.tobytes(), m.route) for m in msgs]
        same = same + 1 if sig == prev else 0
        prev = sig
        # settled: every live vehicle says the same, routes match the winners,
        # and nobody still credits a dead vehicle (that takes stale_after)
        if same >= 2 and agreed(msgs) and all(z < 0 or net.alive[z] for z in msgs[0].winner):
            healed_at = n
            break
    assert healed_at is not None, "did not converge after the network healed"
    assert healed_at <= bound, f"converged after {healed_at} rounds, bound {bound}"
    live = [a for a in agents if net.alive[a.agent]]
    done = np.zeros(T, bool)
    for a in live:
        done |= a.done
    routes = [t for a in live for t in a.route]
    assert len(routes) == len(set(routes)), f"a task assigned twice: {[a.route for a in live]}"
    assert not any(done[t] for t in routes), "a completed task is still assigned"
    doable = [j for j in range(T) if not done[j] and any(c.able[a.agent, j] for a in live)]
    assert sorted(routes) == doable, f"dropped: {sorted(set(doable) - set(routes))}"
    z = live[0].winner
    assert all(z[j] < 0 or net.alive[z[j]] for j in range(T)), "a task still credited to a dead vehicle"


def test_failed_vehicle_work_is_reallocated_and_new_task_taken():
    c = random_costs(np.random.default_rng(11), 3, 12, domains=False)
    known = np.ones(12, bool)
    known[5] = False
    agents = [CbbaAgent(v, c, CbbaParams(stale_after=3.0), known=known) for v in range(3)]
    net = Net(agents, np.random.default_rng(0))
    for r in range(1, 20):
        net.round(r)
    assert agreed(net.live_messages()) and agents[2].route
    had = set(agents[2].route)
    net.alive[2] = False
    agents[0].announce(5)
    for r in range(20, 40):
        net.round(r)
    msgs = net.live_messages()
    assert agreed(msgs)
    taken = agents[0].route + agents[1].route
    assert had <= set(taken) and 5 in taken and sorted(taken) == [j for j in range(12)]


def test_partition_for_60s_while_tasks_change():
    """Two groups that cannot hear each other for 60 s; meanwhile a new task
    appears in one group and the other completes one of its tasks.  Each
    group takes over the silent group's work; when they meet again the
    double claims are resolved: nothing twice, nothing dropped."""
    V, T = 6, 20
    c = random_costs(np.random.default_rng(21), V, T, domains=False)
    known = np.ones(T, bool)
    known[T - 1] = False
    agents = [CbbaAgent(v, c, CbbaParams(stale_after=5.0), known=known) for v in range(V)]
    net = Net(agents, np.random.default_rng(1))
    for r in range(1, 15):
        net.round(r)
    assert agreed(net.live_messages())
    group = [0, 0, 0, 1, 1, 1]
    done_task = agents[4].route[0]
    doubled = False
    for r in range(15, 75):
        if r == 20:
            agents[1].announce(T - 1)
        if r == 25:
            agents[4].complete(done_task)
        net.round(r, group=group)
        a_claims = set(agents[0].route + agents[1].route + agents[2].route)
        b_claims = set(agents[3].route + agents[4].route + agents[5].route)
        doubled |= bool(a_claims & b_claims)
    assert doubled            # each side did re-allocate the other side's work while apart
    for r in range(75, 75 + 3 * T):
        net.round(r)
        if agreed(net.live_messages()) and r > 80:
            break
    msgs = net.live_messages()
    assert agreed(msgs)
    routes = [t for a in agents for t in a.route]
    assert len(routes) == len(set(routes))
    assert sorted(routes) == sorted(set(range(T)) - {done_task})


def test_malformed_messages_are_refused_with_the_reason():
    c = random_costs(np.random.default_rng(2), 3, 5)
    a, b = CbbaAgent(0, c), CbbaAgent(1, c)
    m = b.step(1.0)
    bad = dataclasses.replace(m, winner=np.array([0, 1, 7, -1, -1]))
    with pytest.raises(ValueError, match="message from agent 1 names winner 7"):
        a.step(2.0, [bad])
    with pytest.raises(ValueError, match="message from agent 1 has 4 tasks and 3 agents, expected 5 and 3"):
        a.step(3.0, [dataclasses.replace(m, sent_at=3.0, winner=m.winner[:4], bid=m.bid[:4])])
    with pytest.raises(ValueError, match="message from agent 9, not a vehicle index"):
        a.step(4.0, [dataclasses.replace(m, sender=9)])


# ------------------------------------------------------------ leases
from edgepilot.vehicle.fleet.lease import LeaseBook, LeaseParams, is_quorum, work_first   # noqa: E402


class LeaseNet(Net):
    """``Net`` whose vehicles also keep a lease book: each round a vehicle
    steps its auction, takes the lease tables it received, makes its
    promises from its auction view and broadcasts both."""

    def __init__(self, agents, books, rng):
        super().__init__(agents, rng)
        self.books = books

    def round(self, r, loss=0.0, max_delay=1, group=None, links=None):
        inbox = [[] for _ in self.agents]
        keep = []
        for item in self.pending:
            (inbox[item[2]] if item[0] <= r else keep).append(item if item[0] > r else item[3])
        self.pending = keep
        for a in self.agents:
            v = a.agent
            if not self.alive[v]:
                continue
            book = self.books[v]
            m = a.step(float(r), [x[0] for x in inbox[v]])
            for x in inbox[v]:
                book.merge(x[1])
            book.grant(float(r), a.winner, a.heard, a.done)
            self.last[v] = m
            out = (m, book.view(float(r)))
            for b in self.agents:
                if b is a or not self.alive[b.agent]:
                    continue
                if group is not None and group[v] != group[b.agent]:
                    continue
                if links is not None and not links[v][b.agent]:
                    continue
                if self.rng.random() < loss:
                    continue
                self.seq += 1
                self.pending.append((r + int(self.rng.integers(1, max_delay + 1)), self.seq, b.agent, out))

    def working(self, t):
        """{task: [vehicles working on it at t]}: a vehicle works on the
        tasks of its route it holds the lease of."""
        out = {}
        for a, book in zip(self.agents, self.books):
            if not self.alive[a.agent]:
                continue
            for j in a.route:
                if book.holds(j, t):
                    out.setdefault(j, []).append(a.agent)
        return out


def test_quorums_always_share_a_member():
    for V in range(1, 7):
        sets = [np.array([(k >> i) & 1 for i in range(V)], bool) for k in range(1 << V)]
        q = [s for s in sets if is_quorum(s)]
        assert all((a & b).any() for a in q for b in q)
        assert len(q) == 1 << (V - 1)          # of each set and its complement exactly one is a quorum


LEASE = LeaseParams(duration_s=10.0, margin_s=2.0, renew_within_s=6.0, settle_s=1.0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), V=st.integers(2, 5), T=st.integers(1, 12),
       loss=st.floats(0.0, 0.5), max_delay=st.integers(1, 3), part_at=st.integers(0, 25),
       part_len=st.integers(1, 150), fail=st.booleans(), new_task=st.booleans(), complete=st.booleans(),
       line=st.booleans(), fleet=st.booleans())
def test_leases_no_task_worked_on_by_two_at_once_for_any_partition_length(
        seed, V, T, loss, max_delay, part_at, part_len, fail, new_task, complete, line, fleet):
    """Partitions of any length (up to 25 x the time after which a silent
    vehicle is presumed gone), loss, reordering, a breakdown, a task that
    appears, completions: at no instant do two vehicles work on one task;
    nobody works on a task it knows is completed; after the network heals
    completions have reached everyone and every task of every route is
    worked on by its winner alone (when the survivors are a quorum), or
    none at all (when they are not).  A completion made on one side of a
    partition can be repeated on the other, one after the other: that is
    what "done" being reconciled on merge means."""
    rng = np.random.default_rng(seed)
    c = random_costs(rng, V, T)
    stale = 6.0
    known = np.ones(T, bool)
    late = int(rng.integers(T)) if new_task else None
    if late is not None:
        known[late] = False
    params = CbbaParams(stale_after=stale, **(FLEET_PRICING if fleet else {}))
    agents = [CbbaAgent(v, replace(c, start_s=c.start_s.copy()), params, known=known) for v in range(V)]
    books = [LeaseBook(v, V, T, LEASE) for v in range(V)]
    net = LeaseNet(agents, books, rng)
    group = [int(g) for g in rng.integers(0, 2, V)]
    victim = int(rng.integers(V)) if fail else None
    chaos = part_at + part_len + 5
    done_at = {}
    r = 0

    def check(t):
        for j, who in net.working(t).items():
            assert len(who) == 1, f"task {j} worked on by {who} at t={t}"
            v = who[0]
            assert not (agents[v].done[j] or books[v].done[j]), f"{v} works on {j}, which it knows is done"

    for r in range(1, chaos + 1):
        if victim is not None and r == chaos // 2 + 1:
            net.alive[victim] = False
        if late is not None and r == chaos // 3 + 1:
            agents[int(rng.integers(V))].announce(late)
        if complete and r % 7 == 0:                      # whoever works on its first task finishes it
            for a, book in zip(agents, books):
                if net.alive[a.agent] and a.route and book.holds(a.route[0], float(r)):
                    j = a.route[0]
                    done_at.setdefault(j, (float(r), a.agent))
                    a.complete(j)
                    book.complete(j)
                    if fleet:                            # bids again from where it is
                        a.costs.start_s[a.agent] = a.costs.between_s[a.agent, j]
                        a.rebid(at=float(r))
                    break
        parted = part_at < r <= part_at + part_len
        net.round(r, loss=loss, max_delay=max_delay, group=group if parted else None)
        check(float(r))
        check(r + 0.5)
    if late is not None and not any(a.known[late] for a, ok in zip(agents, net.alive) if ok):
        agents[[v for v in range(V) if net.alive[v]][0]].announce(late)
    links = _chain_links(net.alive) if line else None
    diameter = (sum(net.alive) - 1) if line else 1
    bound = max_delay + int(stale) + 2 * diameter + (T + 1) * diameter + 3
    prev, same, healed = None, 0, False
    for n in range(1, 10 * bound):
        r += 1
        net.round(r, links=links)
        check(float(r))
        msgs = net.live_messages()
        sig = [(m.winner.tobytes(), m.bid.tobytes(), m.route) for m in msgs]
        same = same + 1 if sig == prev else 0
        prev = sig
        if same >= 2 and agreed(msgs) and all(z < 0 or net.alive[z] for z in msgs[0].winner):
            healed = True
            break
    assert healed
    # leases follow: the old promises lapse, the new ones travel the network
    for _ in range(int(LEASE.duration_s + LEASE.margin_s + LEASE.settle_s) + 2 * diameter + 4):
        r += 1
        net.round(r, links=links)
        check(float(r))
    live = [a for a in agents if net.alive[a.agent]]
    work = net.working(float(r))
    routes = {j: a.agent for a in live for j in a.route}
    if is_quorum(np.array(net.alive)):
        assert work == {j: [v] for j, v in routes.items()}, (work, routes)
    else:
        assert work == {}, "a vehicle works without a quorum"
    done = {j for j, (_, v) in done_at.items() if net.alive[v]}     # a dead vehicle's news may die with it
    assert not done & set(work) and all(set(np.flatnonzero(a.done)) >= done for a in live)


def test_long_partition_minority_stops_majority_takes_over():
    """4 vehicles split 2 | 2 for 120 s (20 x stale_after): the half with
    vehicle 0 keeps working and, once the other half is presumed gone and
    its leases have lapsed, takes its tasks over; the other half stops
    within the lease duration; nothing is worked on twice at once, before,
    during or after."""
    V, T = 4, 10
    c = random_costs(np.random.default_rng(0), V, T, domains=False)     # every vehicle has tasks
    agents = [CbbaAgent(v, c, CbbaParams(stale_after=6.0)) for v in range(V)]
    books = [LeaseBook(v, V, T, LEASE) for v in range(V)]
    net = LeaseNet(agents, books, np.random.default_rng(2))
    for r in range(1, 25):
        net.round(r)
    before = net.working(24.0)
    assert sorted(before) == list(range(T))                  # everything leased, to one each
    east = {j for j, who in before.items() if who[0] in (2, 3)}
    assert east
    group = [0, 0, 1, 1]
    taken_over = False
    for r in range(25, 145):
        net.round(r, group=group)
        w = net.working(float(r))
        assert all(len(who) == 1 for who in w.values())
        if r >= 25 + LEASE.duration_s:
            assert not any(v in (2, 3) for who in w.values() for v in who)     # the minority stopped
        taken_over |= any(j in east and who[0] in (0, 1) for j, who in w.items())
    assert taken_over
    for r in range(145, 200):
        net.round(r)
        assert all(len(who) == 1 for who in net.working(float(r)).values())
    assert sorted(net.working(199.0)) == list(range(T))


def test_lease_promise_waits_for_lapse_plus_margin_and_refuses_bad_tables():
    p = LeaseParams(duration_s=8.0, margin_s=2.0, renew_within_s=3.0, settle_s=1.0)
    b = LeaseBook(0, 3, 2, p)
    heard = np.array([0.0, 0.0, 0.0])
    win = np.array([1, 2])
    for t in (1.0, 2.0):
        heard[:] = t
        b.grant(t, win, heard, np.zeros(2, bool))
    assert b.holder[0].tolist() == [1, 2] and b.until[0].tolist() == [10.0, 10.0]  # promised at 1 + settle
    # vehicle 1 falls silent and the auction moves task 0 to vehicle 2: the
    # promise to 1 is neither renewed nor handed over until after 10 + 2 s
    win = np.array([2, 2])
    for t in np.arange(3.0, 13.5, 1.0):
        heard[[0, 2]] = t
        b.grant(float(t), win, heard, np.zeros(2, bool))
        assert b.holder[0, 0] == (1 if t <= 12.0 else 2), t
    assert b.until[0, 1] == 21.0                                                 # task 1: renewed each round
    # vehicle 2 holds task 1 with 0's and its own promise: 2 of 3
    c = LeaseBook(2, 3, 2, p)
    c.grant(11.0, win, heard, np.zeros(2, bool))
    c.grant(12.0, win, heard, np.zeros(2, bool))
    c.merge(b.view(13.0))
    assert c.holds(1, 13.5) and c.held_until(1, 13.5) == 20.0
    assert not c.holds(1, 15.5)                                                  # the tables are 3.5 s old
    c.complete(1)
    assert not c.holds(1, 13.5)
    with pytest.raises(ValueError, match="lease table of granter 1 names a holder outside 0..2"):
        c.merge_row(1, 13.0, np.array([5, -1]), np.array([1.0, 1.0]))
    with pytest.raises(ValueError, match="lease table of granter 1 has 3 tasks, expected 2"):
        c.merge_row(1, 13.0, np.array([1, 1, 1]), np.array([1.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="LeaseParams.duration_s must be > 0 s"):
        LeaseParams(duration_s=0.0)
    assert not c.merge_row(2, 99.0, np.array([0, 0]), np.array([99.0, 99.0]))   # its own table is its own


def test_lease_wait_estimate_and_which_held_task_to_work_on_first():
    """``LeaseBook.wait_s``: a takeover waits for the old promise to lapse
    + margin (+ settle); a granter that keeps renewing the old holder
    after it could have changed makes the wait grow with it; no quorum to
    count: inf.  ``work_first``: the route's first task when held; a held
    later task first only when that costs less than the wait; any held
    task rather than a wait without end; None when nothing is held."""
    p = LeaseParams(duration_s=8.0, margin_s=2.0, renew_within_s=3.0, settle_s=1.0)
    no = np.zeros(2, bool)
    b, c = LeaseBook(0, 3, 2, p), LeaseBook(2, 3, 2, p)
    heard = np.zeros(3)
    for t in (1.0, 2.0):                            # 0 promises task 0 to 1 and task 1 to 2, until 10
        heard[:] = t
        b.grant(t, np.array([1, 2]), heard, no)
    for t in (3.0, 4.0):                            # from 3 on 2's auction names 2 for both
        heard[:] = t
        c.grant(t, np.array([2, 2]), heard, no)
    c.merge(b.view(2.0))
    assert c.holds(1, 4.5) and c.wait_s(1, 4.5) == 0.0
    assert c.wait_s(0, 4.5) == pytest.approx(10.0 + 2.0 + 1.0 - 4.5)        # 0's promise to 1 lapses at 10
    # 0's auction keeps naming 1 for task 0 (it renews), well after 2's names 2: the wait grows with it
    waits = []
    for t in np.arange(3.0, 31.0, 1.0):
        heard[:] = t
        b.grant(float(t), np.array([1, 2]), heard, no)
        c.grant(float(t), np.array([2, 2]), heard, no)
        c.merge(b.view(float(t)))
        waits.append(c.wait_s(0, float(t) + 0.5))
    assert waits[-1] > 2 * (p.duration_s + p.margin_s) and waits[-1] > waits[-10] > waits[3]
    assert LeaseBook(2, 3, 2, p).wait_s(0, 5.0) == np.inf                    # alone: 1 of 3 is no quorum

    between = np.array([[0.0, 30.0, 5.0], [30.0, 0.0, 30.0], [5.0, 30.0, 0.0]])
    service = np.array([5.0, 5.0, 5.0])
    near_first = np.array([2.0, 30.0, 6.0])        # travel from here to each task [s]
    assert work_first([0, 1, 2], [0.0, 0.0, 9.0], near_first, between, service) == 0
    assert work_first([0, 1, 2], [9.0, 9.0, 9.0], near_first, between, service) is None
    # the first's lease in 9 s, the held task 1 a 30 s detour the other way: it waits
    assert work_first([0, 1, 2], [9.0, 0.0, 9.0], near_first, between, service) is None
    # ... but task 2, held and on the way (5 s from the first): it does 2 first, then the first
    assert work_first([0, 1, 2], [9.0, 0.0, 0.0], near_first, between, service) == 2
    # a first task whose lease cannot be counted on: any held task rather than waiting for ever
    assert work_first([0, 1, 2], [np.inf, 0.0, np.inf], near_first, between, service) == 1
    assert work_first([], [], near_first, between, service) is None
