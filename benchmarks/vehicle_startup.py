"""The onboard process's start-up, memory and control-loop jitter.

Measures ``edgepilot vehicle run`` (50 Hz control, warm kernel cache) against
the simulator playing its hardware on ptys (sim/hil/hardware.py):

1. time from process start to the first control tick (target < 1 s), as
   reported by the process (its age from /proc at the tick) and as seen by
   the parent (spawn to the ready line);
2. resident memory of the running process (target < 300 MB);
3. control-period jitter at 50 Hz under CPU load (target p99 < 5 ms): the
   arrival times of SETPOINT frames at the emulated motor board, with a
   busy-loop process competing for the CPU.  Measured after start-up is
   over (the kernels have loaded in the background and 0.5 s passed), p50,
   p99 and max of |period - 20 ms|.  The vehicle's own view of its loop
   (lateness behind the deadline, jitter, work per tick; printed by the
   process when it stops) is shown below the table.

Peers, run interleaved on the same machine: a bare Python process that
imports the same third-party stack (numpy, numba, cv2, pymavlink, pyserial,
pydantic) for start-up and memory, and a bare ``time.sleep``-paced 50 Hz loop
(absolute deadlines) that writes a SETPOINT frame to the same emulated motor
board each tick, so both are measured the same way, through a pty.
Run by hand: ``PYTHONPATH=. python benchmarks/vehicle_startup.py [SECONDS] [--before DIR]``
(``--before``: an older build's checkout, run interleaved for a before/after table).
"""
from __future__ import annotations

import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgepilot.firmware_bridge.motor import FrameDecoder, Setpoint, encode_frame  # noqa: E402
from edgepilot.sim.hil import HilHardware  # noqa: E402
from edgepilot.sim.scenario import load_scenario  # noqa: E402
from edgepilot.sim.simulation import Simulation  # noqa: E402
from edgepilot.vehicle.config import load_vehicle_config  # noqa: E402
from edgepilot.vehicle.maps import save_map_server  # noqa: E402

PEER_IMPORTS = "import numpy, numba, cv2, pymavlink.mavutil, serial, pydantic"
PEER_LOOP = """
import os, sys, time
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_NOCTTY)
frame = bytes.fromhex(sys.argv[3])
period = 0.02; t = time.monotonic()
for _ in range(int(sys.argv[1])):
    t += period
    d = t - time.monotonic()
    if d > 0: time.sleep(d)
    os.write(fd, frame)
"""
BUSY = "import time\nwhile True: sum(range(10000))"
#: Settling time after start-up before jitter is measured [s].
SETTLE_S = 0.5


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


#: The scenario each vehicle kind starts in (its map and origin).
SCENARIOS = {"ugv": "ugv_hil_short", "usv": "usv_harbor"}


def make_config(tmp: Path, root: Path = ROOT, kind: str = "ugv") -> Path:
    """The HIL vehicle file at 50 Hz control.  For the USV: the shipped boat
    (usv.toml) with the same [hardware] tables as the UGV's HIL file."""
    import re
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    text = (root / "configs/vehicles/ugv_hil.toml").read_text()
    if kind == "usv":
        hardware = text[text.index("[hardware]"):]
        text = (root / "configs/vehicles/usv.toml").read_text().rstrip() + "\n\n" + hardware
    text = text.replace("/tmp/edgepilot-hil", str(tmp)).replace("tcpin:127.0.0.1:5790", f"tcpin:127.0.0.1:{port}")
    text = re.sub(r"(\[control\]\n(?:[^\[]*?\n)?)rate_hz = \d+", r"\g<1>rate_hz = 50", text, count=1)
    p = tmp / "bench.toml"
    p.write_text(text)
    cfg = load_vehicle_config(p)
    assert cfg.control.rate_hz == 50 and cfg.kind == kind, (cfg.control.rate_hz, cfg.kind)
    return p


def run_ours(tmp: Path, seconds: float, root: Path = ROOT, kind: str = "ugv") -> dict:
    """``edgepilot vehicle run`` from the checkout at ``root`` (ours, or an
    older build given with --before)."""
    cfg = make_config(tmp, root, kind)
    sc = load_scenario(SCENARIOS[kind])
    sim = Simulation(sc)
    dev = HilHardware(sim, load_vehicle_config(cfg).hardware)
    map_yaml = save_map_server(sim.world.prior_map(), tmp / "site.yaml")
    env = dict(os.environ, PYTHONPATH=str(root), PYTHONUNBUFFERED="1")
    lat, lon = sc.world.origin
    t_spawn = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "edgepilot", "vehicle", "run", "--config", str(cfg), "--map",
                             str(map_yaml), "--origin", f"{lat},{lon}"], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    os.set_blocking(proc.stdout.fileno(), False)
    out = b""
    ready_wall = None
    reported = None
    arrivals = []
    t0 = time.monotonic()
    stamp_setpoints(dev, arrivals)
    rss = float("nan")
    warm_at = None
    try:
        deadline = None
        while True:
            now = time.monotonic()
            dev.step(now - t0)
            try:
                out += os.read(proc.stdout.fileno(), 65536)
            except BlockingIOError:
                pass
            if ready_wall is None and b"first control tick after" in out:
                ready_wall = now - t_spawn
                line = out.split(b"first control tick after ")[1].split(b" s")[0]
                reported = float(line)
            if ready_wall is not None and warm_at is None and b"kernels ready" in out:
                warm_at = now
            if warm_at is not None and deadline is None and now >= warm_at + SETTLE_S:
                deadline = now + seconds
                arrivals.clear()
            if deadline is not None and now >= deadline:
                rss = rss_mb(proc.pid)
                break
            if proc.poll() is not None:
                raise RuntimeError("vehicle process exited:\n" + out.decode(errors="replace"))
            if now - t_spawn > 60:
                raise RuntimeError("vehicle process did not start:\n" + out.decode(errors="replace"))
            select.select(dev.fds() + [proc.stdout.fileno()], [], [], 0.001)
    finally:
        proc.terminate()
        proc.wait(10)
        dev.close()
    os.set_blocking(proc.stdout.fileno(), True)
    out += proc.stdout.read()
    loop_line = next((ln for ln in out.decode(errors="replace").splitlines() if "edgepilot vehicle: loop:" in ln), "")
    return {"first_tick_reported_s": reported, "first_tick_wall_s": ready_wall, "rss_mb": rss,
            "periods": np.diff(np.array(arrivals)), "loop": loop_line.replace("edgepilot vehicle: ", "")}


def stamp_setpoints(dev: HilHardware, arrivals: list) -> None:
    """Wrap the emulated board's read so every SETPOINT frame is stamped on arrival."""
    sniff = FrameDecoder()
    orig_read = dev.motor_pty.read

    def read_and_stamp(n=65536):
        data = orig_read(n)
        if data:
            now = time.monotonic()
            for _, m in sniff.feed(data):
                if isinstance(m, Setpoint):
                    arrivals.append(now)
        return data

    dev.motor_pty.read = read_and_stamp


def run_peer_loop(tmp: Path, seconds: float) -> np.ndarray:
    """The bare 50 Hz loop writing SETPOINT frames to the HIL motor pty,
    stamped by the same read loop as ours (0.5 s of settling dropped)."""
    cfg = make_config(tmp)
    sim = Simulation(load_scenario("ugv_hil_short"))
    dev = HilHardware(sim, load_vehicle_config(cfg).hardware)
    arrivals: list[float] = []
    stamp_setpoints(dev, arrivals)
    frame = encode_frame(Setpoint(0.0, 0.0), 0).hex()
    n = int((seconds + SETTLE_S) * 50)
    p = subprocess.Popen([sys.executable, "-c", PEER_LOOP, str(n), dev.motor_pty.path, frame])
    t0 = time.monotonic()
    try:
        while p.poll() is None:
            dev.step(time.monotonic() - t0)
            select.select(dev.fds(), [], [], 0.001)
        dev.step(time.monotonic() - t0)
    finally:
        if p.poll() is None:
            p.kill()
        p.wait(10)
        dev.close()
    a = np.array(arrivals)
    return np.diff(a[a >= a[0] + SETTLE_S]) if len(a) else a


def run_peer(seconds: float) -> dict:
    t = time.monotonic()
    p = subprocess.Popen([sys.executable, "-c", PEER_IMPORTS + "\nimport sys; print('ready', flush=True)\n"
                          "sys.stdin.readline()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    p.stdout.readline()
    start = time.monotonic() - t
    rss = rss_mb(p.pid)
    p.stdin.write("\n")
    p.stdin.flush()
    p.wait(10)
    with tempfile.TemporaryDirectory(prefix="ep-bench-peer-") as d:
        periods = run_peer_loop(Path(d), seconds)
    return {"start_s": start, "rss_mb": rss, "periods": periods}


def jitter_ms(periods: np.ndarray) -> tuple[float, float, float]:
    """p50, p99 and max of |period - 20 ms| [ms]."""
    if len(periods) == 0:
        return float("nan"), float("nan"), float("nan")
    dev = np.abs(periods - 0.02) * 1000
    return float(np.percentile(dev, 50)), float(np.percentile(dev, 99)), float(dev.max())


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("seconds", nargs="?", type=float, default=10.0, help="jitter measurement per run [s]")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--vehicle", choices=sorted(SCENARIOS), default="ugv",
                    help="which vehicle starts: the UGV (ugv_hil_short) or the USV (usv_harbor)")
    ap.add_argument("--before", type=Path, default=None,
                    help="a checkout of an older build (e.g. `git archive REV | tar -x -C DIR`): its vehicle "
                         "process runs interleaved with ours, for a before/after comparison under the same load")
    args = ap.parse_args()
    seconds = args.seconds
    roots = [("before", args.before.resolve())] if args.before else []
    roots.append(("ours", ROOT))
    # Warm the kernel caches first: the target is for a warm cache.
    for _, root in roots:
        subprocess.run([sys.executable, "-m", "edgepilot", "warm"], cwd=root,
                       env=dict(os.environ, PYTHONPATH=str(root)), check=True, capture_output=True)
    busy = subprocess.Popen([sys.executable, "-c", BUSY])
    try:
        rows = []
        for _ in range(args.runs):          # interleaved: peer, (before,) ours, peer, (before,) ours
            peer = run_peer(seconds)
            res = {}
            for name, root in roots:
                with tempfile.TemporaryDirectory(prefix="ep-bench-") as d:
                    res[name] = run_ours(Path(d), seconds, root, args.vehicle)
            rows.append((peer, res))
    finally:
        busy.kill()
        busy.wait()
    names = [n for n, _ in roots]
    print(f"edgepilot vehicle run ({args.vehicle}), 50 Hz control, warm kernel cache, one busy-loop process competing; "
          f"{seconds:g} s per run, {args.runs} runs each" + (f"; before = {args.before}" if args.before else "") + "\n")
    head = f"{'metric':44s} {'peer':>10s}" + "".join(f" {n:>10s}" for n in names)
    print(head + "".join(f" {n + '/peer':>12s}" for n in names) + "  target")

    def row(label, pv, vals, fmt, target=""):
        line = f"  {label:42s} {pv:{fmt}}" + "".join(f" {v:{fmt}}" for v in vals)
        line += "".join(f" {v / max(pv, 1e-3):12.2f}" for v in vals)
        print(line + (f"  {target}" if target else ""))

    for i, (peer, res) in enumerate(rows):
        rs = [res[n] for n in names]
        pj = jitter_ms(peer["periods"])
        oj = [jitter_ms(r["periods"]) for r in rs]
        print(f"run {i + 1}")
        row("start -> first control tick [s]", peer["start_s"], [r["first_tick_reported_s"] for r in rs], "10.3f",
            "< 1 s")
        row("resident memory [MB]", peer["rss_mb"], [r["rss_mb"] for r in rs], "10.1f", "< 300 MB")
        row("50 Hz period jitter p50 [ms]", pj[0], [o[0] for o in oj], "10.2f")
        row("50 Hz period jitter p99 [ms]", pj[1], [o[1] for o in oj], "10.2f", "< 5 ms")
        row("50 Hz period jitter max [ms]", pj[2], [o[2] for o in oj], "10.2f")
        print(f"  {'periods measured':42s} {len(peer['periods']):10d}" + "".join(f" {len(r['periods']):10d}" for r in rs))
    for i, (_, res) in enumerate(rows):
        for n in names:
            print(f"run {i + 1}, {n}: the vehicle's own {res[n]['loop'] or 'loop: (no loop report from this build)'}")


if __name__ == "__main__":
    main()
