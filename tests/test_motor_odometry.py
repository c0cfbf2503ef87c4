"""Wheel odometry from the motor board's TELEMETRY (docs/motor_protocol.md,
section 7): wrap-safe counts and device clock, lost frames, a rebooted
board, and a board on a real pty whose counter and clock wrap mid-run."""
from __future__ import annotations

import math
import time

import pytest

from edgepilot.firmware_bridge.motor import DeviceSense, DeviceState, Fault, MotorController, MotorDevice, Telemetry
from edgepilot.firmware_bridge.motor.odometry import TelemetryOdometry
from edgepilot.firmware_bridge.motor.protocol import decode_frame, encode_frame
from edgepilot.firmware_bridge.serial_port import SerialPort
from edgepilot.sim.hil import PtyDevice
from edgepilot.vehicle.estimation.measurements import WheelOdometry, WheelTicks, tick_delta
from tests.hw_util import pump_until

TPR, RADIUS, TRACK = 1000, 0.1, 0.5
M_PER_TICK = 2 * math.pi * RADIUS / TPR


def tel(ms, left, right, faults=Fault(0)):
    t = Telemetry(ms & 0xFFFFFFFF, left, right, 0.0, 0.0, 24.0, 0.0, None, DeviceState.RUNNING, faults, 0, 0)
    # through the wire format: i32 counts and u32 clock wrap there
    return decode_frame(encode_frame(t, 0)[:-1])[1]


def test_tick_delta_is_modulo_2_32():
    assert tick_delta(5, 3) == 2 and tick_delta(-3, 4) == -7
    assert tick_delta(-2**31 + 10, 2**31 - 10) == 20          # wrapped forward
    assert tick_delta(2**31 - 10, -2**31 + 10) == -20         # wrapped backward
    odo = WheelOdometry(TPR, RADIUS, TRACK)
    odo.update(WheelTicks(0.0, 2**31 - 100, 2**31 - 100))
    inc = odo.update(WheelTicks(0.1, -2**31 + 100, -2**31 + 100))
    assert inc.distance == pytest.approx(200 * M_PER_TICK)


def test_counts_and_clock_wrap_and_lost_frames_lose_nothing():
    odo = TelemetryOdometry(TPR, RADIUS, TRACK, max_wheel_speed=2.0)
    ms0, c0 = 2**32 - 500, 2**31 - 700                         # both wrap within the first second
    v = 1.0                                                     # m/s straight ahead
    total = dt = 0.0
    for k in range(100):
        if k % 3 == 1:                                          # a third of the frames lost
            continue
        ms = ms0 + 20 * k
        c = c0 + round(v * 0.02 * k / M_PER_TICK)
        inc = odo.update(tel(ms, c, c))
        if inc is not None:
            total += inc.distance
            dt += inc.dt
            assert inc.speed == pytest.approx(v, rel=0.05) and inc.dyaw == 0
    assert dt == pytest.approx(0.02 * 99) and total == pytest.approx(v * 0.02 * 99, abs=M_PER_TICK)
    assert odo.restarts == odo.implausible == 0


def test_a_rebooted_board_restarts_the_differencing():
    odo = TelemetryOdometry(TPR, RADIUS, TRACK, max_wheel_speed=2.0)
    odo.update(tel(50_000, 40_000, 41_000))
    assert odo.update(tel(50_020, 40_010, 41_010)).distance == pytest.approx(10 * M_PER_TICK)
    assert odo.update(tel(50_020, 40_010, 41_010)) is None and odo.duplicates == 1
    # reboot: clock and counts start again; no increment of -40,000 ticks
    assert odo.update(tel(300, 5, 5)) is None and odo.restarts == 1
    assert odo.update(tel(320, 15, 15)).distance == pytest.approx(10 * M_PER_TICK)
    # the board's watchdog rebooted it and the host saw it only later (clock now beyond the old one)
    assert odo.update(tel(90_000, 3, 3, Fault.WATCHDOG_RESET)) is None and odo.restarts == 2
    assert odo.update(tel(90_020, 13, 13, Fault.WATCHDOG_RESET)).distance == pytest.approx(10 * M_PER_TICK)
    # an unseen reboot during a long unplug: the clock moved on, the counts jumped back
    assert odo.update(tel(95_000, 1_000_000, 1_000_000)) is None and odo.implausible == 1
    assert odo.update(tel(95_020, 1_000_010, 1_000_010)).distance == pytest.approx(10 * M_PER_TICK)
    with pytest.raises(ValueError, match="max_wheel_speed"):
        TelemetryOdometry(TPR, RADIUS, TRACK, max_wheel_speed=0.0)


def test_odometry_from_a_board_on_a_pty_across_both_wraps(tmp_path):
    """The emulated board's clock starts 0.4 s before its u32 wrap and its
    counters 300 ticks before the i32 wrap; turning on the spot and then
    driving, the host's odometry follows the board's truth."""
    clock = {"t": 0.0}
    offset = (2**32 - 400) / 1000.0                             # device seconds at start

    def wheel_travel(t):
        # 0..0.5 s: turn in place (left back, right forward, 0.3 m/s); then 0.4 m/s straight
        a = min(t, 0.5)
        b = max(t - 0.5, 0.0)
        return -0.3 * a + 0.4 * b, 0.3 * a + 0.4 * b

    def sense():
        dl, dr = wheel_travel(clock["t"] - offset)
        return DeviceSense(enc_left=2**31 - 300 + math.floor(dl / M_PER_TICK),
                           enc_right=2**31 - 300 + math.floor(dr / M_PER_TICK))

    pty = PtyDevice(tmp_path / "ttyMOTOR")
    dev = MotorDevice(sense, telemetry_period_s=0.02)
    port = SerialPort(pty.path, 115200, "motor", reopen_interval=0.05)
    host = MotorController(port, command_timeout_s=5.0, telemetry_period_s=0.02)
    odo = TelemetryOdometry(TPR, RADIUS, TRACK, max_wheel_speed=1.0)
    incs = []
    t0 = time.monotonic()
    seen = {"first": None, "last": None}

    def step(now):
        clock["t"] = offset + (now - t0)
        dev.receive(pty.read(), clock["t"])
        pty.write(dev.tick(clock["t"]))
        for m in host.poll():
            if isinstance(m, Telemetry):
                seen["first"] = seen["first"] or m
                seen["last"] = m
                inc = odo.update(m)
                if inc is not None:
                    incs.append(inc)

    try:
        assert pump_until(lambda: seen["last"] is not None and (seen["last"].device_time_ms > 400
                                                                 and seen["last"].device_time_ms < 2**31)
                          and sum(i.dt for i in incs) > 1.0, step, [pty.fileno, port.fileno], timeout=30)
        first, last = seen["first"], seen["last"]
        assert last.enc_left < 0 or last.enc_right < 0           # a counter wrapped on the wire
        t_first = ((first.device_time_ms - (2**32 - 400)) & 0xFFFFFFFF) / 1000
        t_last = ((last.device_time_ms - (2**32 - 400)) & 0xFFFFFFFF) / 1000
        assert sum(i.dt for i in incs) == pytest.approx(t_last - t_first, abs=1e-9)
        l0, r0 = wheel_travel(t_first)
        l1, r1 = wheel_travel(t_last)
        dist = sum(i.distance for i in incs)
        turn = sum(i.dyaw for i in incs)
        assert dist == pytest.approx(0.5 * ((l1 - l0) + (r1 - r0)), abs=3 * M_PER_TICK)
        assert turn == pytest.approx(((r1 - r0) - (l1 - l0)) / TRACK, abs=3 * M_PER_TICK / TRACK)
        assert odo.restarts == odo.implausible == 0
    finally:
        host.close()
        pty.close()
