"""The autonomy core: estimation, perception, costmaps, planning, control,
mission executor, modes and failsafes, plus the runtime loop that schedules
them.  Everything below ``onboard`` is pure: time is passed in as
``now`` (seconds) and no module opens a socket or a serial port.

Frames: the local *map frame* is ENU — x east, y north, metres — with yaw
measured counter-clockwise from east in radians.  Geodetic positions are
WGS84 degrees.
"""
