"""Hybrid-A*: kinematically feasible paths for vehicles with a minimum
turning radius, on an inflated costmap.

The search runs over continuous poses (x, y, yaw) expanded by motion
primitives of fixed length: a straight and the two tightest arcs (radius
``turning_radius``), forward only (boats) or forward and reverse
(``allow_reverse``).  Poses are deduplicated by costmap cell x heading bin.
Every few expansions (every one near the goal) a Dubins path to the goal
is tried (analytic expansion) and taken when it crosses no lethal cell.

Heuristic: the larger of
- the Dubins distance ignoring obstacles (forward-only searches; with
  reverse allowed the Euclidean distance, as Dubins is not a lower bound
  then), and
- the 2-D obstacle-aware cost-to-go from a Dijkstra over the costmap
  coarsened (minimum per block, so it stays optimistic) to at most
  ``heuristic_cells`` cells.

Frames and units: poses are map-frame ENU metres, yaw radians CCW from
east.  The costmap is an ``InflatedCostmap`` (or anything with float32
``weights`` (H, W), ``resolution`` [m], ``origin_x``/``origin_y`` [m];
row 0 south, col 0 west; weights >= 1, inf lethal).

Footprint: a pose is free when the cell under its reference point is not
lethal; the inflation layer makes every cell within ``inscribed_radius``
of an obstacle lethal, so the footprint is that circle.  For an elongated
hull give the costmap a radius that covers the hull (e.g. the
circumscribed radius, or the inscribed radius plus a safety margin).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgepilot.vehicle.planning._hybrid_kernels import dijkstra_field, hybrid_astar_kernel, min_pool


@dataclass(frozen=True)
class HybridParams:
    """Search settings.

    turning_radius: minimum turning radius [m] (> 0).
    allow_reverse: also expand reverse primitives (UGVs); False for boats.
    n_headings: heading bins (72 = 5 degrees).
    step: primitive length [m]; None picks max(sqrt 2 x resolution,
        turning_radius x one heading bin) so every primitive leaves its cell
        and every turn changes heading bin.
    turn_penalty: extra cost fraction on arcs (> 0 prefers straights).
    reverse_penalty: cost multiplier on reverse motion (>= 1).
    switch_penalty: cost [m-equivalent] per change of direction.
    cost_weight: per-metre cost is 1 + cost_weight x (weight - 1).
    goal_tolerance: position tolerance [m] for accepting a searched pose as
        the goal (analytic expansions reach it exactly); None = resolution.
    yaw_tolerance: heading tolerance [rad]; None = one heading bin.
    max_expansions: give up (return None) after this many expansions.
    heuristic_weight: f = g + heuristic_weight x h (1 = classic A*; the
        default 1.2 trades a few per cent of path cost for 2-5x fewer
        expansions).
    heuristic_cells: the 2-D heuristic grid is coarsened to at most this
        many cells.
    shot_slack: a Dubins shot to the goal is taken only when its cost is
        at most (1 + shot_slack) x the heuristic there (so the path does not
        dash through high-cost cells just because they are not lethal).
    bin_size: side [m] of the square position bins that deduplicate
        poses; None = the primitive step.
    """

    turning_radius: float
    allow_reverse: bool = False
    n_headings: int = 72
    step: float | None = None
    turn_penalty: float = 0.05
    reverse_penalty: float = 2.0
    switch_penalty: float = 2.0
    cost_weight: float = 1.0
    goal_tolerance: float | None = None
    yaw_tolerance: float | None = None
    max_expansions: int = 100_000
    heuristic_weight: float = 1.2
    heuristic_cells: int = 1 << 15
    shot_slack: float = 0.25
    bin_size: float | None = None

    def __post_init__(self):
        def pos(name, strict=True):
            v = getattr(self, name)
            ok = isinstance(v, (int, float)) and math.isfinite(v) and (v > 0 if strict else v >= 0)
            if not ok:
                raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} 0, got {v!r}")
        pos("turning_radius")
        for name in ("turn_penalty", "switch_penalty", "cost_weight", "shot_slack"):
            pos(name, strict=False)
        if not (isinstance(self.reverse_penalty, (int, float)) and self.reverse_penalty >= 1
                and math.isfinite(self.reverse_penalty)):
            raise ValueError(f"reverse_penalty must be a finite number >= 1, got {self.reverse_penalty!r}")
        if not (isinstance(self.heuristic_weight, (int, float)) and self.heuristic_weight >= 1
                and math.isfinite(self.heuristic_weight)):
            raise ValueError(f"heuristic_weight must be a finite number >= 1, got {self.heuristic_weight!r}")
        for name in ("step", "goal_tolerance", "yaw_tolerance", "bin_size"):
            if getattr(self, name) is not None:
                pos(name)
        for name, lo in (("n_headings", 8), ("max_expansions", 1), ("heuristic_cells", 16)):
            v = getattr(self, name)
            if not (isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= lo):
                raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")


@dataclass(frozen=True)
class HybridPath:
    """A planned path: ``poses`` (N, 3) [x, y, yaw] map-frame metres and
    radians, spaced at most one costmap cell apart; ``directions`` (N,) int8,
    +1 forward / -1 reverse for the motion arriving at each pose (the first
    copies the second); ``cost`` in the planner's cost units (metres on a
    cost-free map); ``expansions`` the search effort."""

    poses: np.ndarray
    directions: np.ndarray
    cost: float
    expansions: int

    @property
    def points(self) -> np.ndarray:
        """(N, 2) [x, y] metres."""
        return self.poses[:, :2]

    @property
    def length(self) -> float:
        """Path length [m]."""
        return float(np.hypot(*np.diff(self.poses[:, :2], axis=0).T).sum())


def _pose(name: str, p, allow_free_yaw: bool) -> tuple[float, float, float, bool]:
    try:
        vals = list(p)
    except TypeError:
        raise ValueError(f"{name} must be (x, y, yaw) in metres and radians, got {p!r}") from None
    if len(vals) == 2 and allow_free_yaw:
        vals.append(None)
    if len(vals) != 3:
        raise ValueError(f"{name} must be (x, y, yaw) in metres and radians, got {p!r}")
    x, y, yaw = vals
    free = yaw is None
    try:
        x, y = float(x), float(y)
        yaw = 0.0 if free else float(yaw)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be (x, y, yaw) numbers, got {p!r}") from None
    if not all(math.isfinite(v) for v in (x, y, yaw)):
        raise ValueError(f"{name} must be finite, got {p!r}")
    if free and not allow_free_yaw:
        raise ValueError(f"{name} needs a yaw [rad], got {p!r}")
    return x, y, yaw, free


def _costmap_arrays(costmap):
    try:
        weights = costmap.weights
        res = float(costmap.resolution)
        ox, oy = float(costmap.origin_x), float(costmap.origin_y)
    except AttributeError:
        raise ValueError("costmap must have weights, resolution, origin_x and origin_y "
                         f"(an InflatedCostmap), got {type(costmap).__name__}") from None
    if not isinstance(weights, np.ndarray) or weights.ndim != 2 or weights.size == 0:
        raise ValueError(f"costmap.weights must be a non-empty 2-D array, got shape {getattr(weights, 'shape', None)}")
    if weights.dtype != np.float32:
        raise ValueError(f"costmap.weights must have dtype float32, got {weights.dtype}")
    if not (math.isfinite(res) and res > 0):
        raise ValueError(f"costmap.resolution must be a positive number of metres, got {res!r}")
    return np.ascontiguousarray(weights), res, ox, oy


def _cell(weights, res, ox, oy, x, y):
    r, c = int(math.floor((y - oy) / res)), int(math.floor((x - ox) / res))
    h, w = weights.shape
    return r, c, (0 <= r < h and 0 <= c < w)


class HeuristicField:
    """The 2-D obstacle-aware cost-to-go to one goal cell over a window of
    the costmap (the start-goal bounding box grown by ``margin`` metres,
    default max(10 m, half the start-goal distance)), coarsened so the
    window has at most ``params.heuristic_cells`` cells.  Outside the window
    the heuristic falls back to the Dubins/Euclidean distance.  Reusable
    across queries to the same goal on the same costmap version."""

    def __init__(self, weights: np.ndarray, res: float, goal_rc: tuple[int, int],
                 start_rc: tuple[int, int], params: HybridParams, margin: float | None = None):
        h, w = weights.shape
        dist = res * math.hypot(goal_rc[0] - start_rc[0], goal_rc[1] - start_rc[1])
        m = int(math.ceil((margin if margin is not None else max(10.0, 0.5 * dist)) / res))
        r0 = max(0, min(goal_rc[0], start_rc[0]) - m)
        r1 = min(h, max(goal_rc[0], start_rc[0]) + m + 1)
        c0 = max(0, min(goal_rc[1], start_rc[1]) - m)
        c1 = min(w, max(goal_rc[1], start_rc[1]) + m + 1)
        f = max(1, int(math.ceil(math.sqrt((r1 - r0) * (c1 - c0) / params.heuristic_cells))))
        coarse = min_pool(weights, f, float(params.cost_weight), r0, r1, c0, c1)
        self.factor, self.r0, self.c0 = f, r0, c0
        self.field = dijkstra_field(coarse, (goal_rc[0] - r0) // f, (goal_rc[1] - c0) // f, res * f)
        # coarse cells are up to a block diagonal away from the fine position
        self.slack = math.sqrt(2.0) * res * f


def hybrid_astar(costmap, start, goal, params: HybridParams,
                 heuristic: HeuristicField | None = None) -> HybridPath | None:
    """Plan from ``start`` (x, y, yaw) to ``goal`` (x, y, yaw) or (x, y) /
    (x, y, None) for a free final heading; metres and radians, map frame.

    Returns a HybridPath whose motion never turns tighter than
    ``params.turning_radius`` and never enters a lethal cell, or None when
    the goal cannot be reached (or ``max_expansions`` ran out).  Raises
    ValueError naming the argument for malformed input, a start or goal
    outside the costmap, or a goal in a lethal cell.  The start may be in a
    lethal cell (a vehicle pressed against an inflated obstacle); its first
    motion must leave it.
    """
    if not isinstance(params, HybridParams):
        raise ValueError(f"params must be a HybridParams, got {type(params).__name__}")
    weights, res, ox, oy = _costmap_arrays(costmap)
    sx, sy, st, _ = _pose("start", start, allow_free_yaw=False)
    gx, gy, gt, free = _pose("goal", goal, allow_free_yaw=True)
    sr, sc, sin_ = _cell(weights, res, ox, oy, sx, sy)
    if not sin_:
        raise ValueError(f"start ({sx:.2f}, {sy:.2f}) m is outside the costmap")
    gr, gc, gin = _cell(weights, res, ox, oy, gx, gy)
    if not gin:
        raise ValueError(f"goal ({gx:.2f}, {gy:.2f}) m is outside the costmap")
    if not np.isfinite(weights[gr, gc]):
        raise ValueError(f"goal ({gx:.2f}, {gy:.2f}) m is in a lethal cell")
    n_bins = int(params.n_headings)
    step = params.step if params.step is not None else max(
        math.sqrt(2.0) * res, params.turning_radius * 2.0 * math.pi / n_bins)
    bin_m = params.bin_size if params.bin_size is not None else step
    pos_tol = params.goal_tolerance if params.goal_tolerance is not None else res
    yaw_tol = params.yaw_tolerance if params.yaw_tolerance is not None else 2.0 * math.pi / n_bins
    if heuristic is None:
        heuristic = HeuristicField(weights, res, (gr, gc), (sr, sc), params)
    poses, dirs, cost, expansions, status = hybrid_astar_kernel(
        weights, res, ox, oy, heuristic.field, heuristic.factor, heuristic.r0, heuristic.c0,
        heuristic.slack,
        sx, sy, st, gx, gy, gt, free, float(params.turning_radius), float(step), float(bin_m), n_bins,
        bool(params.allow_reverse), float(params.turn_penalty), float(params.reverse_penalty),
        float(params.switch_penalty), float(params.cost_weight), float(pos_tol), float(yaw_tol),
        int(params.max_expansions), float(params.heuristic_weight), float(params.shot_slack))
    if status != 0:
        return None
    return HybridPath(poses, dirs, float(cost), int(expansions))
