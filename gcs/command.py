"""Command microservice client: COMMAND_LONG / COMMAND_INT with retries,
COMMAND_ACK decoding, and the refusal reason the vehicle sends as
STATUSTEXT.  Plus the operator commands built on it (arm, disarm, mode,
rtl, goto, speed, mission start)."""
from __future__ import annotations

import math
import time

from edgepilot.gcs.mav import mavutil

from edgepilot.gcs.connection import Vehicle
from edgepilot.gcs.errors import BadInputError, NoAnswerError, RefusedError
from edgepilot.gcs.modes import set_mode_params

M = mavutil.mavlink
ACK_TIMEOUT_S = 1.5
RETRIES = 3
#: How long to keep listening for the vehicle's STATUSTEXT reason after a refusal [s].
REASON_WAIT_S = 0.6
FORCE_MAGIC = 21196.0


def result_name(result: int) -> str:
    e = M.enums["MAV_RESULT"].get(int(result))
    return e.name if e is not None else f"MAV_RESULT {result}"


def cmd_name(cmd: int) -> str:
    e = M.enums["MAV_CMD"].get(int(cmd))
    return e.name if e is not None else f"MAV_CMD {cmd}"


class CommandClient:
    def __init__(self, vehicle: Vehicle, ack_timeout: float = ACK_TIMEOUT_S, retries: int = RETRIES):
        self.v = vehicle
        self.ack_timeout = ack_timeout
        self.retries = retries

    def _reasons(self, before: int) -> list[str]:
        """STATUSTEXTs (warning or worse, or any when none is) since ``before``.

        Waits for a warning-or-worse text, not for any text: a vehicle sends
        the refusal's reason after its COMMAND_ACK, and an INFO text (e.g. the
        version banner a vehicle sends a new link) may come in between."""
        deadline = time.monotonic() + REASON_WAIT_S
        view = self.v.view

        def serious_texts():
            return [t for t in view.texts_since(before) if t.severity <= M.MAV_SEVERITY_WARNING]

        while time.monotonic() < deadline and not serious_texts():
            self.v.link.poll(0.05)
        texts = view.texts_since(before)
        serious = serious_texts() or texts
        seen, out = set(), []
        for t in serious:
            if t.text not in seen:
                seen.add(t.text)
                out.append(t.text)
        return out

    def send(self, command: int, params: tuple = (), *, use_int: bool = False,
             frame: int = M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, x: int = 0, y: int = 0, z: float = 0.0,
             what: str | None = None) -> int:
        """Send a command until it is ACKed; returns MAV_RESULT_ACCEPTED or
        raises RefusedError (with the vehicle's reason) / NoAnswerError."""
        p = list(params) + [0.0] * (7 - len(params))
        v = self.v
        what = what or cmd_name(command)
        before = v.view.statustext_count
        deadline_extra = 0.0
        for attempt in range(self.retries):
            if use_int:
                v.mav.command_int_send(v.sysid, v.compid, frame, command, 0, 0, *p[:4], x, y, z)
            else:
                v.mav.command_long_send(v.sysid, v.compid, command, attempt, *p)
            end = time.monotonic() + self.ack_timeout + deadline_extra
            while True:
                ack = v.wait("COMMAND_ACK", lambda m: m.command == command,
                             timeout=max(0.0, end - time.monotonic()))
                if ack is None:
                    break
                if ack.result == M.MAV_RESULT_IN_PROGRESS:
                    end = time.monotonic() + 5.0    # long-running: keep waiting for the final ACK
                    continue
                if ack.result == M.MAV_RESULT_ACCEPTED:
                    return ack.result
                raise RefusedError(what, result_name(ack.result), self._reasons(before))
        raise NoAnswerError(f"{what}: no COMMAND_ACK from sysid {v.sysid} after {self.retries} tries "
                            f"({self.ack_timeout:g} s each); the link may be lossy or the vehicle busy")

    # ------------------------------------------------------------------ operator commands
    def arm(self, force: bool = False) -> None:
        self.send(M.MAV_CMD_COMPONENT_ARM_DISARM, (1.0, FORCE_MAGIC if force else 0.0), what="arm")

    def disarm(self, force: bool = False) -> None:
        self.send(M.MAV_CMD_COMPONENT_ARM_DISARM, (0.0, FORCE_MAGIC if force else 0.0), what="disarm")

    def set_mode(self, name: str) -> None:
        try:
            params = set_mode_params(self.v.autopilot, self.v.mav_type, name)
        except ValueError as e:
            raise BadInputError(str(e)) from None
        self.send(M.MAV_CMD_DO_SET_MODE, params, what=f"mode {name.upper()}")

    def rtl(self) -> None:
        self.send(M.MAV_CMD_NAV_RETURN_TO_LAUNCH, what="rtl")

    def goto(self, lat: float, lon: float, speed: float | None = None, alt: float = 0.0) -> None:
        """DO_REPOSITION as COMMAND_INT (global frame, degE7), switching to
        GUIDED as ArduPilot and PX4 do for it."""
        if not (math.isfinite(lat) and -90 <= lat <= 90):
            raise BadInputError(f"goto: latitude {lat} out of range (expected -90..90 degrees)")
        if not (math.isfinite(lon) and -180 <= lon <= 180):
            raise BadInputError(f"goto: longitude {lon} out of range (expected -180..180 degrees)")
        if speed is not None and not (math.isfinite(speed) and speed > 0):
            raise BadInputError(f"goto --speed: expected a positive speed in m/s, got {speed}")
        self.send(M.MAV_CMD_DO_REPOSITION,
                  (speed if speed is not None else -1.0, float(M.MAV_DO_REPOSITION_FLAGS_CHANGE_MODE), 0.0,
                   math.nan),
                  use_int=True, frame=M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
                  x=int(round(lat * 1e7)), y=int(round(lon * 1e7)), z=alt, what=f"goto {lat:.7f} {lon:.7f}")

    def speed(self, speed: float) -> None:
        if not (math.isfinite(speed) and speed > 0):
            raise BadInputError(f"speed: expected a positive speed in m/s, got {speed}")
        # param1 1 = ground speed; param3 -1 = throttle unchanged.
        self.send(M.MAV_CMD_DO_CHANGE_SPEED, (1.0, speed, -1.0), what=f"speed {speed:g}")

    def mission_start(self, first: int = 0, last: int = 0) -> None:
        self.send(M.MAV_CMD_MISSION_START, (float(first), float(last)), what="mission start")
