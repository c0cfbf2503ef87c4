"""``edgepilot gcs fleet plan``: the central plan as a document the ground
station uploads (format in ``edgepilot.gcs.fleet``).

Layering: making the plan needs the task model, our planner's path lengths
and the mission builder (``edgepilot.vehicle.fleet``) and OR-Tools, none of
which ``edgepilot.gcs`` may import (it speaks MAVLink only).  So the plan is
made here and handed to the ground station as plain data: ``edgepilot.cli``
passes :func:`make_plan_document` to ``gcs.cli.main`` as its fleet planner,
and the ground station uploads each vehicle's share through its public
mission client (``gcs.fleet.upload_plan``).  ``edgepilot.gcs`` stays usable
alone (``fleet status``, ``fleet tasks``, uploading a saved plan).

Costs are our grid A*'s path lengths on ``--map`` (a ROS map_server YAML in
the task file's map frame: free cells cost 1, occupied and unknown cells
are blocked) divided by each vehicle's speed; without a map, straight lines
(said so in the document's ``costs`` field).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from edgepilot.vehicle.config import ConfigError
from edgepilot.vehicle.fleet.costs import fleet_costs, path_length_matrix, straight_line_matrix
from edgepilot.vehicle.fleet.missions import route_mission
from edgepilot.vehicle.fleet.tasks import load_tasks
from edgepilot.vehicle.geo import LocalFrame

PLAN_FORMAT = "edgepilot-fleet-plan"   # the same string as edgepilot.gcs.fleet.PLAN_FORMAT


def _distance_fn(map_path: str | None):
    if map_path is None:
        return (lambda domain, s, t: straight_line_matrix(s, t)), "straight lines (no --map)"
    from edgepilot.vehicle.maps import load_map_server

    try:
        grid = load_map_server(map_path)
    except (OSError, ValueError) as e:
        raise ValueError(f"--map {map_path}: {e}") from None
    blocked = grid.occupied | (grid.unknown if grid.unknown is not None else False)
    w = np.where(blocked, np.float32(np.inf), np.float32(1.0)).astype(np.float32)
    origin = (grid.origin_x, grid.origin_y)
    return ((lambda domain, s, t: path_length_matrix(w, grid.resolution, origin, s, t)),
            f"grid A* path lengths on {map_path}")


def make_plan_document(tasks_path: str, *, origin: tuple[float, float] | None = None,
                       time_limit_s: float = 2.0, map_path: str | None = None,
                       positions: dict[int, tuple[float, float]] | None = None) -> dict:
    """Plan the task file with OR-Tools and build every vehicle's mission.
    ``positions`` (sysid -> WGS84 lat, lon, from telemetry) replace those
    vehicles' task-file starts: the plan starts where they are.
    ValueError (naming the file / option) for anything wrong in the input."""
    try:
        tf = load_tasks(tasks_path)
    except ConfigError as e:
        raise ValueError(str(e)) from None
    if not tf.vehicle:
        raise ValueError(f"{tasks_path}: vehicle: no [[vehicle]] entries: nobody to give the tasks to")
    org = origin if origin is not None else tf.origin
    if org is None:
        raise ValueError(f"{tasks_path}: origin: the task file has no origin = [lat, lon] of its map frame; "
                         "give --origin LAT,LON")
    if not (math.isfinite(org[0]) and math.isfinite(org[1]) and -90 <= org[0] <= 90 and -180 <= org[1] <= 180):
        raise ValueError(f"origin: expected LAT,LON in degrees, got {org[0]},{org[1]}")
    try:
        from edgepilot.fleet.central import OrToolsAllocator
    except ImportError as e:
        raise ValueError(str(e)) from None
    dist, how = _distance_fn(map_path)
    frame = LocalFrame(float(org[0]), float(org[1]))
    tasks, vehicles = list(tf.task), list(tf.vehicle)
    moved = []
    for i, v in enumerate(vehicles):
        pos = (positions or {}).get(v.sysid)
        if pos is not None:
            x, y = frame.to_local(float(pos[0]), float(pos[1]))
            vehicles[i] = v.model_copy(update={"start": (float(x), float(y))})
            moved.append(v.name)
    costs = fleet_costs(tasks, vehicles, dist)
    plan = OrToolsAllocator(time_limit_s).allocate(tasks, vehicles, costs)
    by_id = {t.id: t for t in tasks}
    out_vehicles = []
    for v in vehicles:
        route = list(plan.routes.get(v.name, ()))
        items, item_task = [], []
        # the mission of each task on its own, to know which items are whose
        mission = route_mission([], tasks, frame, v.start, speed=v.speed)
        items += mission
        item_task += [None] * len(mission)
        for tid in route:
            part = route_mission([tid], tasks, frame, v.start)[1:]      # without the home item
            items += part
            item_task += [tid] * len(part)
        out_vehicles.append({
            "name": v.name, "sysid": v.sysid, "kind": v.kind, "autopilot": v.autopilot, "domain": v.domain,
            "tasks": route, "cost_s": round(float(plan.route_costs.get(v.name, 0.0)), 3),
            "items": [{"command": int(it.command), "frame": int(it.frame),
                       "params": [float(it.param1), float(it.param2), float(it.param3), float(it.param4)],
                       "lat": float(it.lat), "lon": float(it.lon), "alt": float(it.alt)} for it in items],
            "item_task": item_task, "start": [float(v.start[0]), float(v.start[1])],
            "start_from": "telemetry" if v.name in moved else "task file",
            "task_kinds": {tid: by_id[tid].kind for tid in route},
        })
    return {"format": PLAN_FORMAT, "version": 1, "name": tf.name, "tasks_file": str(Path(tasks_path)),
            "method": plan.method, "cost_s": round(float(plan.cost), 3), "costs": how,
            "origin": [float(org[0]), float(org[1])], "unassigned": list(plan.unassigned),
            "vehicles": out_vehicles}


__all__ = ["make_plan_document"]
