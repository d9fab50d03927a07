"""Fault-test helpers: `footpod ingest` as a real process, a step producer, exact counting.

Steps are synthetic but go through the real publisher (spool, QoS 1), a real Mosquitto, real
ingest processes and a real InfluxDB; each produced step has a unique (pod, IC timestamp) and a
``step_index``, so a lost step and a duplicate are both visible.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from sensor_service.bus.publisher import MqttPublisher
from sensor_service.contracts import StepRecord, StepsBatch, topic
from sensor_service.services import free_port
from sensor_service.store.influx import InfluxClient
from sensor_service.store.influxql import Select

STEP_NS = 350_000_000


class IngestProcess:
    """One ``footpod ingest`` process; restartable under the same client id and spool."""

    def __init__(
        self,
        *,
        mqtt_url: str,
        influx_url: str,
        db: str,
        client_id: str,
        share_group: str,
        workdir: Path,
    ) -> None:
        self.mqtt_url = mqtt_url
        self.influx_url = influx_url
        self.db = db
        self.client_id = client_id
        self.share_group = share_group
        self.spool_dir = workdir / "spool" / client_id
        self.log_path = workdir / f"{client_id}.log"
        self.metrics_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout_s: float = 30.0) -> None:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "sensor_service.cli",
                    "-v",
                    "ingest",
                    "--mqtt-url",
                    self.mqtt_url,
                    "--influx-url",
                    self.influx_url,
                    "--influx-db",
                    self.db,
                    "--client-id",
                    self.client_id,
                    "--share-group",
                    self.share_group,
                    "--spool-dir",
                    str(self.spool_dir),
                    "--metrics-port",
                    str(self.metrics_port),
                    "--flush-interval-s",
                    "0.2",
                    "--log-counters-s",
                    "5",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1
        deadline = time.monotonic() + timeout_s
        while b"ingest: subscribed as" not in self.log_path.read_bytes()[offset:]:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"ingest did not start:\n{self.log_tail()}")
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def stop(self) -> int:
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(10)
        self.proc = None
        return code

    def counters(self) -> dict[str, float]:
        """The process's stage counters from its /metrics endpoint (``{stage: value}``)."""
        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith('footpod_stage_total{component="ingest"'):
                stage = line.split('stage="', 1)[1].split('"', 1)[0]
                out[stage] = float(line.rsplit(" ", 1)[1])
        return out

    def log_tail(self, n: int = 40) -> str:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])


@dataclass
class StepProducer:
    """Publishes synthetic steps for ``athletes`` × 2 pods through real spooled publishers."""

    mqtt_url: str
    run: str
    athletes: list[str]
    spool_root: Path
    batch_steps: int = 4
    interval_s: float = 0.1
    produced: dict[str, int] = field(default_factory=dict)
    start_ns: int = field(default_factory=lambda: time.time_ns() - 3600 * 10**9)

    def pods(self) -> list[tuple[str, str, str]]:
        return [(a, f"{a}-{side}", side) for a in self.athletes for side in ("left", "right")]

    async def run_for(self, seconds: float) -> None:
        async def one(athlete: str, pod: str, side: str) -> None:
            client_id = f"prod-{pod}-{uuid.uuid4().hex[:6]}"
            async with MqttPublisher(
                mqtt_url=self.mqtt_url,
                client_id=client_id,
                spool_dir=self.spool_root / client_id,
                connect_timeout_s=20,
            ) as pub:
                name = topic("steps", athlete, pod)
                deadline = time.monotonic() + seconds
                n = 0
                while time.monotonic() < deadline:
                    steps = tuple(
                        StepRecord(
                            self.start_ns + (n + i) * STEP_NS,
                            self.start_ns + (n + i) * STEP_NS + 200_000_000,
                            {"gct_ms": 200.0 + (n + i) % 50, "step_index": n + i},
                        )
                        for i in range(self.batch_steps)
                    )
                    batch = StepsBatch(athlete, pod, side, "foot", self.run, steps)  # type: ignore[arg-type]
                    await pub.publish(name, batch.to_json())
                    n += self.batch_steps
                    self.produced[pod] = n
                    await asyncio.sleep(self.interval_s)
                await pub.drain()

        await asyncio.gather(*(one(*p) for p in self.pods()))

    @property
    def total(self) -> int:
        return sum(self.produced.values())


async def stored_step_indices(url: str, db: str, run: str) -> dict[str, list[int]]:
    """``{pod: sorted step_index list}`` of the run's stored steps (a duplicate shows twice)."""
    q = Select("steps", "step_index").where_tags({"run": run}).group_by("pod")
    async with InfluxClient(url=url, database=db) as influx:
        series = await influx.query(str(q))
    out: dict[str, list[int]] = {}
    for s in series:
        col = s["columns"].index("step_index")
        out[s["tags"]["pod"]] = sorted(int(v[col]) for v in s["values"])
    return out


async def wait_all_stored(
    url: str, db: str, run: str, expected: dict[str, int], timeout_s: float = 60.0
) -> dict[str, list[int]]:
    deadline = time.monotonic() + timeout_s
    got: dict[str, list[int]] = {}
    while time.monotonic() < deadline:
        try:
            got = await stored_step_indices(url, db, run)
        except Exception:
            got = {}
        if {p: len(v) for p, v in got.items()} == expected:
            break
        await asyncio.sleep(0.5)
    return got


def assert_exactly_once(got: dict[str, list[int]], expected: dict[str, int]) -> None:
    """Every produced step stored, none twice: per pod the indices are exactly 0..n-1."""
    assert set(got) == set(expected), (sorted(got), sorted(expected))
    for pod, n in expected.items():
        indices = got[pod]
        assert len(indices) == len(set(indices)), f"{pod}: duplicates"
        missing = sorted(set(range(n)) - set(indices))
        assert indices == list(range(n)), (
            f"{pod}: {n} produced, {len(indices)} stored, missing {missing[:20]}"
        )


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"
