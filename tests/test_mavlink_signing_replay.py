"""Signing per the MAVLink 2 specification (issue 13): replay protection is
per stream (system, component, link id) across every connection, survives a
restart through --state-dir, and a timestamp far in the future is refused
without locking anyone out.

The socket tests run the real ``edgepilot sitl run --realtime`` and play the
attacker the way one would: the exact bytes of a signed frame the operator
sent, written again on a new TCP connection by a client without the key.
"""
from __future__ import annotations

import json
import re
import socket
import time

import pytest
from pymavlink import mavutil
from pymavlink.dialects.v20 import ardupilotmega as mav2

from edgepilot.firmware_bridge.mavlink import signing
from edgepilot.sim.realtime import free_port, spawn, stop

M = mavutil.mavlink
KEY_HEX = "5a" * 16 + "c3" * 16
KEY = bytes.fromhex(KEY_HEX)
YEAR_S = 365 * 86400


def signed_frame(msg, *, sysid=255, compid=190, link_id=7, ts=None, key=KEY) -> bytes:
    """The bytes a ground station holding ``key`` would put on the wire."""
    mav = mav2.MAVLink(None, srcSystem=sysid, srcComponent=compid)
    mav.signing.secret_key = key
    mav.signing.sign_outgoing = True
    mav.signing.link_id = link_id
    mav.signing.timestamp = signing.signing_timestamp() if ts is None else ts
    return bytes(msg.pack(mav))


def arm_msg(arm: bool = True, force: bool = True):
    return mav2.MAVLink_command_long_message(1, 1, M.MAV_CMD_COMPONENT_ARM_DISARM, 0,
                                          1.0 if arm else 0.0, 21196.0 if force else 0.0, 0, 0, 0, 0, 0)


def client(port, sysid=250, key=KEY):
    c = mavutil.mavlink_connection(f"tcp:127.0.0.1:{port}", source_system=sysid, source_component=190,
                                   autoreconnect=False)
    hb = c.recv_match(type="HEARTBEAT", blocking=True, timeout=15)
    assert hb is not None, f"no heartbeat on port {port}"
    if key is not None:
        c.setup_signing(key, sign_outgoing=True)
    return c


def wait_ack(c, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        a = c.recv_match(type="COMMAND_ACK", blocking=True, timeout=0.5)
        if a is not None and a.command == M.MAV_CMD_COMPONENT_ARM_DISARM:
            return a
    return None


def armed_within(c, timeout: float) -> bool:
    """True as soon as a heartbeat reports armed; False if none did in ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hb = c.recv_match(type="HEARTBEAT", blocking=True, timeout=0.5)
        if hb is not None and hb.get_srcSystem() == 1 and hb.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED:
            return True
    return False


def disarmed_now(c, timeout=10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hb = c.recv_match(type="HEARTBEAT", blocking=True, timeout=0.5)
        if hb is not None and hb.get_srcSystem() == 1 and not hb.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED:
            return True
    return False


def raw_send(port, data: bytes) -> socket.socket:
    """A keyless client: a plain TCP connection that writes captured bytes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(data)
    return s


def counters(out: str) -> dict[str, int]:
    m = re.search(r"^signing: (.*)$", out, re.M)
    assert m, out
    return {k: int(v) for k, v in (p.rsplit(" ", 1) for p in m.group(1).split(", "))}


@pytest.fixture
def keyfile(tmp_path):
    p = tmp_path / "vehicle.key"
    p.write_text(KEY_HEX + "\n")
    return p


def test_captured_arm_replayed_on_a_new_connection_is_rejected(tmp_path, keyfile):
    port = free_port()
    p = spawn("ugv_yard", [f"tcpin:127.0.0.1:{port}"], 1.0, ["--signing-key", str(keyfile)])
    try:
        op = client(port)
        captured = signed_frame(arm_msg(True))
        op.write(captured)                         # the operator's forced arm: obeyed
        ack = wait_ack(op)
        assert ack is not None and ack.result == M.MAV_RESULT_ACCEPTED
        assert armed_within(op, 10)
        op.mav.command_long_send(1, 1, M.MAV_CMD_COMPONENT_ARM_DISARM, 0, 0, 21196, 0, 0, 0, 0, 0)
        assert disarmed_now(op)
        # The attacker: same bytes, new connection, no key.  Twice, to be sure
        # the second connection's own (empty) history does not matter.
        atk = raw_send(port, captured)
        atk2 = raw_send(port, captured)
        assert not armed_within(op, 4.0), "a replayed arm command armed the vehicle"
        # The operator still commands the vehicle.
        op.mav.command_long_send(1, 1, M.MAV_CMD_COMPONENT_ARM_DISARM, 0, 1, 21196, 0, 0, 0, 0, 0)
        ack = wait_ack(op)
        assert ack is not None and ack.result == M.MAV_RESULT_ACCEPTED
        for s in (atk, atk2):
            s.close()
        op.close()
    finally:
        out = stop(p)
    c = counters(out)
    assert c["replay"] >= 2, out
    assert c["accepted"] >= 3, out


def test_replay_after_a_restart_with_state_dir_is_rejected(tmp_path, keyfile):
    state = tmp_path / "state"
    port = free_port()
    args = ["--signing-key", str(keyfile), "--state-dir", str(state)]
    # Signed 50 s ahead of the clock (within the 60 s future bound): after a
    # restart only the persisted timestamp, not the clock, stops its replay.
    ahead = signing.signing_timestamp() + 50 * signing.TICKS_PER_S
    captured = signed_frame(arm_msg(True), ts=ahead)
    p = spawn("ugv_yard", [f"tcpin:127.0.0.1:{port}"], 1.0, args)
    try:
        op = client(port)
        op.write(captured)
        ack = wait_ack(op)
        assert ack is not None and ack.result == M.MAV_RESULT_ACCEPTED
        op.close()
    finally:
        out1 = stop(p)
    assert counters(out1)["accepted"] >= 1, out1
    saved = json.loads((state / "signing.json").read_text())
    assert saved["timestamp"] >= ahead
    port = free_port()
    p = spawn("ugv_yard", [f"tcpin:127.0.0.1:{port}"], 1.0, args)
    try:
        watcher = client(port, sysid=251)
        assert signing.signing_timestamp() < ahead, "restart took longer than the test's margin"
        atk = raw_send(port, captured)
        assert not armed_within(watcher, 4.0), "a frame signed before the restart armed the vehicle"
        # A correctly-clocked operator is obeyed after the restart.  Its own
        # clock is behind the persisted timestamp; it catches up from the
        # vehicle's signed frames (as the specification has it) and resends.
        op = client(port, sysid=252)
        deadline = time.monotonic() + 30
        while True:
            op.recv_match(type="HEARTBEAT", blocking=True, timeout=1)
            op.mav.command_long_send(1, 1, M.MAV_CMD_COMPONENT_ARM_DISARM, 0, 1, 21196, 0, 0, 0, 0, 0)
            ack = wait_ack(op, 2.0)
            if ack is not None:
                break
            assert time.monotonic() < deadline, "a correctly-clocked operator is locked out after the restart"
        assert ack.result == M.MAV_RESULT_ACCEPTED
        atk.close()
        watcher.close()
        op.close()
    finally:
        out2 = stop(p)
    assert counters(out2)["before_boot"] >= 1, out2


def test_replay_after_kill_9_is_rejected(tmp_path, keyfile):
    """A crash gives no chance to save: the restarted vehicle's clock is the floor."""
    state = tmp_path / "state"
    port = free_port()
    args = ["--signing-key", str(keyfile), "--state-dir", str(state)]
    p = spawn("ugv_yard", [f"tcpin:127.0.0.1:{port}"], 1.0, args)
    try:
        op = client(port)
        captured = signed_frame(arm_msg(True))
        op.write(captured)
        ack = wait_ack(op)
        assert ack is not None and ack.result == M.MAV_RESULT_ACCEPTED
        op.close()
    finally:
        p.kill()
        p.communicate(timeout=10)
    port = free_port()
    p = spawn("ugv_yard", [f"tcpin:127.0.0.1:{port}"], 1.0, args)
    try:
        watcher = client(port, sysid=251)
        atk = raw_send(port, captured)
        assert not armed_within(watcher, 4.0)
        atk.close()
        watcher.close()
    finally:
        out = stop(p)
    assert counters(out)["before_boot"] >= 1, out


def test_year_ahead_stream_is_refused_and_locks_nobody_out(tmp_path, keyfile):
    port = free_port()
    p = spawn("ugv_yard", [f"tcpin:127.0.0.1:{port}"], 1.0, ["--signing-key", str(keyfile)])
    try:
        a = client(port, sysid=250)
        ahead = signing.signing_timestamp() + YEAR_S * signing.TICKS_PER_S
        # A key holder with a clock a year fast: several frames of one stream.
        for i in range(3):
            a.write(signed_frame(arm_msg(True), sysid=250, link_id=3, ts=ahead + i))
        assert not armed_within(a, 4.0), "a year-ahead signed arm was accepted"
        # The same connection and the same stream, correctly clocked: obeyed.
        a.write(signed_frame(arm_msg(True), sysid=250, link_id=3))
        ack = wait_ack(a)
        assert ack is not None and ack.result == M.MAV_RESULT_ACCEPTED
        # Another connection, a new stream, correctly clocked: obeyed too.
        b = client(port, sysid=249)
        b.mav.command_long_send(1, 1, M.MAV_CMD_COMPONENT_ARM_DISARM, 0, 0, 21196, 0, 0, 0, 0, 0)
        ack = wait_ack(b)
        assert ack is not None and ack.result == M.MAV_RESULT_ACCEPTED
        assert disarmed_now(b)
        a.close()
        b.close()
    finally:
        out = stop(p)
    c = counters(out)
    assert c["future"] >= 3, out


# --------------------------------------------------------------- the rules, in process
class _Clock:
    def __init__(self, t):
        self.t = t

    def __call__(self):
        return self.t


def _state(path=None, unix=1.8e9):
    wall, mono = _Clock(unix), _Clock(100.0)
    st = signing.SigningState(KEY, path, clock=wall, monotonic=mono)
    links = [mav2.MAVLink(None, 1, 1), mav2.MAVLink(None, 1, 1)]
    for i, m in enumerate(links):
        st.attach(m, i)
    return st, wall, mono, links


def _parse(mav, frame):
    try:
        return mav.parse_buffer(frame)
    except Exception as e:   # pymavlink raises "Invalid signature" without robust parsing
        return str(e)


def test_state_rules_replay_future_and_poisoning(tmp_path):
    st, wall, mono, (l0, l1) = _state()
    now = signing.signing_timestamp(wall())
    f = signed_frame(arm_msg(), ts=now + 10)
    assert isinstance(_parse(l0, f), list)
    assert _parse(l1, f) == "Invalid signature"            # same stream, other link
    assert st.counters["signing_replay"] == 1
    # A year ahead: refused, and the newest timestamp does not move.
    assert _parse(l1, signed_frame(arm_msg(), sysid=9, ts=now + YEAR_S * 100_000)) == "Invalid signature"
    assert st.counters["signing_future"] == 1 and st.timestamp == now + 10
    # Just within the bound is fine; a new correctly-clocked stream still is too.
    assert isinstance(_parse(l1, signed_frame(arm_msg(), sysid=9, ts=now + 59 * 100_000)), list)
    assert isinstance(_parse(l0, signed_frame(arm_msg(), sysid=8, ts=now + 1)), list)
    # A stream first heard more than the window behind the newest: refused.
    wall.t += 120
    mono.t += 120
    assert isinstance(_parse(l0, signed_frame(arm_msg(), sysid=5, ts=now + 120 * 100_000)), list)
    assert _parse(l0, signed_frame(arm_msg(), sysid=7, ts=now + 58 * 100_000)) == "Invalid signature"
    assert st.counters["signing_old_new_stream"] == 1
    # Anything older than the boot floor: refused whatever the stream.
    assert _parse(l0, signed_frame(arm_msg(), sysid=4, ts=now - 1)) == "Invalid signature"
    assert st.counters["signing_before_boot"] == 1
    # A wrong key never creates or moves a stream record.
    bad = signed_frame(arm_msg(), sysid=6, ts=now + 170 * 100_000, key=bytes(32))
    assert _parse(l0, bad) == "Invalid signature"
    assert (6, 190, 7) not in st.streams and st.counters["signing_bad_signature"] == 1
    assert isinstance(_parse(l0, signed_frame(arm_msg(), sysid=6, ts=now + 121 * 100_000)), list)
    # The vehicle's own send timestamp follows what it accepted.
    assert l1.signing.timestamp > now + 59 * 100_000


def test_state_persists_and_refuses_damaged_file(tmp_path):
    path = tmp_path / "signing.json"
    st, wall, mono, (l0, _) = _state(path)
    now = signing.signing_timestamp(wall())
    f = signed_frame(arm_msg(), ts=now + 30 * 100_000)
    assert isinstance(_parse(l0, f), list)
    mono.t += signing.SAVE_EVERY_S          # the periodic save, not only the one at shutdown
    st.tick()
    assert signing.load_timestamp(path) >= now + 30 * 100_000
    # Restart at the same wall time: the persisted timestamp is the floor.
    st2, _, _, (m0, _) = _state(path)
    assert _parse(m0, f) == "Invalid signature" and st2.counters["signing_before_boot"] == 1
    assert isinstance(_parse(m0, signed_frame(arm_msg(), ts=now + 31 * 100_000)), list)
    text = path.read_text()
    path.write_text(text.replace('"timestamp": ', '"timestamp": 1'))
    with pytest.raises(signing.SigningStateError, match="signing.json.*damaged"):
        signing.SigningState(KEY, path)
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(signing.SigningStateError, match="signing.json"):
        signing.SigningState(KEY, path)


def test_damaged_signing_state_exits_2(tmp_path, keyfile):
    from tests.conftest import run_edgepilot

    state = tmp_path / "state"
    state.mkdir()
    (state / "signing.json").write_text("{not json")
    r = run_edgepilot("sitl", "run", "--realtime", "--signing-key", str(keyfile), "--state-dir", str(state),
                      "--mavlink", f"tcpin:127.0.0.1:{free_port()}", "--duration", "1", timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "signing.json" in r.stderr and "damaged" in r.stderr


def test_stream_table_is_bounded():
    st, wall, mono, (l0, _) = _state()
    now = signing.signing_timestamp(wall())
    for i in range(signing.MAX_STREAMS + 10):
        frame = signed_frame(arm_msg(), sysid=1 + i % 250, compid=1 + i // 250, ts=now + 1 + i)
        assert isinstance(_parse(l0, frame), list)
    assert len(st.streams) == signing.MAX_STREAMS
    assert st.counters["signing_streams_forgotten"] == 10
    # The forgotten ones were the oldest; a replay of a remembered stream still fails.
    assert (1, 1, 7) not in st.streams
    last = signed_frame(arm_msg(), sysid=1 + (signing.MAX_STREAMS + 9) % 250, compid=2,
                        ts=now + signing.MAX_STREAMS + 10)
    assert _parse(l0, last) == "Invalid signature" and st.counters["signing_replay"] == 1
