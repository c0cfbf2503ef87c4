"""Vehicle configuration: TOML files parsed into validated, typed models.

A bad file refuses to load with a ``ConfigError`` naming the file, the key
path and what was expected.  Units are SI; angles in config files are in
degrees where the key says ``_deg``.
"""
from __future__ import annotations

import math
import re
import tomllib
from itertools import accumulate
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edgepilot.nesting import line_of_depth


class ConfigError(ValueError):
    """A configuration file is missing, unparsable or invalid."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


PosFloat = Field(gt=0)


class Geometry(Strict):
    length: float = Field(gt=0, description="hull/chassis length [m]")
    width: float = Field(gt=0, description="hull/chassis width [m]")

    @property
    def circumscribed_radius(self) -> float:
        return 0.5 * math.hypot(self.length, self.width)

    @property
    def inscribed_radius(self) -> float:
        return 0.5 * min(self.length, self.width)


class Limits(Strict):
    max_speed: float = Field(gt=0, description="[m/s]")
    max_accel: float = Field(gt=0, description="[m/s^2]")
    max_yaw_rate: float = Field(gt=0, description="[rad/s]")


class DiffDrive(Strict):
    """Differential-drive chassis (UGV)."""

    track_width: float = Field(gt=0, description="distance between wheel centres [m]")
    wheel_max_speed: float = Field(gt=0, description="wheel rim speed at full command [m/s]")
    wheel_max_accel: float = Field(gt=0, description="wheel rim acceleration limit [m/s^2]")
    wheel_time_constant: float = Field(ge=0, description="motor first-order lag [s]")


class Hull(Strict):
    """Twin-thruster displacement hull (USV), 3-DOF surge/sway/yaw."""

    mass: float = Field(gt=0, description="[kg], including added mass in surge")
    sway_mass: float = Field(gt=0, description="[kg], mass plus added mass in sway")
    yaw_inertia: float = Field(gt=0, description="[kg m^2], including added inertia")
    thruster_separation: float = Field(gt=0, description="lateral distance between thrusters [m]")
    max_thrust: float = Field(gt=0, description="forward thrust of one thruster at full command [N]")
    reverse_ratio: float = Field(gt=0, le=1, description="reverse thrust as a fraction of forward")
    thrust_time_constant: float = Field(ge=0, description="[s]")
    surge_drag_linear: float = Field(ge=0, description="[N s/m]")
    surge_drag_quadratic: float = Field(ge=0, description="[N s^2/m^2]")
    sway_drag_linear: float = Field(ge=0, description="[N s/m]")
    sway_drag_quadratic: float = Field(ge=0, description="[N s^2/m^2]")
    yaw_drag_linear: float = Field(ge=0, description="[N m s/rad]")
    yaw_drag_quadratic: float = Field(ge=0, description="[N m s^2/rad^2]")
    wind_coefficient: float = Field(ge=0, description="wind force per squared relative wind speed [N s^2/m^2]")


class GpsConfig(Strict):
    rate_hz: float = Field(gt=0, le=50)
    noise_m: float = Field(ge=0, description="1-sigma horizontal position noise [m]")
    velocity_noise: float = Field(ge=0, description="1-sigma velocity noise [m/s]")
    satellites: int = Field(default=12, ge=0)


class CompassConfig(Strict):
    rate_hz: float = Field(gt=0, le=200)
    noise_deg: float = Field(ge=0, description="1-sigma heading noise [deg]")


class LidarConfig(Strict):
    rate_hz: float = Field(gt=0, le=100)
    beams: int = Field(gt=0, le=10000)
    fov_deg: float = Field(gt=0, le=360)
    max_range: float = Field(gt=0)
    noise_m: float = Field(ge=0)
    dropout: float = Field(default=0.0, ge=0, lt=1)


class CameraConfig(Strict):
    """A forward camera: frame rate, image size, horizontal field of view,
    mount (vehicle frame x forward, z up, metres; pitch down positive),
    image noise and exposure (the simulator renders with them), and the
    detector's settings: coloured objects ("buoys", cones, barrels) of
    ``object_radius`` metres, detected at most ``detect_hz`` times a second
    (None: every frame), turned into obstacles within ``obstacle_range_m``.
    ``object_classes`` says what a colour is: "static" (the default for a
    colour not named: mapped for good) or a thing that can move ("person",
    "vessel", "vehicle": an obstacle only where it is seen now, forgotten
    ``transient_forget_s`` seconds after it was last seen)."""

    rate_hz: float = Field(gt=0, le=120)
    width: int = Field(default=640, ge=8)
    height: int = Field(default=480, ge=8)
    fov_deg: float = Field(default=90.0, gt=1, lt=179)
    mount_x: float = Field(default=0.0, description="camera position ahead of the vehicle centre [m]")
    mount_height: float = Field(default=1.0, gt=0, description="camera height above the surface [m]")
    pitch_deg: float = Field(default=0.0, ge=-45, le=45, description="downward tilt of the optical axis [deg]")
    noise_std: float = Field(default=0.0, ge=0, le=100, description="pixel noise, 1-sigma [0-255 grey levels]")
    exposure: float = Field(default=1.0, gt=0, le=4, description="brightness gain of the image")
    detect_hz: float | None = Field(default=None, gt=0, description="detector rate [Hz]; None = every frame")
    object_radius: float = Field(default=0.4, gt=0, description="radius of the coloured objects it detects [m]")
    obstacle_range_m: float = Field(default=12.0, gt=0, description="detections nearer than this become obstacles [m]")
    object_classes: dict[Literal["red", "orange", "yellow", "green"],
                         Literal["static", "person", "vessel", "vehicle"]] = Field(
        default={}, description="what each detected colour is; people, vessels and vehicles are transient obstacles")
    transient_forget_s: float = Field(default=2.0, gt=0, le=30,
                                      description="a movable object unseen this long is no longer an obstacle [s]")


class ImuSpec(Strict):
    """The IMU as the vehicle uses it (planar EKF input): sample rate."""

    rate_hz: float = Field(default=200.0, ge=100, le=400, description="sample rate [Hz]")


class WheelEncoderSpec(Strict):
    """Wheel encoders (UGV): counts per wheel revolution and the geometry
    that turns counts into chassis motion."""

    rate_hz: float = Field(default=50.0, gt=0, le=1000, description="report rate [Hz]")
    ticks_per_rev: int = Field(default=4096, gt=0)
    wheel_radius: float = Field(default=0.1, gt=0, description="nominal wheel radius [m]")
    track_width: float = Field(default=0.6, gt=0, description="wheel contact line spacing [m]")
    speed_noise: float = Field(default=0.03, gt=0, description="1-sigma speed error fused [m/s]")
    speed_noise_fraction: float = Field(default=0.03, ge=0, description="plus this fraction of the speed")
    lateral_noise: float = Field(default=0.05, gt=0, description="no-side-slip constraint 1-sigma [m/s]")


class SpeedLogSpec(Strict):
    """Speed-through-water log (USV)."""

    rate_hz: float = Field(default=5.0, gt=0, le=100)
    noise: float = Field(default=0.05, gt=0, description="1-sigma speed error fused [m/s]")
    lateral_noise: float = Field(default=0.1, gt=0, description="no-sway constraint 1-sigma [m/s]")


class Sensors(Strict):
    gps: GpsConfig
    compass: CompassConfig
    lidar: LidarConfig | None = None
    camera: CameraConfig | None = None
    imu: ImuSpec | None = None
    wheel_encoders: WheelEncoderSpec | None = None
    speed_log: SpeedLogSpec | None = None


class Navigation(Strict):
    """Which estimator owns the pose and how much uncertainty the mission
    tolerates.  ``gps_compass``: today's GPS + compass filter.  ``ekf``:
    the IMU-driven EKF (vehicle/estimation/ekf.py) fusing odometry,
    compass, GNSS (with the integrity monitor) and, with a lidar and a
    prior map, the map localizer's pose fixes; needs [sensors.imu]."""

    estimator: Literal["gps_compass", "ekf"] = "gps_compass"
    lidar_localization: bool = Field(default=True, description="ekf: lidar pose fixes on the prior map")
    particles: int = Field(default=300, ge=20, le=20000, description="localizer particle count")
    max_beams: int = Field(default=90, ge=8, le=2000, description="beams of a scan the localizer uses")
    localizer_rate_hz: float = Field(default=10.0, gt=0, le=100, description=(
        "scans localized per second at most (the others are skipped; odometry carries over) [Hz]"))
    max_position_std_m: float = Field(default=1.0, gt=0, description=(
        "the mission's tolerance: 1-sigma horizontal position uncertainty above which the navigation "
        "failsafe trips and arming is refused [m]"))
    dead_reckoning_drift: float | None = Field(default=None, gt=0, lt=1, description=(
        "how far dead reckoning may drift, as a fraction of the distance travelled since the last absolute "
        "position fix (GNSS or a lidar fix on the map), 1-sigma, e.g. 0.02 = 2 %: wheel slip and radius "
        "errors the EKF's own variance does not model.  Set, the navigation failsafe also trips when this "
        "drift estimate exceeds max_position_std_m (FS_EKF_POS_STD); unset, only the EKF's position 1-sigma "
        "counts"))


class Control(Strict):
    rate_hz: float = Field(gt=0, le=400, description="control loop rate [Hz]")
    cruise_speed: float = Field(gt=0, description="default mission speed [m/s]")
    acceptance_radius: float = Field(gt=0, description="waypoint reached within this distance [m]")
    lookahead: float = Field(gt=0, description="pure-pursuit / LOS lookahead distance [m]")
    heading_kp: float = Field(ge=0)
    heading_kd: float = Field(ge=0)
    speed_kp: float = Field(ge=0)
    speed_ki: float = Field(ge=0)
    cross_track_ki: float = Field(default=0.0, ge=0, description="LOS integral gain (current compensation)")


class Planning(Strict):
    resolution: float = Field(gt=0, description="planning grid cell size [m]")
    safety_margin: float = Field(ge=0, description="extra clearance kept beyond the footprint [m]")
    inflation_radius: float = Field(gt=0, description="cost decays to zero at this distance [m]")
    turning_radius: float | None = Field(default=None, gt=0, description=(
        "minimum turning radius [m]: set, paths are planned with forward-only Hybrid-A*; "
        "unset, on the grid (vehicles that turn in place)"))
    # Beyond the prior map (Nav2's rolling window and allow_unknown).
    window_m: float | None = Field(default=None, gt=0, description=(
        "side of the rolling planning window [m] that follows the vehicle where there is no prior map "
        "(default: 1000 planning cells); with a prior map the window is the map plus a quarter of this on "
        "every side, and it re-centres on the vehicle when it nears an edge, so memory stays bounded"))
    allow_unknown: bool = Field(default=True, description=(
        "plan through cells no map and no lidar scan has seen yet (Nav2's allow_unknown); false: unknown "
        "space is lethal and targets beyond the prior map are refused"))
    unknown_cost: float = Field(default=1.5, ge=1.0, le=20.0, description=(
        "planner weight of an unknown cell (1 = free space; known free cells cost 1)"))
    operating_radius_m: float = Field(default=2000.0, gt=0, description=(
        "targets farther than this from home (the map origin before home is set) are refused, unless "
        "inside the prior map, an inclusion fence or operating_area [m]"))
    operating_area: list[tuple[float, float]] | None = Field(default=None, min_length=3, description=(
        "polygon of map-frame [x, y] metres the vehicle may be sent anywhere inside (with operating_radius_m)"))


class Failsafe(Strict):
    gcs_timeout_s: float = Field(default=5.0, gt=0)
    gcs_action: Literal["HOLD", "RTL", "NONE"] = "HOLD"
    battery_low_fraction: float = Field(default=0.25, ge=0, le=1)
    battery_critical_fraction: float = Field(default=0.10, ge=0, le=1)


class Maritime(Strict):
    """USV collision avoidance (COLREGs) and station keeping, see vehicle/maritime."""

    safe_distance_m: float = Field(default=20.0, gt=0, description="minimum CPA kept beyond a contact's radius [m]")
    comfort_distance_m: float = Field(default=35.0, gt=0, description="CPA beyond which a pass costs nothing [m]")
    alert_range_m: float = Field(default=250.0, gt=0, description="contacts nearer than this are assessed [m]")
    horizon_s: float = Field(default=120.0, gt=0, description="CPA look-ahead [s]")
    head_on_sector_deg: float = Field(default=10.0, gt=0, le=45, description="Rule 14 ahead/reciprocal tolerance [deg]")
    min_alteration_deg: float = Field(default=30.0, ge=0, le=90, description="Rule 8/16: a give-way turn is at least this [deg]")
    stand_on_act_tcpa_s: float = Field(default=25.0, gt=0, description="Rule 17: the stand-on vessel acts when CPA is this near in time [s]")
    contact_stale_s: float = Field(default=30.0, gt=0, description="a contact unheard for this long is dropped [s]")
    default_contact_radius_m: float = Field(default=3.0, ge=0, description="radius of a contact of unknown size [m]")
    hold_into_disturbance: bool = Field(default=True, description="station keeping points the bow into current + wind")
    hold_radius_m: float = Field(default=1.5, gt=0, description="station keeping deadband around the hold point [m]")


class MavlinkConfig(Strict):
    sysid: int = Field(default=1, ge=1, le=255)
    signing_key_file: str | None = None


class MotorPort(Strict):
    """The motor-controller board (docs/motor_protocol.md)."""

    port: str = Field(min_length=1, description="pyserial URL, e.g. /dev/ttyACM0")
    baud: int = Field(default=115200, gt=0)
    command_timeout_s: float = Field(default=0.3, ge=0.01, le=65.0,
                                     description="device stops the motors after this long without a setpoint [s]")
    telemetry_hz: float = Field(default=50.0, gt=0, le=1000.0, description="device telemetry rate [Hz]")
    heading_offset_deg: float = Field(default=0.0, ge=-180, le=180,
                                      description="added to the IMU's compass heading (mounting/declination) [deg]")


class GpsPort(Strict):
    """An NMEA 0183 receiver."""

    source: str = Field(min_length=1, description="pyserial URL or udp://HOST:PORT")
    baud: int = Field(default=38400, gt=0)


class AisPort(Strict):
    """An AIS receiver (or a transponder's NMEA output): AIVDM sentences of
    the vessels around, for the COLREGs helm (docs/field_guide.md, "AIS receiver")."""

    source: str = Field(min_length=1, description="pyserial URL (e.g. /dev/ttyUSB1) or udp:HOST:PORT to listen on")
    baud: int = Field(default=38400, gt=0, description="AIS receivers talk at 38400 baud (NMEA 0183-HS)")


class LidarPort(Strict):
    """A 2-D lidar on a serial port."""

    port: str = Field(min_length=1, description="pyserial URL, e.g. /dev/ttyUSB0")
    model: Literal["ld06", "ld19"] = "ld06"
    baud: int = Field(default=230400, gt=0)
    mount_yaw_deg: float = Field(default=0.0, ge=-180, le=180,
                                 description="sensor front relative to the vehicle's forward axis, CCW [deg]")
    clockwise: bool = Field(default=True, description="sensor angles grow clockwise (LD06/LD19: true)")


class ImuPort(Strict):
    """An IMU on a serial port (docs/field_guide.md, "IMU"): a CEVA BNO080/
    BNO085/BNO086 strapped for UART-RVC (PS1 low, PS0 high)."""

    port: str = Field(min_length=1, description="pyserial URL, e.g. /dev/ttyAMA1")
    model: Literal["bno08x-rvc"] = "bno08x-rvc"
    baud: int = Field(default=115200, gt=0, description="UART-RVC runs at 115200 baud")
    mount_yaw_deg: float = Field(default=0.0, ge=-180, le=180,
                                 description="the sensor's X axis relative to the vehicle's forward axis, CCW [deg] "
                                             "(the sensor mounted Z up)")
    max_gap_s: float = Field(default=0.1, ge=0.01, le=2.0,
                             description="longer without a frame restarts the rate differencing [s]")


class CompanionPort(Strict):
    """An ArduPilot/PX4 autopilot that edgepilot steers over MAVLink."""

    autopilot: str = Field(min_length=1, description="pymavlink connection string, e.g. /dev/ttyAMA0,921600")
    lookahead_m: float = Field(default=3.0, gt=0, le=100.0,
                               description="distance along the core's path to the position setpoint [m]; keep it "
                                           "above the autopilot's WP_RADIUS so the setpoint is never 'reached' "
                                           "before the path's end")
    setpoint_rate_hz: float = Field(default=5.0, gt=0, le=50.0, description="position setpoint stream rate [Hz]")
    link_timeout_s: float = Field(default=2.0, gt=0, le=60.0,
                                  description="no autopilot HEARTBEAT for this long = link lost [s]")
    external_nav: Literal["off", "odometry", "vision_position_estimate", "gps_input"] = Field(
        default="off", description="feed the core's pose to the autopilot's EKF as external navigation "
                                   "(ArduPilot non-GPS navigation; see docs/field_guide.md for EK3_SRC*)")
    external_nav_rate_hz: float = Field(default=10.0, ge=1.0, le=50.0,
                                        description="external navigation message rate [Hz]; ArduPilot wants >= 4")
    external_nav_reset_m: float = Field(default=1.0, gt=0, description=(
        "a pose jump larger than this [m] (beyond the motion the velocity explains) increments reset_counter"))


class HardwareConfig(Strict):
    """How the onboard computer is wired (``edgepilot vehicle run``).

    ``direct``: edgepilot drives the motor controller over serial and reads
    the GPS (and lidar) itself; heading comes from the motor controller's IMU.
    ``companion``: edgepilot steers an autopilot over MAVLink and takes its
    position and heading from it."""

    wiring: Literal["direct", "companion"]
    mavlink: list[str] = Field(default_factory=lambda: ["udpout:127.0.0.1:14550"],
                               description="MAVLink endpoints served to ground stations (pymavlink strings)")
    log_dir: str = Field(default="logs", description="where tlogs and the start-up report go")
    state_dir: str | None = Field(default=None, description="folder for durable state: mission, fence, home, "
                                  "params and the event log survive a restart (onboard.state_store)")
    motor: MotorPort | None = None
    gps: GpsPort | None = None
    lidar: LidarPort | None = None
    imu: ImuPort | None = None
    ais: AisPort | None = None
    companion: CompanionPort | None = None

    @model_validator(mode="after")
    def _wiring_complete(self):
        if self.wiring == "direct":
            # [hardware.gps] may be left out by an EKF vehicle (VehicleConfig checks that)
            missing = [n for n in ("motor",) if getattr(self, n) is None]
            if missing:
                raise ValueError(f"wiring 'direct' needs [hardware.{'] and [hardware.'.join(missing)}]")
        if self.wiring == "companion" and self.companion is None:
            raise ValueError("wiring 'companion' needs [hardware.companion] with autopilot = CONNECTION")
        return self


class VehicleConfig(Strict):
    name: str
    kind: Literal["ugv", "usv"]
    geometry: Geometry
    limits: Limits
    drive: DiffDrive | None = None
    hull: Hull | None = None
    sensors: Sensors
    control: Control
    planning: Planning
    failsafe: Failsafe = Failsafe()
    mavlink: MavlinkConfig = MavlinkConfig()
    hardware: HardwareConfig | None = None
    maritime: Maritime = Maritime()
    navigation: Navigation = Navigation()

    @model_validator(mode="after")
    def _chassis_matches_kind(self):
        if self.kind == "ugv" and self.drive is None:
            raise ValueError("kind 'ugv' needs a [drive] table (differential drive)")
        if self.kind == "usv" and self.hull is None:
            raise ValueError("kind 'usv' needs a [hull] table (twin-thruster hull)")
        if self.navigation.estimator == "ekf" and self.sensors.imu is None:
            raise ValueError("navigation.estimator 'ekf' needs a [sensors.imu] table (the EKF is driven by the IMU)")
        if self.sensors.wheel_encoders is not None and self.kind != "ugv":
            raise ValueError("sensors.wheel_encoders is for kind 'ugv' (a USV has [sensors.speed_log])")
        if self.sensors.speed_log is not None and self.kind != "usv":
            raise ValueError("sensors.speed_log is for kind 'usv' (a UGV has [sensors.wheel_encoders])")
        hw = self.hardware
        if hw is not None and hw.wiring == "direct" and self.navigation.estimator == "ekf" and hw.imu is None:
            raise ValueError("navigation.estimator 'ekf' with wiring 'direct' needs [hardware.imu] (the EKF is "
                             "driven by the IMU)")
        if hw is not None and hw.ais is not None and self.kind != "usv":
            raise ValueError("hardware.ais is for kind 'usv' (AIS contacts go to a boat's COLREGs helm)")
        if hw is not None and hw.wiring == "direct" and hw.gps is None and self.navigation.estimator != "ekf":
            raise ValueError("wiring 'direct' needs [hardware.gps] (only navigation.estimator 'ekf' navigates "
                             "without GNSS)")
        return self


M = TypeVar("M", bound=BaseModel)


def format_validation_error(path: Path | str, err: ValidationError) -> str:
    """One line per problem: ``file: key.path: what was expected (got X)``."""
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check spelling)"
        elif e["type"] == "missing":
            msg = "required key is missing"
        got = "" if e["type"] in ("missing", "model_type") else f" (got {e.get('input')!r})"
        if e["type"] == "extra_forbidden":
            got = ""
        lines.append(f"{path}: {loc}: {msg}{got}")
    return "\n".join(lines)


#: Largest TOML file read (vehicle, scenario, fence); checked before reading.
MAX_TOML_BYTES = 4 * 2**20
#: Deepest nesting of arrays / inline tables accepted (the shipped files
#: need 3); checked before the recursive TOML parser runs.
MAX_TOML_DEPTH = 32

# Strings and comments (blanked, newlines kept) so brackets inside them do
# not count; then only brackets are left to count.
_TOML_SKIP = re.compile("|".join((
    # Every alternative matches wherever it starts (an unterminated string
    # runs to its line end / the end of the text) and bodies are possessive,
    # so the scan is linear: a failing match would be retried at each later
    # quote, quadratic in a line of escaped quotes.
    r"'''(?:[^']|'(?!''))*+(?:'''|\Z)",                  # multi-line literal string
    r'"""(?:[^"\\]|\\[\s\S]|"(?!""))*+(?:"""|\\?\Z)',      # multi-line basic string
    r'"(?:[^"\\\n]|\\[^\n])*+(?:"|\\?(?=\n|\Z))',        # basic string
    r"'[^'\n]*+(?:'|(?=\n|\Z))",                          # literal string
    r"#[^\n]*",                                               # comment
)))
_TOML_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def _toml_too_deep(text: str, limit: int) -> int | None:
    """The line where nesting first exceeds ``limit``, or None (linear time)."""
    blank = _TOML_SKIP.sub(lambda m: "\n" * m.group().count("\n"), text)
    brackets = "".join(re.findall(r"[\[\]{}]", blank))
    if max(accumulate(map(_TOML_STEP.__getitem__, brackets)), default=0) <= limit:
        return None
    return line_of_depth(blank, limit)


def read_toml(path: str | Path) -> dict:
    """A TOML file as a dict; ConfigError naming the file (and line) when it
    is missing, larger than MAX_TOML_BYTES, nested deeper than
    MAX_TOML_DEPTH or not valid TOML."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_TOML_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e}") from None
    if len(data) > MAX_TOML_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_TOML_BYTES} bytes ({MAX_TOML_BYTES // 2**20} MiB), "
                          "the limit for a TOML file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: not UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start})") from None
    line = _toml_too_deep(text, MAX_TOML_DEPTH)
    if line is not None:
        raise ConfigError(f"{path}: line {line}: arrays/inline tables nested more than {MAX_TOML_DEPTH} "
                          "levels deep; refused")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None


def parse_model(model: type[M], data: dict, source: str | Path) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(source, e)) from None


def load_vehicle_config(path: str | Path) -> VehicleConfig:
    """Load and validate a vehicle TOML file; raises ConfigError."""
    return parse_model(VehicleConfig, read_toml(path), path)
