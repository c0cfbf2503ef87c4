"""A scenario's pass criteria, checked once for every way of flying it
(lockstep SITL, hardware-in-the-loop): the same measurements give the same
verdict and the same words."""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Measured:
    """What a run measured, whoever ran it.  ``max_cross_track_m`` is None
    when the runner cannot see the core's cross-track error (HIL)."""

    mission_complete: bool
    waypoints_reached: int
    waypoints_total: int
    collisions: int
    first_collision: tuple[float, float] | None
    min_clearance_m: float
    max_cross_track_m: float | None = None
    failure: str | None = None


def check_criteria(crit, m: Measured) -> list[str]:
    """The reasons ``m`` fails the scenario criteria ``crit`` (empty: passed)."""
    reasons = []
    if m.failure:
        reasons.append(m.failure)
    if crit.all_waypoints and not m.mission_complete:
        reasons.append(f"mission not complete: {m.waypoints_reached}/{m.waypoints_total} waypoints reached"
                       + ("" if m.failure else f" within {crit.max_time_s:g} s"))
    if crit.no_collision and m.collisions:
        where = (f", first at ({m.first_collision[0]:.1f}, {m.first_collision[1]:.1f}) m"
                 if m.first_collision is not None else "")
        reasons.append(f"{m.collisions} collision(s){where}")
    if math.isfinite(m.min_clearance_m) and m.min_clearance_m < crit.min_clearance_m:
        reasons.append(f"minimum clearance {m.min_clearance_m:.2f} m is below the required "
                       f"{crit.min_clearance_m:.2f} m")
    if (crit.max_cross_track_m is not None and m.max_cross_track_m is not None
            and m.max_cross_track_m > crit.max_cross_track_m):
        reasons.append(f"cross-track error reached {m.max_cross_track_m:.2f} m "
                       f"(limit {crit.max_cross_track_m:.2f} m)")
    return reasons


class ClearanceMonitor:
    """Collisions (counted on entry), where the first one happened, and the
    minimum clearance, from ``Simulation.clearance()`` samples."""

    def __init__(self):
        self.collisions = 0
        self.points: list[tuple[float, float]] = []
        self.min_clearance = math.inf
        self._in_collision = False

    def sample(self, sim) -> tuple[float, bool]:
        clear, hit = sim.clearance()
        if hit and not self._in_collision:
            self.collisions += 1
            self.points.append((sim.truth.x, sim.truth.y))
        self._in_collision = hit
        if clear < self.min_clearance:      # min(min_clearance, clear) as a comparison: the same pick
            self.min_clearance = clear
        return clear, hit

    @property
    def first(self) -> tuple[float, float] | None:
        return self.points[0] if self.points else None
