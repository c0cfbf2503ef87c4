"""End to end: a real ``edgepilot sitl run --realtime`` subprocess, driven
only through ``edgepilot gcs`` commands (each a real subprocess)."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgepilot.gcs.formats.mission import Mission, MissionItem, format_wpl, load_mission
from edgepilot.sim.realtime import free_port, spawn, stop
from edgepilot.vehicle.geo import LocalFrame
from tests.plot_util import colour_pixels, read_png

pytestmark = pytest.mark.interop

REPO = Path(__file__).resolve().parent.parent
SPEEDUP = 8.0
#: Telemetry rate the tlog recorder asks for: a sample at every I/O poll of the vehicle (see below).
RECORD_HZ = 100
YARD = LocalFrame(47.397742, 8.545594)        # configs/scenarios/ugv_yard.toml origin
ENV = dict(os.environ, PYTHONPATH=str(REPO) + (os.pathsep + os.environ["PYTHONPATH"]
                                                 if os.environ.get("PYTHONPATH") else ""),
           PYTHONUNBUFFERED="1")


def gcs(*args, timeout: float = 30.0) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgepilot", "gcs", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=ENV)


def gcs_popen(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "edgepilot", "gcs", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO, env=ENV)


def wait_until(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}")
        time.sleep(0.05)


def tlog_records_disarm(path: Path, sysid: int = 1) -> bool:
    """The tlog written so far has a HEARTBEAT of ``sysid`` armed, then one disarmed."""
    from edgepilot.gcs.mav import mavutil

    if not path.exists():
        return False
    log = mavutil.mavlink_connection(str(path))
    armed_seen = False
    try:
        while (m := log.recv_match(type="HEARTBEAT")) is not None:
            if m.get_srcSystem() != sysid:
                continue
            armed = bool(m.base_mode & mavutil.mavlink.MAV_MODE_FLAG_SAFETY_ARMED)
            if armed:
                armed_seen = True
            elif armed_seen:
                return True
    finally:
        log.close()
    return False


def ok(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 0, f"rc {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    return r.stdout


def yard_mission(points, home=(4.0, 4.0)) -> Mission:
    """Waypoints given in the yard's ENU metres."""
    hlat, hlon = YARD.to_geo(*home)
    items = []
    for x, y in points:
        lat, lon = YARD.to_geo(x, y)
        items.append(MissionItem(command=16, frame=3, x=round(lat, 7), y=round(lon, 7)))
    return Mission(items=tuple(items), home=MissionItem(command=16, frame=0, x=round(hlat, 7), y=round(hlon, 7)))


SHORT = yard_mission([(6.0, 9.0), (5.0, 14.0)])


def write_mission(path: Path, m: Mission) -> Path:
    path.write_text(format_wpl(m))
    return path


@pytest.fixture(scope="module")
def sitl(tmp_path_factory):
    d = tmp_path_factory.mktemp("gcs_sitl")
    tcp, udp = free_port("tcp"), free_port("udp")
    p = spawn("ugv_yard", [f"tcpin:127.0.0.1:{tcp}", f"udpout:127.0.0.1:{udp}"], SPEEDUP,
              ["--params", str(d / "vehicle.parm")])
    try:
        yield {"ep": f"tcp:127.0.0.1:{tcp}", "udp": udp, "dir": d, "proc": p}
    finally:
        stop(p)


# ----------------------------------------------------------------------------- link errors
def test_no_heartbeat_exits_3_naming_the_endpoint():
    port = free_port("udp")
    t0 = time.monotonic()
    r = gcs("--connect", f"udpin:127.0.0.1:{port}", "--timeout", "1", "status")
    assert r.returncode == 3
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: no heartbeat from any vehicle on udpin:127.0.0.1:") and "within 1 s" in lines[0]
    assert "check" in lines[0]
    assert time.monotonic() - t0 < 15

    r = gcs("--connect", f"tcp:127.0.0.1:{free_port('tcp')}", "--timeout", "1", "arm")
    assert r.returncode == 3
    assert r.stderr.startswith("error: cannot open MAVLink endpoint tcp:127.0.0.1:") and "check" in r.stderr


def test_malformed_files_are_refused_before_connecting(tmp_path):
    # The endpoint does not exist: exit 2 (not 3) proves nothing was even connected.
    dead = f"tcp:127.0.0.1:{free_port('tcp')}"
    bad = tmp_path / "bad.waypoints"
    bad.write_text(format_wpl(SHORT).replace("\t3\t16\t", "\t3\t9999\t", 1))
    r = gcs("-c", dead, "mission", "upload", str(bad))
    assert r.returncode == 2
    assert f"{bad}:3: unknown MAV_CMD 9999" in r.stderr
    badparm = tmp_path / "bad.parm"
    badparm.write_text("WP_SPEED 1.0\nWP_RADIUS one\n")
    r = gcs("-c", dead, "param", "load", str(badparm))
    assert r.returncode == 2 and f"{badparm}:2: WP_RADIUS: value 'one' is not a number" in r.stderr
    r = gcs("-c", dead, "--sysid", "300", "status")
    assert r.returncode == 2 and "--sysid" in r.stderr


# ----------------------------------------------------------------------------- the operator's day
def test_mission_upload_run_download_and_tlog(sitl, tmp_path):
    ep = sitl["ep"]
    f = write_mission(tmp_path / "patrol.waypoints", SHORT)
    out = ok(gcs("-c", ep, "mission", "upload", str(f)))
    assert "uploaded 2 mission items" in out
    # The download is the file, byte for byte, except home (item 0), which the
    # vehicle keeps as its own, as ArduPilot does.
    back = tmp_path / "back.waypoints"
    ok(gcs("-c", ep, "mission", "download", str(back)))
    sent, got = f.read_text().splitlines(), back.read_text().splitlines()
    assert len(sent) == len(got) == 4
    assert got[0] == sent[0] and got[2:] == sent[2:]
    assert got[1].split("\t")[3] == "16"
    plan = tmp_path / "back.plan"
    ok(gcs("-c", ep, "mission", "download", str(plan)))
    assert load_mission(plan).same_as(SHORT)

    # Telemetry streams are paced in wall time; the vehicle runs 8x faster, and
    # when its loop stalls (load, JIT) it catches up 20 control ticks (1 s of
    # vehicle time) per I/O poll.  At the default 4 Hz a whole 9 s mission can
    # then pass between two GLOBAL_POSITION_INTs: distance adds up from the
    # positions, but no speed is ever sampled in motion.  The recorder asks
    # for 100 Hz (a sample at about every poll), and the run below stalls the vehicle
    # on purpose for a second right after the start, so that case is tested.
    tlog = tmp_path / "run.tlog"
    rec = gcs_popen("-c", ep, "log", "record", str(tlog), "--rate", str(RECORD_HZ))
    try:
        assert "recording sysid 1" in rec.stdout.readline()
        ok(gcs("-c", ep, "arm"))
        run = gcs_popen("-c", ep, "mission", "start", "--wait", "--wait-timeout", "25")
        try:
            assert run.stdout.readline().startswith("mission started on sysid 1")
            sitl["proc"].send_signal(signal.SIGSTOP)
            time.sleep(1.0)                       # the stall itself (8 s of vehicle time)
        finally:
            sitl["proc"].send_signal(signal.SIGCONT)
        out, err = run.communicate(timeout=40)
        assert run.returncode == 0, err
        assert "mission complete (item 2 reached)" in out
        assert "mission: item 2/2" in err
        st = json.loads(ok(gcs("-c", ep, "status", "--json")))
        assert st["armed"] is True and st["mission"]["state"] == "COMPLETE" and st["mission"]["current"] == 2
        assert st["gps"]["fix"] == "3D" and st["link"]["stale"] is False
        assert st["firmware_version"] == "0.1.0" and st["vehicle_type"] == "GROUND_ROVER"
        # Arrived near the last waypoint.
        x, y = YARD.to_local(st["position"]["lat"], st["position"]["lon"])
        assert abs(x - 5.0) < 1.5 and abs(y - 14.0) < 1.5
        ok(gcs("-c", ep, "disarm"))
        # The recorder hears the disarm in the vehicle's next 1 Hz heartbeat:
        # wait until the tlog on disk holds it (the 100 Hz stream keeps the
        # recorder's file buffer flushing), not for a fixed time.
        wait_until(lambda: tlog_records_disarm(tlog), 60, "the recorder's tlog to hold the disarm heartbeat")
    finally:
        rec.send_signal(signal.SIGINT)
        rec_out, rec_err = rec.communicate(timeout=15)
    assert rec.returncode == 0, rec_err
    assert "recorded" in rec_out
    # Download again: the items are unchanged (home is now where the vehicle armed, as ArduPilot).
    again = tmp_path / "again.waypoints"
    ok(gcs("-c", ep, "mission", "download", str(again)))
    assert load_mission(again).same_as(SHORT, compare_home=False)

    png = tmp_path / "track.png"
    s = json.loads(ok(gcs("log", "summary", str(tlog), "--json", "--plot", str(png))))
    assert s["sysid"] == 1 and s["duration_s"] > 1.0
    assert 8.0 < s["distance_m"] < 30.0            # ~10.5 m of waypoints plus turning
    assert s["max_speed_m_s"] > 0.3 and "AUTO" in s["modes"], s
    events = [e["text"] for e in s["events"]]
    assert "armed" in events and "disarmed" in events and "waypoint 2 reached" in events
    assert any(e.endswith("-> AUTO") for e in events)
    img = read_png(png)
    # the track is drawn, coloured by mode (matplotlib's tab10 in order of appearance)
    assert sum(colour_pixels(img, c) for c in ("#1f77b4", "#ff7f0e", "#2ca02c")) > 300
    text = ok(gcs("log", "summary", str(tlog)))
    assert "distance" in text and "max speed" in text and "AUTO" in text


def test_goto_speed_rtl_and_mode(sitl):
    ep = sitl["ep"]
    # A slow return keeps the vehicle in RTL long enough to be seen there
    # (the SITL runs 8x real time).
    ok(gcs("-c", ep, "param", "set", "RTL_SPEED", "0.2"))
    ok(gcs("-c", ep, "arm"))
    lat, lon = YARD.to_geo(4.0, 36.0)
    assert "going to" in ok(gcs("-c", ep, "goto", f"{lat:.7f}", f"{lon:.7f}", "--speed", "0.8"))
    st = json.loads(ok(gcs("-c", ep, "status", "--json")))
    assert st["mode"] == "GUIDED" and st["armed"] is True
    ok(gcs("-c", ep, "speed", "1.0"))
    ok(gcs("-c", ep, "rtl"))
    assert json.loads(ok(gcs("-c", ep, "status", "--json")))["mode"] == "RTL"
    ok(gcs("-c", ep, "mode", "hold"))
    assert json.loads(ok(gcs("-c", ep, "status", "--json")))["mode"] == "HOLD"
    ok(gcs("-c", ep, "disarm", "--force"))
    assert json.loads(ok(gcs("-c", ep, "status", "--json")))["armed"] is False
    ok(gcs("-c", ep, "param", "set", "RTL_SPEED", "0"))


def test_refusals_print_result_and_reason(sitl):
    ep = sitl["ep"]
    r = gcs("-c", ep, "mode", "STEERING")
    assert r.returncode == 1
    assert "MAV_RESULT_DENIED" in r.stderr and "Mode STEERING not supported by edgepilot" in r.stderr
    r = gcs("-c", ep, "mode", "WARP")
    assert r.returncode == 2 and "unknown mode 'WARP'" in r.stderr and "GUIDED" in r.stderr
    r = gcs("-c", ep, "goto", "0", "0")
    assert r.returncode == 1 and "MAV_RESULT_DENIED" in r.stderr and "invalid position" in r.stderr
    r = gcs("-c", ep, "speed", "9")
    assert r.returncode == 1 and "speed must be in" in r.stderr
    ok(gcs("-c", ep, "mission", "clear"))
    r = gcs("-c", ep, "mission", "start")
    assert r.returncode == 1
    assert "mission start refused by the vehicle: MAV_RESULT_DENIED" in r.stderr
    assert "no mission loaded" in r.stderr
    r = gcs("-c", ep, "param", "set", "WP_SPEED", "99")
    assert r.returncode == 1 and "WP_SPEED must be in" in r.stderr
    r = gcs("-c", ep, "param", "get", "NO_SUCH_PARAM")
    assert r.returncode == 1 and "NO_SUCH_PARAM" in r.stderr
    # A mission the vehicle cannot fly is refused with MAV_MISSION_INVALID and its reason.
    bad = Mission(items=(MissionItem(command=177, frame=2, param1=9, param2=1),), home=SHORT.home)
    p = sitl["dir"] / "jump.waypoints"
    p.write_text(format_wpl(bad))
    r = gcs("-c", ep, "mission", "upload", str(p))
    assert r.returncode == 1
    assert "MAV_MISSION_INVALID" in r.stderr and "DO_JUMP target 9" in r.stderr


def test_interrupted_uploads_keep_the_previous_mission(sitl, tmp_path):
    from pymavlink import mavutil

    ep = sitl["ep"]
    f = write_mission(tmp_path / "keep.waypoints", SHORT)
    ok(gcs("-c", ep, "mission", "upload", str(f)))

    # 1. A client that stops answering after 3 of 50 items and drops the link.
    c = mavutil.mavlink_connection(ep, source_system=250, source_component=190, autoreconnect=False)
    try:
        c.wait_heartbeat(timeout=10)
        c.mav.mission_count_send(1, 1, 50, 0)
        answered = 0
        deadline = time.monotonic() + 10
        while answered < 3 and time.monotonic() < deadline:
            m = c.recv_match(type=["MISSION_REQUEST_INT", "MISSION_REQUEST"], blocking=True, timeout=0.5)
            if m is not None and m.seq == answered:
                lat, lon = YARD.to_geo(10.0, 30.0)
                c.mav.mission_item_int_send(1, 1, m.seq, 3, 16, 0, 1, 0, 0, 0, 0,
                                            int(lat * 1e7), int(lon * 1e7), 0, 0)
                answered += 1
        assert answered == 3
    finally:
        c.close()
    back = tmp_path / "after1.waypoints"
    ok(gcs("-c", ep, "mission", "download", str(back)))
    assert load_mission(back).same_as(SHORT, compare_home=False)

    # 2. The operator interrupts `edgepilot gcs mission upload` of a long mission mid-way.
    big = yard_mission([(6.0 + (i % 10), 9.0 + (i % 7)) for i in range(400)])
    bf = write_mission(tmp_path / "big.waypoints", big)
    p = gcs_popen("-c", ep, "mission", "upload", str(bf))
    try:
        while True:
            line = p.stderr.readline()
            assert line, "upload ended before it could be interrupted"
            if line.startswith("mission upload:") and int(line.split(":")[1].split("/")[0]) >= 40:
                break
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=15)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, err
    assert "mission upload interrupted at item" in err and "keeps its previous mission" in err
    ok(gcs("-c", ep, "mission", "download", str(back)))
    assert load_mission(back).same_as(SHORT, compare_home=False)


def test_parameters_change_persist_and_files(tmp_path):
    tcp = free_port("tcp")
    store = tmp_path / "vehicle.parm"
    ep = f"tcp:127.0.0.1:{tcp}"
    p = spawn("ugv_yard", [f"tcpin:127.0.0.1:{tcp}"], SPEEDUP, ["--params", str(store)])
    try:
        assert ok(gcs("-c", ep, "param", "set", "WP_SPEED", "1.3")).strip() == "WP_SPEED 1.3"
        assert ok(gcs("-c", ep, "param", "get", "WP_SPEED")).strip() == "WP_SPEED 1.3"
        listed = ok(gcs("-c", ep, "param", "list", "WP_")).split("\n")
        assert [l.split()[0] for l in listed if l] == ["WP_BLOCKED_WAIT", "WP_LOOKAHEAD", "WP_RADIUS", "WP_SPEED"]
        assert json.loads(ok(gcs("-c", ep, "param", "list", "WP_*", "--json")))["WP_SPEED"] == pytest.approx(1.3)
        saved = tmp_path / "saved.parm"
        ok(gcs("-c", ep, "param", "save", str(saved)))
        text = saved.read_text()
        assert re.search(r"\nWP_SPEED +1.3\n", text) and "WP_RADIUS" in text and text.startswith("#")
        # A file naming a parameter the vehicle lacks is refused whole: nothing is set.
        partial = tmp_path / "partial.parm"
        partial.write_text("WP_RADIUS 0.9\n# tuned\nWP_SPEEED 1.0\n")
        r = gcs("-c", ep, "param", "load", str(partial))
        assert r.returncode == 2 and f"{partial}:3: WP_SPEEED: the vehicle (sysid 1) has no such parameter" in r.stderr
        assert ok(gcs("-c", ep, "param", "get", "WP_RADIUS")).strip() == "WP_RADIUS 0.5"
        good = tmp_path / "good.parm"
        good.write_text("WP_RADIUS,0.9\nWP_SPEED 1.3\n")
        out = ok(gcs("-c", ep, "param", "load", str(good)))
        assert "WP_RADIUS 0.5 -> 0.9" in out and "1 changed, 1 already equal" in out
    finally:
        stop(p)
    # The vehicle persisted them: a restart with the same --params file has the new values.
    p = spawn("ugv_yard", [f"tcpin:127.0.0.1:{tcp}"], SPEEDUP, ["--params", str(store)])
    try:
        assert ok(gcs("-c", ep, "param", "get", "WP_SPEED")).strip() == "WP_SPEED 1.3"
        assert ok(gcs("-c", ep, "param", "get", "WP_RADIUS", "--json")).strip() == '{"WP_RADIUS": 0.8999999761581421}'
    finally:
        stop(p)


# ----------------------------------------------------------------------------- several vehicles
@pytest.fixture
def second_vehicle(sitl, tmp_path):
    """Vehicle sysid 2 on its own TCP port, sharing the module vehicle's UDP output port."""
    parm = tmp_path / "v2.parm"
    parm.write_text("SYSID_THISMAV 2\n")
    tcp = free_port("tcp")
    p = spawn("ugv_yard", [f"tcpin:127.0.0.1:{tcp}", f"udpout:127.0.0.1:{sitl['udp']}"], SPEEDUP,
              ["--params", str(parm)])
    try:
        yield {"ep": f"tcp:127.0.0.1:{tcp}", "proc": p}
    finally:
        stop(p)


def test_vehicle_selected_by_sysid_on_a_shared_link(sitl, second_vehicle):
    shared = f"udpin:127.0.0.1:{sitl['udp']}"
    for sysid in (2, 1):
        st = json.loads(ok(gcs("-c", shared, "--sysid", str(sysid), "status", "--json")))
        assert st["sysid"] == sysid
    r = gcs("-c", shared, "--sysid", "7", "--timeout", "2", "status")
    assert r.returncode == 3
    assert "no heartbeat from vehicle sysid 7" in r.stderr and "heard only sysid 1, 2" in r.stderr


class PtyTerminal:
    """A program on a real pseudo-terminal (ROWS x COLS), its output fed to
    pyte, a VT100 terminal emulator, so the test reads the screen a user
    would see; keys go in through the pty's master side."""

    def __init__(self, argv: list[str], rows: int = 60, cols: int = 120):
        import fcntl
        import struct
        import termios

        import pyte

        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = dict(ENV, TERM="xterm-256color", COLUMNS=str(cols), LINES=str(rows))
        env.pop("NO_COLOR", None)
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, cwd=REPO, env=env,
                                     start_new_session=True, close_fds=True)
        os.close(slave)
        os.set_blocking(self.master, False)

    def pump(self, timeout: float = 0.1) -> None:
        import select

        r, _, _ = select.select([self.master], [], [], timeout)
        while r:
            try:
                data = os.read(self.master, 65536)
            except (BlockingIOError, OSError):   # EIO once the child has closed the pty
                return
            if not data:
                return
            self.stream.feed(data)
            r, _, _ = select.select([self.master], [], [], 0)

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.screen.display)

    def until(self, pred, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pump(0.1)
            s = self.text()
            if pred(s):
                return s
        raise AssertionError("screen never matched:\n" + self.text())

    def send(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def wait(self, timeout: float) -> int:
        """The exit code, reading the screen meanwhile (a full pty blocks the child)."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.pump(0.05)
        self.pump(0.05)
        if self.proc.poll() is None:
            raise AssertionError("the program did not exit; screen:\n" + self.text())
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        os.close(self.master)


def test_watch_in_a_real_terminal(sitl, second_vehicle):
    term = PtyTerminal([sys.executable, "-m", "edgepilot", "gcs", "-c", sitl["ep"], "-c", second_vehicle["ep"],
                        "watch", "--rate", "5", "--stale-after", "2"])
    try:
        s = term.until(lambda s: "sysid 1  HOLD" in s and "sysid 2  HOLD" in s and "2 vehicle(s)" in s)
        assert "q: quit" in s and "3D" in s and "disarmed" in s
        assert re.search(r"heartbeat \d+\.\d s ago", s), s       # time since each vehicle's heartbeat
        stop(second_vehicle["proc"])          # vehicle 2 goes silent
        lost = re.compile(r"sysid 2  LINK LOST — no heartbeat for (\d+\.\d) s")
        s = term.until(lambda s: lost.search(s) is not None)
        assert "sysid 1  HOLD" in s           # vehicle 1 is still shown live
        first = float(lost.search(s).group(1))
        s = term.until(lambda s: lost.search(s) is not None and float(lost.search(s).group(1)) >= first + 1.0)
        assert "sysid 1  HOLD" in s           # and still live after another second
        term.send(b"q")
        assert term.wait(15) == 0
    finally:
        term.close()


def test_vehicle_going_away_mid_wait_is_reported_once(tmp_path):
    """A TCP vehicle that disappears while `mission start --wait` runs: one
    clear error and exit code 4, not pymavlink's endless 'EOF on TCP socket'."""
    port = free_port("tcp")
    sitl = spawn("ugv_yard", [f"tcpin:127.0.0.1:{port}"], SPEEDUP)
    try:
        ep = f"tcp:127.0.0.1:{port}"
        wp = tmp_path / "m.waypoints"
        wp.write_text("QGC WPL 110\n"
                      "0\t1\t0\t16\t0\t0\t0\t0\t47.397778\t8.545647\t0\t1\n"
                      "1\t0\t3\t16\t0\t0\t0\t0\t47.398058\t8.545647\t0\t1\n")  # 31 m north
        ok(gcs("-c", ep, "mission", "upload", str(wp)))
        ok(gcs("-c", ep, "arm"))
        p = gcs_popen("-c", ep, "mission", "start", "--wait", "--wait-timeout", "60")
        # the vehicle goes away once the wait is under way: the start was
        # acknowledged and the first progress line is out
        assert p.stdout.readline().startswith("mission started on sysid 1")
        assert p.stderr.readline().startswith("mission: item"), "no progress line from the wait"
        stop(sitl)
        out, err = p.communicate(timeout=30)
        assert p.returncode == 4, (out, err)
        assert "EOF on TCP socket" not in out + err
        assert "lost the link to sysid 1" in err
        assert len((out + err).splitlines()) < 20
    finally:
        stop(sitl)


def test_wait_reports_a_mission_the_vehicle_had_to_stop(tmp_path):
    """The second waypoint lies inside a container: the vehicle plans,
    refuses the leg and holds. `mission start --wait` says so with the
    vehicle's reason and exits 1 instead of waiting forever.  (A waypoint
    merely next to an obstacle is flown to the nearest safe point instead,
    announced: test_nav_scenarios / the stand-in rule in
    vehicle/modes/navigation.py.)"""
    port = free_port("tcp")
    sitl = spawn("ugv_yard", [f"tcpin:127.0.0.1:{port}"], SPEEDUP)
    try:
        ep = f"tcp:127.0.0.1:{port}"
        lat1, lon1 = YARD.to_geo(4.0, 14.0)
        lat2, lon2 = YARD.to_geo(14.0, 14.0)   # inside container row A (x 12..18 m)
        wp = tmp_path / "m.waypoints"
        wp.write_text("QGC WPL 110\n"
                      "0\t1\t0\t16\t0\t0\t0\t0\t47.397778\t8.545647\t0\t1\n"
                      f"1\t0\t3\t16\t0\t0\t0\t0\t{lat1:.7f}\t{lon1:.7f}\t0\t1\n"
                      f"2\t0\t3\t16\t0\t0\t0\t0\t{lat2:.7f}\t{lon2:.7f}\t0\t1\n")
        ok(gcs("-c", ep, "mission", "upload", str(wp)))
        ok(gcs("-c", ep, "arm"))
        r = gcs("-c", ep, "mission", "start", "--wait", "--wait-timeout", "60", timeout=90)
        assert r.returncode == 1, (r.stdout, r.stderr)
        assert "mission stopped at item 2" in r.stderr
        assert "is inside an obstacle; the planner keeps" in r.stderr
    finally:
        stop(sitl)
