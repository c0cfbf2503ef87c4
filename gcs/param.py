"""Parameter microservice client: list, read, set.

Values travel as float32.  ArduPilot (and edgepilot) put every value in
the float as a number; PX4 copies integer parameters bytewise into the
float field (MAV_PROTOCOL_CAPABILITY_PARAM_ENCODE_BYTEWISE), which
:func:`decode_value` / :func:`encode_value` undo for it.
"""
from __future__ import annotations

import fnmatch
import struct
import time
from dataclasses import dataclass
from typing import Callable

from edgepilot.gcs.mav import mavutil

from edgepilot.gcs.connection import Vehicle
from edgepilot.gcs.errors import BadInputError, NoAnswerError, RefusedError
from edgepilot.gcs.formats.parm import NAME_RE, float32

M = mavutil.mavlink
READ_TIMEOUT_S = 1.0
RETRIES = 3
Progress = Callable[[int, int], None]

_INT_TYPES = {M.MAV_PARAM_TYPE_UINT8: "<B", M.MAV_PARAM_TYPE_INT8: "<b", M.MAV_PARAM_TYPE_UINT16: "<H",
              M.MAV_PARAM_TYPE_INT16: "<h", M.MAV_PARAM_TYPE_UINT32: "<I", M.MAV_PARAM_TYPE_INT32: "<i"}


def _name(pid) -> str:
    if isinstance(pid, bytes):
        pid = pid.decode("ascii", "replace")
    return pid.split("\0", 1)[0]


@dataclass(frozen=True)
class Param:
    name: str
    value: float
    type: int
    index: int
    count: int


def decode_value(raw: float, ptype: int, bytewise: bool) -> float:
    if bytewise and ptype in _INT_TYPES:
        b = struct.pack("<f", raw)
        fmt = _INT_TYPES[ptype]
        return float(struct.unpack(fmt, b[:struct.calcsize(fmt)])[0])
    return float(raw)


def encode_value(value: float, ptype: int, bytewise: bool) -> float:
    if bytewise and ptype in _INT_TYPES:
        fmt = _INT_TYPES[ptype]
        b = struct.pack(fmt, int(round(value))).ljust(4, b"\0")
        return struct.unpack("<f", b)[0]
    return float(value)


class ParamClient:
    def __init__(self, vehicle: Vehicle, timeout: float = READ_TIMEOUT_S, retries: int = RETRIES):
        self.v = vehicle
        self.timeout = timeout
        self.retries = retries

    @property
    def bytewise(self) -> bool:
        return self.v.is_px4

    def _param(self, m) -> Param:
        return Param(_name(m.param_id), decode_value(m.param_value, m.param_type, self.bytewise), m.param_type,
                     m.param_index, m.param_count)

    def fetch_all(self, progress: Progress | None = None) -> dict[str, Param]:
        """Every parameter (PARAM_REQUEST_LIST, then re-read any index missed)."""
        v = self.v
        got: dict[int, Param] = {}
        count = None
        for attempt in range(self.retries + 1):
            v.mav.param_request_list_send(v.sysid, v.compid)
            quiet_until = time.monotonic() + self.timeout * 2
            while time.monotonic() < quiet_until:
                m = v.wait("PARAM_VALUE", timeout=max(0.0, quiet_until - time.monotonic()))
                if m is None:
                    break
                p = self._param(m)
                count = p.count
                if 0 <= p.index < 65535:
                    got[p.index] = p
                quiet_until = time.monotonic() + self.timeout
                if progress:
                    progress(len(got), count)
                if len(got) >= count:
                    break
            if count is not None:
                break
        if count is None:
            raise NoAnswerError(f"param list: no PARAM_VALUE from sysid {v.sysid} after {self.retries + 1} requests")
        for idx in range(count):
            if idx in got:
                continue
            for _ in range(self.retries):
                v.mav.param_request_read_send(v.sysid, v.compid, b"", idx)
                m = v.wait("PARAM_VALUE", lambda x, i=idx: x.param_index == i, timeout=self.timeout)
                if m is not None:
                    got[idx] = self._param(m)
                    break
            else:
                raise NoAnswerError(f"param list: parameter index {idx} of {count} never arrived from sysid {v.sysid}")
            if progress:
                progress(len(got), count)
        return {p.name: p for p in sorted(got.values(), key=lambda p: p.name)}

    def list(self, pattern: str | None = None, progress: Progress | None = None) -> list[Param]:
        allp = self.fetch_all(progress)
        pat = (pattern or "*").upper()
        if not any(c in pat for c in "*?["):
            pat = f"*{pat}*"     # a bare word matches anywhere in the name, as MAVProxy's `param show`
        return [p for n, p in allp.items() if fnmatch.fnmatchcase(n.upper(), pat)]

    def get(self, name: str) -> Param:
        if not NAME_RE.match(name):
            raise BadInputError(f"parameter name {name!r} is not 1-16 letters, digits or '_'")
        v = self.v
        for _ in range(self.retries):
            v.mav.param_request_read_send(v.sysid, v.compid, name.encode("ascii"), -1)
            m = v.wait("PARAM_VALUE", lambda x: _name(x.param_id) == name, timeout=self.timeout)
            if m is not None:
                return self._param(m)
        raise RefusedError(f"param get {name}", "no such parameter",
                           [f"sysid {v.sysid} did not answer {self.retries} reads of {name}; "
                            "`param list` shows the names it has"])

    def set(self, name: str, value: float, current: Param | None = None) -> Param:
        """Set and confirm: the vehicle answers with the PARAM_VALUE that now
        stands; a different value means it refused (reason from STATUSTEXT)."""
        cur = current or self.get(name)
        v = self.v
        before = v.view.statustext_count
        wire = encode_value(value, cur.type, self.bytewise)
        for _ in range(self.retries):
            v.mav.param_set_send(v.sysid, v.compid, name.encode("ascii"), wire, cur.type)
            m = v.wait("PARAM_VALUE", lambda x: _name(x.param_id) == name, timeout=self.timeout)
            if m is None:
                continue
            p = self._param(m)
            if float32(p.value) == float32(value) or abs(p.value - value) <= 1e-6 * max(1.0, abs(value)):
                return p
            texts = [t.text for t in v.view.texts_since(before)]
            if not texts:
                v.link.pump_for(0.3)
                texts = [t.text for t in v.view.texts_since(before)]
            raise RefusedError(f"param set {name} {value:g}", f"value stays {p.value:g}", texts)
        raise NoAnswerError(f"param set {name}: no PARAM_VALUE from sysid {v.sysid} after {self.retries} tries")
