"""Ankle angle over stance from a shank pod beside the foot pod (SCIENCE.md §9).

Ankle angle = shank pitch − foot pitch, both as rotations about the medio-lateral (left) axis:
positive shank pitch = knee forward of the ankle, positive foot pitch = toe down (the foot
frame's ``gyr_y > 0`` = plantar flexion). Dorsiflexion is positive; 0 = standing.

Method: the difference of the two pitch velocities is integrated (gyro biases taken from the
standing period at the start of the recording, when both pods are still; the angle is 0 there by
definition). Integration drift is removed by subtracting a centred moving average of the angle
over ``drift_window_s`` and adding back its value over the first window of gait (steady running:
the stride-averaged ankle angle does not change over a run). Per contact, the maximum over
IC..TO is the maximum dorsiflexion. Assumptions: both pods' y axes are the medio-lateral axis
(use :func:`sensor_service.kernels.estimate_mounting` on each pod), they share one clock, and
the run starts standing. Uncertainty: a 5° sensor-to-segment misalignment tilts the measured
axis, the drift removal leaves the stride mean from the first window; expect a few degrees.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from sensor_service.errors import FootpodError

__all__ = ["AnkleAngleError", "ankle_angle_deg", "max_dorsiflexion_deg"]

_STILL_DEG_S = 20.0


class AnkleAngleError(FootpodError, ValueError):
    """The two pods cannot give an ankle angle (no standing start, mismatched lengths)."""


def ankle_angle_deg(
    foot_gyr_deg_s: NDArray[np.float64],
    shank_gyr_deg_s: NDArray[np.float64],
    *,
    sampling_rate_hz: float,
    drift_window_s: float = 10.0,
    stand_s: float = 0.5,
) -> NDArray[np.float64]:
    """Ankle angle (deg, dorsiflexion positive) at every sample; see the module docstring."""
    foot = np.asarray(foot_gyr_deg_s, dtype=np.float64).reshape(-1, 3)
    shank = np.asarray(shank_gyr_deg_s, dtype=np.float64).reshape(-1, 3)
    if foot.shape != shank.shape:
        raise AnkleAngleError(f"foot {foot.shape} and shank {shank.shape} samples differ")
    fs = float(sampling_rate_hz)
    n_stand = max(1, round(stand_s * fs))
    w = np.linalg.norm(foot, axis=1) + np.linalg.norm(shank, axis=1)
    still = w[:n_stand] < 2 * _STILL_DEG_S
    if foot.shape[0] < 4 * n_stand or not still.all():
        raise AnkleAngleError(
            f"record at least {stand_s:g} s of standing still with both pods at the start"
        )
    rate = (shank[:, 1] - shank[:n_stand, 1].mean()) - (foot[:, 1] - foot[:n_stand, 1].mean())
    angle = np.cumsum(rate) / fs
    angle -= angle[:n_stand].mean()
    win = max(3, round(drift_window_s * fs))
    if angle.size > 2 * win:
        kernel = np.ones(win) / win
        trend = np.convolve(
            np.pad(angle, (win // 2, win - 1 - win // 2), mode="edge"), kernel, "valid"
        )
        moving = np.flatnonzero(w > 4 * _STILL_DEG_S)
        start = int(moving[0]) if moving.size else 0
        ref = trend[min(start + win // 2, trend.size - 1)]
        corrected = angle - trend + ref
        corrected[:start] = angle[:start]
        angle = corrected
    return angle


def max_dorsiflexion_deg(
    angle_deg: NDArray[np.float64], ic_idx: NDArray[np.float64], to_idx: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Maximum of ``angle_deg`` over each contact [IC, TO] (sample indices); NaN if outside."""
    out = np.full(len(ic_idx), np.nan)
    for k, (ic, to) in enumerate(zip(ic_idx, to_idx, strict=True)):
        lo, hi = int(np.ceil(ic)), int(np.floor(to))
        if 0 <= lo <= hi < angle_deg.size:
            out[k] = float(np.max(angle_deg[lo : hi + 1]))
    return out
