"""End to end against real processes (issue 13, items 1, 2 and 9): a
``edgepilot sitl run --realtime`` subprocess driven by pymavlink over TCP.

- The NaN DO_JUMP mission that used to kill the vehicle when it ran is
  NACKed at upload; inf in integer-like command parameters gets a DENIED ack.
- A poisoned mission persisted in --state-dir is dropped with an error at
  start (never flown, the vehicle keeps running); a hand-edited one with a
  wrong type stops the start with exit 2 naming the file, no traceback.
- A fault forced into the core of a running vehicle (a test hook around the
  same CLI entry point) leaves it in HOLD, stopped, with a CRITICAL
  STATUSTEXT and the count in SYS_STATUS, still answering commands."""
from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
import zlib
from dataclasses import asdict

from conftest import REPO, run_edgepilot
from fault_hook import MISSION_FAULT_HOOK
from edgepilot.gcs.mav import mavutil
from edgepilot.sim.realtime import free_port, spawn, stop
from edgepilot.vehicle.types import Cmd, MissionItem
from test_fence_mavlink import YARD, Client, armed

M = mavutil.mavlink
SPEEDUP = 4.0
HOLD, AUTO = 4, 10
NAN, INF = float("nan"), float("inf")


def upload(c: Client, items: list[tuple], timeout: float = 10.0):
    """items: (command, x, y, p1, p2, frame) with x/y in the yard's metres
    (or None for items without a position).  Returns the MISSION_ACK."""
    c.c.mav.mission_count_send(*c.target, len(items), 0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = c.recv(["MISSION_REQUEST_INT", "MISSION_REQUEST", "MISSION_ACK"], timeout=deadline - time.monotonic())
        if m is None:
            break
        if m.get_type() == "MISSION_ACK":
            return m
        cmd, x, y, p1, p2, frame = items[m.seq]
        lat, lon = YARD.to_geo(x, y) if x is not None else (0.0, 0.0)
        c.c.mav.mission_item_int_send(*c.target, m.seq, frame, cmd, 0, 1, p1, p2, 0, 0,
                                      int(round(lat * 1e7)), int(round(lon * 1e7)), 0, 0)
    raise AssertionError("upload: no MISSION_ACK")


def looping_mission(repeat: float) -> list[tuple]:
    g = M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT
    return [(16, 4, 4, 0, 0, g), (16, 6, 14, 0, 0, g), (16, 5, 20, 0, 0, g),
            (177, None, None, 1, repeat, M.MAV_FRAME_MISSION), (16, 6, 14, 0, 0, g)]


def test_nan_do_jump_and_inf_commands_are_refused_by_a_running_vehicle(tmp_path):
    tcp = free_port("tcp")
    state = tmp_path / "state"
    p = spawn("ugv_yard", [f"tcpin:127.0.0.1:{tcp}"], SPEEDUP, ["--state-dir", str(state)])
    try:
        c = Client(f"tcp:127.0.0.1:{tcp}")
        ack = upload(c, looping_mission(NAN))
        assert ack.type == M.MAV_MISSION_INVALID_PARAM2
        assert c.text(lambda t: t.startswith("Mission rejected: item 3: DO_JUMP repeat")) is not None
        # Nothing was stored: the persisted mission is still empty.
        c.c.mav.mission_request_list_send(*c.target, 0)
        cnt = c.recv("MISSION_COUNT")
        assert cnt is not None and cnt.count == 1
        # +-inf where an integer is meant: COMMAND_LONG and COMMAND_INT both answered DENIED.
        assert c.command(M.MAV_CMD_DO_SET_MODE, 1, INF) == M.MAV_RESULT_DENIED
        c.c.mav.command_int_send(*c.target, M.MAV_FRAME_GLOBAL_INT, M.MAV_CMD_DO_SET_MISSION_CURRENT, 0, 0,
                                 -INF, 0, 0, 0, 0, 0, 0)
        ack = c.recv("COMMAND_ACK", lambda m: m.command == M.MAV_CMD_DO_SET_MISSION_CURRENT)
        assert ack is not None and ack.result == M.MAV_RESULT_DENIED
        # The vehicle is unharmed: the same mission with a sane count is flown.
        assert upload(c, looping_mission(1)).type == M.MAV_MISSION_ACCEPTED
        assert c.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1) == M.MAV_RESULT_ACCEPTED
        assert c.command(M.MAV_CMD_MISSION_START, 0) == M.MAV_RESULT_ACCEPTED
        assert c.heartbeat_where(lambda m: m.custom_mode == AUTO) is not None
        reached = c.recv("MISSION_ITEM_REACHED", lambda m: m.seq == 2, timeout=60)
        assert reached is not None
        assert p.poll() is None
    finally:
        out = stop(p)
    assert "Traceback" not in out


def _write_state(path, kind, payload):
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    path.write_text(json.dumps({"format": 1, "kind": kind, "crc32": zlib.crc32(body.encode()),
                                "payload": body}) + "\n")


def _items(repeat: float):
    out = []
    for seq, (cmd, x, y, p1, p2, frame) in enumerate(looping_mission(repeat)):
        lat, lon = YARD.to_geo(x, y) if x is not None else (0.0, 0.0)
        out.append(MissionItem(seq, cmd, lat, lon, param1=p1, param2=p2, frame=frame))
    return out


def test_poisoned_persisted_mission_is_dropped_and_the_vehicle_runs(tmp_path):
    """Finding: the NaN DO_JUMP mission restored from --state-dir killed the
    vehicle at every restart."""
    state = tmp_path / "state"
    state.mkdir()
    _write_state(state / "mission.json", "mission", [asdict(i) for i in _items(NAN)])
    tcp = free_port("tcp")
    p = spawn("ugv_yard", [f"tcpin:127.0.0.1:{tcp}"], SPEEDUP, ["--state-dir", str(state)])
    try:
        assert p.stdout.readline().strip() == f"state dir {state}: restored nothing saved yet"
        err = p.stdout.readline().strip()
        assert err.startswith(f"error: {state / 'mission.json'}: mission not restored (dropped, not flown): "
                              "item 3: DO_JUMP repeat count")
        c = Client(f"tcp:127.0.0.1:{tcp}")
        c.c.mav.mission_request_list_send(*c.target, 0)
        cnt = c.recv("MISSION_COUNT")
        assert cnt is not None and cnt.count == 1          # home only
        assert c.command(M.MAV_CMD_MISSION_START, 0) == M.MAV_RESULT_DENIED
        assert p.poll() is None
    finally:
        out = stop(p)
    assert "Traceback" not in out
    events = [json.loads(x) for x in (state / "events.jsonl").read_text().splitlines()]
    assert any(e["kind"] == "state_dropped" and "mission.json" in e["text"] for e in events)


def test_hand_edited_persisted_mission_with_a_string_stops_start_naming_the_file(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    d = [asdict(i) for i in _items(1)]
    d[2]["param1"] = "two"
    _write_state(state / "mission.json", "mission", d)
    r = run_edgepilot("sitl", "run", "--realtime", "ugv_yard", "--state-dir", str(state),
                      "--mavlink", f"tcpin:127.0.0.1:{free_port('tcp')}", timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert f"{state / 'mission.json'}: item 2: field 'param1' must be a number, got str 'two'" in r.stderr


def _spawn_hooked(tcp: int):
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               PYTHONUNBUFFERED="1")
    p = subprocess.Popen([sys.executable, "-c", MISSION_FAULT_HOOK, "sitl", "run", "--realtime", "ugv_yard",
                          "--speedup", str(SPEEDUP), "--mavlink", f"tcpin:127.0.0.1:{tcp}"],
                         cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r, _, _ = select.select([p.stdout], [], [], 0.2)
        if r:
            line = p.stdout.readline()
            if line.startswith("edgepilot SITL real-time:"):
                return p
            if not line:
                break
    p.kill()
    raise AssertionError("hooked real-time SITL did not start: " + (p.stdout.read() or ""))


def test_fault_in_a_running_vehicle_is_contained_and_it_keeps_answering():
    tcp = free_port("tcp")
    p = _spawn_hooked(tcp)
    try:
        c = Client(f"tcp:127.0.0.1:{tcp}")
        assert upload(c, looping_mission(1)).type == M.MAV_MISSION_ACCEPTED
        assert c.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1) == M.MAV_RESULT_ACCEPTED
        assert c.command(M.MAV_CMD_MISSION_START, 0) == M.MAV_RESULT_ACCEPTED
        crit = c.recv("STATUSTEXT", lambda m: m.severity == M.MAV_SEVERITY_CRITICAL, timeout=60)
        assert crit is not None and crit.text.startswith("Internal error #1 in core tick (AUTO, mission ")
        hb = c.heartbeat_where(lambda m: m.custom_mode == HOLD and armed(m))
        assert hb is not None
        # Stopped: the ground speed falls to zero and stays there.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            _, _, v = c.position()
            if v < 0.05:
                break
        assert v < 0.05, f"still moving at {v:.2f} m/s after the fault"
        c.c.mav.command_long_send(*c.target, M.MAV_CMD_REQUEST_MESSAGE, 0, M.MAVLINK_MSG_ID_SYS_STATUS,
                                  0, 0, 0, 0, 0, 0)
        ss = c.recv("SYS_STATUS", lambda m: m.errors_count4 >= 1)
        assert ss is not None
        # Still commandable: disarm, and a mode change.
        assert c.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 0) == M.MAV_RESULT_ACCEPTED
        assert c.heartbeat_where(lambda m: not armed(m)) is not None
        assert c.command(M.MAV_CMD_DO_SET_MODE, 1, 15) == M.MAV_RESULT_ACCEPTED
        assert p.poll() is None
    finally:
        out = stop(p)
    # The process log carries the traceback, marked as contained, once; the run went on.
    assert out.count("Traceback") == 1 and "contained an exception in core tick (AUTO" in out
    assert out.index("contained an exception") < out.index("Traceback")
    assert "internal errors 1" in out
