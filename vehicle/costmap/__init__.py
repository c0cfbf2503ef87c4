"""Costmaps: occupancy -> planner weights (inflation layer, rolling local
window, and the planning window beyond the prior map with unknown space)."""
from edgepilot.vehicle.costmap.inflation import (InflatedCostmap, InflationParams, RollingCostmap,
                                       distance_to_obstacles, weights_from_distance)
from edgepilot.vehicle.costmap.window import WindowCostmap


def warm_kernels() -> None:
    """Exercise the costmap code paths on tiny inputs.  The costmap's hot
    loops are OpenCV's distance transform (compiled C++) and the window's
    mark_known kernel (numba, compiled or loaded from the cache here); this
    loads OpenCV and touches every path once so the first real update pays
    no import or JIT cost."""
    import numpy as np

    from edgepilot.vehicle.maps import GridMap

    occ = np.zeros((8, 8), bool)
    occ[4, 4] = True
    cm = InflatedCostmap(GridMap(occ, 0.5), InflationParams(0.5, 1.0))
    cm.add_obstacles(cells=np.array([[1, 1]]))
    cm.clear_obstacles(points=np.array([[0.75, 0.75]]))
    rc = RollingCostmap(4.0, 0.5, InflationParams(0.5, 1.0))
    rc.follow(1.0, 1.0)
    wc = WindowCostmap(8, 8, 0.5, InflationParams(0.5, 1.0), unknown_weight=1.5, edge_trigger=1.0)
    wc.mark_known(np.ones((2, 2), bool), (0.0, 0.0))
    # the lidar mapper's cells, as PlanningGrid.learn hands them: its whole grid and the scan's window
    wc.mark_known_packed(np.full((4, 4), 5, np.int16), 4095, 2048, (1.0, 1.0), (1, 3, 1, 3))
    # again: nothing new, so _mark asks whether the window's tiles are all known
    wc.mark_known_packed(np.full((4, 4), 5, np.int16), 4095, 2048, (1.0, 1.0), (1, 3, 1, 3))
    wc.follow(3.5, 3.5)


__all__ = ["InflatedCostmap", "InflationParams", "RollingCostmap", "WindowCostmap", "distance_to_obstacles",
           "weights_from_distance", "warm_kernels"]
