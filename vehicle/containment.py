"""Containment: an exception in the core never ends the vehicle process.

Every caller of the core's tick (the onboard runtime, the real-time SITL,
lockstep) calls :func:`contained_step` instead of ``core.step``.  An
exception raised inside the tick (estimation, a mode, a mission item,
planning, safety) is handed to ``core.contain_fault``: motors to zero, HOLD,
a CRITICAL event (a STATUSTEXT on every link) naming what failed, the
internal error count raised.  The process keeps running and keeps serving
MAVLink, so the operator sees it and can act, as on an ArduPilot vehicle.

:func:`contain` does the same for other code that acts for the vehicle (a
driver, a MAVLink handler): it records the fault and returns the zero
stop setpoint.
"""
from __future__ import annotations

from typing import Callable

from edgepilot.vehicle.types import Mode, SensorFrame, Setpoint

#: What goes to the motors when even the containment failed: stop, latched.
LAST_RESORT = Setpoint.stop(estop=True)


def describe_tick(core) -> str:
    """Where in the tick the vehicle was, in an operator's words (best effort)."""
    try:
        mode = Mode(core.mode)
        where = f"core tick ({mode.name}"
        if mode == Mode.AUTO and core.mission:
            seq = int(core.mission_current)
            items = core.mission
            cmd = items[seq].command if 0 <= seq < len(items) else None
            where += f", mission item {seq}" + (f" cmd {cmd}" if cmd is not None else "")
        return where + ")"
    except Exception:  # noqa: BLE001 - describing must not fail the containment
        return "core tick"


def contain(core, now: float, where: str, exc: BaseException) -> Setpoint:
    """Record ``exc`` raised in ``where`` on ``core``; returns the stop setpoint to send now."""
    try:
        return core.contain_fault(now, where, exc)
    except Exception:  # noqa: BLE001 - the last line of defence
        return LAST_RESORT


def contained_step(core, now: float, frame: SensorFrame,
                   on_fault: Callable[[str, BaseException], None] | None = None) -> Setpoint:
    """``core.step(now, frame)``, with any exception contained (see module
    doc).  ``on_fault(where, exc)`` lets the process log the traceback (the
    core itself writes nothing anywhere); its own failure is ignored."""
    try:
        return core.step(now, frame)
    except Exception as e:  # noqa: BLE001 - containment is the point
        where = describe_tick(core)
        if on_fault is not None:
            try:
                on_fault(where, e)
            except Exception:  # noqa: BLE001 - logging must not undo the containment
                pass
        return contain(core, now, where, e)
