"""Host driver and device emulator talking over a real pseudo-terminal:
setpoints, telemetry, the command watchdog, e-stop, garbage on the line and
an unplugged/re-plugged device."""
from __future__ import annotations

import os
import time

import pytest

from edgepilot.firmware_bridge.motor import DeviceSense, DeviceState, Fault, MotorController, MotorDevice, Setpoint
from edgepilot.firmware_bridge.serial_port import SerialPort
from edgepilot.sim.hil import PtyDevice
from tests.hw_util import pump_until


class Rig:
    def __init__(self, tmp_path, timeout_s=0.15):
        self.pty = PtyDevice(tmp_path / "ttyMOTOR")
        self.sense = DeviceSense(enc_left=100, enc_right=-50, speed_left=0.4, speed_right=0.5, battery_v=24.1,
                                 battery_a=2.5, battery_remaining=0.8, heading=1.0, yaw_rate=0.2)
        self.dev = MotorDevice(lambda: self.sense)
        self.events = []
        self.port = SerialPort(self.pty.path, 115200, "motor", reopen_interval=0.05, on_event=self.events.append)
        self.host = MotorController(self.port, command_timeout_s=timeout_s, telemetry_period_s=0.01)
        self.t0 = time.monotonic()

    def step(self, now):
        self.dev.receive(self.pty.read(), now - self.t0)
        self.pty.write(self.dev.tick(now - self.t0))
        self.host.poll()

    def pump(self, cond, timeout=3.0):
        return pump_until(cond, self.step, [self.pty.fileno, self.port.fileno], timeout)

    def close(self):
        self.host.close()
        self.pty.close()


@pytest.fixture
def rig(tmp_path):
    r = Rig(tmp_path)
    yield r
    r.close()


def test_config_setpoint_and_telemetry_cross_the_pty(rig):
    assert rig.host.send_setpoint(0.5, -0.25)
    assert rig.pump(lambda: rig.dev.applied == Setpoint(0.5, -0.25) and rig.host.telemetry is not None
                    and rig.host.imu is not None)
    assert rig.dev.configs == 1 and rig.dev.command_timeout_s == pytest.approx(0.15)
    assert rig.dev.state == DeviceState.RUNNING
    assert rig.pump(lambda: rig.host.telemetry.state == DeviceState.RUNNING)
    tel = rig.host.telemetry
    assert (tel.enc_left, tel.enc_right) == (100, -50)
    assert tel.battery_v == pytest.approx(24.1) and tel.battery_remaining == pytest.approx(0.8)
    assert rig.host.imu.heading == pytest.approx(1.0, abs=2e-4)
    assert rig.host.decoder.stats.dropped == 0
    assert rig.host.link_ok()


def test_device_stops_motors_when_commands_stop(rig):
    # The device starts its watchdog when the setpoint arrives, which is after
    # this instant: time measured from here can only overstate the wait, so
    # the lower bound below holds however slowly a loaded machine pumps.
    t_last = time.monotonic()
    rig.host.send_setpoint(0.8, 0.8)
    assert rig.pump(lambda: rig.dev.applied == Setpoint(0.8, 0.8))
    # Heartbeats keep flowing (poll sends them) but no setpoints: the watchdog must fire.
    assert rig.pump(lambda: rig.dev.applied == Setpoint(0.0, 0.0))
    waited = time.monotonic() - t_last
    assert waited >= 0.15 - 0.01
    assert rig.dev.timeouts == 1 and rig.dev.state == DeviceState.IDLE
    assert rig.pump(lambda: Fault.COMMAND_TIMEOUT in rig.host.telemetry.faults)
    # A new setpoint resumes motion and clears the flag.
    rig.host.send_setpoint(0.2, 0.2)
    assert rig.pump(lambda: rig.dev.applied == Setpoint(0.2, 0.2))
    assert rig.pump(lambda: Fault.COMMAND_TIMEOUT not in rig.host.telemetry.faults)


def test_estop_latches_until_released(rig):
    rig.host.send_setpoint(0.6, 0.6)
    assert rig.pump(lambda: rig.dev.applied == Setpoint(0.6, 0.6))
    rig.host.estop(True)
    rig.host.send_setpoint(0.6, 0.6)       # ignored while latched
    assert rig.pump(lambda: rig.host.telemetry is not None and rig.host.telemetry.state == DeviceState.ESTOP)
    assert rig.dev.applied == Setpoint(0.0, 0.0)
    assert Fault.ESTOP in rig.host.telemetry.faults
    rig.host.estop(False)
    assert rig.pump(lambda: rig.dev.state == DeviceState.IDLE)
    assert rig.dev.applied == Setpoint(0.0, 0.0)   # release alone does not move the motors
    rig.host.send_setpoint(0.1, 0.1)
    assert rig.pump(lambda: rig.dev.applied == Setpoint(0.1, 0.1))


def test_line_noise_is_counted_and_service_continues(rig):
    rig.host.send_setpoint(0.3, 0.3)
    assert rig.pump(lambda: rig.host.telemetry is not None)
    before = rig.host.decoder.stats.frames_ok
    # Garbage from the device side of the wire.
    rig.pty.write(os.urandom(500) + b"\x00\x07\x07\x07\x00")
    assert rig.pump(lambda: rig.host.decoder.stats.dropped >= 1 and rig.host.decoder.stats.frames_ok > before + 10)
    # And garbage towards the device: it drops it and keeps obeying setpoints.
    rig.port.write(b"\x05\x01\x02\x00" + bytes(range(1, 120)) + b"\x00")
    rig.host.send_setpoint(-0.4, 0.4)
    assert rig.pump(lambda: rig.dev.applied == Setpoint(-0.4, 0.4))
    assert rig.dev.rx_bad >= 2
    assert rig.pump(lambda: rig.host.telemetry.rx_bad >= 2)


def test_unplug_is_reported_and_the_device_reconnects(rig):
    rig.host.send_setpoint(0.3, 0.3)
    assert rig.pump(lambda: rig.host.telemetry is not None)
    rig.pty.unplug()
    assert rig.pump(lambda: not rig.port.connected, timeout=2)
    assert rig.port.disconnects == 1
    assert any("disconnected" in e for e in rig.events)
    assert not rig.host.link_ok(max_age_s=0.05) or not rig.port.connected
    rig.pty.plug()
    rig.dev = MotorDevice(lambda: rig.sense)        # a re-plugged board boots afresh
    assert rig.pump(lambda: rig.port.connected and rig.dev.configs == 1, timeout=3)
    assert any("reconnected" in e for e in rig.events)
    rig.host.send_setpoint(0.25, 0.25)
    assert rig.pump(lambda: rig.dev.applied == Setpoint(0.25, 0.25))
