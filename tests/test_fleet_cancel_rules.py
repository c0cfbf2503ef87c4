"""The rules that keep a cancelled task cancelled (docs/fleet.md,
"Cancelling a task"), as properties of the pure auction
(vehicle/fleet/cbba.py) under partitions and loss drawn by hypothesis:

1. once a vehicle knows a task is cancelled it never again bids for,
   claims, routes or credits anyone with it, and every view it sends says
   so (the done bit only grows);
2. when the fleet hears itself again every vehicle learns the cancel,
   however long the partition and whoever missed it;
3. after that the fleet agrees on an allocation in which the cancelled
   task is nobody's and every other task is somebody's, exactly once.
"""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgepilot.vehicle.fleet.cbba import NONE, CbbaAgent, CbbaParams, run_rounds
from edgepilot.vehicle.fleet.costs import fleet_costs, make_plan, straight_line_matrix
from edgepilot.vehicle.fleet.tasks import parse_tasks


def costs_for(seed: int, V: int, T: int):
    rng = np.random.default_rng(seed)
    doc = {"vehicle": [{"name": f"v{i}", "sysid": i + 1, "domain": "land",
                        "start": [float(x) for x in rng.uniform(0, 100, 2)], "speed": 1.0} for i in range(V)],
           "task": [{"id": f"t{j}", "kind": "visit", "position": [float(x) for x in rng.uniform(0, 100, 2)]}
                    for j in range(T)]}
    tf = parse_tasks(doc, "random fleet")
    return fleet_costs(list(tf.task), list(tf.vehicle), lambda d, s, t: straight_line_matrix(s, t))


@st.composite
def scenarios(draw):
    V = draw(st.integers(2, 5))
    T = draw(st.integers(2, 7))
    rounds = draw(st.integers(4, 40))
    # per stretch of rounds: which side of a partition each vehicle is on
    cuts = sorted(draw(st.lists(st.integers(1, rounds - 1), max_size=4, unique=True)))
    sides = [draw(st.lists(st.integers(0, 2), min_size=V, max_size=V)) for _ in range(len(cuts) + 1)]
    return {"V": V, "T": T, "rounds": rounds, "cuts": cuts, "sides": sides,
            "loss": draw(st.sampled_from([0.0, 0.2, 0.5])), "seed": draw(st.integers(0, 2 ** 16)),
            "cancel_at": draw(st.integers(0, rounds - 1)), "by": draw(st.integers(0, V - 1)),
            "task": draw(st.integers(0, T - 1)), "stale": draw(st.sampled_from([2.0, 4.0, 1e9]))}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_a_cancelled_task_never_comes_back_and_reaches_everyone(sc):
    V, T, j = sc["V"], sc["T"], sc["task"]
    costs = costs_for(sc["seed"], V, T)
    rng = np.random.default_rng(sc["seed"] + 1)
    agents = [CbbaAgent(v, costs, CbbaParams(stale_after=sc["stale"])) for v in range(V)]
    for a in agents:
        a.heard[:] = 0.0
    inboxes: list[list] = [[] for _ in range(V)]
    knows = [False] * V
    now = 0.0

    def check(i, a, m):
        if knows[i]:
            assert a.done[j] and m.done[j], f"agent {i} forgot the cancel"
            assert a.winner[j] == NONE and m.winner[j] == NONE and m.bid[j] == 0.0
            assert j not in a.bundle and j not in a.route and j not in m.route

    for r in range(sc["rounds"]):
        now = float(r + 1)
        if r == sc["cancel_at"]:
            agents[sc["by"]].complete(j)              # the operator's cancel reaches one vehicle
            knows[sc["by"]] = True
        out = []
        for i, a in enumerate(agents):
            m = a.step(now, inboxes[i])
            knows[i] = knows[i] or bool(a.done[j])
            check(i, a, m)
            out.append(m)
        side = sc["sides"][sum(1 for c in sc["cuts"] if c <= r)]
        inboxes = [[m for m in out if m.sender != i and side[m.sender] == side[i] and rng.random() >= sc["loss"]]
                   for i in range(V)]
    # the partition heals: everyone hears everyone
    for r in range(V + 1):
        now += 1.0
        out = [a.step(now, inboxes[i]) for i, a in enumerate(agents)]
        for i, (a, m) in enumerate(zip(agents, out)):
            knows[i] = knows[i] or bool(a.done[j])
            check(i, a, m)
        inboxes = [[m for m in out if m.sender != i] for i in range(V)]
    assert all(knows), f"after the heal only {knows} know the cancel"
    run_rounds(agents, 20 * T + 20, t0=now)
    plan = make_plan(costs, [a.route for a in agents], "cbba")     # raises if a task is anyone's twice
    assert set(plan.unassigned) == {costs.task_ids[j]}, plan.unassigned
    for a in agents:
        check(a.agent, a, a.step(now + 1000.0, []))
