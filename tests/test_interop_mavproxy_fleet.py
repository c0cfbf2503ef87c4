"""Interoperability: unmodified MAVProxy sees a whole edgepilot fleet served
by one `edgepilot sitl run --realtime` process, the way it sees ArduPilot
SITL instances: both vehicles' heartbeats on one UDP link, and a command
after `vehicle 2` changes vehicle 2 only (checked with `edgepilot gcs` on a
second shared UDP output of the same fleet)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from edgepilot.sim.realtime import free_port, spawn, stop

from fleet_rig import write_fleet_scenario
from test_interop_mavproxy import STATE_S, MavProxy

pytestmark = [pytest.mark.interop, pytest.mark.slow]


def fleet_modes(ep: str) -> dict[int, str]:
    r = subprocess.run([sys.executable, "-m", "edgepilot", "gcs", "-c", ep, "fleet", "status", "--json",
                        "--expect", "2", "--wait", "20"], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert r.returncode == 0, r.stderr
    return {v["sysid"]: v["mode"] for v in json.loads(r.stdout)["vehicles"]}


def test_mavproxy_sees_both_vehicles_and_commands_one(tmp_path):
    scenario = write_fleet_scenario(tmp_path)
    to_mavproxy, to_gcs = free_port("udp"), free_port("udp")
    tcp = free_port("tcp")
    proc = spawn(str(scenario), [f"tcpin:127.0.0.1:{tcp}", f"udpout:127.0.0.1:{to_mavproxy}",
                                 f"udpout:127.0.0.1:{to_gcs}"], 2.0)
    mp = None
    try:
        mp = MavProxy(f"udpin:127.0.0.1:{to_mavproxy}", tmp_path)
        seen = set()
        deadline = time.monotonic() + STATE_S
        while seen != {1, 2} and time.monotonic() < deadline:
            line = mp.expect(r"Detected vehicle (\d+):1 on link 0", max(0.1, deadline - time.monotonic()))
            seen.add(int(line.split("Detected vehicle ")[1].split(":")[0]))
        assert seen == {1, 2}
        assert fleet_modes(f"udpin:127.0.0.1:{to_gcs}") == {1: "HOLD", 2: "HOLD"}
        mp.send("vehicle 2")
        mp.send("mode MANUAL")
        deadline = time.monotonic() + STATE_S
        modes = {}
        while time.monotonic() < deadline:
            modes = fleet_modes(f"udpin:127.0.0.1:{to_gcs}")
            if modes.get(2) == "MANUAL":
                break
        assert modes == {1: "HOLD", 2: "MANUAL"}
    finally:
        if mp is not None:
            mp.close()
        print(stop(proc))
