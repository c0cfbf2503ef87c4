"""Helpers for tests that talk over real pseudo-terminals."""
from __future__ import annotations

import select
import time
from typing import Callable


def pump_until(cond: Callable[[], bool], step: Callable[[float], None], fds: list, timeout: float = 5.0,
               now: Callable[[], float] = time.monotonic) -> bool:
    """Call ``step(now)`` whenever one of ``fds`` is readable (or every 5 ms)
    until ``cond()`` holds; False on timeout."""
    deadline = now() + timeout
    while now() < deadline:
        step(now())
        if cond():
            return True
        live = [f for f in fds if f is not None and (f() if callable(f) else f) is not None]
        live = [f() if callable(f) else f for f in live]
        if live:
            select.select(live, [], [], 0.005)
        else:
            time.sleep(0.005)
    return False
