"""Mission transfers are exact with a vehicle that asks for items with the
older MISSION_REQUEST (ArduPilot Rover does): ``edgepilot gcs mission
upload`` answers with MISSION_ITEM_INT all the same, so a round trip keeps
positions to 1e-7 degrees (issue 13 item 6).  The float MISSION_ITEM would
bring -35.3629000, 149.1652300 back as -35.3628992, 149.1652352.

The vehicle is a small scripted pymavlink peer on a real 127.0.0.1 TCP
socket; ``edgepilot gcs`` runs as a subprocess, as an operator runs it."""
from __future__ import annotations

import socket
import threading
import time

import pytest
from pymavlink.dialects.v20 import ardupilotmega as M

from edgepilot.gcs.formats.mission import load_mission
from tests.conftest import run_edgepilot

POINTS = [(-35.3629000, 149.1652300), (-35.3631234, 149.1654321), (47.3977779, 8.5456471),
          (-0.0000001, -179.9999999)]


class _Sock:
    """The file-like pymavlink writes packed messages to."""

    def __init__(self, conn: socket.socket):
        self.conn = conn

    def write(self, buf: bytes) -> None:
        self.conn.sendall(buf)


class ScriptedRover(threading.Thread):
    """An ArduPilot-Rover-like mission server: heartbeats as a ground rover,
    requests upload items with MISSION_REQUEST (the float-era request),
    stores what it receives the way ArduPilot does (a float MISSION_ITEM's
    float32 lat/lon times 1e7, a MISSION_ITEM_INT's degE7 as is) and serves
    downloads as MISSION_ITEM_INT.  Accepts one TCP client after another."""

    def __init__(self):
        super().__init__(daemon=True)
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.srv.settimeout(0.2)
        self.port = self.srv.getsockname()[1]
        self.stored: list[dict] = []
        self.incoming: list[dict] = []
        self.expect = 0
        self.item_types: list[str] = []        # the message type of every item the GCS sent
        self.requests: list[str] = []          # what we asked with
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            try:
                conn, _ = self.srv.accept()
            except socket.timeout:
                continue
            with conn:
                self._serve(conn)
        self.srv.close()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(0.05)
        mav = M.MAVLink(_Sock(conn), srcSystem=1, srcComponent=1)
        next_hb = 0.0
        while not self.halt.is_set():
            if time.monotonic() >= next_hb:
                mav.heartbeat_send(M.MAV_TYPE_GROUND_ROVER, M.MAV_AUTOPILOT_ARDUPILOTMEGA,
                                   M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, 4, M.MAV_STATE_STANDBY)
                next_hb = time.monotonic() + 0.5
            try:
                data = conn.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            if not data:
                return
            for m in mav.parse_buffer(data) or []:
                self._handle(mav, m)

    def _handle(self, mav, m) -> None:
        t = m.get_type()
        if getattr(m, "mission_type", 0) != M.MAV_MISSION_TYPE_MISSION:
            return
        if t == "MISSION_COUNT":
            self.expect, self.incoming = m.count, []
            self._request(mav, 0)
        elif t in ("MISSION_ITEM", "MISSION_ITEM_INT") and m.seq == len(self.incoming) < self.expect:
            self.item_types.append(t)
            if t == "MISSION_ITEM_INT":
                x, y = m.x, m.y
            else:   # ArduPilot's conversion of the float message: float32 degrees * 1e7
                x, y = int(m.x * 1e7), int(m.y * 1e7)
            self.incoming.append(dict(seq=m.seq, frame=m.frame, command=m.command, current=0,
                                      autocontinue=m.autocontinue, param1=m.param1, param2=m.param2,
                                      param3=m.param3, param4=m.param4, x=x, y=y, z=m.z))
            if len(self.incoming) == self.expect:
                self.stored = self.incoming
                mav.mission_ack_send(255, 190, M.MAV_MISSION_ACCEPTED, M.MAV_MISSION_TYPE_MISSION)
            else:
                self._request(mav, len(self.incoming))
        elif t == "MISSION_REQUEST_LIST":
            mav.mission_count_send(255, 190, len(self.stored), M.MAV_MISSION_TYPE_MISSION)
        elif t in ("MISSION_REQUEST_INT", "MISSION_REQUEST") and m.seq < len(self.stored):
            it = self.stored[m.seq]
            mav.mission_item_int_send(255, 190, it["seq"], it["frame"], it["command"], 0, it["autocontinue"],
                                      it["param1"], it["param2"], it["param3"], it["param4"], it["x"], it["y"],
                                      it["z"], M.MAV_MISSION_TYPE_MISSION)

    def _request(self, mav, seq: int) -> None:
        self.requests.append("MISSION_REQUEST")
        mav.mission_request_send(255, 190, seq, M.MAV_MISSION_TYPE_MISSION)


@pytest.fixture
def rover():
    r = ScriptedRover()
    r.start()
    yield r
    r.halt.set()
    r.join(timeout=5)


def test_upload_to_a_mission_request_vehicle_round_trips_exactly(rover, tmp_path):
    wp = tmp_path / "exact.waypoints"
    lines = ["QGC WPL 110", "0\t1\t0\t16\t0\t0\t0\t0\t-35.3632620\t149.1652370\t584.0\t1"]
    lines += [f"{i}\t0\t3\t16\t0\t0\t0\t0\t{lat:.7f}\t{lon:.7f}\t10\t1" for i, (lat, lon) in enumerate(POINTS, 1)]
    wp.write_text("\n".join(lines) + "\n")
    ep = f"tcp:127.0.0.1:{rover.port}"

    r = run_edgepilot("gcs", "-c", ep, "--timeout", "10", "mission", "upload", str(wp), timeout=120)
    assert r.returncode == 0, r.stderr
    assert "uploaded 4 mission items" in r.stdout
    # The vehicle asked the old way and still got only MISSION_ITEM_INT.
    assert rover.requests and set(rover.requests) == {"MISSION_REQUEST"}
    assert rover.item_types == ["MISSION_ITEM_INT"] * 5
    assert [(it["x"], it["y"]) for it in rover.stored[1:]] == [(round(a * 1e7), round(b * 1e7)) for a, b in POINTS]

    out = tmp_path / "back.waypoints"
    r = run_edgepilot("gcs", "-c", ep, "--timeout", "10", "mission", "download", str(out), timeout=120)
    assert r.returncode == 0, r.stderr
    back = load_mission(out)
    assert len(back.items) == len(POINTS)
    for it, (lat, lon) in zip(back.items, POINTS):
        assert abs(it.x - lat) < 1e-7 and abs(it.y - lon) < 1e-7, (it.x, it.y, lat, lon)
    assert abs(back.items[0].x - -35.3629000) < 1e-7 and abs(back.items[0].y - 149.1652300) < 1e-7
