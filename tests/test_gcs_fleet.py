"""The fleet on the wire and at the ground station, with real processes and
sockets: one `edgepilot sitl run --realtime` process serving two UGVs as
SITL instances do (own sysid, own TCP port, one shared UDP output), a
scripted ArduPilot-like MAVLink peer (tests/fleet_rig.py, NOT ArduPilot)
on the same UDP port, and `edgepilot gcs` subprocesses."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgepilot.sim.realtime import free_port, spawn, stop
from edgepilot.vehicle.geo import LocalFrame

from fleet_rig import YARD_ORIGIN, ArduPilotLikePeer, write_fleet_scenario

SPEEDUP = 4.0
YARD = LocalFrame(*YARD_ORIGIN)
STARTS = {1: (4.0, 4.0), 2: (8.0, 4.0)}


def gcs(*args, timeout: float = 60.0, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgepilot", "gcs", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=dict(os.environ, PYTHONUNBUFFERED="1"))


def ok(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    return r.stdout


def wait_until(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout:g} s (last: {last!r})")


def tcp_base_port() -> int:
    """A TCP port p with p and p + 10 free (instances 0 and 1)."""
    for _ in range(50):
        p = free_port("tcp")
        if p + 10 < 65536:
            q = free_port("tcp")
            if q != p + 10:
                import socket

                s = socket.socket()
                try:
                    s.bind(("127.0.0.1", p + 10))
                except OSError:
                    continue
                finally:
                    s.close()
            return p
    raise RuntimeError("no pair of free TCP ports")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fleet")
    scenario = write_fleet_scenario(folder)
    tcp = tcp_base_port()
    udp = free_port("udp")
    proc = spawn(str(scenario), [f"tcpin:127.0.0.1:{tcp}", f"udpout:127.0.0.1:{udp}"], SPEEDUP)
    try:
        yield {"proc": proc, "tcp": tcp, "udp": udp, "shared": f"udpin:127.0.0.1:{udp}", "folder": folder}
    finally:
        out = stop(proc)
        print(out)


def status(ep_args, expect: int, *extra: str) -> list[dict]:
    out = ok(gcs(*ep_args, "fleet", "status", "--json", "--expect", str(expect), "--wait", "20", *extra))
    return json.loads(out)["vehicles"]


def test_fleet_status_json_shows_every_vehicle_with_its_sysid(fleet):
    rows = status(["-c", fleet["shared"]], 2)
    assert [r["sysid"] for r in rows] == [1, 2]
    for r in rows:
        assert r["type"] == "GROUND_ROVER" and r["mode"] == "HOLD" and r["armed"] is False
        assert r["battery_pct"] is not None and r["mission"]["state"] is not None
        x, y = YARD.to_local(r["lat"], r["lon"])
        assert math.hypot(x - STARTS[r["sysid"]][0], y - STARTS[r["sysid"]][1]) < 1.0, r
    # each instance also has its own TCP port (base + 10 x instance), as ArduPilot's -I
    rows = status(["-c", f"tcp:127.0.0.1:{fleet['tcp']}", "-c", f"tcp:127.0.0.1:{fleet['tcp'] + 10}"], 2)
    assert [r["sysid"] for r in rows] == [1, 2]
    one = status(["-c", f"tcp:127.0.0.1:{fleet['tcp'] + 10}", "--sysid", "2"], 1)
    assert [r["sysid"] for r in one] == [2]


def test_command_with_sysid_reaches_only_that_vehicle_on_the_shared_udp_link(fleet):
    """Two edgepilot vehicles and a scripted ArduPilot-like peer all send to
    one UDP port; `--sysid 2 mode MANUAL` changes vehicle 2 only, and the
    peer (which records everything it receives) gets no command at all."""
    peer = ArduPilotLikePeer(fleet["udp"], sysid=21)
    try:
        rows = status(["-c", fleet["shared"]], 3)
        assert [r["sysid"] for r in rows] == [1, 2, 21]
        assert rows[2]["autopilot"] == "ArduPilot" and rows[2]["type"] == "GROUND_ROVER"
        for _ in range(2):      # twice: the first could hit the right vehicle by luck of "last heard"
            ok(gcs("-c", fleet["shared"], "--sysid", "2", "mode", "MANUAL"))
            modes = {r["sysid"]: r["mode"] for r in status(["-c", fleet["shared"]], 3)}
            assert modes == {1: "HOLD", 2: "MANUAL", 21: "HOLD"}
            ok(gcs("-c", fleet["shared"], "--sysid", "2", "mode", "HOLD"))
        assert peer.commands() == [], peer.commands()
        # and a command for the peer reaches the peer (only)
        ok(gcs("-c", fleet["shared"], "--sysid", "21", "mode", "MANUAL"))
        assert peer.mode == 0
        assert {ts for _, ts in peer.commands()} == {21}
        modes = {r["sysid"]: r["mode"] for r in status(["-c", fleet["shared"]], 3)}
        assert modes == {1: "HOLD", 2: "HOLD", 21: "MANUAL"}
    finally:
        peer.close()


TASKS = """\
name = "yard_jobs"
origin = [{lat}, {lon}]

[[vehicle]]
name = "ugv1"
sysid = 1
domain = "land"
start = [4.0, 4.0]
speed = 1.0
sensors = ["camera", "lidar"]

[[vehicle]]
name = "ugv-b"
sysid = 2
domain = "land"
start = [8.0, 4.0]
speed = 1.0
sensors = ["camera", "lidar"]

# Not edgepilot: the scripted ArduPilot-like peer (tests/fleet_rig.py)
[[vehicle]]
name = "rover21"
sysid = 21
domain = "land"
kind = "mavlink"
autopilot = "ardupilot"
start = [40.0, 30.0]
speed = 1.5
sensors = ["thermal"]

[[task]]
id = "look-west"
kind = "visit"
position = [4.0, 12.0]
sensors = ["camera"]

[[task]]
id = "look-east"
kind = "visit"
position = [9.0, 10.0]
sensors = ["camera"]
service_s = 5.0

[[task]]
id = "heat-check"
kind = "hold"
position = [44.0, 34.0]
duration_s = 3.0
sensors = ["thermal"]

[[task]]
id = "heat-sweep"
kind = "search"
area = [[30.0, 30.0], [38.0, 30.0], [38.0, 36.0], [30.0, 36.0]]
swath = 3.0
sensors = ["thermal"]
"""


def test_fleet_plan_gives_a_mixed_fleet_its_missions_and_tracks_progress(fleet, tmp_path):
    """`fleet plan`: the central plan (OR-Tools) over two edgepilot vehicles
    and the scripted ArduPilot-like peer; each vehicle's share goes out
    through the mission protocol (the peer asks with MISSION_REQUEST_INT),
    each upload only to its vehicle; `fleet tasks` follows the peer's
    progress from its MISSION_CURRENT."""
    tasks = tmp_path / "tasks.toml"
    tasks.write_text(TASKS.format(lat=YARD_ORIGIN[0], lon=YARD_ORIGIN[1]))
    plan_path = tmp_path / "plan.json"
    peer = ArduPilotLikePeer(fleet["udp"], sysid=21, lat=YARD.to_geo(40.0, 30.0)[0], lon=YARD.to_geo(40.0, 30.0)[1])
    try:
        status(["-c", fleet["shared"]], 3)
        out = json.loads(ok(gcs("-c", fleet["shared"], "fleet", "plan", str(tasks), "--save", str(plan_path),
                                "--time-limit", "1", "--json", timeout=120)))
        plan = out["plan"]
        assert plan["format"] == "edgepilot-fleet-plan" and plan["unassigned"] == []
        routes = {v["name"]: v["tasks"] for v in plan["vehicles"]}
        assert sorted(routes["rover21"]) == ["heat-check", "heat-sweep"]        # only it has the thermal camera
        assert sorted(routes["ugv1"] + routes["ugv-b"]) == ["look-east", "look-west"]
        assert plan["cost_s"] > 0 and math.isclose(plan["cost_s"], sum(v["cost_s"] for v in plan["vehicles"]),
                                                    rel_tol=1e-6)
        assert {u["sysid"]: u["ok"] for u in out["uploads"]} == {1: True, 2: True, 21: True}
        assert json.loads(plan_path.read_text()) == plan
        # the peer holds exactly its share (item 0 = home), received via MISSION_REQUEST_INT
        pv = {v["sysid"]: v for v in plan["vehicles"]}
        assert len(peer.mission) == len(pv[21]["items"])
        for got, want in zip(peer.mission, pv[21]["items"]):
            assert got.command == want["command"]
            if got.seq > 0 and want["command"] != 178:            # located items (not DO_CHANGE_SPEED)
                assert abs(got.x / 1e7 - want["lat"]) < 2e-7 and abs(got.y / 1e7 - want["lon"]) < 2e-7
        # nothing meant for the edgepilot vehicles reached the peer
        assert {ts for _, ts in peer.commands()} <= {21, 0}, peer.commands()
        # the edgepilot vehicles hold theirs (read back over their own TCP ports)
        for sysid, port in ((1, fleet["tcp"]), (2, fleet["tcp"] + 10)):
            if not pv[sysid]["tasks"]:
                continue
            shown = json.loads(ok(gcs("-c", f"tcp:127.0.0.1:{port}", "mission", "show", "--json")))
            assert shown["sysid"] == sysid
            items = [it for it in shown["items"] if not it["home"]]
            assert [it["command"] for it in items] == [
                {16: "NAV_WAYPOINT", 178: "DO_CHANGE_SPEED", 19: "NAV_LOITER_TIME"}[w["command"]]
                for w in pv[sysid]["items"][1:]]
        # the peer runs its mission; `fleet tasks` follows it from MISSION_CURRENT
        before = json.loads(ok(gcs("-c", fleet["shared"], "fleet", "tasks", "--plan", str(plan_path), "--json")))
        states = {t["task"]: t["state"] for v in before["vehicles"] for t in v["tasks"]}
        assert set(states.values()) == {"pending"}, states
        ok(gcs("-c", fleet["shared"], "--sysid", "21", "mission", "start"))

        def peer_done():
            doc = json.loads(ok(gcs("-c", fleet["shared"], "fleet", "tasks", "--plan", str(plan_path), "--json")))
            st = {t["task"]: t["state"] for v in doc["vehicles"] for t in v["tasks"]}
            return st if st["heat-check"] == st["heat-sweep"] == "done" else None

        st = wait_until(peer_done, 60, "the peer's tasks reported done")
        assert st["look-east"] == st["look-west"] == "pending"      # the edgepilot vehicles were not started
        rows = {r["sysid"]: r for r in status(["-c", fleet["shared"]], 3, "--plan", str(plan_path))}
        assert [t["state"] for t in rows[21]["tasks"]] == ["done", "done"]
        assert rows[21]["name"] == "rover21"
        # a saved plan uploads again as it is (no planner involved): the peer gets its mission anew
        peer.mission = []
        out = ok(gcs("-c", fleet["shared"], "fleet", "tasks", "upload", str(plan_path)))
        assert "rover21 (sysid 21): uploaded" in out and "ugv1 (sysid 1)" in out
        assert len(peer.mission) == len(pv[21]["items"])
    finally:
        peer.close()


def test_fleet_plan_refuses_a_bad_task_file_before_sending_anything(fleet, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(TASKS.format(lat=YARD_ORIGIN[0], lon=YARD_ORIGIN[1]).replace("speed = 1.5", "speed = -1"))
    r = gcs("-c", fleet["shared"], "fleet", "plan", str(bad), "--save", str(tmp_path / "p.json"))
    assert r.returncode == 2 and "bad.toml" in r.stderr and "speed" in r.stderr, r.stderr
    assert not (tmp_path / "p.json").exists()
    no_origin = tmp_path / "no_origin.toml"
    no_origin.write_text("\n".join(l for l in TASKS.splitlines() if not l.startswith("origin")).format())
    r = gcs("-c", fleet["shared"], "fleet", "plan", str(no_origin), "--dry-run")
    assert r.returncode == 2 and "--origin" in r.stderr, r.stderr
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "edgepilot-fleet-plan", "vehicles": [{"sysid": 300, "items": []}]}')
    r = gcs("-c", fleet["shared"], "fleet", "tasks", "upload", str(broken))
    assert r.returncode == 2 and "broken.json" in r.stderr and "vehicles.0.sysid" in r.stderr, r.stderr


def test_fleet_plan_from_positions_starts_where_the_vehicles_are(fleet, tmp_path):
    """--from-positions: the plan starts each heard vehicle at its reported
    position (the peer stands 20 m from its task-file start), the mission's
    home item included; a vehicle whose type does not fit its task-file
    domain is warned about."""
    tasks = tmp_path / "tasks.toml"
    tasks.write_text(TASKS.format(lat=YARD_ORIGIN[0], lon=YARD_ORIGIN[1]))
    lat, lon = YARD.to_geo(20.0, 30.0)
    peer = ArduPilotLikePeer(fleet["udp"], sysid=21, lat=lat, lon=lon)
    try:
        status(["-c", fleet["shared"]], 3)
        r = gcs("-c", fleet["shared"], "fleet", "plan", str(tasks), "--from-positions", "--save",
                str(tmp_path / "p.json"), "--time-limit", "1", "--json", timeout=120)
        plan = json.loads(ok(r))["plan"]
        pv = {v["sysid"]: v for v in plan["vehicles"]}
        assert pv[21]["start_from"] == "telemetry" and pv[1]["start_from"] == "telemetry"
        assert math.hypot(pv[21]["start"][0] - 20.0, pv[21]["start"][1] - 30.0) < 0.5
        assert math.hypot(pv[1]["start"][0] - 4.0, pv[1]["start"][1] - 4.0) < 1.0
        hx, hy = YARD.to_local(pv[21]["items"][0]["lat"], pv[21]["items"][0]["lon"])
        assert math.hypot(hx - 20.0, hy - 30.0) < 0.5
        assert "warning" not in r.stderr
        # the same file, but rover21 said to be a boat: planned, and warned about
        boat = tmp_path / "boat.toml"
        boat.write_text(tasks.read_text().replace('name = "rover21"\nsysid = 21\ndomain = "land"',
                                                  'name = "rover21"\nsysid = 21\ndomain = "water"'))
        r = gcs("-c", fleet["shared"], "fleet", "plan", str(boat), "--save", str(tmp_path / "b.json"),
                "--time-limit", "1", timeout=120)
        assert "warning: rover21 is a water vehicle in the task file but sysid 21 heartbeats as GROUND_ROVER" \
            in r.stderr, r.stderr
    finally:
        peer.close()


def test_one_vehicle_of_several_links_by_sysid(fleet):
    """A per-vehicle command with two TCP links (one per instance) picks
    the link that hears --sysid."""
    links = ["-c", f"tcp:127.0.0.1:{fleet['tcp']}", "-c", f"tcp:127.0.0.1:{fleet['tcp'] + 10}"]
    r = gcs(*links, "mode", "MANUAL")
    assert r.returncode == 2 and "--sysid" in r.stderr
    assert "mode MANUAL on sysid 2" in ok(gcs(*links, "--sysid", "2", "mode", "MANUAL"))
    try:
        modes = {r["sysid"]: r["mode"] for r in status(links, 2)}
        assert modes == {1: "HOLD", 2: "MANUAL"}
    finally:
        ok(gcs(*links, "--sysid", "2", "mode", "HOLD"))


def test_watch_fleet_view_shows_every_vehicle_and_the_alerts(fleet):
    """`watch --view fleet` in a real terminal: a row per vehicle (two
    edgepilot vehicles and the scripted peer) and the peer's warning in
    the alert list, with its sysid."""
    from test_gcs_e2e import PtyTerminal

    peer = ArduPilotLikePeer(fleet["udp"], sysid=21)
    term = PtyTerminal([sys.executable, "-m", "edgepilot", "gcs", "-c", fleet["shared"], "watch", "--view", "fleet",
                        "--rate", "4"], rows=40, cols=140)
    try:
        term.until(lambda s: "3 vehicle(s)" in s and "alerts: none" in s, 30)
        peer.alert("Obstacle: vessel without AIS closing")
        s = term.until(lambda s: "sysid 21  [WARNING] Obstacle: vessel without AIS closing" in s, 30)
        rows = [l for l in s.splitlines() if "GROUND_ROVER" in l]
        assert [l.split("│")[1].strip() for l in rows] == ["1", "2", "21"], s
        assert "alerts (1)" in s
        term.send(b"q")
        assert term.wait(15) == 0
    finally:
        term.close()
        peer.close()
