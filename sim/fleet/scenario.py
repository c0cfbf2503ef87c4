"""Fleet scenario files: one world, several vehicles (``[[vehicles]]``),
optionally a task file and how the fleet allocates it, link conditions,
fleet faults and the fleet's pass criteria.

A fleet scenario is told apart from a single-vehicle one by its
``[[vehicles]]`` table.  Shipped fleet scenarios live in
``configs/fleet/`` (``edgepilot sitl run fleet_flood_sar``).

World: as a single-vehicle scenario's (bounds, origin, resolution,
obstacles) plus ``[[world.areas]]``: polygons of ``land`` or ``water``.
Land vehicles (UGVs) cannot enter water areas and boats (USVs) cannot
enter land areas: each domain gets its own truth raster, the common
obstacles plus the other domain's areas (a simplification: a UGV's lidar
sees the water's edge as a wall).  ``world.surface`` is the surface outside
every area.

Every vehicle is simulated by its own ``sim.simulation.Simulation`` built
from a derived single-vehicle ``Scenario`` (:func:`member_scenario`) over
the shared world of its domain, and runs its own unchanged
``VehicleCore``.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Literal, Union

import numpy as np
from pydantic import Field, model_validator

from edgepilot import configs_dir
from edgepilot.sim.faults import Fault
from edgepilot.sim.scenario import Criteria, Mission, Obstacle, Scenario, Start, World, vehicle_path
from edgepilot.sim.traffic import TrafficVesselSpec
from edgepilot.vehicle.config import ConfigError, Strict, VehicleConfig, load_vehicle_config, parse_model, read_toml
from edgepilot.vehicle.maritime.mates import DEFAULT_MMSI_BASE

XY = tuple[float, float]
NAME = r"^[A-Za-z0-9_.-]+$"


class Area(Strict):
    """A region of one surface: ``land`` (boats cannot enter) or ``water``
    (ground vehicles cannot enter)."""

    surface: Literal["land", "water"]
    points: list[XY] = Field(min_length=3)
    name: str = ""


class FleetWorld(World):
    areas: list[Area] = []


class Casualty(Strict):
    """A person to find: a painted upright target the camera detects (a
    circle obstacle of ``radius`` m in ``color``), not on any vehicle's map."""

    name: str = Field(pattern=NAME)
    position: XY
    color: Literal["red", "orange", "yellow", "green"] = "red"
    radius: float = Field(default=0.4, gt=0)
    height: float = Field(default=1.0, gt=0)


class FleetVehicle(Strict):
    """One ``[[vehicles]]`` entry."""

    name: str = Field(pattern=NAME)
    vehicle: str = Field(description="vehicle file (a name in configs/vehicles or a path)")
    sysid: int = Field(ge=1, le=255, description="MAVLink system id")
    start: Start
    mission: Mission | None = Field(default=None, description="own mission (vehicles without tasks)")
    sensors: list[Literal["lidar", "camera"]] | None = Field(
        default=None, description="which of the vehicle file's lidar/camera are fitted (default: all it has)")
    params: dict[str, float] = {}
    faults: list[Fault] = Field(default=[], description="single-vehicle faults of this vehicle")
    mmsi: int | None = Field(default=None, ge=100_000_000, le=999_999_999,
                             description="AIS identity of a boat (default 993000000 + sysid)")
    payload_kg: float = Field(default=0.0, ge=0)
    endurance_s: float = Field(default=math.inf, gt=0)
    speed: float | None = Field(default=None, gt=0, description="transit speed for planning [m/s] "
                                                                "(default: the vehicle's cruise speed)")

    # filled in by load_fleet_scenario
    vehicle_config: VehicleConfig | None = None

    @property
    def domain(self) -> str:
        return "water" if self.vehicle_config.kind == "usv" else "land"

    @property
    def ais_mmsi(self) -> int:
        return self.mmsi if self.mmsi is not None else DEFAULT_MMSI_BASE + self.sysid


class _FleetFault(Strict):
    at_s: float = Field(ge=0, description="when [s of simulated time]")


class VehicleBreakdown(_FleetFault):
    """The vehicle stops for good (motors dead, its computer and radio off):
    the others must take over its tasks.  ``at_progress``: instead of at_s,
    when this fraction of its own mission items has been reached."""

    type: Literal["vehicle_breakdown"]
    vehicle: str
    at_s: float | None = Field(default=None, ge=0)
    at_progress: float | None = Field(default=None, gt=0, lt=1)

    @model_validator(mode="after")
    def _when(self):
        if (self.at_s is None) == (self.at_progress is None):
            raise ValueError("vehicle_breakdown needs exactly one of 'at_s' or 'at_progress'")
        return self


class LinkPartition(_FleetFault):
    """The V2V link splits the fleet into ``groups`` (lists of vehicle
    names) that cannot hear each other for ``duration_s``; vehicles not
    named form a group of their own each."""

    type: Literal["link_partition"]
    duration_s: float = Field(gt=0)
    groups: list[list[str]] = Field(min_length=2)


class LinkLoss(_FleetFault):
    """One vehicle's V2V radio is dead (sends and hears nothing) for ``duration_s``."""

    type: Literal["link_loss"]
    duration_s: float = Field(gt=0)
    vehicle: str


class NewTask(_FleetFault):
    """A task of the task file, unknown until now, is announced (by the
    ground station) to ``to`` (vehicle names; default: every vehicle)."""

    type: Literal["new_task"]
    task: str
    to: list[str] | None = None


class CancelTask(_FleetFault):
    """The operator cancels a task; ``to`` hear it first (default: all)."""

    type: Literal["cancel_task"]
    task: str
    to: list[str] | None = None


FleetFault = Annotated[Union[VehicleBreakdown, LinkPartition, LinkLoss, NewTask, CancelTask],
                       Field(discriminator="type")]


class V2VLink(Strict):
    """The simulated vehicle-to-vehicle radio: a packet reaches a vehicle
    within ``range_m`` of the sender with probability 1 - ``loss``,
    ``latency_s`` later; auction rounds every ``period_s``."""

    range_m: float = Field(default=math.inf, gt=0)
    loss: float = Field(default=0.0, ge=0, lt=1)
    latency_s: float = Field(default=0.05, ge=0)
    period_s: float = Field(default=1.0, gt=0)


class LeaseSpec(Strict):
    """CBBA: task leases (``vehicle.fleet.lease``): a vehicle works on a
    task only while a quorum of the fleet's promises name it."""

    duration_s: float = Field(default=8.0, gt=0, description="a promise's life [s]")
    margin_s: float = Field(default=2.0, gt=0, description="after a promise lapsed, this long before its granter "
                                                           "names another holder [s]")
    renew_within_s: float = Field(default=3.0, gt=0, description="promises go only to vehicles heard of this "
                                                                 "recently; a holder whose quorum is older stops [s]")


class FleetCriteria(Strict):
    no_collision: bool = Field(default=True, description="no vehicle touches an obstacle or another vehicle")
    min_separation_m: float | None = Field(default=None, ge=0,
                                           description="closest any two vehicles' footprints may come [m]")
    min_clearance_m: float = Field(default=0.0, ge=0)
    max_time_s: float = Field(default=600.0, gt=0)
    all_missions: bool = Field(default=True, description="every working vehicle completes its mission")
    all_tasks: bool = Field(default=True, description="every task (not cancelled) done, none twice")
    min_coverage: float | None = Field(default=None, gt=0, le=1, description="fraction of every search area covered")
    casualty_within_m: float | None = Field(default=None, gt=0,
                                            description="every casualty reported this close to where it is [m]")
    max_plan_cost_ratio: float | None = Field(
        default=None, gt=1, description="the allocator's plan cost / OR-Tools' best with a long time limit")
    reference_time_limit_s: float = Field(default=20.0, gt=0, description="OR-Tools' long time limit [s]")
    reference_cost_s: float | None = Field(
        default=None, gt=0, allow_inf_nan=False,
        description="OR-Tools' best recorded for this scenario's problem [s] (with reference_digest); "
                    "used instead of solving again while the problem's digest is the same")
    reference_digest: str | None = Field(default=None, pattern=r"^[0-9a-f]{16}$",
                                         description="the digest of the problem reference_cost_s was solved for")

    @model_validator(mode="after")
    def _reference_pair(self):
        if (self.reference_cost_s is None) != (self.reference_digest is None):
            raise ValueError("reference_cost_s and reference_digest go together: give both or neither")
        return self
    withdrawn: list[str] | None = Field(
        default=None, description="exactly these vehicles give their tasks up for want of battery")
    home_within_m: float | None = Field(
        default=None, gt=0, description="a vehicle that gave its tasks up ends this close to its start [m]")


class Patrol(Strict):
    """Boats that patrol a closed loop (``route``, map-frame metres, the
    last point joins the first), spread evenly along it: each free boat
    steers for a point ``lookahead_m`` ahead of itself on the loop at
    ``speed`` m/s, faster when the gap ahead is larger than the gap
    behind (``spacing_gain`` [1/s]), so the boats close up evenly when
    one leaves and make room when it comes back."""

    route: list[XY] = Field(min_length=3)
    vehicles: list[str] | None = Field(default=None, description="who patrols (default: every boat); boats or "
                                                                 "land vehicles, not both")
    speed: float = Field(default=1.2, gt=0, description="patrol speed along the loop [m/s]")
    min_speed: float = Field(default=0.6, gt=0, description="slowest a boat goes to let the gap behind close [m/s]")
    lookahead_m: float = Field(default=15.0, gt=0, description="how far ahead on the loop a boat steers for [m]")
    spacing_gain: float = Field(default=0.02, ge=0, description="speed change per metre of gap difference [1/s]")
    update_s: float = Field(default=2.0, gt=0, description="how often each boat gets a new point [s]")


class Zone(Strict):
    """A protected (water: keep vessels out) or restricted (land: keep people out) zone."""

    name: str = Field(pattern=NAME, max_length=16)
    kind: Literal["protected", "restricted"] = "protected"
    points: list[XY] = Field(min_length=3)


class ThreatWatch(Strict):
    """The fleet's threat watch (``sim/fleet/threat_response.py``): the
    boats' contact tables fused into one picture, scored by
    ``vehicle.fleet.threats.assess`` every ``period_s``; an alert of a kind
    in ``shadow_kinds`` scoring ``shadow_score`` or more creates a shadow
    task (one per vessel) for the nearest free boat."""

    zones: list[Zone] = Field(min_length=1)
    period_s: float = Field(default=1.0, gt=0)
    standoff_m: float = Field(default=20.0, gt=0, description="shadow stand-off distance [m]")
    shadow_s: float = Field(default=90.0, gt=0, description="how long a shadow lasts [s]")
    shadow_kinds: list[Literal["ais_dark", "ais_mismatch", "zone_cpa"]] = ["ais_dark", "zone_cpa"]
    shadow_score: float = Field(default=0.5, ge=0, le=1)
    gate_m: float = Field(default=15.0, gt=0, description="a boat's contact this near a fleet track is that track [m]")
    same_vessel_m: float = Field(default=25.0, gt=0, description="a new track this near where a shadowed vessel "
                                                                 "is expected is that vessel [m]")
    drop_after_s: float = Field(default=20.0, gt=0, description="a fleet track unseen this long is dropped [s]")
    camera_labels: dict[Literal["red", "orange", "yellow", "green"], Literal["person", "vessel"]] = Field(
        default={}, description="camera detections of these colours are contacts of that kind (empty: the camera "
                                "does not feed the picture)")
    camera_range_m: float | None = Field(default=None, gt=0, description="camera detections nearer than this "
                                                                         "count [m] (default: the camera's "
                                                                         "obstacle_range_m)")
    camera_gate_m: float = Field(default=6.0, gt=0, description="a camera sighting this near a lidar/AIS one "
                                                                "is that contact [m]")
    inspect_kinds: list[Literal["restricted_entry", "ais_mismatch"]] = Field(
        default=["restricted_entry"], description="alerts that create an inspect task (a visit with the camera)")
    inspect_radius_m: float = Field(default=5.0, gt=0, description="an inspect task is visited this near its "
                                                                   "position [m]")


class HarbourCriteria(Strict):
    """Pass criteria of a threat-watch run (checked in the summary's ``harbour`` section)."""

    alert_within_s: float | None = Field(default=10.0, gt=0, description="alert this soon after first detection [s]")
    shadow_nearest: bool = Field(default=True, description="the nearest free boat (true positions) shadows "
                                                           "(ties within nearest_tie_m)")
    nearest_tie_m: float = Field(default=5.0, ge=0)
    standoff_tolerance_m: float | None = Field(
        default=6.0, gt=0, description="the shadower stays within standoff +- this while it can (the contact no "
                                       "faster than it, and once it has caught up)")
    standoff_hold_fraction: float = Field(default=0.95, gt=0, le=1,
                                          description="fraction of the assessed time inside the band")
    standoff_min_assessed_s: float = Field(default=30.0, ge=0,
                                           description="the band must be assessed this long to count [s]")
    patrol_gap_tolerance: float | None = Field(
        default=0.25, gt=0, description="patrol gap closed: the largest gap between patrolling boats along the "
                                        "loop within (1 + this) x loop length / boats")
    patrol_gap_within_s: float = Field(default=120.0, gt=0, description="... this soon after a boat leaves or "
                                                                        "rejoins the patrol [s]")
    one_shadow_per_vessel: bool = True
    entry_alert_within_s: float | None = Field(
        default=10.0, gt=0, description="a person entering a restricted zone (truth) is alerted no later than "
                                        "this after [s], the reasons name the zone, and the inspect task is visited")
    expect_inspections: int | None = Field(default=None, ge=0, description="inspect tasks the run must create")
    expect_shadows: int | None = Field(default=1, ge=0, description="shadow tasks the run must create")


class FleetScenario(Strict):
    name: str
    description: str = ""
    seed: int = 0
    world: FleetWorld
    vehicles: list[FleetVehicle] = Field(min_length=1)
    tasks: str | None = Field(default=None, description="task file (TOML, relative to this file or configs/tasks)")
    allocator: Literal["cbba", "central", "greedy"] = "cbba"
    central_solution_limit: int = Field(
        default=300, gt=0, description="central: OR-Tools stops after this many improving solutions "
                                       "(not a time limit, so the plan is the same every run)")
    stale_after_s: float = Field(default=20.0, gt=0, description="CBBA: a member unheard of this long is presumed gone")
    max_tasks_per_vehicle: int | None = Field(
        default=None, gt=0, description="CBBA: most tasks a vehicle holds at once (1: one at a time, the next "
                                        "when it is done: spreads a search over the fleet; None: no limit)")
    latency_weight: float = Field(
        default=1.0, ge=0, description="CBBA: bids weigh a task's finish time by this against the work it adds "
                                       "(vehicle.fleet.cbba.CbbaParams; 0: work alone, as the central plan; "
                                       "the on-board auction uses cbba.FLEET_LATENCY_WEIGHT)")
    completion_radius_m: float = Field(default=2.0, gt=0, description="a point task is done within this distance")
    link: V2VLink = V2VLink()
    lease: LeaseSpec = LeaseSpec()
    battery_reserve: float = Field(default=0.3, ge=0, lt=1, description="CBBA: a vehicle keeps its tasks only "
                                   "while its battery covers them and the way home above this fraction")
    faults: list[FleetFault] = []
    casualties: list[Casualty] = []
    traffic: list[TrafficVesselSpec] = []
    patrol: Patrol | None = None
    threat_watch: ThreatWatch | None = None
    harbour_criteria: HarbourCriteria = HarbourCriteria()
    criteria: FleetCriteria = FleetCriteria()

    source: str = ""

    def base_dir(self) -> Path:
        return Path(self.source).parent if self.source else configs_dir() / "fleet"

    def resolve(self, rel: str) -> Path:
        p = Path(rel)
        return p if p.is_absolute() else self.base_dir() / p

    def vehicle(self, name: str) -> FleetVehicle:
        return next(v for v in self.vehicles if v.name == name)


def fleet_scenario_path(name_or_path: str | Path) -> Path | None:
    """The fleet scenario file a name or path means, or None when it is not
    one (a single-vehicle scenario, or nothing)."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        if not p.is_file():
            return None
        try:
            return p if "vehicles" in read_toml(p) else None
        except ConfigError:
            return None
    cand = configs_dir() / "fleet" / f"{name_or_path}.toml"
    return cand if cand.exists() else None


def is_fleet_scenario(name_or_path: str | Path) -> bool:
    return fleet_scenario_path(name_or_path) is not None


def _task_path(ref: str, sc: FleetScenario) -> Path:
    p = sc.resolve(ref)
    if p.exists():
        return p
    cand = configs_dir() / "tasks" / (ref if ref.endswith(".toml") else f"{ref}.toml")
    return cand if cand.exists() else p


def load_fleet_scenario(name_or_path: str | Path, realtime: bool = False) -> FleetScenario:
    """Load and validate a fleet scenario, its vehicle files and its task
    file; ConfigError names the file and key.  ``realtime``: served over
    MAVLink (sim/realtime_fleet.py), where a vehicle needs no mission (it
    waits in HOLD for its ground station) and no name (default: the vehicle
    file's stem and its sysid, ``ugv1``)."""
    path = fleet_scenario_path(name_or_path)
    if path is None and Path(name_or_path).suffix == ".toml" and not Path(name_or_path).is_file():
        raise ConfigError(f"{name_or_path}: no such scenario file")
    if path is None:
        raise ConfigError(f"{name_or_path}: not a fleet scenario (no [[vehicles]])")
    data = read_toml(path)
    if realtime and isinstance(data.get("vehicles"), list):
        data["vehicles"] = [dict(v, name=f"{Path(str(v.get('vehicle', ''))).stem}{v.get('sysid', '')}")
                            if isinstance(v, dict) and "name" not in v else v for v in data["vehicles"]]
    sc = parse_model(FleetScenario, data, path)
    sc = sc.model_copy(update={"source": str(path)})
    xmin, ymin, xmax, ymax = sc.world.bounds
    names: dict[str, int] = {}
    sysids: dict[int, int] = {}
    members = []
    for i, v in enumerate(sc.vehicles):
        if v.name in names:
            raise ConfigError(f"{path}: vehicles.{i}.name: {v.name!r} repeats vehicles.{names[v.name]}")
        if v.sysid in sysids:
            raise ConfigError(f"{path}: vehicles.{i}.sysid: {v.sysid} repeats vehicles.{sysids[v.sysid]}")
        names[v.name], sysids[v.sysid] = i, i
        vp = vehicle_path(v.vehicle, path.parent)
        if not vp.exists():
            raise ConfigError(f"{path}: vehicles.{i}.vehicle: no vehicle file {str(vp)!r}")
        cfg = load_vehicle_config(vp)
        if v.sensors is not None:
            s = cfg.sensors
            upd = {k: None for k in ("lidar", "camera") if k not in v.sensors}
            for k in v.sensors:
                if getattr(s, k) is None:
                    raise ConfigError(f"{path}: vehicles.{i}.sensors: {k!r} is not fitted on {vp.name}")
            cfg = cfg.model_copy(update={"sensors": s.model_copy(update=upd)})
        if not (xmin <= v.start.x <= xmax and ymin <= v.start.y <= ymax):
            raise ConfigError(f"{path}: vehicles.{i}.start: ({v.start.x}, {v.start.y}) is outside world.bounds")
        if v.mission is not None:
            for k, (x, y) in enumerate(v.mission.waypoints):
                if not (xmin <= x <= xmax and ymin <= y <= ymax):
                    raise ConfigError(f"{path}: vehicles.{i}.mission.waypoints.{k}: ({x}, {y}) is outside "
                                      f"world.bounds {list(sc.world.bounds)}")
        members.append(v.model_copy(update={"vehicle_config": cfg}))
    sc = sc.model_copy(update={"vehicles": members})
    task_ids: set[str] = set()
    if sc.tasks is not None and sc.patrol is not None:
        raise ConfigError(f"{path}: patrol: a scenario has either a task file or a [patrol], not both")
    if sc.tasks is not None:
        from edgepilot.vehicle.fleet.tasks import load_tasks

        tp = _task_path(sc.tasks, sc)
        if not tp.exists():
            raise ConfigError(f"{path}: tasks: no task file {str(tp)!r}")
        task_ids = {t.id for t in load_tasks(tp).task}
        sc = sc.model_copy(update={"tasks": str(tp)})
    else:
        patrolling = set()
        if sc.patrol is not None:
            patrolling = set(sc.patrol.vehicles or [v.name for v in sc.vehicles if v.domain == "water"])
            for n in patrolling:
                if n not in names:
                    raise ConfigError(f"{path}: patrol.vehicles: no vehicle named {n!r} (vehicles: {', '.join(names)})")
            domains = {sc.vehicles[names[n]].domain for n in patrolling}
            if len(domains) > 1:
                raise ConfigError(f"{path}: patrol.vehicles: boats and land vehicles cannot share one loop "
                                  f"({', '.join(sorted(patrolling))})")
            for k, (x, y) in enumerate(sc.patrol.route):
                if not (xmin <= x <= xmax and ymin <= y <= ymax):
                    raise ConfigError(f"{path}: patrol.route.{k}: ({x}, {y}) is outside world.bounds")
        if sc.threat_watch is not None and sc.patrol is None:
            raise ConfigError(f"{path}: threat_watch needs a [patrol] (the boats it takes shadows from)")
        for i, v in enumerate(sc.vehicles):
            if v.mission is None and v.name not in patrolling and not realtime:
                raise ConfigError(f"{path}: vehicles.{i}.mission: a vehicle needs a mission when the "
                                  f"scenario has no task file (or a [patrol] it takes part in)")
    for i, f in enumerate(sc.faults):
        who = []
        if f.type in ("vehicle_breakdown", "link_loss"):
            who = [f.vehicle]
        elif f.type == "link_partition":
            who = [n for g in f.groups for n in g]
        elif f.to is not None:
            who = list(f.to)
        for n in who:
            if n not in names:
                raise ConfigError(f"{path}: faults.{i}: no vehicle named {n!r} (vehicles: {', '.join(names)})")
        if f.type in ("new_task", "cancel_task") and f.task not in task_ids:
            raise ConfigError(f"{path}: faults.{i}.task: no task {f.task!r} in the task file")
    if sc.criteria.max_plan_cost_ratio is not None and sc.allocator != "central" and sc.tasks is None:
        raise ConfigError(f"{path}: criteria.max_plan_cost_ratio needs a task file")
    for v in sc.vehicles:       # every member's derived scenario must be valid too
        member_scenario(sc, v)
    return sc


def domain_obstacles(sc: FleetScenario, domain: str) -> list[Obstacle]:
    """The common obstacles plus the areas of the other surface."""
    other = "water" if domain == "land" else "land"
    obs = list(sc.world.obstacles)
    obs += [Obstacle(type="polygon", points=a.points, name=a.name or f"{other} area")
            for a in sc.world.areas if a.surface == other]
    obs += [Obstacle(type="circle", center=c.position, radius=c.radius, mapped=False, name=c.name,
                     color=c.color, height=c.height) for c in sc.casualties]
    return obs


def member_scenario(sc: FleetScenario, v: FleetVehicle) -> Scenario:
    """The single-vehicle scenario one member is simulated from: the world
    of its domain, its start, mission (its start when it has none: tasks
    give it one in the run), faults and parameters."""
    w = sc.world
    domain = v.domain
    world = World(bounds=w.bounds, origin=w.origin, resolution=w.resolution,
                  surface="water" if domain == "water" else "ground",
                  raster_budget_mib=w.raster_budget_mib, obstacles=domain_obstacles(sc, domain),
                  current=w.current if domain == "water" else (0.0, 0.0),
                  wind=w.wind if domain == "water" else (0.0, 0.0))
    mission = v.mission or Mission(waypoints=[(v.start.x, v.start.y)])
    crit = Criteria(no_collision=sc.criteria.no_collision, min_clearance_m=sc.criteria.min_clearance_m,
                    max_time_s=sc.criteria.max_time_s, all_waypoints=False)
    try:
        return Scenario(name=f"{sc.name}/{v.name}", vehicle=v.vehicle, seed=sc.seed, world=world, start=v.start,
                        mission=mission, criteria=crit, faults=v.faults, params=v.params,
                        source=sc.source, vehicle_config=v.vehicle_config)
    except ValueError as e:
        raise ConfigError(f"{sc.source}: vehicles: {v.name}: {e}") from None


def member_seed(seed: int, index: int) -> int:
    """An independent, reproducible seed for vehicle ``index``."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0])
