"""NMEA 0183 GPS driver: checksums, epoch assembly, serial over a real pty,
UDP, and fuzzing with random and mutated sentences."""
from __future__ import annotations

import math
import socket

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from edgepilot.firmware_bridge.gps_nmea import (NmeaGpsDriver, NmeaGpsParser, nmea_checksum, nmea_epoch, parse_udp_url,
                                      with_checksum)
from edgepilot.sim.hil import PtyDevice
from tests.hw_util import pump_until

# Classic published example sentences (NMEA reference material) with their checksums.
GGA = b"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47\r\n"
RMC = b"$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A\r\n"


def test_checksum_of_published_examples():
    assert nmea_checksum(GGA[1:-5].decode()) == 0x47
    assert nmea_checksum(RMC[1:-5].decode()) == 0x6A
    assert with_checksum(GGA[1:-5].decode()) == GGA


def test_rmc_then_gga_gives_one_fix_with_velocity():
    p = NmeaGpsParser()
    fixes = p.feed(RMC + GGA, now=5.0)
    assert len(fixes) == 1
    f = fixes[0]
    assert f.t == 5.0
    assert f.lat == pytest.approx(48 + 7.038 / 60) and f.lon == pytest.approx(11 + 31.0 / 60)
    assert f.fix_type == 3 and f.satellites == 8
    assert f.hacc == pytest.approx(0.9 * 2.5)                  # HDOP x UERE, no GST
    spd = 22.4 * 1852 / 3600
    assert f.vel_e == pytest.approx(spd * math.sin(math.radians(84.4)))
    assert f.vel_n == pytest.approx(spd * math.cos(math.radians(84.4)))


@settings(max_examples=60, deadline=None)
@given(st.floats(-89.9, 89.9), st.floats(-179.9, 179.9), st.floats(-5, 5), st.floats(-5, 5),
       st.sampled_from([1, 2, 4, 5]), st.floats(0.01, 5.0))
def test_emulated_epoch_roundtrips(lat, lon, ve, vn, q, sigma):
    p = NmeaGpsParser()
    (f,) = p.feed(nmea_epoch(3600.0, lat, lon, ve, vn, fix_quality=q, sigma_m=sigma), now=1.0)
    assert f.lat == pytest.approx(lat, abs=1e-8) and f.lon == pytest.approx(lon, abs=1e-8)
    assert f.vel_e == pytest.approx(ve, abs=2e-3) and f.vel_n == pytest.approx(vn, abs=2e-3)
    assert f.hacc == pytest.approx(sigma, abs=1e-3)
    assert f.fix_type == {1: 3, 2: 4, 4: 6, 5: 5}[q]


def test_no_fix_is_reported_as_fix_type_zero():
    p = NmeaGpsParser()
    (f,) = p.feed(nmea_epoch(10.0, 47.0, 8.0, 0, 0, fix_quality=0, satellites=2), now=2.0)
    assert f.fix_type == 0 and f.satellites == 2


def test_bad_lines_are_counted_and_reader_resyncs_on_dollar():
    p = NmeaGpsParser()
    bad_ck = GGA.replace(b"*47", b"*48")
    no_ck = GGA.replace(b"*47", b"")
    cut = GGA[:30]                                    # cut short by the next '$'
    noise = b"\x00\xff garbage\r\n"
    long_line = b"$GPGGA," + b"1" * 300 + b"\r\n"
    fixes = p.feed(bad_ck + no_ck + cut + long_line + noise + RMC + GGA + b"$GPGSV,1,1,00*79\r\n", now=1.0)
    s = p.stats
    assert len(fixes) == 1
    assert s.checksum == 2 + 1                         # wrong, missing, and the cut-short line
    assert s.no_start == 1 and s.oversize == 1
    assert s.sentences_ok == 3 and s.unsupported == 1


def test_garbled_fields_with_valid_checksum_count_as_parse_errors():
    p = NmeaGpsParser()
    fixes = p.feed(with_checksum("GPGGA,123519,48x7.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,") + GGA, now=1.0)
    assert len(fixes) == 1 and p.stats.parse == 1


def test_gps_over_a_real_pty(tmp_path):
    dev = PtyDevice(tmp_path / "ttyGPS")
    gps = NmeaGpsDriver(dev.path, 38400)
    got = []
    try:
        assert gps.open()
        for k in range(5):
            dev.write(nmea_epoch(100.0 + k * 0.1, 47.3977 + k * 1e-6, 8.5455, 1.0, 0.0, sigma_m=0.05))
        assert pump_until(lambda: len(got) >= 5, lambda now: got.extend(gps.poll(now)), [dev.fileno, gps.fileno])
        assert [f.lat for f in got] == pytest.approx([47.3977 + k * 1e-6 for k in range(5)], abs=1e-9)
        assert all(f.vel_e == pytest.approx(1.0, abs=1e-3) for f in got)
        # Unplugged and re-plugged: reported, reconnected, fixes resume.
        dev.unplug()
        assert pump_until(lambda: not gps.connected, lambda now: gps.poll(now), [gps.fileno], timeout=2)
        dev.plug()
        assert pump_until(lambda: gps.connected, lambda now: gps.poll(now), [], timeout=3)
        dev.write(nmea_epoch(200.0, 47.0, 8.0, 0, 0))
        n = len(got)
        assert pump_until(lambda: len(got) > n, lambda now: got.extend(gps.poll(now)), [dev.fileno, gps.fileno])
        assert got[-1].lat == pytest.approx(47.0)
        assert gps.port.reconnects == 1
    finally:
        gps.close()
        dev.close()


def test_gps_over_udp():
    gps = NmeaGpsDriver("udp://127.0.0.1:0")
    addr = gps.port.address
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    got = []
    try:
        for s in nmea_epoch(5.0, -33.85, 151.2, 0.0, 2.0).split(b"\r\n"):
            if s:
                tx.sendto(s, addr)                    # one sentence per datagram, no CRLF
        assert pump_until(lambda: got, lambda now: got.extend(gps.poll(now)), [gps.fileno])
        assert got[0].lat == pytest.approx(-33.85) and got[0].lon == pytest.approx(151.2)
        assert got[0].vel_n == pytest.approx(2.0, abs=1e-3)
    finally:
        tx.close()
        gps.close()
    with pytest.raises(ValueError, match="udp://HOST:PORT"):
        parse_udp_url("udp://localhost")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=1500))
def test_fuzz_random_bytes_then_service_continues(noise):
    p = NmeaGpsParser()
    p.feed(noise, now=0.0)
    fixes = p.feed(b"\r\n" + nmea_epoch(1.0, 10.0, 20.0, 0, 0), now=1.0)
    assert fixes and fixes[-1].lat == pytest.approx(10.0)


def test_fuzz_mutated_sentences():
    rng = np.random.default_rng(7)
    p = NmeaGpsParser()
    clean = nmea_epoch(1.0, 47.1, 8.2, 0.5, 0.5, sigma_m=0.1)
    returned = 0                           # fixes the parser handed out, mutated or clean
    for i in range(2000):
        b = bytearray(clean)
        for _ in range(int(rng.integers(1, 4))):
            k = int(rng.integers(0, len(b)))
            op = int(rng.integers(0, 3))
            if op == 0:
                b[k] = int(rng.integers(0, 256))
            elif op == 1:
                del b[k]
            else:
                b.insert(k, int(rng.integers(0, 256)))
        mutated_fixes = p.feed(bytes(b), now=float(i))
        returned += len(mutated_fixes)
        for f in mutated_fixes:
            # A mutation that survives the checksum must still give sane numbers.
            assert -90 <= f.lat <= 90 and -180 <= f.lon <= 180 and math.isfinite(f.hacc)
        fixes = p.feed(b"\r\n" + clean, now=float(i))
        assert fixes and fixes[-1].lat == pytest.approx(47.1)
        returned += len(fixes)
    assert p.stats.dropped > 1000
    # its own counter agrees with what it returned, and every clean epoch gave one
    assert p.stats.fixes == returned and returned >= 2000
