"""The planar error-state EKF: kernels against the NumPy oracle, input
validation, gating, GNSS glitch handling and the reported status."""
from __future__ import annotations

import math

import numpy as np
import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavapm

from edgepilot.vehicle.estimation import _ekf_kernels as K
from edgepilot.vehicle.estimation import ekf as E
from edgepilot.vehicle.estimation._ekf_reference import predict_ref, update_ref
from edgepilot.vehicle.estimation.ekf import EkfParams, NavEkf, chi2_quantile


def _random_state(rng):
    x = np.array([rng.normal(0, 50), rng.normal(0, 50), rng.normal(0, 2), rng.normal(0, 2),
                  rng.uniform(-math.pi, math.pi), rng.normal(0, 0.01), rng.normal(0, 0.1), rng.normal(0, 0.1),
                  rng.normal(0, 0.3), rng.normal(0, 0.3)])
    A = rng.normal(0, 1, (K.N, K.N))
    P = A @ A.T * 0.1 + np.eye(K.N) * 0.01
    return x, P


def test_predict_kernel_matches_numpy_oracle():
    rng = np.random.default_rng(1)
    ws = np.zeros((K.WS_ROWS, K.N))
    q = np.array([0.3, 0.01, 1e-4, 1e-3, 0.01])
    for _ in range(50):
        x, P = _random_state(rng)
        g, ax, ay, dt = rng.normal(0, 0.5), rng.normal(0, 1), rng.normal(0, 1), rng.uniform(0.001, 0.05)
        xr, Pr = predict_ref(x, P, g, ax, ay, dt, q)
        K.ekf_predict(x, P, g, ax, ay, dt, q, ws)
        np.testing.assert_allclose(x, xr, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(P, Pr, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", range(len(K.MEAS_DIM)))
def test_update_kernel_matches_numpy_oracle(kind):
    rng = np.random.default_rng(10 + kind)
    ws = np.zeros((K.WS_ROWS, K.N))
    out = np.zeros(2 + K.M_MAX)
    m = int(K.MEAS_DIM[kind])
    fused = rejected = 0
    for _ in range(60):
        x, P = _random_state(rng)
        B = rng.normal(0, 0.3, (m, m))
        R = B @ B.T + np.eye(m) * 0.05
        z = rng.normal(0, 1.5, m)
        from edgepilot.vehicle.estimation._ekf_reference import model_ref
        z = model_ref(x, kind)[0] + z
        zk = np.zeros(K.M_MAX)
        zk[:m] = z
        Rk = np.zeros((K.M_MAX, K.M_MAX))
        Rk[:m, :m] = R
        thr = chi2_quantile(0.99, m)
        st_r, xr, Pr, nis_r, y_r = update_ref(x, P, kind, z, R, thr)
        st = K.ekf_update(x, P, kind, zk, Rk, thr, True, ws, out)
        assert st == st_r
        assert out[0] == pytest.approx(nis_r, rel=1e-9)
        assert out[1] == pytest.approx(nis_r / thr, rel=1e-9)
        np.testing.assert_allclose(out[2:2 + m], y_r, atol=1e-12)
        np.testing.assert_allclose(x, xr, rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(P, Pr, rtol=1e-8, atol=1e-10)
        fused += st == 1
        rejected += st == 0
    assert fused and rejected, "the random cases must exercise both the gate's pass and its rejection"


def test_chi2_quantiles_match_tables():
    # textbook chi-square table values
    assert chi2_quantile(0.95, 1) == pytest.approx(3.841, abs=1e-3)
    assert chi2_quantile(0.99, 2) == pytest.approx(9.210, abs=1e-3)
    assert chi2_quantile(0.999, 3) == pytest.approx(16.266, abs=1e-3)
    assert chi2_quantile(0.95, 4) == pytest.approx(9.488, abs=1e-3)
    with pytest.raises(ValueError, match="dof must be 1..4"):
        chi2_quantile(0.9, 5)


def test_status_flags_are_mavlink_numbers():
    for name in ("ATTITUDE", "VELOCITY_HORIZ", "VELOCITY_VERT", "POS_HORIZ_REL", "POS_HORIZ_ABS",
                 "POS_VERT_ABS", "POS_VERT_AGL", "CONST_POS_MODE", "PRED_POS_HORIZ_REL", "PRED_POS_HORIZ_ABS",
                 "UNINITIALIZED", "GPS_GLITCHING"):
        assert getattr(E, f"EKF_{name}") == getattr(mavapm, f"EKF_{name}")


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="EkfParams.accel_noise must be a finite number > 0"):
        EkfParams(accel_noise=-1)
    with pytest.raises(ValueError, match="gate_probability"):
        EkfParams(gate_probability=1.0)
    ekf = NavEkf()
    with pytest.raises(ValueError, match="gyro_z must be a finite number"):
        ekf.predict_imu(0.0, float("nan"), 0.0, 0.0)
    with pytest.raises(ValueError, match="std must be > 0"):
        ekf.fuse_compass(0.0, 0.1, 0.0)
    ekf.initialise(0.0, 0, 0, 0)
    with pytest.raises(ValueError, match="3x3"):
        ekf.fuse_pose(0.0, 0, 0, 0, np.eye(2))
    with pytest.raises(ValueError, match="positive definite"):
        ekf.fuse_pose(0.0, 0, 0, 0, -np.eye(3))


def test_uninitialised_until_position_and_heading():
    ekf = NavEkf()
    assert ekf.status(0.0).flags == E.EKF_UNINITIALIZED
    ekf.fuse_gnss(0.0, 10.0, 5.0, 0.0, 0.0, 0.5)
    assert not ekf.initialised
    ekf.fuse_compass(0.1, 1.0, 0.05)
    st = ekf.status(0.1)
    assert ekf.initialised and st.healthy
    assert st.flags & E.EKF_POS_HORIZ_ABS and st.flags & E.EKF_ATTITUDE
    assert not st.flags & E.EKF_UNINITIALIZED
    s = ekf.state(0.1)
    assert (s.x, s.y, s.yaw) == pytest.approx((10.0, 5.0, 1.0))


# ---------------------------------------------------------------- closed loop
def _drive(ekf, rng, t_end, gnss=None, odometry=True, imu_hz=200.0, gnss_hz=5.0, start=0.0):
    """A vehicle on a 20 m circle at 1 m/s: perfect truth, noisy IMU (with
    a gyro bias), odometry at 20 Hz, compass at 10 Hz, GNSS from ``gnss(t,
    truth) -> (x, y, ve, vn, hacc) | None``.  Returns max position error."""
    v, r = 1.0, 20.0
    w = v / r
    dt = 1.0 / imu_hz
    n = int(round((t_end - start) / dt))
    worst = 0.0
    for i in range(1, n + 1):
        t = start + i * dt
        yaw = w * t + math.pi / 2
        px, py = r * math.cos(w * t), r * math.sin(w * t)
        vx, vy = v * math.cos(yaw), v * math.sin(yaw)
        # centripetal acceleration v*w points left in the body frame
        ekf.predict_imu(t, w + 0.002 + rng.normal(0, 0.003), rng.normal(0, 0.05), v * w + rng.normal(0, 0.05))
        if odometry and i % int(imu_hz / 20) == 0:
            ekf.fuse_body_speed(t, v + rng.normal(0, 0.02), 0.05, lateral_std=0.05)
        if i % int(imu_hz / 10) == 0:
            ekf.fuse_compass(t, yaw + rng.normal(0, 0.02), 0.05)
        if gnss is not None and i % int(imu_hz / gnss_hz) == 0:
            g = gnss(t, px, py, vx, vy)
            if g is not None:
                ekf.fuse_gnss(t, *g)
        worst = max(worst, math.hypot(ekf.x[0] - px, ekf.x[1] - py))
    return worst


def _start(ekf):
    ekf.initialise(0.0, 20.0, 0.0, math.pi / 2, 0.0, 1.0, pos_std=0.2)


def test_dead_reckoning_on_imu_and_odometry_stays_close():
    rng = np.random.default_rng(3)
    ekf = NavEkf()
    _start(ekf)
    worst = _drive(ekf, rng, 60.0)
    assert worst < 1.5
    assert 0.2 < ekf.pos_std < 5.0      # the filter knows it is dead reckoning


def test_gnss_jump_rejected_then_filter_continues():
    rng = np.random.default_rng(4)
    ekf = NavEkf()
    _start(ekf)

    def gnss(t, x, y, vx, vy):
        off = 30.0 if 20.0 <= t < 30.0 else 0.0
        return (x + off + rng.normal(0, 0.3), y + rng.normal(0, 0.3), vx, vy, 0.5)

    worst = _drive(ekf, rng, 45.0, gnss=gnss)
    assert worst < 1.5
    kinds = [e.kind for e in ekf.events]
    assert "gnss_rejected" in kinds and "gnss_recovered" in kinds and "gnss_reset" not in kinds
    rej = next(e for e in ekf.events if e.kind == "gnss_rejected")
    assert 20.0 <= rej.t < 20.5 and "by 30 m: rejected" in rej.text
    assert ekf.gnss.rejected >= 45            # 5 Hz for 10 s, every one counted
    assert not ekf.status(45.0).gnss_glitching


def test_spoofer_drag_is_never_accepted():
    """A smooth 0.5 m/s drag reported with good accuracy and matching velocity."""
    rng = np.random.default_rng(5)
    ekf = NavEkf()
    _start(ekf)

    def gnss(t, x, y, vx, vy):
        d = max(0.0, t - 20.0) * 0.5
        dv = 0.5 if t >= 20.0 else 0.0
        return (x + d + rng.normal(0, 0.2), y + rng.normal(0, 0.2), vx + dv, vy, 0.4)

    worst = _drive(ekf, rng, 80.0, gnss=gnss)
    assert worst < 2.0                        # 30 m of drag, estimate stays with the truth
    assert ekf.status(80.0).gnss_glitching
    assert "gnss_reset" not in [e.kind for e in ekf.events]


def test_reset_to_gnss_when_it_is_consistently_good_again():
    """An over-confident estimate 4 m off (inside the glitch radius): GNSS
    with a steady offset to it resets the position after gnss_reset_after_s."""
    rng = np.random.default_rng(6)
    ekf = NavEkf(EkfParams(gnss_reset_after_s=3.0))
    _start(ekf)

    def gnss(t, x, y, vx, vy):
        return (x + rng.normal(0, 0.1), y + rng.normal(0, 0.1), vx, vy, 0.3)

    _drive(ekf, rng, 10.0, gnss=gnss)
    ekf.x[0] += 4.0                           # the estimate is kicked off by 4 m (a wrong pose fix, a bump)
    ekf.P[0:2, 0:2] = np.eye(2) * 0.04        # ... and is confident about it
    worst = _drive(ekf, rng, 20.0, gnss=gnss, start=10.0)
    resets = [e for e in ekf.events if e.kind == "gnss_reset"]
    assert len(resets) == 1 and 13.0 <= resets[0].t <= 14.0
    assert math.hypot(ekf.x[0] - 20 * math.cos(0.05 * 20), ekf.x[1] - 20 * math.sin(0.05 * 20)) < 1.0
    assert worst > 3.5                        # it was off before the reset


def test_pose_fix_vetoes_gnss_reset_and_corrects_position():
    rng = np.random.default_rng(7)
    ekf = NavEkf(EkfParams(gnss_reset_after_s=2.0))
    _start(ekf)

    def gnss(t, x, y, vx, vy):               # a constant 15 m offset (a steady spoof)
        return (x + 15.0, y, vx, vy, 0.3)

    ekf.fuse_pose(0.0, 20.0, 0.0, math.pi / 2, np.diag([0.01, 0.01, 1e-3]))
    v, r = 1.0, 20.0
    for k in range(1, 41):
        t = k * 0.5
        _drive(ekf, rng, t, gnss=gnss, start=t - 0.5)
        a = v / r * t
        f = ekf.fuse_pose(t, r * math.cos(a), r * math.sin(a), a + math.pi / 2, np.diag([0.01, 0.01, 1e-3]))
        assert f.accepted
    assert "gnss_reset" not in [e.kind for e in ekf.events]
    assert ekf.status(20.0).gnss_glitching


def test_gnss_quality_checks():
    ekf = NavEkf()
    _start(ekf)
    fv, fp = ekf.fuse_gnss(0.1, 20.0, 0.0, 0.0, 1.0, 0.5, fix_type=3, satellites=3)
    assert (fv.accepted, fp.reason) == (False, "quality")
    fv, fp = ekf.fuse_gnss(0.2, 20.0, 0.0, 0.0, 1.0, 9.0)
    assert fp.reason == "quality"
    fv, fp = ekf.fuse_gnss(0.3, 20.0, 0.0, 0.0, 1.0, 0.5)
    assert fp.accepted and fv.accepted


def test_deterministic():
    runs = []
    for _ in range(2):
        rng = np.random.default_rng(9)
        ekf = NavEkf()
        _start(ekf)
        _drive(ekf, rng, 5.0)
        runs.append(ekf.x.copy())
    assert np.array_equal(runs[0], runs[1])


def test_batch_prediction_equals_per_sample_prediction():
    rng = np.random.default_rng(11)
    t = np.cumsum(rng.uniform(0.004, 0.006, 300))
    t[100:] += 0.3                                        # a gap longer than max_dt
    s = np.column_stack((t, rng.normal(0, 0.01, (300, 2)), rng.normal(0.05, 0.02, 300),
                         rng.normal(0, 0.3, (300, 2)), np.full(300, 9.8)))
    a, b = NavEkf(), NavEkf()
    for e in (a, b):
        e.initialise(0.0, 1.0, 2.0, 0.3, 1.0, 0.2)
    for row in s:
        a.predict_imu(row[0], row[3], row[4], row[5])
    b.predict_imu_batch(s[:150])
    b.predict_imu_batch(s[150:])
    np.testing.assert_allclose(b.x, a.x, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(b.P, a.P, rtol=1e-12, atol=1e-15)
    assert b.t == a.t and b.gyro_z == a.gyro_z
    assert b.travelled_unaided == pytest.approx(a.travelled_unaided, rel=1e-12)
    with pytest.raises(ValueError, match=r"\(n, 7\) array"):
        b.predict_imu_batch(np.zeros((3, 6)))
    with pytest.raises(ValueError, match="time order"):
        b.predict_imu_batch(s[[5, 3]])


def test_confidence_is_lost_on_imu_alone_and_regained_with_a_fix():
    """No odometry, no GNSS: the position variance grows until the status
    says the position is no longer good (what pre-arm and the failsafe
    will read); a pose fix restores it."""
    rng = np.random.default_rng(12)
    ekf = NavEkf()
    _start(ekf)
    _drive(ekf, rng, 60.0, odometry=False)
    st = ekf.status(60.0)
    assert not st.healthy and st.pos_std > ekf.params.pos_std_lost
    assert not st.flags & E.EKF_POS_HORIZ_ABS and st.flags & E.EKF_ATTITUDE
    assert not ekf.state(60.0).valid
    a = 0.05 * 60.0
    ekf.fuse_pose(60.0, 20 * math.cos(a), 20 * math.sin(a), a + math.pi / 2, np.diag([0.01, 0.01, 1e-3]))
    st = ekf.status(60.0)
    assert st.healthy and st.flags & E.EKF_POS_HORIZ_ABS and st.pos_std < 0.15
