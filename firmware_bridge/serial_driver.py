"""The shell every read-only sensor driver shares: a byte source (a
:class:`~firmware_bridge.serial_port.SerialPort`, or anything with
``read``/``connected``/``reconnects``/``fileno``/``close``), a stream
decoder that starts clean after every reconnect (a half-received frame from
before the unplug must not be glued to the new stream), and ``poll(now)``
returning what was completed since the last call."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Generic, TypeVar

T = TypeVar("T")


class HeaderSyncDecoder(ABC, Generic[T]):
    """Bytes in (any chunking), frames out, for fixed-length frames that
    start with a fixed header.  Resynchronises by scanning for ``header``;
    bytes skipped while hunting go to ``self.stats.skipped_bytes``, and a
    trailing first header byte is kept since it may start the next header.
    Subclasses set ``self.stats`` (with a ``skipped_bytes`` counter) and
    implement ``_parse(buf, j) -> (frame or None, next index)`` for a
    complete ``frame_len`` bytes at ``buf[j]`` (counting their own drops)."""

    header: bytes
    frame_len: int
    stats: object

    def __init__(self) -> None:
        self._buf = bytearray()

    def reset(self) -> None:
        self._buf.clear()

    @abstractmethod
    def _parse(self, buf: bytearray, j: int) -> tuple[T | None, int]:
        """The frame at ``buf[j]`` (None if it fails its checks) and the index after it."""

    def feed(self, data: bytes) -> list[T]:
        buf = self._buf
        buf += data
        out = []
        st = self.stats
        header, frame_len = self.header, self.frame_len
        i = 0
        n = len(buf)
        while True:
            j = buf.find(header, i)
            if j < 0:
                keep = n - 1 if n and buf[-1] == header[0] else n     # may start a header
                st.skipped_bytes += max(0, keep - i)
                i = max(i, keep)
                break
            st.skipped_bytes += j - i
            if n - j < frame_len:
                i = j
                break
            item, i = self._parse(buf, j)
            if item is not None:
                out.append(item)
        del buf[:i]
        return out


class SerialDriver(ABC, Generic[T]):
    """Subclasses set ``self.port`` and implement ``_reset_decoder`` and
    ``_decode(data, now) -> list[T]``; ``last`` is the newest item."""

    port: object

    def __init__(self, port) -> None:
        self.port = port
        self._conn = -1
        self.last: T | None = None

    @abstractmethod
    def _reset_decoder(self) -> None:
        """Forget any partial frame (the port was reopened)."""

    @abstractmethod
    def _decode(self, data: bytes, now: float) -> list[T]:
        """The items complete in ``data`` (bytes read at ``now``)."""

    @property
    def connected(self) -> bool:
        return self.port.connected

    def open(self) -> bool:
        return self.port.open()

    def poll(self, now: float) -> list[T]:
        data = self.port.read()
        if self.port.reconnects != self._conn:
            self._conn = self.port.reconnects
            self._reset_decoder()
        if not data:
            return []
        out = self._decode(data, now)
        if out:
            self.last = out[-1]
        return out

    def fileno(self):
        return self.port.fileno()

    def close(self) -> None:
        self.port.close()
