"""Bad input: random and mutated frames never crash the endpoint; errors
are counted and service continues."""
from __future__ import annotations

import socket

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edgepilot.firmware_bridge.mavlink import MavlinkEndpoint
from edgepilot.sim.realtime import free_port
from edgepilot.sim.scenario import load_scenario
from edgepilot.sim.simulation import Simulation

M = mavlink


class Rig:
    """An in-process endpoint on a UDP port with a real vehicle core, and a
    client socket that speaks raw bytes to it."""

    def __init__(self):
        sim = Simulation(load_scenario("ugv_yard"))
        self.core = sim.make_core()
        self.port = free_port("udp")
        self.ep = MavlinkEndpoint(self.core, [f"udpin:127.0.0.1:{self.port}"], "ugv")
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(0.5)
        self.mav = M.MAVLink(None, srcSystem=255, srcComponent=190)
        self.t = 0.0

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, ("127.0.0.1", self.port))

    def poll(self, n: int = 1) -> None:
        for _ in range(n):
            self.t += 0.05
            self.ep.poll(self.t)
            self.drain()

    def drain(self) -> list[bytes]:
        """Read what the vehicle sent (a full client buffer would drop replies)."""
        out = []
        self.sock.setblocking(False)
        try:
            while True:
                out.append(self.sock.recv(65536))
        except BlockingIOError:
            pass
        finally:
            self.sock.settimeout(0.5)
        return out

    def frame(self, msg) -> bytes:
        b = msg.pack(self.mav)
        self.mav.seq = (self.mav.seq + 1) % 256
        return b

    def assert_serving(self) -> None:
        """A valid command still gets its COMMAND_ACK."""
        self.send(self.frame(M.MAVLink_command_long_message(1, 1, 31999, 0, 0, 0, 0, 0, 0, 0, 0)))
        parser = M.MAVLink(None)
        parser.robust_parsing = True
        for _ in range(40):
            self.t += 0.05
            self.ep.poll(self.t)
            for data in self.drain():
                for m in parser.parse_buffer(data) or []:
                    if m.get_type() == "COMMAND_ACK" and m.command == 31999:
                        assert m.result == M.MAV_RESULT_UNSUPPORTED
                        return
        raise AssertionError("endpoint stopped answering after bad input")

    def close(self):
        self.sock.close()
        self.ep.close()


def valid_frames(rig: Rig) -> list[bytes]:
    msgs = [
        M.MAVLink_heartbeat_message(6, 8, 0, 0, 4, 3),
        M.MAVLink_command_long_message(1, 1, 400, 0, 1, 0, 0, 0, 0, 0, 0),
        M.MAVLink_command_int_message(1, 1, 6, 192, 0, 0, -1, 0, 0, 0, 473977000, 85456000, 0),
        M.MAVLink_mission_count_message(1, 1, 3, 0),
        M.MAVLink_mission_item_int_message(1, 1, 0, 6, 16, 0, 1, 0, 0, 0, 0, 473977000, 85456000, 0, 0),
        M.MAVLink_mission_request_list_message(1, 1, 0),
        M.MAVLink_mission_request_int_message(1, 1, 5, 0),
        M.MAVLink_param_set_message(1, 1, b"WP_SPEED", 1.0, 9),
        M.MAVLink_param_request_read_message(1, 1, b"", 3),
        M.MAVLink_set_mode_message(1, 1, 10),
        M.MAVLink_request_data_stream_message(1, 1, 0, 10, 1),
        M.MAVLink_set_position_target_global_int_message(0, 1, 1, 6, 0xDF8, 473977000, 85456000, 0,
                                                         0, 0, 0, 0, 0, 0, 0, 0),
        M.MAVLink_file_transfer_protocol_message(0, 1, 1, [0] * 251),
    ]
    return [rig.frame(m) for m in msgs]


def test_mutated_frames_are_counted_and_service_continues():
    rig = Rig()
    try:
        rng = np.random.default_rng(20240611)
        base = valid_frames(rig)
        rig.poll(5)
        before = rig.ep.counters["rx_errors"]
        for i in range(1500):
            f = bytearray(base[int(rng.integers(len(base)))])
            kind = int(rng.integers(5))
            if kind == 0:       # flip bits
                for _ in range(int(rng.integers(1, 4))):
                    j = int(rng.integers(len(f)))
                    f[j] ^= 1 << int(rng.integers(8))
            elif kind == 1:     # truncate
                f = f[: int(rng.integers(1, len(f)))]
            elif kind == 2:     # lie about the payload length
                f[1] = int(rng.integers(256))
            elif kind == 3:     # unknown message id, bad incompat flags
                f[7:10] = bytes(rng.integers(0, 256, 3, dtype=np.uint8))
                f[2] = int(rng.integers(256))
            else:               # garbage glued in front
                f = bytearray(rng.integers(0, 256, int(rng.integers(1, 40)), dtype=np.uint8).tobytes()) + f
            rig.send(bytes(f))
            if i % 25 == 0:
                rig.poll()
        rig.poll(5)
        assert rig.ep.counters["rx_errors"] > before + 100
        assert rig.ep.counters.get("handler_errors", 0) == 0, "a handler raised on a decodable frame"
        rig.assert_serving()
    finally:
        rig.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(min_size=0, max_size=300), min_size=1, max_size=8))
def test_random_bytes_never_break_the_endpoint(chunks):
    rig = _RIG
    for c in chunks:
        if c:
            rig.send(c)
    rig.poll(2)
    assert rig.ep.counters.get("handler_errors", 0) == 0


_RIG: Rig | None = None


def setup_module(module):
    module._RIG = Rig()


def teardown_module(module):
    module._RIG.assert_serving()
    module._RIG.close()
