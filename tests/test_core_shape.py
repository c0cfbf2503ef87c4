"""The core's shape (issue 14): one Setpoint out, modes as classes, safety
returns actions and never calls into the core, MAV_RESULT only in the
MAVLink adapter."""
from __future__ import annotations

import ast
import inspect

import numpy as np
import pytest

from edgepilot import configs_dir
from edgepilot.firmware_bridge.mavlink.command import MAV_RESULT_OF
from edgepilot.vehicle import core as core_module
from edgepilot.vehicle.config import load_vehicle_config
from edgepilot.vehicle.modes import MODE_CLASSES
from edgepilot.vehicle.params import ParamStore
from edgepilot.vehicle.geo import LocalFrame
from edgepilot.vehicle.safety import CoreView, SafetyManager
from edgepilot.vehicle.safety import failsafe as failsafe_module
from edgepilot.vehicle.safety import manager as manager_module
from edgepilot.vehicle.types import (ActionKind, ActuatorCommand, Mode, MotionTarget, Outcome, SetpointKind,
                                     Setpoint, SetpointSink, VehicleState)
from tests.safety_rig import ORIGIN, Rig

UGV = load_vehicle_config(configs_dir() / "vehicles" / "ugv.toml")
COMPANION = load_vehicle_config(configs_dir() / "vehicles" / "ugv_companion.toml")


def test_a_setpoint_carries_either_wheel_commands_or_a_target():
    wheels = Setpoint(1.0, True, Mode.AUTO, actuators=ActuatorCommand(0.3, -0.2))
    assert wheels.kind is SetpointKind.ACTUATORS and (wheels.left, wheels.right) == (0.3, -0.2)
    target = Setpoint(1.0, True, Mode.AUTO, target=MotionTarget(1.0, 2.0, 47.0, 8.0, stop=False))
    assert target.kind is SetpointKind.TARGET and (target.left, target.right, target.estop) == (0.0, 0.0, False)
    assert Setpoint(0.0, actuators=ActuatorCommand(0.0, 0.0, estop=True)).estop
    with pytest.raises(ValueError, match="exactly one"):
        Setpoint(0.0)
    with pytest.raises(ValueError, match="exactly one"):
        Setpoint(0.0, actuators=ActuatorCommand.stop(), target=MotionTarget(0, 0, 0, 0))


def test_drivers_and_the_simulator_are_setpoint_sinks():
    from edgepilot.onboard.companion import CompanionDrivers
    from edgepilot.onboard.drivers import DirectDrivers
    from edgepilot.sim.simulation import Simulation

    for cls in (DirectDrivers, CompanionDrivers, Simulation):
        for name in ("apply", "stop"):
            assert callable(getattr(cls, name, None)), (cls, name)
        assert list(inspect.signature(cls.apply).parameters)[1:] == ["setpoint", "now"], cls
        assert list(inspect.signature(cls.stop).parameters) == ["self"], cls
    assert set(inspect.signature(SetpointSink.apply).parameters) == {"self", "setpoint", "now"}


def drive(rig: Rig, seconds: float):
    n = int(round(seconds / 0.05))
    out = None
    for _ in range(n):
        out = rig.tick()
    return out


def test_the_core_outputs_wheel_commands_direct_and_a_lookahead_target_in_companion_wiring():
    direct = Rig(UGV)
    companion = Rig(COMPANION)
    for rig in (direct, companion):
        drive(rig, 0.5)
        assert rig.core.arm(rig.t).ok
        lat, lon = rig.core.frame.to_geo(20.0, 0.0)
        assert rig.core.goto(rig.t, lat, lon).ok
    sp = drive(direct, 0.5)
    assert sp.kind is SetpointKind.ACTUATORS and sp.left > 0 and sp.right > 0
    sp = drive(companion, 0.5)
    assert sp.kind is SetpointKind.TARGET and sp.armed and sp.mode == Mode.GUIDED and not sp.target.stop
    # 3 m (lookahead_m) ahead along the straight path east, at the cruise speed
    assert sp.target.x == pytest.approx(3.0, abs=0.2) and abs(sp.target.y) < 0.2
    assert (sp.target.lat, sp.target.lon) == pytest.approx(companion.core.frame.to_geo(sp.target.x, sp.target.y))
    assert sp.target.vx > 0 and sp.target.speed == companion.core.params.get("WP_SPEED")
    assert companion.core.set_mode(companion.t, Mode.HOLD).ok
    sp = drive(companion, 0.1)
    assert sp.kind is SetpointKind.TARGET and sp.mode == Mode.HOLD and sp.target.stop
    assert (sp.target.vx, sp.target.vy) == (0.0, 0.0)


def test_every_mode_is_a_class_and_refusal_has_no_side_effects():
    assert {cls.number for cls in MODE_CLASSES} == set(Mode)
    rig = Rig(UGV)
    core = rig.core
    assert core.modes[Mode.AUTO].refusal(0.0) == "AUTO needs a mission with at least one waypoint"
    assert core.modes[Mode.RTL].refusal(0.0) == "RTL needs a home position"     # no fix yet
    before = (core.mode, core.modes[Mode.GUIDED].target, core._mission_started)
    for m in core.modes.values():
        m.refusal(0.0)
    assert (core.mode, core.modes[Mode.GUIDED].target, core._mission_started) == before
    r = core.set_mode(0.0, Mode.AUTO)
    assert not r.ok and r.result is Outcome.DENIED and core.mode == Mode.HOLD
    r = core.set_mode(0.0, 7)
    assert not r.ok and r.result is Outcome.UNSUPPORTED


def ticks(sm, t0, t1, view, gcs=True):
    """Tick the safety manager every 50 ms from t0 to t1; all actions returned."""
    out = []
    for k in range(int(round((t1 - t0) / 0.05)) + 1):
        t = round(t0 + 0.05 * k, 6)
        if gcs:
            sm.gcs_heartbeat(t)
        out += sm.update(t, _frame(t), view)
    return out


def test_safety_decides_from_values_and_returns_actions():
    params = ParamStore(UGV)
    sm = SafetyManager(UGV, params, LocalFrame(ORIGIN.lat, ORIGIN.lon), lambda *a, **k: None)
    st = VehicleState(0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, ORIGIN.lat, ORIGIN.lon, 0.1, True)
    view = CoreView(True, Mode.AUTO, st, frozenset(Mode))
    assert ticks(sm, 0.0, 1.0, view) == []
    timeout = params.get("FS_GCS_TIMEOUT")
    t, actions = 1.0, []
    while not actions:
        t = round(t + 0.05, 6)
        assert t < 1.0 + timeout + 0.5
        actions = sm.update(t, _frame(t), view)          # no GCS heartbeat any more
    assert [a.kind for a in actions] == [ActionKind.HOLD] and "GCS link lost" in actions[0].reason
    # The core applied it (HOLD); the link is back: RESUME to the interrupted
    # mode, carrying the announcement the core makes once it has switched.
    held = CoreView(True, Mode.HOLD, st, frozenset(Mode))
    actions = ticks(sm, t + 0.05, t + 0.05, held)
    assert [(a.kind, a.mode) for a in actions] == [(ActionKind.RESUME, Mode.AUTO)]
    assert actions[0].data["phase"] == "resume"
    # An e-stop is a STOP action, whatever the arming state.
    actions = sm.estop(t + 0.1, CoreView(False, Mode.HOLD, st, frozenset(Mode)), "test")
    assert [a.kind for a in actions] == [ActionKind.STOP]


def test_an_unavailable_mode_is_not_counted_as_entered():
    params = ParamStore(UGV)
    assert params.set("FS_GCS_ENABLE", 2).ok        # RTL on GCS loss
    sm = SafetyManager(UGV, params, LocalFrame(ORIGIN.lat, ORIGIN.lon), lambda *a, **k: None)
    st = VehicleState(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, ORIGIN.lat, ORIGIN.lon, 0.1, True)
    no_rtl = CoreView(True, Mode.AUTO, st, frozenset(Mode) - {Mode.RTL})
    ticks(sm, 0.0, 1.0, no_rtl)
    assert ticks(sm, 1.05, 1.0 + params.get("FS_GCS_TIMEOUT") + 0.5, no_rtl, gcs=False) == []
    assert sm.failsafes.applied_mode is None and "gcs" in sm.failsafes.active


def _frame(t):
    from edgepilot.vehicle.types import SensorFrame

    return SensorFrame(t)


def _calls_into(module, names: set[str]) -> list[str]:
    """Attribute calls like ``core.x(...)`` / ``core._x`` in a module's source."""
    tree = ast.parse(inspect.getsource(module))
    return [f"{n.value.id}.{n.attr}" for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in names]


def test_safety_never_reaches_into_the_core_and_the_core_holds_no_mav_result():
    assert _calls_into(failsafe_module, {"core"}) == []
    assert _calls_into(manager_module, {"core"}) == []
    assert "MAV_RESULT" not in inspect.getsource(core_module)
    assert set(MAV_RESULT_OF) == set(Outcome)
    assert np.all([isinstance(k, Outcome) for k in MAV_RESULT_OF])


def test_filter_command_passes_the_command_unless_estop_or_a_stop_failsafe():
    # filter_command compares with the STOP member bound once: the same answer as Action.STOP
    params = ParamStore(UGV)
    sm = SafetyManager(UGV, params, LocalFrame(ORIGIN.lat, ORIGIN.lon), lambda *a, **k: None)
    st = VehicleState(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, ORIGIN.lat, ORIGIN.lon, 0.1, True)
    cmd = ActuatorCommand(0.3, -0.2)
    assert sm.filter_command(cmd) is cmd
    assert [a.kind for a in sm.estop(0.0, CoreView(True, Mode.AUTO, st, frozenset(Mode)), "test")] == [ActionKind.STOP]
    assert sm.failsafes.strongest is failsafe_module.Action.STOP
    out = sm.filter_command(cmd)
    assert (out.left, out.right, out.estop) == (0.0, 0.0, True)
    sm.inputs.estop_latched = False                      # the STOP failsafe alone still stops
    assert sm.filter_command(cmd).estop
    sm.failsafes.active.clear()
    assert sm.filter_command(cmd) is cmd
