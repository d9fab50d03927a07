"""``footpod profiles`` sub-commands, driven through their own ArgumentParser."""

from __future__ import annotations

import argparse
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from sensor_service.commands.profiles import register

REPO = Path(__file__).resolve().parents[2]


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="footpod")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_list_json(capsys):
    assert run("profiles", "list", "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    names = {r["name"] for r in rows}
    assert {"footpod-imu-v1", "bluetooth-rsc", "polar-pmd", "movesense-imu6"} <= names
    for r in rows:
        assert r["file"].endswith(f"{r['name']}.toml")


def test_list_table(capsys):
    assert run("profiles", "list") == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("NAME")
    assert "footpod-imu-v1" in out


def test_validate_all(capsys):
    assert run("profiles", "validate") == 0
    assert "valid" in capsys.readouterr().out


def test_validate_files_with_errors(tmp_path, capsys):
    good = REPO / "firmware_profiles" / "footpod-imu-v1.toml"
    bad = tmp_path / "footpod-imu-v1.toml"
    bad.write_text(
        good.read_text().replace('"ax:i16"', '"ax:int17"').replace("min_mtu = 23", "min_mtu = 1")
    )
    assert run("profiles", "validate", str(good), str(bad)) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert any("decoder.layout.sample: unknown field type 'int17'" in line for line in lines)
    assert any("gatt.min_mtu" in line for line in lines)


def test_validate_dir_env(tmp_path, monkeypatch, capsys):
    (tmp_path / "x.toml").write_text("[profile]\nname = 'x'\n")
    monkeypatch.setenv("FOOTPOD_PROFILES_DIR", str(tmp_path))
    assert run("profiles", "validate") == 1
    assert "x.toml: discovery: missing section" in capsys.readouterr().out


def test_decode_rsc_json(capsys):
    assert (
        run("profiles", "decode", "bluetooth-rsc", "07 00 03 12 56 00 01 00 00 F0", "--json") == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["samples"] == []
    assert out["speed_m_s"] == 3.0
    assert out["cadence_per_min"] == 18
    assert out["stride_m"] == pytest.approx(0.86)
    assert out["distance_m"] == pytest.approx(402653184.1)


def test_decode_rsc_without_optional_fields(capsys):
    assert run("profiles", "decode", "bluetooth-rsc", "04 00 03 12", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert "stride_m" not in out
    assert "distance_m" not in out


def test_decode_with_param_json(capsys):
    argv = ["profiles", "decode", "mbientlab-metamotion", "03 04 16 C4 94 A2 2A D0"]
    assert run(*argv, "--param", "acc_range_g=4", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    (sample,) = out["samples"]
    assert "gyr_deg_s" not in sample
    assert [round(v / 9.80665, 3) for v in sample["acc_m_s2"]] == [-1.872, -2.919, -1.495]


def test_decode_split_packets_and_table(capsys):
    whole = bytes([2, 99]) + struct.pack("<I", 1) + np.arange(48, dtype="<f4").tobytes()
    part2 = bytes([3, 99]) + whole[152:]
    assert run("profiles", "decode", "movesense-imu6", f"{whole[:152].hex()} / {part2.hex()}") == 0
    out = capsys.readouterr().out
    assert "fragment" in out
    assert "8 sample(s)" in out
    assert "gx deg/s" in out


def test_decode_footpod_multi_args(capsys):
    # hex split over several arguments, as typed in a shell without quotes
    argv = ["profiles", "decode", "footpod-imu-v1", "01", "01", "0100", "00000000"]
    assert run(*argv, "00 08 00 00 00 00", "00 00 00 00 00 00", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["packets"][0]["seq"] == 1
    assert out["samples"][0]["acc_m_s2"] == [9.80665, 0.0, 0.0]


def test_decode_errors(capsys):
    assert run("profiles", "decode", "footpod-imu-v1", "0102") == 1
    assert "too_short" in capsys.readouterr().err
    assert run("profiles", "decode", "footpod-imu-v1", "zz") == 2
    assert run("profiles", "decode", "no-such-profile", "00") == 2
    assert run("profiles", "decode", "footpod-imu-v1", "00", "--param", "nope=1") == 2
    assert run("profiles", "decode", "footpod-imu-v1", "00", "--param", "novalue") == 2
    assert "KEY=VALUE" in capsys.readouterr().err
