"""The vehicle's MAVLink endpoint, driven by plain pymavlink clients against a
real ``edgepilot sitl run --realtime`` subprocess."""
from __future__ import annotations

import time

import pytest
from pymavlink import mavutil

from edgepilot.sim.realtime import free_port, spawn, stop
from edgepilot.firmware_bridge.mavlink.identity import CAPABILITIES, stable_uid

pytestmark = pytest.mark.interop

M = mavutil.mavlink
SPEEDUP = 8.0


def connect(spec: str, sysid: int = 255, compid: int = 190):
    c = mavutil.mavlink_connection(spec, source_system=sysid, source_component=compid, autoreconnect=False)
    return c


def wait(conn, mtype, cond=lambda m: True, timeout=8.0, what=""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = conn.recv_match(type=mtype, blocking=True, timeout=0.2)
        if m is not None and cond(m):
            return m
    raise AssertionError(f"no {mtype} {what} within {timeout:g} s")


def command(conn, cmd, *p, timeout=5.0):
    p = list(p) + [0.0] * (7 - len(p))
    conn.mav.command_long_send(1, 1, cmd, 0, *p)
    return wait(conn, "COMMAND_ACK", lambda m: m.command == cmd, timeout, f"for command {cmd}")


@pytest.fixture(scope="module")
def sitl(tmp_path_factory):
    d = tmp_path_factory.mktemp("sitl")
    tcp = free_port("tcp")
    udp = free_port("udp")
    params = d / "vehicle.parm"
    p = spawn("ugv_yard", [f"tcpin:127.0.0.1:{tcp}", f"udpin:127.0.0.1:{udp}"], SPEEDUP,
              ["--params", str(params)])
    try:
        yield {"tcp": tcp, "udp": udp, "params": params, "proc": p, "dir": d}
    finally:
        stop(p)


@pytest.fixture
def gcs(sitl):
    c = connect(f"tcp:127.0.0.1:{sitl['tcp']}")
    try:
        c.wait_heartbeat(timeout=10)
        yield c
    finally:
        c.close()


def upload(conn, items, timeout=8.0):
    """Upload (command, lat, lon, p1, p2, frame) tuples with MISSION_COUNT /
    MISSION_REQUEST_INT / MISSION_ITEM_INT; returns the MISSION_ACK."""
    conn.mav.mission_count_send(1, 1, len(items), 0)
    sent = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = conn.recv_match(type=["MISSION_REQUEST_INT", "MISSION_REQUEST", "MISSION_ACK"],
                            blocking=True, timeout=0.2)
        if m is None:
            continue
        if m.get_type() == "MISSION_ACK":
            return m, sent
        assert m.get_type() == "MISSION_REQUEST_INT", "upload must request items with MISSION_REQUEST_INT"
        cmd, lat, lon, p1, p2, frame = items[m.seq]
        conn.mav.mission_item_int_send(1, 1, m.seq, frame, cmd, 0, 1, p1, p2, 0, 0,
                                       int(lat * 1e7), int(lon * 1e7), 0, 0)
        sent.add(m.seq)
    raise AssertionError("mission upload did not finish")


def home_of(conn):
    conn.mav.command_long_send(1, 1, M.MAV_CMD_REQUEST_MESSAGE, 0, M.MAVLINK_MSG_ID_HOME_POSITION, 0, 0, 0, 0, 0, 0)
    return wait(conn, "HOME_POSITION", timeout=8)


def test_heartbeat_identifies_as_ardupilot_rover_and_names_edgepilot(sitl):
    c = connect(f"tcp:127.0.0.1:{sitl['tcp']}")
    try:
        hb = wait(c, "HEARTBEAT", lambda m: m.get_srcSystem() == 1)
        assert hb.get_srcComponent() == 1
        assert hb.type == M.MAV_TYPE_GROUND_ROVER and hb.autopilot == M.MAV_AUTOPILOT_ARDUPILOTMEGA
        assert hb.custom_mode == 4 and hb.base_mode & M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
        assert not hb.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED
        assert c.flightmode == "HOLD"
        txt = wait(c, "STATUSTEXT", lambda m: "edgepilot" in m.text, what="boot text")
        assert "edgepilot" in txt.text
        # Heartbeats keep coming at about 1 Hz of wall time.
        t0 = time.monotonic()
        wait(c, "HEARTBEAT")
        wait(c, "HEARTBEAT")
        assert time.monotonic() - t0 < 3.0
    finally:
        c.close()


def test_autopilot_version_capabilities_and_stable_uid(gcs):
    ack = command(gcs, M.MAV_CMD_REQUEST_MESSAGE, M.MAVLINK_MSG_ID_AUTOPILOT_VERSION)
    assert ack.result == M.MAV_RESULT_ACCEPTED
    av = wait(gcs, "AUTOPILOT_VERSION")
    for cap in (M.MAV_PROTOCOL_CAPABILITY_MISSION_INT, M.MAV_PROTOCOL_CAPABILITY_COMMAND_INT,
                M.MAV_PROTOCOL_CAPABILITY_PARAM_FLOAT, M.MAV_PROTOCOL_CAPABILITY_MAVLINK2,
                M.MAV_PROTOCOL_CAPABILITY_SET_POSITION_TARGET_GLOBAL_INT):
        assert av.capabilities & cap
    assert not av.capabilities & M.MAV_PROTOCOL_CAPABILITY_FTP
    assert av.capabilities == CAPABILITIES
    assert av.uid == stable_uid("ugv-patrol/ugv_yard")[0]
    assert bytes(av.flight_custom_version).rstrip(b"\0") == b"edgepilo"
    command(gcs, M.MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES, 1)
    assert wait(gcs, "AUTOPILOT_VERSION").uid == av.uid


def test_unknown_command_is_unsupported_and_ack_goes_to_sender(gcs):
    ack = command(gcs, 31999, 1)
    assert ack.result == M.MAV_RESULT_UNSUPPORTED
    assert (ack.target_system, ack.target_component) == (255, 190)
    # COMMAND_INT is answered too.
    gcs.mav.command_int_send(1, 1, 0, 31998, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    ack = wait(gcs, "COMMAND_ACK", lambda m: m.command == 31998)
    assert ack.result == M.MAV_RESULT_UNSUPPORTED


def test_streams_default_and_message_interval_controls_rate(gcs):
    gp = wait(gcs, "GLOBAL_POSITION_INT")
    assert gp.lat != 0 and gp.lon != 0
    for t in ("SYS_STATUS", "GPS_RAW_INT", "ATTITUDE", "VFR_HUD", "BATTERY_STATUS", "MISSION_CURRENT",
              "EXTENDED_SYS_STATE"):
        wait(gcs, t, what="(default stream)")
    # Disable ATTITUDE on this link: none arrives for a second.
    ack = command(gcs, M.MAV_CMD_SET_MESSAGE_INTERVAL, M.MAVLINK_MSG_ID_ATTITUDE, -1)
    assert ack.result == M.MAV_RESULT_ACCEPTED
    time.sleep(0.3)
    while gcs.recv_match(blocking=False) is not None:
        pass
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < 1.0:
        if gcs.recv_match(type="ATTITUDE", blocking=True, timeout=0.1) is not None:
            n += 1
    assert n == 0
    # 20 Hz: well over the default 4 Hz.
    command(gcs, M.MAV_CMD_SET_MESSAGE_INTERVAL, M.MAVLINK_MSG_ID_ATTITUDE, 50_000)
    wait(gcs, "ATTITUDE")
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < 1.0:
        if gcs.recv_match(type="ATTITUDE", blocking=True, timeout=0.1) is not None:
            n += 1
    assert n >= 12, f"only {n} ATTITUDE in 1 s at a 20 Hz interval"
    command(gcs, M.MAV_CMD_GET_MESSAGE_INTERVAL, M.MAVLINK_MSG_ID_ATTITUDE)
    mi = wait(gcs, "MESSAGE_INTERVAL", lambda m: m.message_id == M.MAVLINK_MSG_ID_ATTITUDE)
    assert mi.interval_us == 50_000
    # REQUEST_DATA_STREAM (MAVProxy's way) with start_stop=0 stops the group.
    gcs.mav.request_data_stream_send(1, 1, M.MAV_DATA_STREAM_EXTRA1, 0, 0)
    time.sleep(0.3)
    while gcs.recv_match(blocking=False) is not None:
        pass
    assert gcs.recv_match(type="ATTITUDE", blocking=True, timeout=1.0) is None


def test_params_list_has_unique_indexes_and_set_persists_across_restart(sitl, gcs, tmp_path):
    gcs.mav.param_request_list_send(1, 1)
    seen = {}
    count = None
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline and (count is None or len(seen) < count):
        m = gcs.recv_match(type="PARAM_VALUE", blocking=True, timeout=0.5)
        if m is None:
            continue
        count = m.param_count
        assert m.param_index not in seen or seen[m.param_index] == m.param_id
        seen[m.param_index] = m.param_id
    assert count and len(seen) == count and sorted(seen) == list(range(count))
    assert "WP_SPEED" in seen.values()
    # Read by name and by index.
    gcs.mav.param_request_read_send(1, 1, b"WP_RADIUS", -1)
    pv = wait(gcs, "PARAM_VALUE", lambda m: m.param_id == "WP_RADIUS")
    gcs.mav.param_request_read_send(1, 1, b"", pv.param_index)
    assert wait(gcs, "PARAM_VALUE", lambda m: m.param_index == pv.param_index).param_id == "WP_RADIUS"
    # Out-of-range value: refused, the standing value is reported back.
    gcs.mav.param_set_send(1, 1, b"WP_SPEED", 99.0, M.MAV_PARAM_TYPE_REAL32)
    assert wait(gcs, "PARAM_VALUE", lambda m: m.param_id == "WP_SPEED").param_value < 99.0
    gcs.mav.param_set_send(1, 1, b"WP_RADIUS", 1.25, M.MAV_PARAM_TYPE_REAL32)
    assert wait(gcs, "PARAM_VALUE", lambda m: m.param_id == "WP_RADIUS").param_value == pytest.approx(1.25)
    assert "WP_RADIUS 1.25" in sitl["params"].read_text()
    # A fresh vehicle process with the same .parm file starts with the value.
    port = free_port()
    p = spawn("ugv_yard", [f"tcpin:127.0.0.1:{port}"], SPEEDUP, ["--params", str(sitl["params"])])
    try:
        c = connect(f"tcp:127.0.0.1:{port}")
        c.wait_heartbeat(timeout=10)
        c.mav.param_request_read_send(1, 1, b"WP_RADIUS", -1)
        assert wait(c, "PARAM_VALUE", lambda m: m.param_id == "WP_RADIUS").param_value == pytest.approx(1.25)
        c.close()
    finally:
        stop(p)


def test_ftp_requests_get_an_immediate_nak(gcs):
    # OpenFileRO "@PARAM/param.pck": header seq=7, session 0, opcode 4, size 16.
    import struct
    path = b"@PARAM/param.pck"
    payload = struct.pack("<HBBBBBBI", 7, 0, 4, len(path), 0, 0, 0, 0) + path
    gcs.mav.file_transfer_protocol_send(0, 1, 1, list(payload.ljust(251, b"\0")))
    m = wait(gcs, "FILE_TRANSFER_PROTOCOL", timeout=3)
    seq, _s, opcode, size, req_opcode = struct.unpack_from("<HBBBB", bytes(m.payload))
    assert (seq, opcode, size, req_opcode) == (8, 129, 1, 4)
    assert bytes(m.payload)[12] == 10   # FileNotFound


def test_mission_roundtrip_run_to_completion_and_two_links(sitl, gcs):
    udp = connect(f"udpout:127.0.0.1:{sitl['udp']}", sysid=254)
    try:
        udp.mav.heartbeat_send(M.MAV_TYPE_GCS, M.MAV_AUTOPILOT_INVALID, 0, 0, 0)
        wait(udp, "HEARTBEAT", lambda m: m.get_srcSystem() == 1, what="on the UDP link")
        home = home_of(gcs)
        lat0, lon0 = home.latitude * 1e-7, home.longitude * 1e-7
        dlat, dlon = 1.0 / 111_320.0, 1.0 / (111_320.0 * 0.677)
        # Short legs north of the start (clear of the yard's obstacles).  The
        # loiter lasts 10 s so the vehicle is still in AUTO when the test looks
        # for its AUTO heartbeat, however late a loaded machine delivers it.
        items = [
            (M.MAV_CMD_NAV_WAYPOINT, lat0, lon0, 0, 0, M.MAV_FRAME_GLOBAL),
            (M.MAV_CMD_DO_CHANGE_SPEED, 0, 0, 1, 1.5, M.MAV_FRAME_MISSION),
            (M.MAV_CMD_NAV_WAYPOINT, lat0 + 3 * dlat, lon0, 0, 0, M.MAV_FRAME_GLOBAL_RELATIVE_ALT),
            (M.MAV_CMD_NAV_LOITER_TIME, lat0 + 6 * dlat, lon0 + 1 * dlon, 10.0, 0, M.MAV_FRAME_GLOBAL_RELATIVE_ALT),
            (M.MAV_CMD_NAV_WAYPOINT, lat0 + 3 * dlat, lon0 + 1 * dlon, 0, 0, M.MAV_FRAME_GLOBAL_RELATIVE_ALT),
        ]
        # While one link uploads, another link's upload is refused.
        gcs.mav.mission_count_send(1, 1, len(items), 0)
        wait(gcs, "MISSION_REQUEST_INT", lambda m: m.seq == 0)
        udp.mav.mission_count_send(1, 1, 2, 0)
        assert wait(udp, "MISSION_ACK").type == M.MAV_MISSION_DENIED
        ack, sent = upload(gcs, items)   # restarting the upload from the same link is allowed
        assert ack.type == M.MAV_MISSION_ACCEPTED and sent == set(range(len(items)))
        # Download from the other link: item 0 is home, then our items.
        udp.mav.mission_request_list_send(1, 1, 0)
        cnt = wait(udp, "MISSION_COUNT")
        assert cnt.count == len(items)
        got = []
        for seq in range(cnt.count):
            udp.mav.mission_request_int_send(1, 1, seq, 0)
            got.append(wait(udp, "MISSION_ITEM_INT", lambda m, s=seq: m.seq == s))
        assert [g.command for g in got] == [c for c, *_ in items]
        assert got[3].x == int(items[3][1] * 1e7) and got[3].y == int(items[3][2] * 1e7)
        assert got[3].param1 == 10.0 and got[1].param2 == 1.5
        udp.mav.mission_ack_send(1, 1, 0, 0)
        # Arm and start; every nav item is reported reached, then COMPLETE.
        assert command(gcs, M.MAV_CMD_COMPONENT_ARM_DISARM, 1).result == M.MAV_RESULT_ACCEPTED
        assert command(gcs, M.MAV_CMD_MISSION_START, 0, 0).result == M.MAV_RESULT_ACCEPTED
        hb = wait(gcs, "HEARTBEAT", lambda m: m.get_srcSystem() == 1 and m.custom_mode == 10)
        assert hb.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED
        reached = set()
        deadline = time.monotonic() + 120   # only ends a hung run: a loaded machine runs the SITL slow
        done = None
        while time.monotonic() < deadline and done is None:
            m = udp.recv_match(type=["MISSION_ITEM_REACHED", "MISSION_CURRENT"], blocking=True, timeout=0.5)
            if m is None:
                continue
            if m.get_type() == "MISSION_ITEM_REACHED":
                reached.add(m.seq)
            elif m.mission_state == M.MISSION_STATE_COMPLETE:
                done = m
        assert done is not None, f"mission not complete in time, reached {sorted(reached)}"
        assert reached >= {2, 3, 4}
        assert done.total == len(items) - 1 and done.seq == len(items) - 1
        # Mission done: the vehicle holds.
        wait(gcs, "HEARTBEAT", lambda m: m.get_srcSystem() == 1 and m.custom_mode == 4)
        assert command(gcs, M.MAV_CMD_COMPONENT_ARM_DISARM, 0).result == M.MAV_RESULT_ACCEPTED
    finally:
        udp.close()


def test_modes_guided_reposition_and_refusals(gcs):
    home = home_of(gcs)
    lat0, lon0 = home.latitude * 1e-7, home.longitude * 1e-7
    # A Rover mode we do not implement is refused, not silently accepted.
    ack = command(gcs, M.MAV_CMD_DO_SET_MODE, M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, 12)   # SMART_RTL
    assert ack.result == M.MAV_RESULT_DENIED
    assert command(gcs, M.MAV_CMD_DO_SET_MODE, M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, 15).result == M.MAV_RESULT_ACCEPTED
    wait(gcs, "HEARTBEAT", lambda m: m.get_srcSystem() == 1 and m.custom_mode == 15)
    # SET_MODE message: answered with a COMMAND_ACK for DO_SET_MODE, as ArduPilot.
    gcs.mav.set_mode_send(1, M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, 4)
    assert wait(gcs, "COMMAND_ACK", lambda m: m.command == M.MAV_CMD_DO_SET_MODE).result == 0
    command(gcs, M.MAV_CMD_COMPONENT_ARM_DISARM, 1)
    # DO_REPOSITION as COMMAND_INT switches to GUIDED and drives there.
    tgt = (lat0 + 2.0 / 111_320.0, lon0)
    gcs.mav.command_int_send(1, 1, M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, M.MAV_CMD_DO_REPOSITION, 0, 0,
                             -1, 0, 0, 0, int(tgt[0] * 1e7), int(tgt[1] * 1e7), 0)
    assert wait(gcs, "COMMAND_ACK", lambda m: m.command == M.MAV_CMD_DO_REPOSITION).result == 0
    wait(gcs, "HEARTBEAT", lambda m: m.get_srcSystem() == 1 and m.custom_mode == 15)
    wait(gcs, "GLOBAL_POSITION_INT", lambda m: abs(m.lat * 1e-7 - tgt[0]) * 111_320 < 0.8, timeout=15,
         what="near the reposition target")
    # SET_POSITION_TARGET_GLOBAL_INT with accelerations not ignored is dropped (Rover rule),
    # with them ignored it moves the target.
    tgt2 = (lat0, lon0)
    mask_pos_only = 0b110111111000
    gcs.mav.set_position_target_global_int_send(0, 1, 1, M.MAV_FRAME_GLOBAL_INT, mask_pos_only,
                                                int(tgt2[0] * 1e7), int(tgt2[1] * 1e7), 0, 0, 0, 0, 0, 0, 0, 0, 0)
    wait(gcs, "GLOBAL_POSITION_INT", lambda m: abs(m.lat * 1e-7 - tgt2[0]) * 111_320 < 0.8, timeout=15,
         what="back near home")
    assert command(gcs, M.MAV_CMD_DO_CHANGE_SPEED, 1, 50.0).result == M.MAV_RESULT_DENIED
    assert command(gcs, M.MAV_CMD_NAV_RETURN_TO_LAUNCH).result == M.MAV_RESULT_ACCEPTED
    wait(gcs, "HEARTBEAT", lambda m: m.get_srcSystem() == 1 and m.custom_mode in (11, 4))
    command(gcs, M.MAV_CMD_DO_SET_MODE, M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, 4)
    assert command(gcs, M.MAV_CMD_COMPONENT_ARM_DISARM, 0, 21196).result == M.MAV_RESULT_ACCEPTED


def test_upload_rerequests_a_missing_item(gcs):
    gcs.mav.mission_count_send(1, 1, 2, 0)
    first = wait(gcs, "MISSION_REQUEST_INT", lambda m: m.seq == 0)
    t0 = time.monotonic()
    again = wait(gcs, "MISSION_REQUEST_INT", lambda m: m.seq == 0, timeout=4)
    assert again is not first and 1.0 < time.monotonic() - t0 < 3.5
    gcs.mav.mission_clear_all_send(1, 1, 0)
    assert wait(gcs, "MISSION_ACK").type == M.MAV_MISSION_ACCEPTED
