"""Simulated dead-reckoning sensors (IMU, wheel encoders, speed log) against
their ground truth, and the GNSS jamming/spoofing fault models."""
from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from edgepilot.sim.dynamics import Truth
from edgepilot.sim.faults import GpsSpoofing
from edgepilot.sim.sensors.imu import GRAVITY, ImuConfig, ImuModel
from edgepilot.sim.sensors.odometry import (EncoderConfig, LooseGround, SpeedLogConfig, SpeedLogModel,
                                            WheelEncoderModel)
from edgepilot.vehicle.estimation.measurements import WheelOdometry

DT = 0.01


def _circle(t, v=1.0, r=10.0):
    w = v / r
    yaw = w * t + math.pi / 2
    return Truth(r * math.cos(w * t), r * math.sin(w * t), (yaw + math.pi) % (2 * math.pi) - math.pi,
                 v * math.cos(yaw), v * math.sin(yaw), w)


def _run_imu(cfg, seconds, truth=_circle, seed=0):
    imu = ImuModel(cfg, np.random.default_rng(seed))
    out = []
    for k in range(int(round(seconds / DT)) + 1):
        out += imu.sample(k * DT, truth(k * DT))
    return imu, out


def test_imu_rate_noise_and_gyro_integration_match_truth():
    cfg = ImuConfig(rate_hz=400, gyro_bias_sigma=0.0, gyro_bias_walk=0.0, scale_error=0.0,
                    accel_bias_sigma=0.0, accel_bias_walk=0.0)
    imu, s = _run_imu(cfg, 20.0)
    assert len(s) == 8000
    t = np.array([x.t for x in s])
    assert np.allclose(np.diff(t), 1 / 400)
    gz = np.array([x.gyro_z for x in s])
    # integrated gyro = true heading change (0.1 rad/s for 20 s)
    assert gz.sum() / 400 == pytest.approx(2.0, abs=0.01)
    sigma = cfg.gyro_noise_density * math.sqrt(400)
    assert np.std(gz - 0.1) == pytest.approx(sigma, rel=0.05)
    ay = np.array([x.accel_y for x in s])
    assert ay.mean() == pytest.approx(0.1, abs=0.002)     # centripetal v^2/r, to the left
    az = np.array([x.accel_z for x in s])
    assert az.mean() == pytest.approx(GRAVITY, abs=0.002)


def test_imu_bias_and_scale_are_seeded_and_show():
    cfg = ImuConfig(rate_hz=100, gyro_bias_sigma=0.01, scale_error=0.05)
    a, sa = _run_imu(cfg, 5.0, seed=3)
    b, sb = _run_imu(cfg, 5.0, seed=3)
    c, _ = _run_imu(cfg, 5.0, seed=4)
    assert sa == sb
    assert not np.allclose(a.gyro_bias, c.gyro_bias)
    gz = np.array([x.gyro_z for x in sa])
    assert gz.mean() == pytest.approx(0.1 * a.gyro_scale[2] + a.gyro_bias[2], abs=5e-4)


@pytest.mark.parametrize("field, value", [("rate_hz", 50), ("rate_hz", 1000), ("scale_error", -0.1)])
def test_imu_config_errors_name_the_field(field, value):
    with pytest.raises(ValidationError, match=field):
        ImuConfig(**{field: value})


def _run_encoders(cfg, seconds, truth, seed=0):
    enc = WheelEncoderModel(cfg, np.random.default_rng(seed))
    odo = WheelOdometry(cfg.ticks_per_rev, cfg.wheel_radius, cfg.track_width)
    dist = dyaw = 0.0
    for k in range(int(round(seconds / DT)) + 1):
        r = enc.sample(k * DT, truth(k * DT))
        if r is not None:
            inc = odo.update(r)
            if inc is not None:
                dist += inc.distance
                dyaw += inc.dyaw
    return dist, dyaw


def _line(t):
    return Truth(t, 0.0, 0.0, 1.0, 0.0, 0.0)


def test_encoders_count_the_true_travel_without_slip():
    cfg = EncoderConfig(radius_error=0.0, turn_slip=0.0, slip_noise=0.0)
    dist, dyaw = _run_encoders(cfg, 10.0, _line)
    assert dist == pytest.approx(10.0, abs=2 * 2 * math.pi * 0.1 / 4096)
    assert dyaw == pytest.approx(0.0, abs=1e-3)
    dist, dyaw = _run_encoders(cfg, 10.0, _circle)
    assert dist == pytest.approx(10.0, abs=1e-3)
    assert dyaw == pytest.approx(1.0, abs=1e-3)


def test_encoders_slip_on_turns_and_on_loose_ground():
    turn = EncoderConfig(radius_error=0.0, turn_slip=0.5, slip_noise=0.0)
    dist, _ = _run_encoders(turn, 10.0, _circle)
    assert dist == pytest.approx(10.0 * (1 + 0.5 * 0.1), rel=1e-3)   # over-reads by the slip
    loose = EncoderConfig(radius_error=0.0, turn_slip=0.0, slip_noise=0.0,
                          loose_ground=[LooseGround(rect=(4.0, -1.0, 6.0, 1.0), slip=0.3)])
    dist, _ = _run_encoders(loose, 10.0, _line)
    assert dist == pytest.approx(10.0 + 0.3 * 2.0, abs=0.02)


def test_wheel_odometry_rejects_bad_calibration():
    with pytest.raises(ValueError, match="ticks_per_rev must be a positive integer"):
        WheelOdometry(0, 0.1, 0.5)
    with pytest.raises(ValueError, match="track_width must be a finite number > 0"):
        WheelOdometry(100, 0.1, -1.0)


def test_speed_log_reads_through_the_water():
    log = SpeedLogModel(SpeedLogConfig(noise=0.0, scale_error=0.0), np.random.default_rng(0))
    tr = Truth(0, 0, 0.0, 2.0, 0.0, 0.0)                    # 2 m/s east over ground
    assert log.sample(0.0, tr, current=(0.5, 0.0)).speed == pytest.approx(1.5)   # with a 0.5 m/s following current
    assert log.sample(0.1, tr, current=(0.0, 0.0)) is None                       # not due yet at 5 Hz
    assert log.sample(0.2, Truth(0, 0, 0, 0.05, 0, 0)).speed == 0.0              # dead band


def test_spoofing_drag_is_smooth():
    f = GpsSpoofing(type="gps_spoofing", start_s=10.0, duration_s=60.0, rate_m_s=0.5, ramp_s=4.0)
    assert f.offset(9.0)[:2] == (0.0, 0.0)
    d_ramp_end, v, _ = f.offset(14.0)
    assert (d_ramp_end, v) == pytest.approx((1.0, 0.5))
    d1 = f.offset(14.0 + 1e-6)[0]
    assert d1 == pytest.approx(1.0, abs=1e-5)            # continuous at the ramp's end
    assert f.offset(24.0)[0] == pytest.approx(6.0)
