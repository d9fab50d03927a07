"""A pod walks out of range mid-run and comes back 10 s later (issue 3, "must show").

The run goes on, the gap is reported with its length (reader counters and the retained pod
status), and no step is invented across it: every stored step of that foot matches a true
contact outside the gap.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import aiomqtt
import numpy as np
import pytest

from sensor_service.ble.bumble_backend import close_bumble_hosts, virtual_link
from sensor_service.bus.mqtt_url import parse_mqtt_url
from sensor_service.contracts import topic
from sensor_service.ingest.worker import IngestWorker
from sensor_service.pipeline import AthleteSession, PodSpec
from sensor_service.profiles import load_profile
from sensor_service.sim.gait import GaitSimulator, RunnerParams
from sensor_service.sim.pod_peripheral import SimulatedPod
from sensor_service.sim.sources import FootSampleSource
from sensor_service.store.influx import InfluxClient
from sensor_service.store.influxql import Select

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

RATE_HZ = 208.0
DROP_AT_S = 8.0
DROP_FOR_S = 10.0


@pytest.fixture(autouse=True)
async def _fresh_link():  # type: ignore[no-untyped-def]
    yield
    await close_bumble_hosts()


async def test_pod_out_of_range_for_10_s_leaves_a_reported_gap_and_no_invented_step(
    mqtt_url: str, influx_db: tuple[str, str]
) -> None:
    url, db = influx_db
    athlete = f"drop{uuid.uuid4().hex[:6]}"
    run = "r1"
    sim = GaitSimulator(RunnerParams(cadence_spm=175, gct_ms=240), duration_s=28, seed=11)
    pods = {
        side: SimulatedPod(
            name=f"footpod-{athlete}-{side}",
            side=side,
            source=FootSampleSource(sim, side, sampling_rate_hz=RATE_HZ),
        )
        for side in ("left", "right")
    }
    for pod in pods.values():
        await pod.start()
    stop_ingest = asyncio.Event()
    ingest = IngestWorker(
        mqtt_url=mqtt_url,
        influx_url=url,
        database=db,
        client_id=f"ing-{athlete}",
        flush_interval_s=0.1,
        share_group=f"g{uuid.uuid4().hex[:8]}",  # a group of its own: no share for others
        leave_on_stop=True,
    )
    ingest_task = asyncio.create_task(ingest.run(stop_ingest))
    await asyncio.wait_for(ingest.ready.wait(), 10)
    session = AthleteSession(
        athlete=athlete,
        run=run,
        pods=[PodSpec(f"{athlete}-{s}", f"footpod-{athlete}-{s}", s) for s in ("left", "right")],
        profile=load_profile("footpod-imu-v1"),
        mqtt_url=mqtt_url,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(session.run_until(stop))
    await asyncio.sleep(DROP_AT_S)
    link = await virtual_link()
    await link.out_of_range(pods["left"].address, DROP_FOR_S)
    await asyncio.sleep(sim.end_s - DROP_AT_S - DROP_FOR_S + 1.5)
    left_reader = session.readers[f"{athlete}-left"]
    epoch0_ns = left_reader.index_to_epoch_ns(0)
    stop.set()
    await asyncio.wait_for(task, 30)
    for pod in pods.values():
        await pod.stop()

    # The gap is reported with its length: counters and the retained status.
    counters = left_reader.counters
    assert counters.gaps == 1
    assert left_reader.gap_s_total == pytest.approx(DROP_FOR_S, abs=1.5)
    assert session.readers[f"{athlete}-right"].counters.gaps == 0
    target = parse_mqtt_url(mqtt_url)
    async with aiomqtt.Client(target.hostname, target.port) as client:
        await client.subscribe(topic("status", athlete, f"{athlete}-left"), qos=1)
        async with asyncio.timeout(5):
            message = await anext(aiter(client.messages))
    status = json.loads(message.payload)  # type: ignore[arg-type]
    assert status["gaps"] == 1
    assert status["gap_s_total"] == pytest.approx(DROP_FOR_S, abs=1.5)

    published = session.results[f"{athlete}-left"].steps_published
    async with InfluxClient(url=url, database=db) as influx:
        for _ in range(100):
            if (
                await influx.count("steps", "gct_ms", {"athlete": athlete, "side": "left"})
                == published
            ):
                break
            await asyncio.sleep(0.1)
        series = await influx.query(
            str(Select("steps", "gct_ms").where_tags({"athlete": athlete, "side": "left"}))
        )
    ic_s = (np.array([row[0] for row in series[0]["values"]]) - epoch0_ns) / 1e9
    truth = sim.truth("left")
    gap_start = DROP_AT_S - 1.0
    gap_end = DROP_AT_S + DROP_FOR_S + 1.5
    outside = (truth.to_s < gap_start) | (truth.ic_s > gap_end)
    # No invented step: each stored step is a true contact, none inside or across the gap.
    nearest = np.min(np.abs(ic_s[:, None] - truth.ic_s[None, :]), axis=1)
    assert np.all(nearest < 0.03), nearest
    assert not np.any((ic_s > DROP_AT_S + 0.5) & (ic_s < DROP_AT_S + DROP_FOR_S - 0.5))
    # The run went on: the steps after the gap are there (at most one lost at each edge).
    assert ic_s.size >= int(outside.sum()) - 2
    assert ic_s.size < truth.ic_s.size
    assert session.results[f"{athlete}-right"].steps_published == sim.truth("right").ic_s.size
    stop_ingest.set()
    await ingest_task
