"""The core's output as a motion target, for an autopilot that drives the
motors itself (companion wiring): the point ``lookahead_m`` ahead of the
follower's progress along the path while driving, the vehicle's own
position (``stop``) otherwise."""
from __future__ import annotations

import math

import numpy as np

from edgepilot.vehicle.control.path import PolylinePath
from edgepilot.vehicle.geo import LocalFrame
from edgepilot.vehicle.types import MotionTarget, VehicleState


def lookahead_point(path: PolylinePath | None, progress_s: float, lookahead_m: float) -> tuple[float, float] | None:
    """The point ``lookahead_m`` [m] ahead of ``progress_s`` [m along the
    path] in the map frame (ENU x, y), clamped at the path's end; None
    without a path."""
    if path is None:
        return None
    return path.point_at(float(progress_s) + lookahead_m)


def motion_target(frame: LocalFrame, state: VehicleState, path: PolylinePath | None, progress_s: float,
                  lookahead_m: float, speed: float, driving: bool) -> MotionTarget:
    """A driving target along ``path`` when ``driving`` (velocity ``speed``
    [m/s] towards the lookahead point), else a stop where the vehicle is."""
    xy = lookahead_point(path, progress_s, lookahead_m) if driving else None
    if xy is None:
        return MotionTarget(state.x, state.y, state.lat, state.lon, speed=speed, stop=True)
    x, y = xy
    lat, lon = frame.to_geo(x, y)
    d = math.hypot(x - state.x, y - state.y)
    vx, vy = ((x - state.x) / d * speed, (y - state.y) / d * speed) if d > 1e-9 else (0.0, 0.0)
    return MotionTarget(x, y, lat, lon, vx, vy, speed=speed, stop=False,
                        path=np.asarray(path.points, dtype=np.float64))
