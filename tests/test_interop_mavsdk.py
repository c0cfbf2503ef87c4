"""Interoperability: MAVSDK flies ``edgepilot sitl run --realtime``.

Two unmodified MAVSDK clients: the native ``mavsdk`` 4.x binding (C++
library through ctypes) and ``mavsdk-grpc`` talking to the ``mavsdk_server``
binary shipped in its wheel.  Each connects, uploads a waypoint mission
(MissionRaw, item 0 = home, as MAVSDK's ArduPilot examples do), arms, starts
it and sees it completed."""
from __future__ import annotations

import asyncio
import math
import subprocess
from pathlib import Path

import pytest

from edgepilot.sim.realtime import free_port, spawn, stop
from edgepilot.sim.scenario import load_scenario
from edgepilot.vehicle.geo import LocalFrame

pytestmark = [pytest.mark.interop, pytest.mark.slow]

SPEEDUP = 10.0
LEGS = {
    "ugv_yard": [(4.0, 9.0), (6.0, 13.0)],
    "usv_harbor": [(58.0, 45.0), (72.0, 52.0)],
}
#: The flight waits on the vehicle's reported state (mission progress, flight
#: mode); this deadline only ends a hung run.  Generous: on a loaded CI
#: machine the real-time SITL falls far behind its speedup.
TIMEOUT_S = 300.0


def raw_items(scenario: str, item_cls) -> list:
    sc = load_scenario(scenario)
    f = LocalFrame(*sc.world.origin)
    pts = [(sc.start.x, sc.start.y)] + LEGS[scenario]
    out = []
    for seq, (x, y) in enumerate(pts):
        lat, lon = f.to_geo(x, y)
        out.append(item_cls(seq, 0 if seq == 0 else 3, 16, 1 if seq == 0 else 0, 1, 0.0, 0.0, 0.0,
                            float("nan"), int(round(lat * 1e7)), int(round(lon * 1e7)), 0.0, 0))
    return out


async def fly(mission_raw, action, positions, progress, modes, items) -> list[int]:
    """The same flight for both bindings; the stream arguments are async
    generator factories (the bindings name them differently)."""
    async for pos in positions():
        assert math.isfinite(pos.latitude_deg) and pos.latitude_deg != 0.0
        break
    await mission_raw.upload_mission(items)
    await action.arm()
    await mission_raw.start_mission()
    seen = []
    async for p in progress():
        seen.append(p.current)
        if p.total > 0 and p.current >= p.total:
            break
    async for fm in modes():
        if fm.name == "HOLD":   # mission done: the vehicle holds, as Rover does
            break
    await action.disarm()
    return seen


@pytest.mark.parametrize("scenario", ["ugv_yard", "usv_harbor"])
def test_native_mavsdk_flies_a_mission(scenario):
    from mavsdk.asyncio import ComponentType, Configuration, Mavsdk
    from mavsdk.asyncio.plugins.action import ActionAsync
    from mavsdk.asyncio.plugins.mission_raw import MissionRawAsync
    from mavsdk.asyncio.plugins.telemetry import TelemetryAsync
    from mavsdk.plugins.mission_raw import MissionItem

    port = free_port()
    sitl = spawn(scenario, [f"tcpin:127.0.0.1:{port}"], SPEEDUP)

    async def main():
        cfg = Configuration.create_with_component_type(ComponentType.GROUND_STATION)
        async with Mavsdk(cfg) as m:
            await m.add_any_connection(f"tcpout://127.0.0.1:{port}")
            system = await m.first_autopilot(10.0)
            assert system is not None, "MAVSDK found no autopilot"
            tel = TelemetryAsync(system)
            mr = MissionRawAsync(system)
            seen = await fly(mr, ActionAsync(system), tel.subscribe_position, mr.subscribe_mission_progress,
                             tel.subscribe_flight_mode, raw_items(scenario, MissionItem))
            assert await mr.download_mission() is not None
            return seen

    try:
        seen = asyncio.run(asyncio.wait_for(main(), TIMEOUT_S))
        assert seen[-1] == len(LEGS[scenario]) + 1 and seen == sorted(seen)  # progress counts home too
    finally:
        stop(sitl)


def test_mavsdk_grpc_server_flies_a_mission(tmp_path):
    import mavsdk_grpc
    from mavsdk_grpc import System
    from mavsdk_grpc.mission_raw import MissionItem

    server_bin = Path(mavsdk_grpc.__file__).parent / "bin" / "mavsdk_server"
    port = free_port()
    grpc_port = free_port()
    sitl = spawn("ugv_yard", [f"tcpin:127.0.0.1:{port}"], SPEEDUP)
    server = subprocess.Popen([str(server_bin), "-p", str(grpc_port), f"tcpout://127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    async def main():
        drone = System(mavsdk_server_address="127.0.0.1", port=grpc_port)
        await drone.connect()
        async for st in drone.core.connection_state():
            if st.is_connected:
                break
        mr = drone.mission_raw
        seen = await fly(mr, drone.action, drone.telemetry.position, mr.mission_progress,
                         drone.telemetry.flight_mode, raw_items("ugv_yard", MissionItem))
        info = await drone.info.get_identification()
        return seen, info

    try:
        seen, _info = asyncio.run(asyncio.wait_for(main(), TIMEOUT_S))
        assert seen[-1] == len(LEGS["ugv_yard"]) + 1 and seen == sorted(seen)
    finally:
        server.kill()
        server.wait(5)
        stop(sitl)
