"""The companion link drives an autopilot endpoint — here our own
``edgepilot sitl run --realtime`` — discovers it, switches to GUIDED, arms,
streams position setpoints, reads position back and reconnects after loss."""
from __future__ import annotations

import math
import time

import pytest

from edgepilot.firmware_bridge.companion import CompanionLink
from edgepilot.sim.realtime import free_port, spawn, stop

pytestmark = pytest.mark.interop

M_PER_DEG = 111_320.0


def run_until(link, cond, timeout, what, every=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        link.poll()
        if every is not None:
            every()
        if cond():
            return
        time.sleep(0.01)
    raise AssertionError(f"companion link: {what} not reached within {timeout:g} s")


def test_companion_drives_autopilot_and_reconnects():
    port = free_port()
    sitl = spawn("ugv_yard", [f"tcpin:127.0.0.1:{port}"], 8.0)
    link = CompanionLink(f"tcp:127.0.0.1:{port}", sysid=1, link_timeout_s=1.5)
    try:
        run_until(link, lambda: link.connected and link.position is not None, 15, "discovery + position stream")
        assert link.target == (1, 1) and not link.is_px4 and link.connections == 1
        start = link.position
        link.set_guided()
        run_until(link, lambda: link.in_guided, 5, "GUIDED")
        assert link.acks[176] == 0
        link.arm()
        run_until(link, lambda: link.armed, 5, "armed")
        goal = (start.lat + 3.0 / M_PER_DEG, start.lon)
        last = [0.0]

        def stream():
            if time.monotonic() - last[0] > 0.2:       # 5 Hz setpoint stream
                last[0] = time.monotonic()
                link.send_position_target(*goal)

        def near():
            p = link.position
            return math.hypot((p.lat - goal[0]) * M_PER_DEG, 0.0) < 0.8

        run_until(link, near, 20, "the position setpoint", every=stream)
        link.arm(False)
        run_until(link, lambda: not link.armed or 400 in link.acks, 5, "disarm answer")
        # Link loss: the autopilot goes away, then comes back on the same port.
        stop(sitl)
        run_until(link, lambda: not link.connected, 5, "link loss detected")
        # Count from here: a stall of the first autopilot (e.g. compiling
        # kernels on a cold cache) may already have cost it one reconnection.
        before = link.connections
        sitl = spawn("ugv_yard", [f"tcpin:127.0.0.1:{port}"], 8.0)
        try:
            run_until(link, lambda: link.connected and link.connections == before + 1, 30, "reconnection")
        except AssertionError as e:
            chan = link.transport.chan
            raise AssertionError(f"{e}; client channel {'none' if chan is None else ('closed' if chan.closed else 'open')}"
                                 f"; autopilot output:\n{stop(sitl)[-3000:]}") from None
        t_lost = link.position.t
        run_until(link, lambda: link.position.t > t_lost, 5, "position stream after reconnection")
    finally:
        link.close()
        stop(sitl)


def test_velocity_setpoint_and_px4_offboard_framing():
    """Against a scripted PX4-like peer: the link recognises PX4, asks for
    OFFBOARD with PX4's custom-mode encoding and sends velocity setpoints in
    SET_POSITION_TARGET_LOCAL_NED with only the velocity bits used."""
    import socket

    from pymavlink.dialects.v20 import ardupilotmega as mavlink

    M = mavlink
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.settimeout(0.05)
    link = CompanionLink(f"udpout:127.0.0.1:{peer.getsockname()[1]}", sysid=1)
    px4 = M.MAVLink(None, srcSystem=1, srcComponent=1)
    parser = M.MAVLink(None)
    got = {}
    cmds = []
    try:
        deadline = time.monotonic() + 5
        addr = None
        while time.monotonic() < deadline and "SET_POSITION_TARGET_LOCAL_NED" not in got:
            link.poll()
            try:
                data, addr = peer.recvfrom(4096)
                for m in parser.parse_buffer(data) or []:
                    got[m.get_type()] = m
                    if m.get_type() == "COMMAND_LONG":
                        cmds.append(m)
            except socket.timeout:
                pass
            if addr is not None and not link.connected:
                hb = M.MAVLink_heartbeat_message(M.MAV_TYPE_GROUND_ROVER, M.MAV_AUTOPILOT_PX4, 1, 0, 3, 3)
                peer.sendto(hb.pack(px4), addr)
            if link.connected and not any(c.command == M.MAV_CMD_DO_SET_MODE for c in cmds):
                link.set_guided()
            elif link.connected:
                link.send_velocity_target(0.5, -0.25)
        assert link.is_px4
        sp = got["SET_POSITION_TARGET_LOCAL_NED"]
        assert (sp.vx, sp.vy) == (0.5, -0.25) and sp.coordinate_frame == M.MAV_FRAME_LOCAL_NED
        assert not sp.type_mask & (M.POSITION_TARGET_TYPEMASK_VX_IGNORE | M.POSITION_TARGET_TYPEMASK_VY_IGNORE)
        assert sp.type_mask & M.POSITION_TARGET_TYPEMASK_X_IGNORE
        assert any(c.command == M.MAV_CMD_DO_SET_MODE and c.param2 == 6 for c in cmds)
    finally:
        link.close()
        peer.close()
