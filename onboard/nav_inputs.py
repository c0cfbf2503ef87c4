"""Dead-reckoning inputs of the onboard process: driver readings in, the
``SensorFrame``'s ``imu`` and ``wheel_ticks`` out, in exactly the form the
simulator hands the core (sim/simulation.py), so the navigation EKF
(vehicle/estimation/navigation.py) cannot tell a real vehicle from SITL.

IMU (``ImuInput``): ``ImuSample``s from the IMU driver (BNO08x UART-RVC,
firmware_bridge/imu_bno08x_rvc.py), already in the vehicle frame (x forward,
y left, z up; gyro [rad/s], specific force [m/s^2], +9.81 on z at rest) and
stamped on the runtime's clock (the ``now`` the drivers were polled with).
Per control tick the samples with ``t <= now`` become one float64 (n, 7)
array, rows (t, gyro x/y/z, accel x/y/z), oldest first -- what
``NavEkf.predict_imu_batch`` takes.  The EKF refuses a block with a
non-finite value or out of time order (the whole tick would fail), so:

- a sample with NaN or inf in any field is dropped and counted (``nonfinite``);
- a sample not newer than the last one handed on (a repeat, or a stamp
  that went backwards after a reconnect) is dropped and counted (``stale``);
- a sample stamped after ``now`` waits for the next tick;
- at most ``max_buffer`` samples wait (a core that stopped reading does not
  grow memory); older ones are dropped and counted (``overflow``).

Wheel encoders (``EncoderInput``): the motor board's TELEMETRY
(docs/motor_protocol.md section 7): cumulative i32 counts latched with the
board's u32 millisecond clock.  Handed on as the latest ``WheelTicks`` with
the board's counts unchanged (they may wrap: the core differences them
modulo 2^32) and the latch time on the runtime's clock:
``t = board time since the anchor + the runtime time of the anchor``.  The
anchor is the first frame after a (re)start, so increments keep the board's
exact durations (serial jitter does not reach the speed).  A restart sets
``WheelTicks.restart``: the core's odometry takes no motion across it.
Restarts happen on

- the first frame, and after the port reconnected;
- a board clock that went backwards (a difference of 2^31 or more) or a
  newly raised ``WATCHDOG_RESET`` fault: the board rebooted, its counts
  began again at 0;
- a wheel that would have moved faster than 1.5 x ``max_wheel_speed`` (plus
  two ticks) since the previous frame: an unseen reboot or a corrupted count;
- the board's time running ahead of the runtime's (a frame cannot be
  latched after it arrived) by more than ``MAX_AHEAD_S``: the anchor frame
  itself arrived late (a stall at start-up), so it is taken again; or
  behind it by more than ``MAX_BEHIND_S``: a board crystal far off its
  tolerance.  A reader that stalls for a while is no reason: the board's
  latch times stay right, the frames only arrive late.

A frame with the same board time as the previous one is a duplicate:
dropped and counted.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgepilot.firmware_bridge.motor.protocol import Fault, Telemetry
from edgepilot.vehicle.estimation.measurements import ImuSample, WheelTicks, tick_delta


@dataclass
class NavInputStats:
    imu_in: int = 0            # samples offered by the driver
    imu_out: int = 0           # samples handed to the core
    nonfinite: int = 0         # IMU samples with NaN/inf, dropped
    stale: int = 0             # IMU samples not newer than the last handed on, dropped
    overflow: int = 0          # IMU samples dropped because nobody read them
    telemetry: int = 0         # TELEMETRY frames offered
    duplicates: int = 0        # same board time as the previous frame, dropped
    restarts: int = 0          # encoder differencing restarted (first frame, reboot, reconnect, jump, skew)
    reboots: int = 0           # board clock back or WATCHDOG_RESET raised
    implausible: int = 0       # wheel jumps no wheel could make
    skew_resets: int = 0       # board clock re-anchored (ahead of the runtime's, or far behind)


class ImuInput:
    """IMU samples in (``add``), the core's (n, 7) block out (``take``)."""

    def __init__(self, stats: NavInputStats | None = None, max_buffer: int = 4000):
        self.stats = stats or NavInputStats()
        self.max_buffer = int(max_buffer)
        self._rows: list[tuple[float, ...]] = []
        self._last_t = -math.inf       # newest sample accepted into the buffer

    def add(self, samples) -> None:
        st = self.stats
        for s in samples:
            st.imu_in += 1
            row = (s.t, s.gyro_x, s.gyro_y, s.gyro_z, s.accel_x, s.accel_y, s.accel_z)
            if not all(math.isfinite(v) for v in row):
                st.nonfinite += 1
                continue
            if s.t <= self._last_t:
                st.stale += 1
                continue
            self._last_t = s.t
            self._rows.append(row)
        extra = len(self._rows) - self.max_buffer
        if extra > 0:
            st.overflow += extra
            del self._rows[:extra]

    def take(self, now: float) -> np.ndarray:
        """The samples stamped at or before ``now``, float64 (n, 7), oldest
        first (n may be 0); later ones stay for the next call."""
        rows = self._rows
        k = len(rows)
        while k and rows[k - 1][0] > now:
            k -= 1
        out = np.array(rows[:k], dtype=np.float64).reshape(k, 7)
        del rows[:k]
        self.stats.imu_out += k
        return out


class EncoderInput:
    """Motor-board TELEMETRY in (``add``), the latest ``WheelTicks`` out
    (``take``).  ``m_per_tick`` [m] and ``max_wheel_speed`` [m/s] bound the
    plausible motion between frames."""

    #: Board time ahead of the arrival time by more than this [s]: re-anchor
    #: (a restart).  Generous: the anchor frame's own read latency puts every
    #: later frame ahead by that much, and a loaded host reads late by tens
    #: of milliseconds at times; each restart costs the core one increment.
    MAX_AHEAD_S = 1.0
    #: Board time behind the arrival time by more than this [s]: re-anchor (a restart).
    MAX_BEHIND_S = 5.0

    def __init__(self, m_per_tick: float, max_wheel_speed: float, stats: NavInputStats | None = None):
        if not (m_per_tick > 0 and math.isfinite(m_per_tick)):
            raise ValueError(f"m_per_tick must be a finite number > 0 [m], got {m_per_tick!r}")
        if not (max_wheel_speed > 0 and math.isfinite(max_wheel_speed)):
            raise ValueError(f"max_wheel_speed must be a finite number > 0 [m/s], got {max_wheel_speed!r}")
        self.m_per_tick = float(m_per_tick)
        self.max_speed = float(max_wheel_speed)
        self.stats = stats or NavInputStats()
        self._prev: Telemetry | None = None
        self._watchdog = False
        self._anchor_ms = 0            # board time of the anchor frame
        self._anchor_t = 0.0           # runtime time of the anchor frame [s]
        self._unwrapped_ms = 0         # board ms since the anchor
        self._pending: WheelTicks | None = None
        self._restart_pending = False
        self._last_t = -math.inf       # time of the newest WheelTicks made

    def reset(self) -> None:
        """Forget the previous frame (the port reconnected): the next frame restarts."""
        self._prev = None

    def _restart(self, tel: Telemetry, now: float) -> WheelTicks:
        self.stats.restarts += 1
        self._prev = tel
        self._anchor_ms = tel.device_time_ms & 0xFFFFFFFF
        self._anchor_t = float(now)
        self._unwrapped_ms = 0
        # newer than anything handed on before (the runtime clock is monotonic,
        # but a board clock running fast may have put the last one ahead of it)
        self._anchor_t = max(self._anchor_t, self._last_t + 1e-6)
        self._last_t = self._anchor_t
        self._restart_pending = True
        return WheelTicks(self._anchor_t, tel.enc_left, tel.enc_right, restart=True)

    def add(self, tel: Telemetry, now: float) -> None:
        """One TELEMETRY frame, received at runtime time ``now`` [s]."""
        st = self.stats
        st.telemetry += 1
        wd = bool(tel.faults & Fault.WATCHDOG_RESET)
        raised, self._watchdog = wd and not self._watchdog, wd
        prev = self._prev
        if prev is None:
            self._pending = self._restart(tel, now)
            return
        d_ms = ((tel.device_time_ms & 0xFFFFFFFF) - (prev.device_time_ms & 0xFFFFFFFF)) & 0xFFFFFFFF
        if d_ms == 0:
            st.duplicates += 1
            return
        if d_ms >= 0x80000000 or raised:
            st.reboots += 1
            self._pending = self._restart(tel, now)
            return
        dt = d_ms / 1000.0
        reach = 1.5 * self.max_speed * dt + 2 * self.m_per_tick
        if max(abs(tick_delta(tel.enc_left, prev.enc_left)), abs(tick_delta(tel.enc_right, prev.enc_right))) \
                * self.m_per_tick > reach:
            st.implausible += 1
            self._pending = self._restart(tel, now)
            return
        unwrapped = self._unwrapped_ms + d_ms
        t = self._anchor_t + unwrapped / 1000.0
        if t - now > self.MAX_AHEAD_S or now - t > self.MAX_BEHIND_S:
            st.skew_resets += 1
            self._pending = self._restart(tel, now)
            return
        self._unwrapped_ms = unwrapped
        self._prev = tel
        self._last_t = t
        # a restart not yet handed on stays marked: no motion across it
        self._pending = WheelTicks(t, tel.enc_left, tel.enc_right, restart=self._restart_pending)

    def take(self) -> WheelTicks | None:
        """The newest counts since the last call (None: nothing new)."""
        out, self._pending = self._pending, None
        if out is not None:
            self._restart_pending = False
        return out


class NavInputs:
    """The IMU and encoder inputs of one vehicle, sharing one ``stats``."""

    def __init__(self, m_per_tick: float | None = None, max_wheel_speed: float | None = None):
        self.stats = NavInputStats()
        self.imu = ImuInput(self.stats)
        self.encoders = (EncoderInput(m_per_tick, max_wheel_speed, self.stats)
                         if m_per_tick is not None else None)

    def frame_fields(self, now: float, imu: bool) -> dict:
        """``SensorFrame`` keyword fields for the tick at ``now``: ``imu``
        (an (n, 7) array, possibly empty, when the vehicle has an IMU) and
        ``wheel_ticks`` (None when nothing new)."""
        out = {}
        if imu:
            out["imu"] = self.imu.take(now)
        if self.encoders is not None:
            out["wheel_ticks"] = self.encoders.take()
        return out
