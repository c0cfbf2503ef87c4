"""Numba kernels of the planar error-state EKF (see ekf.py for the model).

Fixed sizes: N = 10 error states, at most M_MAX = 4 measurement rows.  Every
kernel works in place on arrays the caller allocated once (state, covariance
and a scratch workspace), so nothing is allocated per IMU sample.

State / error-state layout (ENU map frame):
  0 px, 1 py [m]   2 vx, 3 vy [m/s]   4 yaw [rad]
  5 gyro-z bias [rad/s]   6, 7 accelerometer x/y bias, body frame [m/s^2]
  8, 9 water current east/north [m/s] (a random walk; observed only through
       the speed-through-water log against the other velocity sources)
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

N = 10
M_MAX = 4

PX, PY, VX, VY, YAW, BG, BAX, BAY, CX, CY = range(10)

# measurement kinds (the wrapper's constants mirror these)
MEAS_GNSS_POS = 0      # z = (x, y)
MEAS_GNSS_VEL = 1      # z = (vx, vy)
MEAS_YAW = 2           # z = (yaw,)
MEAS_BODY_SPEED = 3    # z = (forward speed,)
MEAS_BODY_VEL = 4      # z = (forward speed, lateral speed)
MEAS_POSE = 5          # z = (x, y, yaw)
MEAS_WATER_SPEED = 6   # z = (forward speed through the water,)
MEAS_WATER_VEL = 7     # z = (forward, lateral speed through the water)

MEAS_DIM = np.array([2, 2, 1, 1, 2, 3, 1, 2], np.int64)

# workspace rows (one float64 (WS_ROWS, N) array): F / temporaries
WS_ROWS = 4 * N + 4 * M_MAX


@njit(cache=True)
def _wrap(a):
    return (a + math.pi) % (2.0 * math.pi) - math.pi


@njit(cache=True)
def ekf_predict(x, P, gyro_z, accel_x, accel_y, dt, q, ws):
    """Propagate the nominal state and the error covariance by one IMU sample.

    gyro_z [rad/s], accel_x/y [m/s^2] body frame (x forward, y left), dt [s].
    q = (accel noise [m/s^2], gyro noise [rad/s], gyro bias walk [rad/s/sqrt(s)],
    accel bias walk [m/s^2/sqrt(s)], current walk [m/s/sqrt(s)]).
    ws: (WS_ROWS, N) scratch."""
    c = math.cos(x[YAW])
    s = math.sin(x[YAW])
    abx = accel_x - x[BAX]
    aby = accel_y - x[BAY]
    anx = c * abx - s * aby
    any_ = s * abx + c * aby
    # Jacobian of the error propagation, evaluated at the prior state
    F = ws[0:N]
    for i in range(N):
        for j in range(N):
            F[i, j] = 0.0
        F[i, i] = 1.0
    F[PX, VX] = dt
    F[PY, VY] = dt
    F[VX, YAW] = -any_ * dt
    F[VY, YAW] = anx * dt
    F[VX, BAX] = -c * dt
    F[VX, BAY] = s * dt
    F[VY, BAX] = -s * dt
    F[VY, BAY] = -c * dt
    F[YAW, BG] = -dt
    # nominal state
    x[PX] += x[VX] * dt + 0.5 * anx * dt * dt
    x[PY] += x[VY] * dt + 0.5 * any_ * dt * dt
    x[VX] += anx * dt
    x[VY] += any_ * dt
    x[YAW] = _wrap(x[YAW] + (gyro_z - x[BG]) * dt)
    # P <- F P F^T + Q
    T = ws[N:2 * N]
    for i in range(N):
        for j in range(N):
            acc = 0.0
            for k in range(N):
                acc += F[i, k] * P[k, j]
            T[i, j] = acc
    for i in range(N):
        for j in range(i, N):
            acc = 0.0
            for k in range(N):
                acc += T[i, k] * F[j, k]
            P[i, j] = acc
            P[j, i] = acc
    qa = q[0] * dt
    qg = q[1] * dt
    P[VX, VX] += qa * qa
    P[VY, VY] += qa * qa
    P[YAW, YAW] += qg * qg
    P[BG, BG] += q[2] * q[2] * dt
    P[BAX, BAX] += q[3] * q[3] * dt
    P[BAY, BAY] += q[3] * q[3] * dt
    P[CX, CX] += q[4] * q[4] * dt
    P[CY, CY] += q[4] * q[4] * dt


@njit(cache=True)
def _model(x, kind, H, h):
    """Predicted measurement h(x) and its Jacobian H (rows 0..m-1)."""
    for i in range(M_MAX):
        h[i] = 0.0
        for j in range(N):
            H[i, j] = 0.0
    c = math.cos(x[YAW])
    s = math.sin(x[YAW])
    if kind == MEAS_GNSS_POS:
        h[0] = x[PX]
        h[1] = x[PY]
        H[0, PX] = 1.0
        H[1, PY] = 1.0
    elif kind == MEAS_GNSS_VEL:
        h[0] = x[VX]
        h[1] = x[VY]
        H[0, VX] = 1.0
        H[1, VY] = 1.0
    elif kind == MEAS_YAW:
        h[0] = x[YAW]
        H[0, YAW] = 1.0
    elif kind == MEAS_BODY_SPEED or kind == MEAS_BODY_VEL:
        h[0] = c * x[VX] + s * x[VY]
        H[0, VX] = c
        H[0, VY] = s
        H[0, YAW] = -s * x[VX] + c * x[VY]
        if kind == MEAS_BODY_VEL:
            h[1] = -s * x[VX] + c * x[VY]
            H[1, VX] = -s
            H[1, VY] = c
            H[1, YAW] = -c * x[VX] - s * x[VY]
    elif kind == MEAS_POSE:
        h[0] = x[PX]
        h[1] = x[PY]
        h[2] = x[YAW]
        H[0, PX] = 1.0
        H[1, PY] = 1.0
        H[2, YAW] = 1.0
    elif kind == MEAS_WATER_SPEED or kind == MEAS_WATER_VEL:
        wx = x[VX] - x[CX]
        wy = x[VY] - x[CY]
        h[0] = c * wx + s * wy
        H[0, VX] = c
        H[0, VY] = s
        H[0, YAW] = -s * wx + c * wy
        H[0, CX] = -c
        H[0, CY] = -s
        if kind == MEAS_WATER_VEL:
            h[1] = -s * wx + c * wy
            H[1, VX] = -s
            H[1, VY] = c
            H[1, YAW] = -c * wx - s * wy
            H[1, CX] = s
            H[1, CY] = -c


@njit(cache=True)
def _invert_spd(A, Ainv, m, L, y):
    """Inverse of a small symmetric positive-definite matrix by Cholesky
    (top-left m x m blocks; L and y are scratch).  False if A is not SPD."""
    for i in range(m):
        for j in range(i + 1):
            acc = A[i, j]
            for k in range(j):
                acc -= L[i, k] * L[j, k]
            if i == j:
                if acc <= 0.0:
                    return False
                L[i, i] = math.sqrt(acc)
            else:
                L[i, j] = acc / L[j, j]
    # Ainv = L^-T L^-1, column by column
    for col in range(m):
        # solve L y = e_col
        for i in range(m):
            acc = 1.0 if i == col else 0.0
            for k in range(i):
                acc -= L[i, k] * y[k]
            y[i] = acc / L[i, i]
        # solve L^T z = y
        for i in range(m - 1, -1, -1):
            acc = y[i]
            for k in range(i + 1, m):
                acc -= L[k, i] * Ainv[k, col]
            Ainv[i, col] = acc / L[i, i]
    return True


@njit(cache=True)
def ekf_update(x, P, kind, z, R, threshold, apply, ws, out):
    """Gate and fuse one measurement.

    z (m,), R (m, m) measurement covariance; threshold the chi-square bound on
    the normalised innovation squared (NIS).  ``apply`` False only tests.
    out receives (NIS, test ratio = NIS / threshold, innovation[0..m-1]).
    Returns 1 fused, 0 rejected by the gate, -1 numerically unusable."""
    m = MEAS_DIM[kind]
    H = ws[2 * N:2 * N + M_MAX]
    PHt = ws[3 * N:4 * N]          # (N, N) rows, first m columns used
    S = ws[4 * N:4 * N + M_MAX]
    Sinv = ws[4 * N + M_MAX:4 * N + 2 * M_MAX]
    K = ws[N:2 * N]                # (N, N) rows, first m columns used
    h = ws[4 * N + 2 * M_MAX]      # one row of N as a vector
    y = ws[4 * N + 2 * M_MAX + 1]
    _model(x, kind, H, h)
    for i in range(m):
        y[i] = z[i] - h[i]
    if kind == MEAS_YAW:
        y[0] = _wrap(y[0])
    elif kind == MEAS_POSE:
        y[2] = _wrap(y[2])
    # PHt = P H^T  (N x m); S = H P H^T + R
    for i in range(N):
        for j in range(m):
            acc = 0.0
            for k in range(N):
                acc += P[i, k] * H[j, k]
            PHt[i, j] = acc
    for i in range(m):
        for j in range(m):
            acc = R[i, j]
            for k in range(N):
                acc += H[i, k] * PHt[k, j]
            S[i, j] = acc
    for i in range(m):
        for j in range(i + 1, m):
            v = 0.5 * (S[i, j] + S[j, i])
            S[i, j] = v
            S[j, i] = v
    if not _invert_spd(S, Sinv, m, ws[4 * N + 2 * M_MAX + 2:4 * N + 3 * M_MAX + 2],
                       ws[4 * N + 3 * M_MAX + 2]):
        out[0] = np.inf
        out[1] = np.inf
        return -1
    nis = 0.0
    for i in range(m):
        for j in range(m):
            nis += y[i] * Sinv[i, j] * y[j]
    out[0] = nis
    out[1] = nis / threshold
    for i in range(m):
        out[2 + i] = y[i]
    if nis > threshold:
        return 0
    if not apply:
        return 1
    # K = PHt Sinv
    for i in range(N):
        for j in range(m):
            acc = 0.0
            for k in range(m):
                acc += PHt[i, k] * Sinv[k, j]
            K[i, j] = acc
    # error-state estimate dx = K y, injected into the nominal state (for a
    # planar vehicle the yaw error is additive, so the reset Jacobian is I)
    for i in range(N):
        acc = 0.0
        for k in range(m):
            acc += K[i, k] * y[k]
        x[i] += acc
    x[YAW] = _wrap(x[YAW])
    # Joseph form P <- (I - K H) P (I - K H)^T + K R K^T, symmetric
    A = ws[0:N]                    # I - K H
    for i in range(N):
        for j in range(N):
            acc = 1.0 if i == j else 0.0
            for k in range(m):
                acc -= K[i, k] * H[k, j]
            A[i, j] = acc
    T = ws[3 * N:4 * N]            # A P  (PHt no longer needed)
    for i in range(N):
        for j in range(N):
            acc = 0.0
            for k in range(N):
                acc += A[i, k] * P[k, j]
            T[i, j] = acc
    for i in range(N):
        for j in range(i, N):
            acc = 0.0
            for k in range(N):
                acc += T[i, k] * A[j, k]
            for a in range(m):
                ka = K[i, a]
                for b in range(m):
                    acc += ka * R[a, b] * K[j, b]
            P[i, j] = acc
            P[j, i] = acc
    return 1


@njit(cache=True)
def ekf_predict_batch(x, P, samples, t_last, q, ws, min_dt, max_dt, integrate):
    """``ekf_predict`` over a block of IMU samples, rows (t, gyro_x, gyro_y,
    gyro_z, accel_x, accel_y, accel_z) in time order.  Samples less than
    ``min_dt`` after the previous one are skipped; gaps longer than
    ``max_dt`` are integrated in max_dt steps.  ``integrate`` False only
    advances the time (filter not initialised).  Returns (time of the last
    sample used, distance travelled [m] by the estimate, last gyro_z,
    status): status 0 ok, -1 a non-finite value, -2 samples out of time
    order -- both checked before anything is integrated."""
    travelled = 0.0
    gz = 0.0
    for r in range(samples.shape[0]):
        for c in range(7):
            if not math.isfinite(samples[r, c]):
                return t_last, 0.0, 0.0, -1
        if r > 0 and samples[r, 0] < samples[r - 1, 0]:
            return t_last, 0.0, 0.0, -2
    for r in range(samples.shape[0]):
        t = samples[r, 0]
        dt = t - t_last
        if dt < min_dt:
            continue
        t_last = t
        gz = samples[r, 3]
        if not integrate:
            continue
        travelled += math.sqrt(x[VX] * x[VX] + x[VY] * x[VY]) * dt
        while dt > 1e-12:
            step = min(dt, max_dt)
            ekf_predict(x, P, samples[r, 3], samples[r, 4], samples[r, 5], step, q, ws)
            dt -= step
    return t_last, travelled, gz, 0
