"""Break things on purpose; afterwards InfluxDB holds every produced step exactly once.

Real processes throughout: a private Mosquitto and influxd (killed, stopped, restarted by the
test), `footpod ingest` processes (SIGKILLed, restarted), spooled publishers in the test.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from faults._helpers import (
    IngestProcess,
    StepProducer,
    assert_exactly_once,
    unique,
    wait_all_stored,
)
from sensor_service.services import InfluxService, MosquittoService

pytestmark = pytest.mark.integration


async def _sleep_then(delay_s: float, action: Callable[[], object]) -> None:
    await asyncio.sleep(delay_s)
    await asyncio.to_thread(action)


async def test_broker_killed_and_restarted_mid_run(
    mosquitto_factory: Callable[..., MosquittoService],
    influx_db: tuple[str, str],
    ingest_process: type[IngestProcess],
    tmp_path: Path,
) -> None:
    url, db = influx_db
    broker = mosquitto_factory()
    ingest = ingest_process(
        mqtt_url=broker.url, influx_url=url, db=db, client_id=unique("ing"), share_group="g"
    )
    ingest.start()
    await asyncio.sleep(1.5)  # the broker persisted the ingest session (autosave 1 s)
    run = unique("r")
    producer = StepProducer(broker.url, run, ["ana", "bob"], tmp_path / "pub")
    produce = asyncio.create_task(producer.run_for(14))
    await _sleep_then(4, broker.kill)  # SIGKILL: no goodbye, no final save
    down_at = dict(producer.produced)
    await _sleep_then(4, broker.start)
    await produce
    assert producer.total > sum(down_at.values()) > 0
    got = await wait_all_stored(url, db, run, producer.produced)
    assert_exactly_once(got, producer.produced)
    ingest.stop()


async def test_influxdb_stopped_for_60_s_and_started_again(
    mosquitto_factory: Callable[..., MosquittoService],
    influx_factory: Callable[..., InfluxService],
    ingest_process: type[IngestProcess],
    tmp_path: Path,
) -> None:
    broker = mosquitto_factory()
    influx = influx_factory()
    db = "faults"
    ingest = ingest_process(
        mqtt_url=broker.url, influx_url=influx.url, db=db, client_id=unique("ing"), share_group="g"
    )
    ingest.start()
    run = unique("r")
    producer = StepProducer(broker.url, run, ["ana"], tmp_path / "pub", interval_s=0.2)
    produce = asyncio.create_task(producer.run_for(66))
    await _sleep_then(3, influx.stop)
    t_down = time.monotonic()
    await asyncio.sleep(10)
    during = ingest.counters()
    await asyncio.sleep(60 - (time.monotonic() - t_down))
    await asyncio.to_thread(influx.start)
    await produce
    got = await wait_all_stored(influx.url, db, run, producer.produced, timeout_s=60)
    assert_exactly_once(got, producer.produced)
    # While InfluxDB was away the worker kept acknowledging: from its fsynced spool.
    assert during["spooled"] > 0
    after = ingest.counters()
    assert after["written"] >= producer.total
    ingest.stop()


async def test_ingest_worker_sigkilled_and_restarted(
    mosquitto_factory: Callable[..., MosquittoService],
    influx_db: tuple[str, str],
    ingest_process: type[IngestProcess],
    tmp_path: Path,
) -> None:
    url, db = influx_db
    broker = mosquitto_factory()
    ingest = ingest_process(
        mqtt_url=broker.url, influx_url=url, db=db, client_id=unique("ing"), share_group="g"
    )
    ingest.start()
    run = unique("r")
    producer = StepProducer(broker.url, run, ["ana", "bob"], tmp_path / "pub")
    produce = asyncio.create_task(producer.run_for(12))
    await _sleep_then(4, ingest.kill)
    killed_at = producer.total
    await _sleep_then(3, ingest.start)  # same client id: its session kept its messages
    await produce
    assert producer.total > killed_at > 0
    got = await wait_all_stored(url, db, run, producer.produced)
    assert_exactly_once(got, producer.produced)
    assert ingest.starts == 2
    ingest.stop()


async def test_three_workers_split_the_load_and_one_is_killed(
    mosquitto_factory: Callable[..., MosquittoService],
    influx_db: tuple[str, str],
    ingest_process: type[IngestProcess],
    tmp_path: Path,
) -> None:
    url, db = influx_db
    broker = mosquitto_factory()
    workers = [
        ingest_process(
            mqtt_url=broker.url,
            influx_url=url,
            db=db,
            client_id=unique(f"ing{i}-"),
            share_group="footpod-ingest",
        )
        for i in range(3)
    ]
    for w in workers:
        w.start()
    run = unique("r")
    producer = StepProducer(broker.url, run, ["ana", "bob", "cy"], tmp_path / "pub")
    produce = asyncio.create_task(producer.run_for(14))
    await asyncio.sleep(5)
    shares = [w.counters()["received"] for w in workers]
    await asyncio.to_thread(workers[1].kill)
    await asyncio.sleep(3)
    # The broker keeps the killed worker's share (and its unacknowledged messages) in its
    # session; the worker comes back under its client id and takes them.
    await asyncio.to_thread(workers[1].start)
    await produce
    got = await wait_all_stored(url, db, run, producer.produced)
    assert_exactly_once(got, producer.produced)
    assert all(s > 0 for s in shares), shares  # each worker got a share
    assert max(shares) < 0.6 * sum(shares), shares
    for w in workers:
        assert w.stop() == 0, w.log_tail()
