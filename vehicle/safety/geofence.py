"""Geofences: inclusion and exclusion polygons and circles.

A fence arrives as MAVLink fence items (MAV_MISSION_TYPE_FENCE, commands
MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION/EXCLUSION with param1 = vertex
count, MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION/EXCLUSION with param1 = radius
[m]; x/y = WGS84 degrees) or from a config file, and is held in the map
frame (ENU metres).  As in ArduPilot's polygon fence, the vehicle must be
inside every inclusion zone and outside every exclusion zone.

Breach prediction: the footprint is the vehicle's circumscribed circle;
along the current velocity we sample the stopping distance
(``v * react_s + v^2 / (2 * decel)``) and call it a breach when any
sampled footprint comes closer to the fence than ``margin``.  That way the
vehicle is told to stop *before* the footprint crosses the fence.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from edgepilot.vehicle.config import ConfigError, Strict, parse_model, read_toml
from edgepilot.vehicle.geo import LocalFrame
from edgepilot.vehicle.types import MissionItem

FENCE_RETURN_POINT = 5000
POLY_INCLUSION = 5001
POLY_EXCLUSION = 5002
CIRCLE_INCLUSION = 5003
CIRCLE_EXCLUSION = 5004
FENCE_COMMANDS = {FENCE_RETURN_POINT, POLY_INCLUSION, POLY_EXCLUSION, CIRCLE_INCLUSION, CIRCLE_EXCLUSION}
MAX_VERTICES = 100


class FenceError(ValueError):
    """A fence upload or file that cannot be used; the message says why."""


@dataclass(frozen=True)
class FenceZone:
    """One zone in the map frame. ``points`` (N, 2) for polygons, ``center``
    and ``radius`` [m] for circles."""

    kind: Literal["polygon", "circle"]
    inclusion: bool
    points: np.ndarray | None = None
    center: tuple[float, float] | None = None
    radius: float = 0.0

    def describe(self, index: int) -> str:
        return f"{'inclusion' if self.inclusion else 'exclusion'} {self.kind} {index + 1}"


def polygon_signed_distance(pts: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Distance [m] from each point (K, 2) to the polygon (N, 2) boundary,
    positive inside, negative outside (even-odd rule)."""
    pts = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
    a = poly
    b = np.roll(poly, -1, axis=0)
    ab = b - a                                             # (N, 2)
    ap = pts[:, None, :] - a[None, :, :]                   # (K, N, 2)
    denom = np.maximum(np.einsum("nd,nd->n", ab, ab), 1e-18)
    t = np.clip(np.einsum("knd,nd->kn", ap, ab) / denom, 0.0, 1.0)
    closest = a[None] + t[..., None] * ab[None]
    dist = np.sqrt(((pts[:, None, :] - closest) ** 2).sum(-1)).min(axis=1)
    # even-odd crossing test
    px, py = pts[:, 0:1], pts[:, 1:2]
    ay, by_ = a[None, :, 1], b[None, :, 1]
    ax, bx = a[None, :, 0], b[None, :, 0]
    cond = (ay > py) != (by_ > py)
    with np.errstate(divide="ignore", invalid="ignore"):
        xint = ax + (py - ay) * (bx - ax) / (by_ - ay)
    inside = (cond & (px < xint)).sum(axis=1) % 2 == 1
    return np.where(inside, dist, -dist)


@dataclass(frozen=True)
class FenceCheck:
    """Result of one breach test.  Clearances [m] are footprint-edge to
    fence, negative when the footprint already overlaps the fence."""

    breach: bool
    clearance_now: float
    clearance_min: float     # smallest along the stopping distance
    stopping_distance: float
    zone: str                # which zone is closest, e.g. 'inclusion polygon 1'


class Fence:
    """A set of zones plus the items it was built from (for download)."""

    def __init__(self, zones: list[FenceZone], items: tuple[MissionItem, ...] = ()):
        self.zones = tuple(zones)
        self.items = tuple(items)

    def __len__(self) -> int:
        return len(self.zones)

    @classmethod
    def from_items(cls, items: list[MissionItem], frame: LocalFrame) -> "Fence":
        """Build from MAVLink fence items; raises FenceError naming the item."""
        items = list(items)
        zones: list[FenceZone] = []
        i = 0
        while i < len(items):
            it = items[i]
            if it.seq != i:
                raise FenceError(f"fence item {i} has seq {it.seq}; items must be numbered 0..N-1")
            if it.command not in FENCE_COMMANDS:
                raise FenceError(f"fence item {i}: command {it.command} is not a fence command "
                                 f"(expected one of {sorted(FENCE_COMMANDS)})")
            if not (math.isfinite(it.lat) and math.isfinite(it.lon) and -90 <= it.lat <= 90
                    and -180 <= it.lon <= 180):
                raise FenceError(f"fence item {i}: invalid position {it.lat}, {it.lon}")
            if it.command == FENCE_RETURN_POINT:
                i += 1
                continue
            if it.command in (CIRCLE_INCLUSION, CIRCLE_EXCLUSION):
                if not (math.isfinite(it.param1) and it.param1 > 0):
                    raise FenceError(f"fence item {i}: circle radius (param1) must be > 0 m, got {it.param1}")
                x, y = frame.to_local(it.lat, it.lon)
                zones.append(FenceZone("circle", it.command == CIRCLE_INCLUSION, center=(x, y),
                                       radius=float(it.param1)))
                i += 1
                continue
            n = int(it.param1)
            if n != it.param1 or not 3 <= n <= MAX_VERTICES:
                raise FenceError(f"fence item {i}: polygon vertex count (param1) must be an integer in "
                                 f"3..{MAX_VERTICES}, got {it.param1}")
            verts = items[i:i + n]
            if len(verts) < n or any(v.command != it.command or int(v.param1) != n for v in verts):
                raise FenceError(f"fence item {i}: polygon needs {n} consecutive vertex items with the "
                                 f"same command and param1 = {n}")
            for v in verts:
                if not (math.isfinite(v.lat) and math.isfinite(v.lon)):
                    raise FenceError(f"fence item {v.seq}: invalid position {v.lat}, {v.lon}")
            pts = np.array([frame.to_local(v.lat, v.lon) for v in verts], dtype=np.float64)
            area = 0.5 * float(np.sum(pts[:, 0] * np.roll(pts[:, 1], -1) - np.roll(pts[:, 0], -1) * pts[:, 1]))
            if abs(area) < 1e-6:
                raise FenceError(f"fence item {i}: polygon has zero area")
            zones.append(FenceZone("polygon", it.command == POLY_INCLUSION, points=pts))
            i += n
        return cls(zones, tuple(items))

    # ------------------------------------------------------------ geometry
    def clearance(self, pts) -> tuple[np.ndarray, np.ndarray]:
        """Signed distance [m] from each point (K, 2) to breaching the
        fence (positive = allowed side) and the index of the closest zone."""
        pts = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        if not self.zones:
            return np.full(len(pts), np.inf), np.zeros(len(pts), dtype=int)
        cols = []
        for z in self.zones:
            if z.kind == "circle":
                d = z.radius - np.hypot(pts[:, 0] - z.center[0], pts[:, 1] - z.center[1])
            else:
                d = polygon_signed_distance(pts, z.points)
            cols.append(d if z.inclusion else -d)
        m = np.stack(cols, axis=1)
        idx = m.argmin(axis=1)
        return m[np.arange(len(pts)), idx], idx

    def contains(self, x: float, y: float, radius: float = 0.0) -> bool:
        return bool(self.clearance([[x, y]])[0][0] >= radius)

    def check(self, x: float, y: float, vx: float, vy: float, radius: float, decel: float,
              react_s: float, margin: float) -> FenceCheck:
        """Would a footprint of ``radius`` [m] at (x, y) [m] moving at
        (vx, vy) [m/s] get within ``margin`` of the fence before it could
        stop at ``decel`` [m/s^2] after ``react_s`` [s]?"""
        v = math.hypot(vx, vy)
        d = v * react_s + v * v / (2.0 * max(decel, 1e-6))
        n = max(1, int(math.ceil(d / 0.1)))
        s = np.linspace(0.0, d, n + 1)
        if v > 1e-6:
            pts = np.column_stack((x + s * vx / v, y + s * vy / v))
        else:
            pts = np.array([[x, y]])
        c, idx = self.clearance(pts)
        c = c - radius
        k = int(np.argmin(c))
        zone = self.zones[int(idx[k])].describe(int(idx[k])) if self.zones else ""
        return FenceCheck(bool(c[k] < margin), float(c[0]), float(c[k]), d, zone)


# ---------------------------------------------------------------- config files
class FenceZoneSpec(Strict):
    """A fence zone in a config file.  Coordinates are map-frame metres
    ``[x, y]`` in scenario files and WGS84 ``[lat, lon]`` in fence files."""

    type: Literal["polygon", "circle"]
    inclusion: bool = True
    points: list[tuple[float, float]] | None = None
    center: tuple[float, float] | None = None
    radius: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _shape(self):
        if self.type == "polygon" and (self.points is None or not 3 <= len(self.points) <= MAX_VERTICES):
            raise ValueError(f"a polygon fence needs 'points' with 3..{MAX_VERTICES} vertices")
        if self.type == "circle" and (self.center is None or self.radius is None):
            raise ValueError("a circle fence needs 'center' and 'radius' > 0")
        return self


def specs_to_items(specs: list[FenceZoneSpec], to_geo=None) -> list[MissionItem]:
    """Fence items (MAVLink semantics) from zone specs; ``to_geo(a, b) ->
    (lat, lon)`` converts the spec's coordinates (identity for lat/lon)."""
    conv = to_geo or (lambda a, b: (a, b))
    items: list[MissionItem] = []
    for s in specs:
        if s.type == "circle":
            lat, lon = conv(*s.center)
            cmd = CIRCLE_INCLUSION if s.inclusion else CIRCLE_EXCLUSION
            items.append(MissionItem(len(items), cmd, lat, lon, param1=float(s.radius), frame=0))
        else:
            cmd = POLY_INCLUSION if s.inclusion else POLY_EXCLUSION
            for p in s.points:
                lat, lon = conv(*p)
                items.append(MissionItem(len(items), cmd, lat, lon, param1=float(len(s.points)), frame=0))
    return items


class FenceFile(Strict):
    fence: list[FenceZoneSpec] = Field(min_length=1)


def load_fence_file(path: str | Path) -> list[MissionItem]:
    """A TOML file of ``[[fence]]`` tables with WGS84 ``[lat, lon]``
    coordinates, as fence items.  Raises ConfigError naming the key."""
    spec = parse_model(FenceFile, read_toml(path), path)
    for i, z in enumerate(spec.fence):
        for p in (z.points or []) + ([z.center] if z.center else []):
            if not (-90 <= p[0] <= 90 and -180 <= p[1] <= 180):
                raise ConfigError(f"{path}: fence.{i}: [{p[0]}, {p[1]}] is not a WGS84 [lat, lon] in degrees")
    return specs_to_items(spec.fence)
