"""Signing replay protection in ``edgepilot vehicle run`` (the onboard
process on the simulator's pty hardware): the newest signing timestamp is
kept in the state folder, so a signed command captured before a restart is
refused after it; a damaged timestamp file stops the start naming it."""
from __future__ import annotations

import json
import socket
import time

from pymavlink.dialects.v20 import ardupilotmega as mav2

from edgepilot.firmware_bridge.mavlink import signing
from test_mavlink_signing_replay import KEY_HEX, arm_msg, signed_frame
from test_state_store_vehicle_run import Onboard
from tests.conftest import run_edgepilot
from tests.hw_util import hil_config


def signed_config(tmp_path, state):
    key = tmp_path / "vehicle.key"
    key.write_text(KEY_HEX + "\n")
    cfg = hil_config(tmp_path)
    text = cfg.read_text()
    text = text.replace("\n[mavlink]\nsysid = 1\n", f'\n[mavlink]\nsysid = 1\nsigning_key_file = "{key}"\n', 1)
    text = text.replace("\n[hardware]\n", f'\n[hardware]\nstate_dir = "{state}"\n', 1)
    assert "signing_key_file" in text and "state_dir" in text
    cfg.write_text(text)
    return cfg


class Peer:
    """A TCP client that writes raw bytes and decodes what the vehicle sends
    (signature not checked: it need not hold the key to read)."""

    def __init__(self, endpoint: str):
        host, port = endpoint.split(":")[1:]
        deadline = time.monotonic() + 30
        while True:
            try:
                self.s = socket.create_connection((host, int(port)), timeout=1)
                break
            except OSError:
                assert time.monotonic() < deadline, f"cannot connect to {endpoint}"
                time.sleep(0.2)
        self.s.settimeout(0.2)
        self.mav = mav2.MAVLink(None)
        self.mav.robust_parsing = True

    def send(self, data: bytes) -> None:
        self.s.sendall(data)

    def wait(self, mtype: str, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = self.s.recv(65536)
            except socket.timeout:
                continue
            for m in self.mav.parse_buffer(data) or []:
                if m.get_type() == mtype:
                    return m
        return None

    def close(self):
        self.s.close()


def test_vehicle_run_refuses_a_replay_after_restart(tmp_path):
    state = tmp_path / "state"
    cfg = signed_config(tmp_path, state)
    ahead = signing.signing_timestamp() + 50 * signing.TICKS_PER_S
    captured = signed_frame(arm_msg(False), ts=ahead)       # a signed disarm: answered either way
    ob = Onboard(cfg)
    try:
        ob.wait_line("edgepilot vehicle: first control tick")
        op = Peer(ob.endpoint)
        assert op.wait("HEARTBEAT", 15) is not None
        op.send(captured)
        assert op.wait("COMMAND_ACK", 15) is not None, "the operator's signed command was not answered"
        op.close()
    finally:
        ob.close()                    # SIGTERM: the timestamp is saved at shutdown
    assert json.loads((state / "signing.json").read_text())["timestamp"] >= ahead
    ob = Onboard(cfg)
    try:
        ob.wait_line("edgepilot vehicle: first control tick")
        assert signing.signing_timestamp() < ahead, "restart took longer than the test's margin"
        atk = Peer(ob.endpoint)
        assert atk.wait("HEARTBEAT", 15) is not None
        atk.send(captured)
        assert atk.wait("COMMAND_ACK", 4.0) is None, "a command signed before the restart was obeyed"
        # A fresh, correctly signed command on the same connection is answered.
        atk.send(signed_frame(arm_msg(False), link_id=9, ts=ahead + 5 * signing.TICKS_PER_S))
        assert atk.wait("COMMAND_ACK", 15) is not None
        atk.close()
    finally:
        ob.close()


def test_vehicle_run_refuses_a_damaged_signing_timestamp(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "signing.json").write_text('{"format": 1, "kind": "signing", "timestamp": 12')
    cfg = signed_config(tmp_path, state)
    r = run_edgepilot("vehicle", "run", "--config", str(cfg), "--no-warm", "--duration", "1", timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert str(state / "signing.json") in r.stderr and "damaged" in r.stderr
