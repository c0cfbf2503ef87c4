"""The runtime loop's scheduling: absolute deadlines, no catch-up bursts,
missed ticks counted and seen by the core's loop watchdog, I/O serviced
between ticks from select, clock slip for simulated worlds."""
from __future__ import annotations

import socket
import threading
import time

import pytest

from edgepilot.onboard.loop import RuntimeLoop, ScaledClock, wait_readable


class FakeTime:
    """A wall clock that only moves when the loop waits or a step 'works'."""

    def __init__(self):
        self.now = 100.0
        self.io_at: list[float] = []      # wall times when a descriptor becomes readable

    def wall(self) -> float:
        return self.now

    def wait(self, fds, timeout):
        end = self.now + max(timeout, 0.0)
        pending = [t for t in self.io_at if t <= end]
        if fds and pending:
            self.now = max(self.now, min(pending))
            self.io_at.remove(min(pending))
            return True
        self.now = end
        return False


def make_loop(ft, rate=50.0, work=None, late="skip", speedup=1.0, **kw):
    ticks, polls, overruns = [], [], []
    work = work or {}

    def step(t, dt):
        ticks.append((t, dt, ft.now))
        ft.now += work.get(len(ticks) - 1, 0.003)     # each tick costs 3 ms unless told otherwise

    loop = RuntimeLoop(step, lambda t: polls.append((t, ft.now)), rate, ScaledClock(speedup, wall=ft.wall),
                       fds=lambda: [7], late=late, wait=ft.wait,
                       on_overrun=lambda t, lag, n: overruns.append((t, lag, n)), **kw)
    return loop, ticks, polls, overruns


def test_ticks_stay_on_absolute_deadlines_despite_work_per_tick():
    ft = FakeTime()
    loop, ticks, _, _ = make_loop(ft)
    loop.run(until=1.0)
    assert len(ticks) == 50
    starts = [t for t, _, _ in ticks]
    # next = prev + period, not now + period: 3 ms of work per tick does not drift the schedule.
    assert starts == pytest.approx([k * 0.02 for k in range(50)], abs=1e-9)
    assert loop.stats.missed == 0 and loop.stats.overruns == 0
    tm = loop.stats.timing(loop.dt)
    assert tm["jitter_ms"]["max"] < 1e-6 and tm["work_ms"]["p50"] == pytest.approx(3.0 + 0.0, abs=1e-6)


def test_a_stall_runs_one_late_tick_skips_the_missed_ones_and_reports_them():
    ft = FakeTime()
    loop, ticks, _, overruns = make_loop(ft, work={5: 0.075})    # tick 5 (t = 0.10) takes 75 ms
    loop.run(until=0.4)
    starts = [t for t, _, _ in ticks]
    # Tick 5 ends at 0.175: deadlines 0.12, 0.14, 0.16 passed.  One late
    # tick runs at once (at the measured time), no burst, then back on the grid.
    assert starts[5] == pytest.approx(0.10)
    assert starts[6] == pytest.approx(0.175)
    assert starts[7] == pytest.approx(0.18)
    assert all(b - a > 0.004 for a, b in zip(starts, starts[1:])), "back-to-back catch-up ticks"
    # 0.12 and 0.14 are skipped; the late tick stands in for 0.16.
    assert loop.stats.missed == 2 and loop.stats.overruns == 1
    assert len(overruns) == 1 and overruns[0][2] == 2 and overruns[0][1] == pytest.approx(0.055)
    # The step is told the real time since the previous tick.
    assert ticks[6][1] == pytest.approx(0.075)
    assert loop.stats.worst_lag_s == pytest.approx(0.055)


def test_the_cores_loop_watchdog_sees_the_measured_gap():
    from edgepilot.sim.scenario import load_scenario
    from edgepilot.sim.simulation import Simulation
    from edgepilot.vehicle.types import SensorFrame

    core = Simulation(load_scenario("ugv_yard")).make_core()
    ft = FakeTime()
    mx = core.params.get("FS_LOOP_MAX")
    rate = core.cfg.control.rate_hz
    stall_at = 10

    def step(t, dt):
        core.step(t, SensorFrame(t))
        ft.now += (mx + 0.3) if len(core_ticks) == stall_at else 0.002
        core_ticks.append(t)

    core_ticks: list[float] = []
    loop = RuntimeLoop(step, lambda t: None, rate, ScaledClock(wall=ft.wall), wait=ft.wait)
    loop.run(until=3.0)
    wd = core.safety.watchdog
    assert wd.overruns == 1
    assert wd.worst_gap == pytest.approx(mx + 0.3, abs=1e-6)
    # Deadlines passed during the stall, less the one the late tick stands in for.
    assert abs(loop.stats.missed - round((mx + 0.3 - 1.0 / rate) * rate)) <= 1


def test_io_is_serviced_between_ticks_when_a_descriptor_is_readable():
    ft = FakeTime()
    loop, ticks, polls, _ = make_loop(ft)
    ft.io_at = [100.0 + 0.031, 100.0 + 0.0335]
    loop.run(until=0.1)
    # Both arrivals serviced when they happen (the second 0.5 ms after the
    # first, inside min_io_gap: it waits out the gap, then wakes for it).
    assert [w for _, w in polls if 100.03 < w < 100.04] == pytest.approx([100.031, 100.0335])
    assert [t for t, _, _ in ticks] == pytest.approx([0.0, 0.02, 0.04, 0.06, 0.08])
    assert loop.stats.io_wakeups == 2


def test_low_rates_still_poll_io_every_max_poll_interval():
    ft = FakeTime()
    loop, ticks, polls, _ = make_loop(ft, rate=2.0, max_poll_interval=0.05)
    loop.run(until=1.0)
    walls = [w for _, w in polls]
    assert len(ticks) == 2
    assert max(b - a for a, b in zip(walls, walls[1:])) <= 0.05 + 1e-9


def test_slip_holds_a_simulated_clock_back_instead_of_skipping():
    ft = FakeTime()
    loop, ticks, polls, overruns = make_loop(ft, late="slip", speedup=4.0, work={3: 0.05})   # 50 ms wall = 0.2 s vehicle
    loop.run(until=1.0)
    starts = [t for t, _, _ in ticks]
    assert starts == pytest.approx([k * 0.02 for k in range(50)], abs=1e-9)   # every tick, on the grid
    # I/O is never stamped ahead of the world: not even the poll right after
    # the slow tick (at vehicle 0.26 s by the clock, the world at 0.08 s).
    stamps = [t for t, _ in polls]
    assert stamps == sorted(stamps) and max(stamps) <= starts[-1] + 0.02 + 1e-9
    assert all(t <= next(s for s in starts[1:] + [1.0] if s >= t) + 1e-9 for t in stamps)
    slow_end = ticks[3][2] + 0.05                      # wall time the slow tick's work ended
    assert next(t for t, w in polls if w >= slow_end) == pytest.approx(0.08)
    assert all(dt == pytest.approx(0.02) for _, dt, _ in ticks)
    assert loop.stats.missed >= 1 and len(overruns) == 1
    assert loop.stats.missed == 9
    # Wall time: the last tick at vehicle 0.98 s (0.245 s of wall at 4x), plus
    # the 0.18 s of vehicle time the world waited (0.045 s wall), plus its work.
    assert ft.now - 100.0 == pytest.approx(0.245 + 0.045 + 0.003, abs=1e-9)


def test_real_select_wakes_for_a_socket_and_does_not_spin_on_it():
    a, b = socket.socketpair()
    try:
        polls: list[float] = []
        ticks: list[float] = []
        clock = ScaledClock()
        loop = RuntimeLoop(lambda t, dt: ticks.append(t), lambda t: polls.append(time.monotonic()), 5.0, clock,
                           fds=lambda: [a.fileno()], min_io_gap=0.002)
        loop.run_once()                       # tick 0 at t = 0
        sent = {}

        def send():
            time.sleep(0.03)
            sent["t"] = time.monotonic()
            b.send(b"x")                      # never read: the descriptor stays readable

        th = threading.Thread(target=send)
        th.start()
        loop.run(should_stop=lambda: clock.now() > 0.15)
        th.join()
        late = [p - sent["t"] for p in polls if p >= sent["t"]]
        assert late and late[0] < 0.02, "readable socket not serviced promptly"
        # ~0.12 s readable with a 2 ms floor between I/O wake-ups: bounded, not a busy loop.
        assert loop.stats.io_wakeups <= 0.15 / 0.002 + 5
        assert len(ticks) == 1
    finally:
        a.close()
        b.close()


def test_wait_readable_times_out_without_descriptors():
    t0 = time.monotonic()
    assert wait_readable([], 0.01) is False
    assert time.monotonic() - t0 >= 0.009


def test_bad_arguments_name_the_field():
    clock = ScaledClock()
    with pytest.raises(ValueError, match="rate_hz"):
        RuntimeLoop(lambda t, dt: None, lambda t: None, 0.0, clock)
    with pytest.raises(ValueError, match="late"):
        RuntimeLoop(lambda t, dt: None, lambda t: None, 10.0, clock, late="catch-up")
    with pytest.raises(ValueError, match="speedup"):
        ScaledClock(0.0)


def test_timing_restarts_after_warm_up():
    ft = FakeTime()
    loop, _, _, _ = make_loop(ft, work={2: 0.033})     # tick 2 (0.04) ends at 0.073: tick 3 is 13 ms late
    loop.run(until=0.1)
    assert loop.stats.timing(loop.dt)["late_ms"]["max"] == pytest.approx(13.0, abs=1e-6)
    loop.measure_from_next_tick()
    loop.run(until=0.3)
    tm = loop.stats.timing(loop.dt)
    assert tm["ticks"] == 10
    assert tm["late_ms"]["max"] == pytest.approx(0.0, abs=1e-6)
