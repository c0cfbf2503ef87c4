"""Camera detection with OpenCV: coloured buoys/obstacles, ArUco fiducials
and the horizon.

All detections are reported in the vehicle frame (x forward, y left,
metres; bearing CCW from forward, radians, + left), using the camera's
``PinholeCamera`` geometry.  Frames are BGR uint8 (height, width, 3).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .camera_model import PinholeCamera

# HSV ranges (OpenCV: H 0-179, S and V 0-255); red wraps around H = 0.
DEFAULT_COLOURS: dict[str, tuple[tuple[tuple[int, int, int], tuple[int, int, int]], ...]] = {
    "red": (((0, 120, 70), (8, 255, 255)), ((170, 120, 70), (179, 255, 255))),
    "orange": (((9, 150, 120), (18, 255, 255)),),
    "yellow": (((19, 120, 110), (34, 255, 255)),),
    "green": (((45, 120, 60), (85, 255, 255)),),
}


@dataclass(frozen=True)
class CameraDetection:
    """One thing seen by the camera.  ``kind`` 'buoy' or 'marker'; ``label``
    the colour name or the ArUco id as text; ``bearing`` rad and ``range`` m
    in the vehicle frame; (``x``, ``y``) its centre in the vehicle frame;
    (``u``, ``v``) the image centre of the detection, ``bbox`` (x, y, w, h)
    pixels, ``area_px`` its pixel area."""

    kind: str
    label: str
    bearing: float
    range: float
    x: float
    y: float
    u: float
    v: float
    bbox: tuple[int, int, int, int]
    area_px: float


def _check_frame(frame, cam: PinholeCamera) -> np.ndarray:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame must be a BGR uint8 array (height, width, 3), got "
                         f"{getattr(frame, 'dtype', type(frame).__name__)} {getattr(frame, 'shape', '')}")
    if frame.shape[:2] != (cam.height, cam.width):
        raise ValueError(f"frame is {frame.shape[1]} x {frame.shape[0]} px but the camera is "
                         f"{cam.width} x {cam.height}")
    return frame


class BuoyDetector:
    """Colour-blob detector: HSV thresholds, morphological opening and
    closing, external contours.  Range comes from two cues fused by their
    pixel-error variances: the blob's width against the known object
    ``radius`` [m], and where its bottom meets the surface (flat world,
    camera ``mount_height`` and ``pitch``)."""

    def __init__(self, cam: PinholeCamera, colours: dict | None = None, radius: float = 0.4,
                 min_area_px: float = 12.0, kernel_px: int = 3, edge_px: float = 1.0):
        if radius <= 0:
            raise ValueError(f"radius must be > 0 m, got {radius}")
        self.cam = cam
        self.colours = dict(DEFAULT_COLOURS if colours is None else colours)
        self.radius = float(radius)
        self.min_area = float(min_area_px)
        self.edge_px = float(edge_px)
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel_px, kernel_px))
        self._ranges = {name: [(np.array(lo, np.uint8), np.array(hi, np.uint8)) for lo, hi in rs]
                        for name, rs in self.colours.items()}
        self._R_T = cam.rotation().T
        self._pos = cam.position()

    def _ray(self, u: float, v: float) -> np.ndarray:
        d = np.array([(u - self.cam.cx) / self.cam.fx, (v - self.cam.cy) / self.cam.fy, 1.0])
        d = self._R_T @ d
        return d / np.linalg.norm(d)

    def _mask(self, hsv: np.ndarray, name: str) -> np.ndarray:
        rs = self._ranges[name]
        m = cv2.inRange(hsv, rs[0][0], rs[0][1])
        for lo, hi in rs[1:]:
            m |= cv2.inRange(hsv, lo, hi)
        return m

    def masks(self, frame: np.ndarray) -> dict[str, np.ndarray]:
        """Per-colour binary masks (uint8 0/255) of the half-resolution
        frame after opening and closing."""
        cam = self.cam
        small = cv2.resize(frame, (cam.width // 2, cam.height // 2), interpolation=cv2.INTER_NEAREST)
        hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
        out = {}
        for name in self._ranges:
            m = self._mask(hsv, name)
            m = cv2.morphologyEx(m, cv2.MORPH_OPEN, self._kernel)
            out[name] = cv2.morphologyEx(m, cv2.MORPH_CLOSE, self._kernel)
        return out

    def detect(self, frame: np.ndarray) -> list[CameraDetection]:
        """Buoys in a BGR frame.  Blobs are found at half resolution, then
        each blob's box is re-measured at full resolution in a small window
        around it (the range cues need every pixel)."""
        frame = _check_frame(frame, self.cam)
        cam = self.cam
        dets = []
        for name, m in self.masks(frame).items():
            contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            for c in contours:
                if cv2.contourArea(c) * 4.0 < self.min_area:
                    continue
                sx, sy, sw, sh = cv2.boundingRect(c)
                x0, y0 = max(2 * sx - 3, 0), max(2 * sy - 3, 0)
                x1, y1 = min(2 * (sx + sw) + 3, cam.width), min(2 * (sy + sh) + 3, cam.height)
                roi = cv2.cvtColor(frame[y0:y1, x0:x1], cv2.COLOR_BGR2HSV)
                rm = cv2.morphologyEx(self._mask(roi, name), cv2.MORPH_OPEN, self._kernel)
                area = float(cv2.countNonZero(rm))
                if area < self.min_area:
                    continue
                x, y, w, h = cv2.boundingRect(rm)
                x += x0
                y += y0
                dets.append(self._measure(name, rm, x0, y0, (x, y, w, h), area))
        return dets

    def _measure(self, name, mask, x0, y0, bbox, area) -> CameraDetection:
        """Bearing and range of a blob (``mask`` of a window at (x0, y0)).
        Extents are measured in the image rotated by the camera roll, so a
        rolled camera does not widen the blob.  Objects are billboards
        through their centre: the width cue gives the line-of-sight distance
        D = fx * 2r / (w cos^2 b) at b off the axis, and the bottom edge lies on the surface at the
        object's centre."""
        cam = self.cam
        pts = cv2.findNonZero(mask).reshape(-1, 2).astype(np.float64)
        pts[:, 0] += x0
        pts[:, 1] += y0
        cr, sr = math.cos(cam.roll), math.sin(cam.roll)
        ur = pts[:, 0] * cr + pts[:, 1] * sr            # along the horizon
        vr = -pts[:, 0] * sr + pts[:, 1] * cr           # across it (down)
        u_lo, u_hi, v_lo, v_hi = ur.min(), ur.max(), vr.min(), vr.max()
        # blurred/antialiased edges add about half a pixel on each side
        w = max(u_hi - u_lo + 1.0 - self.edge_px, 1.0)

        def back(a, b):
            return a * cr - b * sr, a * sr + b * cr

        um, vm = back(0.5 * (u_lo + u_hi), 0.5 * (v_lo + v_hi))
        ray = self._ray(um, vm)
        # off-axis by angle b a billboard looks 1/cos^2(b) wider: w = fx 2r / (D cos^2 b)
        tb = (0.5 * (u_lo + u_hi) - (cam.cx * cr + cam.cy * sr)) / cam.fx
        rng_w = cam.fx * 2.0 * self.radius / w * (1.0 + tb * tb)
        var_w = (rng_w ** 2 / (cam.fx * 2 * self.radius)) ** 2
        rng = rng_w
        bottom = self._ray(*back(0.5 * (u_lo + u_hi), v_hi + 0.5 - 0.5 * self.edge_px))
        if bottom[2] < -1e-6:
            t = -self._pos[2] / bottom[2]
            gx = self._pos[0] + t * bottom[0]
            gy = self._pos[1] + t * bottom[1]
            rng_g = math.hypot(gx, gy)
            var_g = (rng_g ** 2 / (cam.fy * self._pos[2])) ** 2
            rng = (rng_w / var_w + rng_g / var_g) / (1.0 / var_w + 1.0 / var_g)
        bearing = math.atan2(ray[1], ray[0])
        return CameraDetection("buoy", name, bearing, rng, rng * math.cos(bearing),
                               rng * math.sin(bearing), um, vm, bbox, area)


class ArucoMarkerDetector:
    """ArUco fiducials (cv2.aruco) with pose from the marker's known side
    length [m] (solvePnP, IPPE for squares): docking targets."""

    def __init__(self, cam: PinholeCamera, marker_side: float, dictionary: int = cv2.aruco.DICT_4X4_50):
        if marker_side <= 0:
            raise ValueError(f"marker_side must be > 0 m, got {marker_side}")
        self.cam = cam
        self.side = float(marker_side)
        self._det = cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(dictionary),
                                            cv2.aruco.DetectorParameters())
        s = self.side / 2
        self._obj = np.array([[-s, s, 0], [s, s, 0], [s, -s, 0], [-s, -s, 0]], np.float64)
        self._K = cam.K()

    def detect(self, frame: np.ndarray) -> list[CameraDetection]:
        frame = _check_frame(frame, self.cam)
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        corners, ids, _ = self._det.detectMarkers(gray)
        out = []
        if ids is None:
            return out
        R_T = self.cam.rotation().T
        pos = self.cam.position()
        for c, i in zip(corners, ids.ravel()):
            img = c.reshape(4, 2).astype(np.float64)
            ok, rvec, tvec = cv2.solvePnP(self._obj, img, self._K, None, flags=cv2.SOLVEPNP_IPPE_SQUARE)
            if not ok:
                continue
            p = R_T @ tvec.ravel() + pos
            x, y = float(p[0]), float(p[1])
            xs, ys = img[:, 0], img[:, 1]
            bx, by = int(xs.min()), int(ys.min())
            out.append(CameraDetection("marker", str(int(i)), math.atan2(y, x), math.hypot(x, y), x, y,
                                       float(xs.mean()), float(ys.mean()),
                                       (bx, by, int(xs.max()) - bx, int(ys.max()) - by),
                                       float(cv2.contourArea(img.astype(np.float32)))))
        return out


@dataclass(frozen=True)
class Horizon:
    """The horizon line: ``angle`` rad (image, u right v down, clockwise
    positive) = camera roll; ``offset_px`` signed distance of the line from
    the principal point (positive above); ``pitch`` rad (positive = camera
    looks down); ``inlier_fraction`` of the columns that agree."""

    angle: float
    offset_px: float
    pitch: float
    roll: float
    inlier_fraction: float


def detect_horizon(frame: np.ndarray, cam: PinholeCamera, step: int = 4) -> Horizon | None:
    """Sky/surface boundary: the strongest bright-to-dark vertical edge in
    each column of a ``step``-times downsampled frame, refined to sub-pixel,
    then a robust (Huber) line fit.  None when no consistent line is found."""
    frame = _check_frame(frame, cam)
    small = cv2.resize(frame, (cam.width // step, cam.height // step), interpolation=cv2.INTER_AREA)
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32)
    gray = cv2.GaussianBlur(gray, (3, 3), 0)
    gy = -cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)     # sky above is brighter
    hs, ws = gy.shape
    rows = np.argmax(gy[1:-1], axis=0) + 1
    cols = np.arange(ws)
    peak = gy[rows, cols]
    good = peak > 8.0
    if good.sum() < max(8, ws // 4):
        return None
    a, b, c = gy[rows - 1, cols], peak, gy[rows + 1, cols]
    den = a - 2 * b + c
    with np.errstate(divide="ignore", invalid="ignore"):
        off = np.where(np.abs(den) > 1e-6, 0.5 * (a - c) / den, 0.0)
    off = np.clip(off, -0.5, 0.5)
    # pixel centres of the downsampled grid in full-resolution coordinates
    us = (cols + 0.5) * step - 0.5
    vs = (rows + off + 0.5) * step - 0.5
    pts = np.column_stack((us, vs))[good].astype(np.float32)
    vx, vy, x0, y0 = cv2.fitLine(pts, cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
    if vx < 0:
        vx, vy = -vx, -vy
    angle = math.atan2(vy, vx)
    nx, ny = math.sin(angle), -math.cos(angle)
    resid = (pts[:, 0] - x0) * nx + (pts[:, 1] - y0) * ny
    inl = np.abs(resid) < 1.5 * step
    if inl.sum() >= 8:                       # refit on inliers only
        vx, vy, x0, y0 = cv2.fitLine(pts[inl], cv2.DIST_L2, 0, 0.01, 0.01).ravel()
        if vx < 0:
            vx, vy = -vx, -vy
        angle = math.atan2(vy, vx)
        nx, ny = math.sin(angle), -math.cos(angle)
    frac = float(inl.mean())
    if frac < 0.5:
        return None
    dist = (x0 - cam.cx) * nx + (y0 - cam.cy) * ny
    return Horizon(angle, float(dist), math.atan2(dist, cam.fx), angle, frac)


def detections_to_obstacles(dets: list[CameraDetection], radius: float, pose=None) -> np.ndarray:
    """(N, 3) float64 [x, y, radius] obstacles from camera detections: in
    the vehicle frame, or in the map frame when ``pose`` = (x, y, yaw) of
    the vehicle is given."""
    out = np.array([[d.x, d.y, radius] for d in dets], np.float64).reshape(-1, 3)
    if pose is not None and len(out):
        px, py, yaw = pose
        c, s = math.cos(yaw), math.sin(yaw)
        x = px + c * out[:, 0] - s * out[:, 1]
        y = py + s * out[:, 0] + c * out[:, 1]
        out[:, 0], out[:, 1] = x, y
    return out
