"""Mission items, validation and the executor that walks them."""
from edgepilot.vehicle.mission.executor import MissionExecutor, NavTarget, validate_mission

__all__ = ["MissionExecutor", "NavTarget", "validate_mission"]
