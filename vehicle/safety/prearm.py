"""Pre-arm checks: refuse to arm with a reason an operator can act on.

Each check returns None when it passes or a ``PreArm: ...`` text (the
ArduPilot STATUSTEXT convention) saying what is wrong and what to do.
Checks: position estimate, GPS fix/accuracy/satellites/freshness, compass
freshness, lidar and camera alive (perception running), battery above the
low threshold, motor controller responding and its e-stop released, no
latched failsafe, fence loaded (if FENCE_ENABLE) with the vehicle and every
mission waypoint inside it, mission valid.
"""
from __future__ import annotations

from edgepilot.vehicle.mission.executor import NAV_COMMANDS, validate_mission
from edgepilot.vehicle.types import Cmd

from .failsafe import Recovery, SafetyInputs

SENSOR_ALIVE_S = 1.0   # a sensor silent longer than this is not alive [s]


def prearm_failures(s: SafetyInputs, safety) -> list[str]:
    """All failing checks, most fundamental first (empty = ready to arm).
    ``safety`` is the SafetyManager (parameters, config, fence, failsafes)."""
    p = safety.params
    cfg = safety.cfg
    out: list[str] = []
    now = s.now
    st = s.state
    if s.estop_latched or (s.motor is not None and s.motor.estop):
        what = "hardware e-stop is pressed" if (s.motor is not None and s.motor.estop) else "e-stop is latched"
        out.append(f"PreArm: {what}; release/clear it (MAV_CMD_DO_FLIGHTTERMINATION param1=0) before arming")
    nav = s.nav
    if nav is not None:
        out.extend(_nav_failures(nav, p))
    elif st is None or not st.valid:
        out.append("PreArm: waiting for GPS fix and heading")
    fix = s.gps
    if nav is not None and nav.localizer and (fix is None or fix.fix_type < 3):
        pass   # the map localizer is the absolute source: no GNSS needed to arm
    elif fix is None or s.gps_t is None:
        out.append("PreArm: GPS not seen; check the receiver and its cable")
    else:
        if now - s.gps_t > SENSOR_ALIVE_S:
            out.append(f"PreArm: GPS data stale (last fix {now - s.gps_t:.1f} s ago)")
        if fix.fix_type < 3:
            out.append(f"PreArm: GPS needs a 3D fix (fix type {fix.fix_type})")
        elif fix.hacc > p.get("FS_GPS_HACC"):
            out.append(f"PreArm: GPS horizontal accuracy {fix.hacc:.1f} m is worse than FS_GPS_HACC "
                       f"{p.get('FS_GPS_HACC'):.1f} m; wait for a better fix or open sky")
        if fix.fix_type >= 3 and fix.satellites < p.get("FS_GPS_MIN_SATS"):
            out.append(f"PreArm: GPS has {fix.satellites} satellites, need {p.get('FS_GPS_MIN_SATS'):.0f}")
    if s.compass_t is None or now - s.compass_t > SENSOR_ALIVE_S:
        out.append("PreArm: compass not responding" if s.compass_t is None
                   else f"PreArm: compass data stale ({now - s.compass_t:.1f} s old)")
    timeout = p.get("FS_SENS_TIMEOUT")
    if cfg.sensors.lidar is not None or s.scan_t is not None:
        if s.scan_t is None:
            out.append("PreArm: perception not running: no lidar scan received")
        elif now - s.scan_t > timeout:
            out.append(f"PreArm: perception not running: last lidar scan {now - s.scan_t:.1f} s ago")
    if s.camera_t is not None and now - s.camera_t > timeout:
        out.append(f"PreArm: camera stale: last image {now - s.camera_t:.1f} s ago")
    if safety.perception_t is not None and now - safety.perception_t > timeout:
        out.append(f"PreArm: perception not running: last obstacle-map update {now - safety.perception_t:.1f} s ago")
    if s.battery_remaining is None:
        out.append("PreArm: no battery reading")
    else:
        low = p.get("BATT_LOW_PCT")
        if 100.0 * s.battery_remaining <= low:
            out.append(f"PreArm: battery {100 * s.battery_remaining:.0f}% is at or below BATT_LOW_PCT "
                       f"{low:.0f}%; charge or swap the pack")
    if s.motor_t is not None:
        if now - s.motor_t > p.get("FS_MOTOR_TIMEOUT"):
            out.append(f"PreArm: motor controller not responding (last telemetry {now - s.motor_t:.1f} s ago)")
        elif s.motor is not None and s.motor.fault:
            out.append(f"PreArm: motor controller fault: {s.motor.fault}")
    for a in safety.failsafes.active.values():
        if a.trigger.recovery is Recovery.OPERATOR and a.trigger.name != "estop":
            out.append(f"PreArm: {a.trigger.label} failsafe active: {a.reason}")
    out.extend(_fence_failures(s, safety))
    out.extend(_mission_failures(s.mission))
    return out


def _nav_failures(nav, p) -> list[str]:
    """EKF vehicles: no arming on an uninitialised or diverged filter, a
    position worse than the mission tolerates, or a lost localizer."""
    if not nav.initialised:
        return ["PreArm: EKF not initialised: waiting for a position (GNSS or lidar on the map) and heading"]
    out = []
    lim = p.get("FS_EKF_POS_STD")
    if not nav.healthy or not nav.pos_std <= lim:
        out.append(f"PreArm: EKF position 1-sigma {nav.pos_std:.2f} m exceeds FS_EKF_POS_STD {lim:.2f} m "
                   "(filter diverged or no absolute position)")
    if nav.localizer and not nav.localized:
        out.append("PreArm: lidar localization lost: re-localizing on the map; wait until it converges")
    if nav.localizer and not nav.scan_fits:
        out.append("PreArm: lidar scan does not fit the map at the estimated pose (vehicle moved, or the map "
                   "is wrong here); wait for re-localization")
    if nav.gnss_inconsistent:
        out.append("PreArm: GNSS inconsistent with the navigation solution (spoofed, or the vehicle was "
                   "moved); wait until they agree")
    return out


def _fence_failures(s: SafetyInputs, safety) -> list[str]:
    fence = safety.fence
    enabled = safety.params.get("FENCE_ENABLE") >= 1
    if not enabled:
        return []
    if fence is None or not len(fence):
        return ["PreArm: FENCE_ENABLE is 1 but no fence is loaded; upload a fence or set FENCE_ENABLE 0"]
    out = []
    st = s.state
    r = safety.cfg.geometry.circumscribed_radius
    if st is not None and st.valid:
        c, idx = fence.clearance([[st.x, st.y]])
        if c[0] < r:
            zone = fence.zones[int(idx[0])].describe(int(idx[0]))
            where = "outside" if c[0] < 0 else "too close to"
            out.append(f"PreArm: vehicle is {where} the fence ({zone}, clearance {c[0] - r:.1f} m); "
                       "move it inside or reload the fence")
    for it in s.mission[1:]:
        if it.command in NAV_COMMANDS and it.command != Cmd.NAV_RETURN_TO_LAUNCH:
            x, y = safety.frame.to_local(it.lat, it.lon)
            if not fence.contains(x, y, r):
                out.append(f"PreArm: mission item {it.seq} is outside the fence; edit the mission or the fence")
    return out


def _mission_failures(mission) -> list[str]:
    items = list(mission)
    if not items:
        return []
    reason = validate_mission(items)
    return [f"PreArm: mission invalid: {reason}"] if reason else []
