"""Pure-pursuit path following for a differential-drive UGV."""
from __future__ import annotations

import math

from edgepilot.vehicle.config import VehicleConfig
from edgepilot.vehicle.control.path import PolylinePath
from edgepilot.vehicle.geo import wrap_pi
from edgepilot.vehicle.types import ActuatorCommand, VehicleState

TURN_IN_PLACE = math.radians(60.0)


class PurePursuit:
    """Steers toward the point ``lookahead`` metres ahead along the path;
    turns in place when that point is far off the nose, which a skid- or
    differential-steer chassis can do and avoids swinging wide near walls."""

    def __init__(self, cfg: VehicleConfig):
        if cfg.drive is None:
            raise ValueError("pure pursuit needs a differential-drive [drive] config")
        self._cfg = cfg
        # The limits and chassis constants command() and wheels() read every
        # tick, taken once: the config is frozen (and ``cfg`` read-only), and a
        # pydantic model's attribute read costs ~4x a plain object's.
        lim, d = cfg.limits, cfg.drive
        self._limits = (lim.max_speed, lim.max_accel, lim.max_yaw_rate)
        self._drive = (d.track_width, d.wheel_max_speed)
        self.s = 0.0

    @property
    def cfg(self) -> VehicleConfig:
        """The vehicle config (fixed at construction: the follower uses its constants)."""
        return self._cfg

    def reset(self) -> None:
        self.s = 0.0

    def command(self, state: VehicleState, path: PolylinePath, speed: float, lookahead: float,
                stop_at_end: bool) -> tuple[ActuatorCommand, float]:
        """Returns the wheel command and the cross-track error [m]."""
        # This runs every control tick: the min()/max() calls are spelt out as
        # comparisons ("b if b < a else a" is min(a, b) exactly, NaN included).
        x, y = state.x, state.y
        window = 3.0 * lookahead
        if 5.0 > window:
            window = 5.0
        # progress along the path (never back), the cross-track error and the lookahead point
        self.s, cte, tx, ty = path.follow(x, y, self.s, window, lookahead)
        alpha = wrap_pi(math.atan2(ty - y, tx - x) - state.yaw)
        max_speed, max_accel, max_w = self._limits
        v = max_speed if max_speed < speed else speed
        if stop_at_end:     # the distance to the path's end matters only then
            room = math.hypot(path.end_x - x, path.end_y - y) - 0.1
            v_stop = math.sqrt(2.0 * 0.5 * max_accel * (0.0 if 0.0 > room else room)) + 0.1
            if v_stop < v:
                v = v_stop
        if abs(alpha) > TURN_IN_PLACE:
            v = 0.0
            w = math.copysign(min(max_w, 2.0 * abs(alpha)), alpha)
        else:
            ld = math.hypot(tx - x, ty - y)
            if 1e-3 > ld:
                ld = 1e-3
            kappa = 2.0 * math.sin(alpha) / ld
            # Slow down in tight turns so the yaw-rate limit holds.
            if abs(kappa) > 1e-6:
                v_turn = max_w / abs(kappa)
                if v_turn < v:
                    v = v_turn
            w = v * kappa                          # clamped to [-max_w, max_w]
            w = w if w < max_w else max_w
            w = w if w > -max_w else -max_w
        return self.wheels(v, w), cte

    def wheels(self, v: float, w: float) -> ActuatorCommand:
        track, wmax = self._drive
        half = 0.5 * track
        vl, vr = v - w * half, v + w * half
        al, ar = abs(vl), abs(vr)
        m = ar if ar > al else al                  # max(|vl|, |vr|)
        if m > wmax:  # keep curvature, scale speed
            vl, vr = vl * wmax / m, vr * wmax / m
        return ActuatorCommand(vl / wmax, vr / wmax)
