"""Byte transports for MAVLink links, opened from pymavlink-style connection strings.

One :class:`Transport` owns one socket or serial port and yields one
:class:`Channel` per remote peer: a TCP server gives one channel per accepted
client and a UDP server one per source address, so any number of ground
stations can share one endpoint string.  Everything is non-blocking; the
runtime loop calls :meth:`Transport.service` once per tick.

Supported forms (as pymavlink's ``mavlink_connection``):
``tcpin:HOST:PORT`` (server), ``tcp:HOST:PORT`` (client, reconnects),
``udpin:HOST:PORT`` / ``udp:HOST:PORT`` (server), ``udpout:HOST:PORT``,
``udpbcast:HOST:PORT`` and serial ``DEVICE[,BAUD]`` / ``serial:DEVICE[:BAUD]``
(any pyserial URL such as ``socket://`` or ``loop://``).
"""
from __future__ import annotations

import abc
import errno
import socket
import time

#: Cap on bytes queued for one slow TCP peer before it is dropped: a ground
#: station that stops reading must not grow our memory without bound.
MAX_TX_BACKLOG = 1 << 20


class Channel(abc.ABC):
    """One remote peer.  ``inbound`` collects received byte chunks until the
    endpoint parses them; :meth:`write` sends (or queues) one frame."""

    #: True when every inbound chunk is one datagram holding whole frames
    #: (UDP): the parser then restarts at each datagram, so a corrupt or
    #: truncated datagram cannot swallow the frames of the next one.
    datagram = False

    def __init__(self, name: str):
        self.name = name
        self.inbound: list[bytes] = []
        self.closed = False
        self.tx_dropped = 0          # frames we could not send (peer gone / backlog full)

    def take_chunks(self) -> list[bytes]:
        chunks = self.inbound
        self.inbound = []
        return chunks

    def take_inbound(self) -> bytes:
        if not self.inbound:
            return b""
        data = b"".join(self.inbound)
        self.inbound.clear()
        return data

    @abc.abstractmethod
    def write(self, data: bytes) -> None:
        """Queue ``data`` for the peer (never blocks)."""

    def close(self) -> None:
        self.closed = True


class _TcpChannel(Channel):
    def __init__(self, name: str, sock: socket.socket):
        super().__init__(name)
        self.sock = sock
        self._backlog = bytearray()

    def write(self, data: bytes) -> None:
        if self.closed:
            self.tx_dropped += 1
            return
        if self._backlog:
            if len(self._backlog) + len(data) > MAX_TX_BACKLOG:
                self.close()
                return
            self._backlog += data
            self.flush()
            return
        try:
            n = self.sock.send(data)
        except BlockingIOError:
            n = 0
        except OSError:
            self.close()
            return
        if n < len(data):
            self._backlog += data[n:]

    def flush(self) -> None:
        if self.closed or not self._backlog:
            return
        try:
            n = self.sock.send(self._backlog)
        except BlockingIOError:
            return
        except OSError:
            self.close()
            return
        del self._backlog[:n]

    def read(self) -> None:
        while not self.closed:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return
            except OSError:
                self.close()
                return
            if not data:
                self.close()
                return
            self.inbound.append(data)

    def close(self) -> None:
        if not self.closed:
            try:
                self.sock.close()
            except OSError:
                pass
        super().close()


class Transport(abc.ABC):
    """Base: ``service()`` does all pending I/O and returns the live channels."""

    def __init__(self, spec: str):
        self.spec = spec

    @abc.abstractmethod
    def service(self) -> list[Channel]:
        """Do all pending I/O; return the live channels."""

    def fds(self) -> list[int]:
        """File descriptors that become readable when there is work for
        :meth:`service` (for the runtime loop's ``select``)."""
        return []

    @abc.abstractmethod
    def close(self) -> None:
        """Close every socket or port of this transport."""


def _host_port(rest: str, spec: str) -> tuple[str, int]:
    host, sep, port = rest.rpartition(":")
    if not sep or not host:
        raise ValueError(f"MAVLink endpoint {spec!r}: expected HOST:PORT after the scheme")
    try:
        p = int(port)
    except ValueError:
        raise ValueError(f"MAVLink endpoint {spec!r}: port {port!r} is not an integer") from None
    if not 0 <= p <= 65535:
        raise ValueError(f"MAVLink endpoint {spec!r}: port {p} out of range 0..65535")
    return host, p


class TcpServer(Transport):
    """``tcpin:HOST:PORT`` — accepts any number of clients."""

    def __init__(self, spec: str, host: str, port: int):
        super().__init__(spec)
        self.listen = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listen.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listen.bind((host, port))
        self.listen.listen(16)
        self.listen.setblocking(False)
        self.address = self.listen.getsockname()
        self.clients: list[_TcpChannel] = []

    def service(self) -> list[Channel]:
        while True:
            try:
                sock, addr = self.listen.accept()
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.clients.append(_TcpChannel(f"tcp:{addr[0]}:{addr[1]}", sock))
        for c in self.clients:
            c.flush()
            c.read()
        self.clients = [c for c in self.clients if not c.closed or c.inbound]
        return list(self.clients)

    def fds(self) -> list[int]:
        return [self.listen.fileno()] + [c.sock.fileno() for c in self.clients if not c.closed]

    def close(self) -> None:
        for c in self.clients:
            c.close()
        self.listen.close()


class TcpClient(Transport):
    """``tcp:HOST:PORT`` — connects out and reconnects after loss (every
    ``retry_s`` seconds of wall time)."""

    def __init__(self, spec: str, host: str, port: int, retry_s: float = 1.0):
        super().__init__(spec)
        self.target = (host, port)
        self.retry_s = retry_s
        self.chan: _TcpChannel | None = None
        self._next_try = 0.0
        self._connect()

    def _connect(self) -> None:
        now = time.monotonic()
        if now < self._next_try:
            return
        self._next_try = now + self.retry_s
        try:
            sock = socket.create_connection(self.target, timeout=0.5)
        except OSError:
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.chan = _TcpChannel(f"tcp:{self.target[0]}:{self.target[1]}", sock)

    def service(self) -> list[Channel]:
        if self.chan is None or (self.chan.closed and not self.chan.inbound):
            self.chan = None
            self._connect()
        if self.chan is None:
            return []
        self.chan.flush()
        self.chan.read()
        return [self.chan]

    def fds(self) -> list[int]:
        return [] if self.chan is None or self.chan.closed else [self.chan.sock.fileno()]

    def close(self) -> None:
        if self.chan is not None:
            self.chan.close()


class _UdpPeer(Channel):
    datagram = True

    def __init__(self, name: str, sock: socket.socket, addr):
        super().__init__(name)
        self.sock = sock
        self.addr = addr

    def write(self, data: bytes) -> None:
        if self.closed:
            self.tx_dropped += 1
            return
        try:
            self.sock.sendto(data, self.addr)
        except OSError:
            # UDP: a full buffer or an unreachable port loses this datagram only.
            self.tx_dropped += 1


class UdpServer(Transport):
    """``udpin:HOST:PORT`` — one channel per source address heard."""

    def __init__(self, spec: str, host: str, port: int):
        super().__init__(spec)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.setblocking(False)
        self.address = self.sock.getsockname()
        self.peers: dict[tuple, _UdpPeer] = {}

    def service(self) -> list[Channel]:
        while True:
            try:
                data, addr = self.sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                # ICMP port unreachable from an earlier send surfaces here on Linux.
                continue
            peer = self.peers.get(addr)
            if peer is None:
                peer = _UdpPeer(f"udp:{addr[0]}:{addr[1]}", self.sock, addr)
                self.peers[addr] = peer
            peer.inbound.append(data)
        return list(self.peers.values())

    def fds(self) -> list[int]:
        return [self.sock.fileno()]

    def close(self) -> None:
        self.sock.close()


class UdpClient(Transport):
    """``udpout:HOST:PORT`` (and ``udpbcast:``) — sends to a fixed address
    and listens for replies on the same socket."""

    def __init__(self, spec: str, host: str, port: int, broadcast: bool = False):
        super().__init__(spec)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if broadcast:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        self.sock.setblocking(False)
        self.chan = _UdpPeer(f"udpout:{host}:{port}", self.sock, (host, port))

    def service(self) -> list[Channel]:
        while True:
            try:
                data, _addr = self.sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as e:
                if e.errno == errno.ECONNREFUSED:
                    continue
                break
            self.chan.inbound.append(data)
        return [self.chan]

    def fds(self) -> list[int]:
        return [self.sock.fileno()]

    def close(self) -> None:
        self.sock.close()


class _SerialChannel(Channel):
    def __init__(self, name: str, port):
        super().__init__(name)
        self.port = port

    def write(self, data: bytes) -> None:
        try:
            self.port.write(data)
        except Exception:  # pyserial raises SerialException / OSError
            self.tx_dropped += 1


class SerialTransport(Transport):
    """A serial device or pyserial URL, ``DEVICE[,BAUD]``."""

    def __init__(self, spec: str, device: str, baud: int):
        super().__init__(spec)
        import serial  # pyserial; imported here so socket-only users never need it

        self.port = serial.serial_for_url(device, baudrate=baud, timeout=0, write_timeout=0)
        self.chan = _SerialChannel(f"serial:{device}", self.port)

    def service(self) -> list[Channel]:
        n = self.port.in_waiting
        if n:
            self.chan.inbound.append(self.port.read(n))
        return [self.chan]

    def fds(self) -> list[int]:
        try:
            return [self.port.fileno()]
        except Exception:   # pyserial URL handlers without a descriptor (loop://, socket://)
            return []

    def close(self) -> None:
        self.port.close()


def open_transport(spec: str) -> Transport:
    """Open a transport from a pymavlink connection string; raises
    ValueError naming the string and what was expected."""
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"MAVLink endpoint: expected a connection string, got {spec!r}")
    scheme, sep, rest = spec.partition(":")
    scheme = scheme.lower()
    if sep and scheme in ("tcpin", "tcp", "udpin", "udp", "udpout", "udpbcast"):
        host, port = _host_port(rest, spec)
        if scheme == "tcpin":
            return TcpServer(spec, host, port)
        if scheme == "tcp":
            return TcpClient(spec, host, port)
        if scheme in ("udpin", "udp"):
            return UdpServer(spec, host, port)
        return UdpClient(spec, host, port, broadcast=(scheme == "udpbcast"))
    if scheme == "serial" and sep:
        dev, _, baud = rest.rpartition(":") if rest.count(":") and rest.rsplit(":", 1)[1].isdigit() else (rest, "", "57600")
        return SerialTransport(spec, dev, int(baud))
    if spec.startswith("/") or "://" in spec or spec.upper().startswith("COM"):
        dev, _, baud = spec.partition(",")
        try:
            b = int(baud) if baud else 57600
        except ValueError:
            raise ValueError(f"MAVLink endpoint {spec!r}: baud {baud!r} is not an integer") from None
        return SerialTransport(spec, dev, b)
    raise ValueError(
        f"MAVLink endpoint {spec!r}: expected tcpin:/tcp:/udpin:/udp:/udpout:/udpbcast:HOST:PORT, "
        "serial:DEVICE[:BAUD] or DEVICE[,BAUD]")
