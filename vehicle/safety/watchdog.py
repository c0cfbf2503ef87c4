"""Control-loop watchdog.

``kick(now)`` once per control tick records the gap since the previous
tick; ``overdue(now)`` lets an independent timer (the runtime's supervisor
thread, or the motor controller's own command timeout) see a loop that has
stopped ticking.  Times are seconds on the caller's clock.
"""
from __future__ import annotations


class LoopWatchdog:
    def __init__(self, max_gap_s: float):
        if not max_gap_s > 0:
            raise ValueError(f"max_gap_s must be > 0 s, got {max_gap_s}")
        self.max_gap_s = float(max_gap_s)
        self.last_kick: float | None = None
        self.last_gap = 0.0
        self.worst_gap = 0.0
        self.overruns = 0

    def kick(self, now: float) -> float:
        """Record a tick at ``now``; returns the gap since the previous tick [s]."""
        gap = 0.0 if self.last_kick is None else now - self.last_kick
        self.last_kick = now
        self.last_gap = gap
        if gap > self.worst_gap:
            self.worst_gap = gap
        if gap > self.max_gap_s:
            self.overruns += 1
        return gap

    def overdue(self, now: float) -> bool:
        """True when no tick has arrived for more than ``max_gap_s``."""
        return self.last_kick is not None and now - self.last_kick > self.max_gap_s
