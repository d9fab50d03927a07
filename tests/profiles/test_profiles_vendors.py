"""Golden tests of the vendor decoders: every [SRC] packet of FIRMWARE.md, plus vectors built
from the documented layouts."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from sensor_service.errors import ConfigError, DecodeError
from sensor_service.profiles import G_M_S2, load_all_profiles, load_profile, match_profile
from sensor_service.profiles._polar import parse_delta_frames, parse_pmd_settings
from sensor_service.profiles._rsc import parse_rsc_feature, parse_sensor_location

MG = G_M_S2 / 1000.0


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def decoder(name: str, **params):
    return load_profile(name).make_decoder(params or None)


# ---------------------------------------------------------------- §1 Bluetooth SIG RSC


def test_rsc_src_nordic_measurement():
    pkt = decoder("bluetooth-rsc").decode(h("07 00 03 12 56 00 01 00 00 F0"))
    assert pkt.acc_m_s2 is None
    assert pkt.gyr_deg_s is None
    assert pkt.tick is None
    rsc = pkt.rsc
    assert rsc.running is True
    assert rsc.speed_m_s == 3.0
    assert rsc.cadence_per_min == 18
    assert rsc.stride_m == pytest.approx(0.86)
    assert rsc.distance_m == pytest.approx(0xF0000001 / 10)


def test_rsc_src_feature():
    f = parse_rsc_feature(h("0D 00"))
    assert (f.stride_length, f.total_distance, f.walking_running, f.calibration) == (
        True,
        False,
        True,
        True,
    )
    assert f.multiple_locations is False


def test_rsc_minimal_reserved_bits_trailing_bytes_and_strides():
    pkt = decoder("bluetooth-rsc").decode(h("F8 80 02 55 AA BB"))  # reserved bits, walking, junk
    assert pkt.rsc.speed_m_s == 2.5
    assert pkt.rsc.cadence_per_min == 85
    assert pkt.rsc.running is False
    assert pkt.rsc.stride_m is None
    assert pkt.rsc.distance_m is None
    pkt = decoder("bluetooth-rsc", cadence_unit="strides").decode(h("00 80 02 55"))
    assert pkt.rsc.cadence_per_min == 170
    pkt = decoder("bluetooth-rsc").decode(h("02 00 01 50 10 27 00 00"))  # distance only
    assert pkt.rsc.distance_m == 1000.0
    assert pkt.rsc.stride_m is None


@pytest.mark.parametrize("data", ["", "07", "00 00 01", "01 00 01 50 00", "03 00 01 50 00 00 01"])
def test_rsc_too_short(data):
    with pytest.raises(DecodeError) as info:
        decoder("bluetooth-rsc").decode(h(data))
    assert info.value.reason == "too_short"


def test_rsc_bad_cadence_unit():
    with pytest.raises(ConfigError, match="cadence_unit"):
        decoder("bluetooth-rsc", cadence_unit="hops")


def test_rsc_location():
    assert parse_sensor_location(b"\x02") == "in_shoe"
    assert parse_sensor_location(b"\x09") == "code-9"


# ---------------------------------------------------------------- §2 Movesense


def movesense_packet(kind: int, ref: int, ts_ms: int, acc, gyr) -> bytes:
    acc = np.asarray(acc, "<f4")
    gyr = np.asarray(gyr, "<f4")
    return bytes([kind, ref]) + struct.pack("<I", ts_ms) + acc.tobytes() + gyr.tobytes()


def test_movesense_single_notification():
    acc = [[0.5, -9.81, 1.25], [0.75, -9.5, 1.0]]
    gyr = [[10.0, -20.0, 30.5], [1.0, 2.0, 3.0]]
    pkt = decoder("movesense-imu6").decode(movesense_packet(2, 99, 123456, acc, gyr))
    assert pkt.tick == 123456
    assert pkt.tick_unit_s == 1e-3
    assert pkt.sample_period_s == pytest.approx(1 / 104)
    np.testing.assert_allclose(pkt.acc_m_s2, acc, rtol=1e-6)
    np.testing.assert_allclose(pkt.gyr_deg_s, gyr, rtol=1e-6)


def test_movesense_split_packet_joined():
    rng = np.random.default_rng(1)
    acc = rng.normal(0, 20, (8, 3)).astype("<f4")
    gyr = rng.normal(0, 500, (8, 3)).astype("<f4")
    whole = movesense_packet(2, 99, 0xFFFFFFF0, acc, gyr)
    assert len(whole) == 6 + 8 * 24 > 152
    part1 = whole[:152]  # 2-byte header + 150 bytes
    part2 = bytes([3, 99]) + whole[152:]
    dec = decoder("movesense-imu6")
    assert dec.decode(part1) is None
    pkt = dec.decode(part2)
    assert pkt.tick == 0xFFFFFFF0
    np.testing.assert_array_equal(pkt.acc_m_s2, acc.astype(np.float64))
    np.testing.assert_array_equal(pkt.gyr_deg_s, gyr.astype(np.float64))
    with pytest.raises(DecodeError) as info:  # part 2 consumed: a second one is an orphan
        dec.decode(part2)
    assert info.value.reason == "orphan_fragment"


def test_movesense_result_and_errors():
    dec = decoder("movesense-imu6")
    assert dec.decode(h("01 63 C8 00")) is None
    for data, reason in [
        (b"\x02", "too_short"),
        (h("07 63 00 00 00 00"), "unknown_frame_type"),
        (movesense_packet(2, 5, 0, [[0, 0, 0]], [[0, 0, 0]]), "bad_header"),
        (movesense_packet(2, 99, 0, [[np.nan, 0, 0]], [[0, 0, 0]]), "bad_value"),
    ]:
        with pytest.raises(DecodeError) as info:
            dec.decode(data)
        assert info.value.reason == reason


def test_movesense_start_command():
    p = load_profile("movesense-imu6")
    write = next(s for s in p.start if s.action == "write")
    assert write.payload(p.default_params()) == b"\x01\x63/Meas/IMU6/104"
    assert write.payload(p.resolve_params({"sampling_rate_hz": "208"})) == b"\x01\x63/Meas/IMU6/208"


# ---------------------------------------------------------------- §3 Polar PMD


def test_polar_src_h10_start_command():
    p = load_profile("polar-pmd")
    params = p.resolve_params({"sampling_rate_hz": 200})
    acc_start = next(s for s in p.start if s.action == "write")
    assert acc_start.payload(params) == h("02 02 02 01 08 00 00 01 C8 00 01 01 10 00")
    wait = next(s for s in p.start if s.action == "wait_response")
    assert h("F0 02 02 00 00 01").startswith(wait.prefix_bytes(params))


def test_polar_src_h10_acc_raw_type1():
    data = h("02 EA 54 A2 42 8B 45 52 08 01 45 FF E4 FF B5 03 45 FF E4 FF B8 03")
    pkt = decoder("polar-pmd").decode(data)
    assert pkt.tick == 599618164814402794
    assert pkt.tick_unit_s == 1e-9
    assert pkt.gyr_deg_s is None
    np.testing.assert_allclose(pkt.acc_m_s2, np.array([[-187, -28, 949], [-187, -28, 952]]) * MG)


def test_polar_src_acc_compressed_type1():
    raw = parse_delta_frames(h("F1 FF 14 00 F0 03 06 01 7B 0F 08"), 3, 16)
    np.testing.assert_array_equal(raw, [[-15, 20, 1008], [-20, 17, 1008]])
    frame = h("02") + struct.pack("<Q", 1000) + h("81") + h("F1 FF 14 00 F0 03 06 01 7B 0F 08")
    pkt = decoder("polar-pmd").decode(frame)
    np.testing.assert_allclose(pkt.acc_m_s2, np.array([[-15, 20, 1008], [-20, 17, 1008]]) * MG)


def test_polar_src_gyro_compressed_type0():
    raw = parse_delta_frames(h("EA FF 08 00 0D 00 03 01 DF 00"), 3, 16)
    np.testing.assert_array_equal(raw, [[-22, 8, 13], [-23, 11, 16]])
    frame = h("05") + struct.pack("<Q", 7) + h("80") + h("EA FF 08 00 0D 00 03 01 DF 00")
    pkt = decoder("polar-pmd", gyr_factor=0.5).decode(frame)
    assert pkt.acc_m_s2 is None
    np.testing.assert_allclose(pkt.gyr_deg_s, [[-11, 4, 6.5], [-11.5, 5.5, 8]])


def test_polar_acc_compressed_type0_with_factor_from_start_response():
    dec = decoder("polar-pmd")
    # start response, ACC ok, settings: factor (5) x1 = 0.000244 as float32
    response = h("F0 02 02 00 00") + bytes([5, 1]) + struct.pack("<f", 0.000244)
    assert dec.decode(response) is None
    assert dec.factors[2] == pytest.approx(0.000244)
    payload = struct.pack("<3h", 0, 0, 4096) + bytes([2, 1, 0b00_01_11])  # deltas -1, +1, 0
    frame = h("02") + struct.pack("<Q", 5) + h("80") + payload
    pkt = dec.decode(frame)
    expected_g = np.array([[0, 0, 4096], [-1, 1, 4096]]) * 0.000244
    np.testing.assert_allclose(pkt.acc_m_s2, expected_g * G_M_S2, rtol=1e-6)
    # the SRC example response (no factor) leaves the factor alone
    assert dec.decode(h("F0 02 02 00 00 01")) is None
    assert dec.factors[2] == pytest.approx(0.000244)


def test_polar_settings_parser():
    settings = parse_pmd_settings(h("00 01 C8 00 01 01 10 00 02 01 08 00 04 01 03"))
    assert settings == {0: [200], 1: [16], 2: [8], 4: [3]}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("02 00 00 00 00 00 00 00 00 01", "too_short"),
        ("09 00 00 00 00 00 00 00 00 01 00 00", "unknown_measurement_type"),
        ("02 00 00 00 00 00 00 00 00 07 00 00 00", "unknown_frame_type"),
        ("02 00 00 00 00 00 00 00 00 01 00 00 00 00", "bad_length"),
        ("02 00 00 00 00 00 00 00 00 81 00 00", "too_short"),
        ("02 00 00 00 00 00 00 00 00 81 00 00 00 00 00 00 40 01", "bad_header"),
        ("02 00 00 00 00 00 00 00 00 81 00 00 00 00 00 00 08 02 00", "bad_length"),
        ("F0 02", "too_short"),
    ],
)
def test_polar_malformed(data, reason):
    with pytest.raises(DecodeError) as info:
        decoder("polar-pmd").decode(h(data))
    assert info.value.reason == reason


# ---------------------------------------------------------------- §4 MetaMotion


def test_metamotion_src_acc_4g():
    pkt = decoder("mbientlab-metamotion", acc_range_g=4).decode(h("03 04 16 C4 94 A2 2A D0"))
    np.testing.assert_allclose(pkt.acc_m_s2[0] / G_M_S2, [-1.872, -2.919, -1.495], atol=5e-4)
    assert pkt.gyr_deg_s is None
    assert pkt.tick is None
    assert pkt.clipped is False


def test_metamotion_src_gyro_500dps():
    pkt = decoder("mbientlab-metamotion", gyr_range_dps=500).decode(h("13 05 3E 43 FF 7F 00 80"))
    np.testing.assert_allclose(pkt.gyr_deg_s[0], [262.409, 499.497, -499.512], atol=5e-4)
    assert pkt.acc_m_s2 is None
    assert pkt.clipped is True  # 0x7FFF and 0x8000 sit at the int16 limits


def test_metamotion_packed_and_defaults():
    raw = [4096, 0, -4096, 2048, 2048, 0, 0, 0, 4096]
    for register in (0x1C, 0x05):
        pkt = decoder("mbientlab-metamotion").decode(
            bytes([3, register]) + struct.pack("<9h", *raw)
        )
        np.testing.assert_allclose(pkt.acc_m_s2 / G_M_S2, np.reshape(raw, (3, 3)) / 4096)
    pkt = decoder("mbientlab-metamotion").decode(h("13 07") + struct.pack("<9h", *[164] * 9))
    np.testing.assert_allclose(pkt.gyr_deg_s, np.full((3, 3), 10.0))


def test_metamotion_chip_reply_and_other_responses():
    dec = decoder("mbientlab-metamotion")
    assert dec.decode(h("03 80 04 01")) is None
    assert dec.chip == "BMI270"
    assert dec.decode(h("11 0A 01")) is None
    for data, reason in [("03", "too_short"), ("03 04 00 00", "bad_length")]:
        with pytest.raises(DecodeError) as info:
            dec.decode(h(data))
        assert info.value.reason == reason
    with pytest.raises(ConfigError, match="acc_range_g"):
        decoder("mbientlab-metamotion", acc_range_g=3)


# ---------------------------------------------------------------- §5 Thingy:52


def test_thingy_src_flat_on_table():
    data = h("FA FF F4 FF F6 03") + bytes(12)
    pkt = decoder("nordic-thingy52").decode(data)
    np.testing.assert_allclose(pkt.acc_m_s2[0] / G_M_S2, [-0.0059, -0.0117, 0.990], atol=5e-4)
    np.testing.assert_array_equal(pkt.gyr_deg_s, [[0, 0, 0]])
    assert pkt.seq is None
    assert pkt.tick is None
    assert pkt.sample_period_s == pytest.approx(0.01)


def test_thingy_gyro_scale_and_length():
    pkt = decoder("nordic-thingy52").decode(
        bytes(6) + struct.pack("<3h", 32, -320, 3200) + bytes(6)
    )
    np.testing.assert_allclose(pkt.gyr_deg_s, [[1, -10, 100]])
    for data, reason in [(bytes(17), "too_short"), (bytes(19), "bad_length")]:
        with pytest.raises(DecodeError) as info:
            decoder("nordic-thingy52").decode(data)
        assert info.value.reason == reason


def test_thingy_config_write():
    p = load_profile("nordic-thingy52")
    write = next(s for s in p.start if s.action == "write")
    payload = write.payload(p.resolve_params({"sampling_rate_hz": 200}))
    assert len(payload) == 9
    assert struct.unpack_from("<H", payload, 6)[0] == 200


# ---------------------------------------------------------------- §6 WitMotion


def wit(acc, gyr, ang=(0, 0, 0)) -> bytes:
    return h("55 61") + struct.pack("<9h", *acc, *gyr, *ang)


def test_witmotion_single_packet():
    pkt = decoder("witmotion-bwt901ble").decode(wit((2048, -1024, 0), (16384, 0, -32768 // 2)))
    np.testing.assert_allclose(pkt.acc_m_s2 / G_M_S2, [[1, -0.5, 0]])
    np.testing.assert_allclose(pkt.gyr_deg_s, [[1000, 0, -1000]])


def test_witmotion_several_packets_garbage_and_split():
    a, b, c = wit((1, 2, 3), (4, 5, 6)), wit((7, 8, 9), (10, 11, 12)), wit((13, 14, 15), (0, 0, 0))
    reply = h("55 71") + bytes(18)
    dec = decoder("witmotion-bwt901ble")
    stream = b"\x00\x13" + a + reply + b + c[:7]
    pkt = dec.decode(stream)
    np.testing.assert_allclose(pkt.acc_m_s2 * 2048 / G_M_S2, [[1, 2, 3], [7, 8, 9]])
    assert dec.decode(c[7:12]) is None
    pkt = dec.decode(c[12:] + a[:1])
    np.testing.assert_allclose(pkt.acc_m_s2 * 2048 / G_M_S2, [[13, 14, 15]])
    pkt = dec.decode(a[1:])
    np.testing.assert_allclose(pkt.acc_m_s2 * 2048 / G_M_S2, [[1, 2, 3]])
    assert dec.skipped_bytes == 2


def test_witmotion_garbage_only():
    with pytest.raises(DecodeError) as info:
        decoder("witmotion-bwt901ble").decode(h("01 02 03 04"))
    assert info.value.reason == "bad_header"


# ---------------------------------------------------------------- discovery across profiles


@pytest.mark.parametrize(
    ("name", "uuids", "expected"),
    [
        ("Stryd", ["0x1814"], "bluetooth-rsc"),
        (None, ["00001814-0000-1000-8000-00805f9b34fb"], "bluetooth-rsc"),
        ("Movesense 220330000122", [], "movesense-imu6"),
        ("Polar Sense B5E4A12F", ["180d"], "polar-pmd"),
        ("MetaWear", [], "mbientlab-metamotion"),
        ("Thingy", ["ef680100-9b35-4933-9b10-52ffa9740042"], "nordic-thingy52"),
        ("WT901BLE68", ["ffe5"], "witmotion-bwt901ble"),
        (None, ["0000FFE5-0000-1000-8000-00805F9A34FB"], "witmotion-bwt901ble"),
        ("footpod-R", ["0ef62eac-2b12-490a-92a0-97c5dde92234", "1814"], "footpod-imu-v1"),
    ],
)
def test_match_each_vendor(name, uuids, expected):
    assert match_profile(name, uuids, load_all_profiles()).name == expected
