"""Fleet task files: parsing, errors naming file and key, derived work."""
import math

import numpy as np
import pytest

from edgepilot import configs_dir
from edgepilot.vehicle.fleet.tasks import ConfigError, can_do, load_tasks, parse_tasks, task_work


def _doc(**over):
    d = {"vehicle": [{"name": "ugv1", "sysid": 1, "domain": "land", "start": [0.0, 0.0], "speed": 1.0}],
         "task": [{"id": "a", "kind": "visit", "position": [10.0, 0.0]}]}
    d.update(over)
    return d


def test_shipped_example_loads_every_kind():
    tf = load_tasks(configs_dir() / "tasks" / "flood_relief.toml")
    assert {t.kind for t in tf.task} == {"visit", "search", "deliver", "shadow", "hold"}
    boat = next(v for v in tf.vehicle if v.name == "rescue_boat")
    assert boat.kind == "mavlink" and boat.autopilot == "ardupilot"
    assert all(math.isfinite(v.endurance_s) for v in tf.vehicle)


def test_bad_key_names_file_and_path(tmp_path):
    p = tmp_path / "t.toml"
    p.write_text('[[vehicle]]\nname="u"\nsysid=1\ndomain="land"\nstart=[0.0,0.0]\nspeed=1.0\n'
                 '[[task]]\nid="x"\nkind="deliver"\nposition=[1.0,2.0]\nload_kg=-3\n')
    with pytest.raises(ConfigError) as e:
        load_tasks(p)
    msg = str(e.value)
    assert str(p) in msg and "task.0.deliver.load_kg" in msg and "greater than 0" in msg


def test_unknown_kind_and_typo_are_refused():
    with pytest.raises(ConfigError, match=r"task\.0: Input tag 'patrol'"):
        parse_tasks(_doc(task=[{"id": "a", "kind": "patrol", "position": [0, 0]}]), "f.toml")
    with pytest.raises(ConfigError, match=r"f.toml: task\.0\.visit\.postion: unknown key"):
        parse_tasks(_doc(task=[{"id": "a", "kind": "visit", "postion": [0, 0]}]), "f.toml")


def test_duplicates_windows_and_nonfinite_are_refused():
    with pytest.raises(ConfigError, match=r"task\[1\]\.id 'a' repeats task\[0\]\.id"):
        parse_tasks(_doc(task=[{"id": "a", "kind": "visit", "position": [0, 0]}] * 2))
    with pytest.raises(ConfigError, match=r"vehicle\[1\]\.sysid 1 repeats"):
        v = _doc()["vehicle"][0]
        parse_tasks(_doc(vehicle=[v, dict(v, name="ugv2")]))
    with pytest.raises(ConfigError, match=r"window_s: Value error, must be \[open, close\]"):
        parse_tasks(_doc(task=[{"id": "a", "kind": "deliver", "position": [0, 0], "load_kg": 1,
                                "window_s": [100.0, 50.0]}]))
    with pytest.raises(ConfigError, match=r"task\.0\.visit\.position: Value error, must be a finite"):
        parse_tasks(_doc(task=[{"id": "a", "kind": "visit", "position": [math.nan, 0]}]))
    with pytest.raises(ConfigError, match=r"vehicle\.0: Value error, autopilot 'px4' needs kind"):
        parse_tasks(_doc(vehicle=[dict(_doc()["vehicle"][0], autopilot="px4")]))


def test_search_work_is_the_coverage_path():
    tf = parse_tasks(_doc(task=[{"id": "s", "kind": "search", "area": [[0, 0], [20, 0], [20, 10], [0, 10]],
                                 "swath": 2.0}]))
    w = task_work(tf.task[0])
    # 5 lines of 20 m (less the swath/2 contour inset) plus the contour: well over 100 m
    assert 100.0 < w.work_m < 200.0
    assert not np.allclose(w.entry, w.exit)
    assert w.dwell_s == 0 and w.window == (0.0, math.inf)


def test_skills_domain_and_sensors():
    tf = parse_tasks(_doc(task=[{"id": "w", "kind": "hold", "domain": "water", "position": [0, 0], "duration_s": 5},
                                {"id": "c", "kind": "visit", "sensors": ["camera"], "position": [0, 0]},
                                {"id": "l", "kind": "visit", "domain": "land", "position": [0, 0]}]))
    v = tf.vehicle[0]
    assert [can_do(v, t) for t in tf.task] == [False, False, True]
    assert can_do(v.model_copy(update={"sensors": ("camera",)}), tf.task[1])
