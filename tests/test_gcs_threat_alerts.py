"""Structured threat alerts at the ground station: our dialect's
EDGEPILOT_THREAT_ALERT (47105), sent over a real UDP socket by a scripted
MAVLink peer (tests/fleet_rig.py, pymavlink, not a vehicle of ours) beside
its "ALERT ..." STATUSTEXT, decoded by a real `edgepilot gcs` process and
shown by `fleet status` and `watch --view fleet` with the score, the
reasons and the contact's position."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from edgepilot.firmware_bridge.fleet_link import FleetCodec
from edgepilot.sim.realtime import free_port
from edgepilot.vehicle.fleet.threats import Track, Zone, assess

from fleet_rig import ArduPilotLikePeer

PEER = 21


def real_alert():
    """An alert as the fleet's threat watch raises it: a dark 3 m/s track
    heading into a protected zone (threats.assess, not a hand-made one)."""
    zone = Zone("berths", ((185.0, 50.0), (240.0, 50.0), (240.0, 130.0), (185.0, 130.0)))
    tr = Track(7, 113.2, 108.7, 2.7, -1.0, "vessel", first_seen=30.0, last_seen=37.0)
    alerts = assess(37.0, [tr], [], [zone])
    dark = next(a for a in alerts if a.kind == "ais_dark")
    return dark, alerts


def frame(alert, sysid: int = PEER) -> bytes:
    codec = FleetCodec((sysid,), 0)
    return bytes(codec.alert(alert).pack(codec.mod.MAVLink(None, srcSystem=sysid, srcComponent=1)))


def test_gcs_dialect_decodes_the_alert_frame_and_checks_its_checksum():
    from edgepilot.gcs.dialect import threat_alert

    a, _ = real_alert()
    f = frame(a)
    got = threat_alert(f)
    assert got["kind"] == "ais_dark" and abs(got["score"] - a.score) < 1e-3
    assert got["reasons"] == list(a.reasons) and (got["x"], got["y"]) == (113.2, 108.7) and got["track"] == 7
    bad = bytearray(f)
    bad[20] ^= 0x55                        # a payload bit error: the checksum no longer matches
    assert threat_alert(bytes(bad)) is None


def wait_until(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} within {timeout:g} s")


def test_fleet_status_json_lists_the_structured_alert_once():
    udp = free_port("udp")
    peer = ArduPilotLikePeer(udp, sysid=PEER)
    second = None
    a, alerts = real_alert()
    zone_alert = next(x for x in alerts if x.kind == "zone_cpa")
    try:
        proc = subprocess.Popen([sys.executable, "-m", "edgepilot", "gcs", "-c", f"udpin:127.0.0.1:{udp}", "fleet",
                                 "status", "--json", "--expect", "2", "--wait", "30"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
        # the ground station is listening once its heartbeat reaches the peer
        wait_until(lambda: any(t == "HEARTBEAT" for t, _ in list(peer.received)), 30, "the gcs heartbeat")
        for _ in range(2):                  # sent twice (a lossy link's retry): listed once
            peer.conn.write(frame(a))
            peer.conn.write(frame(zone_alert))
            peer.alert(a.text(), severity=1)
        peer.alert("Obstacle: vessel without AIS closing")
        second = ArduPilotLikePeer(udp, sysid=PEER + 1)      # status returns once it hears both
        out, err = proc.communicate(timeout=60)
    finally:
        peer.close()
        if second is not None:
            second.close()
    assert proc.returncode == 0, out + err
    doc = json.loads(out)
    assert [v["sysid"] for v in doc["vehicles"]] == [PEER, PEER + 1]
    threats = [x for x in doc["alerts"] if x["severity"] == "THREAT"]
    assert sorted(x["threat"]["kind"] for x in threats) == ["ais_dark", "zone_cpa"], doc["alerts"]
    dark = next(x for x in threats if x["threat"]["kind"] == "ais_dark")
    assert dark["sysid"] == PEER and abs(dark["threat"]["score"] - a.score) < 1e-3
    assert dark["threat"]["reasons"] == list(a.reasons)
    assert (dark["threat"]["x"], dark["threat"]["y"]) == (113.2, 108.7) and dark["threat"]["track"] == 7
    zc = next(x for x in threats if x["threat"]["kind"] == "zone_cpa")
    assert zc["threat"]["zone"] == "berths" and "no AIS" in zc["threat"]["reasons"]
    # the "ALERT ais_dark ..." STATUSTEXT that goes with it is not listed again; other warnings are
    texts = [x["text"] for x in doc["alerts"] if x["severity"] != "THREAT"]
    assert not any(t.startswith("ALERT ais_dark") for t in texts), texts
    assert "Obstacle: vessel without AIS closing" in texts


def test_watch_fleet_view_shows_score_position_and_reasons():
    from test_gcs_e2e import PtyTerminal

    udp = free_port("udp")
    peer = ArduPilotLikePeer(udp, sysid=PEER)
    a, _ = real_alert()
    term = PtyTerminal([sys.executable, "-m", "edgepilot", "gcs", "-c", f"udpin:127.0.0.1:{udp}", "watch", "--view",
                        "fleet", "--rate", "4"], rows=40, cols=200)
    try:
        term.until(lambda s: "1 vehicle(s)" in s and "alerts: none" in s, 30)
        f = frame(a)
        deadline = time.monotonic() + 30
        want = f"sysid {PEER}  [THREAT] ais_dark track 7 score {a.score:.2f} at (113, 109) m: no AIS within 50 m"
        s = ""
        while time.monotonic() < deadline and want not in s:
            peer.conn.write(f)
            term.pump(0.3)
            s = term.text()
        assert want in s, s
        assert "alerts (1)" in s
        term.send(b"q")
        assert term.wait(15) == 0
    finally:
        term.close()
        peer.close()
