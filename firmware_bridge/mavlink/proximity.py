"""OBSTACLE_DISTANCE (MAVLink 330) from what the vehicle's perception tracks.

ArduPilot reads this message from a companion's proximity sensor; here the
vehicle sends it to its ground station so an operator (or a test) sees the
objects its lidar is tracking, including other vehicles of a fleet: 72
sectors of 5 degrees, sector k centred 5k degrees clockwise from the bow
(``MAV_FRAME_BODY_FRD``), each the distance [cm] from the vehicle's centre
to the nearest tracked object's near side in it; ``max_distance + 1`` where
nothing is tracked (the message's "no obstacle" value).

Not streamed unasked: a ground station asks for it with
SET_MESSAGE_INTERVAL or REQUEST_MESSAGE (message id 330); vehicles without
a lidar tracker report nothing (the request fails).
"""
from __future__ import annotations

import math

from pymavlink.dialects.v20 import ardupilotmega as mavlink

M = mavlink
SECTORS = 72
SECTOR_DEG = 360.0 / SECTORS
MIN_DISTANCE_CM = 10


def obstacle_distance(core, now: float):
    """The OBSTACLE_DISTANCE message of ``core``'s lidar tracks (tentative
    ones too) around its estimated pose; None without a tracker or a pose."""
    perception = getattr(core, "perception", None)
    lidar = core.cfg.sensors.lidar if hasattr(core, "cfg") else None
    st = core.state
    if perception is None or getattr(perception, "tracker", None) is None or lidar is None or not st.valid:
        return None
    max_cm = int(round(lidar.max_range * 100))
    dist = [max_cm + 1] * SECTORS
    for tr in core.tracks:
        dx, dy = tr.x - st.x, tr.y - st.y
        rng = math.hypot(dx, dy) - tr.radius
        # bearing clockwise from the bow (ENU yaw is counter-clockwise from east)
        rel = math.degrees(st.yaw - math.atan2(dy, dx)) % 360.0
        k = int(round(rel / SECTOR_DEG)) % SECTORS
        cm = max(MIN_DISTANCE_CM, min(max_cm, int(round(rng * 100))))
        dist[k] = min(dist[k], cm)
    return M.MAVLink_obstacle_distance_message(
        int(now * 1e6), M.MAV_DISTANCE_SENSOR_LASER, dist, 0, MIN_DISTANCE_CM, max_cm,
        increment_f=SECTOR_DEG, angle_offset=0.0, frame=M.MAV_FRAME_BODY_FRD)
