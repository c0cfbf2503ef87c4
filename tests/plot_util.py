"""Reading the PNGs our reports draw: decoded, not just their magic bytes."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def read_png(path: str | Path) -> np.ndarray:
    """The image as (H, W, 3) RGB uint8; fails on anything but a decodable PNG."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG"
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None, f"{path}: PNG does not decode"
    return img[:, :, ::-1]


def colour_pixels(img: np.ndarray, colour: str, tol: int = 10) -> int:
    """How many pixels are within ``tol`` (per channel) of ``colour`` ("#rrggbb")."""
    rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.int16)
    return int((np.abs(img.astype(np.int16) - rgb).max(axis=2) <= tol).sum())


def colour_blobs(img: np.ndarray, colour: str, tol: int = 10, min_px: int = 10) -> int:
    """Separate marks of ``colour`` (connected regions of at least ``min_px``
    pixels): a marker drawn on the plot and its legend entry count as two."""
    rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.int16)
    mask = (np.abs(img.astype(np.int16) - rgb).max(axis=2) <= tol).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
    return int((stats[1:, cv2.CC_STAT_AREA] >= min_px).sum())
