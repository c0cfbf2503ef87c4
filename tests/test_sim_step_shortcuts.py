"""The per-step shortcuts of the simulator and the fleet loop give what
the plain forms gave: the fleet's finished test, the battery's clamp at
empty, and the ground station's heartbeats when ``_gcs`` is called only
when one is due or queued."""
import itertools
import math
from types import SimpleNamespace

import pytest

from edgepilot.sim.faults import GCS_HEARTBEAT_S, FaultInjector
from edgepilot.sim.fleet.runner import _finished
from edgepilot.sim.sensors.navigation import BatteryModel
from edgepilot.vehicle.types import MissionState


def _finished_plain(runs):
    """The form before the early-out loop."""
    working = [r for r in runs if r.broken_at is None]
    return all((not r.has_mission) or (r.started and (r.core.mission_state == MissionState.COMPLETE
                                                      or r.core.failure_reason)) for r in working)


def _run(broken, has_mission, started, state, failure):
    core = SimpleNamespace(mission_state=state, failure_reason=failure)
    return SimpleNamespace(broken_at=1.0 if broken else None, has_mission=has_mission, started=started, core=core)


def test_fleet_finished_equals_the_plain_form():
    kinds = [_run(*k) for k in itertools.product((False, True), (False, True), (False, True),
                                                 (MissionState.ACTIVE, MissionState.COMPLETE), (None, "stuck"))]
    for n in (0, 1, 2):
        for runs in itertools.product(kinds, repeat=n):
            assert _finished(list(runs), None, 0.0) == _finished_plain(runs)
    tasking = SimpleNamespace(finished=lambda t: t > 5.0)      # with tasking, it decides
    assert _finished(kinds, tasking, 6.0) and not _finished(kinds, tasking, 1.0)


@pytest.mark.parametrize("energy, left, right, dt", [
    (1000.0, 0.5, -0.5, 0.01), (0.0, 0.0, 0.0, 0.01), (1.0, 1.0, 1.0, 10.0), (315.0, 0.0, 0.0, 21.0),
    (-0.0, 0.0, 0.0, 0.0), (math.nan, 0.1, 0.1, 0.01), (100.0, math.nan, 0.0, 0.01), (5.0, math.inf, 0.0, 0.01)])
def test_battery_clamp_equals_max(energy, left, right, dt):
    b = BatteryModel()
    b.energy_j = energy
    b.step(dt, left, right)
    want = max(0.0, energy - (b.idle_w + b.max_motor_w * 0.5 * (abs(left) + abs(right))) * dt)
    assert repr(b.energy_j) == repr(want)             # the same value, sign of zero and NaN included


class _Core:
    def __init__(self):
        self.beats = []

    def gcs_heartbeat(self, t):
        self.beats.append(t)


def _injector():
    sim = SimpleNamespace(rng=SimpleNamespace(spawn=lambda n: [None]), frame=None)
    return FaultInjector(SimpleNamespace(faults=[]), sim)


def test_heartbeats_when_gcs_is_called_only_when_due():
    a, b = _injector(), _injector()
    ca, cb = _Core(), _Core()
    for step in range(1000):
        t = step * 0.01
        assert a.operate(t, ca) is None
        b._gcs(t, cb)                                 # the plain form: every physics step
    assert ca.beats == cb.beats and len(ca.beats) == round(10.0 / GCS_HEARTBEAT_S)
    assert a._next_hb == b._next_hb and a._hb_queue == b._hb_queue
