"""``footpod demo``: the whole pipeline with simulated runners, on local or given services."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from sensor_service.commands._help import DefaultsHelpFormatter

if TYPE_CHECKING:
    from sensor_service.demo import DemoReport

__all__ = ["register"]


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "demo",
        help="simulated runners through the whole pipeline: pods → BLE → kernel → MQTT → InfluxDB",
        description=(
            "Simulate N runners (two foot pods each) for M minutes in real time: the pods speak "
            "footpod-imu/1 over a bumble virtual BLE link, the bleak reader and numba kernel find "
            "each ground contact, steps go over MQTT to the ingest and into InfluxDB. Without "
            "--mqtt-url/--influx-url the demo starts a private Mosquitto and InfluxDB (Debian "
            "packages 'mosquitto' and 'influxdb') on free ports and stops them at the end. "
            "Prints a summary; with --json the last line is one JSON object."
        ),
        formatter_class=DefaultsHelpFormatter,
    )
    parser.add_argument("--runners", type=int, default=2, help="simulated runners (default 2)")
    parser.add_argument(
        "--minutes", type=float, default=1.0, help="running time per runner, real time (default 1)"
    )
    parser.add_argument("--mqtt-url", help="use this broker, e.g. mqtt://127.0.0.1:1883")
    parser.add_argument(
        "--influx-url", help="use this InfluxDB (v1 API), e.g. http://127.0.0.1:8086"
    )
    parser.add_argument(
        "--influx-db", default="footpod", help="InfluxDB database (default footpod)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the simulated runners")
    parser.add_argument("--json", action="store_true", help="print the result as JSON (last line)")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    # imported here, not at the top: building the CLI parser stays fast (`footpod --help`)
    from sensor_service.demo import DemoConfig, run_demo

    cfg = DemoConfig(
        runners=args.runners,
        minutes=args.minutes,
        mqtt_url=args.mqtt_url,
        influx_url=args.influx_url,
        influx_db=args.influx_db,
        seed=args.seed,
    )
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description:<8}"),
        BarColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        tasks: dict[str, TaskID] = {}

        def on_progress(name: str, done: float, total: float, note: str) -> None:
            if name not in tasks:
                tasks[name] = progress.add_task(name, total=total, note=note)
            progress.update(tasks[name], completed=done, total=total, note=note)

        report = asyncio.run(run_demo(cfg, on_progress))
    _print_summary(console, report)
    if args.json:
        print(json.dumps(report.to_json()))
    ok = report.lost == 0 and all(
        a.steps_stored == a.steps_published for a in report.athletes.values()
    )
    return 0 if ok else 1


def _print_summary(console: Console, report: DemoReport) -> None:
    table = Table(title=f"footpod demo, run {report.run} ({report.elapsed_s:.0f} s)")
    columns = (
        "athlete",
        "steps sim.",
        "published",
        "stored",
        "GCT true (ms)",
        "GCT est. (ms)",
        "AT force est. (BW)",
    )
    for col in columns:
        table.add_column(col, justify="right")
    for athlete, r in report.athletes.items():
        est = "-" if math.isnan(r.gct_ms_median_est) else f"{r.gct_ms_median_est:.1f}"
        table.add_row(
            athlete,
            str(r.steps_simulated),
            str(r.steps_published),
            str(r.steps_stored),
            f"{r.gct_ms_median_true:.1f}",
            est,
            "-" if math.isnan(r.at_force_est_bw_median) else f"{r.at_force_est_bw_median:.1f}",
        )
    console.print(table)
    counters = ", ".join(f"{k} {v}" for k, v in report.ingest.items())
    console.print(f"ingest: {counters}; lost: {report.lost}")
