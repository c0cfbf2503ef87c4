"""Task leases: who may *work* on a task right now.

The auction (``cbba.py``) decides who *should* do each task, and during a
partition each side re-allocates the other side's work once it presumes
the other side gone, so for a partition longer than ``stale_after`` two
vehicles can both believe a task is theirs.  A lease decides who *may*
work on it, whatever the auction says.

Every vehicle is a *granter*: for every task it keeps one promise
``(holder, until)``, "I let ``holder`` work on this task until ``until``,
and nobody else before ``until + margin_s``".  Once an auction round
(``LeaseBook.grant``), for each task j, granter g with auction winner w:

- j completed (or cancelled): no promise, never again (completions win
  over claims).
- the promise names w: renewed to ``now + duration_s`` if g has heard of
  w within ``renew_within_s`` (itself: always); otherwise left to lapse.
- the promise names nobody, or someone else and lapsed more than
  ``margin_s`` ago: promised to w until ``now + duration_s``, if g heard of
  w within ``renew_within_s`` and w has been g's winner of j for
  ``settle_s`` (so the first rounds' shuffles bind nobody).
- otherwise it stands: g waits for it to lapse.

Promises travel as EDGEPILOT_TASK_LEASE (``firmware_bridge.fleet_link``),
relayed: each vehicle broadcasts the newest promise table it knows of
every granter.  Vehicle h *holds* the lease on j at time t when the
granters whose newest promise it knows names h with ``until > t``, in a
table issued no earlier than ``t - renew_within_s``, form a quorum that
includes h itself.  A quorum is more than half the fleet, or
exactly half including vehicle 0 (the lowest index breaks the tie, so of
two halves one can still work).  A vehicle starts or goes on working on a
task only while it holds its lease.

**Guarantee: no task is worked on by two vehicles at the same time**, for
any pattern of loss, delay, partitions of any length, breakdowns; with
one fleet clock (GPS time; clocks that disagree by less than ``margin_s``
do too).  Proof: say h1 != h2 both hold j at t.  Their quorums share a
granter g, and both promises were issued by g at or before t (a vehicle
only knows what was sent) with ``until > t``.  g's promises to one task
form a sequence in time whose ``until`` never decreases, and g names a
new holder only after the current promise lapsed ``margin_s`` ago; so
between g's promise to h1 and its promise to h2 (or the other way round)
g changed holder at some s with ``s > until(h1) + margin_s > t``, yet
``s <= t`` because both promises were issued by t.  Contradiction.

What it costs: a holder that cannot renew (it hears no quorum: it is in
the minority side of a partition, or its radio died) stops within
``renew_within_s``; a silent holder's tasks can be taken over
``duration_s + margin_s`` after its granters last heard of it; the
minority side of a partition does no work until the partition heals
(the majority side takes over its tasks).  Completions are reconciled on
merge through the auction's ``done`` flags: a completed task is never
promised again, whoever claims it.  What no rule can give: a completion
made in the moments before a link broke and not heard until the link
returns can be repeated by the other side in between (one after the
other, never at the same time).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NONE = -1


@dataclass(frozen=True)
class LeaseParams:
    """Times in seconds of the fleet clock.  ``duration_s``: a promise's
    life; a holder that can no longer renew stops this long after the last
    promise it got.  ``margin_s``: how long after a promise lapsed its
    granter may name another holder (clock disagreement, the time to stop).
    ``renew_within_s``: a granter renews or makes a promise only to a
    vehicle it heard of this recently, and a holder counts only promise
    tables issued this recently.  ``settle_s``: it names a new holder
    only once the auction has shown that winner this long."""

    duration_s: float = 8.0
    margin_s: float = 2.0
    renew_within_s: float = 4.0
    settle_s: float = 1.0

    def __post_init__(self):
        for k in ("duration_s", "margin_s", "renew_within_s"):
            if not getattr(self, k) > 0:
                raise ValueError(f"LeaseParams.{k} must be > 0 s, got {getattr(self, k)}")
        if not self.settle_s >= 0:
            raise ValueError(f"LeaseParams.settle_s must be >= 0 s, got {self.settle_s}")


def is_quorum(members: np.ndarray) -> bool:
    """More than half of the fleet, or exactly half including vehicle 0.
    Any two quorums share a member."""
    n = len(members)
    k = int(np.count_nonzero(members))
    return 2 * k > n or (2 * k == n and n > 0 and bool(members[0]))


@dataclass(frozen=True, eq=False)
class LeaseView:
    """Promise tables one vehicle broadcasts: for each granter it knows of,
    when that granter issued its newest table (``issued`` (V,), -inf: never),
    and the table: ``holder`` (V, T) int (NONE = -1), ``until`` (V, T) float."""

    sender: int
    sent_at: float
    issued: np.ndarray
    holder: np.ndarray
    until: np.ndarray


class LeaseBook:
    """The lease state one vehicle keeps: its own promises (row ``agent``)
    and the newest promises of every other granter it has heard of."""

    def __init__(self, agent: int, n_vehicles: int, n_tasks: int, params: LeaseParams | None = None):
        if not 0 <= agent < n_vehicles:
            raise ValueError(f"agent must be a vehicle index in 0..{n_vehicles - 1}, got {agent}")
        self.agent = agent
        self.params = params or LeaseParams()
        V, T = n_vehicles, n_tasks
        self.n_vehicles, self.n_tasks = V, T
        self.holder = np.full((V, T), NONE, np.int64)
        self.until = np.full((V, T), -np.inf)
        self.issued = np.full(V, -np.inf)
        self.done = np.zeros(T, bool)
        self._seen = np.full(T, NONE, np.int64)      # the auction winner last shown, per task
        self._seen_since = np.full(T, np.inf)
        self._fresh_since = np.full(V, -np.inf)      # per granter: since when its tables came without a gap

    # ------------------------------------------------------------ granting
    def grant(self, now: float, winner: np.ndarray, heard: np.ndarray, done: np.ndarray) -> None:
        """One round of this vehicle's promises from its auction view:
        ``winner`` (T,) its winners, ``heard`` (V,) when it last heard of
        each vehicle, ``done`` (T,) completed or cancelled tasks."""
        p = self.params
        g = self.agent
        winner = np.asarray(winner, np.int64)
        if winner.shape != (self.n_tasks,) or np.shape(heard) != (self.n_vehicles,):
            raise ValueError(f"grant: winner must be ({self.n_tasks},) and heard ({self.n_vehicles},), "
                             f"got {winner.shape} and {np.shape(heard)}")
        self.done |= np.asarray(done, bool)
        changed = winner != self._seen
        self._seen_since[changed] = now
        self._seen[:] = winner
        h, u = self.holder[g], self.until[g]
        h[self.done] = NONE
        fresh = np.zeros(self.n_tasks, bool)
        ok = winner >= 0
        hw = np.where(ok, np.asarray(heard, float)[np.maximum(winner, 0)], -np.inf)
        hw[winner == g] = now
        fresh[ok] = now - hw[ok] <= p.renew_within_s
        live = ~self.done & ok & fresh
        renew = live & (h == winner)
        free = (h == NONE) | (now > u + p.margin_s)
        new = live & (h != winner) & free & (now - self._seen_since >= p.settle_s - 1e-9)
        u[renew | new] = now + p.duration_s
        h[new] = winner[new]
        self.issued[g] = now

    def merge(self, view: LeaseView) -> None:
        """Take the newer of each granter's tables from another vehicle's
        broadcast (this vehicle's own row is its own business)."""
        V, T = self.n_vehicles, self.n_tasks
        if view.holder.shape != (V, T) or view.until.shape != (V, T) or view.issued.shape != (V,):
            raise ValueError(f"lease view from agent {view.sender} has shape {view.holder.shape}, "
                             f"expected ({V}, {T})")
        for g in np.flatnonzero(view.issued > self.issued):
            self.merge_row(int(g), float(view.issued[g]), view.holder[g], view.until[g])

    def merge_row(self, granter: int, issued: float, holder: np.ndarray, until: np.ndarray) -> bool:
        """One granter's table as issued at ``issued``; kept if newer than
        the one known here.  Returns whether it was."""
        V, T = self.n_vehicles, self.n_tasks
        if not 0 <= granter < V:
            raise ValueError(f"lease table of granter {granter}, not a vehicle index in 0..{V - 1}")
        holder = np.asarray(holder, np.int64)
        until = np.asarray(until, np.float64)
        if holder.shape != (T,) or until.shape != (T,):
            raise ValueError(f"lease table of granter {granter} has {holder.shape[0]} tasks, expected {T}")
        if T and (holder.min() < NONE or holder.max() >= V):
            raise ValueError(f"lease table of granter {granter} names a holder outside 0..{V - 1}")
        if np.isnan(until).any() or np.isnan(issued):
            raise ValueError(f"lease table of granter {granter} has a NaN time")
        if granter == self.agent or not issued > self.issued[granter]:
            return False
        if not issued - self.issued[granter] <= self.params.renew_within_s:
            self._fresh_since[granter] = issued          # its tables come through again from here
        self.holder[granter] = holder
        self.until[granter] = until
        self.issued[granter] = issued
        return True

    def extended(self, n_tasks: int) -> "LeaseBook":
        """A copy of this book for a plan that appends tasks to this one's
        (its tasks first, in order): every promise, completion and what the
        auction showed carry over; the new tasks start promised to nobody."""
        if n_tasks < self.n_tasks:
            raise ValueError(f"extended: a plan of {n_tasks} tasks does not extend one of {self.n_tasks}")
        b = LeaseBook(self.agent, self.n_vehicles, n_tasks, self.params)
        n = self.n_tasks
        b.holder[:, :n], b.until[:, :n], b.issued[:] = self.holder, self.until, self.issued
        b.done[:n], b._seen[:n], b._seen_since[:n] = self.done, self._seen, self._seen_since
        b._fresh_since[:] = self._fresh_since
        return b

    def complete(self, task: int) -> None:
        self.done[task] = True
        self.holder[self.agent, task] = NONE

    def view(self, now: float) -> LeaseView:
        return LeaseView(self.agent, float(now), self.issued.copy(), self.holder.copy(), self.until.copy())

    # ------------------------------------------------------------ holding
    def grantors(self, task: int, now: float, who: int | None = None) -> np.ndarray:
        """(V,) bool: granters whose newest promise known here names ``who``
        (default: this vehicle) for ``task`` until after ``now``."""
        who = self.agent if who is None else who
        fresh = self.issued >= now - self.params.renew_within_s
        return (self.holder[:, task] == who) & (self.until[:, task] > now) & fresh

    def holds(self, task: int, now: float) -> bool:
        """Whether this vehicle may work on ``task`` at ``now``: a quorum
        with itself of promises naming it that have not lapsed, from tables
        issued within ``renew_within_s`` (so a vehicle that hears no quorum
        any more stops within that, well before its promises lapse)."""
        if self.done[task]:
            return False
        m = self.grantors(task, now)
        return bool(m[self.agent]) and is_quorum(m)

    def held(self, now: float) -> np.ndarray:
        """(T,) bool: the tasks this vehicle may work on at ``now``."""
        m = (self.holder == self.agent) & (self.until > now) & (self.issued >= now - self.params.renew_within_s)[:, None]
        out = np.array([bool(m[self.agent, j]) and is_quorum(m[:, j]) for j in range(self.n_tasks)], bool)
        return out & ~self.done

    def wait_s(self, task: int, now: float) -> float:
        """How long from ``now`` until this vehicle may hold the lease on
        ``task`` at the earliest, from the promise tables it knows (0: it
        holds it; inf: no quorum can be counted).  Per granter: one without
        a table issued within ``renew_within_s`` is not counted; one
        promising this vehicle is free now; one promising another holder
        is free ``margin_s`` after that promise lapses; one promising
        nobody is free once its auction names this vehicle.  The last two
        assume the granter's auction names this vehicle soon after its own
        does (consensus); when the granter's tables have kept promising
        nobody, or kept renewing the other holder, longer than
        ``renew_within_s`` after that could have happened (both this
        vehicle's auction named it and the granter's tables have come
        through), the granter disagrees, and a disagreement that has
        lasted d is expected to last d more.  The earliest time the free
        granters form a quorum with this vehicle, plus ``settle_s`` (a new
        holder is named only once the auction has shown it that long)."""
        if self.holds(task, now):
            return 0.0
        p = self.params
        me = self.agent
        won = self._seen_since[task] if self._seen[task] == me else now     # since when its auction names it
        free = np.full(self.n_vehicles, np.inf)
        for g in range(self.n_vehicles):
            h, u = int(self.holder[g, task]), float(self.until[g, task])
            other = h not in (NONE, me)
            if g == me:
                free[g] = max(now, u + p.margin_s) if other else now
                continue
            if self.issued[g] < now - p.renew_within_s:
                continue
            d = now - max(self._fresh_since[g], won)        # how long it could have named this vehicle
            late = now + d if d > p.renew_within_s else now
            if h == me:
                free[g] = now
            elif h == NONE:
                free[g] = late
            elif u - p.duration_s > won + p.renew_within_s:      # it renewed the other holder since
                free[g] = max(now, u + p.margin_s, late)
            else:
                free[g] = max(now, u + p.margin_s)
        for t in np.unique(free[np.isfinite(free)]):
            m = free <= t
            if m[me] and is_quorum(m):
                return float(t - now + p.settle_s)
        return np.inf

    def held_until(self, task: int, now: float) -> float:
        """Until when this vehicle may work on ``task`` without another
        promise (``-inf``: it may not now)."""
        if not self.holds(task, now):
            return -np.inf
        m = self.grantors(task, now)
        for u in np.sort(self.until[m, task])[::-1]:      # the latest time a quorum with this vehicle stands
            mask = m & (self.until[:, task] >= u)
            if mask[self.agent] and is_quorum(mask):
                return float(u)
        return -np.inf


def work_first(route, wait_s, here_s, between_s, service_s, latency_weight: float = 1.0) -> int | None:
    """Which task of ``route`` (a vehicle's open tasks in the auction's
    order) it works on now, by the lease rule: only one whose lease it
    holds (``wait_s`` 0).  The candidates are the route as it is (waiting
    where a lease has not come yet) and each held task moved to its front
    (the rest after it in their order: a vehicle waiting for the lease on
    its first task works on a later one meanwhile, and goes back to the
    first after); the cheapest by the auction's measure wins, travel +
    service + ``latency_weight`` x the sum of the finish times, a task
    started no earlier than its ``wait_s`` (so a long detour to a held
    task loses to a short wait, and any held task beats a wait without
    end); ties go to the route as it is.  Returns its first task when that
    one is held, the held task moved to the front when that wins, else
    None (it waits in place).  ``wait_s`` (len(route),) [s] from now
    (``LeaseBook.wait_s``), ``here_s`` (T,) travel from where it is to each
    task [s], ``between_s`` (T, T), ``service_s`` (T,) its costs."""
    route = [int(j) for j in route]
    wait = dict(zip(route, (float(w) for w in wait_s)))
    if not route:
        return None
    if wait[route[0]] <= 0.0:
        return route[0]
    held = [k for k in route[1:] if wait[k] <= 0.0]
    if not held:
        return None
    # a wait without end is a long one: the same for every order, so the orders compare on the rest
    cap = 1.0e6

    def cost(order) -> float:
        t = work = total = 0.0
        prev = None
        for j in order:
            leg = float(here_s[j] if prev is None else between_s[prev, j]) + float(service_s[j])
            work += leg
            t = max(t + leg - float(service_s[j]), min(wait[j], cap)) + float(service_s[j])
            total += t
            prev = j
        return work + latency_weight * total

    best, best_cost = None, cost(route)
    for k in held:
        c = cost([k] + [j for j in route if j != k])
        if c < best_cost:
            best, best_cost = k, c
    return best
