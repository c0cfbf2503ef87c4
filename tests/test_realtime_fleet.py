"""The real-time fleet's scenario format, ports and errors (sim/realtime_fleet.py),
and the fleet view of `gcs watch` rendered from known vehicle states."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from edgepilot.gcs.mav import M
from edgepilot.sim.realtime_fleet import build_fleet, instance_endpoints, is_fleet_scenario, load_fleet_scenario
from edgepilot.vehicle.config import ConfigError

from fleet_rig import write_fleet_scenario


def test_ports_move_by_ten_per_instance_and_outputs_are_shared():
    t = ["tcpin:127.0.0.1:5760", "udpout:127.0.0.1:14550", "udpin:0.0.0.0:14560", "tcp:10.0.0.2:5000"]
    assert instance_endpoints(t, 0) == t
    assert instance_endpoints(t, 2) == ["tcpin:127.0.0.1:5780", "udpout:127.0.0.1:14550", "udpin:0.0.0.0:14580",
                                        "tcp:10.0.0.2:5000"]
    with pytest.raises(ValueError, match="serial device cannot serve several vehicles"):
        instance_endpoints(["/dev/ttyUSB0,57600"], 1)
    with pytest.raises(ValueError, match="port 65540"):
        instance_endpoints(["tcpin:127.0.0.1:65530"], 1)


def test_fleet_scenario_gives_each_vehicle_its_start_and_sysid(tmp_path):
    p = write_fleet_scenario(tmp_path)
    assert is_fleet_scenario(p) and not is_fleet_scenario("ugv_yard")
    name, members = load_fleet_scenario(p)
    assert name == "fleet_yard_rt"
    assert [(e.name, e.sysid, e.start.x, e.start.y) for e, _ in members] == [("ugv1", 1, 4.0, 4.0),
                                                                            ("ugv-b", 2, 8.0, 4.0)]
    assert all(sc.world.origin == members[0][1].world.origin for _, sc in members)
    fleet = build_fleet(p, endpoints=["udpin:127.0.0.1:0"])
    try:
        assert [m.sysid for m in fleet.members] == [1, 2]
        assert [m.core.params.get("SYSID_THISMAV") for m in fleet.members] == [1.0, 2.0]
        assert [round(m.sim.truth.x, 3) for m in fleet.members] == [4.0, 8.0]
    finally:
        fleet.close()


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.replace("sysid = 2", "sysid = 1"), "vehicles.1.sysid: 1 repeats vehicles.0.sysid"),
    (lambda s: s.replace("x = 8.0", "x = 80.0"), "vehicles.1.start: (80.0, 4.0) is outside world.bounds"),
    (lambda s: s.replace('vehicle = "ugv", sysid = 2', 'vehicle = "tank", sysid = 2'), "vehicles.1.vehicle"),
    (lambda s: s.replace("sysid = 2,", "sysid = 2, colour = 'red',"), "vehicles.1"),
])
def test_bad_fleet_scenarios_name_the_entry(tmp_path, edit, message):
    p = write_fleet_scenario(tmp_path)
    p.write_text(edit(p.read_text()))
    with pytest.raises(ConfigError) as e:
        load_fleet_scenario(p)
    assert str(p) in str(e.value) and message in str(e.value), str(e.value)


def test_cli_refuses_a_bad_fleet_scenario_with_exit_2(tmp_path):
    p = write_fleet_scenario(tmp_path)
    p.write_text(p.read_text().replace("sysid = 2", "sysid = 1"))
    r = subprocess.run([sys.executable, "-m", "edgepilot", "sitl", "run", "--realtime", str(p)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "repeats vehicles.0.sysid" in r.stderr, r.stderr


def _view(sysid, now, mode=4, texts=()):
    from edgepilot.gcs.telemetry import StatusText, VehicleView

    v = VehicleView(sysid=sysid, first_seen=now - 10)
    v.autopilot, v.mav_type = M.MAV_AUTOPILOT_ARDUPILOTMEGA, M.MAV_TYPE_GROUND_ROVER
    v.base_mode, v.custom_mode, v.last_heartbeat = 1, mode, now - 0.3
    v.lat, v.lon, v.battery_remaining = 47.1 + sysid * 1e-4, 8.5, 90 - sysid
    v.mission_seq, v.mission_total, v.mission_state = 2, 5, 3
    for t, sev, text in texts:
        v.statustexts.append(StatusText(now - t, sev, text))
        v.statustext_count += 1
    return v


def test_watch_fleet_view_has_a_row_per_vehicle_and_the_alert_list():
    from rich.console import Console

    from edgepilot.gcs.views import render_dashboard

    now = time.monotonic()
    vs = [_view(3, now), _view(1, now, texts=[(5.0, M.MAV_SEVERITY_INFO, "Mission started")]),
          _view(2, now, mode=10, texts=[(2.0, M.MAV_SEVERITY_CRITICAL, "AIS-dark vessel closing on zone A"),
                                        (1.0, M.MAV_SEVERITY_WARNING, "Battery low")])]
    con = Console(record=True, width=140)
    con.print(render_dashboard(vs, now, ["udpin:0.0.0.0:14550"], view="auto"))      # 3 vehicles: fleet view
    text = con.export_text()
    rows = [l for l in text.splitlines() if "GROUND_ROVER" in l]
    assert [l.split("│")[1].strip() for l in rows] == ["1", "2", "3"]
    assert "AUTO" in rows[1] and "HOLD" in rows[0] and "2/5 ACTIVE" in rows[0]
    assert "alerts (2)" in text and "Mission started" not in text            # INFO is not an alert
    a, b = text.index("AIS-dark vessel"), text.index("Battery low")
    assert a < b and "sysid 2  [CRITICAL]" in text                            # oldest first
    con = Console(record=True, width=140)
    con.print(render_dashboard(vs[:2], now, ["x"], view="auto"))              # 2 vehicles: panels
    text = con.export_text()
    assert "alerts" not in text and "sysid 1  HOLD" in text


def test_each_vehicles_lidar_sees_the_other_vehicles(tmp_path):
    """Two lidar UGVs face each other 6 m apart: each one's scan has a
    return straight ahead at the other's near side (6 m minus its radius)
    (without the other vehicle there is nothing within the lidar range ahead)."""
    import math

    import numpy as np

    p = write_fleet_scenario(tmp_path)
    text = p.read_text().replace('vehicle = "ugv", sysid = 1, start = {x = 4.0, y = 4.0, yaw_deg = 90.0}',
                                 'vehicle = "ugv_lidar", sysid = 1, start = {x = 30.0, y = 34.0, yaw_deg = 0.0}')
    text = text.replace('vehicle = "ugv", sysid = 2, start = {x = 8.0, y = 4.0, yaw_deg = 90.0}',
                        'vehicle = "ugv_lidar", sysid = 2, start = {x = 36.0, y = 34.0, yaw_deg = 180.0}')
    p.write_text(text)
    fleet = build_fleet(p, endpoints=["udpin:127.0.0.1:0"])
    try:
        for m, other in ((fleet.members[0], fleet.members[1]), (fleet.members[1], fleet.members[0])):
            scan = None
            t = 0.0
            while scan is None:
                scan = m.sim.sensors(t).scan
                t += 0.05
            ang = scan.angle_min + scan.angle_increment * np.arange(len(scan.ranges))
            ahead = np.abs(np.angle(np.exp(1j * ang))) < math.radians(2)
            r_other = other.sim.cfg.geometry.circumscribed_radius
            got = float(np.nanmin(np.where(scan.ranges[ahead] > 0, scan.ranges[ahead], np.nan)))
            assert abs(got - (6.0 - r_other)) < 0.15, (m.name, got)
    finally:
        fleet.close()
