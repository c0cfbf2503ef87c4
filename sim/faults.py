"""Fault injection, declared in scenario files as ``[[faults]]`` tables.

Every fault has ``type``, ``start_s`` and ``duration_s`` (simulated
seconds), its own parameters, and an ``[faults.expect]`` table saying what
the vehicle must do: the failsafe ``action`` (NONE, HOLD, RTL, STOP,
ARM_REFUSED), optionally the ``trigger`` that takes it, reaction-time
bounds (fault onset -> failsafe, simulated seconds), how soon the motors
must be stopped, and whether the interrupted mission must ``resume``.

The injector sits between the simulated hardware and the vehicle core:
sensors (GPS, lidar, camera, battery), the motor controller's serial link,
the ground-station link (in lockstep: GCS heartbeats delivered to the core
or not), the control loop itself (a stall) and the environment (current,
moving targets).  Randomness comes from the scenario's seeded generator.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Annotated, Literal, Union

import numpy as np
from pydantic import Field

from edgepilot.sim.motor_link import SimMotorLink
from edgepilot.vehicle.config import ConfigError, Strict
from edgepilot.vehicle.safety.geofence import Fence, FenceZoneSpec, specs_to_items
from edgepilot.vehicle.types import ActuatorCommand, Event, GpsFix, Mode, SensorFrame, Setpoint

XY = tuple[float, float]
_NO_CIRCLES = np.zeros((0, 3), np.float64)
_NO_CIRCLES.flags.writeable = False
GCS_HEARTBEAT_S = 1.0


class Expect(Strict):
    action: Literal["NONE", "HOLD", "RTL", "STOP", "ARM_REFUSED"] = "NONE"
    trigger: str | None = None
    max_reaction_s: float | None = Field(default=None, gt=0)
    min_reaction_s: float | None = Field(default=None, ge=0)
    motors_stopped_within_s: float | None = Field(default=None, gt=0)
    resume: bool = False


class _Fault(Strict):
    start_s: float = Field(ge=0, description="fault begins [s of simulated time]")
    duration_s: float = Field(gt=0, description="fault lasts [s]")
    expect: Expect = Expect()
    operator_rearm_after_s: float | None = Field(
        default=None, gt=0, description="a simulated operator clears any e-stop, re-arms and restarts AUTO "
                                        "this long after the fault starts (for failsafes that need an operator)")

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    def active(self, t: float) -> bool:
        return self.start_s <= t < self.end_s


class GpsDropout(_Fault):
    type: Literal["gps_dropout"]
    mode: Literal["no_fix", "silent"] = "no_fix"


class GpsDrift(_Fault):
    type: Literal["gps_drift"]
    rate_m_s: float = Field(gt=0, description="drift speed of the reported position [m/s]")
    direction_deg: float = Field(default=90.0, description="drift direction, ENU degrees CCW from east")
    hacc_per_m: float = Field(default=1.0, ge=0, description="reported accuracy grows this much per m of drift")


class GpsDegraded(_Fault):
    type: Literal["gps_degraded"]
    hacc_m: float = Field(gt=0, description="reported horizontal accuracy during the fault [m]")


class GpsJamming(_Fault):
    """Jamming: the receiver loses its fix (``mode='loss'``) or keeps one
    with collapsing satellites and accuracy (``mode='degraded'``: over
    ``ramp_s`` the satellites fall to ``satellites`` and the reported and
    the real error grow to ``hacc_m``; below 4 satellites the fix is 2-D)."""

    type: Literal["gps_jamming"]
    mode: Literal["loss", "degraded"] = "loss"
    satellites: int = Field(default=4, ge=0, description="satellites left at full jamming (degraded)")
    hacc_m: float = Field(default=8.0, gt=0, description="1-sigma error at full jamming (degraded) [m]")
    ramp_s: float = Field(default=0.0, ge=0, description="time to reach full jamming [s]")


class GpsSpoofing(_Fault):
    """Spoofing: the reported position is dragged smoothly away at
    ``rate_m_s`` (reached over ``ramp_s``) in ``direction_deg``; the reported
    velocity carries the drag too and the accuracy and satellites stay as
    good as ever -- the receiver is fooled, so nothing in the fix says so."""

    type: Literal["gps_spoofing"]
    rate_m_s: float = Field(gt=0, description="drag speed of the reported position [m/s]")
    direction_deg: float = Field(default=90.0, description="drag direction, ENU degrees CCW from east")
    ramp_s: float = Field(default=5.0, ge=0, description="time for the drag to reach its speed [s]")

    def offset(self, t: float) -> tuple[float, float, float]:
        """(offset along the drag [m], drag speed [m/s], direction [rad]) at time t."""
        tau = max(0.0, t - self.start_s)
        if self.ramp_s > 0 and tau < self.ramp_s:
            d, v = 0.5 * self.rate_m_s * tau * tau / self.ramp_s, self.rate_m_s * tau / self.ramp_s
        else:
            d, v = self.rate_m_s * (tau - 0.5 * self.ramp_s), self.rate_m_s
        return d, v, math.radians(self.direction_deg)


def jam_fix(f: GpsJamming, now: float, gps: GpsFix | None, frame, rng: np.random.Generator) -> GpsFix | None:
    """What a receiver under ``f`` reports instead of ``gps`` (None stays None)."""
    if gps is None:
        return None
    if f.mode == "loss":
        return GpsFix(now, 0.0, 0.0, 0, 0, 99.0)
    k = 1.0 if f.ramp_s <= 0 else min(1.0, (now - f.start_s) / f.ramp_s)
    sats = int(round(gps.satellites + k * (f.satellites - gps.satellites)))
    hacc = gps.hacc + k * (f.hacc_m - gps.hacc)
    if sats < 3:
        return GpsFix(now, 0.0, 0.0, 1, sats, 99.0)
    extra = math.sqrt(max(hacc * hacc - gps.hacc * gps.hacc, 0.0))
    n = rng.standard_normal(2) * extra
    x, y = frame.to_local(gps.lat, gps.lon)
    lat, lon = frame.to_geo(x + n[0], y + n[1])
    return GpsFix(gps.t, lat, lon, 2 if sats < 4 else gps.fix_type, sats, hacc, gps.vel_e, gps.vel_n)


def spoof_fix(f: GpsSpoofing, now: float, gps: GpsFix | None, frame) -> GpsFix | None:
    """The fix a receiver captured by the spoofer ``f`` reports: position and
    velocity dragged, accuracy and satellites untouched."""
    if gps is None or gps.fix_type < 2:
        return gps
    d, v, a = f.offset(now)
    x, y = frame.to_local(gps.lat, gps.lon)
    lat, lon = frame.to_geo(x + d * math.cos(a), y + d * math.sin(a))
    return GpsFix(gps.t, lat, lon, gps.fix_type, gps.satellites, gps.hacc,
                  gps.vel_e + v * math.cos(a), gps.vel_n + v * math.sin(a))


class GcsLinkLoss(_Fault):
    type: Literal["gcs_link_loss"]


class MavlinkDegraded(_Fault):
    type: Literal["mavlink_degraded"]
    loss: float = Field(ge=0, le=1, description="fraction of GCS packets lost")
    latency_s: float = Field(default=0.0, ge=0, description="delivery delay of the rest [s]")


class SerialCorruption(_Fault):
    type: Literal["serial_corruption"]
    rate: float = Field(gt=0, le=1, description="fraction of motor-link frames failing CRC, both directions")


class MotorLinkLoss(_Fault):
    type: Literal["motor_link_loss"]


class LidarBlackout(_Fault):
    type: Literal["lidar_blackout"]


class CameraBlackout(_Fault):
    type: Literal["camera_blackout"]


class MotorFailure(_Fault):
    type: Literal["motor_failure"]
    side: Literal["left", "right"]


class BatteryDrain(_Fault):
    type: Literal["battery_drain"]
    rate_pct_per_s: float = Field(gt=0, le=100, description="extra drain, percent of capacity per second")


class CurrentSurge(_Fault):
    type: Literal["current_surge"]
    current: XY = Field(description="water current added during the surge, ENU [m/s]")


class Crossing(_Fault):
    type: Literal["crossing"]
    kind: Literal["person", "vessel"] = "person"
    start: XY = Field(description="target position at start_s, map frame [m]")
    velocity: XY = Field(description="target velocity, map frame [m/s]")
    radius: float = Field(default=0.3, gt=0, description="[m]")
    name: str | None = Field(default=None, max_length=32, description="who walks (reports and criteria)")
    color: Literal["red", "orange", "yellow", "green"] | None = Field(
        default=None, description="what the camera sees: an upright of this colour (a high-visibility vest); "
                                  "None: the camera does not see it (the lidar does)")
    height: float = Field(default=1.7, gt=0, description="[m], for the camera")


class Estop(_Fault):
    type: Literal["estop"]
    source: Literal["mavlink", "serial"] = "mavlink"


class LoopStall(_Fault):
    type: Literal["loop_stall"]


class FenceUpload(_Fault):
    """Not a failure but an operator action: a fence uploaded mid-run (and
    FENCE_ENABLE set) that the vehicle's current leg would cross."""

    type: Literal["fence_upload"]
    zones: list[FenceZoneSpec] = Field(min_length=1, description="zones in map-frame metres")


class Kidnap(_Fault):
    """The kidnapped vehicle: lifted at ``start_s`` and set down at ``to``
    facing ``yaw_deg`` (the wheels do not turn, the IMU sees nothing a
    navigation filter could integrate).  Meant while disarmed; the run's
    ``criteria.relocalize_before_arming`` judges the localizer."""

    type: Literal["kidnap"]
    to: XY = Field(description="where it is set down, map-frame [m]")
    yaw_deg: float = Field(default=0.0, description="heading it is set down with, ENU degrees")


FAULT_CLASSES = (GpsDropout, GpsDrift, GpsDegraded, GpsJamming, GpsSpoofing, GcsLinkLoss, MavlinkDegraded, SerialCorruption,
                 MotorLinkLoss, LidarBlackout, CameraBlackout, MotorFailure, BatteryDrain, CurrentSurge,
                 Crossing, Estop, LoopStall, FenceUpload, Kidnap)
Fault = Annotated[Union[FAULT_CLASSES], Field(discriminator="type")]
FAULT_TYPES = sorted(c.model_fields["type"].annotation.__args__[0] for c in FAULT_CLASSES)


@dataclass
class FaultOutcome:
    """What happened for one fault, for the summary and the closing table."""

    fault: str
    start_s: float
    onset_s: float | None
    expected: str
    trigger: str | None = None
    action: str | None = None
    reaction_s: float | None = None
    motors_stopped_s: float | None = None
    resumed: bool = False
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        r = lambda v: None if v is None else round(v, 3)  # noqa: E731
        return {"fault": self.fault, "start_s": r(self.start_s), "onset_s": r(self.onset_s),
                "expected": self.expected, "trigger": self.trigger, "action": self.action,
                "reaction_s": r(self.reaction_s), "motors_stopped_s": r(self.motors_stopped_s),
                "resumed": self.resumed, "ok": not self.problems}


class FaultInjector:
    """Applies a scenario's faults to one Simulation and judges the outcome."""

    def __init__(self, scenario, sim):
        self.faults: list = list(scenario.faults)
        self.sim = sim
        self.rng = sim.rng.spawn(1)[0]
        self.motor = SimMotorLink(self.rng)
        self.core = None
        self.param_overrides = dict(getattr(scenario, "params", {}) or {})
        fence_specs = list(getattr(scenario, "fence", []) or [])
        self.fence_items = specs_to_items(fence_specs, sim.frame.to_geo) if fence_specs else []
        self.fence = Fence.from_items(self.fence_items, sim.frame) if self.fence_items else None
        self.onset: dict[int, float] = {i: f.start_s for i, f in enumerate(self.faults)
                                        if f.type not in ("battery_drain", "gps_drift")}
        self.motor_stop: dict[int, float] = {}
        self.target_collisions: list[tuple[float, str]] = []
        self._next_hb = 0.0
        self._hb_queue: list[float] = []
        self._rearm: dict[int, float] = {}
        self._last_sent = None
        self._kidnapped: set[int] = set()

    # ------------------------------------------------------------ queries
    def _active(self, t: float, *types: str):
        if not self.faults:          # the common run: no faults (called several times a physics step)
            return []
        return [f for f in self.faults if f.type in types and f.active(t)]

    def core_stalled(self, t: float) -> bool:
        return bool(self.faults) and bool(self._active(t, "loop_stall"))

    def dynamic_circles(self, t: float) -> np.ndarray:
        if not self.faults:
            return _NO_CIRCLES
        out = [(f.start[0] + f.velocity[0] * (t - f.start_s), f.start[1] + f.velocity[1] * (t - f.start_s),
                f.radius) for f in self._active(t, "crossing")]
        return np.array(out, dtype=np.float64).reshape(-1, 3)

    def crossings(self, t: float) -> list[tuple[int, object, float, float]]:
        """(index, fault, x, y) of every crossing target on its way at ``t`` [s, m]."""
        return [(k, f, f.start[0] + f.velocity[0] * (t - f.start_s), f.start[1] + f.velocity[1] * (t - f.start_s))
                for k, f in enumerate(self.faults) if f.type == "crossing" and f.active(t)]

    def people(self, t: float) -> list[tuple[str, float, float]]:
        """(name, x, y) of every walking person at ``t`` (truth, for reports)."""
        return [(f.name or f"person{k}", x, y) for k, f, x, y in self.crossings(t) if f.kind == "person"]

    def current(self, t: float, base: XY) -> XY:
        if not self.faults:
            return base
        cx, cy = base
        for f in self._active(t, "current_surge"):
            cx, cy = cx + f.current[0], cy + f.current[1]
        return cx, cy

    # ------------------------------------------------------------ core side
    def configure_core(self, core) -> None:
        """Scenario parameters and fence into a freshly made core."""
        self.core = core
        for name, value in self.param_overrides.items():
            if name not in core.params:
                raise ConfigError(f"{self.sim.scenario.source}: params.{name}: unknown parameter")
            res = core.params.set(name, value)
            if not res.ok:
                raise ConfigError(f"{self.sim.scenario.source}: params.{name}: {res.reason}")
        if self.fence_items:
            res = core.set_fence(self.fence_items)
            if not res.ok:
                raise ConfigError(f"{self.sim.scenario.source}: fence: {res.reason}")
            if "FENCE_ENABLE" not in self.param_overrides:
                core.params.set("FENCE_ENABLE", 1.0)

    def operate(self, t: float, core) -> Setpoint | None:
        """Once per physics step: the ground station and operator side.
        Returns the core's setpoint when it must reach the motors now (an
        e-stop takes effect at once), else None."""
        if self._hb_queue or t + 1e-9 >= self._next_hb:    # (``_gcs`` has nothing to do otherwise)
            self._gcs(t, core)
        if not self.faults:          # nothing to operate, nothing to re-arm (only faults schedule that)
            return None
        out = None
        for i, f in enumerate(self.faults):
            if f.type == "fence_upload" and i not in self._rearm and t >= f.start_s:
                items = specs_to_items(list(f.zones), self.sim.frame.to_geo)
                core.set_fence(items)
                core.params.set("FENCE_ENABLE", 1.0)
                self.fence = Fence.from_items(items, self.sim.frame)
                self._rearm[i] = math.inf
            elif f.type == "estop" and f.source == "mavlink" and i not in self._rearm and t >= f.start_s:
                core.estop(t, "MAVLink command")
                out = core.last_setpoint
                self._rearm[i] = f.start_s + (f.operator_rearm_after_s or math.inf)
            elif f.operator_rearm_after_s is not None and i not in self._rearm and t >= f.start_s:
                self._rearm[i] = f.start_s + f.operator_rearm_after_s
        for i, due in list(self._rearm.items()):
            if t >= due:
                core.clear_estop(t)
                if core.arm(t).ok:
                    core.set_mode(t, Mode.AUTO)
                    self._rearm[i] = math.inf
                else:
                    self._rearm[i] = t + 1.0   # an operator tries again a second later
        return out

    def _gcs(self, t: float, core) -> None:
        if t + 1e-9 >= self._next_hb:
            self._next_hb += GCS_HEARTBEAT_S
            if not self._active(t, "gcs_link_loss"):
                deg = self._active(t, "mavlink_degraded")
                loss = max((f.loss for f in deg), default=0.0)
                lat = max((f.latency_s for f in deg), default=0.0)
                if not (loss > 0 and self.rng.random() < loss):
                    self._hb_queue.append(t + lat)
        while self._hb_queue and self._hb_queue[0] <= t + 1e-9:
            self._hb_queue.pop(0)
            core.gcs_heartbeat(t)

    # ------------------------------------------------------------ hardware side
    def actuate(self, t: float, cmd: ActuatorCommand) -> ActuatorCommand:
        """Command frames over the motor link; returns what the motors get."""
        m = self.motor
        if not self.faults:        # no fault: a clean link, nothing to time (the same as below)
            return m.clean(t, cmd)
        m.estop_input = any(f.source == "serial" for f in self._active(t, "estop"))
        dead = self._active(t, "motor_failure")
        m.dead_side = dead[0].side if dead else None
        m.fault = f"{dead[0].side} motor not turning (stalled)" if dead else ""
        blocked = bool(self._active(t, "motor_link_loss", "loop_stall"))
        corrupt = max((f.rate for f in self._active(t, "serial_corruption")), default=0.0)
        m.receive(t, cmd, blocked, corrupt)
        out = m.output(t)
        if out.estop or (out.left == 0.0 and out.right == 0.0):
            for i, f in enumerate(self.faults):
                on = self.onset.get(i)
                if on is not None and i not in self.motor_stop and t >= on - 1e-9:
                    self.motor_stop[i] = t - on
        return out

    def after_step(self, t: float) -> None:
        """Onsets that depend on the world, and moving-target collisions."""
        if not self.faults:
            return
        for i, f in enumerate(self.faults):
            if f.type == "kidnap" and i not in self._kidnapped and t >= f.start_s:
                self._kidnapped.add(i)
                self.sim.teleport(f.to[0], f.to[1], math.radians(f.yaw_deg))
            if i in self.onset:
                continue
            if f.type == "battery_drain" and self.core is not None:
                level = "BATT_CRT_PCT" if f.expect.trigger == "battery_critical" else "BATT_LOW_PCT"
                if 100.0 * self.sim.battery.remaining <= self.core.params.get(level):
                    self.onset[i] = t
            elif f.type == "gps_drift" and self.core is not None and f.active(t):
                drift = f.rate_m_s * (t - f.start_s)
                if self._drift_hacc(f, drift) > self.core.params.get("FS_GPS_HACC"):
                    self.onset[i] = t
        circles = self.dynamic_circles(t)
        if len(circles):
            tr = self.sim.truth
            g = self.sim.cfg.geometry
            c, s = math.cos(tr.yaw), math.sin(tr.yaw)
            for (cx, cy, rad), f in zip(circles, self._active(t, "crossing")):
                bx, by = c * (cx - tr.x) + s * (cy - tr.y), -s * (cx - tr.x) + c * (cy - tr.y)
                qx = max(abs(bx) - 0.5 * g.length, 0.0)
                qy = max(abs(by) - 0.5 * g.width, 0.0)
                if math.hypot(qx, qy) < rad and (not self.target_collisions
                                                 or t - self.target_collisions[-1][0] > 1.0):
                    self.target_collisions.append((t, f.kind))

    def _drift_hacc(self, f: GpsDrift, drift: float) -> float:
        return max(self.sim.cfg.sensors.gps.noise_m, 0.05) + f.hacc_per_m * drift

    def sense(self, now: float, frame: SensorFrame) -> SensorFrame:
        """Apply sensor faults to a frame and add the motor telemetry."""
        gps, scan, cam, motor = self.sense_fields(now, frame.gps, frame.scan, frame.camera_t)
        # replace, not rebuild: fields this injector does not know (AIS
        # contacts, camera images, ...) pass through untouched.
        return replace(frame, gps=gps, scan=scan, motor=motor, camera_t=cam)

    def sense_fields(self, now: float, gps: GpsFix | None, scan, camera_t: float | None):
        """What ``sense`` puts in a frame, for the simulator to build it once:
        (gps, scan, camera_t) after the sensor faults active at ``now`` and
        the motor telemetry due."""
        if not self.faults:        # the common run: nothing to alter, a clean link (the same as below)
            return gps, scan, camera_t, self.motor.telemetry(now, False, 0.0)
        if gps is not None:
            for f in self._active(now, "gps_dropout"):
                gps = None if f.mode == "silent" else GpsFix(now, 0.0, 0.0, 0, 0, 99.0)
            for f in self._active(now, "gps_degraded"):
                if gps is not None:
                    gps = GpsFix(gps.t, gps.lat, gps.lon, gps.fix_type, gps.satellites, f.hacc_m,
                                 gps.vel_e, gps.vel_n)
            for f in self._active(now, "gps_drift"):
                if gps is not None and gps.fix_type >= 2:
                    d = f.rate_m_s * (now - f.start_s)
                    a = math.radians(f.direction_deg)
                    x, y = self.sim.frame.to_local(gps.lat, gps.lon)
                    lat, lon = self.sim.frame.to_geo(x + d * math.cos(a), y + d * math.sin(a))
                    gps = GpsFix(gps.t, lat, lon, gps.fix_type, gps.satellites,
                                 max(gps.hacc, self._drift_hacc(f, d)), gps.vel_e, gps.vel_n)
            for f in self._active(now, "gps_jamming"):
                gps = jam_fix(f, now, gps, self.sim.frame, self.rng)
            for f in self._active(now, "gps_spoofing"):
                gps = spoof_fix(f, now, gps, self.sim.frame)
        if self._active(now, "lidar_blackout"):
            scan = None
        if self._active(now, "camera_blackout"):
            camera_t = None
        blocked = bool(self._active(now, "motor_link_loss"))
        corrupt = max((f.rate for f in self._active(now, "serial_corruption")), default=0.0)
        return gps, scan, camera_t, self.motor.telemetry(now, blocked, corrupt)

    def battery_drain_j(self, t: float, dt: float) -> float:
        if not self.faults:
            return 0
        cap = self.sim.battery.capacity_j
        return sum(f.rate_pct_per_s * 0.01 * cap * dt for f in self._active(t, "battery_drain"))

    # ------------------------------------------------------------ judging
    def fence_breaches(self, track: np.ndarray) -> list[float]:
        """Times [s] at which the true footprint crossed the scenario fence."""
        if self.fence is None or not len(track):
            return []
        g = self.sim.cfg.geometry
        hl, hw = 0.5 * g.length, 0.5 * g.width
        a = np.concatenate([np.linspace(-hl, hl, 7), np.linspace(-hl, hl, 7), np.full(5, -hl), np.full(5, hl)])
        b = np.concatenate([np.full(7, -hw), np.full(7, hw), np.linspace(-hw, hw, 5), np.linspace(-hw, hw, 5)])
        t, x, y, yaw = track[:, 0], track[:, 1], track[:, 2], track[:, 3]
        c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
        px = x[:, None] + a[None] * c - b[None] * s
        py = y[:, None] + a[None] * s + b[None] * c
        clr, _ = self.fence.clearance(np.column_stack((px.ravel(), py.ravel())))
        bad = (clr.reshape(px.shape) < 0).any(axis=1)
        return [float(v) for v in t[bad]]

    def evaluate(self, events: list[Event], track: np.ndarray) -> tuple[list[FaultOutcome], list[str]]:
        outcomes: list[FaultOutcome] = []
        reasons: list[str] = []
        trips = [e for e in events if e.kind == "failsafe" and e.data.get("phase") == "trip"]
        for i, f in enumerate(self.faults):
            ex = f.expect
            on = self.onset.get(i)
            out = FaultOutcome(f.type, f.start_s, on, ex.action if not ex.trigger else f"{ex.action} ({ex.trigger})")
            out.motors_stopped_s = self.motor_stop.get(i)
            if ex.action == "NONE":
                # with a trigger, only that failsafe is unexpected (another fault may trip others meanwhile)
                window = [e for e in trips if f.start_s - 1e-9 <= e.t <= f.end_s + 3.0
                          and (ex.trigger is None or e.data.get("trigger") == ex.trigger)]
                if window:
                    out.trigger, out.action = window[0].data.get("trigger"), window[0].data.get("action")
                    out.problems.append(f"unexpected failsafe at {window[0].t:.2f} s: {window[0].text}")
            elif ex.action == "ARM_REFUSED":
                refused = [e for e in events if e.kind == "text" and e.text.startswith("PreArm:")
                           and f.start_s - 1e-9 <= e.t < f.end_s]
                armed = [e for e in events if e.kind == "armed" and e.t >= f.start_s - 1e-9]
                out.action = "ARM_REFUSED" if refused else None
                if not refused:
                    out.problems.append("arming was not refused during the fault")
                if armed and armed[0].t < f.end_s:
                    out.problems.append(f"armed at {armed[0].t:.2f} s while the fault was active")
                if armed:
                    out.reaction_s = armed[0].t - f.end_s
                    out.resumed = True
                if ex.resume and not armed:
                    out.problems.append("never armed after the fault cleared")
                if ex.max_reaction_s is not None and out.reaction_s is not None and out.reaction_s > ex.max_reaction_s:
                    out.problems.append(f"armed {out.reaction_s:.2f} s after the fault cleared "
                                        f"(limit {ex.max_reaction_s:g} s)")
            elif on is None:
                out.problems.append("the fault's condition never arose (onset not reached)")
            else:
                match = [e for e in trips if e.t >= on - 1e-9 and e.data.get("action") == ex.action
                         and (ex.trigger is None or e.data.get("trigger") == ex.trigger)]
                if not match:
                    got = "; ".join(e.text for e in trips if e.t >= on - 1e-9) or "no failsafe"
                    out.problems.append(f"expected {out.expected} after onset at {on:.2f} s, got: {got}")
                else:
                    e = match[0]
                    out.trigger, out.action, out.reaction_s = e.data.get("trigger"), e.data.get("action"), e.t - on
                    if ex.max_reaction_s is not None and out.reaction_s > ex.max_reaction_s + 1e-9:
                        out.problems.append(f"{out.action} after {out.reaction_s:.3f} s (limit {ex.max_reaction_s:g} s)")
                    if ex.min_reaction_s is not None and out.reaction_s < ex.min_reaction_s - 1e-9:
                        out.problems.append(f"{out.action} after {out.reaction_s:.3f} s, sooner than "
                                            f"{ex.min_reaction_s:g} s")
                    resumes = [r for r in events if r.kind == "failsafe" and r.data.get("phase") == "resume"
                               and r.t > e.t]
                    rearmed = [r for r in events if r.kind == "armed" and r.t > e.t]
                    out.resumed = bool(resumes or (f.operator_rearm_after_s and rearmed))
                    if ex.resume and not out.resumed:
                        out.problems.append("the interrupted mission did not resume")
                    if not ex.resume and resumes:
                        out.problems.append(f"resumed at {resumes[0].t:.2f} s although this failsafe needs an operator")
            if ex.motors_stopped_within_s is not None:
                ms = out.motors_stopped_s
                if ms is None or ms > ex.motors_stopped_within_s + 1e-9:
                    out.problems.append(f"motors not stopped within {ex.motors_stopped_within_s:g} s of onset"
                                        + (f" (took {ms:.3f} s)" if ms is not None else ""))
            for p in out.problems:
                reasons.append(f"fault {i + 1} ({f.type} at {f.start_s:g} s): {p}")
            outcomes.append(out)
        for t, kind in self.target_collisions:
            reasons.append(f"collision with the crossing {kind} at {t:.2f} s")
        br = self.fence_breaches(track)
        if br:
            reasons.append(f"fence breached by the footprint at {br[0]:.2f} s ({len(br)} samples outside)")
        return outcomes, reasons
