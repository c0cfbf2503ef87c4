"""The simulated V2V radio between the real sockets of a real-time fleet.

In real-time SITL (``sim/realtime_fleet.py --v2v``) every vehicle has a
real UDP V2V socket (``firmware_bridge.fleet_v2v.V2VLink``) and its one
peer is this relay: a UDP socket of the simulator.  Each datagram a
vehicle sends (one signed MAVLink frame, left as it is: the relay never
parses, re-signs or alters a byte) goes through the lockstep runner's
radio model (``sim.fleet.link.V2VRadio``: range from the vehicles' true
positions, the scenario's seeded loss, latency, its ``link_partition`` and
``link_loss`` faults) on the world clock, and whatever reaches a vehicle
is sent to its socket.  A sender is known by its socket's port (instance
``i`` binds the V2V template's port + 10 x i).
"""
from __future__ import annotations

import socket

from edgepilot.sim.fleet.link import V2VRadio

#: Largest datagram read (a MAVLink 2 frame is at most 280 bytes).
MAX_DATAGRAM = 65535
_WILDCARD = ("", "0.0.0.0")


class V2VRelay:
    """``poll(t)`` once per loop tick at world time ``t`` [s]: read what the
    vehicles sent, hand it to the radio, send on what the radio delivers."""

    def __init__(self, radio: V2VRadio, vehicles: list[tuple[str, int]], host: str = "127.0.0.1"):
        """``vehicles[i]``: (host, port) of vehicle i's V2V socket, in the
        radio's member order; the relay binds a free UDP port on ``host``."""
        if len(vehicles) != len(radio.names):
            raise ValueError(f"V2V relay: {len(vehicles)} sockets for {len(radio.names)} vehicles")
        self.radio = radio
        self.vehicles = [("127.0.0.1" if h in _WILDCARD else h, p) for h, p in vehicles]
        self.by_port = {p: i for i, (_, p) in enumerate(vehicles)}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.bind((host, 0))
        except OSError as e:
            self.sock.close()
            raise OSError(e.errno, f"V2V relay: cannot bind UDP {host}: {e.strerror}") from None
        self.sock.setblocking(False)
        bound_host, self.port = self.sock.getsockname()
        self.address = ("127.0.0.1" if bound_host in _WILDCARD else bound_host, self.port)
        self.closed = False
        self.unknown = 0              # datagrams from a socket that is no vehicle of the fleet
        self.errors = 0
        self._active: list = []

    def poll(self, t: float) -> None:
        if self.closed:
            return
        while True:
            try:
                data, addr = self.sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.errors += 1
                break
            i = self.by_port.get(addr[1])
            if i is None:
                self.unknown += 1
                continue
            self.radio.broadcast(i, t, [data])
        for j, addr in enumerate(self.vehicles):
            for pkt in self.radio.receive(j, t):
                try:
                    self.sock.sendto(pkt, addr)
                except OSError:
                    self.errors += 1

    def changes(self, t: float) -> list[str]:
        """One line for each link fault that began or ended since the last call."""
        now = self.radio.active_faults(t)
        out = []
        for f in self._active:
            if not any(f is g for g in now):
                out.append(f"V2V {_what(f)} over: dropped so far {_counts(self.radio.dropped)}")
        for f in now:
            if not any(f is g for g in self._active):
                out.append(f"V2V {_what(f)} for {f.duration_s:g} s: dropped so far {_counts(self.radio.dropped)}")
        self._active = now
        return out

    def stats(self) -> dict:
        return {**self.radio.stats(), "relay_unknown_sender": self.unknown, "relay_errors": self.errors}

    def summary(self) -> str:
        s = self.radio.stats()
        return (f"V2V radio: sent {s['packets_sent']}, delivered {s['packets_delivered']}, "
                f"dropped {_counts(s['dropped'])}"
                + (f"; {self.unknown} datagram(s) from sockets of no vehicle of the fleet ignored" if self.unknown
                   else "") + (f"; {self.errors} socket error(s)" if self.errors else ""))

    def describe(self) -> str:
        sp = self.radio.spec
        rng = "unlimited" if sp.range_m == float("inf") else f"{sp.range_m:g} m"
        return (f"V2V radio: relay udp {self.address[0]}:{self.port}, range {rng}, loss {sp.loss:g}, "
                f"latency {sp.latency_s:g} s, {len(self.radio.partitions)} partition(s), "
                f"{len(self.radio.outages)} radio outage(s) scripted")

    def fds(self) -> list[int]:
        return [] if self.closed else [self.sock.fileno()]

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.sock.close()


def _what(f) -> str:
    if f.type == "link_partition":
        return "partition " + " | ".join(", ".join(g) for g in f.groups)
    return f"radio of {f.vehicle} down"


def _counts(dropped: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in dropped.items())


__all__ = ["V2VRelay"]
