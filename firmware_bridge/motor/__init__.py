"""The serial motor-controller protocol (spec: docs/motor_protocol.md):
COBS-framed, CRC-16 checked, sequence-numbered messages between the onboard
computer (``MotorController``) and a motor-controller board (``MotorDevice``
emulates one for the simulator and tests)."""
from .decoder import DecoderStats, FrameDecoder
from .driver import MotorController
from .emulator import DeviceSense, MotorDevice
from .protocol import (DeviceConfig, DeviceState, Estop, Fault, Heartbeat, Imu, MsgId, ProtocolError, Setpoint,
                       Telemetry, decode_frame, encode_frame)

__all__ = ["DecoderStats", "FrameDecoder", "MotorController", "DeviceSense", "MotorDevice", "DeviceConfig",
           "DeviceState", "Estop", "Fault", "Heartbeat", "Imu", "MsgId", "ProtocolError", "Setpoint", "Telemetry",
           "decode_frame", "encode_frame"]
