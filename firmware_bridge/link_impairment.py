"""A radio link's random loss and fixed latency, on any clock.

One ``DelayLine`` per receiver: ``put(t, frame)`` drops the frame with
probability ``loss`` (a draw from ``rng``) or holds it until ``t +
latency_s``; ``take(t)`` hands over what is due.  The simulated V2V radio
(``sim/fleet/link.py``, lockstep and real-time SITL) keeps one per vehicle,
all drawing from the scenario's seeded generator; a vehicle's own V2V
socket (``firmware_bridge.fleet_v2v.V2VLink``, ``edgepilot vehicle run
--v2v-loss/--v2v-latency``) can put one in front of what it hears, to try
a fleet on a bench whose network is better than its radios will be.
"""
from __future__ import annotations

import math
from collections import deque

import numpy as np


class DelayLine:
    def __init__(self, loss: float, latency_s: float, rng: np.random.Generator):
        if not (0.0 <= loss < 1.0):
            raise ValueError(f"link loss: expected a probability in [0, 1), got {loss}")
        if not (math.isfinite(latency_s) and latency_s >= 0.0):
            raise ValueError(f"link latency: expected seconds >= 0, got {latency_s}")
        self.loss = float(loss)
        self.latency_s = float(latency_s)
        self.rng = rng
        self.queue: deque = deque()
        self.lost = 0

    def put(self, t: float, frame: bytes) -> bool:
        """Send ``frame`` at ``t`` [s]; False when the link lost it."""
        if self.loss > 0 and self.rng.random() < self.loss:
            self.lost += 1
            return False
        self.queue.append((t + self.latency_s, frame))
        return True

    def take(self, t: float) -> list[bytes]:
        """The frames due by ``t`` [s], in the order sent."""
        q = self.queue
        out = []
        while q and q[0][0] <= t + 1e-9:
            out.append(q.popleft()[1])
        return out


__all__ = ["DelayLine"]
