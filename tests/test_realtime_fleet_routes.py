"""Fleet-mates share their route ahead in the real-time fleet too
(firmware_bridge/fleet_routes.py over the vehicles' real, signed V2V
datagrams and the simulated radio's relay), with real processes:
`edgepilot sitl run --realtime FLEET --v2v` serves two boats whose routes
cross, a ground station (the gcs package's own client, over TCP, signed)
arms each and sends it on its way in GUIDED, and the run says when each
boat's COLREGs helm begins and stops predicting the other along her route.
A scripted partition of the V2V radio cuts the routes off: within the
3 s a route lives each boat falls back to predicting the other by her
velocity (an ordinary contact, AIS still heard), and takes her route
again when the partition is over."""
from __future__ import annotations

import os
import re

import pytest

from edgepilot.gcs.command import CommandClient
from edgepilot.gcs.connection import ConnectOptions, connect
from edgepilot.sim.realtime import spawn
from edgepilot.vehicle.geo import LocalFrame

from hw_util import arm_when_ready
from test_realtime_v2v_link import Output, fleet_ports

pytestmark = pytest.mark.interop

SPEEDUP = 6.0
ORIGIN = (52.0, 4.0)
#: The partition (world time [s]): after both boats follow their routes, while they drive on.
PART_AT, PART_FOR = 26.0, 10.0
END = 42.0
#: east runs east along y = 100; north runs north along x = 70, crossing her
#: lane 50 m from east's start, long after east has passed (no encounter).
BOATS = [("east", 1, (20.0, 100.0, 0.0), (280.0, 100.0)), ("north", 2, (70.0, -60.0, 90.0), (70.0, 300.0))]

FLEET = """\
name = "two_boats_routes"
seed = {seed}
vehicles = [
{vehicles}]

[link]
latency_s = 0.05
period_s = 1.0

[world]
bounds = [0.0, -80.0, 300.0, 320.0]
origin = [{lat}, {lon}]
resolution = 0.5
surface = "water"

[[faults]]
type = "link_partition"
at_s = {at}
duration_s = {dur}
groups = [["east"], ["north"]]
"""


def _events(text: str, name: str) -> list[tuple[float, str]]:
    """(world time, 'use' / 'drop') of each line saying boat ``name``'s helm
    began or stopped predicting the other boat along her route."""
    out = []
    for t, what in re.findall(rf"t=([\d.]+) s: {name} \(sysid \d\) (predicts MMSI|MMSI \d+: her shared route not)",
                              text):
        out.append((float(t), "use" if what.startswith("predicts") else "drop"))
    return out


def _go(port: int, sysid: int, key: bytes, goal: tuple[float, float]) -> None:
    """Arm boat ``sysid`` (retried while its pre-arm checks still refuse) and send it to ``goal`` in GUIDED."""
    link, v = connect(ConnectOptions(f"tcp:127.0.0.1:{port}", sysid=sysid, signing_key=key, timeout=30))
    try:
        c = CommandClient(v)
        arm_when_ready(c, link)
        c.goto(*LocalFrame(*ORIGIN).to_geo(*goal))
    finally:
        link.close()


# one seed in the suite; EDGEPILOT_ALL_SEEDS=1 runs them all
@pytest.mark.parametrize("seed", [1, 2, 3] if os.environ.get("EDGEPILOT_ALL_SEEDS") else [1])
def test_boats_use_each_others_routes_and_fall_back_while_partitioned(tmp_path, seed):
    vehicles = "".join(f'  {{vehicle = "usv", sysid = {s}, name = "{n}", start = {{x = {x}, y = {y}, '
                       f'yaw_deg = {yaw}}}}},\n' for n, s, (x, y, yaw), _ in BOATS)
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(FLEET.format(seed=seed, vehicles=vehicles, lat=ORIGIN[0], lon=ORIGIN[1], at=PART_AT, dur=PART_FOR))
    key = os.urandom(32)
    keyfile = tmp_path / "fleet.key"
    keyfile.write_text(key.hex() + "\n")
    tcp, _, _, v2v = fleet_ports(len(BOATS))
    proc = spawn(str(fleet), [f"tcpin:127.0.0.1:{tcp}"], SPEEDUP,
                 extra=["--v2v", f"127.0.0.1:{v2v}", "--signing-key", str(keyfile), "--duration", str(END)],
                 ready_timeout=60)
    out = Output(proc)
    try:
        for i, (_, sysid, _, goal) in enumerate(BOATS):
            _go(tcp + 10 * i, sysid, key, goal)
        out.wait_for(r"^stopped after", timeout=END / SPEEDUP * 4 + 30)
    finally:
        text = out.stop()
    assert f"V2V partition east | north for {PART_FOR:g} s" in text, text
    for name, sysid, _, _ in BOATS:
        ev = _events(text, name)
        mate = 993000000 + (3 - sysid)
        # before the partition its helm took the mate's route ...
        assert any(w == "use" and t < PART_AT for t, w in ev), (name, ev, text)
        # ... dropped it within the route's 3 s life once the radio was cut
        # (the last one heard was sent before PART_AT), and never took one
        # while it lasted: she was an ordinary contact
        drops = [t for t, w in ev if w == "drop" and PART_AT <= t <= PART_AT + 3.0 + 0.5]
        assert drops, (name, ev, text)
        assert not [t for t, w in ev if w == "use" and PART_AT + 3.5 < t < PART_AT + PART_FOR], (name, ev)
        # ... and took it again once the partition was over
        assert any(w == "use" and t >= PART_AT + PART_FOR for t, w in ev), (name, ev, text)
        m = re.search(rf"  {name} sysid {sysid}: .*routes sent (\d+), heard (\d+), used (\d+)(.*)", text)
        assert m, text
        sent, heard, used = map(int, m.groups()[:3])
        assert sent >= END - 5 and 0 < heard < sent and used >= 2, m.group(0)
        assert "dropped" not in m.group(4), m.group(0)           # every route heard was good
        assert f"predicts MMSI {mate} along her shared route" in text
    # the radio, not the boats, kept the routes (and the rest of the V2V traffic) apart
    partition = int(re.search(r"V2V radio: sent \d+, delivered \d+, dropped partition (\d+)", text).group(1))
    assert partition >= 2 * (PART_FOR - 1), text
