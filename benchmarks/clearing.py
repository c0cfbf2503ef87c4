"""Free-space clearing benchmarks: peers and ours on the same inputs, interleaved.

Run by hand:  PYTHONPATH=. python benchmarks/clearing.py [--quick]

1. The per-scan clearing pass (``SeenFreeClearing.update`` with nothing
   new), 500 listed cells on a 1000 x 1000 grid, a tenth of them seen
   free each pass.  Peer: the same pass in NumPy (the test's oracle,
   ``tests/test_perception_clearing.py``), checked to give the same cells.
   Beside it: one ``integrate_scan`` of a 540-beam 12 m scan on the same
   grid, what a scan costs anyway.
2. A parked car (a 2 x 1 m block of mapped cells) leaving the planning
   costmap of a 100 x 100 m window at 0.1 m.  Peer: recomputing the
   window's inflation from scratch (one distance transform of it, what a
   costmap without local updates does); ours: ``clear_seen_free`` (the
   inflation recomputed in a local window), checked to give the same
   weights.

Prints medians (per call) and ratios.
"""
from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from perception import _median_interleaved, _row  # noqa: E402

QUICK = "--quick" in sys.argv


def _clearing_numpy(cells, reported, listed, dr, dc, thr):
    """The pass with nothing new: (kept entries, cells out); ``reported`` updated."""
    from edgepilot.vehicle.perception._kernels import LO_BIAS, LO_MASK

    rows, cols = reported.shape
    r, c = listed[:, 0] - dr, listed[:, 1] - dc
    inside = (r >= 0) & (r < rows) & (c >= 0) & (c < cols)
    rs, cs = np.where(inside, r, 0), np.where(inside, c, 0)
    alive = inside & reported[rs, cs]
    free = alive & (((cells[rs, cs].astype(np.int32) & LO_MASK) - LO_BIAS) < thr)
    out = np.column_stack((rs[free], cs[free]))
    reported[out[:, 0], out[:, 1]] = False
    return listed[alive & ~free], out


def bench_pass():
    from edgepilot.vehicle.perception._clearing_kernels import clear_seen_free_kernel
    from edgepilot.vehicle.perception._kernels import LO_BIAS
    from edgepilot.vehicle.perception.clearing import SeenFreeClearing
    from edgepilot.vehicle.perception.mapping import LidarMapper

    print("clearing pass, 500 listed cells, 50 of them seen free (1000 x 1000 grid at 0.1 m)")
    rng = np.random.default_rng(0)
    m = LidarMapper(None, resolution=0.1, window=(1000, 1000, 0.0, 0.0))
    cl = SeenFreeClearing(m)
    flat = rng.choice(1000 * 1000, 500, replace=False)
    rc = np.column_stack((flat // 1000, flat % 1000)).astype(np.int64)
    g = m.grid
    g._cells[rc[:, 0], rc[:, 1]] = LO_BIAS + 300
    g._cells[rc[:50, 0], rc[:50, 1]] = LO_BIAS - 200          # seen free
    cells0 = g._cells.copy()
    listed0 = rc.copy()
    out = np.empty((500, 2))
    listed = np.empty((500, 2), np.int64)
    none = np.zeros((0, 2))

    def run_ours():
        # restore the list and flags (the pass consumes them), then the pass as update() runs it
        listed[:] = listed0
        m._reported[rc[:, 0], rc[:, 1]] = True
        return clear_seen_free_kernel(g._cells, m._reported, listed, 500, none, 0, 0.0, 0.0, 0.1, 0, 0,
                                      0, 1000, 0, 1000, cl.threshold, out)

    rep = np.zeros((1000, 1000), bool)

    def run_peer():
        rep[rc[:, 0], rc[:, 1]] = True
        return _clearing_numpy(cells0, rep, listed0, 0, 0, cl.threshold)

    n, q = run_ours()
    kept, want = run_peer()
    same = np.array_equal(out[:q], g.cells_to_world(want)) and np.array_equal(listed[:n], kept)
    med = _median_interleaved({"peer": run_peer, "ours": run_ours}, 5 if QUICK else 15,
                              {"peer": 200, "ours": 2000})
    _row("pass (restore + kernel)", med["peer"], med["ours"], lambda s: f"{s * 1e6:,.1f} us")
    print(f"  {'':<34} same cells and list as peer: {same}")
    # what a scan costs anyway
    a = np.linspace(-2.36, 2.36, 540)
    ranges = (4.0 + 3.0 * np.abs(np.sin(3 * a))).astype(np.float32)
    import time

    g.integrate_scan((50.0, 50.0, 0.3), ranges, float(a[0]), float(a[1] - a[0]), 12.0)     # loaded, not timed
    t0 = time.perf_counter()
    k = 50 if QUICK else 300
    for _ in range(k):
        g.integrate_scan((50.0, 50.0, 0.3), ranges, float(a[0]), float(a[1] - a[0]), 12.0)
    print(f"  {'integrate_scan, 540 beams, 12 m':<34} {((time.perf_counter() - t0) / k) * 1e6:,.1f} us a scan "
          "(for scale)")


def bench_costmap():
    from edgepilot.vehicle.costmap import InflationParams, WindowCostmap
    from edgepilot.vehicle.costmap.inflation import distance_to_obstacles, weights_from_distance
    from edgepilot.vehicle.maps import GridMap

    print("a parked car leaves the costmap: 100 x 100 m window at 0.1 m, inflation 1.5 m")
    occ = np.zeros((1000, 1000), bool)
    occ[:, :5] = occ[:, -5:] = occ[:5] = occ[-5:] = True        # a walled yard on the prior map
    params = InflationParams(0.69, 1.5, 3.0 / 0.81, 21.0)
    cm = WindowCostmap(1000, 1000, 0.1, params, GridMap(occ, 0.1, 0.0, 0.0), center=(50.0, 50.0))
    car = np.array([(r, c) for r in range(495, 505) for c in range(490, 510)], np.int64)

    def run_ours():
        cm.add_obstacles(cells=car)
        return cm.clear_seen_free(cells=car)

    def run_peer():
        cm.occupied[car[:, 0], car[:, 1]] = True
        cm.occupied[car[:, 0], car[:, 1]] = False
        return weights_from_distance(distance_to_obstacles(cm.occupied, 0.1), params)

    run_ours()
    same = np.array_equal(cm.weights, run_peer())
    med = _median_interleaved({"peer": run_peer, "ours": run_ours}, 3 if QUICK else 9, {"peer": 3, "ours": 20})
    _row("car leaves (ours: add + clear)", med["peer"], med["ours"], lambda s: f"{s * 1e3:,.2f} ms")
    print(f"  {'':<34} same weights as peer: {same}")


def main():
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    bench_pass()
    bench_costmap()


if __name__ == "__main__":
    main()
