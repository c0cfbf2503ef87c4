"""The fleet's threat watch and its response, in the lockstep fleet SITL:
boats patrol a loop, their contact pictures are fused and scored, an alert
goes to the operator and creates a shadow task, the nearest free boat
shadows the vessel at the stand-off and the others close the gap.

- **The watch** (``sim/fleet/threat_watch.py``): every ``period_s`` the
  vehicles' contact pictures (a boat's contact table: lidar fused with
  AIS; a land vehicle's lidar tracks; the camera where ``camera_labels``
  names what it sees) are fused into fleet tracks and subjects and scored
  by ``vehicle.fleet.threats.assess``; an alert is an ALERT-severity event
  with its STATUSTEXT line and the dialect's EDGEPILOT_THREAT_ALERT packet.
  **One subject gets one task** (a shadow or an inspection), however many
  track ids it has had and whether its task is running or over.
- **Shadow task**: a ``ShadowTask`` allocated by ``GreedyAllocator`` over
  the free patrol boats (costs: straight-line travel time from where each
  boat believes it is: open water) = the nearest free boat.  The shadower
  is steered (GUIDED targets, once a second) to the point at the stand-off
  from the vessel on the line towards itself, at the vessel's speed plus a
  term closing the distance error.  After ``shadow_s`` it rejoins the patrol.
- **Inspect task**: an alert of a kind in ``inspect_kinds`` (a person in a
  restricted zone) sends the nearest free patroller (the same allocation)
  to where the subject was seen, at the patrol speed; it has visited once
  within ``inspect_radius_m`` and rejoins the patrol after a short look.
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

import numpy as np

from edgepilot.sim.fleet.threat_watch import ThreatWatch, Vessel
from edgepilot.vehicle.fleet.allocation import GreedyAllocator
from edgepilot.vehicle.fleet.costs import fleet_costs
from edgepilot.vehicle.fleet.tasks import ShadowTask, VehicleCapabilities, VisitTask
from edgepilot.vehicle.fleet.threats import points_in_polygon
from edgepilot.vehicle.types import Severity

ON_LOOP_M = 15.0            # a boat this near the loop counts in the patrol gap
SHADOW_UPDATE_S = 1.0
SHADOW_SPEED_GAIN = 0.15    # [1/s] speed added per metre beyond the stand-off
SHADOW_DAMPING = 1.5        # speed taken off per m/s the range is closing
SHADOW_LEAD_S = 8.0         # the shadower steers for the stand-off point this far ahead of the vessel
SHADOW_MIN_MPS = 0.2
MOVING_MPS = 0.3
SAMPLE_S = 0.5
INSPECT_RING = 0.9          # the inspector looks from this fraction of the visit radius off the spot
INSPECT_LINGER_S = 5.0      # an inspector stays this long at the spot (the camera's look) before it rejoins
INSPECT_SPOT_RETRY_S = 3.0  # an inspector sent near the spot (something was on it) tries the spot again this often


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


class ThreatResponse(ThreatWatch):
    def __init__(self, sc, fw, runs, seed: int, on_event=None):
        super().__init__(sc.threat_watch, fw, runs, on_event, self._respond)
        self.sc = sc
        self.patrol = sc.patrol
        self.loop = Loop(self.patrol.route)
        names = set(self.patrol.vehicles or [r.m.spec.name for r in runs if r.m.spec.domain == "water"])
        self.patrollers = [r for r in runs if r.m.spec.name in names]
        self.boats = [r for r in runs if r.m.spec.domain == "water"]
        self.next_arm = {r.m.index: 0.0 for r in self.patrollers}
        n = max(1, len(self.patrollers))
        self.next_patrol = {r.m.index: (k + 1) * self.patrol.update_s / n for k, r in enumerate(self.patrollers)}
        self.next_shadow = 0.0
        self.next_sample = 0.0
        self.shadowing: dict[int, Vessel] = {}       # run index -> the vessel it shadows
        self.inspecting: dict[int, dict] = {}        # run index -> the inspect task record it is on
        self.shadows: list[dict] = []
        self.inspections: list[dict] = []
        self.in_range: dict[str, float] = {}        # truth vessel -> first time within a boat's lidar range
        self.entered: dict[tuple[str, str], float] = {}   # (person, restricted zone) -> first time inside (truth)
        self.samples: list[tuple] = []             # (t, run index, vessel truth name, d_true, d_belief, v_contact)
        self.gap_rows: list[tuple] = []            # (t, free boats, on loop, largest gap, ideal gap)
        self.changes: list[tuple[float, int, str]] = [(0.0, len(self.patrollers), "start")]

    def _free(self) -> list:
        return [r for r in self.patrollers if r.broken_at is None and r.started and r.m.index not in self.shadowing
                and r.m.index not in self.inspecting]

    def _goto(self, r, t: float, x: float, y: float, speed: float) -> bool:
        """A GUIDED target; True when the core took it (a refusal is the
        core's STATUSTEXT)."""
        core = r.core
        lat, lon = self.fw.frame.to_geo(x, y)
        vmax = r.m.spec.vehicle_config.limits.max_speed
        res = core.goto(t, lat, lon, float(min(vmax, max(0.1, speed))))
        return bool(res.ok)

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
        if self.due(t):
            self.step(t)
        if t + 1e-9 >= self.next_shadow:
            self.next_shadow += SHADOW_UPDATE_S
            self._shadow_step(t)
            self._inspect_step(t)
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

    # ------------------------------------------------------------ shadow
    def _respond(self, a, v: Vessel, rec: dict, reporter, t: float) -> None:
        """An alert's task: a shadow for a vessel (one per vessel), an
        inspection for a person in a restricted zone (one per person)."""
        w = self.watch
        if v.shadow is not None:
            return
        if a.kind in w.shadow_kinds and a.score >= w.shadow_score:
            self._assign_shadow(a, v, t)
        elif a.kind in w.inspect_kinds:
            self._assign_inspect(a, v, t)

    def _allocate(self, task, a, v: Vessel, rec: dict, t: float):
        """The nearest free patroller for ``task`` (``GreedyAllocator``,
        straight-line travel time from where each believes it is), with
        every candidate's believed and true distance in ``rec``; None when
        no one is free."""
        free = self._free()
        if not free:
            self._log(t, rec["kind"], f"{task.id}: no free vehicle")
            return None
        caps = [VehicleCapabilities(name=r.m.spec.name, sysid=r.m.spec.sysid, domain=r.m.spec.domain,
                                    start=(r.core.state.x, r.core.state.y),
                                    speed=r.m.spec.vehicle_config.limits.max_speed,
                                    sensors=(("ais",) if r.m.spec.domain == "water" else ())
                                    + (("lidar",) if r.m.spec.vehicle_config.sensors.lidar else ())
                                    + (("camera",) if r.m.spec.vehicle_config.sensors.camera else ()))
                for r in free]

        def straight(domain, sources, targets):
            s, g = np.asarray(sources, float).reshape(-1, 2), np.asarray(targets, float).reshape(-1, 2)
            return np.hypot(s[:, None, 0] - g[None, :, 0], s[:, None, 1] - g[None, :, 1])

        plan = GreedyAllocator().allocate([task], caps, fleet_costs([task], caps, straight))
        who = next((n for n, route in plan.routes.items() if task.id in route), None)
        truth = self._truth_position(v, t)
        for r in free:
            st, tr = r.core.state, r.m.sim.truth
            rec["candidates"][r.m.spec.name] = {
                "belief_m": round(math.hypot(st.x - a.x, st.y - a.y), 1),
                "truth_m": None if truth is None else round(math.hypot(tr.x - truth[0], tr.y - truth[1]), 1)}
        if who is None:
            self._log(t, rec["kind"], f"{task.id}: unassigned")
            return None
        return next(q for q in free if q.m.spec.name == who)

    def _truth_position(self, v: Vessel, t: float):
        if v.kind == "person":
            return next(((x, y) for r in self.runs for name, x, y in r.m.sim.faults.people(t) if name == v.truth),
                        None)
        tv = next((x for x in self._truth_vessels() if x.spec.name == v.truth), None)
        return None if tv is None else (tv.x, tv.y)

    def _assign_shadow(self, a, v: Vessel, t: float) -> None:
        w = self.watch
        task = ShadowTask(kind="shadow", id=f"shadow-v{v.id}", domain="water", contact=f"vessel-{v.id}",
                          position=(a.x, a.y), standoff_m=w.standoff_m, duration_s=w.shadow_s,
                          priority=1.0 + 2.0 * a.score)
        rec = {"task": task.id, "kind": "shadow", "vessel": v.id, "truth": v.truth, "alert": a.kind,
               "t": round(t, 2), "by": None, "ended": None, "candidates": {}}
        v.shadow = rec
        self.shadows.append(rec)
        r = self._allocate(task, a, v, rec, t)
        if r is None:
            return
        who = r.m.spec.name
        rec["by"] = who
        self.shadowing[r.m.index] = v
        self.changes.append((t, len(self._free()), f"{who} leaves to shadow"))
        self._log(t, "shadow", f"{task.id} (vessel {v.id}, {a.kind}) to {who}, the nearest free boat")
        self._emit(r, t, "task", f"{who}: shadowing vessel {v.id} at {w.standoff_m:.0f} m", Severity.NOTICE,
                   task=task.id)

    def _assign_inspect(self, a, v: Vessel, t: float) -> None:
        """An inspect task (``Alert.task``: a camera visit to where the
        subject was seen) for the nearest free patroller."""
        base = a.task()
        task = VisitTask(kind="visit", id=f"inspect-v{v.id}", domain=base.domain, sensors=base.sensors,
                         position=base.position, priority=base.priority)
        rec = {"task": task.id, "kind": "inspect", "vessel": v.id, "truth": v.truth, "alert": a.kind,
               "zone": a.zone, "t": round(t, 2), "position": [round(a.x, 1), round(a.y, 1)], "by": None,
               "visited_at": None, "visit_error_m": None, "ended": None, "candidates": {}}
        v.shadow = rec
        self.inspections.append(rec)
        r = self._allocate(task, a, v, rec, t)
        if r is None:
            return
        who = r.m.spec.name
        rec["by"] = who
        self.inspecting[r.m.index] = rec
        self.changes.append((t, len(self._free()), f"{who} leaves to inspect"))
        self._log(t, "inspect", f"{task.id} (subject {v.id}, {a.kind}) to {who}, the nearest free vehicle")
        self._emit(r, t, "task", f"{who}: inspecting ({a.x:.0f}, {a.y:.0f}) m", Severity.NOTICE, task=task.id)

    def _inspect_step(self, t: float) -> None:
        """Inspectors drive to the spot; a visit is within
        ``inspect_radius_m`` (belief); they rejoin the patrol after a look."""
        w = self.watch
        for idx, rec in list(self.inspecting.items()):
            r = self.runs[idx]
            x, y = rec["position"]
            st = r.core.state
            if r.broken_at is None and rec["visited_at"] is None and math.hypot(st.x - x, st.y - y) <= w.inspect_radius_m:
                rec["visited_at"] = round(t, 2)
                tr = r.m.sim.truth
                rec["visit_error_m"] = round(math.hypot(tr.x - x, tr.y - y), 2)
                self._log(t, "inspect", f"{rec['task']} visited by {r.m.spec.name}")
                self._emit(r, t, "task", f"{r.m.spec.name}: {rec['task']} visited", Severity.NOTICE, task=rec["task"])
            if r.broken_at is not None or (rec["visited_at"] is not None and t - rec["visited_at"] >= INSPECT_LINGER_S):
                del self.inspecting[idx]
                rec["ended"] = round(t, 2)
                self.changes.append((t, len(self._free()), f"{r.m.spec.name} rejoins the patrol"))
                self._log(t, "inspect", f"{rec['task']} done: {r.m.spec.name} rejoins the patrol")
                if r.broken_at is None:
                    self.next_patrol[idx] = t
                continue
            if rec["visited_at"] is None:
                self._approach(r, rec, t)

    def _approach(self, r, rec: dict, t: float) -> None:
        """Drive to the spot.  The planner refuses it while something is
        there now -- at the alert the subject itself often is: the camera
        keeps the vehicle off a person where it is seen (a transient
        obstacle, vehicle/perception/transient.py; it no longer leaves a
        trail behind a walker).  The fallback is then a point on a ring
        ``INSPECT_RING`` x the visit radius around the spot, nearest the
        inspector first, kept while it is accepted; the spot is tried again
        every ``INSPECT_SPOT_RETRY_S``, so the inspector heads for it once
        the subject has moved on."""
        x, y = rec["position"]
        speed = self.patrol.speed
        if rec.get("approach") != [x, y] and t - rec.get("spot_tried", -math.inf) >= INSPECT_SPOT_RETRY_S - 1e-9:
            rec["spot_tried"] = round(t, 2)
            if self._goto(r, t, x, y, speed):
                rec["approach"] = [x, y]
                return
        if rec.get("approach") is not None:
            ax, ay = rec["approach"]
            if self._goto(r, t, ax, ay, speed):
                return
        st = r.core.state
        d = INSPECT_RING * self.watch.inspect_radius_m
        cands = [(x + d * math.cos(k * math.pi / 8), y + d * math.sin(k * math.pi / 8)) for k in range(16)]
        cands.sort(key=lambda p: math.hypot(p[0] - st.x, p[1] - st.y))
        for ax, ay in cands:
            if self._goto(r, t, ax, ay, speed):
                rec["approach"] = [round(ax, 2), round(ay, 2)]
                return
        rec["approach"] = None

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
        restricted = [z for z in self.zones if z.kind == "restricted"]
        if restricted:
            for r in self.runs:
                for name, x, y in r.m.sim.faults.people(t):
                    for z in restricted:
                        if (name, z.name) not in self.entered and points_in_polygon(x, y, z.polygon)[0]:
                            self.entered[(name, z.name)] = t
                            self._log(t, "entered", f"{name} enters restricted zone {z.name} (truth)")
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
        if hc.expect_inspections and len(self.inspections) < hc.expect_inspections:
            return False
        if self.inspecting or any(s["ended"] is None and s["by"] for s in self.inspections):
            return False
        if any(f.type == "crossing" and f.kind == "person" and t < f.end_s for r in self.runs
               for f in r.m.sim.faults.faults):
            return False                        # and until every person has walked their way
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
        # people entering restricted zones: the alert, its reasons, the inspection
        entries = []
        for (person, zone), t_in in sorted(self.entered.items(), key=lambda kv: kv[1]):
            al = [a for a in self.alerts if a["kind"] == "restricted_entry" and a["truth"] == person
                  and a["zone"] == zone]
            first = min(al, key=lambda a: a["t"], default=None)
            insp = [s for s in self.inspections if s["truth"] == person]
            row = {"person": person, "zone": zone, "entered_s": round(t_in, 2),
                   "first_alert_s": None if first is None else first["t"],
                   "alert_after_entry_s": None if first is None else round(first["t"] - t_in, 2),
                   "score": None if first is None else first["score"],
                   "reasons": None if first is None else first["reasons"],
                   "sources": None if first is None else first["sources"],
                   "inspections": [s["task"] for s in insp],
                   "visited_s": next((s["visited_at"] for s in insp if s["visited_at"] is not None), None)}
            entries.append(row)
            if hc.entry_alert_within_s is not None:
                if first is None:
                    reasons.append(f"{person} entered restricted zone {zone} at {t_in:.1f} s: no alert")
                    continue
                if first["t"] - t_in > hc.entry_alert_within_s:
                    reasons.append(f"{person}: alert {first['t'] - t_in:.1f} s after entering {zone}, allowed "
                                   f"{hc.entry_alert_within_s:g} s")
                if not any(zone in x for x in first["reasons"]):
                    reasons.append(f"{person}: the alert's reasons do not name the zone {zone}: {first['reasons']}")
                if not insp:
                    reasons.append(f"{person}: no inspect task")
                elif row["visited_s"] is None:
                    reasons.append(f"{person}: {insp[0]['task']} ({insp[0]['by'] or 'nobody'}) was never visited")
        for s in self.inspections:
            cands = {k: c["truth_m"] for k, c in s["candidates"].items() if c["truth_m"] is not None}
            s["nearest_free_truth"] = min(cands, key=cands.get) if cands else None
        if hc.expect_inspections is not None and len(self.inspections) != hc.expect_inspections:
            reasons.append(f"{len(self.inspections)} inspect task(s) created, expected {hc.expect_inspections}")
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
                   "restricted_entries": entries, "inspections": self.inspections,
                   "shadows_per_vessel": per_vessel, "standoff": standoff, "patrol_gap": gaps,
                   "vessels": {v.id: {"kind": v.kind, "tracks": v.tracks, "truth": v.truth,
                                      "alerts": sorted(v.alerted)}
                               for v in self.vessels.values()},
                   "log": self.log}
        return summary, reasons


__all__ = ["Loop", "ThreatResponse"]
