"""Numba kernels of the auction: cheapest feasible insertion of every task
into a route, and the CBBA consensus table for one received message.

Inputs are validated and allocated by ``costs.best_insertion`` and
``cbba.CbbaAgent``; the NumPy versions (``costs.best_insertion_numpy``,
``cbba.consensus_numpy``) are the oracles the tests compare against.
"""
from __future__ import annotations

import numpy as np
from numba import njit

EPS = 1e-9
NONE = -1
LEAVE, UPDATE, RESET = 0, 1, 2


@njit(cache=True)
def insertion_kernel(start, B, service, open_, close, load, able, cand, route,
                     capacity, endurance, delta, pos):
    """For each task j with cand[j] and able[j]: the least increase in route
    cost (``delta[j]``, inf if nowhere feasible) from inserting j before
    route position ``pos[j]`` (len(route): at the end).  start (T,) leg from
    the vehicle's start, B (T, T) legs between tasks, service (T,) [s];
    open_/close (T,) arrival windows; load (T,) [kg]."""
    latency_insertion_kernel(start, B, service, open_, close, load, able, cand, route, capacity, endurance,
                             0.0, 0.0, close, delta, pos)


@njit(cache=True)
def latency_insertion_kernel(start, B, service, open_, close, load, able, cand, route,
                             capacity, endurance, lam, t0, lat_cap, delta, pos):
    """``insertion_kernel`` for the objective route cost + ``lam`` x the sum
    of the tasks' finish times: inserting j before position k costs its
    detour d plus ``lam`` x (j's finish time, ``t0`` [s] + from the route's
    start, + d for each of the L - k tasks it delays), the latency part at
    most ``lat_cap[j]`` [s].  ``delta[j]`` is the least such increase and
    ``pos[j]`` where; ``lam`` 0 is ``insertion_kernel`` (``lat_cap`` unread).
    The delay passed on is taken as d (exact without waits for a window;
    a wait absorbs part of it, so this errs towards shorter routes)."""
    T = start.shape[0]
    L = route.shape[0]
    arr = np.empty(L)
    fin = np.empty(L)
    wait = np.empty(L)
    legs = np.empty(L)
    slack = np.empty(L + 1)
    t = 0.0
    ld = 0.0
    for n in range(L):
        j = route[n]
        leg = start[j] if n == 0 else B[route[n - 1], j]
        legs[n] = leg
        t += leg
        arr[n] = t
        w = open_[j] - t
        if w < 0.0:
            w = 0.0
        wait[n] = w
        t = t + w + service[j]
        fin[n] = t
        ld += load[j]
    last = fin[L - 1] if L > 0 else 0.0
    slack[L] = endurance - last
    for n in range(L - 1, -1, -1):
        s = wait[n] + slack[n + 1]
        c = close[route[n]] - arr[n]
        slack[n] = c if c < s else s
    for j in range(T):
        delta[j] = np.inf
        pos[j] = 0
        if not (cand[j] and able[j]) or ld + load[j] > capacity + EPS:
            continue
        best = np.inf
        bk = 0
        for k in range(L + 1):
            if k == 0:
                tj = start[j]
                fp = 0.0
            else:
                tj = B[route[k - 1], j]
                fp = fin[k - 1]
            a = fp + tj
            if not (a <= close[j] + EPS):
                continue
            f = (a if a > open_[j] else open_[j]) + service[j]
            if k < L:
                tn = B[j, route[k]]
                if not (f + tn - arr[k] <= slack[k] + EPS):
                    continue
                d = tj + service[j] + tn - legs[k]
            else:
                if not (f - last <= slack[L] + EPS):
                    continue
                d = tj + service[j]
            if lam > 0.0:
                pen = lam * (t0 + f + (L - k) * d)
                d = d + (pen if pen < lat_cap[j] else lat_cap[j])
            if d < best:
                best = d
                bk = k
        delta[j] = best
        pos[j] = bk


@njit(cache=True)
def _stamp(s, a):
    return s[a] if a >= 0 else -np.inf


@njit(cache=True)
def consensus_kernel(i, k, zk, yk, sk, zi, yi, si):
    """Apply the CBBA update/reset/leave table for a message from agent k
    (its winners zk, bids yk, timestamps sk) to receiver i's zi, yi in place.
    Timestamps si are only read (the caller merges them afterwards)."""
    T = zk.shape[0]
    for j in range(T):
        m = zk[j]
        n = zi[j]
        beats = yk[j] > yi[j] or (yk[j] == yi[j] and m >= 0 and (n < 0 or m < n))
        skm = _stamp(sk, m)
        sim = _stamp(si, m)
        skn = _stamp(sk, n)
        sin = _stamp(si, n)
        act = LEAVE
        if m == k:
            if n == i:
                act = UPDATE if beats else LEAVE
            elif n == k or n < 0:
                act = UPDATE
            elif skn > sin or beats:
                act = UPDATE
        elif m == i:
            if n == k:
                act = RESET
            elif n != i and n >= 0 and skn > sin:
                act = RESET
        elif m >= 0:                 # the sender credits a third agent m
            if n == i:
                act = UPDATE if (skm > sim and beats) else LEAVE
            elif n == k:
                act = UPDATE if skm > si[k] else RESET
            elif n == m or n < 0:
                act = UPDATE if skm > sim else LEAVE
            else:                    # receiver credits a fourth agent n
                if skm > sim and (skn > sin or beats):
                    act = UPDATE
                elif skn > sin and sim > skm:
                    act = RESET
        else:                        # the sender knows no winner
            if n == k:
                act = UPDATE
            elif n != i and n >= 0 and skn > sin:
                act = UPDATE
        if act == UPDATE:
            zi[j] = m
            yi[j] = yk[j]
        elif act == RESET:
            zi[j] = NONE
            yi[j] = 0.0


@njit(cache=True)
def bundle_kernel(agent, start, B, service, open_, close, load, able, cand, capacity, endurance,
                  reward, winner, bid, route, n_route, bundle, n_bundle, cap, limit, lam, t0, lat_cap,
                  takeover):
    """CBBA bundle building: while the agent can outbid the winning bid it
    knows on some candidate task, add the best-scoring one (reward less the
    cheapest feasible insertion, with ``lam`` > 0 the latency-weighted one
    of ``latency_insertion_kernel``, less ``takeover`` for a task another
    agent has won; ties: lowest task index), insert it into
    ``route`` and announce a warped bid (at most ``cap``, the last bid).
    ``route``/``bundle`` are buffers holding ``n_route``/``n_bundle`` tasks;
    ``cand`` is cleared for tasks taken.  Bids are rounded to float32, the
    precision MAVLink carries them with, so every agent compares the same
    numbers.  Returns (n_route, n_bundle)."""
    T = start.shape[0]
    delta = np.empty(T)
    pos = np.empty(T, np.int64)
    while limit < 0 or n_bundle < limit:
        latency_insertion_kernel(start, B, service, open_, close, load, able, cand, route[:n_route],
                                 capacity, endurance, lam, t0, lat_cap, delta, pos)
        best = -np.inf
        bj = -1
        for j in range(T):
            if not cand[j] or not delta[j] < np.inf:
                continue
            score = reward[j] - delta[j]
            if winner[j] >= 0 and winner[j] != agent:
                score -= takeover
            if not score > 0.0:
                continue
            b = np.float64(np.float32(score if score < cap else cap))   # as sent on the wire
            n = winner[j]
            if not (b > bid[j] or (b == bid[j] and (n < 0 or agent < n))):
                continue
            if score > best:
                best = score
                bj = j
        if bj < 0:
            break
        b = np.float64(np.float32(best if best < cap else cap))
        p = pos[bj]
        for q in range(n_route, p, -1):
            route[q] = route[q - 1]
        route[p] = bj
        n_route += 1
        bundle[n_bundle] = bj
        n_bundle += 1
        cand[bj] = False
        bid[bj] = b
        winner[bj] = agent
        cap = b
    return n_route, n_bundle


@njit(cache=True)
def route_cost_kernel(start, B, service, open_, close, route, n, endurance):
    """Cost [s] (travel + service) of the first ``n`` tasks of ``route``,
    or inf if a window or the endurance is broken."""
    return _objective(start, B, service, open_, close, route, n, endurance, 0.0)


@njit(cache=True)
def _objective(start, B, service, open_, close, route, n, endurance, lam):
    """Cost + ``lam`` x the sum of finish times [s] of the first ``n`` tasks
    of ``route``, or inf if a window or the endurance is broken."""
    t = 0.0
    cost = 0.0
    for q in range(n):
        j = route[q]
        leg = start[j] if q == 0 else B[route[q - 1], j]
        t += leg
        if not (t <= close[j] + EPS):
            return np.inf
        if t < open_[j]:
            t = open_[j]
        t += service[j]
        cost += leg + service[j] + lam * t
    if not (t <= endurance + EPS):
        return np.inf
    return cost


@njit(cache=True)
def _prefix(start, B, service, open_, route, n, pt, pc, lam):
    """pt[q], pc[q]: time and objective (cost + ``lam`` x the sum of finish
    times) when the first q tasks are done."""
    pt[0] = 0.0
    pc[0] = 0.0
    for q in range(n):
        j = route[q]
        leg = start[j] if q == 0 else B[route[q - 1], j]
        t = pt[q] + leg
        if t < open_[j]:
            t = open_[j]
        pt[q + 1] = t + service[j]
        pc[q + 1] = pc[q] + leg + service[j] + lam * pt[q + 1]


@njit(cache=True)
def _cost_from(start, B, service, open_, close, cand, n, s, t, cost, bound, endurance, lam):
    """Objective of ``cand`` given its first ``s`` tasks end at time t with
    objective ``cost``; inf if infeasible or not below ``bound`` (pruned
    early: every task adds to it)."""
    for q in range(s, n):
        j = cand[q]
        leg = start[j] if q == 0 else B[cand[q - 1], j]
        t += leg
        if not (t <= close[j] + EPS):
            return np.inf
        if t < open_[j]:
            t = open_[j]
        t += service[j]
        cost += leg + service[j] + lam * t
        if not (cost < bound - 1e-9):
            return np.inf
    if not (t <= endurance + EPS):
        return np.inf
    return cost


@njit(cache=True)
def improve_route_kernel(start, B, service, open_, close, route, endurance, max_passes):
    """Re-sequence a route in place by first-improvement 2-opt (reverse a
    stretch) and relocation (move one task), keeping every window and the
    endurance, until no move helps or ``max_passes`` passes.  The set of
    tasks (and so the load) does not change.  Each candidate is priced from
    the first position it changes, and dropped as soon as it costs more
    than the route it would replace.  Returns the cost."""
    return improve_route_latency_kernel(start, B, service, open_, close, route, endurance, max_passes, 0.0)


@njit(cache=True)
def improve_route_latency_kernel(start, B, service, open_, close, route, endurance, max_passes, lam):
    """``improve_route_kernel`` for cost + ``lam`` x the sum of the tasks'
    finish times (the auction's objective with a latency weight: with
    ``lam`` > 0 a near task is not left to the end of the route because
    that saves a little travel).  Returns that objective."""
    n = route.shape[0]
    best = _objective(start, B, service, open_, close, route, n, endurance, lam)
    if n < 2 or not best < np.inf:
        return best
    cand = np.empty(n, np.int64)
    pt = np.empty(n + 1)
    pc = np.empty(n + 1)
    _prefix(start, B, service, open_, route, n, pt, pc, lam)
    for _ in range(max_passes):
        improved = False
        for i in range(n - 1):
            for k in range(i + 1, n):
                for q in range(n):
                    cand[q] = route[q]
                for q in range(k - i + 1):
                    cand[i + q] = route[k - q]
                c = _cost_from(start, B, service, open_, close, cand, n, i, pt[i], pc[i], best, endurance, lam)
                if c < best:
                    best = c
                    route[:] = cand
                    _prefix(start, B, service, open_, route, n, pt, pc, lam)
                    improved = True
        for i in range(n):
            for k in range(n):
                if k == i:
                    continue
                moved = route[i]
                w = 0
                for q in range(n):
                    if q != i:
                        cand[w] = route[q]
                        w += 1
                for q in range(n - 1, k, -1):
                    cand[q] = cand[q - 1]
                cand[k] = moved
                s0 = i if i < k else k
                c = _cost_from(start, B, service, open_, close, cand, n, s0, pt[s0], pc[s0], best, endurance, lam)
                if c < best:
                    best = c
                    route[:] = cand
                    _prefix(start, B, service, open_, route, n, pt, pc, lam)
                    improved = True
        if not improved:
            break
    return best
