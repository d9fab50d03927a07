"""``footpod run``: one athlete's pods → kernel → MQTT, until stopped (the gateway process)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

from rich.console import Console

from sensor_service.bus.mqtt_url import parse_mqtt_url
from sensor_service.commands._help import DefaultsHelpFormatter
from sensor_service.commands._signals import stop_on_signals
from sensor_service.contracts import validate_id
from sensor_service.errors import ConfigError
from sensor_service.profiles import load_profile

if TYPE_CHECKING:  # the pipeline (BLE stack, kernels) is imported when a run starts
    from sensor_service.pipeline import AthleteSession, PodSpec

__all__ = ["register"]


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "run",
        help="stream one athlete's pods through the kernel to MQTT (the gateway process)",
        description=(
            "Find the athlete's pods by their advertised names, start them with their firmware "
            "profile, detect every ground contact and publish steps (QoS 1) and pod status "
            "(retained, last will 'lost') under footpod/v1/<athlete>/. Runs until Ctrl-C / "
            "SIGTERM or --duration-s. Example: footpod run --athlete ana "
            "--pod left=footpod-ana-left --pod right=footpod-ana-right "
            "--mqtt-url mqtt://gateway:1883 (credentials: FOOTPOD_MQTT_USER/PASSWORD). "
            "Messages the broker has not acknowledged are kept in a spool on disk "
            "($FOOTPOD_STATE_DIR, else $XDG_STATE_HOME/footpod or ~/.local/state/footpod) and "
            "sent first on the next start (docs/delivery.md)."
        ),
        formatter_class=DefaultsHelpFormatter,
    )
    parser.add_argument("--athlete", required=True, help="athlete id (a-z, 0-9, '_', '-')")
    parser.add_argument(
        "--pod",
        action="append",
        required=True,
        metavar="SIDE=BLE_NAME[@RATE_HZ]",
        help="a pod on the left or right foot and its advertised name; repeat per pod",
    )
    parser.add_argument("--profile", default="footpod-imu-v1", help="firmware profile of the pods")
    parser.add_argument("--backend", default="system", help="system, virtual or bumble:<transport>")
    parser.add_argument("--mqtt-url", default="mqtt://127.0.0.1:1883", help="broker URL")
    parser.add_argument("--run-id", help="run id (default: run-<UTC timestamp>)")
    parser.add_argument("--duration-s", type=float, help="stop after this many seconds")
    parser.add_argument(
        "--simulate",
        action="store_true",
        help="with --backend virtual: simulated pods of a simulated runner under those names",
    )
    parser.set_defaults(func=main)


def parse_pod(athlete: str, text: str) -> PodSpec:
    """``left=footpod-ana-left`` or ``right=Movesense 123@208`` → a PodSpec."""
    from sensor_service.pipeline import PodSpec

    side, sep, rest = text.partition("=")
    if not sep or side not in ("left", "right") or not rest:
        raise ConfigError(f"--pod {text!r}: use SIDE=BLE_NAME[@RATE_HZ] with SIDE left or right")
    name, _, rate = rest.partition("@")
    try:
        rate_hz = float(rate) if rate else None
    except ValueError as exc:
        raise ConfigError(f"--pod {text!r}: rate {rate!r} is not a number") from exc
    return PodSpec(f"{athlete}-{side}", name, side, sampling_rate_hz=rate_hz)  # type: ignore[arg-type]


async def _run(args: argparse.Namespace, specs: list[PodSpec]) -> AthleteSession:
    from sensor_service.pipeline import AthleteSession

    profile = load_profile(args.profile)
    run_id = args.run_id or time.strftime("run-%Y%m%dt%H%M%S", time.gmtime()).lower()
    session = AthleteSession(
        athlete=args.athlete,
        run=validate_id("run", run_id),
        pods=specs,
        profile=profile,
        mqtt_url=args.mqtt_url,
        backend=args.backend,
    )
    stop = asyncio.Event()
    stop_on_signals(stop)
    async with contextlib.AsyncExitStack() as stack:
        if args.simulate:
            await _simulate(stack, profile.name, specs)
        task = asyncio.create_task(session.run_until(stop))
        waiter = asyncio.ensure_future(stop.wait())
        await asyncio.wait({task, waiter}, timeout=args.duration_s, return_when="FIRST_COMPLETED")
        stop.set()
        waiter.cancel()
        await task
    return session


async def _simulate(stack: contextlib.AsyncExitStack, profile: str, specs: list[PodSpec]) -> None:
    from sensor_service.sim.gait import GaitSimulator, RunnerParams
    from sensor_service.sim.sources import FootSampleSource
    from sensor_service.sim.vendor_pods import make_simulated_pod

    sim = GaitSimulator(RunnerParams(), duration_s=3600, seed=1)
    rate = load_profile(profile).rates.default_hz or 100.0
    for spec in specs:
        source = FootSampleSource(sim, spec.side, sampling_rate_hz=spec.sampling_rate_hz or rate)
        pod = make_simulated_pod(profile, name=spec.ble_name, source=source, side=spec.side)
        await stack.enter_async_context(pod)


def main(args: argparse.Namespace) -> int:
    validate_id("athlete", args.athlete)
    parse_mqtt_url(args.mqtt_url)
    if args.simulate and args.backend != "virtual":
        raise ConfigError("--simulate needs --backend virtual (pods on the simulated link)")
    specs = [parse_pod(args.athlete, text) for text in args.pod]
    if len({s.side for s in specs}) != len(specs):
        raise ConfigError("--pod: one pod per side")
    session = asyncio.run(_run(args, specs))
    console = Console(stderr=True)
    for pod, result in session.results.items():
        c = session.readers[pod].counters
        console.print(
            f"{pod}: {result.steps_published} steps published, {c.packets_received} packets, "
            f"{c.packets_lost} lost, {c.gaps} gaps, {c.decode_errors} undecodable"
        )
    return 0
