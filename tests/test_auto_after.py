"""AutoMode._after (one look at the items after the current waypoint: stop
there or pass through, and where the next waypoint is) against the two plain
scans it replaced (``_next_is_stop``, ``_leg_next``)."""
import itertools

from edgepilot.vehicle.geo import LocalFrame
from edgepilot.vehicle.mission import MissionExecutor
from edgepilot.vehicle.mission.executor import NAV_COMMANDS
from edgepilot.vehicle.modes.auto import AutoMode
from edgepilot.vehicle.types import Cmd, MissionItem


class _Core:
    frame = LocalFrame(47.0, 8.0)


def _plain_next_is_stop(ex):
    for it in ex.items[ex.current + 1:]:
        if it.command == Cmd.NAV_WAYPOINT:
            return False
        if it.command in NAV_COMMANDS:
            return True
    return True


def _plain_leg_next(ex, frame):
    for it in ex.items[ex.current + 1:]:
        if it.command == Cmd.NAV_WAYPOINT:
            return None if (it.lat, it.lon) == (0.0, 0.0) else frame.to_local(it.lat, it.lon)
        if it.command in NAV_COMMANDS:
            return None
    return None


def test_after_equals_the_plain_scans():
    kinds = [Cmd.NAV_WAYPOINT, Cmd.DO_CHANGE_SPEED, Cmd.NAV_LOITER_TIME, Cmd.NAV_LOITER_UNLIM,
             Cmd.NAV_RETURN_TO_LAUNCH, Cmd.DO_JUMP]
    mode = AutoMode.__new__(AutoMode)
    mode.core = _Core()
    seen = set()
    for cmds in itertools.product(kinds, repeat=3):
        for zero in (False, True):       # a waypoint without a position (0, 0)
            items = [MissionItem(0, int(Cmd.NAV_WAYPOINT), 47.0, 8.0),
                     MissionItem(1, int(Cmd.NAV_WAYPOINT), 47.001, 8.001)]
            items += [MissionItem(k + 2, int(c), *((0.0, 0.0) if zero else (47.0 + k * 1e-4, 8.002)),
                                  param1=1.0, param2=1.0) for k, c in enumerate(cmds)]
            ex = MissionExecutor(items)
            for cur in range(1, len(items) + 1):
                ex.current = cur
                got = mode._after(ex)
                assert got == (_plain_next_is_stop(ex), _plain_leg_next(ex, mode.core.frame))
                seen.add((got[0], got[1] is None))
    assert seen == {(True, True), (False, True), (False, False)}
