"""Wire one athlete's pods → kernel → step records → MQTT.

Per pod: a :class:`~sensor_service.ble.reader.PodReader` yields samples in the foot frame, a
:class:`~sensor_service.kernels.StepDetector` turns them into contacts (told of every gap, so a
step is never bridged across lost packets), and a :class:`StepPairer` adds what needs both feet
(step time, flight time, cadence). Each pod has its own MQTT connection whose last will marks its
retained status ``lost``.

With ``raw_imu=True`` (off by default) each pod also publishes its raw samples on
``footpod/v1/{athlete}/{pod}/imu`` for researchers: binary
:class:`~sensor_service.contracts.ImuBatch` payloads of up to one second of contiguous samples
each (docs/research.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sensor_service.ble.reader import PodReader, RscReading
from sensor_service.ble.timeline import PodSamples
from sensor_service.bus.publisher import MqttPublisher
from sensor_service.contracts import (
    IMU_MAX_SAMPLES,
    ImuBatch,
    Placement,
    PodStatus,
    RscBatch,
    RunEvent,
    Side,
    StepRecord,
    StepsBatch,
    encode_imu_batch,
    topic,
    validate_id,
)
from sensor_service.kernels import StepDetector, classify_strike
from sensor_service.load import AthleteParams, step_loads
from sensor_service.profiles import Profile, load_profile

__all__ = ["AthleteSession", "PodSpec", "StepPairer"]

log = logging.getLogger(__name__)

#: Load-model estimates published per step when the athlete's body parameters are known.
LOAD_FIELDS = ("fz_peak_bw", "k_vert_kn_m", "k_leg_kn_m", "at_force_est_bw", "at_impulse_est_bw_s")

#: Contacts of the other foot older than this are not paired (a gap, a stop).
PAIRING_WINDOW_NS = 2_000_000_000

#: Raw IMU quantisation (int16 counts): ±16 g unless the pod reports its range, ±2000 deg/s.
G_M_S2 = 9.80665
DEFAULT_ACC_RANGE_M_S2 = 16 * G_M_S2
GYR_RANGE_DEG_S = 2000.0
_INT16_MAX = 32767


class ImuStream:
    """Batches one pod's contiguous raw samples into :class:`ImuBatch` payloads.

    A batch ends after ``max_samples`` (default: one second of samples), at a gap (sample
    timestamps are ``t0 + i * period``, so a batch never spans one) and at the end.
    Timestamps come from the pod clock mapped to UTC when the batch is made, and travel in
    the payload: every copy of a message maps to the same points.
    """

    def __init__(self, athlete: str, pod: str, run: str, reader: PodReader) -> None:
        self.athlete, self.pod, self.run = athlete, pod, run
        self.reader = reader
        self._acc: list[np.ndarray] = []
        self._gyr: list[np.ndarray] | None = []
        self._first = 0
        self._n = 0

    @property
    def max_samples(self) -> int:
        return max(1, min(IMU_MAX_SAMPLES, round(self.reader.sampling_rate_hz)))

    def add(self, chunk: PodSamples) -> list[ImuBatch]:
        out: list[ImuBatch] = []
        n = len(chunk.acc_m_s2)
        if n == 0:
            return out
        if self._n and (
            chunk.gap_samples
            or chunk.first_index != self._first + self._n
            or (chunk.gyr_deg_s is None) != (self._gyr is None)
        ):
            out += self.flush()
        if not self._n:
            self._first = chunk.first_index
            self._gyr = None if chunk.gyr_deg_s is None else []
        self._acc.append(chunk.acc_m_s2)
        if self._gyr is not None and chunk.gyr_deg_s is not None:
            self._gyr.append(chunk.gyr_deg_s)
        self._n += n
        if self._n >= self.max_samples:
            out += self.flush()
        return out

    def flush(self) -> list[ImuBatch]:
        """The buffered samples as batches of at most ``max_samples``; the buffer empties."""
        if not self._n:
            return []
        acc = np.concatenate(self._acc)
        gyr = None if self._gyr is None else np.concatenate(self._gyr)
        first = self._first
        self._acc, self._gyr, self._n = [], [], 0
        step = self.max_samples
        return [
            self._batch(first + i, acc[i : i + step], None if gyr is None else gyr[i : i + step])
            for i in range(0, len(acc), step)
        ]

    def _batch(self, first: int, acc: np.ndarray, gyr: np.ndarray | None) -> ImuBatch:
        n = len(acc)
        t0 = self.reader.index_to_epoch_ns(float(first))
        period = (self.reader.index_to_epoch_ns(float(first + n)) - t0) / n
        limit = self.reader.acc_clip_limit_m_s2 or DEFAULT_ACC_RANGE_M_S2
        acc_scale = limit / _INT16_MAX
        gyr_scale = GYR_RANGE_DEG_S / _INT16_MAX
        values = acc / acc_scale if gyr is None else np.hstack([acc / acc_scale, gyr / gyr_scale])
        counts = np.clip(np.rint(np.nan_to_num(values)), -_INT16_MAX, _INT16_MAX).astype(np.int16)
        return ImuBatch(
            self.athlete,
            self.pod,
            self.run,
            t0,
            period,
            acc_scale,
            gyr_scale,
            gyr is not None,
            tuple(counts.ravel().tolist()),
        )


@dataclass(frozen=True, slots=True)
class PodSpec:
    """One pod of an athlete: its id, its advertised BLE name, which foot, where worn."""

    pod: str
    ble_name: str
    side: Side
    placement: Placement = "foot"
    #: Firmware profile of this pod when it differs from the session's (e.g. an RSC pod).
    profile: str | None = None
    #: Rate to ask the pod for (one of its profile's rates); default: the profile's default.
    sampling_rate_hz: float | None = None

    def __post_init__(self) -> None:
        validate_id("pod", self.pod)
        if self.side not in ("left", "right"):
            raise ValueError(f"side must be 'left' or 'right', not {self.side!r}")


class StepPairer:
    """Step time, flight time and cadence from the latest contact of the other foot.

    ``step_ms`` = IC(this) − IC(other foot's previous contact); ``flight_ms`` = IC(this) −
    TO(other's previous contact); ``cadence_spm`` = 60000 / ``step_ms``. Both feet are stamped by
    their own pod clocks mapped to host time, so the sync error of the two clocks (≈1 ms on the
    virtual link; more on radios) adds to these three figures, not to contact time.
    """

    def __init__(self) -> None:
        self._last: dict[str, tuple[int, int]] = {}

    def pair(self, side: str, ic_ns: int, to_ns: int) -> dict[str, float]:
        other = "right" if side == "left" else "left"
        self._last[side] = (ic_ns, to_ns)
        prev = self._last.get(other)
        if prev is None or not 0 < ic_ns - prev[0] <= PAIRING_WINDOW_NS or prev[1] > ic_ns:
            return {}
        step_ms = (ic_ns - prev[0]) / 1e6
        return {
            "step_ms": step_ms,
            "flight_ms": (ic_ns - prev[1]) / 1e6,
            "cadence_spm": 60000.0 / step_ms,
        }


@dataclass(slots=True)
class PodResult:
    steps_published: int = 0
    steps_detected: int = 0
    rsc_published: int = 0
    #: Raw IMU samples published (``raw_imu=True``).
    imu_samples_published: int = 0
    at_impulse_est_bw_s: float = 0.0
    gct_ms: list[float] = field(default_factory=list)


class AthleteSession:
    """Runs one athlete's pods until ``stop`` is set, then flushes and ends the run."""

    def __init__(
        self,
        *,
        athlete: str,
        run: str,
        pods: list[PodSpec],
        profile: Profile,
        mqtt_url: str,
        backend: str = "virtual",
        status_interval_s: float = 5.0,
        state_dir: Path | None = None,
        athlete_params: AthleteParams | None = None,
        steps_batch_s: float = 1.0,
        speed_m_s: float | None = None,
        raw_imu: bool = False,
    ) -> None:
        self.athlete = validate_id("athlete", athlete)
        self.run = validate_id("run", run)
        self.pods = pods
        self.profile = profile
        self.mqtt_url = mqtt_url
        self.backend = backend
        self.status_interval_s = status_interval_s
        #: Where the publishers keep their spools (default: the publisher's, see bus.spool).
        self.state_dir = state_dir
        #: Steps of a pod are published together at most this often (and at the end).
        self.steps_batch_s = steps_batch_s
        self.pairer = StepPairer()
        #: Body parameters for the load model; None (no load estimates) rather than defaults
        #: that would pass for a real person's numbers.
        self.athlete_params = athlete_params
        #: Running speed for leg stiffness: configured, then the latest RSC reading.
        self.speed_m_s = speed_m_s
        #: Publish each pod's raw samples on its ``imu`` topic (for researchers; off by default).
        self.raw_imu = raw_imu
        self.results: dict[str, PodResult] = {p.pod: PodResult() for p in pods}
        self.readers: dict[str, PodReader] = {}

    @property
    def steps_published(self) -> int:
        return sum(r.steps_published for r in self.results.values())

    async def run_until(self, stop: asyncio.Event) -> None:
        async with contextlib.AsyncExitStack() as stack:
            publishers: dict[str, MqttPublisher] = {}
            for spec in self.pods:
                will = PodStatus(self.athlete, spec.pod, "lost", 0).to_json()
                client_id = f"footpod-run-{self.athlete}-{spec.pod}"
                publishers[spec.pod] = await stack.enter_async_context(
                    MqttPublisher(
                        mqtt_url=self.mqtt_url,
                        client_id=client_id,
                        will_topic=topic("status", self.athlete, spec.pod),
                        will_payload=will,
                        spool_dir=(
                            None if self.state_dir is None else self.state_dir / "spool" / client_id
                        ),
                    )
                )
            first = publishers[self.pods[0].pod]
            runs_topic = topic("runs", self.athlete)
            await first.publish(
                runs_topic, RunEvent(self.athlete, self.run, "start", time.time_ns()).to_json()
            )
            await asyncio.gather(
                *(self._run_pod(spec, publishers[spec.pod], stop) for spec in self.pods)
            )
            impulse = sum(r.at_impulse_est_bw_s for r in self.results.values())
            end = RunEvent(
                self.athlete,
                self.run,
                "end",
                time.time_ns(),
                self.steps_published,
                at_impulse_est_bw_s=None if self.athlete_params is None else round(impulse, 2),
            )
            await first.publish(runs_topic, end.to_json())

    async def _run_pod(self, spec: PodSpec, pub: MqttPublisher, stop: asyncio.Event) -> None:
        status_topic = topic("status", self.athlete, spec.pod)
        steps_topic = topic("steps", self.athlete, spec.pod)
        pending: list[asyncio.Future[None]] = []

        def in_background(message: Coroutine[Any, Any, None]) -> None:
            """Publish without blocking a callback; awaited (and errors raised) at the end."""
            pending[:] = [f for f in pending if not f.done() or f.exception() is not None]
            pending.append(asyncio.ensure_future(message))

        def publish_status(state: str) -> None:
            c = reader.counters
            status = PodStatus(
                self.athlete,
                spec.pod,
                state,
                time.time_ns(),
                packets_received=c.packets_received,
                packets_lost=c.packets_lost + c.queue_overflows,
                battery_pct=reader.battery_pct,
                rssi_dbm=reader.rssi_dbm,
                gaps=c.gaps,
                gap_s_total=round(reader.gap_s_total, 3),
            )
            in_background(pub.publish(status_topic, status.to_json(), retain=True))

        rsc_topic = topic("rsc", self.athlete, spec.pod)
        result = self.results[spec.pod]

        def publish_rsc(reading: RscReading) -> None:
            m = reading.rsc
            fields: dict[str, float | bool] = {
                "speed_m_s": round(m.speed_m_s, 4),
                "cadence_spm": round(m.cadence_per_min, 2),
                "running": m.running,
            }
            if m.stride_m is not None:
                fields["stride_m"] = round(m.stride_m, 3)
            if m.distance_m is not None:
                fields["distance_m"] = round(m.distance_m, 1)
            batch = RscBatch(self.athlete, spec.pod, self.run, ((reading.ts_ns, fields),))
            in_background(pub.publish(rsc_topic, batch.to_json()))
            result.rsc_published += 1
            if m.running and m.speed_m_s > 0:
                self.speed_m_s = m.speed_m_s

        profile = self.profile if spec.profile is None else load_profile(spec.profile)
        reader = PodReader(
            profile=profile,
            name=spec.ble_name,
            backend=self.backend,
            on_state=publish_status,
            on_rsc=publish_rsc,
            sampling_rate_hz=spec.sampling_rate_hz,
        )
        self.readers[spec.pod] = reader
        detector: StepDetector | None = None
        imu = ImuStream(self.athlete, spec.pod, self.run, reader) if self.raw_imu else None
        imu_topic = topic("imu", self.athlete, spec.pod)

        async def publish_imu(batches: list[ImuBatch]) -> None:
            for batch in batches:
                await pub.publish(imu_topic, encode_imu_batch(batch))
                result.imu_samples_published += batch.n_samples

        unsent: list[StepRecord] = []
        last_sent_s = time.monotonic()

        async def emit(steps: np.ndarray, *, final: bool = False) -> None:
            """Publish completed steps batched over ``steps_batch_s`` (fewer, larger messages:
            the ingest's cost is mostly per message, docs/benchmarks.md)."""
            nonlocal last_sent_s
            unsent.extend(self._record(spec, reader, row) for row in steps)
            now = time.monotonic()
            due = now - last_sent_s >= self.steps_batch_s or len(unsent) >= 50
            if not unsent or not (final or due):
                return
            records = tuple(unsent)
            unsent.clear()
            last_sent_s = now
            batch = StepsBatch(self.athlete, spec.pod, spec.side, spec.placement, self.run, records)
            await pub.publish(steps_topic, batch.to_json())
            result.steps_published += len(records)
            result.gct_ms.extend(float(r.fields["gct_ms"]) for r in records)

        async def consume() -> None:
            nonlocal detector
            last_status = time.monotonic()
            async for chunk in reader.stream():
                if detector is None:
                    detector = StepDetector(
                        sampling_rate_hz=reader.sampling_rate_hz,
                        placement=spec.placement,
                        has_gyro=chunk.gyr_deg_s is not None,
                        clip_limit_m_s2=reader.acc_clip_limit_m_s2,
                    )
                if chunk.gap_samples:
                    await emit(detector.gap(chunk.gap_samples))
                    log.warning(
                        "pod %s: %d samples lost (%.2f s); no step is bridged across the gap",
                        spec.pod,
                        chunk.gap_samples,
                        chunk.gap_samples / reader.sampling_rate_hz,
                    )
                    publish_status("connected")  # the gap, with its length, is in the status
                await emit(detector.feed(chunk.acc_m_s2, chunk.gyr_deg_s))
                if imu is not None:
                    await publish_imu(imu.add(chunk))
                now = time.monotonic()
                if now - last_status >= self.status_interval_s:
                    last_status = now
                    publish_status("connected")

        task = asyncio.create_task(consume(), name=f"pod-{spec.pod}")
        waiter = asyncio.ensure_future(stop.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        await reader.stop()
        await task  # the reader ends its stream once stopped; errors propagate
        waiter.cancel()
        if detector is not None:
            await emit(detector.flush(), final=True)
        if imu is not None:
            await publish_imu(imu.flush())
        publish_status("stopped")
        await asyncio.gather(*pending)

    def _record(self, spec: PodSpec, reader: PodReader, row: np.void) -> StepRecord:
        ic_ns = reader.index_to_epoch_ns(float(row["ic_idx"]))
        to_ns = reader.index_to_epoch_ns(float(row["to_idx"]))
        fields: dict[str, float | int | bool] = {
            "gct_ms": round(float(row["gct_ms"]), 2),
            "peak_accel_g": round(float(row["peak_accel_g"]), 2),
            "clipped": bool(row["clipped"]),
            "step_index": self.results[spec.pod].steps_detected,
        }
        self.results[spec.pod].steps_detected += 1
        for key in ("stride_ms", "strike_angle_deg", "loading_rate_g_s"):
            value = float(row[key])
            if math.isfinite(value):
                fields[key] = round(value, 2)
        paired = self.pairer.pair(spec.side, ic_ns, to_ns)
        for key, value in paired.items():
            fields[key] = round(value, 2)
        flight_ms = paired.get("flight_ms")
        if self.athlete_params is not None and flight_ms is not None and flight_ms >= 0.0:
            fields.update(self._load_estimates(spec, row, flight_ms))
        return StepRecord(ic_ns=ic_ns, to_ns=to_ns, fields=fields)

    def _load_estimates(self, spec: PodSpec, row: np.void, flight_ms: float) -> dict[str, float]:
        """Spring-mass and Achilles ESTIMATES of one step (docs/load_model.md).

        Needs the athlete's body parameters and the flight time before this contact (so both
        feet); ``k_leg_kn_m`` also needs a speed (RSC pod or configuration).
        """
        assert self.athlete_params is not None
        pattern = str(classify_strike(float(row["strike_angle_deg"])).item())
        loads = step_loads(
            [float(row["gct_ms"])],
            [flight_ms],
            [pattern],
            self.athlete_params,
            speed_m_s=np.nan if self.speed_m_s is None else self.speed_m_s,
        )
        out: dict[str, float] = {}
        for key in LOAD_FIELDS:
            value = float(getattr(loads, key)[0])
            if math.isfinite(value):
                out[key] = round(value, 3)
        self.results[spec.pod].at_impulse_est_bw_s += out.get("at_impulse_est_bw_s", 0.0)
        return out
