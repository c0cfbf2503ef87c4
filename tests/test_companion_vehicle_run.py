"""Companion wiring end to end: an unmodified ``edgepilot sitl run --realtime``
plays an ArduPilot Rover autopilot; ``edgepilot vehicle run`` with
``wiring = "companion"`` steers it; a pymavlink ground station connected to
the *vehicle run* process uploads a mission, arms and starts it.  The
simulated vehicle — as the SITL's own telemetry reports it — reaches the
waypoints; then the autopilot goes away (the vehicle holds) and comes back
(the link reconnects)."""
from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pymavlink import mavutil

from edgepilot.sim.hil import HilGroundStation
from edgepilot.sim.realtime import free_port, spawn, stop
from edgepilot.sim.scenario import load_scenario
from tests.conftest import REPO
from edgepilot.vehicle.geo import LocalFrame
from edgepilot.vehicle.types import Cmd, MissionItem

pytestmark = [pytest.mark.interop, pytest.mark.slow]

SPEEDUP = 2.0
M = mavutil.mavlink


def companion_config(tmp_path: Path, autopilot_port: int, gcs_port: int) -> Path:
    text = (REPO / "configs/vehicles/ugv_companion.toml").read_text()
    text = text.replace('autopilot = "/dev/ttyAMA0,921600"', f'autopilot = "tcp:127.0.0.1:{autopilot_port}"')
    text = text.replace('mavlink = ["udpout:192.168.1.10:14550", "tcpin:0.0.0.0:5770"]',
                        f'mavlink = ["tcpin:127.0.0.1:{gcs_port}"]')
    text = text.replace('log_dir = "/var/log/edgepilot"', f'log_dir = "{tmp_path}/logs"')
    assert f"tcp:127.0.0.1:{autopilot_port}" in text and f"tcpin:127.0.0.1:{gcs_port}" in text
    p = tmp_path / "companion.toml"
    p.write_text(text)
    return p


class Proc:
    """A subprocess whose combined output is collected without blocking."""

    def __init__(self, args):
        env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
        self.p = subprocess.Popen([sys.executable, "-m", "edgepilot", *args], cwd=REPO, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        os.set_blocking(self.p.stdout.fileno(), False)
        self.out = b""

    def pump(self) -> str:
        try:
            self.out += os.read(self.p.stdout.fileno(), 65536)
        except BlockingIOError:
            pass
        return self.out.decode("utf-8", "replace")

    def close(self) -> str:
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        os.set_blocking(self.p.stdout.fileno(), True)
        self.out += self.p.stdout.read()
        self.p.stdout.close()
        return self.out.decode("utf-8", "replace")


class Observer:
    """Reads the SITL autopilot's own GLOBAL_POSITION_INT on its second
    endpoint (it never sends, so the autopilot sees no extra ground station)."""

    def __init__(self, port: int):
        self.m = mavutil.mavlink_connection(f"tcp:127.0.0.1:{port}", source_system=250)
        self.pos: tuple[float, float] | None = None
        self.mode: int | None = None

    def drain(self) -> None:
        while True:
            msg = self.m.recv_match(blocking=False)
            if msg is None:
                return
            if msg.get_type() == "GLOBAL_POSITION_INT":
                self.pos = (msg.lat * 1e-7, msg.lon * 1e-7)
            elif msg.get_type() == "HEARTBEAT" and msg.autopilot != M.MAV_AUTOPILOT_INVALID:
                self.mode = msg.custom_mode


def wait_for(cond, timeout, pump, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pump()
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"{what} not reached within {timeout:g} s")


@pytest.mark.timeout(150)
def test_vehicle_run_steers_an_autopilot_through_a_mission_and_survives_link_loss(tmp_path):
    ap_port, obs_port, gcs_port = free_port(), free_port(), free_port()
    sitl_args = ("ugv_yard", [f"tcpin:127.0.0.1:{ap_port}", f"tcpin:127.0.0.1:{obs_port}"], SPEEDUP)
    sitl = spawn(*sitl_args)
    veh = obs = gcs = None
    try:
        veh = Proc(["vehicle", "run", "--config", str(companion_config(tmp_path, ap_port, gcs_port))])
        obs = Observer(obs_port)

        def pump():
            veh.pump()
            if obs_live:
                obs.drain()
            if gcs is not None:
                gcs.drain()
                if time.monotonic() >= beat[0]:
                    beat[0] = time.monotonic() + 0.5
                    gcs.heartbeat()

        beat = [0.0]
        obs_live = [1]
        wait_for(lambda: "first control tick" in veh.out.decode(errors="replace"), 30, pump,
                 "the vehicle process's first tick")
        text = veh.pump()
        assert "wiring companion" in text and "driver          autopilot" in text
        assert "autopilot: connected (ArduPilot, sysid 1)" in text, text

        # The mission, in the SITL world's frame: two legs in the open west of the yard.
        sc = load_scenario("ugv_yard")
        frame = LocalFrame(*sc.world.origin)
        wps = [frame.to_geo(4.0, 9.0), frame.to_geo(8.0, 12.0)]
        wait_for(lambda: obs.pos is not None, 10, pump, "SITL position")
        home = obs.pos
        items = [MissionItem(0, int(Cmd.NAV_WAYPOINT), home[0], home[1], frame=0)]
        items += [MissionItem(i + 1, int(Cmd.NAV_WAYPOINT), lat, lon) for i, (lat, lon) in enumerate(wps)]

        gcs = HilGroundStation(f"tcp:127.0.0.1:{gcs_port}", timeout=20)
        gcs.upload_mission(items)
        armed = []
        wait_for(lambda: armed or (gcs.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1, timeout=0.5) == 0
                                   and not armed.append(1)), 20, pump, "arming the vehicle process")
        assert gcs.command(M.MAV_CMD_DO_SET_MODE, 1, 10, timeout=2) == 0

        # The autopilot was switched to GUIDED (15) by the companion and drives.
        wait_for(lambda: obs.mode == 15, 10, pump, "autopilot in GUIDED")
        best = [math.inf, math.inf]

        def track():
            pump()
            if obs.pos is not None:
                for i, (lat, lon) in enumerate(wps):
                    x, y = frame.to_local(*obs.pos)
                    wx, wy = frame.to_local(lat, lon)
                    best[i] = min(best[i], math.hypot(x - wx, y - wy))

        wait_for(lambda: {1, 2} <= gcs.reached, 60, track, "MISSION_ITEM_REACHED 1 and 2 from the vehicle process")
        # As the autopilot itself reports it, the vehicle went to each waypoint.
        assert best[0] < 1.2 and best[1] < 1.2, best
        assert "Mission complete" in " ".join(gcs.texts) or gcs.wait({"STATUSTEXT"},
                                                                      lambda m: "Mission complete" in m.text, 5)

        # Link loss: the autopilot goes away -> reported, the vehicle holds.
        obs_live.clear()
        stop(sitl)
        wait_for(lambda: "autopilot: disconnected" in veh.pump() and "holding" in veh.pump(), 10, pump,
                 "link loss reported")
        assert any("holding" in t for t in gcs.texts)
        # It comes back on the same port: the companion link reconnects by itself.
        sitl = spawn(*sitl_args)
        wait_for(lambda: "autopilot: reconnected" in veh.pump(), 20, pump, "reconnection")
        assert veh.p.poll() is None
    finally:
        if gcs is not None:
            gcs.close()
        if obs is not None:
            obs.m.close()
        out = veh.close() if veh is not None else ""
        stop(sitl)
    assert "setpoints" in out and "autopilot_connections 2" in out, out[-2000:]
