"""Fleet-mates at sea: boats of our own fleet, predicted along the route
each of them shares, not along its velocity.

The COLREGs helm judges the risk of collision by the closest point of
approach of straight-line motion.  That is all one can know of a stranger,
but it is wrong for a fleet-mate working a survey pattern: at the end of a
lane she turns, and for those seconds her velocity points across the
water at whoever works the next sector, a closest approach that never
comes.  A fleet-mate tells us where she is going instead: about once a
second she broadcasts her *route ahead* over the vehicle-to-vehicle link
(EDGEPILOT_ROUTE_AHEAD: her position, the rest of the path she follows,
her next waypoints, the speed she plans), keyed by her AIS MMSI.

The rule (``FleetMates.usable``): a contact is predicted along a shared
route only while all of these hold, else by its velocity as any vessel:

- the route is fresh: sent no more than ``fresh_s`` ago (a mate whose link
  went silent, broke down or went out of range falls back to ordinary
  COLREGs within ``fresh_s``);
- she says she follows it (a mate holding or manoeuvring for a contact
  shares no route);
- where we see her (AIS, lidar) agrees with where the route puts her now,
  within ``gate_m`` (a route that is not what she does is not believed);
- we follow a route ourselves (our own prediction then runs along it too;
  while we manoeuvre, straight lines).

The route only changes the prediction.  When the two routes do bring the
boats within the comfort distance, the encounter is an ordinary COLREGs
encounter, classified and latched as with any vessel, so who gives way is
decided by the rules of the road from the geometry, the same on both
boats.  Positions are map-frame ENU metres, times seconds of the fleet
clock (the one every vehicle keeps: GPS time).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: a route older than this [s] is not used (the link period is 1 s)
ROUTE_FRESH_S = 3.0
#: A fleet boat's AIS MMSI when none is given: this + its MAVLink system id
#: (fleet scenarios and ``vehicle run --v2v`` alike).
DEFAULT_MMSI_BASE = 993_000_000
#: a route whose position for now is farther than this [m] from the contact is not believed
ROUTE_GATE_M = 10.0
#: the routes are compared at this step [s] over the helm's horizon
ROUTE_STEP_S = 1.0
#: the longest route shared (points after the position) and how far ahead [m]
ROUTE_MAX_POINTS = 11
ROUTE_AHEAD_M = 80.0
#: a route longer than this [m] is not a route ahead of ours (we share 80 m): refused
ROUTE_MAX_SPAN_M = 1000.0


@dataclass(frozen=True)
class SharedRoute:
    """A fleet-mate's route ahead as received: map-frame ``points`` (N, 2)
    [m], ``points[0]`` her position at fleet time ``t`` [s]; ``speed`` the
    speed she plans along it [m/s].  N < 2: she follows no route."""

    mmsi: int
    t: float
    points: np.ndarray
    speed: float

    @property
    def following(self) -> bool:
        return len(self.points) >= 2 and self.speed > 0.0


def along(points: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Points (K, 2) at the distances ``dist`` (K,) [m] along the polyline
    ``points`` (N, 2) from its start, held at its end beyond it."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    d = np.asarray(dist, np.float64)
    if len(pts) == 1:
        return np.repeat(pts, len(d), axis=0)
    seg = np.hypot(*(pts[1:] - pts[:-1]).T)
    cum = np.concatenate(([0.0], np.cumsum(seg)))
    d = np.clip(d, 0.0, cum[-1])
    return np.column_stack((np.interp(d, cum, pts[:, 0]), np.interp(d, cum, pts[:, 1])))


class FleetMates:
    """The routes our fleet-mates shared, by MMSI (the latest of each)."""

    def __init__(self, fresh_s: float = ROUTE_FRESH_S, gate_m: float = ROUTE_GATE_M):
        for name, v in (("fresh_s", fresh_s), ("gate_m", gate_m)):
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"FleetMates: {name} must be > 0, got {v}")
        self.fresh_s = float(fresh_s)
        self.gate_m = float(gate_m)
        self.routes: dict[int, SharedRoute] = {}
        #: routes taken in; of them, routes the helm predicted a mate along at least once
        self.heard = 0
        self.used = 0
        #: helm ticks that predicted at least one mate along her route
        self.ticks_along = 0
        #: the MMSIs predicted along their routes at the helm's last tick
        self.in_use: frozenset[int] = frozenset()
        self._counted: dict[int, float] = {}

    def update(self, r: SharedRoute) -> bool:
        """Take in a received route; False when it is older than the one
        held (ignored).  ValueError, naming the MMSI, for a route that
        cannot be one: not finite, a negative speed, or longer than
        ``ROUTE_MAX_SPAN_M``."""
        pts = np.asarray(r.points, np.float64).reshape(-1, 2)
        if not (math.isfinite(r.t) and math.isfinite(r.speed) and np.isfinite(pts).all()):
            raise ValueError(f"shared route of MMSI {r.mmsi}: time, speed and points must be finite")
        if r.speed < 0:
            raise ValueError(f"shared route of MMSI {r.mmsi}: speed {r.speed} m/s is negative")
        span = float(np.hypot(*(pts[1:] - pts[:-1]).T).sum()) if len(pts) > 1 else 0.0
        if span > ROUTE_MAX_SPAN_M:
            raise ValueError(f"shared route of MMSI {r.mmsi}: {span:.0f} m long, more than the "
                             f"{ROUTE_MAX_SPAN_M:g} m a route ahead can be")
        old = self.routes.get(int(r.mmsi))
        if old is not None and r.t < old.t:
            return False
        self.routes[int(r.mmsi)] = SharedRoute(int(r.mmsi), float(r.t), pts, float(r.speed))
        self.heard += 1
        return True

    def note_used(self, keys) -> None:
        """The helm predicted the mates ``keys`` along their routes this tick (counted)."""
        self.in_use = frozenset(int(k) for k in keys)
        if not self.in_use:
            return
        self.ticks_along += 1
        for k in self.in_use:
            t = self.routes[k].t
            if self._counted.get(k) != t:
                self._counted[k] = t
                self.used += 1

    def usable(self, key: int, now: float, x: float, y: float) -> SharedRoute | None:
        """The route to predict contact ``key`` (seen at x, y [m] now) by,
        or None: predict it by its velocity (see the module docstring)."""
        r = self.routes.get(int(key))
        if r is None or not r.following:
            return None
        age = now - r.t
        if age > self.fresh_s or age < -self.fresh_s:     # stale, or from a clock far ahead of ours
            return None
        px, py = self.predict(r, now, np.zeros(1))[0]
        if math.hypot(px - x, py - y) > self.gate_m:
            return None
        return r

    @staticmethod
    def predict(r: SharedRoute, now: float, times: np.ndarray) -> np.ndarray:
        """Her positions (K, 2) [m] at ``now + times`` [s] along her route."""
        return along(r.points, r.speed * (now - r.t + np.asarray(times, np.float64)))


def route_risk(own: np.ndarray, other: np.ndarray, radius: float) -> tuple[float, float]:
    """Closest range less ``radius`` [m] between two predictions (K, 2)
    sampled at the same times ``ROUTE_STEP_S`` apart from now, and when
    [s from now]."""
    d = np.hypot(own[:, 0] - other[:, 0], own[:, 1] - other[:, 1]) - radius
    k = int(np.argmin(d))
    return float(d[k]), k * ROUTE_STEP_S
