"""Runtime drivers: what the serial devices say becomes the SensorFrame the
core reads, and ActuatorCommand becomes motor frames (over real ptys)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from edgepilot.firmware_bridge.motor import DeviceState, Setpoint
from edgepilot.sim.hil import HilHardware
from edgepilot.sim.scenario import load_scenario
from edgepilot.sim.simulation import Simulation
from tests.hw_util import hil_config, pump_until
from edgepilot.vehicle.config import load_vehicle_config
from edgepilot.onboard.drivers import DirectDrivers, heading_to_enu_yaw
from edgepilot.vehicle.types import ActuatorCommand, LaserScan

pytestmark = pytest.mark.interop


def test_heading_to_enu_yaw():
    assert heading_to_enu_yaw(0.0) == pytest.approx(math.pi / 2)          # north
    assert heading_to_enu_yaw(math.pi / 2) == pytest.approx(0.0)          # east
    assert heading_to_enu_yaw(math.pi) == pytest.approx(-math.pi / 2)     # south
    assert heading_to_enu_yaw(3 * math.pi / 2) == pytest.approx(math.pi)  # west


def test_frames_and_commands_through_the_drivers(tmp_path):
    cfg = load_vehicle_config(hil_config(tmp_path, lidar=True))
    sc = load_scenario("ugv_hil_short")
    sim = Simulation(sc)
    dev = HilHardware(sim, cfg.hardware)
    n = 360
    dev._scan = LaserScan(0.0, -math.pi, 2 * math.pi / n, 12.0, np.full(n, 4.0, np.float32))
    drv = DirectDrivers(cfg)
    import time

    t0 = time.monotonic()
    frames = []

    def step(wall):
        now = wall - t0          # simulated time = seconds since the test started
        dev.step(now)
        drv.poll(now)
        f = drv.frame(now)
        if f.gps or f.compass or f.scan:
            frames.append(f)

    try:
        found = drv.open()
        assert [s.connected for s in found] == [True, True, True]
        assert pump_until(lambda: any(f.scan is not None for f in frames) and any(f.gps for f in frames)
                          and any(f.compass for f in frames), step, dev.fds() + drv.fds(), timeout=10)
        gps = next(f.gps for f in frames if f.gps)
        lat, lon = sim.frame.to_geo(sim.truth.x, sim.truth.y)
        assert gps.lat == pytest.approx(lat, abs=1e-6) and gps.lon == pytest.approx(lon, abs=1e-6)
        comp = next(f.compass for f in frames if f.compass)
        assert comp.yaw == pytest.approx(sim.truth.yaw, abs=math.radians(5))
        scan = next(f.scan for f in frames if f.scan is not None)
        assert scan.ranges.shape == (cfg.sensors.lidar.beams if cfg.sensors.lidar else 360,)
        assert np.nanmedian(scan.ranges) == pytest.approx(4.0, abs=0.01)
        assert any(f.battery_v and f.battery_v > 20 for f in frames)
        assert drv.required_ok()
        # Bytes queued before the port was opened may start mid-frame (the open
        # flushes the input buffer): at most a frame or two at start, none after.
        start_drops = drv.counters()["motor_rx_dropped"]
        assert start_drops <= 2
        assert dev.motor_pty.tx_dropped == 0
        # Commands: a drive command reaches the board; estop latches; a later command releases it.
        drv.command(ActuatorCommand(0.4, 0.6))
        assert pump_until(lambda: dev.motor.applied == Setpoint(0.4, 0.6), step, dev.fds() + drv.fds())
        drv.command(ActuatorCommand(0.4, 0.6, estop=True))
        assert pump_until(lambda: dev.motor.state == DeviceState.ESTOP, step, dev.fds() + drv.fds())
        assert dev.motor.applied == Setpoint(0.0, 0.0)
        drv.command(ActuatorCommand(0.1, 0.1))
        assert pump_until(lambda: dev.motor.applied == Setpoint(0.1, 0.1), step, dev.fds() + drv.fds())
        c = drv.counters()
        assert drv.motor.decoder.stats.seq_gaps <= 2 and dev.motor_pty.tx_dropped == 0
        assert c["motor_rx_dropped"] == start_drops and c["gps_dropped"] == 0 and c["lidar_scans"] >= 1
    finally:
        drv.close()
        dev.close()
