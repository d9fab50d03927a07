"""A pod drops off the radio for 10 s and comes back: every step it produced is stored once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

from faults._helpers import assert_exactly_once, unique, wait_all_stored
from sensor_service.ble.bumble_backend import BleLinkError, inject_disconnect
from sensor_service.ingest.worker import IngestWorker
from sensor_service.pipeline import AthleteSession, PodSpec
from sensor_service.profiles import load_profile
from sensor_service.sim.gait import GaitSimulator, RunnerParams
from sensor_service.sim.pod_peripheral import SimulatedPod
from sensor_service.sim.sources import FootSampleSource

pytestmark = pytest.mark.integration

RATE_HZ = 416.0


async def test_pod_dropped_for_10_s_and_back(
    mqtt_url: str, influx_db: tuple[str, str], tmp_path: Path
) -> None:
    url, db = influx_db
    run = unique("r")
    athlete = unique("p")
    worker = IngestWorker(
        mqtt_url=mqtt_url,
        influx_url=url,
        database=db,
        client_id=unique("ing"),
        share_group=unique("g"),
        spool_dir=tmp_path / "ingest",
        flush_interval_s=0.2,
        leave_on_stop=True,
    )
    stop_ingest = asyncio.Event()
    ingest = asyncio.create_task(worker.run(stop_ingest))
    await asyncio.wait_for(worker.ready.wait(), 20)

    sim = GaitSimulator(RunnerParams(), duration_s=26, seed=5)
    pods: dict[str, SimulatedPod] = {}
    specs = []
    for side in ("left", "right"):
        name = f"footpod-{athlete}-{side}"
        source = FootSampleSource(sim, side, sampling_rate_hz=RATE_HZ)
        pods[side] = SimulatedPod(name=name, side=side, source=source)
        await pods[side].start()
        specs.append(PodSpec(pod=f"{athlete}-{side}", ble_name=name, side=side))
    session = AthleteSession(
        athlete=athlete,
        run=run,
        pods=specs,
        profile=load_profile("footpod-imu-v1"),
        mqtt_url=mqtt_url,
        state_dir=tmp_path,
    )
    stop_run = asyncio.Event()
    t0 = time.monotonic()
    running = asyncio.create_task(session.run_until(stop_run))
    await asyncio.sleep(7)
    left = f"{athlete}-left"
    before_drop = session.results[left].steps_published
    # Off the air for 10 s: whenever the reader gets the pod back (streaming again), the link
    # is cut again. Cut only once it streams: a cut during GATT discovery surfaces from the
    # bumble backend as CancelledError and ends the session (reported on issue 5).
    drop_end = time.monotonic() + 10
    cuts = 0
    sent = pods["left"].packets_sent
    while time.monotonic() < drop_end:
        if pods["left"].connected and pods["left"].packets_sent > sent:
            sent = pods["left"].packets_sent
            with contextlib.suppress(BleLinkError, TimeoutError):  # link mid-setup
                await inject_disconnect(pods["left"].address)
                cuts += 1
        await asyncio.sleep(0.05)
    after_drop = session.results[left].steps_published
    await asyncio.sleep(max(0.0, t0 + sim.end_s + 1.5 - time.monotonic()))
    stop_run.set()
    await asyncio.wait_for(running, 30)
    for pod in pods.values():
        await pod.stop()

    expected = {pod: r.steps_published for pod, r in session.results.items()}
    got = await wait_all_stored(url, db, run, expected)
    stop_ingest.set()
    await asyncio.wait_for(ingest, 20)
    assert_exactly_once(got, expected)
    reader = session.readers[left]
    assert cuts >= 1
    assert reader.counters.packets_lost > 0  # the drop is a counted gap...
    assert after_drop - before_drop <= 2  # ...with no steps from the air...
    assert expected[left] > after_drop + 10  # ...and the pod streams steps again afterwards
    assert expected[left] < expected[f"{athlete}-right"]
