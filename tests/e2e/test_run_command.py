"""`footpod run`: the gateway process publishes steps and retained pod status."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import aiomqtt
import pytest

from sensor_service.bus.mqtt_url import parse_mqtt_url

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


async def test_run_publishes_steps_and_status(
    mqtt_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOOTPOD_STATE_DIR", str(tmp_path))  # a spool of its own
    target = parse_mqtt_url(mqtt_url)
    steps: list[dict[str, object]] = []
    status: dict[str, dict[str, object]] = {}
    history: list[tuple[object, object, bool]] = []
    async with aiomqtt.Client(target.hostname, target.port) as client:
        await client.subscribe("footpod/v1/gw/+/steps", qos=1)
        await client.subscribe("footpod/v1/gw/+/status", qos=1)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "sensor_service.cli",
            "run",
            "--athlete",
            "gw",
            "--pod",
            "left=footpod-gw-left",
            "--pod",
            "right=footpod-gw-right@208",
            "--backend",
            "virtual",
            "--simulate",
            "--duration-s",
            "10",
            "--mqtt-url",
            mqtt_url,
            "--run-id",
            "r-test",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

        async def collect() -> None:
            async for message in client.messages:
                payload = json.loads(message.payload)  # type: ignore[arg-type]
                if message.topic.value.endswith("/steps"):
                    steps.extend(payload["steps"])
                else:
                    status[payload["pod"]] = payload
                    history.append((payload["pod"], payload["state"], message.retain))

        collector = asyncio.create_task(collect())
        _, err = await asyncio.wait_for(proc.communicate(), 60)
        await asyncio.sleep(0.5)
        collector.cancel()
    assert proc.returncode == 0, err.decode()
    assert len(steps) >= 15  # ~8 s of running at ~170 spm, after the standing start
    assert {s["gct_ms"] > 150 for s in steps} == {True}  # type: ignore[operator]
    assert status["gw-left"]["state"] == "stopped", history
    assert status["gw-right"]["packets_lost"] == 0
    assert b"steps published" in err


@pytest.mark.parametrize(
    ("pod", "message"),
    [
        ("middle=x", "SIDE=BLE_NAME"),
        ("left=x@fast", "is not a number"),
        ("left=x@999", "not a rate"),
    ],
)
def test_run_bad_pod_is_one_clear_line(pod: str, message: str) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sensor_service.cli",
            "run",
            "--athlete",
            "gw",
            "--pod",
            pod,
            "--backend",
            "virtual",
            "--duration-s",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
