"""Benchmark of the gait event kernel: prints figures, asserts nothing.

Run: ``.venv/bin/python benchmarks/bench_kernel.py`` (first run compiles and caches the kernel).

* batch throughput (samples/s) of the numba kernel vs the NumPy reference, and their ratio;
* µs per per-packet call (20 samples): the bare kernel and ``StepDetector.feed``;
* ratio to a memory-bandwidth bound: a NumPy copy of the same sample arrays in the same run.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable

import numpy as np

from sensor_service.kernels import StepDetector, detect_steps
from sensor_service.kernels._event_kernel import process_block
from sensor_service.kernels.reference import reference_detect_steps
from sensor_service.sim.gait import GaitSimulator, RunnerParams

FS = 400.0
PACKET = 20


def _best(fn: Callable[[], object], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    sim = GaitSimulator(RunnerParams(strike="rearfoot"), duration_s=120.0, seed=0)
    t = np.arange(int(sim.end_s * FS)) / FS
    acc, gyr = sim.render("left", t)
    n = acc.shape[0]
    print(f"python {platform.python_version()}, {platform.machine()}; {n} samples at {FS} Hz")

    steps = detect_steps(acc, gyr, sampling_rate_hz=FS)  # compile / load cache
    t_numba = _best(lambda: detect_steps(acc, gyr, sampling_rate_hz=FS))
    t_ref = _best(lambda: reference_detect_steps(acc, gyr, sampling_rate_hz=FS), repeat=3)
    t_copy = _best(lambda: (acc.copy(), gyr.copy()), repeat=20)
    print(f"steps found: {steps.size}")
    print(f"batch numba      : {n / t_numba / 1e6:8.2f} M samples/s")
    print(f"batch reference  : {n / t_ref / 1e6:8.2f} M samples/s")
    print(f"numba / reference: {t_ref / t_numba:8.1f} x faster")
    print(f"memcpy bound     : {n / t_copy / 1e6:8.2f} M samples/s (NumPy copy of acc+gyr)")
    print(f"numba / memcpy   : {t_numba / t_copy:8.1f} x slower than copying the input")

    # per-packet streaming: bare kernel call on preallocated state, then the public feed()
    det = StepDetector(sampling_rate_hz=FS)
    kp = det._kp_packed
    ring, st_i, st_f, out = det._ring, det._st_i, det._st_f, det._out
    packets = [(acc[i : i + PACKET], gyr[i : i + PACKET]) for i in range(0, n - PACKET, PACKET)]

    def run_kernel() -> None:
        for a, g in packets:
            process_block(a, g, ring, st_i, st_f, out, kp)

    def run_feed() -> None:
        d = StepDetector(sampling_rate_hz=FS)
        for a, g in packets:
            d.feed(a, g)

    t_k = _best(run_kernel, repeat=3)
    t_f = _best(run_feed, repeat=3)
    print(f"per packet ({PACKET} samples): kernel call {t_k / len(packets) * 1e6:6.2f} µs, ")
    print(f"                         StepDetector.feed {t_f / len(packets) * 1e6:6.2f} µs")


if __name__ == "__main__":
    main()
