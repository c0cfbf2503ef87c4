"""Planar error-state EKF for ground and surface vehicles, driven by the IMU.

Why planar: a UGV or USV lives on a surface, so the navigation problem is
2-D position, 2-D velocity and yaw.  A full 3-D attitude filter would need
pitch/roll observability the missions here never exploit, and a flawed one
is worse than an honest planar one.  The model assumes the IMU is mounted
level (tilt shows up as an accelerometer bias, which the filter estimates
and the bias random walk lets it follow slowly on slopes).

State (nominal, ENU map frame): position (x, y) [m], velocity over ground
(vx, vy) [m/s], yaw [rad, CCW from east], gyro-z bias [rad/s], accelerometer
x/y bias in the body frame [m/s^2], and the water current (cx, cy) [m/s]
that a USV's speed log sees past (a slow random walk; for a UGV nothing
observes it and it stays out of the way).  The filter propagates the nominal state
with each IMU sample and a 10x10 covariance of the error state; every
measurement gives an error estimate that is injected into the nominal state
and reset to zero (for planar yaw the reset Jacobian is the identity).

Measurements, each gated by its normalised innovation squared (NIS) against
a chi-square bound (``test ratio`` = NIS / bound, < 1 passes, as ArduPilot
reports its innovation test ratios):
- wheel odometry forward speed, optionally with the non-holonomic "no side
  slip" pseudo-measurement (UGV);
- the speed-through-water log (USV): the forward component of velocity
  over ground minus the current, so the current is learnt while GNSS or
  lidar hold the velocity and carried through an outage;
- compass yaw;
- GNSS position and velocity (quality-checked first: fix type, satellites,
  reported accuracy);
- external pose fixes (x, y, yaw with a 3x3 covariance) from lidar
  localization.

GNSS glitch handling: a GNSS position failing its gate is rejected and
counted and ``gnss_glitching`` is raised.  The filter resets its position to
GNSS only after GNSS has been *consistently good* for ``gnss_reset_after_s``:
every sample of good quality, its velocity passing its gate, and the
position innovation steady (GNSS and the filter agree on the motion and
differ by a fixed offset) *and* that offset is one the filter could have
drifted by: at most ``gnss_glitch_radius`` plus ``dead_reckoning_drift``
times the distance travelled since the last accepted absolute position.
(ArduPilot's EK3_GLITCH_RAD trusts GPS over a large deviation because its
rover has no other absolute aiding; with odometry and a map a large jump is
the GNSS lying, so here it works the other way.)  A spoofer's drag changes
the offset and grows past the plausible drift, so it never passes; and no
reset happens while a lidar pose fix was accepted within ``pose_veto_s``
(the map says where we are).  Measurements are fused when they arrive (no delayed-fusion buffer):
at the rates of a ground vehicle the latency error is well inside the noise.

The numbers come from numba kernels (``_ekf_kernels``) over fixed-size
arrays allocated once; ``_ekf_reference`` is the NumPy oracle.  (10 error
states: position, velocity, yaw, gyro-z bias, accel x/y bias, current.)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from edgepilot.vehicle.estimation import _ekf_kernels as _k
from edgepilot.vehicle.geo import LocalFrame
from edgepilot.vehicle.types import GpsFix, VehicleState

# EKF_STATUS_FLAGS as ardupilotmega.xml numbers them (EKF_STATUS_REPORT.flags)
EKF_ATTITUDE = 1
EKF_VELOCITY_HORIZ = 2
EKF_VELOCITY_VERT = 4
EKF_POS_HORIZ_REL = 8
EKF_POS_HORIZ_ABS = 16
EKF_POS_VERT_ABS = 32
EKF_POS_VERT_AGL = 64
EKF_CONST_POS_MODE = 128
EKF_PRED_POS_HORIZ_REL = 256
EKF_PRED_POS_HORIZ_ABS = 512
EKF_UNINITIALIZED = 1024
EKF_GPS_GLITCHING = 32768

MEAS_GNSS_POS = _k.MEAS_GNSS_POS
MEAS_GNSS_VEL = _k.MEAS_GNSS_VEL
MEAS_YAW = _k.MEAS_YAW
MEAS_BODY_SPEED = _k.MEAS_BODY_SPEED
MEAS_BODY_VEL = _k.MEAS_BODY_VEL
MEAS_POSE = _k.MEAS_POSE
MEAS_WATER_SPEED = _k.MEAS_WATER_SPEED
MEAS_WATER_VEL = _k.MEAS_WATER_VEL


def _chi2_cdf(x: float, dof: int) -> float:
    """Chi-square CDF for 1..4 degrees of freedom (closed forms)."""
    if x <= 0:
        return 0.0
    h = 0.5 * x
    if dof == 1:
        return math.erf(math.sqrt(h))
    if dof == 2:
        return 1.0 - math.exp(-h)
    if dof == 3:
        return math.erf(math.sqrt(h)) - math.sqrt(2.0 * x / math.pi) * math.exp(-h)
    if dof == 4:
        return 1.0 - math.exp(-h) * (1.0 + h)
    raise ValueError(f"dof must be 1..4, got {dof}")


def chi2_quantile(p: float, dof: int) -> float:
    """The x with P(chi2_dof <= x) = p, by bisection (exact to 1e-10)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"probability must be in (0, 1), got {p}")
    lo, hi = 0.0, 1.0
    while _chi2_cdf(hi, dof) < p:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if _chi2_cdf(mid, dof) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-10:
            break
    return 0.5 * (lo + hi)


@dataclass(frozen=True)
class EkfParams:
    """Noise densities, gates and GNSS-handling settings (SI units)."""

    accel_noise: float = 0.35          # accelerometer white noise as velocity process noise [m/s^2]
    gyro_noise: float = 0.005          # gyro white noise [rad/s]
    gyro_bias_walk: float = 2e-5       # [rad/s/sqrt(s)]
    accel_bias_walk: float = 2e-3      # [m/s^2/sqrt(s)]
    current_walk: float = 0.002        # water current random walk [m/s/sqrt(s)] (USV)
    gate_probability: float = 0.9999   # chi-square gate of every measurement
    gnss_min_fix: int = 3
    gnss_min_sats: int = 6
    gnss_max_hacc: float = 5.0         # worse reported accuracy: GNSS unusable [m]
    gnss_pos_floor: float = 0.3        # minimum position noise used for GNSS [m]
    gnss_vel_noise: float = 0.15       # [m/s]
    gnss_reset_after_s: float = 5.0    # consistently good this long -> reset to GNSS
    gnss_steady_m: float = 1.0         # max wander of the offset that counts as steady [m]
    gnss_glitch_radius: float = 5.0    # largest offset a reset may correct without travel [m]
    dead_reckoning_drift: float = 0.05  # plausible drift per metre travelled without absolute aiding
    pose_veto_s: float = 5.0           # no GNSS reset this soon after an accepted pose fix
    max_dt: float = 0.1                # longest IMU step integrated at once [s]
    min_dt: float = 1e-5
    pos_std_lost: float = 2.0          # horizontal 1-sigma above which position is not "good" [m]
    init_pos_std: float = 1.0
    init_yaw_std: float = math.radians(5.0)
    init_vel_std: float = 0.5
    init_gyro_bias_std: float = 0.01
    init_accel_bias_std: float = 0.2
    init_current_std: float = 0.5      # [m/s] (only a speed-through-water log observes it)

    def __post_init__(self):
        for name in ("accel_noise", "gyro_noise", "gyro_bias_walk", "accel_bias_walk", "gnss_max_hacc",
                     "gnss_pos_floor", "gnss_vel_noise", "gnss_reset_after_s", "gnss_steady_m", "max_dt",
                     "gnss_glitch_radius", "dead_reckoning_drift",
                     "min_dt", "pos_std_lost", "init_pos_std", "init_yaw_std", "init_vel_std",
                     "init_gyro_bias_std", "init_accel_bias_std", "current_walk", "init_current_std"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"EkfParams.{name} must be a finite number > 0, got {v!r}")
        if not 0.5 < self.gate_probability < 1.0:
            raise ValueError(f"EkfParams.gate_probability must be in (0.5, 1), got {self.gate_probability!r}")
        if self.pose_veto_s < 0:
            raise ValueError(f"EkfParams.pose_veto_s must be >= 0, got {self.pose_veto_s!r}")
        if self.min_dt >= self.max_dt:
            raise ValueError(f"EkfParams.min_dt ({self.min_dt}) must be below max_dt ({self.max_dt})")


@dataclass(frozen=True)
class Fusion:
    """Outcome of one measurement: fused or not, and why."""

    accepted: bool
    nis: float                  # normalised innovation squared
    test_ratio: float           # nis / gate bound; < 1 passes
    innovation: tuple[float, ...]
    reason: str = ""            # "" when fused: 'gate', 'quality', 'uninitialised', 'numerical',
                                # 'inhibited' (passed the gate, held out by the integrity monitor)


@dataclass(frozen=True)
class EkfEvent:
    t: float
    kind: str                   # 'gnss_rejected', 'gnss_recovered', 'gnss_reset', 'initialised'
    text: str


@dataclass(frozen=True)
class EkfStatus:
    """What ArduPilot reports in EKF_STATUS_REPORT, plus our extras.

    The *_variance fields are innovation test ratios (ArduPilot fills
    EKF_STATUS_REPORT's variances with them: < 1 good, > 1 failing)."""

    flags: int
    velocity_variance: float
    pos_horiz_variance: float
    compass_variance: float
    pos_std: float                 # 1-sigma horizontal position [m] (largest axis)
    yaw_std: float                 # [rad]
    gnss_glitching: bool
    gnss_rejected: int             # GNSS positions rejected since start
    healthy: bool                  # initialised, finite and position good


@dataclass
class _Gnss:
    rejected: int = 0
    glitching: bool = False
    # consistency window while glitching: (t, dx, dy) innovation of good samples
    window: list = field(default_factory=list)
    last_accept_t: float = -math.inf


class NavEkf:
    """The estimator: call ``predict_imu`` per IMU sample and ``fuse_*`` as
    measurements arrive (all with the core's time ``t`` in seconds)."""

    def __init__(self, params: EkfParams | None = None):
        self.params = params or EkfParams()
        p = self.params
        self.x = np.zeros(_k.N)
        # position, velocity and yaw are set by whichever source initialises
        # them; the biases and the current start from their priors
        self.P = np.diag([1e4, 1e4, p.init_vel_std ** 2, p.init_vel_std ** 2, math.pi ** 2,
                          p.init_gyro_bias_std ** 2, p.init_accel_bias_std ** 2, p.init_accel_bias_std ** 2,
                          p.init_current_std ** 2, p.init_current_std ** 2])
        self._ws = np.zeros((_k.WS_ROWS, _k.N))
        self._out = np.zeros(2 + _k.M_MAX)
        self._z = np.zeros(_k.M_MAX)
        self._R = np.zeros((_k.M_MAX, _k.M_MAX))
        self._q = np.array([p.accel_noise, p.gyro_noise, p.gyro_bias_walk, p.accel_bias_walk, p.current_walk])
        self._gate = np.array([chi2_quantile(p.gate_probability, int(m)) for m in _k.MEAS_DIM])
        self.t: float | None = None
        self.have_pos = False
        self.have_yaw = False
        self.gyro_z = 0.0
        self.ratios = {"vel": 0.0, "pos": 0.0, "yaw": 0.0, "odom": 0.0, "pose": 0.0}
        self.last_aid_t = {"pos": -math.inf, "vel": -math.inf, "yaw": -math.inf}
        self.last_pose_t = -math.inf
        self.gnss = _Gnss()
        self.travelled_unaided = 0.0       # metres since the last accepted absolute position
        self.gnss_inhibit = False          # set by an integrity monitor (gnss_monitor.py)
        self.events: list[EkfEvent] = []

    # ------------------------------------------------------------ set-up
    @property
    def initialised(self) -> bool:
        return self.have_pos and self.have_yaw

    def initialise(self, t: float, x: float, y: float, yaw: float, vx: float = 0.0, vy: float = 0.0,
                   pos_std: float | None = None, yaw_std: float | None = None) -> None:
        """Set the whole state (biases zero) and a diagonal covariance."""
        p = self.params
        for name, v in (("t", t), ("x", x), ("y", y), ("yaw", yaw), ("vx", vx), ("vy", vy)):
            _finite(name, v)
        self.x[:] = (x, y, vx, vy, _wrap(yaw), 0.0, 0.0, 0.0, 0.0, 0.0)
        ps = p.init_pos_std if pos_std is None else pos_std
        ys = p.init_yaw_std if yaw_std is None else yaw_std
        self.P[:] = np.diag([ps ** 2, ps ** 2, p.init_vel_std ** 2, p.init_vel_std ** 2, ys ** 2,
                             p.init_gyro_bias_std ** 2, p.init_accel_bias_std ** 2,
                             p.init_accel_bias_std ** 2, p.init_current_std ** 2, p.init_current_std ** 2])
        self.have_pos = self.have_yaw = True
        self.t = float(t)
        self.travelled_unaided = 0.0       # an absolute position, as a fix is
        self.events.append(EkfEvent(t, "initialised", f"EKF initialised at ({x:.1f}, {y:.1f}) m"))

    # ------------------------------------------------------------ prediction
    def predict_imu(self, t: float, gyro_z: float, accel_x: float, accel_y: float) -> None:
        """One IMU sample: body rates [rad/s] and specific force [m/s^2]
        (x forward, y left).  A gap longer than ``max_dt`` is integrated in
        max_dt steps with the same sample; a repeated or older time is ignored."""
        _finite("gyro_z", gyro_z)
        _finite("accel_x", accel_x)
        _finite("accel_y", accel_y)
        _finite("t", t)
        t = float(t)
        if self.t is None:
            self.t = t
            return
        dt = t - self.t
        if dt < self.params.min_dt:
            return
        self.t = t
        self.gyro_z = gyro_z
        if not self.initialised:
            return
        self.travelled_unaided += math.hypot(self.x[2], self.x[3]) * dt
        while dt > 1e-12:
            step = min(dt, self.params.max_dt)
            _k.ekf_predict(self.x, self.P, gyro_z, accel_x, accel_y, step, self._q, self._ws)
            dt -= step

    def predict_imu_batch(self, samples: np.ndarray) -> None:
        """A block of IMU samples in time order, float64 (n, 7) rows (t,
        gyro x/y/z [rad/s], accel x/y/z [m/s^2]) as ``ImuModel.sample_array``
        or a driver's FIFO read gives them: one call, one kernel loop (the
        per-sample Python cost is what a 200-400 Hz IMU cannot afford)."""
        a = samples
        if not (isinstance(a, np.ndarray) and a.dtype == np.float64 and a.flags.c_contiguous):
            a = np.ascontiguousarray(a, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] != 7:
            raise ValueError(f"IMU samples must be an (n, 7) array (t, gyro xyz, accel xyz), got shape {a.shape}")
        if a.shape[0] == 0:
            return
        p = self.params
        t0 = float(a[0, 0]) if self.t is None else float(self.t)
        t, travelled, gz, status = _k.ekf_predict_batch(self.x, self.P, a, t0, self._q, self._ws, p.min_dt,
                                                        p.max_dt, self.initialised)
        if status == -1:
            raise ValueError("IMU samples must be finite (NaN or inf found)")
        if status == -2:
            raise ValueError("IMU samples must be in time order")
        if self.t is None:
            self.t = t0
        if t != self.t:
            self.gyro_z = float(gz)
        self.t = float(t)
        self.travelled_unaided += travelled

    # ------------------------------------------------------------ measurements
    _DIMS = tuple(int(m) for m in _k.MEAS_DIM)

    def _fuse(self, kind: int, z, R, apply: bool = True) -> Fusion:
        """z: tuple of m values; R: tuple of m variances (diagonal) or an
        (m, m) array."""
        m = self._DIMS[kind]
        zb, Rb = self._z, self._R
        for i in range(m):
            zb[i] = z[i]
        if isinstance(R, tuple):
            Rb.fill(0.0)
            for i in range(m):
                Rb[i, i] = R[i]
        else:
            Rb[:m, :m] = R
        status = _k.ekf_update(self.x, self.P, kind, zb, Rb, self._gate[kind], apply, self._ws, self._out)
        o = self._out.tolist()
        innov = tuple(o[2:2 + m])
        if status < 0:
            return Fusion(False, o[0], o[1], innov, "numerical")
        return Fusion(status == 1, o[0], o[1], innov, "" if status == 1 else "gate")

    def fuse_compass(self, t: float, yaw: float, std: float) -> Fusion:
        """Heading as ENU yaw [rad] with its 1-sigma [rad]."""
        _finite("yaw", yaw)
        _positive("std", std)
        if not self.have_yaw:
            self.x[_k.YAW] = _wrap(yaw)
            self.P[_k.YAW, :] = 0.0
            self.P[:, _k.YAW] = 0.0
            self.P[_k.YAW, _k.YAW] = std ** 2
            self.have_yaw = True
            self._maybe_initialised(t)
            return Fusion(True, 0.0, 0.0, (0.0,))
        if not self.initialised:
            return Fusion(False, 0.0, 0.0, (0.0,), "uninitialised")
        f = self._fuse(MEAS_YAW, (yaw,), (std * std,))
        self.ratios["yaw"] = f.test_ratio
        if f.accepted:
            self.last_aid_t["yaw"] = t
        return f

    def fuse_water_speed(self, t: float, speed: float, std: float, lateral_std: float | None = None) -> Fusion:
        """Speed through the water along the hull [m/s] from a speed log
        (USV), 1-sigma ``std``.  Measured against velocity over ground
        minus the water current, so while GNSS or lidar fixes hold the
        velocity the filter learns the current, and keeps dead reckoning
        with it when they are gone.  ``lateral_std``: also "no sway through
        the water" (0 +- lateral_std), true of a displacement hull at
        cruising speed; it is what makes the cross-track current observable
        on a straight leg."""
        _finite("speed", speed)
        _positive("std", std)
        if not self.initialised:
            return Fusion(False, 0.0, 0.0, (0.0,), "uninitialised")
        if lateral_std is None:
            f = self._fuse(MEAS_WATER_SPEED, (speed,), (std * std,))
        else:
            _positive("lateral_std", lateral_std)
            f = self._fuse(MEAS_WATER_VEL, (speed, 0.0), (std * std, lateral_std * lateral_std))
        self.ratios["odom"] = f.test_ratio
        if f.accepted:
            self.last_aid_t["vel"] = t
        return f

    @property
    def current(self) -> tuple[float, float]:
        """Estimated water current east/north [m/s]."""
        return float(self.x[_k.CX]), float(self.x[_k.CY])

    def fuse_body_speed(self, t: float, speed: float, std: float, lateral_std: float | None = None) -> Fusion:
        """Forward speed [m/s] from wheel odometry or a speed log, 1-sigma
        ``std``.  With ``lateral_std`` also the no-side-slip constraint
        (lateral body velocity 0 +- lateral_std): wheeled vehicles only."""
        _finite("speed", speed)
        _positive("std", std)
        if not self.initialised:
            return Fusion(False, 0.0, 0.0, (0.0,), "uninitialised")
        if lateral_std is None:
            f = self._fuse(MEAS_BODY_SPEED, (speed,), (std * std,))
        else:
            _positive("lateral_std", lateral_std)
            f = self._fuse(MEAS_BODY_VEL, (speed, 0.0), (std * std, lateral_std * lateral_std))
        self.ratios["odom"] = f.test_ratio
        if f.accepted:
            self.last_aid_t["vel"] = t
        return f

    def fuse_pose(self, t: float, x: float, y: float, yaw: float, cov) -> Fusion:
        """External pose fix (lidar localization): map-frame x, y [m], yaw
        [rad] and its 3x3 covariance (x, y, yaw)."""
        for name, v in (("x", x), ("y", y), ("yaw", yaw)):
            _finite(name, v)
        C = np.asarray(cov, dtype=np.float64)
        if C.shape != (3, 3) or not np.all(np.isfinite(C)):
            raise ValueError(f"pose covariance must be a finite 3x3 array, got shape {C.shape}")
        C = 0.5 * (C + C.T)
        if np.any(np.linalg.eigvalsh(C) <= 0):
            raise ValueError("pose covariance must be positive definite")
        if not self.initialised:
            self.initialise(t, x, y, yaw, pos_std=math.sqrt(max(C[0, 0], C[1, 1])),
                            yaw_std=math.sqrt(C[2, 2]))
            self.P[0:2, 0:2] = C[0:2, 0:2]
            self.last_pose_t = t
            return Fusion(True, 0.0, 0.0, (0.0, 0.0, 0.0))
        f = self._fuse(MEAS_POSE, (x, y, yaw), C)
        self.ratios["pose"] = f.test_ratio
        if f.accepted:
            self.last_pose_t = t
            self.travelled_unaided = 0.0
            self.last_aid_t["pos"] = t
            self.last_aid_t["yaw"] = t
        return f

    def fuse_gnss(self, t: float, x: float, y: float, vel_e: float, vel_n: float, hacc: float,
                  fix_type: int = 3, satellites: int = 12) -> tuple[Fusion, Fusion]:
        """A GNSS solution already in the map frame: position [m], velocity
        [m/s], reported 1-sigma accuracy [m].  Returns (velocity, position)
        fusion outcomes."""
        p = self.params
        for name, v in (("x", x), ("y", y), ("vel_e", vel_e), ("vel_n", vel_n)):
            _finite(name, v)
        bad = Fusion(False, 0.0, 0.0, (0.0, 0.0), "quality")
        if fix_type < p.gnss_min_fix or satellites < p.gnss_min_sats or not (hacc <= p.gnss_max_hacc):
            self.gnss.window.clear()
            return bad, bad
        r_pos = max(hacc, p.gnss_pos_floor) ** 2
        R_pos = (r_pos, r_pos)
        r_vel = p.gnss_vel_noise ** 2
        R_vel = (r_vel, r_vel)
        if not self.have_pos:
            self.x[0:4] = (x, y, vel_e, vel_n)
            self.P[0:4, :] = 0.0
            self.P[:, 0:4] = 0.0
            self.P[0:4, 0:4] = np.diag([r_pos, r_pos, r_vel, r_vel])
            self.have_pos = True
            self.gnss.last_accept_t = t
            self._maybe_initialised(t)
            ok = Fusion(True, 0.0, 0.0, (0.0, 0.0))
            return ok, ok
        if not self.initialised:
            wait = Fusion(False, 0.0, 0.0, (0.0, 0.0), "uninitialised")
            return wait, wait
        if self.gnss_inhibit:
            # an integrity monitor holds GNSS out: test it, fuse nothing
            fv = self._fuse(MEAS_GNSS_VEL, (vel_e, vel_n), R_vel, apply=False)
            fp = self._fuse(MEAS_GNSS_POS, (x, y), R_pos, apply=False)
            self.ratios["vel"], self.ratios["pos"] = fv.test_ratio, fp.test_ratio
            return _held(fv), _held(fp)
        g = self.gnss
        if g.glitching:
            # test both before fusing anything: a glitching receiver's velocity
            # is not trusted until its position agrees again
            fv = self._fuse(MEAS_GNSS_VEL, (vel_e, vel_n), R_vel, apply=False)
            fp = self._fuse(MEAS_GNSS_POS, (x, y), R_pos, apply=False)
            self.ratios["vel"], self.ratios["pos"] = fv.test_ratio, fp.test_ratio
            if fp.accepted and fv.accepted:
                g.glitching = False
                g.window.clear()
                self.events.append(EkfEvent(t, "gnss_recovered", "GNSS consistent again: using it"))
            else:
                self._glitch_window(t, fv, fp, x, y, vel_e, vel_n, R_pos, R_vel)
                return fv, fp
        fv = self._fuse(MEAS_GNSS_VEL, (vel_e, vel_n), R_vel)
        fp = self._fuse(MEAS_GNSS_POS, (x, y), R_pos)
        self.ratios["vel"], self.ratios["pos"] = fv.test_ratio, fp.test_ratio
        if fv.accepted:
            self.last_aid_t["vel"] = t
        if fp.accepted:
            self.last_aid_t["pos"] = t
            g.last_accept_t = t
            self.travelled_unaided = 0.0
        else:
            g.rejected += 1
            g.glitching = True
            g.window.clear()
            off = math.hypot(*fp.innovation)
            self.events.append(EkfEvent(t, "gnss_rejected",
                                        f"GNSS inconsistent with the estimate by {off:.0f} m: rejected"))
            self._glitch_window(t, fv, fp, x, y, vel_e, vel_n, R_pos, R_vel, counted=True)
        return fv, fp

    def _glitch_window(self, t, fv, fp, x, y, ve, vn, R_pos, R_vel, counted=False) -> None:
        p = self.params
        g = self.gnss
        if not counted and not fp.accepted:
            g.rejected += 1
        if not fv.accepted:
            g.window.clear()
            return
        g.window.append((t, fp.innovation[0], fp.innovation[1]))
        while g.window and g.window[0][0] < t - p.gnss_reset_after_s - 1e-9:
            g.window.pop(0)
        span = g.window[-1][0] - g.window[0][0]
        if span < p.gnss_reset_after_s - 1e-6 or t - self.last_pose_t < p.pose_veto_s:
            return
        d = np.array([(w[1], w[2]) for w in g.window])
        wander = float(np.max(np.hypot(*(d - d.mean(axis=0)).T)))
        if wander > p.gnss_steady_m:
            return
        off = math.hypot(*fp.innovation)
        if off > p.gnss_glitch_radius + p.dead_reckoning_drift * self.travelled_unaided:
            return
        self.travelled_unaided = 0.0
        self.x[0:4] = (x, y, ve, vn)
        self.P[0:4, :] = 0.0
        self.P[:, 0:4] = 0.0
        self.P[0:2, 0:2] = np.diag(R_pos)
        self.P[2:4, 2:4] = np.diag(R_vel)
        g.glitching = False
        g.window.clear()
        g.last_accept_t = t
        self.last_aid_t["pos"] = self.last_aid_t["vel"] = t
        self.events.append(EkfEvent(t, "gnss_reset", f"EKF position reset to GNSS ({off:.1f} m): "
                                                     f"GNSS consistent for {p.gnss_reset_after_s:g} s"))

    def fuse_gps_fix(self, fix: GpsFix, frame: LocalFrame, t: float | None = None) -> tuple[Fusion, Fusion]:
        """A receiver's ``GpsFix`` (WGS84) through ``frame`` into ``fuse_gnss``."""
        if fix.fix_type < 2:
            return self.fuse_gnss(fix.t if t is None else t, 0.0, 0.0, 0.0, 0.0, math.inf, fix.fix_type,
                                  fix.satellites)
        px, py = frame.to_local(fix.lat, fix.lon)
        return self.fuse_gnss(fix.t if t is None else t, px, py, fix.vel_e, fix.vel_n, fix.hacc,
                              fix.fix_type, fix.satellites)

    def _maybe_initialised(self, t: float) -> None:
        if self.initialised:
            self.events.append(EkfEvent(t, "initialised",
                                        f"EKF initialised at ({self.x[0]:.1f}, {self.x[1]:.1f}) m"))

    # ------------------------------------------------------------ outputs
    @property
    def pos_std(self) -> float:
        return float(math.sqrt(max(self.P[0, 0], self.P[1, 1], 0.0)))

    def status(self, t: float) -> EkfStatus:
        p = self.params
        finite = bool(np.all(np.isfinite(self.x)) and np.all(np.isfinite(self.P)))
        if not self.initialised:
            flags = EKF_UNINITIALIZED
        else:
            flags = 0
            if finite and math.sqrt(max(self.P[4, 4], 0.0)) < math.radians(30):
                flags |= EKF_ATTITUDE
            if finite and math.sqrt(max(self.P[2, 2], self.P[3, 3], 0.0)) < 1.0:
                flags |= EKF_VELOCITY_HORIZ
            good = finite and self.pos_std < p.pos_std_lost
            if good:
                flags |= EKF_POS_HORIZ_REL | EKF_PRED_POS_HORIZ_REL
                flags |= EKF_POS_HORIZ_ABS | EKF_PRED_POS_HORIZ_ABS
            if self.gnss.glitching:
                flags |= EKF_GPS_GLITCHING
        healthy = self.initialised and finite and self.pos_std < p.pos_std_lost
        return EkfStatus(flags, self.ratios["vel"], self.ratios["pos"], self.ratios["yaw"], self.pos_std,
                         float(math.sqrt(max(self.P[4, 4], 0.0))), self.gnss.glitching, self.gnss.rejected,
                         healthy)

    def state(self, t: float, frame: LocalFrame | None = None) -> VehicleState:
        lat, lon = frame.to_geo(self.x[0], self.x[1]) if frame is not None else (0.0, 0.0)
        return VehicleState(t=t, x=float(self.x[0]), y=float(self.x[1]), yaw=float(self.x[4]),
                            vx=float(self.x[2]), vy=float(self.x[3]),
                            yaw_rate=float(self.gyro_z - self.x[5]), lat=lat, lon=lon,
                            pos_std=self.pos_std, valid=self.initialised and self.status(t).healthy)


def _held(f: Fusion) -> Fusion:
    return Fusion(False, f.nis, f.test_ratio, f.innovation, "inhibited" if f.accepted else f.reason)


def _wrap(a: float) -> float:
    return (a + math.pi) % (2.0 * math.pi) - math.pi


_NUMBER = (int, float, np.floating, np.integer)


def _finite(name: str, v) -> None:
    if v.__class__ is not float and not isinstance(v, _NUMBER) or not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {v!r}")


def _positive(name: str, v) -> None:
    _finite(name, v)
    if v <= 0:
        raise ValueError(f"{name} must be > 0, got {v!r}")


def warm_kernels() -> None:
    ekf = NavEkf()
    ekf.initialise(0.0, 0.0, 0.0, 0.0)
    ekf.predict_imu(0.01, 0.0, 0.0, 0.0)
    ekf.predict_imu_batch(np.array([[0.015, 0, 0, 0.0, 0.0, 0.0, 9.8], [0.02, 0, 0, 0.0, 0.0, 0.0, 9.8]]))
    ekf.fuse_compass(0.01, 0.0, 0.05)
    ekf.fuse_body_speed(0.01, 0.0, 0.05)
    ekf.fuse_body_speed(0.01, 0.0, 0.05, 0.05)
    ekf.fuse_gnss(0.01, 0.0, 0.0, 0.0, 0.0, 0.5)
    ekf.fuse_pose(0.01, 0.0, 0.0, 0.0, np.diag([0.01, 0.01, 0.001]))
    ekf.fuse_water_speed(0.01, 0.0, 0.05)
    ekf.fuse_water_speed(0.01, 0.0, 0.05, 0.1)
