"""footpod-imu-v1 (FIRMWARE.md §0): info struct, data packets, scale overrides."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from sensor_service.errors import ConfigError, DecodeError
from sensor_service.profiles import (
    G_M_S2,
    FootpodInfo,
    encode_footpod_data,
    encode_footpod_info,
    footpod_set_rate_command,
    load_profile,
    parse_footpod_info,
)

SERVICE = "0ef62eac-2b12-490a-92a0-97c5dde92234"


@pytest.fixture(scope="module")
def profile():
    return load_profile("footpod-imu-v1")


def test_fixed_uuids(profile):
    assert profile.gatt.service == SERVICE
    assert profile.gatt.data == "0ef60001-2b12-490a-92a0-97c5dde92234"
    assert profile.gatt.info == "0ef60002-2b12-490a-92a0-97c5dde92234"
    assert profile.gatt.control == "0ef60003-2b12-490a-92a0-97c5dde92234"
    assert profile.gatt.battery == "00002a19-0000-1000-8000-00805f9b34fb"
    assert profile.gatt.battery_service == "0000180f-0000-1000-8000-00805f9b34fb"
    assert profile.discovery.service_uuids == (SERVICE,)
    assert profile.discovery.name_patterns == ("footpod-*",)


def test_start_stop_sequences(profile):
    params = profile.default_params()
    writes = [s.payload(params) for s in profile.start if s.action == "write"]
    assert writes == [footpod_set_rate_command(416), b"\x01"]
    assert [s.payload(params) for s in profile.stop if s.action == "write"] == [b"\x02"]


def test_hand_built_packet_defaults(profile):
    # version 1, flags gyro present, seq 0x1234, t_first_us 0xDEADBEEF, two samples
    data = bytes.fromhex("01 01 34 12 EF BE AD DE") + struct.pack(
        "<12h", 2048, -2048, 1024, 16384, -16384, 0, 0, 0, -4096, 164, 0, -164
    )
    pkt = profile.make_decoder().decode(data)
    assert pkt is not None
    assert pkt.seq == 0x1234
    assert pkt.tick == 0xDEADBEEF
    assert pkt.tick_unit_s == 1e-6
    assert pkt.sample_period_s == pytest.approx(1 / 416)
    assert pkt.clipped is False
    np.testing.assert_allclose(
        pkt.acc_m_s2, [[G_M_S2, -G_M_S2, G_M_S2 / 2], [0, 0, -2 * G_M_S2]], rtol=1e-12
    )
    np.testing.assert_allclose(
        pkt.gyr_deg_s, [[1000.0, -1000.0, 0.0], [164 / 16.384, 0, -164 / 16.384]], rtol=1e-12
    )
    assert pkt.acc_m_s2.dtype == np.float64
    assert pkt.acc_m_s2.shape == (2, 3)


def test_flags_gyro_absent_and_clipped(profile):
    data = encode_footpod_data(1, 2, [[0, 0, 2048]], clipped=True)
    pkt = profile.make_decoder().decode(data)
    assert pkt.gyr_deg_s is None
    assert pkt.clipped is True
    assert pkt.n_samples == 1


def test_saturated_raw_value_counts_as_clipped(profile):
    pkt = profile.make_decoder().decode(encode_footpod_data(1, 2, [[32767, 0, 0]], [[0, 0, 0]]))
    assert pkt.clipped is True


def test_max_samples_and_wraps(profile):
    acc = np.arange(57).reshape(19, 3)
    data = encode_footpod_data(0x1FFFF, 2**32 + 5, acc, -acc)
    assert len(data) == 8 + 19 * 12
    pkt = profile.make_decoder().decode(data)
    assert pkt.seq == 0xFFFF
    assert pkt.tick == 5
    np.testing.assert_allclose(pkt.acc_m_s2, acc * G_M_S2 / 2048)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "too_short"),
        (bytes(8), "too_short"),
        (bytes(19), "too_short"),
        (b"\x01" + bytes(20), "bad_length"),
        (bytes(8 + 12 * 20), "bad_length"),
        (b"\x02" + bytes(19), "bad_version"),
    ],
)
def test_malformed(profile, data, reason):
    with pytest.raises(DecodeError) as info:
        profile.make_decoder().decode(data)
    assert info.value.reason == reason


def test_scales_overridden_from_info(profile):
    info = FootpodInfo(1, 208, 4096.0, 32.768, 8, 1000, "left", "-y", "+x", 87, (1, 2, 3))
    raw = encode_footpod_info(info)
    assert len(raw) == struct.calcsize("<BHffBHBBBB3B") == 21
    parsed = parse_footpod_info(raw)
    assert parsed == info
    params = profile.info_params(raw)
    assert params == {"acc_lsb_per_g": 4096.0, "gyr_lsb_per_dps": 32.768, "sampling_rate_hz": 208}
    pkt = profile.make_decoder(params).decode(
        encode_footpod_data(0, 0, [[4096, 0, 0]], [[32768 // 2, 0, 0]])
    )
    np.testing.assert_allclose(pkt.acc_m_s2[0], [G_M_S2, 0, 0])
    np.testing.assert_allclose(pkt.gyr_deg_s[0], [500.0, 0, 0])
    assert pkt.sample_period_s == pytest.approx(1 / 208)
    mounting = profile.mounting.with_axes(parsed.forward_axis, parsed.left_axis)
    np.testing.assert_array_equal(mounting.rotation(), [[0, -1, 0], [1, 0, 0], [0, 0, 1]])


def test_info_hand_built_bytes():
    raw = struct.pack("<BHffBHBBBB3B", 1, 416, 2048.0, 16.384, 16, 2000, 1, 0, 2, 100, 0, 9, 1)
    info = parse_footpod_info(raw + b"\xff")  # trailing bytes tolerated
    assert info.side == "right"
    assert (info.forward_axis, info.left_axis) == ("+x", "+y")
    assert info.firmware_version == (0, 9, 1)
    assert info.gyr_lsb_per_dps == pytest.approx(16.384)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\x01" * 5, "too_short"),
        (
            struct.pack("<BHffBHBBBB3B", 2, 416, 2048.0, 16.4, 16, 2000, 0, 0, 2, 1, 0, 0, 0),
            "bad_version",
        ),
        (
            struct.pack("<BHffBHBBBB3B", 1, 416, 0.0, 16.4, 16, 2000, 0, 0, 2, 1, 0, 0, 0),
            "bad_value",
        ),
        (
            struct.pack("<BHffBHBBBB3B", 1, 416, 2048.0, 16.4, 16, 2000, 0, 0, 1, 1, 0, 0, 0),
            "bad_value",
        ),
    ],
)
def test_info_malformed(raw, reason):
    with pytest.raises(DecodeError) as info:
        parse_footpod_info(raw)
    assert info.value.reason == reason


def test_bad_params(profile):
    with pytest.raises(ConfigError, match="unknown decoder parameter 'nope'"):
        profile.make_decoder({"nope": 1.0})
    with pytest.raises(ConfigError, match="must be a number"):
        profile.make_decoder({"acc_lsb_per_g": "abc"})
    with pytest.raises(ConfigError, match="scaling"):
        profile.make_decoder({"acc_lsb_per_g": 0.0})
    # strings from the command line are converted
    d = profile.make_decoder({"acc_lsb_per_g": "1024"})
    pkt = d.decode(encode_footpod_data(0, 0, [[1024, 0, 0]]))
    np.testing.assert_allclose(pkt.acc_m_s2[0], [G_M_S2, 0, 0])
