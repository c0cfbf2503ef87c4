"""Navigation against ground truth (issue 15): the position error of the
core's estimate, the time to detect each GNSS fault, the drift through a
GNSS outage, and the navigation pass criteria.

Inputs are what the lockstep runner records: ``track`` (N, 6) truth rows
(t, x, y, yaw, speed, clearance), ``estimate`` (N, 4) the core's estimate
on the same ticks (x, y, yaw, position 1-sigma), the core's events, and
when it armed.
"""
from __future__ import annotations

import math

import numpy as np

#: What counts as the core noticing a GNSS fault: the integrity monitor's
#: events (kind 'gnss') and the EKF's own rejection (kind 'nav').
SPOOF_DETECTIONS = ("inconsistent", "gnss_rejected")
JAM_DETECTIONS = ("jamming", "fix_lost")


def _first_event(events, t0: float, whats) -> float | None:
    for e in events:
        if e.t >= t0 - 1e-9 and e.kind in ("gnss", "nav") and e.data.get("what") in whats:
            return float(e.t)
    return None


def navigation_summary(scenario, track: np.ndarray, estimate: np.ndarray, events, arm_t: float | None) -> dict:
    """The navigation block of summary.json."""
    if not len(track) or len(estimate) != len(track):
        return {}
    t = track[:, 0]
    err = np.hypot(estimate[:, 0] - track[:, 1], estimate[:, 1] - track[:, 2])
    sel = t >= (arm_t if arm_t is not None else math.inf)
    e = err[sel]
    out: dict = {
        "from_t_s": None if arm_t is None else round(arm_t, 2),
        "position_error_rms_m": round(float(np.sqrt(np.mean(e ** 2))), 4) if len(e) else None,
        "position_error_max_m": round(float(e.max()), 4) if len(e) else None,
        "position_error_final_m": round(float(err[-1]), 4),
        "heading_error_max_deg": (round(float(np.degrees(np.abs(
            (estimate[sel, 2] - track[sel, 3] + np.pi) % (2 * np.pi) - np.pi).max())), 3) if len(e) else None),
        "position_error_at_arming_m": round(float(e[0]), 4) if len(e) else None,
        "gnss_faults": [],
    }
    step = np.hypot(np.diff(track[:, 1]), np.diff(track[:, 2]))
    out["checkpoints"] = []
    for cp in scenario.criteria.error_checkpoints:
        k = int(np.argmin(np.hypot(track[:, 1] - cp.at[0], track[:, 2] - cp.at[1])))
        out["checkpoints"].append({"name": cp.name, "at": list(cp.at), "t_s": round(float(t[k]), 2),
                                   "passed_at_m": round(float(np.hypot(track[k, 1] - cp.at[0],
                                                                       track[k, 2] - cp.at[1])), 2),
                                   "error_m": round(float(err[k]), 3), "max_error_m": cp.max_error_m})
    for f in scenario.faults:
        if f.type == "kidnap":
            out["kidnap_s"] = f.start_s
        if f.type == "gps_spoofing":
            out["gnss_faults"].append(_spoof(f, t, estimate, events))
        elif f.type in ("gps_jamming", "gps_dropout"):
            out["gnss_faults"].append(_outage(f, t, err, step, events, arm_t))
    return out


def _spoof(f, t, estimate, events) -> dict:
    """Detection delay from when the drag exceeds the filter's 3-sigma."""
    exceed = None
    for k in np.nonzero((t >= f.start_s) & (t < f.end_s))[0]:
        if f.offset(t[k])[0] > 3.0 * estimate[k, 3]:
            exceed = float(t[k])
            break
    det = _first_event(events, f.start_s, SPOOF_DETECTIONS)
    delay = None if (det is None or exceed is None) else round(max(det - exceed, 0.0), 3)
    return {"fault": f.type, "start_s": f.start_s, "exceeds_3sigma_s": exceed,
            "detected_s": det, "detection_delay_s": delay,
            "detected_before_3sigma": det is not None and exceed is not None and det < exceed}


def _outage(f, t, err, step, events, arm_t) -> dict:
    """Detection delay from the start; drift = the largest error during
    the outage over the distance travelled during it."""
    det = _first_event(events, f.start_s, JAM_DETECTIONS)
    # the error counts from arming on (before it the filter may not even be initialised)
    t0 = max(f.start_s, arm_t if arm_t is not None else math.inf)
    win = np.nonzero((t >= t0) & (t < f.end_s))[0]
    dist = float(step[win[0]:win[-1]].sum()) if len(win) > 1 else 0.0
    end_err = float(err[win[-1]]) if len(win) else None
    return {"fault": f.type, "start_s": f.start_s, "detected_s": det,
            "detection_delay_s": None if det is None else round(det - f.start_s, 3),
            "distance_m": round(dist, 2), "error_at_end_m": None if end_err is None else round(end_err, 3),
            "max_error_m": round(float(err[win].max()), 3) if len(win) else None,
            "drift_fraction": (round(float(err[win].max()) / dist, 5) if dist > 1.0 else None)}


def check_navigation(crit, nav: dict, events, arm_t: float | None) -> list[str]:
    """The reasons the navigation criteria fail (empty: passed or none set)."""
    reasons: list[str] = []
    wants = (crit.max_position_error_rms_m, crit.max_position_error_m, crit.max_heading_error_deg,
             crit.max_detection_delay_s,
             crit.max_drift_fraction, crit.max_final_position_error_m, crit.max_error_at_outage_end_m)
    if any(v is not None for v in wants) and not nav:
        return ["navigation criteria set but the run recorded no estimate"]
    rms, mx = nav.get("position_error_rms_m"), nav.get("position_error_max_m")
    if crit.max_position_error_rms_m is not None:
        if rms is None:
            reasons.append("position error not measured: the vehicle never armed")
        elif rms > crit.max_position_error_rms_m:
            reasons.append(f"position error RMS {rms:.3f} m exceeds {crit.max_position_error_rms_m:g} m")
    if crit.max_position_error_m is not None and mx is not None and mx > crit.max_position_error_m:
        reasons.append(f"position error reached {mx:.3f} m (limit {crit.max_position_error_m:g} m)")
    for cp in nav.get("checkpoints", []):
        if cp["max_error_m"] is not None and cp["error_m"] > cp["max_error_m"]:
            reasons.append(f"position error {cp['error_m']:.2f} m at {cp['name']} (t={cp['t_s']:.0f} s, "
                           f"limit {cp['max_error_m']:g} m)")
    hd = nav.get("heading_error_max_deg")
    if crit.max_heading_error_deg is not None and hd is not None and hd > crit.max_heading_error_deg:
        reasons.append(f"heading error reached {hd:.2f} deg (limit {crit.max_heading_error_deg:g} deg)")
    fin = nav.get("position_error_final_m")
    if crit.max_final_position_error_m is not None and fin is not None and fin > crit.max_final_position_error_m:
        reasons.append(f"position error at the end {fin:.3f} m (limit {crit.max_final_position_error_m:g} m): "
                       "not corrected")
    for g in nav.get("gnss_faults", []):
        if crit.max_detection_delay_s is not None:
            d = g["detection_delay_s"]
            if g["detected_s"] is None:
                reasons.append(f"{g['fault']} at {g['start_s']:g} s never detected")
            elif d is not None and d > crit.max_detection_delay_s:
                reasons.append(f"{g['fault']} at {g['start_s']:g} s detected after {d:.2f} s "
                               f"(limit {crit.max_detection_delay_s:g} s)")
        end = g.get("error_at_end_m")
        if crit.max_error_at_outage_end_m is not None and end is not None and end > crit.max_error_at_outage_end_m:
            reasons.append(f"position error {end:.2f} m at the end of the {g['fault']} outage "
                           f"(limit {crit.max_error_at_outage_end_m:g} m): not corrected before GNSS returned")
        if crit.max_drift_fraction is not None and g["fault"] != "gps_spoofing":
            df = g.get("drift_fraction")
            if df is not None and df > crit.max_drift_fraction:
                reasons.append(f"drift through the {g['fault']} outage {100 * df:.2f} % of {g['distance_m']:.0f} m "
                               f"(largest error {g['max_error_m']:.2f} m) "
                               f"(limit {100 * crit.max_drift_fraction:g} %)")
    if crit.no_hold and arm_t is not None:
        trips = [e for e in events if e.kind == "failsafe" and e.data.get("phase") == "trip" and e.t >= arm_t
                 and e.data.get("action") != "NONE"]
        if trips:
            reasons.append(f"failsafe after arming at {trips[0].t:.1f} s: {trips[0].text}")
    if crit.relocalize_before_arming:
        reasons += _relocalized(events, nav.get("kidnap_s", 0.0))
    return reasons


def _relocalized(events, kidnap_s: float) -> list[str]:
    lost = next((e for e in events if e.kind == "localization" and e.data.get("what") == "lost"), None)
    if lost is None:
        return ["the localizer never noticed the kidnapping (no 'lost' event)"]
    back = next((e for e in events if e.kind == "localization" and e.data.get("what") == "converged"
                 and e.t > lost.t), None)
    armed = next((e for e in events if e.kind == "armed" and e.t >= lost.t), None)
    early = next((e for e in events if e.kind == "armed" and e.t < lost.t), None)
    out = []
    if early is not None:
        out.append(f"armed at {early.t:.1f} s, before the kidnapping was noticed")
    if back is None:
        out.append("the localizer did not re-localize after the kidnapping")
    if armed is None:
        out.append("never armed after the kidnapping")
    elif back is not None and armed.t < back.t:
        out.append(f"armed at {armed.t:.1f} s before re-localizing ({back.t:.1f} s)")
    # refused for the lidar's reasons between the kidnapping and arming: the
    # scan not fitting the map at the believed pose (noticed before the
    # localizer's 'lost'), or the localizer lost
    refused = [e for e in events if e.kind == "text" and e.text.startswith("PreArm: lidar") and e.t >= kidnap_s
               and (armed is None or e.t <= armed.t)]
    if armed is not None and not refused:
        out.append("arming was never refused for localization after the kidnapping")
    return out
