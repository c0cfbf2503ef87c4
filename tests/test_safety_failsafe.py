"""Every failsafe trigger trips with its action, and recovers by its rule."""
import numpy as np
import pytest

from safety_rig import Rig
from edgepilot.vehicle.safety import Action, Recovery
from edgepilot.vehicle.types import Mode


def trips(rig, name):
    return [e for e in rig.failsafe_events("trip") if e.data["trigger"] == name]


def test_gcs_link_loss_holds_after_timeout_and_resumes_when_regained():
    rig = Rig(FS_GCS_TIMEOUT=2.0).ready()
    took = rig.until(lambda: rig.core.mode == Mode.HOLD, 3.0, gcs=False)
    assert 2.0 < took <= 2.0 + 2 * 0.05
    assert trips(rig, "gcs")[0].text.startswith("Failsafe: GCS link lost")
    rig.tick(1)                        # heartbeat heard again: clears at once, resumes GUIDED
    assert rig.core.mode == Mode.GUIDED and not rig.core.failsafe_active
    assert [e.data["phase"] for e in rig.failsafe_events()] == ["trip", "clear", "resume"]


def test_gcs_link_loss_action_rtl_and_report_only():
    rig = Rig(FS_GCS_TIMEOUT=1.0, FS_GCS_ENABLE=2).ready()
    rig.until(lambda: rig.core.mode == Mode.RTL, 2.0, gcs=False)
    rig2 = Rig(FS_GCS_TIMEOUT=1.0, FS_GCS_ENABLE=0).ready()
    rig2.tick(40, gcs=False)
    assert rig2.core.mode == Mode.GUIDED and "report only" in trips(rig2, "gcs")[0].text


def test_no_gcs_ever_heard_is_not_a_link_loss():
    rig = Rig(FS_GCS_TIMEOUT=1.0)
    rig.tick(10, gcs=False)
    assert rig.core.arm(rig.t).ok
    rig.tick(60, gcs=False)
    assert not trips(rig, "gcs")


@pytest.mark.parametrize("bad, text", [({"fix_type": 1}, "GPS lost 3D fix"),
                                       ({"hacc": 5.0}, "GPS accuracy 5.0 m worse than FS_GPS_HACC"),
                                       ({"gps": False}, "GPS lost (no data")])
def test_gps_loss_holds_after_timeout_and_resumes_after_two_good_seconds(bad, text):
    rig = Rig().ready()
    took = rig.until(lambda: rig.core.mode == Mode.HOLD, 1.5, **bad)
    assert 0.5 <= took <= 0.6 + 1e-9
    assert text in trips(rig, "gps")[0].text
    rig.tick(39)                       # 1.95 s healthy: still held
    assert rig.core.mode == Mode.HOLD
    rig.tick(2)
    assert rig.core.mode == Mode.GUIDED


def test_gps_flicker_shorter_than_timeout_does_not_trip():
    rig = Rig().ready()
    for _ in range(5):
        rig.tick(5, fix_type=0)        # 0.25 s bad
        rig.tick(5)
    assert not trips(rig, "gps") and rig.core.mode == Mode.GUIDED


@pytest.mark.parametrize("stream, kw", [("lidar", "scan"), ("camera", "camera")])
def test_stale_lidar_or_camera_holds_and_recovers(stream, kw):
    far = np.full(91, np.inf)
    healthy = {"scan": far}
    rig = Rig().ready(**healthy)
    stale = dict(healthy)
    stale[kw] = None if kw == "scan" else False
    took = rig.until(lambda: rig.core.mode == Mode.HOLD, 1.0, **stale)
    assert 0.5 < took <= 0.6
    assert trips(rig, f"{stream}_stale")[0].text.startswith(f"Failsafe: {stream} data stale")
    rig.until(lambda: rig.core.mode == Mode.GUIDED, 1.2, **healthy)


def test_loop_overrun_holds_then_clears_after_a_second_on_time():
    rig = Rig().ready()
    rig.t += 0.6                       # the loop did not run for 0.6 s (> FS_LOOP_MAX 0.5)
    rig.tick(1)
    assert rig.core.mode == Mode.HOLD and "control loop overrun" in trips(rig, "loop_overrun")[0].text
    assert rig.core.safety.watchdog.overruns == 1
    rig.tick(19)
    assert rig.core.mode == Mode.HOLD
    rig.tick(2)
    assert rig.core.mode == Mode.GUIDED


def test_watchdog_overdue_for_an_external_timer():
    from edgepilot.vehicle.safety import LoopWatchdog
    w = LoopWatchdog(0.5)
    assert not w.overdue(10.0)
    w.kick(1.0)
    assert not w.overdue(1.5) and w.overdue(1.51)
    assert w.kick(2.0) == pytest.approx(1.0) and w.overruns == 1
    with pytest.raises(ValueError, match="max_gap_s"):
        LoopWatchdog(0)


def test_motor_link_loss_stops_disarms_and_needs_an_operator():
    rig = Rig().ready()
    took = rig.until(lambda: not rig.core.armed, 1.0, motor=False)
    assert 0.3 < took <= 0.4
    cmd = rig.tick(1, motor=False)
    assert cmd.estop and cmd.left == cmd.right == 0.0
    r = rig.core.arm(rig.t)
    assert not r.ok and "motor controller" in r.reason
    rig.tick(2)                        # link back, vehicle disarmed: cleared, but nothing resumes
    assert not rig.core.failsafe_active and not rig.core.armed and rig.core.mode == Mode.HOLD
    assert rig.core.arm(rig.t).ok


def test_motor_fault_stops_on_the_next_tick():
    rig = Rig().ready()
    cmd = rig.tick(1, fault="left motor stalled")
    assert cmd.estop and not rig.core.armed
    assert "motor controller fault: left motor stalled" in trips(rig, "motor_fault")[0].text
    r = rig.core.arm(rig.t)
    assert not r.ok and "left motor stalled" in r.reason


@pytest.mark.parametrize("level, pct, action", [("low", 0.24, Mode.RTL), ("critical", 0.09, Mode.HOLD)])
def test_battery_failsafes_latch_until_disarmed_and_recharged(level, pct, action):
    rig = Rig().ready()
    rig.tick(1, battery=pct)
    assert rig.core.mode == action
    rig.tick(20, battery=0.9)          # reading recovers while armed: still latched (operator rule)
    assert f"battery_{level}" in rig.core.safety.failsafes.active
    assert rig.core.set_mode(rig.t, Mode.GUIDED).ok    # operator overrides the action
    rig.tick(20, battery=pct)
    assert rig.core.mode == Mode.GUIDED and len(trips(rig, f"battery_{level}")) == 1   # no re-trip
    assert rig.core.disarm(rig.t, force=True).ok
    rig.tick(1, battery=0.9)           # pack swapped
    assert f"battery_{level}" not in rig.core.safety.failsafes.active


def test_battery_low_then_critical_escalates_rtl_to_hold():
    rig = Rig().ready()
    rig.tick(1, battery=0.2)
    assert rig.core.mode == Mode.RTL
    rig.tick(1, battery=0.05)
    assert rig.core.mode == Mode.HOLD


def test_mavlink_estop_stops_in_the_same_call_and_latches():
    rig = Rig().ready()
    rig.tick(1)
    assert rig.core.estop(rig.t).ok
    assert rig.core.last_command.estop and not rig.core.armed
    assert rig.failsafe_events("trip")[-1].data["trigger"] == "estop"
    assert rig.tick(5).estop
    r = rig.core.arm(rig.t)
    assert not r.ok and "e-stop is latched" in r.reason
    assert rig.core.clear_estop(rig.t).ok
    rig.tick(1)
    assert rig.core.arm(rig.t).ok


def test_hardware_estop_input_stops_and_cannot_be_cleared_while_pressed():
    rig = Rig().ready()
    cmd = rig.tick(1, estop=True)
    assert cmd.estop and not rig.core.armed
    r = rig.core.clear_estop(rig.t)
    assert not r.ok and "still pressed" in r.reason
    assert "hardware e-stop is pressed" in rig.core.arm(rig.t).reason
    rig.tick(1)                        # released
    assert rig.core.arm(rig.t).ok


def test_obstacle_stop_holds_and_resumes_after_the_path_is_clear():
    far = np.full(91, np.inf)
    near = far.copy()
    near[45] = 1.3                     # straight ahead: 0.8 m beyond the 0.5 m half length
    rig = Rig(AVOID_ENABLE=1).ready(scan=far)
    rig.tick(1, scan=near)
    assert rig.core.mode == Mode.HOLD and "obstacle 0.8 m ahead" in trips(rig, "obstacle")[0].text
    rig.tick(20, scan=near)
    side = far.copy()
    side[0] = 1.0                      # beside the vehicle: not in the path
    rig.tick(29, scan=side)
    assert rig.core.mode == Mode.HOLD  # 1.45 s clear < AVOID_CLEAR_S
    rig.tick(2, scan=side)
    assert rig.core.mode == Mode.GUIDED


def test_obstacle_stop_is_off_by_default():
    far = np.full(91, np.inf)
    near = far.copy()
    near[45] = 1.0
    rig = Rig().ready(scan=far)
    rig.tick(5, scan=near)
    assert rig.core.mode == Mode.GUIDED


def test_operator_mode_change_cancels_resumption():
    rig = Rig(FS_GCS_TIMEOUT=1.0).ready()
    rig.until(lambda: rig.core.mode == Mode.HOLD, 2.0, gcs=False)
    assert rig.core.set_mode(rig.t, Mode.RTL).ok
    rig.tick(1)
    assert rig.core.mode == Mode.RTL and not rig.failsafe_events("resume")


def test_strongest_action_wins_and_resume_waits_for_all_to_clear():
    rig = Rig(FS_GCS_TIMEOUT=1.0, FS_GCS_ENABLE=2).ready()
    rig.tick(1, fix_type=0)
    rig.until(lambda: rig.core.mode == Mode.HOLD, 1.0, fix_type=0, gcs=False)   # GPS: HOLD
    rig.until(lambda: "gcs" in rig.core.safety.failsafes.active, 2.0, fix_type=0, gcs=False)
    assert rig.core.mode == Mode.HOLD          # GCS wants RTL; HOLD is stronger
    rig.tick(10, fix_type=0)                   # GCS back; GPS still bad
    assert rig.core.mode == Mode.HOLD
    rig.until(lambda: rig.core.mode == Mode.GUIDED, 2.5)


def test_recovery_rules_are_declared_for_every_trigger():
    rig = Rig()
    rules = {t.name: t.recovery for t in rig.core.safety.failsafes.triggers}
    assert {n for n, r in rules.items() if r is Recovery.AUTO} == {
        "gcs", "gps", "lidar_stale", "camera_stale", "loop_overrun", "obstacle"}
    assert {n for n, r in rules.items() if r is Recovery.OPERATOR} == {
        "battery_low", "battery_critical", "motor_link", "motor_fault", "estop", "fence"}
    assert Action.STOP.priority > Action.HOLD.priority > Action.RTL.priority > Action.NONE.priority


def test_failsafes_do_not_trip_while_disarmed():
    rig = Rig(FS_GCS_TIMEOUT=1.0)
    rig.tick(10)
    rig.tick(30, gcs=False, fix_type=0, motor=False, battery=0.05)
    assert not rig.failsafe_events("trip")
