"""An in-process vehicle for MAVLink tests: the simulated world, a real
VehicleCore ticked through ``contained_step`` (as the runners do) and a real
MavlinkEndpoint on a 127.0.0.1 UDP socket, with a raw pymavlink client.
Everything runs in the test's thread: no sleeps, each ``tick`` advances the
vehicle 50 ms and collects what it sent."""
from __future__ import annotations

import socket
import time

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edgepilot.firmware_bridge.mavlink import MavlinkEndpoint
from edgepilot.sim.realtime import free_port
from edgepilot.sim.scenario import load_scenario
from edgepilot.sim.simulation import PHYSICS_DT, Simulation
from edgepilot.vehicle.containment import contained_step

M = mavlink
TICK_S = 0.05


class Rig:
    def __init__(self, scenario: str = "ugv_yard"):
        self.sim = Simulation(load_scenario(scenario))
        self.core = self.sim.make_core()
        self.port = free_port("udp")
        self.ep = MavlinkEndpoint(self.core, [f"udpin:127.0.0.1:{self.port}"], "ugv")
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.mav = M.MAVLink(None, srcSystem=255, srcComponent=190)
        self.parser = M.MAVLink(None)
        self.parser.robust_parsing = True
        self.t = 0.0
        self.inbox: list = []
        self.statustexts: list[tuple[int, str]] = []
        self._chunks: dict[int, dict[int, str]] = {}
        self.cmd = None
        self.substeps = max(1, int(round(TICK_S / PHYSICS_DT)))
        # Say hello so the endpoint knows this peer (broadcasts reach it).
        self.send(M.MAVLink_heartbeat_message(M.MAV_TYPE_GCS, M.MAV_AUTOPILOT_INVALID, 0, 0, 0, 3))

    # ------------------------------------------------------------ wire
    def send(self, msg) -> None:
        self.sock.sendto(msg.pack(self.mav), ("127.0.0.1", self.port))
        self.mav.seq = (self.mav.seq + 1) % 256

    def _drain(self) -> None:
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return
            for m in self.parser.parse_buffer(data) or []:
                if m.get_type() == "BAD_DATA":
                    continue
                self.inbox.append(m)
                if m.get_type() == "STATUSTEXT":
                    self._statustext(m)

    def _statustext(self, m) -> None:
        """Reassemble chunked STATUSTEXTs (id != 0, 50-byte chunks) as a ground station does."""
        if m.id == 0:
            self.statustexts.append((m.severity, m.text))
            return
        parts = self._chunks.setdefault(m.id, {})
        parts[m.chunk_seq] = m.text
        if len(m.text) < 50:
            self.statustexts.append((m.severity, "".join(parts[k] for k in sorted(parts))))
            del self._chunks[m.id]

    def expect_text(self, pred, ticks: int = 60):
        """(severity, text) of a complete STATUSTEXT, received since the last
        ``clear_texts`` or within ``ticks``, for which ``pred(severity, text)`` holds."""
        for i in range(ticks + 1):
            for st in self.statustexts:
                if pred(*st):
                    return st
            if i < ticks:
                self.tick()
        return None

    def clear_texts(self) -> None:
        self.statustexts.clear()

    def tick(self, n: int = 1) -> None:
        for _ in range(n):
            self.t += TICK_S
            self.cmd = contained_step(self.core, self.t, self.sim.sensors(self.t))
            if hasattr(self.sim, "apply"):   # the simulator takes the core's setpoint, then steps
                self.sim.apply(self.cmd, self.t)
                for _ in range(self.substeps):
                    self.sim.step(PHYSICS_DT)
            else:
                for _ in range(self.substeps):
                    self.sim.step(PHYSICS_DT, self.cmd)
            self.ep.poll(self.t)
            self._drain()

    def expect(self, mtype: str, cond=lambda m: True, ticks: int = 60, seconds: float = 0.0):
        """The first message of ``mtype`` for which ``cond`` holds, consumed
        from the inbox (waiting up to ``ticks`` vehicle ticks, and at least
        ``seconds`` of wall time for what the vehicle sends on the wall clock,
        e.g. HEARTBEAT), or None."""
        deadline = time.monotonic() + seconds
        i = 0
        while True:
            for k, m in enumerate(self.inbox):
                if m.get_type() == mtype and cond(m):
                    del self.inbox[: k + 1]
                    return m
            if i >= ticks and time.monotonic() >= deadline:
                return None
            self.tick()
            i += 1

    def texts(self) -> list[tuple[int, str]]:
        """(severity, text) of every STATUSTEXT still in the inbox."""
        return [(m.severity, m.text) for m in self.inbox if m.get_type() == "STATUSTEXT"]

    # ------------------------------------------------------------ exchanges
    def command_long(self, cmd: int, *p: float, ticks: int = 60):
        p = list(p) + [0.0] * (7 - len(p))
        self.inbox.clear()
        self.send(M.MAVLink_command_long_message(1, 1, cmd, 0, *p))
        return self.expect("COMMAND_ACK", lambda m: m.command == cmd, ticks)

    def set_mode(self, custom_mode: int, base_mode: int = 1, ticks: int = 60):
        self.inbox.clear()
        self.send(M.MAVLink_set_mode_message(1, base_mode, custom_mode))
        return self.expect("COMMAND_ACK", lambda m: m.command == M.MAV_CMD_DO_SET_MODE, ticks)

    def upload(self, items: list, mission_type: int = 0, ticks: int = 200):
        """Upload MAVLink item messages (their seq is set here); answers each
        request; returns the MISSION_ACK or None."""
        self.inbox.clear()
        self.send(M.MAVLink_mission_count_message(1, 1, len(items), mission_type))
        for _ in range(ticks):
            m = self.expect("MISSION_ACK", ticks=0)
            if m is not None:
                return m
            for t in ("MISSION_REQUEST_INT", "MISSION_REQUEST"):
                r = self.expect(t, ticks=0)
                if r is not None and 0 <= r.seq < len(items):
                    it = items[r.seq]
                    it.seq = r.seq
                    self.send(it)
            self.tick()
        return None

    def commandable(self) -> None:
        """The vehicle still obeys an operator: clear any e-stop, HOLD,
        forced arm, forced disarm, each ACCEPTED."""
        ack = self.command_long(M.MAV_CMD_DO_FLIGHTTERMINATION, 0)
        assert ack is not None, "no COMMAND_ACK for DO_FLIGHTTERMINATION 0"
        ack = self.set_mode(4)
        assert ack is not None and ack.result == M.MAV_RESULT_ACCEPTED, ack
        ack = self.command_long(M.MAV_CMD_COMPONENT_ARM_DISARM, 1, 21196)
        assert ack is not None and ack.result == M.MAV_RESULT_ACCEPTED, ack
        assert self.core.armed
        ack = self.command_long(M.MAV_CMD_COMPONENT_ARM_DISARM, 0, 21196)
        assert ack is not None and ack.result == M.MAV_RESULT_ACCEPTED, ack
        assert not self.core.armed

    def close(self) -> None:
        self.sock.close()
        self.ep.close()


def item_int(command: int, lat: float = 0.0, lon: float = 0.0, p1=0.0, p2=0.0, p3=0.0, p4=0.0,
             frame: int = M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, mission_type: int = 0, z: float = 0.0):
    """A MISSION_ITEM_INT (seq filled in by Rig.upload); lat/lon in degrees."""
    return M.MAVLink_mission_item_int_message(1, 1, 0, frame, command, 0, 1, p1, p2, p3, p4,
                                              int(round(lat * 1e7)), int(round(lon * 1e7)), z, mission_type)
