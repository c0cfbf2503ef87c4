"""Input-file parsers are linear and bounded (issue 13 items 4-5): a deeply
nested .plan or TOML, an oversized file and a 100k-item mission each end in
a clean error naming the file (exit 2 from the CLI), never a traceback; big
files parse.  Timing is measured in benchmarks/parsers.py, not here."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from edgepilot import configs_dir, exitcodes
from edgepilot.gcs.errors import FileFormatError
from edgepilot.gcs.formats import fence as ff
from edgepilot.gcs.formats import mission as fm
from edgepilot.gcs.formats.jsonscan import MAX_DEPTH, array_item_lines, max_depth
from edgepilot.gcs.formats.parm import MAX_FILE_BYTES as PARM_MAX, format_parm, load_parm
from edgepilot.vehicle.config import ConfigError, read_toml
from tests.conftest import REPO, edgepilot_cmd, process_batch, run_edgepilot, selected_in_module

DEAD = "tcp:127.0.0.1:9"      # never reached: bad files are refused before connecting


def big_mission(n: int) -> fm.Mission:
    items = tuple(fm.MissionItem(command=16, frame=3, x=-35.3629 + i * 1e-7, y=149.16523 + i * 1e-7, z=5.0)
                  for i in range(n))
    return fm.Mission(items=items, home=fm.MissionItem(command=16, frame=0, x=-35.36, y=149.16))


def no_traceback(r):
    assert "Traceback" not in r.stderr and "RecursionError" not in r.stderr, r.stderr


# ----------------------------------------------------------------------------- nesting depth
def deep_plan(depth: int) -> str:
    inner = "[" * depth + "]" * depth
    return ('{"fileType": "Plan", "version": 1,\n "mission": {"items": [\n'
            '  {"type": "SimpleItem", "command": 16, "frame": 3, "params": ' + inner + '}]}}\n')


@pytest.mark.parametrize("kind", ["mission", "fence"])
def test_deeply_nested_plan_is_a_clean_error_naming_the_file(tmp_path, kind):
    p = tmp_path / "deep.plan"
    p.write_text(deep_plan(100_000))
    r = run_edgepilot("gcs", "-c", DEAD, kind, "upload", str(p), timeout=120)
    no_traceback(r)
    assert r.returncode == exitcodes.USAGE == 2, r.stderr
    assert r.stderr.startswith(f"error: {p}:3: JSON nested more than {MAX_DEPTH} levels deep"), r.stderr


def test_depth_scan_ignores_brackets_in_strings_and_names_the_line():
    assert max_depth('{"a": "[[[[[[[[", "b": [["\\"[["]]}') == 3
    text = '{"a":\n [\n  [[[1]]]]}'
    with pytest.raises(FileFormatError) as e:
        from edgepilot.gcs.formats.jsonscan import load_json
        load_json(text, "x.plan", limit=3)
    assert e.value.where == 3 and "nested more than 3" in e.value.problem


def test_deeply_nested_toml_scenario_exits_2_naming_the_file(tmp_path):
    p = tmp_path / "deep.toml"
    p.write_text((configs_dir() / "scenarios" / "ugv_yard.toml").read_text()
                 + "\n[extra]\nx = " + "[" * 50_000 + "]" * 50_000 + "\n")
    r = run_edgepilot("sitl", "run", str(p), "--out", str(tmp_path / "out"), timeout=120)
    no_traceback(r)
    assert r.returncode == 2 and "nested more than 32 levels deep" in r.stderr
    assert str(p) in r.stderr.replace("\n", "")


def test_toml_depth_scan_ignores_strings_and_comments(tmp_path):
    p = tmp_path / "ok.toml"
    p.write_text('a = "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["\n'
                 "b = '''\n" + "{" * 40 + "\n'''\n# " + "[" * 40 + "\nc = [[1], [2]]\n")
    assert read_toml(p)["c"] == [[1], [2]]


# ----------------------------------------------------------------------------- size limits
def test_oversized_files_are_refused_before_reading(tmp_path):
    """Sparse files: the size is checked from the file system, nothing is read."""
    for name, limit, args in (("huge.parm", PARM_MAX, ("param", "load")),
                              ("huge.plan", fm.MAX_FILE_BYTES, ("mission", "upload")),
                              ("huge.fence", ff.MAX_FILE_BYTES, ("fence", "upload"))):
        p = tmp_path / name
        with open(p, "wb") as f:
            f.truncate(limit + 1)
        r = run_edgepilot("gcs", "-c", DEAD, *args, str(p), timeout=60)
        no_traceback(r)
        assert r.returncode == 2, r.stderr
        assert f"error: {p}: {limit + 1} bytes;" in r.stderr and f"limited to {limit} bytes" in r.stderr


def test_oversized_toml_is_refused(tmp_path):
    p = tmp_path / "huge.toml"
    with open(p, "wb") as f:
        f.truncate(5 * 2**20)
    with pytest.raises(ConfigError, match=r"huge\.toml: larger than 4194304 bytes"):
        read_toml(p)


def test_non_utf8_parm_names_the_file(tmp_path):
    p = tmp_path / "bin.parm"
    p.write_bytes(b"WP_SPEED 1.0\nWP_RADIUS \xff\xfe\n")
    with pytest.raises(FileFormatError) as e:
        load_parm(p)
    assert str(e.value).startswith(f"{p}: not UTF-8 text: byte 0xff")


# ----------------------------------------------------------------------------- big files parse
N_BIG = 100_000


@pytest.fixture(scope="module")
def big_plan(request, tmp_path_factory):
    """A 100k-item mission and its .plan file, made once for this module's
    two tests; the refused upload of it (a real `edgepilot gcs` process, a
    few seconds of one core) starts here, so that it runs on the second core
    while the parse test works in this process: ``(mission, plan text, plan
    path, upload result)``, the last a function that waits for it."""
    m = big_mission(N_BIG)
    plan = fm.format_plan(m)
    path = tmp_path_factory.mktemp("big") / "big.plan"
    path.write_text(plan)
    with process_batch(1) as batch:
        if any(it.originalname == "test_100k_item_plan_upload_is_refused_by_count_not_hung"
               for it in selected_in_module(request)):
            env = dict(os.environ)
            env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
            batch.submit("upload", edgepilot_cmd() + ["gcs", "-c", DEAD, "mission", "upload", str(path)],
                         timeout=300, cwd=REPO, env=env)
        yield m, plan, path, lambda: batch.result("upload")


def test_100k_items_parse_in_every_format(tmp_path, big_plan):
    n = N_BIG
    m, plan, _, _ = big_plan
    got = fm.parse_plan(plan, "big.plan", max_items=None)
    assert len(got.items) == n and got.items[-1].x == pytest.approx(m.items[-1].x, abs=1e-9)
    got = fm.parse_wpl(fm.format_wpl(m), "big.waypoints", max_items=None)
    assert len(got.items) == n and got.items[n // 2].y == pytest.approx(m.items[n // 2].y, abs=1e-9)
    params = {f"P{i:07d}": i * 0.25 for i in range(n)}
    p = tmp_path / "big.parm"
    p.write_text(format_parm(params))
    assert load_parm(p) == params
    # An error deep in a big plan still names the JSON path and the right line.
    # (The plan's text with item n - 3's command changed in place: what
    # json.dumps(doc, indent=4) of the edited document writes, without 7 s
    # of the pure-Python indenting encoder on 2 x 10^6 lines.)
    lines = plan.splitlines(keepends=True)
    commands = [i for i, ln in enumerate(lines) if ln.startswith('                "command": ')]
    assert len(commands) == n
    lines[commands[n - 3]] = '                "command": 9999,\n'
    text = "".join(lines)
    with pytest.raises(FileFormatError) as e:
        fm.parse_plan(text, "big.plan", max_items=None)
    line = text.splitlines().index('                "command": 9999,') + 1
    assert f"mission.items[{n - 3}], line " in str(e.value) and "unknown MAV_CMD 9999" in str(e.value)
    start = int(str(e.value).split(", line ")[1].split(")")[0])
    assert start < line <= start + 5
    assert array_item_lines(text, ("mission", "items"))[0] == text.splitlines().index("            {") + 1


def test_100k_item_plan_upload_is_refused_by_count_not_hung(big_plan):
    _, _, p, upload = big_plan
    r = upload()
    no_traceback(r)
    assert r.returncode == 2 and f"error: {p}: 100000 mission items; MAVLink allows at most 65534" in r.stderr


# ----------------------------------------------------------------------------- vehicle-side state files
def test_state_files_deep_or_oversized_are_a_state_error_naming_the_file(tmp_path):
    from edgepilot.onboard.state_store import MAX_STATE_BYTES, StateError, StateStore

    store = StateStore(tmp_path)
    deep = tmp_path / "mission.json"
    deep.write_text('{"format": 1, "kind": "mission", "payload": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(StateError, match=r"mission\.json: unreadable mission state file: JSON nested too deeply"):
        store.load_items("mission")
    big = tmp_path / "fence.json"
    with open(big, "wb") as f:
        f.truncate(MAX_STATE_BYTES + 1)
    with pytest.raises(StateError, match=rf"fence\.json: {MAX_STATE_BYTES + 1} bytes; a fence state file is limited"):
        store.load_items("fence")


# ----------------------------------------------------------------------------- durable writes
def test_gcs_writers_fsync_before_rename(tmp_path, monkeypatch):
    """save_mission, save_parm and `fence download` go through
    gcs.fileio.atomic_write_text: the temporary file is fsynced before the
    rename, the folder after; no other gcs module renames files itself."""
    import os
    import re as _re

    from edgepilot.gcs import fileio
    from edgepilot.gcs.formats.parm import save_parm

    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(fileio.os, "fsync", lambda fd: (events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))),
                                                        real_fsync(fd))[1])
    monkeypatch.setattr(fileio.os, "replace", lambda a, b: (events.append(("replace", str(b))), real_replace(a, b))[1])
    fm.save_mission(big_mission(3), tmp_path / "m.plan")
    save_parm({"WP_SPEED": 1.5}, tmp_path / "p.parm")
    for name in ("m.plan", "p.parm"):
        target = str(tmp_path / name)
        i = events.index(("replace", target))
        assert events[i - 1] == ("fsync", target + ".tmp") and events[i + 1] == ("fsync", str(tmp_path))
        assert not (tmp_path / (name + ".tmp")).exists()
    assert fm.load_mission(tmp_path / "m.plan").same_as(big_mission(3))
    gcs_dir = Path(fm.__file__).resolve().parent.parent
    for src in gcs_dir.rglob("*.py"):
        if src.name != "fileio.py":
            assert not _re.search(r"\.replace\((p|path|target)\)|os\.replace\(|os\.rename\(", src.read_text()), src


def test_depth_scans_stay_linear_on_hostile_quote_runs(tmp_path):
    """A line of escaped quotes made the string scanner retry at every quote
    (quadratic: 20k quotes took 13 s); these 300k-quote files now scan at
    once.  (No timing assert: a regression shows as a test that hangs.)"""
    from edgepilot.vehicle.config import _toml_too_deep

    n = 300_000
    assert max_depth('["' + '\\"' * n) == 1
    for text in ('a = "' + '\\"' * n, 'a = """' + '\\"""' * n, "a = '''" + "''" * n, "a = '" + "\\'" * n):
        assert _toml_too_deep(text, 32) is None
    p = tmp_path / "q.plan"
    p.write_text('{"fileType": "Plan", "x": "' + '\\"' * n + '\n}')
    with pytest.raises(FileFormatError, match=r"not valid JSON"):
        fm.load_mission(p)
    # Strings hide brackets; brackets outside strings count, multi-line strings included.
    assert _toml_too_deep('a = """x\\\\"""\nb = [[[[1]]]]\n', 3) == 2
    assert _toml_too_deep('a = """x\\"""[[[[1]]]]"""\nb = [[1]]\n', 3) is None
    assert _toml_too_deep("a = '''\n[[[[\n'''\nb = 'c:\\[[[['\n# [[[[\nc = [[1]]\n", 2) is None
