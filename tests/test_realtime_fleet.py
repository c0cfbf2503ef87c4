"""The real-time fleet (sim/realtime_fleet.py): the lockstep fleet's
scenario files and shared world served over MAVLink, ports and errors,
vehicles seeing (and hitting) each other in one world, and the fleet view
of `gcs watch` rendered from known vehicle states."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from edgepilot.gcs.mav import M
from edgepilot.sim.realtime_fleet import (build_fleet, instance_endpoints, is_fleet_scenario, load_realtime_fleet,
                                          realtime_notes)
from edgepilot.vehicle.config import ConfigError

from fleet_rig import write_fleet_scenario

FACING = (('vehicle = "ugv", sysid = 1, start = {x = 4.0, y = 4.0, yaw_deg = 90.0}',
           'vehicle = "ugv_lidar", sysid = 1, start = {x = 30.0, y = 34.0, yaw_deg = 0.0}'),
          ('vehicle = "ugv", sysid = 2, start = {x = 8.0, y = 4.0, yaw_deg = 90.0}',
           'vehicle = "ugv_lidar", sysid = 2, start = {x = 36.0, y = 34.0, yaw_deg = 180.0}'))


def facing_scenario(folder):
    """Two lidar UGVs 6 m apart facing each other, nothing else within their lidar range ahead."""
    p = write_fleet_scenario(folder)
    text = p.read_text()
    for old, new in FACING:
        text = text.replace(old, new)
    p.write_text(text)
    return p


def test_ports_move_by_ten_per_instance_and_outputs_are_shared():
    t = ["tcpin:127.0.0.1:5760", "udpout:127.0.0.1:14550", "udpin:0.0.0.0:14560", "tcp:10.0.0.2:5000"]
    assert instance_endpoints(t, 0) == t
    assert instance_endpoints(t, 2) == ["tcpin:127.0.0.1:5780", "udpout:127.0.0.1:14550", "udpin:0.0.0.0:14580",
                                        "tcp:10.0.0.2:5000"]
    with pytest.raises(ValueError, match="serial device cannot serve several vehicles"):
        instance_endpoints(["/dev/ttyUSB0,57600"], 1)
    with pytest.raises(ValueError, match="port 65540"):
        instance_endpoints(["tcpin:127.0.0.1:65530"], 1)


def test_fleet_scenario_gives_each_vehicle_its_start_and_sysid(tmp_path):
    p = write_fleet_scenario(tmp_path)
    assert is_fleet_scenario(p) and not is_fleet_scenario("ugv_yard")
    sc = load_realtime_fleet(p)
    assert sc.name == "fleet_yard_rt"
    assert [(v.name, v.sysid, v.start.x, v.start.y) for v in sc.vehicles] == [("ugv1", 1, 4.0, 4.0),
                                                                             ("ugv-b", 2, 8.0, 4.0)]
    fleet = build_fleet(p, endpoints=["udpin:127.0.0.1:0"])
    try:
        assert [m.sysid for m in fleet.members] == [1, 2]
        assert [m.core.params.get("SYSID_THISMAV") for m in fleet.members] == [1.0, 2.0]
        assert [round(m.sim.truth.x, 3) for m in fleet.members] == [4.0, 8.0]
        # one world: both vehicles' simulations stand on the same raster
        assert fleet.members[0].sim.world is fleet.members[1].sim.world
        assert [m.sim for m in fleet.world.members] == [m.sim for m in fleet.members]
    finally:
        fleet.close()


def test_the_lockstep_fleet_files_are_served_too():
    """The shipped `[[vehicles]]` files load for real time: names and sysids
    as in the file, what real time leaves out said in a note."""
    sc = load_realtime_fleet("fleet_crossing")
    assert [(v.name, v.sysid) for v in sc.vehicles] == [("ugv1", 1), ("ugv2", 2)]
    notes = []
    fleet = build_fleet("fleet_crossing", endpoints=["udpin:127.0.0.1:0"], on_line=notes.append)
    try:
        assert [m.name for m in fleet.members] == ["ugv1", "ugv2"]
        assert all(len(m.core.mission) == 0 for m in fleet.members)      # it waits for its ground station
        assert notes == ["note: vehicles.*.mission: not loaded: every vehicle waits in HOLD for its ground station"]
    finally:
        fleet.close()
    # land and water, a task file and a breakdown: the vehicles and their
    # domains served, the task file left to the ground station (and said so)
    notes = []
    fleet = build_fleet("fleet_flood_sar", endpoints=["udpin:127.0.0.1:0"], on_line=notes.append)
    try:
        assert [(m.name, m.sim.cfg.kind) for m in fleet.members] == [
            ("ugv1", "ugv"), ("ugv2", "ugv"), ("ugv3", "ugv"), ("usv1", "usv"), ("usv2", "usv")]
        assert set(fleet.world.worlds) == {"land", "water"}
        assert any("tasks:" in n and "is not run here" in n for n in notes), notes
    finally:
        fleet.close()


def test_link_faults_are_played_only_with_a_v2v_link():
    """fleet_partition's partition and task faults are said not played
    without --v2v and are played (no note) with it: the task file and its
    new_task / cancel_task by the run's operator (sim/fleet/operator.py)."""
    sc = load_realtime_fleet("fleet_partition")
    without, with_v2v = realtime_notes(sc), realtime_notes(sc, v2v=True)
    assert any(n.startswith("faults.0: link_partition not played") and "--v2v" in n for n in without), without
    assert sum("new_task not played" in n and "--v2v" in n for n in without) == 2, without
    assert any("cancel_task not played" in n for n in without) and any(n.startswith("tasks:") for n in without)
    assert with_v2v == [], with_v2v


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.replace("sysid = 2", "sysid = 1"), "vehicles.1.sysid: 1 repeats vehicles.0"),
    (lambda s: s.replace("x = 8.0", "x = 80.0"), "vehicles.1.start: (80.0, 4.0) is outside world.bounds"),
    (lambda s: s.replace('vehicle = "ugv", sysid = 2', 'vehicle = "tank", sysid = 2'), "vehicles.1.vehicle"),
    (lambda s: s.replace("sysid = 2,", "sysid = 2, colour = 'red',"), "vehicles.1"),
    (lambda s: s.replace('seed = 1', 'seed = 1\ntasks = "t.toml"'), "tasks: no task file"),
    (lambda s: s.replace('seed = 1', 'seed = 1\nfaults = [{type = "vehicle_breakdown", vehicle = "ugv9", at_s = 3}]'),
     "faults.0: no vehicle named 'ugv9'"),
])
def test_bad_fleet_scenarios_name_the_entry(tmp_path, edit, message):
    p = write_fleet_scenario(tmp_path)
    p.write_text(edit(p.read_text()))
    with pytest.raises(ConfigError) as e:
        load_realtime_fleet(p)
    assert str(p) in str(e.value) and message in str(e.value), str(e.value)


def test_cli_refuses_a_bad_fleet_scenario_with_exit_2(tmp_path):
    p = write_fleet_scenario(tmp_path)
    p.write_text(p.read_text().replace("sysid = 2", "sysid = 1"))
    r = subprocess.run([sys.executable, "-m", "edgepilot", "sitl", "run", "--realtime", str(p)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "repeats vehicles.0" in r.stderr, r.stderr


def _view(sysid, now, mode=4, texts=()):
    from edgepilot.gcs.telemetry import StatusText, VehicleView

    v = VehicleView(sysid=sysid, first_seen=now - 10)
    v.autopilot, v.mav_type = M.MAV_AUTOPILOT_ARDUPILOTMEGA, M.MAV_TYPE_GROUND_ROVER
    v.base_mode, v.custom_mode, v.last_heartbeat = 1, mode, now - 0.3
    v.lat, v.lon, v.battery_remaining = 47.1 + sysid * 1e-4, 8.5, 90 - sysid
    v.mission_seq, v.mission_total, v.mission_state = 2, 5, 3
    for t, sev, text in texts:
        v.statustexts.append(StatusText(now - t, sev, text))
        v.statustext_count += 1
    return v


def test_watch_fleet_view_has_a_row_per_vehicle_and_the_alert_list():
    from rich.console import Console

    from edgepilot.gcs.views import render_dashboard

    now = time.monotonic()
    vs = [_view(3, now), _view(1, now, texts=[(5.0, M.MAV_SEVERITY_INFO, "Mission started")]),
          _view(2, now, mode=10, texts=[(2.0, M.MAV_SEVERITY_CRITICAL, "AIS-dark vessel closing on zone A"),
                                        (1.0, M.MAV_SEVERITY_WARNING, "Battery low")])]
    con = Console(record=True, width=140)
    con.print(render_dashboard(vs, now, ["udpin:0.0.0.0:14550"], view="auto"))      # 3 vehicles: fleet view
    text = con.export_text()
    rows = [l for l in text.splitlines() if "GROUND_ROVER" in l]
    assert [l.split("│")[1].strip() for l in rows] == ["1", "2", "3"]
    assert "AUTO" in rows[1] and "HOLD" in rows[0] and "2/5 ACTIVE" in rows[0]
    assert "alerts (2)" in text and "Mission started" not in text            # INFO is not an alert
    a, b = text.index("AIS-dark vessel"), text.index("Battery low")
    assert a < b and "sysid 2  [CRITICAL]" in text                            # oldest first
    con = Console(record=True, width=140)
    con.print(render_dashboard(vs[:2], now, ["x"], view="auto"))              # 2 vehicles: panels
    text = con.export_text()
    assert "alerts" not in text and "sysid 1  HOLD" in text


def test_each_vehicles_lidar_sees_the_other_vehicles(tmp_path):
    """Two lidar UGVs face each other 6 m apart: each one's scan has a
    return straight ahead at the other's near side (6 m minus its radius)
    (without the other vehicle there is nothing within the lidar range ahead)."""
    import math

    import numpy as np

    p = facing_scenario(tmp_path)
    fleet = build_fleet(p, endpoints=["udpin:127.0.0.1:0"])
    try:
        for m, other in ((fleet.members[0], fleet.members[1]), (fleet.members[1], fleet.members[0])):
            scan = None
            t = 0.0
            while scan is None:
                scan = m.sim.sensors(t).scan
                t += 0.05
            ang = scan.angle_min + scan.angle_increment * np.arange(len(scan.ranges))
            ahead = np.abs(np.angle(np.exp(1j * ang))) < math.radians(2)
            r_other = other.run.m.radius           # the circle the shared world shows the others
            got = float(np.nanmin(np.where(scan.ranges[ahead] > 0, scan.ranges[ahead], np.nan)))
            assert abs(got - (6.0 - r_other)) < 0.15, (m.name, got)
    finally:
        fleet.close()


def test_vehicles_that_touch_are_a_collision_and_the_gap_is_tracked(tmp_path):
    """One world: two UGVs started with overlapping footprints are one
    collision between vehicles (0 m gap) in the fleet's separation log; the
    same two 4 m apart are none, their smallest gap the footprints' distance."""
    p = write_fleet_scenario(tmp_path)
    base = p.read_text()
    heard = []
    p.write_text(base.replace("x = 8.0, y = 4.0", "x = 4.5, y = 4.0"))
    fleet = build_fleet(p, endpoints=["udpin:127.0.0.1:0"], speedup=50.0, on_line=heard.append)
    fleet.run(duration=0.5)
    assert fleet.separation.collisions == 1 and fleet.separation.min_gap_m == 0.0
    assert [h for h in heard if "collision between ugv1 and ugv-b" in h], heard
    p.write_text(base)
    fleet = build_fleet(p, endpoints=["udpin:127.0.0.1:0"], speedup=50.0)
    fleet.run(duration=0.5)
    width = fleet.members[0].sim.cfg.geometry.width
    assert fleet.separation.collisions == 0
    assert abs(fleet.separation.min_gap_m - (4.0 - width)) < 0.05


def test_boats_in_one_world_hear_each_others_ais(tmp_path):
    """Two USVs in one real-time world: each one's contact table gets the
    other's AIS (class B reports, MMSI 993000000 + sysid) on the world clock."""
    p = write_fleet_scenario(tmp_path)
    text = p.read_text().replace('surface = "ground"', 'surface = "water"')
    text = text.replace('vehicle = "ugv", sysid = 1, start = {x = 4.0, y = 4.0, yaw_deg = 90.0}',
                        'vehicle = "usv", sysid = 1, start = {x = 30.0, y = 34.0, yaw_deg = 0.0}')
    text = text.replace('vehicle = "ugv", sysid = 2, start = {x = 8.0, y = 4.0, yaw_deg = 90.0}',
                        'vehicle = "usv", sysid = 2, start = {x = 45.0, y = 34.0, yaw_deg = 180.0}')
    p.write_text(text)
    fleet = build_fleet(p, endpoints=["udpin:127.0.0.1:0"], speedup=50.0)
    fleet.run(duration=12.0)           # > 2 AIS intervals of 5 s
    for m, other in ((fleet.members[0], 993000002), (fleet.members[1], 993000001)):
        contacts = m.core.maritime.contacts
        assert other in contacts, (m.name, [c for c in contacts])
        c = contacts.get(other)
        x_other = 45.0 if other == 993000002 else 30.0
        assert abs(c.x - x_other) < 3.0 and abs(c.y - 34.0) < 3.0, (c.x, c.y)


def _obstacle_distance(port: int, sysid: int, timeout: float = 30.0):
    """Ask vehicle ``sysid`` on tcp ``port`` for OBSTACLE_DISTANCE at 2 Hz with
    a real pymavlink client; return the first message with an obstacle in it."""
    from edgepilot.gcs.mav import mavutil

    conn = mavutil.mavlink_connection(f"tcp:127.0.0.1:{port}", source_system=250, source_component=190)
    try:
        hb = conn.wait_heartbeat(timeout=timeout)
        assert hb is not None and conn.target_system == sysid
        deadline = time.monotonic() + timeout
        next_ask = 0.0
        while time.monotonic() < deadline:
            if time.monotonic() >= next_ask:
                next_ask = time.monotonic() + 2.0
                conn.mav.command_long_send(sysid, 1, M.MAV_CMD_SET_MESSAGE_INTERVAL, 0,
                                           M.MAVLINK_MSG_ID_OBSTACLE_DISTANCE, 500_000, 0, 0, 0, 0, 0)
            m = conn.recv_match(type="OBSTACLE_DISTANCE", blocking=True, timeout=0.5)
            if m is not None and m.get_srcSystem() == sysid and min(m.distances) <= m.max_distance:
                return m
        raise AssertionError(f"no OBSTACLE_DISTANCE with an obstacle from sysid {sysid} within {timeout:g} s")
    finally:
        conn.close()


def test_served_fleet_one_world_each_vehicle_tracks_the_other(tmp_path):
    """Real sockets: `edgepilot sitl run --realtime` serves two lidar UGVs of
    one world (TCP per instance, one shared UDP output); `edgepilot gcs fleet
    status --json` and a pymavlink client on the shared port see both
    sysids, and a pymavlink client on each vehicle's own port gets OBSTACLE_DISTANCE (what its lidar
    tracks) with the other vehicle dead ahead at ~6 m minus its radius, and
    nothing in any other direction."""
    import json
    import os

    from edgepilot.sim.realtime import free_port, spawn, stop

    p = facing_scenario(tmp_path)
    tcp, udp = free_port("tcp"), free_port("udp")
    while tcp + 10 > 65535:
        tcp = free_port("tcp")
    proc = spawn(str(p), [f"tcpin:127.0.0.1:{tcp}", f"udpout:127.0.0.1:{udp}"], 2.0)
    out = ""
    try:
        r = subprocess.run([sys.executable, "-m", "edgepilot", "gcs", "-c", f"udpin:127.0.0.1:{udp}", "fleet",
                            "status", "--json", "--expect", "2", "--wait", "30"], capture_output=True, text=True,
                           timeout=90, env=dict(os.environ, PYTHONUNBUFFERED="1"))
        assert r.returncode == 0, r.stderr
        rows = json.loads(r.stdout)["vehicles"]
        assert [row["sysid"] for row in rows] == [1, 2]
        # a plain pymavlink client on the shared UDP output hears both too
        from edgepilot.gcs.mav import mavutil

        conn = mavutil.mavlink_connection(f"udpin:127.0.0.1:{udp}", source_system=251)
        try:
            heard: set = set()
            deadline = time.monotonic() + 30
            while heard != {1, 2} and time.monotonic() < deadline:
                hb = conn.recv_match(type="HEARTBEAT", blocking=True, timeout=0.5)
                if hb is not None:
                    heard.add(hb.get_srcSystem())
            assert heard == {1, 2}, heard
        finally:
            conn.close()
        for sysid, port in ((1, tcp), (2, tcp + 10)):
            m = _obstacle_distance(port, sysid)
            d = list(m.distances)
            ahead = min(d[-1], d[0], d[1]) / 100.0             # sectors -5, 0, +5 degrees
            assert 5.0 < ahead < 5.9, (sysid, d[:3], d[-2:])
            others = [x for k, x in enumerate(d) if k not in (71, 0, 1)]
            assert all(x == m.max_distance + 1 for x in others), (sysid, d)
    finally:
        out = stop(proc)
    assert "collisions between vehicles 0" in out, out


@pytest.mark.parametrize("yaw_deg, seen", [(0.0, True), (180.0, False)])
def test_each_vehicles_camera_sees_the_other_vehicle(tmp_path, yaw_deg, seen):
    """One world: a camera UGV facing the other (4 m ahead) has its hull in
    the frame (dark grey, sim.fleet.world.HULL_BGR); turned away, none."""
    import numpy as np

    from edgepilot.sim.fleet.world import HULL_BGR

    p = write_fleet_scenario(tmp_path)
    text = p.read_text().replace('vehicle = "ugv", sysid = 1, start = {x = 4.0, y = 4.0, yaw_deg = 90.0}',
                                 f'vehicle = "ugv_camera", sysid = 1, start = {{x = 30.0, y = 34.0, '
                                 f'yaw_deg = {yaw_deg}}}')
    text = text.replace('vehicle = "ugv", sysid = 2, start = {x = 8.0, y = 4.0, yaw_deg = 90.0}',
                        'vehicle = "ugv_camera", sysid = 2, start = {x = 34.0, y = 34.0, yaw_deg = 180.0}')
    p.write_text(text)
    fleet = build_fleet(p, endpoints=["udpin:127.0.0.1:0"])
    try:
        m, img, t = fleet.members[0], None, 0.0
        while img is None:
            img = m.sim.sensors(t).camera_image
            t += 0.05
        hull = int((np.abs(img.astype(int) - np.array(HULL_BGR)).sum(axis=2) < 25).sum())
        assert (hull > 1000) == seen, hull
    finally:
        fleet.close()


def test_realtime_harbour_threat_watch_alerts_over_mavlink():
    """`edgepilot sitl run --realtime fleet_harbour_security` runs the
    fleet's threat watch: the AIS-dark fast boat dashing at the berths is
    alerted by the boat nearest it (usv3, sysid 13) on the shared UDP
    output, as a STATUSTEXT line and as EDGEPILOT_THREAT_ALERT with the
    kind, score and reasons, read by a plain pymavlink client."""
    import socket

    from edgepilot.firmware_bridge.fleet_link import FleetCodec
    from edgepilot.firmware_bridge.mavlink import dialects
    from edgepilot.sim.realtime import free_port, spawn, stop

    port = free_port("udp")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", port))
    sock.settimeout(0.5)
    mod = dialects.load()
    codec = FleetCodec((11, 12, 13), 0)
    parser = mod.MAVLink(None)
    alerts, texts = {}, []
    p = spawn("fleet_harbour_security", mavlink=[f"udpout:127.0.0.1:{port}", "tcpin:127.0.0.1:0"], speedup=4.0,
              ready_timeout=120)
    out = ""
    try:
        deadline = time.monotonic() + 120          # a hang guard: the loop ends on the alerts
        while time.monotonic() < deadline and not ({"zone_cpa", "ais_dark"} <= set(alerts)
                                                   and any(t.startswith("ALERT ais_dark") for _, t in texts)):
            try:
                data = sock.recv(65535)
            except socket.timeout:
                assert p.poll() is None, "the real-time fleet exited"
                continue
            for msg in parser.parse_buffer(data) or []:
                if msg.get_type() == "EDGEPILOT_THREAT_ALERT":
                    alerts.setdefault(codec.read_alert(msg).kind, (msg.get_srcSystem(), codec.read_alert(msg)))
                elif msg.get_type() == "STATUSTEXT" and msg.severity == 1:
                    texts.append((msg.get_srcSystem(), msg.text))
    finally:
        out = stop(p)
        sock.close()
    assert {"zone_cpa", "ais_dark"} <= set(alerts), (alerts, texts, out)
    sysid, dark = alerts["ais_dark"]
    assert sysid == 13 and 0.5 <= dark.score <= 1.0 and dark.track_id is not None
    assert any(r.startswith("no AIS within 50 m of track") for r in dark.reasons), dark.reasons
    sysid, zone = alerts["zone_cpa"]
    assert sysid == 13 and zone.zone == "berths" and 0.5 <= zone.score <= 1.0
    assert any("closest approach to zone berths is inside it" in r for r in zone.reasons), zone.reasons
    assert any(s == 13 and t.startswith("ALERT ais_dark track-") for s, t in texts), texts
    # the console says it too
    assert "usv3 (sysid 13) alert ais_dark score" in out, out


def test_realtime_notes_say_the_patrol_waits_and_the_watch_runs():
    from edgepilot.sim.realtime_fleet import realtime_notes

    notes = realtime_notes(load_realtime_fleet("fleet_harbour_security"))
    assert any(n.startswith("patrol: not run") for n in notes), notes
    assert any(n.startswith("threat_watch: runs") and "EDGEPILOT_THREAT_ALERT" in n for n in notes), notes
