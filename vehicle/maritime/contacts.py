"""The contact table: every other vessel we know of, from AIS and from our
own sensors' tracks, in the map frame.

AIS reports arrive every 2-10 s (more slowly at anchor) with a WGS84
position, speed and course over ground; between reports a contact is dead
reckoned at its last velocity.  A contact not heard for ``stale_after_s``
is dropped.  A sensor track (lidar/camera) near an AIS contact is fused
with it: the track refreshes position and velocity (it is fresher and
ours), the AIS contact keeps its identity, size and type; a track with no
AIS partner is a contact of its own.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from edgepilot.vehicle.geo import LocalFrame
from edgepilot.vehicle.types import ContactReport


@dataclass
class Contact:
    """One vessel, map-frame ENU.  ``t`` is the time of the state below."""

    key: int                  # table key: the MMSI for AIS contacts, -(track id) for track-only ones
    t: float                  # time of x, y, vx, vy [s]
    x: float                  # [m]
    y: float
    vx: float                 # over ground [m/s]
    vy: float
    heading: float | None     # [rad ENU]; None: use the course
    mmsi: int | None = None
    track_id: int | None = None
    sources: set = field(default_factory=set)
    last_seen: dict = field(default_factory=dict)   # source -> time [s]
    ship_type: int | None = None
    name: str | None = None
    length: float | None = None
    beam: float | None = None
    ais_silent: bool = False  # an AIS contact whose reports stopped (reported once per silence)

    @property
    def speed(self) -> float:
        return math.hypot(self.vx, self.vy)

    @property
    def course(self) -> float:
        return math.atan2(self.vy, self.vx)

    def yaw(self) -> float:
        """The heading, or the course over ground when the heading is unknown."""
        if self.heading is not None:
            return self.heading
        return self.course

    def radius(self, default: float) -> float:
        if self.length is None and self.beam is None:
            return default
        return 0.5 * max(self.length or 0.0, self.beam or 0.0)


@dataclass(frozen=True)
class ContactArrays:
    """The table predicted to one time, as contiguous float64 arrays (N,)."""

    t: float
    keys: np.ndarray          # int64
    x: np.ndarray             # [m]
    y: np.ndarray
    vx: np.ndarray            # [m/s]
    vy: np.ndarray
    yaw: np.ndarray           # [rad ENU]
    speed: np.ndarray         # [m/s]
    radius: np.ndarray        # [m]

    def __len__(self) -> int:
        return int(self.keys.shape[0])


@dataclass
class ContactCounters:
    reports: int = 0
    ais_reports: int = 0
    track_reports: int = 0
    fused: int = 0
    split: int = 0             # fused tracks that parted from their AIS contact
    dropped_stale: int = 0
    rejected: int = 0


class ContactTable:
    """Contacts by key.  Life-cycle changes (a contact new, a sensor track
    fused with an AIS contact or parted from it again, AIS silent for ``ais_silent_after_s`` while
    the contact is still held by a sensor track or dead reckoned, AIS
    back, a contact dropped) are queued as (text, data) pairs for
    ``drain_events``; ``data`` carries ``key``, ``contact`` (the change:
    'new', 'fused', 'split', 'ais_silent', 'ais_back', 'dropped'), ``mmsi`` and
    ``track`` (the sensor track id, if any)."""

    def __init__(self, frame: LocalFrame, stale_after_s: float = 30.0, default_radius: float = 3.0,
                 fusion_gate_m: float = 15.0, max_track_speed_std: float = 0.5,
                 ais_silent_after_s: float = 10.0):
        for name, v in (("stale_after_s", stale_after_s), ("fusion_gate_m", fusion_gate_m),
                        ("max_track_speed_std", max_track_speed_std), ("ais_silent_after_s", ais_silent_after_s)):
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be > 0, got {v}")
        self.frame = frame
        self.stale_after_s = float(stale_after_s)
        self.default_radius = float(default_radius)
        self.fusion_gate_m = float(fusion_gate_m)
        self.max_track_speed_std = float(max_track_speed_std)
        self.ais_silent_after_s = float(ais_silent_after_s)
        self.contacts: dict[int, Contact] = {}
        self._track_owner: dict[int, int] = {}    # track id -> contact key
        self.counters = ContactCounters()
        self._events: list[tuple[str, dict]] = []

    # ------------------------------------------------------------ events
    @staticmethod
    def _label(c: Contact) -> str:
        if c.mmsi is None:
            return f"Contact {c.key}"
        return f"Contact {c.mmsi}" + (f" {c.name}" if c.name else "")

    def _event(self, c: Contact, change: str, text: str, **data) -> None:
        self._events.append((text, {"key": c.key, "contact": change, "mmsi": c.mmsi,
                                     "track": c.track_id, **data}))

    def drain_events(self) -> list[tuple[str, dict]]:
        """The life-cycle changes since the last call, oldest first."""
        out, self._events = self._events, []
        return out

    def __len__(self) -> int:
        return len(self.contacts)

    def __contains__(self, key: int) -> bool:
        return key in self.contacts

    def get(self, key: int) -> Contact | None:
        return self.contacts.get(key)

    # ------------------------------------------------------------ updates
    def ingest(self, reports, now: float) -> None:
        """Apply a batch of ``ContactReport`` and drop stale contacts."""
        for r in reports or ():
            self.update(r)
        self.prune(now)

    def update(self, r: ContactReport) -> Contact | None:
        self.counters.reports += 1
        if r.source == "ais":
            self.counters.ais_reports += 1
            return self._update_ais(r)
        if r.source in ("lidar", "camera", "radar"):
            self.counters.track_reports += 1
            return self._update_track(r)
        self.counters.rejected += 1
        return None

    def _velocity(self, r: ContactReport) -> tuple[float, float] | None:
        if r.sog is None or r.cog is None:
            return None
        return r.sog * math.cos(r.cog), r.sog * math.sin(r.cog)

    def _update_ais(self, r: ContactReport) -> Contact | None:
        key = int(r.id)
        c = self.contacts.get(key)
        has_pos = r.lat is not None and r.lon is not None
        if c is None:
            if not has_pos:
                # Static data before any position: keep it for when one arrives.
                c = Contact(key, r.t, math.nan, math.nan, 0.0, 0.0, None, mmsi=key)
            else:
                x, y = self.frame.to_local(r.lat, r.lon)
                c = Contact(key, r.t, x, y, 0.0, 0.0, None, mmsi=key)
            self.contacts[key] = c
            if has_pos:
                self._event(c, "new", f"Contact {key}: new from AIS", source="ais")
        if r.name is not None:
            c.name = r.name
        if r.ship_type is not None:
            c.ship_type = r.ship_type
        if r.length is not None:
            c.length = r.length
        if r.beam is not None:
            c.beam = r.beam
        if has_pos and not math.isfinite(c.x):
            self._event(c, "new", f"{self._label(c)}: new from AIS", source="ais")
        if has_pos:
            if c.ais_silent:
                c.ais_silent = False
                self._event(c, "ais_back", f"{self._label(c)}: AIS back after {r.t - c.last_seen['ais']:.0f} s",
                            silent_s=r.t - c.last_seen["ais"])
            fresher_track = (c.track_id is not None
                             and c.last_seen.get("track", -math.inf) >= r.t - 1.0)
            if c.track_id is not None:
                ax, ay = self.frame.to_local(r.lat, r.lon)
                px, py = c.x + c.vx * (r.t - c.t), c.y + c.vy * (r.t - c.t)
                if math.hypot(ax - px, ay - py) > self.fusion_gate_m:
                    self._split(c, r.t, math.hypot(ax - px, ay - py))
                    fresher_track = False
            if not fresher_track:
                c.x, c.y = self.frame.to_local(r.lat, r.lon)
                v = self._velocity(r)
                if v is not None:
                    c.vx, c.vy = v
                c.t = r.t
            if r.heading is not None:
                c.heading = r.heading
            c.sources.add("ais")
            c.last_seen["ais"] = r.t
        return c

    def ingest_tracks(self, tracks, now: float, source: str = "lidar") -> None:
        """Map-frame tracks from a tracker (objects with id, t, x, y, vx, vy
        [m, m/s ENU], radius [m], confirmed and optionally cov, the 4x4
        covariance of (x, y, vx, vy), as ``vehicle.perception.tracking.Track``).

        Only confirmed tracks count.  A track's velocity is used once its
        standard deviation is below ``max_track_speed_std`` m/s: until then
        a track near an AIS contact refreshes only the position (the AIS
        velocity stays), and a track with no AIS partner does not yet become
        a contact (a fresh track's velocity is a guess).  A track with a
        non-finite position or velocity is rejected."""
        for tr in tracks:
            if not getattr(tr, "confirmed", True):
                continue
            self.counters.reports += 1
            self.counters.track_reports += 1
            tid, t = int(tr.id), float(tr.t)
            x, y, vx, vy = float(tr.x), float(tr.y), float(tr.vx), float(tr.vy)
            if not all(math.isfinite(v) for v in (t, x, y, vx, vy)):
                self.counters.rejected += 1
                continue
            cov = getattr(tr, "cov", None)
            settled = cov is None or max(float(cov[2][2]), float(cov[3][3])) <= self.max_track_speed_std ** 2
            if not settled and tid not in self._track_owner and self._nearest_ais(x, y, t) is None:
                continue
            self._update_track_xy(source, tid, t, x, y, (vx, vy) if settled else None, None,
                                  getattr(tr, "radius", None))
        self.prune(now)

    def _update_track(self, r: ContactReport) -> Contact | None:
        """A sensor track as a report: position as lat/lon, velocity as sog/cog."""
        if r.lat is None or r.lon is None:
            self.counters.rejected += 1
            return None
        x, y = self.frame.to_local(r.lat, r.lon)
        v = self._velocity(r) or (0.0, 0.0)
        return self._update_track_xy(r.source, int(r.id), r.t, x, y, v, r.heading, None)

    def _update_track_xy(self, src: str, tid: int, t: float, x: float, y: float,
                         v: tuple[float, float] | None, heading: float | None,
                         radius: float | None) -> Contact:
        """``v`` None: the track's velocity is not trustworthy yet; the
        contact keeps the velocity it has (a new contact gets none)."""
        r_t = t
        key = self._track_owner.get(tid)
        c = self.contacts.get(key) if key is not None else None
        if c is None:
            c = self._nearest_ais(x, y, r_t)
            if c is not None:
                # A second track on the same vessel (split returns, a track
                # restarted) joins the first: both refresh this contact.
                self.counters.fused += 1
                quiet = r_t - c.last_seen["ais"] if c.ais_silent else 0.0
                self._event(c, "fused", f"{self._label(c)}: {src} track {tid} fused"
                            + (f" (AIS silent for {quiet:.0f} s)" if c.ais_silent else ""),
                            track=tid, source=src, ais_silent_s=quiet)
            else:
                c = Contact(-tid - 1, r_t, x, y, 0.0, 0.0, None)
                self.contacts[c.key] = c
                self._event(c, "new", f"{self._label(c)}: new from {src} track {tid}", track=tid, source=src)
            c.track_id = tid
            self._track_owner[tid] = c.key
        c.x, c.y, c.t = x, y, r_t
        if v is not None:
            c.vx, c.vy = v
        if heading is not None:
            c.heading = heading
        if radius is not None and c.mmsi is None:
            c.length = c.beam = 2.0 * radius    # size from the sensor when AIS gives none
        c.sources.add(src)
        c.last_seen[src] = r_t
        c.last_seen["track"] = r_t
        return c

    def _split(self, c: Contact, t: float, apart: float) -> None:
        """The vessel AIS reports and the sensor track fused with it have
        parted by more than the fusion gate: they are two vessels (a boat
        with no AIS that passed close to one with AIS, or a track that
        latched onto the wrong hull).  The tracks leave the AIS contact and
        become a contact of their own, keeping the state they gave it; the
        AIS contact goes on from its own reports.  Without this, a dark
        boat passing within the gate of an AIS vessel would wear that
        vessel's identity from then on, and the AIS vessel itself would be
        dropped from the picture while the track stayed fresh."""
        tids = [tid for tid, key in self._track_owner.items() if key == c.key]
        tid = c.track_id
        own = Contact(-tid - 1, c.t, c.x, c.y, c.vx, c.vy, c.heading, track_id=tid)
        own.sources = {s for s in c.sources if s != "ais"}
        own.last_seen = {s: ts for s, ts in c.last_seen.items() if s != "ais"}
        for s in own.sources | {"track"}:
            c.last_seen.pop(s, None)
        c.sources = {"ais"}
        c.track_id = None
        self.contacts[own.key] = own
        for k in tids:
            self._track_owner[k] = own.key
        self.counters.split += 1
        self._event(c, "split", f"{self._label(c)}: sensor track {tid} parted from it by {apart:.0f} m: "
                                f"two vessels", track=tid, apart_m=apart)
        self._event(own, "new", f"{self._label(own)}: new from track {tid} (parted from "
                                f"{self._label(c)})", track=tid, source="track")

    def _nearest_ais(self, x: float, y: float, t: float) -> Contact | None:
        best, best_d = None, self.fusion_gate_m
        for c in self.contacts.values():
            if c.mmsi is None or not math.isfinite(c.x):
                continue
            px, py = c.x + c.vx * (t - c.t), c.y + c.vy * (t - c.t)
            d = math.hypot(px - x, py - y)
            if d < best_d:
                best, best_d = c, d
        return best

    def prune(self, now: float) -> list[int]:
        """Note AIS contacts gone silent, drop contacts unheard (by any
        source) for ``stale_after_s``; returns the dropped keys."""
        gone = [k for k, c in self.contacts.items()
                if now - max(c.last_seen.values(), default=c.t) > self.stale_after_s]
        gone_set = set(gone)
        for k, c in self.contacts.items():
            heard = c.last_seen.get("ais")
            if heard is None or c.ais_silent or now - heard <= self.ais_silent_after_s or k in gone_set:
                continue
            c.ais_silent = True
            held = [s for s, ts in c.last_seen.items()
                    if s not in ("ais", "track") and now - ts <= self.ais_silent_after_s]
            how = (f"held by {' and '.join(sorted(held))} track {c.track_id}" if held
                   else "dead reckoning")
            self._event(c, "ais_silent", f"{self._label(c)}: AIS silent for {now - heard:.0f} s, {how}",
                        silent_s=now - heard, held_by=sorted(held))
        for k in gone:
            c = self.contacts.pop(k)
            for tid in [tid for tid, key in self._track_owner.items() if key == k]:
                del self._track_owner[tid]
            self._event(c, "dropped", f"{self._label(c)}: dropped, unheard for {self.stale_after_s:.0f} s")
        self.counters.dropped_stale += len(gone)
        return gone

    # ------------------------------------------------------------ queries
    def snapshot(self, now: float) -> ContactArrays:
        """Every contact with a position, dead-reckoned to ``now``."""
        cs = [c for c in self.contacts.values() if math.isfinite(c.x)]
        n = len(cs)
        keys = np.fromiter((c.key for c in cs), np.int64, n)
        dt = np.fromiter((now - c.t for c in cs), np.float64, n)
        vx = np.fromiter((c.vx for c in cs), np.float64, n)
        vy = np.fromiter((c.vy for c in cs), np.float64, n)
        x = np.fromiter((c.x for c in cs), np.float64, n) + vx * dt
        y = np.fromiter((c.y for c in cs), np.float64, n) + vy * dt
        yaw = np.fromiter((c.yaw() for c in cs), np.float64, n)
        r = np.fromiter((c.radius(self.default_radius) for c in cs), np.float64, n)
        return ContactArrays(now, keys, x, y, vx, vy, yaw, np.hypot(vx, vy), r)
