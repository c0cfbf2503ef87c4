"""External navigation for an ArduPilot autopilot: the vehicle core's pose
as the MAVLink messages ArduPilot documents for non-GPS navigation
("Non-GPS Position Estimation", ardupilot.org/dev): ODOMETRY (preferred),
VISION_POSITION_ESTIMATE, or GPS_INPUT (a pseudo-GPS receiver).

Frames.  The core's pose is ENU in its map frame (x east, y north, yaw CCW
from east).  ODOMETRY goes out with ``frame_id = MAV_FRAME_LOCAL_FRD`` and
``child_frame_id = MAV_FRAME_BODY_FRD`` as ArduPilot asks: position x north,
y east, z down [m] from the map origin (sent to the autopilot as its EKF
origin with SET_GPS_GLOBAL_ORIGIN, so the two frames share (0, 0)),
attitude a quaternion (w, x, y, z) of the heading (clockwise from north),
velocity in the body frame (forward, right, down), yaw rate clockwise.
VISION_POSITION_ESTIMATE carries the same position and roll/pitch/yaw.
GPS_INPUT carries latitude/longitude, NED velocity and the accuracy.

Covariance: the 21-element upper-right triangle of the 6x6 pose
covariance (x, y, z, roll, pitch, yaw), variances on its diagonal
(indices 0, 6, 11, 15, 18, 20): the core's 1-sigma position uncertainty
squared for x and y, ``vertical_var`` for z (a ground vehicle's height is
not estimated), ``tilt_var`` for roll and pitch and ``yaw_var`` for yaw.
ArduPilot's docs say it uses its own VISO_*_M_NSE noise parameters for
ODOMETRY; the covariance is filled for other consumers (and for
VISION_POSITION_ESTIMATE, whose covariance ArduPilot does read).

Reset counter: incremented (mod 256) whenever the pose jumps: the new
position differs from the last one sent, advanced by its velocity, by
more than ``reset_m``, or the heading by more than ``reset_deg`` (a lidar
re-localization, a GNSS reset), as ArduPilot and PX4 expect so that their
EKF resets its external-navigation state instead of rejecting the jump.

Quality (ODOMETRY): 100 at ``pos_std`` 0, falling linearly to 1 at
``quality_zero_m``; an invalid estimate is not sent at all.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from pymavlink.dialects.v20 import ardupilotmega as M

#: Indices of the variances in a 21-element URT 6x6 covariance.
COV_X, COV_Y, COV_Z, COV_ROLL, COV_PITCH, COV_YAW = 0, 6, 11, 15, 18, 20
#: GPS_INPUT ignore flags: no altitude, no vertical velocity/accuracy.
GPS_INPUT_IGNORE = (M.GPS_INPUT_IGNORE_FLAG_ALT | M.GPS_INPUT_IGNORE_FLAG_VEL_VERT
                    | M.GPS_INPUT_IGNORE_FLAG_VERTICAL_ACCURACY | M.GPS_INPUT_IGNORE_FLAG_HDOP
                    | M.GPS_INPUT_IGNORE_FLAG_VDOP)
MODES = ("odometry", "vision_position_estimate", "gps_input")


@dataclass(frozen=True)
class PoseSample:
    """What is sent: the core's estimate in NED, with its uncertainty."""

    north: float        # [m] from the map origin
    east: float
    heading: float      # [rad] clockwise from north, in [-pi, pi)
    v_forward: float    # [m/s] body frame
    v_right: float
    v_north: float      # [m/s] over ground
    v_east: float
    yaw_rate_cw: float  # [rad/s]
    pos_std: float      # [m] 1-sigma horizontal
    lat: float          # WGS84 degrees
    lon: float


def pose_from_state(state) -> PoseSample:
    """A ``vehicle.types.VehicleState`` (ENU) as a NED ``PoseSample``."""
    c, s = math.cos(state.yaw), math.sin(state.yaw)
    heading = math.remainder(math.pi / 2.0 - state.yaw, 2.0 * math.pi)
    return PoseSample(north=state.y, east=state.x, heading=heading,
                      v_forward=c * state.vx + s * state.vy, v_right=s * state.vx - c * state.vy,
                      v_north=state.vy, v_east=state.vx, yaw_rate_cw=-state.yaw_rate,
                      pos_std=max(float(state.pos_std), 0.0), lat=state.lat, lon=state.lon)


def heading_quaternion(heading: float) -> list[float]:
    """(w, x, y, z) of a rotation by ``heading`` [rad] about the down axis."""
    return [math.cos(0.5 * heading), 0.0, 0.0, math.sin(0.5 * heading)]


class ExternalNavFeed:
    """Builds the external-navigation messages at ``rate_hz`` from the
    core's estimate.  ``due(now)`` says when one is wanted; ``message(now,
    state)`` returns it (or None for an invalid estimate) and updates the
    reset counter.  ``now`` is a monotonic clock [s]; the messages'
    timestamps are microseconds since ``t0`` (the process start)."""

    def __init__(self, mode: str, rate_hz: float, reset_m: float = 1.0, reset_deg: float = 20.0,
                 yaw_var: float = 0.03 ** 2, tilt_var: float = 0.05 ** 2, vertical_var: float = 1.0,
                 vel_var: float = 0.1 ** 2, quality_zero_m: float = 2.0,
                 estimator_type: int = M.MAV_ESTIMATOR_TYPE_LIDAR, t0: float = 0.0):
        if mode not in MODES:
            raise ValueError(f"external navigation mode must be one of {', '.join(MODES)}, got {mode!r}")
        if not (math.isfinite(rate_hz) and rate_hz > 0):
            raise ValueError(f"external navigation rate must be > 0 Hz, got {rate_hz!r}")
        self.mode = mode
        self.period = 1.0 / rate_hz
        self.reset_m = float(reset_m)
        self.reset_rad = math.radians(reset_deg)
        self.yaw_var, self.tilt_var, self.vertical_var, self.vel_var = yaw_var, tilt_var, vertical_var, vel_var
        self.quality_zero_m = float(quality_zero_m)
        self.estimator_type = int(estimator_type)
        self.t0 = float(t0)
        self.reset_counter = 0
        self.resets = 0          # jumps seen (not wrapped)
        self.sent = 0
        self._next = -math.inf
        self._last: tuple[float, PoseSample] | None = None

    def due(self, now: float) -> bool:
        return now >= self._next

    def quality(self, pos_std: float) -> int:
        q = 100.0 * (1.0 - pos_std / self.quality_zero_m)
        return int(min(100, max(1, round(q))))

    def _jumped(self, now: float, p: PoseSample) -> bool:
        if self._last is None:
            return False
        t, q = self._last
        dt = max(0.0, now - t)
        dn = p.north - (q.north + q.v_north * dt)
        de = p.east - (q.east + q.v_east * dt)
        dh = abs(math.remainder(p.heading - (q.heading + q.yaw_rate_cw * dt), 2.0 * math.pi))
        return math.hypot(dn, de) > self.reset_m or dh > self.reset_rad

    def covariance(self, p: PoseSample) -> list[float]:
        cov = [0.0] * 21
        cov[COV_X] = cov[COV_Y] = p.pos_std * p.pos_std
        cov[COV_Z] = self.vertical_var
        cov[COV_ROLL] = cov[COV_PITCH] = self.tilt_var
        cov[COV_YAW] = self.yaw_var
        return cov

    def message(self, now: float, state):
        """The message for ``state`` (a ``VehicleState``) now, or None when
        the estimate is not valid (nothing is better than a wrong pose)."""
        # the next slot on the grid, so the rate holds whatever the caller's tick
        self._next = max(self._next + self.period, now) if math.isfinite(self._next) else now + self.period
        if not state.valid or not all(math.isfinite(v) for v in (state.x, state.y, state.yaw)):
            return None
        p = pose_from_state(state)
        if self._jumped(now, p):
            self.reset_counter = (self.reset_counter + 1) % 256
            self.resets += 1
        self._last = (now, p)
        self.sent += 1
        usec = max(0, int(round((now - self.t0) * 1e6)))
        if self.mode == "odometry":
            vel_cov = [0.0] * 21
            vel_cov[COV_X] = vel_cov[COV_Y] = self.vel_var
            vel_cov[COV_Z] = self.vel_var
            vel_cov[COV_ROLL] = vel_cov[COV_PITCH] = vel_cov[COV_YAW] = self.tilt_var
            return M.MAVLink_odometry_message(
                usec, M.MAV_FRAME_LOCAL_FRD, M.MAV_FRAME_BODY_FRD, p.north, p.east, 0.0,
                heading_quaternion(p.heading), p.v_forward, p.v_right, 0.0, 0.0, 0.0, p.yaw_rate_cw,
                self.covariance(p), vel_cov, self.reset_counter, self.estimator_type, self.quality(p.pos_std))
        if self.mode == "vision_position_estimate":
            return M.MAVLink_vision_position_estimate_message(
                usec, p.north, p.east, 0.0, 0.0, 0.0, p.heading, self.covariance(p), self.reset_counter)
        hdg_cdeg = int(round(math.degrees(p.heading) % 360.0 * 100)) or 36000   # 0 = not available
        return M.MAVLink_gps_input_message(
            usec, 0, GPS_INPUT_IGNORE, 0, 0, 3, int(round(p.lat * 1e7)), int(round(p.lon * 1e7)), 0.0,
            0.0, 0.0, p.v_north, p.v_east, 0.0, math.sqrt(self.vel_var), max(p.pos_std, 0.01), 0.0, 12,
            hdg_cdeg)
