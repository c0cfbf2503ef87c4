"""The safety layer the vehicle core calls once per tick.

Safety decides, the core acts: ``SafetyManager.update(now, frame, view)``
records sensor freshness and the control-loop gap, runs every failsafe
trigger and returns the ``SafetyAction``s (HOLD, RTL, RESUME, STOP) the
core then applies; ``view`` is a ``CoreView``, the values it needs, so
nothing here calls into the core.  ``filter_command`` turns the output into
an e-stop while a STOP is in force.  ``prearm`` answers the core's
``arm``; ``estop`` / ``clear_estop`` return their actions the same way.
The fence and the e-stop latch live here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from edgepilot.vehicle.config import VehicleConfig
from edgepilot.vehicle.geo import LocalFrame
from edgepilot.vehicle.types import (ActuatorCommand, CommandResult, MissionItem, Mode, Outcome, SafetyAction,
                                     SensorFrame, Severity, VehicleState, direct_init)

from .failsafe import Action, FailsafeManager, SafetyInputs, default_triggers
from .geofence import Fence, FenceError
from .prearm import prearm_failures
from .watchdog import LoopWatchdog

# bound once: an enum member read (``Action.STOP``) costs ~0.2 us, a global's
# ~0.02 us, and filter_command runs every tick
_STOP = Action.STOP


@direct_init
@dataclass(frozen=True)
class CoreView:
    """What the safety layer reads of the core at one tick: handed in by the
    core, so safety decides from values and never reaches into it."""

    armed: bool
    mode: Mode
    state: VehicleState
    can_enter: frozenset = frozenset()        # modes the core would enter now
    mission: tuple = ()                       # the loaded mission items
    sensor_status: dict = field(default_factory=dict)   # perception's rate manager, per sensor
    nav: object | None = None                 # estimation.navigation.NavHealth (EKF vehicles), else None


class SafetyManager:
    def __init__(self, cfg: VehicleConfig, params, frame: LocalFrame, emit):
        self.cfg = cfg
        self.params = params
        self.table = params.table     # the live values, read every tick
        self.frame = frame
        self.emit = emit
        self.inputs = SafetyInputs()
        self.fence: Fence | None = None
        self.failsafes = FailsafeManager(default_triggers(cfg, params), params, emit)
        self.watchdog = LoopWatchdog(params.get("FS_LOOP_MAX"))
        self.perception_t: float | None = None
        #: Checks the process around the core adds (e.g. kernels still
        #: loading): callables returning a "PreArm: ..." reason or None.
        self.extra_prearm_checks: list = []

    # ------------------------------------------------------------ inputs
    def gcs_heartbeat(self, now: float) -> None:
        self.inputs.last_gcs = now

    def perception_update(self, now: float) -> None:
        """The perception pipeline integrated new data at ``now``."""
        self.perception_t = now

    def set_fence(self, items: list[MissionItem]) -> CommandResult:
        items = list(items)
        if not items:
            self.fence = None
            self.inputs.fence = None
            self.emit("text", "Fence cleared", Severity.INFO)
            return CommandResult(True)
        try:
            fence = Fence.from_items(items, self.frame)
        except FenceError as e:
            self.emit("text", f"Fence rejected: {e}", Severity.WARNING)
            return CommandResult(False, f"Fence rejected: {e}", Outcome.DENIED)
        self.fence = fence
        self.inputs.fence = fence
        self.emit("text", f"Fence loaded: {len(fence)} zone(s)", Severity.INFO)
        return CommandResult(True)

    def observe(self, now: float, frame: SensorFrame | None, view: CoreView) -> SafetyInputs:
        s = self.inputs
        s.now = now
        s.armed = view.armed
        s.mode = view.mode
        s.state = view.state
        s.can_enter = view.can_enter
        s.mission = view.mission
        s.nav = view.nav
        if frame is not None:
            if (gps := frame.gps) is not None:
                s.gps, s.gps_t = gps, now
            if frame.compass is not None:
                s.compass_t = now
            if (scan := frame.scan) is not None:
                s.scan, s.scan_t = scan, now
            if frame.camera_t is not None:
                s.camera_t = now
            if (motor := frame.motor) is not None:
                s.motor, s.motor_t = motor, now
            if (battery := frame.battery_remaining) is not None:
                s.battery_remaining = battery
        s.cruise_speed = self.table["WP_SPEED"]
        s.sensor_status = view.sensor_status     # the rate manager's view of each sensor
        return s

    # ------------------------------------------------------------ per tick
    def update(self, now: float, frame: SensorFrame, view: CoreView) -> list[SafetyAction]:
        """One tick: what the core must do about it (applied in order)."""
        self.watchdog.max_gap_s = self.table["FS_LOOP_MAX"]
        s = self.observe(now, frame, view)
        s.tick_gap = self.watchdog.kick(now)
        return self.failsafes.update(s)

    def filter_command(self, cmd: ActuatorCommand) -> ActuatorCommand:
        """``cmd``, or an e-stop while the e-stop is latched or a STOP failsafe is in force."""
        if self.inputs.estop_latched or self.failsafes.strongest is _STOP:
            return ActuatorCommand(0.0, 0.0, estop=True)
        return cmd

    # ------------------------------------------------------------ operator
    def prearm(self, now: float, view: CoreView) -> list[str]:
        if self.params.get("ARMING_CHECK") < 1:
            return []
        s = self.observe(now, None, view)
        extra = [r for r in (check() for check in self.extra_prearm_checks) if r]
        return extra + prearm_failures(s, self)

    def estop(self, now: float, view: CoreView, source: str = "command") -> list[SafetyAction]:
        """Latch the e-stop: the actions that stop the vehicle now."""
        s = self.observe(now, None, view)
        s.estop_latched, s.estop_source = True, source
        fs = self.failsafes
        if "estop" in fs.active:
            return []
        s.armed = True   # trips regardless of the arming state
        out = fs.trip(fs.trigger("estop"), f"E-STOP: {source}", s)
        s.armed = view.armed
        return out

    def clear_estop(self, now: float, view: CoreView) -> tuple[CommandResult, list[SafetyAction]]:
        s = self.observe(now, None, view)
        if s.motor is not None and s.motor.estop:
            return CommandResult(False, "E-stop clear refused: the hardware e-stop is still pressed",
                                 Outcome.FAILED), []
        s.estop_latched = False
        s.estop_source = ""
        return CommandResult(True), self.failsafes.update(s)

    @property
    def failsafe_active(self) -> bool:
        return any(a.action is not Action.NONE for a in self.failsafes.active.values())
