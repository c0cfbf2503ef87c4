"""Input-file parsers scale linearly: 10k, 20k and 100k items.

For each format, ours and a peer run on the same file in one run:

* ``.plan``  ours: ``gcs.formats.mission.load_mission`` (size check, depth
  check, JSON, every item validated, line numbers for errors);
  peer: ``json.loads`` of the same text (the C decoder alone, a floor).
* WPL 110    ours: ``load_mission``; peer: pymavlink's ``MAVWPLoader.load``.
* ``.parm``  ours: ``gcs.formats.parm.load_parm``; peer: pymavlink's
  ``MAVParmDict.load``.
* TOML       ours: ``vehicle.config.read_toml`` (size and depth checks, then
  tomllib); peer: ``tomllib.loads``.

Printed per size: seconds and microseconds per item for ours and the peer,
their ratio, and ours' per-item time relative to the 10k run (about 1.0 at
every size means linear; the old ``.plan`` parser was quadratic: 10k items
9.0 s, 20k 39 s on the 2-core dev box).  100k items is more than a mission
may hold (65534), so the mission parsers run with ``max_items=None``.

    PYTHONPATH=. python benchmarks/parsers.py [--sizes 10000 20000 100000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
import tomllib
from pathlib import Path

import contextlib
import io

from pymavlink import mavparm, mavwp

from edgepilot.gcs.formats import mission as fm
from edgepilot.gcs.formats.parm import format_parm, load_parm
from edgepilot.vehicle.config import read_toml


def make_mission(n: int) -> fm.Mission:
    items = tuple(fm.MissionItem(command=16, frame=3, x=-35.3629 + i * 1e-6, y=149.16523 + i * 1e-6, z=10.0)
                  for i in range(n))
    return fm.Mission(items=items, home=fm.MissionItem(command=16, frame=0, x=-35.36, y=149.16))


def _quiet(fn, *a):
    """pymavlink's loaders print a line per call; keep the table readable."""
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*a)


def best(fn, repeat: int) -> float:
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts)


def files(d: Path, n: int) -> dict[str, Path]:
    m = make_mission(n)
    out = {"plan": d / f"m{n}.plan", "wpl": d / f"m{n}.waypoints", "parm": d / f"p{n}.parm",
           "toml": d / f"t{n}.toml"}
    out["plan"].write_text(fm.format_plan(m))
    out["wpl"].write_text(fm.format_wpl(m))
    out["parm"].write_text(format_parm({f"P{i:07d}": i * 0.25 for i in range(n)}))
    out["toml"].write_text("".join(f"[[wp]]\nx = {i * 0.5}\ny = {i * 0.25}\nname = \"w{i}\"\n" for i in range(n)))
    return out


def run(sizes: list[int], repeat: int) -> None:
    def plan_ours(p):
        text = p.read_text()
        return lambda: fm.parse_plan(text, p, max_items=None)

    def wpl_ours(p):
        text = p.read_text()
        return lambda: fm.parse_wpl(text, p, max_items=None)

    cases = {
        "plan": (plan_ours, lambda p: (lambda t=p.read_text(): json.loads(t))),
        "wpl": (wpl_ours, lambda p: (lambda: mavwp.MAVWPLoader().load(str(p)))),
        "parm": (lambda p: (lambda: load_parm(p)), lambda p: (lambda: _quiet(mavparm.MAVParmDict().load, str(p)))),
        "toml": (lambda p: (lambda: read_toml(p)), lambda p: (lambda t=p.read_text(): tomllib.loads(t))),
    }
    print(f"{'format':6s} {'items':>7s} {'ours s':>8s} {'us/item':>8s} {'peer s':>8s} {'us/item':>8s} "
          f"{'ours/peer':>9s} {'per-item vs 10k':>15s}")
    with tempfile.TemporaryDirectory() as td:
        paths = {n: files(Path(td), n) for n in sizes}
        for fmt, (ours, peer) in cases.items():
            base = None
            for n in sizes:
                p = paths[n][fmt]
                if fmt == "toml" and p.stat().st_size > 4 * 2**20:
                    print(f"{fmt:6s} {n:7d}  (file {p.stat().st_size} bytes > the 4 MiB TOML limit: refused)")
                    continue
                t_ours = best(ours(p), repeat)
                t_peer = best(peer(p), repeat)
                per = t_ours / n
                base = base or per
                print(f"{fmt:6s} {n:7d} {t_ours:8.3f} {per * 1e6:8.2f} {t_peer:8.3f} {t_peer / n * 1e6:8.2f} "
                      f"{t_ours / t_peer:9.2f} {per / base:15.2f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10000, 20000, 100000])
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    run(a.sizes, a.repeat)


if __name__ == "__main__":
    main()
