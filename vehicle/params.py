"""Tunable vehicle parameters: a flat name -> float table.

Names follow ArduPilot Rover's where one exists, so operators find familiar
knobs in any ground station.  Defaults come from the vehicle config; values
set at run time persist to an ArduPilot-style ``.parm`` file (``NAME VALUE``
per line) written atomically, so a crash mid-write leaves the old file.
"""
from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgepilot.vehicle.config import VehicleConfig
from edgepilot.vehicle.types import CommandResult, Outcome


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
    """Parameters with bounds; optional persistence to a ``.parm`` file."""

    def __init__(self, cfg: VehicleConfig, path: str | Path | None = None):
        self._specs = {s.name: s for s in param_specs(cfg)}
        self._names = sorted(self._specs)
        self._values = {n: float(s.default) for n, s in self._specs.items()}
        self.path = Path(path) if path else None
        if self.path and self.path.exists():
            self._load_persisted(self.path)

    def _load_persisted(self, path: Path) -> None:
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.replace(",", " ").split()
            if len(parts) != 2 or parts[0] not in self._specs:
                continue  # a parameter a newer/older build had; keep going
            try:
                value = float(parts[1])
            except ValueError:
                continue
            spec = self._specs[parts[0]]
            if spec.lo <= value <= spec.hi:
                self._values[parts[0]] = value

    def names(self) -> list[str]:
        return list(self._names)

    def index(self, name: str) -> int:
        return self._names.index(name)

    def spec(self, name: str) -> ParamSpec:
        return self._specs[name]

    def __contains__(self, name: str) -> bool:
        return name in self._specs

    def get(self, name: str) -> float:
        return self._values[name]

    def items(self) -> list[tuple[str, float]]:
        return [(n, self._values[n]) for n in self._names]

    def set(self, name: str, value: float) -> CommandResult:
        spec = self._specs.get(name)
        if spec is None:
            return CommandResult(False, f"unknown parameter {name!r}", Outcome.DENIED)
        value = float(value)
        if not math.isfinite(value) or not (spec.lo <= value <= spec.hi):
            return CommandResult(False, f"{name} must be in [{spec.lo:g}, {spec.hi:g}], got {value:g}", Outcome.DENIED)
        self._values[name] = value
        if self.path:
            self.save(self.path)
        return CommandResult(True)

    def save(self, path: str | Path) -> None:
        """Atomically write all parameters as ``NAME VALUE`` lines."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = "".join(f"{n} {v:.9g}\n" for n, v in self.items())
        atomic_write_text(path, text)


def atomic_write_text(path: Path, text: str) -> None:
    """Temp file in the same folder, fsync, rename: readers see the old or
    the new file, never half of one."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dfd = os.open(str(path.parent), os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
