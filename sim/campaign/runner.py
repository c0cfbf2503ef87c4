"""Executing a campaign's runs: a local process pool or a Ray cluster.

Both backends take the same ``RunPlan`` list and hand every finished row to
one callback in the campaign process, which appends it to the results file;
the order rows finish in does not matter (each carries its run index).  A
worker that dies takes only its in-flight runs with it: they are submitted
again (a run is a pure function of its plan, so a re-run gives the same row).
"""
from __future__ import annotations

import os
import sys
import time
from collections import deque
from typing import Callable

from edgepilot.sim.campaign.spec import RunPlan
from edgepilot.sim.campaign.worker import RayCampaignWorker, execute, init_worker

OnRow = Callable[[dict], None]
MAX_RESUBMITS = 3


def local_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:       # not Linux
        return os.cpu_count() or 1


class LostRunsError(RuntimeError):
    """Workers kept dying on the same runs."""


def run_local(plans: list[RunPlan], workers: int, on_row: OnRow) -> None:
    """Run ``plans`` on ``workers`` spawned processes, each warmed once by
    the pool initializer.  A lost worker (killed, crashed) breaks a
    ProcessPoolExecutor; the runs it had not finished go to a new pool."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = mp.get_context("spawn")      # fresh interpreters, as Ray workers are: no forked numba/thread state
    todo = deque(plans)
    tries: dict[int, int] = {}
    while todo:
        ex = ProcessPoolExecutor(max_workers=max(1, min(workers, len(todo))), mp_context=ctx,
                                 initializer=init_worker)
        inflight = {}
        try:
            # a bounded window keeps Ctrl-C and a lost worker cheap (few runs queued)
            window = 2 * workers
            while todo or inflight:
                while todo and len(inflight) < window:
                    p = todo.popleft()
                    inflight[ex.submit(execute, p)] = p
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                for f in done:
                    row = f.result()          # BrokenProcessPool: f stays in flight and is re-run
                    del inflight[f]
                    on_row(row)
        except BrokenProcessPool:
            lost = list(inflight.values())
            for p in lost:
                tries[p.run] = tries.get(p.run, 0) + 1
                if tries[p.run] > MAX_RESUBMITS:
                    raise LostRunsError(f"run {p.run}: its worker died {tries[p.run]} times") from None
            todo.extendleft(sorted(lost, key=lambda q: -q.run))
            print(f"a worker died: {len(lost)} unfinished run(s) ({', '.join(str(q.run) for q in lost)}) "
                  f"go to a new pool", file=sys.stderr, flush=True)
        finally:
            _stop_pool(ex)


def _stop_pool(ex) -> None:
    procs = list(getattr(ex, "_processes", {}).values()) if getattr(ex, "_processes", None) else []
    ex.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(timeout=5)


def ray_connect(address: str):
    try:
        import ray
    except ImportError:
        raise RuntimeError("--ray needs Ray: pip install 'edgepilot[cluster]'") from None
    if not ray.is_initialized():
        kw = {}
        host = address.rsplit(":", 1)[0] if ":" in address else address
        if host in ("127.0.0.1", "localhost"):
            # a cluster on the loopback: the driver joins it there too, not on the machine's LAN address
            kw["_node_ip_address"] = "127.0.0.1"
        ray.init(address=address, log_to_driver=False, logging_level="ERROR", **kw)
    return ray


def ray_cpus(address: str) -> int:
    ray = ray_connect(address)
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def run_ray(plans: list[RunPlan], workers: int, on_row: OnRow, address: str) -> None:
    """Run ``plans`` on ``workers`` Ray actors (one CPU each), each warmed
    once in its constructor.  Two plans are queued per actor so it never
    waits for the head between runs.  An actor that dies is replaced and its
    runs go back to the queue."""
    ray = ray_connect(address)
    from ray.exceptions import RayError, RayTaskError

    Actor = ray.remote(num_cpus=1, max_restarts=0)(RayCampaignWorker)
    n = max(1, min(workers, len(plans)))
    actors = [Actor.remote() for _ in range(n)]
    todo = deque(plans)
    tries: dict[int, int] = {}
    inflight: dict = {}            # ObjectRef -> (actor index, plan)
    per_actor = 2

    def submit(k: int) -> None:
        if todo:
            p = todo.popleft()
            inflight[actors[k].run.remote(p)] = (k, p)

    try:
        for k in range(n):
            for _ in range(per_actor):
                submit(k)
        while inflight:
            done, _ = ray.wait(list(inflight), num_returns=1)
            ref = done[0]
            k, p = inflight.pop(ref)
            try:
                row = ray.get(ref)
            except RayTaskError:
                raise
            except RayError:
                # the actor (its worker process or node) is gone: requeue
                # this run and whatever else it held, start a new actor
                tries[p.run] = tries.get(p.run, 0) + 1
                if tries[p.run] > MAX_RESUBMITS:
                    raise LostRunsError(f"run {p.run}: its Ray worker died {tries[p.run]} times") from None
                held = [r for r, (kk, _) in inflight.items() if kk == k]
                requeue = [p] + [inflight.pop(r)[1] for r in held]
                todo.extendleft(sorted(requeue, key=lambda q: -q.run))
                print(f"a Ray worker died: {len(requeue)} unfinished run(s) go to a new actor",
                      file=sys.stderr, flush=True)
                actors[k] = Actor.remote()
                for _ in range(per_actor):
                    submit(k)
                continue
            on_row(row)
            submit(k)
    finally:
        for a in actors:
            try:
                ray.kill(a)
            except Exception:
                pass


def timed(fn, *a, **kw) -> tuple[float, object]:
    t0 = time.perf_counter()
    r = fn(*a, **kw)
    return time.perf_counter() - t0, r
