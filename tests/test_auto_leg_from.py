"""AutoMode._leg_from's shortcut (no generator when the target follows the
waypoint reached at once) against the plain form."""
import itertools

from edgepilot.vehicle.mission import MissionExecutor
from edgepilot.vehicle.mission.executor import NAV_COMMANDS, NavTarget
from edgepilot.vehicle.modes.auto import AutoMode
from edgepilot.vehicle.types import Cmd, MissionItem


def _plain_leg_from(leg_from, ex, tgt):
    lf = leg_from
    if lf is None or lf[0] is not ex or not lf[1] < tgt.seq:
        return None
    if any(it.command in NAV_COMMANDS for it in ex.items[lf[1] + 1:tgt.seq]):
        return None
    return lf[2], lf[3]


def test_leg_from_equals_the_plain_form():
    cmds = [Cmd.NAV_WAYPOINT, Cmd.DO_CHANGE_SPEED, Cmd.NAV_WAYPOINT, Cmd.DO_JUMP, Cmd.NAV_LOITER_TIME,
            Cmd.NAV_WAYPOINT, Cmd.DO_CHANGE_SPEED, Cmd.DO_CHANGE_SPEED, Cmd.NAV_WAYPOINT]
    items = [MissionItem(0, int(Cmd.NAV_WAYPOINT), 47.0, 8.0)]
    items += [MissionItem(k + 1, int(c), 47.0, 8.0, param1=1.0, param2=1.0) for k, c in enumerate(cmds)]
    ex, other = MissionExecutor(items), MissionExecutor(items)
    mode = AutoMode.__new__(AutoMode)
    n = 0
    for reached, seq in itertools.product(range(-1, len(items) + 1), repeat=2):
        for owner in (ex, other):
            mode.leg_from = None if reached < 0 else (owner, reached, 1.5, -2.5)
            tgt = NavTarget("waypoint", seq, 47.0, 8.0)
            assert mode._leg_from(ex, tgt) == _plain_leg_from(mode.leg_from, ex, tgt)
            n += mode._leg_from(ex, tgt) is not None
    assert n > 0
