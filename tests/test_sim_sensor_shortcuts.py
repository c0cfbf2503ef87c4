"""The simulator's per-sample shortcuts give what the plain forms gave:
the battery's drain with comparisons for abs and its (voltage, remaining)
read once, the GPS model's config terms taken at construction and its
bias-step terms reused for a repeated interval, the lidar's spec values
taken at construction and its range noise drawn as standard normal
draws scaled in the kernel, a raster checked once
(``ScanRaster``, ``Lidar.scan_raster``, ``Simulation._lidar_raster``),
the frame built positionally, the reported obstacles listed once, the
motor link's telemetry period."""
import dataclasses
import itertools
import math

import numpy as np
import pytest

from edgepilot.sim.dynamics import Truth
from edgepilot.sim.sensors.lidar import Lidar, LidarSpec, ScanRaster, _finite_pose, _raster_inputs, _scan_kernel
from edgepilot.sim.sensors.navigation import BatteryModel, GpsModel
from edgepilot.vehicle.config import GpsConfig
from edgepilot.vehicle.geo import LocalFrame
from edgepilot.vehicle.types import GpsFix, LaserScan, SensorFrame

_VALUES = (0.0, -0.0, 0.3, -0.3, 1.0, -1.0, 1e-300, math.nan, math.inf, -math.inf, 2, -2)


def test_battery_step_equals_the_abs_form():
    """Every pair of commands, signed zeros, NaN and infinities included:
    the same energy (value and sign of zero; NaN empties the pack)."""
    for energy in (1000.0, 0.0, 0.001, math.nan):
        for left, right in itertools.product(_VALUES, repeat=2):
            b = BatteryModel()
            b.energy_j = energy
            b.step(0.01, left, right)
            e = energy - (b.idle_w + b.max_motor_w * 0.5 * (abs(left) + abs(right))) * 0.01
            assert repr(b.energy_j) == repr(e if e > 0.0 else 0.0), (energy, left, right)


@pytest.mark.parametrize("energy", [1440000.0, 123.456, 0.0, -0.0, math.nan, math.inf])
def test_battery_levels_equal_the_properties(energy):
    b = BatteryModel()
    b.energy_j = energy
    assert repr(b.levels()) == repr((b.voltage, b.remaining))


def _gps_plain(g: GpsModel, now: float, truth: Truth, state: dict):
    """``GpsModel.sample`` before the shortcuts, on its own copy of the state."""
    if now + 1e-9 < state["next_t"]:
        return None
    state["next_t"] += g.period
    dt = now - state["last_t"]
    state["last_t"] = now
    cfg = g.cfg
    sigma_b = 0.5 * cfg.noise_m
    a = math.exp(-dt / g.BIAS_TAU_S)
    k = math.sqrt(max(1 - a * a, 0.0)) * sigma_b
    z = state["rng"].standard_normal(6 if g.available else 2).tolist()
    state["bx"] = a * state["bx"] + k * z[0]
    state["by"] = a * state["by"] + k * z[1]
    if not g.available:
        return GpsFix(now, 0.0, 0.0, 0, 0, 99.0)
    n0, n1, n2, n3 = z[2:]
    wn = 0.8 * cfg.noise_m
    lat, lon = g.frame.to_geo(truth.x + state["bx"] + wn * n0, truth.y + state["by"] + wn * n1)
    vn = cfg.velocity_noise
    return GpsFix(now, lat, lon, 3, cfg.satellites, max(cfg.noise_m, 0.05), truth.vx + vn * n2, truth.vy + vn * n3)


@pytest.mark.parametrize("noise_m", [0.0, 0.02, 0.05, 1.5])
def test_gps_sample_equals_the_plain_form(noise_m):
    """Regular intervals (repeated dt: the terms reused), ragged ones, a
    zero interval, time going back, a receiver going away and back, NaN
    and infinite times: the same fixes, bias and draws."""
    cfg = GpsConfig(rate_hz=10, noise_m=noise_m, velocity_noise=0.03, satellites=9)
    frame = LocalFrame(52.0, 4.0)
    g = GpsModel(cfg, frame, np.random.default_rng(7))
    state = {"next_t": 0.0, "last_t": 0.0, "bx": 0.0, "by": 0.0, "rng": np.random.default_rng(7)}
    times = [k * 0.01 for k in range(0, 400, 5)] + [4.0, 4.0, 4.05, 3.9, 4.1, 4.3, 4.31, 4.5, 4.7, 4.9]
    times += [5.0 + k * 0.1 for k in range(30)] + [math.nan, 9.0, 9.2, math.inf, 9.4]
    times += [10.0 + 0.5 * k * k / 1000 for k in range(100)]           # more intervals than are kept
    times += [(10 * k) * 0.01 for k in range(200, 600)]                 # the fleet's clock: a few ulps apart
    for i, now in enumerate(times):
        g.available = not (40 <= i < 55)
        if math.isinf(now) or math.isnan(now) or i >= 130:
            g.next_t = state["next_t"] = -1.0       # due whatever the time
        tr = Truth(0.1 * i, -0.05 * i, 0.3, 0.5, -0.2)
        got, want = g.sample(now, tr), _gps_plain(g, now, tr, state)
        assert repr(got) == repr(want), (i, now)
        assert repr((g._bx, g._by, g.next_t, g.last_t)) == repr((state["bx"], state["by"], state["next_t"],
                                                                  state["last_t"]))
    assert g.rng.random() == state["rng"].random()
    assert len(g._bias_terms) == 64
    with pytest.raises(AttributeError):
        g.cfg = cfg                                   # read-only: the terms taken from it cannot go stale


def _scan_plain(lid: Lidar, t, vehicle_pose, occupied, resolution, origin, circles=None, distance=None):
    """``Lidar.scan`` before the shortcuts (with ``sensor_pose`` as it was,
    the noise drawn by ``Generator.normal``)."""
    sp = lid.spec
    lid._next_t = max(lid._next_t + 1.0 / sp.rate_hz, t)
    occ, dist, circ = _raster_inputs(occupied, resolution, circles, distance, sp.max_range)
    x, y, yaw = vehicle_pose
    c, s = math.cos(yaw), math.sin(yaw)
    pose = (x + c * sp.mount_x - s * sp.mount_y, y + s * sp.mount_x + c * sp.mount_y, yaw + sp.mount_yaw)
    px, py, yaw = _finite_pose(pose)
    n = lid._angles.size
    noise = lid.rng.normal(0.0, sp.noise_std, n) if sp.noise_std > 0 else np.zeros(0)
    drop = lid.rng.random(n) if sp.dropout > 0 else np.zeros(0)
    r = np.empty(n, np.float32)
    # (the kernel adds 0.0 + noise_std * z: with noise_std 1 and z the normal() draws, those draws)
    _scan_kernel(occ, dist, float(resolution), float(origin[0]), float(origin[1]), circ, px, py, yaw,
                 lid._angles, lid._cos_a, lid._sin_a, float(sp.max_range), float(sp.min_range), 1.0, noise, drop,
                 float(sp.dropout), r)
    return LaserScan(t=float(t), angle_min=lid._angle_min, angle_increment=lid._angle_increment,
                     max_range=sp.max_range, ranges=r)


@pytest.mark.parametrize("scale", [0.02, 0.3, 1e-300, 7.5])
def test_normal_is_the_scaled_standard_normal_draws(scale):
    """What ``Lidar.scan`` relies on: ``Generator.normal(0.0, s, n)`` is
    ``0.0 + s * z`` of the ``n`` draws ``standard_normal(n)`` makes from
    the same state (NumPy's ``random_normal``: ``loc + scale *
    random_standard_normal``), bit for bit, and leaves the same state."""
    for seed in range(20):
        a, b = np.random.default_rng(seed), np.random.default_rng(seed)
        want = a.normal(0.0, scale, 5000)
        z = b.standard_normal(5000)
        assert np.array_equal((0.0 + scale * z).view(np.int64), want.view(np.int64))
        assert a.bit_generator.state == b.bit_generator.state


@pytest.mark.parametrize("spec", [
    LidarSpec(beams=540, fov_deg=270, max_range=12, noise_std=0.02, dropout=0.01, rate_hz=10),
    LidarSpec(beams=90, fov_deg=360, max_range=6.5, min_range=1, noise_std=0.0, dropout=0.0, rate_hz=7,
              mount_x=0.4, mount_y=-0.15, mount_yaw=0.3)])
def test_scan_raster_equals_scan(spec):
    """``scan_raster`` on a raster checked once (``ScanRaster``) gives the
    scans, clock and draws ``scan`` gives; ``ScanRaster`` refuses what
    ``scan`` refuses, with the same messages; the circles and the pose are
    still checked per scan."""
    rng = np.random.default_rng(4)
    occ = rng.random((120, 150)) < 0.02
    dist = rng.random((120, 150)).astype(np.float32)
    a, b = Lidar(spec, np.random.default_rng(11)), Lidar(spec, np.random.default_rng(11))
    for d in (None, dist):
        raster = ScanRaster(occ, 0.1, (0.5, -0.25), d)
        assert raster.occupied is occ and (d is None or raster.distance is d)      # no copies
        for k, t in enumerate([0.0, 0.1, 0.35, 0.2, math.nan, 3.0]):
            pose = (rng.uniform(2, 13), rng.uniform(2, 10), rng.uniform(-4, 4))
            circles = np.column_stack((pose[0] + rng.uniform(-3, 3, k), pose[1] + rng.uniform(-3, 3, k),
                                       rng.uniform(0.2, 0.8, k)))
            got = a.scan_raster(t, pose, raster, circles if k else None)
            want = b.scan(t, pose, occ, 0.1, (0.5, -0.25), circles if k else None, d)
            assert repr((got.t, got.angle_min, got.angle_increment, got.max_range)) == \
                repr((want.t, want.angle_min, want.angle_increment, want.max_range))
            assert got.ranges.dtype == np.float32 and np.array_equal(got.ranges, want.ranges, equal_nan=True)
            assert repr(a._next_t) == repr(b._next_t)
    assert a.rng.random() == b.rng.random()
    for args, msg in [((np.zeros(5, bool), 0.1, (0, 0)), "occupied must be a non-empty 2-D array"),
                      ((occ, 0.0, (0, 0)), "resolution must be > 0"),
                      ((occ, 0.1, (0, 0), dist[1:]), "distance must be a float32 array")]:
        for call in (lambda: ScanRaster(*args), lambda: a.scan(0.0, (1.0, 1.0, 0.0), *args[:3], None, *args[3:])):
            with pytest.raises(ValueError, match=msg):
                call()
    raster = ScanRaster(occ.astype(np.uint8)[:, ::2], 0.1, (0.0, 0.0))             # converted as scan converts it
    assert raster.occupied.dtype == np.uint8 and raster.occupied.flags.c_contiguous
    with pytest.raises(ValueError, match="circles must be an"):
        a.scan_raster(4.0, (1.0, 1.0, 0.0), raster, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="pose must be finite"):
        a.scan_raster(4.0, (1.0, math.nan, 0.0), raster)


def test_simulation_scans_the_rebuilt_world():
    """ugv_replan (a wall appears at 6 s) with the lidar UGV of
    ugv_moving_person: ``Simulation.sensors`` scans what ``Lidar.scan``
    scans of the world as it is, its validated raster taken again when the
    world is rebuilt."""
    from edgepilot.sim.scenario import load_scenario
    from edgepilot.sim.simulation import PHYSICS_DT, Simulation
    from edgepilot.vehicle.types import ActuatorCommand

    sc = load_scenario("ugv_replan")
    sim = Simulation(sc.model_copy(update={"vehicle_config": load_scenario("ugv_moving_person").vehicle_config}))
    rasters, scans = [], 0
    for step in range(800):
        sim.step(PHYSICS_DT, ActuatorCommand(0.2, 0.25))
        if step % 5:
            continue
        sc, now = sim.scanner, sim.t
        due, state, next_t = sc.due(now), sc.rng.bit_generator.state, sc._next_t
        f = sim.sensors(now)
        assert (f.scan is not None) == due
        if due:
            scans += 1
            if not any(r is sim._raster[2] for r in rasters):
                rasters.append(sim._raster[2])
            assert sim._raster[0] is sim.world.truth.occupied and sim._raster[1] is sim.world.distance
            after = sc.rng.bit_generator.state
            sc.rng.bit_generator.state, nt = state, sc._next_t
            sc._next_t = next_t
            tr, w = sim.truth, sim.world
            want = sc.scan(now, (tr.x, tr.y, tr.yaw), w.truth.occupied, w.resolution, (w.origin_x, w.origin_y),
                           sim._moving_circles(now), w.distance)
            assert np.array_equal(f.scan.ranges, want.ranges, equal_nan=True) and f.scan.t == want.t
            assert sc.rng.bit_generator.state == after and sc._next_t == nt
    assert scans >= 75 and len(rasters) == 2             # the wall appeared: the world was rebuilt once


@pytest.mark.parametrize("spec", [
    LidarSpec(beams=540, fov_deg=270, max_range=12, noise_std=0.02, dropout=0.01, rate_hz=10),
    LidarSpec(beams=90, fov_deg=360, max_range=6.5, min_range=1, noise_std=0.0, dropout=0.0, rate_hz=7,
              mount_x=0.4, mount_y=-0.15, mount_yaw=0.3),
    LidarSpec(beams=1, fov_deg=90, max_range=3, noise_std=0, dropout=1, rate_hz=3, mount_x=-0.2)])
def test_lidar_scan_equals_the_plain_form(spec):
    """Mounted and not, int spec values (the scan's max_range as given),
    the scan clock with times behind, ahead and NaN: the same scans, clock
    and draws; a bad pose raises as before."""
    rng = np.random.default_rng(3)
    occ = rng.random((120, 150)) < 0.02
    dist = rng.random((120, 150)).astype(np.float32)
    a, b = Lidar(spec, np.random.default_rng(11)), Lidar(spec, np.random.default_rng(11))
    times = [0.0, 0.1, 0.1, 0.35, 0.2, 2, math.nan, 3.0]
    for k, t in enumerate(times):
        pose = (rng.uniform(2, 13), rng.uniform(2, 10), rng.uniform(-4, 4))
        circles = np.column_stack((pose[0] + rng.uniform(-3, 3, k), pose[1] + rng.uniform(-3, 3, k),
                                   rng.uniform(0.2, 0.8, k)))
        for d in (None, dist):
            got = a.scan(t, pose, occ, 0.1, (0.5, -0.25), circles, d)
            want = _scan_plain(b, t, pose, occ, 0.1, (0.5, -0.25), circles, d)
            assert repr((got.t, got.angle_min, got.angle_increment, got.max_range)) == \
                repr((want.t, want.angle_min, want.angle_increment, want.max_range))
            assert got.ranges.dtype == np.float32 and np.array_equal(got.ranges, want.ranges, equal_nan=True)
            assert repr(a._next_t) == repr(b._next_t)
    assert a.rng.random() == b.rng.random()
    assert a.sensor_pose((1.0, 2.0, 0.5)) == (
        1.0 + math.cos(0.5) * spec.mount_x - math.sin(0.5) * spec.mount_y,
        2.0 + math.sin(0.5) * spec.mount_x + math.cos(0.5) * spec.mount_y, 0.5 + spec.mount_yaw)
    for lid, scan in ((a, a.scan), (b, lambda *args: _scan_plain(b, *args))):
        with pytest.raises(TypeError):                                # a bad origin: read after the draws
            scan(3.5, (1.0, 1.0, 0.0), occ, 0.1, None)
        with pytest.raises(ValueError, match="pose must be finite"):   # the pose first
            scan(3.6, (1.0, math.nan, 0.0), occ, 0.1, None)
    assert a.rng.bit_generator.state == b.rng.bit_generator.state and repr(a._next_t) == repr(b._next_t)
    with pytest.raises(ValueError, match="pose must be finite"):
        a.scan(4.0, (1.0, math.nan, 0.0), occ, 0.1, (0.0, 0.0))
    with pytest.raises(ValueError, match="math domain error"):      # cos(inf), as before
        a.scan(4.0, (1.0, 1.0, math.inf), occ, 0.1, (0.0, 0.0))
    with pytest.raises(ValueError, match="resolution must be > 0"):
        a.scan(4.0, (1.0, 1.0, 0.0), occ, 0.0, (0.0, 0.0))
    with pytest.raises(AttributeError):
        a.spec = spec                                 # read-only: the values taken from it cannot go stale


def test_sensor_frame_positional_order():
    """``Simulation.sensors`` builds the frame positionally in this order."""
    assert [f.name for f in dataclasses.fields(SensorFrame)] == [
        "t", "gps", "compass", "scan", "battery_v", "battery_remaining", "contacts", "motor", "camera_t",
        "camera_image", "imu", "wheel_ticks", "speed_log"]


def test_simulation_sensors_and_map_updates_equal_the_plain_forms():
    """ugv_replan (a reported wall appears at 6 s): the frame's battery
    fields are the pack's properties, and the map updates are those of the
    loop over every obstacle of the world."""
    from edgepilot.sim.scenario import load_scenario
    from edgepilot.sim.simulation import PHYSICS_DT, Simulation
    from edgepilot.vehicle.types import ActuatorCommand

    sc = load_scenario("ugv_replan")
    sim = Simulation(sc)
    assert any(o.reported for o in sim.world.obstacles)
    reported: set[int] = set()
    seen = 0
    for step in range(700):
        sim.step(PHYSICS_DT, ActuatorCommand(0.2, 0.25))
        if step % 5 == 0:
            f = sim.sensors(sim.t)
            assert repr((f.battery_v, f.battery_remaining)) == repr((sim.battery.voltage, sim.battery.remaining))
            assert f.t == sim.t
        want = []
        for i, o in enumerate(sim.world.obstacles):       # the plain form
            if o.reported and o.appear_at_s <= sim.t and i not in reported:
                reported.add(i)
                want.append(i)
        got = sim.map_updates()
        assert len(got) == len(want)
        for i, pts in zip(want, got):
            rr, cc = sim.world.obstacle_cells(i)
            w = sim.world
            assert np.array_equal(pts, np.column_stack((w.origin_x + (cc + 0.5) * w.resolution,
                                                        w.origin_y + (rr + 0.5) * w.resolution)))
        seen += len(got)
    assert seen == 1


def test_motor_telemetry_period():
    from edgepilot.sim import motor_link

    assert motor_link._TELEMETRY_PERIOD == 1.0 / motor_link.TELEMETRY_HZ
    link = motor_link.SimMotorLink(np.random.default_rng(0))
    got = [link.telemetry(k * 0.01, False, 0.0) is not None for k in range(100)]
    assert sum(got) == 20 and got[0] and got[5] and not got[4]
