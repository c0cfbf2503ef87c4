"""Navigation over MAVLink as ArduPilot reports it: EKF_STATUS_REPORT
(flags, innovation test ratios in the variance fields), GPS_RAW_INT (the
receiver, spoofed) beside GLOBAL_POSITION_INT (the fused estimate), read
with pymavlink from a real ``edgepilot sitl run --realtime`` subprocess
flying ugv_gnss_spoofed (the spoofer starts dragging at 30 s sim time)."""
from __future__ import annotations

import math
import time

import pytest

from edgepilot.gcs.mav import mavutil
from edgepilot.sim.realtime import free_port, spawn, stop
from edgepilot.vehicle.geo import LocalFrame

pytestmark = pytest.mark.interop

M = mavutil.mavlink
YARD = LocalFrame(47.397742, 8.545594)       # the scenario's origin
SPEEDUP = 5.0


def _latest(c, want: dict, deadline: float):
    """Read until ``deadline``, keeping the latest message of each type in
    ``want`` (type -> None) and every STATUSTEXT; heartbeat as a GCS."""
    texts = []
    hb = 0.0
    while time.monotonic() < deadline:
        if time.monotonic() - hb > 0.5:
            c.mav.heartbeat_send(M.MAV_TYPE_GCS, M.MAV_AUTOPILOT_INVALID, 0, 0, M.MAV_STATE_ACTIVE)
            hb = time.monotonic()
        m = c.recv_match(blocking=True, timeout=0.1)
        if m is None:
            continue
        t = m.get_type()
        if t == "STATUSTEXT":
            texts.append(m.text)
        if t in want:
            want[t] = m
    return want, texts


def test_ekf_status_and_raw_vs_fused_position_under_spoofing(tmp_path):
    port = free_port()
    p = spawn("ugv_gnss_spoofed", [f"tcpin:127.0.0.1:{port}"], speedup=SPEEDUP, cwd=tmp_path, ready_timeout=60)
    try:
        c = mavutil.mavlink_connection(f"tcp:127.0.0.1:{port}", source_system=250, source_component=190,
                                       autoreconnect=False, retries=20)
        # before the spoofer (sim t < 30 s): a healthy EKF, raw and fused agree
        got, _ = _latest(c, {"EKF_STATUS_REPORT": None, "GPS_RAW_INT": None, "GLOBAL_POSITION_INT": None},
                         time.monotonic() + 3.0)
        ekf = got["EKF_STATUS_REPORT"]
        assert ekf is not None, "no EKF_STATUS_REPORT streamed"
        need = M.EKF_ATTITUDE | M.EKF_VELOCITY_HORIZ | M.EKF_POS_HORIZ_ABS | M.EKF_POS_HORIZ_REL
        assert ekf.flags & need == need and not ekf.flags & M.EKF_UNINITIALIZED, ekf
        raw, fused = got["GPS_RAW_INT"], got["GLOBAL_POSITION_INT"]
        assert raw.fix_type >= 3 and fused is not None

        def gap(raw, fused):
            rx, ry = YARD.to_local(raw.lat * 1e-7, raw.lon * 1e-7)
            fx, fy = YARD.to_local(fused.lat * 1e-7, fused.lon * 1e-7)
            return math.hypot(rx - fx, ry - fy)

        assert gap(raw, fused) < 0.5
        # wait (on state, generous deadline) for the spoofer to be detected
        deadline = time.monotonic() + 90.0
        texts: list[str] = []
        while time.monotonic() < deadline and not any("GNSS inconsistent" in t for t in texts):
            got, more = _latest(c, got, time.monotonic() + 0.5)
            texts += more
        assert any(t.startswith("GNSS inconsistent with odometry by") for t in texts), texts
        # let the drag grow: the receiver's position walks away, the fused one stays
        got, _ = _latest(c, {k: None for k in got}, time.monotonic() + 20.0 / SPEEDUP)
        raw, fused, ekf = got["GPS_RAW_INT"], got["GLOBAL_POSITION_INT"], got["EKF_STATUS_REPORT"]
        assert gap(raw, fused) > 2.0, gap(raw, fused)
        rx, _ = YARD.to_local(raw.lat * 1e-7, raw.lon * 1e-7)
        fx, fy = YARD.to_local(fused.lat * 1e-7, fused.lon * 1e-7)
        assert math.hypot(fx - 4.0, fy - 4.0) < 0.5          # the vehicle sits at its start, disarmed
        assert rx - fx > 2.0                                  # dragged east (direction_deg = 0)
        assert ekf.pos_horiz_variance > 1.0                   # GNSS position test ratio failing
        assert ekf.flags & M.EKF_POS_HORIZ_ABS                # still navigating on its other sources
        c.close()
    finally:
        stop(p)
