"""Durable state: restart survival, atomic writes under SIGKILL, event log."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from safety_rig import ORIGIN, UGV, Rig
from edgepilot.vehicle.core import VehicleCore
from edgepilot.vehicle.safety.geofence import CIRCLE_INCLUSION
from edgepilot.onboard.state_store import EventLog, StateError, StateStore
from edgepilot.vehicle.types import Cmd, Event, MissionItem, Severity

REPO = Path(__file__).resolve().parent.parent


def mission(core, n=4):
    items = [MissionItem(0, int(Cmd.NAV_WAYPOINT), *core.frame.to_geo(0, 0))]
    items += [MissionItem(i, int(Cmd.NAV_WAYPOINT), *core.frame.to_geo(3.0 * i, 1.0)) for i in range(1, n)]
    return items


def test_mission_fence_params_home_survive_a_restart(tmp_path):
    store = StateStore(tmp_path)
    core = VehicleCore(UGV, ORIGIN, None, store.params(UGV))
    store.restore(core)
    assert core.set_mission(mission(core)).ok
    fence = [MissionItem(0, CIRCLE_INCLUSION, *core.frame.to_geo(0, 0), param1=40.0, frame=0)]
    assert core.set_fence(fence).ok
    assert core.params.set("FS_GPS_HACC", 2.5).ok
    rig = Rig()
    rig.core = core
    rig.tick(10)                                   # home set from the first valid estimate
    assert sorted(store.sync(core)) == ["fence", "home", "mission"]
    assert store.sync(core) == []                  # nothing changed: nothing written
    # "restart": a new process would build a new core from the same folder
    store2 = StateStore(tmp_path)
    core2 = VehicleCore(UGV, ORIGIN, None, store2.params(UGV))
    restored = store2.restore(core2)
    assert restored == ["mission (4 items)", "fence (1 items)", "home"]
    assert core2.mission == core.mission and core2.fence.items == core.fence.items
    assert core2.home == core.home and core2.params.get("FS_GPS_HACC") == 2.5


def test_damaged_state_file_is_refused_with_its_name(tmp_path):
    store = StateStore(tmp_path)
    core = VehicleCore(UGV, ORIGIN, None)
    store.save_items("mission", mission(core))
    p = tmp_path / "mission.json"
    doc = json.loads(p.read_text())
    doc["payload"] = doc["payload"].replace("16", "17", 1)
    p.write_text(json.dumps(doc))
    with pytest.raises(StateError, match="mission.json: checksum mismatch"):
        store.load_items("mission")
    p.write_text("{not json")
    with pytest.raises(StateError, match="mission.json: unreadable mission state file"):
        store.load_items("mission")


WRITER = r"""
import sys
sys.path.insert(0, sys.argv[2])
from edgepilot.onboard.state_store import StateStore
from edgepilot.vehicle.types import MissionItem
store = StateStore(sys.argv[1])
k = 0
while True:
    k += 1
    # ~3000 items: a write takes long enough to be killed in the middle of it
    store.save_items("mission", [MissionItem(i, 16, 47.0 + k * 1e-6, 8.0, param1=float(k)) for i in range(3000)])
    print(k, flush=True)
"""


def test_killing_a_writer_mid_write_leaves_a_complete_version(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    seen = set()
    for trial in range(4):
        proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "state"), str(REPO)],
                                stdout=subprocess.PIPE, text=True)
        done = 0
        for _ in range(trial + 1):                 # wait for trial+1 complete versions
            assert proc.stdout.readline().strip()
            done += 1
        time.sleep(0.003 * trial)                  # then land somewhere inside a later write
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        items = StateStore(tmp_path / "state").load_items("mission")
        assert len(items) == 3000
        k = items[0].param1
        assert all(it.param1 == k for it in items)  # one whole version, never a mix
        assert k >= done                            # never older than a write that completed
        seen.add(k)
        for p in (tmp_path / "state").iterdir():   # a killed writer may leave its temp file
            if p.name.startswith(".mission"):
                p.unlink()
    assert len(seen) >= 2


def test_event_log_syncs_at_most_a_second_apart_and_survives_a_torn_line(tmp_path):
    log = EventLog(tmp_path / "events.jsonl")
    synced = []
    real = os.fsync
    try:
        os.fsync = lambda fd: (synced.append(True), real(fd))[1]
        for k in range(50):                        # 5 s of events at 10 Hz
            t = 0.1 * k
            log.write(Event(t, "failsafe", f"e{k}", Severity.CRITICAL, {"trigger": "gps", "obj": object()}), t)
    finally:
        os.fsync = real
    assert 5 <= len(synced) <= 6
    log.close()
    with open(tmp_path / "events.jsonl", "a") as f:
        f.write('{"t": 9.9, "kind": "te')         # a crash mid-append
    recs = EventLog.read(tmp_path / "events.jsonl")
    assert [r["text"] for r in recs] == [f"e{k}" for k in range(50)]
    assert recs[0]["data"] == {"trigger": "gps"}
