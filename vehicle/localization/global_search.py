"""Global re-localization without any prior: where on the whole map does
this scan fit?

Coarse to fine, as Olson's multi-resolution correlative matching and
Cartographer's global localization do:

1. **coarse**: every coarse cell of the map's free space (``coarse_factor``
   map cells a side) at every heading bin (``heading_step``) is scored by
   the sum of a *coarse likelihood field* over the scan's endpoints.  The
   coarse field is the map's likelihood field max-filtered over the pose
   error a coarse hypothesis can carry (half a coarse cell, plus half a
   heading bin at the scan's median range) and then block-max downsampled,
   so the true pose's coarse neighbour scores at least what the true pose
   does (an upper bound, as in branch and bound).  Numba kernel
   ``global_scores``; NumPy oracle ``global_scores_ref``.
2. **verify**: the best ``candidates`` mutually distinct hypotheses are
   registered by the fine scan matcher (a correlative window of one coarse
   cell and heading bin, then Gauss-Newton) and re-scored on the fine
   field.
3. **decide**: the best verified pose wins unless it fits too few beams,
   or a *distinct* pose (farther than ``distinct_xy`` or ``distinct_yaw``)
   scores within ``ambiguity_ratio`` of it -- a symmetric yard, a corridor:
   the search says so instead of guessing.

The search is a one-off at rest (a kidnapped or freshly powered vehicle);
``max_poses`` bounds its work on a large map (a harbour chart), where it
refuses and the particle filter's sampling is the fallback.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from edgepilot.vehicle.localization._kernels import global_scores
from edgepilot.vehicle.localization.likelihood_field import LikelihoodField
from edgepilot.vehicle.localization.scan_matcher import MatcherParams, ScanMatcher


@dataclass(frozen=True)
class GlobalSearchParams:
    coarse_factor: int = 4                  # coarse cell = this many map cells a side
    heading_step: float = math.radians(2.0)
    candidates: int = 24                    # hypotheses verified by the fine matcher
    distinct_xy: float = 1.0                # [m] hypotheses farther apart than this ...
    distinct_yaw: float = math.radians(20.0)  # ... or turned more than this are different places
    ambiguity_ratio: float = 0.95           # runner-up / best verified score above this: ambiguous
    min_inlier_fraction: float = 0.6       # the winner must fit this share of the beams
    fit_dist: float = 0.1                   # [m] an endpoint this close to the map fits (verification score)
    max_poses: int = 20_000_000             # coarse (cell, heading) pairs the search may score

    def __post_init__(self):
        if not isinstance(self.coarse_factor, int) or self.coarse_factor < 1:
            raise ValueError(f"GlobalSearchParams.coarse_factor must be an integer >= 1, got {self.coarse_factor!r}")
        if not (math.isfinite(self.heading_step) and 0 < self.heading_step <= math.radians(30)):
            raise ValueError(f"GlobalSearchParams.heading_step must be in (0, 30 deg] [rad], got {self.heading_step!r}")
        if not isinstance(self.candidates, int) or self.candidates < 1:
            raise ValueError(f"GlobalSearchParams.candidates must be an integer >= 1, got {self.candidates!r}")
        if not 0 < self.ambiguity_ratio <= 1:
            raise ValueError(f"GlobalSearchParams.ambiguity_ratio must be in (0, 1], got {self.ambiguity_ratio!r}")
        if not 0 < self.min_inlier_fraction <= 1:
            raise ValueError("GlobalSearchParams.min_inlier_fraction must be in (0, 1], "
                             f"got {self.min_inlier_fraction!r}")
        for name in ("distinct_xy", "distinct_yaw"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"GlobalSearchParams.{name} must be > 0, got {v!r}")


@dataclass(frozen=True)
class GlobalResult:
    ok: bool
    x: float
    y: float
    yaw: float
    cov: np.ndarray                 # (3, 3) over (x, y, yaw); NaN when not ok
    score: float                    # share of the beams within fit_dist of the map at the winner
    runner_up: float                # the same for the best distinct other pose (0: none)
    inlier_fraction: float
    poses_scored: int
    reason: str = ""
    verdict: str = "ok"             # 'ok', 'ambiguous', 'no_fit' (the map says no), 'few_returns', 'too_large'


class GlobalSearch:
    def __init__(self, field: LikelihoodField, params: GlobalSearchParams | None = None):
        self.field = field
        self.params = p = params or GlobalSearchParams()
        k = p.coarse_factor
        self.coarse_res = field.resolution * k
        rows, cols = field.shape
        # candidate positions: the centres of coarse cells holding known free space
        fc = field.free_cells // k
        cells = np.unique(fc[:, 0] * ((cols + k - 1) // k) + fc[:, 1])
        ci, cj = np.divmod(cells, (cols + k - 1) // k)
        self.cand_x = np.ascontiguousarray(field.origin_x + (cj + 0.5) * self.coarse_res)
        self.cand_y = np.ascontiguousarray(field.origin_y + (ci + 0.5) * self.coarse_res)
        n_head = int(round(2 * math.pi / p.heading_step))
        self.yaws = np.ascontiguousarray(-math.pi + np.arange(n_head) * (2 * math.pi / n_head))
        self._coarse: dict[int, np.ndarray] = {}
        self.verifier = ScanMatcher(field, MatcherParams(
            window_xy=0.5 * self.coarse_res + field.resolution, window_yaw=0.75 * (2 * math.pi / n_head),
            step_yaw=math.radians(0.5), inlier_dist=0.3, min_inliers=3, min_inlier_fraction=0.01))

    @property
    def poses(self) -> int:
        """(position, heading) pairs one search scores."""
        return self.cand_x.size * self.yaws.size

    def coarse_field(self, blur_m: float) -> np.ndarray:
        """The field max-filtered over ``blur_m`` (rounded up to whole map
        cells), then block-max downsampled by ``coarse_factor``: float32."""
        f, k = self.field, self.params.coarse_factor
        r = int(math.ceil(blur_m / f.resolution))
        if r not in self._coarse:
            lik = f.lik
            if r > 0:
                lik = cv2.dilate(lik, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
            rows, cols = lik.shape
            pad = np.full(((rows + k - 1) // k * k, (cols + k - 1) // k * k), f.lik_outside, np.float32)
            pad[:rows, :cols] = lik
            self._coarse[r] = np.ascontiguousarray(
                pad.reshape(pad.shape[0] // k, k, pad.shape[1] // k, k).max(axis=(1, 3)))
        return self._coarse[r]

    def search(self, bx: np.ndarray, by: np.ndarray) -> GlobalResult:
        """Where on the map the scan endpoints (vehicle frame, metres) fit."""
        bx = np.ascontiguousarray(bx, dtype=np.float64)
        by = np.ascontiguousarray(by, dtype=np.float64)
        if bx.ndim != 1 or bx.shape != by.shape:
            raise ValueError(f"bx and by must be 1-D arrays of one length, got {bx.shape} and {by.shape}")
        p, f = self.params, self.field
        nan3 = np.full((3, 3), np.nan)
        if bx.size < 10:
            return GlobalResult(False, math.nan, math.nan, math.nan, nan3, 0.0, 0.0, 0.0, 0,
                                f"only {bx.size} lidar returns: too few to search the map", "few_returns")
        if self.poses > p.max_poses:
            return GlobalResult(False, math.nan, math.nan, math.nan, nan3, 0.0, 0.0, 0.0, 0,
                                f"the map is too large for a global search ({self.poses} poses, "
                                f"limit {p.max_poses})", "too_large")
        # a coarse hypothesis is off by up to half a coarse cell (diagonal) and
        # half a heading bin, which moves an endpoint at the median range by
        # r * step / 2: the field is widened by that much
        rng = float(np.median(np.hypot(bx, by)))
        blur = 0.5 * math.sqrt(2) * self.coarse_res + rng * 0.5 * (2 * math.pi / self.yaws.size)
        coarse = self.coarse_field(blur)
        scores = np.empty((self.yaws.size, self.cand_x.size), np.float32)
        global_scores(self.cand_x, self.cand_y, self.yaws, bx, by, coarse, self.coarse_res, f.origin_x,
                      f.origin_y, float(f.lik_outside), scores)
        hyps = self._distinct_top(scores)
        verified = []
        for a, kk in hyps:
            fix = self.verifier.match(0.0, bx, by, (self.cand_x[kk], self.cand_y[kk], self.yaws[a]), search=True)
            verified.append((self._fine_score(bx, by, fix.x, fix.y, fix.yaw), fix))
        verified.sort(key=lambda v: -v[0])
        best_score, best = verified[0]
        runner = 0.0
        for sc, fx in verified[1:]:
            dyaw = abs((fx.yaw - best.yaw + math.pi) % (2 * math.pi) - math.pi)
            if math.hypot(fx.x - best.x, fx.y - best.y) > p.distinct_xy or dyaw > p.distinct_yaw:
                runner = sc
                break
        frac = best.inlier_fraction
        out = dict(score=best_score, runner_up=runner, inlier_fraction=frac, poses_scored=int(scores.size))
        if not best.ok or frac < p.min_inlier_fraction:
            return GlobalResult(False, best.x, best.y, best.yaw, nan3, reason=(
                f"no place on the map fits the scan (best fits {frac:.0%} of the beams)"), verdict="no_fit", **out)
        if runner >= p.ambiguity_ratio * best_score:
            return GlobalResult(False, best.x, best.y, best.yaw, nan3, reason=(
                f"ambiguous: two places fit the scan alike ({best_score:.3f} vs {runner:.3f})"), verdict="ambiguous",
                **out)
        return GlobalResult(True, best.x, best.y, best.yaw, best.cov, **out)

    def _distinct_top(self, scores: np.ndarray) -> list[tuple[int, int]]:
        """Up to ``candidates`` (heading, position) indices of the best
        coarse scores, no two within one coarse cell and heading bin of each
        other (non-maximum suppression)."""
        p = self.params
        flat = scores.ravel()
        pool = min(flat.size, 40 * p.candidates)
        top = np.argpartition(-flat, pool - 1)[:pool]
        top = top[np.argsort(-flat[top], kind="stable")]
        a_idx, k_idx = np.divmod(top, scores.shape[1])
        na = self.yaws.size
        near_xy = 1.5 * self.coarse_res
        picked: list[tuple[int, int]] = []
        for a, kk in zip(a_idx.tolist(), k_idx.tolist()):
            x, y = self.cand_x[kk], self.cand_y[kk]
            if any(abs(x - self.cand_x[k2]) < near_xy and abs(y - self.cand_y[k2]) < near_xy
                   and min((a - a2) % na, (a2 - a) % na) <= 1 for a2, k2 in picked):
                continue
            picked.append((a, kk))
            if len(picked) == p.candidates:
                break
        return picked

    def _fine_score(self, bx, by, x, y, yaw) -> float:
        """Share of the beams whose endpoint lies within ``fit_dist`` of a
        mapped obstacle at a pose (sharper than the mean likelihood, whose
        floor and width let a half-fitting place score close to the true
        one)."""
        f = self.field
        c, s = math.cos(yaw), math.sin(yaw)
        fc = np.floor((x + c * bx - s * by - f.origin_x) / f.resolution).astype(np.int64)
        fr = np.floor((y + s * bx + c * by - f.origin_y) / f.resolution).astype(np.int64)
        rows, cols = f.shape
        inside = (fc >= 0) & (fr >= 0) & (fc < cols) & (fr < rows)
        d = f.dist[fr[inside], fc[inside]]
        return float(np.count_nonzero(d <= self.params.fit_dist)) / bx.size
