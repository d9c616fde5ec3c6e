"""A constant-velocity Kalman filter over many boxes at once (numpy, batched).

State per box: (cx, cy, a, h, vcx, vcy, va, vh): centre, aspect ratio w/h, height and their velocities, as in SORT
and ByteTrack. Time is measured in `steps` of the nominal frame interval, which may be fractional or larger than one:
a live source that dropped frames moves its boxes by the time that passed, not by one frame. Noise scales with the box
height (ByteTrack's weights 1/20 for position and 1/160 for velocity, per nominal frame).

With this model (diagonal noise, each coordinate moved only by its own velocity, measured directly) the 8x8
covariance is four independent 2x2 blocks and stays so; it is kept as `cov` [N,3,4]: per coordinate the position
variance, the position-velocity covariance and the velocity variance. The filter is the full one, computed
elementwise (no 8x8 products, no matrix solve).
"""
import numpy as np

STD_POSITION = 1.0 / 20
STD_VELOCITY = 1.0 / 160
_A_POS, _A_VEL, _A_MEAS = 1e-2, 1e-5, 1e-1  # the aspect ratio's fixed noise (position, velocity, measurement)


def xyxy_to_xyah(boxes):
    # type: (np.ndarray) -> np.ndarray
    """[N,4] x1,y1,x2,y2 -> [N,4] cx,cy,w/h,h (float64)."""
    b = np.asarray(boxes, np.float64)
    out = np.empty((len(b), 4))
    w = b[:, 2] - b[:, 0]
    h = np.maximum(b[:, 3] - b[:, 1], 1e-6)
    out[:, 0] = b[:, 0] + w / 2
    out[:, 1] = b[:, 1] + h / 2
    out[:, 2] = w / h
    out[:, 3] = h
    return out


def xyah_to_xyxy(xyah):
    # type: (np.ndarray) -> np.ndarray
    """[N,>=4] cx,cy,a,h(,...) -> [N,4] x1,y1,x2,y2."""
    out = np.empty((len(xyah), 4))
    h = xyah[:, 3]
    w = xyah[:, 2] * h
    out[:, 0] = xyah[:, 0] - w / 2
    out[:, 1] = xyah[:, 1] - h / 2
    out[:, 2] = out[:, 0] + w
    out[:, 3] = out[:, 1] + h
    return out


def _noise(h, wp, a):
    # type: (np.ndarray, float, float) -> np.ndarray
    """[N,4] variances (wp*h)^2 for cx, cy, h and a^2 for the aspect ratio."""
    v = np.empty((len(h), 4))
    hh = (wp * h) ** 2
    v[:, 0] = hh
    v[:, 1] = hh
    v[:, 2] = a * a
    v[:, 3] = hh
    return v


def initiate(measurements):
    # type: (np.ndarray) -> tuple
    """Means [N,8] and covariances [N,3,4] of new tracks from their first xyah measurements [N,4]."""
    n = len(measurements)
    mean = np.zeros((n, 8))
    mean[:, :4] = measurements
    h = measurements[:, 3]
    cov = np.zeros((n, 3, 4))
    cov[:, 0] = _noise(h, 2 * STD_POSITION, 1e-2)
    cov[:, 2] = _noise(h, 10 * STD_VELOCITY, 1e-5)
    return mean, cov


def predict(mean, cov, steps):
    # type: (np.ndarray, np.ndarray, float) -> tuple
    """Means and covariances `steps` nominal frames later (new arrays); process noise grows with the time passed."""
    if len(mean) == 0 or steps <= 0:
        return mean, cov
    k = float(steps)
    h = mean[:, 3]
    p, c, v = cov[:, 0], cov[:, 1], cov[:, 2]
    out = np.empty_like(cov)
    out[:, 0] = p + (2 * k) * c + (k * k) * v + k * _noise(h, STD_POSITION, _A_POS)
    out[:, 1] = c + k * v
    out[:, 2] = v + k * _noise(h, STD_VELOCITY, _A_VEL)
    mean = mean.copy()
    mean[:, :4] += k * mean[:, 4:]
    return mean, out


def update(mean, cov, measurements):
    # type: (np.ndarray, np.ndarray, np.ndarray) -> tuple
    """Means and covariances corrected by xyah measurements [N,4] (one per row)."""
    if len(mean) == 0:
        return mean, cov
    p, c, v = cov[:, 0], cov[:, 1], cov[:, 2]
    s = p + _noise(mean[:, 3], STD_POSITION, _A_MEAS)
    kp = p / s
    kv = c / s
    innov = measurements - mean[:, :4]
    mean = mean.copy()
    mean[:, :4] += kp * innov
    mean[:, 4:] += kv * innov
    out = np.empty_like(cov)
    out[:, 0] = p - kp * p
    out[:, 1] = c - kp * c
    out[:, 2] = v - kv * c
    return mean, out
