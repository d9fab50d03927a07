"""footpod-imu/1 encoders: byte layout, wraps, saturation, info; the pod's resampler."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from sensor_service.errors import FootpodError
from sensor_service.sim.footpod_codec import (
    FLAG_CLIPPED,
    FLAG_GYRO,
    INFO_FORMAT,
    INFO_SIZE,
    CodecError,
    PodInfo,
    encode_info,
    encode_packet,
    samples_per_packet,
    to_raw,
)
from sensor_service.sim.pod_peripheral import _Resampler


def test_packet_golden_bytes() -> None:
    acc = [[1, -2, 2048]]
    gyr = [[-32768, 32767, 0]]
    packet = encode_packet(0x1234, 0x89ABCDEF, acc, gyr, clipped=True)
    assert packet.hex() == (
        "01"  # version
        "03"  # flags: gyro present | clipped
        "3412"  # sequence LE
        "efcdab89"  # timestamp LE
        "0100"
        "feff"
        "0008"  # ax ay az
        "0080"
        "ff7f"
        "0000"  # gx gy gz
    )


def test_packet_layout_round_trip() -> None:
    rng = np.random.default_rng(1)
    acc = rng.integers(-32768, 32768, size=(19, 3))
    gyr = rng.integers(-32768, 32768, size=(19, 3))
    packet = encode_packet(7, 123_456, acc, gyr, clipped=False)
    assert len(packet) == 8 + 19 * 12 == 236
    version, flags, seq, ts = struct.unpack_from("<BBHI", packet)
    assert (version, flags, seq, ts) == (1, FLAG_GYRO, 7, 123_456)
    body = np.frombuffer(packet, dtype="<i2", offset=8).reshape(-1, 6)
    np.testing.assert_array_equal(body[:, :3], acc)
    np.testing.assert_array_equal(body[:, 3:], gyr)


def test_packet_wraps_sequence_and_timestamp() -> None:
    packet = encode_packet(65536 + 5, 2**32 + 10, [[0, 0, 0]], [[0, 0, 0]], clipped=False)
    _, _, seq, ts = struct.unpack_from("<BBHI", packet)
    assert (seq, ts) == (5, 10)


def test_packet_without_gyro_clears_flag_and_zero_fills() -> None:
    packet = encode_packet(1, 2, [[5, 6, 7]], None, clipped=False)
    assert packet[1] & FLAG_GYRO == 0
    assert packet[1] & FLAG_CLIPPED == 0
    assert np.frombuffer(packet, "<i2", offset=8).tolist() == [5, 6, 7, 0, 0, 0]


@pytest.mark.parametrize(
    ("acc", "gyr"),
    [
        ([[0, 0]], None),  # wrong width
        ([[40000, 0, 0]], None),  # outside int16
        ([[0.5, 0, 0]], None),  # not integer counts
        (np.zeros((0, 3)), None),  # no sample
        ([[0, 0, 0]], [[0, 0, 0], [0, 0, 0]]),  # gyro count differs
    ],
)
def test_packet_rejects_bad_input(acc: object, gyr: object) -> None:
    with pytest.raises(CodecError) as info:
        encode_packet(0, 0, acc, gyr, clipped=False)  # type: ignore[arg-type]
    assert isinstance(info.value, FootpodError)


def test_to_raw_scales_and_saturates() -> None:
    g = 9.80665
    acc, gyr, clipped = to_raw([[g, -2 * g, 0.0]], [[1.0, -2000.0, 0.0]])
    assert acc.tolist() == [[2048, -4096, 0]]
    assert gyr is not None
    assert gyr.tolist() == [[16, -32768, 0]]
    assert not clipped
    acc, gyr, clipped = to_raw([[17 * g, 0.0, -17 * g]], [[0.0, 0.0, 0.0]])
    assert acc.tolist() == [[32767, 0, -32768]]
    assert clipped
    _, _, clipped = to_raw([[0.0, 0.0, 0.0]], [[2100.0, 0.0, 0.0]])
    assert clipped
    acc, gyr, clipped = to_raw([[0.0, 0.0, g]], None)
    assert gyr is None
    assert acc.dtype == np.int16


def test_info_layout() -> None:
    raw = encode_info(
        sampling_rate_hz=400,
        side=1,
        forward_axis=3,
        left_axis=4,
        battery_pct=55,
        firmware=(2, 7, 9),
    )
    assert len(raw) == INFO_SIZE == 21
    info = PodInfo(*struct.unpack(INFO_FORMAT, raw))
    assert info.version == 1
    assert info.sampling_rate_hz == 400
    assert info.acc_lsb_per_g == 2048.0
    assert info.gyr_lsb_per_dps == pytest.approx(16.384, rel=1e-6)
    assert (info.acc_range_g, info.gyr_range_dps) == (16, 2000)
    assert (info.side, info.forward_axis, info.left_axis) == (1, 3, 4)
    assert info.battery_pct == 55
    assert (info.firmware_major, info.firmware_minor, info.firmware_patch) == (2, 7, 9)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sampling_rate_hz": 0},
        {"sampling_rate_hz": 70000},
        {"side": 3},
        {"forward_axis": 6},
        {"battery_pct": 101},
    ],
)
def test_info_rejects_out_of_range(kwargs: dict[str, int]) -> None:
    base = {
        "sampling_rate_hz": 400,
        "side": 0,
        "forward_axis": 0,
        "left_axis": 2,
        "battery_pct": 50,
    }
    with pytest.raises(CodecError):
        encode_info(**{**base, **kwargs})


def test_samples_per_packet() -> None:
    assert samples_per_packet(247) == 19
    assert samples_per_packet(23) == 1
    assert samples_per_packet(100) == 7
    assert samples_per_packet(517) == 19


class _Ramp:
    """Sample i has acc x = i and gyr z = -i; ends after ``n`` samples."""

    def __init__(self, n: int, rate_hz: float = 100.0) -> None:
        self.sampling_rate_hz = rate_hz
        self.n = n
        self.pos = 0

    def read(self, n: int) -> tuple[np.ndarray, np.ndarray] | None:
        if self.pos >= self.n:
            return None
        k = min(n, self.n - self.pos)
        i = np.arange(self.pos, self.pos + k, dtype=np.float64)
        self.pos += k
        zero = np.zeros(k)
        return np.stack([i, zero, zero], 1), np.stack([zero, zero, -i], 1)


def test_resampler_identity_at_source_rate_and_end() -> None:
    res = _Resampler(_Ramp(45))
    got = []
    while (chunk := res.read(19, 100.0)) is not None:
        got.extend(chunk[0][:, 0].tolist())
    assert got == list(range(45))


def test_resampler_down_and_up() -> None:
    res = _Resampler(_Ramp(1000))
    first = res.read(5, 50.0)  # half rate: every second sample
    assert first is not None
    assert first[0][:, 0].tolist() == [0, 2, 4, 6, 8]
    up = res.read(6, 200.0)  # double rate: each sample twice, continuing at 10
    assert up is not None
    assert up[0][:, 0].tolist() == [10, 10, 11, 11, 12, 12]
    assert up[1][:, 2].tolist() == [-10, -10, -11, -11, -12, -12]
