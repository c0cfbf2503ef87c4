"""Consensus-based bundle algorithm (CBBA): decentralised task allocation.

After Choi, Brunet and How, "Consensus-Based Decentralized Auctions for
Robust Task Allocation" (IEEE T-RO 2009); our own implementation.  Each
vehicle runs one ``CbbaAgent``; agents only exchange ``CbbaMessage``s.
The agent is pure: messages in, one broadcast message out, time passed in.

One ``step(now, inbox)``:

1. **Consensus.** For every message, per task, the receiver compares the
   sender's belief (winner, winning bid) with its own using the paper's
   update / reset / leave table, with the timestamps each agent keeps of
   when it last heard (directly or relayed) from every other agent.  A
   message not newer than the last one taken from that sender is dropped
   (reordered or duplicated delivery).
2. **Liveness.** A task whose winner has not been heard of for
   ``stale_after`` seconds is reset: its winner has failed or is out of
   reach, so the task goes back to auction (this is what re-allocates the
   work of a failed vehicle, and of the other group during a partition).
3. **Release.** If the agent was outbid on a task in its bundle, it gives up
   that task and every task it added after it (their bids assumed it).
4. **Bundle building.** Greedily add the task with the best score, the
   task's reward less the cheapest feasible insertion into the agent's
   route (skills, windows, payload, endurance), while it beats the winning
   bid the agent knows.  With ``latency_weight`` > 0 the insertion is
   priced for route cost + that weight x the sum of the tasks' finish
   times (see ``CbbaParams``).  The announced bid is "warped" (capped at the bids
   already in the bundle) so bids fall along a bundle, which keeps CBBA's
   convergence guarantee for a route-cost score that is not submodular.

Ties are broken deterministically: the equal bid of the lower agent index
wins, the lower task index is taken first.  Agents are the vehicle indices
of ``FleetCosts`` (0..V-1); tasks its task indices (0..T-1).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgepilot.vehicle.fleet import _cbba_kernels as _K
from edgepilot.vehicle.fleet.costs import FleetCosts, Plan, best_insertion_numpy, make_plan

NONE = -1
#: The ``latency_weight`` the fleets run with (on board and in the lockstep
#: runner): a task finished t seconds later counts as t more seconds of work.
FLEET_LATENCY_WEIGHT = 1.0
#: The latency part of an insertion's price is at most this share of the
#: task's reward, so every feasible task keeps a positive score.
LATENCY_CAP = 0.5


@dataclass(frozen=True)
class CbbaParams:
    """``reward``: value of a task of priority 1 [s-equivalent]; None: ten
    times the costs' largest leg + service, so every feasible task gets a
    positive bid.  ``stale_after`` [s]: a winner unheard of for this long is
    presumed gone (must exceed the network diameter times the message
    period).  ``max_bundle``: most tasks one agent claims (None: no limit).
    ``improve_route``: re-sequence the own route (2-opt and relocation,
    windows kept; for cost + ``latency_weight`` x the sum of finish times)
    after each bundle change; the bundle, and so what the
    others see, is untouched, only the order this vehicle does its tasks in
    and the insertion costs of its next bids.  Routes longer than
    ``improve_max_len`` are left alone (the first rounds, when every agent
    claims everything it can, would cost O(n^3) a pass for nothing).

    ``latency_weight``: 0 prices a task by the route cost it adds alone
    (travel + service: the sum of the fleet's work, what the central plan
    minimises), which is indifferent to *when* work is done: one vehicle
    may chain most tasks while another, a little farther off, stands idle.
    Above 0 it also adds this weight x the finish time of the task and
    the delay its detour passes to every later task of the route, i.e. the
    change of route cost + weight x the sum of finish times; so a task at
    the end of a long route is worth less to its vehicle than to an idle
    one nearby, which then outbids it.  Finish times count from when the
    agent's costs start (its last ``rebid``): the fleets bid again on
    every completion, so an agent's bids say how long from then.  (With
    ``rebid(at=...)`` they count from the agent's first round instead, one
    clock for every bid; the fleets do not use that: a stale bid of a
    vehicle that has since been stopped, on the far side of a partition
    without a lease quorum, would then keep a task from one free now.)
    The latency part is capped at ``LATENCY_CAP`` x the task's reward
    (every feasible task stays worth bidding for).

    ``takeover_s`` [s-equivalent]: what taking a task over from the agent
    the bidder believes has won it costs beyond the insertion, taken off
    the score (with task leases the new winner may start only once the old
    winner's promises have lapsed: the fleets price that wait as latency,
    weight x lease duration + margin).  So an agent does not pull a task
    to itself for a gain smaller than the delay the move causes."""

    reward: float | None = None
    stale_after: float = 10.0
    max_bundle: int | None = None
    improve_route: bool = True
    improve_max_len: int = 24
    latency_weight: float = 0.0
    takeover_s: float = 0.0

    def __post_init__(self):
        if not (self.takeover_s >= 0 and np.isfinite(self.takeover_s)):
            raise ValueError(f"CbbaParams.takeover_s must be a finite number >= 0, got {self.takeover_s}")
        if not (self.latency_weight >= 0 and np.isfinite(self.latency_weight)):
            raise ValueError(f"CbbaParams.latency_weight must be a finite number >= 0, got {self.latency_weight}")


@dataclass(frozen=True, eq=False)
class CbbaMessage:
    """One agent's broadcast: its view of every task and of every agent.

    winner (T,) int (NONE = -1), bid (T,) float, heard (V,) float: when the
    sender last heard of each agent [s] (its own entry = ``sent_at``),
    known (T,) and done (T,) bool: tasks it knows of / knows completed,
    route: its own claimed tasks in the order it will do them."""

    sender: int
    sent_at: float
    winner: np.ndarray
    bid: np.ndarray
    heard: np.ndarray
    known: np.ndarray
    done: np.ndarray
    route: tuple[int, ...] = ()


@dataclass
class CbbaAgent:
    """The allocation state of one vehicle.  ``known``: the tasks it starts
    with (None: all of ``costs``); more arrive with ``announce`` or from
    other agents' messages."""

    agent: int
    costs: FleetCosts
    params: CbbaParams = field(default_factory=CbbaParams)
    known: np.ndarray | None = None

    def __post_init__(self):
        V, T = self.costs.n_vehicles, self.costs.n_tasks
        if not 0 <= self.agent < V:
            raise ValueError(f"agent must be a vehicle index in 0..{V - 1}, got {self.agent}")
        self.known = (np.ones(T, bool) if self.known is None
                      else np.asarray(self.known, dtype=bool).copy())
        if self.known.shape != (T,):
            raise ValueError(f"known must be a bool array of {T} tasks, got shape {self.known.shape}")
        self.done = np.zeros(T, bool)
        self.winner = np.full(T, NONE, dtype=np.int64)
        self.bid = np.zeros(T)
        self.heard = np.full(V, -np.inf)
        self._last_from = np.full(V, -np.inf)
        self.bundle: list[int] = []      # in the order added
        self.route: list[int] = []       # in the order to be done
        self.withdrawn = False
        self._improved: list[int] = []
        r = self.params.reward
        self._reward = self.costs.priority * (10.0 * self.costs.scale() if r is None else float(r))
        self._lat_cap = LATENCY_CAP * self._reward
        self._epoch: float | None = None      # the first round's time: finish times count from it
        self._origin: float | None = None     # the time the route's costs start from

    # ---------------------------------------------------------- events
    def announce(self, task: int) -> None:
        """A new task (e.g. from a threat alert) becomes known here."""
        self.known[task] = True

    def complete(self, task: int) -> None:
        """The task is done (by this agent or reported by another)."""
        self.done[task] = True

    def withdraw(self) -> None:
        """This vehicle stops taking part (breakdown, low battery): it
        releases all its tasks and bids for none from now on."""
        self.withdrawn = True
        mine = self.winner == self.agent
        self.winner[mine] = NONE
        self.bid[mine] = 0.0
        self.bundle.clear()
        self.route.clear()

    def rebid(self, keep=(), at: float | None = None) -> None:
        """Bid again, from the costs as they are now, for every task of the
        bundle but ``keep`` (the task it is busy with): release them (winner
        none, here) so the next ``step`` builds the bundle anew.  Call when
        this agent's costs change (it finished a task and its route now
        starts where it is): its old bids were priced from where it was and
        from when, and would keep tasks from vehicles that are now nearer
        or idle, or lose them to vehicles that are not.  The released tasks
        it bids for again are its own news (the sender is the authority on
        its own claims), so the others take the new bids; one release per
        change of costs, so CBBA still settles once the changes stop.
        ``at``: the time [s, the clock of ``step``] its costs now start
        from, for finish times counted from the first round (see
        ``CbbaParams.latency_weight``); None: unchanged (the fleets:
        finish times from the route's start)."""
        if at is not None:
            self._origin = float(at)
        keep = {int(j) for j in keep}
        gone = [j for j in self.bundle if j not in keep]
        for j in gone:
            if self.winner[j] == self.agent:
                self.winner[j] = NONE
                self.bid[j] = 0.0
        self.bundle = [j for j in self.bundle if j in keep]
        self.route = [j for j in self.route if j in keep]

    # ---------------------------------------------------------- one round
    def step(self, now: float, inbox=()) -> CbbaMessage:
        """Take the messages received since the last step, update, rebid;
        returns the message to broadcast."""
        for m in sorted(inbox, key=lambda m: (m.sender, m.sent_at)):
            if not 0 <= m.sender < self.costs.n_vehicles:
                raise ValueError(f"message from agent {m.sender}, not a vehicle index in 0..{self.costs.n_vehicles - 1}")
            if m.sender == self.agent or m.sent_at <= self._last_from[m.sender]:
                continue
            self._last_from[m.sender] = m.sent_at
            self._consensus(m)
        self.heard[self.agent] = now
        if self._epoch is None:
            self._epoch = float(now)
        if self._origin is None:
            self._origin = self._epoch
        self._drop_done()
        self._reset_stale(now)
        self._release_outbid()
        if not self.withdrawn:
            self._build_bundle()
        return CbbaMessage(self.agent, float(now), self.winner.copy(), self.bid.copy(),
                           self.heard.copy(), self.known.copy(), self.done.copy(), tuple(self.route))

    # ---------------------------------------------------------- internals
    def _consensus(self, m: CbbaMessage) -> None:
        i, k = self.agent, m.sender
        T, V = self.costs.n_tasks, self.costs.n_vehicles
        if m.winner.shape != (T,) or m.bid.shape != (T,) or m.heard.shape != (V,):
            raise ValueError(f"message from agent {k} has {m.winner.shape[0]} tasks and {m.heard.shape[0]} "
                             f"agents, expected {T} and {V}")
        if T and (m.winner.min() < NONE or m.winner.max() >= V):
            raise ValueError(f"message from agent {k} names winner {int(m.winner.max())} (or below {NONE}); "
                             f"agents are 0..{V - 1}")
        if not np.isfinite(m.bid).all() or np.isnan(m.heard).any():
            raise ValueError(f"message from agent {k} has a non-finite bid or a NaN timestamp")
        self.known |= m.known
        self.done |= m.done
        si = self.heard
        _K.consensus_kernel(i, k, m.winner.astype(np.int64, copy=False), m.bid.astype(np.float64, copy=False),
                            m.heard.astype(np.float64, copy=False), self.winner, self.bid, si)
        # timestamps: direct from the sender, relayed for everyone else
        np.maximum(si, m.heard, out=si)
        si[k] = max(si[k], m.sent_at)

    def _drop_done(self) -> None:
        if self.done.any():
            self.winner[self.done] = NONE
            self.bid[self.done] = 0.0
            self.bundle = [j for j in self.bundle if not self.done[j]]
            self.route = [j for j in self.route if not self.done[j]]

    def _reset_stale(self, now: float) -> None:
        z = self.winner
        other = (z >= 0) & (z != self.agent)
        if other.any():
            stale = other & (now - self.heard[np.maximum(z, 0)] > self.params.stale_after)
            z[stale] = NONE
            self.bid[stale] = 0.0

    def _release_outbid(self) -> None:
        for n, j in enumerate(self.bundle):
            if self.winner[j] != self.agent:
                gone = self.bundle[n:]
                for jj in gone[1:]:
                    if self.winner[jj] == self.agent:
                        self.winner[jj] = NONE
                        self.bid[jj] = 0.0
                self.bundle = self.bundle[:n]
                keep = set(self.bundle)
                self.route = [t for t in self.route if t in keep]
                return

    def _build_bundle(self) -> None:
        c, v = self.costs, self.agent
        T = c.n_tasks
        cand = self.known & ~self.done & c.able[v]
        cand[self.bundle] = False
        route = np.zeros(T, np.int64)
        route[:len(self.route)] = self.route
        bundle = np.zeros(T, np.int64)
        bundle[:len(self.bundle)] = self.bundle
        cap = min((self.bid[j] for j in self.bundle), default=np.inf)
        limit = -1 if self.params.max_bundle is None else int(self.params.max_bundle)
        nr, nb = _K.bundle_kernel(v, c.start_s[v], c.between_s[v], c.service_s[v], c.open_s, c.close_s,
                                  c.load_kg, c.able[v], cand, float(c.capacity_kg[v]),
                                  float(c.endurance_s[v]), self._reward, self.winner, self.bid,
                                  route, len(self.route), bundle, len(self.bundle), float(cap), limit,
                                  float(self.params.latency_weight), self._t0(), self._lat_cap,
                                  float(self.params.takeover_s))
        self.bundle = bundle[:nb].tolist()
        r = route[:nr].copy()
        if self.params.improve_route and 1 < nr <= self.params.improve_max_len and r.tolist() != self._improved:
            _K.improve_route_latency_kernel(c.start_s[v], c.between_s[v], c.service_s[v], c.open_s, c.close_s,
                                            r, float(c.endurance_s[v]), 50, float(self.params.latency_weight))
        self.route = r.tolist()
        self._improved = self.route

    def _t0(self) -> float:
        """When the route starts, counted from the first round [s]."""
        if self._epoch is None or self._origin is None:
            return 0.0
        return max(0.0, self._origin - self._epoch)

    def build_bundle_numpy(self) -> None:
        """``_build_bundle`` with the NumPy insertion oracle (for tests)."""
        c, v = self.costs, self.agent
        limit = self.params.max_bundle
        in_bundle = np.zeros(c.n_tasks, bool)
        in_bundle[self.bundle] = True
        cap = min((self.bid[j] for j in self.bundle), default=np.inf)
        while limit is None or len(self.bundle) < limit:
            cand = self.known & ~self.done & ~in_bundle & c.able[v]
            if not cand.any():
                return
            delta, pos = best_insertion_numpy(c, v, self.route, cand, self.params.latency_weight, self._lat_cap,
                                              self._t0())
            score = self._reward - delta
            score = score - np.where((self.winner >= 0) & (self.winner != v), self.params.takeover_s, 0.0)
            bid = np.minimum(score, cap).astype(np.float32).astype(np.float64)   # bid warping
            zi, yi = self.winner, self.bid
            wins = (bid > yi) | ((bid == yi) & ((zi < 0) | (v < zi)))
            ok = cand & np.isfinite(delta) & (score > 0) & wins
            if not ok.any():
                return
            j = int(np.argmax(np.where(ok, score, -np.inf)))   # first index of the best
            self.bundle.append(j)
            self.route.insert(int(pos[j]), j)
            in_bundle[j] = True
            self.bid[j] = bid[j]
            self.winner[j] = v
            cap = bid[j]

def consensus_numpy(i: int, k: int, zk, yk, sk, zi, yi, si) -> None:
    """The consensus table of ``_cbba_kernels.consensus_kernel`` in
    vectorised NumPy (the tests' oracle): receiver i's winners ``zi`` and
    bids ``yi`` updated in place from sender k's ``zk``, ``yk``, ``sk``."""
    neg = np.full(len(zk), -np.inf)
    skm = np.where(zk >= 0, sk[np.maximum(zk, 0)], neg)     # sender's stamp of the sender's winner
    sim = np.where(zk >= 0, si[np.maximum(zk, 0)], neg)     # receiver's stamp of the same
    skn = np.where(zi >= 0, sk[np.maximum(zi, 0)], neg)     # sender's stamp of the receiver's winner
    sin = np.where(zi >= 0, si[np.maximum(zi, 0)], neg)
    # does the sender's (bid, winner) beat the receiver's? equal bids: lower agent wins
    beats = (yk > yi) | ((yk == yi) & (zk >= 0) & ((zi < 0) | (zk < zi)))
    kk, ki, kn = zk == k, zk == i, zk < 0
    km = ~(kk | ki | kn)
    ii, ik, i_none = zi == i, zi == k, zi < 0
    i_other = ~(ii | ik | i_none)
    newer_m = skm > sim
    newer_n = skn > sin
    update = kk & ((ii & beats) | ik | i_none | (i_other & (newer_n | beats)))
    reset = ki & (ik | (i_other & newer_n))
    km_ik = km & ik
    update |= km_ik & (skm > si[k])
    reset |= km_ik & ~(skm > si[k])
    update |= km & ii & newer_m & beats
    update |= km & (zi == zk) & newer_m
    update |= km & i_none & newer_m
    km_n = km & i_other & (zi != zk)
    c_upd = newer_m & (newer_n | beats)
    update |= km_n & c_upd
    reset |= km_n & ~c_upd & newer_n & (sim > skm)
    update |= kn & (ik | (i_other & newer_n))
    zi[update] = zk[update]
    yi[update] = yk[update]
    zi[reset] = NONE
    yi[reset] = 0.0


# -------------------------------------------------------------- helpers
def agreed(messages: list[CbbaMessage]) -> bool:
    """Every agent's latest message shows the same winners and bids, and each
    winner's route is exactly the tasks everybody says it won."""
    if not messages:
        return True
    z0, y0 = messages[0].winner, messages[0].bid
    for m in messages[1:]:
        if not (np.array_equal(m.winner, z0) and np.array_equal(m.bid, y0)):
            return False
    for m in messages:
        if sorted(m.route) != sorted(np.flatnonzero(z0 == m.sender).tolist()):
            return False
    return True


def run_rounds(agents: list[CbbaAgent], max_rounds: int, period: float = 1.0, t0: float = 0.0,
               settle: int = 2) -> int:
    """Synchronous rounds on a fully connected network until every agent's
    broadcast has been the same ``settle`` rounds running and they agree.
    Returns the rounds taken; raises RuntimeError if ``max_rounds`` pass."""
    inbox: list[CbbaMessage] = []
    prev = None
    same = 0
    for r in range(1, max_rounds + 1):
        now = t0 + r * period
        out = [a.step(now, inbox) for a in agents]
        sig = [(m.winner.tobytes(), m.bid.tobytes(), m.route) for m in out]
        same = same + 1 if sig == prev else 0
        prev = sig
        inbox = out
        if same >= settle and agreed(out):
            return r
    raise RuntimeError(f"CBBA did not converge in {max_rounds} rounds")


def allocate_cbba(costs: FleetCosts, params: CbbaParams | None = None, max_rounds: int | None = None,
                  participants=None) -> Plan:
    """Every participating vehicle's agent (default: all) in one fully
    connected network, run to agreement: the decentralised allocation as one
    call (what the fleet agrees on when every vehicle hears every other)."""
    p = params or CbbaParams(stale_after=1e9)
    who = range(costs.n_vehicles) if participants is None else sorted(participants)
    agents = [CbbaAgent(v, costs, p) for v in who]
    run_rounds(agents, max_rounds or 4 * costs.n_tasks + 10)
    routes: list[list[int]] = [[] for _ in range(costs.n_vehicles)]
    for a in agents:
        routes[a.agent] = list(a.route)
    return make_plan(costs, routes, "cbba")
