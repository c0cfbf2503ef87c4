"""Free-space clearing of the lidar's mapped obstacles
(vehicle/perception/clearing.py, WindowCostmap.clear_seen_free): a block
the lidar mapped leaves once later scans see its cells free, not before
(hysteresis: a flickering return keeps it), keeps its place while the grid
rolls, and leaves the planning costmap with its inflation recomputed round
it, while the prior map's obstacles and reported (pinned) ones stay.  The
clearing kernel against a NumPy oracle."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from edgepilot.vehicle.costmap import InflationParams, WindowCostmap
from edgepilot.vehicle.maps import GridMap
from edgepilot.vehicle.perception._clearing_kernels import clear_seen_free_kernel
from edgepilot.vehicle.perception._kernels import LO_BIAS, LO_MASK
from edgepilot.vehicle.perception.clearing import SeenFreeClearing
from edgepilot.vehicle.perception.mapping import LidarMapper
from edgepilot.vehicle.types import LaserScan, VehicleState


# ------------------------------------------------------------------ the kernel against its oracle
def _oracle(cells, reported, listed, new_rc, dr, dc, window, thr):
    """The clearing pass in NumPy on cells: (listed after, cells out, reported after)."""
    rows, cols = reported.shape
    a0, a1, b0, b1 = window
    rep = reported.copy()
    rep[new_rc[:, 0], new_rc[:, 1]] = False                # stale entries of this scan's cells
    r, c = listed[:, 0] - dr, listed[:, 1] - dc
    inside = (r >= 0) & (r < rows) & (c >= 0) & (c < cols)
    rs, cs = np.where(inside, r, 0), np.where(inside, c, 0)
    seen = inside & (rs >= a0) & (rs < a1) & (cs >= b0) & (cs < b1)     # the scan's reach: read
    alive = inside & (~seen | rep[rs, cs])
    lo = (cells[rs, cs].astype(np.int32) & LO_MASK) - LO_BIAS
    free = seen & alive & (lo < thr)
    # a cell listed twice goes out once (its first entry), the later entries find it unreported
    flat = rs * cols + cs
    idx = np.flatnonzero(free)
    _, first = np.unique(flat[idx], return_index=True)
    out_idx = np.sort(idx[first])
    out = np.column_stack((rs[out_idx], cs[out_idx]))
    rep[out[:, 0], out[:, 1]] = False
    keep = listed[alive & ~free]
    rep[new_rc[:, 0], new_rc[:, 1]] = True
    after = np.vstack((keep, new_rc + np.array([dr, dc])))
    return after, out, rep


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clearing_kernel_equals_the_numpy_oracle(seed):
    rng = np.random.default_rng(seed)
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(1, 40, 2))
        cells = (rng.integers(0, 8, (h, w)) << 12 | rng.integers(LO_BIAS - 300, LO_BIAS + 500, (h, w))).astype(np.int16)
        reported = rng.random((h, w)) < 0.5
        dr, dc = (int(v) for v in rng.integers(-5, 6, 2))
        n = int(rng.integers(0, 60))
        # grid-fixed entries, some off the grid, some repeated
        listed = np.column_stack((rng.integers(-3, h + 3, n) + dr, rng.integers(-3, w + 3, n) + dc)).astype(np.int64)
        k = int(rng.integers(0, min(10, h * w) + 1))
        flat = rng.choice(h * w, size=k, replace=False)
        new_rc = np.column_stack((flat // w, flat % w)).astype(np.int64)
        thr = int(rng.integers(-200, 200))
        # the scan's window: the whole grid or a part of it (this scan's cells inside it)
        a0, b0 = (int(v) for v in rng.integers(0, (h, w)))
        a1, b1 = int(rng.integers(a0 + 1, h + 1)), int(rng.integers(b0 + 1, w + 1))
        if rng.random() < 0.3:
            a0, a1, b0, b1 = 0, h, 0, w
        new_rc = new_rc[(new_rc[:, 0] >= a0) & (new_rc[:, 0] < a1) & (new_rc[:, 1] >= b0) & (new_rc[:, 1] < b1)]
        k = len(new_rc)
        want_list, want_out, want_rep = _oracle(cells, reported, listed, new_rc, dr, dc, (a0, a1, b0, b1), thr)
        buf = np.empty((n + k, 2), np.int64)
        buf[:n] = listed
        out = np.empty((max(n, 1), 2))
        rep = reported.copy()
        # the kernel takes this scan's cells as map-frame cell centres and gives its cells back as such
        geo = GridMap(np.zeros((h, w), bool), 0.2, -3.0, 1.5)
        m, q = clear_seen_free_kernel(cells, rep, buf, n, geo.cells_to_world(new_rc), k, -3.0, 1.5, 0.2, dr, dc,
                                      a0, a1, b0, b1, thr, out)
        assert np.array_equal(out[:q], geo.cells_to_world(want_out))
        assert np.array_equal(buf[:m], want_list)
        assert np.array_equal(rep, want_rep)


# ------------------------------------------------------------------ the mapper's cells, scan by scan
SENSOR = (2.0, 5.0)
BLOCK = (6.05, 4.55, 5.45)      # its west face x [m] and south / north ends y [m]
WALL_X = 9.05                    # the prior map's wall (x >= 9 m)


def _prior() -> GridMap:
    occ = np.zeros((100, 100), bool)
    occ[:, 90:] = True
    return GridMap(occ, 0.1, 0.0, 0.0)


def _scan(block: bool) -> LaserScan:
    """400 beams over +-0.4 rad from SENSOR facing east: they end on the
    block's west face when ``block`` and it is in their way, else on the wall."""
    a = np.linspace(-0.4, 0.4, 400)
    x0, y0 = SENSOR
    to_wall = (WALL_X - x0) / np.cos(a)
    to_block = (BLOCK[0] - x0) / np.cos(a)
    y_at_block = y0 + (BLOCK[0] - x0) * np.tan(a)
    hits = block & (y_at_block >= BLOCK[1]) & (y_at_block <= BLOCK[2])
    r = np.where(hits, to_block, to_wall)
    return LaserScan(t=0.0, angle_min=-0.4, angle_increment=float(a[1] - a[0]), max_range=12.0,
                     ranges=r.astype(np.float32))


STATE = VehicleState(t=0.0, x=SENSOR[0], y=SENSOR[1], yaw=0.0, vx=0.0, vy=0.0, yaw_rate=0.0, lat=0.0, lon=0.0,
                     pos_std=0.05, valid=True)


def _step(m: LidarMapper, cl: SeenFreeClearing, block: bool) -> tuple[np.ndarray, np.ndarray]:
    """One scan as the perception front runs it: (new obstacle points, points seen free)."""
    new = m.integrate(STATE, _scan(block))
    return new, cl.update(new)


def _mapped_block(scans: int = 8):
    m = LidarMapper(_prior(), resolution=0.1)
    cl = SeenFreeClearing(m)
    reported = [_step(m, cl, True) for _ in range(scans)]
    pts = np.vstack([p for p, _ in reported])
    assert not any(len(f) for _, f in reported)
    return m, cl, pts


def test_a_mapped_block_seen_free_again_is_given_back_and_the_prior_wall_never():
    m, cl, pts = _mapped_block()
    # the block's face was reported (two hits), the prior wall never
    assert len(pts) > 5 and np.all(np.abs(pts[:, 0] - 6.05) < 0.1) and cl.listed == len(pts)
    assert m.reported_cells == len(pts)
    # the block goes: its cells, hit every scan (log-odds at the 3.5 ceiling), need 11 free scans
    out = [_step(m, cl, False) for _ in range(11)]
    assert not any(len(n) for n, _ in out)
    assert not any(len(f) for _, f in out[:10])
    freed = out[10][1]
    assert sorted(map(tuple, freed.round(3))) == sorted(map(tuple, pts.round(3)))
    assert m.reported_cells == 0 and cl.listed == 0 and cl.cleared_cells == len(pts)
    # ... and it comes back: reported again (three or four hits from the free side), listed again
    back = [_step(m, cl, True) for _ in range(4)]
    again = np.vstack([n for n, _ in back])
    assert sorted(map(tuple, again.round(3))) == sorted(map(tuple, pts.round(3)))
    assert not any(len(n) for n, _ in back[:2]) and cl.listed == len(pts)


def test_hysteresis_a_flickering_return_keeps_the_cell_and_a_fresh_one_needs_seven_free_scans():
    m, cl, pts = _mapped_block()
    # the return comes back in one scan of three: not cleared, however long
    for k in range(60):
        n, f = _step(m, cl, k % 3 == 0)
        assert not len(f) and not len(n), k
    assert cl.listed == len(pts)
    # one in four: the misses win in the end
    freed = []
    for k in range(80):
        freed.append(_step(m, cl, k % 4 == 0)[1])
    assert len(np.vstack(freed)) == len(pts)
    # just reported (two hits, log-odds 1.7): six free scans keep it, the seventh clears it
    m, cl, pts = _mapped_block(scans=2)
    assert len(pts) > 5
    out = [_step(m, cl, False)[1] for _ in range(7)]
    assert not any(len(f) for f in out[:6]) and len(out[6]) == len(pts)


def test_listed_cells_keep_their_place_as_the_grid_rolls():
    m = LidarMapper(None, resolution=0.1, window=(100, 100, 0.0, 0.0))     # no prior map: the wall is mapped too
    cl = SeenFreeClearing(m)
    pts = np.vstack([_step(m, cl, True)[0] for _ in range(8)])
    wall = pts[:, 0] > 8.0
    assert wall.sum() > 5 and (~wall).sum() > 5
    pts = pts[~wall]
    # the window rolls 0.3 m south and 0.5 m east (whole cells), the block still inside
    assert m.align(0.5, -0.3)
    freed = np.vstack([_step(m, cl, False)[1] for _ in range(11)])
    assert sorted(map(tuple, freed.round(3))) == sorted(map(tuple, pts.round(3)))     # the block, not the wall
    # rolled far enough that the block is off the grid: its entries are dropped, nothing given back
    m, cl, pts = _mapped_block()
    assert m.align(7.0, 0.0)
    assert not len(cl.update(np.zeros((0, 2)))) and cl.listed == 0


def test_cells_the_front_unreported_are_dropped_from_the_list():
    m, cl, pts = _mapped_block()
    m.unreport(pts[:3])                     # e.g. the maritime front holds them back
    _step(m, cl, True)                      # still occupied: reported again, listed once each
    assert cl.listed == len(pts) and m.reported_cells == len(pts)
    freed = np.vstack([_step(m, cl, False)[1] for _ in range(11)])
    assert len(freed) == len(pts)


def test_p_clear_must_be_below_p_report():
    m = LidarMapper(_prior(), resolution=0.1)
    for bad in (0.0, 0.8, 0.95, -0.1):
        with pytest.raises(ValueError, match=r"p_clear must lie in \(0, p_report = 0.8\)"):
            SeenFreeClearing(m, p_clear=bad)


# ------------------------------------------------------------------ the planning costmap
PARAMS = InflationParams(inscribed_radius=0.5, inflation_radius=1.2, cost_scaling_factor=4.0, max_weight=21.0)


def _window(occ: np.ndarray) -> WindowCostmap:
    static = GridMap(occ, 0.1, 0.0, 0.0)
    return WindowCostmap(occ.shape[0], occ.shape[1], 0.1, PARAMS, static,
                         center=(0.05 * occ.shape[1], 0.05 * occ.shape[0]), unknown_weight=1.5)


def test_costmap_drops_cells_seen_free_but_keeps_prior_and_pinned_ones():
    prior = np.zeros((120, 160), bool)
    prior[:, 150:] = True                   # a wall on the prior map
    cm = _window(prior)
    assert cm.origin_x == 0.0 and cm.origin_y == 0.0
    sensed = [(60, 40), (60, 41), (61, 40), (10, 140), (110, 5)]    # three places far apart
    rep = (30, 80)
    cm.add_obstacles(cells=np.array(sensed + [rep]))
    cm.pin(cells=np.array([rep]))           # reported, not sensed
    everything = np.array(sensed + [rep, (50, 155), (70, 150)])
    n = cm.clear_seen_free(cells=everything)
    assert n == len(sensed)
    want = prior.copy()
    want[rep] = True
    assert np.array_equal(cm.occupied, want)
    # the incremental inflation equals a costmap built afresh from what is left
    assert np.array_equal(cm.weights, _window(want).weights)
    assert cm.clear_seen_free(cells=everything) == 0
    # an explicit clear still removes a pinned cell (and unpins it)
    cm.clear_obstacles(cells=np.array([rep]))
    assert not cm.occupied[rep] and not cm.pinned[rep]


def test_pins_and_the_prior_map_roll_with_the_window():
    prior = np.zeros((40, 40), bool)
    prior[20, 20] = True
    static = GridMap(prior, 0.1, 0.0, 0.0)
    cm = WindowCostmap(60, 60, 0.1, PARAMS, static, center=(2.0, 2.0), unknown_weight=1.5, edge_trigger=1.0)
    cm.add_obstacles(points=np.array([[2.55, 1.05], [2.75, 1.05]]))
    cm.pin(points=np.array([[2.55, 1.05]]))
    ox = cm.origin_x
    assert cm.follow(4.5, 2.0) and cm.origin_x > ox + 1.0      # near the east edge: the window rolls east
    assert cm.clear_seen_free(points=np.array([[2.55, 1.05], [2.75, 1.05], [2.05, 2.05]])) == 1
    r, c = cm.world_to_cell(2.55, 1.05)
    assert cm.occupied[r, c] and not cm.occupied[cm.world_to_cell(2.75, 1.05)]
    assert cm.occupied[cm.world_to_cell(2.05, 2.05)]       # the prior map's cell
    assert math.isinf(cm.weights[r, c])


# ------------------------------------------------------------------ the perception front: batches to the costmap
def _scan_of(t: float, blocks) -> LaserScan:
    """400 beams over +-0.4 rad from SENSOR facing east, ending on the west
    face (x, y0, y1) of the first block in ``blocks`` in their way, else on
    the prior wall."""
    a = np.linspace(-0.4, 0.4, 400)
    x0, y0 = SENSOR
    r = (WALL_X - x0) / np.cos(a)
    for bx, b0, b1 in blocks:
        y = y0 + (bx - x0) * np.tan(a)
        r = np.where((y >= b0) & (y <= b1), np.minimum(r, (bx - x0) / np.cos(a)), r)
    return LaserScan(t=t, angle_min=-0.4, angle_increment=float(a[1] - a[0]), max_range=12.0,
                     ranges=r.astype(np.float32))


def test_the_front_gives_cells_seen_free_at_once_then_batched_and_not_those_back_again():
    """Three crates: A is taken away first (its cells go to the costmap at
    once), then B and C; B is put back before the batch is due (its cells
    are reported again: left out), C is given with the batch."""
    from edgepilot import configs_dir
    from edgepilot.vehicle.config import load_vehicle_config
    from edgepilot.vehicle.perception.front import Perception
    from edgepilot.vehicle.types import SensorFrame

    cfg = load_vehicle_config(configs_dir() / "vehicles" / "ugv_lidar.toml")
    p = Perception(cfg, _prior(), resolution=0.1, clear_period_s=3.0)
    A, B, C = (6.05, 3.85, 4.35), (6.05, 4.85, 5.35), (6.05, 5.85, 6.35)
    gone = {"A": (4.0, None), "B": (4.5, 6.5), "C": (4.5, None)}       # taken away at, put back at [s]
    reported, given = [], []
    for k in range(121):                  # 12 s of 10 Hz scans
        t = 0.1 * k
        here = [b for b, name in zip((A, B, C), "ABC")
                if not (gone[name][0] <= t and (gone[name][1] is None or t < gone[name][1]))]
        new = p.process(t, SensorFrame(t=t, scan=_scan_of(t, here)), replace(STATE, t=t))
        reported.append((t, new))
        if len(p.seen_free):
            given.append((t, p.seen_free))

    def of(pts, block):
        return pts[(np.abs(pts[:, 0] - 6.05) < 0.1) & (pts[:, 1] > block[1] - 0.1) & (pts[:, 1] < block[2] + 0.1)]

    first = np.vstack([n for t, n in reported if t < 4.0])
    assert all(len(of(first, b)) >= 4 for b in (A, B, C))           # all three mapped (after the tracker settled)
    # A: given at once, about 11 scans after it went
    t_a, pts_a = given[0]
    assert 5.0 <= t_a <= 5.3 and len(of(pts_a, A)) == len(of(first, A)) and not len(of(pts_a, B))
    # the next batch waits clear_period_s: C, not B (back at 6.5 s and mapped again by then)
    t_b, pts_b = given[1]
    assert t_b == pytest.approx(t_a + 3.0, abs=0.11)
    assert len(of(pts_b, C)) == len(of(first, C)) and not len(of(pts_b, B))
    back = np.vstack([n for t, n in reported if 6.5 <= t < t_b])
    assert len(of(back, B)) == len(of(first, B))
    assert len(given) == 2, [(t, len(g)) for t, g in given]


def test_clear_period_must_be_a_number_of_seconds():
    from edgepilot import configs_dir
    from edgepilot.vehicle.config import load_vehicle_config
    from edgepilot.vehicle.perception.front import Perception

    cfg = load_vehicle_config(configs_dir() / "vehicles" / "ugv_lidar.toml")
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="clear_period_s must be a number of seconds >= 0"):
            Perception(cfg, _prior(), resolution=0.1, clear_period_s=bad)
