"""A boat's route share (firmware_bridge/fleet_routes.py): what a heard
EDGEPILOT_ROUTE_AHEAD must pass before the COLREGs helm gets it (every bad
one counted under its reason, never a crash), how its age is read across
two clocks, the V2V link shared with the task auction, and the lockstep
radio's ends signing and checking frames as a real link does."""
from __future__ import annotations

import math
import os
import re
import select
import time

import numpy as np
import pytest

from edgepilot.firmware_bridge.fleet_link import read_route_ahead, route_ahead_message
from edgepilot.firmware_bridge.fleet_routes import ROUTE_MSG, RouteAheadShare
from edgepilot.firmware_bridge.fleet_v2v import V2VLink
from edgepilot.firmware_bridge.mavlink import dialects
from edgepilot.sim.fleet.link import V2VEnds
from edgepilot.sim.realtime import free_port
from edgepilot.sim.scenario import load_scenario
from edgepilot.sim.simulation import Simulation

MATE = 993000002
MOD = dialects.load()


@pytest.fixture(scope="module")
def sim():
    return Simulation(load_scenario("usv_colregs_head_on"))


@pytest.fixture
def core(sim):
    return sim.make_core()


def _wire(msg, sysid: int = 2):
    """``msg`` packed and parsed again by a second MAVLink object, as the radio carries it."""
    b = msg.pack(MOD.MAVLink(None, srcSystem=sysid, srcComponent=1))
    return MOD.MAVLink(None).parse_buffer(b)[0]


def _raw(t=100.0, mmsi=MATE, speed=1.5, lat=(52.0, 52.0001), lon=(4.0, 4.0), count=None):
    """EDGEPILOT_ROUTE_AHEAD with any field, bad ones included (the helper refuses to build those)."""
    n = len(lat) if count is None else count
    la = [int(round(v * 1e7)) for v in lat] + [0] * (12 - len(lat))
    lo = [int(round(v * 1e7)) for v in lon] + [0] * (12 - len(lon))
    return _wire(MOD.MAVLink_edgepilot_route_ahead_message(int(t * 1e6), mmsi, speed, la, lo, n))


@pytest.mark.parametrize("bad, message", [
    (dict(count=13), "count 13 is more than 12"),
    (dict(mmsi=0), "mmsi 0"),
    (dict(t=0.0), "time_usec 0"),
    (dict(speed=math.nan), "speed nan m/s"),
    (dict(speed=math.inf), "speed inf m/s"),
    (dict(speed=3.0e38), "speed 3e+38 m/s"),
    (dict(speed=-1.0), "speed -1 m/s"),
    (dict(lat=(52.0, 95.0)), "point 1 at lat 95.0000000"),
    (dict(lon=(4.0, -181.0)), "point 1 at lat 52.0001000, lon -181.0000000"),
])
def test_a_message_that_cannot_be_a_route_is_refused_naming_the_field(bad, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        read_route_ahead(_raw(**bad))


def test_the_helper_refuses_to_send_a_speed_that_is_not_a_number():
    with pytest.raises(ValueError, match="speed must be a number"):
        route_ahead_message(MATE, 1.0, [52.0, 52.0001], [4.0, 4.0], math.nan)


def test_every_bad_route_is_counted_and_dropped_and_the_good_one_taken(core):
    """Malformed, stale, from a clock far ahead, replayed, or longer than a
    route ahead can be: each dropped under its reason with a message
    naming her MMSI; the helm holds only the good route."""
    now = 100.0
    s = RouteAheadShare(core, 993000001)
    frame = core.frame
    lat, lon = frame.to_geo(np.array([0.0, 20.0]), np.array([0.0, 0.0]))
    good = _raw(t=99.5, lat=lat, lon=lon)
    assert s.incoming(good, now) and s.taken == 1
    assert not s.incoming(good, now + 0.2)                          # the same frame again
    assert s.dropped["not_newer"] == 1 and "not newer" in s.last_drop
    assert not s.incoming(_raw(t=99.0, lat=lat, lon=lon), now)       # an older one, after the newer
    assert s.dropped["not_newer"] == 2
    assert not s.incoming(_raw(t=96.0, lat=lat, lon=lon), now)
    assert s.dropped["stale"] == 1 and "sent 4.0 s ago" in s.last_drop
    assert not s.incoming(_raw(t=104.0, lat=lat, lon=lon), now)
    assert s.dropped["clock_ahead"] == 1 and "4.0 s ahead" in s.last_drop
    assert not s.incoming(_raw(speed=math.nan, t=99.8, lat=lat, lon=lon), now)
    assert s.dropped["malformed"] == 1 and "speed nan" in s.last_drop
    far_lat, far_lon = frame.to_geo(np.array([0.0, 3000.0]), np.array([0.0, 0.0]))
    assert not s.incoming(_raw(t=99.9, lat=far_lat, lon=far_lon), now)
    assert s.dropped["refused"] == 1 and f"MMSI {MATE}: 3000 m long" in s.last_drop
    assert s.heard == 7 and s.taken == 1
    r = core.maritime.mates.routes[MATE]
    assert r.t == 99.5 and np.allclose(r.points, [[0, 0], [20, 0]], atol=0.02)
    assert core.mate_routes()["heard"] == 1
    assert "routes sent 0, heard 7, used 0, dropped malformed 1, stale 1, clock_ahead 1, not_newer 2, refused 1" \
        == s.summary()


def test_age_is_read_on_arrival_across_the_two_clocks(core):
    """On a vehicle the fleet clock (GPS time) is not the core's (the loop's
    monotonic time): a route 1 s old by the fleet clock is stamped 1 s
    before now on the core's; one from a sender whose clock runs 2 s ahead
    of ours is taken as sent just now, never from the future."""
    fleet = {"t": 1.7e9}
    s = RouteAheadShare(core, 993000001, fleet_clock=lambda: fleet["t"])
    assert s.incoming(_raw(t=fleet["t"] - 1.0), 50.0)
    assert core.maritime.mates.routes[MATE].t == pytest.approx(49.0)
    fleet["t"] += 1.0
    assert s.incoming(_raw(t=fleet["t"] + 2.0, mmsi=MATE + 1), 51.0)
    assert core.maritime.mates.routes[MATE + 1].t == pytest.approx(51.0)


def test_the_route_share_and_the_auction_share_one_signed_link(core, sim):
    """Two real V2V links on 127.0.0.1, signed with one key: a route goes to
    the route share (``take``), an auction frame to ``receive``; a frame
    signed with another key is refused by the link, never seen by either."""
    key = os.urandom(32)
    pa, pb = free_port("udp"), free_port("udp")
    a = V2VLink(1, f"127.0.0.1:{pa}", [f"127.0.0.1:{pb}"], signing_key=key)
    b = V2VLink(2, f"127.0.0.1:{pb}", [f"127.0.0.1:{pa}"], signing_key=key)
    rogue = V2VLink(3, "127.0.0.1:0", [f"127.0.0.1:{pb}"], signing_key=os.urandom(32))
    try:
        mate = sim.make_core()
        sa = RouteAheadShare(mate, MATE, v2v=a)
        sb = RouteAheadShare(core, 993000001, v2v=b)
        sa.poll(10.0)                                          # a's first route goes out at once
        a.send([MOD.MAVLink_edgepilot_task_complete_message(10_000_000, 7, 1, 1, 0)])
        rogue.send([route_ahead_message(MATE + 5, 10.0, [52.0], [4.0], 0.0)])
        got: list = []
        deadline = time.monotonic() + 10
        while not (sb.heard and got and b.rejected) and time.monotonic() < deadline:
            select.select(b.fds(), [], [], 0.1)              # wait for the datagrams
            sb.poll(10.05)
            got += b.receive()
        assert sa.sent == 1 and sb.heard == 1 and sb.taken == 1
        assert [m.get_type() for m in got] == ["EDGEPILOT_TASK_COMPLETE"]
        assert b.rejected == 1 and MATE + 5 not in core.maritime.mates.routes
        assert not core.maritime.mates.routes[MATE].following        # she holds: no route to follow
        assert sb.sent == 1 and ROUTE_MSG in b._boxes
    finally:
        for link in (a, b, rogue):
            link.close()


def test_lockstep_radio_ends_sign_and_check_like_a_real_link():
    """The lockstep runner's radio ends (sim/fleet/link.py): a frame packed
    by one vehicle parses at another with the fleet key; the same frame
    heard again (a replay) and one signed with another key are refused."""
    key = os.urandom(32)
    ends = V2VEnds([1, 2], key)
    msg = route_ahead_message(MATE, 5.0, [52.0, 52.0001], [4.0, 4.0], 1.5)
    pkt = ends.pack(0, [msg])[0]
    assert [m.get_type() for m in ends.parse(1, pkt)] == [ROUTE_MSG]
    assert ends.parse(1, pkt) == [] and ends.rejected[1] == 1
    other = V2VEnds([1, 2], os.urandom(32))
    assert ends.parse(1, other.pack(0, [msg])[0]) == [] and ends.rejected[1] == 2
    assert ends.parse(0, pkt) == []                      # its own frame, heard back: not a message for it



def test_vehicle_run_refuses_an_mmsi_that_is_not_one(tmp_path, capsys):
    """`edgepilot vehicle run --v2v ... --mmsi 12345`: a usage error naming
    the option, before anything is opened (the command's own entry point,
    in this process: a refusal needs no child of its own)."""
    from edgepilot.cli import main
    from tests.hw_util import hil_config

    rc = main(["vehicle", "run", "--config", str(hil_config(tmp_path)), "--v2v", f"127.0.0.1:{free_port('udp')}",
               "--v2v-peer", "127.0.0.1:9", "--mmsi", "12345"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "--mmsi: expected the boat's 9-digit AIS MMSI, got 12345" in err, err


USV_HARDWARE = """
[hardware]
wiring = "direct"
mavlink = ["tcpin:127.0.0.1:{port}"]
log_dir = "{folder}/logs"

[hardware.motor]
port = "{folder}/ttyMOTOR"

[hardware.gps]
source = "{folder}/ttyGPS"
"""


@pytest.mark.interop
def test_vehicle_run_boat_shares_its_route_and_checks_the_routes_it_hears(tmp_path):
    """A boat's `edgepilot vehicle run --v2v --mmsi` process (the USV config
    with a [hardware] table whose devices are absent: it holds, but its core
    and V2V radio run) and a fleet-mate behind its own signed UDP socket:
    the boat sends its route (MMSI as given; no points, it is not
    following one) every --fleet-period (0.3 s here, to keep the test short) on the wall clock; of the mate's
    frames the good route is taken, the NaN-speed one dropped as
    malformed, and a replayed and a foreign-key frame are refused by the
    link's signing before the route share sees them, as the stop lines count."""
    import subprocess
    import sys

    from edgepilot import configs_dir
    from edgepilot.firmware_bridge.fleet_v2v import v2v_mavlink, sign_from_now

    key = os.urandom(32)
    (tmp_path / "fleet.key").write_text(key.hex() + "\n")
    cfg = (configs_dir() / "vehicles" / "usv.toml").read_text()
    assert "[mavlink]\nsysid = 1" in cfg
    cfg = cfg.replace("[mavlink]\nsysid = 1", f'[mavlink]\nsysid = 5\nsigning_key_file = "{tmp_path}/fleet.key"')
    cfg_path = tmp_path / "usv_hw.toml"
    cfg_path.write_text(cfg + USV_HARDWARE.format(port=free_port("tcp"), folder=tmp_path))
    own, peer_port = free_port("udp"), free_port("udp")
    peer = V2VLink(6, f"127.0.0.1:{peer_port}", [f"127.0.0.1:{own}"], signing_key=key)
    peer.subscribe(ROUTE_MSG)
    proc = subprocess.Popen([sys.executable, "-m", "edgepilot", "vehicle", "run", "--config", str(cfg_path),
                             "--origin", "52.0,4.0", "--no-warm", "--v2v", f"127.0.0.1:{own}", "--v2v-peer",
                             f"127.0.0.1:{peer_port}", "--mmsi", "993000555", "--fleet-period", "0.3"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    routes: list = []
    try:
        def wait_routes(n: int) -> None:
            deadline = time.monotonic() + 60
            while len(routes) < n and time.monotonic() < deadline and proc.poll() is None:
                select.select(peer.fds(), [], [], 0.2)
                routes.extend(peer.take(ROUTE_MSG))
            assert len(routes) >= n, f"{len(routes)} routes from the boat"

        wait_routes(1)                                  # the boat is up and its link runs
        now = time.time()
        lat, lon = [52.0, 52.0002], [4.0, 4.0]
        peer.send([route_ahead_message(993000006, now - 0.5, lat, lon, 1.5),
                   _raw(t=now - 0.4, mmsi=993000006, speed=math.nan, lat=lat, lon=lon)])
        mav, st = v2v_mavlink(6, key)
        sign_from_now(mav, st)
        frame = route_ahead_message(993000006, now - 0.3, lat, lon, 1.5).pack(mav)
        rogue_mav, rogue_st = v2v_mavlink(7, os.urandom(32))
        sign_from_now(rogue_mav, rogue_st)
        rogue = route_ahead_message(993000007, now - 0.3, lat, lon, 1.5).pack(rogue_mav)
        sock = peer.sock
        sock.sendto(frame, ("127.0.0.1", own))
        sock.sendto(frame, ("127.0.0.1", own))          # the same frame again: a replay
        sock.sendto(rogue, ("127.0.0.1", own))
        wait_routes(len(routes) + 2)                    # two more rounds of the boat: it has read ours
    finally:
        peer.close()
        if proc.poll() is None:
            proc.terminate()
        out, _ = proc.communicate(timeout=30)
    r = [read_route_ahead(m) for m in routes]
    assert {mmsi for mmsi, *_ in r} == {993000555} and all(len(la) == 0 for _, _, la, _, _ in r)
    assert all(abs(t - time.time()) < 60 for _, t, *_ in r)          # stamped with the wall clock
    assert "refused (signing) 2," in out, out
    m = re.search(r"V2V routes sent (\d+), heard 3, used 0, dropped malformed 1\n", out)
    assert m and int(m.group(1)) >= 3, out
