"""The ``footpod`` command line: parse, call, print. Each sub-command lives in ``commands/``."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from sensor_service.errors import FootpodError

__all__ = ["main"]

#: Sub-command modules; each defines ``register(subparsers) -> None`` and sets ``func``
#: on its parser (``func(args) -> int``, the exit code).
COMMAND_MODULES = (
    "sensor_service.commands.demo",
    "sensor_service.commands.ingest",
    "sensor_service.commands.profiles",
    "sensor_service.commands.broker_config",
    "sensor_service.commands.scan",
    "sensor_service.commands.run",
    "sensor_service.commands.analyze",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="footpod",
        description=(
            "Foot-worn IMU pods to step metrics and Achilles load estimates in InfluxDB. "
            "Start with 'footpod demo' to see the whole pipeline on simulated runners."
        ),
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except FootpodError as exc:
        print(f"footpod {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
