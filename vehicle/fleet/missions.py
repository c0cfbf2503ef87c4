"""A vehicle's share of a plan as a MAVLink mission, for any fleet member:
ours, or an ArduPilot/PX4 rover or boat that only speaks the mission
protocol (the ground station uploads it).

Item 0 is home (the vehicle's start), as ArduPilot numbers missions; then
per task, in route order:

- visit / deliver: NAV_WAYPOINT at the point, param1 = time held there
  (service or unloading) [s];
- search: NAV_WAYPOINT along the boustrophedon coverage path, its passes
  ordered from home or ``search_from`` (the first lane is the one nearest the vehicle's
  start, flown away from it, not a lane it must first cross the area to
  begin).  From home for every search, not from the previous task's end:
  a search's waypoints must stay the same whichever tasks come before it,
  since a vehicle busy with a search resumes it by index when its route
  changes;
- hold: NAV_LOITER_TIME at the point for its duration, param3 = radius;
- shadow: NAV_LOITER_TIME at the contact's last known position for the
  shadow duration.  A mission cannot follow a moving contact: an edgepilot
  vehicle shadows it actively from its fleet task, a foreign vehicle at
  least goes to where it was seen and waits there.

Delivery windows are the plan's business (its timing meets them); a
mission has no way to say "not before".  DO_CHANGE_SPEED first, when a
speed is given, so the vehicle travels at the speed the plan assumed.
"""
from __future__ import annotations

import math

import numpy as np

from edgepilot.vehicle.geo import LocalFrame
from edgepilot.vehicle.fleet.tasks import search_plan
from edgepilot.vehicle.types import Cmd, MissionItem


def route_mission(task_ids, tasks, frame: LocalFrame, home_xy, speed: float | None = None,
                  search_from=None) -> list[MissionItem]:
    """Mission items for doing ``task_ids`` (in order) of ``tasks`` (task
    file models, looked up by id) from ``home_xy`` [m, map frame].
    Searches are ordered from ``search_from`` [m] (default ``home_xy``): a
    caller whose home moves between uploads passes a fixed point, so a
    search resumed by index keeps its waypoints."""
    by_id = {t.id: t for t in tasks}
    missing = [t for t in task_ids if t not in by_id]
    if missing:
        raise ValueError(f"route names tasks not in the task list: {missing}")
    items: list[MissionItem] = []

    def add(cmd, x, y, p1=0.0, p3=0.0):
        lat, lon = frame.to_geo(float(x), float(y))
        items.append(MissionItem(seq=len(items), command=int(cmd), lat=lat, lon=lon, param1=float(p1),
                                 param3=float(p3)))

    add(Cmd.NAV_WAYPOINT, *home_xy)
    home = np.asarray(home_xy if search_from is None else search_from, dtype=np.float64)
    if speed is not None:
        if not (math.isfinite(speed) and speed > 0):
            raise ValueError(f"speed must be > 0 m/s, got {speed!r}")
        items.append(MissionItem(seq=len(items), command=int(Cmd.DO_CHANGE_SPEED), param1=1.0, param2=float(speed),
                                 param3=-1.0, frame=2))    # MAV_FRAME_MISSION; ground speed
    for tid in task_ids:
        t = by_id[tid]
        if t.kind == "search":
            path = search_plan(t, start=home).path
            for x, y in path:
                add(Cmd.NAV_WAYPOINT, x, y)
        elif t.kind in ("visit", "deliver"):
            add(Cmd.NAV_WAYPOINT, *t.position, p1=t.service_s)
        elif t.kind == "hold":
            add(Cmd.NAV_LOITER_TIME, *t.position, p1=t.duration_s, p3=t.radius_m)
        else:                                               # shadow
            add(Cmd.NAV_LOITER_TIME, *t.position, p1=t.duration_s, p3=t.standoff_m)
    return items
