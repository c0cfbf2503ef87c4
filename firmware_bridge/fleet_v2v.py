"""The vehicle-to-vehicle radio link on a real network: MAVLink 2 over UDP,
our dialect (``dialects/edgepilot.xml``), signed like every other link.

Each vehicle binds one UDP port (``bind``, HOST:PORT) and sends every frame
to each of its ``peers`` (HOST:PORT; a subnet broadcast address works on
a radio LAN, a list of addresses on anything else).  Frames from its own
system id are ignored.  With a signing key every frame sent is signed and
every frame received must be, with a fresh timestamp for its stream
(``mavlink.signing``): an unsigned or replayed auction message is refused
and counted, never handed to the auction.

In real-time SITL (``sim/realtime_fleet.py``) every vehicle of the fleet
gets one of these on 127.0.0.1, its one peer the simulator's radio relay
(``sim/fleet/v2v_relay.py``).  On a bench, ``impair`` (a
``link_impairment.DelayLine``) loses and delays what the link hears, on
``clock`` (``edgepilot vehicle run --v2v-loss P --v2v-latency S``).
"""
from __future__ import annotations

import logging
import socket
import time
from typing import Callable

from edgepilot.firmware_bridge.mavlink import dialects
from edgepilot.firmware_bridge.link_impairment import DelayLine
from edgepilot.firmware_bridge.mavlink import signing as signing_mod

log = logging.getLogger(__name__)
#: Largest datagram read (a MAVLink 2 frame is at most 280 bytes; several may share one).
MAX_DATAGRAM = 65535


def parse_hostport(text: str, what: str = "--v2v") -> tuple[str, int]:
    host, sep, port = str(text).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{what} {text!r}: expected HOST:PORT")
    return host, int(port)


class _Sink:
    def __init__(self, link: "V2VLink"):
        self.link = link

    def write(self, buf: bytes) -> None:
        self.link._send_frame(bytes(buf))


class V2VLink:
    """One vehicle's V2V radio: ``send(msgs)`` to every peer, ``receive()``
    the messages heard since the last call (each with its sender's system
    id, ``msg.get_srcSystem()``)."""

    def __init__(self, sysid: int, bind: str, peers: list[str], signing_key: bytes | None = None,
                 compid: int = 1, impair: DelayLine | None = None, clock: Callable[[], float] = time.monotonic):
        """``impair``: loss and latency put on every datagram heard, timed by ``clock`` [s]."""
        self.sysid = int(sysid)
        self.bind = parse_hostport(bind)
        self.peers = [parse_hostport(p, "V2V peer") for p in peers]
        self.mod = dialects.load()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            self.sock.bind(self.bind)
        except OSError as e:
            self.sock.close()
            raise OSError(e.errno, f"V2V link: cannot bind UDP {bind}: {e.strerror}") from None
        self.sock.setblocking(False)
        self.mav = self.mod.MAVLink(_Sink(self), srcSystem=self.sysid, srcComponent=compid)
        self.mav.robust_parsing = True
        self.signing = signing_mod.configure(self.mav, signing_key, link_id=0xFE) if signing_key else None
        self.closed = False
        self.sent = self.received = self.rejected = self.errors = 0
        self.impair = impair
        self.clock = clock

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def _send_frame(self, buf: bytes) -> None:
        for addr in self.peers:
            try:
                self.sock.sendto(buf, addr)
            except OSError:
                self.errors += 1          # a peer's port unreachable: the radio does not care
        self.sent += 1

    def send(self, msgs) -> None:
        if self.closed:
            return
        if self.signing is not None:
            # signed at the vehicle's time now (a receiver refuses frames from
            # before it started), each frame one tick later than the last
            s = self.mav.signing
            s.timestamp = max(s.timestamp, self.signing.best_time())
        for m in msgs:
            self.mav.send(m)

    def _datagrams(self) -> list[bytes]:
        got = []
        while True:
            try:
                data, _ = self.sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.errors += 1
                break
            got.append(data)
        if self.impair is None:
            return got
        now = self.clock()
        for data in got:
            self.impair.put(now, data)
        return self.impair.take(now)

    def receive(self) -> list:
        out: list = []
        if self.closed:
            return out
        for data in self._datagrams():
            self.mav.buf = bytearray()            # one datagram, whole frames: nothing carries over
            self.mav.buf_index = 0
            try:
                msgs = self.mav.parse_buffer(data) or []
            except Exception:  # noqa: BLE001 - a malformed datagram is counted and dropped
                self.errors += 1
                continue
            for m in msgs:
                t = m.get_type()
                if t == "BAD_DATA":
                    if getattr(m, "reason", "") == "Invalid signature":
                        self.rejected += 1
                    else:
                        self.errors += 1
                    continue
                if m.get_srcSystem() == self.sysid:
                    continue
                self.received += 1
                out.append(m)
        return out

    def fds(self) -> list[int]:
        return [] if self.closed else [self.sock.fileno()]

    def stats(self) -> dict:
        return {"v2v_sent": self.sent, "v2v_received": self.received, "v2v_rejected_signature": self.rejected,
                "v2v_errors": self.errors, "v2v_impaired_lost": 0 if self.impair is None else self.impair.lost}

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.sock.close()
