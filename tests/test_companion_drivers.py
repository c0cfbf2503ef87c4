"""CompanionDrivers' decisions, against a scripted autopilot link: GUIDED
then arm when the core arms, lookahead position setpoints while driving, a
fixed hold point while holding, hands off after an RC/mode takeover, never
disarming an autopilot it did not arm, forced disarm on e-stop, and the
autopilot's position turned into the core's GPS fix and compass."""
from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from edgepilot.firmware_bridge.companion import AutopilotBattery, AutopilotGps, AutopilotPosition
from tests.conftest import REPO
from edgepilot.vehicle.config import load_vehicle_config
from edgepilot.vehicle.control.path import PolylinePath
from edgepilot.vehicle.geo import LocalFrame
from edgepilot.onboard.companion import CompanionDrivers, lookahead_target
from edgepilot.vehicle.types import ActuatorCommand, CommandResult, Mode

ORIGIN = (47.397742, 8.545594)


class FakeLink:
    def __init__(self, wall):
        self.wall = wall
        self.connected = True
        self.target = (1, 1)
        self.is_px4 = False
        self.custom_mode = 0
        self.armed = False
        self.acks: dict[int, int] = {}
        self.calls: list[tuple] = []
        self.position = None
        self.gps = None
        self.battery = None
        self.attitude_yaw = None
        self.positions = 0
        self.texts: list = []
        self.connections = 1

    @property
    def in_guided(self):
        return self.custom_mode == 15

    def poll(self):
        pass

    def set_guided(self):
        self.calls.append(("guided",))

    def arm(self, arm=True, force=False):
        self.calls.append(("arm", arm, force))

    def change_speed(self, v):
        self.calls.append(("speed", v))

    def send_position_target(self, lat, lon):
        self.calls.append(("sp", lat, lon))

    def set_hold(self):
        self.calls.append(("hold",))

    def fds(self):
        return []

    def close(self):
        pass


class FakeCore:
    def __init__(self):
        self.frame = LocalFrame(*ORIGIN)
        self.armed = True
        self.mode = Mode.AUTO
        self.path = PolylinePath([[0.0, 0.0], [20.0, 0.0]])
        self.follower = SimpleNamespace(s=2.0)
        self.params = SimpleNamespace(get=lambda name: {"WP_SPEED": 1.2}[name])
        lat, lon = self.frame.to_geo(1.5, 0.2)
        self.state = SimpleNamespace(lat=lat, lon=lon)
        self.modes: list[Mode] = []
        self.disarms = 0

    def set_mode(self, now, mode):
        self.modes.append(mode)
        self.mode = mode
        return CommandResult(True)

    def disarm(self, now, force=False):
        self.disarms += 1
        self.armed = False
        return CommandResult(True)


@pytest.fixture
def rig():
    cfg = load_vehicle_config(REPO / "configs/vehicles/ugv_companion.toml")
    clock = {"t": 1000.0}
    events: list[str] = []
    d = CompanionDrivers(cfg, on_event=events.append, wall=lambda: clock["t"])
    assert d.link is None and "ttyAMA0" in events[0]        # no such serial port here: reported, retried
    d.link = FakeLink(lambda: clock["t"])
    d.link.position = AutopilotPosition(clock["t"], *ORIGIN, 0.5, -0.25, 90.0)
    d.link.positions = 1
    d.link.gps = AutopilotGps(clock["t"], 3, 14, 0.4)
    d.link.battery = AutopilotBattery(clock["t"], 24.1, 0.8)
    d.poll(0.0)                 # as the runtime does: the link is seen connected
    assert "autopilot: connected (ArduPilot, sysid 1)" in events[-1]
    return d, clock, events


def advance(d, clock, dt):
    clock["t"] += dt
    d.link.position = AutopilotPosition(clock["t"], *ORIGIN, 0.0, 0.0, 90.0)   # the autopilot keeps reporting
    d.link.positions += 1


def test_lookahead_target_is_ahead_of_the_followers_progress_and_clamped_at_the_end():
    core = FakeCore()
    assert lookahead_target(core, 3.0) == pytest.approx((5.0, 0.0))
    core.follower.s = 19.0
    assert lookahead_target(core, 3.0) == pytest.approx((20.0, 0.0))
    core.path = None
    assert lookahead_target(core, 3.0) is None


def test_autopilot_position_becomes_gps_fix_compass_and_battery(rig):
    d, clock, _ = rig
    d.link.position = AutopilotPosition(clock["t"], *ORIGIN, 0.5, -0.25, 90.0)
    d.link.positions += 1
    d.poll(5.0)
    f = d.frame(5.0)
    assert (f.gps.lat, f.gps.lon) == pytest.approx(ORIGIN)
    assert (f.gps.fix_type, f.gps.satellites, f.gps.hacc) == (3, 14, pytest.approx(0.4))
    assert (f.gps.vel_n, f.gps.vel_e) == (0.5, -0.25)
    assert f.compass.yaw == pytest.approx(0.0, abs=1e-9)          # heading 90 deg (east) = ENU yaw 0
    assert (f.battery_v, f.battery_remaining) == (24.1, 0.8)
    assert d.frame(5.1).gps is None                                 # nothing new, nothing handed over twice
    assert d.required_ok() and d.origin_fix() == pytest.approx(ORIGIN)
    advance(d, clock, 0.0)
    clock["t"] += 1.5                                               # position stops arriving
    assert not d.required_ok() and d.missing() == ["autopilot position"]


def test_arming_follows_the_core_then_lookahead_setpoints_then_a_fixed_hold_point(rig):
    d, clock, _ = rig
    link, core = d.link, FakeCore()
    drive = ActuatorCommand(0.5, 0.6)
    d.actuate(0.0, drive, core)
    assert link.calls == [("guided",)]
    link.custom_mode = 15
    advance(d, clock, 1.1)
    d.actuate(1.0, drive, core)
    assert link.calls[-1] == ("arm", True, False)
    link.armed = True
    link.acks[400] = 0
    advance(d, clock, 1.1)
    d.actuate(2.0, drive, core)
    assert ("speed", 1.2) in link.calls
    sp = [c for c in link.calls if c[0] == "sp"]
    assert len(sp) == 1
    x, y = core.frame.to_local(sp[0][1], sp[0][2])
    assert (x, y) == pytest.approx((5.0, 0.0), abs=1e-3)            # follower at s = 2, 3 m ahead
    # Rate-limited to setpoint_rate_hz (5 Hz): nothing new 0.1 s later.
    advance(d, clock, 0.1)
    d.actuate(2.1, drive, core)
    assert len([c for c in link.calls if c[0] == "sp"]) == 1
    # The core holds (zero command): the setpoint is where it stopped, and stays there.
    hold = []
    for k in range(3):
        advance(d, clock, 0.25)
        core.state = SimpleNamespace(lat=core.state.lat + 1e-6 * k, lon=core.state.lon)
        d.actuate(2.5 + k, ActuatorCommand.stop(), core)
        hold.append(link.calls[-1])
    assert hold[0] == hold[1] == hold[2] and hold[0][0] == "sp"
    assert not any(c[0] == "arm" and c[1] is False for c in link.calls)


def test_a_takeover_holds_the_core_and_leaves_the_autopilot_alone_until_an_operator_resumes(rig):
    d, clock, events = rig
    link, core = d.link, FakeCore()
    link.custom_mode, link.armed = 15, True
    d.actuate(0.0, ActuatorCommand(0.5, 0.5), core)                 # engaged
    link.custom_mode = 0                                             # the pilot flips to MANUAL
    advance(d, clock, 1.1)
    n = len(link.calls)
    d.actuate(1.0, ActuatorCommand(0.5, 0.5), core)
    assert core.modes == [Mode.HOLD] and "left GUIDED" in events[-1]
    for k in range(3):
        advance(d, clock, 1.1)
        d.actuate(2.0 + k, ActuatorCommand.stop(), core)
    assert len(link.calls) == n, link.calls[n:]                      # no guided, no arm, no setpoints
    core.mode = Mode.AUTO                                            # an operator resumes
    advance(d, clock, 1.1)
    d.actuate(6.0, ActuatorCommand(0.5, 0.5), core)
    assert link.calls[-1] == ("guided",)


def test_never_disarms_an_autopilot_someone_else_armed_but_disarms_its_own(rig):
    d, clock, _ = rig
    link, core = d.link, FakeCore()
    link.armed, link.custom_mode = True, 0          # a pilot armed it and drives in MANUAL
    core.armed = False
    for k in range(3):
        advance(d, clock, 1.1)
        d.actuate(k, ActuatorCommand.stop(), None if k == 0 else core)
    assert link.calls == []
    # Ours: engaged while the core was armed, then the core disarms.
    core.armed, link.custom_mode = True, 15
    d.actuate(4.0, ActuatorCommand(0.4, 0.4), core)
    core.armed = False
    advance(d, clock, 1.1)
    d.actuate(5.0, ActuatorCommand.stop(), core)
    assert link.calls[-1] == ("arm", False, False)


def test_estop_force_disarms_and_an_arm_refusal_disarms_the_core(rig):
    d, clock, events = rig
    link, core = d.link, FakeCore()
    link.armed, link.custom_mode = True, 15
    d.actuate(0.0, ActuatorCommand(0.0, 0.0, estop=True), core)
    assert link.calls[-1] == ("arm", False, True)
    link.armed = False
    advance(d, clock, 1.1)
    d.actuate(1.0, ActuatorCommand(0.5, 0.5), core)
    assert link.calls[-1] == ("arm", True, False)
    link.acks[400] = 4                                               # MAV_RESULT_FAILED
    d.link.texts.append((4, "PreArm: Hardware safety switch"))
    d.poll(1.5)
    advance(d, clock, 0.1)
    d.actuate(1.5, ActuatorCommand(0.5, 0.5), core)
    assert core.disarms == 1 and d.refusals == 1
    assert "refused to arm" in events[-1] and "safety switch" in events[-1]


def test_link_loss_sends_nothing(rig):
    d, clock, _ = rig
    link, core = d.link, FakeCore()
    link.connected = False
    d.actuate(0.0, ActuatorCommand(0.5, 0.5), core)
    d.actuate(1.0, ActuatorCommand(0.0, 0.0, estop=True), core)
    assert link.calls == [] and d.missing() == ["autopilot link"]
    assert math.isfinite(d.link.position.lat)
