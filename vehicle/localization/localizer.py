"""The map localizer front: particle filter for robustness (global
re-localization, kidnapping), scan matcher for precise pose fixes.

Per scan: the odometry increment since the previous scan moves the
particles; the scan weights them; while the particle cloud has converged
the scan matcher registers the scan from the best prior (the caller's, e.g.
the EKF's, when given and consistent with the cloud, else the cloud's mean)
and the fix goes to the EKF.  A scan with too few returns to match (open
water out of range of the shore, a blinded lidar) only moves the particles.  The pose is declared *lost* (from a converged
cloud) when the scan's fit to the map stays below ``lost_score`` for
``lost_scans`` scans, the matcher refuses ``lost_scans`` fixes in a row, or
the augmented-MCL ratio w_fast/w_slow collapses; then the particles are
spread over the free space (boosted by the scan) and fixes stop until the
cloud converges again.  While not converged, a share of the particles is
re-drawn from the scan every step.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgepilot.vehicle.localization.likelihood_field import LikelihoodField, scan_endpoints
from edgepilot.vehicle.localization.particle_filter import ParticleFilter, ParticleFilterParams
from edgepilot.vehicle.localization.scan_matcher import MatcherParams, PoseFix, ScanMatcher
from edgepilot.vehicle.types import LaserScan


@dataclass(frozen=True)
class LocalizerParams:
    max_beams: int = 180
    lost_score: float = 0.04        # mean pz^3 per beam below which a scan "does not fit"
                                    # (a scan on the map scores ~0.13 with AMCL's defaults)
    lost_scans: int = 10
    collapse_ratio: float = 0.1     # w_fast / w_slow below this: lost
    prior_gate_m: float = 1.0       # caller's prior used if within this of the cloud's mean
    inject_share: float = 0.1       # particles re-drawn from the scan per step while not converged
    hold_mass: float = 0.5          # a converged cloud stays so while its cluster holds this share


@dataclass(frozen=True)
class LocalizerEvent:
    t: float
    kind: str                       # 'lost', 'converged'
    text: str


class MapLocalizer:
    def __init__(self, field: LikelihoodField, rng: np.random.Generator,
                 params: LocalizerParams | None = None, pf_params: ParticleFilterParams | None = None,
                 matcher_params: MatcherParams | None = None, mount=(0.0, 0.0, 0.0)):
        self.params = params or LocalizerParams()
        self.pf = ParticleFilter(field, rng, pf_params)
        self.matcher = ScanMatcher(field, matcher_params)
        self.mount = tuple(float(v) for v in mount)
        self.bad_scans = 0
        self.refused = 0
        self.converged = False
        self.events: list[LocalizerEvent] = []

    def initialise(self, x: float, y: float, yaw: float, xy_std: float = 0.3, yaw_std: float = 0.1) -> None:
        self.pf.initialise(x, y, yaw, xy_std, yaw_std)

    def process(self, t: float, distance: float, dyaw: float, scan: LaserScan | None,
                prior: tuple[float, float, float] | None = None) -> PoseFix | None:
        """One step: odometry increment since the last call, the new scan
        (None: motion only).  Returns a pose fix, or None."""
        if scan is None:
            if self.pf.initialised:
                self.pf.predict(distance, dyaw)
            return None
        bx, by = scan_endpoints(scan, self.params.max_beams, self.mount)
        if bx.size < self.matcher.params.min_inliers:
            # open water, or a blinded lidar: nothing to weigh -- motion only,
            # and no verdict on the pose (dead reckoning carries on)
            if self.pf.initialised:
                self.pf.predict(distance, dyaw)
            return None
        if not self.pf.initialised:
            self.pf.relocalize_global(bx, by)
        else:
            self.pf.predict(distance, dyaw)
        if not self.converged:
            self.pf.inject_from_scan(bx, by, self.params.inject_share)
        score = self.pf.update(bx, by)
        p = self.params
        # "lost" only from a converged cloud: a spread cloud is already searching
        self.bad_scans = self.bad_scans + 1 if (score < p.lost_score and self.converged) else 0
        collapsed = (self.converged and self.pf.w_slow > 0
                     and self.pf.w_fast / self.pf.w_slow < p.collapse_ratio)
        if self.bad_scans >= p.lost_scans or self.refused >= p.lost_scans or collapsed:
            self.events.append(LocalizerEvent(t, "lost", "Localization lost: scan does not fit the map, "
                                                         "re-localizing globally"))
            self.pf.relocalize_global(bx, by)
            self.bad_scans = 0
            self.refused = 0
            self.converged = False
            return None
        est = self.pf.estimate()
        # hysteresis: converging needs the particle filter's strict test, staying
        # converged only a majority cluster twice as wide (the scan-drawn
        # particles of a search would otherwise make it flicker)
        pp = self.pf.params
        holds = (self.converged and est.mass >= p.hold_mass
                 and math.sqrt(max(est.cov[0, 0], est.cov[1, 1])) < 2 * pp.converged_xy_std
                 and math.sqrt(est.cov[2, 2]) < 2 * pp.converged_yaw_std)
        if not (est.converged or holds):
            if self.converged:
                self.converged = False
                self.events.append(LocalizerEvent(t, "lost", "Localization uncertain: the particle cloud "
                                                             "spread, searching"))
            return None
        if not self.converged:
            self.converged = True
            self.events.append(LocalizerEvent(t, "converged",
                                              f"Localization converged at ({est.x:.1f}, {est.y:.1f}) m"))
        start = (est.x, est.y, est.yaw)
        if prior is not None and math.hypot(prior[0] - est.x, prior[1] - est.y) < p.prior_gate_m:
            start = prior
        fix = self.matcher.match(t, bx, by, start)
        self.refused = 0 if fix.ok else self.refused + 1
        return fix
