"""The shell every read-only sensor driver shares: a byte source (a
:class:`~firmware_bridge.serial_port.SerialPort`, or anything with
``read``/``connected``/``reconnects``/``fileno``/``close``), a stream
decoder that starts clean after every reconnect (a half-received frame from
before the unplug must not be glued to the new stream), and ``poll(now)``
returning what was completed since the last call."""
from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class SerialDriver(Generic[T]):
    """Subclasses set ``self.port`` and implement ``_reset_decoder`` and
    ``_decode(data, now) -> list[T]``; ``last`` is the newest item."""

    port: object

    def __init__(self, port) -> None:
        self.port = port
        self._conn = -1
        self.last: T | None = None

    def _reset_decoder(self) -> None:
        raise NotImplementedError

    def _decode(self, data: bytes, now: float) -> list[T]:
        raise NotImplementedError

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
