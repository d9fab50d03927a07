"""Ingest throughput MQTT → InfluxDB beside the raw batched write ceiling of the same InfluxDB.

Run: ``.venv/bin/python benchmarks/bench_ingest.py [--points 200000] [--steps-per-message 20]``

One private Mosquitto (``max_queued_messages 0``, so the broker may hold the whole backlog)
and one private influxd are started. Then:

1. **Ceiling**: the same points, pre-encoded as line protocol, written straight to ``/write``
   in batches of ``--batch-size`` lines, one request at a time (what one writer can get).
2. **Ingest**: a ``footpod ingest`` process subscribes once (its persistent session now
   exists), is stopped, the steps messages are published (QoS 1) into its session's queue,
   and the ingest is started again; the clock runs from its start until InfluxDB counts every
   point. Everything is on: validation, line-protocol encoding, batching, manual acks after
   the 204. The ingest's peak RSS (``VmHWM``) is read from ``/proc``.

Prints one JSON line (points/s of both, the ingest's messages/s, ratio, RSS) after a
human-readable summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiomqtt

from sensor_service.contracts import StepRecord, StepsBatch, steps_to_points, topic
from sensor_service.services import InfluxService, MosquittoService, free_port
from sensor_service.store.influx import InfluxClient
from sensor_service.store.line_protocol import encode_points


def make_batches(points: int, per_message: int, run: str) -> list[tuple[str, StepsBatch]]:
    out = []
    t0 = time.time_ns() - 7 * 24 * 3600 * 10**9
    athletes = [f"a{i:02d}" for i in range(10)]
    n = 0
    k = 0
    while n < points:
        athlete = athletes[k % len(athletes)]
        side = "left" if (k // len(athletes)) % 2 == 0 else "right"
        pod = f"{athlete}-{side}"
        steps = tuple(
            StepRecord(
                t0 + (n + i) * 1_000_000,
                t0 + (n + i) * 1_000_000 + 500_000,
                {
                    "gct_ms": 230.0 + (n + i) % 40,
                    "flight_ms": 110.5,
                    "step_ms": 340.2,
                    "cadence_spm": 176.4,
                    "peak_accel_g": 9.8,
                    "clipped": False,
                    "step_index": n + i,
                },
            )
            for i in range(per_message)
        )
        out.append(
            (topic("steps", athlete, pod), StepsBatch(athlete, pod, side, "foot", run, steps))
        )
        n += per_message
        k += 1
    return out


async def ceiling(url: str, db: str, batches: list[tuple[str, StepsBatch]], batch: int) -> float:
    points = [p for _, b in batches for p in steps_to_points(b)]
    lines = encode_points(points).encode().split(b"\n")
    chunks = [b"\n".join(lines[i : i + batch]) for i in range(0, len(lines), batch)]
    async with InfluxClient(url=url, database=db, timeout_s=60) as influx:
        await influx.ensure_database()
        t = time.perf_counter()
        for chunk in chunks:
            await influx.write_lines(chunk)
        return len(points) / (time.perf_counter() - t)


def start_ingest(
    mqtt_url: str, influx_url: str, db: str, workdir: Path, batch: int, worker: int
) -> subprocess.Popen[bytes]:
    log_path = workdir / f"ingest{worker}.log"
    offset = log_path.stat().st_size if log_path.exists() else 0
    log = log_path.open("ab")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sensor_service.cli",
            "-v",
            "ingest",
            "--mqtt-url",
            mqtt_url,
            "--influx-url",
            influx_url,
            "--influx-db",
            db,
            "--client-id",
            f"bench-ingest-{worker}",
            "--spool-dir",
            str(workdir / f"spool{worker}"),
            "--metrics-port",
            str(free_port()),
            "--batch-size",
            str(batch),
            "--log-counters-s",
            "3600",
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while b"ingest: connecting to" not in log_path.read_bytes()[offset:]:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(log_path.read_text())
        time.sleep(0.002)
    proc.connecting_at = time.perf_counter()  # type: ignore[attr-defined]
    while b"ingest: subscribed as" not in log_path.read_bytes()[offset:]:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(log_path.read_text())
        time.sleep(0.01)
    return proc


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def ingest_rate(
    broker: MosquittoService,
    influx_url: str,
    db: str,
    batches: list[tuple[str, StepsBatch]],
    workdir: Path,
    batch: int,
    workers: int,
) -> tuple[float, float]:
    # Each worker subscribes once (its session joins the share group), then stops: the
    # messages published next wait in the sessions, shared round-robin.
    for w in range(workers):
        proc = start_ingest(broker.url, influx_url, db, workdir, batch, w)
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    async with aiomqtt.Client(broker.host, broker.port, max_inflight_messages=1000) as client:
        client.pending_calls_threshold = 1000
        payloads = [(name, json.dumps(b.to_json()).encode()) for name, b in batches]
        for i in range(0, len(payloads), 500):
            await asyncio.gather(*(client.publish(n, p, qos=1) for n, p in payloads[i : i + 500]))
    expected = sum(len(b.steps) for _, b in batches)
    procs = [start_ingest(broker.url, influx_url, db, workdir, batch, w) for w in range(workers)]
    # The clock starts at the first "connecting" line of this start (imports and the database
    # check are not ingest throughput), which start_ingest reports.
    t = min(p.connecting_at for p in procs)  # type: ignore[attr-defined]
    async with InfluxClient(url=influx_url, database=db, timeout_s=60) as influx:
        while await influx.count("steps", "gct_ms") < expected:
            await asyncio.sleep(0.1)
            if time.perf_counter() - t > 600:
                raise SystemExit("ingest did not store everything within 10 minutes")
    elapsed = time.perf_counter() - t
    rss = max(peak_rss_mb(p.pid) for p in procs)
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    return expected / elapsed, rss


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--steps-per-message", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=1, help="ingest processes (one group)")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="footpod-bench-") as tmp,
        MosquittoService(
            directory=Path(tmp) / "mosquitto", extra_config=["max_queued_messages 0"]
        ) as broker,
        InfluxService(directory=Path(tmp) / "influxd") as influx,
    ):
        batches = make_batches(args.points, args.steps_per_message, "bench")
        raw = await ceiling(influx.url, "ceiling", batches, args.batch_size)
        rate, rss = await ingest_rate(
            broker, influx.url, "ingest", batches, Path(tmp), args.batch_size, args.workers
        )
        async with InfluxClient(url=influx.url, database="ingest") as client:
            version = await client.ping()
    result = {
        "points": args.points,
        "steps_per_message": args.steps_per_message,
        "batch_size": args.batch_size,
        "workers": args.workers,
        "raw_write_points_s": round(raw),
        "ingest_points_s": round(rate),
        "ingest_messages_s": round(rate / args.steps_per_message),
        "ratio": round(rate / raw, 2),
        "ingest_peak_rss_mb": round(rss, 1),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "influxdb": version,
    }
    print(
        f"raw batched write ceiling: {raw:,.0f} points/s; ingest MQTT→InfluxDB: {rate:,.0f} "
        f"points/s ({rate / args.steps_per_message:,.0f} messages/s of "
        f"{args.steps_per_message} steps) with {args.workers} worker(s) ({rate / raw:.2f} of "
        f"the ceiling); peak RSS per worker {rss:.0f} MB",
        file=sys.stderr,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
