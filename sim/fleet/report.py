"""Fleet run reports: ``summary.json`` (a row per vehicle and a fleet row,
tasks, casualties, link statistics), ``tracks/<vehicle>.csv`` per vehicle,
``tracks.csv`` with every track together, and ``trajectory.png`` with all
tracks over the shared world."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgepilot.sim.fleet.runner import FleetResult
from edgepilot.sim.fleet.scenario import FleetScenario
from edgepilot.sim.report import finish_map

TRACK_HEADER = "t_s,x_m,y_m,yaw_rad,speed_mps,clearance_m"


def write_fleet_report(result: FleetResult, sc: FleetScenario, out_dir: str | Path) -> Path:
    out = Path(out_dir)
    (out / "tracks").mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(result.summary(), indent=2, default=_jsonable) + "\n")
    together = []
    for v in result.vehicles:
        np.savetxt(out / "tracks" / f"{v.name}.csv", v.track, delimiter=",", fmt="%.4f", header=TRACK_HEADER,
                   comments="")
        together += [(v.name, *row) for row in v.track]
    with open(out / "tracks.csv", "w") as fh:
        fh.write("vehicle," + TRACK_HEADER + "\n")
        for row in together:
            fh.write(row[0] + "," + ",".join(f"{x:.4f}" for x in row[1:]) + "\n")
    plot_fleet(result, sc, out / "trajectory.png")
    return out


def _jsonable(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def plot_fleet(result: FleetResult, sc: FleetScenario, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle, Polygon

    xmin, ymin, xmax, ymax = sc.world.bounds
    aspect = (ymax - ymin) / (xmax - xmin)
    fig, ax = plt.subplots(figsize=(11, max(4.0, 11 * aspect)), dpi=100)
    ax.set_facecolor((0.93, 0.93, 0.9) if sc.world.surface == "ground" else (0.78, 0.88, 0.97))
    for a in sc.world.areas:
        col = (0.78, 0.88, 0.97) if a.surface == "water" else (0.93, 0.93, 0.9)
        ax.add_patch(Polygon(np.array(a.points), closed=True, fc=col, ec="none", zorder=0))
    for o in sc.world.obstacles:
        style = dict(fc=(0.45, 0.42, 0.38) if o.mapped else (0.85, 0.45, 0.2), ec="none", zorder=1)
        if o.type == "polygon":
            ax.add_patch(Polygon(np.array(o.points), closed=True, **style))
        else:
            ax.add_patch(Circle(o.center, o.radius, **style))
    for i, (tid, area) in enumerate(result.tasks.get("areas", {}).items()):
        ax.add_patch(Polygon(np.array(area), closed=True, fill=False, ec="gray", ls=":", lw=1, zorder=1))
        c = np.mean(np.array(area), axis=0)
        ax.text(c[0], c[1], tid, fontsize=7, color="dimgray", ha="center", zorder=1)
    if sc.threat_watch is not None:
        for z in sc.threat_watch.zones:
            ax.add_patch(Polygon(np.array(z.points), closed=True, fill=False, ec="crimson", ls="--", lw=1.2, zorder=1))
            c = np.mean(np.array(z.points), axis=0)
            ax.text(c[0], c[1], f"{z.kind} zone {z.name}", fontsize=7, color="crimson", ha="center", zorder=1)
    if sc.patrol is not None:
        loop = np.array(sc.patrol.route + [sc.patrol.route[0]])
        ax.plot(loop[:, 0], loop[:, 1], ":", color="gray", lw=1, zorder=1, label="patrol loop")
    for k, a in enumerate(result.harbour.get("alerts", [])):
        ax.plot(a["x"], a["y"], "*", color="crimson", ms=11, zorder=6, label="threat alerts (belief)" if k == 0 else None)
        ax.annotate(f"{a['kind']} {a['score']:.2f} @{a['t']:.0f} s", (a["x"], a["y"]), fontsize=6, color="crimson",
                    textcoords="offset points", xytext=(5, -10))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, v in enumerate(result.vehicles):
        col = colors[i % len(colors)]
        tr = v.track
        if len(tr):
            ax.plot(tr[:, 1], tr[:, 2], "-", color=col, lw=1.5, label=f"{v.name} ({v.kind}, sysid {v.sysid})",
                    zorder=3)
            ax.plot(tr[0, 1], tr[0, 2], "^", color=col, ms=9, zorder=4)
            if v.broken_at is not None:
                k = min(int(np.searchsorted(tr[:, 0], v.broken_at)), len(tr) - 1)
                ax.plot(tr[k, 1], tr[k, 2], "X", color="black", ms=12, zorder=5)
                ax.annotate(f"{v.name} breakdown @ {v.broken_at:.0f} s", (tr[k, 1], tr[k, 2]), fontsize=8,
                            textcoords="offset points", xytext=(6, -12))
        for (x, y) in v.collision_points:
            ax.plot(x, y, "x", color="magenta", ms=12, mew=2.5, zorder=6)
    for name, tr in result.contact_tracks.items():
        if len(tr):
            ax.plot(tr[:, 1], tr[:, 2], "-", color="dimgray", lw=0.9, zorder=2)
            ax.text(tr[-1, 1], tr[-1, 2], f" {name}", fontsize=7, color="dimgray")
    for c in sc.casualties:
        ax.plot(*c.position, "P", color="crimson", ms=10, zorder=5)
    for c in result.casualties:
        if c.get("reported") is not None:
            ax.plot(*c["reported"], "o", mfc="none", mec="crimson", ms=12, mew=1.5, zorder=5)
    for k, (tid, p) in enumerate(result.tasks.get("points", {}).items()):
        ax.plot(*p, "s", mfc="none", mec="black", ms=7, zorder=4, label="point tasks" if k == 0 else None)
        ax.annotate(tid, p, fontsize=6, textcoords="offset points", xytext=(4, 4))
    if result.min_separation_at is not None and np.isfinite(result.min_separation_m):
        ax.plot([], [], " ", label=f"min separation {result.min_separation_m:.2f} m "
                                   f"({result.min_separation_at[1]}-{result.min_separation_at[2]})")
    status = "PASS" if result.passed else "FAIL"
    ax.set_title(f"{sc.name}  seed {result.seed}  {status}  {len(result.vehicles)} vehicles  "
                 f"{result.sim_time_s:.0f} s")
    finish_map(fig, ax, (xmin, xmax), (ymin, ymax), png, legend_fontsize=7)
