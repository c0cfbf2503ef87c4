"""Path planning on grids and costmaps."""
from vehicle.planning.astar import astar

__all__ = ["astar"]
