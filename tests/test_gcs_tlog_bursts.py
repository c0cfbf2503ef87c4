"""tlog summary of a vehicle whose telemetry arrives in bursts: a SITL that
runs faster than real time and catches up after a stall sends positions
seconds apart on its own clock but milliseconds apart on the recorder's."""
from __future__ import annotations

import struct

import pytest

from edgepilot.gcs.mav import M
from edgepilot.gcs.tlog import summarize

LAT0, LON0 = 47.397742, 8.545594
M_PER_DEG_LAT = 111132.9


def burst_tlog(path, boot_ms_backwards: bool = False) -> None:
    """Vehicle time: 10 s driving north at 1.2 m/s, one fix per second.
    Receive time: all ten fixes within 50 ms (a catch-up burst)."""
    mav = M.MAVLink(None, srcSystem=1, srcComponent=1)
    recs = []
    t0 = 1.7e9

    def add(t, msg):
        recs.append(struct.pack(">Q", int((t0 + t) * 1e6)) + msg.pack(mav))

    add(0.0, M.MAVLink_heartbeat_message(M.MAV_TYPE_GROUND_ROVER, M.MAV_AUTOPILOT_ARDUPILOTMEGA,
                                         1 | M.MAV_MODE_FLAG_SAFETY_ARMED, 10, 4, 3))
    for k in range(11):
        boot = 20_000 + 1000 * k
        if boot_ms_backwards and k >= 6:
            boot = 1000 * (k - 6)            # the vehicle rebooted: its clock restarts
        lat = LAT0 + 1.2 * k / M_PER_DEG_LAT
        add(1.0 + 0.005 * k, M.MAVLink_global_position_int_message(
            boot, int(round(lat * 1e7)), int(round(LON0 * 1e7)), 0, 0, 120, 0, 0, 0))
    add(2.0, M.MAVLink_heartbeat_message(M.MAV_TYPE_GROUND_ROVER, M.MAV_AUTOPILOT_ARDUPILOTMEGA,
                                         1 | M.MAV_MODE_FLAG_SAFETY_ARMED, 4, 4, 3))
    path.write_bytes(b"".join(recs))


def test_distance_of_a_burst_is_judged_on_the_vehicle_clock(tmp_path):
    p = tmp_path / "burst.tlog"
    burst_tlog(p)
    s = summarize(p)
    # 1.2 m per 5 ms of receive time would be 240 m/s, far past the glitch
    # limit; on the vehicle's clock it is the 1.2 m/s it really was.
    assert s.distance_m == pytest.approx(12.0, rel=0.01)
    assert s.max_speed_m_s == pytest.approx(1.2)


def test_a_vehicle_clock_that_restarts_falls_back_to_receive_time(tmp_path):
    p = tmp_path / "reboot.tlog"
    burst_tlog(p, boot_ms_backwards=True)
    s = summarize(p)
    # The step across the reboot is judged on receive time (5 ms: a glitch,
    # dropped); every other step is on the vehicle clock.
    assert s.distance_m == pytest.approx(10.8, rel=0.01)
