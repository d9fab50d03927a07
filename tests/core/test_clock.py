"""Pod clock: wrap-around, lost packets, offset and drift."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_service.ble.clock import PodClock, unwrap


@pytest.mark.parametrize(
    ("raw", "previous", "bits", "expected"),
    [
        (5, None, 16, 5),
        (6, 5, 16, 6),
        (0, 65535, 16, 65536),
        (3, 65535 + 65536, 16, 2 * 65536 + 3),
        (65535, 65536, 16, 65535),  # one step back across the wrap: a late packet
        (10, 2**32 - 5, 32, 2**32 + 10),
    ],
)
def test_unwrap(raw: int, previous: int | None, bits: int, expected: int) -> None:
    assert unwrap(raw, previous, bits) == expected


def test_sequence_wrap_and_loss_are_counted() -> None:
    clock = PodClock()
    seqs = [65533, 65534, 65535, 0, 3, 4]  # 1 and 2 lost, across the wrap
    for i, seq in enumerate(seqs):
        update = clock.observe(seq, i * 1000, 1000.0 + i * 0.001)
    assert update.seq == 65536 + 4
    assert clock.packets_lost == 2
    assert clock.packets_received == len(seqs)


def test_duplicate_is_not_counted_twice() -> None:
    clock = PodClock()
    clock.observe(1, 0, 1.0)
    clock.observe(2, 100, 1.1)
    dup = clock.observe(2, 100, 1.2)
    assert dup.duplicate
    assert clock.packets_received == 2
    assert clock.duplicates == 1


def test_tick_wrap_gives_monotonic_pod_time() -> None:
    clock = PodClock(tick_bits=32, tick_unit_s=1e-6)
    t0 = 2**32 - 50_000
    a = clock.observe(0, t0, 100.0)
    b = clock.observe(1, (t0 + 100_000) % 2**32, 100.1)
    assert b.pod_time_s - a.pod_time_s == pytest.approx(0.1)


def test_offset_and_drift_are_recovered_despite_latency_jitter() -> None:
    rng = np.random.default_rng(3)
    drift_ppm = 80.0
    clock = PodClock(tick_unit_s=1e-6)
    period_s = 19 / 416
    host0 = 1_700_000_000.0
    for i in range(4000):  # ~3 minutes
        pod_s = i * period_s
        true_host = host0 + pod_s * (1 + drift_ppm * 1e-6)
        latency = 0.002 + rng.exponential(0.004)
        clock.observe(i % 65536, round(pod_s * 1e6) % 2**32, true_host + latency)
    assert clock.drift_ppm == pytest.approx(drift_ppm, abs=10)
    pod_s = 3999 * period_s
    expected = host0 + pod_s * (1 + drift_ppm * 1e-6)
    # The lower envelope keeps the mapping within the minimum latency (2 ms) plus a little.
    assert abs(clock.to_host_s(pod_s) - expected) < 0.004
