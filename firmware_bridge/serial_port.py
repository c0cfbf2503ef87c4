"""A serial device that may be unplugged: non-blocking reads and writes over
a pyserial URL (``/dev/ttyACM0``, a pty path, ``socket://host:port``,
``loop://``), with the disconnect noticed and the port reopened.

Nothing here blocks: reads return what is buffered, writes that the OS cannot
take at once are dropped and counted (a real UART would overflow the same
way), and a missing device is retried every ``reopen_interval`` seconds of
wall time.  State changes are reported through ``on_event(text)``.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

import serial

log = logging.getLogger(__name__)


class SerialPort:
    def __init__(self, url: str, baudrate: int, name: str, reopen_interval: float = 0.5,
                 on_event: Callable[[str], None] | None = None, wall: Callable[[], float] = time.monotonic):
        if not url:
            raise ValueError(f"{name}: serial port URL is empty")
        if baudrate <= 0:
            raise ValueError(f"{name}: baudrate must be positive, got {baudrate}")
        self.url = url
        self.baudrate = int(baudrate)
        self.name = name
        self.reopen_interval = reopen_interval
        self.on_event = on_event
        self.wall = wall
        self._ser: serial.SerialBase | None = None
        self._next_try = 0.0
        self.ever_connected = False
        self.disconnects = 0
        self.reconnects = 0
        self.tx_dropped = 0
        self.last_error = ""

    @property
    def connected(self) -> bool:
        return self._ser is not None

    def _event(self, text: str) -> None:
        log.info("%s", text)
        if self.on_event:
            self.on_event(text)

    def open(self) -> bool:
        """Try to open now; True when the port is open."""
        if self._ser is not None:
            return True
        self._next_try = self.wall() + self.reopen_interval
        try:
            ser = serial.serial_for_url(self.url, baudrate=self.baudrate, timeout=0, write_timeout=0)
        except (serial.SerialException, OSError, ValueError) as e:
            msg = str(e)
            if msg != self.last_error:
                self.last_error = msg
                if not self.ever_connected:
                    self._event(f"{self.name}: cannot open {self.url}: {msg}")
            return False
        self._ser = ser
        self.last_error = ""
        if self.ever_connected:
            self.reconnects += 1
            self._event(f"{self.name}: reconnected on {self.url}")
        else:
            self._event(f"{self.name}: connected on {self.url} at {self.baudrate} baud")
        self.ever_connected = True
        return True

    def ensure_open(self) -> bool:
        """Open if closed and a retry is due."""
        if self._ser is not None:
            return True
        if self.wall() < self._next_try:
            return False
        return self.open()

    def _lost(self, err: Exception) -> None:
        self.disconnects += 1
        self.last_error = str(err)
        try:
            self._ser.close()
        except Exception:   # the device is already gone; closing is best effort
            pass
        self._ser = None
        self._next_try = self.wall() + self.reopen_interval
        self._event(f"{self.name}: disconnected from {self.url} ({err}); retrying every {self.reopen_interval:g} s")

    def read(self, max_bytes: int = 65536) -> bytes:
        """Whatever has arrived (possibly b""); reopens a lost port when due."""
        if not self.ensure_open():
            return b""
        try:
            return self._ser.read(max_bytes)
        except (serial.SerialException, OSError) as e:
            self._lost(e)
            return b""

    def write(self, data: bytes) -> bool:
        """Queue ``data``; False if the port is closed or the data was dropped."""
        if not self.ensure_open():
            return False
        try:
            self._ser.write(data)
            return True
        except serial.SerialTimeoutException:
            self.tx_dropped += 1
            return False
        except (serial.SerialException, OSError) as e:
            self._lost(e)
            return False

    def fileno(self) -> int | None:
        """The OS file descriptor (for select), or None (closed or not a real port)."""
        if self._ser is None:
            return None
        try:
            return self._ser.fileno()
        except Exception:
            return None

    def close(self) -> None:
        if self._ser is not None:
            try:
                self._ser.close()
            finally:
                self._ser = None
