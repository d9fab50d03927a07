"""The shipped broker limits keep an absent subscriber's whole backlog (> 1000 messages).

Mosquitto's default ``max_queued_messages 1000`` silently drops QoS 1 messages queued for a
persistent session beyond 1000 (plus those in flight): an ingest worker away for a while would
lose steps. The rendered config (``security.mosquitto_conf_text``, shipped in
``deploy/mosquitto``) sets ``max_queued_messages 0`` with a ``max_queued_bytes`` bound; these
tests run it on a real Mosquitto, with the shipped ACL and real accounts, and show the default
really drops (so the first test would catch a regression).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from security.broker_probe import PASSWORDS, RenderedConfMosquitto
from sensor_service.security import ACL_FILENAME, PASSWORD_FILENAME, acl_text, make_password_file
from sensor_service.services import MosquittoService

pytestmark = pytest.mark.integration

N_MESSAGES = 2500  # well over Mosquitto's default queue of 1000
TOPIC = "footpod/v1/ana/pod-left/steps"
FILTER = "footpod/v1/+/+/steps"
SUBSCRIBER_ID = "ingest-queue-test"


def _session_props() -> Properties:
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    return props


def _client(port: int, user: str | None, identifier: str) -> aiomqtt.Client:
    return aiomqtt.Client(
        "127.0.0.1",
        port,
        username=user,
        password=PASSWORDS[user] if user else None,
        identifier=identifier,
        protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=False,
        properties=_session_props(),
        timeout=5,
    )


async def _register_offline_subscriber(port: int, user: str | None) -> None:
    """A persistent QoS 1 subscriber (clean start off, session expiry 1 h) that then leaves."""
    async with _client(port, user, SUBSCRIBER_ID) as sub:
        await sub.subscribe(FILTER, qos=1)


async def _publish(port: int, user: str | None) -> None:
    async with _client(port, user, f"{user or 'anon'}-publisher") as pub:
        for i in range(N_MESSAGES):
            await pub.publish(TOPIC, f'{{"i":{i},"pad":"{"x" * 150}"}}'.encode(), qos=1)


async def _drain(port: int, user: str | None, quiet_s: float = 1.0) -> list[int]:
    """Reconnect the subscriber's session; the indices received until ``quiet_s`` of silence."""
    seen: list[int] = []
    async with _client(port, user, SUBSCRIBER_ID) as sub:

        async def collect() -> None:
            async for message in sub.messages:
                payload = message.payload
                assert isinstance(payload, bytes)
                seen.append(int(payload.split(b",", 1)[0].split(b":")[1]))
                if len(seen) == N_MESSAGES:
                    return

        task = asyncio.ensure_future(collect())
        count = -1
        while not task.done() and count != len(seen):  # stop when nothing more comes
            count = len(seen)
            await asyncio.wait({task}, timeout=quiet_s)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return seen


@pytest.fixture
def shipped_conf_broker(tmp_path: Path) -> RenderedConfMosquitto:
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    make_password_file(conf_dir / PASSWORD_FILENAME, PASSWORDS)
    (conf_dir / ACL_FILENAME).write_text(acl_text())
    return RenderedConfMosquitto(conf_dir=conf_dir, directory=tmp_path / "run")


async def test_backlog_over_1000_reaches_a_returning_subscriber_across_a_restart(
    shipped_conf_broker: RenderedConfMosquitto,
) -> None:
    broker = shipped_conf_broker
    broker.start()
    try:
        await _register_offline_subscriber(broker.port, "ingest")
        await _publish(broker.port, "ana")
        # The backlog is in the broker only: a graceful restart keeps it (persistence).
        await asyncio.to_thread(broker.restart)
        seen = await _drain(broker.port, "ingest")
    finally:
        broker.close(stop_timeout_s=2)
    assert len(seen) == N_MESSAGES, f"{N_MESSAGES - len(set(seen))} messages dropped"
    assert seen == list(range(N_MESSAGES))  # all of them, once, in order


async def test_mosquitto_default_drops_beyond_1000(
    mosquitto_factory: Callable[..., MosquittoService],
) -> None:
    """Control: the same scenario on a broker with Mosquitto's default limits loses messages."""
    broker = mosquitto_factory()
    await _register_offline_subscriber(broker.port, None)
    await _publish(broker.port, None)
    seen = await _drain(broker.port, None)
    assert 1000 <= len(seen) < N_MESSAGES
    assert seen == list(range(len(seen)))  # the oldest are kept, the newest dropped
