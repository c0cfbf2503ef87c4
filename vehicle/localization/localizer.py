"""The map localizer front: particle filter for robustness (global
re-localization, kidnapping), scan matcher for precise pose fixes.

Per scan: the odometry increment since the previous scan moves the
particles; the scan weights them; while the particle cloud has converged
the scan matcher registers the scan from the best prior (the caller's, e.g.
the EKF's, when given and consistent with the cloud, else the cloud's mean)
and the fix goes to the EKF.  A scan with too few returns to match (open
water out of range of the shore, a blinded lidar) only moves the particles.

The pose is declared *lost* (from a converged cloud) when the scan fits
poorly -- its fit to the map below ``lost_score``, the matcher refusing
its fix, or the augmented-MCL ratio w_fast/w_slow collapsed -- for
``lost_scans`` scans in a row *and* for ``lost_after_s`` seconds (a sparse
yard gives a few poor scans while moving; that is not a loss).  When the
caller vouches for its prior (``prior_trusted``: a healthy EKF on a moving
vehicle, which cannot have been carried off) the fit must stay poor for
``degraded_after_s`` and the loss is only *degraded*: the particles are
re-seeded around the prior, no global search.  Then the
global search (``global_search.GlobalSearch``: the whole free space at
every heading, coarse to fine) places the particles around the pose it
finds; when it refuses (an ambiguous or unfitting scan, a map too large)
the particles are spread over the free space (boosted by the scan), and
the search is tried again every ``global_retry_s`` while not converged.
While the latest search *refused on the map's evidence* (two places fit
alike, or none fits) the cloud is not allowed to converge: the particles
would only pick one of the look-alike places at random.  A pose given from
outside (``initialise``: the EKF's, a GNSS position) lifts that.
Fixes stop until the cloud converges again.  While not converged after a
spread over the map (not seeded by a found pose or a given one), a share
of the particles is re-drawn from the scan every step.

Announcements have hysteresis too: a loss is *announced* (``announce`` on
the event) once, and not again until the cloud has stayed converged for
``recover_s``; the convergence after an announced loss is announced once
(after a degraded spell it is not news).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgepilot.vehicle.localization.global_search import GlobalResult, GlobalSearch
from edgepilot.vehicle.localization.likelihood_field import LikelihoodField, scan_endpoints
from edgepilot.vehicle.localization.particle_filter import ParticleFilter, ParticleFilterParams
from edgepilot.vehicle.localization.scan_matcher import MatcherParams, PoseFix, ScanMatcher
from edgepilot.vehicle.types import LaserScan


#: Spread of the particles seeded at a pose the global search found [m, rad].
SEED_XY_STD = 0.15
SEED_YAW_STD = 0.05


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
    lost_after_s: float = 1.0       # ... and the poor fit lasted this long [s]
    degraded_after_s: float = 5.0   # ... this long when the caller's prior is trusted (moving, healthy EKF) [s]
    recover_s: float = 30.0         # converged this long before a new loss is announced again [s]
    global_search: bool = True      # re-localize by the global search (else particles only)
    global_retry_s: float = 2.0     # a refused global search is tried again after this [s]


@dataclass(frozen=True)
class LocalizerEvent:
    t: float
    kind: str                       # 'lost', 'converged', 'global' (a global search's verdict)
    text: str
    announce: bool = True           # operator news (False: a repeat within the hysteresis)


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
        self._poor_since: float | None = None
        self._converged_since: float | None = None
        self._lost_announced = False        # a loss told, recovery not yet confirmed
        self._converged_told = False        # the convergence since the last told loss told
        self._global: GlobalSearch | None = None
        self._global_t = -math.inf          # last global search
        self.last_global: GlobalResult | None = None
        self._global_veto = False           # the latest global search refused on the map's evidence
        self._searching = False             # spread over the map after a refused search: retry it
        self._seeded = False                # the particles sit around a found or given pose

    @property
    def global_search(self) -> GlobalSearch:
        """Built on first use: the coarse field is a start-up cost."""
        if self._global is None:
            self._global = GlobalSearch(self.pf.field)
        return self._global

    def relocalize(self, t: float, bx: np.ndarray, by: np.ndarray) -> GlobalResult | None:
        """Re-localize from nothing: the global search, its pose seeding the
        particles; if it refuses, the particles spread over the map.
        Returns the search's result (None: not run)."""
        res = self._global_search(t, bx, by) if self.params.global_search else None
        if res is None or not res.ok:
            self.pf.relocalize_global(bx, by)
            self._seeded = False
        return res

    def _global_search(self, t: float, bx: np.ndarray, by: np.ndarray) -> GlobalResult:
        """One global search; a found pose seeds the particles.  A refusal on
        the map's evidence (ambiguous, nothing fits) vetoes convergence and
        keeps searching; one for want of data (too few returns, too large a
        map) leaves the particles to do what they can."""
        self._global_t = t
        res = self.last_global = self.global_search.search(bx, by)
        if res.ok:
            self.events.append(LocalizerEvent(
                t, "global", f"Global search: scan fits at ({res.x:.1f}, {res.y:.1f}) m, "
                             f"{math.degrees(res.yaw):.0f} deg ({res.inlier_fraction:.0%} of beams)", False))
            # seeded wider than the fit's covariance: a cloud tighter than the
            # motion noise only loses weight as it spreads, and augmented MCL
            # reads that as a failing filter (w_fast < w_slow) and scatters it
            sxy = max(SEED_XY_STD, math.sqrt(max(res.cov[0, 0], res.cov[1, 1])))
            self.pf.initialise(res.x, res.y, res.yaw, sxy, max(SEED_YAW_STD, math.sqrt(res.cov[2, 2])))
            self._global_veto = self._searching = False
            self._seeded = True
        elif res.verdict in ("ambiguous", "no_fit"):
            if not self._searching:
                self.events.append(LocalizerEvent(t, "global", f"Global search refused: {res.reason}", False))
            self._global_veto = self._searching = True
        return res

    def fit_fraction(self, bx: np.ndarray, by: np.ndarray, pose: tuple[float, float, float],
                     inlier_dist: float | None = None) -> float:
        """Share of the scan endpoints (vehicle frame) within ``inlier_dist``
        (default: the matcher's) of a mapped obstacle at ``pose``: how well
        the scan fits the map there (off-map endpoints do not fit)."""
        f = self.pf.field
        d_in = self.matcher.params.inlier_dist if inlier_dist is None else inlier_dist
        if len(bx) == 0:
            return 0.0
        c, s = math.cos(pose[2]), math.sin(pose[2])
        fc = np.floor((pose[0] + c * bx - s * by - f.origin_x) / f.resolution)
        fr = np.floor((pose[1] + s * bx + c * by - f.origin_y) / f.resolution)
        rows, cols = f.shape
        inside = (fc >= 0) & (fr >= 0) & (fc < cols) & (fr < rows)
        d = f.dist[fr[inside].astype(np.int64), fc[inside].astype(np.int64)]
        return float(np.count_nonzero(d <= d_in)) / len(bx)

    def initialise(self, x: float, y: float, yaw: float, xy_std: float = 0.3, yaw_std: float = 0.1) -> None:
        """Particles around a pose known from outside (the EKF, GNSS)."""
        self.pf.initialise(x, y, yaw, xy_std, yaw_std)
        self._global_veto = False
        self._searching = False
        self._seeded = True

    def process(self, t: float, distance: float, dyaw: float, scan: LaserScan | None,
                prior: tuple[float, float, float] | None = None, prior_trusted: bool = False) -> PoseFix | None:
        """One step: odometry increment since the last call, the new scan
        (None: motion only).  Returns a pose fix, or None.  ``prior_trusted``
        (the caller's EKF is healthy and the vehicle moving: it cannot have
        been carried off) turns a loss into *degraded*: the particles are
        re-seeded around ``prior`` instead of the whole map."""
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
        p = self.params
        if not self.pf.initialised:
            self.relocalize(t, bx, by)
        else:
            self.pf.predict(distance, dyaw)
            if self._searching and not self.converged and p.global_search and t - self._global_t >= p.global_retry_s:
                # still searching: try the global search again with this scan
                self._global_search(t, bx, by)
        if not self.converged and not self._seeded:
            self.pf.inject_from_scan(bx, by, self.params.inject_share)
        score = self.pf.update(bx, by)
        # "lost" only from a converged cloud: a spread cloud is already searching
        collapsed = ((self.converged or self._seeded) and self.pf.w_slow > 0
                     and self.pf.w_fast / self.pf.w_slow < p.collapse_ratio)
        # a cloud seeded at a pose (found or given) that stops fitting is as
        # lost as a converged one, even if it spread before the verdict
        poor = (self.converged or self._seeded) and (score < p.lost_score or collapsed or self.refused > 0)
        if poor:
            self.bad_scans += 1
            if self._poor_since is None:
                self._poor_since = t
        else:
            self.bad_scans = 0
            self._poor_since = None
        wait = p.degraded_after_s if (prior_trusted and prior is not None) else p.lost_after_s
        if poor and self.bad_scans >= p.lost_scans and t - self._poor_since >= wait - 1e-9:
            degraded = prior_trusted and prior is not None
            announce = not self._lost_announced
            if announce:
                self._lost_announced = True
                # a convergence is news after a loss, not after a degraded spell
                self._converged_told = degraded
            text = ("Localization degraded: scan fits the map poorly, searching around the odometry pose"
                    if degraded else "Localization lost: scan does not fit the map, re-localizing globally")
            self.events.append(LocalizerEvent(t, "degraded" if degraded else "lost", text, announce))
            self.bad_scans = 0
            self.refused = 0
            self._poor_since = None
            self._converged_since = None
            self.converged = False
            if degraded:
                self.initialise(*prior, xy_std=0.5, yaw_std=0.1)
            else:
                self.relocalize(t, bx, by)
            return None
        est = self.pf.estimate()
        # hysteresis: converging needs the particle filter's strict test, staying
        # converged only a majority cluster twice as wide (the scan-drawn
        # particles of a search would otherwise make it flicker)
        pp = self.pf.params
        holds = (self.converged and est.mass >= p.hold_mass
                 and math.sqrt(max(est.cov[0, 0], est.cov[1, 1])) < 2 * pp.converged_xy_std
                 and math.sqrt(est.cov[2, 2]) < 2 * pp.converged_yaw_std)
        if not (est.converged or holds) or (self._global_veto and not self.converged):
            if self.converged:
                self.converged = False
                self._converged_since = None
                self.events.append(LocalizerEvent(t, "lost", "Localization uncertain: the particle cloud "
                                                             "spread, searching", False))
            return None
        if not self.converged:
            self.converged = True
            self._converged_since = t
            announce = not self._converged_told
            self._converged_told = True
            self.events.append(LocalizerEvent(t, "converged",
                                              f"Localization converged at ({est.x:.1f}, {est.y:.1f}) m", announce))
        elif (self._lost_announced and self._converged_since is not None
              and t - self._converged_since >= p.recover_s and self.bad_scans == 0):
            self._lost_announced = False     # recovered: a new loss is news again
        start = (est.x, est.y, est.yaw)
        if prior is not None and math.hypot(prior[0] - est.x, prior[1] - est.y) < p.prior_gate_m:
            start = prior
        fix = self.matcher.match(t, bx, by, start)
        self.refused = 0 if fix.ok else self.refused + 1
        return fix
