"""Sample timeline: pods with and without clocks, separate acc/gyr frames, gaps, overlaps."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_service.ble.timeline import SampleTimeline
from sensor_service.profiles import DecodedPacket, Timestamps

RATE = 100.0
TICKED = Timestamps(kind="per_packet_tick", tick_unit_s=1e-3, tick_wrap_bits=32, seq_bits=0)
LAST_NS = Timestamps(
    kind="per_packet_tick", tick_unit_s=1e-9, tick_wrap_bits=64, tick_refers_to="last"
)
UNTIMED = Timestamps(kind="per_sample_extrapolated")


def _values(start: int, n: int) -> np.ndarray:
    col = np.arange(start, start + n, dtype=np.float64)
    return np.column_stack([col, col, col])


def _packet(
    start: int, n: int, *, tick: int | None = None, acc: bool = True, gyr: bool = True
) -> DecodedPacket:
    return DecodedPacket(
        seq=None,
        tick=tick,
        tick_unit_s=1e-3,
        acc_m_s2=_values(start, n) if acc else None,
        gyr_deg_s=-_values(start, n) if gyr else None,
        sample_period_s=1 / RATE,
    )


def _timeline(ts: Timestamps) -> SampleTimeline:
    return SampleTimeline(ts, sampling_rate_hz=RATE, rotation=np.eye(3))


def test_tick_jump_without_sequence_becomes_a_gap_of_the_right_length() -> None:
    tl = _timeline(TICKED)
    out = tl.push(_packet(0, 10, tick=5000), 1.0)
    out += tl.push(_packet(10, 10, tick=5100), 1.1)
    out += tl.push(_packet(50, 10, tick=5500), 1.5)  # 30 samples (3 packets) never arrived
    assert [c.first_index for c in out] == [0, 10, 50]
    assert [c.gap_samples for c in out] == [0, 0, 30]
    assert tl.counters.gaps == 1
    assert tl.counters.gap_samples == 30
    assert np.array_equal(out[2].acc_m_s2[:, 0], np.arange(50, 60))


def test_repeated_packet_is_a_duplicate_not_data() -> None:
    tl = _timeline(TICKED)
    tl.push(_packet(0, 10, tick=0), 1.0)
    assert tl.push(_packet(0, 10, tick=0), 1.01) == []
    assert tl.counters.duplicates == 1
    assert tl.counters.samples == 10


def test_untimed_pod_counts_samples_and_maps_them_to_arrival_time() -> None:
    tl = _timeline(UNTIMED)
    host = 1_700_000_000.0
    out = []
    for i in range(50):
        # Packet i carries samples 10i..10i+9 and leaves after its last sample, plus latency.
        out += tl.push(_packet(10 * i, 10), host + (10 * i + 9) / RATE + 0.003)
    assert [c.first_index for c in out] == list(range(0, 500, 10))
    assert sum(c.gap_samples for c in out) == 0
    assert tl.index_to_epoch_ns(100) / 1e9 == pytest.approx(host + 1.0 + 0.003, abs=1e-3)


def test_separate_acc_and_gyr_frames_are_joined_sample_by_sample() -> None:
    tl = _timeline(LAST_NS)
    out = []
    # Polar-like: acc frames of 10, gyr frames of 7, ticks of their LAST sample in ns.
    acc_starts = range(0, 70, 10)
    gyr_starts = range(0, 70, 7)
    events = sorted(
        [(s + 10, "acc", s, 10) for s in acc_starts] + [(s + 7, "gyr", s, 7) for s in gyr_starts]
    )
    for _, kind, start, n in events:
        tick = round((start + n - 1) / RATE * 1e9) + 10**15
        packet = _packet(start, n, tick=tick, acc=kind == "acc", gyr=kind == "gyr")
        out += tl.push(packet, 5.0 + (start + n) / RATE)
    acc = np.vstack([c.acc_m_s2 for c in out])
    gyr = np.vstack([c.gyr_deg_s for c in out if c.gyr_deg_s is not None])
    assert acc.shape == gyr.shape == (70, 3)
    assert np.array_equal(acc[:, 0], np.arange(70))
    assert np.array_equal(gyr[:, 0], -np.arange(70))
    assert tl.counters.gaps == 0


def test_rotation_maps_pod_axes_to_the_foot_frame() -> None:
    rot = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # pod +y is forward
    tl = SampleTimeline(TICKED, sampling_rate_hz=RATE, rotation=rot)
    packet = DecodedPacket(
        seq=None,
        tick=0,
        tick_unit_s=1e-3,
        acc_m_s2=np.array([[0.0, 2.0, 9.8]]),
        gyr_deg_s=np.array([[5.0, 0.0, 0.0]]),
    )
    (chunk,) = tl.push(packet, 1.0)
    assert np.allclose(chunk.acc_m_s2, [[2.0, 0.0, 9.8]])
    assert chunk.gyr_deg_s is not None
    assert np.allclose(chunk.gyr_deg_s, [[0.0, -5.0, 0.0]])
