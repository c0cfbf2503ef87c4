"""Simulated sensors with ground truth: lidar, camera, GPS/compass/battery,
IMU, wheel encoders and speed log."""


def warm_kernels() -> None:
    """Compile (or load from numba's cache) the sensor kernels."""
    from edgepilot.sim.sensors.imu import warm_kernels as _imu
    from edgepilot.sim.sensors.lidar import warm_kernels as _lidar

    _lidar()
    _imu()
