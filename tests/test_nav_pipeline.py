"""The GNSS-denied navigation pipeline offline, against ground truth: the
simulated IMU, wheel encoders, compass and lidar along a yard patrol; the
EKF driven by the IMU, fusing odometry, compass and the lidar localizer's
pose fixes (seeded with the EKF's prediction) -- no GNSS at all.  The
ugv_gnss_denied pass criteria: position error RMS <= 0.15 m, max <= 0.4 m."""
from __future__ import annotations

import math

import numpy as np

from edgepilot.sim.dynamics import Truth
from edgepilot.sim.report import read_tum, write_tum
from edgepilot.sim.sensors.imu import ImuConfig, ImuModel
from edgepilot.sim.sensors.navigation import CompassModel
from edgepilot.sim.sensors.odometry import EncoderConfig, LooseGround, WheelEncoderModel
from edgepilot.vehicle.config import CompassConfig
from edgepilot.vehicle.estimation import NavEkf
from edgepilot.vehicle.estimation.measurements import WheelOdometry
from edgepilot.vehicle.localization import MapLocalizer, ParticleFilterParams, build_likelihood_field
from nav_world import lidar, trajectory, yard

DT = 0.01


def _truths(seconds):
    tr = trajectory(int(round(seconds / DT)) + 1, dt=DT)
    v = np.gradient(tr[:, 1:3], DT, axis=0)
    w = np.gradient(np.unwrap(tr[:, 3]), DT)
    return tr[:, 0], [Truth(r[1], r[2], r[3], vx, vy, wz) for r, (vx, vy), wz in zip(tr, v, w)]


def run_denied(seconds=40.0, seed=0, lidar_fixes=True):
    times, truths = _truths(seconds)
    g = yard()
    field = build_likelihood_field(g)
    rng = np.random.default_rng(seed)
    r_imu, r_enc, r_cmp, r_pf = rng.spawn(4)
    imu = ImuModel(ImuConfig(rate_hz=200), r_imu)
    # skid-steer scrub on turns and a gravel strip over the west half of the loop
    ecfg = EncoderConfig(turn_slip=0.1, loose_ground=[LooseGround(rect=(0.0, 0.0, 20.0, 30.0), slip=0.08)])
    enc = WheelEncoderModel(ecfg, r_enc)
    odo = WheelOdometry(ecfg.ticks_per_rev, ecfg.wheel_radius, ecfg.track_width)
    compass = CompassModel(CompassConfig(rate_hz=10, noise_deg=2.0), r_cmp)
    sensor = lidar(seed + 1, beams=360, noise=0.02)
    loc = MapLocalizer(field, r_pf, pf_params=ParticleFilterParams(particles=500))
    t0 = truths[0]
    ekf = NavEkf()
    ekf.initialise(0.0, t0.x, t0.y, t0.yaw, t0.vx, t0.vy, pos_std=0.1)
    loc.initialise(t0.x, t0.y, t0.yaw, 0.1, 0.05)
    dist = dyaw = 0.0
    rows = []
    fixes = 0
    for t, tr in zip(times, truths):
        ekf.predict_imu_batch(imu.sample_array(t, tr))
        ticks = enc.sample(t, tr)
        if ticks is not None:
            inc = odo.update(ticks)
            if inc is not None:
                ekf.fuse_body_speed(t, inc.speed, 0.03 + 0.03 * abs(inc.speed), lateral_std=0.05)
                dist += inc.distance
                dyaw += inc.dyaw
        c = compass.sample(t, tr)
        if c is not None:
            ekf.fuse_compass(t, c.yaw, math.radians(3.0))
        if lidar_fixes and sensor.due(t):
            scan = sensor.scan(t, (tr.x, tr.y, tr.yaw), g.occupied, g.resolution, (0.0, 0.0))
            fix = loc.process(t, dist, dyaw, scan, prior=(ekf.x[0], ekf.x[1], ekf.x[4]))
            dist = dyaw = 0.0
            if fix is not None and fix.ok:
                fixes += ekf.fuse_pose(t, fix.x, fix.y, fix.yaw, fix.cov).accepted
        rows.append((t, tr.x, tr.y, tr.yaw, ekf.x[0], ekf.x[1], ekf.x[4]))
    return np.array(rows), fixes, ekf


def test_gnss_denied_patrol_meets_the_scenario_bounds(tmp_path):
    a, fixes, ekf = run_denied(40.0)
    e = np.hypot(a[:, 4] - a[:, 1], a[:, 5] - a[:, 2])
    assert fixes >= 360                               # ~10 Hz lidar fixes, nearly all accepted
    assert np.sqrt(np.mean(e ** 2)) <= 0.15 and e.max() <= 0.4, (np.sqrt(np.mean(e ** 2)), e.max())
    assert ekf.status(40.0).healthy
    # truth and estimate side by side as TUM trajectories for evo & co.
    truth = write_tum(tmp_path / "truth.tum", a[:, 0], a[:, 1], a[:, 2], a[:, 3])
    est = write_tum(tmp_path / "estimate.tum", a[:, 0], a[:, 4], a[:, 5], a[:, 6])
    d = read_tum(truth)[:, 1:3] - read_tum(est)[:, 1:3]
    assert np.sqrt(np.mean(np.sum(d ** 2, axis=1))) <= 0.15


def test_without_the_map_dead_reckoning_drifts():
    """The counterpart: the same run without lidar fixes drifts past the bounds."""
    a, fixes, ekf = run_denied(40.0, lidar_fixes=False)
    e = np.hypot(a[:, 4] - a[:, 1], a[:, 5] - a[:, 2])
    assert fixes == 0
    assert e.max() > 0.4
