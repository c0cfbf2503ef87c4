"""MAVLink endpoint throughput with 4 ground stations attached.

Peer: pymavlink's pure-Python parser (``MAVLink.parse_buffer``) on the same
frames — the floor any pymavlink-based endpoint sits on.  Ours: the whole
endpoint path per message — parse, route to the microservice, act on the
real vehicle core, pack and send the reply (UDP to the 4 clients), plus its
own telemetry streams.  Runs interleave (peer, ours) and print messages/s
and the ratio; ``--profile`` prints where our endpoint spends its time.

    PYTHONPATH=. python benchmarks/mavlink.py [--frames 20000] [--rounds 3] [--profile]
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import socket
import time

import numpy as np
from pymavlink.dialects.v20 import ardupilotmega as M

from edgepilot.firmware_bridge.mavlink import MavlinkEndpoint
from edgepilot.sim.realtime import free_port
from edgepilot.sim.scenario import load_scenario
from edgepilot.sim.simulation import Simulation

N_GCS = 4


def make_frames(n: int, sysid: int, rng: np.random.Generator) -> list[bytes]:
    """A ground station's typical uplink mix: heartbeats, parameter reads,
    commands and mission item requests, one frame per datagram."""
    mav = M.MAVLink(None, srcSystem=sysid, srcComponent=190)
    kinds = rng.choice(4, size=n, p=[0.4, 0.2, 0.2, 0.2])
    out = []
    for k in kinds:
        if k == 0:
            msg = M.MAVLink_heartbeat_message(M.MAV_TYPE_GCS, M.MAV_AUTOPILOT_INVALID, 0, 0, 4, 3)
        elif k == 1:
            msg = M.MAVLink_param_request_read_message(1, 1, b"WP_SPEED", -1)
        elif k == 2:
            msg = M.MAVLink_command_long_message(1, 1, 31999, 0, 0, 0, 0, 0, 0, 0, 0)
        else:
            msg = M.MAVLink_mission_request_int_message(1, 1, 0, 0)
        out.append(msg.pack(mav))
        mav.seq = (mav.seq + 1) % 256
    return out


def peer_parse(per_gcs: list[list[bytes]]) -> float:
    """pymavlink parse only, one parser per GCS; returns messages/s."""
    parsers = [M.MAVLink(None) for _ in per_gcs]
    n = 0
    t0 = time.perf_counter()
    for p, frames in zip(parsers, per_gcs):
        for f in frames:
            n += len(p.parse_buffer(f) or ())
    return n / (time.perf_counter() - t0)


class Rig:
    def __init__(self):
        sim = Simulation(load_scenario("ugv_yard"))
        self.core = sim.make_core()
        self.port = free_port("udp")
        self.ep = MavlinkEndpoint(self.core, [f"udpin:127.0.0.1:{self.port}"], "ugv")
        self.clients = []
        for _ in range(N_GCS):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
            s.bind(("127.0.0.1", 0))
            s.setblocking(False)
            self.clients.append(s)
        hb = M.MAVLink_heartbeat_message(6, 8, 0, 0, 4, 3)
        for i, s in enumerate(self.clients):
            s.sendto(hb.pack(M.MAVLink(None, srcSystem=200 + i, srcComponent=190)), ("127.0.0.1", self.port))
        self.t = 0.0
        deadline = time.monotonic() + 5
        while len(self.ep.links) < N_GCS and time.monotonic() < deadline:
            self.poll()
        assert len(self.ep.links) == N_GCS
        self.links = sorted(self.ep.links.values(), key=lambda l: l.remote[0])

    def poll(self):
        self.t += 0.05
        self.ep.poll(self.t)
        self.drain()

    def drain(self):
        for s in self.clients:
            try:
                while True:
                    s.recv(65536)
            except BlockingIOError:
                pass

    def serve(self, per_gcs: list[list[bytes]], batch: int = 50) -> tuple[float, float]:
        """Hand each link its frames ``batch`` datagrams per poll (what a
        busy tick sees); returns (messages/s in, messages/s out)."""
        rx0 = self.ep.counters["rx_messages"]
        tx0 = sum(l.tx_messages for l in self.links)
        n = len(per_gcs[0])
        t0 = time.perf_counter()
        for i in range(0, n, batch):
            for link, frames in zip(self.links, per_gcs):
                link.channel.inbound.extend(frames[i:i + batch])
            self.t += 0.05
            self.ep.poll(self.t)
            self.drain()
        dt = time.perf_counter() - t0
        rx = self.ep.counters["rx_messages"] - rx0
        tx = sum(l.tx_messages for l in self.links) - tx0
        return rx / dt, tx / dt

    def close(self):
        for s in self.clients:
            s.close()
        self.ep.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=20000, help="frames per ground station per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="print our endpoint's top functions")
    a = ap.parse_args()
    rng = np.random.default_rng(7)
    per_gcs = [make_frames(a.frames, 200 + i, rng) for i in range(N_GCS)]
    rig = Rig()
    print(f"MAVLink endpoint, {N_GCS} ground stations, {a.frames} frames each per round")
    print(f"{'round':>5} {'peer parse msg/s':>18} {'ours parse+serve msg/s':>24} {'ours out msg/s':>15} {'ratio':>7}")
    for r in range(a.rounds):
        peer = peer_parse(per_gcs)
        ours, out = rig.serve(per_gcs)
        print(f"{r:5d} {peer:18,.0f} {ours:24,.0f} {out:15,.0f} {ours / peer:7.2f}")
    if a.profile:
        pr = cProfile.Profile()
        pr.enable()
        rig.serve(per_gcs)
        pr.disable()
        pstats.Stats(pr).sort_stats("tottime").print_stats(15)
    rig.close()


if __name__ == "__main__":
    main()
