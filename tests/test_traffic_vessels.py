"""Simulated traffic: routes, rule-following reactions, sudden turns and
the AIS it transmits (rates, dropouts, outages, noise, corruption)."""
import math

import numpy as np
import pytest
from pydantic import ValidationError

from edgepilot.firmware_bridge.ais import AisDecoder
from edgepilot.sim.traffic import Traffic, TrafficVesselSpec
from edgepilot.vehicle.geo import LocalFrame

F = LocalFrame(54.4, 10.2)


def spec(**kw):
    base = dict(name="ship", mmsi=211000001, waypoints=[(0.0, 0.0), (1000.0, 0.0)], speed=2.0)
    base.update(kw)
    return TrafficVesselSpec(**base)


def run(specs, seconds, own=None, seed=0, step=1.0):
    tr = Traffic(specs, F, np.random.default_rng(seed))
    dec = AisDecoder()
    reports = []
    for t in np.arange(0.0, seconds + 1e-9, step):
        tr.advance(t, own(t) if callable(own) else own)
        reports += dec.feed(tr.ais_bytes(t), t)
    return tr, dec, reports


def test_route_following_at_speed_and_ais_at_its_rate_with_noise():
    tr, dec, reps = run([spec(ais_interval_s=3.0, ais_position_noise_m=2.0)], 60.0)
    v = tr.vessels[0]
    assert v.x == pytest.approx(120.0, abs=0.5) and abs(v.y) < 1e-6
    pos = [r for r in reps if r.lat is not None]
    assert 17 <= len(pos) <= 23               # every 3 s +-10 % over 60 s
    xy = np.array([F.to_local(r.lat, r.lon) for r in pos])
    truth_x = 2.0 * np.array([r.t for r in pos])
    err = np.hypot(xy[:, 0] - truth_x, xy[:, 1])
    assert 0.3 < np.median(err) < 5.0         # noisy, but about 2 m
    assert all(r.sog == pytest.approx(2.0, abs=0.06) for r in pos)
    assert any(r.name == "SHIP" and r.length == 12.0 for r in reps)


def test_outage_loss_and_corruption():
    s = spec(ais_interval_s=2.0, ais_outages=[(20.0, 40.0)], ais_loss=0.3, ais_corrupt=0.2)
    _, dec, reps = run([s], 100.0, seed=3)
    ts = np.array([r.t for r in reps if r.lat is not None])
    assert not ((ts > 20.5) & (ts < 40.0)).any()
    assert 15 < len(ts) < 35                   # 40 slots outside the outage, ~30 % lost, some garbled
    assert dec.counters.bad_checksum > 0


def test_colregs_vessel_gives_way_to_starboard_and_route_vessel_does_not():
    # Head-on: we sit on its route 300 m ahead, heading west at 1.5 m/s towards it.
    own = lambda t: (300.0 - 1.5 * t, 0.0, math.pi, -1.5, 0.0)
    for behaviour, turns in (("colregs", True), ("route", False)):
        tr, _, _ = run([spec(behaviour=behaviour)], 40.0, own=own, step=0.1)
        v = tr.vessels[0]
        assert (v.y < -10.0) is turns, behaviour   # starboard of an eastbound ship = south


def test_sudden_turn():
    tr, _, _ = run([spec(turn_at_s=10.0, turn_deg=90.0)], 40.0, step=0.1)
    v = tr.vessels[0]
    assert v.yaw == pytest.approx(-math.pi / 2, abs=0.01) and v.y < -30


def test_spec_validation_names_the_field():
    with pytest.raises(ValidationError, match="mmsi"):
        spec(mmsi=12)
    with pytest.raises(ValidationError, match="ais_outages"):
        spec(ais_outages=[(50.0, 10.0)])
    with pytest.raises(ValueError, match="its own mmsi"):
        Traffic([spec(), spec(name="b")], F, np.random.default_rng(0))
