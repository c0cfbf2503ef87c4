"""NMEA 0183 GPS receiver driver: sentences over serial or UDP into ``GpsFix``.

Sentences used (talker ID any: GP, GN, GL, GA, BD):
- GGA: position, fix quality, satellites, HDOP — **completes an epoch** and
  produces a fix;
- RMC or VTG: speed and course over ground, giving velocity east/north;
- GST (optional): 1-sigma latitude/longitude error [m], used as the fix's
  horizontal accuracy; without it accuracy is HDOP x a per-fix-quality UERE.

Velocity and GST are taken from the same epoch as the GGA (same UTC time; VTG
has no time field and belongs to the epoch of the last timed sentence).  If
the receiver sends GGA before RMC, the velocity is the previous epoch's.

Every sentence must carry a valid ``*hh`` checksum (XOR of the characters
between ``$`` and ``*``).  Bad input never raises: lines that are too long,
lack ``$``, fail the checksum or do not parse are dropped and counted, and
the reader resynchronises at the next ``$``.

Sources: a pyserial URL (``/dev/ttyUSB0``, a pty path) at ``baudrate``, or
``udp://HOST:PORT`` to listen for NMEA datagrams (port 10110 is the
customary NMEA-over-IP port).
"""
from __future__ import annotations

import logging
import math
import socket
import time
from dataclasses import dataclass
from typing import Callable

import pynmea2

from edgepilot.vehicle.types import GpsFix

from .serial_driver import SerialDriver
from .serial_port import SerialPort

log = logging.getLogger(__name__)

KNOT = 1852.0 / 3600.0           # [m/s]
#: NMEA 0183 allows 82 characters including $ and CR LF; some receivers
#: exceed it with high-precision fields, so accept up to this many.
MAX_LINE = 160
#: GGA fix quality -> (MAVLink GPS_FIX_TYPE, user range error [m] per unit HDOP).
GGA_QUALITY = {
    0: (0, 99.0),    # invalid
    1: (3, 2.5),     # GPS SPS
    2: (4, 1.0),     # DGPS / SBAS
    3: (3, 2.5),     # PPS
    4: (6, 0.02),    # RTK fixed
    5: (5, 0.3),     # RTK float
    6: (2, 10.0),    # dead reckoning
    7: (0, 99.0),    # manual input
    8: (0, 99.0),    # simulator
}


def nmea_checksum(body: str) -> int:
    """XOR of the characters between ``$`` and ``*``."""
    c = 0
    for ch in body.encode("ascii", "replace"):
        c ^= ch
    return c


def with_checksum(body: str) -> bytes:
    """``$BODY*HH\\r\\n`` as bytes."""
    return f"${body}*{nmea_checksum(body):02X}\r\n".encode("ascii")


@dataclass
class NmeaStats:
    sentences_ok: int = 0
    checksum: int = 0        # missing or wrong *hh
    parse: int = 0           # checksum fine but fields do not parse
    oversize: int = 0        # line longer than MAX_LINE
    no_start: int = 0        # text before a $ (noise)
    unsupported: int = 0     # valid sentences we do not use (GSV, GSA, ...)
    fixes: int = 0

    @property
    def dropped(self) -> int:
        return self.checksum + self.parse + self.oversize + self.no_start


class NmeaLineReader:
    """Bytes in, checksum-verified sentence strings out (without ``$``/``*hh``)."""

    def __init__(self, stats: NmeaStats):
        self.stats = stats
        self._buf = bytearray()
        self._skipping = False

    def reset(self) -> None:
        self._buf.clear()
        self._skipping = False

    def feed(self, data: bytes) -> list[str]:
        out = []
        for b in data:
            if b == 0x24:                               # '$' always starts a new sentence
                if self._buf and not self._skipping:
                    self.stats.checksum += 1            # an unterminated sentence was cut short
                self._buf = bytearray(b"$")
                self._skipping = False
            elif b in (0x0A, 0x0D):
                if self._buf and not self._skipping:
                    s = self._finish(bytes(self._buf))
                    if s is not None:
                        out.append(s)
                elif self._skipping:
                    pass
                self._buf.clear()
                self._skipping = False
            elif self._skipping:
                continue
            elif not self._buf:
                self.stats.no_start += 1
                self._skipping = True
            else:
                self._buf.append(b)
                if len(self._buf) > MAX_LINE:
                    self.stats.oversize += 1
                    self._buf.clear()
                    self._skipping = True
        return out

    def _finish(self, line: bytes) -> str | None:
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError:
            self.stats.checksum += 1
            return None
        star = text.rfind("*")
        if star < 0 or len(text) - star != 3:
            self.stats.checksum += 1
            return None
        body = text[1:star]
        try:
            want = int(text[star + 1:], 16)
        except ValueError:
            self.stats.checksum += 1
            return None
        if nmea_checksum(body) != want:
            self.stats.checksum += 1
            return None
        return body


class NmeaGpsParser:
    """Sentences in, ``GpsFix`` out; ``feed(data, now)`` stamps fixes with
    ``now`` (the host's clock when the GGA completing the epoch arrived)."""

    def __init__(self):
        self.stats = NmeaStats()
        self.reader = NmeaLineReader(self.stats)
        self._epoch = None          # UTC time of the last timed sentence
        self._vel: tuple[float, float] | None = None
        self._vel_epoch = None
        self._gst: float | None = None
        self._gst_epoch = None

    def reset(self) -> None:
        self.reader.reset()

    def feed(self, data: bytes, now: float) -> list[GpsFix]:
        fixes = []
        for body in self.reader.feed(data):
            try:
                msg = pynmea2.parse(f"${body}", check=False)
                fix = self._handle(msg, now)
            except (pynmea2.ParseError, ValueError, TypeError, AttributeError, IndexError):
                self.stats.parse += 1
                continue
            self.stats.sentences_ok += 1
            if fix is not None:
                self.stats.fixes += 1
                fixes.append(fix)
        return fixes

    @staticmethod
    def _velocity(speed_m_s: float, course_deg: float | None) -> tuple[float, float]:
        if course_deg is None or not math.isfinite(course_deg):
            return (0.0, 0.0)
        c = math.radians(course_deg)
        return (speed_m_s * math.sin(c), speed_m_s * math.cos(c))

    @staticmethod
    def _f(v) -> float | None:
        if v is None or v == "":
            return None
        return float(v)

    def _handle(self, msg, now: float) -> GpsFix | None:
        kind = msg.sentence_type
        if kind == "RMC":
            self._epoch = msg.data[0]
            if msg.status != "A":
                self._vel = None
                return None
            spd = self._f(msg.spd_over_grnd)
            if spd is None:
                return None
            self._vel = self._velocity(spd * KNOT, self._f(msg.true_course))
            self._vel_epoch = self._epoch
            return None
        if kind == "VTG":
            kmh = self._f(msg.spd_over_grnd_kmph)
            kn = self._f(msg.spd_over_grnd_kts)
            spd = kmh / 3.6 if kmh is not None else (kn * KNOT if kn is not None else None)
            if spd is None:
                return None
            self._vel = self._velocity(spd, self._f(msg.true_track))
            self._vel_epoch = self._epoch
            return None
        if kind == "GST":
            self._epoch = msg.data[0]
            slat, slon = self._f(msg.std_dev_latitude), self._f(msg.std_dev_longitude)
            if slat is not None and slon is not None:
                self._gst = math.sqrt(0.5 * (slat * slat + slon * slon))
                self._gst_epoch = self._epoch
            return None
        if kind == "GGA":
            epoch = msg.data[0]
            self._epoch = epoch
            quality = int(msg.gps_qual or 0)
            fix_type, uere = GGA_QUALITY.get(quality, (0, 99.0))
            sats = int(msg.num_sats or 0)
            if fix_type == 0 or not msg.lat or not msg.lon:
                return GpsFix(now, 0.0, 0.0, 0, sats, 99.0)
            lat, lon = float(msg.latitude), float(msg.longitude)
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise ValueError(f"GGA position out of range: {lat}, {lon}")
            if self._gst is not None and self._gst_epoch == epoch:
                hacc = self._gst
            else:
                hdop = self._f(msg.horizontal_dil) or 99.0
                hacc = hdop * uere
            ve, vn = self._vel if self._vel is not None else (0.0, 0.0)
            return GpsFix(now, lat, lon, fix_type, sats, hacc, ve, vn)
        self.stats.unsupported += 1
        return None


class UdpSource:
    """NMEA datagrams on a UDP port (non-blocking): the GPS's, and the AIS
    receiver's (``ais.AisReceiver``)."""

    def __init__(self, host: str, port: int):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind((host, port))
        except OSError:
            self.sock.close()
            raise
        self.sock.setblocking(False)
        self.connected = True
        self.reconnects = 0

    @property
    def address(self) -> tuple[str, int]:
        return self.sock.getsockname()

    def read(self) -> bytes:
        chunks = []
        while True:
            try:
                data = self.sock.recv(65535)
            except (BlockingIOError, InterruptedError):
                break
            chunks.append(data if data.endswith(b"\n") else data + b"\r\n")
        return b"".join(chunks)

    def open(self) -> bool:
        return True           # bound at construction; datagrams need no connection

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()


def parse_udp_url(url: str) -> tuple[str, int]:
    rest = url[len("udp://"):]
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit() or not (0 <= int(port) <= 65535):
        raise ValueError(f"GPS source {url!r}: expected udp://HOST:PORT with PORT 0..65535")
    return host or "0.0.0.0", int(port)


class NmeaGpsDriver(SerialDriver[GpsFix]):
    """``source``: a pyserial URL or ``udp://HOST:PORT``.  ``poll(now)``
    returns the fixes completed since the last poll."""

    def __init__(self, source: str, baudrate: int = 9600, on_event: Callable[[str], None] | None = None,
                 wall: Callable[[], float] = time.monotonic):
        self.source = source
        self.parser = NmeaGpsParser()
        if source.startswith("udp://"):
            port = UdpSource(*parse_udp_url(source))
        else:
            port = SerialPort(source, baudrate, "gps", on_event=on_event, wall=wall)
        super().__init__(port)

    @property
    def stats(self) -> NmeaStats:
        return self.parser.stats

    @property
    def last_fix(self) -> GpsFix | None:
        return self.last

    def _reset_decoder(self) -> None:
        self.parser.reset()

    def _decode(self, data: bytes, now: float) -> list[GpsFix]:
        return self.parser.feed(data, now)


# -- the receiver side (the simulator's GPS in HIL, and tests) ---------------

def _lat_field(lat: float) -> tuple[str, str]:
    a = abs(lat)
    d = int(a)
    m = (a - d) * 60.0
    return f"{d:02d}{m:010.7f}", ("N" if lat >= 0 else "S")


def _lon_field(lon: float) -> tuple[str, str]:
    a = abs(lon)
    d = int(a)
    m = (a - d) * 60.0
    return f"{d:03d}{m:010.7f}", ("E" if lon >= 0 else "W")


def nmea_epoch(utc_s: float, lat: float, lon: float, vel_e: float, vel_n: float, fix_quality: int = 1,
               satellites: int = 12, hdop: float = 0.8, sigma_m: float | None = None, alt: float = 0.0,
               talker: str = "GN") -> bytes:
    """One receiver epoch as a u-blox-style burst: RMC, VTG, GST (if
    ``sigma_m``), GGA.  ``utc_s`` is seconds since midnight UTC; positions
    WGS84 degrees with 7 decimals of arc-minutes (~0.2 mm)."""
    utc_s %= 86400.0
    hh, rem = divmod(utc_s, 3600.0)
    mm, ss = divmod(rem, 60.0)
    t = f"{int(hh):02d}{int(mm):02d}{ss:05.2f}"
    la, ns = _lat_field(lat)
    lo, ew = _lon_field(lon)
    spd = math.hypot(vel_e, vel_n)
    course = math.degrees(math.atan2(vel_e, vel_n)) % 360.0
    kn = spd / KNOT
    valid = fix_quality > 0
    out = [
        f"{talker}RMC,{t},{'A' if valid else 'V'},{la},{ns},{lo},{ew},{kn:.3f},{course:.2f},010125,,,"
        f"{'D' if fix_quality == 2 else ('A' if valid else 'N')}",
        f"{talker}VTG,{course:.2f},T,,M,{kn:.3f},N,{spd * 3.6:.3f},K,{'A' if valid else 'N'}",
    ]
    if sigma_m is not None:
        out.append(f"{talker}GST,{t},{sigma_m:.3f},{sigma_m:.3f},{sigma_m:.3f},0.0,{sigma_m:.3f},{sigma_m:.3f},"
                   f"{2 * sigma_m:.3f}")
    out.append(f"{talker}GGA,{t},{la},{ns},{lo},{ew},{fix_quality},{satellites:02d},{hdop:.2f},{alt:.2f},M,"
               f"47.0,M,,")
    return b"".join(with_checksum(s) for s in out)
