"""The real-time loop: runs the control step at its rate and services I/O
between ticks.  I/O lives here and in the callbacks it is given, never in
the core.

Scheduling (one loop, two kinds of work):

- **Ticks** fall on absolute deadlines of the loop's clock,
  ``t_k = k * period`` (``next = prev + period``, never ``now + period``),
  so lateness does not accumulate.
- **Between ticks** the loop waits in ``select`` on the file descriptors the
  ``fds`` callback returns (drivers' serial ports, MAVLink sockets) with a
  timeout that ends at the next deadline: bytes that arrive are handed to
  ``poll`` at once, without busy-waiting and without delaying the tick.
- **A late tick** runs once, as soon as the loop gets the CPU back; it is
  never followed by a burst of catch-up ticks.  The deadlines it missed are
  counted (``LoopStats.missed``) and, by ``late``:

  - ``"skip"`` (a real vehicle): the missed ticks are dropped and the late
    tick runs at the *measured* time.  The core's loop watchdog
    (vehicle/safety/watchdog.py, kicked inside ``VehicleCore.step``) then
    sees the real gap between ticks, exactly as the lockstep runner makes
    it see a stall (it simply does not call ``step`` while the loop is
    stalled); a gap over ``FS_LOOP_MAX`` trips the loop-overrun failsafe.
  - ``"slip"`` (a simulated world on a ``ScaledClock``): the clock is held
    back by the time lost, so the simulated world and the core stay in
    step and ticks stay on the grid; the run just takes longer than
    ``1/speedup`` of the wall clock.  I/O is stamped no later than the
    next deadline, the time the world has been stepped to, so a command
    never reaches the core ahead of the world it acts in.

The loop keeps *vehicle time*: ``ScaledClock`` runs ``speedup`` times faster
than the monotonic wall clock (1.0 on a real vehicle).  Timing statistics
(tick lateness, period jitter, work time) are kept in wall seconds, from the
first tick after :meth:`RuntimeLoop.measure_from_next_tick` (called when
start-up work such as loading the JIT kernels is over).
"""
from __future__ import annotations

import math
import select
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np


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

    def hold_back(self, vehicle_s: float) -> None:
        """Set the clock back by ``vehicle_s`` seconds of vehicle time (the
        time a simulated world lost while the loop could not run)."""
        self._t0 += vehicle_s / self.speedup


#: A deadline this close [vehicle s] counts as reached: waiting out float
#: rounding would only spin.
_EARLY_S = 1e-9

#: Ticks whose timing is kept for percentiles (a ring; older ones drop out).
TIMING_WINDOW = 1 << 15


@dataclass
class LoopStats:
    """Counters since start, timing since ``RuntimeLoop.measure_from_next_tick``."""

    ticks: int = 0           # control ticks run
    polls: int = 0           # I/O services (after each tick, on readable fds, on the poll interval)
    io_wakeups: int = 0      # waits ended early by a readable file descriptor
    missed: int = 0          # deadlines skipped (or slipped) because the loop was late by a period or more
    overruns: int = 0        # late ticks that missed at least one deadline
    lag_s: float = 0.0       # lateness of the last tick behind its deadline [wall s]
    worst_lag_s: float = 0.0
    measured_ticks: int = 0
    _late: np.ndarray = field(default_factory=lambda: np.zeros(TIMING_WINDOW))
    _start: np.ndarray = field(default_factory=lambda: np.zeros(TIMING_WINDOW))
    _work: np.ndarray = field(default_factory=lambda: np.zeros(TIMING_WINDOW))

    def record(self, wall_start: float, late_s: float, work_s: float) -> None:
        i = self.measured_ticks % TIMING_WINDOW
        self._start[i], self._late[i], self._work[i] = wall_start, late_s, work_s
        self.measured_ticks += 1

    def reset_timing(self) -> None:
        self.measured_ticks = 0

    def timing(self, period_s: float) -> dict:
        """Percentiles over the measured ticks [ms]: lateness behind the
        deadline, period jitter |start_k - start_(k-1) - period| and the
        work per tick (step + the I/O right after it)."""
        n = min(self.measured_ticks, TIMING_WINDOW)
        if n == 0:
            return {"ticks": 0}
        order = np.arange(self.measured_ticks - n, self.measured_ticks) % TIMING_WINDOW
        late, start, work = self._late[order] * 1e3, self._start[order], self._work[order] * 1e3
        jit = np.abs(np.diff(start) - period_s) * 1e3 if n > 1 else np.zeros(1)

        def pct(a):
            return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)), "max": float(a.max())}

        return {"ticks": n, "late_ms": pct(late), "jitter_ms": pct(jit), "work_ms": pct(work)}


def wait_readable(fds: list[int], timeout_s: float) -> bool:
    """Block until one of ``fds`` is readable or ``timeout_s`` passed;
    True if something is readable.  ``select`` keeps microsecond timeouts
    (``poll``/``epoll`` round to whole milliseconds)."""
    if timeout_s <= 0:
        timeout_s = 0.0
    if not fds:
        time.sleep(timeout_s)
        return False
    try:
        r, _, _ = select.select(fds, [], [], timeout_s)
    except (OSError, ValueError):
        # A descriptor closed under us (a device unplugged between fds() and
        # select): the next poll notices and drops it; wait out the timeout.
        time.sleep(min(timeout_s, 0.001))
        return True
    return bool(r)


class RuntimeLoop:
    """``step(t, dt)`` runs one control tick at vehicle time ``t`` [s], ``dt``
    being the vehicle time since the previous tick (the period when on
    time); ``poll(t)`` services I/O.  ``fds()`` returns the file
    descriptors worth waking for (may change between calls).

    ``max_poll_interval`` [wall s] bounds the wait between I/O services at
    low control rates (devices without a descriptor, reconnect retries,
    periodic telemetry).  ``min_io_gap`` [wall s] keeps a descriptor that
    stays readable from turning the loop into a busy wait."""

    def __init__(self, step: Callable[[float, float], None], poll: Callable[[float], None],
                 rate_hz: float, clock: ScaledClock, *, fds: Callable[[], Iterable[int]] | None = None,
                 late: str = "skip", max_poll_interval: float = 0.02, min_io_gap: float = 0.001,
                 wait: Callable[[list[int], float], bool] = wait_readable,
                 on_overrun: Callable[[float, float, int], None] | None = None):
        if not (isinstance(rate_hz, (int, float)) and math.isfinite(rate_hz) and rate_hz > 0):
            raise ValueError(f"rate_hz: expected a positive number, got {rate_hz}")
        if late not in ("skip", "slip"):
            raise ValueError(f"late: expected 'skip' or 'slip', got {late!r}")
        if not max_poll_interval > 0:
            raise ValueError(f"max_poll_interval: expected a positive number of seconds, got {max_poll_interval}")
        self.step = step
        self.poll = poll
        self.fds = fds
        self.dt = 1.0 / rate_hz
        self.clock = clock
        self.late = late
        self.max_poll_interval = float(max_poll_interval)
        self.min_io_gap = float(min_io_gap)
        self.wait = wait
        self.on_overrun = on_overrun
        self.k = 0               # index of the next deadline: t_k = k * dt
        self.last_t: float | None = None   # vehicle time of the last tick run
        self.stats = LoopStats()
        self._stop = False
        self._measure_next = True
        self._measuring = False
        self._last_poll_wall = -math.inf
        self._last_io_wall = -math.inf

    @property
    def t(self) -> float:
        """Vehicle time of the next deadline."""
        return self.k * self.dt

    def stop(self) -> None:
        self._stop = True

    def measure_from_next_tick(self) -> None:
        """Restart the timing statistics at the next tick (thread-safe: a
        flag the loop reads)."""
        self._measure_next = True

    def run(self, until: float | None = None, should_stop: Callable[[], bool] | None = None) -> None:
        """Run until vehicle time ``until`` (None: forever), ``stop()`` or ``should_stop()``."""
        while not self._stop and (until is None or self.t < until):
            if should_stop is not None and should_stop():
                break
            self.run_once()

    # ------------------------------------------------------------ one iteration
    def run_once(self) -> None:
        """Run the tick if its deadline has passed, else wait for I/O or
        the deadline (whichever first) and service I/O."""
        clock = self.clock
        now = clock.now()
        due = self.k * self.dt
        if now >= due - _EARLY_S:
            self._tick(now, due)
            return
        wall = clock.wall()
        until_tick = (due - now) / clock.speedup
        until_poll = self._last_poll_wall + self.max_poll_interval - wall
        timeout = min(until_tick, max(until_poll, 0.0))
        if wall - self._last_io_wall < self.min_io_gap:
            # The last wake-up was for I/O moments ago: let bytes gather
            # instead of spinning on a descriptor that stays readable.
            self.wait([], min(timeout, self.min_io_gap - (wall - self._last_io_wall)))
            readable = False
        else:
            fds = [f for f in (self.fds() if self.fds is not None else ()) if f is not None and f >= 0]
            readable = self.wait(fds, timeout)
        if readable:
            self.stats.io_wakeups += 1
            self._last_io_wall = clock.wall()
            self._poll(clock.now())
        elif clock.wall() - self._last_poll_wall >= self.max_poll_interval - 1e-6 and clock.now() < due:
            self._poll(clock.now())

    def _tick(self, now: float, due: float) -> None:
        clock = self.clock
        wall_start = clock.wall()
        st = self.stats
        if self._measure_next:
            # From this tick on (a request made during a tick counts from the next).
            self._measure_next = False
            st.reset_timing()
        late_s = max(0.0, now - due) / clock.speedup
        missed = max(0, int((now - due) / self.dt + 1e-9))
        if missed > 0:
            st.missed += missed
            st.overruns += 1
            if self.on_overrun is not None:
                self.on_overrun(now, late_s, missed)
        if self.late == "slip":
            # Hold the simulated clock back by the time lost beyond the
            # deadline: the world does not move while the loop cannot run.
            if missed > 0:
                clock.hold_back(now - due)
            t = due
            self.k += 1
        else:
            t = now
            self.k += missed + 1
        dt = self.dt if self.last_t is None else t - self.last_t
        self.step(t, dt)
        self.last_t = t
        st.ticks += 1
        st.lag_s = late_s
        st.worst_lag_s = max(st.worst_lag_s, late_s)
        self._poll(clock.now())
        st.record(wall_start, late_s, clock.wall() - wall_start)

    def _poll(self, t: float) -> None:
        if self.late == "slip":
            # The simulated world has not been stepped past the next deadline
            # (a late tick holds the clock back only when it runs): I/O is
            # stamped no later than that, so a command is never handed to
            # the core ahead of the world it acts in.
            t = min(t, self.t)
        self.poll(t)
        self.stats.polls += 1
        self._last_poll_wall = self.clock.wall()
