"""Fleet task files: the tasks a fleet shares and what each vehicle can do.

A task file is TOML (example: ``configs/tasks/flood_relief.toml``)::

    name = "flood_relief"
    origin = [47.3977, 8.5456]  # optional: WGS84 of the map frame's (0, 0),
                                #   where the central plan's missions are placed

    [[vehicle]]                 # one entry per fleet member
    name = "ugv1"
    sysid = 1
    domain = "land"             # land | water
    kind = "edgepilot"          # edgepilot | mavlink (an ArduPilot/PX4 vehicle
                                #   that gets its share as an uploaded mission)
    start = [5.0, 5.0]          # map-frame ENU metres
    speed = 1.5                 # transit speed [m/s]
    payload_kg = 20.0
    endurance_s = 3600.0        # from the battery model: time it can work
    sensors = ["camera", "lidar"]

    [[task]]
    id = "casualty-3"
    kind = "visit"              # visit | search | deliver | shadow | hold
    position = [40.0, 12.0]

Task kinds and their keys (positions in map-frame ENU metres, times in
seconds from the moment the plan is made):

- ``visit``: ``position``; optional ``service_s`` spent there.
- ``search``: ``area`` polygon and ``swath`` [m]: covered with the
  lawnmower of ``vehicle/planning/coverage.py``; the coverage path's length
  is the work, its first and last points where the vehicle enters and leaves.
- ``deliver``: ``position``, ``load_kg`` carried from the vehicle's start
  (its depot), optional ``window_s = [open, close]`` for the arrival.
- ``shadow``: a ``contact`` (track id or MMSI) last seen at ``position``,
  followed at ``standoff_m`` for ``duration_s``.
- ``hold``: keep station at ``position`` within ``radius_m`` for ``duration_s``.

Every task may also say which ``domain`` it is done in (land, water or
any; default: any), which ``sensors`` it needs, and its ``priority``.

A bad file raises ``ConfigError`` naming the file and key, as vehicle files
do.  This module only parses and derives: no sockets, no clock.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Union

import numpy as np
from pydantic import Field, field_validator, model_validator

from edgepilot.vehicle.config import ConfigError, Strict, parse_model, read_toml
from edgepilot.vehicle.planning.coverage import boustrophedon

Domain = Literal["land", "water"]
TaskDomain = Literal["land", "water", "any"]
Sensor = Literal["camera", "lidar", "ais", "radar", "sonar", "thermal"]
Point = tuple[float, float]


def _finite_point(v):
    if not all(math.isfinite(c) for c in v):
        raise ValueError("must be a finite [x, y] pair of metres")
    return v


class VehicleCapabilities(Strict):
    """One fleet member.  ``kind = "mavlink"`` is any MAVLink vehicle that is
    not edgepilot (ArduPilot, PX4): it takes part in the central plan only,
    gets its tasks as an uploaded mission and is tracked from its telemetry."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    sysid: int = Field(ge=1, le=255, description="MAVLink system id")
    domain: Domain
    kind: Literal["edgepilot", "mavlink"] = "edgepilot"
    autopilot: Literal["edgepilot", "ardupilot", "px4", "other"] | None = None
    start: Point = Field(description="map-frame ENU start (depot) [m]")
    speed: float = Field(gt=0, le=50, description="transit speed [m/s]")
    payload_kg: float = Field(default=0.0, ge=0, description="load it can carry [kg]")
    endurance_s: float = Field(default=math.inf, gt=0, description="working time left [s]")
    sensors: tuple[Sensor, ...] = ()

    _start_finite = field_validator("start")(_finite_point)

    @model_validator(mode="after")
    def _autopilot_matches_kind(self):
        if self.kind == "edgepilot" and self.autopilot not in (None, "edgepilot"):
            raise ValueError(f"autopilot {self.autopilot!r} needs kind = \"mavlink\"")
        return self


class _TaskBase(Strict):
    id: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.:-]+$")
    domain: TaskDomain = "any"
    sensors: tuple[Sensor, ...] = Field(default=(), description="sensors the task needs")
    priority: float = Field(default=1.0, gt=0, description="relative value (auction reward scale)")


class VisitTask(_TaskBase):
    kind: Literal["visit"]
    position: Point
    service_s: float = Field(default=0.0, ge=0, description="time spent at the point [s]")
    _p = field_validator("position")(_finite_point)


class SearchTask(_TaskBase):
    kind: Literal["search"]
    area: tuple[Point, ...] = Field(min_length=3, description="polygon [[x, y], ...] [m]")
    swath: float = Field(gt=0, description="sensor swath width [m]")
    heading_deg: float = Field(default=0.0, ge=-360, le=360, description="sweep line direction, CCW from east [deg]")
    overlap: float = Field(default=0.0, ge=0, lt=0.5, description="sidelap: lines swath x (1 - overlap) apart")

    @field_validator("area")
    @classmethod
    def _area_finite(cls, v):
        for p in v:
            _finite_point(p)
        return v


class DeliverTask(_TaskBase):
    kind: Literal["deliver"]
    position: Point
    load_kg: float = Field(gt=0, description="load carried from the depot [kg]")
    window_s: tuple[float, float] | None = Field(default=None, description="[open, close] arrival window [s]")
    service_s: float = Field(default=0.0, ge=0, description="unloading time [s]")
    _p = field_validator("position")(_finite_point)

    @field_validator("window_s")
    @classmethod
    def _window_ordered(cls, v):
        if v is not None and not (0 <= v[0] <= v[1] and math.isfinite(v[1])):
            raise ValueError("must be [open, close] seconds with 0 <= open <= close")
        return v


class ShadowTask(_TaskBase):
    kind: Literal["shadow"]
    contact: str = Field(min_length=1, description="track id or MMSI of the contact")
    position: Point = Field(description="where the contact was last seen [m]")
    standoff_m: float = Field(gt=0, description="distance kept from the contact [m]")
    duration_s: float = Field(gt=0, description="how long to shadow [s]")
    _p = field_validator("position")(_finite_point)


class HoldTask(_TaskBase):
    kind: Literal["hold"]
    position: Point
    duration_s: float = Field(gt=0, description="how long to keep station [s]")
    radius_m: float = Field(default=2.0, gt=0, description="station radius [m]")
    _p = field_validator("position")(_finite_point)


Task = Annotated[Union[VisitTask, SearchTask, DeliverTask, ShadowTask, HoldTask], Field(discriminator="kind")]


class TaskFile(Strict):
    name: str = "tasks"
    origin: tuple[float, float] | None = Field(
        default=None, description="WGS84 [lat, lon] of the map frame's (0, 0): where missions are placed")
    vehicle: tuple[VehicleCapabilities, ...] = Field(default=(), description="fleet members")
    task: tuple[Task, ...] = ()

    @field_validator("origin")
    @classmethod
    def _origin_deg(cls, v):
        if v is not None and not (-90 <= v[0] <= 90 and -180 <= v[1] <= 180):
            raise ValueError("must be [lat, lon] in degrees")
        return v

    @model_validator(mode="after")
    def _unique(self):
        for what, items, key in (("task", self.task, "id"), ("vehicle", self.vehicle, "name"),
                                 ("vehicle", self.vehicle, "sysid")):
            seen: dict = {}
            for i, it in enumerate(items):
                k = getattr(it, key)
                if k in seen:
                    raise ValueError(f"{what}[{i}].{key} {k!r} repeats {what}[{seen[k]}].{key}")
                seen[k] = i
        return self


def parse_tasks(data: dict, source: str | Path = "<tasks>") -> TaskFile:
    """Validate an already-read task document; ConfigError names source and key."""
    return parse_model(TaskFile, data, source)


def load_tasks(path: str | Path) -> TaskFile:
    """Load and validate a task TOML file; raises ConfigError."""
    return parse_tasks(read_toml(path), path)


# --------------------------------------------------------------- derived work
@dataclass(frozen=True)
class TaskWork:
    """What doing one task costs, independent of who does it: where the
    vehicle enters and leaves it, metres it drives inside it (coverage),
    seconds it dwells there, load, arrival window."""

    entry: np.ndarray          # (2,) [x, y] m
    exit: np.ndarray           # (2,) [x, y] m
    work_m: float              # distance driven while doing it [m]
    dwell_s: float             # time spent regardless of speed [s]
    load_kg: float
    window: tuple[float, float]  # arrival [open, close] [s]; (0, inf) when none


def search_plan(task, start=None):
    """The coverage plan (``vehicle.planning.coverage.CoveragePlan``) of a
    search task, its passes ordered from ``start`` ((x, y) m; None: the
    first line's start)."""
    return boustrophedon(np.asarray(task.area), task.swath, math.radians(task.heading_deg), start=start,
                         overlap=task.overlap)


def task_work(task) -> TaskWork:
    """The ``TaskWork`` of one task (search: its boustrophedon coverage path)."""
    load = 0.0
    window = (0.0, math.inf)
    if task.kind == "search":
        plan = search_plan(task)
        path = plan.path
        if len(path) == 0:
            c = np.mean(np.asarray(task.area), axis=0)
            return TaskWork(c, c, 0.0, 0.0, 0.0, window)
        length = float(np.sum(np.hypot(*np.diff(path, axis=0).T)))
        return TaskWork(path[0].copy(), path[-1].copy(), length, 0.0, 0.0, window)
    p = np.asarray(task.position, dtype=np.float64)
    if task.kind == "visit":
        dwell = task.service_s
    elif task.kind == "deliver":
        dwell, load = task.service_s, task.load_kg
        if task.window_s is not None:
            window = (float(task.window_s[0]), float(task.window_s[1]))
    else:   # shadow, hold
        dwell = task.duration_s
    return TaskWork(p, p.copy(), 0.0, float(dwell), float(load), window)


def can_do(vehicle: VehicleCapabilities, task) -> bool:
    """Skills: the task's domain and sensors against the vehicle's."""
    if task.domain != "any" and task.domain != vehicle.domain:
        return False
    return set(task.sensors) <= set(vehicle.sensors)


__all__ = ["ConfigError", "DeliverTask", "HoldTask", "SearchTask", "ShadowTask", "TaskFile",
           "TaskWork", "VehicleCapabilities", "VisitTask", "can_do", "load_tasks", "parse_tasks",
           "search_plan", "task_work"]
