"""Run reports: a trajectory plot PNG, a summary JSON and the track CSV."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgepilot.sim.lockstep import RunResult
from edgepilot.sim.scenario import Scenario
from edgepilot.sim.world import SimWorld


def write_report(result: RunResult, scenario: Scenario, out_dir: str | Path) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(result.summary(), indent=2) + "\n")
    tr = result.track
    est = result.estimate if result.estimate is not None and len(result.estimate) == len(tr) \
        else np.full((len(tr), 4), np.nan)
    # truth and the core's estimate side by side, one row per control tick
    np.savetxt(out / "track.csv", np.column_stack((tr.reshape(-1, 6), est)), delimiter=",", fmt="%.4f",
               header="t_s,x_m,y_m,yaw_rad,speed_mps,clearance_m,est_x_m,est_y_m,est_yaw_rad,est_pos_std_m",
               comments="")
    if len(tr):
        write_tum(out / "trajectory_true.tum", tr[:, 0], tr[:, 1], tr[:, 2], tr[:, 3])
        ok = np.isfinite(est[:, 0])
        write_tum(out / "trajectory_est.tum", tr[ok, 0], est[ok, 0], est[ok, 1], est[ok, 2])
    plot_trajectory(result, scenario, out / "trajectory.png")
    return out


def plot_trajectory(result: RunResult, scenario: Scenario, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    world = SimWorld(scenario)
    world.rebuild(float("inf"))
    xmin, ymin, xmax, ymax = scenario.world.bounds
    prior = world.prior_map().occupied
    truth = world.truth.occupied
    img = np.zeros(truth.shape + (3,))
    ground = (0.93, 0.93, 0.9) if scenario.world.surface == "ground" else (0.78, 0.88, 0.97)
    img[:] = ground
    img[truth] = (0.45, 0.42, 0.38) if scenario.world.surface == "ground" else (0.55, 0.5, 0.35)
    img[truth & ~prior] = (0.85, 0.45, 0.2)  # not on the vehicle's map
    aspect = (ymax - ymin) / (xmax - xmin)
    fig, ax = plt.subplots(figsize=(10, max(4.0, 10 * aspect)), dpi=100)
    ax.imshow(img, origin="lower", extent=(xmin, xmax, ymin, ymax), interpolation="nearest")
    for i, p in enumerate(result.planned_paths):
        ax.plot(p[:, 0], p[:, 1], "--", color="tab:blue", lw=1, alpha=0.7,
                label="planned path" if i == 0 else None)
    tr = result.track
    if len(tr):
        ax.plot(tr[:, 1], tr[:, 2], "-", color="tab:red", lw=1.6, label="driven track (truth)")
    est = result.estimate
    if est is not None and len(est) == len(tr) and len(tr) and result.navigation:
        ok = np.isfinite(est[:, 0])
        ax.plot(est[ok, 0], est[ok, 1], "-", color="tab:cyan", lw=1.0, label="estimate")
    wps = np.array(scenario.mission.waypoints)
    ax.plot(wps[:, 0], wps[:, 1], "o", ms=9, mfc="none", mec="black", mew=1.5, label="waypoints")
    for i, (x, y) in enumerate(wps, 1):
        ax.annotate(str(i), (x, y), textcoords="offset points", xytext=(6, 6), fontsize=9)
    ax.plot(scenario.start.x, scenario.start.y, "^", color="tab:green", ms=10, label="start")
    _plot_traffic(ax, result)
    _mark_safety(ax, result, scenario)
    if result.collision_points:
        cp = np.array(result.collision_points)
        ax.plot(cp[:, 0], cp[:, 1], "x", color="magenta", ms=12, mew=2.5, label="collision")
    cur = scenario.world.current
    if scenario.world.surface == "water" and (cur[0] or cur[1]):
        ax.annotate("", xy=(xmin + 0.08 * (xmax - xmin) + 4 * cur[0], ymax - 0.1 * (ymax - ymin) + 4 * cur[1]),
                    xytext=(xmin + 0.08 * (xmax - xmin), ymax - 0.1 * (ymax - ymin)),
                    arrowprops=dict(arrowstyle="->", color="navy", lw=2))
        ax.text(xmin + 0.02 * (xmax - xmin), ymax - 0.05 * (ymax - ymin),
                f"current {np.hypot(*cur):.2f} m/s", color="navy", fontsize=9)
    status = "PASS" if result.passed else "FAIL"
    cpa_txt = f"  min CPA {result.min_cpa_m:.1f} m" if result.min_cpa_m is not None else ""
    ax.set_title(f"{scenario.name}  seed {result.seed}  {status}  "
                 f"{result.waypoints_reached}/{result.waypoints_total} wp  "
                 f"{result.sim_time_s:.0f} s  min clearance {result.min_clearance_m:.2f} m{cpa_txt}")
    finish_map(fig, ax, (xmin, xmax), (ymin, ymax), png, legend_fontsize=8)


def finish_map(fig, ax, xlim: tuple[float, float], ylim: tuple[float, float], png: Path,
               legend_fontsize: float) -> None:
    """Axis labels (east/north metres), limits at equal aspect, the legend
    bottom right; save the figure to ``png`` and close it."""
    import matplotlib.pyplot as plt

    ax.set_xlabel("x east [m]")
    ax.set_ylabel("y north [m]")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.legend(loc="lower right", fontsize=legend_fontsize, framealpha=0.85)
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)


def _plot_traffic(ax, result: RunResult) -> None:
    """Traffic vessels' tracks and, for each, the closest approach: a line
    from our position to hers at that moment, labelled with the range."""
    for i, (name, tr) in enumerate(result.contact_tracks.items()):
        if len(tr) == 0:
            continue
        ax.plot(tr[:, 1], tr[:, 2], "-", color="dimgray", lw=0.9, alpha=0.8,
                label="traffic tracks" if i == 0 else None)
        ax.plot(tr[-1, 1], tr[-1, 2], ">", color="dimgray", ms=4)
    for i, e in enumerate(result.cpa_events):
        (ox, oy), (cx, cy) = e["own"], e["contact"]
        ax.plot([ox, cx], [oy, cy], "-", color="darkorange", lw=1.4, label="closest approach" if i == 0 else None)
        if len(result.cpa_events) <= 6 or e["range_m"] < 60:
            ax.annotate(f"{e['vessel']} {e['range_m']:.0f} m", ((ox + cx) / 2, (oy + cy) / 2),
                        fontsize=7, color="darkorange")
def _mark_safety(ax, result: RunResult, scenario: Scenario) -> None:
    """Fence zones, crossing targets' paths, and a marker where each
    failsafe tripped (labelled with its trigger and action)."""
    import numpy as np
    from matplotlib.patches import Circle, Polygon

    zones = list(scenario.fence) + [z for f in scenario.faults if f.type == "fence_upload" for z in f.zones]
    for i, z in enumerate(zones):
        style = dict(fill=False, lw=1.8, ls="-" if z.inclusion else "--",
                     ec="tab:purple" if z.inclusion else "crimson", label="fence" if i == 0 else None)
        if z.type == "circle":
            ax.add_patch(Circle(z.center, z.radius, **style))
        else:
            ax.add_patch(Polygon(np.array(z.points), closed=True, **style))
    for f in scenario.faults:
        if f.type == "crossing":
            a = np.array(f.start)
            b = a + np.array(f.velocity) * f.duration_s
            ax.annotate("", xy=b, xytext=a, arrowprops=dict(arrowstyle="->", color="darkorange", lw=1.5))
            ax.text(*a, f" {f.kind}", color="darkorange", fontsize=8)
    tr = result.track
    trips = [e for e in result.events if e.kind == "failsafe" and e.data.get("phase") == "trip"]
    if not len(tr) or not trips:
        return
    for k, e in enumerate(trips):
        i = min(int(np.searchsorted(tr[:, 0], e.t)), len(tr) - 1)
        x, y = tr[i, 1], tr[i, 2]
        ax.plot(x, y, "*", color="gold", mec="black", ms=15, zorder=5, label="failsafe" if k == 0 else None)
        ax.annotate(f"{e.data.get('trigger')}: {e.data.get('action')} @ {e.t:.1f} s", (x, y),
                    textcoords="offset points", xytext=(8, -12 - 10 * (k % 3)), fontsize=8,
                    bbox=dict(boxstyle="round,pad=0.2", fc="lightyellow", alpha=0.85))


def write_tum(path: str | Path, t, x, y, yaw) -> Path:
    """A planar trajectory in the TUM format odometry evaluation tools read
    (evo, the TUM RGB-D benchmark scripts): one line per pose,
    ``timestamp x y z qx qy qz qw``, z = 0 and the heading as a rotation
    about z (ENU map frame, yaw CCW from east)."""
    t, x, y, yaw = (np.asarray(v, dtype=np.float64).ravel() for v in (t, x, y, yaw))
    if not (len(t) == len(x) == len(y) == len(yaw)):
        raise ValueError(f"t, x, y, yaw must have one length, got {len(t)}, {len(x)}, {len(y)}, {len(yaw)}")
    z = np.zeros_like(t)
    rows = np.column_stack((t, x, y, z, z, z, np.sin(0.5 * yaw), np.cos(0.5 * yaw)))
    p = Path(path)
    np.savetxt(p, rows, fmt=["%.6f"] + ["%.6f"] * 3 + ["%.9f"] * 4, header="timestamp x y z qx qy qz qw")
    return p


def read_tum(path: str | Path) -> np.ndarray:
    """(N, 4) [t, x, y, yaw] from a TUM trajectory file (planar: the yaw
    of the quaternion's rotation about z)."""
    a = np.loadtxt(path, comments="#", ndmin=2)
    if a.shape[1] != 8:
        raise ValueError(f"{path}: a TUM trajectory has 8 columns (timestamp x y z qx qy qz qw), got {a.shape[1]}")
    yaw = np.arctan2(2 * (a[:, 7] * a[:, 6] + a[:, 4] * a[:, 5]), 1 - 2 * (a[:, 5] ** 2 + a[:, 6] ** 2))
    return np.column_stack((a[:, 0], a[:, 1], a[:, 2], yaw))
