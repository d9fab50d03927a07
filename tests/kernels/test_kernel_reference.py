"""The numba kernel and the slow NumPy reference find the same steps, to the bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
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


@settings(max_examples=30, deadline=None)
@given(
    strike=st.sampled_from(["rearfoot", "midfoot", "forefoot"]),
    fs=st.sampled_from([52.0, 104.0, 208.0, 416.0]),
    swing=st.floats(40.0, 250.0),
    min_swing=st.floats(0.0, 100.0),
    before=st.floats(0.0, 120.0),
    after=st.floats(5.0, 400.0),
    still_ms=st.floats(0.0, 60.0),
    rise=st.floats(0.05, 1.0),
    noise_factor=st.floats(0.0, 8.0),
    onset=st.floats(0.05, 1.0),
    lag=st.floats(0.0, 30.0),
    min_gct=st.floats(20.0, 200.0),
    max_gct=st.floats(210.0, 2500.0),
    to_fit=st.floats(0.0, 40.0),
    extrapolate=st.sampled_from([0.0, 1.0]),
)
def test_reference_fuzzed_params(
    strike: str,
    fs: float,
    swing: float,
    min_swing: float,
    before: float,
    after: float,
    still_ms: float,
    rise: float,
    noise_factor: float,
    onset: float,
    lag: float,
    min_gct: float,
    max_gct: float,
    to_fit: float,
    extrapolate: float,
) -> None:
    acc, gyr, _ = sim_run(strike, sampling_rate_hz=fs, duration_s=6.0, noise_scale=3.0)
    params = EventParams(
        swing_gyr_deg_s=swing,
        min_swing_ms=min_swing,
        ic_before_swing_end_ms=before,
        ic_after_swing_end_max_ms=after,
        still_ms=still_ms,
        impact_rise_frac=rise,
        impact_noise_factor=noise_factor,
        onset_rise_frac=onset,
        jerk_lag_ms=lag,
        min_gct_ms=min_gct,
        max_gct_ms=max_gct,
        to_fit_ms=to_fit,
        onset_extrapolate=extrapolate,
    )
    kw = {"sampling_rate_hz": fs, "params": params, "clip_limit_m_s2": 8.0 * G_M_S2}
    assert_same_steps(detect_steps(acc, gyr, **kw), reference_detect_steps(acc, gyr, **kw))  # type: ignore[arg-type]
