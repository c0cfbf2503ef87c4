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
from edgepilot.vehicle.types import ActuatorCommand, CompassReading, GpsFix, Mode, SensorFrame

#: MAV_RESULT values that mean "the autopilot will do it".
_ACCEPTED = (0, 5)          # ACCEPTED, IN_PROGRESS
_ARM = 400                  # MAV_CMD_COMPONENT_ARM_DISARM
_DRIVING_MODES = (Mode.AUTO, Mode.GUIDED, Mode.RTL)


def lookahead_target(core, lookahead_m: float) -> tuple[float, float] | None:
    """The point ``lookahead_m`` [m] ahead of the core's progress along its
    current path, in the map frame (ENU x, y); None without a path."""
    path = getattr(core, "path", None)
    if path is None:
        return None
    s = float(getattr(core.follower, "s", 0.0))
    return path.point_at(s + lookahead_m)


class CompanionDrivers:
    """The autopilot as the runtime loop sees it (the same surface as
    :class:`onboard.drivers.DirectDrivers`): ``poll(now)``,
    ``frame(now)``, ``actuate(now, cmd, core)``, ``required_ok()``."""

    #: No GLOBAL_POSITION_INT for this long [wall s] counts as a lost position.
    POSITION_TIMEOUT_S = 1.0
    #: Arm / mode / disarm requests are repeated this often until they hold [wall s].
    RETRY_S = 1.0

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
        self._engaged = False        # the autopilot was seen in GUIDED and armed under our control
        self._override = False       # someone else took it; wait for an operator to resume
        self._we_armed = False       # we armed it (so we may disarm it; never one a pilot armed)
        self.setpoints = 0           # position setpoints sent
        self.last_setpoint: tuple[float, float] | None = None   # (lat, lon) [deg]
        self.refusals = 0            # arm requests the autopilot refused

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
    def actuate(self, now: float, cmd: ActuatorCommand, core) -> None:
        """Turn the core's state and command into autopilot requests.  Call
        once per control tick after ``core.step``; with ``core`` None (no
        origin yet) the autopilot is only kept disarmed."""
        link = self.link
        if link is None or not link.connected or link.target is None:
            return          # hold: nothing to send; the link reconnects by itself
        wall = self.wall()
        armed_wanted = core is not None and core.armed and not cmd.estop and self.required_ok()
        if cmd.estop:
            if link.armed and wall >= self._next_arm_try:
                self._next_arm_try = wall + self.RETRY_S
                link.arm(False, force=True)
            return
        if not armed_wanted:
            self._hold_point = None
            self._engaged = False
            if core is not None and not core.armed:
                self._override = False
            if not link.armed:
                self._we_armed = False
            elif self._we_armed and wall >= self._next_arm_try and (core is None or not core.armed) \
                    and not self._override:
                self._next_arm_try = wall + self.RETRY_S
                link.arm(False)
            return
        if self._engaged and not (link.in_guided and link.armed):
            # Someone else took the autopilot (RC mode switch, its own
            # failsafe, a disarm): hold the core and leave the autopilot be.
            self._engaged = False
            self._override = True
            what = "was disarmed" if not link.armed else f"left GUIDED (custom mode {link.custom_mode})"
            self._event(f"autopilot {what}: not steering it; vehicle in HOLD until an operator resumes")
            if core.mode != Mode.HOLD:
                core.set_mode(now, Mode.HOLD)
            return
        if self._override:
            if core.mode not in _DRIVING_MODES:
                return
            self._override = False      # an operator resumed: take the autopilot again
        # The core is armed: bring the autopilot to GUIDED and armed.
        if _ARM in link.acks and self._arm_sent:
            res = link.acks.pop(_ARM)
            self._arm_sent = False
            if res not in _ACCEPTED and not link.armed:
                self.refusals += 1
                texts = "; ".join(self._recent_texts)
                self._event(f"autopilot refused to arm (MAV_RESULT {res}){': ' + texts if texts else ''}; "
                            f"disarming")
                core.disarm(now, force=True)
                return
        if not link.in_guided or not link.armed:
            if wall >= self._next_arm_try:
                self._next_arm_try = wall + self.RETRY_S
                if not link.in_guided:
                    if link.is_px4:
                        self._send_setpoint(*self._current_or_hold(core))   # PX4 wants a stream first
                    link.set_guided()
                else:
                    link.arm(True)
                    self._arm_sent = True
            return
        self._engaged = self._we_armed = True
        speed = core.params.get("WP_SPEED")
        if speed != self._speed_sent:
            link.change_speed(speed)
            self._speed_sent = speed
        if wall < self._next_setpoint:
            return
        self._next_setpoint = wall + 1.0 / self.cc.setpoint_rate_hz
        self._send_setpoint(*self._target(core, cmd))

    def _driving(self, core, cmd: ActuatorCommand) -> bool:
        return (core.mode in _DRIVING_MODES and core.path is not None
                and not (cmd.left == 0.0 and cmd.right == 0.0))

    def _current_or_hold(self, core) -> tuple[float, float]:
        if self._hold_point is None:
            st = core.state
            self._hold_point = (st.lat, st.lon)
        return self._hold_point

    def _target(self, core, cmd: ActuatorCommand) -> tuple[float, float]:
        if self._driving(core, cmd):
            xy = lookahead_target(core, self.cc.lookahead_m)
            if xy is not None:
                self._hold_point = None
                return core.frame.to_geo(*xy)
        return self._current_or_hold(core)

    def _send_setpoint(self, lat: float, lon: float) -> None:
        self.link.send_position_target(lat, lon)
        self.setpoints += 1
        self.last_setpoint = (lat, lon)

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
        return {"autopilot_connections": link.connections if link else 0,
                "autopilot_positions": link.positions if link else 0,
                "setpoints": self.setpoints, "arm_refusals": self.refusals}

    def fds(self) -> list[int]:
        return self.link.fds() if self.link is not None else []

    def close(self) -> None:
        if self.link is not None:
            self.link.close()
