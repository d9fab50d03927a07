"""Lower bounds on the kernels' time per sample: the work their methods cannot skip.

``bench_kernel.py`` prints these beside the memory-bandwidth bound, so the share of the bound a
kernel *could* reach shows next to the share it does reach. Each floor is one piece of work,
timed alone in its fastest form found here:

* **foot: read and classify every sample.** The swing and still-foot tests need both squared
  norms of every sample and its pitch velocity: the kernel's own ``_classify`` (SIMD loops
  over blocks into one flag byte a sample), over the whole recording.
* **foot: the landing jerk of one IC window.** Every stride searches the window from just
  before the swing end to the still foot or ``ic_after_swing_end_max_ms`` for its largest
  change (the threshold is relative to it), so every sample of it gets the jerk: the kernel's
  own ``_jerk_window`` (channel-by-channel SIMD loops), over a window of the maximum length
  (real windows end earlier when the foot gets still: this part is somewhat high).
* **acc only: the mean "up" recurrence.** ``u += w·(a − u)`` per axis and sample, as the
  kernel and the reference compute it: a chain of dependent subtract, multiply, add per sample.
  (Another form of the recurrence, or one evaluated in blocks, would be faster and round
  differently: a change of the method's arithmetic.)
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from numba import njit
from numpy.typing import NDArray

from sensor_service.kernels._event_kernel import _BLOCK, _classify, _jerk_window
from sensor_service.kernels._params import KernelParams


@njit(cache=True)
def ic_windows(acc: np.ndarray, gyr: np.ndarray, kp: KernelParams, count: int) -> float:
    """The landing jerk of ``count`` IC windows of the maximum length, spread over the data."""
    width = kp.ic_before_n + kp.ic_after_max_n + 1
    span = acc.shape[0] - width - 3 * kp.jerk_lag_n
    total = 0.0
    for r in range(count):
        lo = 3 * kp.jerk_lag_n + (r * 7919) % span
        total += _jerk_window(acc, gyr, -1, lo, lo + width - 1, 0, kp)[width // 2]
    return total


@njit(cache=True)
def up_recurrence(acc: np.ndarray, w: float, out: np.ndarray) -> None:
    """The acc-only kernel's mean "up": an exponential average of the acc vector per sample."""
    ux = uy = uz = 0.0
    for i in range(acc.shape[0]):
        ux += w * (acc[i, 0] - ux)
        uy += w * (acc[i, 1] - uy)
        uz += w * (acc[i, 2] - uz)
        out[i] = ux + uy + uz


def best_s(fn: Callable[[], object], repeat: int = 20, warm: bool = True) -> float:
    """The fastest of ``repeat`` calls of ``fn`` (with ``warm``, after one more untimed call
    that compiles and warms the caches)."""
    if warm:
        fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def foot_floor_ns(
    acc: NDArray[np.float64], gyr: NDArray[np.float64], kp: KernelParams, n_steps: int
) -> tuple[float, float]:
    """(ns a sample to classify every sample, ns a sample for the IC windows of ``n_steps``)."""
    n = acc.shape[0]
    flags = np.empty(n, np.uint8)
    scratch = np.empty((3, _BLOCK))
    t_classify = best_s(lambda: _classify(acc, gyr, 0, n, kp, flags, scratch))
    windows = 1000
    t_win = best_s(lambda: ic_windows(acc, gyr, kp, windows))
    return t_classify / n * 1e9, t_win / windows * n_steps / n * 1e9


def acc_floor_ns(acc: NDArray[np.float64], axis_weight: float) -> float:
    """ns a sample for the mean "up" recurrence alone."""
    out = np.empty(acc.shape[0])
    return best_s(lambda: up_recurrence(acc, axis_weight, out)) / acc.shape[0] * 1e9
