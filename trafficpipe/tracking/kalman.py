"""A constant-velocity Kalman filter over many boxes at once (numpy, batched).

State per box: (cx, cy, a, h, vcx, vcy, va, vh): centre, aspect ratio w/h, height and their velocities, as in SORT
and ByteTrack. Time is measured in `steps` of the nominal frame interval, which may be fractional or larger than one:
a live source that dropped frames moves its boxes by the time that passed, not by one frame. Noise scales with the box
height (ByteTrack's weights 1/20 for position and 1/160 for velocity, per nominal frame).
"""
import numpy as np

STD_POSITION = 1.0 / 20
STD_VELOCITY = 1.0 / 160


def xyxy_to_xyah(boxes):
    # type: (np.ndarray) -> np.ndarray
    """[N,4] x1,y1,x2,y2 -> [N,4] cx,cy,w/h,h (float64)."""
    b = np.asarray(boxes, np.float64)
    w = b[:, 2] - b[:, 0]
    h = np.maximum(b[:, 3] - b[:, 1], 1e-6)
    return np.stack([b[:, 0] + w / 2, b[:, 1] + h / 2, w / h, h], axis=1)


def xyah_to_xyxy(xyah):
    # type: (np.ndarray) -> np.ndarray
    """[N,>=4] cx,cy,a,h(,...) -> [N,4] x1,y1,x2,y2."""
    cx, cy, a, h = xyah[:, 0], xyah[:, 1], xyah[:, 2], xyah[:, 3]
    w = a * h
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


def initiate(measurements):
    # type: (np.ndarray) -> tuple
    """Means [N,8] and covariances [N,8,8] of new tracks from their first xyah measurements [N,4]."""
    n = len(measurements)
    mean = np.zeros((n, 8))
    mean[:, :4] = measurements
    h = measurements[:, 3]
    std = np.stack([2 * STD_POSITION * h, 2 * STD_POSITION * h, np.full(n, 1e-2), 2 * STD_POSITION * h,
                    10 * STD_VELOCITY * h, 10 * STD_VELOCITY * h, np.full(n, 1e-5), 10 * STD_VELOCITY * h], axis=1)
    cov = np.zeros((n, 8, 8))
    idx = np.arange(8)
    cov[:, idx, idx] = std ** 2
    return mean, cov


def predict(mean, cov, steps):
    # type: (np.ndarray, np.ndarray, float) -> tuple
    """Means and covariances `steps` nominal frames later (in place-free: new arrays)."""
    n = len(mean)
    if n == 0 or steps <= 0:
        return mean, cov
    F = np.eye(8)
    F[np.arange(4), np.arange(4) + 4] = steps
    h = mean[:, 3]
    std = np.stack([STD_POSITION * h, STD_POSITION * h, np.full(n, 1e-2), STD_POSITION * h,
                    STD_VELOCITY * h, STD_VELOCITY * h, np.full(n, 1e-5), STD_VELOCITY * h], axis=1)
    mean = mean.dot(F.T)
    cov = np.matmul(np.matmul(F, cov), F.T)
    idx = np.arange(8)
    cov[:, idx, idx] += (std ** 2) * steps  # process noise grows with the time that passed
    return mean, cov


def update(mean, cov, measurements):
    # type: (np.ndarray, np.ndarray, np.ndarray) -> tuple
    """Means and covariances corrected by xyah measurements [N,4] (one per row)."""
    if len(mean) == 0:
        return mean, cov
    h = mean[:, 3]
    std = np.stack([STD_POSITION * h, STD_POSITION * h, np.full(len(h), 1e-1), STD_POSITION * h], axis=1)
    S = cov[:, :4, :4].copy()
    idx = np.arange(4)
    S[:, idx, idx] += std ** 2
    PHt = cov[:, :, :4]  # P H^T, [N,8,4]
    K = np.linalg.solve(S, np.transpose(PHt, (0, 2, 1)))  # S^-1 H P = K^T, [N,4,8] (S symmetric)
    K = np.transpose(K, (0, 2, 1))
    innov = measurements - mean[:, :4]
    mean = mean + np.einsum("nij,nj->ni", K, innov)
    cov = cov - np.matmul(K, PHt.transpose(0, 2, 1))  # P - K H P
    return mean, cov
