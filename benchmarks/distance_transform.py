"""Exact distance transform: ours (numba, integer arithmetic, the same
bits every call) against OpenCV's DIST_MASK_PRECISE (last bit varies from
call to call) on one core.

    python benchmarks/distance_transform.py
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edgepilot.vehicle.distance_transform import distance_cells  # noqa: E402


def best(fn, reps=7):
    ts = []
    for _ in range(reps):
        t0 = time.process_time()
        fn()
        ts.append(time.process_time() - t0)
    return min(ts)


def main() -> None:
    cv2.setNumThreads(1)
    rng = np.random.default_rng(0)
    print(f"{'grid':>12s} {'fill':>5s} {'OpenCV ms':>10s} {'ours ms':>8s} {'ours/OpenCV':>12s}")
    for n, fill in ((400, 0.01), (1000, 0.01), (1000, 0.2), (2000, 0.005)):
        occ = rng.random((n, n)) < fill
        free = np.ascontiguousarray((~occ).astype(np.uint8))
        distance_cells(occ)
        peer = best(lambda: cv2.distanceTransform(free, cv2.DIST_L2, cv2.DIST_MASK_PRECISE))
        ours = best(lambda: distance_cells(occ))
        print(f"{n:>5d}x{n:<6d} {fill:5.3f} {1000 * peer:10.1f} {1000 * ours:8.1f} {ours / peer:12.2f}")


if __name__ == "__main__":
    main()
