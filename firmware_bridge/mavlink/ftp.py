"""MAVFTP refusal: every FILE_TRANSFER_PROTOCOL request is answered at once
with a NAK so clients (MAVProxy's param/ftp modules, MAVSDK component
metadata) fall back to the plain protocols instead of waiting for timeouts.
We advertise no FTP capability in AUTOPILOT_VERSION either.

Payload layout (MAVFTP header, little-endian): seq u16, session u8, opcode u8,
size u8, req_opcode u8, burst_complete u8, padding u8, offset u32, data[239].
"""
from __future__ import annotations

import struct

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from .service import Service

M = mavlink
OP_NAK = 129
ERR_FAIL = 1
ERR_UNKNOWN_COMMAND = 7
ERR_FILE_NOT_FOUND = 10
#: Opcodes naming a path: refusing them with FileNotFound is the truthful answer.
PATH_OPCODES = frozenset({3, 4, 6, 8, 9, 10, 11, 12, 13, 14})   # list, open, create, remove, ... crc
#: Opcodes acting on sessions, which we never open.
SESSION_OPCODES = frozenset({1, 2, 5, 7, 15})
_HDR = struct.Struct("<HBBBBBBI")


class FtpNakService(Service):
    name = "ftp"

    def __init__(self, endpoint):
        super().__init__(endpoint)
        self.naks_sent = 0
        endpoint.on("FILE_TRANSFER_PROTOCOL", self._on_ftp)

    def _on_ftp(self, link, m, now):
        payload = bytes(m.payload)
        if len(payload) < _HDR.size:
            payload = payload.ljust(_HDR.size, b"\0")
        seq, session, opcode, _size, _req, _burst, _pad, _offset = _HDR.unpack_from(payload)
        if opcode in PATH_OPCODES:
            err = ERR_FILE_NOT_FOUND
        elif opcode in SESSION_OPCODES:
            err = ERR_FAIL
        else:
            err = ERR_UNKNOWN_COMMAND
        reply = _HDR.pack((seq + 1) & 0xFFFF, session, OP_NAK, 1, opcode, 0, 0, 0) + bytes([err])
        link.send(M.MAVLink_file_transfer_protocol_message(
            0, m.get_srcSystem(), m.get_srcComponent(), list(reply.ljust(251, b"\0"))))
        self.naks_sent += 1
