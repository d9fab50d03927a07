"""Ingest: MQTT → validate → batch → InfluxDB line protocol (v1 ``/write``), acked when durable.

One worker subscribes over MQTT 5 (QoS 1, clean start off, a session that outlives the
connection, fixed client id) to the steps, status and runs topics of every athlete, through a
**shared subscription** (``$share/footpod-ingest/footpod/v1/+/+/steps``…), so that several
workers split the load. Each payload is validated against :mod:`sensor_service.contracts`,
mapped to points and encoded to line protocol at once.

Acknowledge only after durable: the worker turns paho's automatic acknowledgement off
(``manual_ack``) and sends each message's PUBACK only once its points are durable:

* InfluxDB answered 204 to the batch holding them, or
* the batch is fsynced in the worker's local spool (:mod:`sensor_service.bus.spool`), which is
  where batches go while InfluxDB is away (any retryable failure: down, 5xx, timeout) and for as
  long as the spool holds anything, so the spool is drained in order before direct writes
  resume. A drainer task writes the spool to InfluxDB with capped, jittered backoff.
* A malformed message is republished to the dead-letter topic with the reason (PUBACK from the
  broker awaited) and then acknowledged; a batch InfluxDB refuses for good (4xx) likewise.

A worker that dies loses nothing: what it had not acknowledged, the broker redelivers (to it
when it comes back under the same client id; its session keeps its share meanwhile), and what
it acknowledged is in InfluxDB or in its spool, which it drains on the next start. Redelivery
rewrites the same points (measurement + tags + timestamp), which overwrites: no duplicates.

Bounded memory: the broker sends at most ``receive_maximum`` unacknowledged messages (MQTT 5
Receive Maximum), and the in-memory buffer holds at most ``max_buffered_points`` points; a full
buffer stops reading (backpressure to the broker, which queues for the session).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from sensor_service.bus.connection_lost import connection_lost
from sensor_service.bus.mqtt_url import parse_mqtt_url
from sensor_service.bus.spool import AsyncSpool, Spool, default_state_dir
from sensor_service.contracts import (
    DEAD_LETTER_TOPIC,
    INGESTED_KINDS,
    SCHEMA_VERSION,
    Point,
    Series,
    message_to_points,
    message_to_series,
    topic_filter,
    validate_id,
)
from sensor_service.errors import PayloadError, ServiceError, StoreError
from sensor_service.ingest._encode import LineEncoder
from sensor_service.store.influx import InfluxClient, backoff_delay_s

__all__ = [
    "DEFAULT_SHARE_GROUP",
    "IngestCounters",
    "IngestWorker",
    "message_to_points",
    "subscription_filters",
]

log = logging.getLogger(__name__)

DEFAULT_SHARE_GROUP: Final = "footpod-ingest"
_SPOOL_HEAD: Final = struct.Struct("<I")
#: An MQTT PUBACK, success, no properties: what paho's ``ack(mid, 1)`` queues.
_PUBACK: Final = struct.Struct("!BBH")
_PUBACK_COMMAND: Final = 0x40
#: A pause in arrivals this long ends a burst: what is buffered is written at once.
_IDLE_FLUSH_S: Final = 0.02


def subscription_filters(share_group: str | None = DEFAULT_SHARE_GROUP) -> list[str]:
    """The ingest's topic filters, as MQTT 5 shared subscriptions unless ``share_group=None``."""
    filters = [topic_filter(kind) for kind in INGESTED_KINDS]
    if share_group is None:
        return filters
    validate_id("share group", share_group)
    return [f"$share/{share_group}/{f}" for f in filters]


def _enqueue_to(
    inbox: deque[mqtt.MQTTMessage], arrived: asyncio.Event
) -> Callable[[object, object, mqtt.MQTTMessage], None]:
    """A paho ``on_message`` callback appending to ``inbox`` (runs on the event loop)."""

    def on_message(_client: object, _userdata: object, message: mqtt.MQTTMessage) -> None:
        inbox.append(message)
        arrived.set()

    return on_message


@dataclass(slots=True)
class IngestCounters:
    received: int = 0
    decoded: int = 0
    points: int = 0
    written: int = 0
    spooled: int = 0
    rejected: int = 0
    dead_lettered: int = 0
    acked: int = 0
    write_retries: int = 0
    batches: int = 0
    spool_batches: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(slots=True)
class _Pending:
    """A received message whose points are not durable yet."""

    lines: bytes
    n_points: int
    mid: int
    qos: int
    generation: int
    series: list[Series] | None


class IngestWorker:
    """Subscribe, validate, batch, write or spool, acknowledge. ``await worker.run(stop)``."""

    def __init__(
        self,
        *,
        mqtt_url: str,
        influx_url: str,
        database: str,
        client_id: str = "footpod-ingest",
        share_group: str | None = DEFAULT_SHARE_GROUP,
        batch_size: int = 5000,
        flush_interval_s: float = 0.5,
        max_buffered_points: int = 50_000,
        receive_maximum: int = 5000,
        session_expiry_s: int = 7 * 24 * 3600,
        spool_dir: str | Path | None = None,
        spool_max_bytes: int = 1024 * 1024 * 1024,
        leave_on_stop: bool = False,
        on_written: Callable[[list[Point]], None] | None = None,
    ) -> None:
        self._target = parse_mqtt_url(mqtt_url)
        self._influx_url = influx_url
        self._database = database
        self._client_id = validate_id("client", client_id)
        self._filters = subscription_filters(share_group)
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._max_buffered_points = max_buffered_points
        self._receive_maximum = receive_maximum
        self._session_expiry_s = session_expiry_s
        if spool_dir is None:
            spool_dir = default_state_dir() / "ingest" / self._client_id
        self.spool_dir = Path(spool_dir)
        self._spool_max_bytes = spool_max_bytes
        self._leave_on_stop = leave_on_stop
        self._spool: AsyncSpool | None = None
        self._buffer: list[_Pending] = []
        self._buffered_points = 0
        self._room = asyncio.Event()
        self._room.set()
        self._have_data = asyncio.Event()
        self._burst = False
        self._flushed = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self._generation = 0
        self._on_written = on_written
        self._encoder = LineEncoder()
        self.counters = IngestCounters()
        #: Set once the subscriptions are in place (producers may start).
        self.ready = asyncio.Event()

    @property
    def spool_pending(self) -> int:
        """Batches in the spool that InfluxDB has not taken yet."""
        return self._spool.spool.pending_records if self._spool is not None else 0

    async def run(self, stop: asyncio.Event) -> None:
        async with InfluxClient(url=self._influx_url, database=self._database) as influx:
            await influx.ensure_database()
            spool = Spool(self.spool_dir, max_bytes=self._spool_max_bytes)
            self._spool = AsyncSpool(spool, name=f"ingest-{self._client_id}")
            if spool.pending_records:
                log.info(
                    "ingest: %d batches left in the spool %s are written first",
                    spool.pending_records,
                    self.spool_dir,
                )
            received_all = asyncio.Event()
            flusher = asyncio.create_task(
                self._flush_loop(influx, received_all), name="ingest-flush"
            )
            drainer = asyncio.create_task(self._drain_loop(influx), name="ingest-drain")
            try:
                await self._receive_loop(stop, received_all, flusher)
            finally:
                received_all.set()
                self._have_data.set()
                with contextlib.suppress(asyncio.CancelledError):
                    await flusher
                await self._finish_drain(drainer)
                await self._spool.aclose()
                self._spool = None

    async def _finish_drain(self, drainer: asyncio.Task[None], grace_s: float = 5.0) -> None:
        """Give the drainer a moment to empty the spool; what is left waits for the next start."""
        assert self._spool is not None
        deadline = time.monotonic() + grace_s
        while not self._spool.empty and time.monotonic() < deadline and not drainer.done():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        drainer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await drainer
        if not self._spool.empty:
            log.warning(
                "ingest: %d batches stay in the spool %s; they are written on the next start",
                self._spool.spool.pending_records,
                self.spool_dir,
            )

    # ------------------------------------------------------------------ receiving
    def _connect_properties(self) -> Properties:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self._session_expiry_s
        props.ReceiveMaximum = self._receive_maximum
        return props

    async def _receive_loop(
        self, stop: asyncio.Event, received_all: asyncio.Event, flusher: asyncio.Task[None]
    ) -> None:
        attempt = 0
        while not stop.is_set():
            client = aiomqtt.Client(
                **self._target.client_kwargs(),  # host, port, credentials, TLS
                identifier=self._client_id,
                protocol=aiomqtt.ProtocolVersion.V5,
                clean_start=False,
                properties=self._connect_properties(),
                keepalive=10,
            )
            # Acknowledge only once durable (see the module docstring). aiomqtt runs paho on
            # the event loop, so ack() from this loop is safe. Messages go straight from
            # paho's callback to a deque (no aiomqtt Message per message: the hot path); it
            # is bounded by Receive Maximum, since nothing is acknowledged before it is
            # taken from there.
            client._client.manual_ack_set(True)  # aiomqtt exposes no option for it
            inbox: deque[mqtt.MQTTMessage] = deque()
            arrived = asyncio.Event()
            client._client.on_message = _enqueue_to(inbox, arrived)
            log.info("ingest: connecting to %s as %s", self._target, self._client_id)
            try:
                async with client:
                    self._generation += 1
                    self._client = client
                    # A resumed session's backlog arrives right after the CONNACK, ahead of
                    # the SUBACKs (up to Receive Maximum messages): consume it meanwhile.
                    consumer = asyncio.ensure_future(
                        self._consume(client, inbox, arrived, stop, flusher)
                    )
                    try:
                        for name in self._filters:
                            await client.subscribe(name, qos=1)
                    except BaseException:
                        consumer.cancel()
                        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                            await consumer
                        raise
                    attempt = 0
                    log.info(
                        "ingest: subscribed as %s to %s", self._client_id, ", ".join(self._filters)
                    )
                    self.ready.set()
                    await consumer
                    if self._leave_on_stop and stop.is_set():
                        # Leave the share group for good: nothing more is queued for us.
                        for name in self._filters:
                            await client.unsubscribe(name)
                    # Stopping: write or spool what is buffered and acknowledge it before the
                    # connection goes.
                    received_all.set()
                    self._have_data.set()
                    with contextlib.suppress(asyncio.CancelledError):
                        await flusher
            except aiomqtt.MqttError as exc:
                if not self.ready.is_set():
                    raise ServiceError(
                        f"cannot reach the MQTT broker at {self._target} ({exc}): start it or "
                        "pass the right --mqtt-url"
                    ) from exc
                delay = backoff_delay_s(attempt, base_s=0.2, cap_s=5.0)
                attempt += 1
                log.warning("ingest: MQTT %s lost (%s); retry in %.1f s", self._target, exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
            finally:
                self._client = None

    async def _consume(
        self,
        client: aiomqtt.Client,
        inbox: deque[mqtt.MQTTMessage],
        arrived: asyncio.Event,
        stop: asyncio.Event,
        flusher: asyncio.Task[None],
    ) -> None:
        stopper = asyncio.ensure_future(stop.wait())
        try:
            while True:
                if not inbox:
                    arrived.clear()
                    waiter = asyncio.ensure_future(arrived.wait())
                    waiting: list[asyncio.Future[Any]] = [
                        waiter,
                        stopper,
                        flusher,
                        client._disconnected,
                    ]
                    # After a burst (a batch was written because it was full), a pause in
                    # arrivals of _IDLE_FLUSH_S means the burst is over: write the rest now,
                    # not one flush interval later. Steady light traffic keeps the interval.
                    linger = _IDLE_FLUSH_S if self._burst and self._buffer else None
                    done, _ = await asyncio.wait(
                        waiting, timeout=linger, return_when=asyncio.FIRST_COMPLETED
                    )
                    waiter.cancel()
                    if not done:
                        self._burst = False
                        self._have_data.set()
                        continue
                    if flusher in done:
                        flusher.result()  # a fatal flush error surfaces here
                        return
                    if stopper in done:
                        return
                    if client._disconnected.done():
                        # What arrived before the connection went is stored, not dropped: it
                        # cannot be acknowledged now, and a broker killed before its next
                        # autosave will not send it again. If it does, the same points are
                        # written again (their keys are unique): harmless.
                        while inbox:
                            await self._accept(client, inbox.popleft())
                        raise connection_lost(client._disconnected, "connection to the broker lost")
                while inbox:
                    await self._accept(client, inbox.popleft())
                    if self._have_data.is_set():
                        # A batch is ready: let the flusher start its write (it then waits on
                        # InfluxDB while this loop goes on), instead of finishing the inbox
                        # first and leaving InfluxDB idle meanwhile.
                        await asyncio.sleep(0)
        finally:
            stopper.cancel()

    async def _accept(self, client: aiomqtt.Client, message: mqtt.MQTTMessage) -> None:
        self.counters.received += 1
        payload = bytes(message.payload)
        try:
            name = message.topic
        except UnicodeDecodeError:
            name = repr(message._topic)
        try:
            series = message_to_series(name, payload)
            lines = self._encoder.encode_series(series)
        except (PayloadError, ValueError) as exc:
            reason = exc.reason if isinstance(exc, PayloadError) else str(exc)
            await self._dead_letter(client, name, payload, reason)
            self._ack(message.mid, message.qos, self._generation)
            return
        self.counters.decoded += 1
        n_points = sum(len(one) for one in series)
        while self._buffered_points >= self._max_buffered_points:
            self._room.clear()
            self._have_data.set()
            await self._room.wait()
        self._buffer.append(
            _Pending(
                lines,
                n_points,
                message.mid,
                message.qos,
                self._generation,
                series if self._on_written is not None else None,
            )
        )
        self._buffered_points += n_points
        self.counters.points += n_points
        if (
            self._buffered_points >= self._batch_size
            or len(self._buffer) >= self._receive_maximum // 2
        ):
            self._burst = True
            self._have_data.set()

    def _ack(self, mid: int, qos: int, generation: int) -> None:
        """PUBACK, on the connection the message came on (else the broker redelivers it)."""
        client = self._client
        if qos == 0 or client is None or generation != self._generation:
            return
        client._client.ack(mid, qos)  # manual ack, see _receive_loop
        self.counters.acked += 1

    def _ack_batch(self, batch: list[_Pending]) -> None:
        """PUBACK every message of a durable batch, in one socket write.

        paho's ``ack()`` queues each 4-byte PUBACK as its own packet (one ``send`` and one
        wake-up byte each: ~10 µs a message); the same bytes queued as one packet of paho's
        output queue go out in one write, in order with everything else paho sends.
        """
        client = self._client
        if client is None:
            return
        mids = [p.mid for p in batch if p.qos == 1 and p.generation == self._generation]
        queue = getattr(client._client, "_packet_queue", None)
        if len(mids) < 2 or queue is None or any(p.qos > 1 for p in batch):
            for p in batch:
                self._ack(p.mid, p.qos, p.generation)
            return
        queue(_PUBACK_COMMAND, b"".join([_PUBACK.pack(_PUBACK_COMMAND, 2, m) for m in mids]), 0, 0)
        self.counters.acked += len(mids)

    async def _dead_letter(
        self,
        client: aiomqtt.Client | None,
        name: str,
        payload: bytes,
        reason: str,
        *,
        rejected: int = 1,
    ) -> None:
        self.counters.rejected += rejected
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
    def _take_batch(self) -> list[_Pending]:
        n = 0
        points = 0
        for item in self._buffer:
            if points and points + item.n_points > self._batch_size:
                break
            n += 1
            points += item.n_points
        batch = self._buffer[:n]
        del self._buffer[:n]
        self._buffered_points -= points
        if self._buffered_points < self._max_buffered_points:
            self._room.set()
        return batch

    async def _flush_loop(self, influx: InfluxClient, stop: asyncio.Event) -> None:
        while True:
            if not stop.is_set() and self._buffered_points < self._batch_size:
                # Let a batch fill for up to one interval unless we are stopping.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._have_data.wait(), self._flush_interval_s)
            self._have_data.clear()
            while self._buffer:
                batch = self._take_batch()
                await self._store(influx, batch)
                if not stop.is_set() and self._buffered_points < self._batch_size:
                    break
            if stop.is_set() and not self._buffer:
                return

    async def _store(self, influx: InfluxClient, batch: list[_Pending]) -> None:
        """Make a batch durable (InfluxDB 204, or fsynced in the spool), then acknowledge it."""
        assert self._spool is not None
        n_points = sum(p.n_points for p in batch)
        body = b"".join(p.lines for p in batch)
        stored = False
        if self._spool.empty and body:
            try:
                await self._write_lines(influx, body)
                stored = True
                self._count_written(n_points, [p.series for p in batch])
            except StoreError as exc:
                if not exc.retryable:
                    await self._refused(body, n_points, exc)
                    stored = True
                else:
                    log.warning("ingest: InfluxDB write failed (%s); spooling", exc)
                    self.counters.write_retries += 1
        elif not body:
            stored = True
        if not stored:
            await self._spool.put(_SPOOL_HEAD.pack(n_points) + body)
            self.counters.spooled += n_points
            self.counters.spool_batches += 1
        self._ack_batch(batch)

    def _count_written(self, n_points: int, series_lists: list[list[Series] | None]) -> None:
        self.counters.written += n_points
        self.counters.batches += 1
        if self._on_written is not None:
            self._on_written([pt for sl in series_lists if sl for one in sl for pt in one.points()])

    async def _write_lines(self, influx: InfluxClient, body: bytes) -> None:
        try:
            await influx.write_lines(body)
        except StoreError as exc:
            if exc.status == 404 and "database not found" in str(exc):
                await influx.ensure_database()  # dropped while we ran: recreate, write again
                await influx.write_lines(body)
                return
            raise

    async def _refused(self, body: bytes, n_points: int, exc: StoreError) -> None:
        log.error("ingest: InfluxDB refused a batch of %d points: %s", n_points, exc)
        await self._dead_letter(self._client, "influxdb:/write", body, str(exc), rejected=n_points)

    async def _drain_loop(self, influx: InfluxClient) -> None:
        """Write the spool to InfluxDB in order, retrying with capped backoff; commit each."""
        assert self._spool is not None
        spool = self._spool
        while True:
            records = await spool.get(max_records=64, max_bytes=4 * 1024 * 1024)
            body = b"".join(r[_SPOOL_HEAD.size :] for _, r in records)
            n_points = sum(_SPOOL_HEAD.unpack_from(r)[0] for _, r in records)
            attempt = 0
            while True:
                try:
                    await self._write_lines(influx, body)
                    self._count_written(n_points, [])
                    break
                except StoreError as exc:
                    if not exc.retryable:
                        await self._refused(body, n_points, exc)
                        break
                    delay = backoff_delay_s(attempt, base_s=0.2, cap_s=5.0)
                    attempt += 1
                    self.counters.write_retries += 1
                    log.warning(
                        "ingest: InfluxDB still unavailable (%s); %d batches spooled; retry in "
                        "%.1f s",
                        exc,
                        spool.spool.pending_records,
                        delay,
                    )
                    await asyncio.sleep(delay)
            spool.commit(records[-1][0])
