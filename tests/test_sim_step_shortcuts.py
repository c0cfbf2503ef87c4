"""The per-step shortcuts of the simulator and the fleet loop give what
the plain forms gave: the fleet's finished test, the battery's clamp at
empty, the ground station's heartbeats when ``_gcs`` is called only
when one is due or queued, the world's truth changing when an obstacle
appears, the clearance monitor's minimum and the separation log."""
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


def test_simulation_step_rebuilds_the_world_when_an_obstacle_appears():
    """``Simulation.step`` rebuilds its world (``SimWorld.rebuild`` does
    nothing inside its ``stable`` window): the truth changes at the first
    step at or past the appearance time (ugv_replan's wall at 6 s), as a
    world rebuilt by hand at every step."""
    from edgepilot.sim.scenario import load_scenario
    from edgepilot.sim.simulation import PHYSICS_DT, Simulation
    from edgepilot.sim.world import SimWorld

    sc = load_scenario("ugv_replan")
    sim = Simulation(sc)
    plain = SimWorld(sc)
    first = sim.world.truth
    changed_at = None
    while sim.t < 6.5:
        sim.step(PHYSICS_DT)
        assert plain.rebuild(sim.t) == (sim.world.truth is not first and changed_at is None)
        if sim.world.truth is not first and changed_at is None:
            changed_at = sim.t
        assert (plain.truth.occupied == sim.world.truth.occupied).all()
    assert changed_at is not None and 6.0 <= changed_at < 6.0 + PHYSICS_DT
    assert plain.stable == sim.world.stable == (6.0, math.inf)


class _PlainMonitor:
    """``ClearanceMonitor`` before the shortcuts (``min``)."""

    def __init__(self):
        self.collisions, self.points, self.min_clearance, self._in_collision = 0, [], math.inf, False

    def sample(self, sim):
        clear, hit = sim.clearance()
        if hit and not self._in_collision:
            self.collisions += 1
            self.points.append((sim.truth.x, sim.truth.y))
        self._in_collision = hit
        self.min_clearance = min(self.min_clearance, clear)
        return clear, hit


def test_clearance_monitor_equals_the_plain_form():
    """Samples with ties, signed zeros, NaN, infinities and collisions:
    the same minimum (the same float object: ``min`` keeps the first of
    equals), collisions and points."""
    from edgepilot.sim.criteria import ClearanceMonitor

    values = [(3.0, False), (2.0, False), (2.0, False), (0.0, True), (0.0, True), (-0.0, False), (0.0, False),
              (math.nan, False), (1.0, False), (math.inf, False), (0.0, True), (0.5, False), (0.0, True)]
    for start in range(len(values)):
        seq = values[start:] + values[:start]
        fast, plain = ClearanceMonitor(), _PlainMonitor()
        for k, (c, hit) in enumerate(seq):
            sim = SimpleNamespace(clearance=lambda c=c, hit=hit: (c, hit), truth=SimpleNamespace(x=k, y=-k))
            assert repr(fast.sample(sim)) == repr(plain.sample(sim))
            assert repr(fast.min_clearance) == repr(plain.min_clearance)
        assert (fast.collisions, fast.points) == (plain.collisions, plain.points)


def _plain_separation_sample(log, gap, pair, names, t):
    """``SeparationLog.sample`` before the early out."""
    if pair is None:
        return None
    if gap < log.min_gap_m:
        log.min_gap_m, log.at = gap, (t, names[pair[0]], names[pair[1]])
    now = {pair} if gap <= 0.0 else set()
    new = now - log.touching
    log.touching = now
    if new:
        log.collisions += len(new)
        return names[pair[0]], names[pair[1]]
    return None


def test_separation_log_equals_the_plain_form():
    from edgepilot.sim.fleet.runner import SeparationLog

    names = ["a", "b", "c"]
    gaps = [(3.0, (0, 1)), (math.inf, None), (0.0, (0, 1)), (0.0, (0, 1)), (0.0, (1, 2)), (0.5, (1, 2)),
            (-0.0, (0, 2)), (math.nan, (0, 2)), (0.0, (0, 2)), (2.0, (0, 1)), (1e-300, (1, 2)), (0.0, (1, 2))]
    for start in range(len(gaps)):
        seq = gaps[start:] + gaps[:start]
        fast, plain = SeparationLog(), SeparationLog()
        for k, (gap, pair) in enumerate(seq):
            fw = SimpleNamespace(separation=lambda gap=gap, pair=pair: (gap, pair))
            assert fast.sample(fw, names, 0.1 * k) == _plain_separation_sample(plain, gap, pair, names, 0.1 * k)
            assert repr((fast.min_gap_m, fast.at, fast.collisions, fast.touching)) == \
                repr((plain.min_gap_m, plain.at, plain.collisions, plain.touching))
