"""The serial motor-controller protocol: messages and framing.

Byte-level specification: ``docs/motor_protocol.md``.  In short:

    wire frame  = COBS(body) 0x00
    body        = msg_id:u8  seq:u8  payload  crc:u16le
    crc         = CRC-16/CCITT-FALSE over msg_id, seq and payload

All multi-byte fields are little-endian.  Each message id has one fixed
payload length; a frame whose length does not match is rejected.  ``seq``
counts frames per sender modulo 256, so the receiver can count lost frames.
Host-to-device ids are below 0x80, device-to-host ids have bit 7 set.
"""
from __future__ import annotations

import enum
import math
import struct
from dataclasses import dataclass

from .cobs import CobsError, cobs_decode, cobs_encode
from .crc import crc16

DELIMITER = 0x00
#: Largest decoded body (id + seq + payload + crc) of any message.
MAX_BODY = 64
#: Largest encoded frame without the delimiter (COBS adds one byte per 254).
MAX_ENCODED = MAX_BODY + 2

#: Setpoints are signed per-mille of full command: -1000 .. 1000.
SETPOINT_SCALE = 1000


class MsgId(enum.IntEnum):
    SETPOINT = 0x01      # host -> device: wheel / thruster setpoints
    ESTOP = 0x02         # host -> device: engage or release the emergency stop
    HEARTBEAT = 0x03     # host -> device: host alive (does not feed the command watchdog)
    CONFIG = 0x04        # host -> device: command timeout and telemetry period
    TELEMETRY = 0x81     # device -> host: encoders, wheel speeds, battery, state, faults
    IMU = 0x82           # device -> host: heading, yaw rate, acceleration


class Fault(enum.IntFlag):
    """Fault flags in TELEMETRY.faults (u16)."""

    COMMAND_TIMEOUT = 1 << 0   # no SETPOINT within the command timeout: motors stopped
    ESTOP = 1 << 1             # emergency stop engaged (latched until ESTOP release)
    OVERCURRENT = 1 << 2
    UNDERVOLTAGE = 1 << 3
    MOTOR_LEFT = 1 << 4        # left driver fault (or port thruster)
    MOTOR_RIGHT = 1 << 5
    IMU = 1 << 6               # IMU not responding or not calibrated
    ENCODER = 1 << 7
    OVERTEMP = 1 << 8
    WATCHDOG_RESET = 1 << 9    # device rebooted by its own watchdog since power-up


class DeviceState(enum.IntEnum):
    IDLE = 0       # no command yet, or command timeout: motors stopped
    RUNNING = 1    # following setpoints
    ESTOP = 2      # emergency stop latched


@dataclass(frozen=True)
class Setpoint:
    """Normalised left/right command in [-1, 1] (wheel speed for a UGV,
    thrust for a twin-thruster boat)."""

    left: float
    right: float


@dataclass(frozen=True)
class Estop:
    engage: bool


@dataclass(frozen=True)
class Heartbeat:
    host_time_ms: int   # u32, host's monotonic clock in ms, wraps


@dataclass(frozen=True)
class DeviceConfig:
    command_timeout_ms: int     # u16, 1 .. 65535; motors stop after this long without SETPOINT
    telemetry_period_ms: int    # u16, 1 .. 65535; period of TELEMETRY and IMU


@dataclass(frozen=True)
class Telemetry:
    device_time_ms: int         # u32, device clock, wraps
    enc_left: int               # i32 encoder ticks, wraps
    enc_right: int
    speed_left: float           # wheel rim speed [m/s] (on the wire: i16 mm/s)
    speed_right: float
    battery_v: float            # [V] (u16 mV)
    battery_a: float            # [A], positive discharging (i16 10 mA)
    battery_remaining: float | None   # 0..1 (u8 percent, 255 = unknown)
    state: DeviceState
    faults: Fault
    rx_good: int                # u16 frames the device accepted, wraps
    rx_bad: int                 # u16 frames the device dropped, wraps


@dataclass(frozen=True)
class Imu:
    device_time_ms: int         # u32
    heading: float              # compass heading [rad], clockwise from north, [0, 2pi)  (u16 0.01 deg)
    yaw_rate: float             # [rad/s] about the up axis, positive counter-clockwise (i16 mrad/s)
    accel_x: float              # body forward [m/s^2] (i16 mm/s^2)
    accel_y: float              # body left [m/s^2]
    accel_z: float              # body up [m/s^2]


Message = Setpoint | Estop | Heartbeat | DeviceConfig | Telemetry | Imu

_FMT = {
    MsgId.SETPOINT: struct.Struct("<hh"),
    MsgId.ESTOP: struct.Struct("<B"),
    MsgId.HEARTBEAT: struct.Struct("<I"),
    MsgId.CONFIG: struct.Struct("<HH"),
    MsgId.TELEMETRY: struct.Struct("<IiihhHhBBHHH"),
    MsgId.IMU: struct.Struct("<IHhhhh"),
}
#: Payload length of each message id [bytes].
PAYLOAD_LEN = {k: v.size for k, v in _FMT.items()}


class ProtocolError(ValueError):
    """A frame that decoded but is not a valid message; ``kind`` is the
    counter it belongs to: 'cobs', 'short', 'crc', 'unknown_id', 'length', 'value'."""

    def __init__(self, kind: str, msg: str):
        super().__init__(msg)
        self.kind = kind


def _clamp_i16(v: float) -> int:
    return max(-32768, min(32767, int(round(v))))


def _clamp_u16(v: float) -> int:
    return max(0, min(65535, int(round(v))))


def encode_payload(msg: Message) -> tuple[MsgId, bytes]:
    """The id and payload bytes of ``msg``; raises ValueError for values
    that cannot be represented (NaN setpoints, out-of-range config)."""
    if isinstance(msg, Setpoint):
        for name, v in (("left", msg.left), ("right", msg.right)):
            if not math.isfinite(v):
                raise ValueError(f"Setpoint.{name}: expected a finite number in [-1, 1], got {v!r}")
        lf = max(-1.0, min(1.0, msg.left))
        rt = max(-1.0, min(1.0, msg.right))
        return MsgId.SETPOINT, _FMT[MsgId.SETPOINT].pack(int(round(lf * SETPOINT_SCALE)),
                                                         int(round(rt * SETPOINT_SCALE)))
    if isinstance(msg, Estop):
        return MsgId.ESTOP, _FMT[MsgId.ESTOP].pack(1 if msg.engage else 0)
    if isinstance(msg, Heartbeat):
        return MsgId.HEARTBEAT, _FMT[MsgId.HEARTBEAT].pack(msg.host_time_ms & 0xFFFFFFFF)
    if isinstance(msg, DeviceConfig):
        for name in ("command_timeout_ms", "telemetry_period_ms"):
            v = getattr(msg, name)
            if not (1 <= v <= 65535):
                raise ValueError(f"DeviceConfig.{name}: expected 1..65535 ms, got {v!r}")
        return MsgId.CONFIG, _FMT[MsgId.CONFIG].pack(msg.command_timeout_ms, msg.telemetry_period_ms)
    if isinstance(msg, Telemetry):
        pct = 255 if msg.battery_remaining is None else max(0, min(100, int(round(100 * msg.battery_remaining))))
        return MsgId.TELEMETRY, _FMT[MsgId.TELEMETRY].pack(
            msg.device_time_ms & 0xFFFFFFFF,
            ((msg.enc_left + 2**31) % 2**32) - 2**31, ((msg.enc_right + 2**31) % 2**32) - 2**31,
            _clamp_i16(msg.speed_left * 1000), _clamp_i16(msg.speed_right * 1000),
            _clamp_u16(msg.battery_v * 1000), _clamp_i16(msg.battery_a * 100), pct,
            int(msg.state), int(msg.faults) & 0xFFFF, msg.rx_good & 0xFFFF, msg.rx_bad & 0xFFFF)
    if isinstance(msg, Imu):
        hdg = math.degrees(msg.heading) % 360.0
        return MsgId.IMU, _FMT[MsgId.IMU].pack(
            msg.device_time_ms & 0xFFFFFFFF, int(round(hdg * 100)) % 36000,
            _clamp_i16(msg.yaw_rate * 1000), _clamp_i16(msg.accel_x * 1000),
            _clamp_i16(msg.accel_y * 1000), _clamp_i16(msg.accel_z * 1000))
    raise TypeError(f"not a motor-protocol message: {type(msg).__name__}")


def decode_payload(msg_id: int, payload: bytes) -> Message:
    """Decode a payload whose id and length were already checked; raises
    ProtocolError('value') for field values outside their documented range."""
    vals = _FMT[MsgId(msg_id)].unpack(payload)
    if msg_id == MsgId.SETPOINT:
        l, r = vals
        if not (-SETPOINT_SCALE <= l <= SETPOINT_SCALE and -SETPOINT_SCALE <= r <= SETPOINT_SCALE):
            raise ProtocolError("value", f"SETPOINT outside -1000..1000: {l}, {r}")
        return Setpoint(l / SETPOINT_SCALE, r / SETPOINT_SCALE)
    if msg_id == MsgId.ESTOP:
        if vals[0] > 1:
            raise ProtocolError("value", f"ESTOP.engage must be 0 or 1, got {vals[0]}")
        return Estop(bool(vals[0]))
    if msg_id == MsgId.HEARTBEAT:
        return Heartbeat(vals[0])
    if msg_id == MsgId.CONFIG:
        if vals[0] == 0 or vals[1] == 0:
            raise ProtocolError("value", f"CONFIG periods must be >= 1 ms, got {vals}")
        return DeviceConfig(vals[0], vals[1])
    if msg_id == MsgId.TELEMETRY:
        t, el, er, sl, sr, mv, ca, pct, state, faults, good, bad = vals
        if pct > 100 and pct != 255:
            raise ProtocolError("value", f"TELEMETRY.battery_pct must be 0..100 or 255, got {pct}")
        if state > 2:
            raise ProtocolError("value", f"TELEMETRY.state must be 0..2, got {state}")
        return Telemetry(t, el, er, sl / 1000, sr / 1000, mv / 1000, ca / 100,
                         None if pct == 255 else pct / 100, DeviceState(state), Fault(faults), good, bad)
    if msg_id == MsgId.IMU:
        t, hdg, rate, ax, ay, az = vals
        if hdg >= 36000:
            raise ProtocolError("value", f"IMU.heading must be < 36000 (0.01 deg), got {hdg}")
        return Imu(t, math.radians(hdg / 100), rate / 1000, ax / 1000, ay / 1000, az / 1000)
    raise ProtocolError("unknown_id", f"unknown message id 0x{msg_id:02x}")


def encode_frame(msg: Message, seq: int) -> bytes:
    """One complete wire frame (COBS block plus the 0x00 delimiter)."""
    mid, payload = encode_payload(msg)
    body = bytes((int(mid), seq & 0xFF)) + payload
    c = crc16(body)
    return cobs_encode(body + bytes((c & 0xFF, c >> 8))) + b"\x00"


def decode_frame(block: bytes) -> tuple[int, Message]:
    """Decode one COBS block (delimiter stripped) into ``(seq, message)``;
    raises ProtocolError with the failure kind."""
    try:
        body = cobs_decode(block)
    except CobsError as e:
        raise ProtocolError("cobs", str(e)) from None
    if len(body) < 4:
        raise ProtocolError("short", f"frame body of {len(body)} bytes is shorter than the 4-byte minimum")
    c = crc16(body[:-2])
    got = body[-2] | (body[-1] << 8)
    if c != got:
        raise ProtocolError("crc", f"CRC mismatch: computed 0x{c:04x}, frame says 0x{got:04x}")
    mid = body[0]
    if mid not in PAYLOAD_LEN:
        raise ProtocolError("unknown_id", f"unknown message id 0x{mid:02x}")
    plen = len(body) - 4
    if plen != PAYLOAD_LEN[mid]:
        raise ProtocolError("length", f"message 0x{mid:02x} needs a {PAYLOAD_LEN[mid]}-byte payload, got {plen}")
    return body[1], decode_payload(mid, body[2:-2])
