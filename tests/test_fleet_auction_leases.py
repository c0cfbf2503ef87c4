"""Task leases in the on-board auction (onboard/fleet_auction.py), in one
process: a real vehicle core, its MAVLink endpoint and a real signed V2V
link on 127.0.0.1, driven on a fleet clock the test sets.  The vehicle is
sysid 1 of a four-member plan and nobody else talks but one member, sysid
2, whose promise tables the test sends as EDGEPILOT_TASK_LEASE (a
``LeaseBook`` of its own, ``encode_leases``).  Alone (one granter of four)
the vehicle may not work on its task: it holds; with sysid 2's promise it
has a quorum (two of four with the first member) and goes on; once sysid
2's tables stop coming it holds again within ``renew_within_s``."""
from __future__ import annotations

import logging
import os
import select

import numpy as np
import pytest

from edgepilot.firmware_bridge.fleet_link import FleetCodec, encode_leases, task_file_messages
from edgepilot.firmware_bridge.fleet_v2v import V2VLink
from edgepilot.firmware_bridge.mavlink import dialects
from edgepilot.firmware_bridge.mavlink.endpoint import MavlinkEndpoint
from edgepilot.onboard.fleet_auction import FleetAuction
from edgepilot.vehicle.fleet.lease import LeaseBook, LeaseParams
from edgepilot.vehicle.types import Mode

MEMBERS = [(1, (10.0, 10.0)), (2, (60.0, 10.0)), (3, (60.0, 60.0)), (4, (10.0, 60.0))]


def task_file() -> str:
    return ('name = "lease_unit"\n'
            + "".join(f'\n[[vehicle]]\nname = "v{s}"\nsysid = {s}\ndomain = "land"\nstart = [{x}, {y}]\n'
                      f'speed = 1.0\n' for s, (x, y) in MEMBERS)
            + '\n[[task]]\nid = "near"\nkind = "visit"\nposition = [14.0, 14.0]\n')


@pytest.fixture
def rig():
    from edgepilot.sim.scenario import load_scenario
    from edgepilot.sim.simulation import Simulation
    from edgepilot.vehicle.core import VehicleCore
    from edgepilot.vehicle.types import GeoPoint

    sim = Simulation(load_scenario("ugv_yard"))
    lat, lon = sim.scenario.world.origin
    core = VehicleCore(sim.cfg, GeoPoint(lat, lon), sim.world.prior_map(), defer_bring_up=True)
    key = os.urandom(32)
    ep = MavlinkEndpoint(core, [], "ugv", sysid=1, dialect=dialects.load())
    mine = V2VLink(1, "127.0.0.1:0", [], key)
    peer = V2VLink(2, "127.0.0.1:0", [f"127.0.0.1:{mine.sock.getsockname()[1]}"], key)
    clock = {"t": 100.0}
    lease = LeaseParams(duration_s=8.0, margin_s=2.0, renew_within_s=3.0, settle_s=1.0)
    auction = FleetAuction(core, ep, mine, period_s=1.0, stale_after_s=3.0, fleet_clock=lambda: clock["t"],
                           lease=lease)
    yield core, auction, peer, clock, lease
    auction.close()
    peer.close()
    ep.close()


def run_until(auction, clock, until: float, step: float = 0.5) -> None:
    while clock["t"] < until - 1e-9:
        clock["t"] += step
        select.select(auction.fds(), [], [], 0.05)     # whatever the peer sent has landed
        auction.poll(clock["t"])


def test_a_vehicle_works_on_its_task_only_while_it_holds_the_lease(rig, caplog):
    core, auction, peer, clock, lease = rig
    for m in task_file_messages(task_file(), target_system=1):
        auction._file_part(m, clock["t"])
    p = auction.plan
    assert p is not None and p.ids == ["near"]
    # the others never speak: presumed gone after stale_after_s, it wins the task and makes it its mission
    run_until(auction, clock, clock["t"] + 6.0)
    assert p.route == [0] and core.mission is p.mission
    assert not p.book.holds(0, clock["t"])             # its own promise only: 1 of 4 is no quorum
    assert core.arm(clock["t"], force=True).ok and core.start_mission(clock["t"], 1).ok
    with caplog.at_level(logging.INFO, logger="edgepilot.onboard.fleet_auction"):
        run_until(auction, clock, clock["t"] + 0.5)
    assert core.mode == Mode.HOLD and p.paused
    assert "no lease on near, holding" in caplog.text

    # sysid 2 promises the task to sysid 1 (its winner there too), every round
    codec = FleetCodec(p.sysids, 1, p.id)
    theirs = LeaseBook(1, 4, 1, lease)
    heard = np.full(4, -np.inf)

    def promise(t: float) -> None:
        heard[0] = t
        theirs.grant(t, np.array([0]), heard, np.zeros(1, bool))
        peer.send(encode_leases(codec, theirs.view(t)))

    t_stop = clock["t"] + 6.0
    while clock["t"] < t_stop:
        promise(clock["t"])
        run_until(auction, clock, clock["t"] + 1.0)
    assert p.book.holds(0, clock["t"]) and core.mode == Mode.AUTO and not p.paused
    assert p.book.grantors(0, clock["t"]).tolist() == [True, True, False, False]
    # sysid 2 falls silent: its newest table is too old within renew_within_s (long before it lapses)
    silent = clock["t"]
    run_until(auction, clock, silent + lease.renew_within_s + 1.5)
    assert core.mode == Mode.HOLD and p.paused
    assert theirs.until[1, 0] > clock["t"]             # what it promised has not even lapsed yet


def test_leases_carry_over_a_plan_extension_and_a_done_task_is_promised_no_more(rig):
    core, auction, peer, clock, lease = rig
    for m in task_file_messages(task_file(), target_system=1):
        auction._file_part(m, clock["t"])
    p = auction.plan
    run_until(auction, clock, clock["t"] + 6.0)
    promised = p.book.holder[0, 0], p.book.until[0, 0]
    assert promised[0] == 0
    # the ground station appends a task: the promises of the old one carry over, the new one is free
    ext = task_file() + '\n[[task]]\nid = "far"\nkind = "visit"\nposition = [50.0, 50.0]\n'
    for m in task_file_messages(ext, target_system=1):
        auction._file_part(m, clock["t"])
    q = auction.plan
    assert q is not p and q.ids == ["near", "far"]
    assert (q.book.holder[0, 0], q.book.until[0, 0]) == promised and q.book.holder[0, 1] == -1
    # a task heard done is never promised again, and not held
    q.agent.complete(0)
    q.book.complete(0)
    run_until(auction, clock, clock["t"] + 2.0)
    assert q.book.holder[0, 0] == -1 and not q.book.holds(0, clock["t"])


def test_vehicle_run_refuses_a_lease_life_that_is_not_positive(tmp_path):
    """`edgepilot vehicle run --v2v ... --fleet-lease 0`: a usage error
    naming the option, before anything is opened."""
    import subprocess
    import sys

    from edgepilot.sim.realtime import free_port
    from tests.hw_util import hil_config

    r = subprocess.run([sys.executable, "-m", "edgepilot", "vehicle", "run", "--config", str(hil_config(tmp_path)),
                        "--v2v", f"127.0.0.1:{free_port('udp')}", "--fleet-lease", "0"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "--fleet-lease: expected a task lease's life > 0 s, got 0.0" in r.stderr, r.stderr


# ---------------------------------------------------------------- a later task's lease while waiting for the first's
T0 = 100.0          # the fleet clock at sim time 0


@pytest.fixture
def driven():
    """The rig with a vehicle that drives: the simulator's UGV in its yard,
    its core stepped by the simulator, the auction polled at the control
    rate on a fleet clock ``T0`` ahead of the simulator's."""
    from edgepilot.sim.scenario import load_scenario
    from edgepilot.sim.simulation import Simulation

    sim = Simulation(load_scenario("ugv_yard"))
    core = sim.make_core()
    key = os.urandom(32)
    ep = MavlinkEndpoint(core, [], "ugv", sysid=1, dialect=dialects.load())
    mine = V2VLink(1, "127.0.0.1:0", [], key)
    peer = V2VLink(2, "127.0.0.1:0", [f"127.0.0.1:{mine.sock.getsockname()[1]}"], key)
    clock = {"t": T0}
    lease = LeaseParams(duration_s=8.0, margin_s=2.0, renew_within_s=3.0, settle_s=1.0)
    auction = FleetAuction(core, ep, mine, period_s=1.0, stale_after_s=3.0, fleet_clock=lambda: clock["t"],
                           lease=lease)
    yield sim, core, auction, peer, clock, lease
    auction.close()
    peer.close()
    ep.close()


def test_a_vehicle_waiting_for_its_first_tasks_lease_works_on_a_later_one_it_holds(driven):
    """The vehicle (sysid 1 of four, the others silent: it wins both tasks,
    5 m north and 5 m east of it) gets the lease on the second task of its
    route but not on the first: sysid 2 promises it only the second.  A
    wait of a round or two would beat the detour, so it waits while sysid
    2 may merely not have caught up; once sysid 2 has kept promising the
    first to nobody for longer than ``renew_within_s`` the wait is taken to
    last as long again, and it works on the second (never on a task whose
    lease it does not hold); once that is done and the first's lease has
    come, on the first.  Before: it held in place at the first for as long
    as its lease did not come."""
    from edgepilot.firmware_bridge.fleet_link import RESULT_DONE
    from edgepilot.sim.simulation import PHYSICS_DT

    sim, core, auction, peer, clock, lease = driven
    every = int(round(1 / (core.cfg.control.rate_hz * PHYSICS_DT)))
    cmd = core.last_command
    sent = {"t": -np.inf}
    codec = theirs = None
    promised: list[int] = []                 # the tasks sysid 2 promises to sysid 1
    worked: list[tuple[float, int]] = []     # (fleet time, task) while the vehicle is in AUTO on its mission

    def drive(seconds: float, until=lambda: False) -> None:
        nonlocal cmd
        end = sim.t + seconds
        while sim.t < end - 1e-9 and not until():
            k = int(round(sim.t / PHYSICS_DT))
            if k % every == 0:
                t = sim.t
                clock["t"] = T0 + t
                if theirs is not None and clock["t"] >= sent["t"] + 1.0:      # sysid 2's round
                    sent["t"] = clock["t"]
                    sent.setdefault("first", clock["t"])
                    heard = np.full(4, -np.inf)
                    heard[0] = clock["t"]
                    winner = np.full(theirs.n_tasks, -1)
                    winner[promised] = 0
                    theirs.grant(clock["t"], winner, heard, np.zeros(theirs.n_tasks, bool))
                    peer.send(encode_leases(codec, theirs.view(clock["t"])))
                    select.select(auction.fds(), [], [], 1.0)                 # it has landed
                auction.poll(t)
                q = auction.plan
                j = q.seq_task.get(core.mission_current) if q is not None and core.mission is q.mission else None
                if core.mode == Mode.AUTO and j is not None:
                    # the rule: in AUTO only on a task whose lease it holds
                    assert q.book.holds(j, clock["t"]), (clock["t"], q.ids[j])
                    worked.append((clock["t"], j))
                cmd = core.step(t, sim.sensors(t))
            sim.step(PHYSICS_DT, cmd)

    drive(0.5)
    assert core.state.valid and core.arm(sim.t).ok
    x, y = core.state.x, core.state.y
    text = task_file().split("[[task]]")[0].replace("start = [10.0, 10.0]", f"start = [{x:.2f}, {y:.2f}]")
    text += (f'[[task]]\nid = "north"\nkind = "visit"\nposition = [{x:.2f}, {y + 5:.2f}]\n'
             f'\n[[task]]\nid = "east"\nkind = "visit"\nposition = [{x + 5:.2f}, {y:.2f}]\n')
    for m in task_file_messages(text, target_system=1):
        auction._file_part(m, sim.t)
    p = auction.plan
    assert p is not None and p.ids == ["north", "east"]
    # the others never speak: presumed gone after stale_after_s, it wins both and makes them its mission
    drive(6.0)
    assert sorted(p.route) == [0, 1] and core.mission is p.mission
    first, later = p.route
    assert core.start_mission(sim.t, 1).ok
    drive(1.0)
    assert core.mode == Mode.HOLD and p.paused             # alone it holds no lease: it waits
    assert not worked

    # sysid 2 promises it the later task only: a quorum (2 of 4 with the first member) on that one
    codec, theirs = FleetCodec(p.sysids, len(p.ids), p.id), LeaseBook(1, 4, len(p.ids), lease)
    promised[:] = [later]
    drive(20.0, until=lambda: core.mode == Mode.AUTO)
    assert core.mode == Mode.AUTO and p.seq_task[core.mission_current] == later, \
        "a vehicle waiting for its first task's lease must work on a later task whose lease it holds"
    since = clock["t"] - sent["first"]          # how long sysid 2 had kept the first from it
    assert lease.renew_within_s < since <= lease.renew_within_s + 2.0, since
    assert not p.book.holds(first, clock["t"])
    drive(30.0, until=lambda: p.result.get(later) == RESULT_DONE)
    assert p.done_by.get(later) == 1
    # the later one done, the first's lease still not come: it waits again
    drive(2.0)
    assert core.mode == Mode.HOLD and p.result.get(first) is None
    # the first's lease comes: back to it
    promised[:] = [first, later]
    drive(30.0, until=lambda: p.result.get(first) == RESULT_DONE)
    assert p.done_by == {later: 1, first: 1}
    assert {j for _, j in worked} == {first, later}
    t_later = [t for t, j in worked if j == later]
    assert max(t_later) < min(t for t, j in worked if j == first)      # one after the other
