"""A fleet boat's side of route sharing on the V2V link: its route ahead
out about once a second (EDGEPILOT_ROUTE_AHEAD, docs/fleet_dialect.md),
its fleet-mates' routes in, checked, to its core's COLREGs helm
(vehicle/maritime/mates.py says why and how the helm uses them).

One ``RouteAheadShare`` per boat serves every runner the same way: the
lockstep fleet (``sim/fleet/route_share.py``, packets through the
simulated radio), the real-time fleet and ``edgepilot vehicle run --v2v``
(``poll`` over the vehicle's ``fleet_v2v.V2VLink``, signed like every
other frame of that link, beside the task auction).

What a received route must pass, else it is dropped, counted under its
reason (``DROP_REASONS``) and logged, never handed to the helm:

- ``malformed``: a field the message cannot carry (``read_route_ahead``);
- ``stale``: sent more than ``fresh_s`` ago, by the sender's fleet time
  against ours (a frame that spent too long in the radio, or a replay the
  link's signing did not already refuse);
- ``clock_ahead``: stamped more than ``fresh_s`` ahead of our fleet time
  (the sender's clock is that far off ours: her route's times mean nothing here);
- ``not_newer``: not newer than the route already taken from her (a
  duplicate or a frame overtaken by a later one);
- ``refused``: the helm's own check (``FleetMates.update``: a route that
  cannot be one, such as one longer than a route ahead can be).

Clocks.  A route says where she was at *her* fleet time ``t``.  Fleet time
is one clock on paper (GPS/NTP time on the vehicles; the world clock in
simulation) but two vehicles' clocks differ by their sync error, and a
vehicle's core runs on a clock of its own (``vehicle run``: the loop's
monotonic time).  So the age is read once, on arrival, as our fleet time
less hers, kept within 0..``fresh_s`` (a route cannot be from the future:
a sender whose clock runs a little ahead is taken as sent just now), and
the route is handed to the core stamped with *its* clock at arrival less
that age; from then on the helm ages it on the core's own clock.  A clock
offset between the boats thus moves her predicted position by at most
offset x speed (the helm's 10 m gate against where AIS puts her catches
more), and an offset over ``fresh_s`` makes every route of hers stale or
ahead: she is an ordinary contact.  In lockstep (one clock, the core's)
the stamp is her time exactly.
"""
from __future__ import annotations

import logging
import math
import time

from edgepilot.firmware_bridge.fleet_link import read_route_ahead, route_ahead_message
from edgepilot.vehicle.maritime.mates import ROUTE_FRESH_S

log = logging.getLogger(__name__)

ROUTE_MSG = "EDGEPILOT_ROUTE_AHEAD"
#: Why a received route was dropped (module docstring).
DROP_REASONS = ("malformed", "stale", "clock_ahead", "not_newer", "refused")
#: A drop reason is logged at most this often [s of wall time].
LOG_EVERY_S = 5.0


class RouteAheadShare:
    """One boat's route share.  ``message(now)`` builds the route to send,
    ``incoming(msg, now)`` takes one heard; ``poll(now)`` does both over
    the ``v2v`` link (every ``period_s`` of fleet time a route out, every
    call the routes heard in).  ``now`` is the core's clock [s];
    ``fleet_clock()`` the time the fleet shares [s] (None: the core's clock
    is the fleet's, as in simulation)."""

    def __init__(self, core, mmsi: int, *, period_s: float = 1.0, fleet_clock=None, v2v=None,
                 fresh_s: float = ROUTE_FRESH_S):
        if not (0 < int(mmsi) < 1 << 32):
            raise ValueError(f"route share: mmsi must be the boat's AIS MMSI (1..2^32-1), got {mmsi}")
        if not (math.isfinite(period_s) and period_s > 0) or not (math.isfinite(fresh_s) and fresh_s > 0):
            raise ValueError(f"route share: need period_s > 0 and fresh_s > 0, got {period_s}, {fresh_s}")
        self.core = core
        self.mmsi = int(mmsi)
        self.period_s = float(period_s)
        self.fresh_s = float(fresh_s)
        self.fleet_clock = fleet_clock
        self.link = v2v
        if v2v is not None:
            v2v.subscribe(ROUTE_MSG)
        self.sent = self.heard = self.taken = 0
        self.dropped = dict.fromkeys(DROP_REASONS, 0)
        self.last_drop = ""
        self._newest: dict[int, float] = {}         # MMSI -> her newest fleet time taken
        self._next_send: float | None = None
        self._in_use: frozenset = frozenset()
        self._logged: dict[str, float] = {}

    def _ft(self, now: float) -> float:
        return float(now) if self.fleet_clock is None else float(self.fleet_clock())

    # ------------------------------------------------------------ out
    def message(self, now: float):
        """EDGEPILOT_ROUTE_AHEAD of the boat now: its route ahead
        (``VehicleCore.route_ahead``) in WGS84, no points while it follows none."""
        core = self.core
        route = core.route_ahead()
        if route is None:
            lat = lon = ()
            speed = 0.0
        else:
            pts, speed = route
            lat, lon = core.frame.to_geo(pts[:, 0], pts[:, 1])
        self.sent += 1
        return route_ahead_message(self.mmsi, self._ft(now), lat, lon, speed)

    # ------------------------------------------------------------ in
    def incoming(self, msg, now: float) -> bool:
        """Take a heard EDGEPILOT_ROUTE_AHEAD to the helm; False when it
        was dropped (counted under its reason) or not taken."""
        self.heard += 1
        try:
            mmsi, ts, lat, lon, speed = read_route_ahead(msg)
        except ValueError as e:
            return self._drop("malformed", str(e))
        age = self._ft(now) - ts
        if age > self.fresh_s:
            return self._drop("stale", f"route of MMSI {mmsi}: sent {age:.1f} s ago by her clock against ours, "
                                       f"more than {self.fresh_s:g} s")
        if age < -self.fresh_s:
            return self._drop("clock_ahead", f"route of MMSI {mmsi}: stamped {-age:.1f} s ahead of our fleet "
                                             f"clock, more than {self.fresh_s:g} s: her clock is off ours")
        if ts <= self._newest.get(mmsi, -math.inf):
            return self._drop("not_newer", f"route of MMSI {mmsi}: sent at {ts:.3f} s, not newer than the one "
                                           f"taken from her ({self._newest[mmsi]:.3f} s)")
        # on the core's clock: hers as sent when the fleet's clock is the core's, else ours at arrival less the age
        t_core = min(ts, float(now)) if self.fleet_clock is None else float(now) - max(age, 0.0)
        try:
            taken = self.core.mate_route_in(mmsi, t_core, lat, lon, speed)
        except ValueError as e:
            return self._drop("refused", str(e))
        self._newest[mmsi] = ts
        if taken:
            self.taken += 1
        return bool(taken)

    def _drop(self, reason: str, text: str) -> bool:
        self.dropped[reason] += 1
        self.last_drop = text
        now = time.monotonic()
        if now >= self._logged.get(reason, -math.inf):
            self._logged[reason] = now + LOG_EVERY_S
            log.warning("V2V route dropped (%s, %d so far): %s", reason, self.dropped[reason], text)
        return False

    # ------------------------------------------------------------ over the V2V link
    def poll(self, now: float) -> None:
        """The routes heard on the link to the helm; the boat's own out
        when a ``period_s`` of fleet time has passed since the last."""
        if self.link is None:
            return
        for m in self.link.take(ROUTE_MSG):
            self.incoming(m, now)
        ft = self._ft(now)
        if self._next_send is None or ft + 1e-9 >= self._next_send:
            nxt = ft if self._next_send is None else self._next_send
            self._next_send = max(nxt + self.period_s, ft)
            self.link.send([self.message(now)])

    def changes(self) -> list[str]:
        """One line for each mate the helm began or stopped predicting
        along her route since the last call."""
        now = frozenset(self.core.mate_routes()["in_use"])
        out = [f"predicts MMSI {k} along her shared route" for k in sorted(now - self._in_use)]
        out += [f"MMSI {k}: her shared route not used now, predicted by her velocity"
                for k in sorted(self._in_use - now)]
        self._in_use = now
        return out

    def stats(self) -> dict:
        h = self.core.mate_routes()
        return {"routes_sent": self.sent, "routes_heard": self.heard, "routes_taken": self.taken,
                "routes_used": h["used"], "helm_ticks_along_routes": h["ticks_along"],
                "routes_dropped": dict(self.dropped)}

    def summary(self) -> str:
        """``routes sent N, heard N, used N`` and the drops by reason, if any."""
        s = self.stats()
        drops = ", ".join(f"{k} {v}" for k, v in s["routes_dropped"].items() if v)
        return (f"routes sent {s['routes_sent']}, heard {s['routes_heard']}, used {s['routes_used']}"
                + (f", dropped {drops}" if drops else ""))

    def fds(self) -> list[int]:
        return []                    # the link's socket is waited on by its owner (the auction)

    def close(self) -> None:
        pass                         # the link is closed by its owner


__all__ = ["DROP_REASONS", "ROUTE_MSG", "RouteAheadShare"]
