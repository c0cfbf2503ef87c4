"""The vehicle core through its public API on the simulator."""
import math

import numpy as np

from edgepilot.sim.scenario import load_scenario
from edgepilot.sim.simulation import PHYSICS_DT, Simulation
from edgepilot.vehicle.types import Mode


def drive(sim, core, seconds):
    every = int(round(1 / (core.cfg.control.rate_hz * PHYSICS_DT)))
    cmd = core.last_command
    n = int(round(seconds / PHYSICS_DT))
    start = int(round(sim.t / PHYSICS_DT))
    for k in range(start, start + n):
        t = k * PHYSICS_DT
        if k % every == 0:
            cmd = core.step(t, sim.sensors(t))
        sim.step(PHYSICS_DT, cmd)


def setup():
    sim = Simulation(load_scenario("ugv_yard"))
    return sim, sim.make_core()


def test_arm_refused_before_a_gps_fix_then_allowed():
    sim, core = setup()
    r = core.arm(0.0)
    assert not r.ok and "PreArm" in r.reason and r.result == 4
    drive(sim, core, 0.5)
    assert core.state.valid and core.arm(sim.t).ok and core.armed
    assert core.home is not None


def test_estimate_tracks_truth():
    sim, core = setup()
    drive(sim, core, 1.0)
    core.arm(sim.t)
    lat, lon = core.frame.to_geo(10.0, 4.0)
    assert core.goto(sim.t, lat, lon).ok and core.mode == Mode.GUIDED
    errs = []
    for _ in range(40):
        drive(sim, core, 0.25)
        errs.append(math.hypot(core.state.x - sim.truth.x, core.state.y - sim.truth.y))
    assert max(errs) < 0.3
    assert abs(core.state.yaw - sim.truth.yaw) < math.radians(5)


def test_guided_goto_arrives_and_holds_then_rtl_returns_home():
    sim, core = setup()
    drive(sim, core, 0.5)
    core.arm(sim.t)
    lat, lon = core.frame.to_geo(8.0, 20.0)
    core.goto(sim.t, lat, lon)
    drive(sim, core, 30.0)
    assert math.hypot(sim.truth.x - 8.0, sim.truth.y - 20.0) < 0.8 and sim.truth.speed < 0.05
    assert core.set_mode(sim.t, Mode.RTL).ok
    drive(sim, core, 30.0)
    assert core.mode == Mode.HOLD
    assert math.hypot(sim.truth.x - 4.0, sim.truth.y - 4.0) < 0.8


def test_goto_into_an_obstacle_is_refused():
    sim, core = setup()
    drive(sim, core, 0.5)
    lat, lon = core.frame.to_geo(15.0, 20.0)  # inside container row A
    r = core.goto(sim.t, lat, lon)
    assert not r.ok and "inside an obstacle" in r.reason and core.mode == Mode.HOLD


def test_disarmed_vehicle_never_moves():
    sim, core = setup()
    core.set_mission(sim.mission_items())
    core.set_mode(0.0, Mode.AUTO)
    drive(sim, core, 5.0)
    assert math.hypot(sim.truth.x - 4.0, sim.truth.y - 4.0) < 1e-9


def test_auto_without_mission_refused_and_events_reported():
    sim, core = setup()
    r = core.set_mode(0.0, Mode.AUTO)
    assert not r.ok and "mission" in r.reason
    events, cursor = core.events_since(0)
    assert any("AUTO needs a mission" in e.text for e in events)
    assert core.events_since(cursor) == ([], cursor)


def test_param_changes_take_effect_and_persist(tmp_path):
    from edgepilot.onboard.param_file import persisted_params as ParamStore

    sim = Simulation(load_scenario("ugv_yard"))
    path = tmp_path / "vehicle.parm"
    p = ParamStore(sim.cfg, path)
    assert p.set("WP_SPEED", 0.6).ok
    bad = p.set("WP_SPEED", 99.0)
    assert not bad.ok and "WP_SPEED must be in" in bad.reason
    assert not p.set("NO_SUCH", 1).ok
    p2 = ParamStore(sim.cfg, path)
    assert p2.get("WP_SPEED") == 0.6
    core = sim.make_core(p2)
    drive(sim, core, 0.5)
    core.arm(sim.t)
    core.set_mission(sim.mission_items())
    core.start_mission(sim.t)
    drive(sim, core, 20.0)
    assert np.isclose(sim.truth.speed, 0.6, atol=0.08)


def test_mission_start_from_a_given_item():
    sim, core = setup()
    drive(sim, core, 0.5)
    core.arm(sim.t)
    core.set_mission(sim.mission_items())
    assert not core.start_mission(sim.t, first=99).ok
    assert core.start_mission(sim.t, first=3).ok and core.mission_current == 3
    reached = []
    for _ in range(80):
        drive(sim, core, 0.5)
        events, _ = core.events_since(0)
        reached = [e.data["seq"] for e in events if e.kind == "item_reached"]
        if reached:
            break
    assert reached[0] == 3


def test_deferred_bring_up_holds_still_and_refuses_to_arm_until_built():
    """The onboard runtime starts its loop before planning and perception
    exist (VehicleCore.bring_up runs on another thread): meanwhile the core
    estimates and answers, but commands a stop and will not arm, not even
    by force; once built it drives as usual."""
    from edgepilot.vehicle.core import VehicleCore
    from edgepilot.vehicle.types import GeoPoint

    sim = Simulation(load_scenario("ugv_yard"))
    lat, lon = sim.scenario.world.origin
    core = VehicleCore(sim.cfg, GeoPoint(lat, lon), sim.world.prior_map(), defer_bring_up=True)
    assert not core.ready and core.planning is None and core.perception is None and core.tracks == []
    drive(sim, core, 0.5)                       # ticks run: the estimate converges
    assert core.state.valid
    r = core.arm(sim.t)
    assert not r.ok and r.reason == "PreArm: still starting up (planning and perception)"
    assert core.arm(sim.t, force=True).ok       # a forced arm skips the checks...
    lat_t, lon_t = core.frame.to_geo(8.0, 20.0)
    assert core.goto(sim.t, lat_t, lon_t).ok
    drive(sim, core, 2.0)                       # ...but nothing moves before bring-up
    assert (core.last_command.left, core.last_command.right) == (0.0, 0.0) and sim.truth.speed < 1e-6
    core.bring_up()
    assert core.ready and core.planning is not None and core.perception is not None
    drive(sim, core, 30.0)
    assert math.hypot(sim.truth.x - 8.0, sim.truth.y - 20.0) < 0.8


def test_deferred_bring_up_of_a_surface_vessel_adds_the_maritime_autonomy():
    from edgepilot.vehicle.core import VehicleCore
    from edgepilot.vehicle.types import GeoPoint

    sim = Simulation(load_scenario("usv_harbor"))
    lat, lon = sim.scenario.world.origin
    core = VehicleCore(sim.cfg, GeoPoint(lat, lon), sim.world.prior_map(), defer_bring_up=True)
    drive(sim, core, 0.5)                       # contacts, station keeping: none yet, and no crash
    assert core.maritime is None and (core.last_command.left, core.last_command.right) == (0.0, 0.0)
    assert not core.arm(sim.t).ok
    core.bring_up()
    assert core.maritime is not None and core.maritime.helm is not None and core.planning is not None
    assert core.arm(sim.t).ok
    drive(sim, core, 5.0)                       # armed in HOLD, the boat keeps station: thrusters work
    assert core.last_command.left != 0.0 or core.last_command.right != 0.0
