"""Consistent Overhead Byte Stuffing (Cheshire & Baker, 1999).

COBS rewrites a block so it contains no 0x00 byte; 0x00 then marks the end of
a frame on the wire, so a receiver that starts mid-stream or loses bytes
resynchronises at the next 0x00.  Overhead: one byte per 254 bytes of input
plus the delimiter.
"""
from __future__ import annotations


class CobsError(ValueError):
    """A block is not valid COBS (zero byte inside, or a code byte that runs
    past the end of the block)."""


def cobs_encode(data: bytes) -> bytes:
    """Encode ``data`` (any bytes) into a block with no 0x00 (delimiter not added)."""
    out = bytearray()
    code_pos = 0
    out.append(0)          # placeholder for the first code byte
    code = 1
    for b in data:
        if b == 0:
            out[code_pos] = code
            code_pos = len(out)
            out.append(0)
            code = 1
        else:
            out.append(b)
            code += 1
            if code == 0xFF:
                out[code_pos] = code
                code_pos = len(out)
                out.append(0)
                code = 1
    out[code_pos] = code
    return bytes(out)


def cobs_decode(block: bytes) -> bytes:
    """Decode one COBS block (without its 0x00 delimiter); raises CobsError."""
    out = bytearray()
    i, n = 0, len(block)
    if n == 0:
        raise CobsError("empty block")
    while i < n:
        code = block[i]
        if code == 0:
            raise CobsError(f"zero byte at offset {i}")
        end = i + code
        if end > n:
            raise CobsError(f"code byte {code} at offset {i} runs past the end of a {n}-byte block")
        seg = block[i + 1:end]
        if 0 in seg:
            raise CobsError("zero byte inside a block")
        out += seg
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)
