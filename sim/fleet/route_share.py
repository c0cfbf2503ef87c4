"""Fleet boats tell each other their route ahead over the simulated V2V
radio, as they would on the water (vehicle/maritime/mates.py says why and
how the COLREGs helm uses it).

Every ``link.period_s`` each working boat's route share
(``firmware_bridge.fleet_routes.RouteAheadShare``, the one the real-time
fleet and ``vehicle run --v2v`` use) builds its EDGEPILOT_ROUTE_AHEAD (our
dialect, WGS84, keyed by the boat's AIS MMSI; no points while it follows
no route), signed with the fleet key (``link.fleet_key``) as on a real
V2V link, through a ``V2VRadio`` with the scenario's range, loss, latency,
partitions and radio faults; every boat that hears it checks the
signature and hands it to its route share, which checks the route and
gives it to its core.  A broken-down boat's radio is silent, so her mates
stop believing her route ``mates.ROUTE_FRESH_S`` later and treat her as
any vessel.

The radio draws its loss from a stream of its own
(``member_seed(seed, ROUTE_STREAM)``), so adding route traffic leaves the
task auction's draws, and with them its allocation, what they were.
"""
from __future__ import annotations

import numpy as np

from edgepilot.firmware_bridge.fleet_routes import ROUTE_MSG, RouteAheadShare
from edgepilot.sim.fleet.link import V2VEnds, V2VRadio, fleet_key
from edgepilot.sim.fleet.scenario import member_seed

#: the route radio's random stream (``member_seed(seed, ROUTE_STREAM)``)
ROUTE_STREAM = 20_001


class RouteShare:
    def __init__(self, sc, fw, runs, seed: int):
        self.runs = runs
        self.boats = [i for i, r in enumerate(runs) if r.m.spec.domain == "water"]
        self.period = sc.link.period_s
        self.next_t = self.period
        self.radio = V2VRadio(sc.link, sc.faults, fw, np.random.default_rng(member_seed(seed, ROUTE_STREAM)))
        self.ends = V2VEnds([r.m.spec.sysid for r in runs], fleet_key(sc, seed))
        self.shares = {i: RouteAheadShare(runs[i].core, runs[i].m.spec.ais_mmsi, period_s=self.period)
                       for i in self.boats}

    @property
    def sent(self) -> int:
        return sum(s.sent for s in self.shares.values())

    @property
    def taken(self) -> int:
        return sum(s.taken for s in self.shares.values())

    @classmethod
    def of_fleet(cls, sc, fw, runs, seed: int) -> "RouteShare | None":
        """The route share of a fleet with two boats or more, else None."""
        if sum(1 for r in runs if r.m.spec.domain == "water") < 2:
            return None
        return cls(sc, fw, runs, seed)

    def tick(self, t: float) -> None:
        if t + 1e-9 < self.next_t:
            return
        self.next_t += self.period
        for j in range(len(self.runs)):
            if j not in self.shares:
                self.radio.receive(j, t)          # a land vehicle has no use for a boat's route
        for i, share in self.shares.items():
            r = self.runs[i]
            for pkt in self.radio.receive(i, t):
                for msg in self.ends.parse(i, pkt):
                    if msg.get_type() == ROUTE_MSG and r.broken_at is None:
                        share.incoming(msg, t)
        for i, share in self.shares.items():
            if self.runs[i].broken_at is None:
                self.radio.broadcast(i, t, self.ends.pack(i, [share.message(t)]))
