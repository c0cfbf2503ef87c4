"""Command microservice: COMMAND_LONG and COMMAND_INT, always answered with a
COMMAND_ACK addressed to the sender; unknown commands get
MAV_RESULT_UNSUPPORTED.

Other services add their commands with :meth:`CommandService.register`.
The commands of the vehicle itself (arm, modes, mission start, RTL,
reposition, speed, termination) are handled here, as ArduPilot Rover does:
DO_SET_MODE(1, N) with Rover mode numbers, DO_REPOSITION as COMMAND_INT.
The SET_MODE message is answered with a COMMAND_ACK for DO_SET_MODE, as
ArduPilot does, because ground stations wait for one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edgepilot.vehicle.types import Mode, Outcome

from .identity import ROVER_MODE_NAMES, SUPPORTED_MODES
from .service import Service
from .validation import check_command

M = mavlink
#: The magic value in param2 of COMPONENT_ARM_DISARM that forces arm/disarm.
FORCE_MAGIC = 21196.0
#: Frames whose x/y are lat/lon in degrees*1e7 (COMMAND_INT).
GLOBAL_FRAMES = frozenset({M.MAV_FRAME_GLOBAL, M.MAV_FRAME_GLOBAL_RELATIVE_ALT,
                           M.MAV_FRAME_GLOBAL_INT, M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
                           M.MAV_FRAME_GLOBAL_TERRAIN_ALT, M.MAV_FRAME_GLOBAL_TERRAIN_ALT_INT})

#: The core's answer (vehicle.types.Outcome) as MAVLink's MAV_RESULT.
MAV_RESULT_OF = {
    Outcome.ACCEPTED: M.MAV_RESULT_ACCEPTED,
    Outcome.NOT_NOW: M.MAV_RESULT_TEMPORARILY_REJECTED,
    Outcome.DENIED: M.MAV_RESULT_DENIED,
    Outcome.UNSUPPORTED: M.MAV_RESULT_UNSUPPORTED,
    Outcome.FAILED: M.MAV_RESULT_FAILED,
}


@dataclass
class CommandArgs:
    """One command's arguments in a form both COMMAND_LONG and COMMAND_INT fill.
    For COMMAND_INT, ``lat``/``lon`` are degrees decoded from x/y; for
    COMMAND_LONG, params 5/6 are taken as degrees."""

    command: int
    p1: float
    p2: float
    p3: float
    p4: float
    p5: float
    p6: float
    p7: float
    is_int: bool
    frame: int = M.MAV_FRAME_GLOBAL
    x: int = 0
    y: int = 0

    @property
    def lat(self) -> float:
        return self.x * 1e-7 if self.is_int else self.p5

    @property
    def lon(self) -> float:
        return self.y * 1e-7 if self.is_int else self.p6


#: A handler returns the MAV_RESULT (and optionally a reason, sent as STATUSTEXT),
#: or a :class:`Deferred` when the answer comes later.
CommandHandler = Callable[["object", CommandArgs, float], "int | tuple[int, str] | Deferred"]

#: None while undecided, else (done, MAV_RESULT when not done, reason).
Confirmation = Callable[[], "tuple[bool, int, str] | None"]


@dataclass
class Deferred:
    """A command whose outcome something outside the core decides (an
    external autopilot arming): answered MAV_RESULT_IN_PROGRESS at once
    (repeated every ``PROGRESS_S`` so ground stations keep waiting), then
    with the final COMMAND_ACK once ``check`` decides."""

    check: Confirmation
    link: object = None
    msg: object = None
    command: int = 0
    next_progress: float = 0.0


class CommandService(Service):
    name = "command"

    def __init__(self, endpoint):
        super().__init__(endpoint)
        self.handlers: dict[int, CommandHandler] = {}
        self.unsupported = 0
        #: Set by the process that owns the actuators when an arm the core
        #: accepted must also be confirmed outside it (companion wiring: the
        #: autopilot must arm too): called once per such arm, it returns the
        #: check that decides the operator's COMMAND_ACK.
        self.arm_confirmation: Callable[[], Confirmation] | None = None
        self.pending: list[Deferred] = []
        endpoint.on("COMMAND_LONG", self._on_long)
        endpoint.on("COMMAND_INT", self._on_int)
        endpoint.on("SET_MODE", self._on_set_mode_msg)
        endpoint.on("SET_POSITION_TARGET_GLOBAL_INT", self._on_position_target)
        self.register(M.MAV_CMD_COMPONENT_ARM_DISARM, self._arm_disarm)
        self.register(M.MAV_CMD_DO_SET_MODE, self._do_set_mode)
        self.register(M.MAV_CMD_MISSION_START, self._mission_start)
        self.register(M.MAV_CMD_NAV_RETURN_TO_LAUNCH, self._rtl)
        self.register(M.MAV_CMD_DO_REPOSITION, self._reposition)
        self.register(M.MAV_CMD_DO_CHANGE_SPEED, self._change_speed)
        self.register(M.MAV_CMD_DO_FLIGHTTERMINATION, self._terminate)

    def register(self, command: int, handler: CommandHandler) -> None:
        self.handlers[int(command)] = handler

    # ------------------------------------------------------------ dispatch
    def _on_long(self, link, m, now):
        args = CommandArgs(m.command, m.param1, m.param2, m.param3, m.param4,
                           m.param5, m.param6, m.param7, is_int=False)
        self._run(link, m, args, now)

    def _on_int(self, link, m, now):
        args = CommandArgs(m.command, m.param1, m.param2, m.param3, m.param4,
                           float(m.x), float(m.y), m.z, is_int=True, frame=m.frame, x=m.x, y=m.y)
        self._run(link, m, args, now)

    def _run(self, link, m, args: CommandArgs, now) -> None:
        """Unknown: UNSUPPORTED; a parameter failing its rule
        (validation.COMMAND_RULES): DENIED with the reason, before the
        handler runs.  A handler that raises is answered by the endpoint
        (COMMAND_ACK FAILED) and contained there."""
        h = self.handlers.get(int(args.command))
        reason = ""
        if h is None:
            result = M.MAV_RESULT_UNSUPPORTED
            self.unsupported += 1
        else:
            bad = check_command(args)
            if bad is not None:
                self.ep.counters["rx_invalid"] += 1
                out = (M.MAV_RESULT_DENIED, bad)
            else:
                out = h(link, args, now)
            if isinstance(out, Deferred):
                decided = out.check()
                if decided is None:
                    out.link, out.msg, out.command = link, m, int(args.command)
                    out.next_progress = self.ep.wall + self.PROGRESS_S
                    self.pending.append(out)
                    self.ack(link, m, args.command, M.MAV_RESULT_IN_PROGRESS)
                    return
                out = self._final(decided)
            result, reason = out if isinstance(out, tuple) else (out, "")
        self.ack(link, m, args.command, result)
        if reason and result != M.MAV_RESULT_ACCEPTED:
            self.ep.statustext(reason, M.MAV_SEVERITY_WARNING, link=link)

    #: How often a deferred command repeats MAV_RESULT_IN_PROGRESS [wall s].
    PROGRESS_S = 2.0

    @staticmethod
    def _final(decided: tuple[bool, int, str]):
        done, result, reason = decided
        if done:
            return M.MAV_RESULT_ACCEPTED
        return (int(result) if result not in (M.MAV_RESULT_ACCEPTED, M.MAV_RESULT_IN_PROGRESS)
                else M.MAV_RESULT_FAILED), reason

    def update(self, now: float, wall: float) -> None:
        """Answer deferred commands once decided."""
        for d in list(self.pending):
            if d.link.closed:
                self.pending.remove(d)
                continue
            decided = d.check()
            if decided is None:
                if wall >= d.next_progress:
                    d.next_progress = wall + self.PROGRESS_S
                    self.ack(d.link, d.msg, d.command, M.MAV_RESULT_IN_PROGRESS)
                continue
            self.pending.remove(d)
            out = self._final(decided)
            result, reason = out if isinstance(out, tuple) else (out, "")
            self.ack(d.link, d.msg, d.command, result)
            if reason and result != M.MAV_RESULT_ACCEPTED:
                self.ep.statustext(reason, M.MAV_SEVERITY_WARNING, link=d.link)

    def ack(self, link, m, command: int, result: int) -> None:
        link.send(M.MAVLink_command_ack_message(
            command=int(command), result=int(result), progress=0, result_param2=0,
            target_system=m.get_srcSystem(), target_component=m.get_srcComponent()))

    @staticmethod
    def _from_core(res) -> int:
        """vehicle.types.CommandResult -> MAV_RESULT.  The core already
        reports its refusals as events (sent as STATUSTEXT by telemetry)."""
        if res.ok:
            return M.MAV_RESULT_ACCEPTED
        try:
            return MAV_RESULT_OF[Outcome(res.result)] if res.result else M.MAV_RESULT_DENIED
        except (ValueError, KeyError):
            return M.MAV_RESULT_DENIED

    # ------------------------------------------------------------ commands
    def _arm_disarm(self, link, a: CommandArgs, now):
        force = abs(a.p2 - FORCE_MAGIC) < 0.5
        if a.p1 >= 0.5:
            res = self.core.arm(now, force=force)
            if res.ok and self.arm_confirmation is not None:
                return Deferred(self.arm_confirmation())   # the autopilot has to arm too
            return self._from_core(res)
        return self._from_core(self.core.disarm(now, force=force))

    def set_mode_number(self, custom_mode: int, now):
        mode = SUPPORTED_MODES.get(int(custom_mode))
        if mode is None:
            name = ROVER_MODE_NAMES.get(int(custom_mode), str(int(custom_mode)))
            return M.MAV_RESULT_DENIED, f"Mode {name} not supported by edgepilot"
        return self._from_core(self.core.set_mode(now, mode))

    def _do_set_mode(self, link, a: CommandArgs, now):
        if not int(a.p1) & M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED:
            return M.MAV_RESULT_DENIED, "DO_SET_MODE needs base mode CUSTOM_MODE_ENABLED (1)"
        return self.set_mode_number(int(a.p2), now)

    def _on_set_mode_msg(self, link, m, now):
        if m.target_system not in (0, self.ep.sysid):
            return
        if not m.base_mode & M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED:
            out = (M.MAV_RESULT_DENIED, "SET_MODE needs base mode CUSTOM_MODE_ENABLED (1)")
        else:
            out = self.set_mode_number(m.custom_mode, now)
        result, reason = out if isinstance(out, tuple) else (out, "")
        self.ack(link, m, M.MAV_CMD_DO_SET_MODE, result)
        if reason:
            self.ep.statustext(reason, M.MAV_SEVERITY_WARNING, link=link)

    def _mission_start(self, link, a: CommandArgs, now):
        first = int(a.p1) if math.isfinite(a.p1) else 0   # NaN: unset, from the start
        return self._from_core(self.core.start_mission(now, first if first > 0 else None))

    def _rtl(self, link, a, now):
        return self._from_core(self.core.set_mode(now, Mode.RTL))

    def _reposition(self, link, a: CommandArgs, now):
        if a.is_int and a.frame not in GLOBAL_FRAMES:
            return M.MAV_RESULT_DENIED, f"DO_REPOSITION: frame {a.frame} is not a global frame"
        lat, lon = a.lat, a.lon
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0) or (lat == 0.0 and lon == 0.0):
            return M.MAV_RESULT_DENIED, f"DO_REPOSITION: invalid position lat={lat} lon={lon}"
        speed = a.p1 if a.p1 > 0 and math.isfinite(a.p1) else None
        return self._from_core(self.core.goto(now, lat, lon, speed=speed))

    def _change_speed(self, link, a: CommandArgs, now):
        speed = a.p2
        if not math.isfinite(speed) or speed <= 0:
            # -1 / 0 mean "no change" in the MAVLink definition.
            return M.MAV_RESULT_ACCEPTED
        res = self.core.set_speed(speed)
        return M.MAV_RESULT_ACCEPTED if res.ok else (self._from_core(res), res.reason)

    def _terminate(self, link, a: CommandArgs, now):
        """DO_FLIGHTTERMINATION: param1 = 1 latches the e-stop (motors
        stopped, disarmed); param1 = 0 clears the latch, refused (with the
        reason) while the hardware e-stop input is still pressed.  Clearing
        does not arm: the operator arms again."""
        if not math.isfinite(a.p1):
            return M.MAV_RESULT_DENIED, f"DO_FLIGHTTERMINATION: param1 must be 0 or 1, got {a.p1}"
        if a.p1 > 0.5:
            return self._from_core(self.core.estop(now))
        res = self.core.clear_estop(now)
        return self._from_core(res) if res.ok else (self._from_core(res), res.reason)

    # ------------------------------------------------------------ guided setpoints
    def _on_position_target(self, link, m, now):
        """ArduPilot Rover GUIDED rules: honoured only in GUIDED, position
        must be given, accelerations must be marked ignored."""
        mask = m.type_mask
        pos_ignored = mask & (M.POSITION_TARGET_TYPEMASK_X_IGNORE | M.POSITION_TARGET_TYPEMASK_Y_IGNORE)
        acc_bits = (M.POSITION_TARGET_TYPEMASK_AX_IGNORE | M.POSITION_TARGET_TYPEMASK_AY_IGNORE
                    | M.POSITION_TARGET_TYPEMASK_AZ_IGNORE)
        if Mode(self.core.mode) != Mode.GUIDED:
            self.ep.counters["setpoint_ignored_mode"] += 1
            return
        if (mask & acc_bits) != acc_bits or pos_ignored:
            self.ep.counters["setpoint_ignored_mask"] += 1
            return
        if m.coordinate_frame not in GLOBAL_FRAMES:
            self.ep.counters["setpoint_ignored_frame"] += 1
            return
        lat, lon = m.lat_int * 1e-7, m.lon_int * 1e-7
        res = self.core.goto(now, lat, lon)
        if not res.ok:
            self.ep.statustext(f"Guided target refused: {res.reason}", M.MAV_SEVERITY_WARNING, link=link)
