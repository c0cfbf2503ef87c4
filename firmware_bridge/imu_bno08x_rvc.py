"""CEVA (Hillcrest) BNO080/BNO085/BNO086 IMU in UART-RVC mode: the frame
decoder, the conversion of frames to ``ImuSample``, a driver and a device
emulator.

UART-RVC ("robot vacuum cleaner") is the BNO08x's simplest host interface,
selected by strapping PS1 low and PS0 high: the sensor needs no
configuration and streams its own fused orientation and its accelerometer at
100 Hz, 115200 baud 8N1, on its TX pin only.  Frame (19 bytes,
little-endian; BNO080 datasheet 1000-3927, section 1.3.5):

    0..1   0xAA 0xAA           header
    2      u8  index           +1 per frame, wraps at 256
    3..4   i16 yaw             [0.01 deg], +/-180, rotation about Z since reset
    5..6   i16 pitch           [0.01 deg], +/-90, about Y
    7..8   i16 roll            [0.01 deg], +/-180, about X
    9..14  3 x i16 accel x/y/z [mg] (specific force: gravity included)
    15..17 3 reserved bytes    zero on the BNO080 (later firmware: motion
                               intent and motion request)
    18     u8  checksum        sum of bytes 2..17, modulo 256

After reset the sensor also prints a few text lines ("%Hillcrest Labs ...");
they are skipped as garbage.

RVC gives orientation, not angular rate.  ``RvcImu`` derives the rates the
EKF integrates from consecutive frames: gyro_z = the change of yaw over the
time between the two frames' stamps (so the integrated heading is the
device's own yaw change, whatever the host's stamping jitter), gyro_x/y the
changes of roll and pitch (the Euler rates: the body rates for a vehicle
that stays close to level, which the planar EKF assumes anyway).  Samples
are stamped on the sensor's frame clock (index x 10 ms), kept on the host's
clock by a slow correction, so a batch of frames read at once gets spread
over the time it took to send them.  A gap of more than ``max_gap_s``
(missed frames counted by the index, or the port silent that long) restarts
the differencing: no rate is made up across it.

Axes: the sensor's X/Y/Z as printed on the part (right-handed).  Mount it
with Z up; ``mount_yaw`` [rad, CCW] is the sensor's X axis relative to the
vehicle's forward axis, and rotates accel and rates x/y into the vehicle
frame (x forward, y left, z up).
"""
from __future__ import annotations

import math
import struct
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from edgepilot.vehicle.estimation.measurements import ImuSample

from .serial_driver import HeaderSyncDecoder, SerialDriver
from .serial_port import SerialPort

HEADER = b"\xaa\xaa"
FRAME_LEN = 19
BAUDRATE = 115200
RATE_HZ = 100.0
MG = 9.80665e-3                # m/s^2 per mg
_BODY = struct.Struct("<B3h3h3B")    # index, yaw, pitch, roll, ax, ay, az, 3 reserved
_LIMITS = (18000, 9000, 18000)       # |yaw|, |pitch|, |roll| in 0.01 deg


def checksum(body: bytes) -> int:
    """The RVC checksum of bytes 2..17 of a frame."""
    return sum(body) & 0xFF


@dataclass(frozen=True)
class RvcFrame:
    index: int
    yaw_deg: float
    pitch_deg: float
    roll_deg: float
    accel_x: float             # [m/s^2], sensor axes
    accel_y: float
    accel_z: float
    reserved: tuple[int, int, int] = (0, 0, 0)


def encode_frame(f: RvcFrame) -> bytes:
    def c(v, lim):
        return max(-lim, min(lim, int(round(v))))

    body = _BODY.pack(f.index & 0xFF, c(f.yaw_deg * 100, 18000), c(f.pitch_deg * 100, 9000),
                      c(f.roll_deg * 100, 18000), c(f.accel_x / MG, 32767), c(f.accel_y / MG, 32767),
                      c(f.accel_z / MG, 32767), *f.reserved)
    return HEADER + body + bytes((checksum(body),))


@dataclass
class RvcStats:
    frames_ok: int = 0
    checksum: int = 0          # header found, checksum wrong
    out_of_range: int = 0      # checksum right but an angle beyond its range: a false header
    skipped_bytes: int = 0     # bytes discarded while hunting for a header (start-up text, noise)
    missed: int = 0            # frames the index says never arrived
    gaps: int = 0              # times the rate differencing restarted after a gap
    samples: int = 0

    @property
    def dropped(self) -> int:
        return self.checksum + self.out_of_range


class RvcDecoder(HeaderSyncDecoder[RvcFrame]):
    """Bytes in (any chunking), frames out.  Resynchronises on the 0xAA 0xAA
    header; a header whose frame fails its checksum or range check costs one
    byte of skipping, so a real frame behind a false header (0xAA 0xAA 0xAA,
    or 0xAA bytes inside data) is still found."""

    header = HEADER
    frame_len = FRAME_LEN

    def __init__(self, stats: RvcStats | None = None):
        super().__init__()
        self.stats = stats or RvcStats()

    def _parse(self, buf: bytearray, j: int) -> tuple[RvcFrame | None, int]:
        st = self.stats
        body = bytes(buf[j + 2:j + 18])
        if checksum(body) != buf[j + 18]:
            st.checksum += 1
            st.skipped_bytes += 1
            return None, j + 1
        idx, yaw, pitch, roll, ax, ay, az, r0, r1, r2 = _BODY.unpack(body)
        if abs(yaw) > _LIMITS[0] or abs(pitch) > _LIMITS[1] or abs(roll) > _LIMITS[2]:
            st.out_of_range += 1
            st.skipped_bytes += 1
            return None, j + 1
        st.frames_ok += 1
        return (RvcFrame(idx, yaw / 100.0, pitch / 100.0, roll / 100.0, ax * MG, ay * MG, az * MG,
                         (r0, r1, r2)), j + FRAME_LEN)


def _wrap_deg(a: float) -> float:
    return (a + 180.0) % 360.0 - 180.0


class RvcImu:
    """Frames in, ``ImuSample`` out (vehicle frame), see the module
    docstring.  ``now`` is the host time the frames' bytes were read."""

    def __init__(self, mount_yaw: float = 0.0, rate_hz: float = RATE_HZ, max_gap_s: float = 0.1,
                 stats: RvcStats | None = None, clock_gain: float = 0.02):
        if not (math.isfinite(mount_yaw)):
            raise ValueError(f"mount_yaw must be finite [rad], got {mount_yaw!r}")
        if not (rate_hz > 0 and math.isfinite(rate_hz)):
            raise ValueError(f"rate_hz must be > 0, got {rate_hz!r}")
        self.period = 1.0 / rate_hz
        if not (max_gap_s >= self.period):
            raise ValueError(f"max_gap_s must be at least one frame period ({self.period} s), got {max_gap_s!r}")
        self.max_gap = float(max_gap_s)
        self.cm, self.sm = math.cos(mount_yaw), math.sin(mount_yaw)
        self.stats = stats or RvcStats()
        self.gain = clock_gain
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame (after a reconnect)."""
        self._prev: RvcFrame | None = None
        self._t: float | None = None
        self._host_prev = -math.inf

    def convert(self, frames: list[RvcFrame], now: float) -> list[ImuSample]:
        out = []
        if not frames:
            return out
        # sensor-clock offsets of each frame from the newest one (frame periods)
        steps = [0] * len(frames)
        for k in range(len(frames) - 2, -1, -1):
            d = (frames[k + 1].index - frames[k].index) % 256
            steps[k] = steps[k + 1] + (d if d else 1)
        silent = now - self._host_prev > self.max_gap + steps[0] * self.period
        self._host_prev = now
        for f, back in zip(frames, steps):
            host_t = now - back * self.period
            prev = self._prev
            self._prev = f
            d = 0 if prev is None else (f.index - prev.index) % 256
            if prev is None or silent or d == 0 or d * self.period > self.max_gap:
                if prev is not None:
                    self.stats.gaps += 1
                self._t = host_t
                silent = False
                continue
            self.stats.missed += d - 1
            pred = self._t + d * self.period
            # follow the host clock slowly; never let a step shrink below half its nominal length
            t = max(pred + self.gain * (host_t - pred), self._t + 0.5 * d * self.period)
            if abs(host_t - t) > self.max_gap:          # far off (a stall, a clock jump): take the host's
                t = max(host_t, self._t + 0.5 * d * self.period)
            dt = t - self._t
            self._t = t
            rz = math.radians(_wrap_deg(f.yaw_deg - prev.yaw_deg)) / dt
            ry = math.radians(f.pitch_deg - prev.pitch_deg) / dt
            rx = math.radians(_wrap_deg(f.roll_deg - prev.roll_deg)) / dt
            ax = 0.5 * (f.accel_x + prev.accel_x)
            ay = 0.5 * (f.accel_y + prev.accel_y)
            az = 0.5 * (f.accel_z + prev.accel_z)
            cm, sm = self.cm, self.sm
            out.append(ImuSample(t, cm * rx - sm * ry, sm * rx + cm * ry, rz, cm * ax - sm * ay, sm * ax + cm * ay,
                                 az))
            self.stats.samples += 1
        return out


def samples_array(samples: list[ImuSample]) -> np.ndarray:
    """(n, 7) float64 rows (t, gyro xyz, accel xyz): what
    ``NavEkf.predict_imu_batch`` takes."""
    a = np.empty((len(samples), 7))
    for i, s in enumerate(samples):
        a[i] = (s.t, s.gyro_x, s.gyro_y, s.gyro_z, s.accel_x, s.accel_y, s.accel_z)
    return a


class Bno08xRvcDriver(SerialDriver[ImuSample]):
    """The IMU on a serial port; ``poll(now)`` returns the samples completed
    since the last call (vehicle frame)."""

    def __init__(self, url: str, baudrate: int = BAUDRATE, mount_yaw: float = 0.0, max_gap_s: float = 0.1,
                 on_event: Callable[[str], None] | None = None, wall: Callable[[], float] = time.monotonic):
        super().__init__(SerialPort(url, baudrate, "imu", on_event=on_event, wall=wall))
        self.stats = RvcStats()
        self.decoder = RvcDecoder(self.stats)
        self.imu = RvcImu(mount_yaw, max_gap_s=max_gap_s, stats=self.stats)

    @property
    def last_frame(self) -> RvcFrame | None:
        return self.imu._prev

    def _reset_decoder(self) -> None:
        self.decoder.reset()
        self.imu.reset()

    def _decode(self, data: bytes, now: float) -> list[ImuSample]:
        return self.imu.convert(self.decoder.feed(data), now)


class Bno08xRvcEmulator:
    """The sensor end: ``motion(t)`` gives (yaw, pitch, roll [deg], accel
    x/y/z [m/s^2], sensor axes) at sensor time t [s]; ``tick(now)`` returns
    the frames due by ``now`` (at most ``max_burst`` after a stall, as the
    sensor's UART would have dropped the rest).  ``banner`` is the text the
    BNO080 prints after reset, sent before the first frame."""

    BANNER = b"%Hillcrest Labs 10003608\r\n%SW Ver 3.2.x\r\n%(c) 2017 Hillcrest Laboratories, Inc.\r\n"

    def __init__(self, motion: Callable[[float], tuple[float, float, float, float, float, float]],
                 rate_hz: float = RATE_HZ, banner: bool = True, first_index: int = 0, max_burst: int = 10):
        self.motion = motion
        self.rate_hz = rate_hz
        self.index0 = first_index
        self.max_burst = max_burst
        self._k = 0
        self._banner = banner

    def frame(self, k: int) -> bytes:
        y, p, r, ax, ay, az = self.motion(k / self.rate_hz)
        return encode_frame(RvcFrame((self.index0 + k) & 0xFF, _wrap_deg(y), p, _wrap_deg(r), ax, ay, az))

    def tick(self, now: float) -> bytes:
        due = int(now * self.rate_hz) + 1
        if due - self._k > self.max_burst:
            self._k = due - self.max_burst
        out = b"".join(self.frame(k) for k in range(self._k, due))
        self._k = max(self._k, due)
        if self._banner and out:
            out = self.BANNER + out
            self._banner = False
        return out
