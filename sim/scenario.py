"""Scenario files: world, vehicle, start pose, mission, seed, faults and
pass criteria, parsed from TOML into validated models.

Positions in scenario files are map-frame metres (ENU: x east, y north);
``world.origin`` anchors the map frame to WGS84.  Relative paths (map
images, vehicle files) resolve against the scenario file's folder; a bare
vehicle name such as ``"ugv"`` means ``configs/vehicles/ugv.toml``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from edgepilot import configs_dir
from edgepilot.sim.traffic import TrafficVesselSpec
from edgepilot.sim.faults import Fault
from edgepilot.sim.sensors.imu import ImuConfig
from edgepilot.sim.sensors.odometry import EncoderConfig, SpeedLogConfig
from edgepilot.vehicle.safety.geofence import FenceZoneSpec
from edgepilot.vehicle.config import ConfigError, Strict, VehicleConfig, load_vehicle_config, parse_model, read_toml

XY = tuple[float, float]


class Obstacle(Strict):
    """A static obstacle. ``mapped = false`` keeps it off the vehicle's prior
    map: only its sensors can find it.  ``appear_at_s`` makes it appear
    part-way through a run (it is absent before).  ``reported = true`` sends
    an obstacle that appears part-way to the vehicle as a map update at that
    moment (as an operator's report or a detection service would), through
    ``VehicleCore.add_obstacles``; otherwise only sensors can find it."""

    type: Literal["polygon", "circle"]
    points: list[XY] | None = None
    center: XY | None = None
    radius: float | None = Field(default=None, gt=0)
    mapped: bool = True
    appear_at_s: float = Field(default=0.0, ge=0)
    reported: bool = False
    name: str = ""
    color: Literal["red", "orange", "yellow", "green"] | None = Field(
        default=None, description="a painted circle (buoy, cone, barrel) the camera can see and detect")
    height: float = Field(default=1.0, gt=0, description="height above the surface [m] (for the camera)")

    @model_validator(mode="after")
    def _shape(self):
        if self.type == "polygon" and (self.points is None or len(self.points) < 3):
            raise ValueError("a polygon obstacle needs 'points' with at least 3 [x, y] vertices")
        if self.type == "circle" and (self.center is None or self.radius is None):
            raise ValueError("a circle obstacle needs 'center' = [x, y] and 'radius' > 0")
        if self.color is not None and self.type != "circle":
            raise ValueError("'color' is for circle obstacles only (what the camera renders)")
        return self


class World(Strict):
    bounds: tuple[float, float, float, float] = Field(description="xmin, ymin, xmax, ymax [m]")
    origin: tuple[float, float] = Field(description="WGS84 lat, lon of the map frame's (0, 0)")
    resolution: float = Field(default=0.05, gt=0, le=1.0)
    surface: Literal["ground", "water"] = "ground"
    map: str | None = Field(default=None, description="ROS map_server YAML to load as the base layer")
    raster_budget_mib: float | None = Field(
        default=None, gt=0, description="memory budget for the run's rasters [MiB] (default: "
                                        "$EDGEPILOT_RASTER_BUDGET_MIB or 512; see sim/world.py)")
    obstacles: list[Obstacle] = []
    prior_map: bool = Field(default=True, description=(
        "false: the vehicle is given no prior map at all (it plans on what its lidar sees)"))
    prior_map_bounds: tuple[float, float, float, float] | None = Field(default=None, description=(
        "xmin, ymin, xmax, ymax [m]: the vehicle's prior map covers only this part of the world"))
    current: XY = (0.0, 0.0)
    wind: XY = (0.0, 0.0)

    @model_validator(mode="after")
    def _check(self):
        xmin, ymin, xmax, ymax = self.bounds
        if not (xmax > xmin and ymax > ymin):
            raise ValueError(f"bounds must be [xmin, ymin, xmax, ymax] with max > min, got {list(self.bounds)}")
        if self.prior_map_bounds is not None:
            a, b, c, d = self.prior_map_bounds
            if not (xmin <= a < c <= xmax and ymin <= b < d <= ymax):
                raise ValueError(f"prior_map_bounds must be [xmin, ymin, xmax, ymax] inside bounds "
                                 f"{list(self.bounds)}, got {list(self.prior_map_bounds)}")
        lat, lon = self.origin
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ValueError(f"origin must be [lat, lon] in degrees, got {list(self.origin)}")
        return self


class Start(Strict):
    x: float
    y: float
    yaw_deg: float = 0.0
    arm_after_s: float = Field(default=0.0, ge=0, description="the operator first tries to arm at this time [s]")


class Survey(Strict):
    """A survey area flown after the waypoints: a lawnmower over
    ``polygon`` (map-frame metres) with lines ``swath`` m apart along
    ``heading_deg`` (CCW from east); expanded into waypoints by
    ``vehicle.mission.survey.expand_survey`` when the mission is built."""

    polygon: list[XY] = Field(min_length=3)
    swath: float = Field(gt=0, description="[m]")
    heading_deg: float = 0.0


class Mission(Strict):
    waypoints: list[XY] = Field(min_length=1)
    survey: Survey | None = None
    speed: float | None = Field(default=None, gt=0)
    loiter_s: list[float] | None = None
    return_home: bool = False


class EncounterCriterion(Strict):
    """What the rules require of us with one traffic vessel (by name)."""

    vessel: str
    classified: str | None = Field(default=None, description="the encounter the core must report, e.g. 'HEAD_ON'")
    manoeuvre: Literal["starboard", "hold", "any"] = Field(
        default="any", description="'starboard': alter course to starboard by at least min_alteration_deg "
                                   "before the closest approach; 'hold': keep course within hold_tolerance_deg")
    min_alteration_deg: float = Field(default=20.0, ge=0)
    hold_tolerance_deg: float = Field(default=12.0, gt=0)


class ErrorCheckpoint(Strict):
    """The estimate's position error where the truth passes closest to a
    point (navigation reports: before / at / after a landmark)."""

    name: str
    at: XY = Field(description="map-frame point [m]")
    max_error_m: float | None = Field(default=None, gt=0, description="limit there [m] (None: reported only)")


class Criteria(Strict):
    min_cpa_m: float | None = Field(default=None, ge=0, description="closest range to any traffic vessel [m]")
    encounters: list[EncounterCriterion] = []
    all_waypoints: bool = True
    no_collision: bool = True
    min_clearance_m: float = Field(default=0.0, ge=0)
    max_time_s: float = Field(default=600.0, gt=0)
    max_cross_track_m: float | None = Field(default=None, gt=0)
    # Navigation (issue 15), measured against the simulator's truth from arming on.
    max_position_error_rms_m: float | None = Field(default=None, gt=0, description=(
        "RMS of the horizontal error of the core's estimate, from arming to the end [m]"))
    max_position_error_m: float | None = Field(default=None, gt=0, description="largest such error [m]")
    max_heading_error_deg: float | None = Field(default=None, gt=0, description=(
        "largest heading error of the core's estimate from arming to the end [deg]"))
    max_detection_delay_s: float | None = Field(default=None, ge=0, description=(
        "each GNSS fault detected within this [s]: spoofing from when the drag exceeds the filter's "
        "3-sigma, jamming from its start"))
    no_hold: bool = Field(default=False, description="no failsafe HOLD (nor any failsafe action) after arming")
    max_drift_fraction: float | None = Field(default=None, gt=0, lt=1, description=(
        "position error at the end of each GNSS outage (jamming, loss) over the distance travelled "
        "during it, e.g. 0.02 = 2 %"))
    max_final_position_error_m: float | None = Field(default=None, gt=0, description=(
        "position error at the end of the run [m] (corrected once absolute aiding returns)"))
    max_error_at_outage_end_m: float | None = Field(default=None, gt=0, description=(
        "position error at the last tick of each GNSS outage [m]: corrected by other aiding (lidar on the "
        "map) before GNSS returns"))
    error_checkpoints: list[ErrorCheckpoint] = Field(default=[], description=(
        "position error reported (and limited, with max_error_m) where the truth passes closest to each point"))
    relocalize_before_arming: bool = Field(default=False, description=(
        "a kidnap fault: the localizer must report lost and converged again, arming refused until then"))

    @property
    def measures_navigation(self) -> bool:
        return (any(v is not None for v in (self.max_position_error_rms_m, self.max_position_error_m,
                                           self.max_heading_error_deg,
                                           self.max_detection_delay_s, self.max_drift_fraction,
                                           self.max_final_position_error_m, self.max_error_at_outage_end_m))
                or self.relocalize_before_arming or bool(self.error_checkpoints))


class SimSensors(Strict):
    """Error models of the dead-reckoning sensors (the truth side: noise,
    bias, slip).  Which sensors exist, and their rate and geometry, is the
    vehicle file's [sensors.imu] / [sensors.wheel_encoders] /
    [sensors.speed_log]; a sensor the vehicle lacks is not simulated."""

    imu: ImuConfig = ImuConfig()
    wheel_encoders: EncoderConfig = EncoderConfig()
    speed_log: SpeedLogConfig = SpeedLogConfig()


class Scenario(Strict):
    name: str
    description: str = ""
    vehicle: str
    seed: int = 0
    world: World
    start: Start
    mission: Mission
    criteria: Criteria = Criteria()
    faults: list[Fault] = []
    fence: list[FenceZoneSpec] = Field(default=[], description="geofence zones, map-frame metres")
    params: dict[str, float] = Field(default={}, description="vehicle parameter overrides, NAME = value")
    traffic: list[TrafficVesselSpec] = []
    sensors: SimSensors = SimSensors()

    # Filled in by load_scenario, not by the file.
    source: str = ""
    vehicle_config: VehicleConfig | None = None

    def base_dir(self) -> Path:
        return Path(self.source).parent if self.source else configs_dir() / "scenarios"

    def resolve(self, rel: str) -> Path:
        p = Path(rel)
        return p if p.is_absolute() else self.base_dir() / p


def scenario_path(name_or_path: str | Path) -> Path:
    """A scenario name (``ugv_yard``) or a path to a TOML file."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        return p
    cand = configs_dir() / "scenarios" / f"{name_or_path}.toml"
    if cand.exists():
        return cand
    known = ", ".join(sorted(q.stem for q in (configs_dir() / "scenarios").glob("*.toml")))
    raise ConfigError(f"no scenario named {str(name_or_path)!r} (known: {known})")


def vehicle_path(ref: str, base: Path) -> Path:
    p = Path(ref)
    if p.suffix == ".toml":
        return p if p.is_absolute() else base / p
    return configs_dir() / "vehicles" / f"{ref}.toml"


def _check_navigation_criteria(path: Path, sc: Scenario) -> None:
    """A navigation criterion needs the fault it measures."""
    c, types = sc.criteria, {f.type for f in sc.faults}
    if c.max_detection_delay_s is not None and not types & {"gps_spoofing", "gps_jamming", "gps_dropout"}:
        raise ConfigError(f"{path}: criteria.max_detection_delay_s: needs a gps_spoofing, gps_jamming or "
                          "gps_dropout fault to detect (none in [[faults]])")
    if c.max_error_at_outage_end_m is not None and not types & {"gps_jamming", "gps_dropout"}:
        raise ConfigError(f"{path}: criteria.max_error_at_outage_end_m: needs a gps_jamming or gps_dropout fault")
    if c.max_drift_fraction is not None and not types & {"gps_jamming", "gps_dropout"}:
        raise ConfigError(f"{path}: criteria.max_drift_fraction: needs a gps_jamming or gps_dropout fault "
                          "(the outage the drift is measured over)")
    if c.relocalize_before_arming and "kidnap" not in types:
        raise ConfigError(f"{path}: criteria.relocalize_before_arming: needs a kidnap fault")
    if (c.max_position_error_m is not None and c.max_position_error_rms_m is not None
            and c.max_position_error_m < c.max_position_error_rms_m):
        raise ConfigError(f"{path}: criteria.max_position_error_m ({c.max_position_error_m:g}) is below "
                          f"max_position_error_rms_m ({c.max_position_error_rms_m:g}): the max cannot be below the RMS")


def load_scenario(name_or_path: str | Path, overrides=()) -> Scenario:
    """Load and validate a scenario and the vehicle file it names.

    ``overrides``: ``sim.overrides.Override`` edits applied in order on top
    of the file (keys under ``vehicle.`` edit the vehicle config); the
    result is validated as a file would be, and errors name the key."""
    from edgepilot.sim.overrides import split_vehicle, validate_overridden

    path = scenario_path(name_or_path)
    data = read_toml(path)
    sc = parse_model(Scenario, data, path)
    scen_ov, veh_ov = split_vehicle(overrides)
    label = f"{path} (with --set)" if overrides else str(path)
    if scen_ov:
        sc = validate_overridden(Scenario, sc, scen_ov, path, "scenario", exclude={"source", "vehicle_config"})
    vpath = vehicle_path(sc.vehicle, path.parent)
    if not vpath.exists():
        raise ConfigError(f"{label}: vehicle: no vehicle file {str(vpath)!r}")
    vcfg = load_vehicle_config(vpath)
    if veh_ov:
        vcfg = validate_overridden(VehicleConfig, vcfg, veh_ov, vpath, "vehicle")
    src, path = path, label
    xmin, ymin, xmax, ymax = sc.world.bounds
    for i, (x, y) in enumerate(sc.mission.waypoints):
        if not (xmin <= x <= xmax and ymin <= y <= ymax):
            raise ConfigError(f"{path}: mission.waypoints.{i}: ({x}, {y}) is outside world.bounds {list(sc.world.bounds)}")
    if not (xmin <= sc.start.x <= xmax and ymin <= sc.start.y <= ymax):
        raise ConfigError(f"{path}: start: ({sc.start.x}, {sc.start.y}) is outside world.bounds")
    if sc.mission.survey is not None:
        for i, (x, y) in enumerate(sc.mission.survey.polygon):
            if not (xmin <= x <= xmax and ymin <= y <= ymax):
                raise ConfigError(f"{path}: mission.survey.polygon.{i}: ({x}, {y}) is outside world.bounds")
    if sc.mission.loiter_s is not None and len(sc.mission.loiter_s) != len(sc.mission.waypoints):
        raise ConfigError(f"{path}: mission.loiter_s: expected {len(sc.mission.waypoints)} values "
                          f"(one per waypoint), got {len(sc.mission.loiter_s)}")
    names = [v.name for v in sc.traffic]
    for i, e in enumerate(sc.criteria.encounters):
        if e.vessel not in names:
            raise ConfigError(f"{path}: criteria.encounters.{i}.vessel: no traffic vessel named {e.vessel!r} "
                              f"(traffic: {', '.join(names) or 'none'})")
    if len(set(v.mmsi for v in sc.traffic)) != len(sc.traffic):
        raise ConfigError(f"{path}: traffic: every vessel needs its own mmsi")
    if (vcfg.kind == "usv") != (sc.world.surface == "water"):
        raise ConfigError(f"{path}: world.surface: a {vcfg.kind} needs surface = "
                          f"{'water' if vcfg.kind == 'usv' else 'ground'}")
    _check_navigation_criteria(path, sc)
    sc = sc.model_copy(update={"source": str(src), "vehicle_config": vcfg})
    from edgepilot.sim.world import check_raster_budget  # here: world imports this module

    check_raster_budget(sc)          # refuse before anything is allocated
    return sc
