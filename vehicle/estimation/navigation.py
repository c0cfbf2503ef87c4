"""The navigation front the core runs with ``navigation.estimator = "ekf"``:
the IMU-driven EKF (``ekf.NavEkf``), the GNSS integrity monitor
(``gnss_monitor.GnssMonitor``), wheel odometry or the speed log, and the
lidar localizer on the prior map (``vehicle.localization.MapLocalizer``).

Per control tick ``update(now, frame)`` takes what the drivers delivered,
in this order: the IMU block predicts; odometry / speed log, compass and
GNSS are fused (GNSS through the monitor, which holds it out of the filter
while it disagrees with the other sources); a lidar scan goes to the
localizer, whose pose fix is fused.  It returns ``NavEvent``s for the
operator (the monitor's STATUSTEXTs, the localizer's lost / converged, the
EKF's GNSS rejections and resets).  ``health`` is what pre-arm and the
navigation failsafe read; ``status(now)`` is EKF_STATUS_REPORT.

Without GNSS the EKF is initialised by the first converged lidar fix (the
global search finds the pose on the whole map, the particle filter
confirms it).  When the localizer has been lost and converges again
somewhere the EKF does not believe (the vehicle was carried), the EKF
position and heading are reset to that fix.

When the localizer gives no fix -- its particles have not converged on the
few returns of a breakwater head or a sparse yard -- the scan matcher's
tracking mode registers the scan around the EKF's own pose and covariance
(``ScanMatcher.track``) and its fix is fused when the match is well
conditioned.  Every scan is also checked against the map at the EKF's pose
(``scan_fits``): pre-arm refuses while it does not fit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgepilot.vehicle.config import VehicleConfig
from edgepilot.vehicle.estimation.ekf import EkfParams, EkfStatus, NavEkf
from edgepilot.vehicle.estimation.gnss_monitor import GnssMonitor
from edgepilot.vehicle.estimation.measurements import WheelOdometry
from edgepilot.vehicle.geo import LocalFrame
from edgepilot.vehicle.types import SensorFrame, Severity, VehicleState

#: A re-converged lidar fix this far from the EKF [m] resets the EKF to it.
RELOCALIZE_RESET_M = 1.0
#: Slower than this [m/s] the vehicle counts as at rest (it may have been carried).
STATIONARY_MPS = 0.15
#: This many lidar fixes in a row gated out by the EKF, agreeing with each
#: other within POSE_RESET_STEADY_M [m], reset the EKF pose to the map.
POSE_RESET_FIXES = 10
#: Added to every lidar fix's covariance (x, y [m^2], yaw [rad^2]): the
#: matcher's own covariance is the fit's, not the map's error or the lidar's
#: time skew; without it the EKF grows overconfident and gates correct fixes.
POSE_COV_FLOOR = np.diag([0.05 ** 2, 0.05 ** 2, math.radians(1.0) ** 2])
POSE_RESET_STEADY_M = 0.15
#: A scan fits the map at the EKF's pose when this share of its endpoints is
#: within the matcher's inlier distance of a mapped obstacle ...
SCAN_FIT_FRACTION = 0.5
#: ... and the verdict changes after this many scans in a row say otherwise.
SCAN_FIT_SCANS = 3
#: Tracking fixes after this long without a lidar fix are operator news [s].
TRACK_NEWS_AFTER_S = 10.0


@dataclass(frozen=True)
class NavEvent:
    kind: str           # 'gnss' (integrity monitor), 'nav' (EKF), 'localization'
    what: str           # the source's event kind: 'inconsistent', 'jamming', 'lost', 'gnss_reset', ...
    text: str           # operator text (STATUSTEXT, <= 50 characters for the monitor's)
    severity: Severity


@dataclass(frozen=True)
class NavHealth:
    """What pre-arm and the navigation failsafe decide from."""

    initialised: bool
    healthy: bool               # EKF finite, initialised, position good
    pos_std: float              # 1-sigma horizontal [m]
    localizer: bool             # a lidar localizer on the prior map runs
    localized: bool             # ... and it is not lost (re-localizing after a scan stopped fitting the map)
    gnss_inconsistent: bool
    gnss_jammed: bool
    #: Distance travelled since the last absolute position fix (GNSS or lidar on the map) [m].
    unaided_m: float = 0.0
    #: Estimated dead-reckoning drift since that fix: ``unaided_m`` x
    #: navigation.dead_reckoning_drift [m] (0 when the vehicle file sets no rate).
    drift_m: float = 0.0
    scan_fits: bool = True      # the lidar scan fits the map at the estimated pose (True: no verdict)


class NavEstimator:
    def __init__(self, cfg: VehicleConfig, frame: LocalFrame, seed: int = 0):
        self.cfg = cfg
        self.frame = frame
        s = cfg.sensors
        # the filter counts itself lost (state invalid: the core stops driving)
        # half again beyond the mission's tolerance, where the failsafe trips
        self.ekf = NavEkf(EkfParams(pos_std_lost=max(1.5 * cfg.navigation.max_position_std_m, 0.5)))
        self.monitor = GnssMonitor()
        self.compass_std = math.radians(max(3.0 * s.compass.noise_deg, 2.0))
        enc = s.wheel_encoders
        self.odometry = (WheelOdometry(enc.ticks_per_rev, enc.wheel_radius, enc.track_width)
                         if enc is not None else None)
        self.localizer = None
        self._seed = int(seed)
        self._dist = self._dyaw = 0.0        # odometry since the last scan [m, rad]
        self._last_pose: tuple[float, float, float] | None = None
        self._was_lost = False
        #: The localizer declared itself lost and has not converged since
        #: (a localizer that has seen nothing to match yet is not lost).
        self.relocalizing = False
        self._gnss_seed: tuple[float, float, float, float] | None = None   # x, y, hacc, t of the last good fix
        self._compass_yaw: float | None = None
        self._blind = False              # the last scan had too few returns to match
        self._rejected_fixes: list[tuple[float, float]] = []   # offsets of consecutive gated-out fixes
        self._next_scan_t = -math.inf
        self._ekf_events = 0
        self._loc_events = 0
        self.gnss_source = "odometry" if enc is not None else ("speed log" if s.speed_log is not None else "IMU")
        self.last_fix_t: float | None = None
        self.pose_fixes = 0
        self.track_fixes = 0             # of which from the matcher's tracking mode
        self.scan_fits = True
        self._fit_run = 0                # scans in a row disagreeing with scan_fits
        self._status: tuple[float, EkfStatus] | None = None

    def attach_map(self, prior_map) -> None:
        """Build the localizer on ``prior_map`` (the likelihood field is a
        distance transform over the whole map: a start-up cost, bring_up)."""
        nav = self.cfg.navigation
        if prior_map is None or self.cfg.sensors.lidar is None or not nav.lidar_localization:
            return
        from edgepilot.vehicle.localization import (LocalizerParams, MapLocalizer, ParticleFilterParams,
                                                    build_likelihood_field)

        # a USV's chart is filled land, piers and breakwaters: its lidar sees
        # their surfaces only, and a scan must not fit "inside" a pier
        field = build_likelihood_field(prior_map, surface=self.cfg.kind == "usv")
        self.localizer = MapLocalizer(field, np.random.default_rng(self._seed),
                                      LocalizerParams(max_beams=nav.max_beams),
                                      ParticleFilterParams(particles=nav.particles))

    def set_pose(self, now: float, x: float, y: float, yaw: float, pos_std: float, yaw_std: float) -> None:
        """Where the operator says the vehicle is (map frame [m], ENU yaw
        [rad]), 1-sigma ``pos_std`` [m] and ``yaw_std`` [rad]: the EKF is
        initialised there (velocity zero, biases from their priors), and a
        lidar localizer, if any, searches around it.  For a vehicle that
        starts without GNSS (and without a map to localize on globally)."""
        self.ekf.initialise(now, x, y, yaw, pos_std=pos_std, yaw_std=yaw_std)
        self.ekf.last_aid_t["pos"] = self.ekf.last_aid_t["yaw"] = now
        self.ekf.travelled_unaided = 0.0
        if self.localizer is not None:
            self.localizer.initialise(x, y, yaw, max(pos_std, 0.2), max(yaw_std, 0.05))

    # ------------------------------------------------------------ the tick
    def update(self, now: float, frame: SensorFrame) -> list[NavEvent]:
        self._status = None
        ekf = self.ekf
        out: list[NavEvent] = []
        if frame.imu is not None and len(frame.imu):
            ekf.predict_imu_batch(frame.imu)
        if frame.wheel_ticks is not None and self.odometry is not None:
            inc = self.odometry.update(frame.wheel_ticks)
            if inc is not None:
                e = self.cfg.sensors.wheel_encoders
                ekf.fuse_body_speed(now, inc.speed, e.speed_noise + e.speed_noise_fraction * abs(inc.speed),
                                    lateral_std=e.lateral_noise)
                self._dist += inc.distance
                self._dyaw += inc.dyaw
        if frame.speed_log is not None and self.cfg.sensors.speed_log is not None:
            sl = self.cfg.sensors.speed_log
            ekf.fuse_water_speed(now, frame.speed_log.speed, sl.noise, lateral_std=sl.lateral_noise)
        if frame.compass is not None:
            self._compass_yaw = frame.compass.yaw
            ekf.fuse_compass(now, frame.compass.yaw, self.compass_std)
        if frame.gps is not None:
            fix = frame.gps
            if fix.fix_type >= 3 and fix.hacc <= ekf.params.gnss_max_hacc:
                gx, gy = self.frame.to_local(fix.lat, fix.lon)
                self._gnss_seed = (gx, gy, fix.hacc, now)
            fv, fp = ekf.fuse_gps_fix(fix, self.frame, now)
            for ev in self.monitor.update(now, fix.fix_type, fix.satellites, fix.hacc, fp,
                                          source=self.gnss_source, velocity=fv):
                out.append(NavEvent("gnss", ev.kind, ev.text, Severity(ev.severity)))
            ekf.gnss_inhibit = self.monitor.inconsistent
        if self.localizer is not None and frame.scan is not None and now >= self._next_scan_t - 1e-6:
            self._next_scan_t = now + 1.0 / self.cfg.navigation.localizer_rate_hz
            self._localize(now, frame, out)
        while self._ekf_events < len(ekf.events):
            ev = ekf.events[self._ekf_events]
            self._ekf_events += 1
            sev = Severity.WARNING if ev.kind == "gnss_rejected" else Severity.INFO
            out.append(NavEvent("nav", ev.kind, ev.text, sev))
        return out

    def _localize(self, now: float, frame: SensorFrame, out: list[NavEvent]) -> None:
        ekf, loc = self.ekf, self.localizer
        if self.odometry is None and ekf.initialised:
            # no wheels: the EKF's own motion since the previous scan
            x, y, yaw = float(ekf.x[0]), float(ekf.x[1]), float(ekf.x[4])
            if self._last_pose is not None:
                px, py, pyaw = self._last_pose
                self._dist = math.hypot(x - px, y - py)
                self._dyaw = (yaw - pyaw + math.pi) % (2 * math.pi) - math.pi
            self._last_pose = (x, y, yaw)
        sc = frame.scan
        r = np.asarray(sc.ranges)
        returns = int(np.count_nonzero(np.isfinite(r) & (r > 0) & (r < sc.max_range)))
        seeing = returns >= loc.matcher.params.min_inliers
        if seeing and self._blind and ekf.initialised and ekf.status(now).healthy and not loc.converged:
            # back in range of the map after open water: the particles drifted
            # with the motion model's (wheel-sized) noise for as long as there
            # was nothing to see; restart them from the EKF's dead reckoning
            loc.initialise(float(ekf.x[0]), float(ekf.x[1]), float(ekf.x[4]),
                           max(ekf.pos_std, 0.5), max(2.0 * math.sqrt(max(ekf.P[4, 4], 0.0)), 0.05))
        self._blind = not seeing
        if not loc.pf.initialised and ekf.initialised:
            loc.initialise(float(ekf.x[0]), float(ekf.x[1]), float(ekf.x[4]),
                           max(ekf.pos_std, 0.2), max(math.sqrt(max(ekf.P[4, 4], 0.0)), 0.05))
        prior = (float(ekf.x[0]), float(ekf.x[1]), float(ekf.x[4])) if ekf.initialised else None
        from edgepilot.vehicle.localization import scan_endpoints
        bx, by = scan_endpoints(sc, loc.params.max_beams, loc.mount)
        self._check_fit(loc, bx, by, prior, seeing)
        vouches = self._ekf_vouches()
        fix = loc.process(now, self._dist, self._dyaw, frame.scan, prior=prior, prior_trusted=vouches)
        self._dist = self._dyaw = 0.0
        converged_now = lost_now = False
        while self._loc_events < len(loc.events):
            ev = loc.events[self._loc_events]
            self._loc_events += 1
            if ev.kind == "lost" and ev.text.startswith("Localization uncertain"):
                # the cloud spread for a scan or two; it flickers back -- not operator news
                continue
            if ev.kind == "lost":
                # acted on every time; told once until the localizer has recovered
                self._was_lost = lost_now = True
                self.relocalizing = True
                if ev.announce:
                    out.append(NavEvent("localization", "lost", ev.text, Severity.WARNING))
            elif ev.kind == "degraded":
                # moving on a healthy EKF: the scan is what is doubtful (a sparse
                # or cluttered view), not where we are; the localizer searches
                # around the EKF
                if ev.announce:
                    out.append(NavEvent("localization", "degraded", ev.text, Severity.NOTICE))
            elif ev.kind == "converged":
                converged_now = True
                self.relocalizing = False
                if ev.announce:
                    out.append(NavEvent("localization", "converged", ev.text, Severity.INFO))
            elif ev.kind == "global":
                out.append(NavEvent("localization", "global", ev.text, Severity.INFO))
        found = loc.last_global is not None and loc.last_global.ok and lost_now
        if (lost_now and not found and self._gnss_seed is not None and now - self._gnss_seed[3] < 1.0
                and self._compass_yaw is not None):
            # at rest, lost, and a good GNSS fix the EKF refuses (it jumped with
            # the vehicle): search around the receiver's position, heading from
            # the compass -- GNSS-assisted re-localization, no whole-map search
            gx, gy, hacc, _ = self._gnss_seed
            loc.initialise(gx, gy, self._compass_yaw, max(3.0 * hacc, 1.0), 0.2)
        if (fix is None or not fix.ok) and not self.relocalizing and ekf.initialised and seeing:
            # no fix from the particles (not converged on a few returns) or
            # their matcher refused it: track around the EKF instead
            self._track(now, loc, bx, by, out)
            return
        if fix is None or not fix.ok:
            return
        if ekf.initialised and converged_now and self._was_lost:
            self._was_lost = False
            off = math.hypot(fix.x - ekf.x[0], fix.y - ekf.x[1])
            if off > RELOCALIZE_RESET_M:
                ekf.initialise(now, fix.x, fix.y, fix.yaw, 0.0, 0.0,
                               pos_std=math.sqrt(max(fix.cov[0, 0], fix.cov[1, 1])),
                               yaw_std=math.sqrt(fix.cov[2, 2]))
                ekf.last_pose_t = now
                out.append(NavEvent("nav", "relocalized", f"EKF reset to the map ({off:.1f} m away)",
                                    Severity.WARNING))
                self.pose_fixes += 1
                self.last_fix_t = now
                return
        if ekf.fuse_pose(now, fix.x, fix.y, fix.yaw, fix.cov + POSE_COV_FLOOR).accepted:
            self.pose_fixes += 1
            self.last_fix_t = now
            self._rejected_fixes = []
            return
        # Gated out.  One is an outlier; a run of them that agree with each
        # other, from a converged localizer, means the EKF has become
        # overconfident and drifted (it would now refuse every correct fix):
        # reset its pose to the map, as GNSS glitch handling resets to a
        # GNSS that stays consistent.
        rej = self._rejected_fixes
        rej.append((fix.x - ekf.x[0], fix.y - ekf.x[1]))
        if len(rej) >= POSE_RESET_FIXES:
            d = np.array(rej[-POSE_RESET_FIXES:])
            if np.max(np.hypot(*(d - d.mean(axis=0)).T)) < POSE_RESET_STEADY_M and loc.converged:
                off = float(np.hypot(*d[-1]))
                self._reset_pose(fix)
                self._rejected_fixes = []
                self.pose_fixes += 1
                self.last_fix_t = now
                out.append(NavEvent("nav", "pose_reset", f"EKF reset to the lidar fix ({off:.2f} m): "
                                                         f"{POSE_RESET_FIXES} fixes in a row rejected",
                                    Severity.NOTICE))
            else:
                del rej[0]

    def _check_fit(self, loc, bx, by, prior, seeing: bool) -> None:
        """``scan_fits``: does the scan fit the map at the EKF's pose?  No
        verdict (fits) without a pose or with too few returns; the verdict
        flips after SCAN_FIT_SCANS scans in a row say otherwise."""
        if prior is None or not seeing:
            self._fit_run = 0
            self.scan_fits = True
            return
        fits = loc.fit_fraction(bx, by, prior) >= SCAN_FIT_FRACTION
        if fits == self.scan_fits:
            self._fit_run = 0
            return
        self._fit_run += 1
        if self._fit_run >= SCAN_FIT_SCANS:
            self.scan_fits = fits
            self._fit_run = 0

    def _track(self, now: float, loc, bx, by, out: list[NavEvent]) -> None:
        """The localizer gave no fix (its particles have not converged on a
        few returns): the scan matcher's tracking mode around the EKF."""
        ekf = self.ekf
        if not ekf.status(now).healthy or bx.size < loc.matcher.params.track_min_inliers:
            return
        idx = (0, 1, 4)
        P = np.array([[ekf.P[a, b] for b in idx] for a in idx])
        fix = loc.matcher.track(now, bx, by, (float(ekf.x[0]), float(ekf.x[1]), float(ekf.x[4])), P)
        if not fix.ok:
            return
        off = math.hypot(fix.x - ekf.x[0], fix.y - ekf.x[1])
        if ekf.fuse_pose(now, fix.x, fix.y, fix.yaw, fix.cov + POSE_COV_FLOOR).accepted:
            if self.last_fix_t is None or now - self.last_fix_t > TRACK_NEWS_AFTER_S:
                since = "" if self.last_fix_t is None else f" after {now - self.last_fix_t:.0f} s without one"
                out.append(NavEvent("localization", "track",
                                    f"Lidar fix on the map{since}: position corrected {off:.1f} m",
                                    Severity.INFO))
            self.pose_fixes += 1
            self.track_fixes += 1
            self.last_fix_t = now
            # the particles have not converged on their own (that is why we are
            # tracking): restart them around the corrected EKF pose, so they do
            # not settle on a look-alike stretch of quay instead
            loc.initialise(float(ekf.x[0]), float(ekf.x[1]), float(ekf.x[4]), max(2.0 * ekf.pos_std, 0.2),
                           max(2.0 * math.sqrt(max(ekf.P[4, 4], 0.0)), 0.02))

    def _reset_pose(self, fix) -> None:
        """Position and heading to the fix, with its covariance; velocity,
        biases and current kept."""
        ekf = self.ekf
        for i in (0, 1, 4):
            ekf.P[i, :] = 0.0
            ekf.P[:, i] = 0.0
        idx = (0, 1, 4)
        for a in range(3):
            for b in range(3):
                ekf.P[idx[a], idx[b]] = fix.cov[a, b]
        ekf.x[0], ekf.x[1], ekf.x[4] = fix.x, fix.y, fix.yaw
        ekf.last_pose_t = fix.t
        ekf.travelled_unaided = 0.0

    def _ekf_vouches(self) -> bool:
        """The EKF is trusted over a lost localizer while the vehicle moves
        on a healthy filter.  At rest it is not: a vehicle carried away
        (kidnapped) is at rest, and nothing the EKF integrates saw it go."""
        ekf = self.ekf
        return (ekf.initialised and ekf.status(ekf.t or 0.0).healthy
                and math.hypot(ekf.x[2], ekf.x[3]) > STATIONARY_MPS)

    # ------------------------------------------------------------ outputs
    def state(self, now: float) -> VehicleState:
        ekf, st = self.ekf, self.status(now)
        lat, lon = self.frame.to_geo(ekf.x[0], ekf.x[1])
        return VehicleState(t=now, x=float(ekf.x[0]), y=float(ekf.x[1]), yaw=float(ekf.x[4]),
                            vx=float(ekf.x[2]), vy=float(ekf.x[3]), yaw_rate=float(ekf.gyro_z - ekf.x[5]),
                            lat=lat, lon=lon, pos_std=st.pos_std, valid=ekf.initialised and st.healthy)

    def status(self, now: float) -> EkfStatus:
        """EKF_STATUS_REPORT's content; computed once per tick (the filter
        only changes in ``update``)."""
        if self._status is None or self._status[0] != now:
            self._status = (now, self.ekf.status(now))
        return self._status[1]

    @property
    def localized(self) -> bool:
        """No lidar localizer, or it is not searching after being lost."""
        return self.localizer is None or not self.relocalizing

    def health(self, now: float) -> NavHealth:
        st = self.status(now)
        unaided = float(self.ekf.travelled_unaided)
        rate = self.cfg.navigation.dead_reckoning_drift
        return NavHealth(self.ekf.initialised, st.healthy, st.pos_std, self.localizer is not None,
                         self.localized, self.monitor.inconsistent, self.monitor.jammed or self.monitor.fix_lost,
                         unaided_m=unaided, drift_m=unaided * rate if rate else 0.0,
                         scan_fits=self.scan_fits)
