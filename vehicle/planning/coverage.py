"""Coverage paths for search and survey, in map-frame metres (ENU x, y).

- ``boustrophedon``: a lawnmower sweep of a polygon with polygonal
  obstacles for a sensor of swath width ``swath`` [m] with lines along
  ``heading`` [rad, CCW from east].  Sweep lines are ``swath`` apart and
  cut by the free region (even-odd rule, so obstacles are holes); each
  free piece of a line is a pass.  Contour passes run round the area's
  boundary ``swath/2`` inside it and round each obstacle ``swath/2`` outside
  it, so the slivers the lines miss near slanted edges and obstacles are
  covered too (exact for convex areas and convex obstacles).  A contour
  pass is left out when the lines already cover every free point it would
  (a rectangle swept edge to edge), and so is a contour's spike toward a
  vertex the lines already cover: a boat cannot fly a 1.5 m spike, and
  its waypoints sit closer together than any acceptance radius.  Passes are
  ordered greedily from ``start`` (nearest unvisited end next, each line
  run in whichever direction is nearer) to keep transit short.  Transit
  legs are straight: the executor plans each transit with the grid
  planner, so they need not be free.
- ``expanding_square`` and ``sector_search``: IAMSAR search patterns from a
  datum.

Polygons are (N, 2) arrays of [x, y] vertices, either orientation, not
closed (the last vertex joins the first).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def _poly(name: str, p) -> np.ndarray:
    a = np.asarray(p, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 2 or len(a) < 3 or not np.isfinite(a).all():
        raise ValueError(f"{name} must be an (N>=3, 2) finite array of [x, y] metres, got shape {a.shape}")
    if np.allclose(a[0], a[-1]):
        a = a[:-1]
    return a


def _signed_area(p: np.ndarray) -> float:
    x, y = p[:, 0], p[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def offset_polygon(p: np.ndarray, d: float) -> np.ndarray:
    """Mitred offset of a simple polygon by ``d`` metres (d > 0 outwards,
    d < 0 inwards).  Exact for convex polygons; an inward offset that
    collapses returns an empty array."""
    p = p if _signed_area(p) > 0 else p[::-1]   # CCW: outward normal is (dy, -dx)
    n = len(p)
    out = []
    for i in range(n):
        a0, a1 = p[i - 1], p[i]
        b0, b1 = p[i], p[(i + 1) % n]
        ea, eb = a1 - a0, b1 - b0
        na = np.array([ea[1], -ea[0]]) / (np.hypot(*ea) or 1.0)
        nb = np.array([eb[1], -eb[0]]) / (np.hypot(*eb) or 1.0)
        pa, pb = a0 + d * na, b0 + d * nb
        den = ea[0] * eb[1] - ea[1] * eb[0]
        if abs(den) < 1e-12:
            out.append(a1 + d * na)
            continue
        t = ((pb[0] - pa[0]) * eb[1] - (pb[1] - pa[1]) * eb[0]) / den
        out.append(pa + t * ea)
    q = np.array(out)
    if d < 0 and (_signed_area(q) <= 0 or abs(_signed_area(q)) < 1e-9):
        return np.empty((0, 2))
    return q


def _seg_dist(pts: np.ndarray, pieces: list[np.ndarray]) -> np.ndarray:
    """Distance [m] from each of ``pts`` (N, 2) to the nearest of the
    polyline ``pieces``; inf when there are none."""
    best = np.full(len(pts), np.inf)
    for piece in pieces:
        for a, b in zip(piece[:-1], piece[1:]):
            ab = b - a
            L2 = float(ab @ ab)
            t = np.clip(((pts - a) @ ab) / L2, 0.0, 1.0) if L2 > 0 else np.zeros(len(pts))
            best = np.minimum(best, np.hypot(*(a + t[:, None] * ab - pts).T))
    return best


def _free_samples(rings: list[np.ndarray], step: float) -> np.ndarray:
    """Points (N, 2) on a ``step`` grid (plus every ring vertex) in the free
    region of ``rings`` (even-odd: the outer ring minus the holes)."""
    lo, hi = rings[0].min(axis=0), rings[0].max(axis=0)
    pts = [np.vstack(rings)]
    for y in np.arange(lo[1], hi[1] + step, step):
        y = min(float(y), float(hi[1]))
        for a, b in _scan_segments(rings, y):
            xs = np.append(np.arange(a, b, step), b)
            pts.append(np.column_stack((xs, np.full(len(xs), y))))
    return np.vstack(pts)


def _inner_contour(p: np.ndarray, r: float, lines: list[np.ndarray] = ()) -> np.ndarray:
    """The inward mitred offset by ``r``, with a spike toward every vertex
    whose mitre point lies farther than ``r`` from it, so the vertex itself
    is within ``r`` of the contour -- unless ``lines`` (the sweep passes)
    already pass within ``r`` of the vertex."""
    p = p if _signed_area(p) > 0 else p[::-1]
    q = offset_polygon(p, -r)
    if len(q) == 0:
        return q
    out = []
    for v, m in zip(p, q):
        out.append(m)
        dv = v - m
        L = float(np.hypot(*dv))
        if L > r * (1 + 1e-9) and _seg_dist(v[None, :], list(lines))[0] > r * (1 + 1e-9):
            out.append(v - dv / L * r)
            out.append(m)
    return np.array(out)


def _scan_segments(polys: list[np.ndarray], y: float) -> list[tuple[float, float]]:
    """Free intervals of the horizontal line at ``y`` (even-odd over all rings)."""
    xs = []
    for p in polys:
        q = np.roll(p, -1, axis=0)
        y0, y1 = p[:, 1], q[:, 1]
        m = (y0 <= y) != (y1 <= y)
        if m.any():
            t = (y - y0[m]) / (y1[m] - y0[m])
            xs.extend((p[m, 0] + t * (q[m, 0] - p[m, 0])).tolist())
    xs.sort()
    return [(xs[i], xs[i + 1]) for i in range(0, len(xs) - 1, 2) if xs[i + 1] - xs[i] > 1e-9]


@dataclass(frozen=True)
class CoveragePlan:
    """``path`` (N, 2) [x, y] waypoints in order, transits included;
    ``passes`` the list of (M, 2) pieces in the order flown (lines and
    contours); ``transit_length`` [m] the total length between passes."""

    path: np.ndarray
    passes: list
    transit_length: float


def boustrophedon(area, swath: float, heading: float = 0.0, obstacles=(), start=None,
                  contours: bool = True, overlap: float = 0.0) -> CoveragePlan:
    """Lawnmower coverage of ``area`` minus ``obstacles``; see the module
    docstring.  ``overlap`` (sidelap, a fraction in [0, 0.5)) spaces the
    lines ``swath x (1 - overlap)`` apart, so a vehicle that strays from a
    line (a detour round something in its way, a turn cut short by its
    acceptance radius) still leaves no gap."""
    outer = _poly("area", area)
    holes = [_poly(f"obstacles[{i}]", o) for i, o in enumerate(obstacles)]
    if not (math.isfinite(swath) and swath > 0):
        raise ValueError(f"swath must be a positive number of metres, got {swath!r}")
    if not (isinstance(overlap, (int, float)) and 0.0 <= overlap < 0.5):
        raise ValueError(f"overlap must be a fraction in [0, 0.5), got {overlap!r}")
    if not math.isfinite(heading):
        raise ValueError(f"heading must be a finite angle in radians, got {heading!r}")
    c, s = math.cos(heading), math.sin(heading)
    rot = np.array([[c, s], [-s, c]])          # world -> sweep frame (lines along +x)
    inv = rot.T
    rings = [outer @ rot.T] + [h @ rot.T for h in holes]
    ymin, ymax = rings[0][:, 1].min(), rings[0][:, 1].max()
    spacing = swath * (1.0 - overlap)
    nlines = max(1, int(math.ceil((ymax - ymin - swath) / spacing - 1e-9)) + 1)
    # centre the lines so the first and last are at most swath/2 from the edges
    y0 = ymin + 0.5 * ((ymax - ymin) - (nlines - 1) * spacing)
    pieces: list[np.ndarray] = []
    for k in range(nlines):
        y = y0 + k * spacing
        for a, b in _scan_segments(rings, y):
            pieces.append(np.array([[a, y], [b, y]]) @ inv.T)
    loops: list[np.ndarray] = []
    if contours:
        # Contours only where the lines leave something uncovered, and no
        # spike to a vertex the lines cover -- unless that leaves a gap
        # (checked on a swath/16 grid plus every vertex).
        r = swath / 2
        free = _free_samples(rings, swath / 16) @ inv.T if pieces else None
        if free is None or (_seg_dist(free, pieces) > r * (1 + 1e-9)).any():
            for lean in (True, False):
                loops = []
                inner = _inner_contour(outer, r, pieces if lean else ())
                if len(inner):
                    loops.append(inner)
                for h in holes:
                    loops.append(offset_polygon(h, r))
                if not lean or free is None:
                    break
                closed = [np.vstack((lp, lp[:1])) for lp in loops]
                if not (_seg_dist(free, pieces + closed) > r * (1 + 1e-9)).any():
                    break
    pos = np.asarray(start, dtype=np.float64) if start is not None else (pieces[0][0] if pieces else outer[0])
    order: list[np.ndarray] = []
    remaining_lines = list(pieces)
    remaining_loops = list(loops)
    transit = 0.0
    while remaining_lines or remaining_loops:
        best = (math.inf, None, None, None)
        for i, seg in enumerate(remaining_lines):
            for rev in (False, True):
                e = seg[-1] if rev else seg[0]
                d = float(np.hypot(*(e - pos)))
                if d < best[0]:
                    best = (d, "line", i, rev)
        for i, lp in enumerate(remaining_loops):
            dd = np.hypot(*(lp - pos).T)
            j = int(np.argmin(dd))
            if dd[j] < best[0]:
                best = (float(dd[j]), "loop", i, j)
        d, kind, i, arg = best
        if kind == "line":
            seg = remaining_lines.pop(i)
            piece = seg[::-1] if arg else seg
        else:
            lp = remaining_loops.pop(i)
            piece = np.vstack((np.roll(lp, -arg, axis=0), lp[arg:arg + 1]))
        transit += d
        order.append(piece)
        pos = piece[-1]
    path = np.vstack(order) if order else np.empty((0, 2))
    return CoveragePlan(path, order, transit)


def expanding_square(datum, track_spacing: float, n_legs: int, first_heading: float = math.pi / 2) -> np.ndarray:
    """IAMSAR expanding square: legs of 1, 1, 2, 2, 3, 3, ... x
    ``track_spacing`` [m], each turning 90 degrees right, starting from
    ``datum`` (x, y) along ``first_heading`` [rad CCW from east; default
    north].  Returns (n_legs + 1, 2) waypoints."""
    d = np.asarray(datum, dtype=np.float64)
    if d.shape != (2,) or not np.isfinite(d).all():
        raise ValueError(f"datum must be a finite (x, y) in metres, got {datum!r}")
    if not (math.isfinite(track_spacing) and track_spacing > 0):
        raise ValueError(f"track_spacing must be a positive number of metres, got {track_spacing!r}")
    if int(n_legs) != n_legs or n_legs < 1:
        raise ValueError(f"n_legs must be a positive integer, got {n_legs!r}")
    pts = [d]
    h = first_heading
    for k in range(int(n_legs)):
        length = (k // 2 + 1) * track_spacing
        pts.append(pts[-1] + length * np.array([math.cos(h), math.sin(h)]))
        h -= math.pi / 2
    return np.array(pts)


def sector_search(datum, radius: float, first_heading: float = math.pi / 2, n_triangles: int = 3) -> np.ndarray:
    """IAMSAR sector search (VS): equilateral triangles of side ``radius``
    [m] through ``datum``, turns of 120 degrees right; each triangle after
    the first is rotated 30 degrees right so the search fans round the
    datum.  Returns waypoints starting and ending at the datum."""
    d = np.asarray(datum, dtype=np.float64)
    if d.shape != (2,) or not np.isfinite(d).all():
        raise ValueError(f"datum must be a finite (x, y) in metres, got {datum!r}")
    if not (math.isfinite(radius) and radius > 0):
        raise ValueError(f"radius must be a positive number of metres, got {radius!r}")
    if int(n_triangles) != n_triangles or n_triangles < 1:
        raise ValueError(f"n_triangles must be a positive integer, got {n_triangles!r}")
    pts = [d]
    for k in range(int(n_triangles)):
        h = first_heading - k * math.radians(30.0)
        for _ in range(3):
            pts.append(pts[-1] + radius * np.array([math.cos(h), math.sin(h)]))
            h -= math.radians(120.0)
        pts[-1] = d.copy()      # closes exactly on the datum
    return np.array(pts)
