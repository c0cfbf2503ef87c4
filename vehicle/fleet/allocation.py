"""One interface over the allocators: ``allocate(tasks, vehicles, costs) -> Plan``.

``tasks`` and ``vehicles`` are the task file's entries (``TaskFile.task``
and ``.vehicle``), ``costs`` the ``FleetCosts`` built from them (normally
with planner path lengths, see ``costs.fleet_costs``).  A ``Plan`` holds
each vehicle's ordered task ids, the cost [s] and the tasks left unassigned.

Here: the greedy nearest-task baseline and CBBA run to agreement as one
call.  The central OR-Tools plan (``edgepilot.fleet.central``) implements
the same Protocol outside the pure core.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

from edgepilot.vehicle.fleet.cbba import CbbaParams, allocate_cbba
from edgepilot.vehicle.fleet.costs import FleetCosts, Plan
from edgepilot.vehicle.fleet.greedy import allocate_greedy


class Allocator(Protocol):
    name: str

    def allocate(self, tasks: Sequence, vehicles: Sequence, costs: FleetCosts) -> Plan: ...


def check_inputs(tasks: Sequence, vehicles: Sequence, costs: FleetCosts) -> None:
    """The costs must have been built from these tasks and vehicles, in order."""
    t = tuple(x.id for x in tasks)
    v = tuple(x.name for x in vehicles)
    if t != costs.task_ids:
        raise ValueError(f"costs were built for tasks {list(costs.task_ids)}, got {list(t)}")
    if v != costs.vehicle_ids:
        raise ValueError(f"costs were built for vehicles {list(costs.vehicle_ids)}, got {list(v)}")


@dataclass(frozen=True)
class GreedyAllocator:
    name: str = "greedy"

    def allocate(self, tasks, vehicles, costs: FleetCosts) -> Plan:
        check_inputs(tasks, vehicles, costs)
        return allocate_greedy(costs)


@dataclass(frozen=True)
class CbbaAllocator:
    """CBBA with every vehicle hearing every other, run to agreement.  Only
    ``edgepilot`` vehicles run the auction; other MAVLink vehicles take no
    part (they get work only from the central plan)."""

    params: CbbaParams = field(default_factory=lambda: CbbaParams(stale_after=1e9))
    name: str = "cbba"

    def allocate(self, tasks, vehicles, costs: FleetCosts) -> Plan:
        check_inputs(tasks, vehicles, costs)
        return allocate_cbba(costs, self.params,
                             participants=[i for i, v in enumerate(vehicles) if v.kind == "edgepilot"])
