"""AIVDM decoding: real sentences from pyais's encoder, multi-part static
data, corrupted and partial input, serial and UDP transports."""
import math
import select
import socket

import pytest
from pyais import encode_dict

from edgepilot.firmware_bridge.ais import AisDecoder, AisReceiver
from edgepilot.vehicle.geo import compass_deg_to_enu_yaw


def pos(mmsi=219000001, lat=54.32, lon=10.14, speed=10.0, course=45.0, heading=44, sentence="VDM", ch="A"):
    return encode_dict({"type": 1, "mmsi": mmsi, "lat": lat, "lon": lon, "speed": speed, "course": course,
                        "heading": heading}, talker_id="AI", sentence_type=sentence, radio_channel=ch)


def static(mmsi=219000001, seq=3):
    return encode_dict({"type": 5, "mmsi": mmsi, "shipname": "PRINSESSE BENEDIKTE", "ship_type": 60,
                        "to_bow": 80, "to_stern": 62, "to_port": 12, "to_starboard": 12},
                       talker_id="AI", sentence_type="VDM", seq_id=seq)


def lines(*groups) -> bytes:
    return b"".join(s.encode() + b"\r\n" for g in groups for s in g)


def test_position_report_in_si_and_enu():
    d = AisDecoder()
    (r,) = d.feed(lines(pos()), now=12.5)
    assert (r.source, r.id, r.t) == ("ais", 219000001, 12.5)
    assert r.lat == pytest.approx(54.32, abs=1e-5) and r.lon == pytest.approx(10.14, abs=1e-5)
    assert r.sog == pytest.approx(10.0 * 1852 / 3600, abs=1e-3)
    assert r.cog == pytest.approx(compass_deg_to_enu_yaw(45.0), abs=1e-3)   # NE = 45 deg ENU
    assert r.cog == pytest.approx(math.radians(45.0), abs=1e-3)
    assert r.heading == pytest.approx(compass_deg_to_enu_yaw(44.0), abs=1e-6)
    assert d.counters.reports == 1 and d.counters.sentences == 1


def test_two_part_static_data_is_reassembled():
    d = AisDecoder()
    parts = static()
    assert len(parts) == 2
    assert d.feed(lines(parts[:1]), 1.0) == []
    (r,) = d.feed(lines(parts[1:]), 1.1)
    assert r.name == "PRINSESSE BENEDIKTE" and r.ship_type == 60
    assert (r.length, r.beam) == (142.0, 24.0) and r.lat is None


def test_bad_checksum_garbage_and_unavailable_values_are_counted_and_skipped():
    d = AisDecoder()
    good = pos()[0]
    bad = good[:20] + ("0" if good[20] != "0" else "1") + good[21:]
    no_pos = pos(lat=91.0, lon=181.0)[0]
    no_sog = encode_dict({"type": 1, "mmsi": 219000002, "lat": 54.0, "lon": 10.0, "speed": 102.3,
                          "course": 360.0, "heading": 511}, talker_id="AI", sentence_type="VDM")[0]
    data = (bad + "\r\n" + "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47\r\n"
            + "!AIVDM,1,1,,A,,0*26\r\n" + "\x00\xff junk\r\n" + no_pos + "\r\n" + no_sog + "\r\n" + good + "\r\n")
    out = d.feed(data.encode("latin-1"), 3.0)
    c = d.counters
    assert c.bad_checksum == 1 and c.malformed >= 2 and c.invalid_position == 1
    assert [r.id for r in out] == [219000002, 219000001]
    assert (out[0].sog, out[0].cog, out[0].heading) == (None, None, None)


def test_partial_lines_wait_for_the_rest_and_lost_fragments_expire():
    d = AisDecoder()
    raw = lines(pos())
    assert d.feed(raw[:17], 0.0) == [] and len(d.feed(raw[17:], 0.1)) == 1
    first, _ = static(seq=7)
    d.feed(lines([first]), 1.0)
    d.feed(b"", 2.0)
    d.feed(lines(pos(mmsi=219000003)), 10.0)     # later traffic expires the orphan fragment
    assert d.counters.fragments_dropped == 1


def test_own_ship_vdo_is_counted_not_reported():
    d = AisDecoder()
    assert d.feed(lines(pos(sentence="VDO")), 0.0) == []
    assert d.counters.own_ship == 1


def test_our_own_mmsi_heard_as_vdm_is_own_ship_not_a_contact():
    """A receiver beside our own transponder hears our transmissions as
    AIVDM: with ``own_mmsi`` they are counted, not reported; others are."""
    d = AisDecoder(own_mmsi=993000555)
    out = d.feed(lines(pos(mmsi=993000555), static(mmsi=993000555), pos(mmsi=219000004)), 0.0)
    assert [r.id for r in out] == [219000004]
    assert d.counters.own_ship == 2 and d.counters.reports == 1


def test_serial_loop_transport():
    rx = AisReceiver("loop://")
    try:
        rx.port._ser.write_timeout = None      # the reader's port never blocks on write; the loop's test end may
        rx.port._ser.write(lines(pos(mmsi=219000009), static(mmsi=219000009)))
        got = []
        for _ in range(50):
            got += rx.poll(1.0)
            if len(got) == 2:
                break
        assert {r.id for r in got} == {219000009} and any(r.name for r in got)
    finally:
        rx.close()


def test_udp_transport():
    rx = AisReceiver("udp:127.0.0.1:0")
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        tx.sendto(lines(pos(mmsi=219000010)), rx.address)
        assert select.select([rx._sock], [], [], 5.0)[0], "datagram never arrived"
        got = rx.poll(2.0)
        assert [r.id for r in got] == [219000010]
    finally:
        tx.close()
        rx.close()


def test_bad_udp_url_is_a_clear_error():
    with pytest.raises(ValueError, match="expected udp:HOST:PORT"):
        AisReceiver("udp:nowhere")


def test_udp_url_as_the_gps_source_writes_it_and_datagrams_without_line_ends():
    """``udp://HOST:PORT`` works too; a datagram whose last sentence has no
    line end is still whole (it does not wait for the next datagram)."""
    rx = AisReceiver("udp://127.0.0.1:0")
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        tx.sendto(pos(mmsi=219000011)[0].encode(), rx.address)
        assert select.select([rx.fileno()], [], [], 5.0)[0], "datagram never arrived"
        assert [r.id for r in rx.poll(2.0)] == [219000011]
        assert rx.summary() == "AIS sentences 1, bad checksum 0, malformed 0, contacts 1, own ship 0"
    finally:
        tx.close()
        rx.close()


def test_a_serial_port_that_cannot_be_opened_is_an_error_naming_it(tmp_path):
    with pytest.raises(OSError, match=f"cannot open {tmp_path}/ttyNONE"):
        AisReceiver(str(tmp_path / "ttyNONE"))


def test_a_serial_receiver_unplugged_is_reported_and_reopened(tmp_path):
    """A pty as the receiver's USB port: pulled mid-sentence, the loss is
    reported and the port reopened behind the same path; the half sentence
    from before is not glued to the new stream."""
    from edgepilot.sim.hil import PtyDevice

    dev = PtyDevice(tmp_path / "ttyAIS")
    events: list[str] = []
    rx = AisReceiver(str(tmp_path / "ttyAIS"), on_event=events.append)
    try:
        rx.port.reopen_interval = 0.0
        dev.write(lines(pos(mmsi=219000012)) + pos(mmsi=219000013)[0][:25].encode())
        got = []
        for _ in range(200):
            got += rx.poll(1.0)
            if got:
                break
            select.select([rx.fileno()], [], [], 0.05)
        assert [r.id for r in got] == [219000012]
        dev.unplug()
        for _ in range(200):
            rx.poll(2.0)
            if any("disconnected" in e for e in events):
                break
            select.select([], [], [], 0.01)
        assert any(e.startswith(f"ais: disconnected from {tmp_path}/ttyAIS") for e in events), events
        dev.plug()
        got = []
        for _ in range(200):
            got += rx.poll(3.0)
            if got:
                break
            if rx.connected:            # a receiver talks on and on: what it says once the port is open is read
                dev.write(lines(pos(mmsi=219000014)))
            select.select([], [], [], 0.01)
        assert {r.id for r in got} == {219000014} and any("reconnected" in e for e in events), events
        assert rx.counters.malformed == 0 and rx.counters.bad_checksum == 0
    finally:
        rx.close()
        dev.close()
