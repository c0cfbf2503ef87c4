"""GNSS integrity: spoofing and jamming seen from the rest of the navigation.

Spoofing (a receiver fooled into a smooth drag with good reported
accuracy) cannot be seen in the fix itself, only against an independent
solution: the EKF's prediction from the IMU, odometry and lidar.  Two tests
on the GNSS position and velocity innovations the EKF computes
(``NavEkf.fuse_gnss`` returns them, gated or not):
- per fix: position or velocity rejected by its gate (test ratio > 1);
- over a window: the sum of the normalised innovations squared of the
  last ``window`` fixes against the chi-square bound of their degrees of
  freedom (2 per position, 2 per velocity) -- a slow drag that each fix
  passes alone still biases every innovation the same way and fails this
  test first; the drag's velocity shows against odometry at once.
Either raises an ``inconsistent`` event with operator text ("GNSS
inconsistent with odometry by 14 m: rejected"); ``consistent`` follows
when both tests pass again for ``clear_s``.

Jamming shows in the receiver itself: the fix lost (fix type below 3 or no
fix for ``fix_timeout_s``), satellites collapsing (a fall of
``sats_drop`` within ``collapse_window_s``, or below ``min_sats``) or the
reported accuracy growing past ``max_hacc``.

Wire it as: ``fv, fp = ekf.fuse_gnss(...)``; ``monitor.update(..., fp)``;
``ekf.gnss_inhibit = monitor.inconsistent`` -- while inconsistent the EKF
tests GNSS without fusing it, so the innovations stay independent.
The monitor only reports; what to do (keep navigating on the other
sources, or a failsafe when they are not good enough for the mission's
tolerance) is for the safety table.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from functools import lru_cache

from edgepilot.vehicle.estimation.ekf import Fusion

SEVERITY_WARNING = 4   # MAV_SEVERITY_WARNING
SEVERITY_NOTICE = 5    # MAV_SEVERITY_NOTICE
SEVERITY_CRITICAL = 2  # MAV_SEVERITY_CRITICAL


@lru_cache(maxsize=64)
def chi2_upper(dof: int, p: float = 0.999) -> float:
    """Chi-square quantile for many degrees of freedom (Wilson-Hilferty;
    within 0.5 % of the exact value from 3 dof up)."""
    if dof < 1:
        raise ValueError(f"dof must be >= 1, got {dof}")
    # the normal quantile by bisection on erf (p in (0.5, 1))
    lo, hi = 0.0, 10.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if 0.5 * (1 + math.erf(mid / math.sqrt(2))) < p:
            lo = mid
        else:
            hi = mid
    z = 0.5 * (lo + hi)
    a = 2.0 / (9.0 * dof)
    return dof * (1 - a + z * math.sqrt(a)) ** 3


@dataclass(frozen=True)
class MonitorParams:
    window: int = 10                 # fixes in the windowed consistency test
    window_probability: float = 0.999
    clear_s: float = 5.0             # both tests pass this long -> consistent again
    fix_timeout_s: float = 1.5       # no usable fix this long -> fix lost
    min_sats: int = 6
    sats_drop: int = 4               # satellites lost within collapse_window_s -> jamming
    collapse_window_s: float = 5.0
    max_hacc: float = 5.0            # [m]

    def __post_init__(self):
        if self.window < 2:
            raise ValueError(f"MonitorParams.window must be >= 2, got {self.window}")
        if not 0.5 < self.window_probability < 1:
            raise ValueError(f"MonitorParams.window_probability must be in (0.5, 1), got {self.window_probability}")
        for name in ("clear_s", "fix_timeout_s", "collapse_window_s", "max_hacc"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"MonitorParams.{name} must be > 0, got {v!r}")


@dataclass(frozen=True)
class GnssEvent:
    t: float
    kind: str          # 'inconsistent', 'consistent', 'fix_lost', 'fix_restored', 'jamming', 'jamming_cleared'
    severity: int      # MAV_SEVERITY
    text: str          # for STATUSTEXT (<= 50 characters)


class GnssMonitor:
    def __init__(self, params: MonitorParams | None = None):
        self.params = params or MonitorParams()
        self._nis: deque[tuple[float, int]] = deque(maxlen=self.params.window)
        self._sats: deque[tuple[float, int]] = deque()
        self.inconsistent = False
        self.jammed = False
        self.fix_lost = False
        self._good_since: float | None = None
        self._last_fix_t: float | None = None
        self.window_ratio = 0.0      # windowed NIS sum / its bound (< 1 passes)
        self.events: list[GnssEvent] = []

    def _emit(self, t: float, kind: str, severity: int, text: str) -> GnssEvent:
        e = GnssEvent(t, kind, severity, text[:50])
        self.events.append(e)
        return e

    def update(self, t: float, fix_type: int, satellites: int, hacc: float,
               position: Fusion | None = None, source: str = "odometry",
               velocity: Fusion | None = None) -> list[GnssEvent]:
        """One GNSS report: the receiver's fix type, satellites, reported
        accuracy [m] and -- when the EKF tested them -- the position and
        velocity ``Fusion`` outcomes.  ``source`` names what GNSS was checked against
        in the operator text ('odometry', 'lidar').  Returns new events."""
        p = self.params
        out: list[GnssEvent] = []
        usable = fix_type >= 3 and satellites >= p.min_sats and hacc <= p.max_hacc
        # ---- jamming: the receiver's own health
        self._sats.append((t, satellites))
        while self._sats and self._sats[0][0] < t - p.collapse_window_s:
            self._sats.popleft()
        peak = max(s for _, s in self._sats)
        collapsing = peak - satellites >= p.sats_drop
        if fix_type >= 3:
            self._last_fix_t = t
        lost = fix_type < 3 and (self._last_fix_t is None or t - self._last_fix_t >= p.fix_timeout_s)
        if lost and not self.fix_lost:
            self.fix_lost = True
            out.append(self._emit(t, "fix_lost", SEVERITY_CRITICAL, "GNSS fix lost: navigating without it"))
        elif fix_type >= 3 and self.fix_lost:
            self.fix_lost = False
            out.append(self._emit(t, "fix_restored", SEVERITY_NOTICE, f"GNSS fix restored ({satellites} sats)"))
        jam = collapsing or (fix_type >= 2 and (satellites < p.min_sats or hacc > p.max_hacc)) or lost
        if jam and not self.jammed:
            self.jammed = True
            out.append(self._emit(t, "jamming", SEVERITY_CRITICAL,
                                  f"GNSS jamming? sats {peak}->{satellites}, acc {hacc:.0f} m"))
        elif not jam and self.jammed and usable:
            self.jammed = False
            out.append(self._emit(t, "jamming_cleared", SEVERITY_NOTICE, "GNSS jamming cleared"))
        # ---- spoofing: consistency with the other sources
        if position is None or not usable or position.reason in ("quality", "uninitialised"):
            return out
        def passed(f: Fusion) -> bool:
            return f.accepted or f.reason == "inhibited"

        nis, dof = position.nis, 2
        vel_ok = True
        if velocity is not None and velocity.reason not in ("quality", "uninitialised"):
            nis, dof = nis + velocity.nis, 4
            vel_ok = passed(velocity)
        self._nis.append((nis, dof))
        full = len(self._nis) == p.window
        bound = chi2_upper(sum(d for _, d in self._nis), p.window_probability)
        self.window_ratio = sum(n for n, _ in self._nis) / bound if full else 0.0
        bad = (not passed(position)) or (not vel_ok) or self.window_ratio > 1.0
        off = math.hypot(*position.innovation[:2])
        if bad:
            self._good_since = None
            if not self.inconsistent:
                self.inconsistent = True
                out.append(self._emit(t, "inconsistent", SEVERITY_CRITICAL,
                                      f"GNSS inconsistent with {source} by {off:.{0 if off >= 10 else 1}f} m: rejected"))
        elif self.inconsistent:
            if self._good_since is None:
                self._good_since = t
            elif t - self._good_since >= p.clear_s:
                self.inconsistent = False
                self._nis.clear()
                out.append(self._emit(t, "consistent", SEVERITY_NOTICE,
                                      f"GNSS consistent with {source} again"))
        return out
