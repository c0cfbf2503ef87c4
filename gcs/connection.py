"""The MAVLink link to the vehicle(s): opening an endpoint, our ground-station
heartbeat, receiving into the :class:`~gcs.telemetry.Fleet`, and choosing
the vehicle to talk to by system id.

Endpoints are pymavlink connection strings: ``udpin:0.0.0.0:14550``,
``udp:HOST:PORT`` (listen), ``udpout:HOST:PORT``, ``tcp:HOST:PORT``,
``tcpin:HOST:PORT``, serial ``/dev/ttyUSB0,57600`` (or ``serial:DEV:BAUD``).
Single-threaded: every wait pumps the link, so heartbeats go out and
telemetry stays current while a command waits for its ACK.
"""
from __future__ import annotations

import contextlib
import io
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from edgepilot.gcs.mav import mavutil
from edgepilot.keyfile import KeyFileError, load_key

from edgepilot.gcs.errors import BadInputError, NoLinkError
from edgepilot.gcs.telemetry import Fleet, VehicleView

M = mavutil.mavlink
#: MAV_COMP_ID_MISSIONPLANNER: the component id ground stations use.
GCS_COMPID = 190
GCS_SYSID = 255
HEARTBEAT_PERIOD_S = 1.0

Predicate = Callable[[object], bool]


def load_signing_key(path: str | Path) -> bytes:
    """A MAVLink 2 signing key file: 64 hex characters (32 bytes); the
    parser is the vehicle's (edgepilot.keyfile)."""
    p = Path(path)
    try:
        return load_key(p, source=f"--signing-key {p}")
    except KeyFileError as e:
        raise BadInputError(str(e)) from None


def _endpoint_hint(endpoint: str) -> str:
    e = endpoint.lower()
    if e.startswith("tcp:"):
        return "check the vehicle is running and serving MAVLink on that TCP address (e.g. its --mavlink tcpin:...)"
    if e.startswith(("udpin:", "udp:")):
        return "check the vehicle sends MAVLink to this UDP port (its udpout address) and no firewall drops it"
    if e.startswith("udpout:"):
        return "check the vehicle listens on that UDP address (its udpin port)"
    if e.startswith("tcpin:"):
        return "check the vehicle connects to this TCP port"
    return "check the cable/radio, the device name and the baud rate"


class Link:
    """One open MAVLink connection.  ``recorder(msg, raw_bytes)`` (optional)
    sees every received message, for tlog recording."""

    def __init__(self, endpoint: str, *, timeout: float = 5.0, signing_key: bytes | None = None,
                 source_system: int = GCS_SYSID, source_component: int = GCS_COMPID,
                 recorder: Callable[[object], None] | None = None):
        self.endpoint = endpoint
        self.signing_key = signing_key
        self.fleet = Fleet()
        self.recorder = recorder
        self.bad_data = 0
        self._next_hb = 0.0
        kwargs = {}
        if endpoint.lower().startswith("tcp:"):
            # pymavlink retries a refused TCP connect once a second.
            kwargs["retries"] = max(0, int(timeout) - 1)
        self.lost = False
        #: sysid -> the UDP address it last sent from (a listening UDP link
        #: hears several vehicles, each from its own socket; see route_to)
        self.addresses: dict[int, tuple] = {}
        try:
            # pymavlink prints each refused TCP retry to stdout; our own error says it once.
            with contextlib.redirect_stdout(io.StringIO()):
                self.conn = mavutil.mavlink_connection(endpoint, source_system=source_system,
                                                       source_component=source_component, autoreconnect=False,
                                                       **kwargs)
        except Exception as e:   # socket, serial and parse errors all end here
            reason = getattr(e, "strerror", None) or str(e) or type(e).__name__
            raise NoLinkError(f"cannot open MAVLink endpoint {endpoint}: {reason}; {_endpoint_hint(endpoint)}") from None
        if hasattr(self.conn, "handle_eof"):
            # pymavlink's TCP link prints "EOF on TCP socket" and retries on every
            # read once the vehicle has gone; mark the link lost instead, quietly,
            # and let the heartbeat timeout report it once.
            self.conn.handle_eof = self.conn.handle_disconnect = self._on_closed
        self.conn.mav.robust_parsing = True
        self._route = None
        self._rx_addr = None
        self._tail_mark = None
        self._plain_write = self.conn.write
        if self._udp_server and hasattr(self.conn, "port"):
            # pymavlink's MAVLink object writes through conn.write: frames
            # for one vehicle go to its address only (route_to)
            self.conn.write = self._routed_write
            self.conn.recv = self._addressed_recv
        if signing_key is not None:
            self.conn.setup_signing(signing_key, sign_outgoing=True)
        self.send_heartbeat()

    # ------------------------------------------------------------------ sending
    @property
    def mav(self):
        return self.conn.mav

    @property
    def _udp_server(self) -> bool:
        return bool(getattr(self.conn, "udp_server", False)) and hasattr(self.conn, "last_address")

    def route_to(self, sysid: int | None) -> None:
        """Send what follows to vehicle ``sysid`` only (None: to every peer).

        On a listening UDP link (``udpin``) several vehicles send to the
        same port, each from its own socket (ArduPilot SITL instances, an
        edgepilot fleet, one radio per vehicle).  pymavlink then sends every
        frame either to whichever address it heard last (a command for
        vehicle 2 lands on vehicle 1's socket and is dropped there) or, in
        newer versions, to every address (every vehicle gets every
        command).  The link remembers each sysid's address and sends frames
        for a vehicle to that address alone; the frames also name it as
        target_system/target_component.  Single-threaded: the route stays
        until the next ``route_to`` (heartbeats go to everyone and leave it as it was)."""
        self._route = self.addresses.get(sysid) if (sysid is not None and self._udp_server) else None

    def _addressed_recv(self, n=None):
        """pymavlink's UDP server read, keeping the sender's address of the
        datagram (``_rx_addr``) so each sysid's address is known."""
        import errno
        import socket

        c = self.conn
        mav = c.mav
        if mav.buf_len() > 0:
            # The parser still holds bytes of the datagram read last (pymavlink
            # returns one message per parse).  Finish those first: a message
            # parsed after the next read would take that datagram's sender as
            # its own, and replies to its sysid would go to the wrong vehicle.
            if self._tail_mark != mav.total_packets_received:
                self._tail_mark = mav.total_packets_received
                return ""
            # nothing more came of them: a cut frame (UDP carries whole frames)
            mav.buf = bytearray()
            mav.buf_index = 0
        self._tail_mark = None
        try:
            data, addr = c.port.recvfrom(65535)
        except socket.error as e:
            if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.ECONNREFUSED):
                return ""
            raise
        clients = getattr(c, "clients", None)
        if clients is not None:
            clients.add(addr)
            getattr(c, "clients_last_alive", {})[addr] = time.time()
        c.last_address = addr
        self._rx_addr = addr
        return data

    def _routed_write(self, buf) -> None:
        addr = self._route
        if addr is None:
            self._plain_write(buf)
            return
        self.conn.port.sendto(buf, addr)

    def send_heartbeat(self) -> None:
        """Our heartbeat, to every vehicle heard on a listening UDP link
        (each at its own address), else to the link's peer."""
        targets = list(dict.fromkeys(self.addresses.values())) if self._udp_server else []
        route = self._route           # a heartbeat between two frames of one upload must not re-aim it
        try:
            if len(targets) > 1:
                try:
                    for addr in targets:
                        self._route = addr
                        self.conn.mav.heartbeat_send(M.MAV_TYPE_GCS, M.MAV_AUTOPILOT_INVALID, 0, 0,
                                                     M.MAV_STATE_ACTIVE)
                finally:
                    self._route = route
            else:
                self._route = None
                try:
                    self.conn.mav.heartbeat_send(M.MAV_TYPE_GCS, M.MAV_AUTOPILOT_INVALID, 0, 0, M.MAV_STATE_ACTIVE)
                finally:
                    self._route = route
        except OSError:
            pass   # a UDP peer not there yet; the next one will try again
        self._next_hb = time.monotonic() + HEARTBEAT_PERIOD_S

    # ------------------------------------------------------------------ receiving
    def poll(self, timeout: float = 0.0) -> list:
        """Wait up to ``timeout`` s for data, then handle everything received.
        Returns the messages (any sysid)."""
        now = time.monotonic()
        if now >= self._next_hb:
            self.send_heartbeat()
        out = self._drain()
        if out or timeout <= 0:
            return out
        if self.lost:   # a closed socket is always readable: don't spin on it
            time.sleep(timeout)
            return out
        self.conn.select(min(timeout, max(0.0, self._next_hb - time.monotonic()) + 0.001))
        return self._drain()

    def _on_closed(self) -> None:
        self.lost = True
        raise ConnectionError(f"{self.endpoint}: the vehicle closed the connection")

    def _drain(self) -> list:
        out = []
        for _ in range(1000):
            if self.lost:
                break
            try:
                m = self.conn.recv_msg()
            except (OSError, ConnectionError):
                break
            if m is None:
                break
            t = m.get_type()
            if t == "BAD_DATA":
                self.bad_data += 1
                continue
            if t.startswith("UNKNOWN_"):       # our dialect's messages (gcs/dialect.py): sender from the frame
                from edgepilot.gcs.dialect import restore_header

                restore_header(m)
            now = time.monotonic()
            if self._rx_addr is not None:
                self.addresses[m.get_srcSystem()] = self._rx_addr
            if self.recorder is not None:
                self.recorder(m)
            self.fleet.update(m, now)
            out.append(m)
        return out

    def wait(self, pred: Predicate, timeout: float) -> object | None:
        """The first message (any sysid) for which ``pred`` is true, or None."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            for m in self.poll(max(0.0, min(remaining, 0.1))):
                if pred(m):
                    return m
            if remaining <= 0:
                return None

    def pump_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            self.poll(min(remaining, 0.1))

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:
            pass

    # ------------------------------------------------------------------ vehicles
    def wait_vehicle(self, sysid: int | None = None, timeout: float = 5.0) -> "Vehicle":
        """Wait for a vehicle heartbeat (``sysid`` if given, else the first
        vehicle heard).  Raises NoLinkError naming the endpoint."""

        def is_vehicle(m) -> bool:
            return (m.get_type() == "HEARTBEAT" and m.type != M.MAV_TYPE_GCS
                    and m.autopilot != M.MAV_AUTOPILOT_INVALID
                    and (sysid is None or m.get_srcSystem() == sysid))

        hb = self.wait(is_vehicle, timeout)
        if hb is None:
            who = f"vehicle sysid {sysid}" if sysid is not None else "any vehicle"
            others = sorted(s for s in self.fleet.vehicles if s != sysid)
            heard = f" (heard only sysid {', '.join(map(str, others))}; check --sysid)" if others else ""
            signing = "; check the vehicle uses the same --signing-key" if self.signing_key else ""
            raise NoLinkError(f"no heartbeat from {who} on {self.endpoint} within {timeout:g} s{heard}; "
                              f"{_endpoint_hint(self.endpoint)}{signing}")
        v = Vehicle(self, hb.get_srcSystem(), hb.get_srcComponent())
        v.request_streams()
        return v


class Vehicle:
    """The vehicle a command talks to: its ids and its telemetry view."""

    def __init__(self, link: Link, sysid: int, compid: int):
        self.link = link
        self.sysid = sysid
        self.compid = compid

    @property
    def view(self) -> VehicleView:
        return self.link.fleet.vehicles[self.sysid]

    @property
    def mav(self):
        """The link's sender, pointed at this vehicle (``Link.route_to``):
        every message sent through it also names this vehicle as
        target_system / target_component."""
        self.link.route_to(self.sysid)
        return self.link.mav

    @property
    def autopilot(self) -> int:
        return self.view.autopilot

    @property
    def mav_type(self) -> int:
        return self.view.mav_type

    @property
    def is_px4(self) -> bool:
        return self.autopilot == M.MAV_AUTOPILOT_PX4

    def from_me(self, m) -> bool:
        """Replies are taken only from this vehicle's system id (several
        vehicles share a UDP link)."""
        return m.get_srcSystem() == self.sysid

    def to_us(self, m) -> bool:
        ts = getattr(m, "target_system", None)
        return ts in (None, 0, self.link.conn.mav.srcSystem)

    def wait(self, types: str | Iterable[str], cond: Predicate = lambda m: True, timeout: float = 2.0):
        """The next message of ``types`` from this vehicle addressed to us
        (or broadcast) that satisfies ``cond``; None on timeout."""
        tset = {types} if isinstance(types, str) else set(types)
        return self.link.wait(lambda m: m.get_type() in tset and self.from_me(m) and self.to_us(m) and cond(m),
                              timeout)

    def request_streams(self, rate_hz: int = 4) -> None:
        """Ask for telemetry as MAVProxy does (ArduPilot needs it on a new
        link; PX4 streams by default and ignores it)."""
        if self.is_px4:
            return
        try:
            self.mav.request_data_stream_send(self.sysid, self.compid, M.MAV_DATA_STREAM_ALL, rate_hz, 1)
        except OSError:
            pass


# ---------------------------------------------------------------------- tlog
class TlogRecorder:
    """Writes every received message as a ``.tlog`` record: an 8-byte
    big-endian microsecond UNIX timestamp, then the raw MAVLink frame (the
    format MAVProxy writes and ``mavlogdump.py`` reads)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.f = open(self.path, "wb")
        except OSError as e:
            raise BadInputError(f"{self.path}: cannot write the tlog: {e.strerror or e}") from None
        self.messages = 0
        self.bytes = 0

    def __call__(self, m) -> None:
        buf = m.get_msgbuf()
        if not buf:
            return
        rec = struct.pack(">Q", int(time.time() * 1e6)) + bytes(buf)
        self.f.write(rec)
        self.messages += 1
        self.bytes += len(rec)

    def close(self) -> None:
        self.f.flush()
        self.f.close()


@dataclass
class ConnectOptions:
    endpoint: str
    sysid: int | None = None
    signing_key: bytes | None = None
    timeout: float = 5.0


def connect(opts: ConnectOptions, recorder=None) -> tuple[Link, Vehicle]:
    link = Link(opts.endpoint, timeout=opts.timeout, signing_key=opts.signing_key, recorder=recorder)
    try:
        v = link.wait_vehicle(opts.sysid, opts.timeout)
    except Exception:
        link.close()
        raise
    return link, v
