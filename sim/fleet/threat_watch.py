"""The fleet's threat watch: every vehicle's share of the contact picture
(``vehicle.fleet.picture``: its contact table, its lidar tracks, its
camera) fused into one fleet picture, scored by
``vehicle.fleet.threats.assess``; each alert is raised once per subject and
kind, with its STATUSTEXT line and the dialect's EDGEPILOT_THREAT_ALERT.
Used by the lockstep fleet (``sim/fleet/threat_response.py``, which adds the
patrol and the tasks an alert creates) and by the real-time fleet
(``sim/realtime_fleet.py``, which sends the alert on the reporting
vehicle's MAVLink output).

- **Sightings**: every ``period_s`` each working vehicle's sightings are
  read as they would be shared over the V2V link: a boat's contact-table
  contacts a sensor refreshed lately (lidar tracks fused with AIS where
  they agree, split from it when they part), a land vehicle's confirmed
  lidar tracks, and either's camera detections whose colour the watch's
  ``camera_labels`` name (bearing and range from the vehicle's pose, fused
  with a lidar/AIS sighting within ``camera_gate_m``: it says what the
  contact is).  The fleet's own vehicles (their MMSIs, and sightings on
  their reported positions) are left out.
- **Fleet tracks**: a vehicle's sighting joins the fleet track its key
  joined before, else the nearest within ``gate_m`` (of its kind, not of
  another MMSI), else starts a new one; tracks unseen for
  ``drop_after_s`` are dropped.
- **Subjects**: a fleet track is linked to a *subject* (``Vessel``), the
  watch's memory of one boat or person: a new track near where a known
  subject is expected (``same_vessel_m``, growing with the time since it
  was last seen) is that subject again (a lidar track that re-spawned,
  another vehicle picking it up).  Alerts are raised once per subject and
  kind, however many track ids it has had.

Criteria are measured on the truth: ``detected`` is the first time any
vehicle's picture holds a sensor sighting within 10 m of a traffic
vessel's true position.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from edgepilot.vehicle.fleet.picture import (camera_sightings, fuse_camera, table_sightings, track_sightings,
                                             without_members)
from edgepilot.vehicle.fleet.threats import AisReport, SensorCoverage, ThreatParams, Track, Zone, assess
from edgepilot.vehicle.types import Event, Severity

DETECT_TRUTH_M = 10.0       # a sensor sighting this near a vessel's true position has detected it


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
    kind: str = "vessel"
    seen_by: set = field(default_factory=set)
    sources: set = field(default_factory=set)
    vessel: int | None = None


@dataclass
class Vessel:
    """What the watch remembers of one subject (a boat, a person)."""

    id: int
    x: float
    y: float
    vx: float
    vy: float
    last_seen: float
    first_seen: float
    mmsi: int | None = None
    kind: str = "vessel"
    tracks: list = field(default_factory=list)    # fleet track ids it has had
    alerted: dict = field(default_factory=dict)   # kind -> alert record
    shadow: dict | None = None
    truth: str | None = None                      # the traffic vessel it is (evaluation only)

    def predict(self, now: float, horizon_s: float = 10.0) -> tuple[float, float]:
        dt = min(max(0.0, now - self.last_seen), horizon_s)
        return self.x + self.vx * dt, self.y + self.vy * dt


class ThreatWatch:
    """``watch``: the scenario's ``[threat_watch]``; ``fw`` the shared world
    (truth for evaluation); ``runs`` the fleet's vehicles (``_Run``: member,
    simulation, core, broken_at).  ``on_alert(alert, subject, record,
    reporter run, t)`` hears each new alert after it is recorded."""

    def __init__(self, watch, fw, runs, on_event=None, on_alert=None):
        self.watch = watch
        self.fw = fw
        self.runs = runs
        self.on_event = on_event
        self.on_alert = on_alert
        self.fleet_mmsi = {r.m.spec.ais_mmsi for r in runs if r.m.spec.domain == "water"}
        self.zones = [Zone(z.name, tuple(map(tuple, z.points)), z.kind) for z in watch.zones]
        self.labels = dict(watch.camera_labels)
        self.params = ThreatParams()
        self.next_watch = watch.period_s
        self.t_now = 0.0
        self.tracks: dict[int, FleetTrack] = {}
        self.owner: dict[tuple, int] = {}            # (vehicle, its sighting key) -> fleet track id
        self.vessels: dict[int, Vessel] = {}
        self._next_track = 1
        self._next_vessel = 1
        self.alerts: list[dict] = []
        self.alert_packets: list[bytes] = []
        self.detected: dict[str, float] = {}        # truth vessel -> first detection time
        self.log: list[dict] = []
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

    def _working(self) -> list:
        return [r for r in self.runs if r.broken_at is None and getattr(r.m, "alive", True)]

    def due(self, t: float) -> bool:
        """True (and the next watch scheduled) when a watch is due at ``t``."""
        if t + 1e-9 < self.next_watch:
            return False
        self.next_watch += self.watch.period_s
        return True

    # ------------------------------------------------------------ picture
    def sightings(self, r, t: float) -> list:
        """What vehicle ``r`` sees now (``vehicle.fleet.picture``)."""
        core = r.core
        members = [(q.core.state.x, q.core.state.y) for q in self._working()]
        m = core.maritime
        if m is not None:
            out = table_sightings(t, m.contacts.contacts.values(), self.fleet_mmsi)
        else:
            out = track_sightings(t, core.tracks)
        cam = r.m.spec.vehicle_config.sensors.camera
        if self.labels and cam is not None:
            cams = camera_sightings(core.state, core.camera_detections, self.labels,
                                    self.watch.camera_range_m or cam.obstacle_range_m)
            out = fuse_camera(out, cams, self.watch.camera_gate_m)
        return without_members(out, members)

    def _ais(self, t: float) -> list[AisReport]:
        best: dict[int, AisReport] = {}
        for r in self._working():
            if r.core.maritime is None:
                continue
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
        for r in self._working():
            name = r.m.spec.name
            for s in self.sightings(r, t):
                tid = self.owner.get((name, s.key)) if s.key is not None else None
                tr = self.tracks.get(tid) if tid is not None else None
                if tr is not None:
                    px, py = tr.x + tr.vx * (t - tr.t), tr.y + tr.vy * (t - tr.t)
                    if math.hypot(px - s.x, py - s.y) > 2 * w.gate_m:
                        tr = None
                if tr is None:
                    best, bd = None, w.gate_m
                    for cand in self.tracks.values():
                        if s.mmsi is not None and cand.mmsi is not None and cand.mmsi != s.mmsi:
                            continue
                        if "unknown" not in (s.kind, cand.kind) and s.kind != cand.kind:
                            continue
                        px, py = cand.x + cand.vx * (t - cand.t), cand.y + cand.vy * (t - cand.t)
                        d = math.hypot(px - s.x, py - s.y)
                        if d < bd:
                            best, bd = cand, d
                    tr = best
                if tr is None:
                    tr = FleetTrack(self._next_track, s.x, s.y, s.vx, s.vy, t, t, s.mmsi, s.kind)
                    self._next_track += 1
                    self.tracks[tr.id] = tr
                    self._link_vessel(tr, t)
                    self._log(t, "track", f"fleet track {tr.id} ({s.kind}, {'+'.join(s.sources)}) from {name} "
                                          f"at ({s.x:.0f}, {s.y:.0f}) m -> subject {tr.vessel}")
                if s.key is not None:
                    self.owner[(name, s.key)] = tr.id
                tr.seen_by.add(name)
                tr.sources.update(s.sources)
                got.setdefault(tr.id, []).append(s)
                if "lidar" in s.sources or "radar" in s.sources:
                    self._detect_truth(s.x, s.y, t)
        for tid, ob in got.items():
            tr = self.tracks[tid]
            moving = [s for s in ob if s.has_velocity] or ob
            tr.x = float(np.mean([s.x for s in moving]))
            tr.y = float(np.mean([s.y for s in moving]))
            if any(s.has_velocity for s in ob):
                tr.vx = float(np.mean([s.vx for s in moving]))
                tr.vy = float(np.mean([s.vy for s in moving]))
            else:
                tr.vx = tr.vy = 0.0
            tr.t = t
            tr.mmsi = tr.mmsi or next((s.mmsi for s in ob if s.mmsi is not None), None)
            kinds = [s.kind for s in ob if s.kind != "unknown"]
            if kinds:
                tr.kind = kinds[0]
            v = self.vessels[tr.vessel]
            v.x, v.y, v.vx, v.vy, v.last_seen = tr.x, tr.y, tr.vx, tr.vy, t
            v.mmsi = v.mmsi or tr.mmsi
            if tr.kind != "unknown":
                v.kind = tr.kind
        for tid in [k for k, tr in self.tracks.items() if t - tr.t > w.drop_after_s]:
            del self.tracks[tid]
            self.owner = {k: v for k, v in self.owner.items() if v != tid}

    def _link_vessel(self, tr: FleetTrack, t: float) -> None:
        """A new fleet track is a known subject when it appears where that
        subject is expected and no live track holds it; else a new one."""
        w = self.watch
        live = {x.vessel for x in self.tracks.values() if x is not tr and t - x.t <= 2 * w.period_s}
        best, bd = None, math.inf
        for v in self.vessels.values():
            if v.id in live or (tr.mmsi is not None and v.mmsi is not None and tr.mmsi != v.mmsi):
                continue
            if tr.kind != v.kind:
                continue
            px, py = v.predict(t)
            gate = min(4 * w.same_vessel_m, w.same_vessel_m + 1.0 * max(0.0, t - v.last_seen))
            d = math.hypot(px - tr.x, py - tr.y)
            if d <= gate and d < bd:
                best, bd = v, d
        if best is None:
            best = Vessel(self._next_vessel, tr.x, tr.y, tr.vx, tr.vy, t, t, tr.mmsi, tr.kind)
            self._next_vessel += 1
            self.vessels[best.id] = best
        best.tracks.append(tr.id)
        tr.vessel = best.id
        tr.first_seen = min(tr.first_seen, best.first_seen)

    # ------------------------------------------------------------ truth
    def _truth_vessels(self):
        return self.fw.traffic.vessels if self.fw.traffic is not None else []

    def _nearest_truth(self, x: float, y: float, within: float = math.inf):
        best, bd = None, within
        for tv in self._truth_vessels():
            d = math.hypot(tv.x - x, tv.y - y)
            if d <= bd:
                best, bd = tv, d
        return best, bd

    def _truth_name(self, x: float, y: float, kind: str) -> tuple[str | None, float | None]:
        """The true subject nearest (x, y) and its distance: a traffic
        vessel for a vessel, a walking person (a vehicle's crossing fault
        of kind 'person') for a person."""
        if kind == "person":
            best, bd = None, math.inf
            for r in self.runs:
                for name, px, py in r.m.sim.faults.people(self.t_now):
                    d = math.hypot(px - x, py - y)
                    if d < bd:
                        best, bd = name, d
            return best, (None if best is None else bd)
        tv, err = self._nearest_truth(x, y)
        return (None, None) if tv is None else (tv.spec.name, err)

    def _detect_truth(self, x: float, y: float, t: float) -> None:
        tv, _ = self._nearest_truth(x, y, DETECT_TRUTH_M)
        if tv is not None and tv.spec.name not in self.detected:
            self.detected[tv.spec.name] = t
            self._log(t, "detected", f"{tv.spec.name} first held by a vehicle's sensors (truth)")

    # ------------------------------------------------------------ scoring
    def coverage(self) -> SensorCoverage:
        return SensorCoverage(tuple((r.core.state.x, r.core.state.y,
                                     0.8 * r.m.spec.vehicle_config.sensors.lidar.max_range)
                                    for r in self._working() if r.m.spec.domain == "water"
                                    and r.m.spec.vehicle_config.sensors.lidar is not None))

    def step(self, t: float) -> list[dict]:
        """Fuse and score the picture now; returns the new alert records."""
        self.t_now = t
        self._fuse(t)
        tracks = [Track(tr.id, tr.x, tr.y, tr.vx, tr.vy, tr.kind, tr.first_seen, tr.t, tr.mmsi)
                  for tr in self.tracks.values() if tr.t == t]
        new = []
        for a in assess(t, tracks, self._ais(t), self.zones, self.coverage(), self.params):
            v = self.vessels.get(self.tracks[a.track_id].vessel) if a.track_id in self.tracks else None
            if v is None or a.kind in v.alerted:
                continue
            new.append(self._raise(a, v, t))
        return new

    def _raise(self, a, v: Vessel, t: float) -> dict:
        name, err = self._truth_name(a.x, a.y, v.kind)
        if v.truth is None and name is not None and err <= 3 * DETECT_TRUTH_M:
            v.truth = name
        reporter = min(self._working(), key=lambda r: math.hypot(r.core.state.x - a.x, r.core.state.y - a.y))
        tr = self.tracks.get(a.track_id)
        rec = {"t": round(t, 2), "kind": a.kind, "score": round(a.score, 3), "reasons": list(a.reasons),
               "x": round(a.x, 1), "y": round(a.y, 1), "track": a.track_id, "vessel": v.id, "zone": a.zone,
               "subject": v.kind, "sources": sorted(tr.sources) if tr is not None else [],
               "by": reporter.m.spec.name, "sysid": reporter.m.spec.sysid, "statustext": a.text(),
               "truth": v.truth, "truth_error_m": None if err is None else round(err, 1)}
        v.alerted[a.kind] = rec
        self.alerts.append(rec)
        self.alert_packets.append(self.packet(reporter, a))
        self._log(t, "alert", f"{reporter.m.spec.name}: {a.text()}: {'; '.join(a.reasons)}")
        self._emit(reporter, t, "threat_alert", a.text(), Severity.ALERT, alert=a.kind, score=rec["score"],
                   x=rec["x"], y=rec["y"], vessel=v.id)
        if self.on_alert is not None:
            self.on_alert(a, v, rec, reporter, t)
        return rec

    def codec(self):
        from edgepilot.firmware_bridge.fleet_link import FleetCodec

        if self._codec is None:
            self._codec = FleetCodec(tuple(q.m.spec.sysid for q in self.runs), 0)
        return self._codec

    def packet(self, r, a) -> bytes:
        """The EDGEPILOT_THREAT_ALERT the reporting vehicle sends (a STATUSTEXT goes with it)."""
        codec = self.codec()
        sysid = r.m.spec.sysid
        if sysid not in self._mav:
            self._mav[sysid] = codec.mod.MAVLink(None, srcSystem=sysid, srcComponent=1)
        return bytes(codec.alert(a).pack(self._mav[sysid]))


__all__ = ["DETECT_TRUTH_M", "FleetTrack", "ThreatWatch", "Vessel"]
