"""The foot kernel's per-sample flags (SIMD pre-pass) and its scan over runs of equal flags."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numba import njit

from sensor_service.kernels import StepDetector
from sensor_service.kernels._event_kernel import (
    _BELOW,
    _FIN,
    _STILL,
    _carve,
    _classify,
    _same_until,
)
from sensor_service.kernels._params import KernelParams


def _kernel_params() -> KernelParams:
    return _carve(StepDetector(sampling_rate_hz=400.0)._ws)[2]


def _naive_flags(acc: np.ndarray, gyr: np.ndarray, kp: KernelParams) -> np.ndarray:
    out = np.empty(acc.shape[0], np.uint8)
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
    for col, bad in enumerate([np.nan, np.inf, -np.inf, np.nan, np.inf, -np.inf]):
        rows = rng.integers(0, n, 7)
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
