"""gcs pieces that need no vehicle: file formats and their errors, mode
tables, parameter encoding, tlog summary/plot, the dashboard rendering, shell
completion, and the import boundary (gcs never loads vehicle/ or sim/)."""
from __future__ import annotations

import json
import math
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgepilot.gcs.errors import FileFormatError
from edgepilot.gcs.formats.mission import (Mission, MissionItem, format_plan, format_wpl, load_mission, parse_plan,
                                 parse_wpl)
from edgepilot.gcs.formats.parm import format_parm, format_value, parse_parm
from edgepilot.gcs.mav import M
from tests.plot_util import colour_pixels, read_png

REPO = Path(__file__).resolve().parent.parent

WPL = """QGC WPL 110
0\t1\t0\t16\t0\t0\t0\t0\t47.3977779\t8.5456471\t0\t1
1\t0\t3\t16\t0\t0\t0\t0\t47.3978498\t8.5456736\t0\t1
2\t0\t3\t178\t1\t0.8\t-1\t0\t0\t0\t0\t1
3\t0\t3\t16\t0\t0\t0\t0\t47.3979037\t8.5456471\t0\t1
"""


# ----------------------------------------------------------------------------- QGC WPL 110
def test_wpl_parses_home_and_items():
    m = parse_wpl(WPL)
    assert m.home.x == pytest.approx(47.3977779) and m.home.frame == 0
    assert [it.command for it in m.items] == [16, 178, 16]
    assert m.items[1].param2 == pytest.approx(0.8)
    assert m.items[2].y == pytest.approx(8.5456471)


def test_wpl_format_is_byte_stable():
    assert format_wpl(parse_wpl(WPL)) == WPL


@pytest.mark.parametrize("text, line, words", [
    ("QGC WPL 999\n", 1, "header"),
    ("", 1, "empty file"),
    (WPL.replace("1\t0\t3\t16\t0\t0\t0\t0\t47.3978498\t8.5456736\t0\t1", "1\t0\t3\t16\t0\t0\t47.3978498\t8.5456736\t0\t1"),
     3, "expected 12 fields"),
    (WPL.replace("47.3978498", "47.39x"), 3, "PARAM5/X/LATITUDE is '47.39x'"),
    (WPL.replace("3\t0\t3\t16", "7\t0\t3\t16"), 5, "INDEX is 7, expected 3"),
    (WPL.replace("47.3978498", "147.3978498"), 3, "latitude 147.3978498 out of range"),
    (WPL.replace("8.5456736", "-181"), 3, "longitude -181"),
    (WPL.replace("2\t0\t3\t178", "2\t0\t3\t9999"), 4, "unknown MAV_CMD 9999"),
    (WPL.replace("2\t0\t3\t178", "2\t0\t55\t178"), 4, "unknown MAV_FRAME 55"),
    (WPL.replace("0\t1\n2", "0\t7\n2"), 3, "AUTOCONTINUE is 7"),
])
def test_wpl_errors_name_the_line(text, line, words):
    with pytest.raises(FileFormatError) as e:
        parse_wpl(text, "m.waypoints")
    assert e.value.where == line, str(e.value)
    assert words in str(e.value)
    assert str(e.value).startswith(f"m.waypoints:{line}:")


def test_wpl_without_items_is_refused():
    with pytest.raises(FileFormatError, match="no mission items"):
        parse_wpl("QGC WPL 110\n0\t1\t0\t16\t0\t0\t0\t0\t47.39\t8.54\t0\t1\n", "m.waypoints")


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, width=32)
lat = st.floats(min_value=-90, max_value=90, allow_nan=False)
lon = st.floats(min_value=-180, max_value=180, allow_nan=False)
items = st.builds(MissionItem, command=st.sampled_from([16, 17, 19, 20, 177, 178]),
                  frame=st.sampled_from([0, 2, 3]), param1=finite, param2=finite, param3=finite,
                  param4=finite, x=lat, y=lon, z=finite, autocontinue=st.booleans())


@settings(max_examples=60, deadline=None)
@given(st.lists(items, min_size=1, max_size=8), st.tuples(lat, lon))
def test_wpl_and_plan_round_trip_exactly(its, home):
    m = Mission(items=tuple(its), home=MissionItem(command=16, frame=0, x=home[0], y=home[1]))
    assert parse_wpl(format_wpl(m)) == m
    back = parse_plan(format_plan(m))
    assert back.items == m.items
    assert (back.home.x, back.home.y) == (m.home.x, m.home.y)


# ----------------------------------------------------------------------------- .plan
PLAN = {
    "fileType": "Plan", "groundStation": "QGroundControl", "version": 1,
    "geoFence": {"circles": [], "polygons": [], "version": 2},
    "rallyPoints": {"points": [], "version": 2},
    "mission": {
        "version": 2, "firmwareType": 3, "vehicleType": 10, "cruiseSpeed": 1.2, "hoverSpeed": 1,
        "plannedHomePosition": [47.3977779, 8.5456471, 0],
        "items": [
            {"type": "SimpleItem", "autoContinue": True, "command": 16, "doJumpId": 1, "frame": 3,
             "params": [0, 0, 0, None, 47.3978498, 8.5456736, 0]},
            {"type": "SimpleItem", "autoContinue": True, "command": 178, "doJumpId": 2, "frame": 2,
             "params": [1, 0.8, -1, 0, 0, 0, 0]},
        ],
    },
}


def test_plan_parses_qgc_layout():
    m = parse_plan(json.dumps(PLAN, indent=4))
    assert m.home.x == pytest.approx(47.3977779)
    assert math.isnan(m.items[0].param4)        # null = NaN, as QGroundControl means it
    assert m.items[1].command == 178 and m.items[1].frame == 2
    assert m.meta["cruiseSpeed"] == 1.2


def test_plan_errors():
    bad_json = json.dumps(PLAN, indent=4).replace('"version": 2,\n        "firmwareType"', '"version": 2\n "firmwareType"')
    with pytest.raises(FileFormatError, match="not valid JSON") as e:
        parse_plan(bad_json, "p.plan")
    assert isinstance(e.value.where, int) and e.value.where > 1

    doc = json.loads(json.dumps(PLAN))
    doc["mission"]["items"].append({"type": "ComplexItem", "complexItemType": "survey"})
    text = json.dumps(doc, indent=4)
    with pytest.raises(FileFormatError) as e:
        parse_plan(text, "p.plan")
    msg = str(e.value)
    assert "mission.items[2]" in msg and "'survey' is not supported" in msg
    n = int(msg.split("line ")[1].split(")")[0])     # the line where that item's object starts
    lines = text.splitlines()
    assert lines[n - 1].strip() == "{" and '"ComplexItem"' in "\n".join(lines[n - 1:n + 3])

    doc = json.loads(json.dumps(PLAN))
    doc["mission"]["items"][0]["params"] = [0, 0, 0]
    with pytest.raises(FileFormatError, match=r"mission.items\[0\].*list of 7 numbers"):
        parse_plan(json.dumps(doc), "p.plan")

    doc = json.loads(json.dumps(PLAN))
    doc["mission"]["items"][0]["params"][4] = 95.0
    with pytest.raises(FileFormatError, match="latitude 95.0 out of range"):
        parse_plan(json.dumps(doc), "p.plan")

    with pytest.raises(FileFormatError, match='"fileType": "Plan"'):
        parse_plan(json.dumps({"fileType": "Mission"}), "p.plan")


def test_load_mission_by_extension(tmp_path):
    (tmp_path / "a.plan").write_text(json.dumps(PLAN))
    (tmp_path / "a.waypoints").write_text(WPL)
    assert load_mission(tmp_path / "a.plan").items[1].command == 178
    assert load_mission(tmp_path / "a.waypoints").items[1].command == 178
    with pytest.raises(FileFormatError, match="no such file"):
        load_mission(tmp_path / "missing.waypoints")


# ----------------------------------------------------------------------------- .parm
def test_parm_parses_both_forms_and_comments():
    p = parse_parm("# saved\nWP_SPEED 1.5\nWP_RADIUS,0.7   # comma form\n\nFS_GCS_ENABLE\t2\n")
    assert p == {"WP_SPEED": 1.5, "WP_RADIUS": 0.7, "FS_GCS_ENABLE": 2.0}


@pytest.mark.parametrize("text, line, words", [
    ("WP_SPEED 1.5\nWP_RADIUS\n", 2, "expected 'NAME VALUE'"),
    ("WP_SPEED 1.5\nWP_RADIUS abc\n", 2, "value 'abc' is not a number"),
    ("WP_SPEED nan\n", 1, "not a finite number"),
    ("A_VERY_LONG_PARAMETER_NAME 1\n", 1, "is not 1-16 letters"),
    ("WP_SPEED 1\n#\nWP_SPEED 2\n", 3, "first set on line 1"),
])
def test_parm_errors_name_the_line(text, line, words):
    with pytest.raises(FileFormatError) as e:
        parse_parm(text, "v.parm")
    assert e.value.where == line and words in str(e.value)


def test_parm_values_are_shortest_float32_text():
    f32 = struct.unpack("<f", struct.pack("<f", 1.1))[0]
    assert format_value(f32) == "1.1"
    assert format_value(25.0) == "25"
    text = format_parm({"B": f32, "A": 0.3}, header="from sysid 1")
    assert text == "# from sysid 1\nA 0.3\nB 1.1\n"
    assert parse_parm(text) == {"A": 0.3, "B": 1.1}


# ----------------------------------------------------------------------------- modes and params
def test_rover_mode_numbers_match_ardupilot():
    from edgepilot.gcs.modes import mode_name, set_mode_params

    want = {"MANUAL": 0, "ACRO": 1, "STEERING": 3, "HOLD": 4, "LOITER": 5, "FOLLOW": 6, "SIMPLE": 7,
            "AUTO": 10, "RTL": 11, "SMART_RTL": 12, "GUIDED": 15}
    for name, num in want.items():
        for t in (M.MAV_TYPE_GROUND_ROVER, M.MAV_TYPE_SURFACE_BOAT):
            assert set_mode_params(M.MAV_AUTOPILOT_ARDUPILOTMEGA, t, name.lower()) == (1.0, float(num), 0.0)
            assert mode_name(M.MAV_AUTOPILOT_ARDUPILOTMEGA, t, 1, num) == name


def test_px4_modes_use_main_and_sub_mode():
    from edgepilot.gcs.modes import mode_name, set_mode_params

    base, main, sub = set_mode_params(M.MAV_AUTOPILOT_PX4, M.MAV_TYPE_GROUND_ROVER, "MISSION")
    assert (main, sub) == (4.0, 4.0) and int(base) & M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
    custom = (int(main) << 16) | (int(sub) << 24)
    assert mode_name(M.MAV_AUTOPILOT_PX4, M.MAV_TYPE_GROUND_ROVER, int(base), custom) == "MISSION"
    assert mode_name(M.MAV_AUTOPILOT_PX4, M.MAV_TYPE_GROUND_ROVER, 0, 3 << 16) == "POSCTL"
    with pytest.raises(ValueError, match="unknown mode 'AUTO'.*MISSION"):
        set_mode_params(M.MAV_AUTOPILOT_PX4, M.MAV_TYPE_GROUND_ROVER, "AUTO")


def test_px4_bytewise_int_params_round_trip():
    from edgepilot.gcs.param import decode_value, encode_value

    for v in (0, 1, 42, -7, 2 ** 31 - 1):
        wire = encode_value(v, M.MAV_PARAM_TYPE_INT32, bytewise=True)
        assert struct.pack("<f", wire) == struct.pack("<i", v)
        assert decode_value(wire, M.MAV_PARAM_TYPE_INT32, bytewise=True) == v
    assert encode_value(42, M.MAV_PARAM_TYPE_INT32, bytewise=False) == 42.0


# ----------------------------------------------------------------------------- tlog summary / plot
def _write_tlog(path: Path, t0: float = 1.7e9) -> None:
    mav = M.MAVLink(None, srcSystem=1, srcComponent=1)
    gcs = M.MAVLink(None, srcSystem=255, srcComponent=190)
    recs = []

    def add(t, link, msg):
        recs.append(struct.pack(">Q", int((t0 + t) * 1e6)) + msg.pack(link))

    lat0, lon0 = 47.397742, 8.545594
    for i in range(0, 101):            # 10 s at 10 Hz
        t = i * 0.1
        mode = 4 if t < 2 else 10
        armed = M.MAV_MODE_FLAG_SAFETY_ARMED if t >= 1 else 0
        if i % 10 == 0:
            add(t, mav, M.MAVLink_heartbeat_message(M.MAV_TYPE_GROUND_ROVER, M.MAV_AUTOPILOT_ARDUPILOTMEGA,
                                                    1 | armed, mode, 4, 3))
            add(t, gcs, M.MAVLink_heartbeat_message(M.MAV_TYPE_GCS, M.MAV_AUTOPILOT_INVALID, 0, 0, 4, 3))
        north = max(0.0, t - 2.0)      # 1 m/s north from t = 2 s
        lat = lat0 + north / 111132.9
        add(t, mav, M.MAVLink_global_position_int_message(int(t * 1000), int(round(lat * 1e7)),
                                                          int(round(lon0 * 1e7)), 0, 0,
                                                          100 if t >= 2 else 0, 0, 0, 0))
    add(5.0, mav, M.MAVLink_mission_item_reached_message(1))
    add(6.0, mav, M.MAVLink_statustext_message(M.MAV_SEVERITY_WARNING, b"Obstacle ahead", 0, 0))
    recs.sort(key=lambda r: r[:8])     # a tlog is in time order
    path.write_bytes(b"".join(recs) + b"\x00garbage")


def test_tlog_summary_and_plot(tmp_path):
    from edgepilot.gcs.tlog import plot_track, summarize

    p = tmp_path / "run.tlog"
    _write_tlog(p)
    s = summarize(p)
    assert s.sysid == 1
    assert s.duration_s == pytest.approx(10.0, abs=0.01)
    assert s.distance_m == pytest.approx(8.0, rel=0.02)
    assert s.max_speed_m_s == pytest.approx(1.0)
    assert s.mode_time_s["HOLD"] == pytest.approx(2.0, abs=0.01)
    assert s.mode_time_s["AUTO"] == pytest.approx(8.0, abs=0.01)
    texts = [e for _, e in s.events]
    assert texts[:3] == ["mode HOLD", "armed", "mode HOLD -> AUTO"]
    assert "waypoint 1 reached" in texts and "WARNING: Obstacle ahead" in texts
    out = plot_track(s, tmp_path / "track.png")
    img = read_png(out)
    assert img.shape[:2] == (600, 700)
    # the AUTO leg (tab10's second colour) is drawn, not just its legend entry
    assert colour_pixels(img, "#ff7f0e") > 300


def test_tlog_errors(tmp_path):
    from edgepilot.gcs.tlog import summarize

    (tmp_path / "empty.tlog").write_bytes(b"")
    with pytest.raises(FileFormatError, match="empty file"):
        summarize(tmp_path / "empty.tlog")
    (tmp_path / "junk.tlog").write_bytes(b"this is not a tlog at all" * 10)
    with pytest.raises(FileFormatError, match="no MAVLink messages"):
        summarize(tmp_path / "junk.tlog")
    with pytest.raises(FileFormatError, match="no such file"):
        summarize(tmp_path / "missing.tlog")


# ----------------------------------------------------------------------------- dashboard rendering
def _view(sysid: int, hb_age: float, now: float):
    from edgepilot.gcs.telemetry import VehicleView

    v = VehicleView(sysid=sysid, first_seen=now - 20)
    v.autopilot, v.mav_type = M.MAV_AUTOPILOT_ARDUPILOTMEGA, M.MAV_TYPE_SURFACE_BOAT
    v.base_mode, v.custom_mode = 1 | M.MAV_MODE_FLAG_SAFETY_ARMED, 10
    v.last_heartbeat = now - hb_age
    v.lat, v.lon, v.groundspeed, v.heading = 47.1234567, 8.7654321, 1.25, 271.0
    v.gps_fix, v.satellites = 3, 14
    v.battery_voltage, v.battery_remaining = 12.4, 77
    v.mission_seq, v.mission_total, v.mission_state = 3, 6, 3
    return v


def test_dashboard_shows_fresh_and_lost_vehicles():
    from rich.console import Console

    from edgepilot.gcs.views import render_dashboard

    now = time.monotonic()
    con = Console(record=True, width=110, color_system="truecolor", force_terminal=True)
    con.print(render_dashboard([_view(2, 12.34, now), _view(1, 0.2, now)], now, ["udpin:0.0.0.0:14550"]))
    text = con.export_text(styles=False, clear=False)
    assert "2 vehicle(s)" in text
    assert "sysid 1  AUTO  ARMED" in text
    assert "sysid 2  LINK LOST — no heartbeat for 12.3 s" in text
    assert "item 3/6  ACTIVE" in text and "47.1234567, 8.7654321" in text and "77 %" in text
    assert text.index("sysid 1") < text.index("sysid 2")     # ordered by sysid
    # The lost vehicle's values are drawn dim (greyed); the live one's are not.
    ansi = con.export_text(styles=True).splitlines()
    pos_lines = [l for l in ansi if "47.1234567" in l]
    assert len(pos_lines) == 2
    live, lost = pos_lines              # sysid 1 first
    assert "\x1b[2m" in lost and "\x1b[2m" not in live


# ----------------------------------------------------------------------------- CLI surface
def _run_gcs(*args, timeout=60):
    import os

    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "edgepilot", "gcs", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=env)


def test_help_has_examples_and_exit_codes_for_every_command():
    from edgepilot.gcs.cli import build_parser

    def walk(p, path):
        yield path, p
        for a in p._actions:
            if a.__class__.__name__ == "_SubParsersAction":
                for name, sub in a.choices.items():
                    yield from walk(sub, path + [name])

    seen = 0
    for path, p in walk(build_parser(), []):
        h = p.format_help()
        assert "examples:" in h, f"`edgepilot gcs {' '.join(path)} --help` has no examples"
        assert "exit codes:" in h and "3    gcs: no heartbeat" in h, path
        seen += 1
    assert seen >= 25


def test_usage_error_exit_code_and_completion_script():
    r = _run_gcs("mode")
    assert r.returncode == 2 and "the following arguments are required: NAME" in r.stderr
    r = _run_gcs("completion", "bash")
    assert r.returncode == 0
    script = r.stdout
    assert '"mission") echo "upload download start clear show|' in script
    assert "complete -o default -F _edgepilot edgepilot" in script
    # The script works in bash: completing `edgepilot gcs mission up` offers `upload`.
    bash = subprocess.run(["bash", "-c", script + '\nCOMP_WORDS=(edgepilot gcs mission up); COMP_CWORD=3; '
                                                 '_edgepilot; echo "${COMPREPLY[@]}"'],
                          capture_output=True, text=True, timeout=20)
    assert bash.stdout.strip() == "upload", bash.stderr
    bash = subprocess.run(["bash", "-c", script + '\nCOMP_WORDS=(edgepilot gcs -c tcp:h:1 mode GU); COMP_CWORD=5; '
                                                 '_edgepilot; echo "${COMPREPLY[@]}"'],
                          capture_output=True, text=True, timeout=20)
    assert bash.stdout.strip() == "GUIDED", bash.stderr


def test_gcs_never_imports_vehicle_or_sim():
    code = ("import sys\n"
            "import edgepilot.gcs.cli, edgepilot.gcs.connection, edgepilot.gcs.command, edgepilot.gcs.mission, "
            "edgepilot.gcs.param, edgepilot.gcs.telemetry, edgepilot.gcs.views, edgepilot.gcs.tlog, "
            "edgepilot.gcs.modes, edgepilot.gcs.completion, edgepilot.gcs.formats.mission, edgepilot.gcs.formats.parm\n"
            "from edgepilot.cli import main\n"
            "main(['gcs', 'completion', 'bash'])\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[:2] in (['edgepilot', 'vehicle'], ['edgepilot', 'sim'], ['edgepilot', 'firmware_bridge'], ['edgepilot', 'onboard']) or m.split('.')[0] in ('vehicle', 'sim', 'firmware_bridge'))\n"
            "print('LOADED', bad, file=sys.stderr)\n")
    import os

    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO,
                       env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert r.returncode == 0, r.stderr
    assert "LOADED []" in r.stderr, r.stderr


def test_udp_link_learns_each_senders_address_per_datagram():
    """pymavlink parses one message per call and keeps the rest of a datagram
    in its buffer; the next read must not lend the next datagram's sender to
    those leftovers.  Vehicle 2 sends two frames in one datagram, then a
    scripted peer (sysid 21) sends one: each sysid's replies go to its own
    socket (the old read routed vehicle 2's to the peer)."""
    import socket

    from pymavlink.dialects.v20 import ardupilotmega as apm

    from edgepilot.gcs.connection import Link
    from edgepilot.sim.realtime import free_port

    port = free_port()
    link = Link(f"udpin:127.0.0.1:{port}")
    socks = {}
    try:
        for sysid in (2, 21):
            socks[sysid] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks[sysid].bind(("127.0.0.1", 0))

        def frame(sysid, seq):
            mav = apm.MAVLink(None, srcSystem=sysid, srcComponent=1)
            mav.seq = seq
            return apm.MAVLink_heartbeat_message(10, 0, 0, 0, 4, 3).pack(mav)

        socks[2].sendto(frame(2, 0) + frame(2, 1), ("127.0.0.1", port))
        socks[21].sendto(frame(21, 0), ("127.0.0.1", port))
        got = []
        deadline = time.monotonic() + 10
        while len(got) < 3 and time.monotonic() < deadline:
            got += [m.get_srcSystem() for m in link.poll(0.1) if m.get_type() == "HEARTBEAT"]
        assert sorted(got) == [2, 2, 21]
        assert link.addresses[2] == socks[2].getsockname()
        assert link.addresses[21] == socks[21].getsockname()
        # a cut frame left over does not stall the link
        socks[2].sendto(frame(2, 2)[:7], ("127.0.0.1", port))
        socks[21].sendto(frame(21, 1), ("127.0.0.1", port))
        deadline = time.monotonic() + 10
        later = []
        while 21 not in later and time.monotonic() < deadline:
            later += [m.get_srcSystem() for m in link.poll(0.1) if m.get_type() == "HEARTBEAT"]
        assert 21 in later and link.addresses[21] == socks[21].getsockname()
    finally:
        link.close()
        for s in socks.values():
            s.close()


def test_a_heartbeat_between_two_frames_keeps_them_aimed_at_their_vehicle():
    """A mission upload to vehicle 2 polls between items, and a poll may send
    the GCS heartbeat to every vehicle.  The items after it must still go to
    vehicle 2 alone: the heartbeat used to reset the route, so the next item
    went to whichever vehicle pymavlink heard last (a scripted peer, sysid 21,
    got vehicle 2's MISSION_ITEM_INT in the mixed-fleet test)."""
    import socket

    from pymavlink.dialects.v20 import ardupilotmega as apm

    from edgepilot.gcs.connection import Link
    from edgepilot.sim.realtime import free_port

    port = free_port()
    link = Link(f"udpin:127.0.0.1:{port}")
    socks = {}
    try:
        for sysid in (2, 21):          # 21 speaks last: pymavlink's default reply address
            s = socks[sysid] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            s.settimeout(0.2)
            mav = apm.MAVLink(None, srcSystem=sysid, srcComponent=1)
            s.sendto(apm.MAVLink_heartbeat_message(10, 0, 0, 0, 4, 3).pack(mav), ("127.0.0.1", port))
            deadline = time.monotonic() + 10
            while sysid not in link.addresses and time.monotonic() < deadline:
                link.poll(0.05)
            assert sysid in link.addresses

        def received(sock) -> list[str]:
            parser = apm.MAVLink(None)
            out = []
            while True:
                try:
                    data = sock.recv(65535)
                except socket.timeout:
                    return out
                for m in parser.parse_buffer(data) or []:
                    out.append(m.get_type())

        for s in socks.values():
            received(s)                     # anything the link sent so far
        link.route_to(2)
        link.mav.mission_count_send(2, 1, 3)
        link.send_heartbeat()
        link.mav.mission_item_int_send(2, 1, 0, 0, 16, 0, 1, 0, 0, 0, 0, 0, 0, 0)
        got2, got21 = received(socks[2]), received(socks[21])
        assert got2.count("MISSION_COUNT") == 1 and got2.count("MISSION_ITEM_INT") == 1, got2
        assert "MISSION_ITEM_INT" not in got21 and "MISSION_COUNT" not in got21, got21
        assert "HEARTBEAT" in got21         # the heartbeat itself still went to everyone
    finally:
        link.close()
        for s in socks.values():
            s.close()
