"""Perception: occupancy mapping from lidar, camera detection, obstacle
tracking and sensor-rate supervision.  Kernels live in ``_kernels.py``;
the modules here are their validating fronts.  Camera detection is in
``vehicle.perception.detection`` (imported on demand: it pulls in OpenCV's
ArUco module)."""
from .mapping import LidarMapper
from .occupancy import OccupancyGrid, trace_cells
from .rates import RateManager, SensorStatus
from .tracking import Cluster, MultiObjectTracker, Track, cluster_scan

__all__ = ["Cluster", "LidarMapper", "MultiObjectTracker", "OccupancyGrid", "RateManager",
           "SensorStatus", "Track", "cluster_scan", "trace_cells"]
