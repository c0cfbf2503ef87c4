"""Rasters are bounded before they are allocated (issue 13 item 4): a world
too large for the memory budget is refused with exit 2 naming the sizes and
the budget; every obstacle is drawn into one shared raster (not one
full-size raster each) and the truth/prior maps it gives equal the
per-obstacle semantics (the oracle below)."""
from __future__ import annotations

import os
import re
import tracemalloc

import numpy as np
import pytest

from edgepilot import configs_dir
from edgepilot.sim.scenario import load_scenario
from edgepilot.sim.world import DEFAULT_RASTER_BUDGET_MIB, ENV_RASTER_BUDGET, SimWorld, raster_estimate
from edgepilot.vehicle.config import ConfigError
from edgepilot.vehicle.maps import MapFileError, load_map_server
from tests.conftest import run_edgepilot

YARD = (configs_dir() / "scenarios" / "ugv_yard.toml").read_text()
UGV = str(configs_dir() / "vehicles" / "ugv.toml")


def scenario_text(bounds, resolution=None, extra_world="", obstacles=True) -> str:
    s = YARD.replace('vehicle = "ugv"', f'vehicle = "{UGV}"')
    s = re.sub(r"bounds = \[[^\]]*\]", f"bounds = {list(bounds)}", s, count=1)
    if resolution is not None:
        s = re.sub(r"resolution = [0-9.]+", f"resolution = {resolution}", s, count=1)
    if extra_world:
        s = s.replace("[world]\n", "[world]\n" + extra_world, 1)
    return s


@pytest.mark.parametrize("bounds, res, cells", [
    ((0.0, 0.0, 600.0, 600.0), 0.01, "60000 x 60000 cells at 0.01 m"),
    ((0.0, 0.0, 100000.0, 100000.0), 1.0, "100000 x 100000 cells at 1 m"),
])
@pytest.mark.parametrize("mode", [[], ["--realtime", "--duration", "1", "--mavlink", "udpout:127.0.0.1:9"]])
def test_oversized_world_is_refused_with_exit_2_naming_sizes_and_budget(tmp_path, bounds, res, cells, mode):
    p = tmp_path / "huge.toml"
    p.write_text(scenario_text(bounds, res))
    r = run_edgepilot("sitl", "run", str(p), *mode, "--out", str(tmp_path / "out"), timeout=120)
    assert "Traceback" not in r.stderr and "MemoryError" not in r.stderr, r.stderr
    assert r.returncode == 2, r.stderr
    err = " ".join(r.stderr.split())
    assert str(p) in err and cells in err and f"over the raster budget of {DEFAULT_RASTER_BUDGET_MIB} MiB" in err
    assert "GiB at peak" in err
    assert not (tmp_path / "out").exists()


def test_budget_from_scenario_key_and_environment(tmp_path, monkeypatch):
    p = tmp_path / "yard.toml"
    p.write_text(scenario_text((0.0, 0.0, 60.0, 40.0)))
    est = raster_estimate(load_scenario(p))           # fits the default
    assert 0 < est.bytes < DEFAULT_RASTER_BUDGET_MIB * 2**20
    monkeypatch.setenv(ENV_RASTER_BUDGET, "1")
    with pytest.raises(ConfigError, match=r"over the raster budget of 1 MiB \(\$EDGEPILOT_RASTER_BUDGET_MIB\)"):
        load_scenario(p)
    monkeypatch.setenv(ENV_RASTER_BUDGET, "lots")
    with pytest.raises(ConfigError, match=r"EDGEPILOT_RASTER_BUDGET_MIB: expected a number of MiB, got 'lots'"):
        load_scenario(p)
    monkeypatch.delenv(ENV_RASTER_BUDGET)
    p.write_text(scenario_text((0.0, 0.0, 60.0, 40.0), extra_world="raster_budget_mib = 2\n"))
    with pytest.raises(ConfigError, match=r"over the raster budget of 2 MiB \(world\.raster_budget_mib\)"):
        load_scenario(p)
    # ... and a big world runs when the scenario says the machine has the memory.
    p.write_text(scenario_text((0.0, 0.0, 600.0, 600.0), 0.05, extra_world="raster_budget_mib = 100000\n"))
    assert load_scenario(p).world.raster_budget_mib == 100000


def _obstacles_toml(rng, n, size) -> str:
    out = []
    for i in range(n):
        x, y = (float(v) for v in rng.uniform(2, size - 2, 2))
        mapped = "true" if rng.random() < 0.5 else "false"
        at = float(rng.choice([0.0, 0.0, 5.0, 10.0, round(float(rng.uniform(0, 50)), 2)]))
        if rng.random() < 0.5:
            r = float(rng.uniform(0.3, 3.0))
            out.append(f'[[world.obstacles]]\nname = "c{i}"\ntype = "circle"\ncenter = [{x}, {y}]\nradius = {r}\n'
                       f"mapped = {mapped}\nappear_at_s = {at}\n")
        else:
            w, h = (float(v) for v in rng.uniform(0.5, 6.0, 2))
            pts = [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]
            out.append(f'[[world.obstacles]]\nname = "p{i}"\ntype = "polygon"\npoints = {pts}\n'
                       f"mapped = {mapped}\nappear_at_s = {at}\n")
    return "\n".join(out)


def _bare_world(tmp_path, obstacles: str, size=60.0, res=0.05, name="w.toml"):
    s = scenario_text((0.0, 0.0, size, size), res)
    s = re.sub(r"\[\[world\.obstacles\]\].*?(?=\n\[(?!\[world\.obstacles)|\Z)", "", s, flags=re.S)
    s = s.replace("[start]", obstacles + "\n[start]", 1)
    p = tmp_path / name
    p.write_text(s)
    return load_scenario(p)


@pytest.mark.parametrize("seed", [1, 2])
def test_shared_raster_equals_the_per_obstacle_oracle(tmp_path, seed):
    rng = np.random.default_rng(seed)
    sc = _bare_world(tmp_path, _obstacles_toml(rng, 40, 60.0))
    w = SimWorld(sc)
    cells = [w.obstacle_cells(i) for i in range(len(w.obstacles))]
    wall = np.zeros(w.shape, bool)
    wall[0, :] = wall[-1, :] = wall[:, 0] = wall[:, -1] = True

    def oracle(keep):
        g = wall.copy()
        for (rr, cc), o in zip(cells, w.obstacles):
            if keep(o):
                g[rr, cc] = True
        return g

    assert np.array_equal(w.prior_map().occupied, oracle(lambda o: o.mapped and o.appear_at_s <= 0))
    for t in sorted({0.0, 4.99, 5.0, 7.0, 10.0, 60.0} | {o.appear_at_s for o in w.obstacles if o.appear_at_s >= 0}):
        w.rebuild(t)
        truth = oracle(lambda o: o.appear_at_s <= t)
        assert np.array_equal(w.truth.occupied, truth), t
        free = (~truth).astype(np.uint8)
        import cv2

        ref = cv2.distanceTransform(free, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) * w.resolution
        assert np.allclose(w.distance, ref), t
    assert sum(len(rr) for rr, _ in cells) > 1000          # the obstacles are really there


def test_more_than_250_appearance_times_use_a_wider_shared_raster(tmp_path):
    obst = "\n".join(f'[[world.obstacles]]\nname = "c{i}"\ntype = "circle"\ncenter = [{5 + (i % 20) * 2.5}, '
                     f"{5 + (i // 20) * 2.5}]\nradius = 0.6\nmapped = false\nappear_at_s = {i + 1}\n"
                     for i in range(300))
    w = SimWorld(_bare_world(tmp_path, obst))
    assert w._layer.dtype == np.uint16
    for t in (0.0, 150.0, 299.5, 300.0):
        w.rebuild(t)
        want = sum(1 for o in w.obstacles if o.appear_at_s <= t)
        lit = sum(1 for i in range(len(w.obstacles)) if w.truth.occupied[w.obstacle_cells(i)].all())
        assert lit == want, t


def test_obstacles_do_not_each_cost_a_full_raster(tmp_path):
    """Peak memory of building the world barely grows with the obstacle
    count (the old code held one world-sized raster per obstacle)."""
    rng = np.random.default_rng(7)

    def peak(n):
        sc = _bare_world(tmp_path, _obstacles_toml(rng, n, 100.0), size=100.0, name=f"w{n}.toml")
        tracemalloc.start()
        try:
            w = SimWorld(sc)
            w.prior_map()
            return tracemalloc.get_traced_memory()[1], w.shape
        finally:
            tracemalloc.stop()

    p1, shape = peak(1)
    p60, _ = peak(60)
    one_raster = shape[0] * shape[1]
    assert p60 - p1 < one_raster, (p1, p60, one_raster)


def test_map_image_over_budget_is_refused_from_its_header(tmp_path):
    (tmp_path / "big.pgm").write_bytes(b"P5\n# huge\n200000 100000\n255\n" + b"\xfe" * 64)
    (tmp_path / "big.yaml").write_text("image: big.pgm\nresolution: 0.05\norigin: [0.0, 0.0, 0.0]\n")
    with pytest.raises(MapFileError, match=r"big\.yaml: 'image' 'big\.pgm': 200000 x 100000 pixels need about "
                                           r"228882 MiB to load, over the map budget of 512 MiB"):
        load_map_server(tmp_path / "big.yaml")
    sc = scenario_text((0.0, 0.0, 60.0, 40.0), extra_world=f'map = "{tmp_path / "big.yaml"}"\n')
    (tmp_path / "s.toml").write_text(sc)
    with pytest.raises(ConfigError, match=r"map image 20000000000 pixels: about .* GiB at peak, over the raster budget"):
        load_scenario(tmp_path / "s.toml")


def test_vehicle_run_refuses_an_oversized_map_with_exit_2(tmp_path):
    (tmp_path / "big.pgm").write_bytes(b"P5\n200000 100000\n255\n")
    (tmp_path / "big.yaml").write_text("image: big.pgm\nresolution: 0.05\norigin: [0.0, 0.0, 0.0]\n")
    r = run_edgepilot("vehicle", "run", "--config", str(configs_dir() / "vehicles" / "ugv_hardware.toml"),
                      "--map", str(tmp_path / "big.yaml"), "--origin", "47.3977,8.5456", "--no-warm",
                      "--duration", "1", timeout=120)
    assert "Traceback" not in r.stderr and "MemoryError" not in r.stderr, r.stderr
    assert r.returncode == 2, r.stderr
    assert "big.yaml: 'image' 'big.pgm': 200000 x 100000 pixels" in r.stderr and "map budget of 512 MiB" in r.stderr
