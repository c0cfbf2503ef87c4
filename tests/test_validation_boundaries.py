"""Validation at every boundary, from one table (issue 13, item 2): bad
numbers in commands, mission and fence items are NACKed with the right
MAV_RESULT / MAV_MISSION_RESULT and a reason before the core sees them; the
mission executor never raises on an item; a persisted plan goes through
the same checks when restored."""
from __future__ import annotations

import json
import math
import zlib
from dataclasses import asdict

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edgepilot.firmware_bridge.mavlink.validation import COMMAND_RULES, check_command
from edgepilot.firmware_bridge.mavlink.command import CommandArgs
from edgepilot.onboard.state_store import StateError, StateStore
from edgepilot.sim.scenario import load_scenario
from edgepilot.sim.simulation import Simulation
from edgepilot.vehicle.geo import LocalFrame
from edgepilot.vehicle.mission import MissionExecutor, validate_mission
from edgepilot.vehicle.safety.geofence import MAX_VERTICES
from edgepilot.vehicle.types import Cmd, MissionItem
from edgepilot.vehicle.validation import MAX_FENCE_VERTICES, check_fence_item
from mav_rig import Rig, item_int

M = mavlink
NAN, INF = float("nan"), float("inf")
YARD = LocalFrame(47.397742, 8.545594)       # configs/scenarios/ugv_yard.toml origin


def wp(seq, x=6.0, y=14.0):
    lat, lon = YARD.to_geo(x, y)
    return MissionItem(seq, int(Cmd.NAV_WAYPOINT), lat, lon)


def jump(seq, target=1, repeat=2.0):
    return MissionItem(seq, int(Cmd.DO_JUMP), param1=target, param2=repeat)


@pytest.fixture(scope="module")
def rig():
    r = Rig()
    r.tick(10)
    yield r
    r.close()


# ---------------------------------------------------------------- the tables
@pytest.mark.parametrize("repeat", [NAN, INF, -INF, 1.5, -2, 1e9])
def test_do_jump_bad_repeat_count_is_refused_by_the_core_table(repeat):
    reason = validate_mission([wp(0), wp(1), wp(2), jump(3, 1, repeat), wp(4)])
    assert reason is not None and "item 3" in reason and "repeat count" in reason


def test_executor_never_raises_on_a_poisoned_jump():
    """Defence in depth: an item that bypassed every check (built directly)
    makes the jump a no-op instead of int(NaN) killing the process."""
    for repeat, target in ((NAN, 1), (INF, 1), (2, NAN), (2, -INF), (2, 99)):
        ex = MissionExecutor([wp(0), wp(1), jump(2, target, repeat), wp(3)])
        seen = []
        for _ in range(20):
            t = ex.current_target()
            if t.kind == "done":
                break
            seen.append(t.seq)
            ex.advance()
        assert seen == [1, 3]


def test_fence_table_matches_the_geofence():
    assert MAX_FENCE_VERTICES == MAX_VERTICES
    lat, lon = YARD.to_geo(5, 5)
    v = check_fence_item(MissionItem(0, 5001, lat, lon, param1=INF), 0)
    assert v is not None and v.param == 1 and "vertex count" in v.reason


def test_every_command_the_vehicle_handles_has_rules(rig):
    """The table is the one place: a handler registered without rules fails here."""
    missing = sorted(set(rig.ep.command.handlers) - set(COMMAND_RULES))
    assert not missing, f"commands without validation rules: {missing}"


@pytest.mark.parametrize("cmd,params,word", [
    (M.MAV_CMD_COMPONENT_ARM_DISARM, (INF,), "param1"),
    (M.MAV_CMD_COMPONENT_ARM_DISARM, (0.5,), "whole number"),
    (M.MAV_CMD_DO_SET_MODE, (1, INF), "param2"),
    (M.MAV_CMD_DO_SET_MODE, (NAN, 4), "param1"),
    (M.MAV_CMD_MISSION_START, (-INF,), "param1"),
    (M.MAV_CMD_DO_SET_MISSION_CURRENT, (INF,), "param1"),
    (M.MAV_CMD_SET_MESSAGE_INTERVAL, (INF, 1e5), "param1"),
    (M.MAV_CMD_REQUEST_MESSAGE, (NAN,), "param1"),
    (M.MAV_CMD_DO_REPOSITION, (-1, 0, 0, 0, NAN, 8.5), "param5"),
])
def test_check_command_names_command_and_parameter(cmd, params, word):
    p = list(params) + [0.0] * (7 - len(params))
    reason = check_command(CommandArgs(cmd, *p, is_int=False))
    assert reason is not None and word in reason


# ---------------------------------------------------------------- on the wire
@pytest.mark.parametrize("value", [INF, -INF, NAN])
@pytest.mark.parametrize("kind", ["long", "int"])
@pytest.mark.parametrize("cmd", [M.MAV_CMD_COMPONENT_ARM_DISARM, M.MAV_CMD_DO_SET_MODE,
                                 M.MAV_CMD_MISSION_START, M.MAV_CMD_DO_SET_MISSION_CURRENT,
                                 M.MAV_CMD_SET_MESSAGE_INTERVAL, M.MAV_CMD_REQUEST_MESSAGE,
                                 M.MAV_CMD_GET_MESSAGE_INTERVAL])
def test_inf_or_nan_integer_parameter_gets_a_denied_ack(rig, cmd, kind, value):
    """Finding: COMMAND_LONG / COMMAND_INT with +-inf in an integer-like
    parameter got no COMMAND_ACK (OverflowError escaped the handler)."""
    p = [value, 4.0 if cmd == M.MAV_CMD_DO_SET_MODE else 0.0, 0, 0, 0, 0, 0]
    if cmd == M.MAV_CMD_DO_SET_MODE:
        p[:2] = [1.0, value]
    rig.inbox.clear()
    if kind == "long":
        rig.send(M.MAVLink_command_long_message(1, 1, cmd, 0, *p))
    else:
        rig.send(M.MAVLink_command_int_message(1, 1, M.MAV_FRAME_GLOBAL_INT, cmd, 0, 0, *p[:4], 0, 0, 0))
    ack = rig.expect("COMMAND_ACK", lambda m: m.command == cmd)
    assert ack is not None, "no COMMAND_ACK"
    assert rig.ep.counters.get("handler_errors", 0) == 0 and rig.core.internal_errors == 0
    if cmd == M.MAV_CMD_MISSION_START and math.isnan(value):
        # NaN is MISSION_START's "unset" first item: the core answers (no mission loaded).
        assert ack.result == M.MAV_RESULT_DENIED
        return
    assert ack.result == M.MAV_RESULT_DENIED
    name = M.enums["MAV_CMD"][cmd].name.replace("MAV_CMD_", "")
    assert rig.expect("STATUSTEXT", lambda m: m.text.startswith(f"{name}: param"), 5) is not None


def test_set_mode_message_for_unsupported_mode_is_answered(rig):
    ack = rig.set_mode(2**32 - 1)
    assert ack is not None and ack.result == M.MAV_RESULT_DENIED
    ack = rig.set_mode(4)
    assert ack is not None and ack.result == M.MAV_RESULT_ACCEPTED


def _mission(jump_item):
    lat1, lon1 = YARD.to_geo(6, 14)
    lat2, lon2 = YARD.to_geo(5, 20)
    return [item_int(16, *YARD.to_geo(4, 4)), item_int(16, lat1, lon1), item_int(16, lat2, lon2), jump_item,
            item_int(16, lat1, lon1)]


@pytest.mark.parametrize("repeat,result", [(NAN, M.MAV_MISSION_INVALID_PARAM2),
                                           (INF, M.MAV_MISSION_INVALID_PARAM2),
                                           (2.5, M.MAV_MISSION_INVALID_PARAM2)])
def test_do_jump_with_bad_repeat_count_is_nacked_at_upload(rig, repeat, result):
    """Finding: DO_JUMP with repeat count NaN was accepted at upload (then
    killed the process when the mission ran)."""
    before = rig.core.mission
    ack = rig.upload(_mission(item_int(177, p1=1, p2=repeat, frame=M.MAV_FRAME_MISSION)))
    assert ack is not None, "no MISSION_ACK"
    assert ack.type == result
    assert rig.core.mission == before, "the refused mission must not replace the loaded one"
    assert any("repeat count" in t for _, t in rig.texts()) or \
        rig.expect("STATUSTEXT", lambda m: "repeat count" in m.text, 5) is not None


@pytest.mark.parametrize("p1,result", [(INF, M.MAV_MISSION_INVALID_PARAM1), (-INF, M.MAV_MISSION_INVALID_PARAM1),
                                       (NAN, M.MAV_MISSION_INVALID_PARAM1)])
def test_do_jump_with_inf_target_gets_a_mission_ack(rig, p1, result):
    """Finding: +-inf in an integer-like item parameter got no MISSION_ACK."""
    ack = rig.upload(_mission(item_int(177, p1=p1, p2=1, frame=M.MAV_FRAME_MISSION)))
    assert ack is not None and ack.type == result


def test_float_mission_item_with_inf_position_is_nacked(rig):
    lat, lon = YARD.to_geo(6, 14)
    items = [M.MAVLink_mission_item_message(1, 1, 0, M.MAV_FRAME_GLOBAL, 16, 0, 1, 0, 0, 0, 0, lat, lon, 0, 0),
             M.MAVLink_mission_item_message(1, 1, 1, M.MAV_FRAME_GLOBAL, 16, 0, 1, 0, 0, 0, 0, lat, INF, 0, 0)]
    ack = rig.upload(items)
    assert ack is not None and ack.type == M.MAV_MISSION_INVALID_PARAM6_Y


def test_fence_vertex_count_inf_gets_a_mission_ack(rig):
    """set_fence did int(inf) (OverflowError, no MISSION_ACK) before the table."""
    pts = [YARD.to_geo(0, 0), YARD.to_geo(40, 0), YARD.to_geo(40, 38)]
    items = [item_int(5001, lat, lon, p1=INF, mission_type=1, frame=M.MAV_FRAME_GLOBAL) for lat, lon in pts]
    ack = rig.upload(items, mission_type=1)
    assert ack is not None and ack.type == M.MAV_MISSION_INVALID_PARAM1


def test_param_set_nan_is_refused_with_the_standing_value(rig):
    before = rig.core.params.get("WP_SPEED")
    rig.inbox.clear()
    rig.send(M.MAVLink_param_set_message(1, 1, b"WP_SPEED", NAN, M.MAV_PARAM_TYPE_REAL32))
    pv = rig.expect("PARAM_VALUE", lambda m: m.param_id == "WP_SPEED")
    assert pv is not None and abs(pv.param_value - before) < 1e-6
    assert rig.core.params.get("WP_SPEED") == before


def test_valid_mission_still_accepted_after_the_refusals(rig):
    ack = rig.upload(_mission(item_int(177, p1=1, p2=2, frame=M.MAV_FRAME_MISSION)))
    assert ack is not None and ack.type == M.MAV_MISSION_ACCEPTED
    assert len(rig.core.mission) == 5
    rig.commandable()


# ---------------------------------------------------------------- persisted state
def _write(path, kind, payload):
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    path.write_text(json.dumps({"format": 1, "kind": kind, "crc32": zlib.crc32(body.encode()),
                                "payload": body}) + "\n")


def _core():
    return Simulation(load_scenario("ugv_yard")).make_core()


def test_persisted_nan_do_jump_is_dropped_with_an_error_never_flown(tmp_path):
    """Finding: with --state-dir the poisoned mission was restored at every restart."""
    items = [wp(0), wp(1), wp(2, 5, 20), jump(3, 1, NAN), wp(4)]
    _write(tmp_path / "mission.json", "mission", [asdict(i) for i in items])
    store = StateStore(tmp_path)
    core = _core()
    restored = store.restore(core)
    assert restored == []
    assert core.mission == ()
    assert len(store.dropped) == 1
    msg = store.dropped[0]
    assert "mission.json" in msg and "item 3" in msg and "repeat count" in msg and "not flown" in msg


def test_hand_edited_mission_with_a_string_names_file_item_and_field(tmp_path):
    """Finding: a hand-edited persisted mission with a wrong type gave a traceback."""
    d = [asdict(wp(0)), asdict(wp(1))]
    d[1]["lat"] = "47.3978"
    _write(tmp_path / "mission.json", "mission", d)
    with pytest.raises(StateError, match=r"mission\.json: item 1: field 'lat' must be a number, got str"):
        StateStore(tmp_path).restore(_core())


@pytest.mark.parametrize("payload,word", [({"seq": 0}, "expected a list"), ([[1, 2]], "expected an object"),
                                          ([{"seq": 0, "command": 16, "bogus": 1}], "unknown field"),
                                          ([{"seq": 0}], "missing field"),
                                          ([{"seq": 0, "command": True}], "must be a number")])
def test_malformed_persisted_items_are_refused_naming_the_file(tmp_path, payload, word):
    _write(tmp_path / "fence.json", "fence", payload)
    with pytest.raises(StateError, match="fence.json") as e:
        StateStore(tmp_path).load_items("fence")
    assert word in str(e.value)


def test_persisted_home_out_of_range_is_refused(tmp_path):
    _write(tmp_path / "home.json", "home", {"lat": 123.0, "lon": 8.0, "alt": 0.0})
    with pytest.raises(StateError, match="home.json"):
        StateStore(tmp_path).load_home()


def test_fields_not_acted_on_may_carry_nan_as_ground_stations_send_them():
    """QGroundControl sends NaN for a waypoint's yaw (param4) and other unset
    fields: they are not acted on, so not refused."""
    lat, lon = YARD.to_geo(6, 14)
    items = [wp(0), MissionItem(1, int(Cmd.NAV_WAYPOINT), lat, lon, alt=NAN, param1=NAN, param2=NAN, param3=NAN,
                                param4=NAN, autocontinue=2),
             MissionItem(2, int(Cmd.DO_CHANGE_SPEED), param1=NAN, param2=NAN, param3=NAN), jump(3, 1, -1)]
    assert validate_mission(items) is None
