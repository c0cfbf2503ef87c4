"""The real-time loop: runs the control step at its rate on a clock and
polls I/O (the MAVLink endpoint, drivers) every tick.  I/O lives here and
in the callbacks it is given, never in the core.

The loop keeps *vehicle time*: ``ScaledClock`` runs ``speedup`` times faster
than the monotonic wall clock (1.0 on a real vehicle).  Each iteration runs
as many fixed control steps as vehicle time has advanced (at most
``max_catchup`` — a loop that cannot keep up falls behind rather than
spiralling), then polls I/O once, then sleeps until the next step is due.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable


class ScaledClock:
    """Vehicle time [s] since start, running ``speedup`` times the wall clock."""

    def __init__(self, speedup: float = 1.0, wall: Callable[[], float] = time.monotonic):
        if not speedup > 0:
            raise ValueError(f"speedup: expected a positive number, got {speedup}")
        self.speedup = float(speedup)
        self.wall = wall
        self._t0 = wall()

    def now(self) -> float:
        return (self.wall() - self._t0) * self.speedup

    def wall_until(self, t: float) -> float:
        """Wall seconds from now until vehicle time ``t`` (negative if past)."""
        return (t - self.now()) / self.speedup


@dataclass
class LoopStats:
    steps: int = 0
    polls: int = 0
    overruns: int = 0        # iterations that hit max_catchup (fell behind the clock)
    lag_s: float = 0.0       # vehicle seconds behind the clock at the last iteration


class RuntimeLoop:
    """``step(t, dt)`` runs one control tick at vehicle time ``t``;
    ``poll(t)`` does I/O.  ``dt`` is the fixed control period [s]."""

    def __init__(self, step: Callable[[float, float], None], poll: Callable[[float], None],
                 rate_hz: float, clock: ScaledClock, max_catchup: int = 20,
                 sleep: Callable[[float], None] = time.sleep):
        if not rate_hz > 0:
            raise ValueError(f"rate_hz: expected a positive number, got {rate_hz}")
        if max_catchup < 1:
            raise ValueError(f"max_catchup: expected >= 1, got {max_catchup}")
        self.step = step
        self.poll = poll
        self.dt = 1.0 / rate_hz
        self.clock = clock
        self.max_catchup = max_catchup
        self.sleep = sleep
        self.t = 0.0             # vehicle time of the next control step
        self.last_t = 0.0        # vehicle time of the last step run
        self.stats = LoopStats()
        self._stop = False

    def stop(self) -> None:
        self._stop = True

    def run(self, until: float | None = None, should_stop: Callable[[], bool] | None = None) -> None:
        """Run until vehicle time ``until`` (None: forever), ``stop()`` or ``should_stop()``."""
        while not self._stop and (until is None or self.t < until):
            if should_stop is not None and should_stop():
                break
            self.run_once()

    def run_once(self) -> None:
        now = self.clock.now()
        n = 0
        while self.t <= now and n < self.max_catchup:
            self.step(self.t, self.dt)
            self.last_t = self.t
            self.t += self.dt
            n += 1
            self.stats.steps += 1
        if n == self.max_catchup and self.t <= now:
            self.stats.overruns += 1
        self.stats.lag_s = max(0.0, now - self.t)
        self.poll(self.last_t)
        self.stats.polls += 1
        wait = self.clock.wall_until(self.t)
        # Poll I/O at least every few ms of wall time even at low control
        # rates, so ground stations get prompt answers.
        self.sleep(min(wait, 0.02) if wait > 0 else 0.0)
