"""GpsModel.sample takes the bias step's two normals and the fix's four in
one draw: the same fixes, and the same generator state after, as drawing
them two, then four (with the receiver unavailable: the two only)."""
import math

import numpy as np

from edgepilot.sim.dynamics import Truth
from edgepilot.sim.sensors.navigation import GpsModel
from edgepilot.vehicle.config import GpsConfig
from edgepilot.vehicle.geo import LocalFrame
from edgepilot.vehicle.types import GpsFix


def _sample_two_draws(g: GpsModel, now: float, truth: Truth):
    """The sampler as it was: the bias draws, then the fix draws."""
    if now + 1e-9 < g.next_t:
        return None
    g.next_t += g.period
    dt = now - g.last_t
    g.last_t = now
    cfg = g.cfg
    a = math.exp(-dt / g.BIAS_TAU_S)
    k = math.sqrt(max(1 - a * a, 0.0)) * (0.5 * cfg.noise_m)
    zx, zy = g.rng.standard_normal(2).tolist()
    g._bx = a * g._bx + k * zx
    g._by = a * g._by + k * zy
    if not g.available:
        return GpsFix(now, 0.0, 0.0, 0, 0, 99.0)
    n0, n1, n2, n3 = g.rng.standard_normal(4).tolist()
    wn = 0.8 * cfg.noise_m
    lat, lon = g.frame.to_geo(truth.x + g._bx + wn * n0, truth.y + g._by + wn * n1)
    vn = cfg.velocity_noise
    return GpsFix(now, lat, lon, 3, cfg.satellites, max(cfg.noise_m, 0.05), truth.vx + vn * n2, truth.vy + vn * n3)


def test_gps_sample_draws_the_same_numbers():
    cfg = GpsConfig(rate_hz=5, noise_m=0.4, velocity_noise=0.05)
    frame = LocalFrame(47.0, 8.0)
    new, old = GpsModel(cfg, frame, np.random.default_rng(3)), GpsModel(cfg, frame, np.random.default_rng(3))
    fixes = 0
    for i in range(400):
        now = i * 0.05
        new.available = old.available = not (100 <= i < 160)
        tr = Truth(0.1 * i, -0.05 * i, 0.3, 0.5, -0.2)
        a, b = new.sample(now, tr), _sample_two_draws(old, now, tr)
        assert a == b
        fixes += a is not None
    assert fixes == 100
    assert (new._bx, new._by) == (old._bx, old._by)
    assert new.rng.random() == old.rng.random()
