"""The vehicle's hardware drivers as the runtime loop sees them: bytes on
serial ports in, ``SensorFrame`` out; the core's ``Setpoint`` in (they are
``SetpointSink``s), motor frames out.

Direct-drive wiring (``[hardware] wiring = "direct"``):
- the motor controller (firmware_bridge.motor) takes setpoints and gives
  encoders, battery and an IMU whose compass heading is the vehicle's heading;
- an NMEA GPS (firmware_bridge.gps_nmea) gives position and velocity;
  a vehicle whose navigation EKF can do without GNSS (``navigation.estimator
  = "ekf"``) may have none, and does not hold when it is lost (whether the
  other sources are good enough is the navigation failsafe's decision);
- an optional LD06/LD19 lidar (firmware_bridge.lidar_ld06) gives scans;
- an optional BNO08x IMU in UART-RVC mode (firmware_bridge.imu_bno08x_rvc)
  gives ``ImuSample``s; with the board's encoder counts they become the
  frame's ``imu`` and ``wheel_ticks`` for the navigation EKF, as the
  simulator gives them (onboard.nav_inputs).

Frames: IMU heading is clockwise from north; the core's yaw is ENU
(counter-clockwise from east), so yaw = pi/2 - heading.  Scans are in the
vehicle frame (x forward, y left).  Times are the runtime's clock (seconds,
``now`` passed in), stamped when the data arrived.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

from edgepilot.firmware_bridge.gps_nmea import NmeaGpsDriver
from edgepilot.firmware_bridge.imu_bno08x_rvc import Bno08xRvcDriver
from edgepilot.firmware_bridge.lidar_ld06 import Ld06Driver, ScanAssembler
from edgepilot.firmware_bridge.motor import Fault, MotorController, Telemetry
from edgepilot.firmware_bridge.serial_port import SerialPort
from edgepilot.onboard.nav_inputs import NavInputs
from edgepilot.vehicle.config import HardwareConfig, VehicleConfig
from edgepilot.vehicle.estimation.measurements import ImuSample
from edgepilot.vehicle.types import ActuatorCommand, CompassReading, GpsFix, LaserScan, SensorFrame, Setpoint


def heading_to_enu_yaw(heading: float) -> float:
    """Compass heading [rad, clockwise from north] -> ENU yaw [rad, CCW from east] in (-pi, pi]."""
    y = math.pi / 2 - heading
    y = (y + math.pi) % (2 * math.pi) - math.pi
    return math.pi if y == -math.pi else y


@dataclass
class DeviceStatus:
    name: str
    port: str
    connected: bool
    required: bool
    detail: str = ""


class DirectDrivers:
    """Motor controller + GPS (+ lidar).  ``poll(now)`` reads everything that
    arrived; ``frame(now)`` hands the core what is new since the last frame;
    ``apply(setpoint, now)`` sends the core's wheel commands (a
    ``SetpointSink``); ``stop()`` zeroes them."""

    #: Telemetry older than this [s of wall time] counts as a lost motor link.
    MOTOR_LINK_TIMEOUT_S = 0.5
    #: No GPS sentence for this long [s of wall time] counts as a lost GPS.
    GPS_TIMEOUT_S = 2.0
    #: IMU samples kept for ``imu_samples()`` when nobody drains them (10 s at 100 Hz).
    IMU_BUFFER = 1000

    def __init__(self, cfg: VehicleConfig, on_event: Callable[[str], None] | None = None,
                 wall: Callable[[], float] = time.monotonic):
        hw = cfg.hardware
        if hw is None or hw.wiring != "direct":
            raise ValueError("DirectDrivers: the vehicle config needs [hardware] wiring = \"direct\"")
        self.cfg = cfg
        self.hw: HardwareConfig = hw
        self.wall = wall
        self.on_event = on_event
        m = hw.motor
        self.motor = MotorController(SerialPort(m.port, m.baud, "motor controller", on_event=on_event, wall=wall),
                                     command_timeout_s=m.command_timeout_s,
                                     telemetry_period_s=1.0 / m.telemetry_hz, wall=wall)
        self.heading_offset = math.radians(m.heading_offset_deg)
        self.gps: NmeaGpsDriver | None = (NmeaGpsDriver(hw.gps.source, hw.gps.baud, on_event=on_event, wall=wall)
                                          if hw.gps is not None else None)
        #: EKF vehicles: GNSS is one source among several, not a required device.
        self.gps_required = cfg.navigation.estimator != "ekf"
        self.lidar: Ld06Driver | None = None
        if hw.lidar is not None:
            lc = cfg.sensors.lidar
            asm = ScanAssembler(beams=lc.beams if lc else 360, fov_deg=lc.fov_deg if lc else 360.0,
                                max_range=lc.max_range if lc else 12.0,
                                mount_yaw=math.radians(hw.lidar.mount_yaw_deg), clockwise=hw.lidar.clockwise)
            self.lidar = Ld06Driver(hw.lidar.port, hw.lidar.baud, asm, on_event=on_event, wall=wall)
        self.imu: Bno08xRvcDriver | None = None
        if hw.imu is not None:
            self.imu = Bno08xRvcDriver(hw.imu.port, hw.imu.baud, math.radians(hw.imu.mount_yaw_deg),
                                       hw.imu.max_gap_s, on_event=on_event, wall=wall)
        self._imu: list[ImuSample] = []
        # The EKF's inputs: IMU samples and encoder counts, as SITL gives them.
        ekf = cfg.navigation.estimator == "ekf"
        enc = cfg.sensors.wheel_encoders
        self.nav: NavInputs | None = None
        if ekf:
            self.nav = (NavInputs(2.0 * math.pi * enc.wheel_radius / enc.ticks_per_rev,
                                  cfg.drive.wheel_max_speed if cfg.drive is not None else cfg.limits.max_speed)
                        if enc is not None else NavInputs())
        self._nav_imu = ekf and cfg.sensors.imu is not None and self.imu is not None
        self._motor_reconnects = 0
        self._gps: GpsFix | None = None
        self._compass: CompassReading | None = None
        self._scan: LaserScan | None = None
        self._gps_wall = -1e9
        self._estopped = False
        self._last_faults = Fault(0)

    # -- start-up -----------------------------------------------------------
    def open(self) -> list[DeviceStatus]:
        """Try every port once; report what was found (missing ones are retried on poll)."""
        self.motor.port.open()
        if self.gps is not None:
            self.gps.open()
        if self.lidar is not None:
            self.lidar.open()
        if self.imu is not None:
            self.imu.open()
        return self.status()

    def status(self) -> list[DeviceStatus]:
        out = [DeviceStatus("motor controller", self.hw.motor.port, self.motor.port.connected, True,
                            self.motor.port.last_error)]
        if self.gps is not None:
            out.append(DeviceStatus("gps", self.hw.gps.source, self.gps.connected, self.gps_required,
                                    getattr(self.gps.port, "last_error", "")))
        if self.lidar is not None:
            out.append(DeviceStatus(f"lidar ({self.hw.lidar.model})", self.hw.lidar.port, self.lidar.connected,
                                    False, self.lidar.port.last_error))
        if self.imu is not None:
            out.append(DeviceStatus(f"imu ({self.hw.imu.model})", self.hw.imu.port, self.imu.connected, False,
                                    self.imu.port.last_error))
        return out

    # -- input --------------------------------------------------------------
    def poll(self, now: float) -> None:
        msgs = self.motor.poll()
        nav = self.nav
        if nav is not None and nav.encoders is not None:
            if self.motor.port.reconnects != self._motor_reconnects:
                self._motor_reconnects = self.motor.port.reconnects
                nav.encoders.reset()          # a re-plugged board may have rebooted unseen
            for m in msgs:
                if isinstance(m, Telemetry):
                    nav.encoders.add(m, now)
        if self.motor.new_imu:
            self.motor.new_imu = False
            imu = self.motor.imu
            self._compass = CompassReading(now, heading_to_enu_yaw(imu.heading + self.heading_offset))
        if self.motor.new_telemetry:
            self.motor.new_telemetry = False
            f = self.motor.telemetry.faults
            new = f & ~self._last_faults & ~(Fault.COMMAND_TIMEOUT | Fault.ESTOP)
            if new and self.on_event:
                self.on_event(f"motor controller fault: {new!r}")
            self._last_faults = f
        fixes = self.gps.poll(now) if self.gps is not None else []
        if fixes:
            self._gps = fixes[-1]
            self._gps_wall = self.wall()
        if self.lidar is not None:
            scans = self.lidar.poll(now)
            if scans:
                self._scan = scans[-1]
        if self.imu is not None:
            samples = self.imu.poll(now)
            if self._nav_imu:
                self.nav.imu.add(samples)
            else:
                self._imu.extend(samples)
                del self._imu[:-self.IMU_BUFFER]

    def frame(self, now: float) -> SensorFrame:
        tel = self.motor.telemetry if self.motor_ok() else None
        extra = self.nav.frame_fields(now, self._nav_imu) if self.nav is not None else {}
        f = SensorFrame(t=now, gps=self._gps, compass=self._compass, scan=self._scan,
                        battery_v=tel.battery_v if tel else None,
                        battery_remaining=tel.battery_remaining if tel else None, **extra)
        self._gps = self._compass = self._scan = None
        return f

    def imu_samples(self) -> list[ImuSample]:
        """The IMU samples received since the last call, oldest first
        (``imu_bno08x_rvc.samples_array`` makes the EKF's batch of them),
        for a vehicle without the EKF; an EKF vehicle's samples go to the
        core in the frame's ``imu`` instead (this is then empty)."""
        out, self._imu = self._imu, []
        return out

    def motor_ok(self) -> bool:
        return self.motor.link_ok(self.MOTOR_LINK_TIMEOUT_S)

    def gps_ok(self) -> bool:
        return (self.gps is not None and self.gps.connected
                and self.wall() - self._gps_wall <= self.GPS_TIMEOUT_S)

    def required_ok(self) -> bool:
        """Motor link and (unless the EKF navigates without it) GPS alive:
        safe to follow the core's commands."""
        return not self.missing()

    def missing(self) -> list[str]:
        """Required devices that are not alive, in an operator's words."""
        need = [("motor link", self.motor_ok())]
        if self.gps_required:
            need.append(("GPS", self.gps_ok()))
        return [n for n, good in need if not good]

    def origin_fix(self) -> tuple[float, float] | None:
        """The first 3-D fix's position (the map origin when none was given)."""
        if self.gps is None:
            return None
        fix = self.gps.last_fix
        if fix is not None and fix.fix_type >= 3:
            return fix.lat, fix.lon
        return None

    # -- output -------------------------------------------------------------
    def apply(self, setpoint: Setpoint, now: float) -> None:
        """The core's setpoint to the wheels.  A direct-drive vehicle runs
        the core's own controller: a target setpoint (meant for an external
        autopilot) is a stop here."""
        self.command(setpoint.command)

    def stop(self) -> None:
        self.stop_motors()

    def actions(self) -> list:
        """Requests for the core (none: the motor board obeys or faults,
        and its faults reach the core in the sensor frame)."""
        return []

    def command(self, cmd: ActuatorCommand) -> None:
        if cmd.estop:
            if not self._estopped:
                self.motor.estop(True)
                self._estopped = True
            return
        if self._estopped:
            self.motor.estop(False)
            self._estopped = False
        self.motor.send_setpoint(cmd.left, cmd.right)

    def stop_motors(self, repeats: int = 3) -> None:
        """Zero setpoints (repeated: a frame may be lost); the device's
        watchdog keeps them stopped once we go quiet."""
        for _ in range(repeats):
            self.motor.send_setpoint(0.0, 0.0)

    def counters(self) -> dict:
        d = {"motor_rx_ok": self.motor.decoder.stats.frames_ok, "motor_rx_dropped": self.motor.decoder.stats.dropped,
             "motor_tx": self.motor.tx.frames, "motor_disconnects": self.motor.port.disconnects}
        if self.gps is not None:
            d.update(gps_fixes=self.gps.stats.fixes, gps_dropped=self.gps.stats.dropped,
                     gps_disconnects=getattr(self.gps.port, "disconnects", 0))
        if self.lidar is not None:
            d.update(lidar_scans=self.lidar.stats.scans, lidar_dropped=self.lidar.stats.dropped,
                     lidar_disconnects=self.lidar.port.disconnects)
        if self.imu is not None:
            d.update(imu_samples=self.imu.stats.samples, imu_dropped=self.imu.stats.dropped,
                     imu_missed=self.imu.stats.missed, imu_disconnects=self.imu.port.disconnects)
        if self.nav is not None:
            n = self.nav.stats
            d.update(nav_imu_samples=n.imu_out, nav_imu_nonfinite=n.nonfinite, nav_imu_stale=n.stale,
                     nav_imu_overflow=n.overflow)
            if self.nav.encoders is not None:
                d.update(nav_odometry_frames=n.telemetry, nav_odometry_duplicates=n.duplicates,
                         nav_odometry_restarts=n.restarts, nav_odometry_reboots=n.reboots,
                         nav_odometry_implausible=n.implausible, nav_odometry_reanchored=n.skew_resets)
        return d

    def fds(self) -> list[int]:
        out = [self.motor.port.fileno()]
        if self.gps is not None:
            out.append(self.gps.fileno())
        if self.lidar is not None:
            out.append(self.lidar.fileno())
        if self.imu is not None:
            out.append(self.imu.fileno())
        return [f for f in out if f is not None]

    def close(self) -> None:
        self.motor.close()
        if self.gps is not None:
            self.gps.close()
        if self.lidar is not None:
            self.lidar.close()
        if self.imu is not None:
            self.imu.close()
