"""Campaign throughput: runs per minute of the yard patrol campaign
(configs/campaigns/yard_patrol.toml, scenario ugv_yard) with 1 worker, all
local cores (process pool) and Ray with the same cores (a one-node cluster
on the loopback, started and stopped here).

The peer is linear scaling of the 1-worker rate.  Prints, per backend,
runs/min, then scaling efficiency (pool vs linear), Ray vs pool, and the
overhead per run: the head's result writing, and the worker time not spent
in the lockstep run itself (scenario load with overrides, row building,
scheduling, idle) as a percentage of a run's time.

    python benchmarks/campaign.py            # 40 runs per backend
    python benchmarks/campaign.py --runs 200 # the issue's number
    python benchmarks/campaign.py --no-ray
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edgepilot import configs_dir  # noqa: E402
from edgepilot.sim.campaign.results import ResultsWriter  # noqa: E402
from edgepilot.sim.campaign.runner import local_cores, run_local, run_ray  # noqa: E402
from edgepilot.sim.campaign.spec import load_campaign  # noqa: E402


def measure(name: str, backend, plans, workers: int, tmp: Path, **kw) -> dict:
    w = ResultsWriter(tmp / f"{name}.jsonl")
    w.create({"campaign": name, "fingerprint": "bench"})
    rows = []
    t_first = [None]

    def on_row(row):
        if t_first[0] is None:
            t_first[0] = time.perf_counter()
        w.append(row)
        rows.append(row)

    t0 = time.perf_counter()
    backend(plans, workers, on_row, **kw)
    t1 = time.perf_counter()
    w.close()
    n = len(rows)
    run_s = sum(r["run_s"] for r in rows)
    worker_s = sum(r["worker_s"] for r in rows)
    run_cpu = sum(r["run_cpu_s"] for r in rows)
    worker_cpu = sum(r["worker_cpu_s"] for r in rows)
    # steady state: from the first finished run on (worker start-up and kernel warm-up excluded)
    steady = (n - 1) / (t1 - t_first[0]) * 60.0 if n > 1 and t1 > t_first[0] else float("nan")
    return {"name": name, "workers": workers, "n": n, "elapsed_s": t1 - t0, "start_s": t_first[0] - t0,
            "rpm": 60.0 * n / (t1 - t0), "rpm_steady": steady, "mean_run_s": run_s / n,
            "in_worker_overhead_s": (worker_s - run_s) / n,
            "capacity_overhead_s": (workers * (t1 - t0) - run_s) / n,
            "write_s": w.write_s / n, "passed": sum(r["passed"] for r in rows),
            "run_cpu_s": run_cpu / n, "in_worker_cpu_s": (worker_cpu - run_cpu) / n,
            # the share of the workers' cores they actually got (the rest went to other processes)
            "cpu_share": worker_cpu / (workers * (t1 - t0)), "worker_cpu_s_total": worker_cpu,
            "outcomes": {r["run"]: (r["passed"], r["min_clearance_m"], r["sim_time_s"]) for r in rows}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_ray(cpus: int):
    ray_bin = Path(sys.executable).parent / "ray"
    port = _free_port()
    env = dict(os.environ, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")   # keep every Ray socket on the loopback
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    proc = subprocess.Popen([str(ray_bin), "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
                             "--num-cpus", str(cpus), "--port", str(port), "--disable-usage-stats",
                             "--include-dashboard=false", "--temp-dir", f"/tmp/epbench{os.getpid()}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    address = f"127.0.0.1:{port}"
    t_end = time.monotonic() + 180
    while time.monotonic() < t_end:
        st = subprocess.run([str(ray_bin), "status", "--address", address], capture_output=True, text=True, env=env)
        if st.returncode == 0 and "CPU" in st.stdout:
            return proc, address
        time.sleep(1.0)
    stop_ray(proc)
    raise RuntimeError("Ray cluster did not come up")


def stop_ray(proc) -> None:
    for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=40, help="runs per backend (default 40; the issue's number is 200)")
    ap.add_argument("--workers", type=int, default=None, help="cores for the pool and Ray (default: all)")
    ap.add_argument("--no-ray", action="store_true")
    args = ap.parse_args()
    camp = load_campaign(configs_dir() / "campaigns" / "yard_patrol.toml")
    plans = camp.plans(args.runs)
    cores = args.workers or local_cores()
    print(f"yard patrol campaign: {len(plans)} runs of ugv_yard per backend, {cores} cores "
          f"(load average now {os.getloadavg()[0]:.1f})")
    res = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        res.append(measure("pool, 1 worker", run_local, plans, 1, tmp))
        res.append(measure(f"pool, {cores} workers", run_local, plans, cores, tmp))
        if not args.no_ray:
            proc, address = start_ray(cores)
            try:
                res.append(measure(f"ray, {cores} actors", run_ray, plans, cores, tmp, address=address))
            finally:
                import ray

                ray.shutdown()
                stop_ray(proc)
    print(f"\n{'backend':18s} {'runs':>5s} {'wall s':>8s} {'start s':>8s} {'runs/min':>9s} {'steady':>8s} "
          f"{'run s':>7s} {'run cpu s':>9s} {'cpu share':>9s} {'passed':>7s}")
    for r in res:
        print(f"{r['name']:18s} {r['n']:5d} {r['elapsed_s']:8.1f} {r['start_s']:8.1f} {r['rpm']:9.1f} "
              f"{r['rpm_steady']:8.1f} {r['mean_run_s']:7.3f} {r['run_cpu_s']:9.3f} "
              f"{100 * r['cpu_share']:8.1f}% {r['passed']:7d}")
    one, pool = res[0], res[1]
    linear = cores * one["rpm"]
    print(f"\nscaling: peer (linear, {cores} x 1 worker) {linear:.1f} runs/min, ours (pool) {pool['rpm']:.1f}, "
          f"ratio {pool['rpm'] / linear:.2f}  (steady state: {pool['rpm_steady'] / (cores * one['rpm_steady']):.2f})")
    if len(res) > 2:
        ray_r = res[2]
        print(f"ray vs pool: peer (pool) {pool['rpm']:.1f} runs/min, ours (ray) {ray_r['rpm']:.1f}, "
              f"ratio {ray_r['rpm'] / pool['rpm']:.2f}  (steady state: {ray_r['rpm_steady'] / pool['rpm_steady']:.2f})")
        same = ray_r["outcomes"] == pool["outcomes"] == one["outcomes"]
        print(f"identical outcomes run for run (1 worker, pool, ray): {same}")
    print("(cpu share: CPU time our workers got / (workers x wall time); on a machine shared with other "
          "work it bounds the scaling, whatever the runner does)")
    for r in res:
        per_cpu = r["n"] / (r["cpu_share"] * r["workers"] * r["elapsed_s"])
        per_cpu_1 = one["n"] / (one["cpu_share"] * one["workers"] * one["elapsed_s"])
        print(f"  {r['name']}: runs per CPU-second received {per_cpu:.4f}, vs 1 worker {per_cpu / per_cpu_1:.2f}")
    for r in res:
        busy = r["mean_run_s"] + r["in_worker_overhead_s"]
        print(f"  {r['name']}: workers busy {100 * r['n'] * busy / (r['workers'] * r['elapsed_s']):.1f}% of their "
              f"wall time (the rest: start-up, waiting on the head)")
    for r in res:
        print(f"overhead per run, {r['name']}: result writing {1000 * r['write_s']:.3f} ms "
              f"({100 * r['write_s'] / r['mean_run_s']:.3f}% of a run), in-worker (load + record) "
              f"{1000 * r['in_worker_overhead_s']:.1f} ms ({100 * r['in_worker_overhead_s'] / r['mean_run_s']:.2f}%), "
              f"all idle/scheduling/start-up {100 * r['capacity_overhead_s'] / r['mean_run_s']:.1f}%; "
              f"CPU: in-worker {1000 * r['in_worker_cpu_s']:.1f} ms ({100 * r['in_worker_cpu_s'] / r['run_cpu_s']:.2f}% "
              f"of a run's {r['run_cpu_s']:.3f} CPU s)")
    print(f"\nper run: {one['run_cpu_s']:.2f} CPU s (lockstep) + {one['in_worker_cpu_s']:.3f} CPU s (load, record); "
          f"10,000 runs = {10000 * (one['run_cpu_s'] + one['in_worker_cpu_s']) / 3600:.1f} core-hours")


if __name__ == "__main__":
    main()
