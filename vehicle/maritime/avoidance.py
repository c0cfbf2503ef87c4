"""The COLREGs helm: picks the heading and speed to steer from the
mission's wish and every contact's closest point of approach.

In the manner of an interval-programming helm (MOOS-IvP's AvdColregs
behaviours): a grid of candidate (heading, speed) pairs is scored by a
weighted sum of objectives — keep every contact outside the safe distance
within the look-ahead, obey the rule that applies to each encounter, keep
off the shoreline, then stay close to the mission's heading and speed — and
the best candidate wins.

Encounters are latched (Rule 13(d)): when a contact first poses a risk
(future CPA inside the comfort distance within the horizon) it is
classified once, with the heading we then had as the reference for "turn to
starboard", and the classification holds until the contact is past and
clear.  Give-way encounters (head-on, crossing with the other on our
starboard side, overtaking) act at once: starboard, substantial, not across
her bow.  Stand-on encounters (crossing with the other to port, being
overtaken) hold course and speed — the helm passes the mission through —
until the other vessel clearly fails to act (Rule 17(a)(ii)): CPA still
inside the safe distance and less than ``stand_on_act_tcpa_s`` away; then we
act, never turning to port for a vessel on our port side (17(c)).
When no encounter is active the mission's heading and speed pass unchanged.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from edgepilot.vehicle.config import Maritime
from edgepilot.vehicle.geo import wrap_pi
from edgepilot.vehicle.maritime import _helm_kernels as K
from edgepilot.vehicle.maritime.colregs import Encounter, classify
from edgepilot.vehicle.maritime.contacts import ContactArrays
from edgepilot.vehicle.maritime.cpa import cpa
from edgepilot.vehicle.maritime.mates import route_risk

HEADING_STEP_DEG = 3.0
SPEED_FRACTIONS = (1.0, 0.7, 0.4, 0.15)
SHORE_LOOKAHEAD_M = 40.0


@dataclass
class EncounterState:
    key: int
    encounter: Encounter
    h_ref: float                 # own heading when the encounter began [rad ENU]
    t_start: float
    stand_on_acting: bool = False
    side: int = 0                # the manoeuvre turned +1 to port / -1 to starboard of h_ref; 0 not yet
    min_range: float = math.inf


@dataclass(frozen=True)
class HelmDecision:
    heading: float               # [rad ENU]
    speed: float                 # [m/s]
    active: bool                 # False: the mission's heading and speed passed unchanged
    events: tuple = ()           # (text, data) pairs for the core to report


@dataclass
class ShoreGrid:
    """Obstacle distance field the helm keeps off.  ``distance()`` returns
    float32 (rows, cols) [m], row 0 = south edge, col 0 = west edge, as
    vehicle.maps.GridMap — a callable, so map updates are seen at once."""

    distance: Callable[[], np.ndarray]
    origin_x: float
    origin_y: float
    resolution: float
    lethal_radius: float
    inflation_radius: float


@dataclass
class ColregsHelm:
    cfg: Maritime
    max_speed: float
    shore: ShoreGrid | None = None
    encounters: dict = field(default_factory=dict)
    last_heading: float | None = None
    last_cost_ms: float = 0.0

    def __post_init__(self):
        n = int(round(360.0 / HEADING_STEP_DEG))
        self._base_headings = np.radians(np.arange(n) * HEADING_STEP_DEG)

    @property
    def active(self) -> bool:
        return bool(self.encounters)

    def reset(self) -> None:
        self.encounters.clear()
        self.last_heading = None

    # ------------------------------------------------------------ encounters
    def _update_encounters(self, now: float, own, hd: float, sd: float, cs: ContactArrays,
                           routes=None) -> list:
        cfg = self.cfg
        own_route, mate_routes = routes if routes is not None else (None, {})
        ox, oy, oyaw, ovx, ovy = own
        events = []
        keys = cs.keys
        live = set(int(k) for k in keys)
        for k in [k for k in self.encounters if k not in live]:
            del self.encounters[k]
            events.append((f"COLREGs: contact {k} lost", {"key": k, "encounter": "lost"}))
        if len(cs) == 0:
            return events
        rng = np.hypot(cs.x - ox, cs.y - oy)
        d_now, t_now = cpa((ox, oy, ovx, ovy), cs.x, cs.y, cs.vx, cs.vy, future_only=True)
        _, t_raw = cpa((ox, oy, ovx, ovy), cs.x, cs.y, cs.vx, cs.vy)
        mvx, mvy = sd * math.cos(hd), sd * math.sin(hd)
        d_mis, t_mis = cpa((ox, oy, mvx, mvy), cs.x, cs.y, cs.vx, cs.vy, future_only=True)
        speed = math.hypot(ovx, ovy)
        # Classify with the heading we are trying to make good: our own
        # course is what the other vessel sees coming.
        codes = classify(ox, oy, hd, max(speed, sd), cs.x, cs.y, cs.yaw, cs.speed,
                         cfg.head_on_sector_deg)
        for i, k in enumerate(keys):
            k = int(k)
            r = float(cs.radius[i])
            risk_now = (rng[i] < cfg.alert_range_m and t_now[i] <= cfg.horizon_s
                        and d_now[i] - r < cfg.comfort_distance_m)
            risk_mis = (rng[i] < cfg.alert_range_m and t_mis[i] <= cfg.horizon_s
                        and d_mis[i] - r < cfg.comfort_distance_m)
            along = k in mate_routes
            if along:
                # a fleet-mate on the route she shared, we on ours
                # (vehicle/maritime/mates.py): that prediction replaces both
                # straight-line ones
                d_r, t_r = route_risk(own_route, mate_routes[k], r)
                risk_mis = risk_now = rng[i] < cfg.alert_range_m and d_r < cfg.comfort_distance_m
                d_mis[i], t_mis[i] = d_r + r, t_r
            e = self.encounters.get(k)
            if e is None:
                if risk_mis or (risk_now and t_raw[i] >= 0):
                    enc = Encounter(int(codes[i]))
                    e = EncounterState(k, enc, hd, now)
                    self.encounters[k] = e
                    events.append((f"COLREGs: contact {k} {enc.name.lower().replace('_', '-')}"
                                   f" (CPA {d_mis[i]:.0f} m in {t_mis[i]:.0f} s, range {rng[i]:.0f} m"
                                   f"{', along the shared routes' if along else ''})",
                                   {"key": k, "encounter": enc.name, "dcpa": float(d_mis[i]),
                                    "tcpa": float(t_mis[i]), "range": float(rng[i]), "along_routes": along}))
                else:
                    continue
            e.min_range = min(e.min_range, float(rng[i]))
            if e.encounter.stands_on and not e.stand_on_acting:
                if d_now[i] - r < cfg.safe_distance_m and t_now[i] < cfg.stand_on_act_tcpa_s:
                    e.stand_on_acting = True
                    events.append((f"COLREGs: contact {k} is not keeping clear: stand-on vessel acts"
                                   f" (Rule 17, CPA {d_now[i]:.0f} m in {t_now[i]:.0f} s)",
                                   {"key": k, "encounter": "STAND_ON_ACTS", "dcpa": float(d_now[i]),
                                    "tcpa": float(t_now[i])}))
            past = t_raw[i] < 0 and rng[i] - r > cfg.safe_distance_m
            if (past and not risk_mis) or rng[i] > 1.2 * cfg.alert_range_m:
                del self.encounters[k]
                events.append((f"COLREGs: contact {k} past and clear (closest {e.min_range:.0f} m)",
                               {"key": k, "encounter": "CLEAR", "min_range": e.min_range}))
        return events

    # ------------------------------------------------------------ decision
    def decide(self, now: float, own, desired_heading: float, desired_speed: float,
               cs: ContactArrays, routes=None) -> HelmDecision:
        """own: (x, y, yaw, vx, vy) map frame [m, rad, m/s].  ``routes``:
        (our predicted positions (K, 2), {contact key: hers (K, 2)}) at
        ``mates.ROUTE_STEP_S`` from now over the horizon, for the
        fleet-mates predicted along their shared routes (the others, and
        all when None, by their velocity).  Returns the heading and speed
        to steer now."""
        hd = wrap_pi(float(desired_heading))
        sd = max(0.0, min(float(desired_speed), self.max_speed))
        events = self._update_encounters(now, own, hd, sd, cs, routes)
        if not self.encounters:
            self.last_heading = None
            return HelmDecision(hd, sd, False, tuple(events))
        ox, oy, oyaw = own[0], own[1], own[2]
        n = len(cs)
        in_play = np.zeros(n, np.bool_)
        port_ban = np.zeros(n, np.bool_)
        need = np.zeros(n, np.bool_)
        code = np.zeros(n, np.int8)
        h_ref = np.zeros(n)
        side = np.zeros(n, np.int8)
        _, t_cur = cpa((ox, oy, own[3], own[4]), cs.x, cs.y, cs.vx, cs.vy)
        past = np.ascontiguousarray(t_cur < 0)
        index = {int(k): i for i, k in enumerate(cs.keys)}
        for k, e in self.encounters.items():
            i = index[k]
            enc = e.encounter
            code[i] = int(enc)
            h_ref[i] = e.h_ref
            side[i] = e.side
            if enc.gives_way or e.stand_on_acting:
                in_play[i] = True
            if enc in (Encounter.HEAD_ON, Encounter.GIVE_WAY) or (enc == Encounter.STAND_ON and e.stand_on_acting):
                port_ban[i] = True
            if enc in (Encounter.HEAD_ON, Encounter.GIVE_WAY):
                need[i] = True
        if not in_play.any():
            self.last_heading = None
            return HelmDecision(hd, sd, False, tuple(events))
        heads = np.concatenate((self._base_headings, [hd, oyaw]))
        speeds = np.array([f * max(sd, 0.3) for f in SPEED_FRACTIONS])
        cand_h = np.ascontiguousarray(np.repeat(heads, len(speeds)))
        cand_s = np.ascontiguousarray(np.tile(speeds, len(heads)))
        shore = np.zeros(len(heads))
        if self.shore is not None:
            g = self.shore
            clr = np.empty(len(heads))
            K.ray_clearance(np.ascontiguousarray(g.distance(), dtype=np.float32), g.origin_x, g.origin_y, g.resolution, ox, oy, heads,
                            2.0, SHORE_LOOKAHEAD_M, clr)
            soft = np.clip((g.inflation_radius - clr) / max(g.inflation_radius - g.lethal_radius, 1e-6), 0, 1)
            shore = np.where(clr < g.lethal_radius, K.W_SHORE, 20.0 * soft)
        shore_c = np.ascontiguousarray(np.repeat(shore, len(speeds)))
        cost = np.empty(len(cand_h))
        hp = hd if self.last_heading is None else self.last_heading
        cfg = self.cfg
        K.helm_costs(cand_h, cand_s, float(ox), float(oy), cs.x, cs.y, cs.vx, cs.vy, cs.yaw, cs.radius,
                     code, in_play, port_ban, need, side, past, h_ref, cfg.horizon_s, cfg.safe_distance_m,
                     cfg.comfort_distance_m, math.radians(cfg.min_alteration_deg), hd, sd, hp, shore_c, cost)
        j = int(np.argmin(cost))
        h, s = float(cand_h[j]), float(cand_s[j])
        self.last_heading = h
        for k, e in self.encounters.items():
            dh = wrap_pi(h - e.h_ref)
            if e.side == 0 and in_play[index[k]] and abs(dh) > math.radians(5.0):
                e.side = 1 if dh > 0 else -1
        return HelmDecision(wrap_pi(h), min(s, sd) if sd > 0 else s, True, tuple(events))

