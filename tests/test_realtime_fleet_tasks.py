"""The real-time fleet plays its scenario's task file and task faults as the
operator at a ground station would (sim/fleet/operator.py), with real
processes: `edgepilot sitl run --realtime FLEET --v2v` serves three UGVs
that auction the tasks on board; the run's operator hands them the task
file, cancels one task mid-run (EDGEPILOT_TASK_CANCEL, answered by each
vehicle's EDGEPILOT_TASK_CANCEL_ACK) and announces a new one to one vehicle
mid-run (the task file extended by it, EDGEPILOT_TASK_FILE, answered when
the vehicle's own auction views carry the new plan).  A real ground station
(`edgepilot gcs fleet tasks --auction`) then hears from the vehicles who did
what: the new task done once, the cancelled one never, none twice."""
from __future__ import annotations

import json
import os
import re
import time

import pytest

from edgepilot.sim.realtime import spawn

from fleet_rig import YARD_ORIGIN
from test_realtime_v2v_link import Output, fleet_ports, gcs

pytestmark = pytest.mark.interop

SPEEDUP = 6.0
CANCEL_AT, NEW_AT = 3.0, 8.0
MEMBERS = [("u1", 1, (4.0, 4.0)), ("u2", 2, (14.0, 4.0)), ("u3", 3, (24.0, 4.0))]
#: "far" is cancelled long before anybody could reach it; "fresh" is unknown until announced to u2.
TASKS = [("a", (4.0, 12.0)), ("b", (24.0, 12.0)), ("far", (70.0, 30.0)), ("fresh", (14.0, 14.0))]

FLEET = """\
name = "yard3_tasks"
seed = {seed}
tasks = "tasks.toml"
stale_after_s = 60.0
vehicles = [
{vehicles}]

[link]
loss = 0.1
latency_s = 0.1
period_s = 1.0

[world]
bounds = [0.0, 0.0, 80.0, 40.0]
origin = [{lat}, {lon}]
resolution = 0.1
surface = "ground"

[[faults]]
type = "cancel_task"
at_s = {cancel_at}
task = "far"

[[faults]]
type = "new_task"
at_s = {new_at}
task = "fresh"
to = ["u2"]
"""


def write_fleet(folder, seed: int):
    lat, lon = YARD_ORIGIN
    vehicles = "".join(f'  {{vehicle = "ugv", sysid = {s}, name = "{n}", start = {{x = {x}, y = {y}, '
                       f'yaw_deg = 90.0}}}},\n' for n, s, (x, y) in MEMBERS)
    fleet = folder / "fleet.toml"
    fleet.write_text(FLEET.format(seed=seed, vehicles=vehicles, lat=lat, lon=lon, cancel_at=CANCEL_AT,
                                  new_at=NEW_AT))
    (folder / "tasks.toml").write_text('name = "yard_visits"\n' + "".join(
        f'\n[[task]]\nid = "{tid}"\nkind = "visit"\nposition = [{x}, {y}]\n' for tid, (x, y) in TASKS))
    key = folder / "fleet.key"
    key.write_text(os.urandom(32).hex() + "\n")
    return fleet, key


def answers(line: str) -> dict[str, str]:
    """vehicle name -> its answer, from an operator line."""
    return dict(re.findall(r"(\w+) \(sysid \d+\) ([\w ]+?)(?:;|$)", line))


@pytest.mark.slow
# one seed in the suite; EDGEPILOT_ALL_SEEDS=1 runs them all
@pytest.mark.parametrize("seed", [1, 2, 3] if os.environ.get("EDGEPILOT_ALL_SEEDS") else [1])
def test_operator_cancels_and_announces_tasks_over_mavlink_mid_run(tmp_path, seed):
    fleet, key = write_fleet(tmp_path, seed)
    tcp, udp, _, v2v = fleet_ports(len(MEMBERS))
    link = ["-c", f"udpin:127.0.0.1:{udp}", "--signing-key", str(key)]
    proc = spawn(str(fleet), [f"tcpin:127.0.0.1:{tcp}", f"udpout:127.0.0.1:{udp}"], SPEEDUP,
                 extra=["--v2v", f"127.0.0.1:{v2v}", "--signing-key", str(key)], ready_timeout=60)
    out = Output(proc)
    try:
        # the task file the operator knows at the start: without "fresh"; every vehicle shows it
        first = out.wait_for(r"operator: task file handed over \(plan (\d+)\) answered: (.*)", 60)
        assert answers(first.group(2)) == {"u1": "accepted", "u2": "accepted", "u3": "accepted"}, first.group(0)
        # each task fault printed when played, on the world clock, then its answers
        played = out.wait_for(r"t=([\d.]+) s: operator: cancel_task far to (.*)", 60)
        assert float(played.group(1)) == pytest.approx(CANCEL_AT, abs=0.2)
        cancel = out.wait_for(r"operator: cancel_task far \(plan (\d+)\) answered: (.*)", 60)
        assert cancel.group(1) == first.group(1)
        assert answers(cancel.group(2)) == {"u1": "accepted", "u2": "accepted", "u3": "accepted"}, cancel.group(0)
        played = out.wait_for(r"t=([\d.]+) s: operator: new_task fresh to u2 \(sysid 2\)$", 60)
        assert float(played.group(1)) == pytest.approx(NEW_AT, abs=0.2)
        new = out.wait_for(r"operator: new_task fresh \(plan (\d+)\) answered: (.*)", 60)
        assert answers(new.group(2)) == {"u2": "accepted"}, new.group(0)
        plan_id = int(new.group(1))
        assert plan_id != int(first.group(1))
        # the ground station's view of the extended plan, from the vehicles' own auction messages
        doc = {"format": "edgepilot-fleet-auction", "version": 1, "name": "yard_visits", "plan_id": plan_id,
               "tasks": [tid for tid, _ in TASKS], "vehicles": [{"name": n, "sysid": s} for n, s, _ in MEMBERS]}
        (tmp_path / "fleet_auction.json").write_text(json.dumps(doc))
        deadline, st = time.monotonic() + 60, None
        while time.monotonic() < deadline:
            r = gcs(*link, "fleet", "tasks", "--auction", "--json", "--wait", "6", cwd=tmp_path)
            assert r.returncode == 0, r.stdout + r.stderr
            got = json.loads(r.stdout)
            st = {t["task"]: t for t in got["tasks"]}
            assert st["far"]["state"] in ("cancelled", "claimed", "open"), st      # never done
            # u1 and u3, not told, auction the extended plan too (u2 repeated its file over V2V)
            if (all(st[t]["state"] == "done" for t in ("a", "b", "fresh")) and st["far"]["state"] == "cancelled"
                    and all(v["heard"] for v in got["vehicles"])):
                break
        else:
            raise AssertionError(f"not every task done, or far not cancelled: {st}")
    finally:
        text = out.stop()
    summary = text[text.index("stopped after"):]
    # each vehicle's own completions: together every task done once, the cancelled one never
    done = []
    for n, s, _ in MEMBERS:
        row = re.search(rf"  {n} sysid {s}: .*refused \(signing\) (\d+), tasks done (.*)", summary)
        assert row and row.group(1) == "0", summary
        done += [] if row.group(2) == "-" else row.group(2).split(", ")
    assert sorted(done) == ["a", "b", "fresh"], summary
    assert {st[t]["vehicle"] for t in ("a", "b", "fresh")} <= {n for n, _, _ in MEMBERS}
    assert ("operator: task faults played 1 new_task, 1 cancel_task; vehicle answers accepted 7, refused 0, "
            "not answered 0, not heard 0") in summary, summary
    assert "collisions between vehicles 0" in summary, summary
