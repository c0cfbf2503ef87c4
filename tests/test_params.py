"""ParamStore.table, the live values the control tick reads without a
method call: always what get() returns, through set(), load() and a
deep copy, for the readers that hold it (safety triggers, the manager)."""
import copy

import pytest

from edgepilot import configs_dir
from edgepilot.vehicle.config import load_vehicle_config
from edgepilot.vehicle.geo import LocalFrame
from edgepilot.vehicle.params import ParamStore
from edgepilot.vehicle.safety import SafetyManager

UGV = load_vehicle_config(configs_dir() / "vehicles" / "ugv.toml")


def agree(p: ParamStore) -> None:
    assert all(p.table[n] == p.get(n) for n in p.names())
    assert sorted(p.table) == p.names() and dict(p.items()) == p.table


def test_table_is_get_through_set_and_load():
    p = ParamStore(UGV)
    table = p.table
    agree(p)
    assert p.set("WP_RADIUS", 3.5).ok
    assert table["WP_RADIUS"] == 3.5 == p.get("WP_RADIUS")
    assert not p.set("WP_RADIUS", -1.0).ok and not p.set("WP_RADIUS", "x").ok   # refused: unchanged
    assert table["WP_RADIUS"] == 3.5
    p.load({"WP_SPEED": 0.5, "FS_LOOP_MAX": 2.0})
    assert table["WP_SPEED"] == 0.5 and table["FS_LOOP_MAX"] == 2.0
    with pytest.raises(ValueError, match="WP_SPEED must be in"):
        p.load({"FS_LOOP_MAX": 3.0, "WP_SPEED": -1.0})                           # all checked first
    assert table["FS_LOOP_MAX"] == 2.0
    assert p.table is table                                                      # changed in place
    agree(p)
    with pytest.raises(KeyError):
        p.get("NO_SUCH")
    with pytest.raises(KeyError):
        p.table["NO_SUCH"]


def test_holders_of_the_table_see_changes_and_copies_keep_their_own():
    p = ParamStore(UGV)
    sm = SafetyManager(UGV, p, LocalFrame(47.0, 8.0), lambda *a, **k: None)
    trig = sm.failsafes.trigger("loop_overrun")
    assert p.set("FS_LOOP_MAX", 1.5).ok                  # after the holders were built
    assert sm.table["FS_LOOP_MAX"] == trig.table["FS_LOOP_MAX"] == 1.5
    sm2 = copy.deepcopy(sm)
    p2 = sm2.params
    assert p2 is not p and sm2.table is p2.table and sm2.failsafes.trigger("loop_overrun").table is p2.table
    assert p2.set("FS_LOOP_MAX", 2.5).ok
    assert sm2.failsafes.trigger("loop_overrun").table["FS_LOOP_MAX"] == 2.5
    assert trig.table["FS_LOOP_MAX"] == 1.5 == p.get("FS_LOOP_MAX")          # the original keeps its own
    obstacle = sm.failsafes.trigger("obstacle")
    assert p.set("AVOID_CLEAR_S", 4.0).ok
    assert obstacle.clear_after_s == 4.0                 # read when asked
    agree(p)
    agree(p2)
