"""Publisher → real Mosquitto → ingest → real InfluxDB: storage, idempotency, dead letters."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import aiomqtt
import pytest

from sensor_service.bus.mqtt_url import parse_mqtt_url
from sensor_service.bus.publisher import MqttPublisher
from sensor_service.contracts import (
    DEAD_LETTER_TOPIC,
    PodStatus,
    RunEvent,
    StepRecord,
    StepsBatch,
    topic,
)
from sensor_service.errors import ConfigError, ServiceError
from sensor_service.ingest.worker import IngestWorker
from sensor_service.services import free_port
from sensor_service.store.influx import InfluxClient

pytestmark = pytest.mark.integration


def _batch(athlete: str, n: int, start_ns: int) -> StepsBatch:
    steps = tuple(
        StepRecord(
            ic_ns=start_ns + i * 700_000_000,
            to_ns=start_ns + i * 700_000_000 + 240_000_000,
            fields={"gct_ms": 240.0 + i, "step_index": i, "clipped": False},
        )
        for i in range(n)
    )
    return StepsBatch(athlete, f"{athlete}-left", "left", "foot", "run-1", steps)


async def _count(url: str, db: str, athlete: str) -> int:
    async with InfluxClient(url=url, database=db) as influx:
        return await influx.count("steps", "gct_ms", {"athlete": athlete})


async def _wait_count(url: str, db: str, athlete: str, expected: int, timeout_s: float = 10) -> int:
    deadline = time.monotonic() + timeout_s
    n = -1
    while time.monotonic() < deadline:
        n = await _count(url, db, athlete)
        if n >= expected:
            break
        await asyncio.sleep(0.1)
    return n


async def test_steps_are_stored_once_even_when_redelivered(
    mqtt_url: str, influx_db: tuple[str, str], ingest: IngestWorker
) -> None:
    url, db = influx_db
    athlete = f"a{uuid.uuid4().hex[:8]}"
    batch = _batch(athlete, 25, time.time_ns() - 60_000_000_000)
    async with MqttPublisher(mqtt_url=mqtt_url, client_id=f"pub-{athlete}") as pub:
        await pub.publish(topic("steps", athlete, f"{athlete}-left"), batch.to_json())
        assert await _wait_count(url, db, athlete, 25) == 25
        # At-least-once: the same batch again must overwrite, not duplicate.
        await pub.publish(topic("steps", athlete, f"{athlete}-left"), batch.to_json())
        await asyncio.sleep(0.5)
        await asyncio.wait_for(_until(lambda: ingest.counters.written >= 50), 10)
    assert await _count(url, db, athlete) == 25
    assert pub.counters.published == 2


async def _until(cond) -> None:  # type: ignore[no-untyped-def]
    while not cond():
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "not JSON"),
        (json.dumps({"v": 1}).encode(), "missing field 'athlete'"),
        (b"\xff\xfe", "not JSON"),
    ],
)
async def test_malformed_messages_go_to_the_dead_letter_topic(
    mqtt_url: str, ingest: IngestWorker, payload: bytes, reason: str
) -> None:
    target = parse_mqtt_url(mqtt_url)
    athlete = f"a{uuid.uuid4().hex[:8]}"
    name = topic("steps", athlete, f"{athlete}-left")  # unique: no letter of another test
    async with aiomqtt.Client(target.hostname, target.port) as client:
        await client.subscribe(DEAD_LETTER_TOPIC, qos=1)
        await client.publish(name, payload, qos=1)
        async with asyncio.timeout(10):
            async for message in client.messages:
                letter = json.loads(message.payload)  # type: ignore[arg-type]
                if letter["topic"] == name:
                    break
    assert reason in letter["reason"]
    assert ingest.counters.rejected >= 1
    # The letter can reach us before the worker has its PUBACK and counts it.
    await asyncio.wait_for(_until(lambda: ingest.counters.dead_lettered >= 1), 5)


async def test_spoofed_athlete_in_payload_is_rejected(
    mqtt_url: str, influx_db: tuple[str, str], ingest: IngestWorker
) -> None:
    url, db = influx_db
    batch = _batch("mallory", 3, time.time_ns() - 10_000_000_000)
    async with MqttPublisher(mqtt_url=mqtt_url, client_id="pub-spoof") as pub:
        await pub.publish(topic("steps", "victim", "victim-left"), batch.to_json())
    await asyncio.wait_for(_until(lambda: ingest.counters.rejected >= 1), 10)
    assert await _count(url, db, "victim") == 0
    assert await _count(url, db, "mallory") == 0


async def test_unreachable_broker_is_a_clear_error() -> None:
    port = free_port()
    with pytest.raises(ServiceError, match="cannot reach the MQTT broker"):
        async with MqttPublisher(
            mqtt_url=f"mqtt://127.0.0.1:{port}", client_id="nobody", connect_timeout_s=1.0
        ):
            pass


@pytest.mark.parametrize("url", ["http://x:1883", "mqtt://", "mqtt://host:notaport", "1883"])
def test_bad_mqtt_urls_say_what_to_use(url: str) -> None:
    with pytest.raises(ConfigError, match="mqtt://HOST:PORT"):
        parse_mqtt_url(url)


async def test_status_and_run_events_are_idempotent_too(
    mqtt_url: str, influx_db: tuple[str, str], ingest: IngestWorker
) -> None:
    """Re-delivered status and run messages overwrite their points (same tags + timestamp)."""
    url, db = influx_db
    athlete = f"a{uuid.uuid4().hex[:8]}"
    pod = f"{athlete}-left"
    t = time.time_ns() - 5_000_000_000
    status = PodStatus(athlete, pod, "connected", t, packets_received=10, packets_lost=1)
    start = RunEvent(athlete, "run-1", "start", t)
    end = RunEvent(athlete, "run-1", "end", t + 10**9, steps=42)
    async with MqttPublisher(mqtt_url=mqtt_url, client_id=f"pub-{athlete}") as pub:
        for _ in range(3):  # at-least-once: the same messages, again and again
            await pub.publish(topic("status", athlete, pod), status.to_json())
            await pub.publish(topic("runs", athlete), start.to_json())
            await pub.publish(topic("runs", athlete), end.to_json())
        await pub.drain()
    await asyncio.wait_for(_until(lambda: ingest.counters.written >= 9), 10)
    async with InfluxClient(url=url, database=db) as influx:
        assert await influx.count("pod_status", "packets_received", {"athlete": athlete}) == 1
        assert await influx.count("runs", "steps", {"athlete": athlete}) == 2
