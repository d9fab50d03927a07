"""Profile loading and validation: errors name file, key and reason."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

from sensor_service.errors import ConfigError
from sensor_service.profiles import (
    PROFILES_DIR_ENV,
    ProfileError,
    default_profiles_dir,
    load_all_profiles,
    load_profile,
    match_profile,
    normalize_uuid,
    validate_profile_file,
)

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "firmware_profiles" / "footpod-imu-v1.toml"


def _write(tmp_path: Path, text: str, name: str = "footpod-imu-v1") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def test_default_dir_is_repo_firmware_profiles(monkeypatch):
    monkeypatch.delenv(PROFILES_DIR_ENV, raising=False)
    assert default_profiles_dir() == REPO / "firmware_profiles"


def test_all_shipped_profiles_are_valid():
    profiles = load_all_profiles()
    names = [p.name for p in profiles]
    assert "footpod-imu-v1" in names
    for p in profiles:
        assert p.path.stem == p.name
        p.make_decoder()  # defaults are usable


def test_env_override(monkeypatch, tmp_path):
    _write(tmp_path, SAMPLE.read_text())
    monkeypatch.setenv(PROFILES_DIR_ENV, str(tmp_path))
    assert load_profile("footpod-imu-v1").path == tmp_path / "footpod-imu-v1.toml"
    with pytest.raises(ConfigError, match="no firmware profile named 'nope'"):
        load_profile("nope")


def test_load_by_path():
    assert load_profile(SAMPLE).name == "footpod-imu-v1"
    assert load_profile(str(SAMPLE)).name == "footpod-imu-v1"
    assert load_profile("footpod-imu-v1.toml").name == "footpod-imu-v1"


def test_error_names_file_key_and_reason(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "firmware_profiles").mkdir()
    text = SAMPLE.read_text().replace('"ax:i16"', '"ax:int17"')
    path = _write(tmp_path / "firmware_profiles", text)
    with pytest.raises(ProfileError) as info:
        validate_profile_file(path)
    assert (
        "firmware_profiles/footpod-imu-v1.toml: decoder.layout.sample: unknown field type 'int17'"
        in str(info.value)
    )


@pytest.mark.parametrize(
    ("old", "new", "key", "reason"),
    [
        ('name = "footpod-imu-v1"', 'name = "Footpod IMU"', "profile.name", "identifier-like"),
        ('name = "footpod-imu-v1"', 'name = "other"', "profile.name", "does not match the file"),
        ('forward_axis = "+x"', 'forward_axis = "+q"', "mounting.forward_axis", "is not one of"),
        ('left_axis = "+y"', 'left_axis = "-x"', "mounting.left_axis", "parallel"),
        ('kind = "per_packet_tick"', 'kind = "sundial"', "timestamps.kind", "unknown kind"),
        ("default_hz = 416.0", "default_hz = 415.0", "rates.default_hz", "not an allowed rate"),
        ('hex = "01"', 'hex = "0G"', "start[3]", "bad hex"),
        ('hex = "01"', 'hex = "01 {nope:u8}"', "start[3]", "unknown parameter 'nope'"),
        ('char = "info"', 'char = "missing"', "start[0].char", "not a characteristic"),
        ('action = "read"', 'action = "dance"', "start[0].action", "unknown action"),
        ("min_mtu = 23", "min_mtu = 5", "gatt.min_mtu", "outside 23..517"),
        ('data = "0ef60001', 'data = "zz0ef60001', "gatt.data", "not a UUID"),
        ("rsc = false", "rsc = 1", "capabilities.rsc", "must be a boolean"),
        ("acc = true", "acc = true\ncolour = 1", "capabilities.colour", "unknown key"),
        ('acc_unit = "g"', 'acc_unit = "furlong"', "scaling.acc_unit", "unknown unit"),
        (
            'acc_lsb_per_unit = "acc_lsb_per_g"',
            'acc_lsb_per_unit = "nope"',
            "scaling.acc_lsb_per_unit",
            "does not declare",
        ),
        (
            "expect = { version = 1 }",
            "expect = { colour = 1 }",
            "decoder.layout.expect.colour",
            "not a header field",
        ),
        (
            "\n[decoder.layout]\n",
            '\nnamed = "no-such"\n[decoder.layout]\n',
            "decoder",
            "exactly one of",
        ),
        ("seq_bits = 16", "", "timestamps.seq_bits", "missing key"),
        (
            '"gx:i16", "gy:i16", "gz:i16"',
            '"gx:i16", "gy:i16", "_:i16"',
            "decoder.layout.sample",
            "all of gx, gy, gz",
        ),
    ],
)
def test_validation_errors(tmp_path, old, new, key, reason):
    text = SAMPLE.read_text()
    assert old in text
    path = _write(tmp_path, text.replace(old, new, 1))
    with pytest.raises(ProfileError) as info:
        validate_profile_file(path)
    lines = info.value.errors
    assert any(
        line.startswith(f"{path}: {key}: ") or re.search(rf": {re.escape(key)}: ", line)
        for line in lines
        if reason in line
    ), lines


def test_several_errors_reported_at_once(tmp_path):
    text = SAMPLE.read_text().replace('forward_axis = "+x"', 'forward_axis = "up"')
    text = text.replace("min_mtu = 23", "min_mtu = 1")
    with pytest.raises(ProfileError) as info:
        validate_profile_file(_write(tmp_path, text))
    assert len(info.value.errors) == 2


def test_not_toml(tmp_path):
    with pytest.raises(ProfileError, match="not valid TOML"):
        validate_profile_file(_write(tmp_path, "[profile\nname="))


def test_missing_file(tmp_path):
    with pytest.raises(ProfileError, match="cannot read"):
        validate_profile_file(tmp_path / "x.toml")


def test_load_all_collects_errors(tmp_path):
    _write(tmp_path, SAMPLE.read_text())
    _write(tmp_path, "[profile]\nname = 'bad'\n", name="bad")
    with pytest.raises(ProfileError) as info:
        load_all_profiles(tmp_path)
    assert all("bad.toml" in line for line in info.value.errors)
    assert any("discovery: missing section" in line for line in info.value.errors)


def test_normalize_uuid():
    # the Bluetooth Base UUID (Core spec Vol 3 Part B 2.5.1)
    assert normalize_uuid("0000") == "00000000-0000-1000-8000-00805f9b34fb"
    assert normalize_uuid("0x180F") == "0000180f-0000-1000-8000-00805f9b34fb"
    assert normalize_uuid("2A19") == "00002a19-0000-1000-8000-00805f9b34fb"
    assert normalize_uuid("FB005C80-02E7-F387-1CAD-8ACD2D8DF0C8") == (
        "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
    )
    with pytest.raises(ValueError):  # noqa: PT011
        normalize_uuid("xyz")


def test_match_profile():
    profiles = load_all_profiles()
    by_name = {p.name: p for p in profiles}
    fp = by_name["footpod-imu-v1"]
    assert match_profile("footpod-L", [], profiles) is fp
    assert match_profile(None, ["0EF62EAC-2B12-490A-92A0-97C5DDE92234"], profiles) is fp
    assert match_profile("unrelated", ["0000180d-0000-1000-8000-00805f9b34fb"], profiles) is None
    assert match_profile(None, ["not-a-uuid"], profiles) is None


def test_mounting_rotation_is_proper():
    r = load_profile("footpod-imu-v1").mounting.rotation()
    np.testing.assert_array_equal(r, np.eye(3))
    assert np.linalg.det(r) == 1


def _dotted_keys(table: dict, prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for key, value in table.items():
        keys.add(key)
        if isinstance(value, dict) and key not in ("other", "expect", "flag_bits", "params"):
            keys |= _dotted_keys(value, f"{prefix}{key}.")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                keys |= set(item)
    return keys


def test_readme_documents_every_key_used_by_the_shipped_profiles():
    readme = (REPO / "firmware_profiles" / "README.md").read_text()
    for path in sorted((REPO / "firmware_profiles").glob("*.toml")):
        keys = _dotted_keys(tomllib.loads(path.read_text()))
        missing = sorted(
            k for k in keys if not re.search(rf"`[^`\n]*\b{re.escape(k)}\b[^`\n]*`", readme)
        )
        assert not missing, f"{path.name}: README.md does not document {missing}"
        assert path.stem in readme
