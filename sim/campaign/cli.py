"""``edgepilot sitl campaign SPEC.toml``: plan, run (pool or Ray), stream
results, resume, report, gate."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from rich.console import Console

from edgepilot.vehicle.config import ConfigError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
RESULTS = "results.jsonl"


def parse_rate(text: str) -> float:
    t = str(text).strip()
    pct = t.endswith("%")
    try:
        v = float(t[:-1] if pct else t)
    except ValueError:
        raise ConfigError(f"--fail-under {text!r}: expected a pass rate such as 0.95 or 95%") from None
    v = v / 100.0 if pct else v
    if not 0.0 <= v <= 1.0:
        raise ConfigError(f"--fail-under {text!r}: a pass rate lies in 0..1 (or 0%..100%)")
    return v


class Progress:
    """Runs done, pass rate so far, ETA: a rich bar on a terminal, one
    plain line per 10 % otherwise (logs, CI)."""

    def __init__(self, total: int, done: int, passed: int, console: Console, bar: bool):
        self.total, self.done, self.passed = total, done, passed
        self.console = console
        self.t0 = time.monotonic()
        self.start_done = done
        self._bar = None
        self._last_decile = done * 10 // max(total, 1)
        if bar and console.is_terminal:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RP, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            self._bar = RP(TextColumn("[bold]campaign"), BarColumn(), MofNCompleteColumn(),
                           TextColumn("runs  pass {task.fields[rate]}"), TimeElapsedColumn(),
                           TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=False)
            self._task = self._bar.add_task("runs", total=total, completed=done, rate=self._rate())
            self._bar.start()

    def _rate(self) -> str:
        return f"{100.0 * self.passed / self.done:.1f}%" if self.done else "-"

    def update(self, passed: bool) -> None:
        self.done += 1
        self.passed += int(passed)
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, rate=self._rate())
            return
        dec = self.done * 10 // max(self.total, 1)
        if dec > self._last_decile:
            self._last_decile = dec
            el = time.monotonic() - self.t0
            n = self.done - self.start_done
            eta = el / n * (self.total - self.done) if n else 0.0
            self.console.print(f"  {self.done}/{self.total} runs  pass {self._rate()}  "
                               f"elapsed {el:.0f} s  ETA {eta:.0f} s", highlight=False)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def campaign_cli(args) -> int:
    from edgepilot.sim.campaign.results import ResultsWriter, check_header, read_results
    from edgepilot.sim.campaign.spec import load_campaign

    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)

    def refuse(msg: str) -> int:
        err.print(f"[bold red]error:[/] {msg}", markup=True, soft_wrap=True)
        return EXIT_USAGE

    try:
        gate = parse_rate(args.fail_under) if args.fail_under is not None else None
        if args.workers is not None and args.workers < 1:
            raise ConfigError(f"--workers {args.workers}: expected at least 1")
        if args.runs is not None and args.runs < 1:
            raise ConfigError(f"--runs {args.runs}: expected at least 1")
        if args.resume and args.overwrite:
            raise ConfigError("--resume and --overwrite contradict each other")
        camp = load_campaign(args.spec)
    except ConfigError as e:
        return refuse(str(e))
    out_dir = args.out or Path("campaigns") / camp.name
    results = out_dir / RESULTS
    total = camp.total_runs if args.runs is None else min(args.runs, camp.total_runs)
    header = {"campaign": camp.name, "fingerprint": camp.fingerprint, "spec": str(Path(args.spec).resolve()),
              "campaign_seed": camp.spec.campaign.seed, "runs": camp.total_runs,
              "scenarios": camp.scenario_names}

    if args.report_only:
        got = read_results(results)
        if got.header is None:
            return refuse(f"{results}: no campaign results to report on")
        try:
            check_header(got.header, camp.fingerprint, results)
        except ConfigError as e:
            return refuse(str(e))
        return _finish(camp, got.rows, out_dir, gate, total, out, err, interrupted=False)

    backend = "local"
    try:
        if args.ray:
            from edgepilot.sim.campaign.runner import ray_cpus

            workers = args.workers or ray_cpus(args.ray)
            backend = f"ray ({args.ray})"
        else:
            from edgepilot.sim.campaign.runner import local_cores

            workers = args.workers or local_cores()
    except Exception as e:          # no Ray installed, no cluster at that address, ...
        return refuse(f"--ray {args.ray}: {e}")
    existing = read_results(results)
    writer = ResultsWriter(results)
    if args.resume:
        if existing.header is None and not existing.rows:
            writer.create(header)
            done_rows: dict = {}
        else:
            try:
                check_header(existing.header, camp.fingerprint, results)
            except ConfigError as e:
                return refuse(str(e))
            writer.resume(existing.good_bytes)
            done_rows = dict(existing.rows)
            if existing.dropped:
                out.print(f"resume: dropped {existing.dropped} incomplete line(s) of {results}; those runs run again")
    else:
        if (existing.header is not None or existing.rows) and not args.overwrite:
            return refuse(f"{results} already holds {len(existing.rows)} run(s) of campaign "
                          f"{(existing.header or {}).get('campaign')!r}: --resume to continue it, "
                          f"--overwrite to start over, or another --out")
        writer.create(header)
        done_rows = {}

    plans = [camp.plan(i) for i in range(total) if i not in done_rows]
    out.print(f"campaign {camp.name}: {total} runs of {', '.join(dict.fromkeys(camp.scenario_names))} "
              f"(campaign seed {camp.spec.campaign.seed}), {len(done_rows)} already done, "
              f"{len(plans)} to run on {workers} {backend} worker(s); results -> {results}")
    if plans and not args.ray:
        _warm_cache_once(out)

    passed_so_far = sum(1 for r in done_rows.values() if r["run"] < total and r.get("passed"))
    prog = Progress(total, total - len(plans), passed_so_far, err, bar=not args.no_progress)
    stats = {"rows": 0, "t0": time.perf_counter()}

    def on_row(row: dict) -> None:
        writer.append(row)
        done_rows[row["run"]] = row
        stats["rows"] += 1
        prog.update(bool(row.get("passed")))

    interrupted = False
    try:
        if plans:
            if args.ray:
                from edgepilot.sim.campaign.runner import run_ray

                run_ray(plans, workers, on_row, args.ray)
            else:
                from edgepilot.sim.campaign.runner import run_local

                run_local(plans, workers, on_row)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        prog.stop()
        writer.close()
    elapsed = time.perf_counter() - stats["t0"]
    if stats["rows"]:
        out.print(f"ran {stats['rows']} run(s) in {elapsed:.1f} s "
                  f"({60.0 * stats['rows'] / elapsed:.1f} runs/min)")
    if interrupted:
        out.print(f"interrupted: {len(done_rows)}/{total} runs are in {results}; continue with --resume",
                  style="bold yellow")
        return EXIT_INTERRUPTED
    return _finish(camp, done_rows, out_dir, gate, total, out, err, interrupted=False)


def _warm_cache_once(out: Console) -> None:
    """Compile missing kernels here, once, before the workers start (they
    then only load numba's disk cache instead of all compiling at once)."""
    from edgepilot.onboard.kernels import SIM_ROOTS, VEHICLE_ROOTS, default_jobs, disk_cache_status, warm_all

    status, _, _ = disk_cache_status(VEHICLE_ROOTS + SIM_ROOTS)
    if status != "hit":
        out.print(f"kernel cache: {status}; compiling once before the workers start (edgepilot warm)")
        warm_all(jobs=default_jobs())


def _finish(camp, rows: dict, out_dir: Path, gate, total: int, out: Console, err: Console,
            interrupted: bool) -> int:
    from edgepilot.sim.campaign.report import write_campaign_report

    mine = {i: r for i, r in rows.items() if i < total}
    rep = write_campaign_report(camp, mine, out_dir)
    s = rep["overall"]
    out.print()
    out.print(f"campaign {camp.name}: {s['passed']}/{s['n']} runs passed, pass rate {100 * s['rate']:.1f}% "
              f"(95% CI {100 * s['ci'][0]:.1f}-{100 * s['ci'][1]:.1f}%)")
    for name, ps in rep["per_scenario"].items():
        out.print(f"  {name:28s} {ps['passed']}/{ps['n']}  {100 * ps['rate']:.1f}% "
                  f"(CI {100 * ps['ci'][0]:.1f}-{100 * ps['ci'][1]:.1f}%)")
    for d in rep["dependence"][:5]:
        if d.get("note"):
            out.print(f"  failures depend on {d['param']}: {d['note']}")
    worst = [w for w in rep["worst"] if not w["passed"]][:5]
    if worst:
        out.print("worst runs (replay each with the command shown):")
        for w in worst:
            why = w["reasons"][0] if w["reasons"] else "passed"
            out.print(f"  run {w['run']} {'PASS' if w['passed'] else 'FAIL'}: {why}", soft_wrap=True)
            out.print(f"    {w['command']}", soft_wrap=True)
    out.print(f"report: {out_dir / 'report.html'} (plots in {out_dir / 'plots'}, summary.json)")
    missing = total - len(mine)
    if missing:
        out.print(f"{missing} run(s) of {total} have no result yet (resume with --resume)", style="yellow")
    sys.stdout.flush()
    if gate is not None and s["rate"] < gate:
        err.print(f"pass rate {100 * s['rate']:.1f}% is below --fail-under {100 * gate:.1f}%", style="bold red")
        return EXIT_FAILED
    return EXIT_OK


def dump_json(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=True)
