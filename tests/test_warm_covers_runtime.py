"""``edgepilot warm`` must leave nothing for a vehicle to compile mid-run.

A kernel that is first called (or first called with new argument types)
after the warm is compiled on the spot: seconds of JIT on an embedded board,
in the middle of a scan or a control tick.  This runs the warm in a fresh
process, notes every numba kernel's compiled signatures, then drives a
ground-vehicle fleet whose vehicles see and hold back each other (mapper
read-outs, hold-back, path following) and a boat in a harbour, and asserts
that no kernel gained a signature."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent("""
    import json, sys
    from numba.core.registry import CPUDispatcher
    from edgepilot.onboard.kernels import warm_all

    warm_all(jobs=1)

    def kernels():
        out = {}
        for name, mod in list(sys.modules.items()):
            if not name.startswith("edgepilot.") or mod is None:
                continue
            for attr, v in list(vars(mod).items()):
                if isinstance(v, CPUDispatcher) and v.__module__ == name:
                    out[name + "." + attr] = [str(s) for s in v.signatures]
        return out

    before = kernels()
    from edgepilot.sim.fleet.runner import run_fleet
    from edgepilot.sim.fleet.scenario import load_fleet_scenario
    from edgepilot.sim.lockstep import run_lockstep
    from edgepilot.sim.scenario import load_scenario

    fleet = run_fleet(load_fleet_scenario("fleet_crossing"), max_time_s=40.0)
    sc = load_scenario("usv_harbor")
    run_lockstep(sc.model_copy(update={"criteria": sc.criteria.model_copy(update={"max_time_s": 40.0})}))
    after = kernels()
    new = {k: sorted(set(v) - set(before.get(k, []))) for k, v in after.items()}
    print(json.dumps({"new": {k: v for k, v in new.items() if v}, "kernels": len(after),
                      "warmed": sum(1 for v in before.values() if v), "steps": fleet.steps}))
""")


def test_nothing_compiles_after_the_warm():
    r = subprocess.run([sys.executable, "-c", SCRIPT], cwd=str(REPO), capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    rep = json.loads(r.stdout.strip().splitlines()[-1])
    assert rep["steps"] > 1000 and rep["warmed"] > 50, rep          # the runs and the warm really happened
    assert rep["new"] == {}, f"kernels compiled after `edgepilot warm` (add them to a warm_kernels()): {rep['new']}"
