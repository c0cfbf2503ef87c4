"""Maritime autonomy for the USV: contact table (AIS + sensor tracks),
CPA/TCPA, COLREGs encounter classification, the collision-avoidance helm
and station keeping.  Map frame ENU (x east, y north, metres; yaw CCW from
east, radians) throughout."""
