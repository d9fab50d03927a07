"""Real data: the gaitmap walking sample (foot IMUs, motion-capture IC/TO truth).

Run ``.venv/bin/pytest tests/kernels/test_kernel_walking.py -s`` to print the figures.
Thresholds are the measured figures with a small margin, not targets.
"""

from __future__ import annotations

import numpy as np
from kernel_eval import accuracy

from sensor_service.kernels import detect_steps
from sensor_service.kernels._gaitmap_data import GAITMAP_SAMPLING_RATE_HZ, GaitmapFoot

FS = GAITMAP_SAMPLING_RATE_HZ
TOL_S = 0.1  # an IC within 100 ms of a truth IC is the same contact


def _walking_accuracy(foot: GaitmapFoot):  # type: ignore[no-untyped-def]
    steps = detect_steps(foot.acc_m_s2, foot.gyr_deg_s, sampling_rate_hz=FS)
    # Every truth IC counts; its TO is known only where the stride list annotates it.
    truth_ic = foot.ic_idx
    truth_to = np.full(truth_ic.size, np.nan)
    for ic, to in foot.contacts:
        truth_to[truth_ic == ic] = to
    # Only steps inside the annotated span can be judged.
    inside = (steps["ic_idx"] >= truth_ic[0] - TOL_S * FS) & (
        steps["ic_idx"] <= truth_ic[-1] + TOL_S * FS
    )
    det = steps[inside]
    return steps, accuracy(
        det["ic_idx"] / FS, det["to_idx"] / FS, truth_ic / FS, truth_to / FS, TOL_S
    )


def test_walking_events(gaitmap_foot: tuple[str, GaitmapFoot]) -> None:
    side, foot = gaitmap_foot
    steps, acc = _walking_accuracy(foot)
    print("\n" + acc.summary(f"gaitmap walking {side}"))
    print(f"  strike angle median {np.nanmedian(steps['strike_angle_deg']):.1f} deg (heel strike)")
    assert acc.f1 >= 0.95
    # IC is the landing impact; motion capture marks heel contact about 20 ms earlier.
    assert 10.0 <= np.median(acc.ic_err_ms) <= 30.0
    assert np.median(np.abs(acc.to_err_ms)) <= 8.0
    assert np.median(np.abs(acc.gct_err_ms)) <= 30.0
    # Walking heel strike: the toe is up at IC.
    assert 10.0 <= np.nanmedian(steps["strike_angle_deg"]) <= 35.0
