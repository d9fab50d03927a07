"""Every firmware profile through the whole pipeline (issue 3): simulated vendor pods → bleak →
profile decoder → timeline → kernel → MQTT → ingest → InfluxDB. RSC pods store speed,
cadence, stride and distance."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import numpy as np
import pytest

from sensor_service.ble.bumble_backend import close_bumble_hosts
from sensor_service.ble.reader import settable_rates_hz
from sensor_service.ingest.worker import IngestWorker
from sensor_service.pipeline import AthleteSession, PodSpec
from sensor_service.profiles import Profile, load_all_profiles, load_profile
from sensor_service.sim.gait import GaitSimulator, RunnerParams
from sensor_service.sim.sources import FootSampleSource
from sensor_service.sim.vendor_pods import make_simulated_pod
from sensor_service.store.influx import InfluxClient
from sensor_service.store.influxql import Agg, Select

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

IMU_PROFILES = [p.name for p in load_all_profiles() if p.capabilities.acc]
SPEED = 2.0  # simulated seconds per real second
#: Pods that send one sample per notification run slower. The in-process bumble link
#: (simulated pods and central in one Python process) costs ~1.2 ms of CPU per notification on
#: a 2.5 GHz Xeon VM, so it carries a few hundred a second there, less while the machine is
#: busy. MetaWear sends each sensor's samples apart: two pods at 200 Hz are 800 notifications a
#: simulated second, and at 2× the reader's queue overflowed and most packets were lost.
#: Thingy:52 and WitMotion (100 Hz, one or a few samples a notification) stay near real time.
PROFILE_SPEED = {"mbientlab-metamotion": 0.5, "nordic-thingy52": 1.0, "witmotion-bwt901ble": 1.0}


@pytest.fixture(autouse=True)
async def _fresh_link() -> AsyncIterator[None]:
    yield
    await close_bumble_hosts()


@contextlib.asynccontextmanager
async def _ingest(mqtt_url: str, url: str, db: str) -> AsyncIterator[IngestWorker]:
    worker = IngestWorker(
        mqtt_url=mqtt_url,
        influx_url=url,
        database=db,
        client_id=f"ing-{uuid.uuid4().hex[:8]}",
        flush_interval_s=0.1,
        share_group=f"g{uuid.uuid4().hex[:8]}",  # a group of its own: no share for others
        leave_on_stop=True,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(worker.ready.wait(), 10)
    try:
        yield worker
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


def _rate_hz(profile: Profile) -> float:
    """The highest rate the reader can ask the pod for, up to 416 Hz."""
    return max(r for r in settable_rates_hz(profile) if r <= 416)


def _ble_name(profile: Profile, athlete: str, side: str) -> str:
    pattern = profile.discovery.name_patterns[0]
    return pattern.replace("*", f" {athlete}-{side}").replace("?", "x")


async def _run(session: AthleteSession, seconds: float) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(session.run_until(stop))
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if task in done:
        await task  # surfaces the error of a session that died early
    stop.set()
    await asyncio.wait_for(task, 30)


async def _stored(url: str, db: str, measurement: str, field: str, athlete: str) -> list[float]:
    async with InfluxClient(url=url, database=db) as influx:
        series = await influx.query(
            str(Select(measurement, field).where_tags({"athlete": athlete}))
        )
    return [row[1] for row in series[0]["values"]] if series else []


async def _wait_stored(
    url: str, db: str, measurement: str, field: str, athlete: str, expected: int
) -> list[float]:
    values: list[float] = []
    for _ in range(100):
        values = await _stored(url, db, measurement, field, athlete)
        if len(values) >= expected:
            break
        await asyncio.sleep(0.1)
    return values


@pytest.mark.parametrize("profile_name", IMU_PROFILES)
async def test_imu_profile_end_to_end(
    profile_name: str, mqtt_url: str, influx_db: tuple[str, str]
) -> None:
    url, db = influx_db
    profile = load_profile(profile_name)
    athlete = f"v{uuid.uuid4().hex[:8]}"
    rate = _rate_hz(profile)
    speed = PROFILE_SPEED.get(profile_name, SPEED)
    sim = GaitSimulator(RunnerParams(cadence_spm=172, gct_ms=250), duration_s=12, seed=4)
    specs = []
    async with contextlib.AsyncExitStack() as stack:
        for side in ("left", "right"):
            source = FootSampleSource(
                sim,
                side,
                sampling_rate_hz=rate,
                forward_axis=profile.mounting.forward_axis,
                left_axis=profile.mounting.left_axis,
            )
            name = _ble_name(profile, athlete, side)
            await stack.enter_async_context(
                make_simulated_pod(profile_name, name=name, source=source, side=side, speed=speed)
            )
            specs.append(
                PodSpec(f"{athlete}-{side}", name, side, sampling_rate_hz=rate)  # type: ignore[arg-type]
            )
        await stack.enter_async_context(_ingest(mqtt_url, url, db))
        session = AthleteSession(
            athlete=athlete, run="r1", pods=specs, profile=profile, mqtt_url=mqtt_url
        )
        await _run(session, sim.end_s / speed + 2.0)
        gct = await _wait_stored(url, db, "steps", "gct_ms", athlete, session.steps_published)
    truth = np.concatenate([sim.truth(s).gct_ms for s in ("left", "right")])
    assert len(gct) == session.steps_published
    assert 0.95 * truth.size <= len(gct) <= truth.size, (len(gct), truth.size)
    assert abs(float(np.median(gct)) - float(np.median(truth))) <= 10.0
    lost = sum(r.counters.decode_errors for r in session.readers.values())
    assert lost == 0


async def test_rsc_pod_stores_speed_cadence_stride_and_distance(
    mqtt_url: str, influx_db: tuple[str, str]
) -> None:
    url, db = influx_db
    athlete = f"r{uuid.uuid4().hex[:8]}"
    params = RunnerParams(cadence_spm=170, gct_ms=240, speed_m_s=3.4)
    sim = GaitSimulator(params, duration_s=20, seed=2)
    name = f"Stryd {athlete}"
    async with contextlib.AsyncExitStack() as stack:
        source = FootSampleSource(sim, "left", sampling_rate_hz=100.0)
        await stack.enter_async_context(
            make_simulated_pod("bluetooth-rsc", name=name, source=source, side="left", speed=SPEED)
        )
        await stack.enter_async_context(_ingest(mqtt_url, url, db))
        spec = PodSpec(f"{athlete}-rsc", name, "left", profile="bluetooth-rsc")
        session = AthleteSession(
            athlete=athlete,
            run="r1",
            pods=[spec],
            profile=load_profile("footpod-imu-v1"),
            mqtt_url=mqtt_url,
        )
        await _run(session, sim.end_s / SPEED)
        published = session.results[spec.pod].rsc_published
        speed = await _wait_stored(url, db, "rsc", "speed_m_s", athlete, published)
    assert published >= 5
    cadence = await _stored(url, db, "rsc", "cadence_spm", athlete)
    distance = await _stored(url, db, "rsc", "distance_m", athlete)
    stride = await _stored(url, db, "rsc", "stride_m", athlete)
    assert len(speed) == published
    assert max(speed) == pytest.approx(params.speed_m_s, abs=0.01)
    assert max(cadence) == pytest.approx(params.cadence_spm, abs=1.0)
    assert distance == sorted(distance)
    assert stride
    async with InfluxClient(url=url, database=db) as influx:
        series = await influx.query(
            str(Select("rsc", Agg("max", "distance_m", alias="d")).where_tags({"athlete": athlete}))
        )
    assert series[0]["values"][0][1] > 0
