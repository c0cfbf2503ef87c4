"""State estimation from GPS and compass."""
from edgepilot.vehicle.estimation.gps_compass import GpsCompassFilter

__all__ = ["GpsCompassFilter"]
