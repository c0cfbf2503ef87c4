"""The mission executor: DO_ items, jumps, validation."""
from edgepilot.vehicle.mission import MissionExecutor, validate_mission
from edgepilot.vehicle.types import Cmd, MissionItem


def wp(seq, lat=47.0, lon=8.0):
    return MissionItem(seq, int(Cmd.NAV_WAYPOINT), lat, lon)


def walk(ex, limit=50):
    seen = []
    for _ in range(limit):
        t = ex.current_target()
        if t.kind == "done":
            break
        seen.append(t.seq)
        ex.advance()
    return seen


def test_plain_waypoints_in_order_skipping_home():
    ex = MissionExecutor([wp(0), wp(1), wp(2), wp(3)])
    assert walk(ex) == [1, 2, 3] and ex.complete


def test_do_jump_repeats_the_given_count():
    items = [wp(0), wp(1), wp(2), MissionItem(3, int(Cmd.DO_JUMP), param1=1, param2=2), wp(4)]
    assert validate_mission(items) is None
    assert walk(MissionExecutor(items)) == [1, 2, 1, 2, 1, 2, 4]


def test_do_change_speed_applies_when_passed():
    items = [wp(0), wp(1), MissionItem(2, int(Cmd.DO_CHANGE_SPEED), param1=1, param2=0.7), wp(3)]
    ex = MissionExecutor(items)
    assert ex.current_target().seq == 1 and ex.speed_override is None
    ex.advance()
    assert ex.current_target().seq == 3 and ex.speed_override == 0.7


def test_loiter_and_rtl_targets():
    items = [wp(0), MissionItem(1, int(Cmd.NAV_LOITER_TIME), 47.0, 8.0, param1=12.0),
             MissionItem(2, int(Cmd.NAV_RETURN_TO_LAUNCH))]
    ex = MissionExecutor(items)
    t = ex.current_target()
    assert (t.kind, t.hold_s) == ("loiter_time", 12.0)
    ex.advance()
    assert ex.current_target().kind == "rtl"


def test_set_current_and_restart():
    ex = MissionExecutor([wp(0), wp(1), wp(2), wp(3)])
    assert ex.set_current(3) and ex.current_target().seq == 3
    assert not ex.set_current(9)
    ex.restart()
    assert ex.current_target().seq == 1


def test_validation_reasons():
    assert "seq" in validate_mission([wp(0), wp(2)])
    assert "not supported" in validate_mission([wp(0), MissionItem(1, 12345)])
    assert "latitude" in validate_mission([wp(0), wp(1, lat=123.0)])
    assert "DO_JUMP target 7" in validate_mission([wp(0), wp(1), MissionItem(2, int(Cmd.DO_JUMP), param1=7, param2=1)])
    assert "hold time" in validate_mission([wp(0), MissionItem(1, int(Cmd.NAV_LOITER_TIME), 47, 8, param1=-1)])


def test_has_nav_needs_a_nav_item_after_home():
    speed = MissionItem(1, int(Cmd.DO_CHANGE_SPEED), param2=1.0)
    assert not MissionExecutor([wp(0)]).has_nav                      # home only
    assert not MissionExecutor([wp(0), speed]).has_nav               # DO_ items only
    for cmd in (Cmd.NAV_WAYPOINT, Cmd.NAV_LOITER_UNLIM, Cmd.NAV_LOITER_TIME, Cmd.NAV_RETURN_TO_LAUNCH):
        assert MissionExecutor([wp(0), speed, MissionItem(2, int(cmd))]).has_nav
        assert MissionExecutor([wp(0), MissionItem(1, cmd)]).has_nav       # the enum member as well as its int


def test_current_target_again_is_the_one_made_for_that_item():
    # the target made for the current NAV item is returned again while that
    # item is current; a fresh executor (nothing remembered) gives equal ones
    items = [wp(0), wp(1), MissionItem(2, int(Cmd.DO_CHANGE_SPEED), param1=1, param2=0.7),
             MissionItem(3, int(Cmd.NAV_LOITER_TIME), 47.0, 8.0, param1=5.0),
             MissionItem(4, int(Cmd.DO_JUMP), param1=1, param2=1), wp(5),
             MissionItem(6, int(Cmd.NAV_LOITER_UNLIM), 47.1, 8.1), MissionItem(7, int(Cmd.NAV_RETURN_TO_LAUNCH))]
    ex = MissionExecutor(items)
    seen = []
    while True:
        t = ex.current_target()
        again = ex.current_target()
        fresh = MissionExecutor(items)
        fresh.current, fresh._jumps_done = ex.current, dict(ex._jumps_done)
        assert again == t and fresh.current_target() == t
        assert (again is t) == (t.kind != "done")      # "done" is not an item's
        if t.kind == "done":
            break
        seen.append((t.kind, t.seq))
        ex.advance()
    assert seen == [("waypoint", 1), ("loiter_time", 3), ("waypoint", 1), ("loiter_time", 3), ("waypoint", 5),
                    ("loiter_unlim", 6), ("rtl", 7)]
    assert ex.speed_override == 0.7 and ex.complete
    ex.restart()
    assert ex.current_target().seq == 1 and not ex.complete
    assert ex.set_current(6) and ex.current_target().kind == "loiter_unlim"
