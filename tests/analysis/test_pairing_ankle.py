"""Pairing of both feet, L/R balance, and the ankle angle from a shank pod beside the foot pod."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_service.analysis import (
    AnkleAngleError,
    ankle_angle_deg,
    contact_balance,
    max_dorsiflexion_deg,
    pair_feet,
)
from sensor_service.kernels import detect_steps
from sensor_service.sim.gait import GaitSimulator, RunnerParams


def test_pair_feet_matches_the_live_pairer_rules() -> None:
    l_ic = np.array([0.0, 0.7, 1.4])
    l_to = l_ic + 0.22
    r_ic = np.array([0.35, 1.05, 5.0])
    r_to = r_ic + 0.22
    left, right = pair_feet(l_ic, l_to, r_ic, r_to)
    assert np.isnan(left.step_ms[0])  # no right contact before it
    assert left.step_ms[1:] == pytest.approx([350.0, 350.0])
    assert left.flight_ms[1:] == pytest.approx([130.0, 130.0])
    assert left.cadence_spm[1] == pytest.approx(60000 / 350)
    assert right.step_ms[:2] == pytest.approx([350.0, 350.0])
    assert np.isnan(right.step_ms[2])  # 3.6 s after the last left contact: a stop


def test_overlapping_contacts_are_not_paired() -> None:
    left, _ = pair_feet([1.0], [1.3], [0.9], [1.1])  # other foot still on the ground
    assert np.isnan(left.step_ms[0])


def test_contact_balance() -> None:
    bal = contact_balance([250, 252, 248], [230, 231, 229])
    assert bal.left_gct_ms == 250
    assert bal.left_share_pct == pytest.approx(100 * 250 / 480)
    assert bal.asymmetry_pct == pytest.approx(100 * 20 / 240)


@pytest.mark.parametrize("strike", ["rearfoot", "forefoot"])
def test_max_dorsiflexion_from_shank_and_foot_pods(strike: str) -> None:
    fs = 400.0
    sim = GaitSimulator(
        RunnerParams(strike=strike, max_dorsiflexion_deg=25.0),  # type: ignore[arg-type]
        duration_s=30.0,
        seed=2,
    )
    t = np.arange(int(sim.end_s * fs)) / fs
    acc, gyr = sim.render("left", t)
    _, shank_gyr = sim.render_pod("left", t, "shank")
    steps = detect_steps(acc, gyr, sampling_rate_hz=fs)
    angle = ankle_angle_deg(gyr, shank_gyr, sampling_rate_hz=fs)
    got = max_dorsiflexion_deg(angle, steps["ic_idx"], steps["to_idx"])
    truth = sim.ankle_truth("left")
    err = []
    for k, ic in enumerate(steps["ic_idx"] / fs):
        i = int(np.argmin(np.abs(truth.ic_s - ic)))
        if abs(truth.ic_s[i] - ic) < 0.04:
            err.append(got[k] - truth.max_dorsiflexion_deg[i])
    e = np.asarray(err)
    print(
        f"\nmax dorsiflexion {strike}: bias {np.median(e):+.2f} deg, p95 |err| "
        f"{np.percentile(np.abs(e), 95):.2f} deg over {e.size} steps"
    )
    assert e.size >= 40
    assert abs(np.median(e)) <= 2.5  # measured +1.4 deg
    assert np.percentile(np.abs(e), 95) <= 10.0  # measured 5.5-8.7 deg


def test_ankle_angle_needs_a_standing_start() -> None:
    rng = np.random.default_rng(0)
    moving = rng.normal(0, 300, (4000, 3))
    with pytest.raises(AnkleAngleError, match="standing"):
        ankle_angle_deg(moving, moving, sampling_rate_hz=400.0)
