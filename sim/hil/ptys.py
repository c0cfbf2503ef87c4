"""Serial devices for hardware-in-the-loop: the simulator plays the
vehicle's hardware on pseudo-terminals, speaking the real byte protocols.

``PtyDevice`` is one serial device: a pty pair whose slave path (or a stable
symlink to it, as udev gives real devices) is what the vehicle process opens
with pyserial.  It can be unplugged (pty closed, symlink removed) and
re-plugged (a new pty behind the same symlink).
"""
from __future__ import annotations

import errno
import os
import tty
from pathlib import Path


class PtyDevice:
    """The device end of a pseudo-terminal.  Non-blocking: ``read`` returns
    what the host wrote (b"" if nothing), ``write`` drops what the kernel
    buffer cannot take (counted in ``tx_dropped``), as a UART overflows."""

    def __init__(self, link: str | os.PathLike | None = None):
        self.link = Path(link) if link is not None else None
        self.master: int | None = None
        self._slave: int | None = None
        self.slave_name = ""
        self.tx_dropped = 0
        self.plug()

    @property
    def path(self) -> str:
        """What the host opens: the stable symlink if one was asked for."""
        return str(self.link) if self.link is not None else self.slave_name

    @property
    def plugged(self) -> bool:
        return self.master is not None

    def plug(self) -> None:
        if self.master is not None:
            return
        master, slave = os.openpty()
        # Raw from the start: no echo, no CR/LF translation, binary safe even
        # before the host opens the port and configures it.
        tty.setraw(slave)
        tty.setraw(master)
        os.set_blocking(master, False)
        self.master, self._slave = master, slave
        self.slave_name = os.ttyname(slave)
        if self.link is not None:
            tmp = self.link.with_name(self.link.name + ".tmp")
            if tmp.is_symlink() or tmp.exists():
                tmp.unlink()
            os.symlink(self.slave_name, tmp)
            os.replace(tmp, self.link)

    def unplug(self) -> None:
        """Close the pty: the host's next read fails, as when a USB cable is pulled."""
        if self.link is not None and self.link.is_symlink():
            self.link.unlink()
        for fd in (self.master, self._slave):
            if fd is not None:
                os.close(fd)
        self.master = self._slave = None

    def replug(self) -> None:
        self.unplug()
        self.plug()

    def read(self, n: int = 65536) -> bytes:
        if self.master is None:
            return b""
        try:
            return os.read(self.master, n)
        except BlockingIOError:
            return b""
        except OSError as e:
            if e.errno in (errno.EIO, errno.EAGAIN):
                return b""
            raise

    def write(self, data: bytes) -> bool:
        if self.master is None or not data:
            return False
        try:
            n = os.write(self.master, data)
        except BlockingIOError:
            self.tx_dropped += 1
            return False
        except OSError as e:
            if e.errno == errno.EIO:
                return False
            raise
        if n < len(data):
            self.tx_dropped += 1
            return False
        return True

    def fileno(self) -> int | None:
        return self.master

    def close(self) -> None:
        self.unplug()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


