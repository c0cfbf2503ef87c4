"""The task auction on board (onboard/fleet_auction.py) over a real V2V link
(firmware_bridge/fleet_v2v.py: MAVLink 2 over UDP, our dialect, signed),
with real processes: `edgepilot sitl run --realtime FLEET --v2v` serves
three UGVs of one world, `edgepilot gcs fleet tasks upload FILE --auction
--start` hands them a task file, the vehicles allocate it among
themselves without the ground station, and `edgepilot gcs fleet tasks
--auction` shows who does and did what."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from edgepilot.firmware_bridge.fleet_link import TASK_FILE_START, TaskFileAssembler, task_file_messages
from edgepilot.firmware_bridge.fleet_v2v import V2VLink
from edgepilot.sim.realtime import free_port, spawn, stop

from fleet_rig import YARD_ORIGIN

SPEEDUP = 5.0

FLEET = """\
name = "yard3_auction"
seed = 1
stale_after_s = 4.0
max_tasks_per_vehicle = 2
vehicles = [
  {{vehicle = "ugv", sysid = 1, start = {{x = 4.0, y = 4.0, yaw_deg = 90.0}}}},
  {{vehicle = "ugv", sysid = 2, start = {{x = 8.0, y = 4.0, yaw_deg = 90.0}}, name = "ugv-b"}},
  {{vehicle = "ugv", sysid = 3, start = {{x = 4.0, y = 34.0, yaw_deg = 0.0}}, name = "ugv-c"}},
]
{faults}
[world]
bounds = [0.0, 0.0, 60.0, 40.0]
origin = [{lat}, {lon}]
resolution = 0.05
surface = "ground"

[[world.obstacles]]
name = "container row A"
type = "polygon"
points = [[12, 8], [18, 8], [18, 30], [12, 30]]
"""

TASKS = """\
name = "yard_visits"
origin = [{lat}, {lon}]
{vehicles}
[[task]]
id = "north-a"
kind = "visit"
position = [8.0, 37.0]

[[task]]
id = "north-b"
kind = "visit"
position = [22.0, 36.0]

[[task]]
id = "gate"
kind = "visit"
position = [25.0, 4.0]

[[task]]
id = "east"
kind = "visit"
position = [40.0, 12.0]
"""
MEMBERS = [("ugv1", 1, (4.0, 4.0)), ("ugv-b", 2, (8.0, 4.0)), ("ugv-c", 3, (4.0, 34.0))]


def write_files(folder, faults: str = ""):
    lat, lon = YARD_ORIGIN
    fleet = folder / "yard3.toml"
    fleet.write_text(FLEET.format(lat=lat, lon=lon, faults=faults))
    vehicles = "".join(f'\n[[vehicle]]\nname = "{n}"\nsysid = {s}\ndomain = "land"\nstart = [{x}, {y}]\n'
                       f'speed = 1.0\n' for n, s, (x, y) in MEMBERS)
    tasks = folder / "tasks.toml"
    tasks.write_text(TASKS.format(lat=lat, lon=lon, vehicles=vehicles))
    key = folder / "fleet.key"
    key.write_text(os.urandom(32).hex() + "\n")
    return fleet, tasks, key


def gcs(*args, cwd, timeout: float = 90.0) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgepilot", "gcs", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=str(cwd), env=dict(os.environ, PYTHONUNBUFFERED="1"))


def ports():
    while True:
        tcp, v2v = free_port("tcp"), free_port("udp")
        if tcp + 20 <= 65535 and v2v + 20 <= 65535:
            return tcp, free_port("udp"), v2v


def run_auction(tmp_path, faults: str = "") -> tuple[dict, str]:
    """Serve the fleet, hand it the task file, wait until `fleet tasks
    --auction` shows every task done; returns that status and the SITL's output."""
    fleet, tasks, key = write_files(tmp_path, faults)
    tcp, udp, v2v = ports()
    proc = spawn(str(fleet), [f"tcpin:127.0.0.1:{tcp}", f"udpout:127.0.0.1:{udp}"], SPEEDUP,
                 extra=["--v2v", f"127.0.0.1:{v2v}", "--signing-key", str(key)])
    link = ["-c", f"udpin:127.0.0.1:{udp}", "--signing-key", str(key)]
    out = ""
    try:
        r = gcs(*link, "fleet", "tasks", "upload", str(tasks), "--auction", "--start", "--wait", "30", "--json",
                cwd=tmp_path)
        assert r.returncode == 0, r.stdout + r.stderr
        handed = json.loads(r.stdout)
        assert handed["handed_to"] == [1, 2, 3], handed
        assert json.loads((tmp_path / "fleet_auction.json").read_text())["tasks"] == ["north-a", "north-b",
                                                                                     "gate", "east"]
        deadline = time.monotonic() + 400
        st = None
        while time.monotonic() < deadline:
            r = gcs(*link, "fleet", "tasks", "--auction", "--json", "--wait", "6", cwd=tmp_path)
            assert r.returncode == 0, r.stdout + r.stderr
            st = json.loads(r.stdout)
            if all(t["state"] == "done" for t in st["tasks"]):
                break
            time.sleep(1.0)
        else:
            raise AssertionError(f"not every task done: {st}")
    finally:
        out = stop(proc)
    return st, out


def test_v2v_link_is_signed_and_carries_a_task_file():
    """Real UDP sockets: a task file's parts reach the peer whole (CRC and
    plan id intact); a sender without the fleet's key is refused, counted,
    and nothing of it reaches the auction."""
    key = os.urandom(32)
    a = V2VLink(1, "127.0.0.1:0", [], key)
    b = V2VLink(2, "127.0.0.1:0", [], key)
    intruder = V2VLink(3, "127.0.0.1:0", [], os.urandom(32))
    try:
        a.peers = intruder.peers = [("127.0.0.1", b.port)]
        text = "".join(f'[[task]]\nid = "t{i}"\nkind = "visit"\nposition = [{i}.0, 2.0]\n' for i in range(40))
        msgs = task_file_messages(text, flags=TASK_FILE_START)
        assert len(msgs) > 1                            # several parts
        a.send(msgs)
        intruder.send(msgs)
        got: list = []
        deadline = time.monotonic() + 10
        while len(got) < len(msgs) and time.monotonic() < deadline:
            got += b.receive()
        deadline = time.monotonic() + 2
        while b.rejected < len(msgs) and time.monotonic() < deadline:
            got += b.receive()
        assert {m.get_srcSystem() for m in got} == {1} and b.rejected == len(msgs)
        asm = TaskFileAssembler()
        done = [d for d in (asm.add(m) for m in reversed(got)) if d is not None]     # any order
        assert len(done) == 1 and done[0].text == text and done[0].flags == TASK_FILE_START
        assert done[0].plan_id == msgs[0].plan_id > 1
        bad = msgs[0]
        bad.offset = bad.size                          # beyond the file
        with pytest.raises(ValueError, match="EDGEPILOT_TASK_FILE: offset"):
            TaskFileAssembler().add(bad)
    finally:
        for x in (a, b, intruder):
            x.close()


def test_fleet_allocates_the_task_file_on_board_and_does_every_task_once(tmp_path):
    st, out = run_auction(tmp_path)
    by = {t["task"]: t["sysid"] for t in st["tasks"]}
    assert all(by[t] in (1, 2, 3) for t in by), st
    done = [t for v in st["vehicles"] for t in v["done"]]
    assert sorted(done) == sorted(by), st              # each task done by exactly one vehicle
    assert len({by[t] for t in by}) >= 2, st           # shared out, not one vehicle doing it all
    assert "refused (signing) 0" in out and "collisions between vehicles 0" in out, out


def test_a_vehicle_that_stops_answering_has_its_tasks_reauctioned(tmp_path):
    """ugv-c (the only vehicle near the north tasks) breaks down when it has
    done half of its share: its computer and radio go silent, and the
    others, having not heard it for stale_after_s, auction its remaining
    task among themselves and do it; nothing is done twice."""
    st, out = run_auction(tmp_path, faults='faults = [{type = "vehicle_breakdown", vehicle = "ugv-c", '
                                           'at_progress = 0.5}]\n')
    assert "ugv-c (sysid 3) broke down" in out, out
    by = {t["task"]: t["sysid"] for t in st["tasks"]}
    assert by["north-a"] == 3, st                      # done (and reported) before it broke down
    assert by["north-b"] in (1, 2), st                 # its other task, re-auctioned
    done = [t for v in st["vehicles"] for t in v["done"]]
    assert sorted(done) == sorted(by), st
    c = next(v for v in st["vehicles"] if v["sysid"] == 3)
    assert c["heard"] is False                         # silent since
