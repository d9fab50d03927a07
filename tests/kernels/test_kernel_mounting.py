"""Mounting estimation: the pod may be strapped on in any orientation."""

from __future__ import annotations

import numpy as np
import pytest
from kernel_eval import accuracy, sim_run

from sensor_service.kernels import MountingError, detect_steps, estimate_mounting
from sensor_service.kernels._gaitmap_data import GAITMAP_SAMPLING_RATE_HZ, GaitmapFoot
from sensor_service.profiles import Mounting
from sensor_service.sim.gait import GaitSimulator, RunnerParams
from sensor_service.sim.sources import FootSampleSource


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def _angle_deg(r: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1, 1))))


@pytest.mark.parametrize("strike", ["rearfoot", "midfoot", "forefoot"])
@pytest.mark.parametrize("side", ["left", "right"])
def test_recovers_random_mounting_on_simulated_run(strike: str, side: str) -> None:
    fs = 416.0
    acc, gyr, sim = sim_run(strike, sampling_rate_hz=fs, side=side)
    rng = np.random.default_rng(hash((strike, side)) % 2**32)
    for _ in range(3):
        pod_from_foot = _random_rotation(rng)
        acc_pod, gyr_pod = acc @ pod_from_foot.T, gyr @ pod_from_foot.T
        r = estimate_mounting(acc_pod, gyr_pod)
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(r) == pytest.approx(1.0)
        assert _angle_deg(r @ pod_from_foot) < 1.0
        steps = detect_steps(acc_pod @ r.T, gyr_pod @ r.T, sampling_rate_hz=fs)
        truth = sim.truth(side)
        res = accuracy(steps["ic_idx"] / fs, steps["to_idx"] / fs, truth.ic_s, truth.to_s, 0.04)
        assert res.f1 == 1.0
        assert np.median(np.abs(res.gct_err_ms)) <= 5.0


def test_walking_mounting_is_equivariant(gaitmap_foot: tuple[str, GaitmapFoot]) -> None:
    """Rotating the real recording rotates the estimate, and events stay as good."""
    _, foot = gaitmap_foot
    base = estimate_mounting(foot.acc_m_s2, foot.gyr_deg_s)
    # the sample's lateral sensor is ~20° off a gravity-aligned foot frame (yaw and roll)
    assert _angle_deg(base) < 30.0
    rng = np.random.default_rng(7)
    pod_from_data = _random_rotation(rng)
    r = estimate_mounting(foot.acc_m_s2 @ pod_from_data.T, foot.gyr_deg_s @ pod_from_data.T)
    assert _angle_deg((r @ pod_from_data) @ base.T) < 0.1
    fs = GAITMAP_SAMPLING_RATE_HZ
    steps = detect_steps(foot.acc_m_s2 @ base.T, foot.gyr_deg_s @ base.T, sampling_rate_hz=fs)
    truth_to = np.full(foot.ic_idx.size, np.nan)
    for ic, to in foot.contacts:
        truth_to[foot.ic_idx == ic] = to
    res = accuracy(steps["ic_idx"] / fs, steps["to_idx"] / fs, foot.ic_idx / fs, truth_to / fs, 0.1)
    assert res.f1 >= 0.95


def test_standing_only_is_refused() -> None:
    rng = np.random.default_rng(0)
    acc = np.tile([0.0, 0.0, 9.81], (2000, 1)) + rng.normal(0, 0.05, (2000, 3))
    gyr = rng.normal(0, 1.0, (2000, 3))
    with pytest.raises(MountingError, match="moving samples"):
        estimate_mounting(acc, gyr)


def test_strapped_pod_through_sample_source() -> None:
    """A pod strapped on sideways and tilted 12° (undeclared): declared axes + pitch tilt only
    rotate about the foot's y axis, which the detector is invariant to."""
    fs = 416.0
    sim = GaitSimulator(RunnerParams(strike="forefoot"), duration_s=15.0, seed=4)
    src = FootSampleSource(
        sim, "right", sampling_rate_hz=fs, forward_axis="-y", left_axis="+x", misalignment_deg=12.0
    )
    chunks = []
    while (chunk := src.read(20)) is not None:
        chunks.append(chunk)
    acc_pod = np.concatenate([c[0] for c in chunks])
    gyr_pod = np.concatenate([c[1] for c in chunks])
    declared = Mounting().with_axes("-y", "+x").rotation()
    truth = sim.truth("right")
    for r in (declared, estimate_mounting(acc_pod, gyr_pod)):
        steps = detect_steps(acc_pod @ r.T, gyr_pod @ r.T, sampling_rate_hz=fs)
        res = accuracy(steps["ic_idx"] / fs, steps["to_idx"] / fs, truth.ic_s, truth.to_s, 0.04)
        assert res.f1 == 1.0
        assert np.median(np.abs(res.gct_err_ms)) <= 2.0
        # strike angle is relative to the still foot, so the undeclared tilt cancels
        assert abs(np.nanmedian(steps["strike_angle_deg"]) - np.median(truth.strike_angle_deg)) < 1
