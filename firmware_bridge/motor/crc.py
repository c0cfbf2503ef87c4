"""CRC-16/CCITT-FALSE: polynomial 0x1021, initial value 0xFFFF, no
reflection, no final XOR.  Check value: crc16(b"123456789") == 0x29B1.

Table driven (256 entries built once at import), the way a microcontroller
implementation usually does it.
"""
from __future__ import annotations

POLY = 0x1021
INIT = 0xFFFF


def _table() -> tuple[int, ...]:
    t = []
    for i in range(256):
        c = i << 8
        for _ in range(8):
            c = ((c << 1) ^ POLY) if c & 0x8000 else (c << 1)
        t.append(c & 0xFFFF)
    return tuple(t)


TABLE = _table()


def crc16(data: bytes, crc: int = INIT) -> int:
    t = TABLE
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ t[((crc >> 8) ^ b) & 0xFF]
    return crc
