"""Durable state in the running process: ``edgepilot sitl run --realtime
--state-dir DIR`` killed with SIGKILL comes back with the same mission,
fence, parameters and home; its event log and tlog lose at most the last
second."""
from __future__ import annotations

import json
import struct
import time

import pytest

from edgepilot.gcs.mav import mavutil
from edgepilot.sim.realtime import free_port, spawn, stop
from test_fence_mavlink import FENCE, MISSION, YARD, Client, armed, circle, polygon, waypoint

pytestmark = pytest.mark.interop

M = mavutil.mavlink
SPEEDUP = 8.0


def home_position(c: Client) -> tuple[int, int]:
    c.command(M.MAV_CMD_REQUEST_MESSAGE, M.MAVLINK_MSG_ID_HOME_POSITION)
    m = c.recv("HOME_POSITION")
    assert m is not None, "no HOME_POSITION"
    return m.latitude, m.longitude


def item_tuple(m) -> tuple:
    return (m.seq, m.frame, m.command, m.param1, m.param2, m.param3, m.param4, m.x, m.y, m.z, m.autocontinue)


def drive_to(c: Client, x: float, y: float) -> None:
    lat, lon = YARD.to_geo(x, y)
    c.c.mav.command_int_send(*c.target, M.MAV_FRAME_GLOBAL_INT, M.MAV_CMD_DO_REPOSITION, 0, 0, -1, 0, 0, 0,
                             int(round(lat * 1e7)), int(round(lon * 1e7)), 0)
    ack = c.recv("COMMAND_ACK", lambda m: m.command == M.MAV_CMD_DO_REPOSITION)
    assert ack is not None and ack.result == M.MAV_RESULT_ACCEPTED
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        px, py, v = c.position()
        if abs(px - x) < 0.6 and abs(py - y) < 0.6 and v < 0.1:
            return
    raise AssertionError(f"never reached {x}, {y} (at {px:.1f}, {py:.1f}, {v:.2f} m/s)")


def test_mission_fence_params_home_survive_kill_9(tmp_path):
    state = tmp_path / "state"
    tcp = free_port("tcp")
    ep = f"tcp:127.0.0.1:{tcp}"
    args = ["--state-dir", str(state)]
    p = spawn("ugv_yard", [f"tcpin:127.0.0.1:{tcp}"], SPEEDUP, args)
    try:
        assert p.stdout.readline().strip() == f"state dir {state}: restored nothing saved yet"
        c = Client(ep)
        home0 = home_position(c)
        # Move home away from the start pose: arm, drive 6 m, disarm, re-arm there.
        assert c.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1) == M.MAV_RESULT_ACCEPTED
        drive_to(c, 4.0, 10.0)
        assert c.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 0, 21196) == M.MAV_RESULT_ACCEPTED
        assert c.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1) == M.MAV_RESULT_ACCEPTED
        assert c.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 0) == M.MAV_RESULT_ACCEPTED
        assert c.heartbeat_where(lambda m: not armed(m)) is not None
        home1 = home_position(c)
        hx, hy = YARD.to_local(home1[0] * 1e-7, home1[1] * 1e-7)
        assert abs(hx - 4.0) < 0.7 and abs(hy - 10.0) < 0.7 and home1 != home0

        mission = [waypoint(4, 4, M.MAV_FRAME_GLOBAL), waypoint(6, 14), waypoint(5, 20)]
        fence = polygon([(0, 0), (40, 0), (40, 38), (0, 38)]) + [circle(24, 6, 2.5, inclusion=False)]
        assert c.upload(mission, MISSION).type == M.MAV_MISSION_ACCEPTED
        # Two fence uploads in quick succession: the second one's event comes
        # well within a second of the first one's sync.
        assert c.upload(fence[-1:], FENCE).type == M.MAV_MISSION_ACCEPTED
        assert c.upload(fence, FENCE).type == M.MAV_MISSION_ACCEPTED
        before_mission = [item_tuple(m) for m in c.download(MISSION)]
        before_fence = [item_tuple(m) for m in c.download(FENCE)]
        # Events of the last second may be lost; older ones may not.  Nothing
        # else happens until the event log's own timer has saved them to disk.
        events_file = state / "events.jsonl"
        deadline = time.monotonic() + 30
        while not (events_file.exists() and "Fence loaded: 2 zone(s)" in events_file.read_text()):
            assert time.monotonic() < deadline, "the event log's timer never saved the fence events"
            time.sleep(0.05)
        assert abs(c.param_set("WP_SPEED", 1.3) - 1.3) < 1e-6
        c.close()
        p.kill()                                  # SIGKILL right after the PARAM_VALUE
        p.wait(10)
    finally:
        stop(p)
    events = [json.loads(line) for line in (state / "events.jsonl").read_text().splitlines()]
    texts = [e["text"] for e in events]
    assert "Armed" in texts and "Disarmed" in texts
    assert texts[-2:] == ["Fence loaded: 1 zone(s)", "Fence loaded: 2 zone(s)"]

    p = spawn("ugv_yard", [f"tcpin:127.0.0.1:{tcp}"], SPEEDUP, args)
    try:
        assert (p.stdout.readline().strip()
                == f"state dir {state}: restored mission (3 items), fence (5 items), home")
        c = Client(ep)
        assert [item_tuple(m) for m in c.download(MISSION)] == before_mission
        assert [item_tuple(m) for m in c.download(FENCE)] == before_fence
        c.c.mav.param_request_read_send(*c.target, b"WP_SPEED", -1)
        pv = c.recv("PARAM_VALUE", lambda m: m.param_id == "WP_SPEED")
        assert pv is not None and abs(pv.param_value - 1.3) < 1e-6
        assert home_position(c) == home1
        # The vehicle itself restarted at the scenario's start pose, 6 m from home.
        x, y, _ = c.position()
        assert abs(x - 4.0) < 0.5 and abs(y - 4.0) < 0.5
        c.close()
    finally:
        stop(p)


def tlog_records(path) -> list[float]:
    """Timestamps [s] of every complete record (8-byte big-endian us + one frame)."""
    data = path.read_bytes()
    out, i = [], 0
    while i + 8 + 3 <= len(data):
        (ts,) = struct.unpack(">Q", data[i:i + 8])
        j = i + 8
        if data[j] == 0xFD:
            n = 12 + data[j + 1] + (13 if data[j + 2] & 1 else 0)
        elif data[j] == 0xFE:
            n = 8 + data[j + 1]
        else:
            raise AssertionError(f"no MAVLink frame at byte {j}")
        if j + n > len(data):
            break                                  # a record cut by the kill: the tail may be torn
        out.append(ts * 1e-6)
        i = j + n
    return out


def test_tlog_loses_at_most_the_last_second_on_kill_9(tmp_path):
    tlog = tmp_path / "vehicle.tlog"
    tcp = free_port("tcp")
    p = spawn("ugv_yard", [f"tcpin:127.0.0.1:{tcp}"], SPEEDUP, ["--tlog", str(tlog)])
    try:
        c = Client(f"tcp:127.0.0.1:{tcp}")         # asks for 10 Hz streams: frames every few ms
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (not tlog.exists() or tlog.stat().st_size < 20000):
            c.recv("HEARTBEAT", timeout=0.5)       # keeps the streams coming
        for _ in range(30):                        # 1.5 s more of traffic while we watch the clock
            c.recv("GLOBAL_POSITION_INT", timeout=0.5)
        t_kill = time.time()
        p.kill()
        p.wait(10)
        c.close()
    finally:
        stop(p)
    ts = tlog_records(tlog)
    assert len(ts) > 100
    assert all(b >= a for a, b in zip(ts, ts[1:]))
    lost = t_kill - ts[-1]
    assert lost < 1.25, f"the last {lost:.2f} s before the kill are missing from the tlog"
    # And pymavlink reads it back (what mavlogdump.py does).
    log = mavutil.mavlink_connection(str(tlog), notimestamps=False)
    n = 0
    while log.recv_msg() is not None:
        n += 1
    assert n >= len(ts) - 1
