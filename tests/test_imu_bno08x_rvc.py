"""BNO08x UART-RVC IMU: the datasheet's example frame, resync on garbage and
torn frames, bad checksums counted and dropped, rates from orientation, and
the driver over a real pty with unplug/re-plug."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from edgepilot.firmware_bridge.imu_bno08x_rvc import (FRAME_LEN, MG, Bno08xRvcDriver, Bno08xRvcEmulator, RvcDecoder,
                                                      RvcFrame, RvcImu, checksum, encode_frame, samples_array)
from edgepilot.sim.hil import PtyDevice
from tests.hw_util import pump_until

# BNO080 datasheet 1000-3927, section 1.3.5.2: the example message
EXAMPLE = bytes.fromhex("AAAADE010092FF25088DFEECFFD103000000E7")


def test_the_datasheet_example_decodes():
    (f,) = RvcDecoder().feed(EXAMPLE)
    assert f.index == 222
    assert (f.yaw_deg, f.pitch_deg, f.roll_deg) == (0.01, -1.10, 20.85)
    assert f.accel_x == pytest.approx(-3.638, abs=1e-3)          # -371 mg, as the datasheet says
    assert (f.accel_y, f.accel_z) == (pytest.approx(-20 * MG), pytest.approx(977 * MG))
    assert encode_frame(f) == EXAMPLE
    assert checksum(EXAMPLE[2:18]) == EXAMPLE[18]


def frames(n, start=0, yaw_step=0.5):
    return [RvcFrame((start + k) & 0xFF, ((k * yaw_step + 180) % 360) - 180, 1.0, -2.0, 0.1, -0.2, 9.8)
            for k in range(n)]


def test_garbage_torn_frames_and_bad_checksums_are_counted_and_skipped():
    good = [encode_frame(f) for f in frames(6)]
    dec = RvcDecoder()
    banner = Bno08xRvcEmulator.BANNER
    bad = bytearray(good[2])
    bad[7] ^= 0x10                                              # a flipped bit in pitch
    stream = banner + b"\xaa" + good[0] + b"\xaa\xaa\x01\x02" + good[1] + bytes(bad) + good[3]
    out = []
    for k in range(0, len(stream), 7):                         # torn: 7-byte chunks
        out += dec.feed(stream[k:k + 7])
    out += dec.feed(good[4][:10])                              # the rest of a frame comes later
    assert [f.index for f in out] == [0, 1, 3]
    out = dec.feed(good[4][10:] + good[5])
    assert [f.index for f in out] == [4, 5]
    st_ = dec.stats
    assert st_.frames_ok == 5 and st_.checksum >= 2 and st_.dropped >= 2
    assert st_.skipped_bytes >= len(banner)


def test_a_checksum_right_frame_with_an_impossible_angle_is_a_false_header():
    raw = bytearray(encode_frame(frames(1)[0]))
    raw[5:7] = (12000).to_bytes(2, "little", signed=True)       # pitch 120 deg: beyond +/-90
    raw[18] = checksum(bytes(raw[2:18]))
    dec = RvcDecoder()
    assert [f.index for f in dec.feed(bytes(raw) + encode_frame(frames(2)[1]))] == [1]
    assert dec.stats.out_of_range == 1


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000))
def test_fuzz_random_bytes_then_good_frames(noise):
    dec = RvcDecoder()
    dec.feed(noise)
    out = dec.feed(b"".join(encode_frame(f) for f in frames(3)))
    # noise ending in a partial false header may swallow at most the first good frame
    assert len(out) >= 2 and out[-1].index == 2


def test_rates_come_from_the_orientation_and_integrate_to_it():
    """Yaw turning at 30 deg/s through the +/-180 wrap, roll at -5 deg/s,
    the frames read in bursts: gyro_z integrates to the device's yaw change
    exactly; a sensor mounted turned 90 deg left gets x/y rotated."""
    rate = 30.0
    fr = [RvcFrame(k & 0xFF, ((170 + rate * k / 100 + 180) % 360) - 180, 0.0, -0.05 * k, 1.0, 0.0, 9.8)
          for k in range(300)]
    imu = RvcImu(mount_yaw=math.pi / 2)
    out = []
    for b in range(0, 300, 7):                                 # 7 frames per read, read when the last arrived
        out += imu.convert(fr[b:b + 7], now=(b + 6) / 100 + 0.003)
    a = samples_array(out)
    assert a.shape == (299, 7) and np.all(np.diff(a[:, 0]) > 0)
    assert np.allclose(a[:, 3], math.radians(rate), rtol=0.2)  # per sample: host-clock jitter
    # each sample's rate times its step is the yaw change between its frames (0.3 deg, the wrap included)
    assert np.allclose(a[1:, 3] * np.diff(a[:, 0]), math.radians(0.3), rtol=1e-9)
    # sensor x (accel 1.0, roll rate -5 deg/s) points left on the vehicle: vehicle y
    assert np.allclose(a[:, 4], 0.0, atol=1e-12) and np.allclose(a[:, 5], 1.0) and np.allclose(a[:, 6], 9.8)
    assert np.allclose(a[:, 2], math.radians(-5.0), rtol=0.2) and np.allclose(a[:, 1], 0.0, atol=1e-12)
    assert imu.stats.samples == 299 and imu.stats.missed == 0


def test_missed_frames_are_counted_and_a_long_gap_restarts_the_differencing():
    imu = RvcImu(max_gap_s=0.1)
    f = frames(40)
    out = imu.convert(f[:5], 0.05)
    out += imu.convert(f[7:10], 0.10)                          # 2 frames lost: rate over the 30 ms step
    assert len(out) == 4 + 3 and imu.stats.missed == 2
    assert out[4].gyro_z == pytest.approx(math.radians(0.5 * 3) / (out[4].t - out[3].t))
    out2 = imu.convert(f[25:28], 0.28)                         # 15 frames lost: > max_gap, no made-up rate
    assert len(out2) == 2 and imu.stats.gaps == 1
    out3 = imu.convert(f[28:30], 1.5)                          # the port silent for 1.2 s: restart too
    assert len(out3) == 1 and imu.stats.gaps == 2
    with pytest.raises(ValueError, match="max_gap_s"):
        RvcImu(max_gap_s=0.001)


def test_driver_over_a_pty_with_unplug_and_replug(tmp_path):
    def motion(t):
        return (20.0 * t, 0.5, -1.0, 0.2, 0.0, 9.81)           # turning left at 20 deg/s

    emu = Bno08xRvcEmulator(motion)
    dev = PtyDevice(tmp_path / "ttyIMU")
    drv = Bno08xRvcDriver(dev.path)
    got = []
    clock = {"t": 0.0}

    def step(now):
        clock["t"] += 0.005
        dev.write(emu.tick(clock["t"]))
        got.extend(drv.poll(now))

    try:
        assert drv.open()
        assert pump_until(lambda: len(got) >= 50, step, [drv.fileno], timeout=20)
        a = samples_array(got)
        assert drv.stats.dropped == 0
        assert np.median(a[:, 3]) == pytest.approx(math.radians(20.0), rel=0.5)
        assert np.allclose(a[:, 4], 0.2, atol=MG) and np.allclose(a[:, 6], 9.81, atol=MG)
        assert drv.stats.skipped_bytes >= len(Bno08xRvcEmulator.BANNER)     # the start-up text
        # unplug: noticed; re-plug: samples resume, the decoder starts clean
        dev.unplug()
        assert pump_until(lambda: not drv.connected, lambda now: drv.poll(now), [drv.fileno], timeout=5)
        dev.plug()
        n = len(got)
        assert pump_until(lambda: len(got) >= n + 20, step, [drv.fileno], timeout=20)
        assert drv.port.reconnects == 1 and drv.stats.dropped == 0
        assert all(s.t > r.t for r, s in zip(got[n:], got[n + 1:]))
    finally:
        drv.close()
        dev.close()


def test_frame_length_and_header():
    raw = encode_frame(frames(1)[0])
    assert len(raw) == FRAME_LEN and raw[:2] == b"\xaa\xaa"


def test_direct_drivers_open_the_imu_from_the_hardware_table(tmp_path):
    """``[hardware.imu]`` in the vehicle config: DirectDrivers opens the
    port, reports the device, and hands out the samples it collected."""
    from edgepilot.onboard.drivers import DirectDrivers
    from edgepilot.vehicle.config import ConfigError, load_vehicle_config
    from tests.hw_util import hil_config

    path = hil_config(tmp_path)
    base = path.read_text()
    path.write_text(base + f'\n[hardware.imu]\nport = "{tmp_path}/ttyIMU"\nmount_yaw_deg = 180\n')
    cfg = load_vehicle_config(path)
    assert cfg.hardware.imu.model == "bno08x-rvc" and cfg.hardware.imu.baud == 115200
    emu = Bno08xRvcEmulator(lambda t: (0.0, 0.0, 0.0, 0.5, 0.0, 9.81))
    dev = PtyDevice(tmp_path / "ttyIMU")
    drv = DirectDrivers(cfg)
    got = []
    clock = {"t": 0.0}

    def step(now):
        clock["t"] += 0.005
        dev.write(emu.tick(clock["t"]))
        drv.poll(now)
        got.extend(drv.imu_samples())

    try:
        status = {s.name: s for s in drv.open()}
        assert status["imu (bno08x-rvc)"].connected and not status["imu (bno08x-rvc)"].required
        assert pump_until(lambda: len(got) >= 20, step, [drv.imu.fileno], timeout=20)
        assert np.allclose(samples_array(got)[:, 4], -0.5, atol=MG)   # mounted facing backwards
        c = drv.counters()
        assert c["imu_samples"] >= 20 and c["imu_dropped"] == 0 and c["imu_disconnects"] == 0
    finally:
        drv.close()
        dev.close()
    path.write_text(base + '\n[hardware.imu]\nport = "/dev/ttyAMA1"\nmodel = "mpu6050"\n')
    with pytest.raises(ConfigError, match=r"hardware\.imu\.model"):
        load_vehicle_config(path)
