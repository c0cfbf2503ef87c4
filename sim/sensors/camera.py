"""Simulated camera: synthetic frames rendered with OpenCV.

A pinhole camera (``vehicle.perception.camera_model.PinholeCamera``) on the
vehicle looks at a flat world: ground or water below a horizon, sky above,
and upright objects (buoys, obstacles: coloured cylinders seen as
billboards; markers: ArUco fiducials on a white board) described by
``VisibleObject`` records in the map frame (ENU metres).  Noise and exposure
come from the scenario's settings and a seeded ``numpy.random.Generator``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from edgepilot.vehicle.perception.camera_model import PinholeCamera

ARUCO_DICT = cv2.aruco.DICT_4X4_50
CameraSpec = PinholeCamera          # the sim's camera is described by the same geometry


@dataclass(frozen=True)
class VisibleObject:
    """An object the camera can see, map frame: centre (x, y) m, ``radius``
    m, ``height`` m above the surface, ``color`` BGR 0-255, ``kind`` one of
    'buoy', 'obstacle', 'marker'.  A marker is a square ArUco board of side
    2 * radius whose top edge is at ``height``; ``marker_id`` names it in
    ``ARUCO_DICT``."""

    x: float
    y: float
    radius: float
    height: float
    color: tuple[int, int, int] = (0, 0, 255)
    kind: str = "buoy"
    marker_id: int = -1

    def __post_init__(self):
        if self.kind not in ("buoy", "obstacle", "marker"):
            raise ValueError(f"VisibleObject kind must be 'buoy', 'obstacle' or 'marker', got {self.kind!r}")
        if self.radius <= 0 or self.height <= 0:
            raise ValueError(f"VisibleObject radius and height must be > 0 m, got {self.radius}, {self.height}")
        if self.kind == "marker" and not (0 <= self.marker_id < 50):
            raise ValueError(f"marker objects need marker_id in 0..49, got {self.marker_id}")


SURFACES = {
    "water": ((110, 70, 30), (70, 45, 20)),      # BGR near horizon, near camera
    "ground": ((90, 110, 105), (60, 80, 75)),
}
SKY = ((235, 215, 190), (200, 150, 90))           # BGR at horizon, at top


_marker_cache: dict = {}


def _marker_board(marker_id: int, px: int = 120) -> np.ndarray:
    key = (marker_id, px)
    img = _marker_cache.get(key)
    if img is None:
        d = cv2.aruco.getPredefinedDictionary(ARUCO_DICT)
        inner = cv2.aruco.generateImageMarker(d, marker_id, px)
        border = px // 4                       # white quiet zone around the marker
        img = cv2.copyMakeBorder(inner, border, border, border, border, cv2.BORDER_CONSTANT, value=255)
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        _marker_cache[key] = img
    return img


def _gradient(h: int, w: int, top, bottom) -> np.ndarray:
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    col = (1 - t) * np.asarray(top, np.float32) + t * np.asarray(bottom, np.float32)
    return np.repeat(col[:, None, :], w, axis=1)


_bg_cache: dict = {}


def _backgrounds(cam: PinholeCamera, surface: str):
    key = (cam.width, cam.height, surface)
    if key not in _bg_cache:
        sky = _gradient(cam.height, cam.width, SKY[1], SKY[0])
        near_h, near_c = SURFACES[surface]
        ground = _gradient(cam.height, cam.width, near_h, near_c)
        _bg_cache[key] = (sky.astype(np.uint8), ground.astype(np.uint8))
    return _bg_cache[key]


def to_vehicle(pose, x: float, y: float) -> tuple[float, float]:
    """Map-frame point -> vehicle frame (x forward, y left) at ``pose``."""
    px, py, yaw = pose
    dx, dy = x - px, y - py
    c, s = math.cos(yaw), math.sin(yaw)
    return c * dx + s * dy, -s * dx + c * dy


def render_frame(cam: PinholeCamera, pose, objects, *, rng: np.random.Generator | None = None,
                 noise_std: float = 0.0, exposure: float = 1.0, surface: str = "water",
                 max_range: float = 200.0) -> np.ndarray:
    """Render a BGR uint8 frame (height, width, 3) seen from the vehicle at
    ``pose`` = (x, y, yaw) in the map frame.  ``noise_std``: Gaussian pixel
    noise (0-255 units) drawn from ``rng``; ``exposure``: brightness gain."""
    if surface not in SURFACES:
        raise ValueError(f"surface must be one of {sorted(SURFACES)}, got {surface!r}")
    if noise_std > 0 and rng is None:
        raise ValueError("noise_std > 0 needs rng (a seeded numpy Generator)")
    img = _scene_background(cam, surface).copy()
    _draw_objects(img, cam, pose, objects, max_range)
    if exposure != 1.0:
        img = cv2.convertScaleAbs(img, alpha=float(exposure))      # saturating gain
    if noise_std > 0:
        f = img.astype(np.float32)
        f += rng.standard_normal(f.shape, dtype=np.float32) * np.float32(noise_std)
        img = np.clip(f, 0, 255).astype(np.uint8)
    return img


_scene_cache: dict = {}


def _scene_background(cam: PinholeCamera, surface: str) -> np.ndarray:
    """Sky above the horizon, the surface below it (cached per camera
    geometry and surface: the horizon depends only on pitch and roll)."""
    key = (cam, surface)
    img = _scene_cache.get(key)
    if img is not None:
        return img
    if len(_scene_cache) > 16:
        _scene_cache.clear()
    sky, ground = _backgrounds(cam, surface)
    img = sky.copy()
    # Horizon: the vanishing line of the surface plane.
    ang, dist = cam.horizon_line()
    c0 = np.array([cam.cx, cam.cy]) + dist * np.array([math.sin(ang), -math.cos(ang)])
    d = np.array([math.cos(ang), math.sin(ang)])
    big = 4.0 * (cam.width + cam.height)
    p1, p2 = c0 - big * d, c0 + big * d
    below = np.array([p2 + big * np.array([-d[1], d[0]]), p1 + big * np.array([-d[1], d[0]])])
    poly = np.vstack((p1, p2, below))
    mask = np.zeros((cam.height, cam.width), np.uint8)
    cv2.fillPoly(mask, [np.round(poly * 16).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=4)
    cv2.copyTo(ground, mask, img)
    _scene_cache[key] = img
    return img


def _draw_objects(img: np.ndarray, cam: PinholeCamera, pose, objects, max_range: float) -> None:
    # Objects, far to near (painter's algorithm).
    placed = []
    for o in objects:
        vx, vy = to_vehicle(pose, o.x, o.y)
        dist_o = math.hypot(vx, vy)
        if vx <= o.radius + 0.2 or dist_o > max_range:
            continue
        placed.append((dist_o, vx, vy, o))
    placed.sort(key=lambda t: -t[0])
    for dist_o, vx, vy, o in placed:
        # billboard facing the camera: lateral unit vector perpendicular to the view
        lx, ly = -vy / dist_o, vx / dist_o
        r = o.radius
        if o.kind == "marker":
            bottom, top = o.height - 2 * r, o.height
        else:
            bottom, top = 0.0, o.height
        pts = np.array([[vx + lx * r, vy + ly * r, top], [vx - lx * r, vy - ly * r, top],
                        [vx - lx * r, vy - ly * r, bottom], [vx + lx * r, vy + ly * r, bottom]])
        uv, z = cam.project(pts)
        if np.any(z <= 0.05):
            continue
        if o.kind == "marker":
            board = _marker_board(o.marker_id)
            n = board.shape[0]
            # board corners: top-left, top-right, bottom-right, bottom-left in
            # the image = left(+lateral), right, ...
            src = np.float32([[0, 0], [n - 1, 0], [n - 1, n - 1], [0, n - 1]])
            dst = np.float32(uv)
            x0, y0 = np.floor(dst.min(axis=0)).astype(int)
            x1, y1 = np.ceil(dst.max(axis=0)).astype(int)
            x0, y0 = max(x0, 0), max(y0, 0)
            x1, y1 = min(x1 + 1, cam.width), min(y1 + 1, cam.height)
            if x1 <= x0 or y1 <= y0:
                continue
            H = cv2.getPerspectiveTransform(src, dst - np.float32([x0, y0]))
            roi = img[y0:y1, x0:x1]
            warped = cv2.warpPerspective(board, H, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR)
            m = cv2.warpPerspective(np.full((n, n), 255, np.uint8), H, (x1 - x0, y1 - y0))
            cv2.copyTo(warped, m, roi)
        else:
            color = tuple(int(c) for c in o.color)
            cv2.fillConvexPoly(img, np.round(uv * 16).astype(np.int32), color, lineType=cv2.LINE_AA,
                               shift=4)


# BGR paint of the named colours a scenario can give an object; inside the
# detector's default HSV ranges (vehicle.perception.detection.DEFAULT_COLOURS).
PAINT = {"red": (0, 0, 220), "green": (0, 170, 0), "yellow": (0, 210, 235), "orange": (0, 120, 255)}


class SimCamera:
    """The vehicle's camera in the simulator: frames at ``rate_hz`` from the
    vehicle's true pose, rendered with the configured geometry, noise and
    exposure (``vehicle.config.CameraConfig``); noise from the seeded
    ``rng``.  ``surface`` is 'ground' or 'water'."""

    def __init__(self, cfg, surface: str, rng: np.random.Generator):
        if surface not in SURFACES:
            raise ValueError(f"surface must be one of {sorted(SURFACES)}, got {surface!r}")
        self.cfg = cfg
        self.cam = camera_of(cfg)
        self.surface = surface
        self.rng = rng
        self.period = 1.0 / cfg.rate_hz
        self._next = 0.0
        self.frames = 0
        # Gaussian pixel noise: a pool of frames drawn once from ``rng``, one
        # picked and shifted at random per capture (drawing 0.9 M normals a
        # frame would cost more than everything else the simulator does).
        self._noise = []
        if cfg.noise_std > 0:
            for _ in range(4):
                n = np.rint(rng.standard_normal((cfg.height, cfg.width, 3), dtype=np.float32)
                            * np.float32(cfg.noise_std))
                n = np.clip(n, -255, 255)
                self._noise.append((np.maximum(n, 0).astype(np.uint8), np.maximum(-n, 0).astype(np.uint8)))

    def due(self, now: float) -> bool:
        """True (and the next capture scheduled) when a frame is due at ``now`` [s]."""
        if now + 1e-9 < self._next:
            return False
        while self._next <= now + 1e-9:
            self._next += self.period
        return True

    def capture(self, pose, objects) -> np.ndarray:
        """A BGR uint8 frame from the vehicle at ``pose`` = (x, y, yaw), map frame."""
        self.frames += 1
        img = render_frame(self.cam, pose, objects, exposure=self.cfg.exposure, surface=self.surface)
        if self._noise:
            up, down = self._noise[int(self.rng.integers(len(self._noise)))]
            sh = int(self.rng.integers(self.cam.height))
            if sh:
                up, down = np.roll(up, sh, axis=0), np.roll(down, sh, axis=0)
            img = cv2.subtract(cv2.add(img, up), down)             # saturating uint8
        return img


def camera_of(cfg) -> PinholeCamera:
    """The ``PinholeCamera`` a ``vehicle.config.CameraConfig`` describes."""
    return PinholeCamera.from_config(cfg)
