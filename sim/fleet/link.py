"""The simulated vehicle-to-vehicle radio.

Packets (MAVLink bytes, as the real link carries them) broadcast by one
vehicle reach every other vehicle that is alive, within ``range_m``, in
the same partition group and whose radio is not down, each packet lost
independently with probability ``loss`` (the seeded generator), after
``latency_s``.  Partitions and a vehicle's radio loss are fleet faults of
the scenario (``link_partition``, ``link_loss``).

Every frame a receiver does not get is counted once per (frame, receiver)
under its reason (``DROP_REASONS``).  The lockstep runner
(``sim/fleet/tasking.py``) calls it with the packets of each auction round;
the real-time fleet (``sim/fleet/v2v_relay.py``) with the datagrams the
vehicles' real V2V sockets send, on the world clock."""
from __future__ import annotations

import math

import numpy as np

from edgepilot.firmware_bridge.link_impairment import DelayLine
from edgepilot.sim.fleet.scenario import member_seed

#: Why a receiver did not get a frame: a partition between sender and
#: receiver, beyond ``range_m`` (true positions), a radio down (a
#: ``link_loss`` fault or a broken-down vehicle, at either end), the random
#: ``loss``.
DROP_REASONS = ("partition", "range", "radio_down", "loss")
#: The radio's random stream of a scenario seed (``member_seed(seed, RADIO_STREAM)``).
RADIO_STREAM = 20_000


class V2VRadio:
    def __init__(self, spec, faults, fleet_world, rng: np.random.Generator):
        self.spec = spec
        self.fw = fleet_world
        self.rng = rng
        self.partitions = [f for f in faults if f.type == "link_partition"]
        self.outages = [f for f in faults if f.type == "link_loss"]
        names = [m.spec.name for m in fleet_world.members]
        self.names = names
        # one loss-and-latency line per receiver, all drawing from the scenario's generator
        self._lines = [DelayLine(spec.loss, spec.latency_s, rng) for _ in names]
        self.sent = 0
        self.delivered = 0
        self.lost = 0
        self.blocked = 0
        self.dropped = dict.fromkeys(DROP_REASONS, 0)

    @classmethod
    def of_scenario(cls, sc, fleet_world, seed: int) -> "V2VRadio":
        """The radio of fleet scenario ``sc`` (its ``[link]`` and link faults)
        run with ``seed``: the same loss draws in the lockstep and real-time runs."""
        return cls(sc.link, sc.faults, fleet_world, np.random.default_rng(member_seed(seed, RADIO_STREAM)))

    def _group(self, t: float, name: str, idx: int):
        for f in self.partitions:
            if f.at_s <= t < f.at_s + f.duration_s:
                for g, members in enumerate(f.groups):
                    if name in members:
                        return (id(f), g)
                return (id(f), "alone", idx)
        return None

    def radio_up(self, i: int, t: float) -> bool:
        name = self.names[i]
        if not self.fw.members[i].alive:
            return False
        return not any(f.vehicle == name and f.at_s <= t < f.at_s + f.duration_s for f in self.outages)

    def blocked_by(self, i: int, j: int, t: float) -> str | None:
        """Why j does not hear what i sends at ``t`` (one of ``DROP_REASONS``
        but the random loss), None when it does."""
        if not (self.radio_up(i, t) and self.radio_up(j, t)):
            return "radio_down"
        if self._group(t, self.names[i], i) != self._group(t, self.names[j], j):
            return "partition"
        if math.isfinite(self.spec.range_m):
            p = self.fw.positions()
            if math.hypot(p[i, 0] - p[j, 0], p[i, 1] - p[j, 1]) > self.spec.range_m:
                return "range"
        return None

    def can_hear(self, i: int, j: int, t: float) -> bool:
        """Whether j hears what i sends at ``t`` (apart from random loss)."""
        return self.blocked_by(i, j, t) is None

    def broadcast(self, i: int, t: float, packets: list[bytes]) -> None:
        others = len(self.names) - 1
        if not self.radio_up(i, t):
            self.dropped["radio_down"] += len(packets) * others
            return
        self.sent += len(packets)
        for j in range(len(self.names)):
            if j == i:
                continue
            why = self.blocked_by(i, j, t)
            if why is not None:
                self.blocked += len(packets)
                self.dropped[why] += len(packets)
                continue
            for pkt in packets:
                if not self._lines[j].put(t, pkt):
                    self.lost += 1
                    self.dropped["loss"] += 1

    def receive(self, j: int, t: float) -> list[bytes]:
        """The frames that reach j by ``t``; none while its radio is down
        (those in flight are dropped)."""
        out = self._lines[j].take(t)
        if not self.radio_up(j, t):
            self.dropped["radio_down"] += len(out)
            return []
        self.delivered += len(out)
        return out

    def active_faults(self, t: float) -> list:
        """The partition and radio-loss faults in force at ``t``, in file order."""
        return [f for f in self.partitions + self.outages if f.at_s <= t < f.at_s + f.duration_s]

    def stats(self) -> dict:
        return {"packets_sent": self.sent, "packets_delivered": self.delivered, "packets_lost": self.lost,
                "packets_blocked": self.blocked, "dropped": dict(self.dropped),
                "range_m": self.spec.range_m if math.isfinite(self.spec.range_m) else None,
                "loss": self.spec.loss, "latency_s": self.spec.latency_s}


def fleet_key(sc, seed: int) -> bytes:
    """The key the lockstep fleet's V2V frames are signed with: the one the
    first vehicle's config names (``[mavlink] signing_key_file``, as the
    real-time fleet and ``vehicle run`` use it), else a key of the run,
    derived from its seed (a simulation keeps no secret; the frames are
    signed and checked so the lockstep radio carries what a real one does)."""
    import hashlib
    from pathlib import Path

    from edgepilot.firmware_bridge.mavlink.signing import load_key

    path = sc.vehicles[0].vehicle_config.mavlink.signing_key_file if sc.vehicles else None
    if path:
        return load_key(Path(path).expanduser())
    return hashlib.sha256(f"edgepilot lockstep fleet {int(seed)}".encode()).digest()


class V2VEnds:
    """Each vehicle's end of the lockstep runner's simulated V2V radio: the
    MAVLink object a real ``firmware_bridge.fleet_v2v.V2VLink`` has
    (``v2v_mavlink``), signing what it packs with the fleet key and
    checking what it parses, without a socket.  ``rejected[i]`` /
    ``errors[i]``: frames vehicle i refused for their signature / could not parse."""

    def __init__(self, sysids, key: bytes | None):
        from edgepilot.firmware_bridge.fleet_v2v import v2v_mavlink

        self.sysids = [int(s) for s in sysids]
        ends = [v2v_mavlink(s, key) for s in self.sysids]
        self.mav = [m for m, _ in ends]
        self.signing = [st for _, st in ends]
        self.rejected = [0] * len(ends)
        self.errors = [0] * len(ends)

    def pack(self, i: int, msgs) -> list[bytes]:
        """Vehicle i's messages as signed frames, one packet each."""
        from edgepilot.firmware_bridge.fleet_v2v import sign_from_now

        mav = self.mav[i]
        sign_from_now(mav, self.signing[i])
        out = []
        for m in msgs:
            out.append(m.pack(mav))
            mav.seq = (mav.seq + 1) % 256
        return out

    def parse(self, i: int, pkt: bytes) -> list:
        """The messages of one packet vehicle i heard (refused frames counted)."""
        from edgepilot.firmware_bridge.fleet_v2v import parse_datagram

        msgs, rejected, errors = parse_datagram(self.mav[i], pkt, self.sysids[i])
        self.rejected[i] += rejected
        self.errors[i] += errors
        return msgs
