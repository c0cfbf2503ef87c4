"""MAVLink 2 signing: with --signing-key the vehicle signs everything and
accepts only commands signed with its key; the rest are rejected and
counted while telemetry keeps flowing."""
from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest
from pymavlink import mavutil

from edgepilot.firmware_bridge.mavlink import signing
from edgepilot.sim.realtime import free_port, spawn, stop

pytestmark = pytest.mark.interop

M = mavutil.mavlink
KEY_HEX = "4f" * 16 + "a1" * 16


def client(port, sysid, key=None):
    c = mavutil.mavlink_connection(f"tcp:127.0.0.1:{port}", source_system=sysid, source_component=190,
                                   autoreconnect=False)
    # pymavlink replaces its protocol object when it first sees a MAVLink 2
    # frame, dropping signing state: set signing up after the first frame.
    hb = c.recv_match(type="HEARTBEAT", blocking=True, timeout=10)
    assert hb is not None, f"no heartbeat on port {port}"
    if key is not None:
        c.setup_signing(key, sign_outgoing=True)
    return c


def try_arm(c, timeout=2.0):
    c.mav.command_long_send(1, 1, M.MAV_CMD_COMPONENT_ARM_DISARM, 0, 1, 0, 0, 0, 0, 0, 0)
    return c.recv_match(type="COMMAND_ACK", blocking=True, timeout=timeout)


def test_parse_key_names_the_problem(tmp_path):
    assert signing.parse_key(KEY_HEX) == bytes.fromhex(KEY_HEX)
    with pytest.raises(ValueError, match="64 hex characters"):
        signing.parse_key("abc")
    with pytest.raises(ValueError, match="non-hex"):
        signing.parse_key("zz" * 32)
    with pytest.raises(ValueError, match="cannot read"):
        signing.load_key(tmp_path / "missing.key")


def test_bad_key_file_exits_2_with_a_clear_error(tmp_path):
    bad = tmp_path / "bad.key"
    bad.write_text("1234\n")
    r = subprocess.run([sys.executable, "-m", "edgepilot", "sitl", "run", "--realtime", "--signing-key", str(bad),
                        "--mavlink", f"tcpin:127.0.0.1:{free_port()}", "--duration", "1"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "bad.key" in r.stderr and "64 hex characters" in r.stderr


def test_signing_required_rejects_unsigned_and_wrong_key_accepts_signed(tmp_path):
    keyfile = tmp_path / "vehicle.key"
    keyfile.write_text(KEY_HEX + "\n")
    port = free_port()
    p = spawn("ugv_yard", [f"tcpin:127.0.0.1:{port}"], 8.0, ["--signing-key", str(keyfile)])
    out = ""
    try:
        plain = client(port, 250)
        wrong = client(port, 251, key=bytes(32))
        good = client(port, 252, key=bytes.fromhex(KEY_HEX))
        # Telemetry flows, signed (a client holding a different key rightly
        # drops our frames, so it is not asked).
        for c in (plain, good):
            hb = c.recv_match(type="HEARTBEAT", blocking=True, timeout=10)
            assert hb is not None and hb.get_srcSystem() == 1
            assert hb.get_header().incompat_flags & M.MAVLINK_IFLAG_SIGNED, "vehicle frames must be signed"
        wait_until = time.monotonic() + 10
        while good.recv_match(type="GLOBAL_POSITION_INT", blocking=True, timeout=0.5) is None:
            assert time.monotonic() < wait_until, "no GPS-valid telemetry"
        # Unsigned and wrongly signed commands: no answer, vehicle stays disarmed.
        assert try_arm(plain) is None
        assert try_arm(wrong) is None
        hb = plain.recv_match(type="HEARTBEAT", blocking=True, timeout=3)
        assert not hb.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED
        assert plain.recv_match(type="ATTITUDE", blocking=True, timeout=3) is not None
        # The signed ground station is obeyed.
        ack = try_arm(good, timeout=5)
        assert ack is not None and ack.result == M.MAV_RESULT_ACCEPTED
        deadline = time.monotonic() + 5
        while True:
            hb = plain.recv_match(type="HEARTBEAT", blocking=True, timeout=1)
            if hb is not None and hb.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED:
                break
            assert time.monotonic() < deadline, "signed arm did not take effect"
        for c in (plain, wrong, good):
            c.close()
    finally:
        out = stop(p)
    m = re.search(r"rejected \(signing\) (\d+)", out)
    assert m, out
    # Both clients' heartbeats plus their two commands at least.
    assert int(m.group(1)) >= 2
