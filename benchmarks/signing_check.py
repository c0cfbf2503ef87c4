"""Cost of checking one signed incoming frame: our shared replay state
(firmware_bridge.mavlink.signing.SigningState) against pymavlink's own
per-object check, same frames, interleaved rounds, median.

Each round parses N signed COMMAND_LONG frames of one stream (increasing
timestamps) through a fresh pymavlink MAVLink object: the peer with
pymavlink's check_signature, ours with the SigningState hook.

Run: PYTHONPATH=. python benchmarks/signing_check.py
"""
from __future__ import annotations

import statistics
import time

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edgepilot.firmware_bridge.mavlink import signing

KEY = bytes(range(32))
N = 2000
ROUNDS = 15


def frames() -> bytes:
    mav = mavlink.MAVLink(None, srcSystem=255, srcComponent=190)
    mav.signing.secret_key = KEY
    mav.signing.sign_outgoing = True
    mav.signing.link_id = 1
    # Ahead of the checkers' boot floor (the clock when they start), within the future bound.
    mav.signing.timestamp = signing.signing_timestamp() + 20 * signing.TICKS_PER_S
    msg = mavlink.MAVLink_command_long_message(1, 1, 400, 0, 1, 0, 0, 0, 0, 0, 0)
    return b"".join(bytes(msg.pack(mav)) for _ in range(N))


def peer(data: bytes) -> float:
    mav = mavlink.MAVLink(None, 1, 1)
    mav.signing.secret_key = KEY
    mav.signing.timestamp = signing.signing_timestamp() - 1
    t = time.perf_counter()
    n = len(mav.parse_buffer(data))
    dt = time.perf_counter() - t
    assert n == N
    return dt


def ours(data: bytes) -> float:
    mav = mavlink.MAVLink(None, 1, 1)
    signing.SigningState(KEY).attach(mav, 0)
    t = time.perf_counter()
    n = len(mav.parse_buffer(data))
    dt = time.perf_counter() - t
    assert n == N
    return dt


def main() -> None:
    data = frames()
    p, o = [], []
    for _ in range(ROUNDS):
        p.append(peer(data))
        o.append(ours(data))
    pu, ou = statistics.median(p) / N * 1e6, statistics.median(o) / N * 1e6
    print(f"parse + check one signed frame: peer (pymavlink) {pu:.2f} us, ours {ou:.2f} us, ratio {ou / pu:.2f}")


if __name__ == "__main__":
    main()
