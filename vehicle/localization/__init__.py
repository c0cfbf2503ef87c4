"""Lidar localization on the prior map: AMCL-style likelihood field,
particle filter, a global search (re-localization with no prior) and a
scan-to-map matcher (with a tracking mode for a few returns) that gives the
EKF pose fixes with covariance."""
from edgepilot.vehicle.localization.global_search import GlobalResult, GlobalSearch, GlobalSearchParams
from edgepilot.vehicle.localization.likelihood_field import (LikelihoodField, SensorModel, build_likelihood_field,
                                                             scan_endpoints)
from edgepilot.vehicle.localization.localizer import LocalizerParams, MapLocalizer
from edgepilot.vehicle.localization.particle_filter import ParticleFilter, ParticleFilterParams, PoseEstimate
from edgepilot.vehicle.localization.scan_matcher import MatcherParams, PoseFix, ScanMatcher


def warm_kernels() -> None:
    """Compile (or load from numba's cache) the localizer kernels."""
    import numpy as np

    from edgepilot.vehicle.maps import GridMap

    occ = np.zeros((40, 40), bool)
    occ[0, :] = occ[-1, :] = occ[:, 0] = occ[:, -1] = True
    occ[10:14, 20:24] = True
    field = build_likelihood_field(GridMap(occ, 0.1))
    a = np.linspace(-np.pi, np.pi, 40, endpoint=False)
    bx, by = np.ascontiguousarray(1.0 * np.cos(a)), np.ascontiguousarray(1.0 * np.sin(a))
    pf = ParticleFilter(field, np.random.default_rng(0), ParticleFilterParams(particles=20))
    pf.initialise(2.0, 2.0, 0.0)
    pf.update(bx, by)
    # the threaded kernel (ParticleFilterParams.threads > 1): compiled, not
    # run, so warming starts no thread pool
    from edgepilot.vehicle.localization._kernels import particle_weights_parallel
    particle_weights_parallel.compile("none(f8[:, ::1], f8[::1], f8[::1], u2[::1], i8, i8, f8, f8, f8, f8, f8[::1])")
    m = ScanMatcher(field, MatcherParams(min_inliers=3, min_inlier_fraction=0.01))
    m.match(0.0, bx, by, (2.0, 2.0, 0.0))
    m.track(0.0, bx, by, (2.0, 2.0, 0.0), np.diag([0.01, 0.01, 0.001]))
    GlobalSearch(field).search(bx, by)


__all__ = ["GlobalResult", "GlobalSearch", "GlobalSearchParams", "LikelihoodField", "LocalizerParams", "MapLocalizer", "MatcherParams", "ParticleFilter",
           "ParticleFilterParams", "PoseEstimate", "PoseFix", "ScanMatcher", "SensorModel",
           "build_likelihood_field", "scan_endpoints", "warm_kernels"]
