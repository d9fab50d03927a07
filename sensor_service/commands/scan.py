"""``footpod scan``: list the pods in range and the firmware profile each one matches."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from sensor_service.ble.backend import BACKEND_NAMES
from sensor_service.commands._help import DefaultsHelpFormatter
from sensor_service.errors import ConfigError, FootpodError

if TYPE_CHECKING:  # bleak is imported when a scan starts
    from sensor_service.ble.scan import FoundPod

__all__ = ["register"]


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "scan",
        help="list pods in range and the firmware profile each matches",
        description=(
            "Scan for Bluetooth LE advertisers and match each against firmware_profiles/ "
            "(name patterns and service UUIDs). --backend system uses the OS Bluetooth stack "
            "(BlueZ on Linux); bumble:usb:0 drives a USB dongle without it; virtual is the "
            "in-process simulated link, where --simulate puts one simulated pod per profile."
        ),
        formatter_class=DefaultsHelpFormatter,
    )
    parser.add_argument(
        "--backend",
        default="system",
        help=f"Bluetooth backend: {', '.join(BACKEND_NAMES)} or bumble:<transport> "
        "(default system)",
    )
    parser.add_argument("--timeout-s", type=float, default=5.0, help="scan time (default 5 s)")
    parser.add_argument("--all", action="store_true", help="also list devices no profile matches")
    parser.add_argument(
        "--simulate",
        action="store_true",
        help="with --backend virtual: one simulated pod per profile",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    parser.set_defaults(func=main)


async def _scan(args: argparse.Namespace) -> list[FoundPod]:
    from sensor_service.ble.scan import scan_pods

    async with contextlib.AsyncExitStack() as stack:
        if args.simulate:
            if args.backend != "virtual":
                raise ConfigError("--simulate needs --backend virtual (pods on the simulated link)")
            await _start_simulated_pods(stack)
        try:
            return await scan_pods(
                backend=args.backend, timeout_s=args.timeout_s, include_unknown=args.all
            )
        except FootpodError:
            raise
        except Exception as exc:  # bleak raises many types for a missing adapter
            raise FootpodError(
                f"scan with backend {args.backend!r} failed ({type(exc).__name__}: {exc}); on a "
                "machine without Bluetooth use --backend virtual --simulate, or bumble:usb:0 "
                "with a USB dongle"
            ) from exc


async def _start_simulated_pods(stack: contextlib.AsyncExitStack) -> None:
    from sensor_service.profiles import load_all_profiles
    from sensor_service.sim.gait import GaitSimulator, RunnerParams
    from sensor_service.sim.sources import FootSampleSource
    from sensor_service.sim.vendor_pods import POD_TYPES, make_simulated_pod

    sim = GaitSimulator(RunnerParams(), duration_s=30, seed=1)
    for i, profile in enumerate(p for p in load_all_profiles() if p.name in POD_TYPES):
        source = FootSampleSource(sim, "left", sampling_rate_hz=profile.rates.default_hz or 100.0)
        name = _sim_name(profile.discovery.name_patterns, i)
        pod = make_simulated_pod(profile.name, name=name, source=source, side="left")
        await stack.enter_async_context(pod)


def _sim_name(patterns: tuple[str, ...], i: int) -> str:
    """A name matching the profile's first name pattern (``*``/``?`` filled in)."""
    pattern = patterns[0] if patterns else f"pod-{i}"
    return pattern.replace("*", f"sim{i}").replace("?", "x")


def main(args: argparse.Namespace) -> int:
    pods = asyncio.run(_scan(args))
    if args.json:
        print(json.dumps([asdict(p) for p in pods]))
        return 0
    table = Table(title=f"{len(pods)} pod(s) found ({args.backend}, {args.timeout_s:g} s)")
    for col in ("name", "address", "RSSI (dBm)", "profile"):
        table.add_column(col)
    for pod in pods:
        rssi = "-" if pod.rssi_dbm is None else str(pod.rssi_dbm)
        table.add_row(pod.name or "?", pod.address, rssi, pod.profile or "(none)")
    Console().print(table)
    return 0
