"""State estimation: the GPS/compass filter and the IMU-driven planar EKF
(odometry, compass, GNSS with glitch handling, lidar pose fixes), and the
GNSS integrity monitor (jamming and spoofing)."""
from edgepilot.vehicle.estimation.ekf import EkfParams, EkfStatus, NavEkf
from edgepilot.vehicle.estimation.gps_compass import GpsCompassFilter


def warm_kernels() -> None:
    """Compile (or load from numba's cache) the EKF kernels."""
    from edgepilot.vehicle.estimation.ekf import warm_kernels as _warm_ekf

    _warm_ekf()


__all__ = ["EkfParams", "EkfStatus", "GpsCompassFilter", "NavEkf", "warm_kernels"]
