"""The shipped ACL on a real Mosquitto: runners write only as themselves, services as designed."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import aiomqtt
import pytest

from security.broker_probe import (
    BAD_USER_NAME_OR_PASSWORD,
    NO_MATCHING_SUBSCRIBERS,
    NOT_AUTHORIZED,
    PASSWORDS,
    SUCCESS,
    SecureBroker,
    v5_connect_code,
    v5_publish_codes,
)
from sensor_service.contracts import (
    DEAD_LETTER_TOPIC,
    INGESTED_KINDS,
    StepRecord,
    StepsBatch,
    topic,
    topic_filter,
)
from sensor_service.ingest.worker import IngestWorker
from sensor_service.store.influx import InfluxClient

pytestmark = pytest.mark.integration

V5 = aiomqtt.ProtocolVersion.V5
ACCEPTED = (SUCCESS, NO_MATCHING_SUBSCRIBERS)


def _client(broker: SecureBroker, user: str) -> aiomqtt.Client:
    return aiomqtt.Client(
        "127.0.0.1",
        broker.port,
        username=user,
        password=PASSWORDS[user],
        identifier=f"{user}-{uuid.uuid4().hex[:8]}",
        protocol=V5,
    )


async def _collect_until(
    client: aiomqtt.Client, sentinel_topic: str, timeout_s: float = 5.0
) -> list[str]:
    """Topics received until a message on ``sentinel_topic`` (inclusive)."""
    seen: list[str] = []

    async def loop() -> None:
        async for message in client.messages:
            seen.append(message.topic.value)
            if message.topic.value == sentinel_topic:
                return

    await asyncio.wait_for(loop(), timeout_s)
    return seen


# --------------------------------------------------------------------------- authentication


@pytest.mark.parametrize(
    ("user", "password"),
    [
        ("ana", "wrong-password"),
        ("ana", PASSWORDS["bob"]),
        ("mallory", "mallory-secret"),
        (None, None),
    ],
    ids=["wrong-password", "other-users-password", "unknown-user", "anonymous"],
)
def test_bad_credentials_are_refused(
    secure_broker: SecureBroker, user: str | None, password: str | None
) -> None:
    code = v5_connect_code(secure_broker.port, user, password)
    assert code in (NOT_AUTHORIZED, BAD_USER_NAME_OR_PASSWORD)


async def test_aiomqtt_sees_refused_connections(secure_broker: SecureBroker) -> None:
    for password in ("wrong-password", None):
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client(
                "127.0.0.1", secure_broker.port, username="ana", password=password
            ):
                pass
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client("127.0.0.1", secure_broker.port):
            pass


# --------------------------------------------------------------------------- authorisation table

ALLOWED = True
DENIED = False
PUBLISH_TABLE = [
    # runner: own topics only; never alerts, never another runner
    ("ana", "footpod/v1/ana/ana-left/steps", ALLOWED),
    ("ana", "footpod/v1/ana/ana-left/status", ALLOWED),
    ("ana", "footpod/v1/ana/ana-left/imu", ALLOWED),
    ("ana", "footpod/v1/ana/runs", ALLOWED),
    ("ana", "footpod/v1/ana/pain", ALLOWED),
    ("ana", "footpod/v1/ana/alerts", DENIED),
    ("ana", "footpod/v1/bob/bob-left/steps", DENIED),
    ("ana", "footpod/v1/bob/runs", DENIED),
    ("ana", "footpod/v1/bob/pain", DENIED),
    ("ana", "footpod/v1/ana/extra/level/steps", DENIED),
    ("ana", "footpod/v1/ana", DENIED),
    ("ana", DEAD_LETTER_TOPIC, DENIED),
    ("ana", "footpod/v2/ana/runs", DENIED),
    ("ana", "elsewhere", DENIED),
    # coach: read-only
    ("coach", "footpod/v1/ana/ana-left/steps", DENIED),
    ("coach", "footpod/v1/coach/x/steps", DENIED),
    ("coach", "footpod/v1/ana/alerts", DENIED),
    ("coach", DEAD_LETTER_TOPIC, DENIED),
    # ingest: dead letters only, not even under its own name
    ("ingest", DEAD_LETTER_TOPIC, ALLOWED),
    ("ingest", "footpod/v1/ana/ana-left/steps", DENIED),
    ("ingest", "footpod/v1/ingest/pod/steps", DENIED),
    ("ingest", "footpod/v1/ana/runs", DENIED),
    ("ingest", "footpod/v1/ana/alerts", DENIED),
    # risk: alerts for anyone, nothing else
    ("risk", "footpod/v1/ana/alerts", ALLOWED),
    ("risk", "footpod/v1/ana/ana-left/steps", DENIED),
    ("risk", "footpod/v1/risk/pod/steps", DENIED),
    ("risk", "footpod/v1/ana/pain", DENIED),
]


@pytest.mark.parametrize("user", sorted({u for u, _, _ in PUBLISH_TABLE}))
def test_publish_acl_puback_reason_codes(secure_broker: SecureBroker, user: str) -> None:
    """MQTT v5 shows the refusal: PUBACK 0x87 "not authorized" (v3.1.1 drops silently)."""
    rows = [(name, allowed) for u, name, allowed in PUBLISH_TABLE if u == user]
    codes = v5_publish_codes(secure_broker.port, user, [name for name, _ in rows])
    got = {name: code in ACCEPTED for (name, _), code in zip(rows, codes, strict=True)}
    assert got == dict(rows)
    for (name, allowed), code in zip(rows, codes, strict=True):
        if not allowed:
            assert code == NOT_AUTHORIZED, f"{user} on {name}: 0x{code:02x}"


# --------------------------------------------------------------------------- delivery


async def test_runner_publishes_as_itself_and_ingest_receives_nothing_forged(
    secure_broker: SecureBroker,
) -> None:
    """Ana's own messages reach ingest; what she sends as Bob is dropped before any reader."""
    own = [
        topic("steps", "ana", "ana-left"),
        topic("status", "ana", "ana-left"),
        topic("runs", "ana"),
        topic("pain", "ana"),
    ]
    forged = [
        topic("steps", "bob", "bob-left"),
        topic("status", "bob", "bob-left"),
        topic("runs", "bob"),
        topic("pain", "bob"),
        topic("alerts", "bob"),
        topic("alerts", "ana"),
    ]
    sentinel = topic("steps", "ana", "sentinel")
    async with (
        _client(secure_broker, "ingest") as ingest,
        _client(secure_broker, "coach") as coach,
        _client(secure_broker, "ana") as ana,
    ):
        for kind in (*INGESTED_KINDS, "pain", "alerts"):
            await ingest.subscribe(topic_filter(kind), qos=1)
        await coach.subscribe("footpod/v1/#", qos=1)
        for name in forged:
            await ana.publish(name, b'{"forged": true}', qos=1)
        for name in own:
            await ana.publish(name, b"{}", qos=1)
        await ana.publish(sentinel, b"{}", qos=1)
        ingest_saw = await _collect_until(ingest, sentinel)
        coach_saw = await _collect_until(coach, sentinel)
    assert ingest_saw == [*own, sentinel]
    assert coach_saw == [*own, sentinel]


async def test_runner_reads_only_own_alerts(secure_broker: SecureBroker) -> None:
    async with (
        _client(secure_broker, "ana") as ana,
        _client(secure_broker, "risk") as risk,
    ):
        # The broker grants the subscription but filters each message by the read ACL.
        await ana.subscribe("footpod/v1/+/alerts", qos=1)
        await ana.subscribe("footpod/v1/#", qos=1)
        await risk.publish(topic("alerts", "bob"), b'{"for": "bob"}', qos=1)
        await risk.publish(topic("alerts", "ana"), b'{"for": "ana"}', qos=1)
        seen = await _collect_until(ana, topic("alerts", "ana"))
    assert seen == [topic("alerts", "ana")]


# --------------------------------------------------------------------------- the real ingest


async def test_real_ingest_worker_under_the_shipped_acl(
    secure_broker: SecureBroker, influx_db: tuple[str, str]
) -> None:
    """The worker's subscriptions and its dead letters work with the ``ingest`` account."""
    url, db = influx_db
    worker = IngestWorker(
        mqtt_url=secure_broker.url("ingest"),
        influx_url=url,
        database=db,
        client_id=f"ingest-{uuid.uuid4().hex[:8]}",
        flush_interval_s=0.1,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.wait_for(worker.ready.wait(), 10)
        t0 = time.time_ns() - 60_000_000_000
        steps = tuple(
            StepRecord(
                ic_ns=t0 + i * 700_000_000,
                to_ns=t0 + i * 700_000_000 + 250_000_000,
                fields={"gct_ms": 250.0, "step_index": i},
            )
            for i in range(5)
        )
        good = StepsBatch("ana", "ana-left", "left", "foot", "run-1", steps).to_json()
        async with (
            _client(secure_broker, "coach") as coach,
            _client(secure_broker, "ana") as ana,
        ):
            await coach.subscribe(DEAD_LETTER_TOPIC, qos=1)
            await ana.publish(topic("steps", "bob", "bob-left"), json.dumps(good), qos=1)
            await ana.publish(topic("steps", "ana", "ana-left"), json.dumps(good), qos=1)
            await ana.publish(topic("steps", "ana", "ana-right"), b"not json", qos=1)
            letter = await asyncio.wait_for(anext(aiter(coach.messages)), 5)
        assert isinstance(letter.payload, bytes)
        assert json.loads(letter.payload)["topic"] == topic("steps", "ana", "ana-right")
        deadline = time.monotonic() + 10
        async with InfluxClient(url=url, database=db) as influx:
            while time.monotonic() < deadline:
                if await influx.count("steps", "gct_ms", {"athlete": "ana"}) == 5:
                    break
                await asyncio.sleep(0.1)
            assert await influx.count("steps", "gct_ms", {"athlete": "ana"}) == 5
            assert await influx.count("steps", "gct_ms", {"athlete": "bob"}) == 0
        assert worker.counters.received == 2  # the forged batch never reached the worker
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
