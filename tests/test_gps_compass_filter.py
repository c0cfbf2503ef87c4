"""The GPS + compass filter (vehicle/estimation/gps_compass.py, two
per-axis filters in plain floats sharing one covariance) against its matrix
form written with NumPy (the oracle below, the filter as it was first
written): the same estimates and covariances to float rounding, fix by fix;
and against the per-axis plain-float form, bit for bit."""
import math

import numpy as np
import pytest

from edgepilot.vehicle.estimation import GpsCompassFilter
from edgepilot.vehicle.geo import LocalFrame, wrap_pi
from edgepilot.vehicle.types import CompassReading, GpsFix, VehicleState

FRAME = LocalFrame(52.0, 4.0)


class NumpyGpsCompassFilter:
    def __init__(self, frame: LocalFrame, accel_noise: float = 0.5, yaw_accel_noise: float = 1.0,
                 gps_noise_floor: float = 0.3, compass_noise: float = math.radians(3.0),
                 velocity_noise: float = 0.1):
        self.frame = frame
        self.q_acc = accel_noise
        self.q_yaw = yaw_accel_noise
        self.gps_floor = gps_noise_floor
        self.r_yaw = compass_noise ** 2
        self.r_vel = velocity_noise ** 2
        self.x = np.zeros(4)
        self.P = np.eye(4) * 1e6
        self.h = np.zeros(2)
        self.Ph = np.eye(2) * 1e3
        self.t: float | None = None
        self.have_pos = False
        self.have_yaw = False
        self._model_key = None
        self._model_cache = None

    def predict(self, now: float) -> None:
        if self.t is None:
            self.t = now
            return
        dt = now - self.t
        if dt <= 0:
            return
        self.t = now
        F, FT, Q, Fh, FhT, Qh = self._model(dt)
        self.x = F @ self.x
        self.P = F @ self.P @ FT + Q
        self.h = Fh @ self.h
        self.h[0] = wrap_pi(self.h[0])
        self.Ph = Fh @ self.Ph @ FhT + Qh

    def _model(self, dt: float):
        """Transition matrices and process noise for a step of ``dt`` s,
        kept for the last dt (a control loop steps by the same dt every
        tick: no arrays built per tick, the same numbers)."""
        key = (dt, self.q_acc, self.q_yaw)
        if self._model_key != key:
            F = np.array([[1, 0, dt, 0], [0, 1, 0, dt], [0, 0, 1, 0], [0, 0, 0, 1]], float)
            g = np.array([[0.5 * dt * dt, 0], [0, 0.5 * dt * dt], [dt, 0], [0, dt]])
            Fh = np.array([[1, dt], [0, 1]], float)
            gh = np.array([0.5 * dt * dt, dt])
            self._model_cache = (F, F.T, g @ g.T * self.q_acc ** 2, Fh, Fh.T, np.outer(gh, gh) * self.q_yaw ** 2)
            self._model_key = key
        return self._model_cache

    def update_gps(self, fix: GpsFix) -> None:
        if fix.fix_type < 2:
            return
        px, py = self.frame.to_local(fix.lat, fix.lon)
        r_pos = max(fix.hacc, self.gps_floor) ** 2
        if not self.have_pos:
            self.x[:] = (px, py, fix.vel_e, fix.vel_n)
            self.P = np.diag([r_pos, r_pos, self.r_vel, self.r_vel])
            self.have_pos = True
            return
        z = np.array([px, py, fix.vel_e, fix.vel_n])
        H = np.eye(4)
        R = np.diag([r_pos, r_pos, self.r_vel, self.r_vel])
        y = z - H @ self.x
        S = H @ self.P @ H.T + R
        K = self.P @ H.T @ np.linalg.inv(S)
        self.x = self.x + K @ y
        self.P = (np.eye(4) - K @ H) @ self.P

    def update_compass(self, reading: CompassReading) -> None:
        if not self.have_yaw:
            self.h[:] = (wrap_pi(reading.yaw), 0.0)
            self.Ph = np.diag([self.r_yaw, 1.0])
            self.have_yaw = True
            return
        y = wrap_pi(reading.yaw - self.h[0])
        S = self.Ph[0, 0] + self.r_yaw
        K = self.Ph[:, 0] / S
        self.h = self.h + K * y
        self.h[0] = wrap_pi(self.h[0])
        self.Ph = self.Ph - np.outer(K, self.Ph[0, :])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_filter_equals_the_numpy_oracle(seed):
    rng = np.random.default_rng(seed)
    kw = dict(accel_noise=float(rng.uniform(0.2, 1.0)), yaw_accel_noise=float(rng.uniform(0.5, 2.0)),
              gps_noise_floor=0.3, compass_noise=math.radians(float(rng.uniform(1, 5))),
              velocity_noise=float(rng.uniform(0.05, 0.2)))
    ours, ref = GpsCompassFilter(FRAME, **kw), NumpyGpsCompassFilter(FRAME, **kw)
    t, x, y, yaw = 0.0, 3.0, -2.0, 3.0
    for k in range(400):
        t += float(rng.choice([0.05, 0.05, 0.1, 0.0]))
        x, y, yaw = x + 0.05 * math.cos(yaw), y + 0.05 * math.sin(yaw), wrap_pi(yaw + 0.03)
        for f in (ours, ref):
            f.predict(t)
        if k % 2 == 0:
            lat, lon = FRAME.to_geo(x + rng.normal(0, 0.5), y + rng.normal(0, 0.5))
            fix = GpsFix(t, lat, lon, int(rng.choice([3, 3, 3, 1])), 9, float(rng.uniform(0.2, 2.0)),
                         float(rng.normal(1.0, 0.1)), float(rng.normal(0.5, 0.1)))
            for f in (ours, ref):
                f.update_gps(fix)
        c = CompassReading(t, wrap_pi(yaw + rng.normal(0, 0.05)))
        for f in (ours, ref):
            f.update_compass(c)
        np.testing.assert_allclose(ours.x, ref.x, rtol=1e-10, atol=1e-9)
        np.testing.assert_allclose(ours.P, ref.P, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(ours.Ph, ref.Ph, rtol=1e-9, atol=1e-12)
        assert abs(wrap_pi(ours.h[0] - ref.h[0])) < 1e-10 and abs(ours.h[1] - ref.h[1]) < 1e-10
        st = ours.state(t)
        assert st.valid == ref.have_pos and st.pos_std == pytest.approx(math.sqrt(max(ref.P[0, 0], ref.P[1, 1])), rel=1e-9)
    assert ours.P[0, 0] < 1.0 and ours.have_pos          # the fixes were fused


class _PlainFilter:
    """The filter as first written in plain floats: two per-axis filters,
    each [pos, vel] with its own 2 x 2 covariance (``_ax``), and the heading
    (``_hd``).  The filter, which keeps one covariance for both axes, must
    give the same bits (and so must each axis here)."""

    def __init__(self, frame, accel_noise=0.5, yaw_accel_noise=1.0, gps_noise_floor=0.3,
                 compass_noise=math.radians(3.0), velocity_noise=0.1):
        self.frame, self.q_acc, self.q_yaw, self.gps_floor = frame, accel_noise, yaw_accel_noise, gps_noise_floor
        self.r_yaw, self.r_vel = compass_noise ** 2, velocity_noise ** 2
        self._ax = [[0.0, 0.0, 1e6, 0.0, 0.0, 1e6], [0.0, 0.0, 1e6, 0.0, 0.0, 1e6]]
        self._hd = [0.0, 0.0, 1e3, 0.0, 0.0, 1e3]
        self.t, self.have_pos, self.have_yaw = None, False, False

    def views(self):
        """(x, P, h, Ph) as lists, as the filter's properties give them."""
        e, n = self._ax
        P = np.zeros((4, 4))
        P[0, 0], P[0, 2], P[2, 0], P[2, 2] = e[2], e[3], e[4], e[5]
        P[1, 1], P[1, 3], P[3, 1], P[3, 3] = n[2], n[3], n[4], n[5]
        h = self._hd
        return [e[0], n[0], e[1], n[1]], P.tolist(), h[:2], [[h[2], h[3]], [h[4], h[5]]]

    def state(self, now):
        e, n = self._ax
        lat, lon = self.frame.to_geo(e[0], n[0])
        return VehicleState(now, e[0], n[0], self._hd[0], e[1], n[1], self._hd[1], lat, lon,
                            math.sqrt(max(e[2], n[2])), self.have_pos and self.have_yaw)


def _reference_predict(f: _PlainFilter, now: float) -> None:
    """predict, update_gps and update_compass as first written in plain
    floats: the filter's must give the same bits."""
    if f.t is None:
        f.t = now
        return
    dt = now - f.t
    if dt <= 0:
        return
    f.t = now
    a, b = 0.5 * dt * dt, dt
    qa, qh = f.q_acc ** 2, f.q_yaw ** 2
    for s, (q00, q01, q11) in ((f._ax[0], (a * a * qa, a * b * qa, b * b * qa)),
                               (f._ax[1], (a * a * qa, a * b * qa, b * b * qa)),
                               (f._hd, (a * a * qh, a * b * qh, b * b * qh))):
        s[0] += dt * s[1]
        a00 = s[2] + dt * s[4]
        a01 = s[3] + dt * s[5]
        s[2] = a00 + dt * a01 + q00
        s[3] = a01 + q01
        s[4] = s[4] + dt * s[5] + q01
        s[5] = s[5] + q11
    f._hd[0] = wrap_pi(f._hd[0])


def _reference_update_gps(f: _PlainFilter, fix: GpsFix) -> None:
    if fix.fix_type < 2:
        return
    px, py = f.frame.to_local(fix.lat, fix.lon)
    r_pos = max(fix.hacc, f.gps_floor) ** 2
    rv = f.r_vel
    if not f.have_pos:
        f._ax = [[px, fix.vel_e, r_pos, 0.0, 0.0, rv], [py, fix.vel_n, r_pos, 0.0, 0.0, rv]]
        f.have_pos = True
        return
    for s, zp, zv in ((f._ax[0], px, fix.vel_e), (f._ax[1], py, fix.vel_n)):
        p00, p01, p10, p11 = s[2], s[3], s[4], s[5]
        s00, s01, s10, s11 = p00 + r_pos, p01, p10, p11 + rv
        det = s00 * s11 - s01 * s10
        k00 = (p00 * s11 - p01 * s10) / det
        k01 = (p01 * s00 - p00 * s01) / det
        k10 = (p10 * s11 - p11 * s10) / det
        k11 = (p11 * s00 - p10 * s01) / det
        y0, y1 = zp - s[0], zv - s[1]
        s[0] += k00 * y0 + k01 * y1
        s[1] += k10 * y0 + k11 * y1
        s[2] = (1.0 - k00) * p00 - k01 * p10
        s[3] = (1.0 - k00) * p01 - k01 * p11
        s[4] = (1.0 - k11) * p10 - k10 * p00
        s[5] = (1.0 - k11) * p11 - k10 * p01


def _reference_update_compass(f: _PlainFilter, reading: CompassReading) -> None:
    h = f._hd
    if not f.have_yaw:
        f._hd = [wrap_pi(reading.yaw), 0.0, f.r_yaw, 0.0, 0.0, 1.0]
        f.have_yaw = True
        return
    y = wrap_pi(reading.yaw - h[0])
    S = h[2] + f.r_yaw
    k0, k1 = h[2] / S, h[4] / S
    h[0] = wrap_pi(h[0] + k0 * y)
    h[1] += k1 * y
    p00, p01 = h[2], h[3]
    h[2] -= k0 * p00
    h[3] -= k0 * p01
    h[4] -= k1 * p00
    h[5] -= k1 * p01


@pytest.mark.parametrize("seed", [0, 1])
def test_filter_is_bit_identical_to_the_plain_reference(seed):
    # the reference keeps a covariance per axis: they stay equal, bit for bit,
    # to each other and to the filter's one
    rng = np.random.default_rng(seed)
    kw = dict(accel_noise=float(rng.uniform(0.2, 2.0)), yaw_accel_noise=float(rng.uniform(0.5, 3.0)))
    ours, ref = GpsCompassFilter(FRAME, **kw), _PlainFilter(FRAME, **kw)
    t = 0.0
    for k in range(2000):
        t += float(rng.choice([0.01, 0.05, 0.05, 0.1, 0.0, -0.01, rng.uniform(0.0, 3.0)]))
        ours.predict(t)
        _reference_predict(ref, t)
        if k % 3 == 0:
            lat, lon = FRAME.to_geo(*rng.normal(0, 20, 2))
            hacc = float(rng.choice([rng.uniform(0.01, 2.0), 0.3, 0.1]))   # below, at and above the floor
            fix = GpsFix(t, lat, lon, int(rng.choice([3, 3, 2, 1])), 9, hacc, *map(float, rng.normal(0, 1, 2)))
            c = CompassReading(t, float(rng.uniform(-4, 4)))
            ours.update_gps(fix)
            _reference_update_gps(ref, fix)
            ours.update_compass(c)
            _reference_update_compass(ref, c)
        if k == 1000:   # the noise follows a change of the filter's settings
            for f in (ours, ref):
                f.q_acc, f.q_yaw = 1.7, 0.3
        assert [ours.x.tolist(), ours.P.tolist(), ours.h.tolist(), ours.Ph.tolist()] == list(ref.views())
        assert ref._ax[0][2:] == ref._ax[1][2:] == ours._s[6:10].tolist()
        assert ours.t == ref.t and ours.have_pos == ref.have_pos and ours.have_yaw == ref.have_yaw
        assert ours.state(t) == ref.state(t)
    assert ours.have_pos and ours.have_yaw


@pytest.mark.parametrize("p", [2.0, 0.5, 0.0, -0.0, -1.0, math.nan, math.inf])
def test_state_pos_std_is_the_sqrt_of_the_shared_position_variance(p):
    f = GpsCompassFilter(FRAME)
    f._s[6] = p
    with np.errstate(invalid="ignore"):
        want = float(np.sqrt(p))
    if p < 0:
        with pytest.raises(ValueError):
            f.state(0.0)
        return
    got = f.state(0.0).pos_std
    assert (math.isnan(got) and math.isnan(want)) or (got == want and math.copysign(1, got) == math.copysign(1, want))


def test_a_zero_innovation_variance_raises_as_the_float_division_did():
    """The kernels raise Python's ZeroDivisionError, before changing
    anything, where the plain-float division raised it."""
    f = GpsCompassFilter(FRAME, compass_noise=0.0)
    f.update_compass(CompassReading(0.0, 0.5))      # the first heading: P_yaw = r_yaw = 0
    f.update_gps(GpsFix(0.0, 52.0, 4.0, 3, 9, 0.5))
    before = f._s.tolist()
    with pytest.raises(ZeroDivisionError, match="float division by zero"):
        f.update_compass(CompassReading(0.1, 0.6))
    assert f._s.tolist() == before
    f._s[6:10] = (-0.25, 0.0, 0.0, 1.0)             # p00 + r_pos = 0 (r_pos: 0.5 m hacc, squared)
    before = f._s.tolist()
    with pytest.raises(ZeroDivisionError, match="float division by zero"):
        f.update_gps(GpsFix(0.2, 52.0, 4.0, 3, 9, 0.5))
    assert f._s.tolist() == before
    ref = _PlainFilter(FRAME, compass_noise=0.0)
    _reference_update_compass(ref, CompassReading(0.0, 0.5))
    with pytest.raises(ZeroDivisionError, match="float division by zero"):
        _reference_update_compass(ref, CompassReading(0.1, 0.6))
