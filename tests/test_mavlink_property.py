"""Property (issue 13, item 9): whatever numbers arrive — NaN, infinities,
huge, fractional where an integer is meant — in COMMAND_LONG / COMMAND_INT,
SET_MODE, mission and fence uploads and PARAM_SET, nothing escapes a
handler or the core, every command is answered, every upload ends in a
MISSION_ACK, every PARAM_SET in a PARAM_VALUE, and the vehicle still obeys
a valid arm / disarm / mode change afterwards.

A real VehicleCore ticked through contained_step and a real endpoint on a
127.0.0.1 UDP socket (tests/mav_rig.py); one vehicle for the whole run, so
the state one example leaves is the next one's start."""
from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edgepilot.vehicle.mission.executor import MissionExecutor
from edgepilot.vehicle.types import MissionItem, Mode
from mav_rig import Rig
from test_validation_boundaries import YARD

M = mavlink
INT32 = st.integers(-2**31, 2**31 - 1)
NONFINITE = [math.nan, math.inf, -math.inf]
SPECIAL = [0.0, 1.0, -1.0, 0.5, 2.0, 3.0, 4.0, 10.0, 15.0, 21196.0, 65535.0, 2**31, -2**31, 3.4e38, -3.4e38]
#: MAVLink floats are float32: anything a client can put on the wire; NaN
#: and the infinities often, as they are what broke the vehicle before.
F32 = st.one_of(st.sampled_from(NONFINITE), st.sampled_from(SPECIAL), st.floats(width=32))
YARD_LAT = [YARD.to_geo(x, y)[0] for x, y in ((4, 4), (6, 14), (5, 20))]
YARD_LON = [YARD.to_geo(x, y)[1] for x, y in ((4, 4), (6, 14), (5, 20))]
#: degE7: mostly positions in the yard (so items get past the position checks to their parameters).
def _mostly(values, other):
    yard = st.sampled_from(values)
    return st.one_of(yard, yard, yard, other)


LAT7 = _mostly([int(v * 1e7) for v in YARD_LAT], st.one_of(st.sampled_from([0, 2**31 - 1, -2**31]), INT32))
LON7 = _mostly([int(v * 1e7) for v in YARD_LON], st.one_of(st.sampled_from([0, 2**31 - 1, -2**31]), INT32))

_rig: Rig | None = None


def rig() -> Rig:
    global _rig
    if _rig is None:
        _rig = Rig()
        _rig.tick(20)
    return _rig


def teardown_module(module):
    if _rig is not None:
        _rig.commandable()
        _rig.close()


def commands():
    return st.one_of(st.sampled_from(sorted(rig().ep.command.handlers)), st.integers(0, 65535))


@st.composite
def command_long(draw):
    return ("long", draw(commands()), [draw(F32) for _ in range(7)])


@st.composite
def command_int(draw):
    return ("int", draw(commands()), draw(st.sampled_from([0, 3, 5, 6, 10, 255])),
            [draw(F32) for _ in range(4)], draw(LAT7), draw(LON7), draw(F32))


@st.composite
def set_mode(draw):
    return ("set_mode", draw(st.integers(0, 255)),
            draw(st.one_of(st.sampled_from([0, 4, 5, 10, 11, 15, 3]), st.integers(0, 2**32 - 1))))


@st.composite
def param_set(draw):
    names = rig().core.params.names()
    return ("param", draw(st.sampled_from(list(names))), draw(F32))


@st.composite
def mission_item(draw, fence=False):
    use_int = draw(st.booleans())
    known = [5000, 5001, 5002, 5003, 5004] if fence else [16, 17, 19, 20, 177, 178]
    command = draw(st.one_of(st.sampled_from(known), st.integers(0, 65535)))
    frame = draw(st.sampled_from([0, 2, 3, 5, 6, 11]))
    p = [draw(F32) for _ in range(4)]
    if use_int:
        return ("int", frame, command, p, draw(LAT7), draw(LON7), draw(F32))
    return ("float", frame, command, p, draw(_mostly(YARD_LAT, F32)), draw(_mostly(YARD_LON, F32)), draw(F32))


@st.composite
def upload(draw):
    mtype = draw(st.sampled_from([0, 1]))
    return ("upload", mtype, draw(st.lists(mission_item(fence=mtype == 1), min_size=1, max_size=5)))


ACTIONS = st.lists(st.one_of(command_long(), command_int(), set_mode(), param_set(), upload(), upload()),
                   min_size=1, max_size=4)


def _item_msg(it, mission_type):
    kind, frame, command, p, x, y, z = it
    if kind == "int":
        return M.MAVLink_mission_item_int_message(1, 1, 0, frame, command, 0, 1, *p, x, y, z, mission_type)
    return M.MAVLink_mission_item_message(1, 1, 0, frame, command, 0, 1, *p, x, y, z, mission_type)


def _act(r: Rig, a) -> None:
    kind = a[0]
    if kind in ("long", "int"):
        cmd = a[1]
        r.inbox.clear()
        if kind == "long":
            r.send(M.MAVLink_command_long_message(1, 1, cmd, 0, *a[2]))
        else:
            _, _, frame, p, x, y, z = a
            r.send(M.MAVLink_command_int_message(1, 1, frame, cmd, 0, 0, *p, x, y, z))
        ack = r.expect("COMMAND_ACK", lambda m: m.command == cmd)
        assert ack is not None, f"no COMMAND_ACK for {a}"
    elif kind == "set_mode":
        ack = r.set_mode(a[2], base_mode=a[1])
        assert ack is not None, f"no COMMAND_ACK for {a}"
    elif kind == "param":
        name = a[1]
        r.inbox.clear()
        r.send(M.MAVLink_param_set_message(1, 1, name.encode(), a[2], M.MAV_PARAM_TYPE_REAL32))
        pv = r.expect("PARAM_VALUE", lambda m: m.param_id == name)
        assert pv is not None, f"no PARAM_VALUE for {a}"
        assert math.isfinite(pv.param_value)
    else:
        _, mtype, items = a
        ack = r.upload([_item_msg(it, mtype) for it in items], mission_type=mtype)
        assert ack is not None, f"no MISSION_ACK for {a}"


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ACTIONS)
def test_arbitrary_numbers_never_escape_and_the_vehicle_stays_commandable(actions):
    r = rig()
    c = r.ep.counters
    before = (c.get("handler_errors", 0), c.get("service_errors", 0), r.core.internal_errors)
    for a in actions:
        _act(r, a)
        r.tick(2)   # the core runs on whatever the command left behind
        assert c.get("handler_errors", 0) == before[0], f"a handler raised on {a}"
        assert c.get("service_errors", 0) == before[1], f"a service raised after {a}"
        assert r.core.internal_errors == before[2], f"the core raised after {a}: {r.core.last_internal_error}"


def test_the_vehicle_obeys_after_the_property_run():
    """Runs after the property (file order): arm, disarm and a mode change still work."""
    rig().commandable()


# ---------------------------------------------------------------- the core alone
ANY = st.one_of(st.sampled_from(NONFINITE), st.sampled_from(SPECIAL), st.floats(allow_nan=True))


@st.composite
def core_item(draw, seq):
    return MissionItem(seq, draw(st.one_of(st.sampled_from([16, 17, 19, 20, 177, 178]), st.integers(-5, 70000))),
                       draw(_mostly(YARD_LAT, ANY)), draw(_mostly(YARD_LON, ANY)), draw(ANY),
                       draw(ANY), draw(ANY), draw(ANY), draw(ANY))


@st.composite
def core_mission(draw):
    n = draw(st.integers(1, 6))
    return [draw(core_item(i)) for i in range(n)]


@settings(max_examples=200, deadline=None)
@given(core_mission(), st.lists(ANY, min_size=4, max_size=4))
def test_the_core_and_the_executor_never_raise_on_any_mission_or_operator_value(items, vals):
    """Straight into the core (a caller that skipped the MAVLink checks):
    set_mission refuses or accepts, the executor walks whatever it holds,
    goto / set_speed / set_current answer; nothing raises."""
    core = rig().core
    res = core.set_mission(items)
    if res.ok:
        ex = MissionExecutor(items)
        for _ in range(4 * len(items) + 4):
            if ex.current_target().kind == "done":
                break
            ex.advance()
    # Items that bypassed every check: the executor still never raises.
    ex = MissionExecutor(items)
    for _ in range(4 * len(items) + 4):
        if ex.current_target().kind == "done":
            break
        ex.advance()
    now = rig().t
    assert isinstance(core.goto(now, vals[0], vals[1], speed=None).ok, bool)
    assert isinstance(core.set_speed(vals[2]).ok, bool)
    core.set_mode(now, Mode.HOLD)
    core.set_mission([])
