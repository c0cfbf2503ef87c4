"""AIS: NMEA 0183 AIVDM/AIVDO sentences from an AIS receiver, decoded with
pyais into ``ContactReport`` values for the vehicle core.

``AisDecoder.feed(data, now)`` takes whatever bytes arrived (partial lines
are kept until their end arrives), checks every sentence's checksum,
reassembles multi-part messages (by sequence id and channel), and decodes
position reports (types 1, 2, 3 class A; 18, 19 class B) and static data
(type 5; 24). Anything else is counted and skipped; nothing raises on bad
input.  AIVDO (own ship) sentences are counted but not reported, and so
are the reports of our own MMSI (``own_mmsi``) heard as AIVDM: our own
transponder's transmissions picked up by the receiver are not a contact.
``AisReceiver`` reads from a serial port (pyserial URL) or a UDP socket, the
two outputs AIS receivers usually have, without ever blocking (``edgepilot
vehicle run --ais`` polls it from the on-board loop).

Reports carry SI units and the ENU convention: speed over ground m/s,
course and heading as ENU yaw in radians; positions stay WGS84 degrees.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, fields
from typing import Callable

from pyais import NMEAMessage
from pyais.exceptions import AISBaseException

from edgepilot.firmware_bridge.gps_nmea import UdpSource
from edgepilot.firmware_bridge.serial_port import SerialPort
from edgepilot.vehicle.geo import compass_deg_to_enu_yaw
from edgepilot.vehicle.types import ContactReport

KNOTS_TO_MS = 1852.0 / 3600.0
POSITION_TYPES = {1, 2, 3, 18, 19}
STATIC_TYPES = {5, 24}
MAX_LINE = 512               # NMEA allows 82 characters; anything this long is garbage
FRAGMENT_TIMEOUT_S = 5.0     # a multi-part message not completed within this is dropped


@dataclass
class AisCounters:
    lines: int = 0              # lines seen
    sentences: int = 0          # well-formed !AIVDM/!AIVDO sentences with a valid checksum
    bad_checksum: int = 0
    malformed: int = 0          # not an AIS sentence, wrong field count, garbage
    own_ship: int = 0           # AIVDO, or a report of our own MMSI (own_mmsi)
    fragments_dropped: int = 0  # multi-part messages never completed
    decode_errors: int = 0      # payload pyais could not decode
    unsupported: int = 0        # decoded, but a message type we do not use
    invalid_position: int = 0   # lat/lon not available (91/181) or out of range
    reports: int = 0            # ContactReports produced

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class AisDecoder:
    """``own_mmsi``: our own MMSI, whose reports are counted under
    ``own_ship`` and not reported (None: every AIVDM is another vessel)."""

    def __init__(self, report_own_ship: bool = False, own_mmsi: int | None = None):
        self.report_own_ship = report_own_ship
        self.own_mmsi = None if own_mmsi is None else int(own_mmsi)
        self.counters = AisCounters()
        self._buf = b""
        self._partial: dict[tuple, tuple[float, list]] = {}

    def feed(self, data: bytes, now: float) -> list[ContactReport]:
        """Decode every complete line in ``data`` (plus any partial line
        kept from before); ``now`` [s] stamps the reports."""
        if not data:
            return []
        now = float(now)
        self._buf += data
        *lines, self._buf = self._buf.split(b"\n")
        if len(self._buf) > MAX_LINE:
            self.counters.lines += 1
            self.counters.malformed += 1
            self._buf = b""
        out: list[ContactReport] = []
        for line in lines:
            r = self.feed_line(line.strip(), now)
            if r is not None:
                out.append(r)
        self._expire(now)
        return out

    def feed_line(self, line: bytes, now: float) -> ContactReport | None:
        c = self.counters
        if not line:
            return None
        c.lines += 1
        if len(line) > MAX_LINE or not (line.startswith(b"!AIVDM") or line.startswith(b"!AIVDO")
                                        or line.startswith(b"!BSVDM") or line.startswith(b"!ABVDM")):
            c.malformed += 1
            return None
        try:
            msg = NMEAMessage(line)
        except (AISBaseException, ValueError, IndexError, UnicodeDecodeError):
            c.malformed += 1
            return None
        if not msg.is_valid:
            c.bad_checksum += 1
            return None
        c.sentences += 1
        own = line[3:6] == b"VDO"
        if msg.fragment_count > 1:
            key = (msg.seq_id, msg.channel, msg.fragment_count, own)
            t0, parts = self._partial.get(key, (now, []))
            if msg.frag_num == 1 and parts:
                c.fragments_dropped += 1   # a new message started before the last one completed
                t0, parts = now, []
            parts.append(msg)
            if len(parts) < msg.fragment_count:
                self._partial[key] = (t0, parts)
                return None
            self._partial.pop(key, None)
            if [p.frag_num for p in parts] != list(range(1, msg.fragment_count + 1)):
                c.fragments_dropped += 1
                return None
            try:
                msg = NMEAMessage.assemble_from_iterable(parts)
            except (AISBaseException, ValueError, IndexError):
                c.decode_errors += 1
                return None
        if own:
            c.own_ship += 1
            if not self.report_own_ship:
                return None
        return self._decode(msg, now)

    def _expire(self, now: float) -> None:
        for key in [k for k, (t0, _) in self._partial.items() if now - t0 > FRAGMENT_TIMEOUT_S]:
            del self._partial[key]
            self.counters.fragments_dropped += 1

    def _decode(self, msg, now: float) -> ContactReport | None:
        c = self.counters
        try:
            d = msg.decode().asdict()
        except (AISBaseException, ValueError, IndexError, TypeError, KeyError):
            c.decode_errors += 1
            return None
        typ = d.get("msg_type")
        mmsi = int(d.get("mmsi") or 0)
        if self.own_mmsi is not None and mmsi == self.own_mmsi and not self.report_own_ship:
            c.own_ship += 1             # our own transponder, heard by the receiver
            return None
        if typ in POSITION_TYPES:
            lat, lon = d.get("lat"), d.get("lon")
            if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
                c.invalid_position += 1
                return None
            sog = d.get("speed")
            sog = None if sog is None or sog >= 102.3 else float(sog) * KNOTS_TO_MS
            cog = d.get("course")
            cog = None if cog is None or cog >= 360.0 else compass_deg_to_enu_yaw(float(cog))
            hdg = d.get("heading")
            hdg = None if hdg is None or hdg >= 360 else compass_deg_to_enu_yaw(float(hdg))
            c.reports += 1
            return ContactReport(now, "ais", mmsi, float(lat), float(lon), sog, cog, hdg,
                                 ship_type=_int(d.get("ship_type")) if typ == 19 else None)
        if typ in STATIC_TYPES:
            bow, stern = d.get("to_bow"), d.get("to_stern")
            port, stbd = d.get("to_port"), d.get("to_starboard")
            length = float(bow + stern) if bow is not None and stern is not None and bow + stern > 0 else None
            beam = float(port + stbd) if port is not None and stbd is not None and port + stbd > 0 else None
            name = d.get("shipname")
            c.reports += 1
            return ContactReport(now, "ais", mmsi, ship_type=_int(d.get("ship_type")),
                                 name=(name.strip() or None) if isinstance(name, str) else None,
                                 length=length, beam=beam)
        c.unsupported += 1
        return None


def _int(v) -> int | None:
    if v is None:
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def parse_ais_url(url: str) -> tuple[str, int] | None:
    """``udp:HOST:PORT`` (or ``udp://HOST:PORT``, as the GPS source is
    written) -> (host, port); None for anything else (a pyserial URL).
    ValueError for a UDP address that is not one."""
    if not url.startswith("udp:"):
        return None
    rest = url[len("udp:"):]
    rest = rest[2:] if rest.startswith("//") else rest
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"AIS url {url!r}: expected udp:HOST:PORT with PORT 0..65535")
    return host or "0.0.0.0", int(port)


class AisReceiver:
    """Bytes from an AIS receiver: ``udp:HOST:PORT`` (listen) or a pyserial
    URL/device (``/dev/ttyUSB0``, ``socket://host:port``, ``loop://``) at
    ``baud`` (38400 is the AIS standard).  ``poll(now)`` never blocks.

    The port is opened at construction: ``OSError`` naming the device when
    it cannot be (a receiver that is not there refuses the start rather than
    leaving the boat blind to AIS unannounced).  A serial receiver that is
    unplugged later is reopened (``firmware_bridge.serial_port``) and the
    decoder starts clean on the new stream; its changes go to ``on_event``."""

    def __init__(self, url: str, baud: int = 38400, decoder: AisDecoder | None = None,
                 on_event: Callable[[str], None] | None = None, wall: Callable[[], float] = time.monotonic):
        self.url = url
        self.baud = int(baud)
        self.decoder = decoder or AisDecoder()
        self._sock = None
        self.port: SerialPort | UdpSource
        self._conn = 0
        udp = parse_ais_url(url)
        if udp is not None:
            try:
                self.port = UdpSource(*udp)
            except OSError as e:
                raise OSError(f"cannot listen on {url} ({e.strerror or e})") from None
            self._sock = self.port.sock
        else:
            self.port = SerialPort(url, self.baud, "ais", wall=wall)
            if not self.port.open():
                raise OSError(f"cannot open {url}: {self.port.last_error}")
            self.port.on_event = on_event      # from now on: unplugged, reconnected

    @property
    def address(self):
        return self._sock.getsockname() if self._sock else self.url

    @property
    def connected(self) -> bool:
        return self.port.connected

    @property
    def counters(self) -> AisCounters:
        return self.decoder.counters

    def read_bytes(self) -> bytes:
        data = self.port.read()        # UDP: a datagram without its line end does not run into the next
        if self.port.reconnects != self._conn:
            self._conn = self.port.reconnects
            self.decoder._buf = b""        # half a sentence from before the unplug is not glued to the new stream
        return data

    def poll(self, now: float) -> list[ContactReport]:
        return self.decoder.feed(self.read_bytes(), now)

    def fileno(self) -> int | None:
        """What to wait on for new bytes (None while a serial port is closed)."""
        return self.port.fileno()

    def summary(self) -> str:
        """The counters an operator reads at the end of a run: ``AIS
        sentences N, bad checksum N, malformed N, contacts N`` (position
        and static-data reports given to the core), then what else was not
        used, by reason."""
        c = self.decoder.counters
        out = (f"AIS sentences {c.sentences}, bad checksum {c.bad_checksum}, malformed {c.malformed}, "
               f"contacts {c.reports}, own ship {c.own_ship}")
        rest = [(k, getattr(c, k)) for k in ("fragments_dropped", "decode_errors", "invalid_position", "unsupported")]
        rest = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in rest if v)
        return out + (f", not used: {rest}" if rest else "")

    def close(self) -> None:
        self.port.close()
