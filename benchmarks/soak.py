"""Soak test of the real-time SITL: memory must not grow while a vehicle
flies a looping mission and a ground station keeps polling it.

Not part of CI (it runs for half an hour by default).  It starts a real
``edgepilot sitl run --realtime`` process, uploads the yard patrol as a
mission that loops forever (DO_JUMP with repeat -1) with the real
``edgepilot gcs`` client, arms, starts the mission, and then, like a ground
station left open all day, keeps a MAVLink connection that every few
seconds asks for the parameter list, the mission and a heartbeat-driven
telemetry stream.  Every ``--sample`` seconds it reads the vehicle
process's resident set size from /proc and at the end fits a straight line
through the samples after the warm-up, printing the slope and whether the
growth over the run stays within the noise.

    python benchmarks/soak.py                      # 30 min at --speedup 20
    python benchmarks/soak.py --minutes 3 --speedup 20
"""
from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pymavlink import mavutil

from edgepilot.sim.realtime import free_port, spawn, stop

#: Yard patrol waypoints (map frame, metres) and the scenario's origin.
WAYPOINTS = [(8, 20), (22, 20), (36, 22), (36, 10), (54, 30), (45, 6), (4, 5)]
ORIGIN = (47.397742, 8.545594)
EARTH_M_PER_DEG = 111_320.0


def looping_mission(path: Path) -> None:
    """QGC WPL 110: home, the patrol, then DO_JUMP back to item 1 forever."""
    lat0, lon0 = ORIGIN
    rows = ["QGC WPL 110", f"0\t1\t0\t16\t0\t0\t0\t0\t{lat0:.7f}\t{lon0:.7f}\t0\t1"]
    for i, (x, y) in enumerate(WAYPOINTS, start=1):
        lat = lat0 + y / EARTH_M_PER_DEG
        lon = lon0 + x / (EARTH_M_PER_DEG * math.cos(math.radians(lat0)))
        rows.append(f"{i}\t0\t3\t16\t0\t0\t0\t0\t{lat:.7f}\t{lon:.7f}\t0\t1")
    rows.append(f"{len(WAYPOINTS) + 1}\t0\t0\t177\t1\t-1\t0\t0\t0\t0\t0\t1")   # DO_JUMP to 1, repeat forever
    path.write_text("\n".join(rows) + "\n")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS")


def gcs(endpoint: str, *args: str) -> None:
    cmd = [sys.executable, "-m", "edgepilot", "gcs", "--connect", endpoint, *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({r.returncode}): {r.stdout}{r.stderr}")


def fit(ts: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares slope (per second) and the residual standard deviation."""
    n = len(ts)
    mt, my = sum(ts) / n, sum(ys) / n
    sxx = sum((t - mt) ** 2 for t in ts)
    slope = sum((t - mt) * (y - my) for t, y in zip(ts, ys)) / sxx if sxx > 0 else 0.0
    resid = [y - (my + slope * (t - mt)) for t, y in zip(ts, ys)]
    sd = math.sqrt(sum(r * r for r in resid) / max(1, n - 2))
    return slope, sd


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30.0, help="wall-clock duration (default 30)")
    ap.add_argument("--speedup", type=float, default=20.0, help="SITL speed-up (default 20)")
    ap.add_argument("--sample", type=float, default=5.0, help="RSS sample period, s (default 5)")
    ap.add_argument("--warmup", type=float, default=0.2, help="fraction of the run ignored at the start")
    args = ap.parse_args()

    port = free_port()
    endpoint = f"tcp:127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        plan = Path(tmp) / "loop.waypoints"
        looping_mission(plan)
        proc = spawn("ugv_yard", mavlink=[f"tcpin:127.0.0.1:{port}"], speedup=args.speedup)
        try:
            gcs(endpoint, "mission", "upload", str(plan))
            # At --speedup 20 on a busy machine a pre-arm check can trip on a
            # late simulated telemetry frame (0.3 s of vehicle time is 15 ms of
            # wall time): retry as an operator would.
            for attempt in range(10):
                try:
                    gcs(endpoint, "arm")
                    break
                except RuntimeError as e:
                    if attempt == 9:
                        raise
                    print(f"arm attempt {attempt + 1}: {e}", file=sys.stderr)
                    time.sleep(1.0)
            gcs(endpoint, "mission", "start")
            link = mavutil.mavlink_connection(endpoint, source_system=250, source_component=190)
            link.wait_heartbeat(timeout=30)
            t0 = time.monotonic()
            end = t0 + args.minutes * 60.0
            samples: list[tuple[float, float]] = []
            next_sample = next_poll = t0
            seen_seq: set[int] = set()
            msgs = 0
            while time.monotonic() < end:
                if proc.poll() is not None:
                    print(f"vehicle process exited with {proc.returncode}", file=sys.stderr)
                    return 1
                now = time.monotonic()
                if now >= next_poll:
                    link.mav.heartbeat_send(mavutil.mavlink.MAV_TYPE_GCS, mavutil.mavlink.MAV_AUTOPILOT_INVALID,
                                            0, 0, 0)
                    link.mav.param_request_list_send(link.target_system, link.target_component)
                    link.mav.mission_request_list_send(link.target_system, link.target_component)
                    next_poll = now + 2.0
                if now >= next_sample:
                    samples.append((now - t0, rss_mib(proc.pid)))
                    next_sample = now + args.sample
                m = link.recv_match(blocking=True, timeout=0.2)
                if m is not None:
                    msgs += 1
                    if m.get_type() == "MISSION_CURRENT":
                        seen_seq.add(int(m.seq))
            link.close()
        finally:
            out = stop(proc)
    if len(samples) < 4:
        print("too few samples", file=sys.stderr)
        return 1
    cut = int(len(samples) * args.warmup)
    ts, ys = zip(*samples[cut:])
    slope, sd = fit(list(ts), list(ys))
    span = ts[-1] - ts[0]
    growth = slope * span
    print(f"soak: {args.minutes:g} min wall at speedup {args.speedup:g}, {len(samples)} RSS samples, "
          f"{msgs} MAVLink messages received, mission items seen current: {sorted(seen_seq)}")
    print(f"RSS first {samples[0][1]:.1f} MiB, after warm-up {ys[0]:.1f} MiB, last {ys[-1]:.1f} MiB, "
          f"max {max(y for _, y in samples):.1f} MiB")
    print(f"slope {slope * 3600:.2f} MiB/h (growth {growth:.2f} MiB over {span / 60:.1f} min), "
          f"residual sd {sd:.2f} MiB")
    flat = abs(growth) <= max(3 * sd, 2.0)
    print("verdict:", "no growth beyond noise" if flat else "MEMORY GROWS")
    if not flat:
        print(out[-2000:])
    return 0 if flat else 1


if __name__ == "__main__":
    sys.exit(main())
