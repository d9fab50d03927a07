"""Publishing to MQTT with aiomqtt: QoS 1, retained pod status, last will, reconnect on loss.

One :class:`MqttPublisher` is one broker connection. A pod gets its own connection so that its
last will (``state = lost`` on its retained status topic) fires when its gateway dies.

Delivery: ``publish`` awaits the broker's PUBACK (aiomqtt 2.x does for QoS 1). A message the
broker has not acknowledged stays queued in memory and is re-sent after a reconnect, in order;
the queue is bounded and a full queue blocks the producer (backpressure), it never drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aiomqtt

from sensor_service.bus.mqtt_url import parse_mqtt_url
from sensor_service.errors import ServiceError

__all__ = ["MqttPublisher", "PublisherCounters", "backoff_s"]

log = logging.getLogger(__name__)


def backoff_s(attempt: int, *, base_s: float = 0.2, cap_s: float = 10.0) -> float:
    """Capped exponential backoff with full jitter (attempt 0 → up to ``base_s``)."""
    return random.uniform(0.0, min(cap_s, base_s * (2**attempt)))


@dataclass(slots=True)
class PublisherCounters:
    published: int = 0
    retried: int = 0
    reconnects: int = 0


@dataclass(slots=True)
class _Message:
    topic: str
    payload: bytes
    retain: bool
    done: asyncio.Future[None] = field(repr=False)


class MqttPublisher:
    """A reconnecting QoS 1 publisher; use as ``async with MqttPublisher(...) as pub``."""

    def __init__(
        self,
        *,
        mqtt_url: str,
        client_id: str,
        will_topic: str | None = None,
        will_payload: dict[str, Any] | None = None,
        max_queued: int = 10_000,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self._target = parse_mqtt_url(mqtt_url)
        self._client_id = client_id
        self._will = (
            aiomqtt.Will(will_topic, json.dumps(will_payload).encode(), qos=1, retain=True)
            if will_topic is not None and will_payload is not None
            else None
        )
        self._queue: deque[_Message] = deque()
        self._room = asyncio.Semaphore(max_queued)
        self._wake = asyncio.Event()
        self._connect_timeout_s = connect_timeout_s
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.counters = PublisherCounters()

    async def __aenter__(self) -> MqttPublisher:
        self._task = asyncio.create_task(self._run(), name=f"mqtt-publisher-{self._client_id}")
        connected = asyncio.ensure_future(self._connected.wait())
        done, _ = await asyncio.wait(
            {connected, self._task},
            timeout=self._connect_timeout_s,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if connected not in done:
            connected.cancel()
            await self._stop_task()
            raise ServiceError(
                f"cannot reach the MQTT broker at {self._target} within "
                f"{self._connect_timeout_s:.0f} s: start it or pass the right --mqtt-url"
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def publish(self, topic: str, payload: dict[str, Any], *, retain: bool = False) -> None:
        """Queue one JSON message and wait until the broker acknowledged it (PUBACK)."""
        await self._room.acquire()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(_Message(topic, json.dumps(payload).encode(), retain, done))
        self._wake.set()
        await asyncio.shield(done)

    async def drain(self) -> None:
        """Wait until every queued message has been acknowledged."""
        while self._queue:
            await asyncio.shield(self._queue[-1].done)

    async def close(self, *, timeout_s: float = 10.0) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.drain(), timeout_s)
        if self._queue:
            log.error(
                "%s: closing with %d unacknowledged messages", self._client_id, len(self._queue)
            )
        self._closing = True
        self._wake.set()
        await self._stop_task()

    async def _stop_task(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        attempt = 0
        while not self._closing:
            try:
                async with aiomqtt.Client(
                    self._target.hostname,
                    self._target.port,
                    identifier=self._client_id,
                    username=self._target.username,
                    password=self._target.password,
                    will=self._will,
                    clean_session=False,
                    keepalive=10,
                    timeout=self._connect_timeout_s,
                ) as client:
                    if attempt:
                        self.counters.reconnects += 1
                        log.info("%s: reconnected to %s", self._client_id, self._target)
                    attempt = 0
                    self._connected.set()
                    await self._pump(client)
            except aiomqtt.MqttError as exc:
                self._connected.clear()
                delay = backoff_s(attempt)
                attempt += 1
                log.warning(
                    "%s: MQTT connection to %s failed (%s); retry in %.1f s",
                    self._client_id,
                    self._target,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)

    async def _pump(self, client: aiomqtt.Client) -> None:
        while not self._closing:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            msg = self._queue[0]
            try:
                await client.publish(msg.topic, msg.payload, qos=1, retain=msg.retain)
            except aiomqtt.MqttError:
                self.counters.retried += 1
                raise
            self._queue.popleft()
            self._room.release()
            self.counters.published += 1
            if not msg.done.done():
                msg.done.set_result(None)
