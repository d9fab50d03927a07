"""The demo end to end: simulated pods → bleak → kernel → MQTT → ingest → InfluxDB."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def _footpod(*args: str, timeout_s: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sensor_service.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def _pids(name: str) -> set[int]:
    """Live processes called ``name`` (zombies awaiting their reaper are not running)."""
    out = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True, check=False)
    live = set()
    for pid in (int(p) for p in out.stdout.split()):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in ("Z", "X"):
            live.add(pid)
    return live


def test_demo_stores_every_simulated_step_with_accurate_contact_time(
    mqtt_url: str, influx_db: tuple[str, str]
) -> None:
    url, _ = influx_db
    db = f"demo_{uuid.uuid4().hex[:8]}"
    proc = _footpod(
        "demo",
        "--runners",
        "2",
        "--minutes",
        "0.4",
        "--mqtt-url",
        mqtt_url,
        "--influx-url",
        url,
        "--influx-db",
        db,
        "--json",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(result) == {"athletes", "lost"}
    assert result["lost"] == 0
    assert len(result["athletes"]) == 2
    for athlete, r in result["athletes"].items():
        # 0.4 min at 160-190 spm is 64-76 steps, plus standing start and end.
        assert r["steps_simulated"] > 50, athlete
        assert r["steps_stored"] == r["steps_simulated"], (athlete, r)
        assert abs(r["gct_ms_median_est"] - r["gct_ms_median_true"]) <= 10.0, (athlete, r)


def test_demo_without_urls_starts_and_stops_its_own_services() -> None:
    before = {name: _pids(name) for name in ("mosquitto", "influxd")}
    proc = _footpod("demo", "--runners", "1", "--minutes", "0.15", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    (r,) = result["athletes"].values()
    assert r["steps_stored"] == r["steps_simulated"] > 0
    deadline = time.monotonic() + 10  # a stopped process may take a moment to be gone
    while (after := {n: _pids(n) for n in ("mosquitto", "influxd")}) != before:
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert after == before, "the demo left a service running"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--runners", "0"], "--runners must be 1..50"),
        (["--influx-db", "Bad DB"], "invalid database id"),
        (["--mqtt-url", "http://nope"], "mqtt://HOST:PORT"),
    ],
)
def test_demo_bad_input_is_one_clear_line(args: list[str], message: str) -> None:
    proc = _footpod("demo", *args, timeout_s=60)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_demo_unreachable_broker_fails_fast_and_clearly(influx_db: tuple[str, str]) -> None:
    from sensor_service.services import free_port

    url, db = influx_db
    env_port = free_port()
    proc = _footpod(
        "demo",
        "--minutes",
        "0.1",
        "--mqtt-url",
        f"mqtt://127.0.0.1:{env_port}",
        "--influx-url",
        url,
        "--influx-db",
        db,
        timeout_s=90,
    )
    assert proc.returncode != 0
    assert "MQTT broker" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert os.environ.get("PYTEST_CURRENT_TEST")


def test_demo_unreachable_influxdb_is_a_clear_error(mqtt_url: str) -> None:
    from sensor_service.services import free_port

    port = free_port()
    proc = _footpod(
        "demo",
        "--minutes",
        "0.1",
        "--mqtt-url",
        mqtt_url,
        "--influx-url",
        f"http://127.0.0.1:{port}",
        timeout_s=90,
    )
    assert proc.returncode != 0
    assert "InfluxDB" in proc.stderr
    assert "Traceback" not in proc.stderr
