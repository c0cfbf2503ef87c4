"""The persisted parameter file is as durable as the mission (issue 13):
written atomically with a CRC-32 header, a damaged one refuses to start
naming the file, values are checked when loaded."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

import edgepilot
from edgepilot.gcs.formats.parm import parse_parm
from edgepilot.onboard import param_file
from edgepilot.onboard.param_file import ParamFileError, persisted_params
from edgepilot.sim.realtime import free_port
from edgepilot.sim.scenario import load_scenario
from tests.conftest import REPO, run_edgepilot

CFG = load_scenario("ugv_yard").vehicle_config
HW_CFG = edgepilot.configs_dir() / "vehicles" / "ugv_hardware.toml"


def saved_file(tmp_path, **values):
    path = tmp_path / "params.parm"
    store = persisted_params(CFG, path)
    for k, v in values.items():
        assert store.set(k, v).ok
    return path


def test_good_file_round_trips_and_ground_stations_read_it(tmp_path):
    path = saved_file(tmp_path, WP_RADIUS=12.5, WP_SPEED=0.75)
    text = path.read_text()
    assert text.startswith(param_file.HEADER) and "WP_RADIUS 12.5\n" in text
    again = persisted_params(CFG, path)
    assert again.get("WP_RADIUS") == 12.5 and again.get("WP_SPEED") == 0.75
    assert dict(again.items()) == dict(persisted_params(CFG, path).items())
    # A .parm reader (our ground station's) takes it: '#' lines are comments.
    parsed = dict(parse_parm(text, str(path)))
    assert parsed["WP_RADIUS"] == 12.5
    # No temp files left behind by the atomic writes.
    assert [p.name for p in tmp_path.iterdir()] == ["params.parm"]


def test_every_cut_of_a_saved_file_is_refused_naming_it(tmp_path):
    path = saved_file(tmp_path, WP_RADIUS=12.5)
    data = path.read_bytes()
    cut = tmp_path / "cut.parm"
    for n in range(1, len(data)):
        cut.write_bytes(data[:n])
        with pytest.raises(ParamFileError, match="cut.parm.*(damaged|empty)"):
            persisted_params(CFG, cut)
    # The case: a cut mid-line that still parses as a value.
    i = data.index(b"WP_RADIUS 12.5") + len(b"WP_RADIUS 1")
    cut.write_bytes(data[:i] + b"\n")
    with pytest.raises(ParamFileError, match="checksum mismatch"):
        persisted_params(CFG, cut)


@pytest.mark.parametrize("content, expect", [
    (b"WP_RADIUS 1\xff2\n", r"byte 0xff at offset 11 is not UTF-8"),
    (b"WP_RADIUS nan\n", r":1: WP_RADIUS: expected a finite number"),
    (b"WP_SPEED 1\nWP_RADIUS inf\n", r":2: WP_RADIUS: expected a finite number"),
    (b"WP_RADIUS 1000\n", r":1: WP_RADIUS must be in \[0.1, 100\]"),
    (b"WP_RADIUS\n", r":1: expected 'NAME VALUE'"),
    (b"WP_RADIUS one\n", r":1: WP_RADIUS: expected a number"),
    (b"", r"empty parameter file"),
])
def test_bad_hand_written_files_are_refused_naming_file_and_line(tmp_path, content, expect):
    p = tmp_path / "hand.parm"
    p.write_bytes(content)
    with pytest.raises(ParamFileError, match=f"hand.parm{expect}" if expect.startswith(":") else f"hand.parm.*{expect}"):
        persisted_params(CFG, p)


def test_hand_written_file_without_header_loads_unknown_names_skipped(tmp_path):
    p = tmp_path / "hand.parm"
    p.write_text("# tuned on site\nWP_RADIUS,2.5\nSOME_OLD_PARAM 3\nWP_SPEED\t0.9  # slow\n")
    s = persisted_params(CFG, p)
    assert s.get("WP_RADIUS") == 2.5 and s.get("WP_SPEED") == 0.9


def test_oversized_file_refused_before_reading(tmp_path):
    p = tmp_path / "big.parm"
    p.write_bytes(b"# x\n" * (param_file.MAX_BYTES // 4 + 1))
    with pytest.raises(ParamFileError, match="big.parm.*bytes, more than"):
        persisted_params(CFG, p)


WRITER = r"""
import sys
from edgepilot.onboard.param_file import persisted_params
from edgepilot.sim.scenario import load_scenario
s = persisted_params(load_scenario("ugv_yard").vehicle_config, sys.argv[1])
print("ready", flush=True)
k = 0
while True:
    k += 1
    s.set("WP_RADIUS", 1.0 + (k % 900) / 10.0)
"""


def test_kill_9_during_writes_never_leaves_a_file_with_wrong_values(tmp_path):
    path = tmp_path / "params.parm"
    allowed = {round(1.0 + k / 10.0, 6) for k in range(900)} | {CFG.control.acceptance_radius}
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for i in range(6):
        p = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=env)
        assert p.stdout.readline().strip() == "ready"
        time.sleep(0.05 + 0.037 * i)      # a different point in the write each round
        p.send_signal(signal.SIGKILL)
        p.wait(10)
        s = persisted_params(CFG, path)   # loads (never damaged: atomic) ...
        assert round(s.get("WP_RADIUS"), 6) in allowed   # ... with a value that was written
        assert s.get("WP_SPEED") == CFG.control.cruise_speed
    leftovers = [q.name for q in tmp_path.iterdir() if q.name != "params.parm"]
    # A kill between mkstemp and rename can leave a temp file; it is never read.
    assert all(n.startswith(".params.parm.") for n in leftovers)


def _damaged_state(tmp_path):
    state = tmp_path / "state"
    saved_file(state, WP_RADIUS=12.5)
    pf = state / "params.parm"
    data = pf.read_bytes()
    i = data.index(b"WP_RADIUS 12.5") + len(b"WP_RADIUS 1")
    pf.write_bytes(data[:i])
    return state


def test_realtime_sitl_refuses_a_damaged_params_file(tmp_path):
    state = _damaged_state(tmp_path)
    r = run_edgepilot("sitl", "run", "--realtime", "--state-dir", str(state),
                      "--mavlink", f"tcpin:127.0.0.1:{free_port()}", "--duration", "1", timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert str(state / "params.parm") in r.stderr and "damaged" in r.stderr
    assert "Traceback" not in r.stderr


def test_realtime_sitl_refuses_undecodable_params_naming_it(tmp_path):
    bad = tmp_path / "vehicle.parm"
    bad.write_bytes(b"WP_RADIUS \xe9\xff\n")
    r = run_edgepilot("sitl", "run", "--realtime", "--params", str(bad),
                      "--mavlink", f"tcpin:127.0.0.1:{free_port()}", "--duration", "1", timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert str(bad) in r.stderr and "not UTF-8" in r.stderr


def test_vehicle_run_refuses_a_damaged_params_file(tmp_path):
    state = _damaged_state(tmp_path)
    r = run_edgepilot("vehicle", "run", "--config", str(HW_CFG), "--state-dir", str(state), "--no-warm",
                      "--duration", "1", timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert str(state / "params.parm") in r.stderr and "damaged" in r.stderr
    assert "Traceback" not in r.stderr
