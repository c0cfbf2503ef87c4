"""The simulated vehicle's hardware on ptys: a ``Simulation`` whose motor
controller, GPS and lidar are reachable only through their real byte
protocols."""
from __future__ import annotations

import math
import socket
from pathlib import Path

import numpy as np

from edgepilot.firmware_bridge.gps_nmea import nmea_epoch, parse_udp_url
from edgepilot.firmware_bridge.lidar_ld06 import Ld06Emulator, scan_lookup
from edgepilot.firmware_bridge.motor import DeviceSense, MotorDevice
from edgepilot.sim.hil.ptys import PtyDevice
from edgepilot.sim.simulation import PHYSICS_DT
from edgepilot.vehicle.types import ActuatorCommand


class HilHardware:
    """A ``Simulation`` whose motor controller, GPS and lidar are reachable
    only through their real byte protocols, at the device paths of a vehicle
    config's ``[hardware]`` table.

    ``step(now)`` (``now``: seconds of simulated time, which HIL keeps equal
    to wall time since start) reads what the vehicle sent, advances physics
    under the motor command the emulated board is applying, and sends the
    sensor data that fell due."""

    def __init__(self, sim, hw, utc_start_s: float = 12 * 3600.0):
        if hw is None or hw.wiring != "direct":
            raise ValueError("HIL needs a vehicle config with [hardware] wiring = \"direct\"")
        self.sim = sim
        self.hw = hw
        self.utc0 = utc_start_s
        self.devices: list[PtyDevice] = []
        for p in [hw.motor.port] + ([hw.gps.source] if not hw.gps.source.startswith("udp://") else []) + \
                 ([hw.lidar.port] if hw.lidar else []):
            if "://" in p:
                raise ValueError(f"HIL serves devices on pseudo-terminals: {p!r} must be a file path")
            Path(p).parent.mkdir(parents=True, exist_ok=True)
        self.motor_pty = PtyDevice(hw.motor.port)
        self.devices.append(self.motor_pty)
        self.motor = MotorDevice(self._sense)
        self.gps_pty: PtyDevice | None = None
        self.gps_udp: tuple[socket.socket, tuple[str, int]] | None = None
        if hw.gps.source.startswith("udp://"):
            host, port = parse_udp_url(hw.gps.source)
            self.gps_udp = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM),
                            ("127.0.0.1" if host in ("", "0.0.0.0") else host, port))
        else:
            self.gps_pty = PtyDevice(hw.gps.source)
            self.devices.append(self.gps_pty)
        self.lidar_pty: PtyDevice | None = None
        self.lidar: Ld06Emulator | None = None
        self._scan = None
        if hw.lidar is not None:
            self.lidar_pty = PtyDevice(hw.lidar.port)
            self.devices.append(self.lidar_pty)
            self.lidar = Ld06Emulator(self._lidar_ranges)
            self._mount = math.radians(hw.lidar.mount_yaw_deg)
        self._heading = math.pi / 2 - sim.truth.yaw
        self._enc = [0.0, 0.0]
        self.ticks_per_m = 1000.0

    # -- device-side sensing ---------------------------------------------
    def _sense(self):
        sim = self.sim
        tr = sim.truth
        m = sim.model
        vl, vr = (getattr(m, "vl", 0.0), getattr(m, "vr", 0.0))
        bat = sim.battery
        return DeviceSense(enc_left=int(self._enc[0] * self.ticks_per_m), enc_right=int(self._enc[1] * self.ticks_per_m),
                           speed_left=vl, speed_right=vr, battery_v=bat.voltage, battery_a=0.0,
                           battery_remaining=bat.remaining, heading=self._heading % (2 * math.pi),
                           yaw_rate=tr.yaw_rate)

    def _lidar_ranges(self, sensor_cw):
        if self._scan is None:
            return np.full(len(sensor_cw), np.inf)
        return scan_lookup(self._scan, self._mount)(sensor_cw)

    # -- one step ----------------------------------------------------------
    def step(self, now: float) -> None:
        sim = self.sim
        self.motor.receive(self.motor_pty.read(), now)
        tx = bytearray()
        while sim.t + PHYSICS_DT <= now + 1e-9:
            tx += self.motor.tick(sim.t)    # the board's watchdog runs on the same clock as physics
            a = self.motor.applied
            sim.step(PHYSICS_DT, ActuatorCommand(a.left, a.right))
            m = sim.model
            self._enc[0] += getattr(m, "vl", 0.0) * PHYSICS_DT
            self._enc[1] += getattr(m, "vr", 0.0) * PHYSICS_DT
        frame = sim.sensors(sim.t)
        if frame.compass is not None:
            self._heading = math.pi / 2 - frame.compass.yaw
        if getattr(frame, "scan", None) is not None:
            self._scan = frame.scan
        tx += self.motor.tick(sim.t)
        if tx:
            self.motor_pty.write(bytes(tx))
        fix = frame.gps
        if fix is not None:
            data = nmea_epoch(self.utc0 + sim.t, fix.lat, fix.lon, fix.vel_e, fix.vel_n,
                              fix_quality=1 if fix.fix_type >= 3 else 0, satellites=fix.satellites,
                              sigma_m=fix.hacc)
            if self.gps_pty is not None:
                self.gps_pty.write(data)
            else:
                sock, addr = self.gps_udp
                for line in data.split(b"\r\n"):
                    if line:
                        sock.sendto(line + b"\r\n", addr)
        if self.lidar is not None:
            self.lidar_pty.write(self.lidar.tick(sim.t))

    def fds(self) -> list[int]:
        return [d.fileno() for d in self.devices if d.fileno() is not None]

    def close(self) -> None:
        for d in self.devices:
            d.close()
        if self.gps_udp is not None:
            self.gps_udp[0].close()

