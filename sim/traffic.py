"""Simulated vessel traffic: ships on their own routes and speeds, some of
them keeping the COLREGs with respect to us, each transmitting AIS as a
real class A transponder would (position reports every few seconds, static
data now and then) — as NMEA 0183 AIVDM text, the bytes an AIS receiver
puts on its serial port or UDP socket, with dropouts, outages, position
noise and the odd corrupted sentence.

Kinematics: each vessel steers for its next waypoint with a turn-rate limit
and holds its speed; map frame ENU metres, yaw radians CCW from east,
seconds.  All randomness comes from the scenario's Generator.
"""
from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import Field, model_validator
from pyais import encode_dict

from edgepilot.sim.sensors.camera import VisibleObject
from edgepilot.vehicle.config import Strict
from edgepilot.vehicle.geo import LocalFrame, enu_yaw_to_compass_deg, wrap_pi
from edgepilot.vehicle.maritime.colregs import Encounter, classify

XY = tuple[float, float]
MS_TO_KNOTS = 3600.0 / 1852.0


class TrafficVesselSpec(Strict):
    """One ``[[traffic]]`` entry of a scenario file."""

    name: str
    mmsi: int = Field(ge=100_000_000, le=999_999_999)
    waypoints: list[XY] = Field(min_length=2, description="route [m]; the vessel starts at the first")
    speed: float = Field(gt=0, le=20, description="[m/s]")
    leg_speeds: list[float] | None = Field(
        default=None, description="speed on each leg [m/s] (leg k runs to waypoint k+1), instead of one "
                                  "'speed': a boat that dashes in and then slows down")
    accel: float = Field(default=0.5, gt=0, description="speed change between legs [m/s^2]")
    loop: bool = False
    length: float = Field(default=12.0, gt=0, description="[m]")
    beam: float = Field(default=4.0, gt=0, description="[m]")
    ship_type: int = Field(default=70, ge=0, le=99, description="AIS ship type (70 cargo, 60 passenger, 52 tug)")
    behaviour: Literal["route", "colregs"] = Field(
        default="route", description="'route' ignores us; 'colregs' gives way to us by the rules")
    react_distance_m: float = Field(default=40.0, gt=0, description="'colregs': keeps us this far at CPA [m]")
    turn_at_s: float | None = Field(default=None, ge=0, description="sudden turn at this time [s]")
    turn_deg: float = Field(default=0.0, ge=-180, le=180, description="sudden turn, + = to starboard [deg]")
    max_turn_rate_deg_s: float = Field(default=6.0, gt=0)
    ais: bool = True
    ais_interval_s: float = Field(default=3.0, gt=0, description="position report interval [s]")
    ais_loss: float = Field(default=0.0, ge=0, lt=1, description="probability a report is not received")
    ais_outages: list[tuple[float, float]] = Field(default=[], description="[start, end] s windows with no AIS")
    ais_position_noise_m: float = Field(default=2.0, ge=0, description="1-sigma reported position error [m]")
    ais_corrupt: float = Field(default=0.0, ge=0, lt=1, description="probability a sentence arrives garbled")
    height: float = Field(default=4.0, gt=0, description="hull and superstructure above the water: what a camera sees [m]")
    hull_color: tuple[int, int, int] = Field(
        default=(45, 45, 50), description="BGR 0-255 the camera renders; the default dark grey is unsaturated, "
                                          "so colour-buoy detection does not take a ship for a buoy")

    @model_validator(mode="after")
    def _check(self):
        if self.leg_speeds is not None:
            if len(self.leg_speeds) != len(self.waypoints) - 1:
                raise ValueError(f"leg_speeds: one speed per leg ({len(self.waypoints) - 1}), "
                                 f"got {len(self.leg_speeds)}")
            if not all(0 < v <= 20 for v in self.leg_speeds):
                raise ValueError(f"leg_speeds: each must be in (0, 20] m/s, got {self.leg_speeds}")
        if not all(0 <= c <= 255 for c in self.hull_color):
            raise ValueError(f"hull_color: each BGR component must be in 0..255, got {list(self.hull_color)}")
        for a, b in self.ais_outages:
            if not b > a:
                raise ValueError(f"ais_outages: each window must be [start, end] with end > start, got [{a}, {b}]")
        return self


class TrafficVessel:
    def __init__(self, spec: TrafficVesselSpec, rng: np.random.Generator):
        self.spec = spec
        self.rng = rng
        wp = np.asarray(spec.waypoints, dtype=np.float64)
        self.route = wp
        self.x, self.y = float(wp[0, 0]), float(wp[0, 1])
        self.yaw = math.atan2(wp[1, 1] - wp[0, 1], wp[1, 0] - wp[0, 0])
        self.speed = spec.leg_speeds[0] if spec.leg_speeds else spec.speed
        self.next_wp = 1
        self.finished = False
        self.avoiding = False          # 'colregs': currently keeping clear of us
        self.avoid_heading = 0.0
        self.turned = False            # the sudden turn happened
        self.turn_heading = 0.0
        # Stagger first reports so vessels do not all transmit in one slot.
        self.next_ais = float(rng.uniform(0.0, spec.ais_interval_s))
        self.next_static = float(rng.uniform(0.0, 2.0))

    @property
    def vx(self) -> float:
        return self.speed * math.cos(self.yaw)

    @property
    def vy(self) -> float:
        return self.speed * math.sin(self.yaw)

    @property
    def radius(self) -> float:
        return 0.5 * self.spec.length

    def visible_object(self) -> VisibleObject:
        """What the simulated camera renders: an upright 'obstacle' on the
        same circle the lidar and the collision check use (radius half the
        length), ``spec.height`` tall, in ``spec.hull_color``."""
        return VisibleObject(self.x, self.y, self.radius, self.spec.height, tuple(self.spec.hull_color),
                             kind="obstacle")

    def _route_heading(self) -> float:
        while True:
            tx, ty = self.route[self.next_wp]
            if math.hypot(tx - self.x, ty - self.y) > max(2.0, self.speed * 1.0):
                return math.atan2(ty - self.y, tx - self.x)
            if self.next_wp + 1 < len(self.route):
                self.next_wp += 1
            elif self.spec.loop:
                self.next_wp = 0
            else:
                self.finished = True
                return self.yaw

    def _react(self, own: tuple[float, float, float, float, float], route_heading: float) -> float:
        """Rules for the traffic vessel's own master, with us as the other
        vessel: give way (45 deg to starboard) when the rules say so, and
        come back to the route once that no longer closes us inside
        ``react_distance_m``."""
        ox, oy, oyaw, ovx, ovy = own
        rng = math.hypot(ox - self.x, oy - self.y)
        if rng > 260.0 and not self.avoiding:
            return route_heading
        rvx, rvy = self.speed * math.cos(route_heading), self.speed * math.sin(route_heading)
        d, t = _cpa_scalar(self.x, self.y, rvx, rvy, ox, oy, ovx, ovy)
        risky = rng < 250.0 and t < 120.0 and d < self.spec.react_distance_m
        if not self.avoiding:
            if risky:
                enc = Encounter(int(classify(self.x, self.y, self.yaw, self.speed, [ox], [oy], [oyaw],
                                             [math.hypot(ovx, ovy)])[0]))
                if enc in (Encounter.HEAD_ON, Encounter.GIVE_WAY, Encounter.OVERTAKING):
                    self.avoiding = True
                    self.avoid_heading = wrap_pi(self.yaw - math.radians(45.0))   # 45 deg to starboard
        elif not risky:
            self.avoiding = False
        return self.avoid_heading if self.avoiding else route_heading

    def step(self, t: float, dt: float, own) -> None:
        s = self.spec
        if s.turn_at_s is not None and t >= s.turn_at_s and not self.turned:
            self.turned = True
            self.turn_heading = wrap_pi(self.yaw - math.radians(s.turn_deg))
        if self.turned:
            want = self.turn_heading
        else:
            want = self._route_heading()
            if s.behaviour == "colregs" and own is not None:
                want = self._react(own, want)
        if self.finished and not self.turned:
            self.speed = max(0.0, self.speed - 0.2 * dt)
        elif s.leg_speeds:
            want_v = s.leg_speeds[max(0, min(self.next_wp, len(s.leg_speeds)) - 1)]
            dv = s.accel * dt
            self.speed += max(-dv, min(dv, want_v - self.speed))
        max_d = math.radians(s.max_turn_rate_deg_s) * dt
        self.yaw = wrap_pi(self.yaw + max(-max_d, min(max_d, wrap_pi(want - self.yaw))))
        self.x += self.vx * dt
        self.y += self.vy * dt

    # ------------------------------------------------------------ AIS
    def _in_outage(self, t: float) -> bool:
        return any(a <= t < b for a, b in self.spec.ais_outages)

    def ais_sentences(self, t: float, frame: LocalFrame, seq: list[int]) -> list[str]:
        """AIVDM sentences this vessel transmits that are received by ``t``."""
        s = self.spec
        out: list[str] = []
        if not s.ais:
            return out
        while self.next_ais <= t:
            self.next_ais += s.ais_interval_s * float(self.rng.uniform(0.9, 1.1))
            if self._in_outage(t) or self.rng.random() < s.ais_loss:
                continue
            n = self.rng.standard_normal(2) * s.ais_position_noise_m
            lat, lon = frame.to_geo(self.x + n[0], self.y + n[1])
            msg = {"type": 1, "mmsi": s.mmsi, "status": 0, "lat": lat, "lon": lon,
                   "speed": round(self.speed * MS_TO_KNOTS, 1),
                   "course": round(enu_yaw_to_compass_deg(self.yaw), 1) % 360.0,
                   "heading": int(round(enu_yaw_to_compass_deg(self.yaw))) % 360,
                   "second": int(t) % 60, "accuracy": 1}
            out += encode_dict(msg, talker_id="AI", sentence_type="VDM",
                               radio_channel="A" if seq[0] % 2 else "B")
            seq[0] += 1
        if self.next_static <= t:
            self.next_static += 30.0
            if not self._in_outage(t):
                half_l, half_b = int(round(s.length / 2)), int(round(s.beam / 2))
                msg = {"type": 5, "mmsi": s.mmsi, "shipname": s.name.upper()[:20], "ship_type": s.ship_type,
                       "to_bow": half_l, "to_stern": half_l, "to_port": half_b, "to_starboard": half_b,
                       "ais_version": 0}
                out += encode_dict(msg, talker_id="AI", sentence_type="VDM", radio_channel="A",
                                   seq_id=seq[1] % 10)
                seq[1] += 1
        if s.ais_corrupt > 0:
            out = [self._garble(x) if self.rng.random() < s.ais_corrupt else x for x in out]
        return out

    def _garble(self, sentence: str) -> str:
        """A bit error on the radio link: one payload character changed (the checksum no longer matches)."""
        i = int(self.rng.integers(15, max(16, len(sentence) - 5)))
        c = "0" if sentence[i] != "0" else "1"
        return sentence[:i] + c + sentence[i + 1:]


def _cpa_scalar(ax, ay, avx, avy, bx, by, bvx, bvy) -> tuple[float, float]:
    """Future CPA distance [m] and time [s] (>= 0) of b relative to a."""
    px, py, vx, vy = bx - ax, by - ay, bvx - avx, bvy - avy
    v2 = vx * vx + vy * vy
    t = max(0.0, -(px * vx + py * vy) / v2) if v2 > 1e-9 else 0.0
    return math.hypot(px + vx * t, py + vy * t), t


class Traffic:
    """Every traffic vessel of a scenario, stepped together."""

    STEP_S = 0.1

    def __init__(self, specs: list[TrafficVesselSpec], frame: LocalFrame, rng: np.random.Generator):
        mmsis = [s.mmsi for s in specs]
        if len(set(mmsis)) != len(mmsis):
            raise ValueError("traffic: every vessel needs its own mmsi")
        self.vessels = [TrafficVessel(s, rng) for s in specs]
        self.frame = frame
        self.t = 0.0
        self._seq = [0, 0]

    def __len__(self) -> int:
        return len(self.vessels)

    def advance(self, t: float, own) -> None:
        """Step every vessel up to time ``t`` [s]; ``own`` = our true
        (x, y, yaw, vx, vy), which 'colregs' vessels react to."""
        while self.t + self.STEP_S <= t + 1e-9:
            for v in self.vessels:
                v.step(self.t, self.STEP_S, own)
            self.t += self.STEP_S

    def ais_bytes(self, t: float) -> bytes:
        """The receiver's output since the last call: AIVDM lines, CRLF-terminated."""
        lines = []
        for v in self.vessels:
            lines += v.ais_sentences(t, self.frame, self._seq)
        return "".join(x + "\r\n" for x in lines).encode("ascii")

    def circles(self) -> np.ndarray:
        """(K, 3) float64 [x, y, radius] of every vessel: for collision checks and the lidar."""
        if not self.vessels:
            return np.zeros((0, 3))
        return np.array([(v.x, v.y, v.radius) for v in self.vessels], dtype=np.float64)

    def visible_objects(self) -> list[VisibleObject]:
        """Every vessel as a ``sim.sensors.camera.VisibleObject`` at its present position (map frame)."""
        return [v.visible_object() for v in self.vessels]
