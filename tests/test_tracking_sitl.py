"""Lidar tracks in the core: ``core.tracks`` each tick, moving objects kept
out of the static costmap, and the give-way rule that keeps a UGV clear of
a person crossing its path."""
import math

import numpy as np
import pytest

from edgepilot.sim.lockstep import run_lockstep
from edgepilot.sim.scenario import load_scenario
from edgepilot.sim.simulation import PHYSICS_DT, Simulation
from edgepilot.vehicle.config import load_vehicle_config
from edgepilot.vehicle.perception.front import Perception
from edgepilot.vehicle.perception.tracking import Track
from edgepilot.vehicle.types import VehicleState
from edgepilot import configs_dir


def test_vehicle_gives_way_to_the_crossing_person_and_passes():
    res = run_lockstep(load_scenario("ugv_moving_person"))
    assert res.passed, res.reasons
    gw = [e for e in res.events if e.kind == "give_way"]
    assert gw and gw[0].text.startswith("Giving way") and gw[-1].text.startswith("Moving object clear")
    assert not any(e.kind == "failsafe" for e in res.events)      # planning, not a failsafe, kept it clear
    # it stood still while yielding
    t0, t1 = gw[0].t, gw[-1].t
    during = (res.track[:, 0] > t0 + 1.0) & (res.track[:, 0] < t1)
    assert during.any() and res.track[during, 4].max() < 0.1


def test_without_giving_way_the_same_run_hits_the_person():
    sc = load_scenario("ugv_moving_person")
    sc = sc.model_copy(update={"params": {**sc.params, "AVOID_MOVERS": 0.0},
                               "criteria": sc.criteria.model_copy(update={"max_time_s": 14.0})})
    res = run_lockstep(sc)
    assert any("collision with the crossing person" in r for r in res.reasons)


def _person(t):
    return 15.0, 8.6 + 0.8 * (t - 1.0)


def test_core_tracks_follow_the_person_in_the_map_frame_and_leave_no_phantom_wall():
    sim = Simulation(load_scenario("ugv_moving_person"))
    core = sim.make_core()               # not armed: the vehicle stands at (4, 15) facing east
    seen = []
    for k in range(int(12.0 / 0.05)):
        t = 0.05 * k
        core.step(t, sim.sensors(t))
        for _ in range(5):
            sim.step(PHYSICS_DT, core.last_command)
        # confirmed movers (bits of the world's boundary wall are static tracks)
        movers = [tr for tr in core.tracks if tr.confirmed and tr.speed > 0.3]
        if 3.0 < t < 11.0:
            assert len(movers) == 1, (t, movers)
            seen.append((t, movers[0]))
    assert all(isinstance(tr, Track) for _, tr in seen)
    assert len({tr.id for _, tr in seen}) == 1                     # one identity throughout
    for t, tr in seen[20:]:
        px, py = _person(tr.t)
        assert math.hypot(tr.x - px, tr.y - py) < 0.3
        assert (tr.vx, tr.vy) == pytest.approx((0.0, 0.8), abs=0.2)
        assert tr.cov.shape == (4, 4)
    # the walk from y = 9 to 17 m left no lethal cells behind in the costmap
    for y in np.arange(9.0, 17.0, 0.25):
        assert np.isfinite(core.planning.weights[core.planning.cell(15.0, y)]), y
    st = core.perception.status(core.now)["lidar"]
    assert st.rate_hz == pytest.approx(10.0, rel=0.05) and not st.stale


CFG = load_vehicle_config(configs_dir() / "vehicles" / "ugv_lidar.toml")


def _state(t, x=0.0, y=0.0):
    return VehicleState(t, x, y, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.05, True)


def _mover(x, y, vx, vy, t=0.0, confirmed=True, hits=20):
    return Track(1, t, x, y, vx, vy, np.eye(4) * 0.01, 0.3, confirmed, hits, 0)


PATH = np.array([[0.0, 0.0], [20.0, 0.0]])


def test_give_way_only_for_a_predicted_crossing():
    p = Perception(CFG, None)
    # crossing 4 m ahead, arriving when the vehicle would: yield
    p.tracks = [_mover(4.0, -3.0, 0.0, 1.0)]
    assert p.give_way(_state(0.0), PATH, 0.0, 1.2) is not None
    # the same walker already past the path and moving away: no yield
    p2 = Perception(CFG, None)
    p2.tracks = [_mover(4.0, 2.5, 0.0, 1.0)]
    assert p2.give_way(_state(0.0), PATH, 0.0, 1.2) is None
    # walking alongside, 3 m off the path: no yield
    p2.tracks = [_mover(2.0, 3.0, 1.2, 0.0)]
    assert p2.give_way(_state(0.0), PATH, 0.0, 1.2) is None
    # a standing object or a tentative track is not a mover
    p2.tracks = [_mover(4.0, 0.0, 0.0, 0.1), _mover(4.0, -3.0, 0.0, 1.0, confirmed=False)]
    assert p2.give_way(_state(0.0), PATH, 0.0, 1.2) is None


def test_give_way_clears_only_after_the_way_stays_clear():
    p = Perception(CFG, None, clear_s=0.5)
    p.tracks = [_mover(4.0, -3.0, 0.0, 1.0)]
    assert p.give_way(_state(0.0), PATH, 0.0, 1.2) is not None
    p.tracks = []
    assert p.give_way(_state(0.3), PATH, 0.0, 1.2) is not None      # clear for 0.3 s only
    assert p.give_way(_state(0.8), PATH, 0.0, 1.2) is None


def test_cells_of_moving_or_unsettled_objects_are_held_back():
    p = Perception(CFG, None)
    pts = np.array([[5.0, 5.0], [5.0, 3.6], [5.0, 1.0], [9.0, 9.0]])
    p.tracks = [_mover(5.0, 5.0, 0.0, 0.8)]          # swept path y 3.4..5 over the last 2 s
    assert p._near_unsettled_tracks(pts).tolist() == [True, True, False, False]
    p.tracks = [_mover(9.0, 9.0, 0.0, 0.0, confirmed=False)]
    assert p._near_unsettled_tracks(pts).tolist() == [False, False, False, True]
    p.tracks = [_mover(9.0, 9.0, 0.0, 0.0, hits=4)]  # confirmed, standing, but seen for 0.4 s only
    assert p._near_unsettled_tracks(pts).tolist() == [False, False, False, True]
    p.tracks = [_mover(9.0, 9.0, 0.0, 0.0)]          # confirmed, settled and standing: a static obstacle
    assert not p._near_unsettled_tracks(pts).any()


def _same_tracks(a, b):
    assert len(a) == len(b)
    for p, q in zip(a, b):
        assert vars(p).keys() == vars(q).keys()
        for k, v in vars(p).items():
            assert (np.array_equal(v, vars(q)[k]) if k == "cov" else v == vars(q)[k] and type(v) is type(vars(q)[k]))


def test_front_reads_the_trackers_arrays_as_it_reads_track_objects():
    """The front keeps the tracker's latest scan as arrays (``tracks``
    built on first read) and holds back cells / gives way from them: the
    same answers as from the Track objects given to ``tracks``, tick by
    tick of a person walking across the path of a standing vehicle."""
    from edgepilot.vehicle.perception.tracking import MultiObjectTracker

    sim = Simulation(load_scenario("ugv_moving_person"))
    core = sim.make_core()
    p = core.perception
    rng = np.random.default_rng(0)
    path = np.array([[4.0, 15.0], [10.0, 15.0], [16.0, 14.0], [30.0, 15.0]])
    held = yielded = 0
    for k in range(int(11.0 / 0.05)):
        t = 0.05 * k
        core.step(t, sim.sensors(t))
        for _ in range(5):
            sim.step(PHYSICS_DT, core.last_command)
        if not p._tracked:
            continue
        assert p._tracks is None or k % 2          # a scan left them to be built on first read
        tracks = p.tracks
        assert p.tracks is tracks                  # built once
        _same_tracks(tracks, p.tracker.tracks())
        given = Perception(CFG, None)
        given.tracks = list(tracks)                # the Track objects' way
        assert not given._tracked
        pts = np.column_stack((rng.uniform(12.0, 18.0, 60), rng.uniform(8.0, 18.0, 60)))
        a, b = p._hold_back(pts), given._hold_back(pts)
        assert np.array_equal(a[0], b[0]) and a[1] == b[1]
        held += a[1]
        for speed in (0.0, 1.0, 2.0):
            st = VehicleState(core.now, 10.0, 15.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.05, True)
            hit = p._conflict(st, path, 6.0, speed)
            assert hit is given._conflict(st, path, 6.0, speed)      # the very Track of p.tracks
            yielded += hit is not None
        assert [m is n for m, n in zip(p.moving_tracks(), given.moving_tracks())] == [True] * len(given.moving_tracks())
        p.min_moving_speed = given.min_moving_speed = 1.0     # picked again: the walker (0.8 m/s) is no mover
        assert p._conflict(st, path, 6.0, 2.0) is given._conflict(st, path, 6.0, 2.0) is None
        p.min_moving_speed = given.min_moving_speed = 0.3
    assert held > 20 and yielded > 10
    # the tracker's update() is advance() then tracks(); rows() what tracks() is built from
    a, b = MultiObjectTracker(), MultiObjectTracker()
    det = np.array([[1.0, 2.0, 0.3], [4.0, -1.0, 0.5]])
    for k in range(5):
        out = a.update(0.1 * k, det + 0.05 * k)
        assert b.advance(0.1 * k, det + 0.05 * k) is None
        _same_tracks(out, b.tracks())
    floats, ints = b.rows()
    assert [[tr.t, tr.x, tr.y, tr.vx, tr.vy, tr.radius] for tr in out] == floats
    assert [[tr.id, tr.hits, tr.misses, int(tr.confirmed)] for tr in out] == ints


def test_a_given_tracks_list_is_read_until_the_next_scan():
    p = Perception(CFG, None)
    assert p.tracks == [] and not p._tracked
    p.tracks = [_mover(4.0, -3.0, 0.0, 1.0)]
    assert p.give_way(_state(0.0), PATH, 0.0, 1.2) is p.tracks[0]
    p.min_moving_speed = 1.5                        # read every time: the walker is no mover now
    p.yielding = None
    assert p.give_way(_state(0.0), PATH, 0.0, 1.2) is None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_track_shapes_kernel_equals_the_plain_rules(seed):
    """The front's hold-back rows and movers of the tracker's arrays
    (track_shapes_kernel) are those of the plain rules over the same tracks
    given as Track objects, bit for bit: speeds far from, a few ulp from
    and at min_moving_speed (the kernel leaves those to the plain rule),
    NaN and infinite velocities and positions, tentative and unsettled
    tracks, a min_moving_speed of 0 or NaN."""
    from edgepilot.vehicle.perception._kernels import track_shapes_kernel
    from edgepilot.vehicle.perception.tracking import MultiObjectTracker

    rng = np.random.default_rng(seed)
    odd = [math.nan, math.inf, -math.inf, 0.0, -0.0, 1e-200, 1e200]
    decided = undecided = 0
    for _ in range(400):
        n = int(rng.integers(0, 9))
        moving = float(rng.choice([0.3, 0.3, 1.0, 1e-3, 0.0, math.nan]))
        f = np.column_stack((rng.uniform(0.0, 10.0, n), rng.uniform(-20.0, 20.0, (n, 2)),
                             rng.normal(size=(n, 2)) * 10.0 ** rng.integers(-2, 2, (n, 1)), rng.uniform(0.1, 1.0, n)))
        for k in range(n):
            u = rng.random()
            if u < 0.3:                 # the speed at or a few ulp from the threshold
                a = float(rng.uniform(0.0, 2.0 * math.pi))
                f[k, 3], f[k, 4] = moving * math.cos(a), moving * math.sin(a)
                if rng.random() < 0.3:
                    f[k, 3], f[k, 4] = moving, 0.0
                for _ in range(int(rng.integers(0, 4))):
                    f[k, 3] = np.nextafter(f[k, 3], math.inf if rng.random() < 0.5 else -math.inf)
            elif u < 0.45:
                f[k, int(rng.integers(1, 6))] = float(rng.choice(odd))
        ints = np.column_stack((np.arange(1, n + 1), rng.integers(0, 20, n), rng.integers(0, 3, n),
                                rng.integers(0, 2, n)))
        tr = MultiObjectTracker()
        tr._alloc(max(n, 1))
        tr._f[:n], tr._i[:n], tr._n = f, ints, n
        p, given = Perception(CFG, None), Perception(CFG, None)
        for q in (p, given):
            q.min_moving_speed = moving
            q.settle_hits = int(rng.integers(0, 15)) if q is p else p.settle_hits
            q.margin_m = float(rng.uniform(0.0, 1.0)) if q is p else p.margin_m
        p.tracker, p._tracked = tr, True
        given.tracks = tr.tracks()                 # the plain rules' way
        hold, movers = p._track_shapes()
        want_hold, want_movers = given._track_shapes()
        assert hold.shape == want_hold.shape and np.array_equal(hold, want_hold, equal_nan=True)
        assert movers.shape == want_movers.shape and np.array_equal(movers, want_movers, equal_nan=True)
        assert p._moving_rows() is (movers if len(movers) else None)         # kept for give-way
        assert len(movers) == len(given.moving_tracks())
        nh, nm = track_shapes_kernel(tr._f, tr._hits, tr._conf, n, p.margin_m, p.settle_hits, moving,
                                     np.empty((n, 6)), np.empty((n, 6)))
        decided += nh >= 0
        undecided += nh < 0
    assert decided > 100 and undecided > 100


def test_give_way_takes_any_path_of_points():
    """A path array of float64 goes to the kernel as it is; any other form
    (a list, float32, a big-endian or non-contiguous array) is converted:
    the same answer."""
    p = Perception(CFG, None)
    p.tracks = [_mover(4.0, -3.0, 0.0, 1.0)]
    base = np.array([[0.0, 0.0], [3.0, 0.0], [20.0, 0.0]])
    forms = [base, base.tolist(), base.astype(np.float32), base.astype(">f8"),
             np.asfortranarray(base), np.column_stack((base, base))[:, :2], base.ravel()]
    for speed, want in ((1.2, True), (0.0, False), (4.0, False)):
        got = [p._conflict(_state(0.0), f, 0.0, speed) is not None for f in forms]
        assert got == [want] * len(forms), speed


def test_a_tick_without_scan_gives_no_points():
    from edgepilot.vehicle.types import SensorFrame

    p = Perception(CFG, None)
    frame = SensorFrame(0.0)
    for k in range(3):
        out = p.process(0.05 * k, frame, _state(0.05 * k))
        assert out.shape == (0, 2) and out.dtype == np.float64
