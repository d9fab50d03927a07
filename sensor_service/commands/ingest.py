"""``footpod ingest``: MQTT → InfluxDB, until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path
from typing import Any

from sensor_service.commands._help import DefaultsHelpFormatter
from sensor_service.commands._signals import stop_on_signals
from sensor_service.contracts import validate_id
from sensor_service.ingest.worker import DEFAULT_SHARE_GROUP, IngestWorker
from sensor_service.metrics import expose_counters, log_metrics_periodically, serve_metrics

__all__ = ["register"]

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "ingest",
        help="store step, status and run messages from MQTT in InfluxDB",
        description=(
            "Subscribe over MQTT 5 (QoS 1, persistent session, shared subscription "
            "$share/GROUP/footpod/v1/+/+/steps etc., so several workers split the load) to steps, "
            "status and runs; validate each payload; write batches to InfluxDB through its v1 "
            "HTTP API, creating the database if missing. A message is acknowledged only once its "
            "points are durable: InfluxDB answered 204, or the batch is fsynced in the local "
            "spool (used while InfluxDB is away, drained in order). Malformed messages go to "
            "footpod/v1/_deadletter with the reason. Stop with Ctrl-C or SIGTERM: buffered "
            "points are written before exit. Credentials: FOOTPOD_MQTT_USER/PASSWORD, "
            "FOOTPOD_INFLUX_USER/PASSWORD. See docs/delivery.md."
        ),
        formatter_class=DefaultsHelpFormatter,
    )
    parser.add_argument("--mqtt-url", default="mqtt://127.0.0.1:1883", help="broker URL")
    parser.add_argument("--influx-url", default="http://127.0.0.1:8086", help="InfluxDB URL")
    parser.add_argument("--influx-db", default="footpod", help="database (created if missing)")
    parser.add_argument(
        "--client-id",
        default="footpod-ingest",
        help="MQTT client id; keep it fixed so the broker queues messages while ingest is away",
    )
    parser.add_argument(
        "--share-group",
        default=DEFAULT_SHARE_GROUP,
        help="MQTT 5 shared-subscription group; workers of one group split the messages",
    )
    parser.add_argument(
        "--spool-dir",
        type=Path,
        help="durable spool directory (default $FOOTPOD_STATE_DIR or ~/.local/state/footpod, "
        "then ingest/CLIENT_ID)",
    )
    parser.add_argument(
        "--leave-on-stop",
        action="store_true",
        help="unsubscribe on a clean stop (a worker retired for good; otherwise the broker "
        "keeps queueing this worker's share until it returns)",
    )
    parser.add_argument("--batch-size", type=int, default=5000, help="points per write")
    parser.add_argument(
        "--flush-interval-s", type=float, default=0.5, help="max wait to fill a batch"
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=9464,
        help="serve counters in Prometheus text format on 127.0.0.1:PORT/metrics (0: off)",
    )
    parser.add_argument(
        "--log-counters-s", type=float, default=60.0, help="log the counters every N seconds"
    )
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    validate_id("database", args.influx_db)
    worker = IngestWorker(
        mqtt_url=args.mqtt_url,
        influx_url=args.influx_url,
        database=args.influx_db,
        client_id=args.client_id,
        share_group=args.share_group,
        spool_dir=args.spool_dir,
        leave_on_stop=args.leave_on_stop,
        batch_size=args.batch_size,
        flush_interval_s=args.flush_interval_s,
    )

    async def run() -> None:
        stop = asyncio.Event()
        stop_on_signals(stop)
        expose_counters("ingest", worker.counters.as_dict)
        metrics = await serve_metrics(args.metrics_port) if args.metrics_port else None
        ticker = asyncio.create_task(log_metrics_periodically(args.log_counters_s, stop=stop))
        try:
            await worker.run(stop)
        finally:
            stop.set()
            await ticker
            if metrics is not None:
                await metrics.close()
        log.info("ingest stopped: %s", worker.counters.as_dict())

    asyncio.run(run())
    return 0
