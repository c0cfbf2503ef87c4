"""Scan-to-map matching on the likelihood field: pose fixes with covariance.

Two stages (the first only when needed):
1. correlative search (Olson's real-time correlative scan matching, brute
   force): every pose of a window around the prior pose scored by the sum
   of the likelihood field at the beam endpoints -- robust to a prior a few
   decimetres and degrees off;
2. point-to-map Gauss-Newton on the distance field (bilinear, Huber
   weights, beams farther than ``inlier_dist`` from any mapped obstacle left
   out): sub-cell precision.

The covariance is the Gauss-Newton one, sigma^2 (J^T W J)^-1 with sigma^2
the weighted residual variance, floored at ``min_std`` (the map's own
error) and at the search's half step if the refinement did not converge.
A fix is refused (``ok`` False, with the reason) when too few beams fit
the map: the vehicle is off the map, the scene is unmapped, or the prior
is wrong by more than the window.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgepilot.vehicle.localization._kernels import correlative_search, refine_pose
from edgepilot.vehicle.localization.likelihood_field import LikelihoodField


@dataclass(frozen=True)
class MatcherParams:
    window_xy: float = 0.4          # half-width of the search window [m]
    window_yaw: float = math.radians(6.0)
    step_yaw: float = math.radians(1.0)
    step_xy: float | None = None    # default: the map resolution
    inlier_dist: float = 0.3        # [m]
    huber: float = 0.05             # [m]
    iterations: int = 15
    min_inlier_fraction: float = 0.6
    min_inliers: int = 20
    min_std_xy: float = 0.02        # [m]
    min_std_yaw: float = math.radians(0.3)
    fast_inliers: float = 0.8       # inlier share that lets a refinement from the prior stand alone
    # tracking mode (``ScanMatcher.track``): a few returns matched around the EKF's pose
    track_min_inliers: int = 8
    track_min_inlier_fraction: float = 0.7
    track_max_rms: float = 0.12     # [m] RMS distance of the fitted endpoints to the map
    track_min_conditioning: float = 0.02   # smallest / largest eigenvalue of the position information
    track_max_std_xy: float = 0.5   # [m] a fix less certain than this is no use to the EKF
    track_max_std_yaw: float = math.radians(3.0)
    track_window_xy: tuple[float, float] = (0.3, 5.0)   # [m] search half-width: 3 sigma of the prior, clamped
    track_window_yaw: tuple[float, float] = (math.radians(1.0), math.radians(6.0))
    track_cells: int = 30           # at most this many search steps each side (coarser steps on a wide window)

    def __post_init__(self):
        for name in ("window_xy", "window_yaw", "step_yaw", "inlier_dist", "huber", "min_std_xy", "min_std_yaw"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"MatcherParams.{name} must be a finite number > 0, got {v!r}")
        if self.step_xy is not None and not (math.isfinite(self.step_xy) and self.step_xy > 0):
            raise ValueError(f"MatcherParams.step_xy must be > 0 [m], got {self.step_xy!r}")
        if not 0 < self.min_inlier_fraction <= 1:
            raise ValueError(f"MatcherParams.min_inlier_fraction must be in (0, 1], got {self.min_inlier_fraction!r}")
        if self.iterations < 1 or self.min_inliers < 3:
            raise ValueError("MatcherParams: iterations must be >= 1 and min_inliers >= 3")
        if self.track_min_inliers < 3 or self.track_cells < 1:
            raise ValueError("MatcherParams: track_min_inliers must be >= 3 and track_cells >= 1")
        for name in ("track_window_xy", "track_window_yaw"):
            lo, hi = getattr(self, name)
            if not (0 < lo <= hi and math.isfinite(hi)):
                raise ValueError(f"MatcherParams.{name} must be (low, high) with 0 < low <= high, got {(lo, hi)!r}")
        if not 0 < self.track_min_conditioning < 1:
            raise ValueError(f"MatcherParams.track_min_conditioning must be in (0, 1), "
                             f"got {self.track_min_conditioning!r}")


@dataclass(frozen=True)
class PoseFix:
    """A pose measurement for the EKF (map frame)."""

    t: float
    x: float
    y: float
    yaw: float
    cov: np.ndarray                 # (3, 3) over (x, y, yaw)
    ok: bool
    inlier_fraction: float
    reason: str = ""


class ScanMatcher:
    def __init__(self, field: LikelihoodField, params: MatcherParams | None = None):
        self.field = field
        self.params = params or MatcherParams()
        p = self.params
        self.step_xy = p.step_xy or field.resolution
        self.n_lin = max(1, int(round(p.window_xy / self.step_xy)))
        self.n_ang = max(1, int(round(p.window_yaw / p.step_yaw)))
        self._scores = np.zeros((2 * self.n_ang + 1, 2 * self.n_lin + 1, 2 * self.n_lin + 1))
        self._H = np.zeros((3, 3))
        self._stats = np.zeros(3)

    def match(self, t: float, bx: np.ndarray, by: np.ndarray, prior: tuple[float, float, float],
              search: bool | None = None) -> PoseFix:
        """Register the scan endpoints (vehicle frame) to the map from the
        ``prior`` (x, y, yaw).  ``search`` True always runs the correlative
        stage, False never, None (default) when the refinement from the
        prior alone does not fit well."""
        bx = np.ascontiguousarray(bx, dtype=np.float64)
        by = np.ascontiguousarray(by, dtype=np.float64)
        if bx.shape != by.shape or bx.ndim != 1:
            raise ValueError(f"bx and by must be 1-D arrays of one length, got {bx.shape} and {by.shape}")
        x0, y0, yaw0 = (float(v) for v in prior)
        if not all(math.isfinite(v) for v in (x0, y0, yaw0)):
            raise ValueError(f"prior pose must be finite, got {prior!r}")
        p = self.params
        f = self.field
        nan3 = np.full((3, 3), np.nan)
        if bx.size < p.min_inliers:
            return PoseFix(t, x0, y0, yaw0, nan3, False, 0.0, f"only {bx.size} valid beams")
        pose = np.array([x0, y0, yaw0])
        if search is None:
            refine_pose(pose, bx, by, f.dist, f.resolution, f.origin_x, f.origin_y, p.inlier_dist, p.huber,
                        p.iterations, self._H, self._stats)
            n_in, rss, iters = int(self._stats[0]), float(self._stats[1]), int(self._stats[2])
            good = (n_in >= max(p.min_inliers, p.fast_inliers * bx.size) and iters < p.iterations
                    and rss / max(n_in, 1) < p.huber ** 2)
            if good:
                return self._fix(t, pose, bx.size)
            pose[:] = (x0, y0, yaw0)
            search = True
        if search:
            k, i, j = correlative_search(x0, y0, yaw0, bx, by, f.lik, f.resolution, f.origin_x, f.origin_y,
                                         f.lik_outside, self.n_lin, self.step_xy, self.n_ang, p.step_yaw,
                                         self._scores)
            pose[:] = (x0 + (j - self.n_lin) * self.step_xy, y0 + (i - self.n_lin) * self.step_xy,
                       yaw0 + (k - self.n_ang) * p.step_yaw)
        refine_pose(pose, bx, by, f.dist, f.resolution, f.origin_x, f.origin_y, p.inlier_dist, p.huber,
                    p.iterations, self._H, self._stats)
        return self._fix(t, pose, bx.size)

    def track(self, t: float, bx: np.ndarray, by: np.ndarray, prior: tuple[float, float, float],
              prior_cov: np.ndarray) -> PoseFix:
        """Tracking mode: register a scan with few returns (a breakwater head
        at the edge of the lidar's range, a sparse yard) around the EKF's
        pose ``prior`` (x, y, yaw) with its covariance ``prior_cov`` (3, 3)
        over (x, y, yaw).  A correlative search over the prior's 3-sigma
        window (clamped to ``track_window_xy`` / ``track_window_yaw``), then
        Gauss-Newton on the distance field.  The fix is ``ok`` only when it
        is well conditioned: at least ``track_min_inliers`` beams and
        ``track_min_inlier_fraction`` of them on the map, their RMS distance
        to it at most ``track_max_rms``, the position information not
        degenerate (a straight wall alone fixes one axis: the smallest over
        the largest eigenvalue at least ``track_min_conditioning``), and
        the resulting standard deviations within ``track_max_std_*``.
        Otherwise ``reason`` says which test failed."""
        bx = np.ascontiguousarray(bx, dtype=np.float64)
        by = np.ascontiguousarray(by, dtype=np.float64)
        if bx.shape != by.shape or bx.ndim != 1:
            raise ValueError(f"bx and by must be 1-D arrays of one length, got {bx.shape} and {by.shape}")
        x0, y0, yaw0 = (float(v) for v in prior)
        P = np.asarray(prior_cov, dtype=np.float64)
        if P.shape != (3, 3) or not np.all(np.isfinite(P)):
            raise ValueError(f"prior_cov must be a finite (3, 3) covariance over (x, y, yaw), got {P.shape}")
        if not all(math.isfinite(v) for v in (x0, y0, yaw0)):
            raise ValueError(f"prior pose must be finite, got {prior!r}")
        p, f = self.params, self.field
        nan3 = np.full((3, 3), np.nan)
        if bx.size < p.track_min_inliers:
            return PoseFix(t, x0, y0, yaw0, nan3, False, 0.0, f"only {bx.size} returns")
        wxy = min(max(3.0 * math.sqrt(max(P[0, 0], P[1, 1], 0.0)), p.track_window_xy[0]), p.track_window_xy[1])
        wyaw = min(max(3.0 * math.sqrt(max(P[2, 2], 0.0)), p.track_window_yaw[0]), p.track_window_yaw[1])
        step = max(f.resolution, wxy / p.track_cells)
        n_lin = max(1, int(math.ceil(wxy / step)))
        a_step = max(p.step_yaw * 0.5, wyaw / p.track_cells)
        n_ang = max(1, int(math.ceil(wyaw / a_step)))
        scores = np.empty((2 * n_ang + 1, 2 * n_lin + 1, 2 * n_lin + 1))
        k, i, j = correlative_search(x0, y0, yaw0, bx, by, f.lik, f.resolution, f.origin_x, f.origin_y,
                                     f.lik_outside, n_lin, step, n_ang, a_step, scores)
        pose = np.array([x0 + (j - n_lin) * step, y0 + (i - n_lin) * step, yaw0 + (k - n_ang) * a_step])
        # a few iterations from a coarse step may need a wider capture than the default
        refine_pose(pose, bx, by, f.dist, f.resolution, f.origin_x, f.origin_y, max(p.inlier_dist, step),
                    p.huber, p.iterations, self._H, self._stats)
        refine_pose(pose, bx, by, f.dist, f.resolution, f.origin_x, f.origin_y, p.inlier_dist, p.huber,
                    p.iterations, self._H, self._stats)
        pose[2] = (pose[2] + math.pi) % (2 * math.pi) - math.pi
        n_in, rss = int(self._stats[0]), float(self._stats[1])
        frac = n_in / bx.size

        def refuse(why: str) -> PoseFix:
            return PoseFix(t, float(pose[0]), float(pose[1]), float(pose[2]), nan3, False, frac, why)

        if n_in < p.track_min_inliers or frac < p.track_min_inlier_fraction:
            return refuse(f"{n_in} of {bx.size} returns fit the map ({frac:.0%})")
        rms = math.sqrt(rss / n_in)
        if rms > p.track_max_rms:
            return refuse(f"residual {rms:.2f} m RMS exceeds {p.track_max_rms:g} m")
        ev = np.linalg.eigvalsh(self._H[:2, :2])
        if not (ev[1] > 0 and ev[0] / ev[1] >= p.track_min_conditioning):
            return refuse("the returns constrain one direction only (a straight wall): not conditioned")
        sigma2 = max(rss / max(n_in - 3, 1), p.huber ** 2 * 0.25)
        try:
            cov = sigma2 * np.linalg.inv(self._H)
        except np.linalg.LinAlgError:
            return refuse("the scan does not constrain the pose (degenerate geometry)")
        floor = np.array([max(p.min_std_xy, 0.5 * f.resolution), max(p.min_std_xy, 0.5 * f.resolution),
                          p.min_std_yaw])
        cov = 0.5 * (cov + cov.T) + np.diag(floor ** 2)
        if not np.all(np.isfinite(cov)) or np.any(np.linalg.eigvalsh(cov) <= 0):
            return refuse("the scan does not constrain the pose (degenerate geometry)")
        sxy = math.sqrt(max(cov[0, 0], cov[1, 1]))
        if sxy > p.track_max_std_xy or math.sqrt(cov[2, 2]) > p.track_max_std_yaw:
            return refuse(f"fix too uncertain ({sxy:.2f} m, {math.degrees(math.sqrt(cov[2, 2])):.1f} deg)")
        return PoseFix(t, float(pose[0]), float(pose[1]), float(pose[2]), cov, True, frac)

    def _fix(self, t: float, pose: np.ndarray, nb: int) -> PoseFix:
        p = self.params
        nan3 = np.full((3, 3), np.nan)
        n_in, rss, iters = int(self._stats[0]), float(self._stats[1]), int(self._stats[2])
        frac = n_in / nb
        pose[2] = (pose[2] + math.pi) % (2 * math.pi) - math.pi
        if n_in < p.min_inliers or frac < p.min_inlier_fraction:
            return PoseFix(t, float(pose[0]), float(pose[1]), float(pose[2]), nan3, False, frac,
                           f"{n_in} of {nb} beams fit the map ({frac:.0%})")
        sigma2 = max(rss / max(n_in - 3, 1), p.huber ** 2 * 0.25)
        try:
            cov = sigma2 * np.linalg.inv(self._H)
        except np.linalg.LinAlgError:
            return PoseFix(t, float(pose[0]), float(pose[1]), float(pose[2]), nan3, False, frac,
                           "the scan does not constrain the pose (degenerate geometry)")
        floor = np.array([p.min_std_xy, p.min_std_xy, p.min_std_yaw])
        if iters >= p.iterations:
            floor = np.maximum(floor, [0.5 * self.step_xy, 0.5 * self.step_xy, 0.5 * p.step_yaw])
        cov = 0.5 * (cov + cov.T) + np.diag(floor ** 2)
        if not np.all(np.isfinite(cov)) or np.any(np.linalg.eigvalsh(cov) <= 0):
            return PoseFix(t, float(pose[0]), float(pose[1]), float(pose[2]), nan3, False, frac,
                           "the scan does not constrain the pose (degenerate geometry)")
        return PoseFix(t, float(pose[0]), float(pose[1]), float(pose[2]), cov, True, frac)
