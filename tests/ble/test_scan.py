"""`footpod scan`: every profile's simulated pod is found and matched; no radio = clear error."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sensor_service.profiles import load_all_profiles

pytestmark = pytest.mark.integration


def _scan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sensor_service.cli", "scan", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_scan_matches_a_simulated_pod_of_every_profile() -> None:
    proc = _scan("--backend", "virtual", "--simulate", "--timeout-s", "1.5", "--json")
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert {p["profile"] for p in found} == {p.name for p in load_all_profiles()}
    assert all(p["address"] and p["name"] for p in found)


def test_scan_without_a_radio_says_what_to_do() -> None:
    proc = _scan("--timeout-s", "0.5")
    if proc.returncode == 0:  # a machine with a Bluetooth adapter
        pytest.skip("this machine has a working Bluetooth stack")
    assert "--backend virtual" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_simulate_needs_the_virtual_backend() -> None:
    proc = _scan("--simulate", "--timeout-s", "0.5")
    assert proc.returncode == 2
    assert "--simulate needs --backend virtual" in proc.stderr
