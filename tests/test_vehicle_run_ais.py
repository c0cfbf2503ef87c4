"""`edgepilot vehicle run` on a boat with an AIS receiver (issue 16): a
real vehicle process whose AIS port is a real pty carrying AIVDM sentences
encoded here with pyais (one process for all of it: the suite's time).

- The vessels heard reach the core as contacts (the ground station hears
  the contact table's STATUSTEXT over MAVLink); garbage lines, a bad
  checksum and our own MMSI are counted and dropped without harm, as the
  run's stop lines say.
- With --v2v, a fleet-mate heard on AIS under the MMSI her signed route
  carries is predicted along that route by the helm of a boat that follows
  one (the simulator plays its motor board and GPS on ptys, as in HIL).
- A receiver that cannot be opened refuses the start, naming the option
  and the device.
"""
from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from pyais import encode_dict

from edgepilot import configs_dir
from edgepilot.firmware_bridge.fleet_link import route_ahead_message
from edgepilot.firmware_bridge.fleet_routes import ROUTE_MSG
from edgepilot.firmware_bridge.fleet_v2v import V2VLink
from edgepilot.gcs.command import CommandClient
from edgepilot.gcs.connection import ConnectOptions, connect
from edgepilot.onboard.onboard import READY_PREFIX
from edgepilot.sim.hil import HilHardware, PtyDevice
from edgepilot.sim.realtime import free_port
from edgepilot.sim.scenario import load_scenario
from edgepilot.sim.simulation import Simulation
from edgepilot.vehicle.config import load_vehicle_config
from edgepilot.vehicle.geo import LocalFrame
from edgepilot.vehicle.maps import save_map_server

from hw_util import arm_when_ready
from test_fleet_routes import USV_HARDWARE
from test_realtime_v2v_link import Output

pytestmark = pytest.mark.interop

ORIGIN = (52.0, 4.0)
OWN_MMSI = 993000555
PILOT = 235000001          # a stranger: a pilot boat
MATE = 993000006           # a fleet-mate: sysid 6 of our fleet


def _config(tmp_path: Path, port: int, extra: str = "", key: Path | None = None) -> Path:
    cfg = (configs_dir() / "vehicles" / "usv.toml").read_text()
    assert "[mavlink]\nsysid = 1" in cfg
    if key is not None:
        cfg = cfg.replace("[mavlink]\nsysid = 1", f'[mavlink]\nsysid = 5\nsigning_key_file = "{key}"')
    out = tmp_path / "usv_hw.toml"
    out.write_text(cfg + USV_HARDWARE.format(port=port, folder=tmp_path) + extra)
    return out


def _spawn(args: list[str]) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "edgepilot", "vehicle", "run", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _position(mmsi: int, lat: float, lon: float, speed_kn: float = 0.0, course: float = 90.0) -> list[str]:
    return encode_dict({"type": 1, "mmsi": mmsi, "lat": lat, "lon": lon, "speed": speed_kn, "course": course,
                        "heading": round(course) % 360}, talker_id="AI", sentence_type="VDM")


def _lines(*sentences: str) -> bytes:
    return b"".join(s.encode() + b"\r\n" for s in sentences)


def test_vehicle_run_refuses_an_ais_port_it_cannot_open(tmp_path, capsys):
    """`--ais /no/such/tty`: a usage error naming the option and the device,
    before any device is opened or the loop starts (the command's own entry
    point, in this process: the refusal needs no child of its own)."""
    from edgepilot.cli import main

    cfg = _config(tmp_path, free_port("tcp"))
    rc = main(["vehicle", "run", "--config", str(cfg), "--origin", f"{ORIGIN[0]},{ORIGIN[1]}", "--no-warm",
               "--ais", f"{tmp_path}/ttyNOAIS"])
    err = capsys.readouterr()
    assert rc == 2, err
    assert f"error: --ais: AIS receiver {tmp_path}/ttyNOAIS: cannot open {tmp_path}/ttyNOAIS" in err.err, err
    assert "first control tick" not in err.out
    rc = main(["vehicle", "run", "--config", str(cfg), "--origin", f"{ORIGIN[0]},{ORIGIN[1]}", "--no-warm",
               "--ais-baud", "4800"])
    assert rc == 2 and "--ais-baud: no AIS receiver to set it for" in capsys.readouterr().err


SCENARIO = """\
name = "ais_mate"
vehicle = "usv"
seed = 1

[world]
bounds = [0.0, 0.0, 400.0, 300.0]
origin = [{lat}, {lon}]
resolution = 1.0
surface = "water"

[start]
x = 50.0
y = 100.0
yaw_deg = 0.0

[mission]
waypoints = [[350, 100]]

[criteria]
max_time_s = 120
"""

#: The mate's lane: east along y = 200 (ours is y = 100), from x = 80, at 1 m/s.
MATE_Y, MATE_X0, MATE_SPEED = 200.0, 80.0, 1.0


@pytest.mark.timeout(180)
def test_a_boat_hears_ais_drops_bad_input_and_predicts_a_mate_along_her_route(tmp_path):
    """A boat's `vehicle run --v2v --mmsi` whose AIS receiver is named by
    [hardware.ais] in its config (motor board and GPS played by the
    simulator on ptys, as in HIL).

    First the receiver's port carries a garbage line, a sentence with a bad
    checksum, a two-part static report and a position of a pilot boat (the
    position in two writes, split mid-sentence) and our own MMSI heard as
    AIVDM: the ground station hears contact 'PILOT 7' from the contact
    table over MAVLink, and nothing of our own MMSI.

    Then the boat is armed and sent east in GUIDED; a fleet-mate 100 m to
    the north, going east too, is heard on AIS and sends her route, signed,
    under the same MMSI: the boat's helm predicts her along her route (its
    line says when it began).  The stop lines count the AIS input by kind
    and the routes used."""
    key = os.urandom(32)
    keyfile = tmp_path / "fleet.key"
    keyfile.write_text(key.hex() + "\n")
    port = free_port("tcp")
    cfg = _config(tmp_path, port, f'\n[hardware.ais]\nsource = "{tmp_path}/ttyAIS"\n', key=keyfile)
    (tmp_path / "ais_mate.toml").write_text(SCENARIO.format(lat=ORIGIN[0], lon=ORIGIN[1]))
    sc = load_scenario(tmp_path / "ais_mate.toml")
    sim = Simulation(sc)
    hw = HilHardware(sim, load_vehicle_config(cfg).hardware)
    map_yaml = save_map_server(sim.world.prior_map(), tmp_path / "site.yaml")
    ais = PtyDevice(tmp_path / "ttyAIS")
    own, peer_port = free_port("udp"), free_port("udp")
    peer = V2VLink(6, f"127.0.0.1:{peer_port}", [f"127.0.0.1:{own}"], signing_key=key)
    peer.subscribe(ROUTE_MSG)
    stop = threading.Event()
    t0 = time.monotonic()

    def play_hardware():
        while not stop.is_set():
            hw.step(time.monotonic() - t0)
            select.select(hw.fds(), [], [], 0.005)

    player = threading.Thread(target=play_hardware, daemon=True)
    player.start()
    proc = _spawn(["--config", str(cfg), "--map", str(map_yaml), "--origin", f"{ORIGIN[0]},{ORIGIN[1]}",
                   "--no-warm", "--v2v", f"127.0.0.1:{own}", "--v2v-peer", f"127.0.0.1:{peer_port}",
                   "--mmsi", str(OWN_MMSI), "-v"])
    out = Output(proc)
    frame = LocalFrame(*ORIGIN)
    texts: list[str] = []
    link = None
    rounds = 0
    try:
        out.wait_for(READY_PREFIX, timeout=60)
        assert any(f"ais             {tmp_path}/ttyAIS at 38400 baud, own MMSI {OWN_MMSI} not a contact" in ln
                   for ln in out.lines), out.lines
        link, v = connect(ConnectOptions(f"tcp:127.0.0.1:{port}", sysid=5, signing_key=key, timeout=30),
                          recorder=lambda m: texts.append(m.text) if m.get_type() == "STATUSTEXT" else None)

        # -- a stranger, and what is not one
        static = encode_dict({"type": 5, "mmsi": PILOT, "shipname": "PILOT 7", "ship_type": 50, "to_bow": 10,
                              "to_stern": 6, "to_port": 2, "to_starboard": 2}, talker_id="AI",
                             sentence_type="VDM", seq_id=1)
        assert len(static) == 2
        good = _position(PILOT, *frame.to_geo(60.0, 40.0), 6.0, 270.0)[0]
        bad = good[:-2] + ("00" if good[-2:] != "00" else "11")     # the checksum no longer matches
        mine = _position(OWN_MMSI, *frame.to_geo(50.0, 100.0))[0]
        ais.write(b"\x00\xffGARBAGE from a noisy line\r\n" + _lines(bad, static[0]))
        ais.write(_lines(static[1]) + good[:20].encode())     # the position's first 20 characters ...
        ais.write(good[20:].encode() + b"\r\n" + _lines(mine))  # ... and the rest, then our own report
        deadline = time.monotonic() + 20
        while not any("PILOT 7: new from AIS" in t for t in texts) and time.monotonic() < deadline:
            link.poll(0.2)
        assert f"Contact {PILOT} PILOT 7: new from AIS" in texts, texts

        # -- under way, and a fleet-mate
        c = CommandClient(v)
        arm_when_ready(c, link)
        c.goto(*frame.to_geo(350.0, 100.0))
        # the mate, twice a second, on AIS and on the V2V link, where she is on her lane
        m0 = time.monotonic()
        while time.monotonic() < m0 + 30:
            x = MATE_X0 + MATE_SPEED * (time.monotonic() - m0)
            ais.write(_lines(*_position(MATE, *frame.to_geo(x, MATE_Y), MATE_SPEED * 3600 / 1852, 90.0)))
            lat, lon = frame.to_geo(np.array([x, x + 40.0, x + 80.0]), np.full(3, MATE_Y))
            peer.send([route_ahead_message(MATE, time.time(), lat, lon, MATE_SPEED)])
            rounds += 1
            peer.take(ROUTE_MSG)
            if any(f"predicts MMSI {MATE} along her shared route" in ln for ln in out.lines):
                break
            link.pump_for(0.5)
        assert any(f"predicts MMSI {MATE} along her shared route" in ln for ln in out.lines), \
            "\n".join(out.lines[-60:])
        assert not [t for t in texts if str(OWN_MMSI) in t], texts      # our own MMSI never was a contact
    finally:
        if link is not None:
            link.close()
        text = out.stop()
        stop.set()
        player.join(10)
        peer.close()
        hw.close()
        ais.close()
    assert proc.returncode == 0, text
    # garbage and the bad checksum dropped, counted; the static report's two parts are one contact report
    assert (f"AIS sentences {4 + rounds}, bad checksum 1, malformed 1, contacts {2 + rounds}, own ship 1\n"
            in text + "\n"), text
    used = [ln for ln in text.splitlines() if "V2V routes sent" in ln]
    assert used and re.search(r", used [1-9]", used[0]) and "dropped" not in used[0], used
