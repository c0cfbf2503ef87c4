"""The real-time fleet's V2V link through the simulated radio
(sim/fleet/v2v_relay.py over sim/fleet/link.py, the lockstep runner's radio
model), with real processes: `edgepilot sitl run --realtime FLEET --v2v`
serves the fleet, `edgepilot gcs fleet tasks upload FILE --auction --start`
hands it a task file, and this test listens to what the vehicles tell
their ground stations (their EDGEPILOT_FLEET_HEARD views) on a second UDP
output.  The scenario's partition and range apply to the vehicles' real,
signed V2V datagrams on the world clock; the frames dropped are counted by
reason in the run's output."""
from __future__ import annotations

import contextlib
import json
import os
import re
import select
import socket
import subprocess
import sys
import threading
import time

import pytest

from edgepilot.firmware_bridge.mavlink import dialects
from edgepilot.sim.realtime import free_port, spawn, stop

from fleet_rig import YARD_ORIGIN

pytestmark = pytest.mark.interop

SPEEDUP = 4.0
#: The partition (world time [s]): after the auction settles (the task file
#: is handed over in the first seconds), while the vehicles are driving.
PART_AT, PART_FOR = 20.0, 24.0

FLEET = """\
name = "yard4_v2v"
seed = {seed}
stale_after_s = {stale}
vehicles = [
{vehicles}]

[link]
loss = {loss}
latency_s = 0.1
period_s = 1.0
{range_line}
[world]
bounds = [0.0, 0.0, 80.0, 40.0]
origin = [{lat}, {lon}]
resolution = 0.1
surface = "ground"
{faults}"""

PARTITION = f"""
[[faults]]
type = "link_partition"
at_s = {PART_AT}
duration_s = {PART_FOR}
groups = [["w1", "w2"], ["e1", "e2"]]
"""


def write_fleet(folder, members, tasks, *, seed=1, stale=60.0, loss=0.1, range_m=None, faults=""):
    """The fleet scenario, its task file (every member an auction member)
    and a signing key, in ``folder``."""
    lat, lon = YARD_ORIGIN
    vehicles = "".join(f'  {{vehicle = "ugv", sysid = {s}, name = "{n}", start = {{x = {x}, y = {y}, '
                       f'yaw_deg = 90.0}}}},\n' for n, s, (x, y) in members)
    fleet = folder / "fleet.toml"
    fleet.write_text(FLEET.format(seed=seed, stale=stale, vehicles=vehicles, loss=loss, lat=lat, lon=lon,
                                  range_line="" if range_m is None else f"range_m = {range_m}\n",
                                  faults=faults))
    tf = folder / "tasks.toml"
    tf.write_text(f'name = "yard_visits"\norigin = [{lat}, {lon}]\n'
                  + "".join(f'\n[[vehicle]]\nname = "{n}"\nsysid = {s}\ndomain = "land"\nstart = [{x}, {y}]\n'
                            f'speed = 1.0\n' for n, s, (x, y) in members)
                  + "".join(f'\n[[task]]\nid = "{tid}"\nkind = "visit"\nposition = [{x}, {y}]\n'
                            for tid, (x, y) in tasks))
    keyfile = folder / "fleet.key"
    keyfile.write_text(os.urandom(32).hex() + "\n")
    return fleet, tf, keyfile


def gcs_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "edgepilot", "gcs", *args]


def gcs(*args, cwd, timeout: float = 60.0) -> subprocess.CompletedProcess:
    return subprocess.run(gcs_cmd(*args), capture_output=True, text=True, timeout=timeout, cwd=str(cwd),
                          env=dict(os.environ, PYTHONUNBUFFERED="1"))


def fleet_ports(n: int) -> tuple[int, int, int, int]:
    """TCP base, the ground station's UDP port, this test's UDP port, V2V base."""
    while True:
        tcp, v2v = free_port("tcp"), free_port("udp")
        if tcp + 10 * n <= 65535 and v2v + 10 * n <= 65535:
            return tcp, free_port("udp"), free_port("udp"), v2v


class Output:
    """The SITL's stdout, read line by line in a thread (spawn hands a pipe)."""

    def __init__(self, proc):
        self.proc = proc
        self.lines: list[str] = []
        self.arrived: list[float] = []          # monotonic time each line was read
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.arrived.append(time.monotonic())
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        """The first line matching ``pattern``; its arrival time is ``self.at``."""
        rx = re.compile(pattern)
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for line, at in zip(self.lines, self.arrived):
                    m = rx.search(line)
                    if m:
                        self.at = at
                        return m
                left = end - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self.thread.is_alive()):
                    raise AssertionError(f"no line /{pattern}/ within {timeout:g} s:\n" + "\n".join(self.lines))
                self.cond.wait(min(left, 0.5))

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.thread.join(10)
        return "\n".join(self.lines)


class HeardViews:
    """What each vehicle says it last heard of each member (its
    EDGEPILOT_FLEET_HEARD, sent to its ground stations), from a UDP output
    of the SITL: a list of (sender sysid, fleet time [s], {member sysid:
    last heard [s]})."""

    def __init__(self, port: int):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.mav = dialects.load().MAVLink(None)
        self.mav.robust_parsing = True
        self.views: list[tuple[int, float, dict]] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.done.is_set():
            r, _, _ = select.select([self.sock], [], [], 0.2)
            if not r:
                continue
            data = self.sock.recv(65535)
            for m in self.mav.parse_buffer(data) or []:
                if m.get_type() == "EDGEPILOT_FLEET_HEARD":
                    heard = {int(m.sysid[k]): m.heard_usec[k] / 1e6 for k in range(m.count)}
                    self.views.append((m.get_srcSystem(), m.time_usec / 1e6, heard))

    def between(self, sender: int, t0: float, t1: float) -> list[tuple[float, dict]]:
        return [(t, h) for s, t, h in list(self.views) if s == sender and t0 <= t <= t1]

    def close(self):
        self.done.set()
        self.thread.join(5)
        self.sock.close()


class Served:
    """What a served fleet run gives a test: the ground station's link
    arguments, the SITL's output, the vehicles' FLEET_HEARD views."""

    def __init__(self, link, out, views):
        self.link, self.out, self.views = link, out, views
        self.text = ""
        self.handed_at: float | None = None      # monotonic time the ground station had handed the file over


@contextlib.contextmanager
def served(tmp_path, fleet, tasks, key, members, start: bool):
    """Serve ``fleet`` with --v2v and hand it ``tasks`` (--auction, with
    ``start`` --start).  The ground station is up before the fleet, so the
    file reaches every vehicle in its first world seconds.  On exit the
    SITL is stopped and its whole output is in ``.text``."""
    tcp, udp, mine, v2v = fleet_ports(len(members))
    link = ["-c", f"udpin:127.0.0.1:{udp}", "--signing-key", str(key)]
    views = HeardViews(mine)
    up = subprocess.Popen(gcs_cmd(*link, "fleet", "tasks", "upload", str(tasks), "--auction",
                                  *(["--start"] if start else []), "--wait", "60", "--json"),
                          cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=dict(os.environ, PYTHONUNBUFFERED="1"))
    proc = run = None
    try:
        proc = spawn(str(fleet), [f"tcpin:127.0.0.1:{tcp}", f"udpout:127.0.0.1:{udp}", f"udpout:127.0.0.1:{mine}"],
                     SPEEDUP, extra=["--v2v", f"127.0.0.1:{v2v}", "--signing-key", str(key)], ready_timeout=60)
        run = Served(link, Output(proc), views)
        o, e = up.communicate(timeout=90)
        assert up.returncode == 0, o + e
        assert json.loads(o)["handed_to"] == [s for _, s, _ in members], o
        run.handed_at = time.monotonic()
        yield run
    finally:
        if up.poll() is None:
            up.kill()
            up.communicate()
        text = run.out.stop() if run is not None else (stop(proc) if proc is not None else "")
        if run is not None:
            run.text = text
        views.close()


def dropped(line: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r"(partition|range|radio_down|loss) (\d+)", line)}


def final_drops(text: str) -> tuple[str, dict[str, int]]:
    """The summary the SITL printed when it stopped, and its V2V drop counts."""
    summary = text[text.index("stopped after"):]
    return summary, dropped(re.search(r"V2V radio: sent \d+, delivered \d+, dropped (.*)", summary).group(1))


WEST_EAST = [("w1", 1, (4.0, 4.0)), ("w2", 2, (8.0, 4.0)), ("e1", 3, (72.0, 4.0)), ("e2", 4, (76.0, 4.0))]
VISITS = [("w-north", (4.0, 24.0)), ("w-gate", (14.0, 16.0)), ("e-north", (76.0, 24.0)), ("e-gate", (66.0, 16.0))]


@pytest.mark.slow
# one seed in the suite (it must stay under 20 min on 2 cores); EDGEPILOT_ALL_SEEDS=1 runs them all
@pytest.mark.parametrize("seed", [1, 2, 3] if os.environ.get("EDGEPILOT_ALL_SEEDS") else [1])
def test_partitioned_groups_do_not_hear_each_other_and_no_task_is_done_twice(tmp_path, seed):
    """West (w1, w2) and east (e1, e2) share four visits by the on-board
    auction, then the scripted partition splits them while they drive.
    During it each vehicle's view shows it still hears its own group but
    never the other (the vehicles' own EDGEPILOT_FLEET_HEARD), and the
    radio counts the frames it held back as 'partition' drops.  After it,
    they hear each other again; every task is done, none twice."""
    fleet, tasks, key = write_fleet(tmp_path, WEST_EAST, VISITS, seed=seed, faults=PARTITION)
    with served(tmp_path, fleet, tasks, key, WEST_EAST, start=True) as run:
        out, views = run.out, run.views
        start = out.wait_for(r"t=([\d.]+) s: V2V partition w1, w2 \| e1, e2 for 24 s: dropped so far (.*)", 90)
        assert dropped(start.group(2))["partition"] == 0, start.group(0)
        # the precondition: the whole fleet had the file (and so auctioned it together) before it split
        assert run.handed_at < out.at, "the task file reached the fleet only after the partition had begun"
        over = out.wait_for(r"t=([\d.]+) s: V2V partition w1, w2 \| e1, e2 over: dropped so far (.*)", 90)
        assert float(over.group(1)) == pytest.approx(PART_AT + PART_FOR, abs=0.2)
        assert dropped(over.group(2))["partition"] > 0, over.group(0)
        # every task done, as the ground station hears the fleet say
        deadline, st = time.monotonic() + 90, None
        while time.monotonic() < deadline:
            r = gcs(*run.link, "fleet", "tasks", "--auction", "--json", "--wait", "6", cwd=tmp_path)
            assert r.returncode == 0, r.stdout + r.stderr
            st = json.loads(r.stdout)
            if all(t["state"] == "done" for t in st["tasks"]):
                break
        else:
            raise AssertionError(f"not every task done: {st}")
        # after the partition, west hears of east again (and the reverse)
        end = PART_AT + PART_FOR
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if (any(h.get(3, 0) > end for _, h in views.between(1, end, 1e9))
                    and any(h.get(1, 0) > end for _, h in views.between(3, end, 1e9))):
                break
            time.sleep(0.5)
        else:
            raise AssertionError("the groups did not hear each other again after the partition")
    # during the partition (once what was on the air before it has landed):
    # each hears nothing of the other group, while its own group's news
    # keeps coming (a round's view is whole only if none of its frames was
    # lost, so some rounds are missed); the views are the vehicles' own
    west, east = (1, 2), (3, 4)
    for me, ours, theirs in [(1, west, east), (2, west, east), (3, east, west), (4, east, west)]:
        window = views.between(me, PART_AT + 2.0, PART_AT + PART_FOR - 0.5)
        assert len(window) >= 10, (me, window)                             # about one view a second
        for t, heard in window:
            for s in theirs:
                assert heard[s] < PART_AT + 0.5, (me, t, heard)           # nothing of the other group since
        for s in ours:
            if s != me:
                latest = max(h[s] for _, h in window)
                assert latest > PART_AT + PART_FOR - 8.0, (me, s, latest)  # the own group heard to the end
    summary, final = final_drops(run.text)
    assert final["partition"] > 0 and final["loss"] > 0 and final["range"] == 0 and final["radio_down"] == 0
    # each vehicle's own completions: together every task once
    done = []
    for n, s, _ in WEST_EAST:
        row = re.search(rf"  {n} sysid {s}: .*V2V sent (\d+) heard (\d+) refused \(signing\) (\d+), tasks done (.*)",
                        summary)
        assert row, summary
        assert int(row.group(2)) > 0 and int(row.group(3)) == 0, row.group(0)     # signed end to end
        done += [] if row.group(4) == "-" else row.group(4).split(", ")
    assert sorted(done) == sorted(tid for tid, _ in VISITS), summary
    assert "collisions between vehicles 0" in summary, summary


def test_a_vehicle_out_of_range_hears_nobody(tmp_path):
    """With the radio's range 30 m, far (60 m off) hears neither of the two
    close vehicles nor they it: its frames and theirs are dropped as
    'range'; the close pair hear each other."""
    members = [("near1", 1, (4.0, 4.0)), ("near2", 2, (14.0, 4.0)), ("far", 3, (74.0, 4.0))]
    fleet, tasks, key = write_fleet(tmp_path, members, [("a", (8.0, 20.0)), ("b", (70.0, 20.0))], stale=30.0,
                                    loss=0.0, range_m=30.0)
    with served(tmp_path, fleet, tasks, key, members, start=False) as run:
        views = run.views
        # wait until every vehicle has been through several auction rounds
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rounds = {s: len(views.between(s, 0.0, 1e9)) for s in (1, 2, 3)}
            if min(rounds.values()) >= 5:
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"auction rounds heard per vehicle: {rounds}")
    # what each says it heard of the others: at the plan's start every member
    # counts as heard; across the range nothing comes after that.  A close
    # vehicle learns its partner's stamps too (heard times travel with the
    # views), so its bound is the later of the pair's plan starts.
    seen = {s: views.between(s, 0.0, 1e9) for s in (1, 2, 3)}
    t0 = {s: seen[s][0][0] for s in seen}
    for s, other, far in ((1, 2, 3), (2, 1, 3), (3, None, 1), (3, None, 2)):
        bound = t0[s] if other is None else max(t0[s], t0[other])
        assert all(h[far] <= bound for _, h in seen[s]), (s, bound, seen[s][-1])
        if other is not None:
            t, h = seen[s][-1]
            assert h[other] > t - 3.0, (s, t, h)                       # the close pair hear each other
    summary, final = final_drops(run.text)
    assert final["range"] > 0 and final["partition"] == final["radio_down"] == final["loss"] == 0, summary
    heard = {n: int(re.search(rf"  {n} sysid \d: .*V2V sent \d+ heard (\d+)", summary).group(1))
             for n, _, _ in members}
    assert heard["far"] == 0 and heard["near1"] > 0 and heard["near2"] > 0, summary


def test_a_vehicle_whose_radio_dies_is_unheard_until_it_returns(tmp_path):
    """b's V2V radio is down from 8 s to 18 s of the world clock (a scripted
    link_loss): meanwhile nobody hears of b and b of nobody, the frames
    counted as 'radio_down'; then all hear each other again."""
    members = [("a", 1, (4.0, 4.0)), ("b", 2, (14.0, 4.0)), ("c", 3, (24.0, 4.0))]
    down_at, down_for = 8.0, 10.0
    fleet, tasks, key = write_fleet(tmp_path, members, [("x", (8.0, 20.0)), ("y", (20.0, 20.0))], loss=0.0,
                                    faults=f'\n[[faults]]\ntype = "link_loss"\nat_s = {down_at}\n'
                                           f'duration_s = {down_for}\nvehicle = "b"\n')
    with served(tmp_path, fleet, tasks, key, members, start=False) as run:
        over = run.out.wait_for(r"t=([\d.]+) s: V2V radio of b down over: dropped so far (.*)", 90)
        assert float(over.group(1)) == pytest.approx(down_at + down_for, abs=0.2)
        assert dropped(over.group(2))["radio_down"] > 0, over.group(0)
        end = down_at + down_for
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if all(any(h.get(other, 0) > end for _, h in run.views.between(s, end, 1e9))
                   for s, other in ((1, 2), (2, 1), (3, 2))):
                break
            time.sleep(0.5)
        else:
            raise AssertionError("b and the others did not hear each other again after its radio returned")
    assert "V2V radio of b down for 10 s: dropped so far partition 0, range 0, radio_down 0, loss 0" in run.text
    checked = 0
    for s in (1, 2, 3):
        for t, heard in run.views.between(s, down_at + 2.0, down_at + down_for - 0.5):
            checked += 1
            others = [k for k in (1, 2, 3) if k != s]
            for k in others:
                if s == 2 or k == 2:
                    assert heard[k] < down_at + 0.5, (s, t, heard)      # b and the others: silence
                else:
                    assert heard[k] > t - 4.0, (s, t, heard)            # a and c still hear each other
    assert checked >= 3 * 5, checked
    summary, final = final_drops(run.text)
    assert final["radio_down"] > 0 and final["partition"] == final["range"] == final["loss"] == 0, summary
