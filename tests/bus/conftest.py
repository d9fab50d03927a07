"""Shared fixtures of the bus tests. Every publisher and ingest worker keeps its spool in the
test's tmp dir."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sensor_service.ingest.worker import IngestWorker


@pytest.fixture(autouse=True)
def _state_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FOOTPOD_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture
async def ingest(mqtt_url: str, influx_db: tuple[str, str]) -> AsyncIterator[IngestWorker]:
    """A running in-process ingest worker on the private broker and a fresh database, in a
    share group of its own that it leaves at the end (nothing queued for it afterwards)."""
    url, db = influx_db
    worker = IngestWorker(
        mqtt_url=mqtt_url,
        influx_url=url,
        database=db,
        client_id=f"ingest-{uuid.uuid4().hex[:8]}",
        share_group=f"g{uuid.uuid4().hex[:8]}",
        flush_interval_s=0.1,
        leave_on_stop=True,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(worker.ready.wait(), 10)
    yield worker
    stop.set()
    await asyncio.wait_for(task, 10)
