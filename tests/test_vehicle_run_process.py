"""`edgepilot vehicle run` as a real process on pseudo-terminals: start-up
report, driving, device unplug/re-plug (reported, reconnected, held still),
SIGTERM (motors stopped first), and bad configs."""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgepilot.firmware_bridge.motor import DeviceState, Setpoint
from edgepilot.sim.hil import HilGroundStation, HilHardware, _mavlink_client_url
from edgepilot.sim.scenario import load_scenario
from edgepilot.sim.simulation import Simulation
from tests.conftest import REPO
from tests.hw_util import hil_config
from edgepilot.vehicle.config import load_vehicle_config
from edgepilot.vehicle.maps import save_map_server

pytestmark = pytest.mark.interop


class VehicleProcess:
    def __init__(self, tmp_path, lidar=False):
        self.cfg_path = hil_config(tmp_path, lidar=lidar)
        self.hw = load_vehicle_config(self.cfg_path).hardware
        self.sc = load_scenario("ugv_hil_short")
        self.sim = Simulation(self.sc)
        self.dev = HilHardware(self.sim, self.hw)
        map_yaml = save_map_server(self.sim.world.prior_map(), tmp_path / "site.yaml")
        env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
        lat, lon = self.sc.world.origin
        self.proc = subprocess.Popen([sys.executable, "-m", "edgepilot", "vehicle", "run", "--config",
                                      str(self.cfg_path), "--map", str(map_yaml), "--origin", f"{lat},{lon}"],
                                     cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.out = b""
        self.t0 = time.monotonic()

    def now(self):
        return time.monotonic() - self.t0

    def pump(self, cond, timeout, gcs=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.dev.step(self.now())
            try:
                self.out += os.read(self.proc.stdout.fileno(), 65536)
            except BlockingIOError:
                pass
            if gcs is not None:
                gcs.drain()
            if cond():
                return True
            select.select(self.dev.fds() + [self.proc.stdout.fileno()], [], [], 0.005)
        return False

    @property
    def text(self):
        return self.out.decode("utf-8", "replace")

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.proc.stdout.close()
        self.dev.close()


@pytest.mark.timeout(120)
def test_vehicle_run_drives_holds_on_unplug_and_stops_motors_on_sigterm(tmp_path):
    vp = VehicleProcess(tmp_path)
    gcs = None
    try:
        assert vp.pump(lambda: "first control tick" in vp.text, 30), vp.text
        for needle in ("driver          motor controller", "driver          gps", "kernel cache    ",
                       "first tick      "):
            assert needle in vp.text
        assert "MISSING" not in vp.text
        assert (Path(vp.hw.log_dir) / "startup.json").exists()

        gcs = HilGroundStation(_mavlink_client_url(vp.hw.mavlink[0]), timeout=20)
        gcs.upload_mission(vp.sim.mission_items())
        from pymavlink import mavutil

        assert vp.pump(lambda: gcs.command(mavutil.mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 1, timeout=0.3) == 0, 20)
        assert gcs.command(mavutil.mavlink.MAV_CMD_DO_SET_MODE, 1, 10, timeout=2) == 0
        # The vehicle drives: the board applies non-zero setpoints and the vehicle moves.
        x0 = vp.sim.truth.x
        assert vp.pump(lambda: vp.sim.truth.x > x0 + 1.0, 15, gcs), (gcs.texts, vp.dev.motor.applied, vp.text)
        assert vp.dev.motor.applied != Setpoint(0.0, 0.0)

        # Unplug the GPS: reported, vehicle put in HOLD and held still.
        vp.dev.gps_pty.unplug()
        assert vp.pump(lambda: "gps: disconnected" in vp.text and "holding" in vp.text, 10, gcs), vp.text
        assert vp.pump(lambda: vp.sim.truth.speed < 0.05, 5, gcs)
        assert any("holding" in t for t in gcs.texts)        # operators hear about it over MAVLink
        vp.dev.gps_pty.plug()
        assert vp.pump(lambda: "gps: reconnected" in vp.text and "all required devices back" in vp.text, 10, gcs)
        # Still holding after the device came back: an operator resumes, not the vehicle.
        x_hold = vp.sim.truth.x
        vp.pump(lambda: False, 1.0, gcs)
        assert abs(vp.sim.truth.x - x_hold) < 0.05
        assert vp.dev.motor.applied == Setpoint(0.0, 0.0) and vp.dev.motor.state == DeviceState.RUNNING

        # Unplug the motor board: reported and reconnected (CONFIG sent again).
        configs = vp.dev.motor.configs
        vp.dev.motor_pty.unplug()
        assert vp.pump(lambda: "motor controller: disconnected" in vp.text, 10, gcs)
        vp.dev.motor_pty.plug()
        assert vp.pump(lambda: "motor controller: reconnected" in vp.text and vp.dev.motor.configs > configs, 10, gcs)

        # Resume the mission and drive again, then SIGTERM while moving.
        assert gcs.command(mavutil.mavlink.MAV_CMD_DO_SET_MODE, 1, 10, timeout=2) == 0
        assert vp.pump(lambda: vp.dev.motor.applied != Setpoint(0.0, 0.0), 10, gcs)
        vp.proc.send_signal(signal.SIGTERM)
        assert vp.pump(lambda: vp.proc.poll() is not None, 15)
        vp.dev.step(vp.now())
        assert vp.proc.returncode == 0
        # Motors stopped by an explicit zero setpoint on the way out, not only by the board's watchdog.
        assert vp.dev.motor.applied == Setpoint(0.0, 0.0)
        assert vp.dev.motor.last_setpoint == Setpoint(0.0, 0.0)
        assert "motors commanded to zero" in vp.text
    finally:
        if gcs is not None:
            gcs.close()
        vp.close()


# Usage errors go through the command's own entry point in this process:
# a refusal before anything is opened needs no child process of its own
# (test_exitcodes.py checks the exit code of a real process).
def _vehicle_run(capsys, *args: str) -> tuple[int, str]:
    from edgepilot.cli import main

    rc = main(["vehicle", "run", *args])
    return rc, capsys.readouterr().err


def test_vehicle_run_without_hardware_table_is_a_usage_error(capsys):
    rc, err = _vehicle_run(capsys, "--config", str(REPO / "configs/vehicles/ugv.toml"))
    assert rc == 2
    assert "needs a [hardware] table" in err


def test_vehicle_run_names_the_bad_field(tmp_path, capsys):
    cfg = tmp_path / "v.toml"
    cfg.write_text((REPO / "configs/vehicles/ugv_hardware.toml").read_text().replace('wiring = "direct"',
                                                                                     'wiring = "companion"'))
    rc, err = _vehicle_run(capsys, "--config", str(cfg))
    assert rc == 2
    assert "hardware" in err and "companion" in err
    rc, err = _vehicle_run(capsys, "--config", str(REPO / "configs/vehicles/ugv_hardware.toml"), "--origin", "95,8")
    assert rc == 2 and "--origin" in err
