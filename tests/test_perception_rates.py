"""Perception rate manager: own rates, stale flags."""
import math

import pytest

from edgepilot.vehicle.perception.rates import RateManager, SensorStatus


def test_each_sensor_at_its_rate_and_stale_flags():
    rm = RateManager(start_t=0.0)
    rm.add("lidar", 10.0)
    rm.add("camera", 30.0, process_hz=5.0)
    rm.add("gps", 5.0, stale_after=1.0)
    processed = {"lidar": 0, "camera": 0}
    t = 0.0
    for k in range(300):                       # 3 s at 100 Hz ticks
        t = k * 0.01
        if k % 10 == 0:
            rm.arrived("lidar", t)
        if k % 3 == 0:
            rm.arrived("camera", t)
        if k % 20 == 0 and t < 1.0:            # gps stops after 1 s
            rm.arrived("gps", t)
        for name in processed:
            processed[name] += rm.should_process(name, t)
    assert processed["lidar"] == 30                  # every scan
    assert 14 <= processed["camera"] <= 16            # 5 Hz of a 30 Hz camera
    st = rm.status(t)
    assert st["lidar"].rate_hz == pytest.approx(10.0, rel=0.05)
    assert st["camera"].rate_hz == pytest.approx(33.3, rel=0.05)
    assert not st["lidar"].stale and not st["camera"].stale
    assert st["gps"].stale and st["gps"].age == pytest.approx(t - 0.8)
    assert rm.stale(t) == ["gps"]


def test_never_heard_sensor_goes_stale_after_its_window():
    rm = RateManager(start_t=10.0)
    rm.add("lidar", 10.0)
    assert rm.stale(10.2) == []
    assert rm.stale(10.3) == ["lidar"]
    assert math.isinf(rm.status(10.3)["lidar"].age)
    assert not rm.should_process("lidar", 10.3)


def test_bad_input():
    rm = RateManager()
    with pytest.raises(ValueError, match="rate_hz"):
        rm.add("lidar", 0.0)
    rm.add("lidar", 10.0)
    with pytest.raises(ValueError, match="already declared"):
        rm.add("lidar", 10.0)
    with pytest.raises(KeyError, match="unknown sensor 'radar'"):
        rm.arrived("radar", 1.0)
    rm.arrived("lidar", 1.0)
    with pytest.raises(ValueError, match="before the previous"):
        rm.arrived("lidar", 0.5)


def test_set_stale_after_all_sets_every_sensor_and_notices_changes_between_calls():
    rm = RateManager(start_t=0.0)
    rm.add("lidar", 10.0)
    rm.add("camera", 30.0)
    rm.set_stale_after_all(1.5)
    assert [rm._get(n).stale_after for n in ("lidar", "camera")] == [1.5, 1.5]
    assert rm.stale(1.4) == [] and sorted(rm.stale(1.6)) == ["camera", "lidar"]
    # one sensor changed on its own, then the same value for all again: it is reset too
    rm.set_stale_after("lidar", 9.0)
    rm.set_stale_after_all(1.5)
    assert rm._get("lidar").stale_after == 1.5
    # a sensor added after the last call gets the value on the next one
    rm.add("gps", 5.0)
    rm.set_stale_after_all(1.5)
    assert rm._get("gps").stale_after == 1.5
    # bad values still raise, also right after a good one was set
    for bad in (math.nan, 0.0, -1.0, math.inf):
        with pytest.raises(ValueError, match="stale_after must be a positive number"):
            rm.set_stale_after_all(bad)
    rm.set_stale_after_all(2.0)
    assert {rm._get(n).stale_after for n in ("lidar", "camera", "gps")} == {2.0}


def test_warm_kernels_runs_every_kernel():
    from edgepilot.sim.sensors.lidar import warm_kernels as warm_lidar
    from edgepilot.vehicle.perception import _kernels, warm_kernels

    warm_kernels()
    warm_lidar()
    from edgepilot.vehicle.perception._clearing_kernels import clear_seen_free_kernel

    for k in (_kernels.integrate_scan_kernel, _kernels.trace_cells_kernel, _kernels.prob_kernel,
              _kernels.decode_logodds_kernel, _kernels.clear_stamps_kernel,
              _kernels.clear_stamps_box_kernel, clear_seen_free_kernel):
        assert k.signatures, k.__name__           # compiled (or loaded from the cache)


def test_sensor_status_is_built_as_the_frozen_dataclass_builds_it():
    """SensorStatus (one per sensor every tick) stores its fields straight
    into the instance dict (types.direct_init): the same object as the
    dataclass's own __init__ gives, still frozen."""
    import dataclasses

    ref = dataclasses.make_dataclass("SensorStatus", [(f.name, f.type) for f in dataclasses.fields(SensorStatus)],
                                     frozen=True)
    args = ("lidar", 0.05, False, 9.9, 10.0, 7)
    got = SensorStatus(*args)
    assert list(vars(got).items()) == list(vars(ref(*args)).items())
    assert got == SensorStatus(**dict(zip([f.name for f in dataclasses.fields(SensorStatus)], args)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.age = 1.0
    with pytest.raises(TypeError):
        SensorStatus(*args[:-1])
    r = RateManager()
    r.add("lidar", 10.0)
    r.arrived("lidar", 0.1)
    r.arrived("lidar", 0.2)
    st = r.status(0.25)["lidar"]
    assert type(st) is SensorStatus
    assert list(vars(st).items()) == list(vars(ref("lidar", 0.25 - 0.2, False, 1.0 / (0.2 - 0.1), 10.0, 2)).items())


def test_status_values_are_the_plain_formulas():
    """age = max(0, now - last) (inf before any sample), stale = now - last
    (or start) > stale_after, rate = 1 / mean period (0 before two)."""
    rm = RateManager(start_t=1.0)
    rm.add("lidar", 10.0)
    for last, now in [(None, 1.1), (None, 1.3), (1.2, 1.25), (1.2, 1.1), (1.3, 1.3), (1.4, 1.9), (1.5, math.nan)]:
        if last is not None:
            rm.arrived("lidar", last)
        s = rm._s["lidar"]
        st = rm.status(now)["lidar"]
        ref = rm.start_t if s.last is None else s.last
        want = (math.inf if s.last is None else max(0.0, now - s.last), now - ref > s.stale_after,
                0.0 if not s.period_avg else 1.0 / s.period_avg)
        assert (st.age, st.stale, st.rate_hz) == want or (math.isnan(now) and st.age == 0.0 and not st.stale)
        assert type(st.age) is float and type(st.rate_hz) is float
