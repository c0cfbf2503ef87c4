"""Numba kernels of the COLREGs helm: the cost of every candidate
(heading, speed) against every contact, and shoreline clearance along
candidate headings.  Inputs are validated by ``vehicle.maritime.avoidance``.
Map frame ENU, metres, seconds, radians."""
from __future__ import annotations

import math

import numpy as np
from numba import njit

# Cost scale, from hard to soft: a pass inside the safe distance, grounding,
# breaking a rule, a pass inside the comfort distance, leaving the mission's
# heading and speed.  Weighted sums, as an IvP helm combines objectives.
W_COLLISION = 1000.0
W_SHORE = 500.0
W_RULE = 200.0
W_BOW = 100.0
W_SMALL_ALTERATION = 50.0
W_SIDE = 60.0          # turning the other way than the manoeuvre began, before she is past
W_COMFORT = 6.0
W_HEADING = 10.0       # per pi rad off the mission heading
W_SPEED = 10.0         # per full mission speed given up (course changes are the preferred action, Rule 8)
W_CHANGE = 1.5         # per pi rad off the previous decision (steadiness)

HEAD_ON, GIVE_WAY, STAND_ON, OVERTAKING, OVERTAKEN, OBSTACLE = 1, 2, 3, 4, 5, 6


@njit(cache=True)
def _wrap(a):
    return (a + math.pi) % (2.0 * math.pi) - math.pi


@njit(cache=True)
def helm_costs(cand_h, cand_s, ox, oy, cx, cy, cvx, cvy, c_yaw, radius, code, in_play, port_ban,
               need_action, side, past, h_ref, horizon, safe, comfort, min_alt, hd, sd, hp, shore_cost, cost):
    """cost[j] for candidate j (heading cand_h[j] [rad], speed cand_s[j]
    [m/s]).  Per contact i: ``in_play`` adds the CPA terms; ``port_ban``
    penalises turning to port of ``h_ref[i]`` (the heading when the
    encounter began: Rules 14, 15 and 17(c)); ``need_action`` penalises a
    starboard alteration smaller than ``min_alt`` (Rule 8: substantial);
    GIVE_WAY penalises passing ahead of the contact's bow (Rule 15);
    ``side[i]`` (+1 turned to port of ``h_ref``, -1 to starboard, 0 not yet)
    penalises turning the other way until she is ``past`` (no weaving)."""
    m = cand_h.shape[0]
    n = cx.shape[0]
    for j in range(m):
        h = cand_h[j]
        s = cand_s[j]
        vx = s * math.cos(h)
        vy = s * math.sin(h)
        c = W_HEADING * abs(_wrap(h - hd)) / math.pi
        if sd > 1e-6:
            c += W_SPEED * abs(s - sd) / sd
        c += W_CHANGE * abs(_wrap(h - hp)) / math.pi + shore_cost[j]
        for i in range(n):
            if not in_play[i]:
                continue
            px = cx[i] - ox
            py = cy[i] - oy
            rvx = cvx[i] - vx
            rvy = cvy[i] - vy
            v2 = rvx * rvx + rvy * rvy
            t = 0.0
            if v2 > 1e-9:
                t = -(px * rvx + py * rvy) / v2
            if t < 0.0:
                t = 0.0
            elif t > horizon:
                t = horizon
            dx = px + rvx * t
            dy = py + rvy * t
            d = math.sqrt(dx * dx + dy * dy) - radius[i]
            if d < safe:
                c += W_COLLISION * (1.0 + (safe - d) / safe)
            elif d < comfort:
                c += W_COMFORT * (comfort - d) / (comfort - safe)
            dh = _wrap(h - h_ref[i])          # > 0: to port of the reference heading
            if side[i] != 0 and not past[i] and dh * side[i] < -0.05:
                c += W_SIDE
            if t <= 0.0:
                continue  # opening under this candidate: the turn rules no longer bind
            if port_ban[i] and dh > 0.05:
                c += W_RULE * (0.5 + dh / math.pi)
            if need_action[i] and dh <= 0.0 and -dh < min_alt:
                c += W_SMALL_ALTERATION * (1.0 - (-dh) / min_alt)
            if code[i] == GIVE_WAY and d < 2.0 * comfort:
                # Own position relative to the contact at CPA, along her heading.
                along = -dx * math.cos(c_yaw[i]) - dy * math.sin(c_yaw[i])
                if along > 0.0:
                    c += W_BOW
        cost[j] = c


@njit(cache=True)
def ray_clearance(distance, origin_x, origin_y, res, ox, oy, headings, start, length, out):
    """Smallest obstacle distance [m] of ``distance`` (rows = y, cols = x,
    cell size ``res``) sampled every half cell along each heading from
    ``start`` to ``length`` metres ahead of (ox, oy); 0 off the grid."""
    rows, cols = distance.shape
    step = 0.5 * res
    k = int((length - start) / step) + 1
    for j in range(headings.shape[0]):
        ch = math.cos(headings[j])
        sh = math.sin(headings[j])
        best = np.inf
        for q in range(k):
            r = start + q * step
            x = ox + r * ch
            y = oy + r * sh
            ci = int(math.floor((x - origin_x) / res))
            ri = int(math.floor((y - origin_y) / res))
            if ri < 0 or ri >= rows or ci < 0 or ci >= cols:
                best = 0.0
                break
            v = distance[ri, ci]
            if v < best:
                best = v
        out[j] = best


def warm() -> None:
    z = np.zeros(1)
    b = np.zeros(1, np.bool_)
    helm_costs(z, z, 0.0, 0.0, z, z, z, z, z, z, np.zeros(1, np.int8), b, b, b, np.zeros(1, np.int8), b, z, 1.0, 1.0, 2.0,
               0.1, 0.0, 1.0, 0.0, z, np.zeros(1))
    ray_clearance(np.ones((2, 2), np.float32), 0.0, 0.0, 1.0, 0.5, 0.5, z, 0.0, 1.0, np.zeros(1))
