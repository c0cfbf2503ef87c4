"""Companion wiring: the real vehicle does what edgepilot reports (issue 13).

A scripted ArduPilot-Rover-like autopilot (pymavlink on 127.0.0.1, in this
test) that, like the real one in GUIDED, keeps driving towards its last
position target — through it and back, never settling — unless it is put in
HOLD or given a zero-velocity target; and that can refuse to arm with a
"PreArm: ..." STATUSTEXT and a failed COMMAND_ACK, as ArduPilot does while
its EKF is not ready.  The real ``edgepilot vehicle run`` with the companion
config steers it; the operator uses the real ``edgepilot gcs`` CLI.

Checked: an arm the autopilot refuses fails at the operator with the
autopilot's reason (and the vehicle stays disarmed); an accepted one
succeeds only once the autopilot is armed; after "Mission complete" and
after an operator's HOLD the autopilot is in its HOLD mode and stands still.
"""
from __future__ import annotations

import math
import subprocess
import sys
import threading
import time

import pytest
from pymavlink import mavutil

from edgepilot.sim.hil import HilGroundStation
from edgepilot.sim.realtime import free_port
from edgepilot.vehicle.geo import LocalFrame
from edgepilot.vehicle.types import Cmd, MissionItem
from tests.conftest import REPO
from tests.test_companion_vehicle_run import Proc, companion_config, wait_for

M = mavutil.mavlink
ORIGIN = (-35.3632621, 149.1652374)
ROVER_HOLD, ROVER_GUIDED = 4, 15


class ScriptedRover(threading.Thread):
    """An ArduPilot-Rover-like autopilot on ``tcpin:127.0.0.1:port``: 2-D
    kinematics at 50 Hz in a local ENU frame around ORIGIN."""

    SPEED = 1.5        # m/s towards a position target (WP_SPEED)
    RATE_HZ = 50.0

    def __init__(self, port: int, refuse_arm: str | None = None):
        super().__init__(daemon=True)
        self.m = mavutil.mavlink_connection(f"tcpin:127.0.0.1:{port}", source_system=1, source_component=1)
        self.frame = LocalFrame(*ORIGIN)
        self.refuse_arm = refuse_arm
        self.mode = 0          # MANUAL
        self.armed = False
        self.x = self.y = 0.0
        self.vx = self.vy = 0.0
        self.target: tuple[float, float] | None = None    # position target (GUIDED)
        self.vel_target: tuple[float, float] | None = None  # velocity target east/north (GUIDED)
        self.arm_refusals = 0
        self.zero_velocity_targets = 0
        self.lock = threading.Lock()
        self._done = threading.Event()

    # -- what the autopilot does ------------------------------------------
    def _handle(self, msg) -> None:
        t = msg.get_type()
        if t == "COMMAND_LONG":
            self._command(msg)
        elif t == "SET_POSITION_TARGET_GLOBAL_INT" and self.mode == ROVER_GUIDED:
            self.target = self.frame.to_local(msg.lat_int * 1e-7, msg.lon_int * 1e-7)
            self.vel_target = None
        elif t == "SET_POSITION_TARGET_LOCAL_NED" and self.mode == ROVER_GUIDED:
            if msg.type_mask & M.POSITION_TARGET_TYPEMASK_X_IGNORE:     # velocity only
                self.vel_target = (msg.vy, msg.vx)                        # NED -> east, north
                self.target = None
                if msg.vx == 0 and msg.vy == 0:
                    self.zero_velocity_targets += 1

    def _ack(self, msg, result: int) -> None:
        self.m.mav.command_ack_send(msg.command, result, 0, 0, msg.get_srcSystem(), msg.get_srcComponent())

    def _command(self, msg) -> None:
        c = msg.command
        if c == M.MAV_CMD_DO_SET_MODE:
            self.mode = int(msg.param2)
            self.target = self.vel_target = None        # a new mode starts from rest
            self._ack(msg, M.MAV_RESULT_ACCEPTED)
        elif c == M.MAV_CMD_COMPONENT_ARM_DISARM:
            if msg.param1 >= 0.5 and self.refuse_arm:
                self.arm_refusals += 1
                self.m.mav.statustext_send(M.MAV_SEVERITY_CRITICAL, self.refuse_arm.encode())
                self._ack(msg, M.MAV_RESULT_FAILED)
                return
            self.armed = msg.param1 >= 0.5
            self._ack(msg, M.MAV_RESULT_ACCEPTED)
        else:
            self._ack(msg, M.MAV_RESULT_ACCEPTED)      # stream requests, speed changes

    def _move(self, dt: float) -> None:
        vx = vy = 0.0
        if self.armed and self.mode == ROVER_GUIDED:
            if self.vel_target is not None:
                vx, vy = self.vel_target
            elif self.target is not None:
                # Like a rover that cannot stop on a point: full speed at
                # the target, through it, and back again.
                dx, dy = self.target[0] - self.x, self.target[1] - self.y
                d = math.hypot(dx, dy)
                if d > 0.3:
                    vx, vy = self.SPEED * dx / d, self.SPEED * dy / d
                else:
                    vx, vy = self.vx or self.SPEED, self.vy
        self.vx, self.vy = vx, vy
        self.x += vx * dt
        self.y += vy * dt

    # -- telemetry -------------------------------------------------------
    def _send_state(self, now: float) -> None:
        mav = self.m.mav
        base = M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED | (M.MAV_MODE_FLAG_SAFETY_ARMED if self.armed else 0)
        mav.heartbeat_send(M.MAV_TYPE_GROUND_ROVER, M.MAV_AUTOPILOT_ARDUPILOTMEGA, base, self.mode,
                           M.MAV_STATE_ACTIVE)
        lat, lon = self.frame.to_geo(self.x, self.y)
        hdg = int(round(math.degrees(math.atan2(self.vx, self.vy)) % 360 * 100)) if (self.vx or self.vy) else 9000
        mav.global_position_int_send(int(now * 1000) & 0xFFFFFFFF, int(round(lat * 1e7)), int(round(lon * 1e7)),
                                     0, 0, int(round(self.vy * 100)), int(round(self.vx * 100)), 0, hdg)
        mav.gps_raw_int_send(int(now * 1e6), 3, int(round(lat * 1e7)), int(round(lon * 1e7)), 0, 60, 60, 0,
                             65535, 14)
        mav.sys_status_send(0, 0, 0, 500, 24000, -1, 80, 0, 0, 0, 0, 0, 0)

    def run(self) -> None:
        dt = 1.0 / self.RATE_HZ
        k = 0
        while not self._done.is_set():
            t0 = time.monotonic()
            with self.lock:
                while True:
                    msg = self.m.recv_match(blocking=False)
                    if msg is None:
                        break
                    self._handle(msg)
                self._move(dt)
                if k % 5 == 0:          # 10 Hz telemetry
                    self._send_state(t0)
            k += 1
            time.sleep(max(0.0, dt - (time.monotonic() - t0)))

    def snapshot(self) -> tuple[int, bool, float, float, float]:
        with self.lock:
            return self.mode, self.armed, self.x, self.y, math.hypot(self.vx, self.vy)

    def close(self) -> None:
        self._done.set()
        self.join(2)
        self.m.close()


class GcsHeartbeat(threading.Thread):
    """A ground station that stays connected and sends HEARTBEATs, so the
    vehicle's GCS-link failsafe stays quiet between CLI commands."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.m = mavutil.mavlink_connection(f"tcp:127.0.0.1:{port}", source_system=250)
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.3):
            self.m.mav.heartbeat_send(M.MAV_TYPE_GCS, M.MAV_AUTOPILOT_INVALID, 0, 0, 0)
            while self.m.recv_match(blocking=False) is not None:
                pass

    def close(self) -> None:
        self._done.set()
        self.join(2)
        self.m.close()


def gcs_cli(port: int, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgepilot", "gcs", "--connect", f"tcp:127.0.0.1:{port}",
                           "--timeout", "15", *args], cwd=REPO, capture_output=True, text=True, timeout=60)


def stands_still(rover: ScriptedRover, seconds: float) -> float:
    """How far [m] the rover moved in ``seconds`` of wall time."""
    _, _, x0, y0, _ = rover.snapshot()
    time.sleep(seconds)
    _, _, x1, y1, _ = rover.snapshot()
    return math.hypot(x1 - x0, y1 - y0)


@pytest.mark.timeout(180)
def test_arm_fails_with_the_autopilots_reason_and_hold_and_mission_end_stop_the_autopilot(tmp_path):
    ap_port, gcs_port = free_port(), free_port()
    rover = ScriptedRover(ap_port, refuse_arm="PreArm: EKF3 waiting for GPS config data")
    rover.start()
    veh = gcs = beat = None
    try:
        veh = Proc(["vehicle", "run", "--config", str(companion_config(tmp_path, ap_port, gcs_port))])
        # Both lines, in whichever order a loaded machine prints them.
        wait_for(lambda: "kernels ready" in veh.pump() and "autopilot: connected" in veh.pump(), 120, veh.pump,
                 "the vehicle process ready to arm with its autopilot connected")
        assert "autopilot: connected (ArduPilot, sysid 1)" in veh.pump()
        beat = GcsHeartbeat(gcs_port)
        beat.start()

        # 1. The autopilot refuses: the operator's arm fails with its reason.
        r = gcs_cli(gcs_port, "arm")
        assert r.returncode != 0, r.stdout + r.stderr
        assert "EKF3 waiting for GPS config data" in r.stderr, r.stderr
        assert rover.arm_refusals >= 1 and not rover.snapshot()[1]
        st = gcs_cli(gcs_port, "status")
        assert "disarmed" in st.stdout.lower(), st.stdout

        # 2. It accepts: the arm succeeds once the autopilot is armed (in its HOLD mode).
        rover.refuse_arm = None
        r = gcs_cli(gcs_port, "arm")
        assert r.returncode == 0, r.stdout + r.stderr
        mode, armed, *_ = rover.snapshot()
        assert armed and mode == ROVER_HOLD, (mode, armed)

        # 3. A mission; at its end the autopilot holds and stands still.
        frame = LocalFrame(*ORIGIN)
        wps = [frame.to_geo(4.0, 3.0), frame.to_geo(8.0, 6.0)]
        items = [MissionItem(0, int(Cmd.NAV_WAYPOINT), ORIGIN[0], ORIGIN[1], frame=0)]
        items += [MissionItem(i + 1, int(Cmd.NAV_WAYPOINT), lat, lon) for i, (lat, lon) in enumerate(wps)]
        gcs = HilGroundStation(f"tcp:127.0.0.1:{gcs_port}", timeout=20)
        gcs.upload_mission(items)
        assert gcs.command(M.MAV_CMD_DO_SET_MODE, 1, 10, timeout=5) == 0
        wait_for(lambda: rover.snapshot()[0] == ROVER_GUIDED and rover.snapshot()[4] > 0.5, 15, gcs.drain,
                 "the autopilot driving in GUIDED")
        wait_for(lambda: any("Mission complete" in t for t in gcs.texts), 60, gcs.drain, "Mission complete")
        wait_for(lambda: rover.snapshot()[0] == ROVER_HOLD, 5, gcs.drain, "the autopilot in HOLD after the mission")
        mode, armed, x, y, speed = rover.snapshot()
        assert armed and speed == 0.0
        assert math.hypot(x - 8.0, y - 6.0) < 2.5, (x, y)
        assert stands_still(rover, 3.0) < 0.05

        # 4. An operator's HOLD while driving stops it too.
        lat, lon = frame.to_geo(30.0, 6.0)
        r = gcs_cli(gcs_port, "goto", f"{lat:.7f}", f"{lon:.7f}")
        assert r.returncode == 0, r.stdout + r.stderr
        wait_for(lambda: rover.snapshot()[0] == ROVER_GUIDED and rover.snapshot()[4] > 0.5, 15, gcs.drain,
                 "the autopilot driving to the goto target")
        r = gcs_cli(gcs_port, "mode", "HOLD")
        assert r.returncode == 0, r.stdout + r.stderr
        wait_for(lambda: rover.snapshot()[0] == ROVER_HOLD, 5, gcs.drain, "the autopilot in HOLD after HOLD")
        assert stands_still(rover, 3.0) < 0.05
        assert rover.snapshot()[2] < 25.0          # stopped well short of the goto target
    finally:
        if gcs is not None:
            gcs.close()
        if beat is not None:
            beat.close()
        out = veh.close() if veh is not None else ""
        rover.close()
    assert "refused to arm" in out, out[-3000:]
