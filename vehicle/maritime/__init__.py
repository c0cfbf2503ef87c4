"""Maritime autonomy for the USV: contact table (AIS + sensor tracks),
CPA/TCPA, COLREGs encounter classification, the collision-avoidance helm
and station keeping.  Map frame ENU (x east, y north, metres; yaw CCW from
east, radians) throughout."""


def warm_kernels() -> None:
    """Compile (or load from numba's cache) the CPA, helm and lidar shore
    kernels on tiny inputs, so a boat pays no JIT time on its first
    avoidance decision or scan."""
    from edgepilot.vehicle.maritime import _cpa_kernels, _helm_kernels, _sensing_kernels

    _cpa_kernels.warm()
    _helm_kernels.warm()
    _sensing_kernels.warm()
