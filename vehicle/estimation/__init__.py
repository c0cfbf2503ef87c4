"""State estimation: the GPS/compass filter and the IMU-driven planar EKF
(odometry, compass, GNSS with glitch handling, lidar pose fixes), and the
GNSS integrity monitor (jamming and spoofing)."""
from edgepilot.vehicle.estimation.ekf import EkfParams, EkfStatus, NavEkf
from edgepilot.vehicle.estimation.gps_compass import GpsCompassFilter


def warm_kernels() -> None:
    """Compile (or load from numba's cache) the EKF kernels and the GPS +
    compass filter's."""
    from edgepilot.vehicle.estimation.ekf import warm_kernels as _warm_ekf
    from edgepilot.vehicle.geo import LocalFrame
    from edgepilot.vehicle.types import CompassReading, GpsFix

    _warm_ekf()
    f = GpsCompassFilter(LocalFrame(0.0, 0.0))
    for t in (0.0, 0.05, 0.1):
        f.predict(t)
        f.update_gps(GpsFix(t, 0.0, 0.0, 3, 9, 0.5, 0.0, 0.0))
        f.update_compass(CompassReading(t, 0.1))


__all__ = ["EkfParams", "EkfStatus", "GpsCompassFilter", "NavEkf", "warm_kernels"]
