"""What an allocation costs: path-length matrices from our grid planner, the
per-vehicle cost arrays every allocator shares, and route evaluation.

Costs are seconds of work: travel (path length / the vehicle's speed) plus
the time spent doing each task (coverage length / speed plus dwell).
Waiting for a delivery window to open is not a cost but counts against the
window and the vehicle's endurance.  Routes are open: a vehicle starts at
its start (depot) and stops after its last task.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgepilot.vehicle.fleet import _cbba_kernels as _K
from edgepilot.vehicle.fleet.tasks import TaskWork, VehicleCapabilities, can_do, task_work
from edgepilot.vehicle.planning.astar import search_stats


def straight_line_matrix(sources, targets) -> np.ndarray:
    """Euclidean distances (S, T) [m] between (S, 2) and (T, 2) points: the
    optimistic lower bound, for tests and open water without a map."""
    a = np.asarray(sources, dtype=np.float64).reshape(-1, 2)
    b = np.asarray(targets, dtype=np.float64).reshape(-1, 2)
    return np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])


def path_length_matrix(weights: np.ndarray, resolution: float, origin, sources, targets) -> np.ndarray:
    """Planned path lengths (S, T) [m] between map-frame points, each the
    cost of an optimal 8-connected grid A* path (``vehicle/planning/astar``,
    geometric move rule) on ``weights`` (float32, >= 1, inf blocked; row 0
    south) times ``resolution``.  Unit weights give metres; graded weights
    give metres-equivalent.  inf where no path exists or an end point is off
    the grid or blocked.  The geometric rule is symmetric, so each unordered
    pair of cells is searched once."""
    if not (math.isfinite(resolution) and resolution > 0):
        raise ValueError(f"resolution must be > 0 m per cell, got {resolution!r}")
    ox, oy = (float(v) for v in origin)
    src = np.asarray(sources, dtype=np.float64).reshape(-1, 2)
    dst = np.asarray(targets, dtype=np.float64).reshape(-1, 2)
    h, w = weights.shape

    def cell(p):
        r = int(math.floor((p[1] - oy) / resolution))
        c = int(math.floor((p[0] - ox) / resolution))
        if 0 <= r < h and 0 <= c < w and np.isfinite(weights[r, c]):
            return (r, c)
        return None

    sc = [cell(p) for p in src]
    tc = [cell(p) for p in dst]
    out = np.full((len(src), len(dst)), np.inf)
    memo: dict[tuple, float] = {}
    for i, a in enumerate(sc):
        if a is None:
            continue
        for j, b in enumerate(tc):
            if b is None:
                continue
            if a == b:
                out[i, j] = 0.0
                continue
            key = (a, b) if a <= b else (b, a)
            d = memo.get(key)
            if d is None:
                d = search_stats(weights, key[0], key[1]).cost * resolution
                memo[key] = d
            out[i, j] = d
    return out


@dataclass(frozen=True)
class FleetCosts:
    """Everything an allocator needs, as arrays (V vehicles, T tasks).

    start_s[v, j]      travel time from v's start to task j's entry [s]
    between_s[v, i, j] travel time from task i's exit to task j's entry [s]
    service_s[v, j]    time v spends doing task j [s]
    able[v, j]         v can do j (domain, sensors, reachable)
    load_kg[j], capacity_kg[v], endurance_s[v]
    open_s[j], close_s[j]  arrival window of j [s] (0, inf when none)
    priority[j]        relative value of j
    Entries for pairs a vehicle cannot do are inf.
    """

    vehicle_ids: tuple[str, ...]
    task_ids: tuple[str, ...]
    start_s: np.ndarray
    between_s: np.ndarray
    service_s: np.ndarray
    able: np.ndarray
    load_kg: np.ndarray
    capacity_kg: np.ndarray
    endurance_s: np.ndarray
    open_s: np.ndarray
    close_s: np.ndarray
    priority: np.ndarray

    @property
    def n_vehicles(self) -> int:
        return len(self.vehicle_ids)

    @property
    def n_tasks(self) -> int:
        return len(self.task_ids)

    def scale(self) -> float:
        """Largest finite single leg + service [s]: the unit auction rewards
        are made of, so every feasible task is worth bidding for."""
        fin = [a[np.isfinite(a)] for a in (self.start_s, self.between_s, self.service_s)]
        m = max((float(a.max()) for a in fin if a.size), default=1.0)
        return max(m, 1.0)


def fleet_costs(tasks, vehicles: list[VehicleCapabilities], distance_m) -> FleetCosts:
    """Build ``FleetCosts`` from tasks, vehicles and a distance function.

    ``distance_m(domain, sources (S, 2), targets (T, 2)) -> (S, T)`` metres
    for a vehicle of that domain ("land" or "water"): normally
    ``path_length_matrix`` on that domain's traversability grid, so costs
    are our planner's path lengths, not straight lines."""
    work: list[TaskWork] = [task_work(t) for t in tasks]
    V, T = len(vehicles), len(tasks)
    entries = np.array([w.entry for w in work]).reshape(-1, 2)
    exits = np.array([w.exit for w in work]).reshape(-1, 2)
    starts = np.array([v.start for v in vehicles], dtype=np.float64).reshape(-1, 2)
    start_m = np.full((V, T), np.inf)
    between_m = np.full((V, T, T), np.inf)
    for domain in sorted({v.domain for v in vehicles}):
        vs = [i for i, v in enumerate(vehicles) if v.domain == domain]
        d = np.asarray(distance_m(domain, np.vstack((starts[vs], exits)), entries), dtype=np.float64)
        if d.shape != (len(vs) + T, T):
            raise ValueError(f"distance_m({domain!r}) returned shape {d.shape}, expected {(len(vs) + T, T)}")
        start_m[vs] = d[:len(vs)]
        between_m[vs] = d[len(vs):][None, :, :]
    speed = np.array([v.speed for v in vehicles])
    able = np.array([[can_do(v, t) for t in tasks] for v in vehicles], dtype=bool).reshape(V, T)
    work_m = np.array([w.work_m for w in work])
    dwell = np.array([w.dwell_s for w in work])
    service = work_m[None, :] / speed[:, None] + dwell[None, :]
    start_s = start_m / speed[:, None]
    between_s = between_m / speed[:, None, None]
    able &= np.isfinite(start_s)
    start_s = np.where(able, start_s, np.inf)
    service = np.where(able, service, np.inf)
    between_s = np.where(able[:, None, :] & able[:, :, None], between_s, np.inf)
    return FleetCosts(
        vehicle_ids=tuple(v.name for v in vehicles), task_ids=tuple(t.id for t in tasks),
        start_s=start_s, between_s=between_s, service_s=service, able=able,
        load_kg=np.array([w.load_kg for w in work]),
        capacity_kg=np.array([v.payload_kg for v in vehicles]),
        endurance_s=np.array([v.endurance_s for v in vehicles], dtype=np.float64),
        open_s=np.array([w.window[0] for w in work]), close_s=np.array([w.window[1] for w in work]),
        priority=np.array([float(t.priority) for t in tasks]))


def with_vehicle_row(costs: FleetCosts, v: int, own: FleetCosts) -> FleetCosts:
    """``costs`` with vehicle ``v``'s rows (start, between, service, able)
    taken from ``own``, the one-vehicle costs of the same tasks priced
    another way (a vehicle's own path lengths among the others' straight
    lines: in the auction only an agent's own row decides its bids)."""
    from dataclasses import replace

    if own.n_vehicles != 1 or own.task_ids != costs.task_ids:
        raise ValueError(f"own costs must be one vehicle over the same {costs.n_tasks} tasks, got "
                         f"{own.n_vehicles} vehicles and {own.n_tasks} tasks")
    if not 0 <= v < costs.n_vehicles:
        raise ValueError(f"v must be a vehicle index in 0..{costs.n_vehicles - 1}, got {v}")
    out = {}
    for k in ("start_s", "between_s", "service_s", "able"):
        a = getattr(costs, k).copy()
        a[v] = getattr(own, k)[0]
        out[k] = a
    return replace(costs, **out)


@dataclass(frozen=True)
class RouteCheck:
    cost_s: float          # travel + service [s]
    finish_s: float        # when the last task is done, waits included [s]
    load_kg: float
    feasible: bool
    problem: str           # why not, "" when feasible


def route_check(costs: FleetCosts, v: int, route) -> RouteCheck:
    """Cost and feasibility of vehicle ``v`` doing ``route`` (task indices in
    order): skills, windows, capacity, endurance."""
    t = 0.0
    cost = 0.0
    load = 0.0
    prev = -1
    problem = ""
    for j in route:
        if not costs.able[v, j]:
            problem = problem or f"cannot do task {costs.task_ids[j]}"
        leg = costs.start_s[v, j] if prev < 0 else costs.between_s[v, prev, j]
        t += leg
        if t > costs.close_s[j] + 1e-6:
            problem = problem or f"arrives at {costs.task_ids[j]} at {t:.1f} s, window closes {costs.close_s[j]:.1f} s"
        t = max(t, costs.open_s[j]) + costs.service_s[v, j]
        cost += leg + costs.service_s[v, j]
        load += costs.load_kg[j]
        prev = j
    if load > costs.capacity_kg[v] + 1e-9:
        problem = problem or f"load {load:g} kg exceeds payload {costs.capacity_kg[v]:g} kg"
    if t > costs.endurance_s[v] + 1e-6:
        problem = problem or f"finishes at {t:.1f} s beyond endurance {costs.endurance_s[v]:.1f} s"
    return RouteCheck(float(cost), float(t), float(load), not problem, problem)


@dataclass(frozen=True)
class Plan:
    """An allocation: each vehicle's tasks in the order it does them (task
    ids), the total cost [s] (sum of ``route_costs``) and the tasks nobody got."""

    routes: dict[str, tuple[str, ...]]
    route_costs: dict[str, float]
    cost: float
    unassigned: tuple[str, ...]
    method: str = ""

    def assignment(self) -> dict[str, str]:
        """task id -> vehicle id."""
        return {t: v for v, r in self.routes.items() for t in r}


def make_plan(costs: FleetCosts, routes_idx: list[list[int]], method: str) -> Plan:
    """A ``Plan`` from per-vehicle index routes, checked: raises ValueError
    if a task appears twice or a route is infeasible (an allocator bug)."""
    seen: dict[int, int] = {}
    routes, rc = {}, {}
    for v, r in enumerate(routes_idx):
        for j in r:
            if j in seen:
                raise ValueError(f"{method}: task {costs.task_ids[j]} assigned to "
                                 f"{costs.vehicle_ids[seen[j]]} and {costs.vehicle_ids[v]}")
            seen[j] = v
        chk = route_check(costs, v, r)
        if not chk.feasible:
            raise ValueError(f"{method}: route of {costs.vehicle_ids[v]} infeasible: {chk.problem}")
        routes[costs.vehicle_ids[v]] = tuple(costs.task_ids[j] for j in r)
        rc[costs.vehicle_ids[v]] = chk.cost_s
    un = tuple(costs.task_ids[j] for j in range(costs.n_tasks) if j not in seen)
    return Plan(routes, rc, float(sum(rc.values())), un, method)


# ------------------------------------------------------------ route insertion
@dataclass(frozen=True)
class RouteSchedule:
    """A route's timing: arrival, wait and finish per task [s], and
    ``slack[k]``: how much later than now the vehicle may arrive at route
    position k (k = len: finish the last task) and still meet every window
    and its endurance."""

    arrival: np.ndarray
    finish: np.ndarray
    slack: np.ndarray
    load_kg: float


def schedule(costs: FleetCosts, v: int, route) -> RouteSchedule:
    L = len(route)
    a = np.empty(L)
    f = np.empty(L)
    wait = np.empty(L)
    t = 0.0
    prev = -1
    load = 0.0
    for n, j in enumerate(route):
        t += costs.start_s[v, j] if prev < 0 else costs.between_s[v, prev, j]
        a[n] = t
        wait[n] = max(0.0, costs.open_s[j] - t)
        t = t + wait[n] + costs.service_s[v, j]
        f[n] = t
        load += costs.load_kg[j]
        prev = j
    slack = np.empty(L + 1)
    slack[L] = costs.endurance_s[v] - (f[L - 1] if L else 0.0)
    for n in range(L - 1, -1, -1):
        slack[n] = min(costs.close_s[route[n]] - a[n], wait[n] + slack[n + 1])
    return RouteSchedule(a, f, slack, load)


def best_insertion(costs: FleetCosts, v: int, route, candidates: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Cheapest feasible place to insert each task into ``route``.

    ``candidates``: bool (T,) tasks to price.  Returns (delta (T,) [s], the
    increase in route cost, inf where no feasible place or not a candidate;
    pos (T,) int, the route index to insert at).  Feasible means skills,
    every window (waiting allowed), payload and endurance all still hold.
    The numba kernel; ``best_insertion_numpy`` is its oracle."""
    T = costs.n_tasks
    if not 0 <= v < costs.n_vehicles:
        raise ValueError(f"v must be a vehicle index in 0..{costs.n_vehicles - 1}, got {v}")
    cand = np.ascontiguousarray(candidates, dtype=np.bool_)
    if cand.shape != (T,):
        raise ValueError(f"candidates must be a bool array of {T} tasks, got shape {cand.shape}")
    r = np.asarray(route, dtype=np.int64).reshape(-1)
    if r.size and (r.min() < 0 or r.max() >= T):
        raise ValueError(f"route holds task indices outside 0..{T - 1}: {r.tolist()}")
    delta = np.empty(T)
    pos = np.empty(T, dtype=np.int64)
    _K.insertion_kernel(costs.start_s[v], costs.between_s[v], costs.service_s[v], costs.open_s,
                        costs.close_s, costs.load_kg, costs.able[v], cand, r,
                        float(costs.capacity_kg[v]), float(costs.endurance_s[v]), delta, pos)
    return delta, pos


def best_insertion_numpy(costs: FleetCosts, v: int, route, candidates: np.ndarray, lam: float = 0.0,
                         lat_cap=None, t0: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """``best_insertion`` in vectorised NumPy (the tests' oracle); with
    ``lam`` > 0 that of ``_cbba_kernels.latency_insertion_kernel`` (route
    cost + ``lam`` x the sum of finish times, the route starting at ``t0``,
    the latency part at most ``lat_cap`` (T,) [s]).

    ``candidates``: bool (T,) tasks to price.  Returns (delta (T,) [s], the
    increase in route cost, inf where no feasible place or not a candidate;
    pos (T,) int, the route index to insert at).  Feasible means skills,
    every window (waiting allowed), payload and endurance all still hold.
    Vectorised over tasks and positions: O(T x len(route)) array work."""
    route = list(route)
    L = len(route)
    T = costs.n_tasks
    sch = schedule(costs, v, route)
    B = costs.between_s[v]
    ridx = np.asarray(route, dtype=np.int64)
    # leg from each position's predecessor to every task: (L+1, T)
    to_j = np.vstack((costs.start_s[v][None, :], B[ridx, :])) if L else costs.start_s[v][None, :]
    f_prev = np.concatenate(([0.0], sch.finish))
    arr = f_prev[:, None] + to_j
    ok = arr <= costs.close_s[None, :] + 1e-9
    fin = np.maximum(arr, costs.open_s[None, :]) + costs.service_s[v][None, :]
    delta = np.empty((L + 1, T))
    if L:
        from_j = B[:, ridx].T                                   # (L, T): task -> route[k]
        legs = np.array([costs.start_s[v, route[0]]] + [B[route[k - 1], route[k]] for k in range(1, L)])
        late = fin[:L] + from_j - sch.arrival[:, None]          # delay passed to route[k]
        ok[:L] &= late <= sch.slack[:L, None] + 1e-9
        delta[:L] = to_j[:L] + costs.service_s[v][None, :] + from_j - legs[:, None]
    ok[L] &= fin[L] - (sch.finish[-1] if L else 0.0) <= sch.slack[L] + 1e-9
    delta[L] = to_j[L] + costs.service_s[v]
    ok &= (candidates & costs.able[v] & (sch.load_kg + costs.load_kg <= costs.capacity_kg[v] + 1e-9))[None, :]
    if lam > 0:
        after = (L - np.arange(L + 1))[:, None]                 # tasks each insertion delays
        with np.errstate(invalid="ignore"):
            delta = delta + np.minimum(lam * (t0 + fin + after * delta), np.asarray(lat_cap, float)[None, :])
    delta = np.where(ok & np.isfinite(delta), delta, np.inf)
    pos = np.argmin(delta, axis=0)                              # first of equal positions
    return delta[pos, np.arange(T)], pos


# ------------------------------------------------------------ path lengths by sweeps
#: [m] grid the allocation's path lengths are computed on (a vehicle's 0.1 m
#: planning cells would make each sweep 25 times the work for no better order)
COST_RESOLUTION = 0.5


def travel_grid(occupied: np.ndarray, resolution: float, clearance_m: float,
                cost_resolution: float = COST_RESOLUTION) -> tuple[np.ndarray, float]:
    """Traversal weights for path costs from an occupancy grid: float32 (1
    free, inf blocked) at ``cost_resolution`` (a coarse cell is blocked when
    any cell in it is), obstacles grown by ``clearance_m`` (the vehicle's
    half width), and the grid's resolution [m].  Cell (0, 0) keeps the
    occupancy grid's south-west corner."""
    import cv2

    occ = np.asarray(occupied, bool)
    if occ.ndim != 2 or not occ.size:
        raise ValueError(f"occupied must be a non-empty 2-D bool grid, got shape {occ.shape}")
    if not (math.isfinite(resolution) and resolution > 0):
        raise ValueError(f"resolution must be > 0 m per cell, got {resolution!r}")
    if not (math.isfinite(clearance_m) and clearance_m >= 0):
        raise ValueError(f"clearance_m must be >= 0 m, got {clearance_m!r}")
    k = max(1, int(round(cost_resolution / resolution)))
    H, W = occ.shape[0] // k * k, occ.shape[1] // k * k
    blocked = occ[:H, :W].reshape(H // k, k, W // k, k).any(axis=(1, 3)).astype(np.uint8)
    res = resolution * k
    r = int(math.ceil(clearance_m / res))
    if r > 0:
        blocked = cv2.dilate(blocked, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    return np.where(blocked > 0, np.inf, 1.0).astype(np.float32), res

def _check_grid(weights, resolution) -> None:
    if not isinstance(weights, np.ndarray) or weights.ndim != 2 or weights.dtype != np.float32 or not weights.size:
        raise ValueError(f"weights must be a non-empty 2-D float32 array, got {type(weights).__name__} "
                         f"{getattr(weights, 'dtype', '')} {getattr(weights, 'shape', '')}")
    fin = weights[np.isfinite(weights)]
    if np.isnan(weights).any() or (fin < 1.0).any():
        raise ValueError("weights must be >= 1 (inf: blocked) with no NaN")
    if not (math.isfinite(resolution) and resolution > 0):
        raise ValueError(f"resolution must be > 0 m per cell, got {resolution!r}")


def _padded(weights: np.ndarray) -> tuple[np.ndarray, int]:
    """The weights as float64 with a border of inf, flattened (the sweep's
    input), and the number of buckets its queue needs."""
    h, w = weights.shape
    wp = np.full((h + 2, w + 2), np.inf)
    wp[1:-1, 1:-1] = weights
    fin = weights[np.isfinite(weights)]
    top = float(fin.max()) if fin.size else 1.0
    return wp.reshape(-1), int(math.ceil(math.sqrt(2.0) * top)) + 2


def path_field(weights: np.ndarray, resolution: float, source) -> np.ndarray:
    """(H, W) path lengths [m] from cell ``source`` (row, col) to every cell
    of ``weights`` (float32 >= 1, inf blocked): the cost of an optimal grid
    A* path (geometric rule) times ``resolution``; inf where unreachable.
    One Dijkstra sweep (``_path_kernels``); ``path_field_numpy`` is its oracle."""
    from edgepilot.vehicle.fleet import _path_kernels as _P

    _check_grid(weights, resolution)
    h, w = weights.shape
    r, c = int(source[0]), int(source[1])
    if not (0 <= r < h and 0 <= c < w):
        raise ValueError(f"source {(r, c)} is outside the grid of shape {weights.shape}")
    wp, nb = _padded(weights)
    n = wp.shape[0]
    dist = np.empty(n)
    _P.path_field_kernel(wp, w + 2, (r + 1) * (w + 2) + c + 1, np.zeros(0, np.int64), nb, dist,
                         np.empty(n, np.int32), np.empty(n, np.int32), np.empty(n, np.int32))
    return dist.reshape(h + 2, w + 2)[1:-1, 1:-1] * resolution


def path_field_numpy(weights: np.ndarray, resolution: float, source) -> np.ndarray:
    """``path_field`` by vectorised Bellman-Ford relaxation in NumPy (the
    tests' oracle): every cell takes the cheapest of its 8 neighbours' value
    plus the move's cost, until nothing changes."""
    wt = np.asarray(weights, np.float64)
    h, w = wt.shape
    free = np.isfinite(wt)
    INF = np.inf
    pad_w = np.full((h + 2, w + 2), INF)
    pad_w[1:-1, 1:-1] = wt
    d = np.full((h, w), INF)
    if free[source[0], source[1]]:
        d[source[0], source[1]] = 0.0
    moves = [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if dr or dc]
    while True:
        pad_d = np.full((h + 2, w + 2), INF)
        pad_d[1:-1, 1:-1] = d
        best = d.copy()
        for dr, dc in moves:
            # the neighbour at (r + dr, c + dc) moves into (r, c)
            nd = pad_d[1 + dr:h + 1 + dr, 1 + dc:w + 1 + dc]
            nw = pad_w[1 + dr:h + 1 + dr, 1 + dc:w + 1 + dc]
            ln = math.sqrt(2.0) if dr and dc else 1.0
            cand = nd + 0.5 * (wt + nw) * ln
            ok = free & np.isfinite(nw)
            if dr and dc:
                ok &= np.isfinite(pad_w[1 + dr:h + 1 + dr, 1:w + 1]) & np.isfinite(pad_w[1:h + 1, 1 + dc:w + 1 + dc])
            best = np.where(ok & (cand < best), cand, best)
        if np.array_equal(best, d):
            return d * resolution
        d = best


class PathLengths:
    """Planner path lengths [m] between map-frame points on one grid, by
    Dijkstra sweeps (``_path_kernels``), cached per pair of cells.

    ``weights`` (H, W) float32 (>= 1, inf blocked; row 0 south, cell (0, 0)'s
    south-west corner at ``origin``) at ``resolution`` m per cell.  A point
    in a blocked cell is moved to the nearest free cell within ``snap_m``
    (a task marked on a wall, a vehicle whose own footprint the costmap
    counts as lethal); beyond that, or off the grid, it is unreachable (inf).

    ``matrix(sources, targets)`` answers from the cache and sweeps only for
    pairs it has not seen; each sweep starts from the cell that most of the
    missing pairs share and stops once their other ends are settled (the
    rule is symmetric).  So the first auction of a plan costs one sweep per
    task, and re-pricing a vehicle that has moved to a new cell costs one
    sweep for all tasks; a cell it has been in before costs none.
    ``sweeps`` counts the sweeps run."""

    def __init__(self, weights: np.ndarray, resolution: float, origin, snap_m: float = 2.0):
        _check_grid(weights, resolution)
        if not (math.isfinite(snap_m) and snap_m >= 0):
            raise ValueError(f"snap_m must be >= 0 m, got {snap_m!r}")
        self.weights = np.ascontiguousarray(weights)
        self.resolution = float(resolution)
        self.origin = (float(origin[0]), float(origin[1]))
        self.snap_cells = int(math.ceil(snap_m / self.resolution))
        self._wp, self._nbuckets = _padded(self.weights)
        n = self._wp.shape[0]
        self._dist = np.empty(n)
        self._work = (np.empty(n, np.int32), np.empty(n, np.int32), np.empty(n, np.int32))
        self._memo: dict[tuple[int, int], float] = {}
        self._cells: dict[tuple[int, int], int] = {}
        self.sweeps = 0

    def cell(self, x: float, y: float) -> int:
        """Flat index of the free cell standing for map point (x, y), or -1."""
        h, w = self.weights.shape
        if not (math.isfinite(x) and math.isfinite(y)):
            return -1
        r = int(math.floor((y - self.origin[1]) / self.resolution))
        c = int(math.floor((x - self.origin[0]) / self.resolution))
        key = (r, c)
        got = self._cells.get(key)
        if got is not None:
            return got
        out = -1
        if 0 <= r < h and 0 <= c < w:
            if np.isfinite(self.weights[r, c]):
                out = r * w + c
            elif self.snap_cells > 0:
                k = self.snap_cells
                r0, r1, c0, c1 = max(0, r - k), min(h, r + k + 1), max(0, c - k), min(w, c + k + 1)
                rr, cc = np.nonzero(np.isfinite(self.weights[r0:r1, c0:c1]))
                if rr.size:
                    d2 = (rr + r0 - r) ** 2 + (cc + c0 - c) ** 2
                    i = int(np.argmin(d2))
                    if d2[i] <= k * k:
                        out = int((rr[i] + r0) * w + cc[i] + c0)
        self._cells[key] = out
        return out

    def matrix(self, sources, targets) -> np.ndarray:
        """(S, T) path lengths [m] from (S, 2) to (T, 2) map points; inf
        where no path or an end is unreachable."""
        from edgepilot.vehicle.fleet import _path_kernels as _P

        src = np.asarray(sources, dtype=np.float64).reshape(-1, 2)
        dst = np.asarray(targets, dtype=np.float64).reshape(-1, 2)
        sc = [self.cell(*p) for p in src]
        tc = [self.cell(*p) for p in dst]
        memo = self._memo
        need: dict[int, set[int]] = {}
        for a in set(sc):
            for b in set(tc):
                if a < 0 or b < 0 or a == b or (min(a, b), max(a, b)) in memo:
                    continue
                need.setdefault(a, set()).add(b)
                need.setdefault(b, set()).add(a)
        W = self.weights.shape[1]

        def pad(k):                       # flat cell index -> the padded grid's
            return (k // W + 1) * (W + 2) + k % W + 1

        while need:
            hub = max(need, key=lambda k: (len(need[k]), -k))
            ends = need.pop(hub)
            stop = np.array([pad(b) for b in ends], np.int64)
            _P.path_field_kernel(self._wp, W + 2, pad(hub), stop, self._nbuckets, self._dist, *self._work)
            self.sweeps += 1
            for b in ends:
                memo[(min(hub, b), max(hub, b))] = float(self._dist[pad(b)]) * self.resolution
                other = need.get(b)
                if other is not None:
                    other.discard(hub)
                    if not other:
                        del need[b]
        out = np.full((len(sc), len(tc)), np.inf)
        for i, a in enumerate(sc):
            if a < 0:
                continue
            for j, b in enumerate(tc):
                if b >= 0:
                    out[i, j] = 0.0 if a == b else memo[(min(a, b), max(a, b))]
        return out

    def distance(self, domain, sources, targets) -> np.ndarray:
        """The ``distance_m`` of ``fleet_costs`` (one grid for the domain asked)."""
        return self.matrix(sources, targets)
