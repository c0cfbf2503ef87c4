"""`edgepilot vehicle run` with NO GNSS dead-reckons on its IMU and wheel
encoders (issue 15): a real vehicle process, a BNO08x (UART-RVC) IMU and a
motor board on real ptys, started with --start-pose; the test pushes the
vehicle along a known path (the devices report consistent IMU, encoder and
compass data for it) and follows the process's estimate over MAVLink
(GLOBAL_POSITION_INT, EKF_STATUS_REPORT) against that truth.

The board's millisecond clock wraps (u32) and both encoder counters wrap
(i32) during the drive, so the wrap handling is part of what is checked."""
from __future__ import annotations

import math
import os
import select
import signal
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from edgepilot.firmware_bridge.imu_bno08x_rvc import Bno08xRvcEmulator
from edgepilot.firmware_bridge.motor import DeviceSense, MotorDevice
from edgepilot.sim.hil import PtyDevice
from edgepilot.vehicle.estimation.ekf import EKF_POS_HORIZ_REL, EKF_UNINITIALIZED
from edgepilot.vehicle.geo import LocalFrame
from tests.conftest import REPO, edgepilot_cmd

pytestmark = pytest.mark.interop

ORIGIN = (47.397742, 8.545594)
START = (2.0, 3.0, math.radians(30.0))     # x, y [m], yaw [rad]
TICKS_PER_REV, WHEEL_RADIUS, TRACK = 4096, 0.1, 0.6
M_PER_TICK = 2 * math.pi * WHEEL_RADIUS / TICKS_PER_REV
ENC0 = 2**31 - 3000                         # both counters wrap 0.46 m into the drive
BOARD_T0 = (2**32 - 6000) / 1000.0          # the board's u32 ms clock wraps 6 s after the test starts
#: The bounds this test states.  At rest -- halfway, after 2 m, and at the
#: end, after 5.5 m of dead reckoning with a 90-degree turn -- the estimate
#: is within 0.1 m and 0.15 m of the truth (2.7 % of the distance).  On the
#: move, 90 % of the GLOBAL_POSITION_INTs are within 0.15 m.  Each is
#: compared with the truth at its own time_boot_ms (the vehicle's clock, put
#: on the test's by the smallest receive-minus-send difference).  The time
#: the sensor data takes to reach the vehicle still counts: on a loaded
#: machine, where this test process itself stalls now and then, single
#: samples lag by a few tenths of a second (0.3 m at 0.5 m/s), hence a
#: percentile on the move and exact checks at rest.  Measured: 0.016 m at
#: the end, 0.02-0.05 m on the move.
REST_BOUND_M = 0.1
FINAL_BOUND_M = 0.15
MOVING_P90_M = 0.15

# The push: (duration [s], forward acceleration [m/s^2], yaw rate [rad/s])
PROFILE = [(1.0, 0.5, 0.0), (3.0, 0.0, 0.0), (1.0, -0.5, 0.0), (2.0, 0.0, 0.0),       # 2 m, then at rest
           (1.0, 0.5, 0.0), (3.0, 0.0, math.pi / 6), (3.0, 0.0, 0.0), (1.0, -0.5, 0.0)]
REST = (5.5, 6.9)        # the halfway rest, from the push's start [s]
DT = 0.001


def _trajectory():
    """Truth on a 1 ms grid from the push's start: columns tau, x, y, yaw,
    v, accel, yaw rate, left and right wheel travel [m]."""
    rows = []
    x, y, yaw, v, sl, sr, tau = START[0], START[1], START[2], 0.0, 0.0, 0.0, 0.0
    rows.append((tau, x, y, yaw, v, 0.0, 0.0, sl, sr))
    for dur, a, r in PROFILE:
        for _ in range(int(round(dur / DT))):
            v1 = max(v + a * DT, 0.0)
            vm = 0.5 * (v + v1)
            yaw1 = yaw + r * DT
            ym = 0.5 * (yaw + yaw1)
            x += vm * math.cos(ym) * DT
            y += vm * math.sin(ym) * DT
            sl += (vm - r * TRACK / 2) * DT
            sr += (vm + r * TRACK / 2) * DT
            v, yaw, tau = v1, yaw1, tau + DT
            rows.append((tau, x, y, yaw, v, a, r, sl, sr))
    return np.array(rows)


TRAJ = _trajectory()
DISTANCE = float(np.sum(np.hypot(np.diff(TRAJ[:, 1]), np.diff(TRAJ[:, 2]))))


class Truth:
    """The vehicle's true motion against the test's clock: at rest at START
    until ``start`` [s], then the push."""

    def __init__(self):
        self.start = math.inf

    def at(self, t: float) -> np.ndarray:
        tau = t - self.start
        if tau <= 0:
            return TRAJ[0].copy()
        if tau >= TRAJ[-1, 0]:
            row = TRAJ[-1].copy()
            row[4:7] = 0.0
            return row
        i = min(int(tau / DT), len(TRAJ) - 2)
        f = (tau - TRAJ[i, 0]) / DT
        return TRAJ[i] + f * (TRAJ[i + 1] - TRAJ[i])


def _config(tmp_path: Path, port: int) -> Path:
    src = (REPO / "configs" / "vehicles" / "ugv_nav.toml").read_text()
    # no lidar on this vehicle: it navigates on the IMU, the encoders and the board's compass
    head, rest = src.split("[sensors.lidar]", 1)
    rest = rest.split("[sensors.imu]", 1)[1]
    text = (head + "[sensors.imu]" + rest).replace("lidar_localization = true", "lidar_localization = false")
    text += f"""
[hardware]
wiring = "direct"
mavlink = ["tcpin:127.0.0.1:{port}"]
log_dir = "{tmp_path}/logs"

[hardware.motor]
port = "{tmp_path}/ttyMOTOR"
telemetry_hz = 50

[hardware.imu]
port = "{tmp_path}/ttyIMU"
"""
    out = tmp_path / "vehicle_nogps.toml"
    out.write_text(text)
    return out


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.timeout(240)
def test_vehicle_run_without_gnss_dead_reckons_from_the_start_pose(tmp_path):
    from pymavlink import mavutil

    port = _free_port()
    cfg = _config(tmp_path, port)
    truth = Truth()
    t0 = time.monotonic()

    def clock():
        return time.monotonic() - t0

    def sense():
        tr = truth.at(clock())
        yaw = tr[3]
        return DeviceSense(enc_left=ENC0 + math.floor(tr[7] / M_PER_TICK),
                           enc_right=ENC0 + math.floor(tr[8] / M_PER_TICK),
                           battery_v=24.0, battery_remaining=0.9,
                           heading=(math.pi / 2 - yaw) % (2 * math.pi), yaw_rate=tr[6],
                           accel=(tr[5], tr[4] * tr[6], 9.81))

    def rvc(ts):
        # the RVC yaw is the rotation since the sensor's reset (not a heading)
        tr = truth.at(ts)
        return (math.degrees(tr[3] - START[2]), 0.0, 0.0, tr[5], tr[4] * tr[6], 9.81)

    motor_pty = PtyDevice(tmp_path / "ttyMOTOR")
    imu_pty = PtyDevice(tmp_path / "ttyIMU")
    board = MotorDevice(sense, command_timeout_s=5.0, telemetry_period_s=0.02)
    imu = Bno08xRvcEmulator(rvc)
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    lat, lon = ORIGIN
    proc = subprocess.Popen(edgepilot_cmd() + ["vehicle", "run", "--config", str(cfg), "--origin", f"{lat},{lon}",
                                               "--start-pose", f"{START[0]},{START[1]},30"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    os.set_blocking(proc.stdout.fileno(), False)
    out = {"b": b""}
    gcs = None
    frame = LocalFrame(*ORIGIN)
    seen = []           # (t received [test clock], time_boot [vehicle clock], x, y) of each GLOBAL_POSITION_INT
    status = []

    def text():
        return out["b"].decode("utf-8", "replace")

    def pump(cond, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = clock()
            board.receive(motor_pty.read(), BOARD_T0 + now)
            motor_pty.write(board.tick(BOARD_T0 + now))
            imu_pty.write(imu.tick(now))
            try:
                out["b"] += os.read(proc.stdout.fileno(), 65536)
            except BlockingIOError:
                pass
            if gcs is not None:
                while True:
                    m = gcs.recv_match(blocking=False)
                    if m is None:
                        break
                    if m.get_type() == "GLOBAL_POSITION_INT":
                        seen.append((clock(), m.time_boot_ms / 1000.0, *frame.to_local(m.lat / 1e7, m.lon / 1e7)))
                    elif m.get_type() == "EKF_STATUS_REPORT":
                        status.append((clock(), m.flags))
            if cond():
                return True
            fds = [f for f in (motor_pty.master, imu_pty.master, proc.stdout.fileno()) if f is not None]
            if gcs is not None:
                fds.append(gcs.fd)
            select.select(fds, [], [], 0.003)
        return False

    try:
        assert pump(lambda: "first control tick" in text() and "start pose: set" in text(), 300), text()
        assert "MISSING" not in text() and "driver          gps" not in text()
        assert "start pose      (2.00, 3.00) m, yaw 30.0 deg" in text()
        gcs = mavutil.mavlink_connection(f"tcp:127.0.0.1:{port}", source_system=255)
        assert pump(lambda: len(seen) >= 3 and status, 20), text()
        x, y = seen[-1][2:]
        assert math.hypot(x - START[0], y - START[1]) < 0.05          # at rest where the operator put it
        assert status[-1][1] & EKF_POS_HORIZ_REL and not status[-1][1] & EKF_UNINITIALIZED
        # push it
        truth.start = clock() + 0.5
        n0 = len(seen)
        end = truth.start + TRAJ[-1, 0]
        assert pump(lambda: clock() > end + 2.0, 40), text()
        drive = seen[n0:]
        assert len(drive) > 20
        offset = min(r - tb for r, tb, _, _ in seen)          # vehicle clock -> test clock
        err = [math.hypot(x - truth.at(tb + offset)[1], y - truth.at(tb + offset)[2]) for _, tb, x, y in drive]
        rest = [e for (_, tb, _, _), e in zip(drive, err) if REST[0] < tb + offset - truth.start < REST[1]]
        moving = [e for (_, tb, _, _), e in zip(drive, err) if truth.at(tb + offset)[4] > 0.05]
        if os.environ.get("F3_DEBUG"):
            for (r, tb, x, y), e in zip(drive, err):
                tr = truth.at(tb + offset)
                print(f"{r:.2f} lag {r - tb - offset:.3f} est ({x:.2f},{y:.2f}) truth ({tr[1]:.2f},{tr[2]:.2f}) err {e:.3f}")
        final = truth.at(clock())
        fx, fy = drive[-1][2:]
        final_err = math.hypot(fx - final[1], fy - final[2])
        moved = math.hypot(final[1] - START[0], final[2] - START[1])
        p90 = float(np.percentile(moving, 90))
        print(f"dead reckoning over {DISTANCE:.2f} m: final error {final_err:.3f} m "
              f"({100 * final_err / DISTANCE:.1f} %), at the halfway rest {max(rest):.3f} m, "
              f"on the move p90 {p90:.3f} m, max {max(moving):.3f} m")
        assert moved > 4.0                                             # it went somewhere
        assert len(rest) >= 3 and max(rest) <= REST_BOUND_M, rest
        assert final_err <= FINAL_BOUND_M, (final_err, (fx, fy), final[1:3])
        assert len(moving) > 20 and p90 <= MOVING_P90_M, sorted(moving)[-5:]
        assert status[-1][1] & EKF_POS_HORIZ_REL
        assert "GPS lost" not in text()                                # no GPS is not a missing device here
        gcs.close()
        gcs = None
        proc.send_signal(signal.SIGTERM)
        assert pump(lambda: proc.poll() is not None, 20)
        try:
            out["b"] += proc.stdout.read() or b""
        except BlockingIOError:
            pass
        assert proc.returncode == 0, text()
        stats = dict(kv.rsplit(" ", 1) for kv in text().split("motors commanded to zero; ")[1].splitlines()[0]
                     .split(", "))
        assert int(stats["nav_imu_samples"]) > 500 and int(stats["nav_imu_nonfinite"]) == 0
        assert int(stats["nav_odometry_frames"]) > 500 and int(stats["nav_odometry_reboots"]) == 0
        # the wraps were no reboot and no jump: the only restarts are the first frame and re-anchors of the
        # board clock (a frame read over a second late, as a loaded machine may at start-up)
        assert int(stats["nav_odometry_implausible"]) == 0, stats
        assert int(stats["nav_odometry_restarts"]) - int(stats["nav_odometry_reanchored"]) == 1, stats
    finally:
        if gcs is not None:
            gcs.close()
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        proc.stdout.close()
        motor_pty.close()
        imu_pty.close()
