"""A seeded lockstep run gives the same track whatever the process around it.

The in-process determinism tests (test_nav_scenarios, test_localization, ...)
run a scenario twice in one interpreter.  Twice on a loaded machine a
seeded run ended differently from its reruns (not reproduced since), so
this file runs the lockstep runner in separate processes, all at once (they
load each other), each under a condition that would expose a hidden source
of non-determinism:

- a cold numba cache (every kernel compiled in that process) beside the
  warm one: compiled and cached kernels must compute the same numbers;
- one BLAS / OpenMP / numba thread beside the default pool: a reduction
  whose order depends on the thread count shows up here;
- other string-hash seeds: set or dict order of strings must not steer a run;
- glibc's MALLOC_PERTURB_ (fresh and freed memory filled with a pattern): a
  read of uninitialised memory (np.empty, a kernel's scratch) shows up here.

The run is the GNSS-denied patrol (EKF, particle filter, scan matcher,
planner, lidar perception) cut at 40 s: arming, the GNSS loss, lidar fixes
and the first legs.  The true track and the estimate (every control tick,
full float64 precision) and the events must be identical.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow

SCENARIO = "ugv_gnss_denied"
LIMIT_S = 40.0

#: One lockstep run in its own interpreter; prints digests of the track and
#: the estimate at full precision (track.csv rounds to 0.1 mm, which hides a
#: difference until it has grown) and the events.
RUN = f"""
import hashlib, json
from edgepilot.sim.lockstep import run_lockstep
from edgepilot.sim.scenario import load_scenario
sc = load_scenario({SCENARIO!r})
sc = sc.model_copy(update={{"criteria": sc.criteria.model_copy(update={{"max_time_s": {LIMIT_S}}})}})
r = run_lockstep(sc)
print(json.dumps({{"rows": len(r.track), "sim_time_s": r.sim_time_s,
                  "track": hashlib.sha256(r.track.tobytes()).hexdigest(),
                  "estimate": hashlib.sha256(r.estimate.tobytes()).hexdigest(),
                  "events": [(e.t, e.kind, e.text) for e in r.events]}}))
"""


def _start(extra_env: dict[str, str]) -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra_env)
    return subprocess.Popen([sys.executable, "-c", RUN], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=REPO, env=env)


def test_seeded_run_identical_across_processes_caches_threads_and_memory(tmp_path):
    conditions = {
        "default": {},
        "cold_cache_one_thread": {"NUMBA_CACHE_DIR": str(tmp_path / "numba_cold"), "OPENBLAS_NUM_THREADS": "1",
                                  "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", "PYTHONHASHSEED": "1",
                                  "MALLOC_PERTURB_": "165"},
        "hash_seed_perturbed": {"PYTHONHASHSEED": "2", "MALLOC_PERTURB_": "90"},
    }
    procs = {name: _start(env) for name, env in conditions.items()}
    runs = {}
    for name, p in procs.items():
        try:
            stdout, stderr = p.communicate(timeout=540)
        except subprocess.TimeoutExpired:
            for q in procs.values():
                q.kill()
            raise
        assert p.returncode == 0, f"{name}: exit {p.returncode}\n{stdout}\n{stderr}"
        runs[name] = json.loads(stdout.strip().splitlines()[-1])
    base = runs["default"]
    assert base["rows"] > 0.9 * LIMIT_S * 20          # the control rate (20 Hz) over the run
    assert base["sim_time_s"] == pytest.approx(LIMIT_S, abs=0.1)
    assert any(kind == "mode" or "GNSS" in text for _, kind, text in base["events"]), base["events"]
    for name, run in runs.items():
        assert run == base, f"{name}: differs from the default run"
    # the cold run really compiled into its own cache
    assert any((tmp_path / "numba_cold").rglob("*.nbi"))
