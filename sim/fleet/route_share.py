"""Fleet boats tell each other their route ahead over the simulated V2V
radio, as they would on the water (vehicle/maritime/mates.py says why and
how the COLREGs helm uses it).

Every ``link.period_s`` each working boat's core is asked for its
``route_ahead()``; it goes out as EDGEPILOT_ROUTE_AHEAD (our dialect,
WGS84, keyed by the boat's AIS MMSI; no points while it follows no route)
through a ``V2VRadio`` with the scenario's range, loss, latency,
partitions and radio faults, and every boat that hears it hands it to its
core (``mate_route_in``).  A broken-down boat's radio is silent, so her
mates stop believing her route ``mates.ROUTE_FRESH_S`` later and treat
her as any vessel.

The radio draws its loss from a stream of its own
(``member_seed(seed, ROUTE_STREAM)``), so adding route traffic leaves the
task auction's draws, and with them its allocation, what they were.
"""
from __future__ import annotations

import numpy as np

from edgepilot.firmware_bridge.fleet_link import read_route_ahead, route_ahead_message
from edgepilot.firmware_bridge.mavlink import dialects
from edgepilot.sim.fleet.link import V2VRadio
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
        mod = dialects.load()
        self.mav = {i: mod.MAVLink(None, srcSystem=runs[i].m.spec.sysid, srcComponent=1) for i in self.boats}
        self.parsers = {i: mod.MAVLink(None) for i in self.boats}
        for p in self.parsers.values():
            p.robust_parsing = True
        self.sent = 0
        self.taken = 0

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
            if j not in self.mav:
                self.radio.receive(j, t)          # a land vehicle has no use for a boat's route
        for i in self.boats:
            r = self.runs[i]
            for pkt in self.radio.receive(i, t):
                for msg in self.parsers[i].parse_buffer(pkt) or []:
                    if msg.get_type() != "EDGEPILOT_ROUTE_AHEAD" or r.broken_at is not None:
                        continue
                    try:
                        mmsi, ts, lat, lon, speed = read_route_ahead(msg)
                    except ValueError:
                        continue
                    r.core.mate_route_in(mmsi, ts, lat, lon, speed)
                    self.taken += 1
        for i in self.boats:
            r = self.runs[i]
            if r.broken_at is not None:
                continue
            core = r.core
            route = core.route_ahead()
            if route is None:
                lat = lon = ()
                speed = 0.0
            else:
                pts, speed = route
                lat, lon = core.frame.to_geo(pts[:, 0], pts[:, 1])
            msg = route_ahead_message(r.m.spec.ais_mmsi, t, lat, lon, speed)
            self.radio.broadcast(i, t, [msg.pack(self.mav[i])])
            self.sent += 1
