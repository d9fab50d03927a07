"""`footpod demo` keeps going while its broker restarts and its InfluxDB is down for a minute.

The exact invocation of issue 5, against a private Mosquitto and influxd that this test
restarts and stops while the demo subprocess runs; the demo must then report every simulated
step stored and nothing lost.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from sensor_service.services import InfluxService, MosquittoService

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]


def _at(t0: float, t_s: float) -> None:
    time.sleep(max(0.0, t0 + t_s - time.monotonic()))


def test_demo_survives_broker_restart_and_a_minute_without_influxdb(
    mosquitto_factory: Callable[..., MosquittoService],
    influx_factory: Callable[..., InfluxService],
    tmp_path: Path,
) -> None:
    broker = mosquitto_factory()
    influx = influx_factory()
    db = f"demo_{uuid.uuid4().hex[:8]}"
    stderr_path = tmp_path / "demo.stderr"
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sensor_service.cli",
                "demo",
                "--runners",
                "2",
                "--minutes",
                "2",
                "--mqtt-url",
                broker.url,
                "--influx-url",
                influx.url,
                "--influx-db",
                db,
                "--json",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        try:
            t0 = time.monotonic()
            _at(t0, 25)
            assert proc.poll() is None, stderr_path.read_text()[-3000:]
            broker.restart()  # graceful: Mosquitto saves and comes back on the same port
            _at(t0, 40)
            influx.stop()
            _at(t0, 100)  # a minute without InfluxDB, inside the two-minute run
            influx.start()
            out, _ = proc.communicate(timeout=2 * 60 + 5 * 60 + 60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    err = stderr_path.read_text(errors="replace")
    assert proc.returncode == 0, err[-3000:]
    result = json.loads(out.strip().splitlines()[-1])
    assert result["lost"] == 0, result
    assert len(result["athletes"]) == 2
    for athlete, r in result["athletes"].items():
        assert r["steps_simulated"] > 250, (athlete, r)
        assert r["steps_stored"] == r["steps_simulated"], (athlete, r)
