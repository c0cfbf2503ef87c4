"""pymavlink set up once for the ground station: MAVLink 2 framing and the
ardupilotmega dialect (a superset of common, so PX4 messages decode too).

pymavlink picks MAVLink 1 and its ``all`` dialect unless told otherwise at
import; MAVLink 2 is needed for signing, mission_type and extension fields.
Every gcs module takes ``mavutil`` and ``M`` (the dialect module) from here.
"""
from __future__ import annotations

import os

os.environ.setdefault("MAVLINK20", "1")

from pymavlink import mavutil  # noqa: E402

mavutil.set_dialect("ardupilotmega")

M = mavutil.mavlink

__all__ = ["mavutil", "M"]
