"""Companion external navigation (issue 15 item 6): the real ``edgepilot
vehicle run`` in companion wiring feeds the core's pose to the autopilot's
EKF as ArduPilot's non-GPS navigation messages.

The autopilot here is a SCRIPTED ArduPilot-Rover-like peer (pymavlink on
127.0.0.1, tests/test_companion_autopilot_stops.py's ScriptedRover), not a
real ArduPilot SITL (none can be installed on this machine): it reports its
position, is pushed around by the test as a pilot would drive it, jumps
(teleported: a re-localisation), and records what the companion sends it.
Checked: ODOMETRY arrives at the configured rate with ArduPilot's frames
(LOCAL_FRD / BODY_FRD), position and heading matching the vehicle's pose,
a covariance from the core's uncertainty, and a reset counter that stays
put while the pose moves smoothly and increments on the jump; the EKF
origin is set at the map origin first.
"""
from __future__ import annotations

import math
import statistics
import time

import pytest

from edgepilot.firmware_bridge.external_nav import (COV_X, COV_Y, COV_YAW, ExternalNavFeed, heading_quaternion,
                                                    pose_from_state)
from edgepilot.sim.realtime import free_port
from edgepilot.vehicle.types import VehicleState
from tests.test_companion_autopilot_stops import ORIGIN, M, ScriptedRover
from tests.test_companion_vehicle_run import Proc, companion_config, wait_for

RATE_HZ = 8.0


class NavRecordingRover(ScriptedRover):
    """The scripted rover, plus: a pilot's push (``manual`` east/north m/s
    while disarmed) and a record of the external-navigation messages with
    the rover's own position when each arrived."""

    def __init__(self, port: int):
        super().__init__(port)
        self.manual: tuple[float, float] = (0.0, 0.0)
        self.odometry: list[tuple[float, object, float, float, float, float]] = []   # wall, msg, x, y, vx, vy
        self.origins: list[object] = []
        self.heading_deg: float | None = None     # reported heading override [deg CW from north]

    def _handle(self, msg) -> None:
        super()._handle(msg)
        t = msg.get_type()
        if t == "ODOMETRY":
            self.odometry.append((time.monotonic(), msg, self.x, self.y, self.vx, self.vy))
        elif t == "SET_GPS_GLOBAL_ORIGIN":
            self.origins.append(msg)

    def _move(self, dt: float) -> None:
        if self.armed:
            return super()._move(dt)
        self.vx, self.vy = self.manual
        self.x += self.vx * dt
        self.y += self.vy * dt

    def _send_state(self, now: float) -> None:
        if self.heading_deg is None:
            return super()._send_state(now)
        # the same telemetry with the heading set by the test (a compass re-alignment)
        vx, vy = self.vx, self.vy
        self.vx, self.vy = math.sin(math.radians(self.heading_deg)) * 1e-9, math.cos(math.radians(self.heading_deg)) * 1e-9
        try:
            super()._send_state(now)
        finally:
            self.vx, self.vy = vx, vy

    def records(self):
        with self.lock:
            return list(self.odometry)


def _config(tmp_path, ap_port, gcs_port):
    p = companion_config(tmp_path, ap_port, gcs_port)
    text = p.read_text().replace("link_timeout_s = 2.0", "link_timeout_s = 2.0\nexternal_nav = \"odometry\"\n"
                                 f"external_nav_rate_hz = {RATE_HZ}\nexternal_nav_reset_m = 1.0", 1)
    assert 'external_nav = "odometry"' in text
    p.write_text(text)
    return p


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_vehicle_run_feeds_odometry_to_a_scripted_ardupilot_peer(tmp_path):
    ap_port, gcs_port = free_port(), free_port()
    rover = NavRecordingRover(ap_port)
    rover.start()
    veh = None
    try:
        veh = Proc(["vehicle", "run", "--config", str(_config(tmp_path, ap_port, gcs_port))])
        wait_for(lambda: len(rover.records()) >= 10, 120, veh.pump, "the first ODOMETRY messages")
        assert "autopilot: connected (ArduPilot, sysid 1)" in veh.pump()
        # The EKF origin first, at the map origin (here the autopilot's first fix).
        assert rover.origins, "no SET_GPS_GLOBAL_ORIGIN"
        o = rover.origins[0]
        assert (o.latitude * 1e-7, o.longitude * 1e-7) == pytest.approx(ORIGIN, abs=2e-7)

        # A pilot drives it north-east at 0.58 m/s: the pose follows.
        rover.manual = (0.5, 0.3)
        time.sleep(0.5)
        n0 = len(rover.records())
        t_a = time.monotonic()
        wait_for(lambda: time.monotonic() - t_a > 5.0, 10, veh.pump, "5 s of driving")
        moving = rover.records()[n0:]
        t_b = time.monotonic()
        # rate: the configured one, on the sender's clock and (looser, the machine is shared) on ours
        stamps = [m.time_usec * 1e-6 for _, m, *_ in moving]
        gaps = [b - a for a, b in zip(stamps, stamps[1:])]
        assert statistics.median(gaps) == pytest.approx(1.0 / RATE_HZ, rel=0.2), gaps
        assert 0.6 * RATE_HZ * (t_b - t_a) <= len(moving) <= 1.2 * RATE_HZ * (t_b - t_a) + 2
        resets_before = {m.reset_counter for _, m, *_ in moving}
        assert len(resets_before) == 1, resets_before             # smooth motion: no reset
        for _, m, x, y, vx, vy in moving[5:]:
            assert m.frame_id == M.MAV_FRAME_LOCAL_FRD and m.child_frame_id == M.MAV_FRAME_BODY_FRD
            # NED: x north, y east; within what 0.3 s of latency at 0.58 m/s explains
            assert math.hypot(m.x - y, m.y - x) < 0.5, (m.x, m.y, x, y)
            heading = 2.0 * math.atan2(m.q[3], m.q[0])               # about the down axis, CW from north
            assert abs(math.remainder(heading - math.atan2(0.5, 0.3), 2 * math.pi)) < math.radians(6)
            assert m.vx == pytest.approx(math.hypot(0.5, 0.3), abs=0.15) and abs(m.vy) < 0.15
            assert 0 < m.pose_covariance[COV_X] == m.pose_covariance[COV_Y] < 1.0
            assert m.pose_covariance[COV_YAW] > 0 and 1 <= m.quality <= 100
            assert m.estimator_type in (M.MAV_ESTIMATOR_TYPE_GPS_INS, M.MAV_ESTIMATOR_TYPE_LIDAR)

        # The pose jumps: standing still, the autopilot's heading swings from east to south at
        # once (a compass re-alignment; a lidar re-localisation would do the same to the core).
        # (A position teleport does not make the core's GPS/compass filter jump: it glides over
        # ~20 s; the reset on a position jump is covered on the feed itself below.)
        rover.manual = (0.0, 0.0)
        wait_for(lambda: len(rover.records()) > len(moving) + n0 + 12, 10, veh.pump, "standing still")
        time.sleep(1.5)                    # east again (the stationary heading): settled
        before = rover.records()[-1][1].reset_counter
        n1 = len(rover.records())
        rover.heading_deg = 180.0
        wait_for(lambda: any(abs(math.remainder(2.0 * math.atan2(m.q[3], m.q[0]) - math.pi, 2 * math.pi)) < 0.05
                             for _, m, *_ in rover.records()[n1:]), 15, veh.pump, "the pose facing south")
        after = rover.records()[-1][1].reset_counter
        assert (after - before) % 256 >= 1, (before, after)
        # ... and settles: no more resets while it stands still there
        time.sleep(1.5)
        tail = rover.records()[-8:]
        assert {m.reset_counter for _, m, *_ in tail} == {rover.records()[-1][1].reset_counter}
        assert all(math.hypot(m.x - y, m.y - x) < 0.5 for _, m, x, y, *_ in tail)
    finally:
        out = veh.close() if veh is not None else ""
        rover.close()
    assert "external_nav_sent" in out and "external_nav_resets" in out, out[-2000:]


def _state(x=3.0, y=4.0, yaw=0.0, vx=0.0, vy=0.0, pos_std=0.1, valid=True, t=0.0):
    return VehicleState(t, x, y, yaw, vx, vy, 0.0, 47.0, 8.0, pos_std, valid)


def test_messages_frames_and_reset_counter_for_each_mode():
    # ENU yaw 0 (facing east) is heading +90 deg clockwise from north
    p = pose_from_state(_state(yaw=0.0, vx=1.0))
    assert p.heading == pytest.approx(math.pi / 2) and (p.north, p.east) == (4.0, 3.0)
    assert p.v_forward == pytest.approx(1.0) and p.v_right == pytest.approx(0.0, abs=1e-12)
    assert heading_quaternion(math.pi / 2) == pytest.approx([math.sqrt(0.5), 0, 0, math.sqrt(0.5)])

    f = ExternalNavFeed("odometry", 10.0, reset_m=1.0)
    assert f.message(0.0, _state(valid=False)) is None                 # an invalid estimate is not sent
    m = f.message(0.1, _state(vx=1.0))
    assert (m.frame_id, m.child_frame_id, m.reset_counter) == (M.MAV_FRAME_LOCAL_FRD, M.MAV_FRAME_BODY_FRD, 0)
    assert m.pose_covariance[COV_X] == pytest.approx(0.01) and m.quality == 95
    assert not f.due(0.15) and f.due(0.2)
    # moving as the velocity says: no reset; a jump: one
    assert f.message(0.2, _state(x=3.1, vx=1.0)).reset_counter == 0
    assert f.message(0.3, _state(x=9.0, vx=1.0)).reset_counter == 1
    assert f.message(0.4, _state(x=9.1, vx=1.0, yaw=math.radians(45))).reset_counter == 2   # heading jump

    v = ExternalNavFeed("vision_position_estimate", 10.0).message(0.0, _state(yaw=math.pi / 2))
    assert (v.x, v.y, v.yaw) == pytest.approx((4.0, 3.0, 0.0)) and v.covariance[COV_Y] == pytest.approx(0.01)
    g = ExternalNavFeed("gps_input", 5.0).message(0.0, _state(pos_std=0.4))
    assert (g.lat, g.lon, g.fix_type) == (470000000, 80000000, 3) and g.horiz_accuracy == pytest.approx(0.4)
    with pytest.raises(ValueError, match="external navigation mode"):
        ExternalNavFeed("mocap", 10.0)
