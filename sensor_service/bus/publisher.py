"""Publishing to MQTT with aiomqtt: a durable spool, QoS 1, persistent session, in-order replay.

One :class:`MqttPublisher` is one broker connection. A pod gets its own connection so that its
last will (``state = lost`` on its retained status topic) fires when its gateway dies.

Delivery: :meth:`MqttPublisher.publish` appends the message to a local spool
(:mod:`sensor_service.bus.spool`) and returns once it is fsynced there (appends are grouped,
one fsync per ~10 ms). A sender task publishes the spool in order with QoS 1 (a window of
``max_inflight`` messages awaiting PUBACK) and commits each message once the broker
acknowledged it and every earlier one. After a lost connection it reconnects (fixed client id,
clean session off, capped jittered backoff) and re-sends from the first unacknowledged message;
after a process restart the same client id finds its spool and sends what is left, in order.
The spool is bounded (``spool_max_bytes``): when full, ``publish`` waits (backpressure on the
producer, logged and counted), it never drops. A message may reach the broker twice (a PUBACK
lost with the connection, a crash before the cursor was saved); points are idempotent.

Counters: :attr:`MqttPublisher.counters` per connection, and the process-wide stage counters
``footpod_stage_total{component="publisher", stage="spooled"|"published"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import struct
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import aiomqtt

from sensor_service.bus.mqtt_url import parse_mqtt_url
from sensor_service.bus.spool import AsyncSpool, Spool, default_state_dir
from sensor_service.contracts import validate_id
from sensor_service.errors import ServiceError
from sensor_service.metrics import StageCounters

__all__ = [
    "MqttPublisher",
    "PublisherCounters",
    "backoff_s",
    "decode_spooled",
    "encode_spooled",
]

log = logging.getLogger(__name__)

_RECORD_HEAD: Final = struct.Struct("<BH")
_RETAIN: Final = 1

#: Stage counters of every publisher of this process (component ``publisher``).
_stage_counters: StageCounters | None = None


def _stages() -> StageCounters:
    global _stage_counters  # noqa: PLW0603 - one registry entry per process, made on first use
    if _stage_counters is None:
        _stage_counters = StageCounters("publisher")
    return _stage_counters


def backoff_s(attempt: int, *, base_s: float = 0.2, cap_s: float = 10.0) -> float:
    """Capped exponential backoff with full jitter (attempt 0 → up to ``base_s``)."""
    return random.uniform(0.0, min(cap_s, base_s * (2**attempt)))


def encode_spooled(topic: str, payload: bytes, *, retain: bool) -> bytes:
    """One spool record: ``<u8 flags><u16 topic length><topic><payload>``."""
    name = topic.encode()
    return _RECORD_HEAD.pack(_RETAIN if retain else 0, len(name)) + name + payload


def decode_spooled(record: bytes) -> tuple[str, bytes, bool]:
    """Inverse of :func:`encode_spooled`: ``(topic, payload, retain)``."""
    flags, length = _RECORD_HEAD.unpack_from(record)
    start = _RECORD_HEAD.size
    return record[start : start + length].decode(), record[start + length :], bool(flags & _RETAIN)


@dataclass(slots=True)
class PublisherCounters:
    spooled: int = 0
    published: int = 0
    replayed: int = 0
    retried: int = 0
    reconnects: int = 0
    blocked: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class MqttPublisher:
    """A spooled, reconnecting QoS 1 publisher; use as ``async with MqttPublisher(...) as pub``.

    ``spool_dir`` defaults to ``<state dir>/spool/<client_id>`` (state dir:
    ``$FOOTPOD_STATE_DIR`` or ``~/.local/state/footpod``); one process per spool.
    """

    def __init__(
        self,
        *,
        mqtt_url: str,
        client_id: str,
        will_topic: str | None = None,
        will_payload: dict[str, Any] | None = None,
        spool_dir: str | Path | None = None,
        spool_max_bytes: int = 256 * 1024 * 1024,
        max_inflight: int = 64,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self._target = parse_mqtt_url(mqtt_url)
        self._client_id = client_id
        self._will = (
            aiomqtt.Will(will_topic, json.dumps(will_payload).encode(), qos=1, retain=True)
            if will_topic is not None and will_payload is not None
            else None
        )
        if spool_dir is None:
            spool_dir = default_state_dir() / "spool" / validate_id("client", client_id)
        self.spool_dir = Path(spool_dir)
        self._spool_max_bytes = spool_max_bytes
        self._spool: AsyncSpool | None = None
        self._max_inflight = max_inflight
        self._connect_timeout_s = connect_timeout_s
        self._connected = asyncio.Event()
        self._idle = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.counters = PublisherCounters()

    @property
    def pending(self) -> int:
        """Messages spooled and not yet acknowledged by the broker."""
        return self._spool.spool.pending_records if self._spool is not None else 0

    async def __aenter__(self) -> MqttPublisher:
        spool = Spool(self.spool_dir, max_bytes=self._spool_max_bytes)
        self._spool = AsyncSpool(spool, name=self._client_id)
        if spool.pending_records:
            log.info(
                "%s: %d messages left in the spool %s from an earlier run are sent first",
                self._client_id,
                spool.pending_records,
                self.spool_dir,
            )
            self.counters.replayed += spool.pending_records
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
            await self._spool.aclose()
            self._spool = None
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

    async def publish(
        self, topic: str, payload: dict[str, Any] | bytes, *, retain: bool = False
    ) -> None:
        """Spool one message (JSON object or raw bytes); return once it is fsynced there.

        The broker gets it as soon as the connection allows, in publish order. Blocks while
        the spool is full.
        """
        if self._spool is None:
            raise RuntimeError("use the publisher as `async with MqttPublisher(...)`")
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        before = self._spool.blocked
        await self._spool.put(encode_spooled(topic, body, retain=retain))
        self.counters.blocked += self._spool.blocked - before
        self.counters.spooled += 1
        _stages().inc("spooled")
        self._idle.clear()

    async def drain(self) -> None:
        """Wait until the broker acknowledged every spooled message."""
        while self._spool is not None and not self._spool.empty:
            self._idle.clear()
            await self._idle.wait()

    async def close(self, *, timeout_s: float = 10.0) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.drain(), timeout_s)
        if self.pending:
            log.warning(
                "%s: closing with %d unacknowledged messages kept in %s; they are sent on the "
                "next start with this client id",
                self._client_id,
                self.pending,
                self.spool_dir,
            )
        self._closing = True
        await self._stop_task()
        if self._spool is not None:
            await self._spool.aclose()
            self._spool = None

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
                    "%s: MQTT connection to %s failed (%s); %d messages spooled; retry in %.1f s",
                    self._client_id,
                    self._target,
                    exc,
                    self.pending,
                    delay,
                )
                await asyncio.sleep(delay)

    async def _pump(self, client: aiomqtt.Client) -> None:
        """Publish the spool in order, ``max_inflight`` at a time; commit on PUBACK."""
        spool = self._spool
        assert spool is not None
        spool.rewind()  # everything not acknowledged, again, in order
        inflight: deque[tuple[int, asyncio.Task[None]]] = deque()
        try:
            while True:
                room = self._max_inflight - len(inflight)
                if inflight:
                    records = spool.read_nowait(room) if room > 0 else []
                else:
                    if spool.empty:
                        self._idle.set()
                    records = await spool.get(self._max_inflight)
                for seq, record in records:
                    topic, payload, retain = decode_spooled(record)
                    task = asyncio.ensure_future(
                        client.publish(topic, payload, qos=1, retain=retain)
                    )
                    inflight.append((seq, task))
                if not records or len(inflight) >= self._max_inflight:
                    seq, task = inflight[0]
                    try:
                        await task
                    except aiomqtt.MqttError:
                        self.counters.retried += len(inflight)
                        raise
                    inflight.popleft()
                    # Commit the acknowledged prefix.
                    while inflight and inflight[0][1].done() and not inflight[0][1].exception():
                        seq, _ = inflight.popleft()
                        self._count_published()
                    spool.commit(seq)
                    self._count_published()
                    if spool.empty:
                        self._idle.set()
        finally:
            for _, task in inflight:
                task.cancel()
            if inflight:
                await asyncio.gather(*(t for _, t in inflight), return_exceptions=True)

    def _count_published(self) -> None:
        self.counters.published += 1
        _stages().inc("published")
