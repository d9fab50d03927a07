"""Raw IMU stream for researchers: binary payload, validation, storage, idempotency, pipeline."""

from __future__ import annotations

import asyncio
import struct
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sensor_service.ble.timeline import PodSamples
from sensor_service.bus.publisher import MqttPublisher
from sensor_service.contracts import (
    IMU_FIELDS,
    INGESTED_KINDS,
    ImuBatch,
    decode_imu_batch,
    encode_imu_batch,
    message_to_points,
    topic,
)
from sensor_service.errors import PayloadError
from sensor_service.ingest.worker import IngestWorker
from sensor_service.pipeline import ImuStream
from sensor_service.store.influx import InfluxClient
from sensor_service.store.influxql import Select


def _batch(athlete: str = "ana", pod: str = "ana-left", *, n: int = 5, t0: int = 0) -> ImuBatch:
    counts = tuple((i * 37 + j * 1001) % 65535 - 32767 for i in range(n) for j in range(6))
    t0 = t0 or 1_700_000_000_000_000_000
    return ImuBatch(athlete, pod, "run-1", t0, 2_403_846.15, 0.00479, 0.061, True, counts)


def _rounded_scales(batch: ImuBatch) -> ImuBatch:
    """The batch as a receiver sees it (validated, counts as a tuple)."""
    return decode_imu_batch(
        encode_imu_batch(batch), topic_athlete=batch.athlete, topic_pod=batch.pod
    )


def test_round_trip_and_points() -> None:
    batch = _rounded_scales(_batch())
    payload = encode_imu_batch(batch)
    assert len(payload) == 43 + len("ana") + len("ana-left") + len("run-1") + 5 * 12
    assert decode_imu_batch(payload, topic_athlete="ana", topic_pod="ana-left") == batch
    points = message_to_points("footpod/v1/ana/ana-left/imu", payload)
    assert [p.ts_ns for p in points] == batch.timestamps()
    assert [p.ts_ns - points[0].ts_ns for p in points] == [0, 2403846, 4807692, 7211538, 9615385]
    assert points[0].measurement == "imu"
    assert points[0].tags == {"athlete": "ana", "pod": "ana-left", "run": "run-1"}
    assert list(points[0].fields) == list(IMU_FIELDS)
    assert points[1].fields["ax_m_s2"] == batch.counts[6] * batch.acc_scale
    assert points[1].fields["gz_deg_s"] == batch.counts[11] * batch.gyr_scale
    assert "imu" in INGESTED_KINDS


def test_accelerometer_only_batches_have_three_fields() -> None:
    batch = ImuBatch("ana", "ana-left", "r", 10**18, 1e7, 0.01, 0.06, False, (1, 2, 3, 4, 5, 6))
    (p0, p1) = message_to_points("footpod/v1/ana/ana-left/imu", encode_imu_batch(batch))
    assert list(p1.fields) == ["ax_m_s2", "ay_m_s2", "az_m_s2"]
    assert p1.ts_ns - p0.ts_ns == 10_000_000


def _patched(payload: bytes, offset: int, fmt: str, value: Any) -> bytes:
    out = bytearray(payload)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


GOOD = encode_imu_batch(_batch())


@pytest.mark.parametrize(
    ("name", "payload", "reason"),
    [
        ("ana/ana-left", b'{"v": 2}', "not a footpod imu payload"),
        ("ana/ana-left", GOOD[:20], "not a footpod imu payload"),
        ("ana/ana-left", _patched(GOOD, 4, "<B", 9), "format version 9"),
        ("ana/ana-left", _patched(GOOD, 5, "<B", 6), "unknown flags"),
        ("ana/ana-left", _patched(GOOD, 6, "<H", 0), "0 samples"),
        ("ana/ana-left", GOOD[:-1], "bytes;"),
        ("ana/ana-left", GOOD + b"\0\0", "bytes;"),
        ("bob/ana-left", GOOD, "differ from the topic"),
        ("ana/ana-left", _patched(GOOD, 16, "<d", float("nan")), "period_ns"),
        ("ana/ana-left", _patched(GOOD, 24, "<d", -1.0), "acc_scale"),
        ("ana/ana-left", _patched(GOOD, 8, "<q", -5), "time range"),
        ("ana/ana-left", GOOD[:-2] + struct.pack("<h", -32768), "reserved"),
    ],
)
def test_malformed_imu_payloads_say_why(name: str, payload: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        message_to_points(f"footpod/v1/{name}/imu", payload)


def test_hostile_run_id_in_the_payload_is_refused() -> None:
    bad = ImuBatch("ana", "ana-left", "run-1", 10**18, 1e7, 0.01, 0.06, False, (1, 2, 3))
    payload = encode_imu_batch(bad).replace(b"run-1", b"run,1")
    with pytest.raises(PayloadError, match="run"):
        message_to_points("footpod/v1/ana/ana-left/imu", payload)


class _Reader:
    sampling_rate_hz = 100.0
    acc_clip_limit_m_s2 = 16 * 9.80665

    def index_to_epoch_ns(self, index: float) -> int:
        return 1_700_000_000_000_000_000 + round(index * 10_000_000)


def _chunk(first: int, n: int, gap: int = 0) -> PodSamples:
    acc = np.arange(first * 3, (first + n) * 3, dtype=np.float64).reshape(n, 3) / 100
    return PodSamples(first, gap, acc, -acc * 10, clipped=False)


def test_imu_stream_batches_contiguous_samples_and_splits_at_gaps() -> None:
    stream = ImuStream("ana", "ana-left", "r1", _Reader())  # type: ignore[arg-type]
    out = []
    for first in range(0, 150, 10):
        out += stream.add(_chunk(first, 10))
    assert [b.n_samples for b in out] == [100]
    out += stream.add(_chunk(160, 10, gap=10))  # a gap ends the batch before it
    assert [b.n_samples for b in out] == [100, 50]
    out += stream.flush()
    assert [b.n_samples for b in out] == [100, 50, 10]
    assert out[2].t0_ns == _Reader().index_to_epoch_ns(160)
    assert out[1].timestamps()[-1] == _Reader().index_to_epoch_ns(149)
    ax = out[0].samples()[3]["ax_m_s2"]
    assert abs(ax - 0.09) <= out[0].acc_scale / 2  # sample 3: acc (0.09, 0.10, 0.11)


# ----------------------------------------------------------------------------- end to end


async def _stored(url: str, db: str, pod: str) -> list[tuple[int, dict[str, float]]]:
    q = Select("imu", *IMU_FIELDS).where_tags({"pod": pod})
    async with InfluxClient(url=url, database=db) as influx:
        series = await influx.query(str(q))
    rows = []
    for s in series:
        cols = s["columns"]
        for v in s["values"]:
            rows.append((int(v[0]), {c: v[i] for i, c in enumerate(cols) if c in IMU_FIELDS}))
    return rows


async def _wait_rows(url: str, db: str, pod: str, n: int, timeout_s: float = 20) -> list[Any]:
    deadline = time.monotonic() + timeout_s
    rows: list[Any] = []
    while time.monotonic() < deadline:
        rows = await _stored(url, db, pod)
        if len(rows) >= n:
            break
        await asyncio.sleep(0.2)
    return rows


@pytest.mark.integration
async def test_published_samples_are_stored_exactly_and_once(
    mqtt_url: str, influx_db: tuple[str, str], ingest: IngestWorker
) -> None:
    url, db = influx_db
    athlete = f"a{uuid.uuid4().hex[:8]}"
    pod = f"{athlete}-left"
    t0 = time.time_ns() - 60_000_000_000
    batches = [
        _rounded_scales(_batch(athlete, pod, n=400, t0=t0 + k * 400 * 2_403_846)) for k in range(3)
    ]
    async with MqttPublisher(mqtt_url=mqtt_url, client_id=f"pub-{athlete}") as pub:
        for batch in batches:
            await pub.publish(topic("imu", athlete, pod), encode_imu_batch(batch))
        expected = sorted(
            (ts, values)
            for b in batches
            for ts, values in zip(b.timestamps(), b.samples(), strict=True)
        )
        stored = await _wait_rows(url, db, pod, len(expected))
        assert sorted(stored) == expected  # same timestamps, same values (float64 exact)
        for batch in batches:  # at-least-once: the same messages again overwrite
            await pub.publish(topic("imu", athlete, pod), encode_imu_batch(batch))
        await pub.drain()
    await asyncio.wait_for(_until(lambda: ingest.counters.written >= 2 * len(expected)), 10)
    assert sorted(await _stored(url, db, pod)) == expected


async def _until(cond) -> None:  # type: ignore[no-untyped-def]
    while not cond():
        await asyncio.sleep(0.05)


@pytest.mark.integration
async def test_pipeline_publishes_raw_imu_only_when_asked(
    mqtt_url: str, influx_db: tuple[str, str], ingest: IngestWorker, tmp_path: Path
) -> None:
    from sensor_service.pipeline import AthleteSession, PodSpec
    from sensor_service.profiles import load_profile
    from sensor_service.sim.gait import GaitSimulator, RunnerParams
    from sensor_service.sim.pod_peripheral import SimulatedPod
    from sensor_service.sim.sources import FootSampleSource

    url, db = influx_db
    sim = GaitSimulator(RunnerParams(), duration_s=8, seed=3)
    results = {}
    for raw_imu in (True, False):
        athlete = f"a{uuid.uuid4().hex[:8]}"
        name = f"footpod-{athlete}-left"
        source = FootSampleSource(sim, "left", sampling_rate_hz=104.0)
        pod = SimulatedPod(name=name, side="left", source=source)
        await pod.start()
        session = AthleteSession(
            athlete=athlete,
            run="r1",
            pods=[PodSpec(pod=f"{athlete}-left", ble_name=name, side="left")],
            profile=load_profile("footpod-imu-v1"),
            mqtt_url=mqtt_url,
            state_dir=tmp_path / athlete,
            raw_imu=raw_imu,
        )
        stop = asyncio.Event()
        running = asyncio.create_task(session.run_until(stop))
        await asyncio.sleep(4)
        stop.set()
        await asyncio.wait_for(running, 30)
        await pod.stop()
        results[raw_imu] = (f"{athlete}-left", session.results[f"{athlete}-left"])
    pod_id, result = results[True]
    assert result.imu_samples_published > 200
    stored = await _wait_rows(url, db, pod_id, result.imu_samples_published)
    timestamps = [ts for ts, _ in stored]
    assert len(stored) == result.imu_samples_published  # every sample, none twice
    assert len(set(timestamps)) == len(timestamps)
    gaps = np.diff(sorted(timestamps))
    assert gaps.min() > 0.5 / 104 * 1e9
    assert np.median(gaps) == pytest.approx(1e9 / 104, rel=0.05)
    off_pod, off = results[False]
    assert off.imu_samples_published == 0
    assert await _stored(url, db, off_pod) == []
