"""MAVLink 2 message signing: the vehicle's replay protection and key setup.

When a key is configured, signing is *required*: every frame we send is
signed, and incoming frames that are unsigned, carry a bad signature or
fail the timestamp rules below are rejected by the parser (pymavlink raises
"Invalid signature", which the endpoint counts per link).  The one
exception, as in ArduPilot, is RADIO_STATUS, which radios inject unsigned.

Timestamp rules (MAVLink "Message signing", ArduPilot's GCS_Signing; our
own code).  One :class:`SigningState` serves every link of the vehicle, so
they hold whatever connection a frame arrives on:

* A *stream* is (system id, component id, link id) of the sender, taken
  from the frame itself: a frame captured on one connection and replayed on
  another belongs to the same stream and must be newer than the newest one
  accepted on it — anywhere.
* ``timestamp`` is the newest timestamp the vehicle knows: the maximum of
  its clock, every accepted frame and every frame it sent.  A stream seen
  for the first time must be no older than ``timestamp`` minus
  :data:`NEW_STREAM_WINDOW_S` (the spec's one minute).
* Nothing signed before this boot is accepted: every frame must be newer
  than the *boot floor*, the larger of the clock at start and the timestamp
  persisted by the previous run (written every :data:`SAVE_EVERY_S` and at
  shutdown, atomically).  A replay across a restart fails even for a frame
  accepted in the last seconds before a crash, because it is older than the
  restarted vehicle's clock.
* A timestamp more than :data:`FUTURE_LIMIT_S` ahead of the vehicle's best
  time (its clock, or the boot floor advanced by the monotonic clock when
  the clock is behind) is refused and counted.  It is never recorded, so it
  cannot push the vehicle's timestamp forward and lock other streams, or the
  same connection, out for correctly-clocked traffic.  A ground station
  whose clock runs more than a minute fast is refused (ArduPilot would
  accept it and move its own time forward); it is told nothing, as for any
  rejected frame, and the rejection is counted under ``signing_future``.
* Stream records and the newest timestamp are updated only after the
  signature checks out, so a client without the key cannot poison them.

Timestamps count 10 microsecond units since 2015-01-01 00:00 UTC.
"""
from __future__ import annotations

import functools
import hashlib
import json
import struct
import time
import zlib
from collections import Counter
from pathlib import Path
from typing import Callable

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edgepilot.atomic import atomic_write_text
from edgepilot.keyfile import KeyFileError, load_key, parse_key  # noqa: F401  (re-exported)

#: Signing timestamps count 10 microsecond units since 2015-01-01 00:00 UTC.
SIGNING_EPOCH_UNIX = 1420070400
#: Timestamp units per second.
TICKS_PER_S = 100_000
#: A stream heard for the first time may be this much older than the
#: vehicle's newest timestamp (the spec's and ArduPilot's one minute).
NEW_STREAM_WINDOW_S = 60.0
#: Frames more than this far ahead of the vehicle's best time are refused.
#: Not above NEW_STREAM_WINDOW_S: the newest accepted timestamp then stays
#: within the window of a correctly-clocked new stream.
FUTURE_LIMIT_S = 60.0
#: Streams remembered; beyond it the one heard longest ago is forgotten
#: (it then meets the new-stream rule again).
MAX_STREAMS = 256
#: The persisted timestamp is rewritten at most this often while it moves.
SAVE_EVERY_S = 2.0
FORMAT = 1

#: Messages accepted unsigned even when signing is required (radio modems
#: generate them and cannot sign).
UNSIGNED_ALLOWED = frozenset({mavlink.MAVLINK_MSG_ID_RADIO_STATUS})

_SIG = struct.Struct("<IH")
_FUTURE_TICKS = int(FUTURE_LIMIT_S * TICKS_PER_S)
_WINDOW_TICKS = int(NEW_STREAM_WINDOW_S * TICKS_PER_S)


class SigningStateError(ValueError):
    """The persisted signing timestamp file exists but cannot be used."""


def signing_timestamp(unix_time: float | None = None) -> int:
    """Signing timestamp of a Unix time (default: now)."""
    t = time.time() if unix_time is None else unix_time
    return int(max(0.0, t - SIGNING_EPOCH_UNIX) * TICKS_PER_S)


def load_timestamp(path: str | Path) -> int | None:
    """The timestamp a previous run persisted at ``path`` (None when there
    is no file).  Raises SigningStateError naming a damaged file."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise SigningStateError(f"{p}: cannot read the signing timestamp ({e.strerror or e})") from None
    try:
        doc = json.loads(raw.decode("utf-8"))
        ts = doc["timestamp"]
        ok = (doc.get("kind") == "signing" and doc.get("format") == FORMAT and type(ts) is int
              and 0 <= ts < 1 << 48 and doc.get("crc32") == zlib.crc32(str(ts).encode()))
    except (ValueError, KeyError, TypeError, AttributeError):
        ok = False
    if not ok:
        raise SigningStateError(
            f"{p}: damaged signing timestamp file (expected JSON with kind 'signing', format {FORMAT}, "
            f"an integer timestamp and its crc32); delete it to start from the clock")
    return ts


def save_timestamp(path: str | Path, ts: int) -> None:
    doc = {"format": FORMAT, "kind": "signing", "timestamp": int(ts), "crc32": zlib.crc32(str(int(ts)).encode())}
    atomic_write_text(path, json.dumps(doc) + "\n")


class SigningState:
    """Replay protection shared by every link of one vehicle.

    ``path``: where the newest timestamp persists (None: kept in memory only;
    the boot floor is then the clock at start).  ``clock`` is Unix time,
    ``monotonic`` a monotonic clock, both in seconds (injectable for tests).
    """

    def __init__(self, key: bytes, path: str | Path | None = None, *,
                 clock: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic):
        if len(key) != 32:
            raise ValueError(f"signing key: expected 32 bytes, got {len(key)}")
        self.key = bytes(key)
        self.path = Path(path) if path is not None else None
        self.clock = clock
        self.monotonic = monotonic
        persisted = load_timestamp(self.path) if self.path is not None else None
        self.persisted_at_boot = persisted
        #: Every accepted frame is newer than this (nothing from before boot).
        self.boot_floor = max(persisted or 0, signing_timestamp(clock()))
        self._mono0 = monotonic()
        #: The newest timestamp the vehicle knows (accepted, sent or clock).
        self.timestamp = self.boot_floor
        self.streams: dict[tuple[int, int, int], int] = {}
        self.counters: Counter = Counter()
        self._saved = persisted
        self._last_save_mono = self._mono0
        self._macs: list[mavlink.MAVLink] = []
        self._future_bound = -1
        #: Frames accepted (a plain int: counted on every frame).
        self.accepted = 0

    @property
    def stats(self) -> dict[str, int]:
        """Counters: ``signing_accepted`` and why frames were refused."""
        d = dict(self.counters)
        d["signing_accepted"] = self.accepted
        return d

    # ---------------------------------------------------------------- time
    def best_time(self) -> int:
        """The vehicle's best idea of now: its clock, or the boot floor plus
        the monotonic time since boot when the clock is behind that."""
        since_boot = int(max(0.0, self.monotonic() - self._mono0) * TICKS_PER_S)
        return max(signing_timestamp(self.clock()), self.boot_floor + since_boot)

    def newest(self) -> int:
        """Newest timestamp known, including what the links have sent."""
        ts = self.timestamp
        for m in self._macs:
            if m.signing.timestamp > ts:
                ts = m.signing.timestamp
        return ts

    # ---------------------------------------------------------------- links
    def attach(self, mav: mavlink.MAVLink, link_id: int) -> None:
        """Sign ``mav``'s frames and check its incoming ones against this state."""
        s = mav.signing
        s.secret_key = self.key
        s.sign_outgoing = True
        s.allow_unsigned_callback = _allow_unsigned
        s.link_id = link_id & 0xFF
        s.timestamp = max(self.newest(), self.best_time()) + 1
        # pymavlink's decode calls self.check_signature(msgbuf, sys, comp);
        # an instance attribute replaces its per-object stream table.
        mav.check_signature = functools.partial(self.check, mav)
        self._macs.append(mav)

    def detach(self, mav: mavlink.MAVLink) -> None:
        """A link closed: keep what it sent in the newest timestamp."""
        if mav in self._macs:
            self.timestamp = max(self.timestamp, mav.signing.timestamp)
            self._macs.remove(mav)

    def check(self, mav: mavlink.MAVLink, msgbuf: bytearray, src_system: int, src_component: int) -> bool:
        """Accept or refuse one signed frame (the whole frame, signature
        included).  Counts why it refused."""
        link_id = msgbuf[-13]
        lo, hi = _SIG.unpack_from(msgbuf, len(msgbuf) - 12)
        ts = lo | (hi << 32)
        stream = (src_system, src_component, link_id)
        if ts > self._future_bound:
            # The bound only grows with time: recompute only when a frame
            # passes the cached one (keeps the clock reads off the common path).
            self._future_bound = self.best_time() + _FUTURE_TICKS
            if ts > self._future_bound:
                self.counters["signing_future"] += 1
                return False
        if ts <= self.boot_floor:
            self.counters["signing_before_boot"] += 1
            return False
        last = self.streams.get(stream)
        if last is not None:
            if ts <= last:
                self.counters["signing_replay"] += 1
                return False
        elif ts + _WINDOW_TICKS < self.timestamp:
            self.counters["signing_old_new_stream"] += 1
            return False
        h = hashlib.sha256()
        h.update(self.key)
        h.update(msgbuf[:-6])
        if h.digest()[:6] != msgbuf[-6:]:
            self.counters["signing_bad_signature"] += 1
            return False
        # Authentic and fresh: record it.
        if last is None and len(self.streams) >= MAX_STREAMS:
            oldest = min(self.streams, key=self.streams.__getitem__)
            del self.streams[oldest]
            self.counters["signing_streams_forgotten"] += 1
        self.streams[stream] = ts
        if ts > self.timestamp:
            self.timestamp = ts
        if ts >= mav.signing.timestamp:
            mav.signing.timestamp = ts + 1
        self.accepted += 1
        return True

    # ---------------------------------------------------------------- persistence
    def tick(self) -> None:
        """Once per loop iteration: keep the links' send timestamps at the
        vehicle's best time and persist the newest timestamp every
        :data:`SAVE_EVERY_S` while it moves.  Cheap otherwise."""
        mono = self.monotonic()
        if mono - self._last_save_mono < SAVE_EVERY_S:
            return
        self._last_save_mono = mono
        best = self.best_time()
        for m in self._macs:
            if m.signing.timestamp < best:
                m.signing.timestamp = best
        self.save()

    def save(self) -> None:
        """Write the newest timestamp now (when it moved since the last write)."""
        if self.path is None:
            return
        ts = max(self.newest(), self.best_time())
        if self._saved is not None and ts <= self._saved:
            return
        save_timestamp(self.path, ts)
        self._saved = ts
        self.counters["signing_saves"] += 1


def _allow_unsigned(_mav, msg_id: int) -> bool:
    return msg_id in UNSIGNED_ALLOWED


def configure(mav: mavlink.MAVLink, key: bytes | None, link_id: int,
              state: SigningState | None = None) -> SigningState | None:
    """Turn signing on for one link's MAVLink object (or leave it off when
    ``key`` is None).  Links of one vehicle share ``state``; without one, the
    link gets a state of its own (kept in memory only)."""
    if key is None:
        return None
    if state is None:
        state = SigningState(key)
    elif state.key != bytes(key):
        raise ValueError("signing key: the link's key differs from the shared signing state's")
    state.attach(mav, link_id)
    return state
