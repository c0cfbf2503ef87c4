"""Tunable vehicle parameters: a flat name -> float table.

Names follow ArduPilot Rover's where one exists, so operators find familiar
knobs in any ground station.  Defaults come from the vehicle config.  The
table is pure (no files): ``edgepilot.onboard.param_file`` persists it to an
ArduPilot-style ``.parm`` file with an integrity check.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from edgepilot.vehicle.config import VehicleConfig
from edgepilot.vehicle.types import CommandResult


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: float
    lo: float
    hi: float
    doc: str


def param_specs(cfg: VehicleConfig) -> list[ParamSpec]:
    c = cfg.control
    return [
        ParamSpec("WP_SPEED", c.cruise_speed, 0.05, cfg.limits.max_speed, "mission cruise speed [m/s]"),
        ParamSpec("WP_RADIUS", c.acceptance_radius, 0.1, 100.0, "waypoint acceptance radius [m]"),
        ParamSpec("RTL_SPEED", 0.0, 0.0, cfg.limits.max_speed, "return speed [m/s], 0 = WP_SPEED"),
        ParamSpec("WP_LOOKAHEAD", c.lookahead, 0.1, 50.0, "path-following lookahead [m]"),
        ParamSpec("HDG_KP", c.heading_kp, 0.0, 100.0, "heading controller P gain"),
        ParamSpec("HDG_KD", c.heading_kd, 0.0, 100.0, "heading controller D gain"),
        ParamSpec("SPD_KP", c.speed_kp, 0.0, 100.0, "speed controller P gain"),
        ParamSpec("SPD_KI", c.speed_ki, 0.0, 100.0, "speed controller I gain"),
        ParamSpec("LOS_KI", c.cross_track_ki, 0.0, 10.0, "LOS cross-track integral gain"),
        ParamSpec("WP_BLOCKED_WAIT", 30.0, 0.0, 600.0,
                  "GUIDED/AUTO goal blocked only by something sensed (a person in view, a lidar-mapped obstacle): "
                  "stop and replan each second this long before failing it (HOLD) [s]; 0 = fail at once"),
        ParamSpec("FS_GCS_TIMEOUT", cfg.failsafe.gcs_timeout_s, 0.5, 600.0, "ground-station link-loss timeout [s]"),
        ParamSpec("FS_GCS_ENABLE", {"NONE": 0.0, "HOLD": 1.0, "RTL": 2.0}[cfg.failsafe.gcs_action], 0.0, 3.0,
                  "link-loss action: 0 report, 1 HOLD, 2 RTL, 3 STOP"),
        ParamSpec("BATT_LOW_PCT", 100.0 * cfg.failsafe.battery_low_fraction, 0.0, 100.0, "battery low [%]"),
        ParamSpec("BATT_CRT_PCT", 100.0 * cfg.failsafe.battery_critical_fraction, 0.0, 100.0, "battery critical [%]"),
        ParamSpec("SYSID_THISMAV", float(cfg.mavlink.sysid), 1.0, 255.0, "MAVLink system id"),
    ] + safety_specs(cfg)


def safety_specs(cfg: VehicleConfig) -> list[ParamSpec]:
    """Failsafe, fence and arming parameters (owned by vehicle.safety)."""
    from edgepilot.vehicle.safety.params import safety_param_specs

    return [ParamSpec(*spec) for spec in safety_param_specs(cfg)]


class ParamStore:
    """Parameters with bounds, in memory.  Persistence lives outside the
    pure core (``edgepilot.onboard.param_file``): it registers in
    ``on_change``, called after every accepted :meth:`set` (before the caller
    answers, so a PARAM_VALUE reports a value already on disk)."""

    def __init__(self, cfg: VehicleConfig):
        self._specs = {s.name: s for s in param_specs(cfg)}
        self._names = sorted(self._specs)
        #: name -> value, the live table: ``table[name]`` is ``get(name)``
        #: without the method call, for readers on the control tick (a call
        #: costs ~50 ns more than the look-up).  Only :meth:`set` and
        #: :meth:`load` write it (validated), in place: it stays the same dict
        #: for the store's life, so a reader may hold it.  Read-only to others.
        self.table: dict[str, float] = {n: float(s.default) for n, s in self._specs.items()}
        self.on_change: list[Callable[["ParamStore"], None]] = []

    def names(self) -> list[str]:
        return list(self._names)

    def index(self, name: str) -> int:
        return self._names.index(name)

    def spec(self, name: str) -> ParamSpec:
        return self._specs[name]

    def __contains__(self, name: str) -> bool:
        return name in self._specs

    def get(self, name: str) -> float:
        return self.table[name]

    def items(self) -> list[tuple[str, float]]:
        return [(n, self.table[n]) for n in self._names]

    def check(self, name: str, value: float) -> str | None:
        """Why ``value`` cannot be ``name``'s value (None when it can)."""
        spec = self._specs.get(name)
        if spec is None:
            return f"unknown parameter {name!r}"
        if not math.isfinite(value) or not (spec.lo <= value <= spec.hi):
            return f"{name} must be in [{spec.lo:g}, {spec.hi:g}], got {value:g}"
        return None

    def set(self, name: str, value: float) -> CommandResult:
        try:
            value = float(value)
        except (TypeError, ValueError):
            return CommandResult(False, f"{name}: expected a number, got {value!r}", 2)
        reason = self.check(name, value)
        if reason is not None:
            return CommandResult(False, reason, 2)
        self.table[name] = value
        for cb in self.on_change:
            cb(self)
        return CommandResult(True)

    def load(self, values: dict[str, float]) -> None:
        """Replace values (restored state), all checked before any is taken;
        raises ValueError naming the first bad one.  ``on_change`` is not called."""
        for name, value in values.items():
            reason = self.check(name, value)
            if reason is not None:
                raise ValueError(reason)
        self.table.update({n: float(v) for n, v in values.items()})
