"""Lockstep SITL: world and vehicle core stepped on one simulated clock.

Physics runs at 100 Hz, the core at its configured control rate, sensors at
theirs.  Nothing reads the wall clock except to report the real-time factor
and, with ``speedup``, to pace the run; a seed gives the same track every
run.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from edgepilot.sim.criteria import ClearanceMonitor, Measured, check_criteria
from edgepilot.sim.nav_metrics import check_navigation, navigation_summary
from edgepilot.sim.scenario import Scenario
from edgepilot.sim.simulation import PHYSICS_DT, Simulation
from edgepilot.vehicle.containment import contain, contained_step
from edgepilot.vehicle.types import Event, MissionState, SensorFrame

#: Simulated seconds a run goes on after a contained internal error, so the
#: track shows the vehicle coming to a stop in HOLD before the run fails.
AFTER_FAULT_S = 5.0


@dataclass
class RunOutcome:
    """What every simulated run reports first: which scenario and seed,
    the verdict with its reasons, and simulated vs wall time.  The single
    vehicle's :class:`RunResult` and the fleet's ``FleetResult`` extend it."""
    scenario: str
    seed: int
    passed: bool
    reasons: list[str]
    sim_time_s: float
    wall_time_s: float

    @property
    def real_time_factor(self) -> float:
        return self.sim_time_s / self.wall_time_s if self.wall_time_s > 0 else math.inf


@dataclass
class RunResult(RunOutcome):
    waypoints_total: int
    waypoints_reached: int
    path_length_m: float
    min_clearance_m: float
    collisions: int
    max_cross_track_m: float
    mission_complete: bool
    failure: str | None
    track: np.ndarray                      # (N, 6): t, x, y, yaw, speed, clearance
    planned_paths: list[np.ndarray] = field(default_factory=list)
    collision_points: list[tuple[float, float]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    # Traffic: closest range to each vessel (centre to centre) and when.
    min_cpa_m: float | None = None
    cpa_events: list[dict] = field(default_factory=list)      # one per vessel: t, range, positions
    contact_tracks: dict = field(default_factory=dict)       # vessel name -> (N, 3) t, x, y
    encounter_results: list[dict] = field(default_factory=list)
    faults: list = field(default_factory=list)          # sim.faults.FaultOutcome per injected fault
    internal_errors: int = 0        # exceptions the core contained (VehicleCore.contain_fault)
    final_mode: str = ""            # the core's mode when the run ended
    # Estimated vs true position (map frame, control steps once the estimate is valid) [m].
    max_position_error_m: float = 0.0
    rms_position_error_m: float = 0.0
    # The core's estimate beside the truth, one row per track row: (N, 4)
    # est x, est y, est yaw, position 1-sigma [m]; and the navigation
    # summary (position error, GNSS fault detection) from sim.nav_metrics.
    estimate: np.ndarray | None = None
    navigation: dict = field(default_factory=dict)

    def summary(self) -> dict:
        return {
            "scenario": self.scenario,
            "seed": self.seed,
            "passed": self.passed,
            "reasons": self.reasons,
            "waypoints_reached": self.waypoints_reached,
            "waypoints_total": self.waypoints_total,
            "mission_complete": self.mission_complete,
            "failure": self.failure,
            "internal_errors": self.internal_errors,
            "final_mode": self.final_mode,
            "sim_time_s": round(self.sim_time_s, 3),
            "wall_time_s": round(self.wall_time_s, 3),
            "real_time_factor": round(self.real_time_factor, 1),
            "path_length_m": round(self.path_length_m, 2),
            "min_clearance_m": round(self.min_clearance_m, 3),
            "collisions": self.collisions,
            "max_cross_track_m": round(self.max_cross_track_m, 3),
            "max_position_error_m": round(self.max_position_error_m, 3),
            "rms_position_error_m": round(self.rms_position_error_m, 3),
            "events": [{"t": round(e.t, 2), "kind": e.kind, "text": e.text} for e in self.events],
            **({"min_cpa_m": round(self.min_cpa_m, 2), "cpa_events": self.cpa_events,
                "encounters": self.encounter_results} if self.min_cpa_m is not None else {}),
            "failsafes": failsafe_summary(self),
            **({"navigation": self.navigation} if self.navigation else {}),
        }


def tick_core(sim: Simulation, core, t: float, on_fault=None) -> None:
    """One control tick of ``core`` against ``sim`` at time ``t``: the
    simulated map updates (an exception there is contained like a fault in
    the tick), then the contained core step applied to the simulation.
    ``on_fault(where, exc)``: as ``contained_step``'s (the real-time runners log).
    ``sense_core`` then ``act_core``."""
    act_core(sim, core, t, sense_core(sim, core, t), on_fault)


def sense_core(sim: Simulation, core, t: float) -> SensorFrame:
    """The first half of ``tick_core``: the simulated map updates handed
    to ``core`` (an exception there is contained like a fault in the
    tick), then the sensor frame of ``sim`` at ``t``."""
    try:
        for pts in sim.map_updates():
            core.add_obstacles(t, pts)
    except Exception as e:  # noqa: BLE001 - contained like a fault in the tick
        contain(core, t, "map update", e)
    return sim.sensors(t)


def act_core(sim: Simulation, core, t: float, frame: SensorFrame, on_fault=None) -> None:
    """The second half of ``tick_core``: the contained core step on
    ``frame`` (``sense_core``'s), applied to the simulation."""
    sim.apply(contained_step(core, t, frame, on_fault=on_fault), t)


def failsafe_summary(res: "RunResult") -> dict:
    """Failsafe events (trip/clear/resume) and per-fault outcomes."""
    ev = [{"t": round(e.t, 3), "trigger": e.data.get("trigger"), "phase": e.data.get("phase"),
           "action": e.data.get("action"), "text": e.text}
          for e in res.events if e.kind == "failsafe"]
    return {"events": ev, "faults": [o.as_dict() for o in res.faults]}


def run_lockstep(scenario: Scenario, seed: int | None = None, speedup: float | None = None,
                 on_event: Callable[[Event], None] | None = None,
                 on_tick: Callable[[float, float], None] | None = None) -> RunResult:
    """Run ``scenario`` to completion, failure or its time limit.

    ``speedup``: None runs as fast as possible; N paces the run at N times
    the wall clock.  ``on_event`` hears every core event as it happens;
    ``on_tick(sim_t, limit)`` is called about once per simulated second."""
    sim = Simulation(scenario, seed)
    core = sim.make_core()
    items = sim.mission_items()
    res = core.set_mission(items)
    if not res.ok:
        raise ValueError(f"{scenario.source}: mission: {res.reason}")
    n_wp = len(items) - 1 - sum(1 for it in items[1:] if it.command == 178)  # NAV items (DO_CHANGE_SPEED excluded)
    crit = scenario.criteria
    control_every = max(1, int(round(1.0 / (scenario.vehicle_config.control.rate_hz * PHYSICS_DT))))
    limit = crit.max_time_s
    cursor = 0
    events: list[Event] = []
    reached: set[int] = set()
    rows = []
    est_rows = []
    arm_t = None
    planned: list[np.ndarray] = []
    last_path = None
    clearance = ClearanceMonitor()
    max_cte = 0.0
    pos_err_max, pos_err_sq, pos_err_n = 0.0, 0.0, 0
    started = False
    sim.apply(core.last_setpoint, 0.0)
    traffic = sim.traffic
    vessels = traffic.vessels if traffic is not None else []
    cpa_best = [(math.inf, 0.0, 0.0, 0.0, 0.0, 0.0) for _ in vessels]   # range, t, own x, y, vessel x, y
    vessel_rows: list[list] = [[] for _ in vessels]
    wall0 = time.perf_counter()
    step = 0
    next_tick_report = 0.0
    next_arm_try = 0.0
    fault_at = None
    while True:
        t = step * PHYSICS_DT
        sp = sim.faults.operate(t, core)   # GCS link and operator side of injected faults
        if sp is not None:                 # an e-stop takes effect at once
            sim.apply(sp, t)
        if step % control_every == 0 and not sim.faults.core_stalled(t):
            tick_core(sim, core, t)
            if not started and core.state.valid and t >= next_arm_try and not core.internal_errors:
                if t < scenario.start.arm_after_s:
                    pass              # the operator has not tried yet
                elif core.arm(t).ok:   # pre-arm checks may refuse: retry once a second
                    core.start_mission(t)
                    started = True
                    arm_t = t
                else:
                    next_arm_try = t + 1.0
            if core.internal_errors and fault_at is None:
                fault_at = t
            new, cursor = core.events_since(cursor)
            for e in new:
                events.append(e)
                if e.kind == "item_reached":
                    reached.add(e.data["seq"])
                if on_event:
                    on_event(e)
            if core.path is not None and core.path is not last_path:
                last_path = core.path
                planned.append(core.path.points.copy())
            clear, _ = clearance.sample(sim)
            tr = sim.truth
            est = core.state
            if est.valid:
                err = math.hypot(est.x - tr.x, est.y - tr.y)
                pos_err_max = max(pos_err_max, err)
                pos_err_sq += err * err
                pos_err_n += 1
            if started and core.mode.name == "AUTO":
                max_cte = max(max_cte, abs(core.cross_track_error))
            rows.append((t, tr.x, tr.y, tr.yaw, tr.speed, clear))
            st = core.state
            est_rows.append((st.x, st.y, st.yaw, st.pos_std))
            for i, v in enumerate(vessels):
                rng = math.hypot(v.x - tr.x, v.y - tr.y)
                if rng < cpa_best[i][0]:
                    cpa_best[i] = (rng, t, tr.x, tr.y, v.x, v.y)
                if step % (10 * control_every) == 0:
                    vessel_rows[i].append((t, v.x, v.y))
            if started and (core.mission_state == MissionState.COMPLETE or core.failure_reason):
                break
            if fault_at is not None and t >= fault_at + AFTER_FAULT_S:
                break
            if on_tick and t >= next_tick_report:
                on_tick(t, limit)
                next_tick_report += 1.0
        if t >= limit:
            break
        sim.step(PHYSICS_DT)
        step += 1
        if speedup:
            ahead = sim.t / speedup - (time.perf_counter() - wall0)
            if ahead > 0.002:
                time.sleep(ahead)
    wall = time.perf_counter() - wall0
    track = np.array(rows, dtype=np.float64)
    dist = float(np.sum(np.hypot(np.diff(track[:, 1]), np.diff(track[:, 2])))) if len(track) > 1 else 0.0
    complete = core.mission_state == MissionState.COMPLETE
    reasons = []
    if core.internal_errors:
        reasons.append(f"internal error: {core.internal_errors} contained, the first at t={fault_at:.1f} s, "
                       f"the last: {core.last_internal_error}")
    min_clear = clearance.min_clearance
    reasons += check_criteria(crit, Measured(
        mission_complete=complete, waypoints_reached=len(reached), waypoints_total=n_wp,
        collisions=clearance.collisions, first_collision=clearance.first, min_clearance_m=min_clear,
        max_cross_track_m=max_cte, failure=core.failure_reason))
    min_cpa = None
    cpa_events, enc_results, tracks = [], [], {}
    if vessels:
        min_cpa = min(b[0] for b in cpa_best)
        for v, b, vr in zip(vessels, cpa_best, vessel_rows):
            tracks[v.spec.name] = np.array(vr, dtype=np.float64).reshape(-1, 3)
            cpa_events.append({"vessel": v.spec.name, "mmsi": v.spec.mmsi, "t": round(b[1], 2),
                               "range_m": round(b[0], 2), "own": [round(b[2], 1), round(b[3], 1)],
                               "contact": [round(b[4], 1), round(b[5], 1)]})
        if crit.min_cpa_m is not None and min_cpa < crit.min_cpa_m:
            worst = min(cpa_events, key=lambda e: e["range_m"])
            reasons.append(f"closest approach {min_cpa:.1f} m to {worst['vessel']} at t={worst['t']:.0f} s "
                           f"is below the safe distance {crit.min_cpa_m:.1f} m")
        by_name = {v.spec.name: (v, b) for v, b in zip(vessels, cpa_best)}
        for ec in crit.encounters:
            v, b = by_name[ec.vessel]
            r = _check_encounter(ec, v.spec.mmsi, b[1], track, events)
            enc_results.append(r)
            reasons += r["failures"]
    fault_outcomes, fault_reasons = sim.faults.evaluate(events, track)
    reasons.extend(fault_reasons)
    estimate = np.array(est_rows, dtype=np.float64).reshape(-1, 4)
    nav = (navigation_summary(scenario, track, estimate, events, arm_t)
           if core.estimator is not None or crit.measures_navigation else {})
    if nav and core.estimator is not None and hasattr(core.estimator, "pose_fixes"):
        nav["lidar_fixes_accepted"] = core.estimator.pose_fixes
        nav["lidar_track_fixes"] = core.estimator.track_fixes
    reasons.extend(check_navigation(crit, nav, events, arm_t))
    return RunResult(
        scenario=scenario.name, seed=sim.seed, passed=not reasons, reasons=reasons,
        sim_time_s=float(track[-1, 0]) if len(track) else 0.0, wall_time_s=wall,
        waypoints_total=n_wp, waypoints_reached=len(reached), path_length_m=dist,
        min_clearance_m=min_clear if math.isfinite(min_clear) else 0.0, collisions=clearance.collisions,
        max_cross_track_m=max_cte, mission_complete=complete, failure=core.failure_reason,
        track=track, planned_paths=planned, collision_points=clearance.points, events=events,
        min_cpa_m=min_cpa, cpa_events=cpa_events, contact_tracks=tracks, encounter_results=enc_results,
        faults=fault_outcomes, internal_errors=core.internal_errors, final_mode=core.mode.name,
        max_position_error_m=pos_err_max,
        rms_position_error_m=math.sqrt(pos_err_sq / pos_err_n) if pos_err_n else 0.0,
        estimate=estimate, navigation=nav)


def _check_encounter(ec, mmsi: int, t_cpa: float, track: np.ndarray, events: list[Event]) -> dict:
    """The rules' requirement for one vessel against what the core reported
    and what the boat did between the start of the encounter and the
    closest approach.  Starboard = clockwise = ENU yaw decreasing."""
    mine = [e for e in events if e.kind == "colregs" and e.data.get("key") == mmsi]
    kinds = [e.data.get("encounter") for e in mine]
    first = next((e for e in mine if e.data.get("encounter") not in ("CLEAR", "lost", "STAND_ON_ACTS")), None)
    failures = []
    if ec.classified is not None and ec.classified not in kinds:
        failures.append(f"{ec.vessel}: expected the core to report a {ec.classified} encounter, "
                        f"got {[k for k in kinds if k] or 'none'}")
    t0 = first.t if first is not None else 0.0
    win = track[(track[:, 0] >= t0) & (track[:, 0] <= t_cpa)]
    change = 0.0
    if len(win):
        ref = win[0, 3]
        dyaw = (win[:, 3] - ref + np.pi) % (2 * np.pi) - np.pi
        if ec.manoeuvre == "starboard":
            change = float(np.degrees(-dyaw.min()))
            if change < ec.min_alteration_deg:
                failures.append(f"{ec.vessel}: largest starboard alteration before CPA {change:.0f} deg, "
                                f"the rules require at least {ec.min_alteration_deg:.0f} deg")
        elif ec.manoeuvre == "hold":
            change = float(np.degrees(np.abs(dyaw).max()))
            if change > ec.hold_tolerance_deg:
                failures.append(f"{ec.vessel}: stand-on vessel changed course by {change:.0f} deg before CPA "
                                f"(tolerance {ec.hold_tolerance_deg:.0f} deg)")
    return {"vessel": ec.vessel, "reported": [k for k in kinds if k], "manoeuvre": ec.manoeuvre,
            "course_change_deg": round(change, 1), "t_start": round(t0, 2), "t_cpa": round(t_cpa, 2),
            "failures": failures}
