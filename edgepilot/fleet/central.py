"""Central fleet allocation: vehicle routing with OR-Tools.

The routing model: one node per task, one start node per vehicle (its
depot: several start points) and one shared end node (routes are open:
arriving there costs nothing).  For vehicle v the arc a -> b costs the time
of doing a plus travelling to b (``FleetCosts``: planner path lengths over
the vehicle's speed), so a route's cost is its travel plus service time, as
for every allocator.  The same per-vehicle matrix is the transit of a time
dimension (waiting allowed) carrying the delivery windows and, at each
vehicle's end, its endurance; a load dimension carries payloads; skills
(land/water, sensors) restrict which vehicles may visit a task; every task
is optional at a penalty far above any route cost, so a task is left out
only when no vehicle can fit it.

Seconds are scaled to integer milliseconds, transits rounded up and
windows down, so a plan feasible for the solver is feasible in floats.
With a time limit the solver's result depends on how far its search got:
give ``solution_limit`` instead for a run-to-run identical plan.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
try:
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2
except ImportError as e:     # the ground-station extra, not needed on a vehicle
    raise ImportError("the central fleet plan needs OR-Tools: pip install 'edgepilot[fleet]'") from e

from edgepilot.vehicle.fleet.allocation import check_inputs
from edgepilot.vehicle.fleet.costs import FleetCosts, Plan, make_plan

MS = 1000.0                 # solver units per second
KG = 1000.0                 # solver units per kilogram
UNREACHABLE = 10**12        # transit of an arc that must never be used [ms]


def _ms_up(a: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(a), np.ceil(np.nan_to_num(a, posinf=0.0) * MS - 1e-6), UNREACHABLE).astype(np.int64)


@dataclass(frozen=True)
class OrToolsAllocator:
    """``time_limit_s``: guided local search stops after this long (it
    improves the first solution until then); None with ``solution_limit``
    None: the first solution only (parallel cheapest insertion)."""

    time_limit_s: float | None = 1.0
    solution_limit: int | None = None
    name: str = "ortools"

    def allocate(self, tasks: Sequence, vehicles: Sequence, costs: FleetCosts) -> Plan:
        check_inputs(tasks, vehicles, costs)
        return solve_routing(costs, self.time_limit_s, self.solution_limit)


#: With a solution limit and no time limit, the search also stops after this
#: long [s]: a problem with fewer improving solutions than the limit (one
#: vehicle, one task) would otherwise be searched for ever.  Any problem that
#: small has been searched through long before.
SOLUTION_LIMIT_BACKSTOP_S = 10.0


def solve_routing(costs: FleetCosts, time_limit_s: float | None = 1.0,
                  solution_limit: int | None = None, backstop_s: float = SOLUTION_LIMIT_BACKSTOP_S) -> Plan:
    V, T = costs.n_vehicles, costs.n_tasks
    if V == 0:
        return make_plan(costs, [], "ortools")
    N = T + V + 1
    end = T + V
    starts = [T + v for v in range(V)]
    manager = pywrapcp.RoutingIndexManager(N, V, starts, [end] * V)
    routing = pywrapcp.RoutingModel(manager)

    horizon_s = float(np.max(np.where(np.isfinite(costs.endurance_s), costs.endurance_s, 0.0), initial=0.0))
    fin = [a[np.isfinite(a)] for a in (costs.start_s, costs.between_s, costs.service_s, costs.close_s)]
    bound = sum(float(a.sum()) for a in fin[:3]) + (float(fin[3].max()) if fin[3].size else 0.0)
    horizon = int(math.ceil(max(horizon_s, bound, 1.0) * MS)) + 1

    transit_ids = []
    for v in range(V):
        m = np.full((N, N), UNREACHABLE, dtype=np.int64)
        svc = _ms_up(costs.service_s[v])
        m[:T, :T] = _ms_up(costs.between_s[v]) + svc[:, None]
        m[:T, end] = svc
        m[T + v, :T] = _ms_up(costs.start_s[v])
        m[T + v, end] = 0
        np.fill_diagonal(m, 0)
        tid = routing.RegisterTransitMatrix(m.tolist())
        routing.SetArcCostEvaluatorOfVehicle(tid, v)
        transit_ids.append(tid)

    routing.AddDimensionWithVehicleTransits(transit_ids, horizon, horizon, True, "time")
    time = routing.GetDimensionOrDie("time")
    for j in range(T):
        idx = manager.NodeToIndex(j)
        lo = int(math.ceil(costs.open_s[j] * MS))
        hi = int(math.floor(costs.close_s[j] * MS)) if math.isfinite(costs.close_s[j]) else horizon
        time.CumulVar(idx).SetRange(lo, max(lo, min(hi, horizon)) if hi >= lo else lo)
        if hi < lo:
            routing.VehicleVar(idx).SetValues([-1])          # window impossible
    for v in range(V):
        if math.isfinite(costs.endurance_s[v]):
            time.CumulVar(routing.End(v)).SetMax(int(math.floor(costs.endurance_s[v] * MS)))

    if np.any(costs.load_kg > 0):
        demand = [int(math.ceil(x * KG)) for x in costs.load_kg] + [0] * (V + 1)
        did = routing.RegisterUnaryTransitVector(demand)
        cap = [int(math.floor(min(c, 1e12) * KG)) for c in costs.capacity_kg]
        routing.AddDimensionWithVehicleCapacity(did, 0, cap, True, "load")

    reward = 10.0 * costs.scale()
    for j in range(T):
        idx = manager.NodeToIndex(j)
        able = [v for v in range(V) if costs.able[v, j]]
        routing.VehicleVar(idx).SetValues([-1] + able)
        routing.AddDisjunction([idx], int(math.ceil(costs.priority[j] * reward * MS * max(T, 1))))

    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    if time_limit_s is not None or solution_limit is not None:
        params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    if time_limit_s is not None:
        params.time_limit.FromMilliseconds(max(1, int(time_limit_s * 1000)))
    elif solution_limit is not None:
        params.time_limit.FromMilliseconds(max(1, int(backstop_s * 1000)))
    if solution_limit is not None:
        params.solution_limit = int(solution_limit)
    sol = routing.SolveWithParameters(params)
    routes: list[list[int]] = [[] for _ in range(V)]
    if sol is not None:
        for v in range(V):
            idx = sol.Value(routing.NextVar(routing.Start(v)))
            while not routing.IsEnd(idx):
                routes[v].append(manager.IndexToNode(idx))
                idx = sol.Value(routing.NextVar(idx))
    return make_plan(costs, routes, "ortools")


def costs_digest(costs: FleetCosts) -> str:
    """A digest of the routing problem exactly as the solver is given it
    (transits and service in integer milliseconds, windows, loads,
    capacities, endurance and who may do what; the reward scale): two
    problems with one digest are one problem to OR-Tools, so a reference
    solved for one holds for the other."""
    h = hashlib.sha256(b"edgepilot-routing-v1")
    ints = [_ms_up(costs.start_s), _ms_up(costs.between_s), _ms_up(costs.service_s)]
    win = np.stack([np.ceil(np.nan_to_num(costs.open_s, posinf=0.0) * MS),
                    np.where(np.isfinite(costs.close_s), np.floor(np.nan_to_num(costs.close_s, posinf=0.0) * MS), -1)])
    ends = np.where(np.isfinite(costs.endurance_s), np.floor(np.nan_to_num(costs.endurance_s, posinf=0.0) * MS), -1)
    loads = [np.ceil(costs.load_kg * KG), np.floor(np.minimum(costs.capacity_kg, 1e12) * KG)]
    for a in ints + [win, ends] + loads + [np.ceil(costs.priority * 10.0 * costs.scale() * MS)]:
        a = np.ascontiguousarray(a, dtype=np.int64)
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    a = np.ascontiguousarray(costs.able, dtype=np.uint8)
    h.update(str(a.shape).encode())
    h.update(a.tobytes())
    return h.hexdigest()[:16]


def reference_cost(costs: FleetCosts, time_limit_s: float,
                   stored: tuple[str, float] | None = None) -> tuple[float, str, str]:
    """OR-Tools' best route cost with a long time limit, the yardstick of a
    plan's quality: (cost [s], "stored" or "computed", the problem's
    digest).  ``stored`` is a (digest, cost) recorded for a scenario; it is
    taken only when its digest is this problem's, else the solver runs for
    ``time_limit_s``."""
    digest = costs_digest(costs)
    if stored is not None and stored[0] == digest:
        return float(stored[1]), "stored", digest
    return solve_routing(costs, time_limit_s=time_limit_s).cost, "computed", digest
