"""A malformed notification is counted and logged, never fatal, and leaves no gap behind."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from sensor_service.ble.reader import PodReader, reconnect_delay_s
from sensor_service.profiles import encode_footpod_data, load_profile


def _packet(seq: int, t_us: int, n: int = 19) -> bytes:
    raw = np.zeros((n, 3), dtype=np.int16)
    raw[:, 2] = 2048  # 1 g on z
    return encode_footpod_data(seq, t_us, raw, raw * 0)


@pytest.mark.parametrize("garbage", [b"", b"\x01", b"\x02" + bytes(19), bytes(8), b"\x01" * 21])
def test_bad_packets_are_counted_by_reason_and_skipped(
    garbage: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    reader = PodReader(profile=load_profile("footpod-imu-v1"), name="footpod-x")
    decoder = reader.profile.make_decoder()
    (first,) = reader._handle(decoder, 100.0, _packet(0, 0))
    with caplog.at_level(logging.WARNING):
        assert reader._handle(decoder, 100.05, garbage) == []
    (second,) = reader._handle(decoder, 100.1, _packet(1, round(19 / 416 * 1e6)))
    assert first.first_index == 0
    assert reader.counters.decode_errors == 1
    assert sum(reader.counters.decode_error_reasons.values()) == 1
    assert "undecodable packet" in caplog.text
    assert second.first_index == 19
    assert second.gap_samples == 0
    assert np.allclose(second.acc_m_s2[:, 2], 9.80665)


def test_backoff_is_a_pure_function_of_attempt_error_and_jitter() -> None:
    assert reconnect_delay_s(0, TimeoutError(), jitter=lambda: 0.0) == pytest.approx(0.05)
    assert reconnect_delay_s(3, TimeoutError(), jitter=lambda: 1.0) == pytest.approx(0.8)
    assert reconnect_delay_s(30, EOFError(), jitter=lambda: 1.0) == pytest.approx(10.0)


def test_programming_errors_are_not_retried() -> None:
    assert reconnect_delay_s(0, TypeError("bug")) < 0
    delays = [reconnect_delay_s(a, TimeoutError()) for a in range(20)]
    assert all(0 < d <= 10.0 for d in delays)
    assert max(delays[10:]) > max(delays[:2])


def test_rates_are_only_offered_where_the_start_sequence_sends_them() -> None:
    from sensor_service.ble.reader import settable_rates_hz
    from sensor_service.errors import ConfigError

    assert 416.0 in settable_rates_hz(load_profile("footpod-imu-v1"))
    assert settable_rates_hz(load_profile("witmotion-bwt901ble")) == (100.0,)
    with pytest.raises(ConfigError, match="not a rate of profile witmotion"):
        PodReader(profile=load_profile("witmotion-bwt901ble"), name="w", sampling_rate_hz=200.0)
