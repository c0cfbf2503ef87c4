"""Shared test helpers."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# A suite started in the background by a shell without job control (`cmd &`
# in a script, nohup) inherits SIGINT ignored, and so would every process it
# starts: the tests that press Ctrl-C on a real `edgepilot` (an interrupted
# upload, campaign or recorder) would see it carry on.  A Python handler is
# reset to the default in a child at exec, so installing Python's own here
# gives every child an ordinary SIGINT again.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def edgepilot_cmd() -> list[str]:
    """The installed ``edgepilot`` console script (a real subprocess, as a
    user runs it); falls back to ``python -m edgepilot`` in a bare checkout."""
    script = Path(sys.executable).parent / "edgepilot"
    if script.exists():
        return [str(script)]
    found = shutil.which("edgepilot")
    return [found] if found else [sys.executable, "-m", "edgepilot"]


def run_edgepilot(*args: str, timeout: float = 300, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(edgepilot_cmd() + list(args), capture_output=True, text=True, timeout=timeout,
                          cwd=cwd or REPO, env=env)


@pytest.fixture
def ep():
    return run_edgepilot


# ---------------------------------------------------------------------------
# A test module's independent scenario runs, started together
# ---------------------------------------------------------------------------
def batch_jobs() -> int:
    """How many batch processes at once: the cores (at least 2, at most 4)."""
    return max(2, min(4, os.cpu_count() or 2))


class ProcessBatch:
    """Independent subprocesses of one test module, run ``batch_jobs()`` at
    a time from the module's first test on.

    The suite runs its tests one after another, and a lockstep scenario
    (``edgepilot sitl run``) keeps one core busy while pytest waits for it:
    started together, the module's runs keep CI's second core busy too.
    Each test still reads its own run's output and asserts on it, and a run
    that fails fails its own test only.  Only seeded lockstep runs belong
    here: what they compute does not depend on the clock or on what runs
    beside them (real-time tests stay one at a time)."""

    def __init__(self, jobs: int | None = None):
        self._pool = ThreadPoolExecutor(max_workers=jobs or batch_jobs(), thread_name_prefix="batch")
        self._futures: dict[str, Future] = {}
        self._procs: set[subprocess.Popen] = set()
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, key: str, argv: list[str], timeout: float = 900, **popen) -> None:
        self._futures[key] = self._pool.submit(self._run, [str(a) for a in argv], timeout, popen)

    def _run(self, argv, timeout, popen) -> subprocess.CompletedProcess:
        with self._lock:
            if self._closed:
                raise RuntimeError("the batch was closed before this run started")
            p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
            self._procs.add(p)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise
        finally:
            with self._lock:
                self._procs.discard(p)
        return subprocess.CompletedProcess(argv, p.returncode, out, err)

    def __contains__(self, key: str) -> bool:
        return key in self._futures

    def result(self, key: str) -> subprocess.CompletedProcess:
        """The run's result, once it has ended (it raises what the run raised)."""
        return self._futures[key].result()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            procs = list(self._procs)
        self._pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            p.kill()
        self._pool.shutdown(wait=True)


def selected_in_module(request) -> list[pytest.Item]:
    """The tests of the requesting module that this session runs (after -k,
    -m, a node id on the command line, ...), in order."""
    return [it for it in request.session.items if getattr(it, "module", None) is request.module]


@contextmanager
def process_batch(jobs: int | None = None):
    batch = ProcessBatch(jobs)
    try:
        yield batch
    finally:
        batch.close()
