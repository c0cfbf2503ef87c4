"""tlog recording: standard format (pymavlink reads it back, mavlogdump.py
too), flushed within a second, size-capped rotation."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from pymavlink import mavutil
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edgepilot.firmware_bridge.mavlink import TlogWriter
from edgepilot.sim.realtime import free_port, spawn, stop

pytestmark = pytest.mark.interop

MAVLOGDUMP = Path(sys.executable).with_name("mavlogdump.py")


def frames(n: int) -> list[bytes]:
    mav = mavlink.MAVLink(None, srcSystem=1, srcComponent=1)
    out = []
    for i in range(n):
        msg = mavlink.MAVLink_heartbeat_message(10, 3, 1, i % 16, 3, 3)
        out.append(msg.pack(mav))
        mav.seq = (mav.seq + 1) % 256
    return out


def test_tlog_is_read_back_by_pymavlink_with_timestamps(tmp_path):
    path = tmp_path / "a.tlog"
    w = TlogWriter(path)
    t0 = 1_700_000_000.0
    for i, f in enumerate(frames(20)):
        w.write(f, t=t0 + i * 0.5)
    w.close()
    log = mavutil.mavlink_connection(str(path))
    got = []
    while (m := log.recv_match(type="HEARTBEAT")) is not None:
        got.append((m.custom_mode, m._timestamp))
    assert [g[0] for g in got] == [i % 16 for i in range(20)]
    assert got[3][1] == pytest.approx(t0 + 1.5, abs=1e-6)


def test_tlog_flushes_within_a_second_without_close(tmp_path):
    """The endpoint calls ``maybe_flush`` every tick: once the interval has
    passed the frames are on disk, with no later write and no close."""
    path = tmp_path / "live.tlog"
    now = [100.0]
    w = TlogWriter(path, flush_interval_s=1.0, monotonic=lambda: now[0])
    for f in frames(5):
        w.write(f)
    w.maybe_flush()
    assert path.stat().st_size == 0          # buffered: the interval has not passed
    now[0] += 0.99
    w.maybe_flush()
    assert path.stat().st_size == 0
    now[0] += 0.01
    w.maybe_flush()                          # a tick, no write
    assert path.stat().st_size == sum(8 + len(f) for f in frames(5))
    w.close()


def _tlog_types(path: Path) -> set[tuple[str, int | None]]:
    """(type, command) of every COMMAND_LONG/COMMAND_ACK on disk so far."""
    log = mavutil.mavlink_connection(str(path))
    out = set()
    try:
        while (m := log.recv_match(type=["COMMAND_LONG", "COMMAND_ACK"])) is not None:
            out.add((m.get_type(), m.command))
    finally:
        log.close()
    return out


def test_tlog_rotation_caps_disk_use(tmp_path):
    path = tmp_path / "boat.tlog"
    w = TlogWriter(path, max_bytes=2048, keep=2)
    fs = frames(400)
    for f in fs:
        w.write(f)
    w.close()
    files = sorted(tmp_path.glob("boat*.tlog"))
    assert [p.name for p in files] == ["boat.1.tlog", "boat.2.tlog", "boat.tlog"]
    assert all(p.stat().st_size <= 2048 for p in files)
    assert w.rotations > 2
    # Every file stays a valid tlog on its own, and the newest holds the last frame.
    last = None
    log = mavutil.mavlink_connection(str(path))
    while (m := log.recv_match(type="HEARTBEAT")) is not None:
        last = m
    assert last is not None and last.custom_mode == 399 % 16
    with pytest.raises(ValueError, match="max_bytes"):
        TlogWriter(tmp_path / "x.tlog", max_bytes=10)
    with pytest.raises(ValueError, match=r"\.tlog"):
        TlogWriter(tmp_path / "x.log")


def test_sitl_records_traffic_in_both_directions_for_mavlogdump(tmp_path):
    tlog = tmp_path / "sitl.tlog"
    port = free_port()
    p = spawn("ugv_yard", [f"tcpin:127.0.0.1:{port}"], 8.0, ["--tlog", str(tlog)])
    try:
        c = mavutil.mavlink_connection(f"tcp:127.0.0.1:{port}", source_system=255, source_component=190)
        c.wait_heartbeat(timeout=10)
        c.mav.command_long_send(1, 1, 31999, 0, 0, 0, 0, 0, 0, 0, 0)
        assert c.recv_match(type="COMMAND_ACK", blocking=True, timeout=5) is not None
        # Readable while the vehicle is still running: its tick flushes the
        # tlog within a second (waited for on the file, with a generous deadline).
        want = {("COMMAND_LONG", 31999), ("COMMAND_ACK", 31999)}
        deadline = time.monotonic() + 30
        while not want <= _tlog_types(tlog):
            assert time.monotonic() < deadline, f"the tlog never held {want}: {_tlog_types(tlog)}"
            assert p.poll() is None
            time.sleep(0.05)
        live = subprocess.run([sys.executable, str(MAVLOGDUMP), "--types", "COMMAND_LONG,COMMAND_ACK", str(tlog)],
                              capture_output=True, text=True, timeout=60)
        assert "COMMAND_LONG" in live.stdout and "command : 31999" in live.stdout
        assert "COMMAND_ACK" in live.stdout
        c.close()
    finally:
        stop(p)
    out = subprocess.run([sys.executable, str(MAVLOGDUMP), "--types", "HEARTBEAT", str(tlog)],
                         capture_output=True, text=True, timeout=60).stdout
    assert out.count("HEARTBEAT") >= 2
