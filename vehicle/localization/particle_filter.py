"""Monte Carlo localization on the prior map (AMCL's design, our code).

- Motion: the odometry increment (distance, heading change) of a
  differential drive, applied to every particle with AMCL's "diff" odometry
  model noise: rotations perturbed by alpha1 * rotation + alpha2 *
  translation, the translation by alpha3 * translation + alpha4 * rotation.
- Measurement: the likelihood field (``particle_weights``: p = 1 + sum of
  pz^3 over the beams, AMCL's ad-hoc combination that stays robust to
  unmapped obstacles), weights multiplied and normalised.
- Resampling: low-variance (systematic) when the effective sample size
  falls below ``resample_ess`` of the particles; a fixed particle count.
- Recovery: AMCL's augmented MCL -- short- and long-term averages of the
  mean measurement likelihood (alpha_fast, alpha_slow); when the short one
  collapses below the long one, that share of particles is re-drawn
  uniformly over the map's free space.  ``relocalize_global`` spreads all
  of them (a kidnapped vehicle, a lost pose).  Uniform particles alone
  rarely land within a few decimetres and degrees of the truth on a large
  map, so with a scan at hand the spread is *boosted* from the measurement
  (as Mixture-MCL draws from the sensor model): ``global_boost`` times more
  uniform candidates are scored against the scan and the best ones kept;
  ``inject_from_scan`` does the same for a share of the particles while the
  cloud has not converged.  The best ``refine_top`` candidates are pulled
  onto the map by a few Gauss-Newton steps on the distance field (the scan
  matcher's refinement), which widens the basin a candidate must land in
  from a few decimetres to about a metre.
- Roughening: resampled particles get a small jitter (``roughen_xy``,
  ``roughen_yaw``), so a standing vehicle -- no motion noise to spread
  the copies -- still explores around its hypotheses.
- Threads: the weighting runs on one thread unless ``threads`` > 1 asks
  for numba's parallel kernel (particles split over that many threads,
  capped at numba's pool).  One thread is the default on purpose: the
  SITL runs several vehicles and processes on few cores, and the control
  loop should not compete with itself; a vehicle board with cores to spare
  sets it.  Both give the same numbers (integer sums per particle).
All randomness from the numpy Generator passed in.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from edgepilot.vehicle.localization._kernels import particle_weights, particle_weights_parallel, refine_pose
from edgepilot.vehicle.localization.likelihood_field import LikelihoodField


@dataclass(frozen=True)
class ParticleFilterParams:
    particles: int = 2000
    alpha1: float = 0.2             # rotation noise from rotation
    alpha2: float = 0.2             # rotation noise from translation [rad/m]
    alpha3: float = 0.2             # translation noise from translation
    alpha4: float = 0.2             # translation noise from rotation [m/rad]
    resample_ess: float = 0.5       # resample when ESS < this fraction of the particles
    alpha_slow: float = 0.001
    alpha_fast: float = 0.1
    converged_xy_std: float = 0.5   # [m]
    converged_yaw_std: float = 0.2  # [rad]
    global_boost: int = 10          # uniform candidates per particle scored on a global spread
    refine_top: int = 32            # boosted candidates refined on the distance field
    roughen_xy: float = 0.03        # [m] jitter of resampled particles
    roughen_yaw: float = 0.01       # [rad]
    cluster_radius: float = 1.0     # [m] particles this close to the best one form its cluster
    cluster_mass: float = 0.9       # converged needs this share of the weight in that cluster
    threads: int = 1                # 1: single-thread kernel; n > 1: parallel kernel on n threads

    def __post_init__(self):
        if not isinstance(self.particles, int) or self.particles < 10:
            raise ValueError(f"ParticleFilterParams.particles must be an integer >= 10, got {self.particles!r}")
        if not isinstance(self.threads, int) or isinstance(self.threads, bool) or self.threads < 1:
            raise ValueError(f"ParticleFilterParams.threads must be an integer >= 1, got {self.threads!r}")
        for name in ("alpha1", "alpha2", "alpha3", "alpha4"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"ParticleFilterParams.{name} must be a finite number >= 0, got {v!r}")
        for name in ("resample_ess", "alpha_slow", "alpha_fast"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and 0 < v <= 1):
                raise ValueError(f"ParticleFilterParams.{name} must be in (0, 1], got {v!r}")
        if not isinstance(self.global_boost, int) or self.global_boost < 1:
            raise ValueError(f"ParticleFilterParams.global_boost must be an integer >= 1, got {self.global_boost!r}")
        if self.alpha_slow >= self.alpha_fast:
            raise ValueError("ParticleFilterParams: alpha_slow must be below alpha_fast")


def weigh_particles(field: LikelihoodField, poses: np.ndarray, bx: np.ndarray, by: np.ndarray,
                    out: np.ndarray | None = None, threads: int = 1) -> np.ndarray:
    """AMCL's likelihood-field weight of every pose, 1 + sum of pz^3 over
    the beam endpoints (vehicle frame): the validated front of the kernels.
    poses: (N, 3) float64 (x, y, yaw); bx, by: 1-D float64 of one length;
    out: (N,) float64 to fill, or None.  ``threads`` > 1 runs the parallel
    kernel on that many threads (capped at numba's pool).  Non-finite poses
    are safe (their endpoints count as off the map)."""
    poses = _as_f64(poses, "poses")
    bx = _as_f64(bx, "bx")
    by = _as_f64(by, "by")
    if poses.ndim != 2 or poses.shape[1] != 3:
        raise ValueError(f"poses must be an (N, 3) array of (x, y, yaw), got shape {poses.shape}")
    if bx.ndim != 1 or bx.shape != by.shape:
        raise ValueError(f"bx and by must be 1-D arrays of one length, got {bx.shape} and {by.shape}")
    n = poses.shape[0]
    if out is None:
        out = np.empty(n)
    elif out.dtype != np.float64 or out.shape != (n,) or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"out must be a writeable contiguous float64 array of shape ({n},), "
                         f"got {out.dtype} {out.shape}")
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
    rows, cols = field.cube.shape
    if field.cube_flat.dtype != np.uint16 or field.cube_flat.shape != (rows * cols + 1,):
        raise ValueError(f"field.cube_flat must be uint16 of {rows * cols + 1} cells (the cube and the "
                         f"off-map value), got {field.cube_flat.dtype} {field.cube_flat.shape}")
    args = (poses, bx, by, field.cube_flat, rows, cols, field.cube_scale, field.resolution,
            field.origin_x, field.origin_y, out)
    if threads == 1 or n < 2:
        particle_weights(*args)
    else:
        before = numba.get_num_threads()
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        try:
            particle_weights_parallel(*args)
        finally:
            numba.set_num_threads(before)
    return out


def _as_f64(a, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind not in "fiu":
        raise ValueError(f"{name} must be a numeric array, got dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.float64)


@dataclass(frozen=True)
class PoseEstimate:
    x: float
    y: float
    yaw: float
    cov: np.ndarray                 # (3, 3) over (x, y, yaw)
    converged: bool
    mass: float = 1.0               # share of the weight in the reported cluster


class ParticleFilter:
    def __init__(self, field: LikelihoodField, rng: np.random.Generator,
                 params: ParticleFilterParams | None = None):
        self.field = field
        self.rng = rng
        self.params = params or ParticleFilterParams()
        n = self.params.particles
        self.poses = np.zeros((n, 3))
        self.weights = np.full(n, 1.0 / n)
        self._lik = np.zeros(n)
        self.w_slow = 0.0
        self.w_fast = 0.0
        self.initialised = False

    # ------------------------------------------------------------ set-up
    def initialise(self, x: float, y: float, yaw: float, xy_std: float = 0.3, yaw_std: float = 0.1) -> None:
        """Particles drawn around a known pose."""
        for name, v in (("x", x), ("y", y), ("yaw", yaw), ("xy_std", xy_std), ("yaw_std", yaw_std)):
            if not math.isfinite(v):
                raise ValueError(f"{name} must be finite, got {v!r}")
        n = self.params.particles
        self.poses[:, 0] = x + self.rng.standard_normal(n) * xy_std
        self.poses[:, 1] = y + self.rng.standard_normal(n) * xy_std
        self.poses[:, 2] = _wrap(yaw + self.rng.standard_normal(n) * yaw_std)
        self.weights[:] = 1.0 / n
        self.w_slow = self.w_fast = 0.0
        self.initialised = True

    def relocalize_global(self, bx: np.ndarray | None = None, by: np.ndarray | None = None) -> None:
        """All particles over the map's free space, any heading: uniformly,
        or -- given the scan endpoints -- the best of ``global_boost`` times
        as many uniform candidates."""
        n = self.params.particles
        if bx is None or len(bx) == 0:
            self._spread(np.arange(n))
        else:
            self.poses[:] = self._best_candidates(bx, by, n, self.params.global_boost)
        self.weights[:] = 1.0 / n
        self.w_slow = self.w_fast = 0.0
        self.initialised = True

    def inject_from_scan(self, bx: np.ndarray, by: np.ndarray, share: float = 0.1) -> None:
        """Replace the lowest-weight ``share`` of the particles by the best
        of ``global_boost`` times as many uniform candidates for this scan."""
        n = self.params.particles
        k = int(share * n)
        if k < 1 or len(bx) == 0:
            return
        worst = np.argsort(self.weights, kind="stable")[:k]
        self.poses[worst] = self._best_candidates(bx, by, k, self.params.global_boost)
        # a small weight: they count only once the scans favour them
        self.weights[worst] = 0.01 / self.params.particles
        self.weights /= self.weights.sum()

    def _best_candidates(self, bx, by, k: int, boost: int) -> np.ndarray:
        bx = np.ascontiguousarray(bx, dtype=np.float64)
        by = np.ascontiguousarray(by, dtype=np.float64)
        m = k * boost
        saved = self.poses
        self.poses = np.zeros((m, 3))
        self._spread(np.arange(m))
        cand, self.poses = self.poses, saved
        score = weigh_particles(self.field, cand, bx, by, threads=self.params.threads)
        f = self.field
        best = cand[np.argsort(-score, kind="stable")[:k]].copy()
        H = np.zeros((3, 3))
        stats = np.zeros(3)
        for i in range(min(self.params.refine_top, k)):
            refine_pose(best[i], bx, by, f.dist, f.resolution, f.origin_x, f.origin_y, 0.5, 0.1, 10, H, stats)
        return best

    def _spread(self, idx: np.ndarray) -> None:
        f = self.field
        if len(f.free_cells) == 0:
            raise ValueError("the map has no free cell to spread particles over")
        cells = f.free_cells[self.rng.integers(0, len(f.free_cells), idx.size)]
        jitter = self.rng.random((idx.size, 2))
        self.poses[idx, 0] = f.origin_x + (cells[:, 1] + jitter[:, 0]) * f.resolution
        self.poses[idx, 1] = f.origin_y + (cells[:, 0] + jitter[:, 1]) * f.resolution
        self.poses[idx, 2] = self.rng.uniform(-math.pi, math.pi, idx.size)

    # ------------------------------------------------------------ steps
    def predict(self, distance: float, dyaw: float) -> None:
        """Odometry increment: forward travel [m] and heading change [rad],
        body frame of the previous pose (an arc)."""
        if not (math.isfinite(distance) and math.isfinite(dyaw)):
            raise ValueError(f"odometry increment must be finite, got ({distance!r}, {dyaw!r})")
        p = self.params
        n = p.particles
        rot1 = 0.5 * dyaw if abs(distance) > 1e-6 else 0.0
        rot2 = dyaw - rot1
        trans = abs(distance)
        z = self.rng.standard_normal((3, n))
        s_r1 = math.sqrt(p.alpha1 * rot1 * rot1 + p.alpha2 * trans * trans)
        s_t = math.sqrt(p.alpha3 * trans * trans + p.alpha4 * (rot1 * rot1 + rot2 * rot2))
        s_r2 = math.sqrt(p.alpha1 * rot2 * rot2 + p.alpha2 * trans * trans)
        r1 = rot1 + s_r1 * z[0]
        tr = distance + math.copysign(1.0, distance) * s_t * z[1] if trans > 0 else s_t * z[1]
        r2 = rot2 + s_r2 * z[2]
        h = self.poses[:, 2] + r1
        self.poses[:, 0] += tr * np.cos(h)
        self.poses[:, 1] += tr * np.sin(h)
        self.poses[:, 2] = _wrap(h + r2)

    def update(self, bx: np.ndarray, by: np.ndarray) -> float:
        """Weight by the scan endpoints (vehicle frame, ``scan_endpoints``),
        resample if needed.  Returns the per-beam fit of the scan under the
        cloud: sum of w_i (p_i - 1) / beams with the weights before the
        update (~0.13 for a scan on the map with AMCL's defaults; low = the
        scan does not fit where the cloud believes the vehicle is)."""
        bx = np.ascontiguousarray(bx, dtype=np.float64)
        by = np.ascontiguousarray(by, dtype=np.float64)
        if bx.shape != by.shape or bx.ndim != 1:
            raise ValueError(f"bx and by must be 1-D arrays of one length, got {bx.shape} and {by.shape}")
        if bx.size == 0:
            return 0.0
        weigh_particles(self.field, self.poses, bx, by, self._lik, self.params.threads)
        fit = (float(self.weights @ self._lik) - 1.0) / bx.size
        w = self.weights * self._lik
        total = w.sum()
        if not (total > 0 and math.isfinite(total)):
            self.weights[:] = 1.0 / self.params.particles
        else:
            self.weights = w / total
        w_avg = float(np.mean(self._lik))
        p = self.params
        self.w_slow = w_avg if self.w_slow == 0 else self.w_slow + p.alpha_slow * (w_avg - self.w_slow)
        self.w_fast = w_avg if self.w_fast == 0 else self.w_fast + p.alpha_fast * (w_avg - self.w_fast)
        ess = 1.0 / float(np.sum(self.weights ** 2))
        if ess < p.resample_ess * p.particles:
            self.resample()
        return fit

    def resample(self) -> None:
        """Low-variance resampling, plus AMCL's random-particle injection."""
        p = self.params
        n = p.particles
        cum = np.cumsum(self.weights)
        cum[-1] = 1.0
        u = (self.rng.random() + np.arange(n)) / n
        idx = np.searchsorted(cum, u)
        # the heaviest particle goes first: after resampling every weight is
        # 1/n, and ``estimate`` clusters around the argmax, which is then
        # index 0 -- it must not be whichever copy landed there (or a
        # particle the recovery below scatters over the map)
        idx[0] = int(np.argmax(self.weights))
        self.poses = self.poses[idx]
        self.weights[:] = 1.0 / n
        if p.roughen_xy > 0 or p.roughen_yaw > 0:
            j = self.rng.standard_normal((n, 3))
            self.poses[:, 0] += p.roughen_xy * j[:, 0]
            self.poses[:, 1] += p.roughen_xy * j[:, 1]
            self.poses[:, 2] = _wrap(self.poses[:, 2] + p.roughen_yaw * j[:, 2])
        if self.w_slow > 0:
            share = max(0.0, 1.0 - self.w_fast / self.w_slow)
            k = int(self.rng.binomial(n, min(share, 1.0))) if share > 0 else 0
            if k:
                self._spread(1 + self.rng.choice(n - 1, min(k, n - 1), replace=False))

    # ------------------------------------------------------------ output
    def estimate(self) -> PoseEstimate:
        """Mean and covariance of the cluster around the heaviest particle
        (AMCL reports its heaviest cluster, not the mean of a multimodal
        cloud); converged when that cluster holds ``cluster_mass`` of the
        weight and is tight."""
        p = self.params
        best = self.poses[int(np.argmax(self.weights))]
        near = ((np.hypot(self.poses[:, 0] - best[0], self.poses[:, 1] - best[1]) < p.cluster_radius)
                & (np.abs(_wrap(self.poses[:, 2] - best[2])) < 0.5))
        mass = float(self.weights[near].sum())
        w = self.weights[near] / mass
        pts = self.poses[near]
        x = float(w @ pts[:, 0])
        y = float(w @ pts[:, 1])
        yaw = math.atan2(float(w @ np.sin(pts[:, 2])), float(w @ np.cos(pts[:, 2])))
        d = np.column_stack((pts[:, 0] - x, pts[:, 1] - y, _wrap(pts[:, 2] - yaw)))
        cov = (d * w[:, None]).T @ d
        conv = (mass >= p.cluster_mass and math.sqrt(max(cov[0, 0], cov[1, 1])) < p.converged_xy_std
                and math.sqrt(cov[2, 2]) < p.converged_yaw_std)
        return PoseEstimate(x, y, yaw, cov, bool(conv and self.initialised), mass)


def _wrap(a):
    return (a + np.pi) % (2.0 * np.pi) - np.pi
