"""Safety parameters: failsafe triggers, their actions, fence and arming.

Names follow ArduPilot Rover where it has the knob (FS_*, BATT_FS_*,
FENCE_*, ARMING_CHECK); actions share one numbering everywhere:
0 report only, 1 HOLD, 2 RTL, 3 STOP (motors stopped, disarmed).
Defaults come from the vehicle config.
"""
from __future__ import annotations

from edgepilot.vehicle.config import VehicleConfig

#: name, default, lo, hi, doc
Spec = tuple[str, float, float, float, str]

ACTION_DOC = "0 report, 1 HOLD, 2 RTL, 3 STOP (disarm)"


def safety_param_specs(cfg: VehicleConfig) -> list[Spec]:
    period = 1.0 / cfg.control.rate_hz
    gps_hacc = max(1.0, 4.0 * cfg.sensors.gps.noise_m)
    brake = cfg.limits.max_accel if cfg.kind == "ugv" else 0.3 * cfg.limits.max_accel
    ekf = [
        ("FS_EKF_ACTION", 1.0, 0.0, 3.0, f"navigation confidence lost action: {ACTION_DOC}"),
        ("FS_EKF_POS_STD", cfg.navigation.max_position_std_m, 0.02, 100.0,
         "position 1-sigma above which navigation confidence is lost: failsafe, no arming [m]"),
    ] if cfg.navigation.estimator == "ekf" else []
    return ekf + [
        ("ARMING_CHECK", 1.0, 0.0, 1.0, "1 run pre-arm checks, 0 skip them"),
        ("FS_RESUME", 1.0, 0.0, 1.0,
         "1: when a self-clearing failsafe clears, resume the mode it interrupted"),
        ("FS_GPS_ACTION", 1.0, 0.0, 3.0, f"GPS loss/degraded action: {ACTION_DOC}"),
        ("FS_GPS_TIMEOUT", 0.5, 0.1, 30.0, "GPS bad (no 3D fix, poor accuracy, silent) this long trips [s]"),
        ("FS_GPS_HACC", gps_hacc, 0.05, 100.0, "worst acceptable GPS horizontal accuracy [m]"),
        ("FS_GPS_MIN_SATS", 6.0, 0.0, 50.0, "fewest satellites accepted for arming"),
        ("FS_SENS_ACTION", 1.0, 0.0, 3.0, f"stale lidar/camera action: {ACTION_DOC}"),
        ("FS_SENS_TIMEOUT", 0.5, 0.05, 30.0, "lidar/camera data older than this is stale [s]"),
        ("FS_MOTOR_ACTION", 3.0, 0.0, 3.0, f"motor-controller link loss/fault action: {ACTION_DOC}"),
        ("FS_MOTOR_TIMEOUT", 0.3, 0.05, 10.0, "no motor-controller telemetry this long = link lost [s]"),
        ("FS_LOOP_ACTION", 1.0, 0.0, 3.0, f"control-loop overrun action: {ACTION_DOC}"),
        ("FS_LOOP_MAX", max(0.5, 10.0 * period), 2.0 * period, 10.0,
         "largest gap between control ticks before the watchdog trips [s]"),
        ("BATT_FS_LOW_ACT", 2.0, 0.0, 3.0, f"battery low action: {ACTION_DOC}"),
        ("BATT_FS_CRT_ACT", 1.0, 0.0, 3.0, f"battery critical action: {ACTION_DOC}"),
        ("FENCE_ENABLE", 0.0, 0.0, 1.0, "1: a fence must be loaded to arm, and breaches are acted on"),
        ("FENCE_ACTION", 1.0, 0.0, 3.0, f"predicted fence breach action: {ACTION_DOC}"),
        ("FENCE_MARGIN", 0.5, 0.0, 100.0, "distance kept between footprint and fence [m]"),
        ("FENCE_BRAKE_ACC", brake, 0.05, 20.0, "deceleration assumed when predicting the stopping point [m/s^2]"),
        ("AVOID_ENABLE", 0.0, 0.0, 1.0, "1: stop (HOLD) for a lidar return in the path, resume when clear"),
        ("AVOID_MARGIN", 1.0, 0.0, 20.0, "free distance kept ahead of the footprint beyond the stopping distance [m]"),
        ("AVOID_CLEAR_S", 1.5, 0.0, 60.0, "path must stay clear this long before resuming [s]"),
        ("AVOID_MOVERS", 1.0, 0.0, 1.0, "1: a UGV gives way (stops) while a lidar-tracked moving object's "
                                        "predicted path crosses its own; off while AVOID_ENABLE is on"),
    ]
