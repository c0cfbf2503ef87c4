"""onboard.nav_inputs: driver readings become the SensorFrame's ``imu`` and
``wheel_ticks`` as the simulator makes them -- NaN/inf and stale IMU samples
counted and dropped, counter and board-clock wraps, duplicates, reboots,
implausible jumps and clock skew -- and ``--start-pose`` is validated."""
from __future__ import annotations

import math

import numpy as np
import pytest

from edgepilot.firmware_bridge.motor import DeviceState, Fault, Telemetry
from edgepilot.firmware_bridge.motor.protocol import decode_frame, encode_frame
from edgepilot.onboard.nav_inputs import EncoderInput, ImuInput
from edgepilot.onboard.onboard import parse_start_pose
from edgepilot.vehicle.estimation.measurements import ImuSample, WheelOdometry, WheelTicks

M_PER_TICK = 2 * math.pi * 0.1 / 4096


def tel(ms, left, right, faults=Fault(0)):
    t = Telemetry(ms & 0xFFFFFFFF, left, right, 0.0, 0.0, 24.0, 0.0, None, DeviceState.RUNNING, faults, 0, 0)
    return decode_frame(encode_frame(t, 0)[:-1])[1]          # through the wire: i32 / u32 wrap there


def imu(t, gz=0.1, ax=0.2):
    return ImuSample(t, 0.0, 0.0, gz, ax, 0.0, 9.81)


def test_imu_block_is_the_simulators_form_and_bad_samples_are_dropped():
    inp = ImuInput()
    inp.add([imu(0.01), imu(0.02), imu(0.02), imu(0.015),                 # a repeat, a step back
             imu(0.03, gz=math.nan), imu(0.04, ax=math.inf), imu(0.05), imu(0.07)])
    a = inp.take(0.06)
    assert a.dtype == np.float64 and a.shape == (3, 7) and a.flags.c_contiguous
    assert a[:, 0].tolist() == [0.01, 0.02, 0.05] and np.all(a[:, 6] == 9.81)
    st = inp.stats
    assert (st.stale, st.nonfinite, st.imu_in, st.imu_out) == (2, 2, 8, 3)
    b = inp.take(0.08)                                                     # 0.07 waited for its tick
    assert b[:, 0].tolist() == [0.07]
    assert inp.take(0.09).shape == (0, 7)                                  # nothing new: an empty block
    inp.add([imu(0.065)])                                                  # older than handed on: stale
    assert inp.take(1.0).shape == (0, 7) and inp.stats.stale == 3
    small = ImuInput(max_buffer=5)
    small.add([imu(0.01 * k) for k in range(1, 13)])
    assert small.take(1.0)[:, 0].tolist() == pytest.approx([0.08, 0.09, 0.10, 0.11, 0.12])
    assert small.stats.overflow == 7


def test_the_ekf_takes_the_block():
    from edgepilot.vehicle.estimation.ekf import NavEkf

    inp = ImuInput()
    inp.add([imu(0.005 * k, gz=0.2, ax=0.0) for k in range(1, 201)] + [imu(0.3, gz=math.nan)])
    ekf = NavEkf()
    ekf.initialise(0.0, 0.0, 0.0, 0.0)
    ekf.predict_imu_batch(inp.take(1.0))
    assert ekf.x[4] == pytest.approx(0.2 * 1.0, rel=1e-6)                  # gyro integrated to the heading


def test_encoder_ticks_keep_the_board_clock_across_wraps():
    enc = EncoderInput(M_PER_TICK, 1.6)
    ms0, c0 = 2**32 - 30, 2**31 - 20                                       # both wrap on the second frame
    enc.add(tel(ms0, c0, c0), now=10.0)
    first = enc.take()
    assert first.restart and first.t == 10.0
    odo = WheelOdometry(4096, 0.1, 0.6)
    assert odo.update(first) is None
    enc.add(tel(ms0 + 20, c0 + 50, c0 + 60), now=10.031)                   # arrival jitter: not in t
    enc.add(tel(ms0 + 40, c0 + 100, c0 + 120), now=10.045)
    w = enc.take()
    assert not w.restart and w.t == pytest.approx(10.04) and w.left < 0    # the i32 count wrapped
    assert enc.take() is None                                              # nothing new
    inc = odo.update(w)
    assert inc.dt == pytest.approx(0.04) and inc.distance == pytest.approx(110 * M_PER_TICK)
    enc.add(tel(ms0 + 40, c0 + 100, c0 + 120), now=10.05)                  # duplicate
    assert enc.take() is None and enc.stats.duplicates == 1


def test_a_rebooted_board_and_implausible_jumps_restart_the_differencing():
    enc = EncoderInput(M_PER_TICK, 1.6)
    odo = WheelOdometry(4096, 0.1, 0.6)
    enc.add(tel(50_000, 40_000, 40_000), now=1.0)
    odo.update(enc.take())
    enc.add(tel(50_020, 40_100, 40_100), now=1.02)
    assert odo.update(enc.take()).distance == pytest.approx(100 * M_PER_TICK)
    # clock back: a reboot, counts from zero; no -40,000-tick increment
    enc.add(tel(300, 5, 5), now=1.05)
    w = enc.take()
    assert w.restart and w.t > 1.02 and odo.update(w) is None and enc.stats.reboots == 1
    enc.add(tel(320, 105, 105), now=1.07)
    w2 = enc.take()
    assert not w2.restart and w2.t == pytest.approx(w.t + 0.02)
    assert odo.update(w2).distance == pytest.approx(100 * M_PER_TICK)
    # WATCHDOG_RESET raised with the clock already past the old one
    enc.add(tel(900, 7, 7, Fault.WATCHDOG_RESET), now=1.2)
    assert enc.take().restart and enc.stats.reboots == 2
    # an unseen reboot during an unplug: the counts jumped further than a wheel can go
    enc.add(tel(920, 1_000_000, 1_000_000, Fault.WATCHDOG_RESET), now=1.22)
    assert enc.take().restart and enc.stats.implausible == 1
    # a restart followed by a normal frame before the core read: still a restart
    enc.reset()
    enc.add(tel(940, 1_000_010, 1_000_010, Fault.WATCHDOG_RESET), now=1.24)
    enc.add(tel(960, 1_000_020, 1_000_020, Fault.WATCHDOG_RESET), now=1.26)
    assert enc.take().restart
    # a reader stalled for 2 s: the frames arrive late, their latch times stay right
    enc.add(tel(980, 1_000_030, 1_000_030, Fault.WATCHDOG_RESET), now=3.3)
    w = enc.take()
    assert not w.restart and w.t == pytest.approx(1.28) and enc.stats.skew_resets == 0
    # the board's time ahead of the runtime's: the anchor arrived late; take it again
    enc.add(tel(980 + 5000, 1_000_030, 1_000_030, Fault.WATCHDOG_RESET), now=3.32)
    assert enc.take().restart and enc.stats.skew_resets == 1
    assert enc.stats.restarts == 6


def test_wheel_odometry_takes_no_motion_across_a_restart():
    odo = WheelOdometry(4096, 0.1, 0.6)
    odo.update(WheelTicks(0.0, 100, 100))
    assert odo.update(WheelTicks(0.1, 5, 5, restart=True)) is None
    assert odo.update(WheelTicks(0.2, 15, 15)).distance == pytest.approx(10 * M_PER_TICK)


def test_start_pose_is_parsed_and_refused_clearly():
    x, y, yaw = parse_start_pose("2.5,-3,90")
    assert (x, y) == (2.5, -3.0) and yaw == pytest.approx(math.pi / 2)
    for bad, msg in (("1,2", "expected X,Y,YAW_DEG"), ("1,2,3,4", "expected X,Y,YAW_DEG"),
                     ("a,2,3", "X must be a number"), ("1,nan,3", "Y must be finite"),
                     ("1,2,400", "YAW_DEG must be in \\[-360, 360\\]")):
        with pytest.raises(ValueError, match=f"--start-pose: {msg}"):
            parse_start_pose(bad)


def test_start_pose_on_the_core():
    from edgepilot.vehicle.config import load_vehicle_config
    from edgepilot.vehicle.core import VehicleCore
    from edgepilot.vehicle.types import GeoPoint, SensorFrame
    from edgepilot import configs_dir

    cfg = load_vehicle_config(configs_dir() / "vehicles" / "ugv_nav.toml")
    core = VehicleCore(cfg, GeoPoint(47.4, 8.5), None, defer_bring_up=True)
    assert not core.state.valid
    assert core.set_start_pose(0.0, 3.0, 4.0, math.radians(45)).ok
    core.step(0.05, SensorFrame(0.05))
    st = core.state
    assert st.valid and (st.x, st.y) == (3.0, 4.0) and st.yaw == pytest.approx(math.radians(45))
    assert core.home is not None                                           # home where it stands
    far = core.set_start_pose(0.1, 5000.0, 0.0, 0.0)
    assert not far.ok and "beyond the operating area" in far.reason
    assert not core.set_start_pose(0.1, math.nan, 0.0, 0.0).ok
    plain = VehicleCore(load_vehicle_config(configs_dir() / "vehicles" / "ugv.toml"), GeoPoint(47.4, 8.5), None,
                        defer_bring_up=True)
    r = plain.set_start_pose(0.0, 1.0, 1.0, 0.0)
    assert not r.ok and 'navigation.estimator = "ekf"' in r.reason


def test_vehicle_run_refuses_a_bad_start_pose_and_a_missing_origin(ep, tmp_path):
    from tests.hw_util import hil_config

    cfg = hil_config(tmp_path)                                             # GPS + compass vehicle
    r = ep("vehicle", "run", "--config", str(cfg), "--start-pose", "1,2", "--duration", "0.1", timeout=120)
    assert r.returncode == 2 and "--start-pose: expected X,Y,YAW_DEG" in r.stderr, r.stderr
    r = ep("vehicle", "run", "--config", str(cfg), "--origin", "47.4,8.5", "--start-pose", "1,2,0",
           "--duration", "0.1", timeout=120)
    assert r.returncode == 2 and '--start-pose needs navigation.estimator = "ekf"' in r.stderr, r.stderr
    # an EKF vehicle without [hardware.gps] needs --origin; the GPS + compass one needs the GPS
    from edgepilot import configs_dir

    nav = (configs_dir() / "vehicles" / "ugv_nav.toml").read_text()
    path = tmp_path / "nogps.toml"
    hw = f'\n[hardware]\nwiring = "direct"\n[hardware.motor]\nport = "{tmp_path}/ttyM"\n'
    path.write_text(nav + hw)
    r = ep("vehicle", "run", "--config", str(path), "--duration", "0.1", timeout=120)
    assert r.returncode == 2 and "'ekf' with wiring 'direct' needs [hardware.imu]" in r.stderr, r.stderr
    path.write_text(nav + hw + f'[hardware.imu]\nport = "{tmp_path}/ttyI"\n')
    r = ep("vehicle", "run", "--config", str(path), "--duration", "0.1", timeout=120)
    assert r.returncode == 2 and "no [hardware.gps] to take the map origin from: give --origin" in r.stderr
    r = ep("vehicle", "run", "--config", str(path), "--origin", "47.4,8.5", "--start-pose", "9000,0,0",
           "--duration", "0.1", timeout=120)
    assert r.returncode == 2 and "--start-pose: start pose (9000.0, 0.0) m is 9000 m from home" in r.stderr
    plain = hil_config(tmp_path).read_text().split("[hardware.gps]")[0]
    path.write_text(plain)
    r = ep("vehicle", "run", "--config", str(path), "--duration", "0.1", timeout=120)
    assert r.returncode == 2 and "wiring 'direct' needs [hardware.gps]" in r.stderr, r.stderr


def test_nav_failsafe_compares_the_dead_reckoning_drift_with_the_tolerance():
    """NavTrigger: the EKF's 1-sigma or, with navigation.dead_reckoning_drift
    set, the distance since the last absolute fix x that rate -- whichever
    exceeds FS_EKF_POS_STD trips it, naming why; clears below 80 %."""
    from edgepilot import configs_dir
    from edgepilot.vehicle.config import load_vehicle_config
    from edgepilot.vehicle.estimation.navigation import NavHealth
    from edgepilot.vehicle.params import ParamStore
    from edgepilot.vehicle.safety.failsafe import NavTrigger, SafetyInputs

    cfg = load_vehicle_config(configs_dir() / "vehicles" / "ugv_nav.toml")
    assert cfg.navigation.dead_reckoning_drift == 0.005
    trig = NavTrigger(cfg, ParamStore(cfg))

    def health(pos_std, unaided):
        return NavHealth(True, True, pos_std, True, True, False, True, unaided_m=unaided,
                         drift_m=unaided * cfg.navigation.dead_reckoning_drift)

    assert trig.check(SafetyInputs(nav=health(0.1, 90.0)), False) is None            # 0.45 m: inside 0.5 m
    why = trig.check(SafetyInputs(nav=health(0.1, 104.0)), False)
    assert why == "navigation confidence lost: 104 m without a position fix, drift 0.52 m above FS_EKF_POS_STD 0.50 m"
    assert trig.check(SafetyInputs(nav=health(0.1, 90.0)), True) is not None         # hysteresis: 0.45 > 0.4
    assert trig.check(SafetyInputs(nav=health(0.1, 0.0)), True) is None              # a fix: drift gone
    assert "position 1-sigma 0.60 m" in trig.check(SafetyInputs(nav=health(0.6, 0.0)), False)
    # a health without the drift fields (another estimator's) still works
    old = NavHealth(True, True, 0.1, False, True, False, False)
    assert old.drift_m == 0.0 and trig.check(SafetyInputs(nav=old), False) is None
