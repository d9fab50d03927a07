"""The numba kernel and the slow NumPy reference find the same steps, to the bit."""

from __future__ import annotations

import numpy as np
import pytest
from kernel_eval import sim_run

from sensor_service.kernels import STEP_DTYPE, EventParams, detect_steps
from sensor_service.kernels._gaitmap_data import GAITMAP_SAMPLING_RATE_HZ, GaitmapFoot
from sensor_service.kernels.reference import reference_detect_steps
from sensor_service.sim.gait import G_M_S2


def assert_same_steps(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == STEP_DTYPE
    assert b.dtype == STEP_DTYPE
    assert a.shape == b.shape
    for name in STEP_DTYPE.names or ():
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_reference_walking(gaitmap_foot: tuple[str, GaitmapFoot]) -> None:
    _, foot = gaitmap_foot
    fs = GAITMAP_SAMPLING_RATE_HZ
    got = detect_steps(foot.acc_m_s2, foot.gyr_deg_s, sampling_rate_hz=fs)
    ref = reference_detect_steps(foot.acc_m_s2, foot.gyr_deg_s, sampling_rate_hz=fs)
    assert got.size > 20
    assert_same_steps(got, ref)


@pytest.mark.parametrize("fs", [104.0, 204.8, 416.0, 833.0])
@pytest.mark.parametrize("strike", ["rearfoot", "midfoot", "forefoot"])
def test_reference_running(strike: str, fs: float) -> None:
    acc, gyr, _ = sim_run(strike, sampling_rate_hz=fs, impact_g=70.0, clip_g=16.0)
    kw = {"sampling_rate_hz": fs, "clip_limit_m_s2": 16.0 * G_M_S2}
    got = detect_steps(acc, gyr, **kw)  # type: ignore[arg-type]
    ref = reference_detect_steps(acc, gyr, **kw)  # type: ignore[arg-type]
    assert got.size > 20
    assert got["clipped"].any()
    assert_same_steps(got, ref)


@pytest.mark.parametrize("seed", range(4))
def test_reference_odd_params_and_noise(seed: int) -> None:
    """Other parameters and a random stream with bursts: both still agree."""
    rng = np.random.default_rng(seed)
    acc, gyr, _ = sim_run("forefoot", sampling_rate_hz=250.0, cadence_spm=190.0, gct_ms=200.0)
    acc = acc + rng.normal(0, 2.0, acc.shape)
    gyr = gyr + rng.normal(0, 30.0, gyr.shape)
    params = EventParams(
        swing_gyr_deg_s=float(rng.uniform(60, 200)),
        min_swing_ms=float(rng.uniform(10, 80)),
        still_ms=float(rng.uniform(5, 40)),
        still_gyr_deg_s=float(rng.uniform(50, 150)),
        impact_rise_frac=float(rng.uniform(0.2, 0.8)),
        min_gct_ms=float(rng.uniform(60, 150)),
        max_gct_ms=float(rng.uniform(300, 2000)),
    )
    kw = {"sampling_rate_hz": 250.0, "params": params}
    assert_same_steps(detect_steps(acc, gyr, **kw), reference_detect_steps(acc, gyr, **kw))  # type: ignore[arg-type]
