"""Numba kernels for Dubins paths (forward-only, minimum turning radius R).

A pose is (x, y, yaw): map-frame ENU metres, yaw in radians CCW from east.
A Dubins path is three segments, each a left arc (curvature +1/R), a
straight (0) or a right arc (-1/R); ``seg_k`` holds the segments'
curvatures in units of 1/R (+1, 0, -1) and ``seg_len`` their lengths in
metres.  Word formulas follow Shkel & Lumelsky (2001), "Classification of
the Dubins set", in the normalised frame (R = 1, start at the origin,
goal on the +x axis).  Validated in a Python wrapper; no Python objects.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

TWO_PI = 2.0 * math.pi

# word -> segment curvature signs (L = +1, S = 0, R = -1)
WORDS = np.array([[1, 0, 1],     # LSL
                  [-1, 0, -1],   # RSR
                  [1, 0, -1],    # LSR
                  [-1, 0, 1],    # RSL
                  [-1, 1, -1],   # RLR
                  [1, -1, 1]],   # LRL
                 dtype=np.int64)
WORD_NAMES = ("LSL", "RSR", "LSR", "RSL", "RLR", "LRL")


@njit(cache=True)
def mod2pi(a):
    a = a - TWO_PI * math.floor(a / TWO_PI)
    if a >= TWO_PI:   # rounding at the top of the range
        a -= TWO_PI
    return a


@njit(cache=True)
def dubins_word(word, alpha, beta, d):
    """Normalised (R = 1) segment lengths (t, p, q) of one word, or
    (-1, -1, -1) when the word does not exist for this configuration."""
    sa, sb = math.sin(alpha), math.sin(beta)
    ca, cb = math.cos(alpha), math.cos(beta)
    cab = math.cos(alpha - beta)
    if word == 0:    # LSL
        p2 = 2.0 + d * d - 2.0 * cab + 2.0 * d * (sa - sb)
        if p2 < 0.0:
            return -1.0, -1.0, -1.0
        tmp = math.atan2(cb - ca, d + sa - sb)
        return mod2pi(-alpha + tmp), math.sqrt(p2), mod2pi(beta - tmp)
    if word == 1:    # RSR
        p2 = 2.0 + d * d - 2.0 * cab + 2.0 * d * (sb - sa)
        if p2 < 0.0:
            return -1.0, -1.0, -1.0
        tmp = math.atan2(ca - cb, d - sa + sb)
        return mod2pi(alpha - tmp), math.sqrt(p2), mod2pi(-beta + tmp)
    if word == 2:    # LSR
        p2 = -2.0 + d * d + 2.0 * cab + 2.0 * d * (sa + sb)
        if p2 < 0.0:
            return -1.0, -1.0, -1.0
        p = math.sqrt(p2)
        tmp = math.atan2(-ca - cb, d + sa + sb) - math.atan2(-2.0, p)
        return mod2pi(-alpha + tmp), p, mod2pi(-mod2pi(beta) + tmp)
    if word == 3:    # RSL
        p2 = -2.0 + d * d + 2.0 * cab - 2.0 * d * (sa + sb)
        if p2 < 0.0:
            return -1.0, -1.0, -1.0
        p = math.sqrt(p2)
        tmp = math.atan2(ca + cb, d - sa - sb) - math.atan2(2.0, p)
        return mod2pi(alpha - tmp), p, mod2pi(beta - tmp)
    if word == 4:    # RLR
        tmp = (6.0 - d * d + 2.0 * cab + 2.0 * d * (sa - sb)) / 8.0
        if abs(tmp) > 1.0:
            return -1.0, -1.0, -1.0
        p = mod2pi(TWO_PI - math.acos(tmp))
        t = mod2pi(alpha - math.atan2(ca - cb, d - sa + sb) + p / 2.0)
        return t, p, mod2pi(alpha - beta - t + p)
    # LRL
    tmp = (6.0 - d * d + 2.0 * cab + 2.0 * d * (sb - sa)) / 8.0
    if abs(tmp) > 1.0:
        return -1.0, -1.0, -1.0
    p = mod2pi(TWO_PI - math.acos(tmp))
    t = mod2pi(-alpha + math.atan2(-ca + cb, d + sa - sb) + p / 2.0)
    return t, p, mod2pi(mod2pi(beta) - alpha - t + p)


@njit(cache=True)
def dubins_shortest(x0, y0, t0, x1, y1, t1, radius):
    """Shortest Dubins path between two poses.  Returns (length [m], word
    index into WORDS, seg0, seg1, seg2 lengths [m]); length is inf when no
    word exists (cannot happen for a valid input, kept for safety)."""
    dx, dy = x1 - x0, y1 - y0
    d = math.sqrt(dx * dx + dy * dy) / radius
    th = mod2pi(math.atan2(dy, dx)) if d > 1e-12 else 0.0
    alpha = mod2pi(t0 - th)
    beta = mod2pi(t1 - th)
    best, bw, b0, b1, b2 = np.inf, -1, 0.0, 0.0, 0.0
    for w in range(6):
        t, p, q = dubins_word(w, alpha, beta, d)
        if t < 0.0:
            continue
        L = t + p + q
        if L < best:
            best, bw, b0, b1, b2 = L, w, t, p, q
    return best * radius, bw, b0 * radius, b1 * radius, b2 * radius


@njit(cache=True)
def dubins_to_point(x0, y0, t0, x1, y1, radius):
    """Shortest turn-then-straight (LS or RS) path from a pose to a point
    with free final heading.  Returns (length [m], turn sign +1 left / -1
    right, arc length [m], straight length [m]).  A point inside one
    turning circle is reached by the other turn; length is inf only when
    neither works (in exact arithmetic only the start point itself)."""
    best, bk, barc, bstr = np.inf, 0, 0.0, 0.0
    st, ct = math.sin(t0), math.cos(t0)
    for k in (1, -1):
        cx = x0 - k * radius * st
        cy = y0 + k * radius * ct
        vx, vy = x1 - cx, y1 - cy
        dd = math.sqrt(vx * vx + vy * vy)
        if dd < radius:
            continue
        tang = math.sqrt(max(dd * dd - radius * radius, 0.0))
        bet = math.atan2(vy, vx)
        gam = math.acos(min(1.0, radius / dd))
        if k == 1:
            psi = bet - gam + 0.5 * math.pi
            arc = mod2pi(psi - t0)
        else:
            psi = bet + gam - 0.5 * math.pi
            arc = mod2pi(t0 - psi)
        # a full circle back to the start is a zero turn
        if arc > TWO_PI - 1e-9:
            arc = 0.0
        L = radius * arc + tang
        if L < best:
            best, bk, barc, bstr = L, k, radius * arc, tang
    return best, bk, barc, bstr


@njit(cache=True)
def advance(x, y, t, k, s):
    """Pose after travelling ``s`` metres (negative = backwards) from
    (x, y, t) with curvature ``k`` [1/m]."""
    if abs(k) < 1e-12:
        return x + s * math.cos(t), y + s * math.sin(t), t
    t1 = t + k * s
    return (x + (math.sin(t1) - math.sin(t)) / k,
            y - (math.cos(t1) - math.cos(t)) / k,
            t1)


@njit(cache=True)
def sample_segments(x, y, t, curv, lens, step):
    """Poses (N, 3) along consecutive segments of curvature ``curv[i]``
    [1/m] and length ``lens[i]`` [m] starting at (x, y, t), spaced at most
    ``step`` metres apart; the first row is the start pose, the last the
    end of the final segment."""
    n = 1
    for i in range(len(lens)):
        if lens[i] > 1e-12:
            n += max(1, int(math.ceil(lens[i] / step)))
    out = np.empty((n, 3))
    out[0, 0], out[0, 1], out[0, 2] = x, y, t
    j = 1
    for i in range(len(lens)):
        L = lens[i]
        if L <= 1e-12:
            continue
        m = max(1, int(math.ceil(L / step)))
        for s in range(1, m + 1):
            px, py, pt = advance(x, y, t, curv[i], L * s / m)
            out[j, 0], out[j, 1], out[j, 2] = px, py, pt
            j += 1
        x, y, t = out[j - 1, 0], out[j - 1, 1], out[j - 1, 2]
    return out
