"""Host side of the motor-controller protocol: send setpoints, e-stop,
heartbeats and the device configuration; receive telemetry and IMU.

The driver never blocks and never raises on what the wire brings.  It is
polled by the runtime loop; setpoints go out at the control rate, which is
what feeds the device's command watchdog (a HEARTBEAT does not: if the
control loop stalls, the device stops the motors by itself).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from ..serial_port import SerialPort
from .decoder import FrameDecoder
from .protocol import DeviceConfig, Estop, Heartbeat, Imu, Message, Setpoint, Telemetry, encode_frame


@dataclass
class TxStats:
    frames: int = 0
    failed: int = 0        # port closed or OS buffer full


class MotorController:
    """``port`` is a :class:`SerialPort`; ``command_timeout_s`` is sent to the
    device (CONFIG) on every (re)connect, as is ``telemetry_period_s``."""

    HEARTBEAT_PERIOD_S = 0.5

    def __init__(self, port: SerialPort, command_timeout_s: float = 0.3, telemetry_period_s: float = 0.02,
                 wall: Callable[[], float] = time.monotonic):
        if not (0.001 <= command_timeout_s <= 65.535):
            raise ValueError(f"command_timeout_s: expected 0.001 .. 65.535 s, got {command_timeout_s}")
        if not (0.001 <= telemetry_period_s <= 65.535):
            raise ValueError(f"telemetry_period_s: expected 0.001 .. 65.535 s, got {telemetry_period_s}")
        self.port = port
        self.config = DeviceConfig(int(round(command_timeout_s * 1000)), int(round(telemetry_period_s * 1000)))
        self.wall = wall
        self.decoder = FrameDecoder()
        self.tx = TxStats()
        self._seq = 0
        self._configured_conn = -1          # port.reconnects value when CONFIG was last sent
        self._last_hb = -1e9
        self.telemetry: Telemetry | None = None
        self.imu: Imu | None = None
        self.telemetry_wall = -1e9          # wall time TELEMETRY was last received
        self.imu_wall = -1e9
        self.new_telemetry = False          # set on receipt, cleared by the consumer
        self.new_imu = False

    # -- sending -------------------------------------------------------------
    def _send(self, msg: Message) -> bool:
        ok = self.port.write(encode_frame(msg, self._seq))
        self._seq = (self._seq + 1) & 0xFF
        if ok:
            self.tx.frames += 1
        else:
            self.tx.failed += 1
        return ok

    def _ensure_configured(self) -> None:
        if self.port.connected and self._configured_conn != self.port.reconnects:
            self.decoder.reset()
            if self._send(self.config):
                self._configured_conn = self.port.reconnects

    def send_setpoint(self, left: float, right: float) -> bool:
        """Normalised [-1, 1] command; values outside are clipped, NaN refused."""
        self.port.ensure_open()
        self._ensure_configured()
        return self._send(Setpoint(left, right))

    def estop(self, engage: bool = True) -> bool:
        self.port.ensure_open()
        self._ensure_configured()
        return self._send(Estop(engage))

    # -- receiving -----------------------------------------------------------
    def poll(self) -> list[Message]:
        """Read and decode everything that arrived; sends the heartbeat when due."""
        data = self.port.read()
        self._ensure_configured()
        w = self.wall()
        if self.port.connected and w - self._last_hb >= self.HEARTBEAT_PERIOD_S:
            self._last_hb = w
            self._send(Heartbeat(int(w * 1000)))
        if not data:
            return []
        msgs = [m for _, m in self.decoder.feed(data)]
        for m in msgs:
            if isinstance(m, Telemetry):
                self.telemetry, self.telemetry_wall, self.new_telemetry = m, w, True
            elif isinstance(m, Imu):
                self.imu, self.imu_wall, self.new_imu = m, w, True
        return msgs

    def link_ok(self, max_age_s: float = 0.5) -> bool:
        """True when telemetry arrived within ``max_age_s`` of wall time."""
        return self.port.connected and self.wall() - self.telemetry_wall <= max_age_s

    def close(self) -> None:
        self.port.close()
