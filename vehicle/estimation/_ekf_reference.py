"""NumPy oracle of the EKF kernels: the same model written with matrix
algebra (np.linalg), for the tests and as the benchmark's peer."""
from __future__ import annotations

import math

import numpy as np

from edgepilot.vehicle.estimation._ekf_kernels import (MEAS_BODY_SPEED, MEAS_BODY_VEL, MEAS_DIM, MEAS_GNSS_POS,
                                                       MEAS_GNSS_VEL, MEAS_POSE, MEAS_WATER_SPEED, MEAS_WATER_VEL, MEAS_YAW, N)


def _wrap(a):
    return (a + math.pi) % (2.0 * math.pi) - math.pi


def predict_ref(x, P, gyro_z, accel_x, accel_y, dt, q):
    """Returns (x, P) after one IMU sample (inputs untouched)."""
    x = x.copy()
    c, s = math.cos(x[4]), math.sin(x[4])
    R = np.array([[c, -s], [s, c]])
    a_b = np.array([accel_x - x[6], accel_y - x[7]])
    a_n = R @ a_b
    F = np.eye(N)
    F[0:2, 2:4] = np.eye(2) * dt
    F[2:4, 4] = np.array([[0.0, -1.0], [1.0, 0.0]]) @ a_n * dt
    F[2:4, 6:8] = -R * dt
    F[4, 5] = -dt
    x[0:2] += x[2:4] * dt + 0.5 * a_n * dt * dt
    x[2:4] += a_n * dt
    x[4] = _wrap(x[4] + (gyro_z - x[5]) * dt)
    Q = np.diag([0.0, 0.0, (q[0] * dt) ** 2, (q[0] * dt) ** 2, (q[1] * dt) ** 2,
                 q[2] ** 2 * dt, q[3] ** 2 * dt, q[3] ** 2 * dt, q[4] ** 2 * dt, q[4] ** 2 * dt])
    P = F @ P @ F.T + Q
    return x, 0.5 * (P + P.T)


def model_ref(x, kind):
    c, s = math.cos(x[4]), math.sin(x[4])
    vx, vy = x[2], x[3]
    m = int(MEAS_DIM[kind])
    H = np.zeros((m, N))
    if kind == MEAS_GNSS_POS:
        h = x[0:2].copy()
        H[:, 0:2] = np.eye(2)
    elif kind == MEAS_GNSS_VEL:
        h = x[2:4].copy()
        H[:, 2:4] = np.eye(2)
    elif kind == MEAS_YAW:
        h = np.array([x[4]])
        H[0, 4] = 1.0
    elif kind in (MEAS_BODY_SPEED, MEAS_BODY_VEL):
        fwd = np.array([c * vx + s * vy, -s * vx + c * vy])
        J = np.array([[c, s, -s * vx + c * vy], [-s, c, -c * vx - s * vy]])
        h = fwd[:m]
        H[:, 2:5] = J[:m]
    elif kind == MEAS_POSE:
        h = np.array([x[0], x[1], x[4]])
        H[0, 0] = H[1, 1] = H[2, 4] = 1.0
    elif kind in (MEAS_WATER_SPEED, MEAS_WATER_VEL):
        wx, wy = vx - x[8], vy - x[9]
        h = np.array([c * wx + s * wy, -s * wx + c * wy])[:m]
        H[0, 2:5] = (c, s, -s * wx + c * wy)
        H[0, 8:10] = (-c, -s)
        if m == 2:
            H[1, 2:5] = (-s, c, -c * wx - s * wy)
            H[1, 8:10] = (s, -c)
    else:
        raise ValueError(kind)
    return h, H


def update_ref(x, P, kind, z, R, threshold, apply=True):
    """Returns (status, x, P, nis, innovation) like ekf_update."""
    h, H = model_ref(x, kind)
    y = np.asarray(z, float) - h
    if kind == MEAS_YAW:
        y[0] = _wrap(y[0])
    elif kind == MEAS_POSE:
        y[2] = _wrap(y[2])
    S = H @ P @ H.T + R
    S = 0.5 * (S + S.T)
    try:
        np.linalg.cholesky(S)
    except np.linalg.LinAlgError:
        return -1, x, P, math.inf, y
    Sinv = np.linalg.inv(S)
    nis = float(y @ Sinv @ y)
    if nis > threshold:
        return 0, x, P, nis, y
    if not apply:
        return 1, x, P, nis, y
    K = P @ H.T @ Sinv
    x = x + K @ y
    x[4] = _wrap(x[4])
    A = np.eye(N) - K @ H
    P = A @ P @ A.T + K @ R @ K.T
    return 1, x, 0.5 * (P + P.T), nis, y
