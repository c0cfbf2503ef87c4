"""Containment in ``edgepilot vehicle run`` (issue 13, item 1): a driver that
raises while the vehicle drives does not end the process.  The motors get a
zero setpoint, the vehicle goes to HOLD, the operator hears a CRITICAL
STATUSTEXT over MAVLink and can still command it; the count is in the exit
summary.  Real subprocess, real ptys (the HIL rig of
test_vehicle_run_process), the fault switched on by a test hook around the
same CLI entry point."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from edgepilot.firmware_bridge.motor import Setpoint
from edgepilot.sim.hil import HilGroundStation, _mavlink_client_url
from tests.conftest import REPO
from tests.test_vehicle_run_process import VehicleProcess

HOOK = textwrap.dedent("""
    import os, sys
    from edgepilot.onboard.drivers import DirectDrivers
    real = DirectDrivers.frame
    FLAG = os.environ["EDGEPILOT_TEST_FAULT_FLAG"]
    def frame(self, now):
        if os.path.exists(FLAG):
            raise RuntimeError("injected driver fault")
        return real(self, now)
    DirectDrivers.frame = frame
    from edgepilot.cli import main
    sys.exit(main(sys.argv[1:]))
""")


class HookedVehicleProcess(VehicleProcess):
    def __init__(self, tmp_path):
        self.flag = tmp_path / "fault.flag"
        real_popen = subprocess.Popen

        def popen(cmd, **kw):
            assert cmd[1:3] == ["-m", "edgepilot"]
            kw["env"] = dict(kw["env"], EDGEPILOT_TEST_FAULT_FLAG=str(self.flag))
            return real_popen([cmd[0], "-c", HOOK] + cmd[3:], **kw)

        subprocess.Popen = popen
        try:
            super().__init__(tmp_path)
        finally:
            subprocess.Popen = real_popen


@pytest.mark.timeout(180)
def test_driver_fault_in_vehicle_run_is_contained(tmp_path):
    from pymavlink import mavutil

    M = mavutil.mavlink
    vp = HookedVehicleProcess(tmp_path)
    gcs = None
    try:
        assert vp.pump(lambda: "first control tick" in vp.text, 120), vp.text
        gcs = HilGroundStation(_mavlink_client_url(vp.hw.mavlink[0]), timeout=20)
        gcs.upload_mission(vp.sim.mission_items())
        assert vp.pump(lambda: gcs.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1, timeout=0.3) == 0, 20)
        assert gcs.command(M.MAV_CMD_DO_SET_MODE, 1, 10, timeout=2) == 0
        x0 = vp.sim.truth.x
        assert vp.pump(lambda: vp.sim.truth.x > x0 + 1.0, 15, gcs), (gcs.texts, vp.text)

        vp.flag.write_text("on")
        assert vp.pump(lambda: any(t.startswith("Internal error #1 in onboard tick") for t in gcs.texts), 10, gcs), \
            (gcs.texts, vp.text)
        assert vp.pump(lambda: vp.dev.motor.applied == Setpoint(0.0, 0.0) and vp.sim.truth.speed < 0.05, 10, gcs)
        assert vp.proc.poll() is None
        vp.flag.unlink()
        # Still commandable: HOLD stands (no resume by itself); the operator switches modes and disarms.
        hb = gcs.wait({"HEARTBEAT"}, lambda m: m.get_srcSystem() == gcs.target[0] and m.custom_mode == 4, 5)
        assert hb is not None
        assert vp.pump(lambda: gcs.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 0, timeout=0.3) == 0, 10)
        vp.proc.send_signal(signal.SIGTERM)
        assert vp.pump(lambda: vp.proc.poll() is not None, 15)
        assert vp.proc.returncode == 0
        assert "internal error(s) contained, the last: onboard tick (drivers)" in vp.text
        assert "Traceback" not in vp.text.split("contained an exception")[0]
    finally:
        if gcs is not None:
            gcs.close()
        vp.close()
