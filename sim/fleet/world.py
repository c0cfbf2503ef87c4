"""The world a fleet shares: one truth raster per surface domain (land
vehicles and boats see and hit different things), the vehicles themselves
as moving obstacles for each other's lidar and camera, AIS between boats,
shared traffic, and the distance between vehicles' footprints."""
from __future__ import annotations

import math

import numpy as np
from pyais import encode_dict

from edgepilot.sim._kernels import (hash_build_kernel, hash_within_kernel, near_kernel, separation_kernel,
                                    separation_scan_kernel)
from edgepilot.sim.sensors.camera import VisibleObject
from edgepilot.sim.traffic import MS_TO_KNOTS, Traffic
from edgepilot.sim.world import SimWorld
from edgepilot.vehicle.geo import LocalFrame, enu_yaw_to_compass_deg

#: How a vehicle's hull looks to another's camera: dark grey (unsaturated,
#: so colour detection does not take it for a casualty or a buoy).
HULL_BGR = (55, 55, 60)
#: Own-ship AIS class B position report interval [s] (a moving boat: 5-30 s; we use the fast end).
AIS_INTERVAL_S = 5.0
#: Who-sees-whom candidates come from positions up to one physics step old: this much margin [m].
NEAR_MARGIN_M = 2.0
#: Up to this many members, who sees whom tests every member (one kernel pass is
#: cheaper than the spatial hash); beyond, the candidates come from the hash.
NEAR_SCAN_MAX = 256
#: Up to this many members, the separation tests every pair in one kernel pass
#: (cheaper than building the spatial hash at every sample); beyond, the hash.
SEP_SCAN_MAX = 32


class Member:
    """One vehicle in the shared world: its scenario entry, index, and the
    ``Simulation`` that owns its truth (set by the runner)."""

    def __init__(self, index: int, spec, sim):
        self.index = index
        self.spec = spec
        self.sim = sim
        g = spec.vehicle_config.geometry
        self.length, self.width = g.length, g.width
        #: the circle the others' lidar and cameras see (the footprint's larger half-side)
        self.radius = 0.5 * max(g.length, g.width)
        self.half_diag = 0.5 * math.hypot(g.length, g.width)
        self.height = 1.2 if spec.domain == "water" else 1.0
        self.alive = True
        self.next_ais = 0.0


class FleetWorld:
    """Everything the members share; ``neighbours(member)`` is the hook a
    member's ``Simulation`` asks for what it senses of the others."""

    def __init__(self, worlds: dict[str, SimWorld], frame: LocalFrame, traffic: Traffic | None,
                 rng: np.random.Generator):
        self.worlds = worlds              # domain ("land" / "water") -> SimWorld
        self.frame = frame
        self.traffic = traffic
        self.rng = rng
        self.members: list[Member] = []
        self._ais_inbox: dict[int, list[str]] = {}
        self._pos = np.zeros((0, 3))
        self._pos_stale = False        # members moved since ``_pos`` was taken: refresh before a query
        self._boats: list[Member] = []
        self._seq = [0]
        self.t = 0.0
        # per member: footprint length, width, half diagonal, sensed radius
        self._dims = np.zeros((0, 4))
        self._radius = np.zeros(0)             # the sensed radii (``_dims[:, 3]``, contiguous)
        self._all = np.zeros(0, np.int64)      # 0 .. N-1: every member a candidate
        self._hit = np.zeros(0, np.int64)      # scratch: the members a ``near`` query found
        self._sep_cell = 0.5            # the separation hash's cell: twice the longest half diagonal, >= 0.5 m
        self._sep_hash = SpatialHash()      # cell: a footprint's diagonal (separation)
        self._vis_hash = SpatialHash()      # cell: the longest sensor reach (who sees whom)

    def add(self, m: Member) -> None:
        self.members.append(m)
        self._dims = np.vstack((self._dims, [(m.length, m.width, m.half_diag, m.radius)]))
        self._sep_cell = max(2.0 * float(self._dims[:, 2].max()), 0.5)
        self._radius = np.ascontiguousarray(self._dims[:, 3])
        self._all = np.arange(len(self.members), dtype=np.int64)
        self._hit = np.empty(len(self.members), np.int64)
        self._pos_stale = True                 # its position is taken at the next query
        self._ais_inbox[m.index] = []
        if m.spec.domain == "water":
            self._boats.append(m)
        m.next_ais = float(self.rng.uniform(0.0, AIS_INTERVAL_S))

    def neighbours(self, m: Member) -> "Neighbours":
        return Neighbours(self, m)

    # ------------------------------------------------------------- stepping
    def positions(self) -> np.ndarray:
        """(N, 3) true x, y, yaw of every member (as of the last ``advance``)."""
        if self._pos_stale:
            self.refresh()
        return self._pos

    def refresh(self) -> None:
        """Take the members' true positions now."""
        p = []
        for m in self.members:
            t = m.sim.truth
            p += (t.x, t.y, t.yaw)
        self._pos = np.array(p, dtype=np.float64).reshape(-1, 3)
        self._pos_stale = False
        self._sep_hash.stale = self._vis_hash.stale = True

    def advance(self, t: float) -> None:
        """After every member stepped to ``t``: positions, traffic, AIS.
        The positions are taken at the first query after it (the members
        do not move before their next step), not on every physics step."""
        self.t = t
        self._pos_stale = True
        boats = self._boats
        if self.traffic is not None:
            heard = self.traffic.ais_bytes(t).decode("ascii")
            if heard:
                for m in boats:
                    self._ais_inbox[m.index].append(heard)
            before = self.traffic.t
            self.traffic.advance(t, None)
            if self.traffic.t != before:
                circ = self.traffic.circles()
                for w in self.worlds.values():
                    w.moving = circ
        if len(boats) > 1:
            for m in boats:
                if m.alive and t >= m.next_ais:
                    m.next_ais += AIS_INTERVAL_S
                    text = "".join(x + "\r\n" for x in self._ais_report(m, t))
                    for o in boats:
                        if o is not m:
                            self._ais_inbox[o.index].append(text)

    def _ais_report(self, m: Member, t: float) -> list[str]:
        tr = m.sim.truth
        lat, lon = self.frame.to_geo(tr.x, tr.y)
        course = math.atan2(tr.vy, tr.vx) if math.hypot(tr.vx, tr.vy) > 0.05 else tr.yaw
        msg = {"type": 18, "mmsi": m.spec.ais_mmsi, "lat": lat, "lon": lon,
               "speed": round(math.hypot(tr.vx, tr.vy) * MS_TO_KNOTS, 1),
               "course": round(enu_yaw_to_compass_deg(course), 1) % 360.0,
               "heading": int(round(enu_yaw_to_compass_deg(tr.yaw))) % 360, "second": int(t) % 60,
               "accuracy": 1}
        self._seq[0] += 1
        return encode_dict(msg, talker_id="AI", sentence_type="VDM", radio_channel="A" if self._seq[0] % 2 else "B")

    # -------------------------------------------------------------- queries
    def separation(self) -> tuple[float, tuple[int, int] | None]:
        """The smallest gap between any two members' footprints [m] (0 when
        they touch) and which pair (the lower indices on a tie).  A pair
        whose bounding circles are farther apart than the best gap so far
        is never measured.  Up to ``SEP_SCAN_MAX`` members every pair is
        visited in one kernel pass over the positions taken once per tick
        (``sim._kernels.separation_scan_kernel``); beyond, or when a
        position is not finite (the hash refuses it), pairs come from a
        spatial hash of the positions, near ones first: the cost grows with
        the number of members, not with the number of pairs
        (``sim._kernels.separation_kernel``).  The NumPy oracle of both is
        ``sim._reference.separation_numpy``."""
        p = self.positions()
        n = len(p)
        if n < 2:
            return math.inf, None
        d = self._dims
        if n <= SEP_SCAN_MAX:
            best, i, j = separation_scan_kernel(p, d)
            if i >= -1:
                return float(best), (int(i), int(j))
        hsh = self._sep_hash
        if hsh.stale:
            hsh.build(p, self._sep_cell)
        best, i, j = separation_kernel(p, d[:, 0], d[:, 1], d[:, 2], hsh.h, hsh.mask, hsh.cell, hsh.head,
                                       hsh.items)
        return float(best), (int(i), int(j))

    def within(self, x: float, y: float, reach: float, exclude: int) -> np.ndarray:
        """Indices (increasing) of the members other than ``exclude`` whose
        centre at the last ``refresh`` lies within ``reach`` + their sensed
        radius [m] of (x, y), from a spatial hash (cell: the longest reach)."""
        pos = self.positions()
        hsh = self._vis_hash
        if hsh.stale:
            reaches = [m.sim.shared.reach for m in self.members if isinstance(m.sim.shared, Neighbours)]
            hsh.build(pos, max(reaches, default=1.0))
        k = hash_within_kernel(pos[:, 0], pos[:, 1], self._dims[:, 3], hsh.h, hsh.mask, hsh.cell,
                               hsh.head, hsh.items, float(x), float(y), float(reach), int(exclude), hsh.out)
        return hsh.out[:k]

    def near(self, x: float, y: float, reach: float, exclude: int) -> np.ndarray:
        """Indices (increasing) of the members other than ``exclude`` whose
        centre lies within ``reach`` + their sensed radius [m] of (x, y) by
        ``math.hypot``, at the positions taken at the first query after the
        last ``advance`` (the members do not move before their next step).
        Up to ``NEAR_SCAN_MAX`` members every one is tested, beyond that the
        candidates from the spatial hash (``within``, with a margin); one
        kernel decides (``sim._kernels.near_kernel``; the NumPy oracle is
        ``sim._reference.near_numpy``), the plain loop (``_near_plain``)
        when it leaves a member to ``math.hypot`` (one within nanometres of
        the reach) or a position is not finite (a ``ValueError``)."""
        k = self._near(x, y, reach, exclude, np.empty((len(self.members), 3)))
        return self._hit[:k].copy()

    def near_circles(self, x: float, y: float, reach: float, exclude: int) -> np.ndarray:
        """(K, 3) [x, y, radius] of the members ``near`` lists, in its order."""
        out = np.empty((len(self.members), 3))
        return out[:self._near(x, y, reach, exclude, out)]

    def _near(self, x: float, y: float, reach: float, exclude: int, out: np.ndarray) -> int:
        """``near`` into ``self._hit`` and ``out`` (their rows); returns how many."""
        if self._pos_stale:
            self.refresh()
        pos = self._pos
        x, y, reach, exclude = float(x), float(y), float(reach), int(exclude)
        idx = self._all if len(pos) <= NEAR_SCAN_MAX else self.within(x, y, reach + NEAR_MARGIN_M, exclude)
        k = near_kernel(pos, self._radius, idx, x, y, reach, exclude, self._hit, out)
        if k < 0:
            hit, rows = self._near_plain(x, y, reach, exclude)
            k = len(hit)
            self._hit[:k] = hit
            out[:k] = rows
        return k

    def _near_plain(self, x: float, y: float, reach: float, exclude: int) -> tuple[list[int], np.ndarray]:
        """``near`` the plain way, with the rows: candidates from the spatial
        hash (it refuses positions that are not finite), each tested with
        ``math.hypot``."""
        pos = self.positions()
        hit, rows = [], []
        for k in self.within(x, y, reach + NEAR_MARGIN_M, exclude).tolist():
            px, py = float(pos[k, 0]), float(pos[k, 1])
            r = self.members[k].radius
            if math.hypot(px - x, py - y) <= reach + r:
                hit.append(k)
                rows.append((px, py, r))
        return hit, np.array(rows, dtype=np.float64).reshape(-1, 3)


class SpatialHash:
    """Member positions bucketed by cell (``sim._kernels.hash_build_kernel``),
    rebuilt when the positions change and a query comes."""

    def __init__(self):
        self.stale = True
        self.h = 1.0
        self.mask = 0
        self.cell = np.zeros((0, 2), np.int64)
        self.head = np.zeros(2, np.int64)
        self.items = np.zeros(0, np.int64)
        self.out = np.zeros(0, np.int64)

    def build(self, pos: np.ndarray, h: float) -> None:
        n = len(pos)
        if not (math.isfinite(h) and h > 0):
            raise ValueError(f"spatial hash: cell size must be a positive number of metres, got {h}")
        size = 1 << max(1, (2 * n - 1).bit_length())          # >= 2 buckets per member
        if len(self.items) != n or self.mask != size - 1:
            self.cell = np.empty((n, 2), np.int64)
            self.head = np.empty(size + 1, np.int64)
            self.items = np.empty(n, np.int64)
            self.out = np.empty(n, np.int64)
        self.h, self.mask = float(h), size - 1
        # the kernel checks the positions are finite (and then fills nothing)
        if not hash_build_kernel(pos[:, 0], pos[:, 1], self.h, self.mask, self.cell, self.head, self.items):
            self.stale = True
            raise ValueError("spatial hash: member positions must be finite")
        self.stale = False


class Neighbours:
    """What one member's sensors get of the rest of the fleet (the hook
    ``Simulation(shared=...)`` calls): the members within its sensor reach
    (``FleetWorld.near``), then the shared traffic vessels within it."""

    def __init__(self, fw: FleetWorld, me: Member):
        self.fw = fw
        self.me = me
        s = me.spec.vehicle_config.sensors
        self.reach = max(s.lidar.max_range if s.lidar is not None else 0.0,
                         s.camera.obstacle_range_m * 4 if s.camera is not None else 0.0, 1.0)

    def circles(self, sim, now: float) -> np.ndarray:
        """(K, 3) [x, y, radius] of the other members and the shared traffic
        vessels within sensor reach (what the lidar sees moving)."""
        tr = sim.truth
        c = self.fw.near_circles(tr.x, tr.y, self.reach, self.me.index)
        traffic = self.fw.traffic
        if traffic is not None and len(traffic):
            tc = traffic.circles()
            near = np.hypot(tc[:, 0] - tr.x, tc[:, 1] - tr.y) <= self.reach + tc[:, 2]
            if near.any():
                c = np.vstack((c, tc[near])) if len(c) else tc[near]
        return c

    def visible_objects(self, sim, now: float) -> list[VisibleObject]:
        """The other members within sensor reach, then every shared traffic
        vessel, as the camera sees them."""
        tr = sim.truth
        members = self.fw.members
        objs = []
        for k in self.fw.near(tr.x, tr.y, self.reach, self.me.index).tolist():
            m = members[k]
            o = m.sim.model.truth
            objs.append(VisibleObject(o.x, o.y, m.radius, m.height, HULL_BGR, kind="obstacle"))
        if self.fw.traffic is not None:
            objs += self.fw.traffic.visible_objects()
        return objs

    def ais_bytes(self, sim, now: float) -> bytes:
        box = self.fw._ais_inbox[self.me.index]
        if not box:
            return b""
        data = "".join(box).encode("ascii")
        box.clear()
        return data


def rect_gap(pa, la: float, wa: float, pb, lb: float, wb: float) -> float:
    """Distance [m] between two oriented rectangles (centre x, y, yaw;
    length along yaw, width across); 0 when they overlap."""
    A = _corners(pa, la, wa)
    B = _corners(pb, lb, wb)
    if _overlap(A, B):
        return 0.0
    return min(_pts_to_poly(A, B), _pts_to_poly(B, A))


def _corners(p, length, width) -> np.ndarray:
    x, y, yaw = float(p[0]), float(p[1]), float(p[2])
    c, s = math.cos(yaw), math.sin(yaw)
    a = np.array([0.5 * length, 0.5 * length, -0.5 * length, -0.5 * length])
    b = np.array([0.5 * width, -0.5 * width, -0.5 * width, 0.5 * width])
    return np.column_stack((x + a * c - b * s, y + a * s + b * c))


def _overlap(A: np.ndarray, B: np.ndarray) -> bool:
    """Separating-axis test of two convex quadrilaterals."""
    for P in (A, B):
        for k in range(4):
            e = P[(k + 1) % 4] - P[k]
            ax = np.array([-e[1], e[0]])
            pa, pb = A @ ax, B @ ax
            if pa.max() < pb.min() or pb.max() < pa.min():
                return False
    return True


def _pts_to_poly(P: np.ndarray, Q: np.ndarray) -> float:
    """Smallest distance from P's vertices to Q's edges."""
    a = Q
    b = np.roll(Q, -1, axis=0)
    ab = b - a                                              # (4, 2)
    ap = P[:, None, :] - a[None, :, :]                      # (4, 4, 2)
    t = np.clip((ap * ab[None]).sum(-1) / (ab * ab).sum(-1)[None], 0.0, 1.0)
    d = ap - t[..., None] * ab[None]
    return float(np.sqrt((d * d).sum(-1)).min())
