"""Campaigns: scenario overrides, spec validation, deterministic sampling,
the results file, statistics; and, with real subprocesses, a real process
pool and a real local Ray cluster: identical results locally and on Ray,
resume after SIGINT / SIGKILL, and a failing run's printed command that
replays the failure."""
from __future__ import annotations

import json
import math
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, edgepilot_cmd, run_edgepilot
from edgepilot import configs_dir
from edgepilot.sim.campaign.report import mann_whitney, wilson
from edgepilot.sim.campaign.results import ResultsWriter, read_results
from edgepilot.sim.campaign.spec import load_campaign
from edgepilot.sim.campaign.worker import NONDETERMINISTIC
from edgepilot.sim.overrides import Override, format_value, parse_key, parse_set, parse_value
from edgepilot.sim.scenario import load_scenario
from edgepilot.vehicle.config import ConfigError

SMOKE = configs_dir() / "campaigns" / "smoke.toml"
SMOKE_RUNS = 8


def outcome(row: dict) -> dict:
    """A row without what legitimately differs between executions (timing, worker)."""
    return {k: v for k, v in row.items() if k not in NONDETERMINISTIC}


def run_rows(path: Path) -> list[dict]:
    """Every run line of a results file, duplicates included (to catch a re-run)."""
    rows = []
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        if rec["kind"] == "run":
            rows.append(rec)
    return rows


# ------------------------------------------------------------------ overrides
def test_override_keys_and_values_round_trip():
    assert parse_key("faults[0].start_s") == ("faults", 0, "start_s")
    assert parse_key("faults.0.start_s") == ("faults", 0, "start_s")
    assert parse_key("faults[+]") == ("faults", "+")
    for bad in ("", "a..b", ".a", "a.", "0.a", "a[+].b", "a b", "a[x]"):
        with pytest.raises(ConfigError, match="override key"):
            parse_key(bad)
    for v in (0.1, 1e-5, 1.2345678901234567, -3.0, 7, True, "colregs", [1.0, 2], float("inf"),
              {"type": "gps_dropout", "start_s": 12.5, "expect": {"action": "HOLD"}}):
        assert parse_value(format_value(v)) == v
        assert type(parse_value(format_value(v))) is type(v)
    assert parse_value("colregs") == "colregs"      # a bare word is a string


def test_overrides_change_the_scenario_and_are_validated():
    sets = ["start.x=5.5", "world.current.speed=0.4", "world.current.direction_deg=90",
            "vehicle.sensors.gps.noise_m=0.3",
            'faults[+]={type="gps_dropout", start_s=10.0, duration_s=2.0, expect={action="HOLD"}}',
            "faults[0].start_s=12.5", "criteria.max_time_s=123"]
    sc = load_scenario("ugv_yard", [parse_set(s) for s in sets])
    assert sc.start.x == 5.5 and sc.start.y == 4.0
    assert sc.world.current[0] == pytest.approx(0.0, abs=1e-12) and sc.world.current[1] == pytest.approx(0.4)
    assert sc.vehicle_config.sensors.gps.noise_m == 0.3
    assert sc.faults[0].type == "gps_dropout" and sc.faults[0].start_s == 12.5
    assert sc.criteria.max_time_s == 123          # a default the file leaves out
    assert load_scenario("ugv_yard") == load_scenario("ugv_yard", [Override("seed", 1)])
    cases = {"start.z=1": "start.z", "faults[0].start_s=3": "faults[0].start_s",
             "start.x=abc": "start.x", "criteria.max_time_s=-1": "criteria.max_time_s",
             "vehicle.sensors.gps.noise=1": "vehicle.sensors.gps.noise",
             "mission.waypoints[9]=[1, 2]": "mission.waypoints[9]", "start.x=500": "start"}
    for arg, key in cases.items():
        with pytest.raises(ConfigError) as e:
            load_scenario("ugv_yard", [parse_set(arg)])
        assert key in str(e.value), (arg, str(e.value))


def test_every_shipped_scenario_and_vehicle_survives_the_override_round_trip():
    """Overrides re-validate the dumped model: a no-op override must give the same model back."""
    from edgepilot.sim.overrides import validate_overridden
    from edgepilot.vehicle.config import VehicleConfig, load_vehicle_config

    for p in sorted((configs_dir() / "scenarios").glob("*.toml")):
        sc = load_scenario(p)
        assert load_scenario(p, [Override("seed", sc.seed)]) == sc, p
    for p in sorted((configs_dir() / "vehicles").glob("*.toml")) + sorted(
            (configs_dir() / "scenarios" / "fault_vehicles").glob("*.toml")):
        v = load_vehicle_config(p)
        assert validate_overridden(VehicleConfig, v, [Override("name", v.name)], p, "vehicle") == v, p


def test_sitl_run_set_refuses_an_unknown_key():
    r = run_edgepilot("sitl", "run", "fault_gps_dropout", "--set", "start.q=1", timeout=120)
    assert r.returncode == 2
    assert "start.q" in r.stderr and "keys of start: arm_after_s, x, y, yaw_deg" in r.stderr


# ------------------------------------------------------------------ specs
def _spec(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "spec.toml"
    p.write_text('[campaign]\nname = "t"\nseed = 3\n\n' + body)
    return p


BAD_SPECS = {
    "unknown scenario": ('[[scenarios]]\nscenario = "no_such_scenario"\nruns = 2\n',
                         "scenarios[0].scenario"),
    "empty range": ('[[scenarios]]\nscenario = "fault_gps_dropout"\nruns = 2\n'
                    '[scenarios.vary]\n"start.x" = { range = [5.0, 2.0] }\n', 'vary."start.x": empty range'),
    "missing parameter": ('[[scenarios]]\nscenario = "fault_gps_dropout"\nruns = 2\n'
                          '[scenarios.vary]\n"world.current.gust" = { range = [0.0, 1.0] }\n',
                          'vary."world.current.gust"'),
    "index out of range": ('[[scenarios]]\nscenario = "fault_gps_dropout"\nruns = 2\n'
                           '[scenarios.vary]\n"faults[3].start_s" = { range = [1.0, 2.0] }\n',
                           'vary."faults[3].start_s"'),
    "wrong type": ('[[scenarios]]\nscenario = "fault_gps_dropout"\nruns = 2\n'
                   '[scenarios.vary]\n"start.x" = { choice = ["east", "west"] }\n', 'vary."start.x"'),
    "out of bounds": ('[[scenarios]]\nscenario = "fault_gps_dropout"\nruns = 2\n'
                      '[scenarios.vary]\n"start.x" = { range = [1.0, 90.0] }\n', 'vary."start.x"'),
    "runs not a number": ('[[scenarios]]\nscenario = "fault_gps_dropout"\nruns = "many"\n', "scenarios.0.runs"),
    "scale of a missing value": ('[[scenarios]]\nscenario = "fault_gps_dropout"\nruns = 2\n'
                                 '[scenarios.vary]\n"criteria.min_cpa_m" = { scale = [0.5, 2.0] }\n',
                                 'vary."criteria.min_cpa_m": scale needs a number'),
    "scale of an unknown key": ('[[scenarios]]\nscenario = "fault_gps_dropout"\nruns = 2\n'
                                '[scenarios.vary]\n"vehicle.sensors.gps.noise" = { scale = [0.5, 2.0] }\n',
                                'vary."vehicle.sensors.gps.noise"'),
    "empty choice": ('[[scenarios]]\nscenario = "fault_gps_dropout"\nruns = 2\n'
                     '[scenarios.vary]\n"faults[0].mode" = { choice = [] }\n', "empty choice"),
    "bad added item": ('[[scenarios]]\nscenario = "fault_gps_dropout"\nruns = 2\n[[scenarios.add]]\n'
                       'to = "faults"\nname = "x"\nitem = { type = "gps_dropout", start_s = { range = [3.0, 1.0] } }\n',
                       "add[0].item.start_s: empty range"),
}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_bad_spec_is_refused_naming_the_key(tmp_path, case):
    body, key = BAD_SPECS[case]
    with pytest.raises(ConfigError) as e:
        load_campaign(_spec(tmp_path, body))
    assert key in str(e.value), str(e.value)


def test_bad_spec_refused_by_the_cli_before_any_run(tmp_path):
    body, key = BAD_SPECS["missing parameter"]
    out = tmp_path / "out"
    r = run_edgepilot("sitl", "campaign", str(_spec(tmp_path, body)), "--out", str(out), timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert key in r.stderr and "world.current" in r.stderr
    assert not (out / "results.jsonl").exists()     # nothing started


def test_sampling_is_deterministic_per_run():
    a, b = load_campaign(SMOKE), load_campaign(SMOKE)
    pa, pb = a.plans(), b.plans()
    assert [p.command() for p in pa] == [p.command() for p in pb]
    assert len({p.seed for p in pa}) == len(pa)                 # runs differ
    assert [p.command() for p in a.plans(3)] == [p.command() for p in pa[:3]]   # a prefix is the same runs
    for p in pa:                                                 # every sampled value is in its range
        assert 13.0 <= p.params["start.y"] <= 17.0 and 3.0 <= p.params["faults[0].start_s"] <= 9.0
        assert p.params["criteria.max_time_s"] in (24.0, 60.0)
        assert 0.025 <= p.params["vehicle.sensors.gps.noise_m"] <= 0.15


def test_added_items_and_polar_current(tmp_path):
    spec = _spec(tmp_path, '[[scenarios]]\nscenario = "usv_harbor"\nruns = 20\n[scenarios.vary]\n'
                           '"world.current.speed" = { range = [0.0, 0.8] }\n'
                           '"world.current.direction_deg" = { range = [0.0, 360.0] }\n'
                           '[[scenarios.add]]\nto = "traffic"\nname = "ship"\ncount = { integers = [0, 3] }\n'
                           'item = { name = "ship", mmsi = 235000100, speed = { range = [1.0, 4.0] }, '
                           'behaviour = { choice = ["route", "colregs"] }, '
                           'waypoints = [[{ range = [150.0, 290.0] }, 150.0], [20.0, 150.0]] }\n')
    camp = load_campaign(spec)
    counts = set()
    for p in camp.plans():
        sc = load_scenario(p.scenario, p.overrides)
        n = p.params["ship.count"]
        counts.add(n)
        assert len(sc.traffic) == n and len({v.mmsi for v in sc.traffic}) == n
        assert math.hypot(*sc.world.current) == pytest.approx(p.params["world.current.speed"], abs=1e-9)
    assert len(counts) > 1


# ------------------------------------------------------------------ statistics and the file
def test_wilson_interval_known_values():
    lo, hi = wilson(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)
    lo, hi = wilson(10, 10)
    assert hi == 1.0 and lo == pytest.approx(0.7225, abs=1e-4)


def test_mann_whitney_matches_brute_force():
    rng = np.random.default_rng(4)
    x, y = rng.normal(1.0, 1.0, 30).round(1), rng.normal(0.0, 1.0, 40).round(1)
    r, p = mann_whitney(x, y)
    u = sum((a > b) + 0.5 * (a == b) for a in x for b in y)
    assert r == pytest.approx(2 * u / (len(x) * len(y)) - 1)
    assert 0 < p < 0.01
    assert mann_whitney(x, x)[1] == pytest.approx(1.0)


def test_results_file_drops_a_torn_line_and_resumes(tmp_path):
    path = tmp_path / "r.jsonl"
    w = ResultsWriter(path, batch=2)
    w.create({"campaign": "t", "fingerprint": "f"})
    for i in range(3):
        w.append({"kind": "run", "run": i, "passed": True})
    w.close()
    with open(path, "ab") as f:
        f.write(b'{"kind": "run", "run": 3, "pas')        # killed mid-write
    got = read_results(path)
    assert sorted(got.rows) == [0, 1, 2] and got.dropped == 1 and got.header["fingerprint"] == "f"
    w = ResultsWriter(path)
    w.resume(got.good_bytes)
    w.append({"kind": "run", "run": 3, "passed": False})
    w.close()
    again = read_results(path)
    assert sorted(again.rows) == [0, 1, 2, 3] and again.dropped == 0 and again.rows[3]["passed"] is False


# ------------------------------------------------------------------ real campaigns
def _campaign(*args, timeout=600, env=None) -> subprocess.CompletedProcess:
    e = dict(os.environ, **(env or {}))
    e["PYTHONPATH"] = str(REPO) + os.pathsep + e.get("PYTHONPATH", "")
    return subprocess.run(edgepilot_cmd() + ["sitl", "campaign", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=e)


@pytest.fixture(scope="module")
def local_results(tmp_path_factory) -> dict[int, dict]:
    """The smoke campaign on the local process pool (2 workers)."""
    out = tmp_path_factory.mktemp("local")
    r = _campaign(str(SMOKE), "--out", str(out), "--workers", "2", "--no-progress")
    assert r.returncode == 0, r.stdout + r.stderr
    rows = run_rows(out / "results.jsonl")
    assert sorted(x["run"] for x in rows) == list(range(SMOKE_RUNS))
    assert (out / "report.html").stat().st_size > 10_000
    assert "data:image/png;base64," in (out / "report.html").read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["overall"]["n"] == SMOKE_RUNS
    # kernels warmed once per worker process: at most 2 processes ran all runs
    assert len({x["worker"] for x in rows}) <= 2
    return {x["run"]: x for x in rows}


@pytest.mark.slow
def test_local_campaign_reports_failures_and_gates(local_results, tmp_path):
    rows = list(local_results.values())
    failed = [r for r in rows if not r["passed"]]
    assert failed and len(failed) < len(rows)        # the smoke spec has both
    for r in failed:
        assert r["criteria"]["mission_complete"] is False and r["params"]["criteria.max_time_s"] == 24.0
    # --fail-under: the same results, re-reported, gate on the pass rate
    out = tmp_path / "gate"
    out.mkdir()
    lines = [json.dumps({"kind": "header", "campaign": "smoke",
                         "fingerprint": load_campaign(SMOKE).fingerprint})]
    lines += [json.dumps(r) for r in rows]
    (out / "results.jsonl").write_text("\n".join(lines) + "\n")
    rate = sum(r["passed"] for r in rows) / len(rows)
    r = _campaign(str(SMOKE), "--out", str(out), "--report-only", "--fail-under", f"{rate + 0.01:.2f}")
    assert r.returncode == 1 and "below --fail-under" in r.stderr
    r = _campaign(str(SMOKE), "--out", str(out), "--report-only", "--fail-under", f"{100 * rate - 1:.0f}%")
    assert r.returncode == 0, r.stderr


@pytest.mark.slow
def test_failing_runs_command_replays_the_failure(local_results, tmp_path):
    row = next(r for r in sorted(local_results.values(), key=lambda r: r["run"]) if not r["passed"])
    argv = shlex.split(row["command"])
    assert argv[:3] == ["edgepilot", "sitl", "run"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    r = subprocess.run(edgepilot_cmd() + argv[1:] + ["--out", str(tmp_path / "replay"), "--quiet"],
                       capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
    assert r.returncode == 1, r.stdout + r.stderr             # fails again
    s = json.loads((tmp_path / "replay" / "summary.json").read_text())
    for k in ("seed", "passed", "reasons", "min_clearance_m", "sim_time_s", "waypoints_reached",
              "path_length_m", "max_cross_track_m", "max_position_error_m", "rms_position_error_m"):
        assert s[k] == row[k], k


def _wait_rows(path: Path, n: int, proc: subprocess.Popen, deadline_s: float = 300) -> int:
    t_end = time.monotonic() + deadline_s
    while time.monotonic() < t_end:
        if path.exists():
            k = len(read_results(path).rows)
            if k >= n:
                return k
        assert proc.poll() is None, "campaign ended before it could be interrupted"
        time.sleep(0.05)
    raise AssertionError(f"no {n} results in {path} within {deadline_s} s")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_resume_after_kill_loses_and_repeats_nothing(local_results, tmp_path, sig):
    out = tmp_path / "c"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(edgepilot_cmd() + ["sitl", "campaign", str(SMOKE), "--out", str(out), "--workers", "2",
                                               "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=REPO, env=env)
    results = out / "results.jsonl"
    try:
        _wait_rows(results, 2, proc)
        proc.send_signal(sig)
        stdout, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "--resume" in stdout
    else:
        assert proc.returncode == -signal.SIGKILL
    before = run_rows(results)
    assert 2 <= len(before) < SMOKE_RUNS
    r = _campaign(str(SMOKE), "--out", str(out), "--workers", "2", "--no-progress", "--resume")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{len(before)} already done, {SMOKE_RUNS - len(before)} to run" in r.stdout
    after = run_rows(results)
    assert sorted(x["run"] for x in after) == list(range(SMOKE_RUNS))      # none lost, none twice
    assert after[:len(before)] == before                                   # finished runs kept as they were
    for x in after:
        assert outcome(x) == outcome(local_results[x["run"]])


def _pool_workers(pid: int) -> list[int]:
    """Process-pool worker processes of the campaign process ``pid``."""
    out = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            cmd = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"multiprocessing.spawn" in cmd or b"spawn_main" in cmd:
            out.append(int(child))
    return out


@pytest.mark.slow
def test_a_lost_pool_worker_loses_no_run(local_results, tmp_path):
    out = tmp_path / "lost"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(edgepilot_cmd() + ["sitl", "campaign", str(SMOKE), "--out", str(out), "--workers", "2",
                                               "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=REPO, env=env)
    try:
        _wait_rows(out / "results.jsonl", 1, proc)
        workers = _pool_workers(proc.pid)
        assert workers, "no pool workers found"
        os.kill(workers[0], signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stdout + stderr
    assert "a worker died" in stderr and "go to a new pool" in stderr
    rows = run_rows(out / "results.jsonl")
    assert sorted(x["run"] for x in rows) == list(range(SMOKE_RUNS))       # none lost, none twice
    for x in rows:
        assert outcome(x) == outcome(local_results[x["run"]])


#: ports a Ray head takes by default besides the one it is given (client
#: server, dashboard, dashboard agent, Redis, workers): a GCS port the OS
#: hands out among them makes `ray start` refuse ("port ... used by other
#: components"; seen once with 52365, the dashboard agent's)
_RAY_DEFAULT_PORTS = {6379, 8265, 10001, 52365, *range(10002, 20000)}


def _free_port() -> int:
    """A free port on the loopback that none of Ray's default ports is."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _RAY_DEFAULT_PORTS:
            return port


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """A real one-node Ray cluster on the loopback, stopped afterwards (by
    its own process group, never by name)."""
    ray_bin = Path(sys.executable).parent / "ray"
    assert ray_bin.exists(), "ray is in the test extra: pip install -e '.[test]'"
    port = _free_port()
    tmp = Path("/tmp") / f"epray{os.getpid()}"
    # single-node mode: Ray would otherwise swap 127.0.0.1 for the machine's LAN address
    env = dict(os.environ, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    log = open(tmp_path_factory.mktemp("ray") / "ray.log", "w")
    proc = subprocess.Popen([str(ray_bin), "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
                             "--num-cpus", "2", "--port", str(port), "--disable-usage-stats",
                             "--include-dashboard=false", "--temp-dir", str(tmp)],
                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    address = f"127.0.0.1:{port}"
    try:
        t_end = time.monotonic() + 180
        while True:
            st = subprocess.run([str(ray_bin), "status", "--address", address], capture_output=True, text=True,
                                env=env)
            if st.returncode == 0 and "CPU" in st.stdout:
                break
            assert proc.poll() is None, f"ray start exited: {Path(log.name).read_text()[-2000:]}"
            assert time.monotonic() < t_end, "Ray cluster did not come up"
            time.sleep(1.0)
        yield address, env
    finally:
        # ray start --block stops the processes it started on SIGTERM; then
        # whatever of its process group is left goes too
        for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                pass
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.slow
def test_ray_gives_the_same_results_run_for_run(local_results, ray_cluster, tmp_path):
    address, env = ray_cluster
    out = tmp_path / "ray"
    r = _campaign(str(SMOKE), "--out", str(out), "--ray", address, "--no-progress", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ray (127.0.0.1" in r.stdout and "2 ray" in r.stdout
    rows = run_rows(out / "results.jsonl")
    assert sorted(x["run"] for x in rows) == list(range(SMOKE_RUNS))
    for x in rows:
        assert outcome(x) == outcome(local_results[x["run"]]), x["run"]
    assert len({x["worker"] for x in rows}) <= 2        # one warmed actor per CPU ran them all
