"""Every decoder, fed arbitrary bytes and mutated valid packets, raises DecodeError or nothing.

The safety net in ``Decoder.decode`` turns a stray exception into reason ``malformed``; these
tests also require that it never fires, so every malformed input has a precise reason.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensor_service.errors import DecodeError
from sensor_service.profiles import DecodedPacket, encode_footpod_data, load_all_profiles

PROFILES = {p.name: p for p in load_all_profiles()}

_MOVESENSE_8 = bytes([2, 99]) + struct.pack("<I", 5) + np.arange(48, dtype="<f4").tobytes()

VALID: dict[str, list[bytes]] = {
    "footpod-imu-v1": [
        encode_footpod_data(7, 1000, [[1, 2, 3]] * 4, [[4, 5, 6]] * 4),
        encode_footpod_data(8, 2000, [[-1, -2, -3]]),
    ],
    "bluetooth-rsc": [bytes.fromhex("07 00 03 12 56 00 01 00 00 F0"), bytes.fromhex("04 00 03 12")],
    "movesense-imu6": [
        _MOVESENSE_8[:152],
        bytes([3, 99]) + _MOVESENSE_8[152:],
        bytes([2, 99]) + struct.pack("<I", 5) + np.ones(6, "<f4").tobytes(),
        bytes.fromhex("01 63 C8 00"),
    ],
    "polar-pmd": [
        bytes.fromhex("02 EA 54 A2 42 8B 45 52 08 01 45 FF E4 FF B5 03 45 FF E4 FF B8 03"),
        bytes.fromhex("02 00 00 00 00 00 00 00 00 81 F1 FF 14 00 F0 03 06 01 7B 0F 08"),
        bytes.fromhex("05 00 00 00 00 00 00 00 00 80 EA FF 08 00 0D 00 03 01 DF 00"),
        bytes.fromhex("F0 02 02 00 00 05 01 00 00 80 3F"),
    ],
    "mbientlab-metamotion": [
        bytes.fromhex("03 04 16 C4 94 A2 2A D0"),
        bytes.fromhex("13 05 3E 43 FF 7F 00 80"),
        bytes.fromhex("03 1C") + bytes(18),
        bytes.fromhex("03 80 01 02"),
    ],
    "nordic-thingy52": [bytes.fromhex("FA FF F4 FF F6 03") + bytes(12)],
    "witmotion-bwt901ble": [
        bytes.fromhex("55 61") + bytes(range(18)),
        bytes.fromhex("00 55 61") + bytes(18) + bytes.fromhex("55 61") + bytes(5),
    ],
}


def test_every_profile_has_fuzz_seeds():
    assert set(VALID) == set(PROFILES)


def _check(name: str, packets: list[bytes]) -> None:
    dec = PROFILES[name].make_decoder()
    for data in packets:
        try:
            pkt = dec.decode(data)
        except DecodeError as exc:
            reason = exc.reason
            pkt = None
        else:
            reason = None
        assert reason != "malformed", data.hex()
        if pkt is None:
            continue
        assert isinstance(pkt, DecodedPacket)
        for arr in (pkt.acc_m_s2, pkt.gyr_deg_s):
            if arr is not None:
                assert arr.dtype == np.float64
                assert arr.ndim == 2
                assert arr.shape[1] == 3
                assert arr.shape[0] >= 1
                assert np.all(np.isfinite(arr))


def _mutate(data: bytes, ops: list[tuple[int, int, int]]) -> bytes:
    buf = bytearray(data)
    for op, pos, value in ops:
        if op == 0 and buf:  # replace a byte
            buf[pos % len(buf)] = value
        elif op == 1 and buf:  # delete a byte
            del buf[pos % len(buf)]
        elif op == 2:  # insert a byte
            buf.insert(pos % (len(buf) + 1), value)
        elif op == 3:  # truncate
            del buf[pos % (len(buf) + 1) :]
        elif op == 4:  # append junk
            buf += bytes([value]) * (pos % 40)
    return bytes(buf)


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("name", sorted(VALID))
@FUZZ
@given(packets=st.lists(st.binary(max_size=260), min_size=1, max_size=6))
def test_arbitrary_bytes(name, packets):
    _check(name, packets)


@pytest.mark.parametrize("name", sorted(VALID))
@FUZZ
@given(
    data=st.data(),
    ops=st.lists(
        st.tuples(st.integers(0, 4), st.integers(0, 300), st.integers(0, 255)),
        min_size=1,
        max_size=6,
    ),
)
def test_mutated_valid_packets(name, data, ops):
    seeds = VALID[name]
    first = data.draw(st.sampled_from(seeds))
    second = data.draw(st.sampled_from(seeds))
    _check(name, [_mutate(first, ops), second, _mutate(second, ops[::-1])])


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_seeds_decode(name):
    dec = PROFILES[name].make_decoder()
    outputs = [dec.decode(d) for d in VALID[name]]
    assert any(o is not None for o in outputs)
