"""The footpod entry point: every sub-command is registered and answers --help."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sensor_service.cli import COMMAND_MODULES, build_parser, main


def test_every_command_module_registers() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    names = set(sub.choices)  # type: ignore[arg-type]
    assert {"demo", "ingest", "profiles"} <= names
    assert len(names) >= len(COMMAND_MODULES)


@pytest.mark.parametrize("command", ["demo", "ingest", "profiles"])
def test_help_explains_each_command(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert len(capsys.readouterr().out) > 200


def test_profiles_list_json_through_the_console_entry_point() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sensor_service.cli", "profiles", "list", "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = json.loads(out)
    assert {"footpod-imu-v1", "bluetooth-rsc"} <= {r["name"] for r in rows}
    assert all(r["file"].endswith(".toml") for r in rows)


def test_footpod_errors_are_one_line_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", "--influx-db", "Bad Name"]) == 2
    err = capsys.readouterr().err
    assert "invalid database id" in err
    assert err.count("\n") == 1


def test_building_the_parser_leaves_the_ble_stack_and_kernels_unloaded() -> None:
    """`footpod --help` starts without loading bumble, bleak, numba, the kernels or the
    pipeline (half a second or more each): the commands import them when they run."""
    code = (
        "import sys; from sensor_service.cli import build_parser; build_parser(); "
        "print(sorted(m for m in ('bumble', 'bleak', 'numba', 'sensor_service.pipeline', "
        "'sensor_service.demo', 'sensor_service.kernels') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
