"""The campaign results file: JSON lines, one per finished run.

The first line is a header naming the campaign and its fingerprint (spec and
scenario files); every other line is one run's row.  Rows are appended with
one ``write`` each on an O_APPEND descriptor and fsynced in batches (every
``batch`` rows or ``interval_s`` seconds, and on close), so after a crash,
Ctrl-C or SIGKILL the file holds complete lines and at most one torn last
line.  Reading keeps every complete line that parses and drops the rest; a
resumed campaign truncates the torn tail and re-runs exactly the runs that
have no complete line.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from edgepilot.vehicle.config import ConfigError


@dataclass
class ResultsRead:
    header: dict | None
    rows: dict[int, dict] = field(default_factory=dict)   # run index -> row
    good_bytes: int = 0          # file prefix made of complete, parsable lines
    dropped: int = 0             # lines discarded (torn or unparsable)


def read_results(path: str | Path) -> ResultsRead:
    path = Path(path)
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        return ResultsRead(None)
    out = ResultsRead(None)
    pos = 0
    for line in blob.split(b"\n"):
        end = pos + len(line) + 1
        if end > len(blob):          # no newline: a torn last line
            if line.strip():
                out.dropped += 1
            break
        pos_ok = True
        try:
            rec = json.loads(line) if line.strip() else None
        except ValueError:
            rec, pos_ok = None, False
        if rec is None:
            out.dropped += int(not pos_ok)
        elif rec.get("kind") == "header" and out.header is None:
            out.header = rec
        elif rec.get("kind") == "run" and isinstance(rec.get("run"), int):
            out.rows.setdefault(rec["run"], rec)
        else:
            out.dropped += 1
            pos_ok = False
        if pos_ok:
            out.good_bytes = end
        pos = end
    return out


class ResultsWriter:
    """Appends rows; ``open`` creates (header) or resumes (truncates a torn tail)."""

    def __init__(self, path: str | Path, batch: int = 64, interval_s: float = 1.0):
        self.path = Path(path)
        self.batch = batch
        self.interval_s = interval_s
        self.fd: int | None = None
        self._pending = 0
        self._last_sync = time.monotonic()
        self.bytes_written = 0
        self.write_s = 0.0

    def create(self, header: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        self._write(json.dumps({"kind": "header", **header}, sort_keys=True) + "\n")
        self.sync()

    def resume(self, good_bytes: int) -> None:
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        if os.fstat(self.fd).st_size != good_bytes:
            os.ftruncate(self.fd, good_bytes)
            os.fsync(self.fd)

    def _write(self, text: str) -> None:
        data = text.encode()
        n = os.write(self.fd, data)
        while n < len(data):         # a short write (signal, full pipe): finish the line
            n += os.write(self.fd, data[n:])
        self.bytes_written += len(data)

    def append(self, row: dict) -> None:
        t0 = time.perf_counter()
        self._write(json.dumps(row, sort_keys=True, allow_nan=False, default=_jsonable) + "\n")
        self._pending += 1
        if self._pending >= self.batch or time.monotonic() - self._last_sync >= self.interval_s:
            self.sync()
        self.write_s += time.perf_counter() - t0

    def sync(self) -> None:
        if self.fd is not None:
            os.fsync(self.fd)
        self._pending = 0
        self._last_sync = time.monotonic()

    def close(self) -> None:
        if self.fd is not None:
            self.sync()
            os.close(self.fd)
            self.fd = None


def _jsonable(v):
    import numpy as np

    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


def check_header(header: dict | None, fingerprint: str, path: Path) -> None:
    if header is None:
        raise ConfigError(f"{path}: no campaign header line: not a campaign results file (or empty); "
                          f"start over with --overwrite")
    if header.get("fingerprint") != fingerprint:
        raise ConfigError(f"{path}: written by campaign {header.get('campaign')!r} with fingerprint "
                          f"{header.get('fingerprint')}, but the spec or its scenario files now give "
                          f"{fingerprint}: --resume would mix two campaigns (use --overwrite or another --out)")
