"""`footpod profiles decode` reproduces every [SRC] packet of FIRMWARE.md (issue 3, must show).

Each case is the packet as a user would paste it from nRF Connect, the options the decoder
needs, and the values FIRMWARE.md gives, at the precision it states them.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from sensor_service.cli import main

G = 9.80665
MG = G / 1000.0
TS = struct.pack("<Q", 1000).hex()

# (profile, hex, params, key, expected rows, scale to SI, abs tolerance in source units)
SRC = [
    (
        "polar-pmd",
        "02 EA 54 A2 42 8B 45 52 08 01 45 FF E4 FF B5 03 45 FF E4 FF B8 03",
        [],
        "acc_m_s2",
        [[-187, -28, 949], [-187, -28, 952]],
        MG,
        0.5,
    ),
    (
        "polar-pmd",
        f"02 {TS} 81 F1 FF 14 00 F0 03 06 01 7B 0F 08",
        [],
        "acc_m_s2",
        [[-15, 20, 1008], [-20, 17, 1008]],
        MG,
        0.5,
    ),
    (
        "polar-pmd",
        f"05 {TS} 80 EA FF 08 00 0D 00 03 01 DF 00",
        ["gyr_factor=1"],
        "gyr_deg_s",
        [[-22, 8, 13], [-23, 11, 16]],
        1.0,
        0.5,
    ),
    (
        "mbientlab-metamotion",
        "03 04 16 C4 94 A2 2A D0",
        ["acc_range_g=4"],
        "acc_m_s2",
        [[-1.872, -2.919, -1.495]],
        G,
        5e-4,
    ),
    (
        "mbientlab-metamotion",
        "13 05 3E 43 FF 7F 00 80",
        ["gyr_range_dps=500"],
        "gyr_deg_s",
        [[262.409, 499.497, -499.512]],
        1.0,
        5e-4,
    ),
    (
        "nordic-thingy52",
        "FA FF F4 FF F6 03" + " 00" * 12,
        [],
        "acc_m_s2",
        [[-0.0059, -0.0117, 0.990]],
        G,
        5e-4,
    ),
]


@pytest.mark.parametrize(("profile", "hexdata", "params", "key", "rows", "scale", "tol"), SRC)
def test_src_packet_decodes_to_the_documented_values(
    profile: str,
    hexdata: str,
    params: list[str],
    key: str,
    rows: list[list[float]],
    scale: float,
    tol: float,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["profiles", "decode", profile, hexdata, "--json"]
    for p in params:
        argv += ["--param", p]
    assert main(argv) == 0
    samples = json.loads(capsys.readouterr().out)["samples"]
    got = np.array([s[key] for s in samples]) / scale
    np.testing.assert_allclose(got, rows, atol=tol)


def test_src_rsc_measurement(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["profiles", "decode", "bluetooth-rsc", "07 00 03 12 56 00 01 00 00 F0", "--json"])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["speed_m_s"] == pytest.approx(3.0)
    assert out["cadence_per_min"] == pytest.approx(18)
    assert out["stride_m"] == pytest.approx(0.86)
    assert out["distance_m"] == pytest.approx(0xF0000001 / 10)
