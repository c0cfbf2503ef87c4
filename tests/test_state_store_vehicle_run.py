"""Durable state in ``edgepilot vehicle run`` (the onboard process on
pseudo-terminal hardware): the ``[hardware]`` table's ``state_dir`` keeps
mission, fence and parameters across a SIGKILL; ``--state-dir`` points a
restart at the same folder."""
from __future__ import annotations

import os
import select
import subprocess
import sys
import time

import pytest

from edgepilot.gcs.mav import mavutil
from edgepilot.sim.hil import HilHardware
from edgepilot.sim.scenario import load_scenario
from edgepilot.sim.simulation import Simulation
from test_fence_mavlink import FENCE, MISSION, Client, circle, polygon, waypoint
from tests.conftest import REPO
from tests.hw_util import hil_config
from edgepilot.vehicle.config import load_vehicle_config

pytestmark = pytest.mark.interop

M = mavutil.mavlink


class Onboard:
    """``edgepilot vehicle run`` on the simulator's pty hardware, stepped
    from a background thread so MAVLink calls can block meanwhile."""

    def __init__(self, cfg_path, extra=()):
        import threading

        hw = load_vehicle_config(cfg_path).hardware
        self.sim = Simulation(load_scenario("ugv_hil_short"))
        self.dev = HilHardware(self.sim, hw)
        self.endpoint = hw.mavlink[0].replace("tcpin:", "tcp:")
        lat, lon = self.sim.scenario.world.origin
        env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "edgepilot", "vehicle", "run", "--config", str(cfg_path),
                                      "--origin", f"{lat},{lon}", "--no-warm", *extra],
                                     cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._stop = threading.Event()
        self._t0 = time.monotonic()
        threading.Thread(target=self._read, daemon=True).start()
        self._hw = threading.Thread(target=self._step, daemon=True)
        self._hw.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def _step(self):
        while not self._stop.is_set():
            self.dev.step(time.monotonic() - self._t0)
            select.select(self.dev.fds(), [], [], 0.005)

    def wait_line(self, prefix: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hit = next((l for l in self.lines if l.startswith(prefix)), None)
            if hit is not None:
                return hit
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no line starting {prefix!r}:\n" + "\n".join(self.lines))

    def close(self, kill: bool = False):
        if self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
        self.proc.wait(15)
        self._stop.set()
        self._hw.join(5)
        self.dev.close()


def test_vehicle_run_state_dir_survives_kill_9(tmp_path):
    state = tmp_path / "state"
    cfg = hil_config(tmp_path)
    text = cfg.read_text()
    assert "\n[hardware]\n" in text
    cfg.write_text(text.replace("\n[hardware]\n", f'\n[hardware]\nstate_dir = "{state}"\n', 1))
    ob = Onboard(cfg)
    try:
        assert ob.wait_line("state dir ") == f"state dir {state}: restored nothing saved yet"
        ob.wait_line("edgepilot vehicle: first control tick")
        c = Client(ob.endpoint)
        mission = [waypoint(0, 0, M.MAV_FRAME_GLOBAL), waypoint(3, 1), waypoint(6, 2)]
        fence = polygon([(-20, -20), (40, -20), (40, 30), (-20, 30)]) + [circle(10, 10, 1.5, inclusion=False)]
        assert c.upload(mission, MISSION).type == M.MAV_MISSION_ACCEPTED
        assert c.upload(fence, FENCE).type == M.MAV_MISSION_ACCEPTED
        assert abs(c.param_set("WP_RADIUS", 0.8) - 0.8) < 1e-6
        sent_mission = [(m.command, m.x, m.y) for m in c.download(MISSION)][1:]    # item 0 is home
        sent_fence = [(m.command, m.param1, m.x, m.y) for m in c.download(FENCE)]
        c.close()
    finally:
        ob.close(kill=True)
    assert sorted(p.name for p in state.iterdir() if not p.name.startswith(".")) == [
        "events.jsonl", "fence.json", "home.json", "mission.json", "params.parm"]

    cfg.write_text(text)                     # no state_dir in the config: the flag names the folder
    ob = Onboard(cfg, ["--state-dir", str(state)])
    try:
        assert ob.wait_line("state dir ").startswith(f"state dir {state}: restored mission (3 items), fence (5 items)")
        c = Client(ob.endpoint)
        assert [(m.command, m.x, m.y) for m in c.download(MISSION)][1:] == sent_mission
        assert [(m.command, m.param1, m.x, m.y) for m in c.download(FENCE)] == sent_fence
        c.c.mav.param_request_read_send(*c.target, b"WP_RADIUS", -1)
        pv = c.recv("PARAM_VALUE", lambda m: m.param_id == "WP_RADIUS")
        assert pv is not None and abs(pv.param_value - 0.8) < 1e-6
        c.close()
    finally:
        ob.close()
    assert ob.proc.returncode == 0
