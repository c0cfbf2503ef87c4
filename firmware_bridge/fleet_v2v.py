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
#: The signing link id of every vehicle's V2V frames.
V2V_LINK_ID = 0xFE


def v2v_mavlink(sysid: int, signing_key: bytes | None, compid: int = 1, file=None):
    """A vehicle's MAVLink object for its V2V radio (our dialect): it signs
    what it packs and checks what it parses with ``signing_key`` (None:
    neither).  Returns (MAVLink object, its ``signing.SigningState`` or None).
    The real link (``V2VLink``) and the lockstep runner's simulated radio
    (``sim.fleet.link.V2VEnds``) both use it."""
    mav = dialects.load().MAVLink(file, srcSystem=int(sysid), srcComponent=compid)
    mav.robust_parsing = True
    return mav, (signing_mod.configure(mav, signing_key, link_id=V2V_LINK_ID) if signing_key else None)


def sign_from_now(mav, state) -> None:
    """Sign the next frames at the vehicle's time now (a receiver refuses
    frames from before it started), each one tick later than the last."""
    if state is not None:
        s = mav.signing
        s.timestamp = max(s.timestamp, state.best_time())


def parse_datagram(mav, data: bytes, own_sysid: int) -> tuple[list, int, int]:
    """The messages of one datagram (whole frames) heard by ``mav``'s
    vehicle: (messages not its own, refused for their signature, malformed)."""
    mav.buf = bytearray()                     # one datagram, whole frames: nothing carries over
    mav.buf_index = 0
    try:
        msgs = mav.parse_buffer(data) or []
    except Exception:  # noqa: BLE001 - a malformed datagram is counted and dropped
        return [], 0, 1
    out, rejected, errors = [], 0, 0
    for m in msgs:
        if m.get_type() == "BAD_DATA":
            if getattr(m, "reason", "") == "Invalid signature":
                rejected += 1
            else:
                errors += 1
        elif m.get_srcSystem() != own_sysid:
            out.append(m)
    return out, rejected, errors


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
    id, ``msg.get_srcSystem()``).

    Several processes of the vehicle share the one radio (the task auction,
    the route share): one that ``subscribe``s to a message type gets those
    from ``take(type)``, and ``receive()`` hands out the rest; whichever
    polls first reads the socket for all of them."""

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
        self.mav, self.signing = v2v_mavlink(self.sysid, signing_key, compid, _Sink(self))
        self.closed = False
        self.sent = self.received = self.rejected = self.errors = 0
        self.impair = impair
        self.clock = clock
        self._boxes: dict[str, list] = {}          # subscribed message type -> heard, not yet taken
        self._rest: list = []                      # everything else, for receive()

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
        sign_from_now(self.mav, self.signing)
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

    def subscribe(self, msg_type: str) -> None:
        """Keep messages of ``msg_type`` for ``take`` (``receive`` no longer returns them)."""
        self._boxes.setdefault(msg_type, [])

    def receive(self) -> list:
        """The messages heard since the last call, but the subscribed types."""
        self._pump()
        out, self._rest = self._rest, []
        return out

    def take(self, msg_type: str) -> list:
        """The messages of a subscribed type heard since the last call."""
        self._pump()
        out = self._boxes.get(msg_type, [])
        self._boxes[msg_type] = []
        return out

    def _pump(self) -> None:
        if self.closed:
            return
        for data in self._datagrams():
            msgs, rejected, errors = parse_datagram(self.mav, data, self.sysid)
            self.rejected += rejected
            self.errors += errors
            for m in msgs:
                self.received += 1
                box = self._boxes.get(m.get_type())
                (self._rest if box is None else box).append(m)

    def fds(self) -> list[int]:
        return [] if self.closed else [self.sock.fileno()]

    def stats(self) -> dict:
        return {"v2v_sent": self.sent, "v2v_received": self.received, "v2v_rejected_signature": self.rejected,
                "v2v_errors": self.errors, "v2v_impaired_lost": 0 if self.impair is None else self.impair.lost}

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.sock.close()
