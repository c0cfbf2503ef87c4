"""One campaign run in a worker process: load the scenario with the run's
overrides, run it in lockstep, and reduce the result to one JSON-able row.

``init_worker`` runs once per worker process (the process pool's
initializer, a Ray actor's constructor): it loads every cached numba kernel
so no run pays JIT or cache-load time.
"""
from __future__ import annotations

import os
import signal
import socket
import time

from edgepilot.sim.campaign.spec import RunPlan

#: Row fields that differ between two executions of the same run (timing
#: and placement); everything else is a deterministic function of the plan.
NONDETERMINISTIC = ("wall_time_s", "worker_s", "worker", "run_s", "run_cpu_s", "worker_cpu_s")

_STATE = {"warmed": 0, "runs": 0, "warm_s": 0.0}


def _die_with_parent() -> None:
    """Linux: this worker gets SIGKILL when the campaign process dies (a
    killed head must not leave orphan runs burning the cores)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def init_worker(local: bool = True) -> dict:
    """Warm the kernels once for this process; local pool workers also
    ignore Ctrl-C (the campaign process handles it and stops them) and die
    with their parent."""
    if local:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _die_with_parent()
    if not _STATE["warmed"]:
        from edgepilot.onboard.kernels import warm_all

        t0 = time.perf_counter()
        rep = warm_all()
        _STATE["warm_s"] = time.perf_counter() - t0
        _STATE["warmed"] += 1
        _STATE["kernels"] = rep.kernels
        _STATE["compiled"] = rep.compiled
    return dict(_STATE)


def worker_info() -> dict:
    return {**_STATE, "pid": os.getpid()}


def criteria_of(res, sc) -> dict[str, bool]:
    """Pass/fail per criterion the scenario sets."""
    crit = sc.criteria
    out: dict[str, bool] = {}
    if crit.all_waypoints:
        out["mission_complete"] = bool(res.mission_complete)
    out["no_failure"] = res.failure is None
    target_hits = any(r.startswith("collision with the crossing") for r in res.reasons)
    if crit.no_collision:
        out["no_collision"] = res.collisions == 0 and not target_hits
    out["min_clearance"] = res.min_clearance_m >= crit.min_clearance_m
    if crit.max_cross_track_m is not None:
        out["max_cross_track"] = res.max_cross_track_m <= crit.max_cross_track_m
    if crit.min_cpa_m is not None and res.min_cpa_m is not None:
        out["min_cpa"] = res.min_cpa_m >= crit.min_cpa_m
    if res.encounter_results:
        out["colregs"] = all(not r["failures"] for r in res.encounter_results)
    if res.faults:
        out["faults_handled"] = all(not o.problems for o in res.faults)
    if any(r.startswith("fence breached") for r in res.reasons):
        out["geofence"] = False
    if not res.passed and all(out.values()):
        out["other"] = False
    return out


def record(plan: RunPlan, sc, res) -> dict:
    """The results-file row of one finished run (numbers rounded as the
    run's summary.json rounds them, so a replay compares exactly)."""
    s = res.summary()
    crit = sc.criteria
    cpa = s.get("min_cpa_m")
    fs = s["failsafes"]
    return {
        "kind": "run", "run": plan.run, "scenario": sc.name, "seed": s["seed"],
        "params": plan.params, "overrides": plan.overrides_json(), "command": plan.command(),
        "passed": bool(res.passed), "criteria": criteria_of(res, sc), "reasons": list(res.reasons),
        "min_clearance_m": s["min_clearance_m"],
        "clearance_margin_m": round(s["min_clearance_m"] - crit.min_clearance_m, 3),
        "min_cpa_m": cpa,
        "cpa_margin_m": round(cpa - crit.min_cpa_m, 2) if cpa is not None and crit.min_cpa_m is not None else None,
        "sim_time_s": s["sim_time_s"], "max_time_s": crit.max_time_s,
        "waypoints_reached": s["waypoints_reached"], "waypoints_total": s["waypoints_total"],
        "path_length_m": s["path_length_m"], "collisions": s["collisions"],
        "max_cross_track_m": s["max_cross_track_m"],
        "max_position_error_m": s["max_position_error_m"], "rms_position_error_m": s["rms_position_error_m"],
        "failsafes": [{"t": e["t"], "trigger": e["trigger"], "action": e["action"]}
                      for e in fs["events"] if e["phase"] == "trip"],
        "faults": fs["faults"],
        "error": None,
        "wall_time_s": s["wall_time_s"],
    }


def execute(plan: RunPlan) -> dict:
    """Run one plan; never raises (a run that cannot run is a row with ``error``)."""
    from edgepilot.sim.lockstep import run_lockstep
    from edgepilot.sim.scenario import load_scenario

    t0, c0 = time.perf_counter(), time.process_time()
    run_cpu = run_wall = 0.0
    try:
        sc = load_scenario(plan.scenario, plan.overrides)
        t1, c1 = time.perf_counter(), time.process_time()
        res = run_lockstep(sc, seed=plan.seed)
        run_wall, run_cpu = time.perf_counter() - t1, time.process_time() - c1
        row = record(plan, sc, res)
    except Exception as e:  # a broken run is a result, not the end of the campaign
        row = {"kind": "run", "run": plan.run, "scenario": plan.scenario, "seed": plan.seed,
               "params": plan.params, "overrides": plan.overrides_json(), "command": plan.command(),
               "passed": False, "criteria": {"ran": False}, "reasons": [f"{type(e).__name__}: {e}"],
               "error": f"{type(e).__name__}: {e}", "wall_time_s": 0.0}
    _STATE["runs"] += 1
    row["worker_s"] = round(time.perf_counter() - t0, 4)
    row["run_s"] = round(run_wall, 4)                    # the lockstep run itself (world and core set-up included)
    row["run_cpu_s"] = round(run_cpu, 4)                 # ... its CPU time
    row["worker_cpu_s"] = round(time.process_time() - c0, 4)   # ... plus scenario load and the row
    row["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    return row


class RayCampaignWorker:
    """A Ray actor: warms the kernels in its constructor, then runs plans."""

    def __init__(self):
        init_worker(local=False)

    def run(self, plan: RunPlan) -> dict:
        return execute(plan)

    def info(self) -> dict:
        return worker_info()
