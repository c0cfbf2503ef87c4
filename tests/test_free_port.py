"""``sim.realtime.free_port``: a port below the OS's ephemeral range, free
to bind, so a socket the OS hands a port to (an unbound sender, a bind to
port 0) never lands on one a test or tool picked and binds a moment later."""
from __future__ import annotations

import socket

import pytest

from edgepilot.sim.realtime import _ephemeral_range, free_port


@pytest.mark.parametrize("kind,typ", [("tcp", socket.SOCK_STREAM), ("udp", socket.SOCK_DGRAM)])
def test_free_port_is_below_the_ephemeral_range_and_binds(kind, typ):
    lo, hi = _ephemeral_range()
    assert 1024 < lo <= hi <= 65535
    ports = {free_port(kind) for _ in range(20)}
    assert all(20000 <= p < min(lo, 49152) - 100 for p in ports), (sorted(ports), lo)
    assert len(ports) > 1                       # picked at random, not one fixed port
    for p in ports:
        s = socket.socket(socket.AF_INET, typ)
        try:
            s.bind(("127.0.0.1", p))
        finally:
            s.close()


def test_a_port_held_by_someone_is_not_handed_out():
    """Each port free_port returns binds, and while it is held free_port
    does not return it again (it tries a bind before answering)."""
    held = []
    try:
        for _ in range(30):
            p = free_port("udp")
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", p))                 # free_port said free: it must bind
            held.append(s)
        assert len({s.getsockname()[1] for s in held}) == 30
    finally:
        for s in held:
            s.close()


def test_unbound_senders_get_ports_in_the_ephemeral_range():
    """The premise: the OS gives an unbound UDP sender a port in its
    ephemeral range, where free_port never picks."""
    lo, hi = _ephemeral_range()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.sendto(b"x", ("127.0.0.1", free_port("udp")))
        assert lo <= s.getsockname()[1] <= hi
    finally:
        s.close()
