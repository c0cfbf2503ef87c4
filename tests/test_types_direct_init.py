"""``types.direct_init``: the per-tick frozen dataclasses built by storing
into the instance dict give the objects the dataclass's own ``__init__``
gives, take the same arguments, and refuse the same wrong ones."""
from __future__ import annotations

import dataclasses
import inspect
import math

import numpy as np
import pytest

from edgepilot.vehicle.mission.executor import NavTarget
from edgepilot.vehicle.perception.tracking import Cluster, Track
from edgepilot.vehicle.safety.manager import CoreView
from edgepilot.vehicle.types import (ActuatorCommand, CompassReading, GpsFix, LaserScan, Mode, MotorStatus, SensorFrame,
                                     Setpoint, VehicleState, direct_init)

DIRECT = [GpsFix, CompassReading, LaserScan, MotorStatus, SensorFrame, VehicleState, ActuatorCommand, Setpoint,
          CoreView, NavTarget, Cluster, Track]


def _reference(cls):
    """The same class built by ``dataclass(frozen=True)`` alone (its
    generated ``__init__``), ``__post_init__`` included."""
    fields = []
    for f in dataclasses.fields(cls):
        kw = {"compare": f.compare, "repr": f.repr}
        if f.default is not dataclasses.MISSING:
            kw["default"] = f.default
        if f.default_factory is not dataclasses.MISSING:
            kw["default_factory"] = f.default_factory
        fields.append((f.name, f.type, dataclasses.field(**kw)))
    ns = {"__post_init__": cls.__post_init__} if hasattr(cls, "__post_init__") else {}
    return dataclasses.make_dataclass(cls.__name__, fields, frozen=True, namespace=ns)


def _args(cls):
    """Positional values for every field of ``cls`` (each one distinct)."""
    vals = {"VehicleState": (1.5, 2.0, -3.0, 0.25, 0.5, -0.5, 0.1, 52.0, 4.0, 0.3, True),
            "GpsFix": (1.0, 52.0, 4.0, 3, 9, 0.8, 0.1, -0.2),
            "CompassReading": (1.0, 0.5),
            "LaserScan": (1.0, -math.pi, 0.01, 12.0, np.ones(3, np.float32)),
            "MotorStatus": (1.0, True, "stalled", 3),
            "ActuatorCommand": (0.25, -0.5, True),
            "NavTarget": ("loiter_time", 3, 52.0, 4.0, 5.0),
            "Cluster": (1.5, -2.0, 0.3, 7),
            "Track": (4, 2.5, 1.0, -1.0, 0.5, 0.25, np.eye(4), 0.4, True, 6, 1)}
    if cls.__name__ in vals:
        return vals[cls.__name__]
    if cls is SensorFrame:
        return (2.0, GpsFix(1.0, 52.0, 4.0, 3, 9, 0.8), CompassReading(1.0, 0.5), None, 12.1, 0.9, (), MotorStatus(1.0),
                1.9, None, None, None, None)
    if cls is Setpoint:
        return (3.0, True, Mode.AUTO, ActuatorCommand(0.1, 0.2, True), None, False)
    if cls is CoreView:
        st = VehicleState(*_args(VehicleState))
        return (True, Mode.GUIDED, st, frozenset({Mode.HOLD}), (1, 2), {"lidar": 1}, None)
    raise AssertionError(cls)


@pytest.mark.parametrize("cls", DIRECT, ids=lambda c: c.__name__)
def test_direct_init_builds_what_the_dataclass_init_builds(cls):
    ref = _reference(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    assert list(inspect.signature(cls.__init__).parameters)[1:] == names
    args = _args(cls)
    got, want = cls(*args), ref(*args)
    assert list(vars(got).items()) == list(vars(want).items())     # same values, same dict order
    assert list(vars(cls(**dict(zip(names, args)))).items()) == list(vars(want).items())
    assert got == cls(*args)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(got, names[0], args[0])
    # the fewest arguments: defaults and default factories as the dataclass gives them
    n_req = sum(f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
                for f in dataclasses.fields(cls))
    if cls is not Setpoint:          # a Setpoint needs actuators or target
        a, b = vars(cls(*args[:n_req])), vars(ref(*args[:n_req]))
        assert a.keys() == b.keys()
        for k in a:
            assert type(a[k]) is type(b[k]) and (a[k] == b[k] if not isinstance(a[k], np.ndarray)
                                                else np.array_equal(a[k], b[k]))
    # wrong calls fail as the dataclass's do
    bad = [(args + (0,), {}), (args, {"no_such_field": 1}), (args, {names[0]: args[0]})]
    if n_req:
        bad.append((args[:n_req - 1], {}))
    for bad_args, bad_kw in bad:
        with pytest.raises(TypeError):
            ref(*bad_args, **bad_kw)
        with pytest.raises(TypeError):
            cls(*bad_args, **bad_kw)


def test_default_factories_give_a_fresh_object_each_time():
    st = VehicleState(*_args(VehicleState))
    a, b = CoreView(True, Mode.HOLD, st), CoreView(True, Mode.HOLD, st)
    assert a.sensor_status == {} and a.sensor_status is not b.sensor_status


def test_setpoint_post_init_still_checks_and_sets_estop():
    with pytest.raises(ValueError, match="exactly one of actuators and target"):
        Setpoint(1.0)
    assert Setpoint(1.0, actuators=ActuatorCommand(0.0, 0.0, estop=True)).estop is True


def test_direct_init_refuses_what_it_cannot_build():
    @dataclasses.dataclass
    class Mutable:
        a: int

    with pytest.raises(TypeError, match="not a frozen dataclass"):
        direct_init(Mutable)

    @dataclasses.dataclass(frozen=True)
    class Hidden:
        a: int
        b: int = dataclasses.field(default=0, init=False)

    with pytest.raises(TypeError, match="not a plain field"):
        direct_init(Hidden)
