"""Load-model estimates travel with each step when the athlete's body is known (issue 4)."""

from __future__ import annotations

import asyncio
import json
import uuid

import aiomqtt
import numpy as np
import pytest

from sensor_service.ble.bumble_backend import close_bumble_hosts
from sensor_service.bus.mqtt_url import parse_mqtt_url
from sensor_service.load import AthleteParams
from sensor_service.pipeline import LOAD_FIELDS, AthleteSession, PodSpec
from sensor_service.profiles import load_profile
from sensor_service.sim.gait import GaitSimulator, RunnerParams
from sensor_service.sim.pod_peripheral import SimulatedPod
from sensor_service.sim.sources import FootSampleSource

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.fixture(autouse=True)
async def _fresh_link():  # type: ignore[no-untyped-def]
    yield
    await close_bumble_hosts()


@pytest.mark.parametrize("with_body", [True, False])
async def test_steps_carry_load_estimates_only_with_body_parameters(
    mqtt_url: str, with_body: bool
) -> None:
    athlete = f"l{uuid.uuid4().hex[:8]}"
    sim = GaitSimulator(RunnerParams(cadence_spm=176, gct_ms=230, strike="forefoot"), duration_s=7)
    pods = [
        SimulatedPod(
            name=f"footpod-{athlete}-{side}",
            side=side,
            source=FootSampleSource(sim, side, sampling_rate_hz=416.0),
        )
        for side in ("left", "right")
    ]
    session = AthleteSession(
        athlete=athlete,
        run="r1",
        profile=load_profile("footpod-imu-v1"),
        mqtt_url=mqtt_url,
        pods=[PodSpec(f"{athlete}-{s}", f"footpod-{athlete}-{s}", s) for s in ("left", "right")],
        athlete_params=AthleteParams(mass_kg=68, height_m=1.76) if with_body else None,
        speed_m_s=3.3,
    )
    target = parse_mqtt_url(mqtt_url)
    steps: list[dict[str, float]] = []
    runs: list[dict[str, object]] = []
    async with aiomqtt.Client(target.hostname, target.port) as client:
        await client.subscribe(f"footpod/v1/{athlete}/+/steps", qos=1)
        await client.subscribe(f"footpod/v1/{athlete}/runs", qos=1)

        async def collect() -> None:
            async for message in client.messages:
                payload = json.loads(message.payload)  # type: ignore[arg-type]
                if message.topic.value.endswith("/runs"):
                    runs.append(payload)
                else:
                    steps.extend(payload["steps"])

        collector = asyncio.create_task(collect())
        for pod in pods:
            await pod.start()
        stop = asyncio.Event()
        task = asyncio.create_task(session.run_until(stop))
        await asyncio.sleep(sim.end_s + 1.0)
        stop.set()
        await task
        for pod in pods:
            await pod.stop()
        await asyncio.sleep(0.5)
        collector.cancel()
    assert len(steps) > 15
    with_loads = [s for s in steps if "at_force_est_bw" in s]
    end = next(r for r in runs if r["event"] == "end")
    if not with_body:
        assert with_loads == []
        assert "at_impulse_est_bw_s" not in end
        return
    # Every step but the first (no flight time before it) carries the estimates.
    assert len(with_loads) >= len(steps) - 2, steps[:3]
    assert set(LOAD_FIELDS) <= set(with_loads[-1])
    force = np.array([s["at_force_est_bw"] for s in with_loads])
    fz = np.array([s["fz_peak_bw"] for s in with_loads])
    assert 2.0 < float(np.median(fz)) < 3.5  # spring-mass peak force, Morin et al. 2005
    assert 6.0 < float(np.median(force)) < 12.0  # forefoot AT force, SCIENCE.md §4
    impulse = sum(s["at_impulse_est_bw_s"] for s in with_loads)
    assert end["at_impulse_est_bw_s"] == pytest.approx(impulse, rel=1e-3)
