"""Pre-arm checks refuse with a reason an operator can act on."""
import numpy as np
import pytest

from safety_rig import UGV, Rig
from edgepilot.vehicle.safety.geofence import CIRCLE_EXCLUSION, CIRCLE_INCLUSION
from edgepilot.vehicle.types import Cmd, MissionItem


def refusal(rig):
    r = rig.core.arm(rig.t)
    assert not r.ok and r.result == 4
    return r.reason


def test_healthy_vehicle_arms():
    rig = Rig()
    rig.tick(10)
    assert rig.core.arm(rig.t).ok


@pytest.mark.parametrize("kw, text", [
    ({"fix_type": 2}, "PreArm: GPS needs a 3D fix (fix type 2)"),
    ({"hacc": 2.5}, "PreArm: GPS horizontal accuracy 2.5 m is worse than FS_GPS_HACC 1.0 m"),
    ({"sats": 4}, "PreArm: GPS has 4 satellites, need 6"),
    ({"battery": 0.2}, "PreArm: battery 20% is at or below BATT_LOW_PCT 25%"),
    ({"fault": "right motor overcurrent"}, "PreArm: motor controller fault: right motor overcurrent"),
    ({"estop": True}, "PreArm: hardware e-stop is pressed"),
])
def test_each_check_names_the_problem(kw, text):
    rig = Rig()
    rig.tick(10, **kw)
    assert text in refusal(rig)


def test_no_position_estimate_yet():
    rig = Rig()
    assert "PreArm: waiting for GPS fix and heading" in refusal(rig)


def test_stale_gps_and_motor_controller():
    rig = Rig()
    rig.tick(10)
    rig.tick(25, gps=False)
    assert "PreArm: GPS data stale (last fix 1.2 s ago)" in refusal(rig)
    rig = Rig()
    rig.tick(10)
    rig.tick(10, motor=False)
    assert "PreArm: motor controller not responding" in refusal(rig)


def test_all_failures_are_reported_as_statustext():
    rig = Rig()
    rig.tick(10, hacc=3.0, battery=0.1)
    first = refusal(rig)
    texts = [t for t in rig.texts() if t.startswith("PreArm:")]
    assert first == texts[0] and any("battery" in t for t in texts) and any("GPS" in t for t in texts)


def test_lidar_configured_means_perception_must_be_running():
    data = UGV.model_dump()
    data["sensors"]["lidar"] = {"rate_hz": 10, "beams": 91, "fov_deg": 180, "max_range": 12.0, "noise_m": 0.0}
    cfg = type(UGV).model_validate(data)
    rig = Rig(cfg)
    rig.tick(10)
    assert "PreArm: perception not running: no lidar scan received" in refusal(rig)
    rig.tick(2, scan=np.full(91, np.inf))
    assert rig.core.arm(rig.t).ok


def test_perception_update_hook_must_be_fresh_once_used():
    rig = Rig()
    rig.tick(10)
    rig.core.safety.perception_update(rig.t)
    rig.tick(20)
    assert "PreArm: perception not running: last obstacle-map update 1.0 s ago" in refusal(rig)


def test_arming_check_zero_and_force_skip_checks():
    rig = Rig(ARMING_CHECK=0)
    rig.tick(10, hacc=5.0)
    assert rig.core.arm(rig.t).ok
    rig = Rig()
    rig.tick(10, hacc=5.0)
    assert rig.core.arm(rig.t, force=True).ok


def _circle(cmd, x, y, r, core):
    lat, lon = core.frame.to_geo(x, y)
    return MissionItem(0, cmd, lat, lon, param1=r, frame=0)


def test_fence_enabled_needs_a_fence_with_vehicle_and_mission_inside():
    rig = Rig(FENCE_ENABLE=1)
    rig.tick(10)
    assert "PreArm: FENCE_ENABLE is 1 but no fence is loaded" in refusal(rig)
    core = rig.core
    assert core.set_fence([_circle(CIRCLE_INCLUSION, 30.0, 0.0, 5.0, core)]).ok
    assert "PreArm: vehicle is outside the fence (inclusion circle 1" in refusal(rig)
    assert core.set_fence([_circle(CIRCLE_INCLUSION, 0.0, 0.0, 20.0, core)]).ok
    assert core.arm(rig.t).ok
    core.disarm(rig.t, force=True)
    home = MissionItem(0, int(Cmd.NAV_WAYPOINT), *core.frame.to_geo(0, 0))
    wp1 = MissionItem(1, int(Cmd.NAV_WAYPOINT), *core.frame.to_geo(10, 0))
    wp2 = MissionItem(2, int(Cmd.NAV_WAYPOINT), *core.frame.to_geo(25, 0))
    assert core.set_mission([home, wp1, wp2]).ok
    assert "PreArm: mission item 2 is outside the fence" in refusal(rig)


def test_vehicle_inside_an_exclusion_zone_is_refused():
    rig = Rig(FENCE_ENABLE=1)
    rig.tick(10)
    assert rig.core.set_fence([_circle(CIRCLE_EXCLUSION, 0.5, 0.0, 2.0, rig.core)]).ok
    assert "PreArm: vehicle is outside the fence (exclusion circle 1" in refusal(rig)


def test_latched_operator_failsafe_blocks_arming():
    rig = Rig().ready()
    rig.tick(1, battery=0.05)
    rig.core.disarm(rig.t, force=True)
    rig.tick(1, battery=0.05)
    assert "battery" in refusal(rig)
