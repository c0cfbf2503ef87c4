"""Threat alerts from the fused contact picture, each with a score in
[0, 1] and the reasons, and the task it suggests (intercept and shadow, or
inspect).  Pure: tracks, AIS reports and zones in, alerts out, time passed
in.  Map-frame ENU metres, m/s, seconds.

Four kinds:

- ``ais_dark``: a vessel our sensors (lidar, camera, radar) have tracked
  for a while with no AIS report anywhere near it.
- ``ais_mismatch``: AIS disagrees with what we see: the AIS position of a
  vessel we track under that MMSI is far from our track, or AIS puts a
  vessel where our sensors cover and see nothing.
- ``zone_cpa``: a contact whose closest point of approach to a protected
  zone (straight-line motion, ``vehicle/maritime/cpa.py``) lies inside the
  zone polygon within the horizon, or that is inside it already.
- ``restricted_entry``: a person inside a restricted zone on land (or about
  to enter it at their present velocity).

Scores: each rule starts from a base and adds weighted factors (speed,
time to reach the zone, how long we have seen it); a vessel that is both
dark and heading into a protected zone gets both alerts, the zone one
raised for being dark.  The reasons say every factor that counted.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgepilot.vehicle.fleet.tasks import ShadowTask, VisitTask
from edgepilot.vehicle.maritime.cpa import cpa


@dataclass(frozen=True)
class Track:
    """A target our own sensors follow (fused lidar/camera/radar track).
    ``kind``: "vessel", "person" or "unknown"; ``mmsi``: the AIS identity
    the fusion gave it, None if none; ``first_seen``/``last_seen`` [s]."""

    id: int
    x: float
    y: float
    vx: float
    vy: float
    kind: str = "vessel"
    first_seen: float = 0.0
    last_seen: float = 0.0
    mmsi: int | None = None


@dataclass(frozen=True)
class AisReport:
    """The latest AIS position report of one MMSI, map frame, at time ``t``."""

    mmsi: int
    x: float
    y: float
    vx: float
    vy: float
    t: float


@dataclass(frozen=True)
class Zone:
    """A named polygon (N, 2) [x, y] m: ``protected`` (water: keep vessels
    out) or ``restricted`` (land: keep people out)."""

    name: str
    polygon: tuple
    kind: str = "protected"

    def __post_init__(self):
        p = np.asarray(self.polygon, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] != 2 or len(p) < 3 or not np.isfinite(p).all():
            raise ValueError(f"zone {self.name!r}: polygon must be >= 3 finite [x, y] points, got shape {p.shape}")
        if self.kind not in ("protected", "restricted"):
            raise ValueError(f"zone {self.name!r}: kind must be 'protected' or 'restricted', got {self.kind!r}")


@dataclass(frozen=True)
class SensorCoverage:
    """Where our sensors would see a vessel: circles (x, y, range) [m]."""

    circles: tuple = ()

    def covers(self, x: float, y: float) -> bool:
        return any(math.hypot(x - cx, y - cy) <= r for cx, cy, r in self.circles)


@dataclass(frozen=True)
class ThreatParams:
    ais_gate_m: float = 50.0            # an AIS report this near a track is its AIS
    ais_mismatch_m: float = 100.0       # AIS this far from our track of that MMSI disagrees
    min_track_s: float = 5.0            # a track younger than this is not yet called dark
    fast_mps: float = 8.0               # speed counted as fast (full speed factor)
    horizon_s: float = 300.0            # zone CPA look-ahead
    ais_max_age_s: float = 60.0         # AIS older than this is ignored
    alert_threshold: float = 0.3        # alerts scoring below this are not raised


@dataclass(frozen=True)
class Alert:
    kind: str                           # ais_dark | ais_mismatch | zone_cpa | restricted_entry
    score: float                        # 0..1
    reasons: tuple[str, ...]
    x: float                            # where the subject is [m]
    y: float
    track_id: int | None = None
    mmsi: int | None = None
    zone: str | None = None
    t: float = 0.0

    @property
    def subject(self) -> str:
        return str(self.mmsi) if self.mmsi is not None and self.track_id is None else f"track-{self.track_id}"

    def text(self) -> str:
        """One STATUSTEXT-sized line (<= 50 characters)."""
        return f"ALERT {self.kind} {self.subject} {self.score:.2f}"[:50]

    def task(self, standoff_m: float = 30.0, duration_s: float = 600.0):
        """The task it suggests: shadow a vessel at a stand-off, or inspect
        (visit with a camera) a position or a person."""
        tid = f"{self.kind}-{self.subject}"[:32]
        if self.kind in ("ais_dark", "zone_cpa") or (self.kind == "ais_mismatch" and self.track_id is not None):
            return ShadowTask(kind="shadow", id=tid, domain="water", contact=self.subject,
                              position=(self.x, self.y), standoff_m=standoff_m, duration_s=duration_s,
                              priority=1.0 + 2.0 * self.score)
        return VisitTask(kind="visit", id=tid, domain="land" if self.kind == "restricted_entry" else "any",
                         sensors=("camera",), position=(self.x, self.y), priority=1.0 + 2.0 * self.score)


def points_in_polygon(x, y, polygon) -> np.ndarray:
    """Even-odd rule for points (N,) against an (M, 2) polygon."""
    x = np.atleast_1d(np.asarray(x, dtype=np.float64))
    y = np.atleast_1d(np.asarray(y, dtype=np.float64))
    p = np.asarray(polygon, dtype=np.float64)
    inside = np.zeros(x.shape, bool)
    x0, y0 = p[:, 0], p[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    for a, b, c, d in zip(x0, y0, x1, y1):
        crosses = (b > y) != (d > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            xc = a + (y - b) * (c - a) / (d - b)
        inside ^= crosses & (x < xc)
    return inside


def _clamp(v: float) -> float:
    return min(1.0, max(0.0, v))


def _ais_now(r: AisReport, now: float) -> tuple[float, float]:
    dt = max(0.0, now - r.t)
    return r.x + r.vx * dt, r.y + r.vy * dt


def assess(now: float, tracks, ais, zones=(), coverage: SensorCoverage | None = None,
           params: ThreatParams | None = None) -> list[Alert]:
    """Every alert the picture raises now, highest score first (ties: kind,
    then subject, so the order is deterministic)."""
    p = params or ThreatParams()
    tracks = list(tracks)
    ais = [r for r in ais if now - r.t <= p.ais_max_age_s]
    ais_pos = {r.mmsi: _ais_now(r, now) for r in ais}
    alerts: list[Alert] = []
    dark_ids: set[int] = set()
    protected = [z for z in zones if z.kind == "protected"]
    restricted = [z for z in zones if z.kind == "restricted"]

    # --- AIS-dark vessels and AIS that disagrees with our track of that MMSI
    for tr in tracks:
        if tr.kind != "vessel":
            continue
        speed = math.hypot(tr.vx, tr.vy)
        if tr.mmsi is not None and tr.mmsi in ais_pos:
            ax, ay = ais_pos[tr.mmsi]
            off = math.hypot(ax - tr.x, ay - tr.y)
            if off > p.ais_mismatch_m:
                score = _clamp(0.5 + 0.5 * min(1.0, (off - p.ais_mismatch_m) / (4 * p.ais_mismatch_m)))
                alerts.append(Alert("ais_mismatch", score, (
                    f"AIS of MMSI {tr.mmsi} is {off:.0f} m from where we see it (gate {p.ais_mismatch_m:.0f} m)",),
                    tr.x, tr.y, tr.id, tr.mmsi, t=now))
            continue
        near = [m for m, (ax, ay) in ais_pos.items() if math.hypot(ax - tr.x, ay - tr.y) <= p.ais_gate_m]
        age = now - tr.first_seen
        if near or age < p.min_track_s:
            continue
        f_speed = min(1.0, speed / p.fast_mps)
        f_age = min(1.0, age / (6 * p.min_track_s))
        reasons = [f"no AIS within {p.ais_gate_m:.0f} m of track {tr.id}, tracked {age:.0f} s"]
        if f_speed > 0.25:
            reasons.append(f"moving at {speed:.1f} m/s")
        score = _clamp(0.4 + 0.35 * f_speed + 0.25 * f_age)
        dark_ids.add(tr.id)
        alerts.append(Alert("ais_dark", score, tuple(reasons), tr.x, tr.y, tr.id, None, t=now))

    # --- AIS putting a vessel where we look and see nothing
    if coverage is not None:
        for r in ais:
            ax, ay = ais_pos[r.mmsi]
            if not coverage.covers(ax, ay):
                continue
            seen = any(tr.kind != "person" and math.hypot(tr.x - ax, tr.y - ay) <= p.ais_gate_m for tr in tracks)
            claimed = any(tr.mmsi == r.mmsi for tr in tracks)
            if not seen and not claimed:
                alerts.append(Alert("ais_mismatch", 0.6, (
                    f"AIS puts MMSI {r.mmsi} at ({ax:.0f}, {ay:.0f}) inside our sensor coverage, "
                    f"nothing seen within {p.ais_gate_m:.0f} m",), ax, ay, None, r.mmsi, t=now))

    # --- contacts whose CPA to a protected zone lies inside it
    if protected:
        subjects = [(tr.x, tr.y, tr.vx, tr.vy, tr.id, tr.mmsi) for tr in tracks if tr.kind == "vessel"]
        tracked = {tr.mmsi for tr in tracks if tr.mmsi is not None}
        for r in ais:
            if r.mmsi not in tracked:
                ax, ay = ais_pos[r.mmsi]
                if not any(math.hypot(tr.x - ax, tr.y - ay) <= p.ais_gate_m for tr in tracks):
                    subjects.append((ax, ay, r.vx, r.vy, None, r.mmsi))
        if subjects:
            sx, sy, svx, svy = (np.array([s[i] for s in subjects], dtype=np.float64) for i in range(4))
            for z in protected:
                poly = np.asarray(z.polygon, dtype=np.float64)
                cx, cy = poly.mean(axis=0)
                _, tcpa = cpa((cx, cy, 0.0, 0.0), sx, sy, svx, svy, future_only=True)
                px, py = sx + svx * tcpa, sy + svy * tcpa
                inside_now = points_in_polygon(sx, sy, poly)
                cpa_in = points_in_polygon(px, py, poly)
                for n, s in enumerate(subjects):
                    if inside_now[n]:
                        reasons = [f"inside protected zone {z.name}"]
                        base = 0.8
                    elif cpa_in[n] and 0 < tcpa[n] <= p.horizon_s:
                        reasons = [f"closest approach to zone {z.name} is inside it in {tcpa[n]:.0f} s"]
                        base = 0.35 + 0.35 * (1.0 - tcpa[n] / p.horizon_s)
                    else:
                        continue
                    speed = math.hypot(svx[n], svy[n])
                    if speed >= 0.5 * p.fast_mps:
                        reasons.append(f"moving at {speed:.1f} m/s")
                        base += 0.1 * min(1.0, speed / p.fast_mps)
                    if s[4] is not None and s[4] in dark_ids:
                        reasons.append("no AIS")
                        base += 0.2
                    alerts.append(Alert("zone_cpa", _clamp(base), tuple(reasons), s[0], s[1], s[4], s[5], z.name, now))

    # --- people in (or about to enter) restricted zones
    for tr in tracks:
        if tr.kind != "person":
            continue
        for z in restricted:
            poly = np.asarray(z.polygon, dtype=np.float64)
            if points_in_polygon(tr.x, tr.y, poly)[0]:
                alerts.append(Alert("restricted_entry", 0.9, (f"person (track {tr.id}) inside restricted zone {z.name}",),
                                    tr.x, tr.y, tr.id, zone=z.name, t=now))
                continue
            for dt in (5.0, 10.0, 20.0):
                if points_in_polygon(tr.x + tr.vx * dt, tr.y + tr.vy * dt, poly)[0]:
                    alerts.append(Alert("restricted_entry", _clamp(0.8 - 0.02 * dt), (
                        f"person (track {tr.id}) will enter restricted zone {z.name} in about {dt:.0f} s",),
                        tr.x, tr.y, tr.id, zone=z.name, t=now))
                    break

    alerts = [a for a in alerts if a.score >= p.alert_threshold]
    alerts.sort(key=lambda a: (-a.score, a.kind, a.subject, a.zone or ""))
    return alerts


__all__ = ["AisReport", "Alert", "SensorCoverage", "ThreatParams", "Track", "Zone", "assess", "points_in_polygon"]
