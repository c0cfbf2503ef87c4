"""Failsafes: one trigger class per condition, each with its action and
recovery rule, and the manager that trips, acts, clears and resumes.

Actions (one numbering for every ``*_ACTION`` parameter): 0 report only,
1 HOLD, 2 RTL, 3 STOP (motors stopped, disarmed).  When several failsafes
are active the strongest wins: STOP > HOLD > RTL > report.

Recovery rules
--------------
``Recovery.AUTO`` — the failsafe clears itself once its condition has been
gone for the trigger's ``clear_after_s``; if the vehicle is still in the
mode the failsafe put it in (no operator intervened), no other failsafe
with an action is active, and ``FS_RESUME`` = 1, the mode that was
interrupted (AUTO, GUIDED, RTL) is resumed — an AUTO mission continues
from its current item.  GCS link, GPS, stale lidar/camera, control-loop
overrun and obstacle stop are AUTO.

``Recovery.OPERATOR`` — latched: an operator has to act.  Battery low and
critical clear when the vehicle is disarmed and the battery reads above
the threshold again (pack swapped); an operator may override the action
with a mode change at any time and the failsafe does not trip again until
it has cleared.  Motor-controller link loss and motor fault clear when the
link is healthy again and the vehicle is disarmed (it was disarmed by
STOP): re-arming is the operator's decision.  E-stop clears only with an
explicit clear command and the hardware input released.  Fence breach
clears when the operator changes mode or disarms.  Nothing resumes by
itself after an OPERATOR failsafe.
"""
from __future__ import annotations

import abc
import enum
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from edgepilot.vehicle.config import VehicleConfig
from edgepilot.vehicle.types import ActionKind, GpsFix, LaserScan, Mode, MotorStatus, SafetyAction, Severity, VehicleState

DRIVING_MODES = (Mode.AUTO, Mode.GUIDED, Mode.RTL)


class Action(enum.IntEnum):
    NONE = 0
    HOLD = 1
    RTL = 2
    STOP = 3

    @property
    def priority(self) -> int:
        return _PRIORITY[self]

    @property
    def mode(self) -> Mode | None:
        return _MODE_OF.get(self)


# Members bound once: an enum member read (``Action.NONE``) costs ~0.2 us, a
# module global's ~0.02 us, and the manager reads them on every tick.
_NONE, _HOLD, _RTL, _STOP = Action.NONE, Action.HOLD, Action.RTL, Action.STOP
_PRIORITY = {_NONE: 0, _RTL: 1, _HOLD: 2, _STOP: 3}
_MODE_OF = {_HOLD: Mode.HOLD, _RTL: Mode.RTL}
#: The core's action for a failsafe action that changes mode.
_KIND_OF = {_HOLD: ActionKind.HOLD, _RTL: ActionKind.RTL}
_EMERGENCY, _CRITICAL, _NOTICE = Severity.EMERGENCY, Severity.CRITICAL, Severity.NOTICE


class Recovery(enum.Enum):
    AUTO = "clears itself"
    OPERATOR = "needs an operator"


_AUTO_RECOVERY, _OPERATOR_RECOVERY = Recovery.AUTO, Recovery.OPERATOR


@dataclass
class SafetyInputs:
    """What the safety layer knows at one tick.  Times are seconds on the
    core's clock; ``*_t`` is when that stream last delivered (None = never)."""

    now: float = 0.0
    armed: bool = False
    mode: Mode = Mode.HOLD
    state: VehicleState | None = None
    gps: GpsFix | None = None
    gps_t: float | None = None
    compass_t: float | None = None
    scan: LaserScan | None = None
    scan_t: float | None = None
    camera_t: float | None = None
    # perception's rate manager per sensor ('lidar', 'camera'): SensorStatus
    # with age, stale (after FS_SENS_TIMEOUT), measured rate, sample count
    sensor_status: dict = field(default_factory=dict)
    motor: MotorStatus | None = None
    motor_t: float | None = None
    battery_remaining: float | None = None
    tick_gap: float = 0.0
    last_gcs: float | None = None
    estop_latched: bool = False
    estop_source: str = ""
    fence: object | None = None          # vehicle.safety.geofence.Fence
    cruise_speed: float = 1.0
    #: Modes the core would enter now (each mode's own refusal check).
    can_enter: frozenset = frozenset()
    #: The loaded mission (pre-arm checks it against the fence).
    mission: tuple = ()
    #: Navigation health (``estimation.navigation.NavHealth``) when the EKF
    #: owns the pose; None with the GPS + compass filter.
    nav: object | None = None


class Trigger(abc.ABC):
    """One failsafe condition.  ``check`` returns a reason (operator's
    words) while the condition holds, else None.  ``active`` says whether
    this failsafe is currently tripped (some checks use a different
    threshold to clear than to trip)."""

    name = ""
    label = ""
    recovery = Recovery.AUTO
    action_param: str | None = None
    clear_after_s = 0.0

    def __init__(self, cfg: VehicleConfig, params):
        self.cfg = cfg
        self.params = params
        #: ``params.table``, the live values: checks read it every tick
        self.table = params.table

    def action(self) -> Action:
        return Action(int(self.table[self.action_param])) if self.action_param else _STOP

    @abc.abstractmethod
    def check(self, s: SafetyInputs, active: bool) -> str | None:
        """The reason while the condition holds, else None."""

    def operator_cleared(self, s: SafetyInputs, st: "ActiveFailsafe") -> bool:
        """For OPERATOR recovery: has an operator dealt with it?"""
        return False


class GcsLinkTrigger(Trigger):
    name, label = "gcs", "GCS link"
    action_param = "FS_GCS_ENABLE"

    def check(self, s, active):
        if s.last_gcs is None:
            return None  # no ground station ever connected: nothing was lost
        age = s.now - s.last_gcs
        timeout = self.table["FS_GCS_TIMEOUT"]
        return f"GCS link lost (no heartbeat for {age:.1f} s)" if age > timeout else None


class BatteryTrigger(Trigger):
    recovery = Recovery.OPERATOR
    HYSTERESIS_PCT = 2.0

    def __init__(self, cfg, params, level: str):
        super().__init__(cfg, params)
        self.level = level
        self.name = f"battery_{level}"
        self.label = f"battery {level}"
        self.pct_param = "BATT_LOW_PCT" if level == "low" else "BATT_CRT_PCT"
        self.action_param = "BATT_FS_LOW_ACT" if level == "low" else "BATT_FS_CRT_ACT"

    def check(self, s, active):
        if s.battery_remaining is None:
            return None
        thr = self.table[self.pct_param]
        pct = 100.0 * s.battery_remaining
        if thr > 0 and pct <= thr + (self.HYSTERESIS_PCT if active else 0.0):
            return f"battery {self.level}: {pct:.0f}% at or below {self.pct_param} {thr:.0f}%"
        return None

    def operator_cleared(self, s, st):
        return not s.armed and self.check(s, True) is None


class GpsTrigger(Trigger):
    name, label = "gps", "GPS"
    action_param = "FS_GPS_ACTION"
    clear_after_s = 2.0

    def __init__(self, cfg, params):
        super().__init__(cfg, params)
        self.bad_since: float | None = None

    def check(self, s, active):
        if s.gps_t is None:
            return None  # never had GPS: the pre-arm checks say so
        timeout = self.table["FS_GPS_TIMEOUT"]
        age = s.now - s.gps_t
        if age > timeout:
            return f"GPS lost (no data for {age:.1f} s)"
        fix = s.gps
        hacc_max = self.table["FS_GPS_HACC"]
        if fix.fix_type < 3:
            why = f"GPS lost 3D fix (fix type {fix.fix_type})"
        elif fix.hacc > hacc_max:
            why = f"GPS accuracy {fix.hacc:.1f} m worse than FS_GPS_HACC {hacc_max:.1f} m"
        else:
            self.bad_since = None
            return None
        if self.bad_since is None:
            self.bad_since = s.gps_t
        return why if (active or s.now - self.bad_since >= timeout) else None


class NavTrigger(Trigger):
    """EKF vehicles: navigation confidence lost beyond the mission's
    tolerance FS_EKF_POS_STD -- the EKF's position 1-sigma above it, the
    estimated dead-reckoning drift since the last absolute position fix
    (distance travelled without one x navigation.dead_reckoning_drift,
    ``NavHealth.drift_m``) above it, or the filter diverged.  Losing or
    rejecting GNSS alone does not trip it: the vehicle keeps navigating on
    its other sources (odometry, lidar fixes on the map) while they keep
    the estimate inside the tolerance.  Takes the GPS trigger's place in
    the table."""

    name, label = "nav", "navigation"
    action_param = "FS_EKF_ACTION"
    clear_after_s = 2.0

    def check(self, s, active):
        nav = s.nav
        if nav is None or not nav.initialised:
            return None   # pre-arm refuses an uninitialised filter
        lim = self.table["FS_EKF_POS_STD"]
        if not math.isfinite(nav.pos_std):
            return "navigation diverged (position not finite)"
        k = 0.8 if active else 1.0
        if nav.pos_std > lim * k:
            return (f"navigation confidence lost: position 1-sigma {nav.pos_std:.2f} m "
                    f"above FS_EKF_POS_STD {lim:.2f} m")
        drift = getattr(nav, "drift_m", 0.0)
        if drift > lim * k:
            return (f"navigation confidence lost: {nav.unaided_m:.0f} m without a position fix, "
                    f"drift {drift:.2f} m above FS_EKF_POS_STD {lim:.2f} m")
        return None


class StaleSensorTrigger(Trigger):
    """Lidar or camera data older than FS_SENS_TIMEOUT.  Watched once the
    stream has delivered (a configured lidar is also a pre-arm check)."""

    action_param = "FS_SENS_ACTION"
    clear_after_s = 1.0

    def __init__(self, cfg, params, stream: str):
        super().__init__(cfg, params)
        self.stream = stream
        self.name = f"{stream}_stale"
        self.label = f"{stream} data"

    def check(self, s, active):
        st = s.sensor_status.get(self.stream)
        if st is not None:   # perception's rate manager flags it (stale after FS_SENS_TIMEOUT)
            return f"{self.stream} data stale ({st.age:.1f} s old)" if st.count and st.stale else None
        last = s.scan_t if self.stream == "lidar" else s.camera_t
        if last is None:
            return None
        age = s.now - last
        timeout = self.table["FS_SENS_TIMEOUT"]
        return f"{self.stream} data stale ({age:.1f} s old)" if age > timeout else None


class LoopOverrunTrigger(Trigger):
    name, label = "loop_overrun", "control loop"
    action_param = "FS_LOOP_ACTION"
    clear_after_s = 1.0

    def check(self, s, active):
        mx = self.table["FS_LOOP_MAX"]
        if s.tick_gap > mx:
            return f"control loop overrun ({s.tick_gap:.2f} s between ticks, FS_LOOP_MAX {mx:.2f} s)"
        return None


class MotorLinkTrigger(Trigger):
    name, label = "motor_link", "motor controller link"
    recovery = Recovery.OPERATOR
    action_param = "FS_MOTOR_ACTION"

    def check(self, s, active):
        if s.motor_t is None:
            return None
        age = s.now - s.motor_t
        timeout = self.table["FS_MOTOR_TIMEOUT"]
        return f"motor controller link lost (no telemetry for {age:.2f} s)" if age > timeout else None

    def operator_cleared(self, s, st):
        return not s.armed and self.check(s, True) is None


class MotorFaultTrigger(Trigger):
    name, label = "motor_fault", "motor controller fault"
    recovery = Recovery.OPERATOR
    action_param = "FS_MOTOR_ACTION"

    def check(self, s, active):
        if s.motor is not None and s.motor.fault:
            return f"motor controller fault: {s.motor.fault}"
        return None

    def operator_cleared(self, s, st):
        return not s.armed and self.check(s, True) is None


class EstopTrigger(Trigger):
    """E-stop by command (latched until cleared) or by the hardware input
    the motor controller reports.  Action is always STOP."""

    name, label = "estop", "E-stop"
    recovery = Recovery.OPERATOR

    def action(self) -> Action:
        return _STOP

    def check(self, s, active):
        if s.motor is not None and s.motor.estop:
            return "E-STOP: hardware e-stop input"
        if s.estop_latched:
            return f"E-STOP: {s.estop_source or 'command'}"
        return None

    def operator_cleared(self, s, st):
        return not s.estop_latched and not (s.motor is not None and s.motor.estop)


class FenceTrigger(Trigger):
    name, label = "fence", "fence"
    recovery = Recovery.OPERATOR
    action_param = "FENCE_ACTION"

    def __init__(self, cfg, params):
        super().__init__(cfg, params)
        self.radius = cfg.geometry.circumscribed_radius
        self.last_check = None

    def check(self, s, active):
        fence = s.fence
        st = s.state
        t = self.table
        if fence is None or not len(fence) or not t["FENCE_ENABLE"] or st is None or not st.valid:
            return None
        moving = s.mode in DRIVING_MODES
        vx, vy = (st.vx, st.vy) if moving else (0.0, 0.0)
        react = 2.0 / self.cfg.control.rate_hz
        c = fence.check(st.x, st.y, vx, vy, self.radius, t["FENCE_BRAKE_ACC"], react,
                        t["FENCE_MARGIN"] if moving else 0.0)
        self.last_check = c
        if c.clearance_now < 0:
            return f"fence breached ({-c.clearance_now:.1f} m past {c.zone})"
        if c.breach:
            return (f"fence breach predicted ({c.clearance_min:.1f} m from {c.zone} "
                    f"within the {c.stopping_distance:.1f} m stopping distance)")
        return None

    def operator_cleared(self, s, st):
        return not s.armed or (st.applied_mode is not None and s.mode != st.applied_mode)


class ObstacleTrigger(Trigger):
    """Obstacle stop: a lidar return inside the corridor the footprint
    sweeps before it can stop (vehicle frame x forward, y left)."""

    name, label = "obstacle", "obstacle stop"
    action_param = None

    def __init__(self, cfg, params):
        super().__init__(cfg, params)
        g = cfg.geometry
        self.half_len, self.half_w = 0.5 * g.length, 0.5 * g.width

    @property
    def clear_after_s(self) -> float:
        """AVOID_CLEAR_S, as it is when the manager asks."""
        return self.table["AVOID_CLEAR_S"]

    def action(self) -> Action:
        return _HOLD if self.table["AVOID_ENABLE"] else _NONE

    def check(self, s, active):
        t = self.table
        if not t["AVOID_ENABLE"] or s.scan is None or s.state is None:
            return None
        if not active and s.mode not in DRIVING_MODES:
            return None
        if s.scan_t is None or s.now - s.scan_t > t["FS_SENS_TIMEOUT"]:
            return None   # stale data is the stale-sensor failsafe's business
        v = max(s.state.speed, s.cruise_speed if active else 0.0)
        decel = t["FENCE_BRAKE_ACC"]
        reach = v * 2.0 / self.cfg.control.rate_hz + v * v / (2.0 * decel) + t["AVOID_MARGIN"]
        sc = s.scan
        r = np.asarray(sc.ranges, dtype=np.float64)
        a = sc.angle_min + sc.angle_increment * np.arange(len(r))
        ok = np.isfinite(r) & (r > 0) & (r < sc.max_range)
        x, y = r[ok] * np.cos(a[ok]), r[ok] * np.sin(a[ok])
        ahead = x - self.half_len
        hit = (ahead > -0.05) & (ahead < reach) & (np.abs(y) < self.half_w + 0.15)
        if hit.any():
            d = float(ahead[hit].min())
            return f"obstacle {max(d, 0.0):.1f} m ahead"
        return None


@dataclass
class ActiveFailsafe:
    trigger: Trigger
    t: float
    reason: str
    action: Action
    applied_mode: Mode | None = None
    healthy_since: float | None = None


@dataclass
class FailsafeRecord:
    """One trip as the event log keeps it."""

    name: str
    t_trip: float
    action: str
    reason: str
    t_clear: float | None = None


class FailsafeManager:
    def __init__(self, triggers: list[Trigger], params, emit: Callable):
        self.triggers = triggers
        self.params = params
        self.table = params.table
        self.emit = emit
        self.active: dict[str, ActiveFailsafe] = {}
        self.history: list[FailsafeRecord] = []
        self.resume_mode: Mode | None = None
        self.applied_mode: Mode | None = None
        self.resume_blocked = False

    def trigger(self, name: str) -> Trigger:
        return next(t for t in self.triggers if t.name == name)

    @property
    def strongest(self) -> Action:
        if not self.active:          # the usual tick: nothing tripped
            return _NONE
        return max((a.action for a in self.active.values()), key=_PRIORITY.__getitem__, default=_NONE)

    def update(self, s: SafetyInputs) -> list[SafetyAction]:
        """Check every trigger; trip, clear and resume.  Returns what the
        core must do, in order (it applies them; nothing here touches it).
        A mode is counted as entered when ``s.can_enter`` holds it, which
        is what the core's mode will say when the action is applied."""
        out: list[SafetyAction] = []
        if self.applied_mode is not None and s.mode != self.applied_mode:
            # An operator (or the mode logic, e.g. RTL reaching home) changed
            # mode: the failsafe's mode is no longer ours to undo.
            self.applied_mode = None
            self.resume_mode = None
        active = self.active     # trip adds to it, clear takes from it: the same dict throughout
        for trig in self.triggers:
            # the usual tick: nothing tripped (an empty dict is not asked), straight to the check
            if not active or (st := active.get(trig.name)) is None:
                reason = trig.check(s, False)
                if reason and s.armed:
                    out += self.trip(trig, reason, s)
                continue
            reason = trig.check(s, True)
            if trig.recovery is _AUTO_RECOVERY:
                if not s.armed:
                    out += self.clear(trig, s)
                elif reason is None:
                    if st.healthy_since is None:
                        st.healthy_since = s.now
                    if s.now - st.healthy_since >= trig.clear_after_s:
                        out += self.clear(trig, s)
                else:
                    st.healthy_since = None
            elif trig.operator_cleared(s, st):
                out += self.clear(trig, s)
        return out

    def _enter(self, s: SafetyInputs, mode: Mode, action: SafetyAction, out: list[SafetyAction]) -> bool:
        """Ask the core for ``mode``; True when it will enter it."""
        if mode not in s.can_enter:
            return False
        out.append(action)
        s.mode = mode
        return True

    def trip(self, trig: Trigger, reason: str, s: SafetyInputs) -> list[SafetyAction]:
        out: list[SafetyAction] = []
        action = trig.action()
        before = self.strongest
        st = ActiveFailsafe(trig, s.now, reason, action)
        self.active[trig.name] = st
        self.history.append(FailsafeRecord(trig.name, s.now, action.name, reason))
        sev = _EMERGENCY if trig.name == "estop" else _CRITICAL
        suffix = "report only" if action is _NONE else action.name
        self.emit("failsafe", f"Failsafe: {reason}, {suffix}", sev, trigger=trig.name, action=action.name,
                  phase="trip", recovery=trig.recovery.name)
        if trig.recovery is _OPERATOR_RECOVERY and action is not _NONE:
            self.resume_blocked = True
        if action is _STOP:
            out.append(SafetyAction(ActionKind.STOP, reason))
            st.applied_mode = None
            self.applied_mode = None
            self.resume_mode = None
            return out
        mode = action.mode
        if mode is None or action.priority <= before.priority and before is not _NONE:
            st.applied_mode = self.applied_mode
            return out
        if self.resume_mode is None and self.applied_mode is None:
            self.resume_mode = s.mode
        if self._enter(s, mode, SafetyAction(_KIND_OF[action], reason), out):
            self.applied_mode = mode
        st.applied_mode = self.applied_mode
        return out

    def clear(self, trig: Trigger, s: SafetyInputs) -> list[SafetyAction]:
        out: list[SafetyAction] = []
        st = self.active.pop(trig.name)
        for rec in reversed(self.history):
            if rec.name == trig.name and rec.t_clear is None:
                rec.t_clear = s.now
                break
        self.emit("failsafe", f"Failsafe cleared: {trig.label}", _NOTICE, trigger=trig.name,
                  action=st.action.name, phase="clear")
        if not s.armed:
            self._reset_if_idle()
            return out
        remaining = self.strongest
        if self.applied_mode is None or s.mode != self.applied_mode:
            self._reset_if_idle()
            return out
        if remaining.mode is not None:
            if remaining.mode != s.mode and self._enter(
                    s, remaining.mode, SafetyAction(_KIND_OF[remaining], f"{trig.label} cleared"), out):
                self.applied_mode = remaining.mode
            return out
        resume = self.resume_mode
        if (resume in DRIVING_MODES and resume != s.mode and not self.resume_blocked
                and self.table["FS_RESUME"] >= 1 and remaining is not _STOP):
            # The core announces the resumption once it has switched.
            self._enter(s, resume, SafetyAction(
                ActionKind.RESUME, f"Failsafe: resuming {resume.name}", resume,
                dict(trigger=trig.name, action=resume.name, phase="resume")), out)
        self.applied_mode = None
        self.resume_mode = None
        self._reset_if_idle()
        return out

    def _reset_if_idle(self) -> None:
        if not any(a.action is not _NONE for a in self.active.values()):
            self.resume_blocked = False
            if self.applied_mode is None:
                self.resume_mode = None


def default_triggers(cfg: VehicleConfig, params) -> list[Trigger]:
    """Ordered strongest-first so a STOP lands before a HOLD in one tick."""
    # EKF vehicles: the navigation trigger takes the GPS one's place (GNSS loss alone is no failsafe)
    position = NavTrigger(cfg, params) if cfg.navigation.estimator == "ekf" else GpsTrigger(cfg, params)
    return [EstopTrigger(cfg, params), MotorFaultTrigger(cfg, params), MotorLinkTrigger(cfg, params),
            LoopOverrunTrigger(cfg, params), position, FenceTrigger(cfg, params),
            ObstacleTrigger(cfg, params), StaleSensorTrigger(cfg, params, "lidar"),
            StaleSensorTrigger(cfg, params, "camera"), BatteryTrigger(cfg, params, "critical"),
            BatteryTrigger(cfg, params, "low"), GcsLinkTrigger(cfg, params)]
