"""Perception rate manager: each sensor processed at its own rate, stale
data flagged.

Time is passed in (seconds on the core's clock); nothing here reads a
clock.  A sensor is *stale* when nothing has arrived for ``stale_after``
seconds (default 2.5 periods) or has never arrived by then since the
manager started; the safety layer reads ``stale()`` / ``status()``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from edgepilot.vehicle.types import direct_init


@direct_init            # one per sensor every control tick
@dataclass(frozen=True)
class SensorStatus:
    """``age`` seconds since the last sample (inf if none), ``stale``,
    ``rate_hz`` the measured arrival rate (exponential average, 0 before
    two samples), ``expected_hz`` the declared rate, ``count`` samples."""

    name: str
    age: float
    stale: bool
    rate_hz: float
    expected_hz: float
    count: int


class _Sensor:
    __slots__ = ("rate", "stale_after", "process_rate", "last", "last_processed", "count", "period_avg")

    def __init__(self, rate, stale_after, process_rate):
        self.rate = rate
        self.stale_after = stale_after
        self.process_rate = process_rate
        self.last = None
        self.last_processed = None
        self.count = 0
        self.period_avg = None


class RateManager:
    """Declare sensors with ``add(name, rate_hz, stale_after=None,
    process_hz=None)``; call ``arrived(name, t)`` when a sample comes in,
    ``should_process(name, now)`` to run that sensor's pipeline at
    ``process_hz`` (default: every sample), and ``stale(now)`` for the
    names whose data is too old."""

    def __init__(self, start_t: float = 0.0):
        self._s: dict[str, _Sensor] = {}
        self.start_t = float(start_t)
        # the value set_stale_after_all last gave every sensor (None once
        # any sensor was added or set on its own since)
        self._all_stale_after: float | None = None

    def add(self, name: str, rate_hz: float, stale_after: float | None = None,
            process_hz: float | None = None) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"sensor name must be a non-empty string, got {name!r}")
        if name in self._s:
            raise ValueError(f"sensor {name!r} is already declared")
        if not (rate_hz > 0 and math.isfinite(rate_hz)):
            raise ValueError(f"sensor {name!r}: rate_hz must be a positive number, got {rate_hz!r}")
        if stale_after is None:
            stale_after = 2.5 / rate_hz
        if not stale_after > 0:
            raise ValueError(f"sensor {name!r}: stale_after must be > 0 s, got {stale_after!r}")
        if process_hz is not None and not process_hz > 0:
            raise ValueError(f"sensor {name!r}: process_hz must be > 0, got {process_hz!r}")
        self._s[name] = _Sensor(float(rate_hz), float(stale_after), process_hz)
        self._all_stale_after = None

    def set_stale_after(self, name: str, seconds: float) -> None:
        """Change when ``name`` counts as stale (e.g. from a tunable parameter)."""
        if not (seconds > 0 and math.isfinite(seconds)):
            raise ValueError(f"sensor {name!r}: stale_after must be a positive number of s, got {seconds!r}")
        self._get(name).stale_after = float(seconds)
        self._all_stale_after = None

    def set_stale_after_all(self, seconds: float) -> None:
        """Every declared sensor counts as stale after ``seconds``.  The core
        calls this every tick with its parameter; when every sensor already
        has that value from the last call (the usual case) nothing is
        checked or written again."""
        if seconds == self._all_stale_after:       # a number checked before (NaN never equals)
            return
        for name in self._s:
            self.set_stale_after(name, seconds)
        self._all_stale_after = float(seconds)

    def names(self) -> list[str]:
        return list(self._s)

    def _get(self, name: str) -> _Sensor:
        try:
            return self._s[name]
        except KeyError:
            raise KeyError(f"unknown sensor {name!r}; declared: {sorted(self._s)}") from None

    def arrived(self, name: str, t: float) -> None:
        s = self._get(name)
        t = float(t)
        if s.last is not None:
            if t < s.last:
                raise ValueError(f"sensor {name!r}: sample time {t} is before the previous {s.last}")
            dt = t - s.last
            if dt > 0:
                s.period_avg = dt if s.period_avg is None else 0.8 * s.period_avg + 0.2 * dt
        s.last = t
        s.count += 1

    def should_process(self, name: str, now: float) -> bool:
        """True when ``name`` has fresh data and its processing is due at
        ``now``; marks it processed."""
        s = self._get(name)
        if s.last is None or (s.last_processed is not None and s.last <= s.last_processed):
            return False
        if s.process_rate is not None and s.last_processed is not None \
                and now - s.last_processed < 1.0 / s.process_rate - 1e-9:
            return False
        s.last_processed = float(now)
        return True

    def status(self, now: float) -> dict[str, SensorStatus]:
        out = {}
        for name, s in self._s.items():
            last = s.last
            if last is None:
                age = math.inf
                stale = now - self.start_t > s.stale_after
            else:
                d = now - last
                age = d if d > 0.0 else 0.0         # max(0.0, d), NaN too
                stale = d > s.stale_after
            p = s.period_avg
            out[name] = SensorStatus(name, age, stale, 1.0 / p if p else 0.0, s.rate, s.count)
        return out

    def stale(self, now: float) -> list[str]:
        """Names of sensors whose data is stale at ``now``, sorted."""
        return sorted(n for n, st in self.status(now).items() if st.stale)
