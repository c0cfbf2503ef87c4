"""Perception: occupancy mapping from lidar, camera detection, obstacle
tracking and sensor-rate supervision, behind one front the core calls
(``front.Perception``).  Kernels live in ``_kernels.py`` (the lidar's
free-space clearing in ``_clearing_kernels.py``);
the modules here are their validating fronts.  Camera detection is in
``vehicle.perception.detection`` (imported on demand: it pulls in OpenCV's
ArUco module)."""
from .clearing import SeenFreeClearing
from .front import Perception
from .mapping import LidarMapper
from .occupancy import OccupancyGrid, trace_cells
from .rates import RateManager, SensorStatus
from .tracking import Cluster, MultiObjectTracker, Track, cluster_scan



def warm_kernels() -> None:
    """Compile (or load from numba's cache) every perception kernel on tiny
    inputs, so a deployed vehicle pays no JIT time on its first scan."""
    import numpy as np

    g = OccupancyGrid(2.0, 2.0, 0.1, (0.0, 0.0), rolling=True)
    for _ in range(8):                      # past the stamp wrap (clears the stamped box)
        g.integrate_scan((1.0, 1.0, 0.0), np.array([0.5, np.inf], np.float32), 0.0, 0.1, 3.0)
    g.probabilities()
    g.logodds
    g.follow(1.5, 1.5)                      # stamp clearing
    trace_cells((0.05, 0.05), (0.5, 0.3), 0.1)
    from ._kernels import give_way_conflict_kernel, report_new_cells_kernel

    tracker = MultiObjectTracker()
    tracker.update(0.0, np.array([[1.0, 1.0, 0.3]]))     # the tracker kernel
    # the front's hold-back rows and movers of the tracker's arrays
    from ._kernels import track_shapes_kernel

    track_shapes_kernel(tracker._f, tracker._hits, tracker._conf, tracker._n, 0.4, 10, 0.3, np.empty((1, 6)),
                        np.empty((1, 6)))
    cluster_scan((0.0, 0.0, 0.0), np.array([1.0, 1.0, 1.01, np.inf, 2.0], np.float32), 0.0, 0.01, 5.0)
    give_way_conflict_kernel(np.array([[0.0, 0.0], [1.0, 0.0]]), 0.0, 1.0, 3, 0.2, 0.0, 0.0, 0.0,
                             np.array([[2.0, 0.0, -1.0, 0.0, 0.0, 0.3]]), 0.5, 0.4, np.empty(2), np.empty((3, 2)))

    report_new_cells_kernel(g._cells, np.zeros(g.shape, bool), np.zeros(g.shape, bool), 0, 2, 0, 2, 0,
                            np.empty((4, 2), np.int64))
    from ._clearing_kernels import clear_seen_free_kernel

    clear_seen_free_kernel(g._cells, np.ones(g.shape, bool), np.zeros((2, 2), np.int64), 1,
                           np.full((1, 2), 0.05), 1, 0.0, 0.0, 0.1, 0, 0, 0, 2, 0, 2, 0, np.empty((1, 2)))

    # the mapper's per-scan read-outs, through its own calls: a scan's new
    # cells (report_hit_centres_kernel), cells unreported again
    # (unreport_points_kernel), and the whole-window pass after the grid
    # was overwritten (report_new_cells_kernel, cell_centres_kernel)
    from ..types import LaserScan, VehicleState

    m = LidarMapper(None, resolution=0.1, window=(40, 40, 0.0, 0.0))
    state = VehicleState(0.0, 2.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1, True)
    scan = LaserScan(0.0, -0.1, 0.1, 3.0, np.array([1.0, 1.0, np.inf], np.float32))
    for _ in range(3):
        pts = m.integrate(state, scan)
        if len(pts):
            m.unreport(pts)
    m.grid.set_logodds(m.grid.logodds)
    m.integrate(state, scan)
    # the front's hold-back near tracks whose motion is not known yet
    from ._kernels import hold_near_tracks_kernel

    hold_near_tracks_kernel(np.zeros((1, 2)), np.array([(1.0, 0.5, 0.0, 0.0, 0.0, 0.0)], np.float64),
                            np.zeros(1, bool))
    m._unreport_held(np.full((2, 2), 2.05), np.array([(1.0, 0.5, 2.0, 2.0, 2.0, 2.0)], np.float64))


__all__ = ["Cluster", "LidarMapper", "MultiObjectTracker", "OccupancyGrid", "Perception", "RateManager",
           "SeenFreeClearing", "SensorStatus", "Track", "cluster_scan", "trace_cells", "warm_kernels"]
