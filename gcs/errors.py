"""Errors the ground station reports to operators, each with its exit code.

Every failure an operator can meet ends as one of these, printed as a single
line on stderr; ``gcs.cli`` maps it to the process exit code documented in
``edgepilot gcs --help``.
"""
from __future__ import annotations

import os
from pathlib import Path

from edgepilot import exitcodes

#: The process exit codes are the whole CLI's, from :mod:`edgepilot.exitcodes`.
EXIT_OK = exitcodes.OK
#: The vehicle answered and refused (MAV_RESULT / MAV_MISSION_RESULT not accepted),
#: or an operation ended without doing what was asked.
EXIT_REFUSED = exitcodes.FAILED
#: Bad input: a malformed mission/parm/tlog file or a bad argument; nothing was sent.
EXIT_BAD_INPUT = exitcodes.USAGE
#: No vehicle heartbeat within the timeout, or the endpoint could not be opened.
EXIT_NO_LINK = exitcodes.NO_LINK
#: The vehicle was heard but stopped answering in the middle of an operation.
EXIT_TIMEOUT = exitcodes.NO_ANSWER
#: Interrupted by the operator (Ctrl-C / SIGTERM) in the middle of an operation.
EXIT_INTERRUPTED = exitcodes.INTERRUPTED

EXIT_CODES_HELP = exitcodes.TABLE


class GcsError(Exception):
    """Base: ``str(e)`` is the one-line message, ``exit_code`` the process status."""

    exit_code = EXIT_REFUSED


class NoLinkError(GcsError):
    exit_code = EXIT_NO_LINK


class BadInputError(GcsError):
    exit_code = EXIT_BAD_INPUT


class FileFormatError(BadInputError):
    """A malformed input file; names the file, the line (or JSON path) and the problem."""

    def __init__(self, path: str, where: str | int | None, problem: str):
        self.path = str(path)
        self.where = where
        self.problem = problem
        loc = f"{self.path}:{where}" if isinstance(where, int) else (
            f"{self.path} ({where})" if where else self.path)
        super().__init__(f"{loc}: {problem}")


def read_text_file(path, max_bytes: int | None = None, what: str = "file") -> tuple[Path, str]:
    """(path, its UTF-8 text) for an operator's input file; a missing or
    unreadable file, or one larger than ``max_bytes`` (checked before it is
    read: at most ``max_bytes + 1`` bytes are ever read), is a
    FileFormatError naming it."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            if max_bytes is not None and size > max_bytes:
                raise FileFormatError(p, None, f"{size} bytes; a {what} is limited to {max_bytes} bytes "
                                               f"({max_bytes / 2**20:g} MiB)")
            data = f.read() if max_bytes is None else f.read(max_bytes + 1)
        if max_bytes is not None and len(data) > max_bytes:      # grew, or not a regular file
            raise FileFormatError(p, None, f"more than {max_bytes} bytes; a {what} is limited to "
                                           f"{max_bytes} bytes ({max_bytes / 2**20:g} MiB)")
        # Universal newlines, as Path.read_text gives: line numbers in errors
        # count "\r\n" and a lone "\r" as one line end.
        return p, data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except FileNotFoundError:
        raise FileFormatError(p, None, "no such file") from None
    except UnicodeDecodeError as e:
        raise FileFormatError(p, None, f"not UTF-8 text: byte 0x{e.object[e.start]:02x} at offset {e.start}") from None
    except OSError as e:
        raise FileFormatError(p, None, f"cannot read: {e}") from None


class RefusedError(GcsError):
    """The vehicle answered with a refusal; ``result`` is the MAVLink enum name."""

    exit_code = EXIT_REFUSED

    def __init__(self, what: str, result: str, reasons: list[str] | None = None):
        self.what = what
        self.result = result
        self.reasons = list(reasons or [])
        msg = f"{what} refused by the vehicle: {result}"
        if self.reasons:
            msg += " — " + "; ".join(self.reasons)
        super().__init__(msg)


class MissionStoppedError(GcsError):
    """A running mission was stopped by the vehicle (failsafe, unreachable
    item) or by someone else; exit as a refusal."""

    exit_code = EXIT_REFUSED


class NoAnswerError(GcsError):
    """The vehicle stopped answering in the middle of an operation."""

    exit_code = EXIT_TIMEOUT


class OperatorInterrupt(GcsError):
    """Ctrl-C or SIGTERM in the middle of an operation."""

    exit_code = EXIT_INTERRUPTED
