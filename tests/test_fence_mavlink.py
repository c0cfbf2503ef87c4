"""Geofence and e-stop over MAVLink: a pymavlink client on a real TCP socket
against ``edgepilot sitl run --realtime`` (a subprocess).

Fence plans use the mission protocol with mission_type = FENCE (1); a fence
uploaded mid-mission with an exclusion zone on the vehicle's path makes it
hold before the zone and say why in a STATUSTEXT."""
from __future__ import annotations

import math
import time

import pytest

from edgepilot.gcs.mav import mavutil
from edgepilot.sim.realtime import free_port, spawn, stop
from edgepilot.vehicle.geo import LocalFrame

pytestmark = pytest.mark.interop

M = mavutil.mavlink
FENCE = M.MAV_MISSION_TYPE_FENCE
MISSION = M.MAV_MISSION_TYPE_MISSION
YARD = LocalFrame(47.397742, 8.545594)       # configs/scenarios/ugv_yard.toml origin
SPEEDUP = 4.0
HOLD, AUTO = 4, 10
FOOTPRINT_R = math.hypot(0.5, 0.35)          # configs/vehicles/ugv.toml: 1.0 x 0.7 m


class Client:
    """A minimal ground station: one pymavlink connection, our heartbeat
    every 0.5 s while waiting (so the vehicle's GCS failsafe stays quiet),
    and every STATUSTEXT kept."""

    def __init__(self, endpoint: str, sysid: int = 250):
        self.c = mavutil.mavlink_connection(endpoint, source_system=sysid, source_component=190,
                                            autoreconnect=False, retries=10)
        self.texts: list[str] = []
        self._hb = 0.0
        self.heartbeat()
        hb = self.recv("HEARTBEAT", lambda m: m.type != M.MAV_TYPE_GCS, timeout=15)
        assert hb is not None, f"no vehicle heartbeat on {endpoint}"
        self.target = (hb.get_srcSystem(), hb.get_srcComponent())
        self.c.mav.request_data_stream_send(*self.target, M.MAV_DATA_STREAM_ALL, 10, 1)

    def heartbeat(self) -> None:
        self.c.mav.heartbeat_send(M.MAV_TYPE_GCS, M.MAV_AUTOPILOT_INVALID, 0, 0, M.MAV_STATE_ACTIVE)
        self._hb = time.monotonic()

    def recv(self, types, cond=lambda m: True, timeout: float = 5.0):
        types = [types] if isinstance(types, str) else list(types)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if time.monotonic() - self._hb > 0.5:
                self.heartbeat()
            m = self.c.recv_match(blocking=True, timeout=0.1)
            if m is None:
                continue
            t = m.get_type()
            if t == "STATUSTEXT":
                self.texts.append(m.text)
            if t in types and cond(m):
                return m
        return None

    def text(self, pred, since: int = 0, timeout: float = 5.0) -> str | None:
        """A STATUSTEXT (received since index ``since``, or arriving within
        ``timeout``) for which ``pred(text)`` holds."""
        found = next((t for t in self.texts[since:] if pred(t)), None)
        if found is not None:
            return found
        m = self.recv("STATUSTEXT", lambda m: pred(m.text), timeout)
        return None if m is None else m.text

    def close(self) -> None:
        self.c.close()

    # ------------------------------------------------------------ plans
    def upload(self, items: list[dict], mission_type: int, timeout: float = 10.0):
        """Answer the vehicle's MISSION_REQUEST_INTs; returns the MISSION_ACK."""
        self.c.mav.mission_count_send(*self.target, len(items), mission_type)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = self.recv(["MISSION_REQUEST_INT", "MISSION_REQUEST", "MISSION_ACK"],
                          lambda m: m.mission_type == mission_type, timeout=deadline - time.monotonic())
            if m is None:
                break
            if m.get_type() == "MISSION_ACK":
                return m
            it = items[m.seq]
            self.c.mav.mission_item_int_send(
                *self.target, m.seq, it.get("frame", M.MAV_FRAME_GLOBAL), it["command"], 0, 1,
                it.get("p1", 0.0), 0, 0, 0, int(round(it["lat"] * 1e7)), int(round(it["lon"] * 1e7)), 0,
                mission_type)
        raise AssertionError("upload: no MISSION_ACK")

    def download(self, mission_type: int) -> list:
        self.c.mav.mission_request_list_send(*self.target, mission_type)
        cnt = self.recv("MISSION_COUNT", lambda m: m.mission_type == mission_type)
        assert cnt is not None, "no MISSION_COUNT"
        out = []
        for seq in range(cnt.count):
            self.c.mav.mission_request_int_send(*self.target, seq, mission_type)
            it = self.recv("MISSION_ITEM_INT", lambda m: m.seq == seq and m.mission_type == mission_type)
            assert it is not None, f"no item {seq}"
            out.append(it)
        self.c.mav.mission_ack_send(*self.target, M.MAV_MISSION_ACCEPTED, mission_type)
        return out

    def clear(self, mission_type: int):
        self.c.mav.mission_clear_all_send(*self.target, mission_type)
        return self.recv("MISSION_ACK", lambda m: m.mission_type == mission_type)

    # ------------------------------------------------------------ commands
    def command(self, cmd: int, *params: float) -> int:
        p = list(params) + [0.0] * (7 - len(params))
        self.c.mav.command_long_send(*self.target, cmd, 0, *p)
        ack = self.recv("COMMAND_ACK", lambda m: m.command == cmd)
        assert ack is not None, f"no COMMAND_ACK for {cmd}"
        return ack.result

    def param_set(self, name: str, value: float) -> float:
        self.c.mav.param_set_send(*self.target, name.encode(), value, M.MAV_PARAM_TYPE_REAL32)
        m = self.recv("PARAM_VALUE", lambda m: m.param_id == name)
        assert m is not None, f"no PARAM_VALUE for {name}"
        return m.param_value

    def heartbeat_where(self, cond, timeout: float = 10.0):
        return self.recv("HEARTBEAT", lambda m: m.type != M.MAV_TYPE_GCS and cond(m), timeout)

    def position(self, timeout: float = 5.0) -> tuple[float, float, float]:
        """(x, y) in the yard's ENU metres and ground speed [m/s]."""
        m = self.recv("GLOBAL_POSITION_INT", timeout=timeout)
        assert m is not None, "no GLOBAL_POSITION_INT"
        x, y = YARD.to_local(m.lat * 1e-7, m.lon * 1e-7)
        return x, y, math.hypot(m.vx, m.vy) / 100.0


def armed(m) -> bool:
    return bool(m.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED)


def circle(x, y, r, inclusion=True) -> dict:
    lat, lon = YARD.to_geo(x, y)
    cmd = M.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION if inclusion else M.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION
    return {"command": cmd, "lat": lat, "lon": lon, "p1": r}


def polygon(points, inclusion=True) -> list[dict]:
    cmd = (M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION if inclusion
           else M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION)
    return [dict(zip(("lat", "lon"), YARD.to_geo(x, y)), command=cmd, p1=len(points)) for x, y in points]


def waypoint(x, y, frame=M.MAV_FRAME_GLOBAL_RELATIVE_ALT) -> dict:
    lat, lon = YARD.to_geo(x, y)
    return {"command": M.MAV_CMD_NAV_WAYPOINT, "lat": lat, "lon": lon, "frame": frame}


def same_items(got, sent) -> None:
    assert len(got) == len(sent)
    for g, s in zip(got, sent):
        assert g.command == s["command"] and g.mission_type == FENCE
        assert g.x == int(round(s["lat"] * 1e7)) and g.y == int(round(s["lon"] * 1e7))
        assert g.param1 == pytest.approx(s.get("p1", 0.0), abs=1e-5)


@pytest.fixture(scope="module")
def sitl():
    tcp = free_port("tcp")
    p = spawn("ugv_yard", [f"tcpin:127.0.0.1:{tcp}"], SPEEDUP)
    c = None
    try:
        c = Client(f"tcp:127.0.0.1:{tcp}")
        yield c
    finally:
        if c is not None:
            c.close()
        stop(p)


def test_estop_latches_and_clears_over_mavlink(sitl):
    c = sitl
    assert c.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1) == M.MAV_RESULT_ACCEPTED
    assert c.heartbeat_where(armed) is not None
    k = len(c.texts)
    assert c.command(M.MAV_CMD_DO_FLIGHTTERMINATION, 1) == M.MAV_RESULT_ACCEPTED
    assert c.heartbeat_where(lambda m: not armed(m)) is not None
    assert c.text(lambda t: "E-STOP" in t, k) is not None
    # Latched: arming is refused and the vehicle says what to do.
    k = len(c.texts)
    assert c.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1) == M.MAV_RESULT_FAILED
    assert c.text(lambda t: "e-stop is latched" in t, k) is not None
    # param1 = 0 clears the latch; clearing does not arm by itself.
    k = len(c.texts)
    assert c.command(M.MAV_CMD_DO_FLIGHTTERMINATION, 0) == M.MAV_RESULT_ACCEPTED
    assert c.text(lambda t: "Failsafe cleared: E-stop" in t, k) is not None
    assert c.heartbeat_where(lambda m: not armed(m)) is not None
    assert c.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1) == M.MAV_RESULT_ACCEPTED
    assert c.heartbeat_where(armed) is not None
    assert c.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 0) == M.MAV_RESULT_ACCEPTED


def test_fence_upload_download_reject_and_clear(sitl):
    c = sitl
    assert c.download(FENCE) == []
    fence = polygon([(0, 0), (40, 0), (40, 38), (0, 38)]) + [circle(24, 6, 2.5, inclusion=False)]
    k = len(c.texts)
    ack = c.upload(fence, FENCE)
    assert ack.type == M.MAV_MISSION_ACCEPTED
    assert c.text(lambda t: t == "Fence loaded: 2 zone(s)", k) is not None
    same_items(c.download(FENCE), fence)
    # The mission list is a separate plan: still just home.
    assert len(c.download(MISSION)) == 1
    # A polygon whose vertex count disagrees with its items is refused with the
    # item named; the loaded fence stays.
    bad = polygon([(0, 0), (10, 0), (10, 10)])
    bad[0]["p1"] = 4
    k = len(c.texts)
    ack = c.upload(bad, FENCE)
    assert ack.type == M.MAV_MISSION_INVALID
    assert c.text(lambda t: t.startswith("Fence rejected: fence item 0"), k) is not None
    same_items(c.download(FENCE), fence)
    # Clear-all with the fence type clears the fence and only the fence.
    mission = [waypoint(4, 4, M.MAV_FRAME_GLOBAL), waypoint(4, 9)]
    assert c.upload(mission, MISSION).type == M.MAV_MISSION_ACCEPTED
    ack = c.clear(FENCE)
    assert ack.type == M.MAV_MISSION_ACCEPTED
    assert c.download(FENCE) == []
    assert len(c.download(MISSION)) == 2
    assert c.clear(MISSION).type == M.MAV_MISSION_ACCEPTED


def test_exclusion_zone_uploaded_mid_mission_holds_the_vehicle_before_it(sitl):
    c = sitl
    keep_in = circle(4, 20, 35.0)
    assert c.upload([keep_in], FENCE).type == M.MAV_MISSION_ACCEPTED
    assert c.param_set("FENCE_ENABLE", 1) == 1
    mission = [waypoint(4, 4, M.MAV_FRAME_GLOBAL), waypoint(4, 34)]
    assert c.upload(mission, MISSION).type == M.MAV_MISSION_ACCEPTED
    try:
        assert c.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1) == M.MAV_RESULT_ACCEPTED
        assert c.command(M.MAV_CMD_MISSION_START, 0, 0) == M.MAV_RESULT_ACCEPTED
        assert c.heartbeat_where(lambda m: m.custom_mode == AUTO) is not None
        deadline = time.monotonic() + 20
        x, y, v = c.position()
        while y < 10.0 and time.monotonic() < deadline:
            x, y, v = c.position()
        assert 10.0 <= y < 18.0, f"vehicle at {x:.1f}, {y:.1f} when the zone goes up"
        zone_y, zone_r = 25.0, 2.0
        n_texts = len(c.texts)
        fence = [keep_in, circle(4, zone_y, zone_r, inclusion=False)]
        assert c.upload(fence, FENCE).type == M.MAV_MISSION_ACCEPTED
        assert c.heartbeat_where(lambda m: m.custom_mode == HOLD, timeout=15) is not None
        assert c.text(lambda t: t.startswith("Failsafe: fence"), n_texts) is not None
        # Stopped, short of the zone by at least the footprint, not somewhere early.
        deadline = time.monotonic() + 10
        x, y, v = c.position()
        while v > 0.05 and time.monotonic() < deadline:
            x, y, v = c.position()
        assert v <= 0.05
        edge = zone_y - zone_r - FOOTPRINT_R
        assert edge - 2.5 < y < edge, f"held at y={y:.2f}; the footprint reaches the zone at y={edge:.2f}"
        assert abs(x - 4.0) < 0.5
        hb = c.heartbeat_where(lambda m: True)
        assert hb.custom_mode == HOLD and armed(hb)
        same_items(c.download(FENCE), fence)
    finally:
        c.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 0, 21196)
        c.param_set("FENCE_ENABLE", 0)
        c.clear(FENCE)
        c.clear(MISSION)
