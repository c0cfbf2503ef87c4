"""Containment (issue 13, item 1): an exception in the core's tick, a mission
item or a MAVLink handler never ends the vehicle process.  The vehicle stops
its motors, goes to HOLD, reports a CRITICAL STATUSTEXT naming what failed,
counts it (SYS_STATUS errors_count4, endpoint stats, the lockstep report)
and keeps serving MAVLink; lockstep then fails with the reason, exit 1."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from conftest import REPO, edgepilot_cmd
from fault_hook import MISSION_FAULT_HOOK
from edgepilot.sim.lockstep import run_lockstep
from edgepilot.sim.scenario import load_scenario
from edgepilot.vehicle.mission.executor import MissionExecutor
from edgepilot.vehicle.types import Mode, Severity
from mav_rig import Rig

M = mavlink
HOLD, GUIDED = 4, 15


class Boom(RuntimeError):
    pass


@pytest.fixture
def rig():
    r = Rig()
    r.tick(10)
    yield r
    r.close()


def _arm_and_drive(rig: Rig) -> None:
    from test_validation_boundaries import YARD

    ack = rig.command_long(M.MAV_CMD_COMPONENT_ARM_DISARM, 1)
    assert ack is not None and ack.result == M.MAV_RESULT_ACCEPTED, ack
    lat, lon = YARD.to_geo(20, 20)
    rig.inbox.clear()
    rig.send(M.MAVLink_command_int_message(1, 1, M.MAV_FRAME_GLOBAL_INT, M.MAV_CMD_DO_REPOSITION, 0, 0,
                                           -1, 0, 0, 0, int(lat * 1e7), int(lon * 1e7), 0))
    ack = rig.expect("COMMAND_ACK", lambda m: m.command == M.MAV_CMD_DO_REPOSITION)
    assert ack is not None and ack.result == M.MAV_RESULT_ACCEPTED
    for _ in range(100):
        rig.tick()
        if rig.core.state.speed > 0.3:
            return
    raise AssertionError("vehicle never started moving")


def test_fault_in_the_tick_holds_stops_reports_counts_and_keeps_serving(rig, monkeypatch):
    _arm_and_drive(rig)
    assert rig.core.mode == Mode.GUIDED and abs(rig.cmd.left) + abs(rig.cmd.right) > 0
    broken = {"on": True}
    guided = rig.core.modes[Mode.GUIDED]     # the mode class whose update drives the vehicle now
    real = guided.update

    def failing(now):
        if broken["on"]:
            raise Boom("injected fault in the guided controller")
        return real(now)

    monkeypatch.setattr(guided, "update", failing)
    rig.inbox.clear()
    rig.tick()
    # Zero command at once, HOLD, counted.
    assert (rig.cmd.left, rig.cmd.right) == (0.0, 0.0)
    assert rig.core.mode == Mode.HOLD
    assert rig.core.internal_errors == 1
    assert "injected fault" in rig.core.last_internal_error
    st = rig.expect_text(lambda sev, t: sev == M.MAV_SEVERITY_CRITICAL)
    assert st is not None and st[1].startswith("Internal error #1 in core tick (GUIDED): Boom: injected fault")
    hb = rig.expect("HEARTBEAT", lambda m: m.custom_mode == HOLD, seconds=5.0)
    assert hb is not None
    # Still serving and counting: SYS_STATUS carries the count, stats too.
    rig.send(M.MAVLink_command_long_message(1, 1, M.MAV_CMD_REQUEST_MESSAGE, 0, M.MAVLINK_MSG_ID_SYS_STATUS,
                                            0, 0, 0, 0, 0, 0))
    ss = rig.expect("SYS_STATUS", lambda m: m.errors_count4 >= 1)
    assert ss is not None
    assert rig.ep.stats()["internal_errors"] >= 1
    # The vehicle comes to a stop and stays commandable.
    rig.tick(60)
    assert rig.core.state.speed < 0.1
    broken["on"] = False
    rig.commandable()


def test_a_recurring_fault_is_reported_at_most_once_a_second_but_counted_every_time(rig, monkeypatch):
    monkeypatch.setattr(rig.core.filter, "predict", lambda now: (_ for _ in ()).throw(Boom("estimator")))
    rig.clear_texts()
    rig.tick(40)                              # 2 s of ticks, every one failing
    assert rig.core.internal_errors == 40
    crit = [t for sev, t in rig.statustexts if sev == M.MAV_SEVERITY_CRITICAL and t.startswith("Internal error")]
    assert 2 <= len(crit) <= 3, crit
    # The endpoint still answers while the core fails every tick.
    ack = rig.set_mode(HOLD)
    assert ack is not None and ack.result == M.MAV_RESULT_ACCEPTED


def test_fault_in_a_mission_item_names_the_item(rig, monkeypatch):
    from test_validation_boundaries import _mission
    from mav_rig import item_int

    ack = rig.upload(_mission(item_int(177, p1=1, p2=1, frame=M.MAV_FRAME_MISSION)))
    assert ack is not None and ack.type == M.MAV_MISSION_ACCEPTED

    def failing(self):
        if self.current >= 2:
            raise Boom("bad item")
        return real(self)

    real = MissionExecutor.current_target
    monkeypatch.setattr(MissionExecutor, "current_target", failing)
    assert rig.command_long(M.MAV_CMD_COMPONENT_ARM_DISARM, 1).result == M.MAV_RESULT_ACCEPTED
    assert rig.command_long(M.MAV_CMD_MISSION_START, 0).result == M.MAV_RESULT_ACCEPTED
    st = rig.expect_text(lambda sev, t: sev == M.MAV_SEVERITY_CRITICAL, ticks=600)
    assert st is not None and "in core tick (AUTO, mission item 2 cmd 16): Boom: bad item; HOLD" in st[1]
    assert rig.core.mode == Mode.HOLD and (rig.cmd.left, rig.cmd.right) == (0.0, 0.0)


def test_failing_command_handler_answers_failed_and_is_contained(rig, monkeypatch):
    monkeypatch.setattr(rig.core, "set_speed", lambda speed: (_ for _ in ()).throw(Boom("speed")))
    ack = rig.command_long(M.MAV_CMD_DO_CHANGE_SPEED, 1, 0.8)
    assert ack is not None and ack.result == M.MAV_RESULT_FAILED
    assert rig.ep.counters["handler_errors"] == 1 and rig.core.internal_errors == 1
    assert rig.core.mode == Mode.HOLD
    st = rig.expect_text(lambda sev, t: sev == M.MAV_SEVERITY_CRITICAL)
    assert st is not None and "in MAVLink handler COMMAND_LONG: Boom: speed" in st[1]
    monkeypatch.undo()
    rig.commandable()


def test_failing_mission_handler_answers_mission_error(rig, monkeypatch):
    from test_validation_boundaries import _mission
    from mav_rig import item_int

    monkeypatch.setattr(rig.core, "set_mission", lambda items: (_ for _ in ()).throw(Boom("store")))
    ack = rig.upload(_mission(item_int(177, p1=1, p2=1, frame=M.MAV_FRAME_MISSION)))
    assert ack is not None and ack.type == M.MAV_MISSION_ERROR
    assert rig.ep.mission.upload is None
    assert rig.core.internal_errors == 1
    monkeypatch.undo()
    ack = rig.upload(_mission(item_int(177, p1=1, p2=1, frame=M.MAV_FRAME_MISSION)))
    assert ack is not None and ack.type == M.MAV_MISSION_ACCEPTED


def test_failing_set_mode_handler_answers_failed(rig, monkeypatch):
    monkeypatch.setattr(rig.core, "set_mode", lambda now, mode: (_ for _ in ()).throw(Boom("modes")))
    ack = rig.set_mode(GUIDED)
    assert ack is not None and ack.result == M.MAV_RESULT_FAILED


# ---------------------------------------------------------------- lockstep
def test_lockstep_fault_holds_stops_and_fails_with_the_reason(monkeypatch):
    real = MissionExecutor.current_target

    def failing(self):
        if self.current >= 2:
            raise Boom("injected mission fault")
        return real(self)

    monkeypatch.setattr(MissionExecutor, "current_target", failing)
    res = run_lockstep(load_scenario("ugv_yard"))
    assert not res.passed
    assert res.reasons[0].startswith("internal error: ")
    assert "AUTO, mission item 2" in res.reasons[0] and "injected mission fault" in res.reasons[0]
    assert res.internal_errors >= 1 and res.final_mode == "HOLD"
    crit = [e for e in res.events if e.kind == "internal_error"]
    assert crit and crit[0].severity == Severity.CRITICAL
    # The vehicle was moving when it failed and stood still at the end of the run.
    t_fault = crit[0].t
    moving = res.track[(res.track[:, 0] < t_fault) & (res.track[:, 0] > t_fault - 1.0)]
    assert moving[:, 4].max() > 0.3
    assert res.track[-1, 4] < 0.05
    assert res.summary()["internal_errors"] == res.internal_errors


def test_lockstep_cli_exits_1_with_the_reason_and_no_traceback(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    assert edgepilot_cmd()  # the CLI is installed; the hook runs the same main()
    r = subprocess.run([sys.executable, "-c", MISSION_FAULT_HOOK, "sitl", "run", "ugv_yard", "--quiet",
                        "--out", str(tmp_path / "rep")], capture_output=True, text=True, timeout=600,
                       cwd=REPO, env=env)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "Traceback" not in out
    assert "FAIL reason: internal error" in out and "injected mission fault" in out
