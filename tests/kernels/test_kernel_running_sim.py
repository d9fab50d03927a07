"""Simulated running (``sensor_service.sim.gait``): accuracy over strikes, rates, cadences.

Run ``.venv/bin/pytest tests/kernels/test_kernel_running_sim.py -s`` to print the figures.
"""

from __future__ import annotations

import numpy as np
import pytest
from kernel_eval import accuracy, sim_run

from sensor_service.kernels import classify_strike, detect_steps
from sensor_service.sim.gait import G_M_S2

STRIKES = ("rearfoot", "midfoot", "forefoot")
CLIP_G = 16.0


@pytest.mark.parametrize("fs", [104.0, 204.8, 416.0, 833.0])
@pytest.mark.parametrize("strike", STRIKES)
def test_running_accuracy(strike: str, fs: float) -> None:
    tp = fp = fn = 0
    gct_err: list[np.ndarray] = []
    fsa_err: list[np.ndarray] = []
    for cadence, gct in ((150.0, 300.0), (175.0, 240.0), (200.0, 160.0)):
        for side in ("left", "right"):
            acc, gyr, sim = sim_run(
                strike, sampling_rate_hz=fs, cadence_spm=cadence, gct_ms=gct, side=side
            )
            truth = sim.truth(side)
            steps = detect_steps(acc, gyr, sampling_rate_hz=fs)
            res = accuracy(steps["ic_idx"] / fs, steps["to_idx"] / fs, truth.ic_s, truth.to_s, 0.04)
            tp, fp, fn = tp + res.tp, fp + res.fp, fn + res.fn
            gct_err.append(res.gct_err_ms)
            det_ic = steps["ic_idx"] / fs
            for k, t_ic in enumerate(truth.ic_s):
                j = int(np.argmin(np.abs(det_ic - t_ic)))
                if abs(det_ic[j] - t_ic) < 0.04:
                    fsa_err.append(
                        np.array([steps["strike_angle_deg"][j] - truth.strike_angle_deg[k]])
                    )
    err = np.concatenate(gct_err)
    fsa = np.concatenate(fsa_err)
    f1 = 2 * tp / (2 * tp + fp + fn)
    print(
        f"\nsim {strike} {fs} Hz: F1 {f1:.4f} (TP {tp} FP {fp} FN {fn}); GCT bias "
        f"{np.median(err):+.2f} ms, median |err| {np.median(np.abs(err)):.2f} ms, p95 |err| "
        f"{np.percentile(np.abs(err), 95):.2f} ms; strike angle median |err| "
        f"{np.nanmedian(np.abs(fsa)):.2f} deg"
    )
    # Measured figures with a small margin. Below 200 Hz the 45 Hz impact transient is barely
    # sampled (Bailey & Harle 2014 advise ≥ 250 Hz) and a sample is 9.6 ms.
    assert f1 >= 0.99
    assert np.median(np.abs(err)) <= (3.0 if fs >= 200.0 else 5.0)
    assert np.percentile(np.abs(err), 95) <= (5.0 if fs >= 200.0 else 9.0)
    assert np.nanmedian(np.abs(fsa)) <= 2.0


#: Held-out seeds: the report (benchmarks/accuracy_report.py) and the tuning of the kernel's
#: defaults used seeds 107–205; these were never looked at while tuning.
HELD_OUT_SEEDS = (31, 32)


def _pooled(fs: float, strike: str, **kw: object) -> tuple[float, np.ndarray]:
    tp = fp = fn = 0
    errs = []
    for k, (cadence, gct) in enumerate(((150.0, 320.0), (175.0, 240.0), (200.0, 160.0))):
        for seed in HELD_OUT_SEEDS:
            acc, gyr, sim = sim_run(
                strike,
                sampling_rate_hz=fs,
                cadence_spm=cadence,
                gct_ms=gct,
                seed=seed + 10 * k,
                realistic=True,
                **kw,
            )
            truth = sim.truth("left")
            steps = detect_steps(acc, gyr, sampling_rate_hz=fs)
            res = accuracy(steps["ic_idx"] / fs, steps["to_idx"] / fs, truth.ic_s, truth.to_s, 0.04)
            tp, fp, fn = tp + res.tp, fp + res.fp, fn + res.fn
            errs.append(res.gct_err_ms)
    return 2 * tp / (2 * tp + fp + fn), np.abs(np.concatenate(errs))


@pytest.mark.parametrize("fs", [104.0, 208.0, 416.0, 833.0])
@pytest.mark.parametrize("strike", STRIKES)
def test_realistic_touchdown_target(strike: str, fs: float) -> None:
    """The issue's simulated target on the "realistic touchdown" model, held-out seeds.

    Median |GCT error| ≤ 3 ms, p95 ≤ 8 ms, F1 ≥ 0.99 at ≥ 200 Hz. At 104 Hz (a sample is
    9.6 ms) the measured p95 is 7.6–8.5 ms: the thresholds there are the measured figures with a
    margin, not the target (docs/accuracy.md recommends ≥ 200 Hz).
    """
    f1, err = _pooled(fs, strike)
    med, p95 = float(np.median(err)), float(np.percentile(err, 95))
    print(f"\nrealistic {strike} {fs} Hz: F1 {f1:.4f}; GCT |err| median {med:.2f}, p95 {p95:.2f}")
    if fs >= 200.0:
        assert f1 >= 0.99
        assert med <= 3.0
        assert p95 <= 8.0
    else:
        assert f1 >= 0.98
        assert med <= 4.5
        assert p95 <= 10.0


@pytest.mark.parametrize("strike", STRIKES)
def test_realistic_touchdown_noisy(strike: str) -> None:
    """4× the model's sensor noise, 5 % / 8 % step / contact variability, held-out seeds."""
    f1, err = _pooled(416.0, strike, noise_scale=4.0, step_cv=0.05, gct_cv=0.08)
    med, p95 = float(np.median(err)), float(np.percentile(err, 95))
    print(f"\nrealistic noisy {strike}: F1 {f1:.4f}; GCT median |err| {med:.2f}, p95 {p95:.2f} ms")
    assert f1 >= 0.99
    assert med <= 3.0
    assert p95 <= 8.5  # measured 7.4–7.8 ms; the target (8 ms) is barely met with this noise


@pytest.mark.parametrize("strike", STRIKES)
def test_clipping_flagged(strike: str) -> None:
    """70 g impacts on a ±16 g part saturate: those steps are flagged, and still detected."""
    fs = 400.0
    acc, gyr, sim = sim_run(strike, sampling_rate_hz=fs, impact_g=70.0, clip_g=CLIP_G)
    truth = sim.truth("left")
    steps = detect_steps(acc, gyr, sampling_rate_hz=fs, clip_limit_m_s2=CLIP_G * G_M_S2)
    res = accuracy(steps["ic_idx"] / fs, steps["to_idx"] / fs, truth.ic_s, truth.to_s, 0.04)
    assert res.f1 >= 0.99
    assert np.median(np.abs(res.gct_err_ms)) <= 5.0
    assert steps["clipped"].mean() >= 0.9
    # peak |acc| of a clipped impact is at least the clip level on one axis
    assert np.median(steps["peak_accel_g"]) >= CLIP_G * 0.99


def test_no_clip_flag_without_saturation() -> None:
    fs = 400.0
    acc, gyr, _ = sim_run("midfoot", sampling_rate_hz=fs, impact_g=3.0)
    steps = detect_steps(acc, gyr, sampling_rate_hz=fs, clip_limit_m_s2=CLIP_G * G_M_S2)
    assert steps.size > 0
    assert not steps["clipped"].any()


def test_stride_time_matches_truth() -> None:
    fs = 400.0
    acc, gyr, sim = sim_run("rearfoot", sampling_rate_hz=fs)
    truth = sim.truth("left")
    steps = detect_steps(acc, gyr, sampling_rate_hz=fs)
    assert np.isnan(steps["stride_ms"][0])
    stride = steps["stride_ms"][1:]
    truth_stride = np.diff(truth.ic_s) * 1000.0
    assert stride.size == truth_stride.size
    assert np.median(np.abs(stride - truth_stride)) <= 3.0


@pytest.mark.parametrize("fs", [208.0, 416.0])
def test_running_noisy_and_irregular(fs: float) -> None:
    """4× the model's sensor noise, 5 % step and 8 % contact-time variability."""
    tp = fp = fn = 0
    errs = []
    for k, strike in enumerate(STRIKES):
        for cadence, gct in ((150.0, 300.0), (195.0, 180.0)):
            acc, gyr, sim = sim_run(
                strike,
                sampling_rate_hz=fs,
                cadence_spm=cadence,
                gct_ms=gct,
                noise_scale=4.0,
                step_cv=0.05,
                gct_cv=0.08,
                duration_s=30.0,
                seed=10 + k,
            )
            truth = sim.truth("left")
            steps = detect_steps(acc, gyr, sampling_rate_hz=fs)
            res = accuracy(steps["ic_idx"] / fs, steps["to_idx"] / fs, truth.ic_s, truth.to_s, 0.04)
            tp, fp, fn = tp + res.tp, fp + res.fp, fn + res.fn
            errs.append(res.gct_err_ms)
    err = np.concatenate(errs)
    f1 = 2 * tp / (2 * tp + fp + fn)
    print(f"\nsim noisy {fs} Hz: F1 {f1:.4f}; GCT median |err| {np.median(np.abs(err)):.2f} ms")
    assert f1 >= 0.99
    assert np.median(np.abs(err)) <= 5.0


@pytest.mark.parametrize("strike", STRIKES)
def test_strike_pattern_from_detected_angle(strike: str) -> None:
    acc, gyr, _ = sim_run(strike, sampling_rate_hz=416.0)
    steps = detect_steps(acc, gyr, sampling_rate_hz=416.0)
    patterns = classify_strike(steps["strike_angle_deg"])
    assert np.mean(patterns == strike) >= 0.9
    assert classify_strike(np.nan).item() == "unknown"
    assert classify_strike(5.0, rearfoot_min_deg=4.0).item() == "rearfoot"
