"""Does the battery still cover this vehicle's tasks and the way home?

A vehicle's share of the fleet's work is only worth keeping while it can
finish it and get back: ``EnduranceWatch`` estimates, from the battery
readings the core already has (fraction remaining, time passed in), how
fast the pack is draining now and so how long the vehicle can still work
above the reserve; ``covers`` compares that with the time its route and
the return leg take.  When it no longer does, the vehicle withdraws from
the auction (``CbbaAgent.withdraw``: its tasks go back to the others) and
returns home.  Pure: no clock, no I/O.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from edgepilot.vehicle.fleet.costs import FleetCosts


@dataclass(frozen=True)
class EnduranceParams:
    """``window_s``: the drain rate is the slope of the readings over this
    long [s].  ``reserve``: battery fraction to arrive home with (at least
    the battery-low failsafe's).  ``margin``: the route and return time are
    multiplied by this (paths are longer than planned, detours)."""

    window_s: float = 10.0
    reserve: float = 0.3
    margin: float = 1.3

    def __post_init__(self):
        if not self.window_s > 0:
            raise ValueError(f"EnduranceParams.window_s must be > 0 s, got {self.window_s}")
        if not 0 <= self.reserve < 1:
            raise ValueError(f"EnduranceParams.reserve must be in [0, 1), got {self.reserve}")
        if not self.margin >= 1:
            raise ValueError(f"EnduranceParams.margin must be >= 1, got {self.margin}")


class EnduranceWatch:
    """Battery readings in, seconds of work left out."""

    def __init__(self, params: EnduranceParams | None = None):
        self.params = params or EnduranceParams()
        self._samples: deque[tuple[float, float]] = deque()

    def add(self, now: float, remaining: float | None) -> None:
        """A battery reading: ``remaining`` fraction 0..1 at ``now`` [s]."""
        if remaining is None or not math.isfinite(remaining):
            return
        s = self._samples
        s.append((float(now), float(remaining)))
        while len(s) > 2 and now - s[1][0] >= self.params.window_s:
            s.popleft()

    def drain_per_s(self) -> float | None:
        """Fraction of the pack used per second, least squares over the
        window (None until the window has filled)."""
        s = self._samples
        if len(s) < 2 or s[-1][0] - s[0][0] < 0.5 * self.params.window_s:
            return None
        t = np.array([x[0] for x in s])
        r = np.array([x[1] for x in s])
        slope = np.polyfit(t - t[0], r, 1)[0]
        return max(0.0, -float(slope))

    def left_s(self) -> float:
        """Seconds until the battery reaches the reserve at the present drain (inf: not draining / unknown)."""
        rate = self.drain_per_s()
        if rate is None or rate <= 0 or not self._samples:
            return math.inf
        return max(0.0, (self._samples[-1][1] - self.params.reserve) / rate)

    def covers(self, need_s: float) -> bool:
        """Whether the battery still covers ``need_s`` seconds of route and return."""
        return self.params.margin * need_s <= self.left_s()


def route_and_return_s(costs: FleetCosts, v: int, route: list[int], first_leg_s: float) -> float:
    """Time [s] for vehicle v to do ``route`` from where it is (``first_leg_s``
    to the first task's entry) and go back to its start: the legs between
    tasks, each task's work, the leg home (start-to-task distances read the
    other way).  An empty route: only ``first_leg_s`` (the way home)."""
    if not route:
        return float(first_leg_s)
    t = float(first_leg_s)
    for a, b in zip(route, route[1:]):
        t += costs.service_s[v, a] + costs.between_s[v, a, b]
    t += costs.service_s[v, route[-1]] + costs.start_s[v, route[-1]]
    return t
