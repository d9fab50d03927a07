"""The foot kernel's per-sample flags (SIMD pre-pass), its scan over runs of equal flags, and
the machine that passes such runs in one step, against the NumPy reference (which tests every
sample) on signals built to hit every flag combination and deadline."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numba import njit

from sensor_service.kernels import EventParams, StepDetector, detect_steps
from sensor_service.kernels._event_kernel import (
    _BELOW,
    _FIN,
    _STILL,
    _carve,
    _classify,
    _same_until,
)
from sensor_service.kernels._params import KernelParams
from sensor_service.kernels.reference import reference_detect_steps


def _kernel_params() -> KernelParams:
    return _carve(StepDetector(sampling_rate_hz=400.0)._ws)[2]


def _naive_flags(acc: np.ndarray, gyr: np.ndarray, kp: KernelParams) -> np.ndarray:
    out = np.empty(acc.shape[0], np.uint8)
    with np.errstate(over="ignore"):  # a finite value whose square overflows
        return _naive_loop(acc, gyr, kp, out)


def _naive_loop(acc: np.ndarray, gyr: np.ndarray, kp: KernelParams, out: np.ndarray) -> np.ndarray:
    for i, (a, g) in enumerate(zip(acc, gyr, strict=True)):
        a2 = a[0] * a[0] + a[1] * a[1] + a[2] * a[2]
        w2 = g[0] * g[0] + g[1] * g[1] + g[2] * g[2]
        code = _FIN if math.isfinite(a2 + w2) else 0
        code |= _BELOW if g[1] < -kp.swing_gyr_deg_s else 0
        still = w2 < kp.still_gyr2 and kp.still_acc_lo2 < a2 < kp.still_acc_hi2
        out[i] = code | (_STILL if still else 0)
    return out


@pytest.mark.parametrize("seed", range(4))
def test_classify_equals_the_per_sample_test(seed: int) -> None:
    """Every flag of every sample as the machine's own per-sample test gives it: still feet,
    swings, values at the thresholds, NaN and ±inf in each of the six channels, and offsets
    and counts that do not fill a block."""
    kp = _kernel_params()
    rng = np.random.default_rng(seed)
    n = 3001
    acc = np.array([0.0, 0.0, 9.80665]) + rng.normal(0.0, 3.0, (n, 3))
    gyr = rng.normal(0.0, 1.0, (n, 3)) * rng.choice([5.0, 80.0, 400.0], (n, 1))
    g = math.sqrt(kp.still_acc_hi2)
    acc[rng.integers(0, n, 40), 2] = g  # exactly at the still bound (not still: strict)
    gyr[rng.integers(0, n, 40), 1] = -kp.swing_gyr_deg_s  # at the swing threshold
    for col, bad in enumerate([np.nan, np.inf, -np.inf, np.nan, np.inf, 1e200]):
        rows = rng.integers(0, n, 7)  # (1e200 is finite, its square is not: a lost sample)
        (acc if col < 3 else gyr)[rows, col % 3] = bad
    want = _naive_flags(acc, gyr, kp)
    assert set(np.unique(want)) >= {0, _FIN, _FIN | _BELOW, _FIN | _STILL}
    for first, count in [(0, n), (1, n - 1), (1000, 1030), (2999, 2)]:
        codes = np.full(count, 255, np.uint8)
        _classify(acc, gyr, first, count, kp, codes, np.empty((3, 257)))
        np.testing.assert_array_equal(codes, want[first : first + count])


@njit(cache=True)
def _scan(codes: np.ndarray, i: int, hi: int, c: int) -> int:
    return _same_until(codes, codes.view(np.uint64), i, hi, c)


def test_same_until_finds_the_first_other_code() -> None:
    """The word-at-a-time scan stops where a byte-by-byte scan does, from any start to any end
    (word-aligned or not), with the other code anywhere in a word."""
    rng = np.random.default_rng(1)
    for _ in range(3000):
        n = 8 * int(rng.integers(1, 12))
        c = int(rng.choice([1, 3, 5]))
        codes = np.full(n, c, np.uint8)
        for j in rng.integers(0, n, int(rng.integers(0, 3))):
            codes[j] = int(rng.choice([0, 1, 3, 5, 7]))
        i = int(rng.integers(0, n + 1))
        hi = int(rng.integers(i, n + 1))
        want = i
        while want < hi and codes[want] == c:
            want += 1
        assert _scan(codes, i, hi, c) == want


def _piecewise(rng: np.random.Generator, n: int, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Strides made of segments (swing, impact, a still or nearly still foot, push-off) of
    random lengths, with segments of pitch velocity at the swing threshold and of wild noise
    thrown in: runs of every flag, cut anywhere."""
    acc = np.zeros((n, 3))
    acc[:, 2] = 9.80665
    gyr = np.zeros((n, 3))
    i = 0
    kind = 0
    while i < n:
        j = min(n, i + int(rng.integers(1, int(0.4 * fs))))
        if kind == 0:  # swing
            gyr[i:j, 1] = -rng.uniform(80.0, 600.0)
            acc[i:j] += rng.normal(0.0, 8.0, (j - i, 3))
        elif kind == 1:  # impact
            j = min(n, i + 3)
            acc[i:j] += rng.normal(0.0, 60.0, (j - i, 3))
            gyr[i:j] += rng.normal(0.0, 300.0, (j - i, 3))
        elif kind == 2:  # a still or nearly still foot
            gyr[i:j] += rng.normal(0.0, float(rng.choice([2.0, 60.0, 150.0])), (j - i, 3))
            acc[i:j] += rng.normal(0.0, float(rng.choice([0.1, 3.0])), (j - i, 3))
        elif kind == 3:  # push-off
            gyr[i:j, 1] = rng.uniform(100.0, 500.0) * np.sin(np.linspace(0.0, np.pi, j - i))
        elif kind == 4:  # pitch velocity at the swing threshold
            gyr[i:j, 1] = -100.0 + rng.normal(0.0, 2.0, j - i)
        else:
            gyr[i:j] += rng.normal(0.0, 200.0, (j - i, 3))
            acc[i:j] += rng.normal(0.0, 10.0, (j - i, 3))
        i = j
        kind = int(rng.integers(4, 6)) if rng.random() < 0.15 else (kind + 1) % 4
    return acc, gyr


@pytest.mark.parametrize("seed", range(12))
def test_machine_passes_runs_as_the_reference_tests_every_sample(seed: int) -> None:
    """Steps equal the reference's on piecewise signals, with a still threshold above the swing
    threshold in half the cases (a swing sample can then also be still), short windows, and
    the signal longer than a flags chunk; streamed in random packets with a NaN sample they
    equal the same kernel in one block."""
    rng = np.random.default_rng(seed)
    fs = float(rng.choice([100.0, 200.0, 400.0]))
    acc, gyr = _piecewise(rng, int(rng.integers(3000, 9000)), fs)
    params = EventParams(
        swing_gyr_deg_s=100.0,
        still_gyr_deg_s=60.0 if seed % 2 else 180.0,
        still_ms=float(rng.uniform(5.0, 40.0)),
        min_swing_ms=float(rng.uniform(10.0, 60.0)),
        ic_after_swing_end_max_ms=float(rng.uniform(30.0, 250.0)),
        max_gct_ms=float(rng.uniform(250.0, 800.0)),
        impact_min_g=1.5,
    )
    kw = {"sampling_rate_hz": fs, "params": params}
    got = detect_steps(acc, gyr, **kw)  # type: ignore[arg-type]
    want = reference_detect_steps(acc, gyr, **kw)  # type: ignore[arg-type]
    assert got.size == want.size > 0
    for name in got.dtype.names or ():
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)

    acc[int(rng.integers(0, acc.shape[0])), int(rng.integers(0, 3))] = np.nan
    whole = detect_steps(acc, gyr, **kw)  # type: ignore[arg-type]
    det = StepDetector(sampling_rate_hz=fs, params=params)
    parts = []
    pos = 0
    while pos < acc.shape[0]:
        size = int(rng.integers(1, 700))
        parts.append(det.feed(acc[pos : pos + size], gyr[pos : pos + size]))
        pos += size
    parts.append(det.flush())
    streamed = np.concatenate(parts)
    for name in whole.dtype.names or ():
        np.testing.assert_array_equal(streamed[name], whole[name], err_msg=name)
