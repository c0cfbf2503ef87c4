"""Lockstep fleet SITL: every vehicle of a fleet scenario in one world on
one simulated clock.

Each member is its own ``Simulation`` (dynamics, sensors, single-vehicle
faults) over the shared raster of its domain and runs its own unchanged
``VehicleCore`` at its own control rate; the others are moving obstacles
to its lidar and camera and, between boats, AIS targets.  Physics runs at
100 Hz for all.  With a task file, ``sim.fleet.tasking`` allocates the
tasks (CBBA per vehicle over the simulated V2V link, or the central
OR-Tools plan), uploads each vehicle's share as its mission and tracks who
did what.  A seed gives the same run every time.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from edgepilot.sim.criteria import ClearanceMonitor
from edgepilot.sim.fleet.scenario import FleetScenario, member_scenario, member_seed
from edgepilot.sim.fleet.world import FleetWorld, Member
from edgepilot.sim.lockstep import RunOutcome, act_core, sense_core
from edgepilot.sim.simulation import PHYSICS_DT, Simulation
from edgepilot.sim.traffic import Traffic
from edgepilot.sim.world import SimWorld
from edgepilot.vehicle.geo import LocalFrame
from edgepilot.vehicle.types import Cmd, Event, MissionState, Severity

#: Inter-vehicle separation is sampled at this rate [Hz] (cheaper than every tick, fine for 2 m/s vehicles).
SEPARATION_HZ = 10.0
TRACK_HZ = 10.0
# bound once: an enum member look-up costs ~10x a global's, and ``_finished`` runs every physics step
_COMPLETE = MissionState.COMPLETE


@dataclass
class VehicleResult:
    name: str
    sysid: int
    kind: str
    domain: str
    track: np.ndarray                 # (N, 6) t, x, y, yaw, speed, clearance
    events: list[Event]
    waypoints_total: int = 0
    waypoints_reached: int = 0
    mission_complete: bool = False
    path_length_m: float = 0.0
    min_clearance_m: float = math.inf
    collisions: int = 0
    collision_points: list = field(default_factory=list)
    broken_at: float | None = None
    failure: str | None = None
    internal_errors: int = 0
    final_mode: str = ""
    tasks_done: list[str] = field(default_factory=list)

    def row(self) -> dict:
        return {"vehicle": self.name, "sysid": self.sysid, "kind": self.kind, "domain": self.domain,
                "mission_complete": self.mission_complete, "waypoints_reached": self.waypoints_reached,
                "waypoints_total": self.waypoints_total, "path_length_m": round(self.path_length_m, 2),
                "min_clearance_m": round(self.min_clearance_m, 3) if math.isfinite(self.min_clearance_m) else None,
                "collisions": self.collisions, "broken_at_s": self.broken_at, "failure": self.failure,
                "internal_errors": self.internal_errors, "final_mode": self.final_mode,
                "tasks_done": self.tasks_done}


@dataclass
class FleetResult(RunOutcome):
    steps: int
    vehicles: list[VehicleResult]
    min_separation_m: float
    min_separation_at: tuple[float, str, str] | None
    vehicle_collisions: int
    tasks: dict = field(default_factory=dict)          # tasking summary (who did what, coverage, ...)
    casualties: list[dict] = field(default_factory=list)
    link: dict = field(default_factory=dict)
    contact_tracks: dict = field(default_factory=dict)
    harbour: dict = field(default_factory=dict)        # threat watch: alerts, shadows, stand-off, patrol gap

    def summary(self) -> dict:
        rows = [v.row() for v in self.vehicles]
        fleet = {"vehicle": "fleet", "vehicles": len(self.vehicles),
                 "missions_complete": sum(v.mission_complete for v in self.vehicles),
                 "path_length_m": round(sum(v.path_length_m for v in self.vehicles), 2),
                 "min_clearance_m": round(min((v.min_clearance_m for v in self.vehicles), default=math.inf), 3),
                 "collisions": sum(v.collisions for v in self.vehicles) + self.vehicle_collisions,
                 "vehicle_collisions": self.vehicle_collisions,
                 "min_separation_m": round(self.min_separation_m, 3) if math.isfinite(self.min_separation_m) else None,
                 "min_separation_at": (None if self.min_separation_at is None else
                                       {"t": round(self.min_separation_at[0], 2), "between": list(self.min_separation_at[1:])}),
                 "broken_down": [v.name for v in self.vehicles if v.broken_at is not None]}
        return {"scenario": self.scenario, "seed": self.seed, "passed": self.passed, "reasons": self.reasons,
                "sim_time_s": round(self.sim_time_s, 3), "wall_time_s": round(self.wall_time_s, 3),
                "real_time_factor": round(self.real_time_factor, 2), "steps": self.steps,
                "vehicles": rows, "fleet": fleet, "tasks": self.tasks, "casualties": self.casualties,
                "link": self.link, **({"harbour": self.harbour} if self.harbour else {})}


@dataclass
class SeparationLog:
    """The smallest gap between two vehicles' footprints and the collisions
    between vehicles (counted when a pair starts touching); the lockstep
    runner and the real-time fleet (sim/realtime_fleet.py) both keep one."""

    min_gap_m: float = math.inf
    at: tuple[float, str, str] | None = None
    collisions: int = 0
    touching: set = field(default_factory=set)

    def sample(self, fw, names: list[str], t: float) -> tuple[str, str] | None:
        """Sample ``fw.separation()``; returns the pair when a collision starts."""
        gap, pair = fw.separation()
        if pair is None:
            return None
        if gap < self.min_gap_m:
            self.min_gap_m, self.at = gap, (t, names[pair[0]], names[pair[1]])
        if gap > 0.0 and not self.touching:      # apart, as before: nothing starts
            return None
        now = {pair} if gap <= 0.0 else set()
        new = now - self.touching
        self.touching = now
        if new:
            self.collisions += len(new)
            return names[pair[0]], names[pair[1]]
        return None


class _Run:
    """One member's run state."""

    def __init__(self, m: Member, core, control_every: int):
        self.m = m
        self.core = core
        self.control_every = control_every
        self.cursor = 0
        self.events: list[Event] = []
        self.reached: set[int] = set()
        self.rows: list[tuple] = []
        self.clearance = ClearanceMonitor()
        self.started = False
        self.next_arm_try = 0.0
        self.has_mission = False
        self.n_wp = 0
        self.broken_at: float | None = None


def build_fleet(sc: FleetScenario, seed: int | None = None):
    """The shared world and one member (Simulation + core) per vehicle."""
    seed = sc.seed if seed is None else int(seed)
    frame = LocalFrame(*sc.world.origin)
    scenarios = [member_scenario(sc, v) for v in sc.vehicles]
    worlds: dict[str, SimWorld] = {}
    for v, ms in zip(sc.vehicles, scenarios):
        if v.domain not in worlds:
            worlds[v.domain] = SimWorld(ms)
    rng = np.random.default_rng(member_seed(seed, 10_000))
    traffic = Traffic(sc.traffic, frame, rng) if sc.traffic else None
    fw = FleetWorld(worlds, frame, traffic, rng)
    runs = []
    for i, (v, ms) in enumerate(zip(sc.vehicles, scenarios)):
        m = Member(i, v, None)
        sim = Simulation(ms, member_seed(seed, i), world=worlds[v.domain], shared=None)
        m.sim = sim
        fw.add(m)
        sim.shared = fw.neighbours(m)
        core = sim.make_core()
        every = max(1, int(round(1.0 / (v.vehicle_config.control.rate_hz * PHYSICS_DT))))
        runs.append(_Run(m, core, every))
    fw.refresh()
    return fw, runs, seed


def run_fleet(sc: FleetScenario, seed: int | None = None, speedup: float | None = None,
              on_event: Callable[[str, Event], None] | None = None,
              on_tick: Callable[[float, float], None] | None = None,
              max_time_s: float | None = None) -> FleetResult:
    """Run a fleet scenario to completion or its time limit.  ``on_event(vehicle
    name, event)`` hears every core event; ``on_tick(t, limit)`` about once
    per simulated second; ``max_time_s`` overrides the criteria's limit
    (benchmarks)."""
    fw, runs, seed = build_fleet(sc, seed)
    by_name = {r.m.spec.name: r for r in runs}
    tasking = None
    if sc.tasks is not None:
        from edgepilot.sim.fleet.tasking import Tasking

        tasking = Tasking(sc, fw, runs, seed)
    from edgepilot.sim.fleet.route_share import RouteShare

    routes = RouteShare.of_fleet(sc, fw, runs, seed)
    response = None
    if sc.patrol is not None:
        from edgepilot.sim.fleet.threat_response import ThreatResponse

        response = ThreatResponse(sc, fw, runs, seed, on_event)
    for r in runs:
        v = r.m.spec
        if v.mission is not None:
            items = r.m.sim.mission_items()
            res = r.core.set_mission(items)
            if not res.ok:
                raise ValueError(f"{sc.source}: vehicles: {v.name}: mission: {res.reason}")
            r.has_mission = True
            r.n_wp = len(items) - 1 - sum(1 for it in items[1:] if it.command == int(Cmd.DO_CHANGE_SPEED))
        r.m.sim.apply(r.core.last_setpoint, 0.0)
    breakdowns = [f for f in sc.faults if f.type == "vehicle_breakdown"]
    limit = sc.criteria.max_time_s if max_time_s is None else float(max_time_s)
    sep_every = max(1, int(round(1.0 / (SEPARATION_HZ * PHYSICS_DT))))
    track_every = max(1, int(round(1.0 / (TRACK_HZ * PHYSICS_DT))))
    sep = SeparationLog()
    names = [q.m.spec.name for q in runs]
    contact_rows: dict[str, list] = {}
    frames: list = [None] * len(runs)      # per member: the sensor frame of its control tick now, if one is due
    wall0 = time.perf_counter()
    step = 0
    next_tick = 0.0
    while True:
        t = step * PHYSICS_DT
        for f in breakdowns:
            r = by_name[f.vehicle]
            if r.broken_at is None and _breakdown_due(f, r, t):
                _break(r, t, tasking)
        # The control ticks (``tick_core``) in two passes: every member's
        # operator side and, when its tick is due, its sensor frame; then
        # every due core's step on its frame, member by member.  A core step
        # reaches no member's sensors (they read the world, the members' true
        # states and the member's own faults and random streams, none of
        # which changes before the physics step), so each member's frame and
        # step are what they were one member after another.  The simulated
        # sensing of all the members runs back to back, then all the core
        # steps: each kind of work while its code and the shared raster are
        # still in the CPU caches (less CPU per control tick than alternating).
        for k, r in enumerate(runs):
            frames[k] = None
            if r.broken_at is not None:
                continue
            sim, core = r.m.sim, r.core
            sp = sim.faults.operate(t, core)
            if sp is not None:
                sim.apply(sp, t)
            if step % r.control_every == 0 and not sim.faults.core_stalled(t):
                frames[k] = sense_core(sim, core, t)
        for k, r in enumerate(runs):
            frame = frames[k]
            if frame is not None:
                core = r.core
                act_core(r.m.sim, core, t, frame)
                if r.has_mission and not r.started and core.state.valid and t >= r.next_arm_try:
                    if core.arm(t).ok:
                        core.start_mission(t)
                        r.started = True
                    else:
                        r.next_arm_try = t + 1.0
                new, r.cursor = core.events_since(r.cursor)
                for e in new:
                    r.events.append(e)
                    if e.kind == "item_reached":
                        r.reached.add(e.data["seq"])
                    if on_event:
                        on_event(r.m.spec.name, e)
                    if tasking is not None:
                        tasking.on_event(r, e, t)
        if tasking is not None:
            tasking.tick(t)
        if routes is not None:
            routes.tick(t)
        if response is not None:
            response.tick(t)
        if step % track_every == 0:
            for r in runs:
                clear, _ = r.clearance.sample(r.m.sim)
                tr = r.m.sim.truth
                r.rows.append((t, tr.x, tr.y, tr.yaw, tr.speed, clear))
            if fw.traffic is not None:
                for v in fw.traffic.vessels:
                    contact_rows.setdefault(v.spec.name, []).append((t, v.x, v.y))
        if step % sep_every == 0 and len(runs) > 1:
            sep.sample(fw, names, t)
        if on_tick and t >= next_tick:
            on_tick(t, limit)
            next_tick += 1.0
        if (response.finished(t) if response is not None else _finished(runs, tasking, t)) or t >= limit:
            break
        for r in runs:
            sim = r.m.sim
            if r.broken_at is not None:
                sim.stop()
            sim.step(PHYSICS_DT)
        step += 1
        fw.advance(step * PHYSICS_DT)
        if speedup:
            ahead = step * PHYSICS_DT / speedup - (time.perf_counter() - wall0)
            if ahead > 0.002:
                time.sleep(ahead)
    wall = time.perf_counter() - wall0
    results = [_vehicle_result(r) for r in runs]
    reasons = []
    crit = sc.criteria
    for vr, r in zip(results, runs):
        if r.core.internal_errors:
            reasons.append(f"{vr.name}: internal error: {r.core.internal_errors} contained, "
                           f"the last: {r.core.last_internal_error}")
        if r.core.failure_reason and r.broken_at is None:
            reasons.append(f"{vr.name}: {r.core.failure_reason}")
        if (crit.all_missions and tasking is None and r.has_mission and r.broken_at is None
                and not vr.mission_complete):
            reasons.append(f"{vr.name}: mission not complete: {vr.waypoints_reached}/{vr.waypoints_total} "
                           f"waypoints reached within {limit:g} s")
        if crit.no_collision and vr.collisions:
            x, y = vr.collision_points[0]
            reasons.append(f"{vr.name}: {vr.collisions} collision(s), first at ({x:.1f}, {y:.1f}) m")
        if math.isfinite(vr.min_clearance_m) and vr.min_clearance_m < crit.min_clearance_m:
            reasons.append(f"{vr.name}: minimum clearance {vr.min_clearance_m:.2f} m is below the required "
                           f"{crit.min_clearance_m:.2f} m")
    min_sep, min_sep_at, vehicle_collisions = sep.min_gap_m, sep.at, sep.collisions
    if crit.no_collision and vehicle_collisions:
        reasons.append(f"{vehicle_collisions} collision(s) between vehicles, closest {min_sep_at[1]} and "
                       f"{min_sep_at[2]} at t={min_sep_at[0]:.1f} s")
    if crit.min_separation_m is not None and min_sep < crit.min_separation_m:
        reasons.append(f"vehicles {min_sep_at[1]} and {min_sep_at[2]} came {min_sep:.2f} m apart at "
                       f"t={min_sep_at[0]:.1f} s, closer than the required {crit.min_separation_m:.2f} m")
    tasks, casualties = {}, []
    if tasking is not None:
        tasks, casualties, task_reasons = tasking.evaluate(t)
        reasons += task_reasons
        done = tasking.done_by
        for vr in results:
            vr.tasks_done = [tid for tid, who in done.items() if vr.name in who]
    harbour = {}
    if response is not None:
        harbour, harbour_reasons = response.evaluate(t)
        reasons += harbour_reasons
    return FleetResult(
        scenario=sc.name, seed=seed, passed=not reasons, reasons=reasons, sim_time_s=t, wall_time_s=wall,
        steps=step, vehicles=results, min_separation_m=min_sep, min_separation_at=min_sep_at,
        vehicle_collisions=vehicle_collisions, tasks=tasks, casualties=casualties,
        link=tasking.link_stats() if tasking is not None else {},
        contact_tracks={k: np.array(v, dtype=np.float64).reshape(-1, 3) for k, v in contact_rows.items()},
        harbour=harbour)


def _breakdown_due(f, r: _Run, t: float) -> bool:
    if f.at_s is not None:
        return t >= f.at_s
    return r.n_wp > 0 and r.started and len(r.reached) >= f.at_progress * r.n_wp


def _break(r: _Run, t: float, tasking) -> None:
    """The vehicle stops for good: motors off, its computer (core, radio) silent."""
    r.broken_at = t
    r.m.alive = False
    r.m.sim.stop()
    r.events.append(Event(t, "breakdown", f"{r.m.spec.name}: vehicle breakdown", Severity.CRITICAL))
    if tasking is not None:
        tasking.on_breakdown(r, t)


def _finished(runs, tasking, t: float) -> bool:
    """Every working vehicle with a mission has completed or failed it
    (with tasking: as ``Tasking.finished`` says).  Called every physics
    step: one pass, out at the first vehicle still going."""
    if tasking is not None:
        return tasking.finished(t)
    for r in runs:
        if r.broken_at is None and r.has_mission and not (
                r.started and (r.core.mission_state == _COMPLETE or r.core.failure_reason)):
            return False
    return True


def _vehicle_result(r: _Run) -> VehicleResult:
    track = np.array(r.rows, dtype=np.float64).reshape(-1, 6)
    dist = float(np.sum(np.hypot(np.diff(track[:, 1]), np.diff(track[:, 2])))) if len(track) > 1 else 0.0
    v = r.m.spec
    core = r.core
    return VehicleResult(
        name=v.name, sysid=v.sysid, kind=v.vehicle_config.kind, domain=v.domain, track=track, events=r.events,
        waypoints_total=r.n_wp, waypoints_reached=len(r.reached),
        mission_complete=r.has_mission and core.mission_state == MissionState.COMPLETE,
        path_length_m=dist, min_clearance_m=r.clearance.min_clearance, collisions=r.clearance.collisions,
        collision_points=list(r.clearance.points), broken_at=r.broken_at, failure=core.failure_reason,
        internal_errors=core.internal_errors, final_mode=core.mode.name)
