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


def test_vehicle_run_process_runs_the_auction_with_a_peer_over_v2v(tmp_path):
    """`edgepilot vehicle run --v2v` (the onboard process on the simulator's
    pty hardware) runs the auction with a second fleet member over real UDP:
    the second member is a CbbaAgent in this process (the same code a vehicle
    runs) behind its own V2V socket.  The ground station hands the task file
    to the vehicle only; the vehicle relays it, both agree (each the task
    near it), and when the second member goes silent the vehicle takes its
    task over after stale_after_s, as `fleet tasks --auction` shows."""
    import threading

    from edgepilot.firmware_bridge.fleet_link import FleetCodec, ViewAssembler, TaskFileAssembler as Files
    from edgepilot.vehicle.fleet.cbba import CbbaAgent, CbbaParams
    from edgepilot.vehicle.fleet.costs import fleet_costs, straight_line_matrix
    from edgepilot.vehicle.fleet.tasks import load_tasks
    from test_state_store_vehicle_run import Onboard
    from tests.hw_util import hil_config

    own, peer_port = free_port("udp"), free_port("udp")
    cfg = hil_config(tmp_path)
    ob = Onboard(cfg, extra=["--v2v", f"127.0.0.1:{own}", "--v2v-peer", f"127.0.0.1:{peer_port}",
                             "--fleet-period", "0.5", "--fleet-stale", "3"])
    peer = V2VLink(2, f"127.0.0.1:{peer_port}", [f"127.0.0.1:{own}"])
    try:
        ob.wait_line("edgepilot vehicle: first control tick")
        sc = ob.sim.scenario
        lat, lon = sc.world.origin
        x0, y0 = sc.start.x, sc.start.y
        tasks = tmp_path / "tasks.toml"
        tasks.write_text(f'name = "pair"\norigin = [{lat}, {lon}]\n'
                         f'[[vehicle]]\nname = "hil"\nsysid = 1\ndomain = "land"\nstart = [{x0}, {y0}]\nspeed = 1.0\n'
                         f'[[vehicle]]\nname = "peer"\nsysid = 2\ndomain = "land"\nstart = [{x0 + 60}, {y0}]\n'
                         f'speed = 1.0\n'
                         f'[[task]]\nid = "mine"\nkind = "visit"\nposition = [{x0 + 4}, {y0}]\n'
                         f'[[task]]\nid = "yours"\nkind = "visit"\nposition = [{x0 + 58}, {y0}]\n')
        link = ["-c", ob.endpoint]
        r = gcs(*link, "fleet", "tasks", "upload", str(tasks), "--auction", "--wait", "30", "--json", cwd=tmp_path)
        assert r.returncode == 0, r.stdout + r.stderr
        assert json.loads(r.stdout)["handed_to"] == [1]
        pid = json.loads((tmp_path / "fleet_auction.json").read_text())["plan_id"]
        # the second member: the same auction code, its file relayed by the vehicle
        tf = load_tasks(tasks)
        members = list(tf.vehicle)
        straight = (lambda d, s, t: straight_line_matrix(s, t))
        scale = fleet_costs(list(tf.task), members, straight).scale()
        agent = CbbaAgent(1, fleet_costs(list(tf.task), members, straight),
                          CbbaParams(reward=10.0 * scale, stale_after=3.0))
        codec = FleetCodec((1, 2), 2, pid)
        views, files = ViewAssembler(codec), Files()
        state = {"file": None, "seen": None}
        silent, stop_peer = threading.Event(), threading.Event()
        agent.heard[:] = time.time()

        def run_peer():          # every 0.5 s, as the vehicle's --fleet-period, until told to fall silent
            while not stop_peer.is_set():
                inbox = []
                for m in peer.receive():
                    if m.get_type() == "EDGEPILOT_TASK_FILE":
                        state["file"] = files.add(m) or state["file"]
                    elif getattr(m, "plan_id", None) == pid:
                        v = views.add(m)
                        if v is not None:
                            inbox.append(v)
                            state["seen"] = v
                if not silent.is_set():
                    peer.send(codec.encode(agent.step(time.time(), inbox)))
                stop_peer.wait(0.5)

        th = threading.Thread(target=run_peer, daemon=True)
        th.start()
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                seen = state["seen"]
                if (state["file"] is not None and seen is not None and list(seen.winner) == [0, 1]
                        and list(agent.winner) == [0, 1]):
                    break
                time.sleep(0.25)
            else:
                raise AssertionError(f"no agreement: vehicle's view "
                                     f"{None if state['seen'] is None else list(state['seen'].winner)}, peer's "
                                     f"{list(agent.winner)}, file relayed: {state['file'] is not None}")
            assert state["file"].plan_id == pid and state["file"].text == tasks.read_text()
            st = json.loads(ok_gcs(gcs(*link, "fleet", "tasks", "--auction", "--json", "--wait", "3",
                                       cwd=tmp_path)))
            assert {t["task"]: t["sysid"] for t in st["tasks"]} == {"mine": 1, "yours": 2}, st
            # the peer falls silent: after stale_after_s the vehicle bids for its task too
            silent.set()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                st = json.loads(ok_gcs(gcs(*link, "fleet", "tasks", "--auction", "--json", "--wait", "3",
                                           cwd=tmp_path)))
                if {t["task"]: t["sysid"] for t in st["tasks"]} == {"mine": 1, "yours": 1}:
                    break
            else:
                raise AssertionError(f"the silent member's task was not taken over: {st}")
        finally:
            stop_peer.set()
            th.join(5)
        hil = next(v for v in st["vehicles"] if v["sysid"] == 1)
        assert sorted(hil["route"]) == ["mine", "yours"]
    finally:
        peer.close()
        ob.close()


def ok_gcs(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout
