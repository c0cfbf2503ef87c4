"""The safety layer the vehicle core calls once per tick.

``SafetyManager.update(now, frame, core)`` records sensor freshness and
the control-loop gap, then runs every failsafe trigger; ``filter_command``
turns the output into an e-stop while a STOP is in force.  ``prearm``
answers the core's ``arm``.  The fence and the e-stop latch live here.
"""
from __future__ import annotations

from edgepilot.vehicle.config import VehicleConfig
from edgepilot.vehicle.geo import LocalFrame
from edgepilot.vehicle.types import ActuatorCommand, CommandResult, MissionItem, Outcome, SensorFrame, Severity

from .failsafe import Action, FailsafeManager, SafetyInputs, default_triggers
from .geofence import Fence, FenceError
from .prearm import prearm_failures
from .watchdog import LoopWatchdog


class SafetyManager:
    def __init__(self, cfg: VehicleConfig, params, frame: LocalFrame, emit):
        self.cfg = cfg
        self.params = params
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

    def observe(self, now: float, frame: SensorFrame | None, core) -> SafetyInputs:
        s = self.inputs
        s.now = now
        s.armed = core.armed
        s.mode = core.mode
        s.state = core.state
        if frame is not None:
            if frame.gps is not None:
                s.gps, s.gps_t = frame.gps, now
            if frame.compass is not None:
                s.compass_t = now
            if frame.scan is not None:
                s.scan, s.scan_t = frame.scan, now
            if frame.camera_t is not None:
                s.camera_t = now
            if frame.motor is not None:
                s.motor, s.motor_t = frame.motor, now
            if frame.battery_remaining is not None:
                s.battery_remaining = frame.battery_remaining
        s.cruise_speed = self.params.get("WP_SPEED")
        perception = getattr(core, "perception", None)   # the rate manager's view of each sensor
        s.sensor_status = perception.status(now) if perception is not None else {}
        return s

    # ------------------------------------------------------------ per tick
    def update(self, now: float, frame: SensorFrame, core) -> None:
        self.watchdog.max_gap_s = self.params.get("FS_LOOP_MAX")
        s = self.observe(now, frame, core)
        s.tick_gap = self.watchdog.kick(now)
        self.failsafes.update(s, core)

    def filter_command(self, cmd: ActuatorCommand) -> ActuatorCommand:
        if self.inputs.estop_latched or self.failsafes.strongest is Action.STOP:
            return ActuatorCommand(0.0, 0.0, estop=True)
        return cmd

    # ------------------------------------------------------------ operator
    def prearm(self, now: float, core) -> list[str]:
        if self.params.get("ARMING_CHECK") < 1:
            return []
        s = self.observe(now, None, core)
        extra = [r for r in (check() for check in self.extra_prearm_checks) if r]
        return extra + prearm_failures(s, core, self)

    def estop(self, now: float, core, source: str = "command") -> None:
        s = self.observe(now, None, core)
        s.estop_latched, s.estop_source = True, source
        fs = self.failsafes
        if "estop" not in fs.active:
            s.armed = True   # trips regardless of the arming state
            fs.trip(fs.trigger("estop"), f"E-STOP: {source}", s, core)
            s.armed = core.armed

    def clear_estop(self, now: float, core) -> CommandResult:
        s = self.observe(now, None, core)
        if s.motor is not None and s.motor.estop:
            return CommandResult(False, "E-stop clear refused: the hardware e-stop is still pressed", Outcome.FAILED)
        s.estop_latched = False
        s.estop_source = ""
        self.failsafes.update(s, core)
        return CommandResult(True)

    @property
    def failsafe_active(self) -> bool:
        return any(a.action is not Action.NONE for a in self.failsafes.active.values())
