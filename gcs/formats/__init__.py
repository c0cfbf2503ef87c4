"""File formats operators already use: QGC WPL 110 and QGroundControl
``.plan`` missions, ArduPilot ``.parm`` parameter files."""
