"""The simulated vehicle-to-vehicle radio.

Packets (MAVLink bytes, as the real link carries them) broadcast by one
vehicle reach every other vehicle that is alive, within ``range_m``, in
the same partition group and whose radio is not down, each packet lost
independently with probability ``loss`` (the seeded generator), after
``latency_s``.  Partitions and a vehicle's radio loss are fleet faults of
the scenario (``link_partition``, ``link_loss``)."""
from __future__ import annotations

import math
from collections import deque

import numpy as np


class V2VRadio:
    def __init__(self, spec, faults, fleet_world, rng: np.random.Generator):
        self.spec = spec
        self.fw = fleet_world
        self.rng = rng
        self.partitions = [f for f in faults if f.type == "link_partition"]
        self.outages = [f for f in faults if f.type == "link_loss"]
        names = [m.spec.name for m in fleet_world.members]
        self.names = names
        self._queues: list[deque] = [deque() for _ in names]
        self.sent = 0
        self.delivered = 0
        self.lost = 0
        self.blocked = 0

    def _group(self, t: float, name: str, idx: int):
        for f in self.partitions:
            if f.at_s <= t < f.at_s + f.duration_s:
                for g, members in enumerate(f.groups):
                    if name in members:
                        return (id(f), g)
                return (id(f), "alone", idx)
        return None

    def radio_up(self, i: int, t: float) -> bool:
        name = self.names[i]
        if not self.fw.members[i].alive:
            return False
        return not any(f.vehicle == name and f.at_s <= t < f.at_s + f.duration_s for f in self.outages)

    def can_hear(self, i: int, j: int, t: float) -> bool:
        """Whether j hears what i sends at ``t`` (apart from random loss)."""
        if not (self.radio_up(i, t) and self.radio_up(j, t)):
            return False
        if self._group(t, self.names[i], i) != self._group(t, self.names[j], j):
            return False
        if math.isfinite(self.spec.range_m):
            p = self.fw.positions()
            if math.hypot(p[i, 0] - p[j, 0], p[i, 1] - p[j, 1]) > self.spec.range_m:
                return False
        return True

    def broadcast(self, i: int, t: float, packets: list[bytes]) -> None:
        if not self.radio_up(i, t):
            return
        self.sent += len(packets)
        at = t + self.spec.latency_s
        for j in range(len(self.names)):
            if j == i:
                continue
            if not self.can_hear(i, j, t):
                self.blocked += len(packets)
                continue
            for pkt in packets:
                if self.spec.loss > 0 and self.rng.random() < self.spec.loss:
                    self.lost += 1
                    continue
                self._queues[j].append((at, pkt))

    def receive(self, j: int, t: float) -> list[bytes]:
        q = self._queues[j]
        out = []
        while q and q[0][0] <= t + 1e-9:
            out.append(q.popleft()[1])
        self.delivered += len(out)
        if not self.radio_up(j, t):
            return []
        return out

    def stats(self) -> dict:
        return {"packets_sent": self.sent, "packets_delivered": self.delivered, "packets_lost": self.lost,
                "packets_blocked": self.blocked, "range_m": self.spec.range_m if math.isfinite(self.spec.range_m)
                else None, "loss": self.spec.loss, "latency_s": self.spec.latency_s}
