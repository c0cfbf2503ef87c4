"""Greedy nearest-task allocation: the baseline the auction and the central
plan are measured against.

Repeatedly, the vehicle whose next task is nearest (in travel time from
where its route ends) appends that task, if it can do it within the window,
its payload and its endurance.  Ties go to the lower vehicle, then task,
index, so the result is deterministic."""
from __future__ import annotations

import numpy as np

from edgepilot.vehicle.fleet.costs import FleetCosts, Plan, make_plan


def allocate_greedy(costs: FleetCosts) -> Plan:
    V, T = costs.n_vehicles, costs.n_tasks
    routes: list[list[int]] = [[] for _ in range(V)]
    free = np.ones(T, dtype=bool)
    t_end = np.zeros(V)
    load = np.zeros(V)
    while free.any():
        best = (np.inf, -1, -1)
        for v in range(V):
            last = routes[v][-1] if routes[v] else -1
            leg = costs.start_s[v] if last < 0 else costs.between_s[v, last]
            arr = t_end[v] + leg
            fin = np.maximum(arr, costs.open_s) + costs.service_s[v]
            ok = (free & costs.able[v] & (arr <= costs.close_s) & (fin <= costs.endurance_s[v])
                  & (load[v] + costs.load_kg <= costs.capacity_kg[v] + 1e-9) & np.isfinite(leg))
            if ok.any():
                j = int(np.argmin(np.where(ok, leg, np.inf)))
                if leg[j] < best[0]:
                    best = (float(leg[j]), v, j)
        _, v, j = best
        if v < 0:
            break
        last = routes[v][-1] if routes[v] else -1
        leg = costs.start_s[v, j] if last < 0 else costs.between_s[v, last, j]
        t_end[v] = max(t_end[v] + leg, costs.open_s[j]) + costs.service_s[v, j]
        load[v] += costs.load_kg[j]
        routes[v].append(j)
        free[j] = False
    return make_plan(costs, routes, "greedy")
