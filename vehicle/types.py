"""Small typed values that cross package boundaries.

All units SI, angles in radians, local positions in the ENU map frame
(x east, y north, metres; yaw counter-clockwise from east).  Geodetic
positions are WGS84 degrees.
"""
from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:   # runtime import would be circular (estimation imports this module)
    from edgepilot.vehicle.estimation.measurements import SpeedLog, WheelTicks


def direct_init(cls):
    """Class decorator for a frozen dataclass built every control tick or
    sensor sample: replaces its generated ``__init__`` by one that stores
    the fields straight into the instance ``__dict__``.  The dataclass's
    own ``__init__`` calls ``object.__setattr__`` once per field to get
    past the frozen guard, about three times the cost.  Same signature
    (positional or keyword, same defaults and default factories), same
    ``__post_init__`` call, and the object equals, field for field and in
    ``__dict__`` order, the one the dataclass's ``__init__`` builds.  Apply
    it above ``@dataclass(frozen=True)``; plain fields only (no ``InitVar``,
    keyword-only or ``init=False`` field)."""
    if not (dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen):
        raise TypeError(f"direct_init: {cls.__name__} is not a frozen dataclass")
    names = {"_MISSING": dataclasses.MISSING}
    params, body = [], ["    d = self.__dict__"]
    for f in dataclasses.fields(cls):
        if not f.init or f.kw_only or f.name in ("self", "d"):
            raise TypeError(f"direct_init: {cls.__name__}.{f.name} is not a plain field")
        if f.default is not dataclasses.MISSING:
            names[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
            body.append(f"    d[{f.name!r}] = {f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            names[f"_factory_{f.name}"] = f.default_factory
            params.append(f"{f.name}=_MISSING")
            body.append(f"    d[{f.name!r}] = _factory_{f.name}() if {f.name} is _MISSING else {f.name}")
        else:
            params.append(f.name)
            body.append(f"    d[{f.name!r}] = {f.name}")
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    src = f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body) + "\n"
    exec(src, names)       # as dataclasses builds its __init__: a function with the field names as parameters
    init = names["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init
    return cls


class Mode(enum.IntEnum):
    """Flight modes, numbered as ArduPilot Rover's custom_mode so ground
    stations that know Rover decode them without help."""

    MANUAL = 0
    HOLD = 4
    LOITER = 5
    AUTO = 10
    RTL = 11
    GUIDED = 15


class MissionState(enum.IntEnum):
    """Numbered as MAVLink's MISSION_STATE enum."""

    UNKNOWN = 0
    NO_MISSION = 1
    NOT_STARTED = 2
    ACTIVE = 3
    PAUSED = 4
    COMPLETE = 5


class Cmd(enum.IntEnum):
    """Mission item commands we execute, numbered as MAVLink MAV_CMD."""

    NAV_WAYPOINT = 16
    NAV_LOITER_UNLIM = 17
    NAV_LOITER_TIME = 19
    NAV_RETURN_TO_LAUNCH = 20
    DO_JUMP = 177
    DO_CHANGE_SPEED = 178


@dataclass(frozen=True)
class GeoPoint:
    """A WGS84 position, degrees; alt in metres above the home altitude."""

    lat: float
    lon: float
    alt: float = 0.0


@direct_init
@dataclass(frozen=True)
class GpsFix:
    """One GPS solution as a receiver reports it."""

    t: float                 # receiver time of the fix [s]
    lat: float               # WGS84 degrees
    lon: float               # WGS84 degrees
    fix_type: int            # 0/1 no fix, 2 2D, 3 3D (MAVLink GPS_FIX_TYPE)
    satellites: int
    hacc: float              # horizontal accuracy estimate, 1-sigma [m]
    vel_e: float = 0.0       # velocity over ground east [m/s]
    vel_n: float = 0.0       # velocity over ground north [m/s]


@direct_init
@dataclass(frozen=True)
class CompassReading:
    t: float
    yaw: float               # heading as ENU yaw [rad], CCW from east


@direct_init
@dataclass(frozen=True)
class LaserScan:
    """A planar scan in the vehicle frame (x forward, y left)."""

    t: float
    angle_min: float         # [rad]
    angle_increment: float   # [rad]
    max_range: float         # [m]
    ranges: np.ndarray       # float32 (N,) metres; NaN/inf/<=0 = no return


@dataclass(frozen=True)
class ContactReport:
    """One report of another vessel: an AIS message (``source='ais'``, ``id``
    the MMSI, WGS84 position) or a sensor track (``source='lidar'`` /
    ``'camera'``, ``id`` the tracker's id).  A field is None when the report
    does not carry it (an AIS static-data message has no position)."""

    t: float                        # receive time [s]
    source: str                     # 'ais', 'lidar', 'camera'
    id: int                         # MMSI for AIS
    lat: float | None = None        # WGS84 degrees
    lon: float | None = None
    sog: float | None = None        # speed over ground [m/s]
    cog: float | None = None        # course over ground as ENU yaw [rad]
    heading: float | None = None    # true heading as ENU yaw [rad]
    ship_type: int | None = None    # AIS ship type code
    name: str | None = None
    length: float | None = None     # [m]
    beam: float | None = None       # [m]


@direct_init
@dataclass(frozen=True)
class MotorStatus:
    """Latest telemetry from the motor controller over its serial link.

    ``t`` is when the frame was received [s, the core's clock].  ``fault``
    names a controller-reported fault ('' = none), e.g. 'left motor stalled'.
    ``estop`` is the hardware e-stop input the controller reads."""

    t: float
    estop: bool = False
    fault: str = ""
    crc_errors: int = 0      # frames rejected on the link so far (both directions)


@direct_init
@dataclass(frozen=True)
class SensorFrame:
    """Everything the drivers produced since the previous control tick.
    A field is None when that sensor has nothing new."""

    t: float
    gps: GpsFix | None = None
    compass: CompassReading | None = None
    scan: LaserScan | None = None
    battery_v: float | None = None
    battery_remaining: float | None = None   # 0..1
    contacts: tuple[ContactReport, ...] | None = None   # other vessels (AIS, tracks)
    motor: MotorStatus | None = None         # motor-controller telemetry, None = none new
    camera_t: float | None = None            # capture time of a new camera image [s], None = none new
    # that image: BGR uint8 (height, width, 3); None = not carried (a driver that only timestamps)
    camera_image: np.ndarray | None = field(default=None, compare=False, repr=False)
    # Dead reckoning (issue 15).  IMU samples since the previous tick, float64
    # (n, 7) rows (t [s], gyro x/y/z [rad/s], accel x/y/z [m/s^2]), body frame
    # x forward, y left, z up, oldest first; None = no IMU.
    imu: np.ndarray | None = field(default=None, compare=False, repr=False)
    wheel_ticks: WheelTicks | None = None    # latest cumulative encoder counts (UGV)
    speed_log: SpeedLog | None = None        # latest speed-through-water reading (USV)


@direct_init
@dataclass(frozen=True)
class VehicleState:
    """The core's estimate of where the vehicle is and how it moves."""

    t: float
    x: float                 # map frame ENU [m]
    y: float
    yaw: float               # [rad] CCW from east
    vx: float                # velocity over ground, map frame [m/s]
    vy: float
    yaw_rate: float          # [rad/s]
    lat: float               # WGS84 degrees
    lon: float
    pos_std: float           # 1-sigma horizontal position uncertainty [m]
    valid: bool              # True once GPS and compass have initialised

    @property
    def speed(self) -> float:
        return float(np.hypot(self.vx, self.vy))


@direct_init
@dataclass(frozen=True)
class ActuatorCommand:
    """Normalised differential command: wheel speeds for a UGV, thruster
    thrusts for a twin-thruster boat, each in [-1, 1] of its maximum."""

    left: float
    right: float
    estop: bool = False

    @staticmethod
    def stop() -> "ActuatorCommand":
        return ActuatorCommand(0.0, 0.0)


class SetpointKind(enum.Enum):
    """What a :class:`Setpoint` carries."""

    ACTUATORS = "actuators"   # wheel / thruster commands for motors we drive ourselves
    TARGET = "target"         # a position / velocity target for an autopilot that drives them


@dataclass(frozen=True)
class MotionTarget:
    """Where an external autopilot should take the vehicle now.

    ``x, y`` map frame ENU [m] and ``lat, lon`` WGS84 [deg] of the same
    point: while driving, the point ``lookahead`` metres ahead along the
    path; while stopped (``stop``), where the vehicle is.  ``vx, vy``: the
    velocity the core wants, map frame ENU [m/s] (0, 0 when stopped).
    ``speed``: cruise speed [m/s].  ``path``: the path being followed,
    float64 (N, 2) map frame [m], empty when there is none."""

    x: float
    y: float
    lat: float
    lon: float
    vx: float = 0.0
    vy: float = 0.0
    speed: float = 0.0
    stop: bool = True
    path: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)), compare=False, repr=False)


@direct_init
@dataclass(frozen=True)
class Setpoint:
    """The core's one output per control tick, to whatever moves the
    vehicle (a :class:`SetpointSink`).  Either ``actuators`` (wheel /
    thruster commands, normalised [-1, 1]) or ``target`` (a position /
    velocity target and the path) is set, never both.

    ``armed`` and ``mode`` say what the core is doing, so a sink that
    drives an autopilot can arm it, hold it or hand it back without seeing
    the core.  ``estop``: stop the motors at once (latched e-stop or a
    STOP failsafe).

    ``left``, ``right`` read the wheel commands (0 for a target), so code
    written for :class:`ActuatorCommand` reads a setpoint unchanged."""

    t: float = 0.0
    armed: bool = False
    mode: Mode = Mode.HOLD
    actuators: ActuatorCommand | None = None
    target: MotionTarget | None = None
    estop: bool = False

    def __post_init__(self):
        act = self.actuators        # read once: built every control tick
        if (act is None) == (self.target is None):
            raise ValueError("Setpoint: exactly one of actuators and target must be given")
        if act is not None and act.estop and not self.estop:
            object.__setattr__(self, "estop", True)

    @property
    def kind(self) -> SetpointKind:
        return SetpointKind.ACTUATORS if self.actuators is not None else SetpointKind.TARGET

    @property
    def command(self) -> ActuatorCommand:
        """The wheel / thruster command: the actuators, or a stop (with the
        e-stop flag) for a target setpoint."""
        if self.actuators is not None:
            return self.actuators
        return ActuatorCommand(0.0, 0.0, estop=self.estop)

    @property
    def left(self) -> float:
        return self.command.left

    @property
    def right(self) -> float:
        return self.command.right

    @staticmethod
    def stop(t: float = 0.0, estop: bool = False) -> "Setpoint":
        """Motors stopped, disarmed."""
        return Setpoint(t, actuators=ActuatorCommand(0.0, 0.0, estop=estop))


class SetpointSink(Protocol):
    """What moves the vehicle: direct-drive motor drivers, a companion
    link to an external autopilot, or the simulator's dynamics.  The onboard
    process and the simulators hand it the core's setpoint once per tick;
    it never sees the core."""

    def apply(self, setpoint: Setpoint, now: float) -> None:
        """Act on the core's setpoint for this tick (``now`` [s], the runtime's clock)."""

    def stop(self) -> None:
        """Bring the vehicle to a safe stop now (shutdown, lost core)."""


def as_command(out: "Setpoint | ActuatorCommand") -> ActuatorCommand:
    """The wheel / thruster command in a setpoint or a bare command."""
    return out.command if isinstance(out, Setpoint) else out


class ActionKind(enum.Enum):
    """What the core should do about a safety decision (or a driver's report)."""

    NONE = "none"        # report only
    HOLD = "hold"        # mode HOLD
    RTL = "rtl"          # mode RTL
    RESUME = "resume"    # back to ``SafetyAction.mode`` (a failsafe cleared)
    STOP = "stop"        # motors stopped at once and disarmed (a STOP failsafe)
    DISARM = "disarm"    # disarm (forced): the motors cannot do what the core asks
    ESTOP = "estop"      # e-stop: latched until an operator clears it


@dataclass(frozen=True)
class SafetyAction:
    """A decision the safety layer (or a driver) hands the core, which
    applies it: see ``VehicleCore.apply_action``.  ``reason`` in an
    operator's words; ``mode`` is the mode to go back to for RESUME."""

    kind: ActionKind
    reason: str = ""
    mode: Mode | None = None
    #: RESUME: the failsafe event's data the core announces once resumed.
    data: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class MissionItem:
    """One mission item in MAVLink's terms (MISSION_ITEM_INT semantics,
    coordinates already as float degrees).  Item 0 is home, as ArduPilot."""

    seq: int
    command: int
    lat: float = 0.0
    lon: float = 0.0
    alt: float = 0.0
    param1: float = 0.0
    param2: float = 0.0
    param3: float = 0.0
    param4: float = 0.0
    frame: int = 3           # MAV_FRAME_GLOBAL_RELATIVE_ALT
    autocontinue: int = 1


class Outcome(enum.IntEnum):
    """How the core answered a command, in its own terms.  The MAVLink
    adapter (firmware_bridge/mavlink/command.py) maps each to a MAV_RESULT
    by name; the numbers follow MAV_RESULT's only so that a stored or
    logged value reads the same (as ``Mode`` follows Rover's numbers)."""

    ACCEPTED = 0
    NOT_NOW = 1          # cannot now, may later: try again
    DENIED = 2           # not in this state or with these arguments
    UNSUPPORTED = 3      # not something this vehicle does
    FAILED = 4           # checks failed (pre-arm, hardware): fix the cause, then retry


@dataclass(frozen=True)
class CommandResult:
    """Answer to an operator command: accepted or refused with a reason an
    operator can act on."""

    ok: bool
    reason: str = ""
    result: Outcome = Outcome.ACCEPTED   # refused: how (DENIED when not given)


class Severity(enum.IntEnum):
    """MAV_SEVERITY numbering."""

    EMERGENCY = 0
    ALERT = 1
    CRITICAL = 2
    ERROR = 3
    WARNING = 4
    NOTICE = 5
    INFO = 6
    DEBUG = 7


@dataclass(frozen=True)
class Event:
    """Something an operator should hear about.  ``kind`` is one of
    'text', 'item_reached', 'mission_complete', 'mode', 'armed',
    'disarmed', 'failsafe', 'mission_failed'."""

    t: float
    kind: str
    text: str
    severity: Severity = Severity.INFO
    data: dict = field(default_factory=dict)
