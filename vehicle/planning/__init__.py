"""Path planning on grids and costmaps: optimal grid A*, Theta*, Hybrid-A*,
path post-processing, coverage patterns."""
from edgepilot.vehicle.planning.astar import astar, path_cost


def warm_kernels() -> None:
    """Compile (or load from numba's cache) every planning kernel on tiny
    inputs, so a deployed vehicle pays no JIT time on its first plan."""
    import numpy as np

    from edgepilot.vehicle.planning.anyangle import line_cost, theta_star
    from edgepilot.vehicle.planning.smoothing import shortcut

    from edgepilot.vehicle.planning.astar import _search

    w = np.ones((4, 4), np.float32)
    w[1, 2] = np.inf
    graded = w.copy()
    graded[2, 2] = 3.0
    for rule in ("geometric", "target"):
        for diag in (True, False):
            astar(w, (0, 0), (3, 3), allow_diagonal=diag, move_cost=rule)
            # every search behind astar: bucket queue and binary heap on any weights ...
            for method in ("buckets", "heap"):
                _search(graded, (0, 0), (3, 3), diag, rule, method=method)
        path_cost(w, np.array([[0, 0], [1, 1]]), rule)
    # ... and the uniform-weight ones (with their grid and bitset builders)
    for method, rule in (("dial", "target"), ("jps", "geometric"), ("unit-buckets", "geometric")):
        _search(w, (0, 0), (3, 3), True, rule, method=method)
    p = astar(w, (0, 0), (3, 3))
    theta_star(w, (0, 0), (3, 3))
    from edgepilot.vehicle.costmap import InflatedCostmap, InflationParams
    from edgepilot.vehicle.maps import GridMap
    from edgepilot.vehicle.planning.hybrid_astar import HybridParams, hybrid_astar
    cm = InflatedCostmap(GridMap(np.zeros((20, 20), bool), 0.5), InflationParams(0.2, 0.6))
    for rev in (False, True):
        hybrid_astar(cm, (1.0, 1.0, 0.0), (8.0, 8.0, 1.0), HybridParams(1.0, allow_reverse=rev))
        hybrid_astar(cm, (1.0, 1.0, 0.0), (8.0, 8.0), HybridParams(1.0, allow_reverse=rev))
    line_cost(w, (0, 0), (3, 3))
    shortcut(w, p)


__all__ = ["astar", "path_cost", "warm_kernels"]
