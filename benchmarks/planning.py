"""Planning benchmarks, run by hand (not part of the test suite):

    PYTHONPATH=. python benchmarks/planning.py [--rounds 7] [--no-skimage] [--only grid|hybrid|replan]

1. Grid A*: pyastar2d (C++), scikit-image MCP / MCP_Geometric and
   edgepilot's numba A* on the same seeded maps, interleaved round by round.
2. Hybrid-A* on a 1000 x 1000 costmap (0.1 m cells), goals 40 m away:
   p50 over 20 seeded queries beside Nav2 Smac Hybrid-A*'s published
   30-200 ms (344k-cell maps; not run here: it needs ROS 2) and our 50 ms
   target.
3. Replanning: time from a costmap change on the path to a new path, for
   A* on a 20 m local window (0.1 m cells) spliced into the global path,
   vs A* over the whole 100 m map.

Prints per-map medians, per-round ratios ours/peer, and checks every path's
cost against the optimum under the same move-cost rule (ours is the
optimum: it is property-tested against Dijkstra; a peer path that breaks
the rule, e.g. cuts a corner, is reported as such).
"""
from __future__ import annotations

import argparse
import statistics
import time

import cv2
import numpy as np

from edgepilot.vehicle.planning.astar import astar, path_cost, search_stats


def random_map(rng: np.random.Generator, n: int = 1024, p: float = 0.25) -> np.ndarray:
    w = np.ones((n, n), np.float32)
    w[rng.random((n, n)) < p] = np.inf
    return w


def rooms_map(rng: np.random.Generator, n: int = 2048, room: int = 64, door: int = 6) -> np.ndarray:
    """Rooms of ``room`` cells separated by 2-cell walls with one or two
    doors per wall, and a few long corridors cut straight across."""
    w = np.ones((n, n), np.float32)
    for k in range(0, n, room):
        w[k:k + 2, :] = np.inf
        w[:, k:k + 2] = np.inf
    nr = n // room
    for i in range(nr):
        for j in range(nr):
            r0, c0 = i * room, j * room
            for _ in range(int(rng.integers(1, 3))):
                o = int(rng.integers(4, room - door - 2))
                w[r0:r0 + 2, c0 + o:c0 + o + door] = 1.0      # door in the wall above
            for _ in range(int(rng.integers(1, 3))):
                o = int(rng.integers(4, room - door - 2))
                w[r0 + o:r0 + o + door, c0:c0 + 2] = 1.0      # door in the wall to the left
    for _ in range(4):
        k = int(rng.integers(1, nr)) * room + room // 2
        if rng.random() < 0.5:
            w[k:k + 4, :] = 1.0
        else:
            w[:, k:k + 4] = 1.0
    w[:, 0:2] = np.inf
    w[0:2, :] = np.inf
    return w


def open_blocks_map(rng: np.random.Generator, n: int = 1024) -> np.ndarray:
    """Open water/field with large rectangular blocks and an inflation
    gradient: weight = 1 + 50 exp(-0.15 d) within 30 cells of a block."""
    occ = np.zeros((n, n), np.uint8)
    for _ in range(40):
        h, w_ = rng.integers(20, 120, size=2)
        r, c = rng.integers(0, n - 120, size=2)
        occ[r:r + h, c:c + w_] = 1
    d = cv2.distanceTransform((1 - occ).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    w = (1.0 + 50.0 * np.exp(-0.15 * d)).astype(np.float32)
    w[d > 30] = 1.0
    w[occ.astype(bool) | (d < 3)] = np.inf
    return w


def pick_ends(w: np.ndarray) -> tuple[tuple[int, int], tuple[int, int]]:
    """Free cells near opposite corners, connected under the strictest rule."""
    n0, n1 = w.shape
    for k in range(4, min(n0, n1) // 4):
        s, g = (k, k), (n0 - 1 - k, n1 - 1 - k)
        if np.isfinite(w[s]) and np.isfinite(w[g]) and astar(w, s, g) is not None:
            return s, g
    raise RuntimeError("no connected corner pair")


def run(rounds: int, with_skimage: bool) -> None:
    import pyastar2d
    if with_skimage:
        from skimage.graph import MCP, MCP_Geometric

    rng = np.random.default_rng(20240611)
    maps = {
        "random25 1024": random_map(rng),
        "rooms 2048": rooms_map(rng),
        "open+inflation 1024": open_blocks_map(rng),
    }
    ends = {name: pick_ends(w) for name, w in maps.items()}
    # warm every contender once (JIT is paid once and cached; not timed)
    from edgepilot.vehicle.planning import warm_kernels
    warm_kernels()

    def c_pyastar(w, s, g):
        return pyastar2d.astar_path(w, s, g, allow_diagonal=True)

    def c_ours_t(w, s, g):
        return astar(w, s, g, move_cost="target")

    def c_ours_g(w, s, g):
        return astar(w, s, g, move_cost="geometric")

    def c_mcp(w, s, g, cls):
        m = cls(w, fully_connected=True)
        m.find_costs([s], [g])
        return np.array(m.traceback(g))

    contenders = [("pyastar2d", c_pyastar, "target"), ("ours target", c_ours_t, "target"),
                  ("ours geometric", c_ours_g, "geometric")]
    if with_skimage:
        contenders += [("skimage MCP", lambda w, s, g: c_mcp(w, s, g, MCP), "target"),
                       ("skimage MCP_Geometric", lambda w, s, g: c_mcp(w, s, g, MCP_Geometric), "geometric")]
    times = {(m, c[0]): [] for m in maps for c in contenders}
    costs = {}
    for rnd in range(rounds):
        for mname, w in maps.items():
            s, g = ends[mname]
            order = contenders if rnd % 2 == 0 else contenders[::-1]
            for cname, fn, rule in order:
                t0 = time.perf_counter()
                p = fn(w, s, g)
                times[(mname, cname)].append(time.perf_counter() - t0)
                if rnd == 0:
                    costs[(mname, cname)] = (rule, p)

    print(f"{rounds} rounds, interleaved; times in ms (median), ratio = ours / pyastar2d per round (median, worst)")
    for mname, w in maps.items():
        s, g = ends[mname]
        print(f"\n== {mname}  start {s} goal {g}")
        opt = {r: path_cost(w, costs[(mname, 'ours ' + r)][1], r) for r in ("target", "geometric")}
        for cname, _, rule in contenders:
            ts = times[(mname, cname)]
            p = costs[(mname, cname)][1]
            cost = path_cost(w, p, rule)
            cut = 0
            if rule == "geometric" or cname == "pyastar2d":
                d = np.abs(np.diff(p, axis=0)).sum(axis=1) == 2
                a, b = p[:-1][d], p[1:][d]
                cut = int((~np.isfinite(w[a[:, 0], b[:, 1]]) | ~np.isfinite(w[b[:, 0], a[:, 1]])).sum())
            note = f"cost {cost:.3f} vs optimum({rule}) {opt[rule]:.3f} ({cost / opt[rule]:.6f}x)"
            if cut:
                note += f"; cuts {cut} blocked corners (legal under 'target', not under 'geometric')"
            line = f"  {cname:24s} {statistics.median(ts) * 1e3:9.2f} ms   {note}"
            if cname.startswith("ours"):
                st = search_stats(w, s, g, move_cost=rule)
                line += f"\n  {'':24s} search {st.method!r}, {st.expansions} expansions"
                ratios = [a / b for a, b in zip(ts, times[(mname, 'pyastar2d')])]
                line += (f"\n  {'':24s} ratio vs pyastar2d: median {statistics.median(ratios):.2f}x, "
                         f"worst {max(ratios):.2f}x, per round " + " ".join(f"{r:.2f}" for r in ratios))
            print(line)


def clutter_costmap(rng: np.random.Generator, n: int = 1000, res: float = 0.1):
    """An n x n costmap (res m cells) with 60 random rectangles 1-8 m a side,
    inflated for a 0.4 m inscribed radius out to 1.5 m."""
    from edgepilot.vehicle.costmap import InflatedCostmap, InflationParams
    from edgepilot.vehicle.maps import GridMap
    occ = np.zeros((n, n), bool)
    for _ in range(60):
        h, w_ = rng.integers(10, 80, size=2)
        r, c = rng.integers(0, n - 80, size=2)
        occ[r:r + h, c:c + w_] = True
    return InflatedCostmap(GridMap(occ, res), InflationParams(0.4, 1.5))


def run_hybrid(n_queries: int = 20, radius: float = 3.0) -> None:
    import math

    from edgepilot.vehicle.planning.hybrid_astar import HybridParams, hybrid_astar
    rng = np.random.default_rng(20240612)
    cm = clutter_costmap(rng)
    n = cm.shape[0]
    free = np.argwhere(cm.distance >= 1.5)   # poses outside the inflation band
    queries = []
    while len(queries) < n_queries:
        s = free[rng.integers(len(free))]
        a = rng.uniform(0, 2 * math.pi)
        g = s + np.round(400 * np.array([math.sin(a), math.cos(a)])).astype(int)   # 40 m away
        if min(s.min(), g.min(), n - 1 - s.max(), n - 1 - g.max()) < 50 or cm.distance[g[0], g[1]] < 1.5:
            continue
        sp, gp = cm.cell_to_world(*s), cm.cell_to_world(*g)
        queries.append(((sp[0], sp[1], rng.uniform(-math.pi, math.pi)),
                        (gp[0], gp[1], rng.uniform(-math.pi, math.pi))))
    P = HybridParams(turning_radius=radius)
    hybrid_astar(cm, queries[0][0], queries[0][1], P)       # JIT load, not timed
    times, found, lengths = [], 0, []
    for s, g in queries:
        t0 = time.perf_counter()
        p = hybrid_astar(cm, s, g, P)
        times.append(time.perf_counter() - t0)
        if p is not None:
            found += 1
            lengths.append(p.length)
    t = np.array(times) * 1e3
    print(f"\n== Hybrid-A*: {n}x{n} costmap at {cm.resolution} m, turning radius {radius} m, forward only, "
          f"{n_queries} queries with goals 40 m away (random start and goal headings)")
    print(f"  ours          p50 {np.percentile(t, 50):7.1f} ms   p90 {np.percentile(t, 90):7.1f} ms   "
          f"max {t.max():7.1f} ms   found {found}/{n_queries} (None = expansion limit {P.max_expansions})")
    print(f"  path length   median {statistics.median(lengths):.1f} m for 40 m straight-line")
    print("  Nav2 Smac Hybrid-A* (published, 344k-cell maps): 30-200 ms;  target: p50 < 50 ms")


def run_replan(n_drops: int = 10) -> None:
    """A wall is dropped across the global path 5 m ahead of the vehicle;
    time costmap update + new path, local window vs full map."""
    from edgepilot.vehicle.planning.astar import astar
    rng = np.random.default_rng(20240613)
    full_t, local_t = [], []
    for k in range(n_drops):
        cm = clutter_costmap(rng)
        n = cm.shape[0]
        free = np.argwhere(cm.distance >= 1.5)
        while True:
            s = tuple(int(v) for v in free[rng.integers(len(free))])
            g = tuple(int(v) for v in free[rng.integers(len(free))])
            if min(s + g) >= 150 and max(s + g) < n - 150 and math_dist(s, g) > 500:
                path = astar(cm.weights, s, g)
                if path is not None:
                    break
        i = min(50, len(path) - 1)                 # 5 m ahead along the path
        pr, pc = path[i]
        dr, dc = path[min(i + 1, len(path) - 1)] - path[i - 1]
        nr, nc = -dc, dr                            # across the path
        nn = float(np.hypot(nr, nc)) or 1.0
        wall = np.array([[pr + round(nr / nn * j), pc + round(nc / nn * j)] for j in range(-15, 16)])
        for mode in (("full", "local") if k % 2 == 0 else ("local", "full")):
            c2 = copy_costmap(cm)
            t0 = time.perf_counter()
            c2.add_obstacles(cells=wall)
            if mode == "full":
                newp = astar(c2.weights, s, g)
                full_t.append(time.perf_counter() - t0)
            else:
                half = 100                             # 20 m window at 0.1 m
                r0, c0 = max(0, s[0] - half), max(0, s[1] - half)
                r1, c1 = min(n, s[0] + half), min(n, s[1] + half)
                inside = ((path[:, 0] >= r0) & (path[:, 0] < r1) & (path[:, 1] >= c0) & (path[:, 1] < c1))
                j = int(np.flatnonzero(inside)[-1])   # where the global path leaves the window
                while j > i and not np.isfinite(c2.weights[path[j, 0], path[j, 1]]):
                    j -= 1
                win = np.ascontiguousarray(c2.weights[r0:r1, c0:c1])
                loc = astar(win, (s[0] - r0, s[1] - c0), (path[j, 0] - r0, path[j, 1] - c0))
                if loc is not None:
                    newp = np.vstack([loc + (r0, c0), path[j + 1:]])
                local_t.append(time.perf_counter() - t0)
            assert newp is not None
    f, l_ = np.array(full_t) * 1e3, np.array(local_t) * 1e3
    print(f"\n== Replanning: wall dropped across the path 5 m ahead; costmap update + new path "
          f"({n_drops} drops, 1000x1000 map at 0.1 m, goal 50+ m away)")
    print(f"  full-map A*               p50 {np.median(f):7.2f} ms   max {f.max():7.2f} ms")
    print(f"  20 m local-window A*      p50 {np.median(l_):7.2f} ms   max {l_.max():7.2f} ms   "
          f"(ratio local/full {np.median(l_) / np.median(f):.2f}x)")
    print("  one control cycle: 50 ms (UGV, 20 Hz), 100 ms (USV, 10 Hz)")


def math_dist(a, b) -> float:
    return float(np.hypot(a[0] - b[0], a[1] - b[1]))


def copy_costmap(cm):
    import copy
    c2 = copy.copy(cm)
    c2.occupied = cm.occupied.copy()
    c2.distance = cm.distance.copy()
    c2.weights = cm.weights.copy()
    return c2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--no-skimage", action="store_true", help="skip the (slow, Dijkstra) skimage peers")
    ap.add_argument("--only", choices=["grid", "hybrid", "replan"], default=None)
    args = ap.parse_args()
    if args.only in (None, "grid"):
        run(args.rounds, not args.no_skimage)
    if args.only in (None, "hybrid"):
        run_hybrid()
    if args.only in (None, "replan"):
        run_replan()


if __name__ == "__main__":
    main()
