"""The pod reader over the bumble virtual link with a simulated footpod-imu/1 pod."""

from __future__ import annotations

import asyncio
import itertools

import numpy as np
import pytest

from sensor_service.ble.bumble_backend import inject_disconnect
from sensor_service.ble.reader import PodReader, PodSamples
from sensor_service.profiles import load_profile
from sensor_service.sim.gait import GaitSimulator, RunnerParams
from sensor_service.sim.pod_peripheral import SimulatedPod
from sensor_service.sim.sources import FootSampleSource

pytestmark = pytest.mark.integration

RATE_HZ = 416.0


def _sources(axes: tuple[str, str]) -> tuple[FootSampleSource, FootSampleSource]:
    """Two identical sources: one for the pod, one to compare with (same seed)."""
    made = []
    for _ in range(2):
        sim = GaitSimulator(RunnerParams(), duration_s=20, seed=7)
        made.append(
            FootSampleSource(
                sim, "left", sampling_rate_hz=RATE_HZ, forward_axis=axes[0], left_axis=axes[1]
            )
        )
    return made[0], made[1]


async def _collect(reader: PodReader, n_samples: int, chunks: list[PodSamples]) -> None:
    async for chunk in reader.stream():
        chunks.append(chunk)
        if chunk.first_index + chunk.acc_m_s2.shape[0] >= n_samples:
            return


async def test_reader_delivers_samples_in_the_foot_frame() -> None:
    source, twin = _sources(("+y", "-x"))  # pod strapped on rotated by 90 degrees
    pod = SimulatedPod(
        name="footpod-t1-left",
        side="left",
        source=source,
        forward_axis="+y",
        left_axis="-x",
        speed=4.0,
    )
    await pod.start()
    reader = PodReader(profile=load_profile("footpod-imu-v1"), name="footpod-t1-left")
    chunks: list[PodSamples] = []
    await asyncio.wait_for(_collect(reader, 2000, chunks), 30)
    await reader.stop()
    await pod.stop()
    acc = np.concatenate([c.acc_m_s2 for c in chunks])
    assert chunks[0].first_index == 0
    assert sum(c.gap_samples for c in chunks) == 0
    # The twin source renders the same foot in the foot frame (pod frame rotated back).
    sim = twin.sim
    t = np.arange(acc.shape[0]) / RATE_HZ
    truth_acc, _ = sim.render("left", t)
    # Quantisation: 1/2048 g; noise differs only by nothing (same seed): compare closely.
    assert np.allclose(acc[:, 2], truth_acc[:, 2], atol=0.05)
    assert np.allclose(acc[:, 0], truth_acc[:, 0], atol=0.05)
    assert reader.sampling_rate_hz == RATE_HZ
    assert reader.counters.packets_lost == 0
    assert reader.counters.decode_errors == 0


async def test_link_loss_is_a_counted_gap_and_the_stream_resumes() -> None:
    source, _ = _sources(("+x", "+y"))
    pod = SimulatedPod(name="footpod-t2-left", side="left", source=source, speed=2.0)
    await pod.start()
    states: list[str] = []
    reader = PodReader(
        profile=load_profile("footpod-imu-v1"), name="footpod-t2-left", on_state=states.append
    )
    chunks: list[PodSamples] = []

    async def cut_link() -> None:
        await asyncio.sleep(1.0)
        await inject_disconnect(pod.address)

    cutter = asyncio.create_task(cut_link())
    await asyncio.wait_for(_collect(reader, int(6 * RATE_HZ), chunks), 40)
    await cutter
    await reader.stop()
    await pod.stop()
    gaps = [c.gap_samples for c in chunks if c.gap_samples]
    assert len(gaps) == 1, gaps
    # The gap is whole packets of 19 samples, and equals the lost packets counted.
    assert gaps[0] % 19 == 0
    assert gaps[0] // 19 == reader.counters.packets_lost > 0
    assert "reconnecting" in states
    assert states.count("connected") == 2
    # Indices stay consecutive around the gap.
    for a, b in itertools.pairwise(chunks):
        assert b.first_index == a.first_index + a.acc_m_s2.shape[0] + b.gap_samples


async def test_pod_not_found_times_out_cleanly() -> None:
    reader = PodReader(
        profile=load_profile("footpod-imu-v1"), name="footpod-absent", scan_timeout_s=0.5
    )
    stream = reader.stream()
    task = asyncio.create_task(anext(stream))
    await asyncio.sleep(1.5)
    assert reader.counters.reconnects >= 1  # keeps looking, with backoff
    await reader.stop()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(task, 5)
