"""Public API of the kernels package: dtype, configuration errors, standing still."""

from __future__ import annotations

import numpy as np
import pytest
from kernel_eval import sim_run

from sensor_service.errors import ConfigError
from sensor_service.kernels import STEP_DTYPE, EventParams, StepDetector, detect_steps
from sensor_service.kernels._event_kernel import process_block, unpack_params
from sensor_service.kernels._params import compile_params, pack_params


def test_step_dtype_fields() -> None:
    assert STEP_DTYPE.names == (
        "ic_idx",
        "to_idx",
        "gct_ms",
        "stride_ms",
        "peak_accel_g",
        "strike_angle_deg",
        "clipped",
        "loading_rate_g_s",
    )
    assert STEP_DTYPE["clipped"] == np.dtype(bool)
    assert all(STEP_DTYPE[n] == np.dtype("f8") for n in STEP_DTYPE.names if n != "clipped")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sampling_rate_hz": 0.0},
        {"sampling_rate_hz": float("nan")},
        {"sampling_rate_hz": 400.0, "placement": "hip"},
        {"sampling_rate_hz": 400.0, "clip_limit_m_s2": -1.0},
        {"sampling_rate_hz": 400.0, "params": EventParams(min_gct_ms=500.0, max_gct_ms=400.0)},
        {"sampling_rate_hz": 400.0, "params": EventParams(onset_rise_frac=0.0)},
        {"sampling_rate_hz": 400.0, "params": EventParams(min_swing_ms=float("inf"))},
    ],
)
def test_config_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        StepDetector(**kwargs)  # type: ignore[arg-type]


def test_mismatched_blocks_rejected() -> None:
    det = StepDetector(sampling_rate_hz=400.0)
    with pytest.raises(ValueError, match="equal blocks"):
        det.feed(np.zeros((5, 3)), np.zeros((4, 3)))


def test_standing_still_is_not_a_step() -> None:
    """A minute of standing with noise, shifting weight and a stamp: no step."""
    fs = 400.0
    rng = np.random.default_rng(0)
    n = int(60 * fs)
    acc = np.tile([0.3, 0.1, 9.81], (n, 1)) + rng.normal(0, 0.3, (n, 3))
    gyr = rng.normal(0, 3.0, (n, 3))
    t = np.arange(n) / fs
    gyr[:, 1] += 40.0 * np.sin(2 * np.pi * 0.5 * t)  # rocking heel-toe
    acc[int(30 * fs) : int(30 * fs) + 4, 2] += 60.0  # a stamp
    assert detect_steps(acc, gyr, sampling_rate_hz=fs).size == 0


def test_run_start_and_end_standing_add_no_step() -> None:
    """The simulated run starts and ends standing: exactly the truth contacts come out."""
    for strike in ("rearfoot", "forefoot"):
        acc, gyr, sim = sim_run(strike, sampling_rate_hz=400.0)
        steps = detect_steps(acc, gyr, sampling_rate_hz=400.0)
        truth = sim.truth("left")
        assert steps.size == truth.ic_s.size
        assert steps["ic_idx"][0] / 400.0 == pytest.approx(truth.ic_s[0], abs=0.01)
        assert steps["to_idx"][-1] / 400.0 == pytest.approx(truth.to_s[-1], abs=0.01)


def test_samples_seen_counts_gaps() -> None:
    det = StepDetector(sampling_rate_hz=100.0)
    det.feed(np.zeros((10, 3)), np.zeros((10, 3)))
    det.gap(5)
    det.feed(np.zeros((3, 3)), np.zeros((3, 3)))
    assert det.samples_seen == 18
    assert det.dropped_steps == 0


def test_packed_params_round_trip() -> None:
    kp = compile_params(EventParams(), 833.0, 156.9)
    back = unpack_params(pack_params(kp))
    assert tuple(back) == tuple(kp)
    assert [type(v) for v in back] == [type(v) for v in kp]


def test_any_input_layout_gives_the_same_steps() -> None:
    acc, gyr, _ = sim_run("midfoot", sampling_rate_hz=400.0, duration_s=6.0)  # read-only
    ref = detect_steps(np.array(acc), np.array(gyr), sampling_rate_hz=400.0)
    wide = np.zeros((acc.shape[0], 6))
    wide[:, :3] = acc
    for a in (acc, wide[:, :3], np.asfortranarray(acc)):
        got = detect_steps(a, gyr, sampling_rate_hz=400.0)
        np.testing.assert_array_equal(got["ic_idx"], ref["ic_idx"])
    # float32 input is rounded: the sub-sample IC moves by far less than a microsecond
    got = detect_steps(acc.astype(np.float32), gyr, sampling_rate_hz=400.0)
    np.testing.assert_allclose(got["ic_idx"], ref["ic_idx"], rtol=0, atol=1e-4)
    with pytest.raises(ValueError, match=r"shape \(n, 3\)"):
        detect_steps(acc[:, :2], gyr, sampling_rate_hz=400.0)
    # only one specialisation of the kernel is ever compiled
    assert len(process_block.signatures) == 1
