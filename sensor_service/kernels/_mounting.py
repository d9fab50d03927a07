"""Estimate how a pod is strapped to the foot: the rotation from pod axes to the foot frame.

Foot frame (gaitmap's): x to the toe, y to the runner's left, z up; ``gyr_y > 0`` = plantar
flexion. From a stretch of walking or running, with some standing or foot-flat phases:

1. **z (up)**: the mean accelerometer direction while the foot is still (gyro norm and
   ``|acc| − 1 g`` small): at rest the accelerometer measures +1 g straight up.
2. **y (medio-lateral)**: the dominant rotation axis of the foot during motion, the first
   principal axis of the gyro samples (uncentred second moment): foot rotation in gait is
   mostly sagittal pitch (Falbriard et al. 2018, Front Physiol 9:610: events from the pitch
   angular velocity; Rampp et al. 2015: medio-lateral gyro). Projected orthogonal to z.
3. **Sign of y**: gravity cannot tell left from right, but gait can: every push-off starts with
   the heel rising, a plantar flexion (``gyr_y > 0``), before the swing's toe-up rotation. For each
   time the foot leaves a still phase, the first large pitch velocity votes for the sign.
4. **x** = y × z (right-handed).

Returns ``R`` with ``v_foot = R @ v_pod``: rows are the foot axes in pod coordinates, as
:meth:`sensor_service.profiles.Mounting.rotation` returns them.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

from sensor_service.errors import FootpodError
from sensor_service.kernels._params import G0_M_S2

__all__ = ["MountingError", "estimate_mounting"]

_STILL_GYR_DEG_S: Final = 50.0
_STILL_ACC_M_S2: Final = 1.5
_MOVING_GYR_DEG_S: Final = 100.0
_MIN_STILL: Final = 20
_MIN_MOVING: Final = 50


class MountingError(FootpodError, ValueError):
    """The recording cannot tell how the pod is mounted; ``reason`` says what is missing."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(
            f"cannot estimate the pod mounting: {reason}; record a few seconds of standing "
            "followed by at least ten steps of walking or running"
        )


def _runs(mask: NDArray[np.bool_]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Start and end (exclusive) indices of the runs of True in ``mask``."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def estimate_mounting(
    acc_m_s2: NDArray[np.float64],
    gyr_deg_s: NDArray[np.float64],
    *,
    min_votes: int = 3,
) -> NDArray[np.float64]:
    """Rotation ``R`` (3×3) from pod to foot frame, ``v_foot = R @ v_pod``, from gait data.

    ``acc_m_s2`` (with gravity) and ``gyr_deg_s`` are (n, 3) arrays in the pod frame. Raises
    :class:`MountingError` when there is too little standing or motion, or the push-off
    sign vote is inconclusive (fewer than ``min_votes`` departures, or no clear majority).
    """
    acc = np.asarray(acc_m_s2, dtype=np.float64).reshape(-1, 3)
    gyr = np.asarray(gyr_deg_s, dtype=np.float64).reshape(-1, 3)
    if acc.shape != gyr.shape:
        raise ValueError(f"acc {acc.shape} and gyr {gyr.shape} must have the same shape")
    a_norm = np.linalg.norm(acc, axis=1)
    w_norm = np.linalg.norm(gyr, axis=1)
    still = (w_norm < _STILL_GYR_DEG_S) & (np.abs(a_norm - G0_M_S2) < _STILL_ACC_M_S2)
    moving = w_norm > _MOVING_GYR_DEG_S
    if still.sum() < _MIN_STILL:
        raise MountingError(f"only {int(still.sum())} still samples (need {_MIN_STILL})")
    if moving.sum() < _MIN_MOVING:
        raise MountingError(f"only {int(moving.sum())} moving samples (need {_MIN_MOVING})")

    up = acc[still].mean(axis=0)
    z = up / np.linalg.norm(up)
    moment = gyr[moving].T @ gyr[moving]
    _, vecs = np.linalg.eigh(moment)
    axis = vecs[:, -1]  # largest eigenvalue
    y = axis - (axis @ z) * z
    norm = np.linalg.norm(y)
    if norm < 0.5:
        raise MountingError("the main rotation axis is close to vertical: is this gait?")
    y /= norm

    # Sign: at each departure from a still phase, the first large pitch velocity is push-off.
    pitch = gyr @ y
    _, ends = _runs(still)
    votes = 0
    total = 0
    for end in ends:
        big = np.flatnonzero(np.abs(pitch[end:]) > _MOVING_GYR_DEG_S)
        if big.size == 0:
            continue
        first = end + int(big[0])
        if np.any(still[end:first]):
            continue  # settled again before moving: not a departure
        total += 1
        votes += 1 if pitch[first] > 0 else -1
    if total < min_votes or abs(votes) < max(1, total // 3):
        raise MountingError(f"push-off direction unclear ({votes:+d} of {total} departures)")
    if votes < 0:
        y = -y
    x = np.cross(y, z)
    return np.vstack([x, y, z])
