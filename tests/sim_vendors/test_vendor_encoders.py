"""Each simulated pod's encoder against its profile's decoder (pure round trips, no link)."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from numpy.typing import NDArray

from sensor_service.errors import ConfigError
from sensor_service.profiles import G_M_S2, DecodedPacket, Decoder, load_profile
from sensor_service.sim.vendor_pods import POD_TYPES, make_simulated_pod
from sensor_service.sim.vendor_pods.metawear import ACC_MODULE, GYRO_MODULE, encode_metawear_data
from sensor_service.sim.vendor_pods.movesense import (
    SPLIT_PAYLOAD_BYTES,
    encode_movesense_data,
    encode_movesense_result,
)
from sensor_service.sim.vendor_pods.polar import (
    PMD_ACC,
    PMD_GYRO,
    encode_delta_payload,
    encode_pmd_frame,
    encode_pmd_response,
)
from sensor_service.sim.vendor_pods.rsc import encode_rsc_feature, encode_rsc_measurement
from sensor_service.sim.vendor_pods.thingy52 import encode_thingy_config, encode_thingy_raw
from sensor_service.sim.vendor_pods.witmotion import encode_witmotion_packet, witmotion_angles

RNG = np.random.default_rng(7)


def _decoder(profile: str, **params: float | str) -> Decoder:
    return load_profile(profile).make_decoder(params)


def _packet(decoder: Decoder, data: bytes) -> DecodedPacket:
    packet = decoder.decode(data)
    assert packet is not None
    return packet


def _acc(packet: DecodedPacket | None) -> NDArray[np.float64]:
    assert packet is not None
    assert packet.acc_m_s2 is not None
    return packet.acc_m_s2


def _gyr(packet: DecodedPacket | None) -> NDArray[np.float64]:
    assert packet is not None
    assert packet.gyr_deg_s is not None
    return packet.gyr_deg_s


def test_every_profile_has_a_simulated_pod() -> None:
    profiles = sorted(p.stem for p in load_profile("footpod-imu-v1").path.parent.glob("*.toml"))
    assert sorted(POD_TYPES) == profiles


def test_factory_rejects_unknown_profile_and_option() -> None:
    class _Src:
        sampling_rate_hz = 104.0

        def read(self, n: int) -> None:
            return None

    with pytest.raises(ConfigError, match="no simulated pod"):
        make_simulated_pod("nope", name="x", source=_Src())
    with pytest.raises(ConfigError, match="movesense"):
        make_simulated_pod("movesense-imu6", name="Movesense 1", source=_Src(), bogus=1)


# -- Movesense (FIRMWARE.md §2) ---------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 4, 6, 7, 8, 16])
def test_movesense_round_trip_single_and_split(n: int) -> None:
    acc = RNG.normal(0, 30, (n, 3))
    gyr = RNG.normal(0, 500, (n, 3))
    packets = encode_movesense_data(99, 2**32 + 1234, acc, gyr)
    payload = 4 + 24 * n
    split = payload > SPLIT_PAYLOAD_BYTES
    assert [p[0] for p in packets] == ([2, 3] if split else [2])
    assert all(p[1] == 99 for p in packets)
    if split:
        assert len(packets[0]) == 2 + SPLIT_PAYLOAD_BYTES  # fits ATT MTU 155
        assert len(packets[1]) == 2 + payload - SPLIT_PAYLOAD_BYTES
    decoder = _decoder("movesense-imu6", ref=99)
    results = [decoder.decode(p) for p in packets]
    assert all(r is None for r in results[:-1])
    packet = results[-1]
    assert packet is not None
    assert packet.tick == 1234  # wrapped to u32
    np.testing.assert_allclose(_acc(packet), acc.astype(np.float32), rtol=0)
    np.testing.assert_allclose(_gyr(packet), gyr.astype(np.float32), rtol=0)


def test_movesense_imu9_and_result() -> None:
    acc, gyr, mag = (RNG.normal(0, 10, (8, 3)) for _ in range(3))
    packets = encode_movesense_data(5, 10, acc, gyr, mag)
    decoder = _decoder("movesense-imu6", ref=5, sensors="IMU9")
    assert decoder.decode(packets[0]) is None
    packet = _packet(decoder, packets[1])
    np.testing.assert_allclose(_gyr(packet), gyr.astype(np.float32), rtol=0)
    assert encode_movesense_result(5, 200) == bytes.fromhex("0105c800")
    assert decoder.decode(encode_movesense_result(5, 200)) is None


# -- Polar PMD (FIRMWARE.md §3) ---------------------------------------------------------------


@pytest.mark.parametrize("block", [1, 3, 255])
def test_polar_delta_payload_round_trip_acc_0x81(block: int) -> None:
    mg = np.cumsum(RNG.integers(-300, 300, (30, 3)), axis=0)
    mg[5] = [32767, -32768, 0]  # full-scale jumps need 17-bit deltas
    payload = encode_delta_payload(mg, block_samples=block)
    frame = encode_pmd_frame(PMD_ACC, 599618164814402794, 0x81, payload)
    packet = _packet(_decoder("polar-pmd"), frame)
    assert packet.tick == 599618164814402794
    np.testing.assert_allclose(_acc(packet), mg * G_M_S2 / 1000.0, rtol=1e-12)


def test_polar_delta_0x80_uses_the_factor_of_the_start_response() -> None:
    factor = float(np.float32(0.000244))
    counts = np.cumsum(RNG.integers(-50, 50, (20, 3)), axis=0)
    decoder = _decoder("polar-pmd")
    response = encode_pmd_response(2, PMD_ACC, 0, bytes([5, 1]) + struct.pack("<f", factor))
    assert decoder.decode(response) is None
    frame = encode_pmd_frame(PMD_ACC, 1, 0x80, encode_delta_payload(counts))
    packet = _packet(decoder, frame)
    np.testing.assert_allclose(_acc(packet), counts * factor * G_M_S2, rtol=1e-9)


def test_polar_gyro_delta_and_raw_frames() -> None:
    factor = float(np.float32(2000 / 32768))
    counts = np.cumsum(RNG.integers(-900, 900, (25, 3)), axis=0)
    decoder = _decoder("polar-pmd", gyr_factor=factor)
    delta = _packet(decoder, encode_pmd_frame(PMD_GYRO, 5, 0x80, encode_delta_payload(counts)))
    np.testing.assert_allclose(_gyr(delta), counts * factor, rtol=1e-12)
    raw = _packet(decoder, encode_pmd_frame(PMD_GYRO, 5, 0x00, counts.astype("<i2").tobytes()))
    np.testing.assert_allclose(_gyr(raw), counts * factor, rtol=1e-12)


def test_polar_delta_single_sample_and_all_equal() -> None:
    decoder = _decoder("polar-pmd")
    one = _packet(decoder, encode_pmd_frame(PMD_ACC, 0, 0x81, encode_delta_payload([[1, -2, 3]])))
    np.testing.assert_allclose(_acc(one), [[G_M_S2 / 1000, -2 * G_M_S2 / 1000, 3 * G_M_S2 / 1000]])
    flat = np.tile([7, 8, 9], (10, 1))
    payload = encode_delta_payload(flat)
    assert payload[6] == 1  # zero deltas take 1 bit
    same = _packet(decoder, encode_pmd_frame(PMD_ACC, 0, 0x81, payload))
    np.testing.assert_allclose(_acc(same), flat * G_M_S2 / 1000)


# -- MetaMotion (FIRMWARE.md §4) --------------------------------------------------------------


@pytest.mark.parametrize(("acc_range", "lsb"), [(2, 16384), (4, 8192), (8, 4096), (16, 2048)])
def test_metawear_acc_single_and_packed(acc_range: int, lsb: int) -> None:
    raw = RNG.integers(-32768, 32767, (3, 3))
    decoder = _decoder("mbientlab-metamotion", acc_range_g=acc_range)
    single = _packet(decoder, encode_metawear_data(ACC_MODULE, 0x04, raw[0]))
    np.testing.assert_allclose(_acc(single), raw[:1] / lsb * G_M_S2)
    for register in (0x1C, 0x05):  # BMI160, BMI270 packed registers
        packed = _packet(decoder, encode_metawear_data(ACC_MODULE, register, raw))
        np.testing.assert_allclose(_acc(packed), raw / lsb * G_M_S2)


@pytest.mark.parametrize(
    ("gyr_range", "lsb"), [(2000, 16.4), (1000, 32.8), (500, 65.6), (250, 131.2), (125, 262.4)]
)
def test_metawear_gyro_single_and_packed(gyr_range: int, lsb: float) -> None:
    raw = RNG.integers(-32768, 32767, (3, 3))
    decoder = _decoder("mbientlab-metamotion", gyr_range_dps=gyr_range)
    single = _packet(decoder, encode_metawear_data(GYRO_MODULE, 0x05, raw[0]))
    np.testing.assert_allclose(_gyr(single), raw[:1] / lsb)
    packed = _packet(decoder, encode_metawear_data(GYRO_MODULE, 0x07, raw))
    np.testing.assert_allclose(_gyr(packed), raw / lsb)
    assert len(encode_metawear_data(GYRO_MODULE, 0x07, raw)) == 20  # fits ATT MTU 23


def test_metawear_src_vectors_encode_back() -> None:
    assert encode_metawear_data(ACC_MODULE, 0x04, [-15338, -23916, -12246]).hex() == (
        "030416c494a22ad0"
    )


# -- Thingy:52 (FIRMWARE.md §5) ---------------------------------------------------------------


def test_thingy_round_trip_and_config() -> None:
    acc, gyr = RNG.integers(-32768, 32767, (2, 3))
    data = encode_thingy_raw(acc, gyr, [320, 0, -640])
    assert len(data) == 18
    packet = _packet(_decoder("nordic-thingy52"), data)
    np.testing.assert_allclose(_acc(packet), [acc / 1024 * G_M_S2])
    np.testing.assert_allclose(_gyr(packet), [gyr / 32])
    profile = load_profile("nordic-thingy52")
    assert profile.start[0].payload({"sampling_rate_hz": 60.0}) == encode_thingy_config(60)


# -- WitMotion (FIRMWARE.md §6) ---------------------------------------------------------------


def test_witmotion_several_packets_per_notification_and_fragments() -> None:
    raw = RNG.integers(-32768, 32767, (5, 9))
    stream = b"".join(encode_witmotion_packet(r[:3], r[3:6], r[6:]) for r in raw)
    decoder = _decoder("witmotion-bwt901ble")
    three = _packet(decoder, stream[:60])
    assert decoder.decode(stream[60:70]) is None  # half a packet: wait for more
    rest = _packet(decoder, stream[70:])
    acc = np.vstack([_acc(three), _acc(rest)])
    np.testing.assert_allclose(acc, raw[:, :3] * 16 / 32768 * G_M_S2)
    gyr = np.vstack([_gyr(three), _gyr(rest)])
    np.testing.assert_allclose(gyr, raw[:, 3:6] * 2000 / 32768, rtol=1e-6)


def test_witmotion_angles_from_gravity() -> None:
    angles = witmotion_angles(np.array([[0.0, 0.0, G_M_S2], [0.0, G_M_S2, 0.0]]))
    np.testing.assert_allclose(angles, [[0, 0, 0], [90, 0, 0]], atol=1e-9)


# -- RSC (FIRMWARE.md §1) ---------------------------------------------------------------------


def test_rsc_round_trip_all_fields_and_strides() -> None:
    data = encode_rsc_measurement(3.2, 170, stride_m=2.259, distance_m=1234.56, running=True)
    rsc = _packet(_decoder("bluetooth-rsc"), data).rsc
    assert rsc is not None
    assert rsc.running
    assert rsc.speed_m_s == pytest.approx(3.2, abs=1 / 512)
    assert rsc.cadence_per_min == 170
    assert rsc.stride_m == pytest.approx(2.26)
    assert rsc.distance_m == pytest.approx(1234.6)
    half = encode_rsc_measurement(3.0, 85, running=False)
    rsc2 = _packet(_decoder("bluetooth-rsc", cadence_unit="strides"), half).rsc
    assert rsc2 is not None
    assert (rsc2.cadence_per_min, rsc2.stride_m, rsc2.distance_m, rsc2.running) == (
        170,
        None,
        None,
        False,
    )
    assert encode_rsc_feature(distance=False) == bytes.fromhex("0d00")  # FIRMWARE.md [SRC]
