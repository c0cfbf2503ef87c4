"""tlog recording: every MAVLink frame in and out, in the format MAVProxy
writes and pymavlink's ``mavlogdump.py`` reads — each frame is preceded by
its receive/send time as a big-endian uint64 of microseconds since the Unix
epoch.

The file is flushed at least once a second (``flush_interval_s``) so a crash
loses at most the last second, and rotated when it reaches ``max_bytes``:
``NAME.tlog`` becomes ``NAME.1.tlog`` (older ones shift up) and at most
``keep`` rotated files are kept, so an onboard log never fills the disk.
"""
from __future__ import annotations

import os
import struct
import time
from pathlib import Path

_TS = struct.Struct(">Q")


class TlogWriter:
    def __init__(self, path: str | Path, max_bytes: int = 50 * 1024 * 1024, keep: int = 5,
                 flush_interval_s: float = 1.0, clock=time.time, monotonic=time.monotonic):
        if max_bytes < 1024:
            raise ValueError(f"tlog max_bytes: expected at least 1024, got {max_bytes}")
        if keep < 0:
            raise ValueError(f"tlog keep: expected >= 0 rotated files, got {keep}")
        self.path = Path(path)
        if self.path.suffix != ".tlog":
            raise ValueError(f"tlog path {str(self.path)!r}: expected a name ending in .tlog")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_bytes = int(max_bytes)
        self.keep = int(keep)
        self.flush_interval_s = float(flush_interval_s)
        self.clock = clock
        self.monotonic = monotonic         # paces the flushes (injectable for tests)
        self.frames = 0
        self.rotations = 0
        self._f = open(self.path, "ab")
        self._size = self._f.tell()
        self._last_flush = monotonic()

    def rotated_path(self, i: int) -> Path:
        return self.path.with_name(f"{self.path.stem}.{i}.tlog")

    def write(self, frame: bytes, t: float | None = None) -> None:
        """Append one complete MAVLink frame stamped with wall time ``t`` (s)."""
        if self._f is None:
            return
        rec_len = 8 + len(frame)
        if self._size + rec_len > self.max_bytes and self._size > 0:
            self._rotate()
        ts = int((self.clock() if t is None else t) * 1e6)
        self._f.write(_TS.pack(ts))
        self._f.write(frame)
        self._size += rec_len
        self.frames += 1
        self.maybe_flush()

    def maybe_flush(self) -> None:
        """Flush if a flush interval has passed (call once per tick)."""
        if self._f is None:
            return
        now = self.monotonic()
        if now - self._last_flush >= self.flush_interval_s:
            self._f.flush()
            self._last_flush = now

    def _rotate(self) -> None:
        self._f.close()
        if self.keep == 0:
            self.path.unlink(missing_ok=True)
        else:
            oldest = self.rotated_path(self.keep)
            oldest.unlink(missing_ok=True)
            for i in range(self.keep - 1, 0, -1):
                src = self.rotated_path(i)
                if src.exists():
                    os.replace(src, self.rotated_path(i + 1))
            os.replace(self.path, self.rotated_path(1))
        self.rotations += 1
        self._f = open(self.path, "ab")
        self._size = 0

    def close(self) -> None:
        if self._f is not None:
            self._f.flush()
            self._f.close()
            self._f = None
