"""Motor-controller protocol codec: framing, CRC, COBS, every message type,
and the decoder's behaviour on garbage, truncation and corruption (fuzz)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from edgepilot.firmware_bridge.motor import (DeviceConfig, DeviceState, Estop, Fault, FrameDecoder, Heartbeat, Imu,
                                   ProtocolError, Setpoint, Telemetry, decode_frame, encode_frame)
from edgepilot.firmware_bridge.motor.cobs import CobsError, cobs_decode, cobs_encode
from edgepilot.firmware_bridge.motor.crc import TABLE, crc16


def test_crc16_ccitt_false_check_value_and_table():
    assert crc16(b"123456789") == 0x29B1          # the catalogue check value of CRC-16/CCITT-FALSE
    assert TABLE[1] == 0x1021 and TABLE[255] == 0x1EF0


def test_cobs_known_vectors():
    # Vectors from the COBS paper / Wikipedia's worked examples.
    assert cobs_encode(b"\x00") == b"\x01\x01"
    assert cobs_encode(b"\x00\x00") == b"\x01\x01\x01"
    assert cobs_encode(b"\x11\x22\x00\x33") == b"\x03\x11\x22\x02\x33"
    assert cobs_encode(b"\x11\x00\x00\x00") == b"\x02\x11\x01\x01\x01"
    data = bytes(range(1, 256))
    enc = cobs_encode(data)
    assert enc[0] == 0xFF and len(enc) == 257 and 0 not in enc


@given(st.binary(max_size=600))
def test_cobs_roundtrip_has_no_zero(data):
    enc = cobs_encode(data)
    assert 0 not in enc
    assert cobs_decode(enc) == data


def test_cobs_rejects_bad_blocks():
    with pytest.raises(CobsError, match="runs past the end"):
        cobs_decode(b"\x05\x11\x22")
    with pytest.raises(CobsError, match="zero"):
        cobs_decode(b"\x03\x11\x00")


MESSAGES = [
    Setpoint(0.5, -0.25),
    Setpoint(1.0, -1.0),
    Estop(True),
    Estop(False),
    Heartbeat(123456789),
    DeviceConfig(300, 20),
    Telemetry(4000000000, -5, 2**31 - 1, 1.234, -0.5, 24.75, -3.2, 0.87, DeviceState.RUNNING,
              Fault.OVERCURRENT | Fault.IMU, 65535, 3),
    Telemetry(1, 0, 0, 0.0, 0.0, 0.0, 0.0, None, DeviceState.ESTOP, Fault.ESTOP, 0, 0),
    Imu(77, math.radians(359.99), -1.5, 0.1, -0.2, 9.81),
]


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_roundtrips(msg):
    frame = encode_frame(msg, 200)
    assert frame[-1] == 0 and 0 not in frame[:-1]
    seq, out = decode_frame(frame[:-1])
    assert seq == 200 and type(out) is type(msg)
    for k, v in vars(msg).items():
        w = getattr(out, k)
        if isinstance(v, float):
            assert w == pytest.approx(v, abs=1e-3), k
        else:
            assert w == v, k


def test_setpoint_clips_and_refuses_nan():
    _, m = decode_frame(encode_frame(Setpoint(3.0, -7.0), 0)[:-1])
    assert (m.left, m.right) == (1.0, -1.0)
    with pytest.raises(ValueError, match="Setpoint.left"):
        encode_frame(Setpoint(float("nan"), 0.0), 0)
    with pytest.raises(ValueError, match="command_timeout_ms"):
        encode_frame(DeviceConfig(0, 20), 0)


def test_each_kind_of_damage_is_classified():
    good = encode_frame(Setpoint(0.1, 0.2), 1)[:-1]
    body = cobs_decode(good)
    cases = {
        "crc": cobs_encode(body[:3] + bytes([body[3] ^ 0x40]) + body[4:]),
        "length": cobs_encode(body[:-3] + (lambda b: bytes([crc16(b) & 0xFF, crc16(b) >> 8]))(body[:-3])),
        "unknown_id": cobs_encode((lambda b: b + bytes([crc16(b) & 0xFF, crc16(b) >> 8]))(b"\x7e\x00\x01")),
        "short": cobs_encode(b"\x01\x02"),
        "cobs": b"\x09\x01\x02",
    }
    for kind, block in cases.items():
        with pytest.raises(ProtocolError) as ei:
            decode_frame(block)
        assert ei.value.kind == kind, kind


def test_decoder_any_chunking_and_sequence_gaps():
    frames = [encode_frame(Setpoint(i / 10, -i / 10), i) for i in range(10)]
    stream = b"".join(frames[:4] + frames[6:])        # frames 4 and 5 lost
    dec = FrameDecoder()
    got = []
    rng = np.random.default_rng(0)
    i = 0
    while i < len(stream):
        n = int(rng.integers(1, 9))
        got += dec.feed(stream[i:i + n])
        i += n
    assert [s for s, _ in got] == [0, 1, 2, 3, 6, 7, 8, 9]
    assert dec.stats.seq_gaps == 2 and dec.stats.dropped == 0


def test_decoder_resyncs_after_garbage_truncation_and_corruption():
    dec = FrameDecoder()
    good = encode_frame(Heartbeat(42), 5)
    truncated = good[:5] + b"\x00"
    corrupted = bytearray(good)
    corrupted[4] ^= 0x80 if corrupted[4] != 0x80 else 0x40   # never turns into a delimiter
    garbage = bytes(range(1, 200))                    # no delimiter for longer than any frame
    stream = truncated + bytes(corrupted) + garbage + b"\x00" + good
    out = dec.feed(stream)
    assert out == [(5, Heartbeat(42))]
    s = dec.stats
    assert s.oversize == 1 and (s.crc + s.cobs + s.length + s.short) == 2
    assert s.frames_ok == 1


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000), st.integers(0, 2**32 - 1))
def test_fuzz_random_bytes_never_crash_and_service_continues(noise, seed):
    """Random bytes, then a delimiter and good frames: the good frames always
    decode, and the decoder accounts for what it threw away."""
    dec = FrameDecoder()
    dec.feed(noise)
    tail = [encode_frame(Setpoint(0.3, 0.4), 9), encode_frame(Estop(True), 10)]
    out = dec.feed(b"\x00" + b"".join(tail))
    assert [m for _, m in out][-2:] == [Setpoint(0.3, 0.4), Estop(True)]
    assert dec.stats.bytes_in == len(noise) + 1 + sum(map(len, tail))


def test_fuzz_mutated_frames_are_counted_and_never_misdecoded():
    """Flip, drop, insert and duplicate bytes in valid frames: every mutated
    frame is either dropped (and counted) or decodes to a well-formed message;
    the clean frame that follows each one always decodes."""
    rng = np.random.default_rng(1234)
    dec = FrameDecoder()
    marker = Heartbeat(0xC0FFEE)
    n_mut = 3000
    for i in range(n_mut):
        msg = MESSAGES[i % len(MESSAGES)]
        f = bytearray(encode_frame(msg, i & 0xFF))
        op = i % 4
        k = int(rng.integers(0, len(f) - 1))
        if op == 0:
            f[k] ^= 1 << int(rng.integers(0, 8))
        elif op == 1:
            del f[k]
        elif op == 2:
            f.insert(k, int(rng.integers(0, 256)))
        else:
            f[k:k] = f[k:k + int(rng.integers(1, 6))]
        out = dec.feed(bytes(f) + b"\x00" + encode_frame(marker, 0))
        assert out and out[-1][1] == marker
        for _, m in out[:-1]:
            assert isinstance(m, (Setpoint, Estop, Heartbeat, DeviceConfig, Telemetry, Imu))
    s = dec.stats
    # A CRC-16 catches every single-bit error: all bit flips must be dropped.
    assert s.dropped >= n_mut // 4
    assert s.frames_ok >= n_mut         # every marker came through


def test_worked_examples_in_the_spec_match_the_codec():
    """docs/motor_protocol.md section 5 is what firmware authors test against."""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "motor_protocol.md").read_text()
    wires = [bytes.fromhex(w) for w in re.findall(r"^\s+wire\s+([0-9a-f ]+)$", doc, flags=re.M)]
    expected = [Setpoint(0.5, -0.25), Estop(True), DeviceConfig(300, 20), Heartbeat(1000)]
    seqs = [7, 8, 0, 1]
    assert len(wires) == 4
    for w, m, s in zip(wires, expected, seqs):
        assert encode_frame(m, s) == w
        assert decode_frame(w[:-1]) == (s, m)
