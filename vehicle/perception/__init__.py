"""Perception: occupancy mapping from lidar, camera detection, obstacle
tracking and sensor-rate supervision.  Kernels live in ``_kernels.py``;
the modules here are their validating fronts."""
from .occupancy import OccupancyGrid, trace_cells

__all__ = ["OccupancyGrid", "trace_cells"]
