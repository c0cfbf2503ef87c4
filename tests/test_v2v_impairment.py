"""Loss and latency on a vehicle's own V2V link for bench tests
(firmware_bridge/link_impairment.py, the same DelayLine the simulated radio
sim/fleet/link.py uses): real UDP sockets, and a real `edgepilot vehicle
run --v2v --v2v-loss --v2v-latency` process on the simulator's pty hardware."""
from __future__ import annotations

import re
import time

import numpy as np
import pytest

from edgepilot.firmware_bridge.fleet_v2v import V2VLink
from edgepilot.firmware_bridge.link_impairment import DelayLine
from edgepilot.sim.realtime import free_port


def udp_rx_queue(port: int) -> int:
    """Bytes waiting in the receive queue of the UDP socket bound to 127.0.0.1:``port`` (/proc/net/udp)."""
    want = f"0100007F:{port:04X}"
    for line in open("/proc/net/udp").read().splitlines()[1:]:
        f = line.split()
        if f[1] == want:
            return int(f[4].split(":")[1], 16)
    raise AssertionError(f"no UDP socket on 127.0.0.1:{port}")


def heartbeats(link: V2VLink, n: int):
    return [link.mod.MAVLink_heartbeat_message(10, 8, 0, k, 4, 3) for k in range(n)]


def test_datagrams_heard_are_lost_as_drawn_and_held_for_the_latency():
    """200 frames over real UDP into a link with loss 0.3 and latency 2 s on
    a clock the test sets: nothing comes out before the latency has passed,
    then exactly the frames the generator spared (an oracle drawing from
    the same seed), in the order sent."""
    now = {"t": 100.0}
    impair = DelayLine(0.3, 2.0, np.random.default_rng(5))
    rx = V2VLink(1, "127.0.0.1:0", [], impair=impair, clock=lambda: now["t"])
    tx = V2VLink(2, "127.0.0.1:0", [f"127.0.0.1:{rx.port}"])
    try:
        n = 200
        tx.send(heartbeats(tx, n))
        got = []
        for _ in range(10_000):                   # until every datagram has been read (kernel buffer drained)
            got += rx.receive()
            if impair.lost + len(impair.queue) == n:
                break
        assert impair.lost + len(impair.queue) == n and got == []          # held back: t is still 100 s
        now["t"] = 101.99
        assert rx.receive() == []
        now["t"] = 102.0
        got = rx.receive()
        kept = np.random.default_rng(5).random(n) >= 0.3
        assert [m.custom_mode for m in got] == [k for k in range(n) if kept[k]]
        assert impair.lost == n - int(kept.sum()) and rx.stats()["v2v_impaired_lost"] == impair.lost
    finally:
        rx.close()
        tx.close()


@pytest.mark.parametrize("loss, latency, message", [(1.0, 0.0, "link loss: expected a probability in [0, 1), got 1.0"),
                                                    (-0.1, 0.0, "link loss"),
                                                    (0.0, -1.0, "link latency: expected seconds >= 0, got -1.0"),
                                                    (0.0, float("nan"), "link latency")])
def test_bad_loss_or_latency_is_refused(loss, latency, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        DelayLine(loss, latency, np.random.default_rng(0))


@pytest.mark.interop
def test_vehicle_run_hears_its_v2v_through_the_bench_loss(tmp_path):
    """`edgepilot vehicle run --v2v ... --v2v-loss 0.5 --v2v-latency 0.2`
    says so at start, and of the frames a peer sends it some are heard and
    some lost, as its stop line counts."""
    from test_state_store_vehicle_run import Onboard
    from tests.hw_util import hil_config

    own, peer_port = free_port("udp"), free_port("udp")
    ob = Onboard(hil_config(tmp_path), extra=["--v2v", f"127.0.0.1:{own}", "--v2v-peer", f"127.0.0.1:{peer_port}",
                                              "--v2v-loss", "0.5", "--v2v-latency", "0.2"])
    peer = V2VLink(2, f"127.0.0.1:{peer_port}", [f"127.0.0.1:{own}"])
    try:
        ob.wait_line("edgepilot vehicle: first control tick")
        assert any(re.search(r"v2v \(auction\) +udp .* hearing with loss 0.5 and latency 0.2 s", l) for l in ob.lines)
        peer.send(heartbeats(peer, 100))
        # the vehicle has read them all when its socket's receive queue is empty
        deadline = time.monotonic() + 30
        while udp_rx_queue(own) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert udp_rx_queue(own) == 0
    finally:
        peer.close()
        ob.close()
    line = ob.wait_line("edgepilot vehicle: V2V sent")
    m = re.search(r"heard (\d+), refused \(signing\) 0, errors 0, lost \(--v2v-loss\) (\d+), still delayed (\d+)", line)
    assert m, line
    heard, lost, held = map(int, m.groups())
    assert heard + lost + held == 100, line
    assert lost == int((np.random.default_rng(1).random(100) < 0.5).sum()), line     # seeded by its sysid (1)
