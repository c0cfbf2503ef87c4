"""Path following and low-level command shaping."""


def warm_kernels() -> None:
    """Compile (or load from numba's cache) the path-following kernels."""
    import numpy as np

    from .path import PolylinePath

    p = PolylinePath(np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]))
    p.project(0.5, 0.2)
    p.project(0.5, 0.2, s_hint=0.5, window=1.0)
    p.point_at(1.5)
    p.follow(0.5, 0.2, 0.5, 1.0, 0.8)
