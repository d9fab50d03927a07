"""`footpod ingest` as a process: stores what arrives, serves its counters, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from sensor_service.bus.publisher import MqttPublisher
from sensor_service.contracts import StepRecord, StepsBatch, topic
from sensor_service.services import free_port
from sensor_service.store.influx import InfluxClient

pytestmark = pytest.mark.integration


async def test_ingest_process_stores_serves_metrics_and_stops_cleanly(
    mqtt_url: str, influx_db: tuple[str, str]
) -> None:
    url, db = influx_db
    metrics_port = free_port()
    client_id = f"ingest-cli-{uuid.uuid4().hex[:6]}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sensor_service.cli",
            "ingest",
            "--mqtt-url",
            mqtt_url,
            "--influx-url",
            url,
            "--influx-db",
            db,
            "--client-id",
            client_id,
            "--metrics-port",
            str(metrics_port),
            "--flush-interval-s",
            "0.1",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        async with httpx.AsyncClient() as http:
            deadline = time.monotonic() + 20
            while True:
                try:
                    await http.get(f"http://127.0.0.1:{metrics_port}/metrics")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "metrics endpoint never came up"
                    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                    await asyncio.sleep(0.1)
            athlete = f"c{uuid.uuid4().hex[:8]}"
            start = time.time_ns() - 30_000_000_000
            steps = tuple(
                StepRecord(
                    start + i * 10**9,
                    start + i * 10**9 + 2 * 10**8,
                    {"gct_ms": 200.0, "step_index": i},
                )
                for i in range(7)
            )
            batch = StepsBatch(athlete, f"{athlete}-right", "right", "foot", "r1", steps)
            # The subscription may not be in place yet when the metrics endpoint answers:
            # publish the same batch again until it is stored (idempotent, so never twice).
            async with (
                MqttPublisher(mqtt_url=mqtt_url, client_id=f"p-{athlete}") as pub,
                InfluxClient(url=url, database=db) as influx,
            ):
                for _ in range(20):
                    await pub.publish(topic("steps", athlete, f"{athlete}-right"), batch.to_json())
                    for _ in range(10):
                        if await influx.count("steps", "gct_ms", {"athlete": athlete}) == 7:
                            break
                        await asyncio.sleep(0.1)
                    else:
                        continue
                    break
                assert await influx.count("steps", "gct_ms", {"athlete": athlete}) == 7
            text = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
        written = [
            line
            for line in text.splitlines()
            if line.startswith("footpod_") and 'component="ingest"' in line and "written" in line
        ]
        assert written, text
        assert float(written[0].rsplit(" ", 1)[1]) >= 7
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
