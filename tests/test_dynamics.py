"""Dynamics models: limits, drift, steady states."""
import math

import numpy as np

from edgepilot.sim.dynamics import DiffDriveModel, TwinThrusterModel
from edgepilot.vehicle.config import load_vehicle_config
from edgepilot import configs_dir
from edgepilot.vehicle.types import ActuatorCommand

UGV = load_vehicle_config(configs_dir() / "vehicles" / "ugv.toml")
USV = load_vehicle_config(configs_dir() / "vehicles" / "usv.toml")
DT = 0.01


def test_ugv_full_speed_respects_wheel_speed_and_accel_limits():
    m = DiffDriveModel(UGV.drive, 0, 0, 0)
    speeds = []
    for _ in range(400):
        m.step(DT, ActuatorCommand(1.0, 1.0))
        speeds.append(m.truth.speed)
    speeds = np.array(speeds)
    acc = np.diff(speeds) / DT
    assert speeds.max() <= UGV.drive.wheel_max_speed + 1e-9
    assert speeds[-1] > 0.99 * UGV.drive.wheel_max_speed
    assert acc.max() <= UGV.drive.wheel_max_accel + 1e-6
    assert abs(m.truth.y) < 1e-9 and abs(m.truth.x - speeds.sum() * DT) < 1e-6


def test_ugv_overdriven_command_saturates():
    m = DiffDriveModel(UGV.drive, 0, 0, 0)
    for _ in range(500):
        m.step(DT, ActuatorCommand(5.0, 5.0))
    assert math.isclose(m.truth.speed, UGV.drive.wheel_max_speed, rel_tol=1e-9)


def test_ugv_turns_in_place_on_opposite_wheels():
    m = DiffDriveModel(UGV.drive, 3.0, 4.0, 0)
    for _ in range(300):
        m.step(DT, ActuatorCommand(-0.5, 0.5))
    assert math.hypot(m.truth.x - 3.0, m.truth.y - 4.0) < 1e-9
    expected_rate = 2 * 0.5 * UGV.drive.wheel_max_speed / UGV.drive.track_width
    assert math.isclose(m.truth.yaw_rate, expected_rate, rel_tol=1e-6)


def test_ugv_estop_stops_within_accel_limit():
    m = DiffDriveModel(UGV.drive, 0, 0, 0)
    for _ in range(300):
        m.step(DT, ActuatorCommand(1.0, 1.0))
    v0 = m.truth.speed
    steps = 0
    while m.truth.speed > 1e-6:
        m.step(DT, ActuatorCommand(1.0, 1.0, estop=True))
        steps += 1
    assert steps * DT <= v0 / UGV.drive.wheel_max_accel + 2 * DT


def test_boat_without_thrust_drifts_with_the_current():
    # Still air would brake a drifting hull; here the air moves with the water.
    m = TwinThrusterModel(USV.hull, 0, 0, 0.7)
    current = (0.3, -0.4)
    for _ in range(3000):
        m.step(DT, ActuatorCommand.stop(), current, current)
    assert math.isclose(m.truth.vx, 0.3, abs_tol=1e-6) and math.isclose(m.truth.vy, -0.4, abs_tol=1e-6)
    assert math.isclose(m.truth.x, 0.3 * 30.0, abs_tol=1e-6)
    assert math.isclose(m.truth.yaw, 0.7, abs_tol=1e-9)


def test_boat_top_speed_is_where_thrust_meets_drag():
    h = USV.hull
    m = TwinThrusterModel(h, 0, 0, 0)
    for _ in range(6000):
        m.step(DT, ActuatorCommand(1.0, 1.0))
    u = m.truth.speed
    drag = h.surge_drag_linear * u + (h.surge_drag_quadratic + h.wind_coefficient) * u * u  # water + air
    assert math.isclose(drag, 2 * h.max_thrust, rel_tol=1e-3)
    assert abs(m.truth.yaw) < 1e-9


def test_boat_reverse_thrust_is_weaker():
    h = USV.hull
    fwd, rev = TwinThrusterModel(h, 0, 0, 0), TwinThrusterModel(h, 0, 0, 0)
    for _ in range(6000):
        fwd.step(DT, ActuatorCommand(1.0, 1.0))
        rev.step(DT, ActuatorCommand(-1.0, -1.0))
    assert rev.truth.x < 0 < fwd.truth.x and abs(rev.truth.x) < 0.9 * fwd.truth.x


def test_wind_pushes_a_drifting_boat_downwind():
    m = TwinThrusterModel(USV.hull, 0, 0, 0)
    for _ in range(3000):
        m.step(DT, ActuatorCommand.stop(), (0.0, 0.0), (0.0, 8.0))
    assert m.truth.vy > 0.1 and m.truth.y > 1.0


def _plain_diff_drive_step(m, dt, cmd):
    """``DiffDriveModel.step`` written plainly (``_clip``, ``max``, ``abs``,
    the config read each time): the fast version must match it bit for bit."""
    from edgepilot.sim.dynamics import _clip

    p = m.p
    amax = p.wheel_max_accel
    if cmd.estop:
        vl = m.vl - _clip(m.vl / dt, -amax, amax) * dt
        vr = m.vr - _clip(m.vr / dt, -amax, amax) * dt
    else:
        vmax = p.wheel_max_speed
        tau = max(p.wheel_time_constant, dt)
        vl = _clip(m.vl + _clip((_clip(cmd.left, -1.0, 1.0) * vmax - m.vl) / tau, -amax, amax) * dt, -vmax, vmax)
        vr = _clip(m.vr + _clip((_clip(cmd.right, -1.0, 1.0) * vmax - m.vr) / tau, -amax, amax) * dt, -vmax, vmax)
    m.vl, m.vr = vl, vr
    v = 0.5 * (vl + vr)
    w = (vr - vl) / p.track_width
    t = m.truth
    yaw = t.yaw
    if abs(w) < 1e-9:
        t.x += v * math.cos(yaw) * dt
        t.y += v * math.sin(yaw) * dt
    else:
        r = v / w
        yaw1 = yaw + w * dt
        t.x += r * (math.sin(yaw1) - math.sin(yaw))
        t.y -= r * (math.cos(yaw1) - math.cos(yaw))
    yaw = (yaw + w * dt + math.pi) % (2 * math.pi) - math.pi
    t.yaw = yaw
    t.vx, t.vy, t.yaw_rate = v * math.cos(yaw), v * math.sin(yaw), w


def test_ugv_step_equals_the_plain_step_bit_for_bit():
    """Random commands (over-driven, exact limits, zero, e-stops, NaN), the
    physics step and odd steps, starts all round the circle: the same
    floats (repr compares NaN and the sign of zero too)."""
    rng = np.random.default_rng(7)
    picks = [0.0, -0.0, 1.0, -1.0, 0.5, 3.0, math.nan]
    for trial in range(120):
        pose = (rng.uniform(-50, 50), rng.uniform(-50, 50), rng.uniform(-3.3, 3.3))
        fast, plain = DiffDriveModel(UGV.drive, *pose), DiffDriveModel(UGV.drive, *pose)
        for k in range(150):
            left, right = (float(rng.uniform(-1.5, 1.5)) if rng.random() < 0.6 else picks[rng.integers(len(picks))]
                           for _ in range(2))
            cmd = ActuatorCommand(left, right, bool(rng.random() < 0.05))
            dt = DT if rng.random() < 0.9 else float(rng.choice([1e-4, 0.05, 0.3]))
            fast.step(dt, cmd)
            _plain_diff_drive_step(plain, dt, cmd)
            assert repr((fast.truth, fast.vl, fast.vr)) == repr((plain.truth, plain.vl, plain.vr)), (trial, k)
    assert fast.p is UGV.drive
