"""Numba kernels for Hybrid-A* (validated by vehicle.planning.hybrid_astar).

Search state: continuous poses (x, y, yaw) in map-frame metres/radians,
deduplicated by bins (``bin_m`` square x heading bin) in the manner of Dolgov
et al. (2008): the first pose to close a bin owns it; an open bin is taken
over by a pose reaching it at lower cost.  Nodes live in flat arrays; the
bin -> node map is an open-addressing hash table (int64 keys) that doubles
when half full; the open list is a binary heap of (f, node).

Costmap: float32 ``weights`` (H, W), row 0 south, col 0 west, >= 1 and
``inf`` lethal.  A pose is free when its cell is inside the grid and not
lethal (the footprint is the costmap's inflation circle).  The cost of a
motion is the line integral of ``1 + cost_weight * (w - 1)`` along it
(metres when the map is all ones), times penalties for turning and
reversing, plus a penalty per change of direction.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from edgepilot.vehicle.planning._dubins_kernels import WORDS, advance, dubins_shortest, dubins_to_point, mod2pi

SQRT2 = math.sqrt(2.0)
TWO_PI = 2.0 * math.pi


# --------------------------------------------------------------- heuristic
@njit(cache=True)
def min_pool(weights, f, cost_weight, r0, r1, c0, c1):
    """Coarse grid over the fine window rows [r0, r1) x cols [c0, c1): the
    smallest per-metre cost ``1 + cost_weight * (w - 1)`` in each f x f
    block (inf when the whole block is lethal) — an optimistic coarse
    costmap for the heuristic.  Shape (ceil((r1-r0)/f), ceil((c1-c0)/f))."""
    hc, wc = (r1 - r0 + f - 1) // f, (c1 - c0 + f - 1) // f
    out = np.full((hc, wc), np.inf)
    for r in range(r0, r1):
        rr = (r - r0) // f
        for c in range(c0, c1):
            v = weights[r, c]
            if v < np.inf:
                v = 1.0 + cost_weight * (v - 1.0)
                cc = (c - c0) // f
                if v < out[rr, cc]:
                    out[rr, cc] = v
    return out


@njit(cache=True)
def _hpush(hk, hv, n, key, val):
    i = n
    hk[i] = key
    hv[i] = val
    while i > 0:
        p = (i - 1) >> 1
        if hk[p] <= key:
            break
        hk[i], hv[i] = hk[p], hv[p]
        i = p
    hk[i], hv[i] = key, val
    return n + 1


@njit(cache=True)
def _hpop(hk, hv, n):
    """Remove the root; returns (key, val, new size)."""
    key, val = hk[0], hv[0]
    n -= 1
    if n > 0:
        lk, lv = hk[n], hv[n]
        i = 0
        while True:
            c = 2 * i + 1
            if c >= n:
                break
            if c + 1 < n and hk[c + 1] < hk[c]:
                c += 1
            if hk[c] >= lk:
                break
            hk[i], hv[i] = hk[c], hv[c]
            i = c
        hk[i], hv[i] = lk, lv
    return key, val, n


@njit(cache=True)
def dijkstra_field(cost, gr, gc, cell_m):
    """Cost-to-go [m x cost] from every cell of the coarse grid ``cost``
    (per-metre costs, inf blocked) to cell (gr, gc), 8-connected, a move
    costing its length (``cell_m`` or sqrt 2 ``cell_m``) times the mean of
    the two cells' costs.  Diagonal moves may cut blocked corners: a pose
    path may cross a coarse block's corner, and the heuristic must not
    call a reachable cell unreachable."""
    h, w = cost.shape
    dist = np.full((h, w), np.inf)
    if not cost[gr, gc] < np.inf:
        return dist
    cap = 8 * h * w + 8
    hk = np.empty(cap)
    hv = np.empty(cap, np.int64)
    dist[gr, gc] = 0.0
    n = _hpush(hk, hv, 0, 0.0, gr * w + gc)
    dr = (-1, -1, -1, 0, 0, 1, 1, 1)
    dc = (-1, 0, 1, -1, 1, -1, 0, 1)
    while n > 0:
        d, idx, n = _hpop(hk, hv, n)
        r, c = idx // w, idx % w
        if d > dist[r, c]:
            continue
        cw = cost[r, c]
        for k in range(8):
            rr, cc = r + dr[k], c + dc[k]
            if rr < 0 or rr >= h or cc < 0 or cc >= w:
                continue
            nw = cost[rr, cc]
            if not nw < np.inf:
                continue
            step = cell_m
            if dr[k] != 0 and dc[k] != 0:
                step = cell_m * SQRT2   # corners may be cut: stays optimistic
            nd = d + step * 0.5 * (cw + nw)
            if nd < dist[rr, cc]:
                dist[rr, cc] = nd
                n = _hpush(hk, hv, n, nd, rr * w + cc)
    return dist


# --------------------------------------------------------------- helpers
@njit(cache=True)
def wrap_pi(a):
    """Angle wrapped to [-pi, pi)."""
    return a - TWO_PI * math.floor((a + math.pi) / TWO_PI)


@njit(cache=True)
def _free_cost(weights, res, ox, oy, x, y, cost_weight):
    """Per-metre cost at (x, y) [m], or -1 when outside the grid or lethal."""
    c = int(math.floor((x - ox) / res))
    r = int(math.floor((y - oy) / res))
    h, w = weights.shape
    if r < 0 or r >= h or c < 0 or c >= w:
        return -1.0
    v = weights[r, c]
    if not v < np.inf:
        return -1.0
    return 1.0 + cost_weight * (v - 1.0)


@njit(cache=True)
def _motion_cost(weights, res, ox, oy, x, y, t, k, s, cost_weight):
    """Integrated cost of travelling ``s`` m (signed) with curvature ``k``
    from (x, y, t), sampled every res/2 (excluding the start); -1 when any
    sample is lethal or off the grid."""
    L = abs(s)
    m = max(1, int(math.ceil(L / (0.5 * res))))
    tot = 0.0
    for i in range(1, m + 1):
        px, py, _ = advance(x, y, t, k, s * i / m)
        v = _free_cost(weights, res, ox, oy, px, py, cost_weight)
        if v < 0.0:
            return -1.0
        tot += v
    return tot * L / m


@njit(cache=True)
def _segments_cost(weights, res, ox, oy, x, y, t, curv, lens, cost_weight):
    """Cost of consecutive forward segments (curvature [1/m], length [m]);
    -1 when any part is lethal or off the grid."""
    tot = 0.0
    for i in range(len(lens)):
        if lens[i] <= 1e-12:
            continue
        c = _motion_cost(weights, res, ox, oy, x, y, t, curv[i], lens[i], cost_weight)
        if c < 0.0:
            return -1.0
        tot += c
        x, y, t = advance(x, y, t, curv[i], lens[i])
    return tot


@njit(cache=True)
def _hash_slot(keys, key):
    mask = len(keys) - 1
    hsh = key * 0x5851F42D4C957F2D   # wraps: a multiplicative hash
    i = (hsh ^ (hsh >> 29)) & mask
    while keys[i] != -1 and keys[i] != key:
        i = (i + 1) & mask
    return i


@njit(cache=True)
def _hash_grow(keys, vals):
    nk = np.full(2 * len(keys), -1, np.int64)
    nv = np.empty(2 * len(keys), np.int64)
    for i in range(len(keys)):
        if keys[i] != -1:
            j = _hash_slot(nk, keys[i])
            nk[j] = keys[i]
            nv[j] = vals[i]
    return nk, nv


@njit(cache=True)
def _heuristic(hfield, f, hr0, hc0, res, ox, oy, x, y, t, gx, gy, gt, free_heading, radius,
               use_dubins, slack):
    """max(2-D cost-to-go from ``hfield`` (coarse by ``f``, its cell (0, 0)
    at fine cell (hr0, hc0); 0 outside it), Dubins or Euclidean distance)."""
    c = (int(math.floor((x - ox) / res)) - hc0) // f
    r = (int(math.floor((y - oy) / res)) - hr0) // f
    h2 = 0.0
    if 0 <= r < hfield.shape[0] and 0 <= c < hfield.shape[1]:
        h2 = hfield[r, c]
        if not h2 < np.inf:
            return np.inf
        h2 = max(0.0, h2 - slack)
    hn = math.hypot(gx - x, gy - y)
    if use_dubins:
        if free_heading:
            L, _, _, _ = dubins_to_point(x, y, t, gx, gy, radius)
        else:
            L, _, _, _, _ = dubins_shortest(x, y, t, gx, gy, gt, radius)
        if L < np.inf and L > hn:
            hn = L
    return max(h2, hn)


# --------------------------------------------------------------- search
@njit(cache=True)
def hybrid_astar_kernel(weights, res, ox, oy, hfield, f, hr0, hc0, hslack,
                        sx, sy, st, gx, gy, gt, free_heading,
                        radius, step, bin_m, n_bins, allow_reverse,
                        turn_penalty, reverse_penalty, switch_penalty, cost_weight,
                        pos_tol, yaw_tol, max_expansions, heuristic_weight, shot_slack):
    """Hybrid-A* from pose (sx, sy, st) to (gx, gy, gt) (gt ignored when
    ``free_heading``).  Returns (poses (N, 3), directions (N,) int8 +1/-1,
    cost, expansions, status).  A Dubins shot to the goal is taken when free
    and its cost is within (1 + shot_slack) of the heuristic.  Status 0 found, 1 unreachable (open
    list empty), 2 expansion limit hit; poses is empty unless found."""
    h, w = weights.shape
    wb = int(math.ceil(w * res / bin_m)) + 1   # bins per row
    bin_w = TWO_PI / n_bins
    n_prim = 6 if allow_reverse else 3
    cap = max_expansions * n_prim + 2
    nx = np.empty(cap)
    ny = np.empty(cap)
    nt = np.empty(cap)
    ng = np.empty(cap)
    npar = np.empty(cap, np.int64)
    nk = np.empty(cap)          # curvature of the motion from the parent [1/m]
    nd = np.empty(cap, np.int8)  # direction of that motion
    nbin = np.empty(cap, np.int64)
    nclosed = np.zeros(cap, np.bool_)
    hk = np.empty(cap)
    hv = np.empty(cap, np.int64)
    keys = np.full(1 << 14, -1, np.int64)
    vals = np.empty(1 << 14, np.int64)
    used = 0
    empty_poses = np.empty((0, 3))
    empty_dirs = np.empty(0, np.int8)
    kmax = 1.0 / radius
    use_dubins = not allow_reverse

    # start node
    b0 = ((int(math.floor((sy - oy) / bin_m)) * wb + int(math.floor((sx - ox) / bin_m))) * n_bins
          + int(math.floor(mod2pi(st) / bin_w + 0.5)) % n_bins)
    nx[0], ny[0], nt[0], ng[0], npar[0], nk[0], nd[0], nbin[0] = sx, sy, st, 0.0, -1, 0.0, 1, b0
    j = _hash_slot(keys, b0)
    keys[j], vals[j] = b0, 0
    used += 1
    n_nodes = 1
    h0 = _heuristic(hfield, f, hr0, hc0, res, ox, oy, sx, sy, st, gx, gy, gt, free_heading, radius,
                    use_dubins, hslack)
    if not h0 < np.inf:
        return empty_poses, empty_dirs, np.inf, 0, 1
    nh = _hpush(hk, hv, 0, heuristic_weight * h0, 0)

    expansions = 0
    since_shot = 0
    found = -1
    shot_node = -1
    shot_len = np.zeros(3)
    shot_curv = np.zeros(3)
    shot_cost = 0.0
    status = 1
    while nh > 0:
        fval, cur, nh = _hpop(hk, hv, nh)
        if nclosed[cur]:
            continue
        j = _hash_slot(keys, nbin[cur])
        if vals[j] != cur:
            continue   # superseded by a cheaper pose in the same bin
        nclosed[cur] = True
        expansions += 1
        x, y, t, g = nx[cur], ny[cur], nt[cur], ng[cur]
        dgoal = math.hypot(gx - x, gy - y)
        dyaw = abs(wrap_pi(t - gt)) if not free_heading else 0.0
        if dgoal <= pos_tol and dyaw <= yaw_tol:
            found = cur
            status = 0
            break
        # analytic expansion: more often as the goal nears
        since_shot += 1
        interval = min(20, max(1, int(dgoal / (8.0 * step))))
        if since_shot >= interval:
            since_shot = 0
            if free_heading:
                L, kk, arc, strl = dubins_to_point(x, y, t, gx, gy, radius)
                if L < np.inf:
                    shot_curv[0], shot_curv[1], shot_curv[2] = kk * kmax, 0.0, 0.0
                    shot_len[0], shot_len[1], shot_len[2] = arc, strl, 0.0
            else:
                L, wd, a0, a1, a2 = dubins_shortest(x, y, t, gx, gy, gt, radius)
                if L < np.inf:
                    for s_ in range(3):
                        shot_curv[s_] = WORDS[wd, s_] * kmax
                    shot_len[0], shot_len[1], shot_len[2] = a0, a1, a2
            if L < np.inf:
                c = _segments_cost(weights, res, ox, oy, x, y, t, shot_curv, shot_len, cost_weight)
                # take the shot only when it is about as cheap as the best
                # conceivable finish from here (not a dash through high cost)
                hcur = _heuristic(hfield, f, hr0, hc0, res, ox, oy, x, y, t, gx, gy, gt, free_heading,
                                  radius, use_dubins, hslack)
                if c >= 0.0 and c <= (1.0 + shot_slack) * hcur + step:
                    shot_node = cur
                    shot_cost = c
                    status = 0
                    break
        if expansions >= max_expansions:
            status = 2
            break
        for p in range(n_prim):
            direction = 1 if p < 3 else -1
            k = (p % 3 - 1) * kmax
            c = _motion_cost(weights, res, ox, oy, x, y, t, k, direction * step, cost_weight)
            if c < 0.0:
                continue
            if k != 0.0:
                c *= 1.0 + turn_penalty
            if direction < 0:
                c *= reverse_penalty
            if cur != 0 and direction != nd[cur]:
                c += switch_penalty
            ng_ = g + c
            px, py, pt = advance(x, y, t, k, direction * step)
            pt = mod2pi(pt)
            col = int(math.floor((px - ox) / bin_m))
            row = int(math.floor((py - oy) / bin_m))
            b = (row * wb + col) * n_bins + int(math.floor(pt / bin_w + 0.5)) % n_bins
            j = _hash_slot(keys, b)
            if keys[j] == b:
                m = vals[j]
                if nclosed[m] or ng[m] <= ng_ + 1e-9:
                    continue
            hval = _heuristic(hfield, f, hr0, hc0, res, ox, oy, px, py, pt, gx, gy, gt, free_heading,
                              radius, use_dubins, hslack)
            if not hval < np.inf:
                continue
            q = n_nodes
            n_nodes += 1
            nx[q], ny[q], nt[q], ng[q], npar[q], nk[q], nd[q], nbin[q] = px, py, pt, ng_, cur, k, direction, b
            if keys[j] != b:
                keys[j] = b
                used += 1
            vals[j] = q
            nh = _hpush(hk, hv, nh, ng_ + heuristic_weight * hval, q)
            if 2 * used > len(keys):
                keys, vals = _hash_grow(keys, vals)

    if status != 0:
        return empty_poses, empty_dirs, np.inf, expansions, status

    last = found if found >= 0 else shot_node
    # chain of nodes start..last
    depth = 0
    m = last
    while m >= 0:
        depth += 1
        m = npar[m]
    chain = np.empty(depth, np.int64)
    m = last
    for i in range(depth - 1, -1, -1):
        chain[i] = m
        m = npar[m]
    sub = max(1, int(math.ceil(step / res)))
    n_shot = 0
    if shot_node >= 0:
        for s_ in range(3):
            if shot_len[s_] > 1e-12:
                n_shot += max(1, int(math.ceil(shot_len[s_] / res)))
    n_out = 1 + (depth - 1) * sub + n_shot
    poses = np.empty((n_out, 3))
    dirs = np.empty(n_out, np.int8)
    poses[0, 0], poses[0, 1], poses[0, 2] = nx[0], ny[0], st
    dirs[0] = nd[chain[1]] if depth > 1 else 1
    o = 1
    for i in range(1, depth):
        q = chain[i]
        pq = chain[i - 1]
        x, y, t = nx[pq], ny[pq], nt[pq]
        for s_ in range(1, sub + 1):
            px, py, pt = advance(x, y, t, nk[q], nd[q] * step * s_ / sub)
            poses[o, 0], poses[o, 1], poses[o, 2] = px, py, pt
            dirs[o] = nd[q]
            o += 1
    cost = ng[last]
    if shot_node >= 0:
        x, y, t = nx[last], ny[last], nt[last]
        for s_ in range(3):
            L = shot_len[s_]
            if L <= 1e-12:
                continue
            mm = max(1, int(math.ceil(L / res)))
            for i in range(1, mm + 1):
                px, py, pt = advance(x, y, t, shot_curv[s_], L * i / mm)
                poses[o, 0], poses[o, 1], poses[o, 2] = px, py, pt
                dirs[o] = 1
                o += 1
            x, y, t = poses[o - 1, 0], poses[o - 1, 1], poses[o - 1, 2]
        cost += shot_cost
    for i in range(n_out):
        poses[i, 2] = wrap_pi(poses[i, 2])
    return poses, dirs, cost, expansions, 0
