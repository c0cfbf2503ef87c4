"""Pinhole camera geometry shared by the detector (vehicle side) and the
renderer (sim side).

Frames: vehicle frame x forward, y left, z up (metres, z = 0 at the ground
or water surface); camera frame as OpenCV's (x right, y down, z along the
optical axis); image pixels u right, v down.  The camera sits at
(``mount_x``, ``mount_y``, ``mount_height``) in the vehicle frame looking
forward, pitched down by ``pitch`` rad and rolled by ``roll`` rad (positive
roll turns the horizon clockwise in the image).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PinholeCamera:
    width: int = 640
    height: int = 480
    hfov_deg: float = 70.0
    mount_x: float = 0.0
    mount_y: float = 0.0
    mount_height: float = 1.5
    pitch: float = 0.0
    roll: float = 0.0

    def __post_init__(self):
        if self.width < 8 or self.height < 8:
            raise ValueError(f"camera width/height must be >= 8 px, got {self.width} x {self.height}")
        if not (1.0 < self.hfov_deg < 179.0):
            raise ValueError(f"camera hfov_deg must be in (1, 179), got {self.hfov_deg}")
        if self.mount_height <= 0:
            raise ValueError(f"camera mount_height must be > 0 m, got {self.mount_height}")

    @property
    def fx(self) -> float:
        return 0.5 * self.width / math.tan(math.radians(self.hfov_deg) / 2)

    @property
    def fy(self) -> float:
        return self.fx

    @property
    def cx(self) -> float:
        return 0.5 * self.width

    @property
    def cy(self) -> float:
        return 0.5 * self.height

    def K(self) -> np.ndarray:
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1.0]])

    @classmethod
    def from_config(cls, cfg) -> "PinholeCamera":
        """The camera a ``vehicle.config.CameraConfig`` describes."""
        return cls(width=cfg.width, height=cfg.height, hfov_deg=cfg.fov_deg, mount_x=cfg.mount_x,
                   mount_height=cfg.mount_height, pitch=math.radians(cfg.pitch_deg))

    def with_attitude(self, pitch: float, roll: float) -> "PinholeCamera":
        from dataclasses import replace
        return replace(self, pitch=float(pitch), roll=float(roll))

    def rotation(self) -> np.ndarray:
        """R such that p_cam = R @ (p_vehicle - camera position)."""
        base = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
        ct, st = math.cos(self.pitch), math.sin(self.pitch)
        rp = np.array([[1.0, 0.0, 0.0], [0.0, ct, -st], [0.0, st, ct]])
        cr, sr = math.cos(self.roll), math.sin(self.roll)
        rr = np.array([[cr, -sr, 0.0], [sr, cr, 0.0], [0.0, 0.0, 1.0]])
        return rr @ rp @ base

    def position(self) -> np.ndarray:
        return np.array([self.mount_x, self.mount_y, self.mount_height])

    def vehicle_to_camera(self, pts: np.ndarray) -> np.ndarray:
        """(N, 3) vehicle-frame points -> (N, 3) camera-frame points."""
        return (np.asarray(pts, np.float64) - self.position()) @ self.rotation().T

    def project(self, pts_vehicle: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3) vehicle-frame points -> ((N, 2) pixels, (N,) depth z_cam)."""
        pc = self.vehicle_to_camera(pts_vehicle)
        z = pc[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = np.column_stack((self.cx + self.fx * pc[:, 0] / z, self.cy + self.fy * pc[:, 1] / z))
        return uv, z

    def horizon_line(self) -> tuple[float, float]:
        """The horizon in the image as (angle [rad] of the line, u right v
        down, clockwise positive; signed distance [px] of the line from the
        principal point along its normal, positive above)."""
        return self.roll, self.fx * math.tan(self.pitch)
