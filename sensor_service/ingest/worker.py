"""Ingest: MQTT → validate → batch → InfluxDB line protocol (v1 ``/write``).

One worker subscribes (QoS 1, persistent session under a fixed client id, so the broker keeps
what arrives while the worker is away) to the steps, status and runs topics of every athlete,
validates each payload against :mod:`sensor_service.contracts`, and writes batches by size or by
time. Nothing is dropped silently:

* a malformed message (bad topic, bad JSON, schema violation, a payload whose athlete differs
  from its topic's) is counted, logged and republished to the dead-letter topic with the reason;
* a batch InfluxDB refuses for good (HTTP 4xx) is dead-lettered too, line by line with the
  error text; a batch it cannot take now (5xx, down) is retried with capped, jittered backoff
  and held meanwhile, and the buffer's bound pushes back on the subscriber.

Guarantee of this version: aiomqtt 2.x acknowledges QoS 1 messages on receipt, so a worker that
dies holds at most one buffer (≤ ``max_buffered_points``) of acknowledged but unwritten points.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import aiomqtt

from sensor_service.bus.mqtt_url import parse_mqtt_url
from sensor_service.contracts import (
    DEAD_LETTER_TOPIC,
    INGESTED_KINDS,
    SCHEMA_VERSION,
    Point,
    message_to_points,
    topic_filter,
)
from sensor_service.errors import PayloadError, ServiceError, StoreError
from sensor_service.store.influx import InfluxClient, backoff_delay_s

__all__ = ["IngestCounters", "IngestWorker", "message_to_points"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class IngestCounters:
    received: int = 0
    points: int = 0
    written: int = 0
    rejected: int = 0
    dead_lettered: int = 0
    write_retries: int = 0
    batches: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class IngestWorker:
    """Subscribe, validate, batch, write. ``await worker.run(stop_event)``."""

    def __init__(
        self,
        *,
        mqtt_url: str,
        influx_url: str,
        database: str,
        client_id: str = "footpod-ingest",
        batch_size: int = 1000,
        flush_interval_s: float = 0.5,
        max_buffered_points: int = 50_000,
        on_written: Callable[[list[Point]], None] | None = None,
    ) -> None:
        self._target = parse_mqtt_url(mqtt_url)
        self._influx_url = influx_url
        self._database = database
        self._client_id = client_id
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._buffer: list[Point] = []
        self._room = asyncio.Semaphore(max_buffered_points)
        self._have_data = asyncio.Event()
        self._on_written = on_written
        self.counters = IngestCounters()
        #: Set once the subscriptions are in place (producers may start).
        self.ready = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        async with InfluxClient(url=self._influx_url, database=self._database) as influx:
            await influx.ensure_database()
            # The flusher ends once receiving has ended (stop, or a fatal error) and the buffer
            # is written.
            received_all = asyncio.Event()
            flusher = asyncio.create_task(
                self._flush_loop(influx, received_all), name="ingest-flush"
            )
            try:
                await self._receive_loop(stop)
            finally:
                received_all.set()
                self._have_data.set()
                await flusher

    # ------------------------------------------------------------------ receiving
    async def _receive_loop(self, stop: asyncio.Event) -> None:
        attempt = 0
        while not stop.is_set():
            try:
                async with aiomqtt.Client(
                    self._target.hostname,
                    self._target.port,
                    identifier=self._client_id,
                    username=self._target.username,
                    password=self._target.password,
                    clean_session=False,
                    keepalive=10,
                ) as client:
                    for kind in INGESTED_KINDS:
                        await client.subscribe(topic_filter(kind), qos=1)
                    attempt = 0
                    self.ready.set()
                    await self._consume(client, stop)
            except aiomqtt.MqttError as exc:
                if not self.ready.is_set():
                    raise ServiceError(
                        f"cannot reach the MQTT broker at {self._target} ({exc}): start it or "
                        "pass the right --mqtt-url"
                    ) from exc
                delay = backoff_delay_s(attempt, base_s=0.2, cap_s=10.0)
                attempt += 1
                log.warning("ingest: MQTT %s lost (%s); retry in %.1f s", self._target, exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)

    async def _consume(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        messages = aiter(client.messages)
        stopper = asyncio.ensure_future(stop.wait())
        try:
            while True:
                nxt = asyncio.ensure_future(anext(messages))
                done, _ = await asyncio.wait({nxt, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if nxt not in done:
                    nxt.cancel()
                    return
                await self._accept(client, nxt.result())
        finally:
            stopper.cancel()

    async def _accept(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        self.counters.received += 1
        name = message.topic.value
        payload = message.payload if isinstance(message.payload, bytes) else b""
        try:
            points = message_to_points(name, payload)
        except PayloadError as exc:
            await self._dead_letter(client, name, payload, exc.reason)
            return
        for _ in points:
            await self._room.acquire()
        self._buffer.extend(points)
        self.counters.points += len(points)
        self._have_data.set()

    async def _dead_letter(
        self, client: aiomqtt.Client | None, name: str, payload: bytes, reason: str
    ) -> None:
        self.counters.rejected += 1
        log.warning("ingest: rejected message on %r: %s", name, reason)
        if client is None:
            return
        letter = {
            "v": SCHEMA_VERSION,
            "topic": name,
            "reason": reason,
            "payload_b64": base64.b64encode(payload[:65536]).decode(),
            "ts_ns": time.time_ns(),
        }
        try:
            await client.publish(DEAD_LETTER_TOPIC, json.dumps(letter), qos=1)
            self.counters.dead_lettered += 1
        except aiomqtt.MqttError as exc:
            log.error("ingest: dead letter for %r not published (%s); kept in the log", name, exc)

    # ------------------------------------------------------------------ writing
    async def _flush_loop(self, influx: InfluxClient, stop: asyncio.Event) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._have_data.wait(), self._flush_interval_s)
            self._have_data.clear()
            if len(self._buffer) < self._batch_size:
                # Let a batch fill for up to one interval unless we are stopping.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._flush_interval_s)
            while self._buffer:
                batch = self._buffer[: self._batch_size]
                await self._write(influx, batch)
                del self._buffer[: len(batch)]
                for _ in batch:
                    self._room.release()
            if stop.is_set() and not self._buffer:
                return

    async def _write(self, influx: InfluxClient, batch: list[Point]) -> None:
        attempt = 0
        while True:
            try:
                await influx.write_points(batch)
            except StoreError as exc:
                if exc.retryable:
                    delay = backoff_delay_s(attempt, base_s=0.2, cap_s=10.0)
                    attempt += 1
                    self.counters.write_retries += 1
                    log.warning("ingest: InfluxDB write failed (%s); retry in %.1f s", exc, delay)
                    await asyncio.sleep(delay)
                    continue
                log.error("ingest: InfluxDB refused a batch of %d points: %s", len(batch), exc)
                for point in batch:
                    await self._dead_letter(None, point.measurement, repr(point).encode(), str(exc))
                return
            self.counters.written += len(batch)
            self.counters.batches += 1
            if self._on_written is not None:
                self._on_written(batch)
            return
