"""Companion wiring (``[hardware] wiring = "companion"``): the vehicle core
steers an external ArduPilot Rover / PX4 autopilot that owns the motors, GPS
and compass, over one MAVLink link (firmware_bridge.companion).

In:  the autopilot's GLOBAL_POSITION_INT (its fused position, velocity and
     heading) becomes the core's GPS fix and compass reading; GPS_RAW_INT
     gives the fix type, satellites and accuracy; SYS_STATUS the battery.
Out: while the core drives (armed, in AUTO/GUIDED/RTL, with a path), the
     point ``lookahead_m`` ahead along the core's current path goes to the
     autopilot as a GUIDED position setpoint (SET_POSITION_TARGET_GLOBAL_INT),
     streamed at ``setpoint_rate_hz``; when the core holds, the setpoint is
     the position where it started holding.  Arming follows the core: the
     autopilot is put in GUIDED (PX4: OFFBOARD) and armed when the core arms,
     disarmed when it disarms, force-disarmed on an e-stop.
Link loss: no setpoints go out (the autopilot stops at the last one, at most
``lookahead_m`` ahead); ``required_ok`` is False so the onboard process
holds the core; the link reconnects by itself and the vehicle stays in HOLD
until an operator resumes.

Frames: GLOBAL_POSITION_INT heading is clockwise from north; the core's yaw
is ENU (counter-clockwise from east).  Times: ``now`` is the runtime's clock
[s]; link freshness is judged on the wall clock.
"""
from __future__ import annotations

import math
import time
from typing import Callable

from edgepilot.firmware_bridge.companion import CompanionLink
from edgepilot.vehicle.config import VehicleConfig
from edgepilot.onboard.drivers import DeviceStatus, heading_to_enu_yaw
from edgepilot.vehicle.control.target import lookahead_point
from edgepilot.vehicle.types import (ActionKind, ActuatorCommand, CompassReading, GpsFix, Mode, MotionTarget,
                                     SafetyAction, SensorFrame, Setpoint)

#: MAV_RESULT values that mean "the autopilot will do it".
_ACCEPTED = (0, 5)          # ACCEPTED, IN_PROGRESS
_ARM = 400                  # MAV_CMD_COMPONENT_ARM_DISARM
_DRIVING_MODES = (Mode.AUTO, Mode.GUIDED, Mode.RTL)


def lookahead_target(core, lookahead_m: float) -> tuple[float, float] | None:
    """The point ``lookahead_m`` [m] ahead of the core's progress along its
    current path, in the map frame (ENU x, y); None without a path."""
    return lookahead_point(getattr(core, "path", None), float(getattr(core.follower, "s", 0.0)), lookahead_m)


class CompanionDrivers:
    """The autopilot as the runtime loop sees it (the same surface as
    :class:`onboard.drivers.DirectDrivers`): ``poll(now)``, ``frame(now)``,
    ``required_ok()``, and as a ``SetpointSink`` ``apply(setpoint, now)``
    / ``stop()``; ``actions()`` hands back what the core must do about the
    autopilot."""

    #: No GLOBAL_POSITION_INT for this long [wall s] counts as a lost position.
    POSITION_TIMEOUT_S = 1.0
    #: Arm / mode / disarm requests are repeated this often until they hold [wall s].
    RETRY_S = 1.0
    #: An operator's arm fails when the autopilot has not armed within this [wall s].
    ARM_CONFIRM_S = 10.0

    def __init__(self, cfg: VehicleConfig, on_event: Callable[[str], None] | None = None,
                 wall: Callable[[], float] = time.monotonic):
        hw = cfg.hardware
        if hw is None or hw.wiring != "companion" or hw.companion is None:
            raise ValueError("CompanionDrivers: the vehicle config needs [hardware] wiring = \"companion\" "
                             "and a [hardware.companion] table")
        self.cfg = cfg
        self.cc = hw.companion
        self.on_event = on_event
        self.wall = wall
        self.link: CompanionLink | None = None
        self.link_error = ""
        self._next_open = 0.0
        self._open_link()
        self._seen_positions = 0
        self._gps: GpsFix | None = None
        self._compass: CompassReading | None = None
        self._battery = None
        self._was_connected = False
        self._connections = 0
        self._hold_point: tuple[float, float] | None = None
        self._next_setpoint = 0.0
        self._next_arm_try = 0.0
        self._arm_sent = False
        self._speed_sent: float | None = None
        self._recent_texts: list[str] = []
        self._engaged: str | None = None   # "guided" / "hold": seen in that mode and armed under our control
        self._override = False       # someone else took it; wait for an operator to resume
        self._we_armed = False       # we armed it (so we may disarm it; never one a pilot armed)
        self.setpoints = 0           # position setpoints sent
        self.last_setpoint: tuple[float, float] | None = None   # (lat, lon) [deg]
        self.refusals = 0            # arm requests the autopilot refused
        self.last_refusal: tuple[int, str] | None = None   # (MAV_RESULT, reason) of the latest refusal
        self.stops = 0               # zero-velocity targets sent (the core holds, the autopilot not yet in HOLD)
        self._actions: list[SafetyAction] = []
        #: External navigation (firmware_bridge.external_nav): the core's pose to the autopilot's EKF.
        self.ext_nav = None
        self._origin_sent_for = 0    # the link connection the EKF origin was last sent on
        if self.cc.external_nav != "off":
            from edgepilot.firmware_bridge.external_nav import ExternalNavFeed, M as _M

            s = cfg.sensors
            self.ext_nav = ExternalNavFeed(
                self.cc.external_nav, self.cc.external_nav_rate_hz, reset_m=self.cc.external_nav_reset_m,
                yaw_var=math.radians(max(s.compass.noise_deg, 0.5)) ** 2,
                vel_var=max(s.gps.velocity_noise, 0.02) ** 2,
                estimator_type=(_M.MAV_ESTIMATOR_TYPE_LIDAR if s.lidar is not None
                                else _M.MAV_ESTIMATOR_TYPE_GPS_INS), t0=wall())

    def _open_link(self) -> bool:
        """Open the autopilot's port (a serial device may not be there yet:
        retried every ``RETRY_S`` from ``poll``)."""
        if self.link is not None:
            return True
        if self.wall() < self._next_open:
            return False
        self._next_open = self.wall() + self.RETRY_S
        try:
            self.link = CompanionLink(self.cc.autopilot, sysid=self.cfg.mavlink.sysid,
                                      link_timeout_s=self.cc.link_timeout_s, clock=self.wall)
        except OSError as e:      # pyserial's SerialException is an OSError
            if str(e) != self.link_error:
                self.link_error = str(e)
                self._event(f"autopilot: cannot open {self.cc.autopilot}: {e}; retrying")
            return False
        self.link_error = ""
        return True

    def _event(self, text: str) -> None:
        if self.on_event:
            self.on_event(text)

    # -- start-up -----------------------------------------------------------
    def open(self) -> list[DeviceStatus]:
        """Look for the autopilot for up to a second (the process starts
        anyway if it is not there: the link keeps trying)."""
        deadline = self.wall() + 1.0
        while self.link is not None and self.wall() < deadline and not self.link.connected:
            self.link.poll()
            time.sleep(0.02)
        self.poll(0.0)
        return self.status()

    def status(self) -> list[DeviceStatus]:
        link = self.link
        if link is None:
            return [DeviceStatus("autopilot", self.cc.autopilot, False, True, self.link_error)]
        detail = ""
        if link.connected:
            kind = "PX4" if link.is_px4 else "ArduPilot"
            detail = f"{kind} sysid {link.target[0]} compid {link.target[1]}"
        return [DeviceStatus("autopilot", self.cc.autopilot, link.connected, True,
                             detail if link.connected else "no HEARTBEAT yet")]

    # -- input --------------------------------------------------------------
    def poll(self, now: float) -> None:
        if not self._open_link():
            return
        link = self.link
        link.poll()
        if link.connected and not self._was_connected:
            self._connections += 1
            kind = "PX4" if link.is_px4 else "ArduPilot"
            self._event(f"autopilot: {'reconnected' if self._connections > 1 else 'connected'} "
                        f"({kind}, sysid {link.target[0]}) on {self.cc.autopilot}")
            self._arm_sent = False
            self._speed_sent = None
        elif self._was_connected and not link.connected:
            self._event(f"autopilot: disconnected (no HEARTBEAT for {self.cc.link_timeout_s:g} s); "
                        f"holding, retrying {self.cc.autopilot}")
        self._was_connected = link.connected
        for sev, text in link.texts:
            self._recent_texts = (self._recent_texts + [text])[-3:]
            if sev <= 4:     # EMERGENCY..WARNING: the operator should hear it
                self._event(f"autopilot: {text}")
        link.texts.clear()
        if link.positions != self._seen_positions and link.position is not None:
            self._seen_positions = link.positions
            p = link.position
            g = link.gps
            gps_fresh = g is not None and self.wall() - g.t <= 2.0
            fix_type = g.fix_type if gps_fresh else 0
            sats = g.satellites if gps_fresh and g.satellites != 255 else 0
            hacc = g.hacc_m if gps_fresh and math.isfinite(g.hacc_m) else 99.0
            self._gps = GpsFix(now, p.lat, p.lon, fix_type, sats, hacc, vel_e=p.ve, vel_n=p.vn)
            if math.isfinite(p.heading_deg):
                self._compass = CompassReading(now, heading_to_enu_yaw(math.radians(p.heading_deg)))
            elif link.attitude_yaw is not None:
                self._compass = CompassReading(now, heading_to_enu_yaw(link.attitude_yaw))
        if link.battery is not None and link.battery is not self._battery:
            self._battery = link.battery

    def frame(self, now: float) -> SensorFrame:
        b = self._battery
        f = SensorFrame(t=now, gps=self._gps, compass=self._compass,
                        battery_v=b.voltage if b is not None else None,
                        battery_remaining=b.remaining if b is not None else None)
        self._gps = self._compass = None
        return f

    def origin_fix(self) -> tuple[float, float] | None:
        """The autopilot's position once its GPS has a 3-D fix (the map origin
        when none was given)."""
        if self.link is None:
            return None
        p, g = self.link.position, self.link.gps
        if p is None or g is None or g.fix_type < 3:
            return None
        return p.lat, p.lon

    def link_ok(self) -> bool:
        return self.link is not None and self.link.connected

    def position_ok(self) -> bool:
        if self.link is None:
            return False
        p = self.link.position
        return p is not None and self.wall() - p.t <= self.POSITION_TIMEOUT_S

    def required_ok(self) -> bool:
        """Autopilot heard and its position fresh: safe to steer it."""
        return self.link_ok() and self.position_ok()

    def missing(self) -> list[str]:
        if not self.link_ok():
            return ["autopilot link"]
        return [] if self.position_ok() else ["autopilot position"]

    # -- output -------------------------------------------------------------
    def apply(self, setpoint: Setpoint, now: float) -> None:
        """Turn the core's setpoint into autopilot requests (the
        ``SetpointSink`` call, once per control tick).  What the autopilot
        does about it that the core must hear (it refused to arm, someone
        else took it) comes back from :meth:`actions`."""
        sp = setpoint
        link = self.link
        if link is None or not link.connected or link.target is None:
            return          # hold: nothing to send; the link reconnects by itself
        wall = self.wall()
        armed_wanted = sp.armed and not sp.estop and self.required_ok()
        if sp.estop:
            if link.armed and wall >= self._next_arm_try:
                self._next_arm_try = wall + self.RETRY_S
                link.arm(False, force=True)
            return
        if not armed_wanted:
            self._hold_point = None
            self._engaged = None
            if not sp.armed:
                self._override = False
            if not link.armed:
                self._we_armed = False
            elif self._we_armed and wall >= self._next_arm_try and not sp.armed and not self._override:
                self._next_arm_try = wall + self.RETRY_S
                link.arm(False)
            return
        if self._engaged is not None and not (self._in(self._engaged) and link.armed):
            # Someone else took the autopilot (RC mode switch, its own
            # failsafe, a disarm): hold the core and leave the autopilot be.
            was = self._engaged
            self._engaged = None
            self._override = True
            what = ("was disarmed" if not link.armed
                    else f"left {was.upper()} (custom mode {link.custom_mode})")
            reason = f"autopilot {what}: not steering it; vehicle in HOLD until an operator resumes"
            self._event(reason)
            if sp.mode != Mode.HOLD:
                self._actions.append(SafetyAction(ActionKind.HOLD, reason))
            return
        if self._override:
            if sp.mode not in _DRIVING_MODES:
                return
            self._override = False      # an operator resumed: take the autopilot again
        if _ARM in link.acks and self._arm_sent:
            res = link.acks.pop(_ARM)
            self._arm_sent = False
            if res not in _ACCEPTED and not link.armed:
                self.refusals += 1
                texts = "; ".join(self._recent_texts)
                self.last_refusal = (res, f"autopilot refused to arm (MAV_RESULT {res})"
                                          f"{': ' + texts if texts else ''}")
                self._event(f"{self.last_refusal[1]}; disarming")
                self._actions.append(SafetyAction(ActionKind.DISARM, self.last_refusal[1]))
                return
        if sp.mode in _DRIVING_MODES:
            self._drive(sp, wall)
        else:
            self._hold(sp, wall)

    def _drive(self, sp: Setpoint, wall: float) -> None:
        """The core drives: the autopilot in GUIDED (PX4: OFFBOARD), armed,
        fed position setpoints along the core's path."""
        link = self.link
        if not link.in_guided or not link.armed:
            if self._engaged == "hold":
                self._engaged = None        # leaving our own HOLD for GUIDED: not a takeover
            if wall >= self._next_arm_try:
                self._next_arm_try = wall + self.RETRY_S
                if not link.in_guided:
                    if link.is_px4:
                        self._send_setpoint(*self._current_or_hold(sp))   # PX4 wants a stream first
                    link.set_guided()
                else:
                    link.arm(True)
                    self._arm_sent = True
            return
        self._engaged = "guided"
        self._we_armed = True
        speed = sp.target.speed if sp.target is not None else 0.0
        if speed > 0 and speed != self._speed_sent:
            link.change_speed(speed)
            self._speed_sent = speed
        if wall < self._next_setpoint:
            return
        self._next_setpoint = wall + 1.0 / self.cc.setpoint_rate_hz
        self._send_setpoint(*self._target(sp))

    def _hold(self, sp: Setpoint, wall: float) -> None:
        """The core holds (HOLD, LOITER, MANUAL): the autopilot stops in its
        own HOLD mode (PX4: AUTO.LOITER) and stays armed there.  Until it
        reports that mode, zero-velocity targets stop it in GUIDED: a
        position setpoint would have it circle the point."""
        link = self.link
        self._hold_point = None
        if not link.in_hold or not link.armed:
            if self._engaged == "guided":
                self._engaged = None        # leaving GUIDED for our own HOLD: not a takeover
            if link.in_guided and link.armed and wall >= self._next_setpoint:
                self._next_setpoint = wall + 1.0 / self.cc.setpoint_rate_hz
                link.send_velocity_target(0.0, 0.0)
                self.stops += 1
            if wall >= self._next_arm_try:
                self._next_arm_try = wall + self.RETRY_S
                if not link.in_hold:
                    link.set_hold()
                else:
                    link.arm(True)
                    self._arm_sent = True
            return
        self._engaged = "hold"
        self._we_armed = True

    def _in(self, engaged: str) -> bool:
        return self.link.in_guided if engaged == "guided" else self.link.in_hold

    def _current_or_hold(self, sp: Setpoint) -> tuple[float, float]:
        if self._hold_point is None:
            t = sp.target
            self._hold_point = (t.lat, t.lon)
        return self._hold_point

    def _target(self, sp: Setpoint) -> tuple[float, float]:
        t = sp.target
        if t is not None and not t.stop:
            self._hold_point = None
            return t.lat, t.lon
        return self._current_or_hold(sp)

    def _send_setpoint(self, lat: float, lon: float) -> None:
        self.link.send_position_target(lat, lon)
        self.setpoints += 1
        self.last_setpoint = (lat, lon)

    def external_nav(self, now: float, core) -> None:
        """Once a control tick after the core's step: at the configured rate,
        the core's pose estimate to the autopilot's EKF as external
        navigation (ODOMETRY, VISION_POSITION_ESTIMATE or GPS_INPUT), after
        SET_GPS_GLOBAL_ORIGIN at the map origin on each (re)connection."""
        feed, link = self.ext_nav, self.link
        if feed is None or core is None or link is None or not link.connected or link.target is None:
            return
        wall = self.wall()
        if link.connections != self._origin_sent_for and feed.mode != "gps_input":
            self._origin_sent_for = link.connections
            link.set_ekf_origin(core.frame.origin_lat, core.frame.origin_lon)
        if not feed.due(wall):
            return
        msg = feed.message(wall, core.state)
        if msg is not None:
            link.send(msg)

    def actions(self) -> list[SafetyAction]:
        """What the core must do about the autopilot since the last call
        (HOLD after a takeover, DISARM after a refused arm); the onboard
        process applies them with ``VehicleCore.apply_action``."""
        out, self._actions = self._actions, []
        return out

    def arm_waiter(self) -> Callable[[], tuple[bool, int, str] | None]:
        """For an operator's arm that the core accepted: a check that
        answers None while the autopilot has not decided, then (True, 0, "")
        once it is armed under our control, or (False, MAV_RESULT, reason)
        with the autopilot's own reason once it refused."""
        refusals = self.refusals
        deadline = self.wall() + self.ARM_CONFIRM_S

        def check():
            link = self.link
            if self.refusals > refusals and self.last_refusal is not None:
                return False, int(self.last_refusal[0]), self.last_refusal[1]
            if link is not None and link.connected and link.armed and self._engaged is not None:
                return True, 0, ""
            if self.wall() > deadline:
                why = (f"autopilot did not arm within {self.ARM_CONFIRM_S:g} s"
                       + ("" if self.required_ok() else f" ({' and '.join(self.missing())} lost)"))
                self._event(f"{why}; disarming")
                self._actions.append(SafetyAction(ActionKind.DISARM, why))
                return False, 4, why        # MAV_RESULT_FAILED
            return None

        return check

    def stop(self) -> None:
        self.stop_motors()

    # Compatibility with the old call shape ``actuate(now, cmd, core)``: the
    # setpoint is built from the core's attributes the way VehicleCore.step
    # builds it, and the driver's requests are applied to that core.
    def actuate(self, now: float, cmd: ActuatorCommand, core) -> None:
        if core is None:
            sp = Setpoint(now, actuators=ActuatorCommand(0.0, 0.0, cmd.estop))
        elif cmd.estop:
            sp = Setpoint(now, core.armed, core.mode, actuators=cmd)
        else:
            st = core.state
            driving = core.mode in _DRIVING_MODES and core.path is not None and not (cmd.left == 0.0
                                                                                   and cmd.right == 0.0)
            xy = lookahead_target(core, self.cc.lookahead_m) if driving else None
            lat, lon = core.frame.to_geo(*xy) if xy is not None else (st.lat, st.lon)
            x, y = xy if xy is not None else (0.0, 0.0)
            target = MotionTarget(x, y, lat, lon, speed=core.params.get("WP_SPEED"), stop=xy is None)
            sp = Setpoint(now, core.armed, core.mode, target=target)
        self.apply(sp, now)
        for a in self.actions():
            if core is None:
                continue
            if a.kind is ActionKind.HOLD:
                core.set_mode(now, Mode.HOLD)
            elif a.kind is ActionKind.DISARM:
                core.disarm(now, force=True)

    # Direct-drive compatibility: the onboard process calls these on any wiring.
    def command(self, cmd: ActuatorCommand) -> None:
        self.actuate(0.0, cmd, None)

    def stop_motors(self, repeats: int = 3) -> None:
        """On shutdown: the autopilot holds (HOLD mode; it keeps its own
        failsafes) — it is not disarmed under a moving vehicle."""
        link = self.link
        if link is not None and link.connected and link.target is not None:
            for _ in range(repeats):
                link.set_hold()
            link.poll()

    def counters(self) -> dict:
        link = self.link
        out = {"autopilot_connections": link.connections if link else 0,
               "autopilot_positions": link.positions if link else 0,
               "setpoints": self.setpoints, "stops": self.stops, "arm_refusals": self.refusals}
        if self.ext_nav is not None:
            out["external_nav_sent"] = self.ext_nav.sent
            out["external_nav_resets"] = self.ext_nav.resets
        return out

    def fds(self) -> list[int]:
        return self.link.fds() if self.link is not None else []

    def close(self) -> None:
        if self.link is not None:
            self.link.close()
