"""Grid A* benchmark: pyastar2d (C++), scikit-image MCP / MCP_Geometric and
edgepilot's numba A* on the same seeded maps, interleaved round by round.

Run by hand (not part of the test suite):

    PYTHONPATH=. python benchmarks/planning.py [--rounds 7] [--no-skimage]

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

from vehicle.planning.astar import astar, path_cost


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
    tiny = np.ones((4, 4), np.float32)
    astar(tiny, (0, 0), (3, 3))
    astar(tiny, (0, 0), (3, 3), move_cost="target")

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
                ratios = [a / b for a, b in zip(ts, times[(mname, 'pyastar2d')])]
                line += (f"\n  {'':24s} ratio vs pyastar2d: median {statistics.median(ratios):.2f}x, "
                         f"worst {max(ratios):.2f}x, per round " + " ".join(f"{r:.2f}" for r in ratios))
            print(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--no-skimage", action="store_true", help="skip the (slow, Dijkstra) skimage peers")
    args = ap.parse_args()
    run(args.rounds, not args.no_skimage)


if __name__ == "__main__":
    main()
