"""Costmaps: occupancy -> planner weights (inflation layer, rolling local window)."""
from edgepilot.vehicle.costmap.inflation import (InflatedCostmap, InflationParams, RollingCostmap,
                                       distance_to_obstacles, weights_from_distance)


def warm_kernels() -> None:
    """Exercise the costmap code paths on tiny inputs.  The costmap's hot
    loops are OpenCV's distance transform (compiled C++), so there is no JIT
    to compile; this loads OpenCV and touches every path once so the first
    real update pays no import cost."""
    import numpy as np

    from edgepilot.vehicle.maps import GridMap

    occ = np.zeros((8, 8), bool)
    occ[4, 4] = True
    cm = InflatedCostmap(GridMap(occ, 0.5), InflationParams(0.5, 1.0))
    cm.add_obstacles(cells=np.array([[1, 1]]))
    cm.clear_obstacles(points=np.array([[0.75, 0.75]]))
    rc = RollingCostmap(4.0, 0.5, InflationParams(0.5, 1.0))
    rc.follow(1.0, 1.0)


__all__ = ["InflatedCostmap", "InflationParams", "RollingCostmap", "distance_to_obstacles",
           "weights_from_distance", "warm_kernels"]
