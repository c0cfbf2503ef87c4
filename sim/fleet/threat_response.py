"""The fleet's threat watch and its response, in the lockstep fleet SITL:
boats patrol a loop, their contact pictures are fused and scored, an alert
goes to the operator and creates a shadow task, the nearest free boat
shadows the vessel at the stand-off and the others close the gap.

- **Fused picture**: every ``period_s`` each working boat's confirmed
  lidar vessel tracks (its maritime front's tracker) and the AIS contacts
  of its contact table are read as they would be shared over the V2V
  link; the fleet's own boats (their MMSIs, and tracks on their reported
  positions) are left out.  A boat's track joins the fleet track it
  joined before, else the nearest within ``gate_m``, else starts a new
  one; tracks unseen for ``drop_after_s`` are dropped.  (The camera does
  not feed it yet.)
- **Vessels**: a fleet track is linked to a *vessel*, the watch's memory
  of one boat on the water: a new track near where a known vessel is
  expected (``same_vessel_m``, growing with the time since it was last
  seen) is that vessel again (a lidar track that re-spawned, another boat
  picking it up).  Alerts are raised once per vessel and kind, and **one
  vessel gets one shadow task**, however many track ids it has had and
  whether its shadow is running or over.
- **Scoring**: ``vehicle.fleet.threats.assess`` on the fused tracks, the
  AIS reports and the zones; an alert is an ALERT-severity event with its
  STATUSTEXT line and the dialect's EDGEPILOT_THREAT_ALERT packet (bytes,
  as a boat would send them; ``ThreatResponse.alert_packets``).
- **Shadow task**: a ``ShadowTask`` allocated by ``GreedyAllocator`` over
  the free patrol boats (costs: straight-line travel time from where each
  boat believes it is: open water) = the nearest free boat.  The shadower
  is steered (GUIDED targets, once a second) to the point at the stand-off
  from the vessel on the line towards itself, at the vessel's speed plus a
  term closing the distance error.  After ``shadow_s`` it rejoins the patrol.
- **Patrol**: each free boat steers for a point ``lookahead_m`` ahead of
  itself on the loop, its speed raised when the gap ahead is the larger
  (``spacing_gain``), so the boats spread evenly; when the shadower
  leaves, the others close up, and make room again when it comes back.

Criteria (``[harbour_criteria]``) are measured on the truth: detection is
the first time any boat's contact table holds a sensor contact within 10 m
of the vessel's true position; the stand-off band is assessed only while
the vessel is no faster than the shadower can go, from when the shadower
first reaches the band (has caught up); the patrol gap is the largest arc
between patrolling boats along the loop.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from edgepilot.vehicle.fleet.allocation import GreedyAllocator
from edgepilot.vehicle.fleet.costs import fleet_costs
from edgepilot.vehicle.fleet.tasks import ShadowTask, VehicleCapabilities
from edgepilot.vehicle.fleet.threats import AisReport, SensorCoverage, ThreatParams, Track, Zone, assess
from edgepilot.vehicle.types import Event, Severity

SENSOR_FRESH_S = 2.0        # a boat's sensor contact older than this is not used
DETECT_TRUTH_M = 10.0       # a sensor contact this near a vessel's true position has detected it
ON_LOOP_M = 15.0            # a boat this near the loop counts in the patrol gap
SHADOW_UPDATE_S = 1.0
SHADOW_SPEED_GAIN = 0.15    # [1/s] speed added per metre beyond the stand-off
SHADOW_DAMPING = 1.5        # speed taken off per m/s the range is closing
SHADOW_LEAD_S = 8.0         # the shadower steers for the stand-off point this far ahead of the vessel
SHADOW_MIN_MPS = 0.2
MOVING_MPS = 0.3
SAMPLE_S = 0.5
OWN_BOAT_M = 6.0            # a sensor track this near a fleet boat's reported position is that boat
MAX_SPEED_VAR = 0.25        # [m^2/s^2] a track's velocity is used once its variance is below this


class Loop:
    """A closed polyline with arc-length parameter s [m]."""

    def __init__(self, points):
        p = np.asarray(points, dtype=np.float64)
        self.a = p
        self.b = np.roll(p, -1, axis=0)
        seg = self.b - self.a
        self.len = np.hypot(seg[:, 0], seg[:, 1])
        self.s0 = np.concatenate(([0.0], np.cumsum(self.len)[:-1]))
        self.length = float(self.len.sum())

    def project(self, x: float, y: float) -> tuple[float, float]:
        """(arc position [m], distance from the loop [m]) of the nearest loop point."""
        ab = self.b - self.a
        t = np.clip(((x - self.a[:, 0]) * ab[:, 0] + (y - self.a[:, 1]) * ab[:, 1]) / self.len ** 2, 0.0, 1.0)
        px, py = self.a[:, 0] + t * ab[:, 0], self.a[:, 1] + t * ab[:, 1]
        d = np.hypot(px - x, py - y)
        k = int(np.argmin(d))
        return float(self.s0[k] + t[k] * self.len[k]), float(d[k])

    def point(self, s: float) -> tuple[float, float]:
        s = s % self.length
        k = int(np.searchsorted(self.s0, s, side="right") - 1)
        f = (s - self.s0[k]) / self.len[k]
        return (float(self.a[k, 0] + f * (self.b[k, 0] - self.a[k, 0])),
                float(self.a[k, 1] + f * (self.b[k, 1] - self.a[k, 1])))

    def gaps(self, arcs) -> list[float]:
        """Arc gaps between consecutive positions around the loop."""
        s = sorted(a % self.length for a in arcs)
        if len(s) < 2:
            return [self.length] * len(s)
        return [(s[(i + 1) % len(s)] - s[i]) % self.length or self.length for i in range(len(s))]


@dataclass
class FleetTrack:
    id: int
    x: float
    y: float
    vx: float
    vy: float
    t: float
    first_seen: float
    mmsi: int | None = None
    seen_by: set = field(default_factory=set)
    vessel: int | None = None


@dataclass
class Vessel:
    """What the watch remembers of one boat on the water."""

    id: int
    x: float
    y: float
    vx: float
    vy: float
    last_seen: float
    first_seen: float
    mmsi: int | None = None
    tracks: list = field(default_factory=list)    # fleet track ids it has had
    alerted: dict = field(default_factory=dict)   # kind -> alert record
    shadow: dict | None = None
    truth: str | None = None                      # the traffic vessel it is (evaluation only)

    def predict(self, now: float, horizon_s: float = 10.0) -> tuple[float, float]:
        dt = min(max(0.0, now - self.last_seen), horizon_s)
        return self.x + self.vx * dt, self.y + self.vy * dt


class ThreatResponse:
    def __init__(self, sc, fw, runs, seed: int, on_event=None):
        self.sc = sc
        self.fw = fw
        self.runs = runs
        self.on_event = on_event
        self.patrol = sc.patrol
        self.watch = sc.threat_watch
        self.loop = Loop(self.patrol.route)
        names = set(self.patrol.vehicles or [r.m.spec.name for r in runs if r.m.spec.domain == "water"])
        self.patrollers = [r for r in runs if r.m.spec.name in names]
        self.boats = [r for r in runs if r.m.spec.domain == "water"]
        self.fleet_mmsi = {r.m.spec.ais_mmsi for r in self.boats}
        self.zones = ([Zone(z.name, tuple(map(tuple, z.points)), z.kind) for z in self.watch.zones]
                      if self.watch is not None else [])
        self.params = ThreatParams()
        self.next_arm = {r.m.index: 0.0 for r in self.patrollers}
        n = max(1, len(self.patrollers))
        self.next_patrol = {r.m.index: (k + 1) * self.patrol.update_s / n for k, r in enumerate(self.patrollers)}
        self.next_watch = self.watch.period_s if self.watch is not None else math.inf
        self.next_shadow = 0.0
        self.next_sample = 0.0
        self.shadowing: dict[int, Vessel] = {}       # run index -> the vessel it shadows
        self.tracks: dict[int, FleetTrack] = {}
        self.owner: dict[tuple[str, int], int] = {}  # (boat, its lidar track id) -> fleet track id
        self.vessels: dict[int, Vessel] = {}
        self._next_track = 1
        self._next_vessel = 1
        self.alerts: list[dict] = []
        self.alert_packets: list[bytes] = []
        self.shadows: list[dict] = []
        self.detected: dict[str, float] = {}        # truth vessel -> first detection time
        self.in_range: dict[str, float] = {}        # truth vessel -> first time within a boat's lidar range
        self.log: list[dict] = []
        self.samples: list[tuple] = []             # (t, run index, vessel truth name, d_true, d_belief, v_contact)
        self.gap_rows: list[tuple] = []            # (t, free boats, on loop, largest gap, ideal gap)
        self.changes: list[tuple[float, int, str]] = [(0.0, len(self.patrollers), "start")]
        self._codec = None
        self._mav = {}

    # ------------------------------------------------------------ helpers
    def _log(self, t: float, kind: str, text: str) -> None:
        self.log.append({"t": round(t, 2), "kind": kind, "text": text})

    def _emit(self, r, t: float, kind: str, text: str, severity=Severity.INFO, **data) -> None:
        e = Event(t, kind, text, severity, data)
        r.events.append(e)
        if self.on_event is not None:
            self.on_event(r.m.spec.name, e)

    def _free(self) -> list:
        return [r for r in self.patrollers if r.broken_at is None and r.started and r.m.index not in self.shadowing]

    def _goto(self, r, t: float, x: float, y: float, speed: float) -> None:
        core = r.core
        lat, lon = self.fw.frame.to_geo(x, y)
        vmax = r.m.spec.vehicle_config.limits.max_speed
        core.goto(t, lat, lon, float(min(vmax, max(0.1, speed))))

    # ------------------------------------------------------------ the loop
    def tick(self, t: float) -> None:
        for r in self.patrollers:
            if r.broken_at is None and not r.started and t >= self.next_arm[r.m.index] and r.core.ready \
                    and r.core.state.valid:
                if r.core.arm(t).ok:
                    r.started = True
                    self.next_patrol[r.m.index] = t
                else:
                    self.next_arm[r.m.index] = t + 1.0
        if t + 1e-9 >= self.next_watch:
            self.next_watch += self.watch.period_s
            self._watch(t)
        if t + 1e-9 >= self.next_shadow:
            self.next_shadow += SHADOW_UPDATE_S
            self._shadow_step(t)
        for r in self._free():
            if t + 1e-9 >= self.next_patrol[r.m.index]:
                self.next_patrol[r.m.index] += self.patrol.update_s
                self._patrol_step(r, t)
        if t + 1e-9 >= self.next_sample:
            self.next_sample += SAMPLE_S
            self._sample(t)

    # ------------------------------------------------------------ patrol
    def _patrol_step(self, r, t: float) -> None:
        free = self._free()
        p = self.patrol
        arcs = {q.m.index: self.loop.project(q.core.state.x, q.core.state.y)[0] for q in free}
        s = arcs[r.m.index]
        L = self.loop.length
        others = [a for k, a in arcs.items() if k != r.m.index]
        if others:
            ahead = min((a - s) % L or L for a in others)
            behind = min((s - a) % L or L for a in others)
        else:
            ahead = behind = L
        vmax = r.m.spec.vehicle_config.limits.max_speed
        speed = min(vmax, max(p.min_speed, p.speed + p.spacing_gain * 0.5 * (ahead - behind)))
        x, y = self.loop.point(s + p.lookahead_m)
        self._goto(r, t, x, y, speed)

    # ------------------------------------------------------------ picture
    def _observations(self, t: float) -> list[tuple]:
        """Every working boat's confirmed lidar vessel tracks (the maritime
        front's ``LidarVesselTracker``, map frame) with a settled velocity,
        as the boats share them, less the fleet's own boats (near a
        member's reported position); a track near a (non-fleet) AIS contact
        of that boat's table takes its MMSI.  The tracker's tracks are read
        rather than the contact table's sensor contacts: the table keeps a
        track fused with the AIS contact it first met, so a dark vessel that
        passed within its fusion gate of one of our boats would vanish
        into that boat's AIS contact."""
        members = [(q.core.state.x, q.core.state.y) for q in self.runs if q.broken_at is None]
        obs = []
        for r in self.boats:
            m = r.core.maritime
            if r.broken_at is not None or m is None or m.tracker is None:
                continue
            ais = [(c.mmsi, c.x + c.vx * (t - c.t), c.y + c.vy * (t - c.t)) for c in m.contacts.contacts.values()
                   if c.mmsi is not None and c.mmsi not in self.fleet_mmsi and "ais" in c.last_seen
                   and math.isfinite(c.x)]
            for tr in m.tracker.tracks:
                if not tr.confirmed or t - tr.t > SENSOR_FRESH_S:
                    continue
                if max(float(tr.cov[2][2]), float(tr.cov[3][3])) > MAX_SPEED_VAR:
                    continue
                x, y = tr.x + tr.vx * (t - tr.t), tr.y + tr.vy * (t - tr.t)
                if any(math.hypot(x - mx, y - my) < OWN_BOAT_M for mx, my in members):
                    continue
                mmsi = min(((math.hypot(ax - x, ay - y), k) for k, ax, ay in ais
                            if math.hypot(ax - x, ay - y) <= self.params.ais_gate_m / 3), default=(0, None))[1]
                obs.append((r.m.spec.name, tr.id, x, y, tr.vx, tr.vy, mmsi))
        return obs

    def _ais(self, t: float) -> list[AisReport]:
        best: dict[int, AisReport] = {}
        for r in self.boats:
            if r.broken_at is None and r.core.maritime is not None:
                for c in r.core.maritime.contacts.contacts.values():
                    if c.mmsi is None or c.mmsi in self.fleet_mmsi or "ais" not in c.last_seen or not math.isfinite(c.x):
                        continue
                    a = AisReport(c.mmsi, c.x, c.y, c.vx, c.vy, c.t)
                    if c.mmsi not in best or a.t > best[c.mmsi].t:
                        best[c.mmsi] = a
        return list(best.values())

    def _fuse(self, t: float) -> None:
        w = self.watch
        got: dict[int, list] = {}
        for name, key, x, y, vx, vy, mmsi in self._observations(t):
            tid = self.owner.get((name, key))
            tr = self.tracks.get(tid) if tid is not None else None
            if tr is not None:
                px, py = tr.x + tr.vx * (t - tr.t), tr.y + tr.vy * (t - tr.t)
                if math.hypot(px - x, py - y) > 2 * w.gate_m:
                    tr = None
            if tr is None:
                best, bd = None, w.gate_m
                for cand in self.tracks.values():
                    if mmsi is not None and cand.mmsi is not None and cand.mmsi != mmsi:
                        continue
                    px, py = cand.x + cand.vx * (t - cand.t), cand.y + cand.vy * (t - cand.t)
                    d = math.hypot(px - x, py - y)
                    if d < bd:
                        best, bd = cand, d
                tr = best
            if tr is None:
                tr = FleetTrack(self._next_track, x, y, vx, vy, t, t, mmsi)
                self._next_track += 1
                self.tracks[tr.id] = tr
                self._link_vessel(tr, t)
                self._log(t, "track", f"fleet track {tr.id} from {name} at ({x:.0f}, {y:.0f}) m"
                                      f" -> vessel {tr.vessel}")
            self.owner[(name, key)] = tr.id
            tr.seen_by.add(name)
            got.setdefault(tr.id, []).append((x, y, vx, vy, mmsi))
            self._detect_truth(x, y, t)
        for tid, ob in got.items():
            tr = self.tracks[tid]
            a = np.array([o[:4] for o in ob])
            tr.x, tr.y, tr.vx, tr.vy = (float(v) for v in a.mean(axis=0))
            tr.t = t
            tr.mmsi = tr.mmsi or next((o[4] for o in ob if o[4] is not None), None)
            v = self.vessels[tr.vessel]
            v.x, v.y, v.vx, v.vy, v.last_seen = tr.x, tr.y, tr.vx, tr.vy, t
            v.mmsi = v.mmsi or tr.mmsi
        for tid in [k for k, tr in self.tracks.items() if t - tr.t > w.drop_after_s]:
            del self.tracks[tid]
            self.owner = {k: v for k, v in self.owner.items() if v != tid}

    def _link_vessel(self, tr: FleetTrack, t: float) -> None:
        """A new fleet track is a known vessel when it appears where that
        vessel is expected and no live track holds it; else a new vessel."""
        w = self.watch
        live = {x.vessel for x in self.tracks.values() if x is not tr and t - x.t <= 2 * w.period_s}
        best, bd = None, math.inf
        for v in self.vessels.values():
            if v.id in live or (tr.mmsi is not None and v.mmsi is not None and tr.mmsi != v.mmsi):
                continue
            px, py = v.predict(t)
            gate = min(4 * w.same_vessel_m, w.same_vessel_m + 1.0 * max(0.0, t - v.last_seen))
            d = math.hypot(px - tr.x, py - tr.y)
            if d <= gate and d < bd:
                best, bd = v, d
        if best is None:
            best = Vessel(self._next_vessel, tr.x, tr.y, tr.vx, tr.vy, t, t, tr.mmsi)
            self._next_vessel += 1
            self.vessels[best.id] = best
        best.tracks.append(tr.id)
        tr.vessel = best.id
        tr.first_seen = min(tr.first_seen, best.first_seen)

    def _truth_vessels(self):
        return self.fw.traffic.vessels if self.fw.traffic is not None else []

    def _nearest_truth(self, x: float, y: float, within: float = math.inf):
        best, bd = None, within
        for tv in self._truth_vessels():
            d = math.hypot(tv.x - x, tv.y - y)
            if d <= bd:
                best, bd = tv, d
        return best, bd

    def _detect_truth(self, x: float, y: float, t: float) -> None:
        tv, _ = self._nearest_truth(x, y, DETECT_TRUTH_M)
        if tv is not None and tv.spec.name not in self.detected:
            self.detected[tv.spec.name] = t
            self._log(t, "detected", f"{tv.spec.name} first held by a boat's sensors (truth)")

    # ------------------------------------------------------------ scoring
    def _watch(self, t: float) -> None:
        self._fuse(t)
        tracks = [Track(tr.id, tr.x, tr.y, tr.vx, tr.vy, "vessel", tr.first_seen, tr.t, tr.mmsi)
                  for tr in self.tracks.values() if tr.t == t]
        cov = SensorCoverage(tuple((r.core.state.x, r.core.state.y,
                                    0.8 * r.m.spec.vehicle_config.sensors.lidar.max_range)
                                   for r in self.boats if r.broken_at is None
                                   and r.m.spec.vehicle_config.sensors.lidar is not None))
        for a in assess(t, tracks, self._ais(t), self.zones, cov, self.params):
            v = self.vessels.get(self.tracks[a.track_id].vessel) if a.track_id in self.tracks else None
            if v is None or a.kind in v.alerted:
                continue
            self._raise(a, v, t)

    def _raise(self, a, v: Vessel, t: float) -> None:
        tv, err = self._nearest_truth(a.x, a.y)
        if v.truth is None and tv is not None and err <= 3 * DETECT_TRUTH_M:
            v.truth = tv.spec.name
        reporter = min((r for r in self.boats if r.broken_at is None),
                       key=lambda r: math.hypot(r.core.state.x - a.x, r.core.state.y - a.y))
        rec = {"t": round(t, 2), "kind": a.kind, "score": round(a.score, 3), "reasons": list(a.reasons),
               "x": round(a.x, 1), "y": round(a.y, 1), "track": a.track_id, "vessel": v.id, "zone": a.zone,
               "by": reporter.m.spec.name, "statustext": a.text(), "truth": v.truth,
               "truth_error_m": None if tv is None else round(err, 1)}
        v.alerted[a.kind] = rec
        self.alerts.append(rec)
        self.alert_packets.append(self._packet(reporter, a))
        self._log(t, "alert", f"{reporter.m.spec.name}: {a.text()}: {'; '.join(a.reasons)}")
        self._emit(reporter, t, "threat_alert", a.text(), Severity.ALERT, alert=a.kind, score=rec["score"],
                   x=rec["x"], y=rec["y"], vessel=v.id)
        w = self.watch
        if a.kind in w.shadow_kinds and a.score >= w.shadow_score and v.shadow is None:
            self._assign_shadow(a, v, t)

    def _packet(self, r, a) -> bytes:
        """The EDGEPILOT_THREAT_ALERT the reporting boat sends (a STATUSTEXT goes with it)."""
        from edgepilot.firmware_bridge.fleet_link import FleetCodec

        if self._codec is None:
            self._codec = FleetCodec(tuple(q.m.spec.sysid for q in self.runs), 0)
        sysid = r.m.spec.sysid
        if sysid not in self._mav:
            self._mav[sysid] = self._codec.mod.MAVLink(None, srcSystem=sysid, srcComponent=1)
        return bytes(self._codec.alert(a).pack(self._mav[sysid]))

    # ------------------------------------------------------------ shadow
    def _assign_shadow(self, a, v: Vessel, t: float) -> None:
        free = self._free()
        w = self.watch
        task = ShadowTask(kind="shadow", id=f"shadow-v{v.id}", domain="water", contact=f"vessel-{v.id}",
                          position=(a.x, a.y), standoff_m=w.standoff_m, duration_s=w.shadow_s,
                          priority=1.0 + 2.0 * a.score)
        rec = {"task": task.id, "vessel": v.id, "truth": v.truth, "alert": a.kind, "t": round(t, 2),
               "by": None, "ended": None, "candidates": {}}
        v.shadow = rec
        self.shadows.append(rec)
        if not free:
            self._log(t, "shadow", f"{task.id}: no free boat")
            return
        caps = [VehicleCapabilities(name=r.m.spec.name, sysid=r.m.spec.sysid, domain="water",
                                    start=(r.core.state.x, r.core.state.y),
                                    speed=r.m.spec.vehicle_config.limits.max_speed,
                                    sensors=("ais",) + (("lidar",) if r.m.spec.vehicle_config.sensors.lidar else ()))
                for r in free]

        def straight(domain, sources, targets):
            s, g = np.asarray(sources, float).reshape(-1, 2), np.asarray(targets, float).reshape(-1, 2)
            return np.hypot(s[:, None, 0] - g[None, :, 0], s[:, None, 1] - g[None, :, 1])

        plan = GreedyAllocator().allocate([task], caps, fleet_costs([task], caps, straight))
        who = next((n for n, route in plan.routes.items() if task.id in route), None)
        tv = next((x for x in self._truth_vessels() if x.spec.name == v.truth), None)
        for r in free:
            st, tr = r.core.state, r.m.sim.truth
            rec["candidates"][r.m.spec.name] = {
                "belief_m": round(math.hypot(st.x - a.x, st.y - a.y), 1),
                "truth_m": None if tv is None else round(math.hypot(tr.x - tv.x, tr.y - tv.y), 1)}
        if who is None:
            self._log(t, "shadow", f"{task.id}: unassigned")
            return
        r = next(q for q in free if q.m.spec.name == who)
        rec["by"] = who
        self.shadowing[r.m.index] = v
        self.changes.append((t, len(self._free()), f"{who} leaves to shadow"))
        self._log(t, "shadow", f"{task.id} (vessel {v.id}, {a.kind}) to {who}, the nearest free boat")
        self._emit(r, t, "task", f"{who}: shadowing vessel {v.id} at {w.standoff_m:.0f} m", Severity.NOTICE,
                   task=task.id)

    def _shadow_step(self, t: float) -> None:
        w = self.watch
        for idx, v in list(self.shadowing.items()):
            r = self.runs[idx]
            if r.broken_at is not None or t - v.shadow["t"] >= w.shadow_s:
                del self.shadowing[idx]
                v.shadow["ended"] = round(t, 2)
                self.changes.append((t, len(self._free()), f"{r.m.spec.name} rejoins the patrol"))
                self._log(t, "shadow", f"{v.shadow['task']} done: {r.m.spec.name} rejoins the patrol")
                if r.broken_at is None:
                    self.next_patrol[idx] = t
                continue
            st = r.core.state
            cx, cy = v.predict(t)
            d = math.hypot(st.x - cx, st.y - cy)
            if d < 1e-3:
                continue
            ux, uy = (st.x - cx) / d, (st.y - cy) / d
            tx, ty = cx + w.standoff_m * ux, cy + w.standoff_m * uy
            vc = math.hypot(v.vx, v.vy)
            if vc > MOVING_MPS:
                # steer for a point ahead along the vessel's motion and hold
                # the distance with the speed: a point that stays ahead is
                # never "reached" (which would mean stop and keep station)
                tx, ty = tx + v.vx * SHADOW_LEAD_S, ty + v.vy * SHADOW_LEAD_S
            # distance error and how fast it changes (PD on the range): brake
            # before the band, not in it (the hull takes seconds to slow)
            closing = ux * (st.vx - v.vx) + uy * (st.vy - v.vy)
            speed = max(SHADOW_MIN_MPS, vc + SHADOW_SPEED_GAIN * (d - w.standoff_m) + SHADOW_DAMPING * closing)
            self._goto(r, t, tx, ty, speed)

    # ------------------------------------------------------------ measuring
    def _sample(self, t: float) -> None:
        truth = {tv.spec.name: tv for tv in self._truth_vessels()}
        for name, tv in truth.items():
            if name not in self.in_range and any(
                    r.broken_at is None and r.m.spec.vehicle_config.sensors.lidar is not None
                    and math.hypot(r.m.sim.truth.x - tv.x, r.m.sim.truth.y - tv.y)
                    <= r.m.spec.vehicle_config.sensors.lidar.max_range for r in self.boats):
                self.in_range[name] = t
        for idx, v in self.shadowing.items():
            r = self.runs[idx]
            tv = truth.get(v.truth)
            if tv is None:
                continue
            tr, st = r.m.sim.truth, r.core.state
            cx, cy = v.predict(t)
            self.samples.append((t, idx, v.truth, math.hypot(tr.x - tv.x, tr.y - tv.y),
                                 math.hypot(st.x - cx, st.y - cy), tv.speed))
        free = self._free()
        arcs, on = [], 0
        for r in free:
            s, d = self.loop.project(r.m.sim.truth.x, r.m.sim.truth.y)
            arcs.append(s)
            on += d <= ON_LOOP_M
        if free:
            self.gap_rows.append((t, len(free), on, max(self.loop.gaps(arcs)), self.loop.length / len(free)))

    def patrol_formed_at(self, t0: float, n: int) -> float | None:
        """When all ``n`` patrolling boats are on the loop after a change at
        ``t0`` (at once for a boat leaving; a boat rejoining must first come back)."""
        return next((t for t, nf, on, _, _ in self.gap_rows if t >= t0 and nf == n and on == n), None)

    def gap_closed_at(self, t0: float, n: int) -> float | None:
        tol = self.sc.harbour_criteria.patrol_gap_tolerance or 0.25
        for t, nf, on, gap, ideal in self.gap_rows:
            if t >= t0 and nf == n and on == n and gap <= (1 + tol) * ideal:
                return t
        return None

    def finished(self, t: float) -> bool:
        hc = self.sc.harbour_criteria
        if hc.expect_shadows and len(self.shadows) < hc.expect_shadows:
            return False
        if self.shadowing or any(s["ended"] is None and s["by"] for s in self.shadows):
            return False
        if any(not tv.finished for tv in self._truth_vessels()):
            return False                        # the exercise runs until every vessel has done its route
        t0, n, _ = self.changes[-1]
        t0 = self.patrol_formed_at(t0, n)
        closed = None if t0 is None else self.gap_closed_at(t0, n)
        return closed is not None and t >= closed + 10.0

    # ------------------------------------------------------------ report
    def evaluate(self, t_end: float) -> tuple[dict, list[str]]:
        hc = self.sc.harbour_criteria
        vmax = {r.m.index: r.m.spec.vehicle_config.limits.max_speed for r in self.runs}
        reasons: list[str] = []
        # alert latency per dark vessel that was detected
        latency = {}
        for tv in self._truth_vessels():
            name = tv.spec.name
            det = self.detected.get(name)
            first = min((a["t"] for a in self.alerts if a["truth"] == name), default=None)
            rng = self.in_range.get(name)
            latency[name] = {"ais": tv.spec.ais, "in_lidar_range_s": None if rng is None else round(rng, 2),
                             "detected_s": None if det is None else round(det, 2),
                             "first_alert_s": first,
                             "latency_s": None if det is None or first is None else round(first - det, 2),
                             "alert_after_in_range_s": None if rng is None or first is None else round(first - rng, 2)}
            if hc.alert_within_s is not None and not tv.spec.ais:
                if det is None:
                    reasons.append(f"AIS-dark {name} was never detected by the boats' sensors")
                elif first is None:
                    reasons.append(f"AIS-dark {name}: no alert (detected at {det:.1f} s)")
                elif first - det > hc.alert_within_s:
                    reasons.append(f"AIS-dark {name}: alert {first - det:.1f} s after detection, allowed "
                                   f"{hc.alert_within_s:g} s")
        # who shadows
        for s in self.shadows:
            cands = {k: c["truth_m"] for k, c in s["candidates"].items() if c["truth_m"] is not None}
            nearest = min(cands, key=cands.get) if cands else None
            s["nearest_free_truth"] = nearest
            if hc.shadow_nearest and s["by"] is None:
                reasons.append(f"{s['task']}: no boat assigned")
            elif hc.shadow_nearest and nearest is not None and cands[s["by"]] > cands[nearest] + hc.nearest_tie_m:
                reasons.append(f"{s['task']}: {s['by']} shadows ({cands[s['by']]:.0f} m from the vessel) but "
                               f"{nearest} was nearer ({cands[nearest]:.0f} m)")
        per_vessel: dict[str, int] = {}
        for s in self.shadows:
            per_vessel[str(s["truth"])] = per_vessel.get(str(s["truth"]), 0) + 1
        if hc.one_shadow_per_vessel:
            for name, k in per_vessel.items():
                if k > 1:
                    reasons.append(f"vessel {name} got {k} shadow tasks (one vessel, one shadow)")
        if hc.expect_shadows is not None and len(self.shadows) != hc.expect_shadows:
            reasons.append(f"{len(self.shadows)} shadow task(s) created, expected {hc.expect_shadows}")
        # stand-off band
        standoff = []
        w = self.watch
        tol = hc.standoff_tolerance_m
        for s in self.shadows:
            if s["by"] is None:
                continue
            idx = next(r.m.index for r in self.runs if r.m.spec.name == s["by"])
            rows = [x for x in self.samples if x[1] == idx and x[2] == s["truth"]
                    and s["t"] <= x[0] <= (s["ended"] if s["ended"] is not None else t_end)]
            band = tol if tol is not None else 6.0
            caught = None
            assessed, inside, worst, too_fast = 0, 0, 0.0, 0
            for (tt, _, _, d, db, vc) in rows:
                if vc > vmax[idx]:
                    too_fast += 1
                    continue
                if caught is None:
                    if abs(d - w.standoff_m) <= band:
                        caught = tt
                    else:
                        continue
                assessed += 1
                inside += abs(d - w.standoff_m) <= band
                worst = max(worst, abs(d - w.standoff_m))
            d_all = [x[3] for x in rows]
            res = {"task": s["task"], "by": s["by"], "standoff_m": w.standoff_m, "tolerance_m": band,
                   "caught_up_s": None if caught is None else round(caught, 1),
                   "assessed_s": round(assessed * SAMPLE_S, 1), "inside_fraction": round(inside / assessed, 3)
                   if assessed else None, "worst_assessed_error_m": round(worst, 2),
                   "not_assessed_contact_faster_s": round(too_fast * SAMPLE_S, 1),
                   "min_distance_m": round(min(d_all), 1) if d_all else None,
                   "max_distance_m": round(max(d_all), 1) if d_all else None,
                   "belief_vs_truth_m": round(float(np.median([abs(x[4] - x[3]) for x in rows])), 2) if rows else None,
                   "note": "the band is assessed only while the vessel is no faster than the shadower's top speed, "
                           "from when the shadower first reaches it (caught up)"}
            standoff.append(res)
            if tol is not None:
                if assessed * SAMPLE_S < hc.standoff_min_assessed_s:
                    reasons.append(f"{s['task']}: stand-off assessed only {assessed * SAMPLE_S:.0f} s (the shadower "
                                   f"{'never caught up' if caught is None else f'caught up at {caught:.0f} s'}); "
                                   f"needs {hc.standoff_min_assessed_s:g} s")
                elif inside / assessed < hc.standoff_hold_fraction:
                    reasons.append(f"{s['task']}: {s['by']} inside {w.standoff_m:g}+-{band:g} m for "
                                   f"{100 * inside / assessed:.0f} % of the assessed {assessed * SAMPLE_S:.0f} s "
                                   f"(worst {worst:.1f} m off), needs {100 * hc.standoff_hold_fraction:.0f} %")
        # patrol gap
        gaps = []
        for k, (t_change, n, why) in enumerate(self.changes):
            if k == 0 or n == 0:
                continue
            t0 = self.patrol_formed_at(t_change, n)
            if t0 is None:
                reasons.append(f"patrol after '{why}' at {t_change:.0f} s: the {n} boats were never all back on the loop")
                continue
            closed = self.gap_closed_at(t0, n)
            rows = [g for g in self.gap_rows if g[0] >= t0 and g[1] == n]
            gaps.append({"at_s": round(t_change, 1), "why": why, "boats": n, "all_on_loop_s": round(t0, 1),
                         "ideal_gap_m": round(self.loop.length / n, 1),
                         "largest_gap_at_change_m": round(rows[0][3], 1) if rows else None,
                         "closed_at_s": None if closed is None else round(closed, 1),
                         "closed_after_s": None if closed is None else round(closed - t0, 1),
                         "closed_after_change_s": None if closed is None else round(closed - t_change, 1)})
            if hc.patrol_gap_tolerance is not None:
                if closed is None or closed - t0 > hc.patrol_gap_within_s:
                    reasons.append(f"patrol gap after '{why}' (all on the loop at {t0:.0f} s): not within "
                                   f"{100 * (1 + hc.patrol_gap_tolerance):.0f} % of {self.loop.length / n:.0f} m "
                                   + ("by the end of the run" if closed is None else f"until {closed - t0:.0f} s later")
                                   + f" (allowed {hc.patrol_gap_within_s:g} s)")
        summary = {"loop_length_m": round(self.loop.length, 1), "alerts": self.alerts,
                   "alert_packets": len(self.alert_packets), "detection": latency, "shadows": self.shadows,
                   "shadows_per_vessel": per_vessel, "standoff": standoff, "patrol_gap": gaps,
                   "vessels": {v.id: {"tracks": v.tracks, "truth": v.truth, "alerts": sorted(v.alerted)}
                               for v in self.vessels.values()},
                   "log": self.log}
        return summary, reasons


__all__ = ["Loop", "ThreatResponse"]
