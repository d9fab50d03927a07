"""``footpod demo``: simulated runners through the whole pipeline on real services.

Runners → simulated pods (bumble virtual link) → bleak reader → numba kernel → MQTT (aiomqtt,
QoS 1) → ingest → InfluxDB, then count what was stored. With no URLs the demo starts its own
Mosquitto and InfluxDB (private config, data directory and free ports) and stops them at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from sensor_service.bus.mqtt_url import parse_mqtt_url
from sensor_service.contracts import MEASUREMENT_STEPS, validate_id
from sensor_service.errors import ConfigError, ServiceError, StoreError
from sensor_service.ingest.worker import IngestWorker
from sensor_service.load import AthleteParams
from sensor_service.metrics import expose_counters, log_metrics_periodically
from sensor_service.pipeline import AthleteSession, PodSpec
from sensor_service.profiles import load_profile
from sensor_service.services import InfluxService, MosquittoService
from sensor_service.sim.gait import GaitSimulator, RunnerParams
from sensor_service.sim.pod_peripheral import SimulatedPod
from sensor_service.sim.sources import FootSampleSource
from sensor_service.store.influx import InfluxClient, validate_url
from sensor_service.store.influxql import Agg, Select

__all__ = ["DemoConfig", "DemoReport", "run_demo"]

log = logging.getLogger(__name__)

PROFILE_NAME = "footpod-imu-v1"
#: How each simulated pod is strapped on (pod axes pointing forward / left), per side:
#: different on purpose, so the reader's mounting rotation is exercised.
POD_AXES = {"left": ("+x", "+y"), "right": ("+y", "-x")}


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoConfig:
    runners: int = 2
    minutes: float = 1.0
    mqtt_url: str | None = None
    influx_url: str | None = None
    influx_db: str = "footpod"
    seed: int = 1
    sampling_rate_hz: float = 416.0
    store_timeout_s: float = 300.0
    #: Where publishers and the ingest keep their spools; default: the demo's temporary dir.
    state_dir: Path | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.runners <= 50:
            raise ConfigError(f"--runners must be 1..50, got {self.runners}")
        if not 0 < self.minutes <= 240:
            raise ConfigError(f"--minutes must be in (0, 240], got {self.minutes}")
        validate_id("database", self.influx_db)
        if self.mqtt_url is not None:
            parse_mqtt_url(self.mqtt_url)
        if self.influx_url is not None:
            validate_url(self.influx_url)


@dataclass(slots=True)
class AthleteReport:
    steps_simulated: int
    gct_ms_median_true: float
    steps_published: int = 0
    steps_stored: int = 0
    gct_ms_median_est: float = float("nan")
    packets_lost: int = 0
    at_force_est_bw_median: float = float("nan")


@dataclass(slots=True)
class DemoReport:
    run: str
    athletes: dict[str, AthleteReport] = field(default_factory=dict)
    lost: int = 0
    ingest: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "athletes": {
                a: {
                    "steps_simulated": r.steps_simulated,
                    "steps_stored": r.steps_stored,
                    "gct_ms_median_true": round(r.gct_ms_median_true, 2),
                    "gct_ms_median_est": round(r.gct_ms_median_est, 2),
                }
                for a, r in self.athletes.items()
            },
            "lost": self.lost,
        }


def runner_body(index: int, seed: int) -> AthleteParams:
    """A simulated runner's body, for the load-model estimates (55–85 kg, 1.60–1.90 m)."""
    rng = np.random.default_rng([seed, index, 1])
    return AthleteParams(
        mass_kg=round(float(rng.uniform(55, 85)), 1),
        height_m=round(float(rng.uniform(1.60, 1.90)), 2),
    )


def runner_params(index: int, seed: int) -> RunnerParams:
    """A plausible, varied runner: cadence 160–190 spm, contact 200–290 ms, any strike."""
    rng = np.random.default_rng([seed, index])
    cadence = float(rng.uniform(160, 190))
    gct = float(rng.uniform(200, min(290, 0.8 * 60000 / cadence)))
    strike = ("rearfoot", "midfoot", "forefoot")[int(rng.integers(3))]
    return RunnerParams(
        cadence_spm=round(cadence, 1),
        gct_ms=round(gct, 1),
        speed_m_s=round(float(rng.uniform(2.6, 4.2)), 2),
        strike=strike,  # type: ignore[arg-type]
    )


@contextlib.contextmanager
def _services(cfg: DemoConfig, workdir: Path) -> Iterator[tuple[str, str]]:
    """Yield (mqtt_url, influx_url), starting private services for the ones not given."""
    with contextlib.ExitStack() as stack:
        mqtt_url = cfg.mqtt_url
        influx_url = cfg.influx_url
        if mqtt_url is None:
            broker = stack.enter_context(MosquittoService(directory=workdir / "mosquitto"))
            mqtt_url = broker.url
        if influx_url is None:
            influx = stack.enter_context(InfluxService(directory=workdir / "influxdb"))
            influx_url = influx.url
        yield mqtt_url, influx_url


ProgressFn = Callable[[str, float, float, str], None]


async def run_demo(cfg: DemoConfig, progress: ProgressFn | None = None) -> DemoReport:
    """Run the demo; ``progress(task, done, total, note)`` is called as it goes."""
    with (
        tempfile.TemporaryDirectory(prefix="footpod-demo-") as tmp,
        _services(cfg, Path(tmp)) as (mqtt_url, influx_url),
    ):
        state_dir = cfg.state_dir or Path(tmp) / "state"
        return await _run(cfg, mqtt_url, influx_url, state_dir, progress or (lambda *_: None))


async def _run(
    cfg: DemoConfig, mqtt_url: str, influx_url: str, state_dir: Path, progress: ProgressFn
) -> DemoReport:
    started = time.monotonic()
    run = time.strftime("demo-%Y%m%dt%H%M%S", time.gmtime()).lower()
    report = DemoReport(run=run)
    profile = load_profile(PROFILE_NAME)

    stop_ingest = asyncio.Event()
    # A share group of its own, left at the end: the demo's ingest neither competes with an
    # ingest already serving this broker nor leaves a session that keeps taking a share.
    ingest = IngestWorker(
        mqtt_url=mqtt_url,
        influx_url=influx_url,
        database=cfg.influx_db,
        client_id=f"footpod-ingest-{run}",
        share_group=f"footpod-{run}",
        spool_dir=state_dir / "ingest" / run,
        leave_on_stop=True,
    )
    ingest_task = asyncio.create_task(ingest.run(stop_ingest), name="ingest")
    # Stage counters of the ingest and the publishers, logged every 30 s (and at the end).
    expose_counters("ingest", ingest.counters.as_dict)
    ticker = asyncio.create_task(log_metrics_periodically(30.0, stop=stop_ingest))
    await _wait_ready(ingest.ready, ingest_task)

    sessions: list[AthleteSession] = []
    pods: list[SimulatedPod] = []
    end_s = 0.0
    for i in range(cfg.runners):
        athlete = f"runner-{i + 1}"
        params = runner_params(i, cfg.seed)
        sim = GaitSimulator(params, duration_s=cfg.minutes * 60, seed=cfg.seed * 1000 + i)
        end_s = max(end_s, sim.end_s)
        truth_gct = np.concatenate([sim.truth(s).gct_ms for s in ("left", "right")])
        report.athletes[athlete] = AthleteReport(
            steps_simulated=int(truth_gct.size),
            gct_ms_median_true=float(np.median(truth_gct)),
        )
        specs = []
        for side in ("left", "right"):
            forward, left = POD_AXES[side]
            name = f"footpod-{athlete}-{side}"
            source = FootSampleSource(
                sim,
                side,
                sampling_rate_hz=cfg.sampling_rate_hz,
                forward_axis=forward,
                left_axis=left,
            )
            pod = SimulatedPod(
                name=name, side=side, source=source, forward_axis=forward, left_axis=left
            )
            await pod.start()
            pods.append(pod)
            specs.append(PodSpec(pod=f"{athlete}-{side}", ble_name=name, side=side))
        sessions.append(
            AthleteSession(
                athlete=athlete,
                run=run,
                pods=specs,
                profile=profile,
                mqtt_url=mqtt_url,
                state_dir=state_dir,
                athlete_params=runner_body(i, cfg.seed),
                speed_m_s=params.speed_m_s,
            )
        )

    stop_run = asyncio.Event()
    session_tasks = [asyncio.create_task(s.run_until(stop_run)) for s in sessions]
    t0 = time.monotonic()
    # The pods stream in real time; the recording ends when the last runner stands still again.
    while (elapsed := time.monotonic() - t0) < end_s + 1.5:
        failed = [t for t in session_tasks if t.done()]
        if failed:
            await failed[0]  # a session ended early: surface its error
            raise RuntimeError("a runner session ended before the run did")
        published = sum(s.steps_published for s in sessions)
        progress("run", min(elapsed, end_s), end_s, f"{published} steps published")
        await asyncio.sleep(0.25)
    stop_run.set()
    await asyncio.gather(*session_tasks)
    for pod in pods:
        await pod.stop()

    async with InfluxClient(url=influx_url, database=cfg.influx_db) as influx:
        await _wait_stored(cfg, report, sessions, influx, progress)
        for athlete, rep in report.athletes.items():
            rep.steps_stored, rep.gct_ms_median_est = await _retrying(
                functools.partial(_stored_stats, influx, athlete, run)
            )
            rep.at_force_est_bw_median = await _retrying(
                functools.partial(_stored_median, influx, athlete, run, "at_force_est_bw")
            )
    stop_ingest.set()
    await ingest_task
    await ticker

    for session in sessions:
        rep = report.athletes[session.athlete]
        rep.steps_published = session.steps_published
        rep.packets_lost = sum(
            r.counters.packets_lost + r.counters.queue_overflows for r in session.readers.values()
        )
    report.ingest = ingest.counters.as_dict()
    report.lost = (
        sum(
            r.packets_lost + max(0, r.steps_published - r.steps_stored)
            for r in report.athletes.values()
        )
        + ingest.counters.rejected
    )
    report.elapsed_s = time.monotonic() - started
    return report


async def _wait_ready(ready: asyncio.Event, task: asyncio.Task[None]) -> None:
    waiter = asyncio.ensure_future(ready.wait())
    done, _ = await asyncio.wait({waiter, task}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        await task
    if waiter not in done:
        waiter.cancel()
        raise ServiceError("the ingest worker did not subscribe within 30 s: is the broker up?")


_T = TypeVar("_T")


async def _retrying(query: Callable[[], Awaitable[_T]], timeout_s: float = 60.0) -> _T:
    """Run a query, retrying while InfluxDB is unreachable (it may be restarting)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await query()
        except StoreError as exc:
            if not exc.retryable or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def _stored_median(influx: InfluxClient, athlete: str, run: str, field: str) -> float:
    q = Select(MEASUREMENT_STEPS, Agg("median", field, alias="m")).where_tags(
        {"athlete": athlete, "run": run}
    )
    series = await influx.query(str(q))
    value = series[0]["values"][0][1] if series else None
    return float("nan") if value is None else float(value)


async def _stored_stats(influx: InfluxClient, athlete: str, run: str) -> tuple[int, float]:
    q = Select(
        MEASUREMENT_STEPS,
        Agg("count", "gct_ms", alias="n"),
        Agg("median", "gct_ms", alias="gct_median"),
    ).where_tags({"athlete": athlete, "run": run})
    series = await influx.query(str(q))
    if not series:
        return 0, float("nan")
    row = dict(zip(series[0]["columns"], series[0]["values"][0], strict=True))
    return int(row["n"]), float(row["gct_median"])


async def _wait_stored(
    cfg: DemoConfig,
    report: DemoReport,
    sessions: list[AthleteSession],
    influx: InfluxClient,
    progress: ProgressFn,
) -> None:
    """Poll InfluxDB until every published step is stored, or the timeout passes."""
    expected = sum(s.steps_published for s in sessions)
    deadline = time.monotonic() + cfg.store_timeout_s
    while True:
        stored = 0
        try:
            for s in sessions:
                stored += (await _stored_stats(influx, s.athlete, report.run))[0]
        except StoreError as exc:
            if not exc.retryable:
                raise
            log.warning("demo: InfluxDB not answering yet (%s); still waiting", exc)
        progress("store", stored, max(expected, 1), f"{stored}/{expected} steps stored")
        if stored >= expected or time.monotonic() > deadline:
            return
        await asyncio.sleep(0.5)
