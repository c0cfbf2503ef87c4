"""Interoperability: unmodified MAVProxy (from PyPI, driven headless through
its stdin) flies ``edgepilot sitl run --realtime`` — UGV and USV: loads a
waypoint file, arms, switches to AUTO and sees the mission completed."""
from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from edgepilot.sim.realtime import free_port, spawn, stop
from edgepilot.sim.scenario import load_scenario
from edgepilot.vehicle.geo import LocalFrame

pytestmark = [pytest.mark.interop, pytest.mark.slow]

MAVPROXY = Path(sys.executable).with_name("mavproxy.py")
#: The SITL's clock rate; EDGEPILOT_INTEROP_SPEEDUP picks another to
#: reproduce a timing-dependent failure (slower pacing is harsher on the helm).
SPEEDUP = float(os.environ.get("EDGEPILOT_INTEROP_SPEEDUP", "10"))
#: Each step waits for the vehicle's reported state (what MAVProxy prints from
#: its messages), never a fixed time; these deadlines only end a hung run.
#: Generous: on a loaded CI machine the real-time SITL falls behind its
#: speedup, and a mission that takes 5 s of wall time idle can take ten times that.
STATE_S = 60.0
MISSION_S = 300.0

#: Short legs from each scenario's start, in map metres (clear of obstacles).
LEGS = {
    "ugv_yard": [(4.0, 9.0), (6.0, 13.0)],
    "usv_harbor": [(58.0, 45.0), (72.0, 52.0)],
}


def waypoint_file(scenario: str, path: Path) -> int:
    sc = load_scenario(scenario)
    f = LocalFrame(*sc.world.origin)
    hlat, hlon = f.to_geo(sc.start.x, sc.start.y)
    lines = ["QGC WPL 110", f"0\t1\t0\t16\t0\t0\t0\t0\t{hlat:.8f}\t{hlon:.8f}\t0\t1"]
    for i, (x, y) in enumerate(LEGS[scenario], 1):
        lat, lon = f.to_geo(x, y)
        lines.append(f"{i}\t0\t3\t16\t0\t0\t0\t0\t{lat:.8f}\t{lon:.8f}\t0\t1")
    path.write_text("\n".join(lines) + "\n")
    return len(LEGS[scenario]) + 1


class MavProxy:
    """MAVProxy as a subprocess: commands on stdin, output lines collected."""

    def __init__(self, master: str, workdir: Path):
        self.p = subprocess.Popen(
            [sys.executable, str(MAVPROXY), "--master", master, "--source-system", "255",
             "--state-basedir", str(workdir), "--default-modules", "log,wp,param,arm,mode,cmdlong,misc,signing,ftp"],
            cwd=str(workdir), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, bufsize=1, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.lines: list[str] = []
        self.q: queue.Queue = queue.Queue()
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        for line in self.p.stdout:
            self.q.put(line.rstrip("\n"))

    def send(self, cmd: str) -> None:
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()

    def expect(self, pattern: str, timeout: float) -> str:
        rx = re.compile(pattern)
        for line in self.lines:
            if rx.search(line):
                self.lines.remove(line)
                return line
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.q.get(timeout=0.1)
            except queue.Empty:
                if self.p.poll() is not None:
                    break
                continue
            if rx.search(line):
                return line
            self.lines.append(line)
        tail = "\n".join(self.lines[-30:])
        raise AssertionError(f"MAVProxy never printed /{pattern}/ within {timeout:g} s; last output:\n{tail}")

    def close(self):
        if self.p.poll() is None:
            try:
                self.send("exit")
                self.p.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.p.kill()
                self.p.wait(5)


@pytest.mark.parametrize("scenario", ["ugv_yard", "usv_harbor"])
def test_mavproxy_uploads_arms_and_completes_mission(scenario, tmp_path):
    port = free_port()
    n = waypoint_file(scenario, tmp_path / "mission.txt")
    sitl = spawn(scenario, [f"tcpin:127.0.0.1:{port}"], SPEEDUP)
    mp = None
    try:
        mp = MavProxy(f"tcp:127.0.0.1:{port}", tmp_path)
        mp.expect(r"Received \d+ parameters", STATE_S)
        mp.expect(r"HOLD>|Mode HOLD|HOLD", STATE_S)
        mp.send(f"wp load {tmp_path / 'mission.txt'}")
        mp.expect(r"Got MISSION_ACK: TYPE_MISSION: ACCEPTED", STATE_S)
        mp.send("wp list")
        mp.expect(rf"Saved {n} waypoints", STATE_S)
        mp.send("arm throttle")
        mp.expect(r"ARMED", STATE_S)
        mp.send("mode AUTO")
        mp.expect(r"Mode AUTO|AUTO>", STATE_S)
        mp.expect(r"Mission complete", MISSION_S)
        mp.expect(r"Mode HOLD|HOLD>", STATE_S)
        mp.send("disarm")
        mp.expect(r"DISARMED", STATE_S)
    finally:
        if mp is not None:
            mp.close()
        stop(sitl)
