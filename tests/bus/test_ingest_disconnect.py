"""The ingest worker's receive loop when the connection goes: nothing already received is
dropped. (A race on one event-loop wake-up, so the worker's loop is driven directly: the
broker and InfluxDB paths are tested against real services in test_ingest.py and faults/.)"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from pathlib import Path

import aiomqtt
import paho.mqtt.client as mqtt
import pytest

from sensor_service.contracts import StepRecord, StepsBatch, topic
from sensor_service.ingest.worker import IngestWorker


class _ConnectionGone:
    """The two things of an aiomqtt client the receive loop touches after a disconnect."""

    def __init__(self) -> None:
        self._disconnected: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def publish(self, *_args: object, **_kwargs: object) -> None:
        raise aiomqtt.MqttError("not connected")


def _steps_message(mid: int) -> mqtt.MQTTMessage:
    batch = StepsBatch(
        "ana",
        "ana-left",
        "left",
        "foot",
        "run-1",
        (
            StepRecord(
                ic_ns=1_700_000_000_000_000_000,
                to_ns=1_700_000_000_240_000_000,
                fields={"gct_ms": 240.0, "step_index": mid, "clipped": False},
            ),
        ),
    )
    msg = mqtt.MQTTMessage(mid=mid, topic=topic("steps", "ana", "ana-left").encode())
    msg.payload = json.dumps(batch.to_json()).encode()
    msg.qos = 1
    return msg


async def test_messages_that_arrive_with_the_disconnect_are_kept(tmp_path: Path) -> None:
    """Messages and the disconnect seen on the same wake-up: the messages go to the write
    buffer (stored, not acknowledged) before the loop reconnects. They used to be dropped,
    and a broker killed before its autosave never sends them again: the likely cause of 4
    consecutive steps of 496 lost, once, in test_broker_killed_and_restarted_mid_run."""
    worker = IngestWorker(
        mqtt_url="mqtt://127.0.0.1:1",
        influx_url="http://127.0.0.1:1",
        database="footpod",
        spool_dir=tmp_path,
    )
    client = _ConnectionGone()
    inbox: deque[mqtt.MQTTMessage] = deque()
    arrived, stop = asyncio.Event(), asyncio.Event()
    flusher: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(
        worker._consume(client, inbox, arrived, stop, flusher)  # type: ignore[arg-type]
    )
    await asyncio.sleep(0.01)  # the loop now waits for arrivals
    inbox.extend(_steps_message(mid) for mid in (1, 2, 3))
    arrived.set()
    client._disconnected.set_result(None)
    with pytest.raises(aiomqtt.MqttError, match="connection to the broker lost"):
        await task
    assert worker.counters.received == worker.counters.decoded == 3
    assert [p.mid for p in worker._buffer] == [1, 2, 3]
    assert not inbox
    flusher.cancel()
