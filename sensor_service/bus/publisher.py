"""Publishing to MQTT with aiomqtt: a durable spool, QoS 1, persistent session, in-order replay.

One :class:`MqttPublisher` is one broker connection. A pod gets its own connection so that its
last will (``state = lost`` on its retained status topic) fires when its gateway dies.

Delivery: :meth:`MqttPublisher.publish` appends the message to a local spool
(:mod:`sensor_service.bus.spool`) and returns once it is fsynced there (appends are grouped,
one fsync per ~10 ms). A sender task publishes the spool in order with QoS 1 (a window of
``max_inflight`` messages awaiting PUBACK) and commits each message once the broker
acknowledged it and every earlier one. It speaks MQTT 5 (fixed client id, clean start off, a
session expiry) so that it can read each PUBACK's reason code: "no matching subscribers" keeps
the message in the spool and sends it again later. After a lost connection it reconnects (capped
jittered backoff) and re-sends from the first unacknowledged message;
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
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from sensor_service.bus.connection_lost import connection_lost
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
_NO_MATCHING_SUBSCRIBERS: Final = 0x10
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


class _NoSubscriberError(Exception):
    """The broker had no subscriber for a message (PUBACK 0x10): send it again later."""


@dataclass(slots=True)
class PublisherCounters:
    spooled: int = 0
    published: int = 0
    rejected: int = 0
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
        session_expiry_s: int = 24 * 3600,
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
        self._session_expiry_s = session_expiry_s
        self._connect_timeout_s = connect_timeout_s
        self._connected = asyncio.Event()
        self._idle = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._close_requested = asyncio.Event()
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
        # Leave the connection cleanly (DISCONNECT, so the broker does not fire the last will
        # of a pod that was stopped on purpose); cancel only if that does not happen in time.
        self._close_requested.set()
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), 5.0)
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

    def _connect_properties(self) -> Properties:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self._session_expiry_s
        return props

    async def _run(self) -> None:
        attempt = 0
        while not self._closing:
            try:
                async with aiomqtt.Client(
                    **self._target.client_kwargs(),  # host, port, credentials, TLS
                    identifier=self._client_id,
                    will=self._will,
                    protocol=aiomqtt.ProtocolVersion.V5,
                    clean_start=False,
                    properties=self._connect_properties(),
                    keepalive=10,
                    timeout=self._connect_timeout_s,
                ) as client:
                    if attempt:
                        self.counters.reconnects += 1
                        log.info("%s: reconnected to %s", self._client_id, self._target)
                    attempt = 0
                    self._connected.set()
                    if await self._pump_until_closed(client):
                        return
            except (aiomqtt.MqttError, _NoSubscriberError) as exc:
                if isinstance(exc, aiomqtt.MqttError):
                    self._connected.clear()
                delay = backoff_s(attempt, base_s=0.5, cap_s=5.0)
                attempt += 1
                log.warning(
                    "%s: %s (%s); %d messages spooled; retry in %.1f s",
                    self._client_id,
                    "nobody subscribes yet"
                    if isinstance(exc, _NoSubscriberError)
                    else f"MQTT connection to {self._target} failed",
                    exc,
                    self.pending,
                    delay,
                )
                await asyncio.sleep(delay)

    async def _pump_until_closed(self, client: aiomqtt.Client) -> bool:
        """Pump until :meth:`close` (True) or a connection error (raised).

        "No matching subscribers" is retried on the same connection after a pause: tearing
        the connection down would make the broker fire the pod's last will ("lost").
        """
        attempt = 0
        while True:
            pump = asyncio.ensure_future(self._pump(client))
            closing = asyncio.ensure_future(self._close_requested.wait())
            await asyncio.wait({pump, closing}, return_when=asyncio.FIRST_COMPLETED)
            closing.cancel()
            if not pump.done():  # close(): stop pumping, then leave `async with` cleanly
                pump.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pump
                return True
            try:
                pump.result()
            except _NoSubscriberError as exc:
                delay = backoff_s(attempt, base_s=0.5, cap_s=5.0)
                attempt += 1
                log.warning(
                    "%s: nobody subscribes to %s yet; %d messages spooled; retry in %.1f s",
                    self._client_id,
                    exc,
                    self.pending,
                    delay,
                )
                try:
                    await asyncio.wait_for(self._close_requested.wait(), delay)
                except TimeoutError:
                    continue
                return True

    async def _pump(self, client: aiomqtt.Client) -> None:
        """Publish the spool in order, ``max_inflight`` at a time; commit on PUBACK.

        aiomqtt's ``publish`` hides the PUBACK reason code, so this publishes through its
        paho client and reads the code per message id: 0x10 "no matching subscribers" means
        nobody took the message (e.g. the ingest has not re-subscribed after a broker
        restart: Mosquitto 2.0 does not restore shared subscriptions), so it stays in the
        spool and is sent again later; a code >= 0x80 (e.g. 0x87 not authorised) is a
        refusal: logged, counted, not retried.
        """
        spool = self._spool
        assert spool is not None
        paho = client._client
        acks: dict[int, asyncio.Future[int]] = {}
        aiomqtt_on_publish: Any = paho.on_publish

        def on_publish(
            c: Any, userdata: Any, mid: int, reason: ReasonCode, properties: Any
        ) -> None:
            fut = acks.pop(mid, None)
            if fut is not None and not fut.done():
                fut.set_result(int(reason.value))
            aiomqtt_on_publish(c, userdata, mid, reason, properties)

        paho.on_publish = on_publish
        disconnected = client._disconnected
        spool.rewind()  # everything not acknowledged, again, in order
        inflight: deque[tuple[int, str, bool, asyncio.Future[int]]] = deque()
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
                    info = paho.publish(topic, payload, qos=1, retain=retain)
                    if info.rc != mqtt.MQTT_ERR_SUCCESS:
                        raise aiomqtt.MqttError(f"publish failed: {mqtt.error_string(info.rc)}")
                    fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
                    acks[info.mid] = fut
                    inflight.append((seq, topic, retain, fut))
                if records and len(inflight) < self._max_inflight:
                    continue
                seq, topic, retain, fut = inflight[0]
                waiting: list[asyncio.Future[Any]] = [fut, disconnected]
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if not fut.done():
                    self.counters.retried += len(inflight)
                    raise connection_lost(disconnected, "connection lost while waiting for PUBACK")
                code = fut.result()
                if code == _NO_MATCHING_SUBSCRIBERS and not retain:
                    self.counters.retried += len(inflight)
                    raise _NoSubscriberError(topic)
                inflight.popleft()
                if code >= 0x80:
                    self.counters.rejected += 1
                    _stages().inc("rejected")
                    log.error(
                        "%s: the broker refused a message on %r (reason 0x%02x); dropped from "
                        "the spool",
                        self._client_id,
                        topic,
                        code,
                    )
                else:
                    self._count_published()
                spool.commit(seq)
                if spool.empty:
                    self._idle.set()
        finally:
            paho.on_publish = aiomqtt_on_publish

    def _count_published(self) -> None:
        self.counters.published += 1
        _stages().inc("published")
