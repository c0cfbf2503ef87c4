"""LDROBOT LD06 / LD19 2-D lidar: the serial packet decoder, the assembly of
packets into ``LaserScan`` rotations, a driver, and a device emulator.

Packet (47 bytes, little-endian, 230400 baud 8N1, sent continuously):

    0      0x54                header
    1      0x2C                version/length: type 1, 12 points
    2..3   u16 speed           rotation speed [deg/s]
    4..5   u16 start_angle     [0.01 deg]
    6..41  12 x (u16 distance [mm], u8 intensity)
    42..43 u16 end_angle       [0.01 deg]
    44..45 u16 timestamp       [ms], wraps at 30000
    46     u8  crc8            CRC-8 over bytes 0..45, polynomial 0x4D,
                               initial value 0, not reflected, no final XOR

Point i of a packet lies at start + i * (end - start) / 11 (modulo 360 deg).
The LD06's angles grow **clockwise** seen from above, zero at the sensor's
front; ``ScanAssembler`` turns them into the vehicle frame's counter-clockwise
angles (x forward, y left) using ``mount_yaw`` (sensor front relative to the
vehicle's forward axis, CCW positive).  A distance of 0 means no return.
"""
from __future__ import annotations

import math
import struct
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from edgepilot.vehicle.types import LaserScan

from .serial_driver import HeaderSyncDecoder, SerialDriver
from .serial_port import SerialPort

HEADER = 0x54
VER_LEN = 0x2C
PACKET_LEN = 47
POINTS_PER_PACKET = 12
BAUDRATE = 230400
TIMESTAMP_WRAP_MS = 30000
CRC_POLY = 0x4D
_PKT = struct.Struct("<BBHH" + "HB" * POINTS_PER_PACKET + "HHB")


def _crc_table() -> tuple[int, ...]:
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = ((c << 1) ^ CRC_POLY) & 0xFF if c & 0x80 else (c << 1) & 0xFF
        t.append(c)
    return tuple(t)


CRC_TABLE = _crc_table()


def crc8(data: bytes) -> int:
    c = 0
    t = CRC_TABLE
    for b in data:
        c = t[(c ^ b) & 0xFF]
    return c


@dataclass(frozen=True)
class Ld06Packet:
    speed_deg_s: int
    start_angle: int           # 0.01 deg
    end_angle: int             # 0.01 deg
    distances_mm: tuple[int, ...]
    intensities: tuple[int, ...]
    timestamp_ms: int

    def angles_deg(self) -> np.ndarray:
        """Angle of each point [deg], clockwise from the sensor front, in [0, 360)."""
        span = (self.end_angle - self.start_angle) % 36000
        step = span / (POINTS_PER_PACKET - 1)
        return ((self.start_angle + step * np.arange(POINTS_PER_PACKET)) % 36000) / 100.0


def encode_packet(p: Ld06Packet) -> bytes:
    if len(p.distances_mm) != POINTS_PER_PACKET or len(p.intensities) != POINTS_PER_PACKET:
        raise ValueError(f"Ld06Packet: expected {POINTS_PER_PACKET} distances and intensities")
    pts = []
    for d, i in zip(p.distances_mm, p.intensities):
        pts += (max(0, min(65535, int(d))), max(0, min(255, int(i))))
    body = _PKT.pack(HEADER, VER_LEN, p.speed_deg_s & 0xFFFF, p.start_angle % 36000, *pts,
                     p.end_angle % 36000, p.timestamp_ms % TIMESTAMP_WRAP_MS, 0)[:-1]
    return body + bytes((crc8(body),))


@dataclass
class Ld06Stats:
    packets_ok: int = 0
    crc: int = 0               # header found but CRC mismatch
    bad_angle: int = 0         # start/end angle >= 360 deg
    skipped_bytes: int = 0     # bytes discarded while hunting for a header
    scans: int = 0

    @property
    def dropped(self) -> int:
        return self.crc + self.bad_angle


class Ld06Decoder(HeaderSyncDecoder[Ld06Packet]):
    """Bytes in (any chunking), packets out.  Resynchronises by scanning for
    the 0x54 0x2C header; a header whose packet fails its CRC costs one byte
    of skipping, so a real packet hiding behind a false header is still found."""

    header = b"\x54\x2c"
    frame_len = PACKET_LEN

    def __init__(self):
        super().__init__()
        self.stats = Ld06Stats()

    def _parse(self, buf: bytearray, j: int) -> tuple[Ld06Packet | None, int]:
        st = self.stats
        pkt = bytes(buf[j:j + PACKET_LEN])
        if crc8(pkt[:-1]) != pkt[-1]:
            st.crc += 1
            st.skipped_bytes += 1
            return None, j + 1
        v = _PKT.unpack(pkt)
        start, end = v[3], v[4 + 2 * POINTS_PER_PACKET]
        if start >= 36000 or end >= 36000:
            st.bad_angle += 1
            return None, j + PACKET_LEN
        st.packets_ok += 1
        return (Ld06Packet(v[2], start, end, tuple(v[4:4 + 2 * POINTS_PER_PACKET:2]),
                           tuple(v[5:5 + 2 * POINTS_PER_PACKET:2]), v[-2]), j + PACKET_LEN)


class ScanAssembler:
    """Packets in, one ``LaserScan`` per rotation out (in the vehicle frame).

    The scan has ``beams`` bins over ``fov_deg`` centred on the vehicle's
    forward axis (angle_min = -fov/2); each bin holds the nearest return that
    fell in it, NaN if none.  A rotation ends when a packet starts at a
    smaller angle than the previous one (the sensor passed its zero)."""

    def __init__(self, beams: int = 360, fov_deg: float = 360.0, max_range: float = 12.0,
                 min_range: float = 0.02, mount_yaw: float = 0.0, clockwise: bool = True):
        if beams <= 0:
            raise ValueError(f"beams: expected a positive count, got {beams}")
        if not (0 < fov_deg <= 360):
            raise ValueError(f"fov_deg: expected 0 < fov <= 360, got {fov_deg}")
        self.beams = int(beams)
        self.fov = math.radians(fov_deg)
        self.angle_min = -0.5 * self.fov
        self.inc = self.fov / self.beams
        self.max_range = float(max_range)
        self.min_range = float(min_range)
        self.mount_yaw = float(mount_yaw)
        self.sign = -1.0 if clockwise else 1.0
        self._ranges = np.full(self.beams, np.inf, dtype=np.float32)
        self._last_start = -1
        self._points = 0

    def add(self, p: Ld06Packet, now: float) -> LaserScan | None:
        out = None
        if self._last_start >= 0 and p.start_angle < self._last_start and self._points:
            out = self._emit(now)
        self._last_start = p.start_angle
        ang = self.mount_yaw + self.sign * np.radians(p.angles_deg())
        d = np.asarray(p.distances_mm, dtype=np.float64) / 1000.0
        ok = (d >= self.min_range) & (d <= self.max_range)
        rel = (ang - self.angle_min) % (2 * math.pi)
        idx = np.floor(rel / self.inc).astype(np.int64)
        ok &= idx < self.beams
        if ok.any():
            np.minimum.at(self._ranges, idx[ok], d[ok].astype(np.float32))
        self._points += POINTS_PER_PACKET
        return out

    def _emit(self, now: float) -> LaserScan:
        r = self._ranges
        r[~np.isfinite(r)] = np.nan
        scan = LaserScan(t=now, angle_min=self.angle_min, angle_increment=self.inc, max_range=self.max_range,
                         ranges=r)
        self._ranges = np.full(self.beams, np.inf, dtype=np.float32)
        self._points = 0
        return scan


class Ld06Driver(SerialDriver[LaserScan]):
    """The lidar on a serial port; ``poll(now)`` returns completed scans."""

    def __init__(self, url: str, baudrate: int = BAUDRATE, assembler: ScanAssembler | None = None,
                 on_event: Callable[[str], None] | None = None, wall: Callable[[], float] = time.monotonic):
        super().__init__(SerialPort(url, baudrate, "lidar", on_event=on_event, wall=wall))
        self.decoder = Ld06Decoder()
        self.assembler = assembler or ScanAssembler()

    @property
    def stats(self) -> Ld06Stats:
        return self.decoder.stats

    @property
    def last_scan(self) -> LaserScan | None:
        return self.last

    def _reset_decoder(self) -> None:
        self.decoder.reset()

    def _decode(self, data: bytes, now: float) -> list[LaserScan]:
        scans = []
        for p in self.decoder.feed(data):
            s = self.assembler.add(p, now)
            if s is not None:
                scans.append(s)
                self.decoder.stats.scans += 1
        return scans


class Ld06Emulator:
    """The sensor end: spins at ``rate_hz`` and sends ``points_per_rev``
    points per rotation in 12-point packets, each at the time it is due.
    ``ranges`` maps sensor angles (radians, clockwise from the sensor front)
    to distances [m] (inf/NaN = no return)."""

    def __init__(self, ranges: Callable[[np.ndarray], np.ndarray], rate_hz: float = 10.0,
                 points_per_rev: int = 456, intensity: int = 200):
        if points_per_rev % POINTS_PER_PACKET:
            raise ValueError(f"points_per_rev: expected a multiple of {POINTS_PER_PACKET}, got {points_per_rev}")
        self.ranges = ranges
        self.rate_hz = rate_hz
        self.packets_per_rev = points_per_rev // POINTS_PER_PACKET
        self.step_deg = 360.0 / points_per_rev
        self.intensity = intensity
        self._k = 0                 # packets sent since start

    def packet(self, k: int, now: float) -> bytes:
        j = k % self.packets_per_rev
        start = j * POINTS_PER_PACKET * self.step_deg
        ang = start + self.step_deg * np.arange(POINTS_PER_PACKET)
        r = np.asarray(self.ranges(np.radians(ang)), dtype=np.float64)
        mm = np.where(np.isfinite(r) & (r > 0), np.round(r * 1000.0), 0).astype(np.int64)
        inten = np.where(mm > 0, self.intensity, 0)
        return encode_packet(Ld06Packet(int(round(360 * self.rate_hz)), int(round(start * 100)) % 36000,
                                        int(round(ang[-1] * 100)) % 36000, tuple(int(v) for v in mm),
                                        tuple(int(v) for v in inten), int(now * 1000) % TIMESTAMP_WRAP_MS))

    def tick(self, now: float) -> bytes:
        """All packets due by ``now`` [s since the emulator started]."""
        due = int(now * self.rate_hz * self.packets_per_rev) + 1
        # After a long stall send at most one rotation, as a real sensor's
        # UART would have dropped the rest.
        if due - self._k > self.packets_per_rev:
            self._k = due - self.packets_per_rev
        out = b"".join(self.packet(k, now) for k in range(self._k, due))
        self._k = max(self._k, due)
        return out


def scan_lookup(scan: LaserScan, mount_yaw: float = 0.0) -> Callable[[np.ndarray], np.ndarray]:
    """A ``ranges`` function for :class:`Ld06Emulator` reading a vehicle-frame
    ``LaserScan`` (nearest beam; angles outside its field of view: no return)."""
    r = np.asarray(scan.ranges, dtype=np.float64)
    n = len(r)

    def f(sensor_cw: np.ndarray) -> np.ndarray:
        a = mount_yaw - sensor_cw
        rel = (a - scan.angle_min) % (2 * math.pi)
        idx = np.floor(rel / scan.angle_increment + 0.5).astype(np.int64)
        idx = np.where(idx == n, 0 if abs(n * scan.angle_increment - 2 * math.pi) < 1e-6 else n, idx)
        out = np.full(len(sensor_cw), np.inf)
        ok = idx < n
        out[ok] = r[idx[ok]]
        return out

    return f
