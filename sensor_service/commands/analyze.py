"""``footpod analyze``: run the gait kernel over a recorded CSV and write the step table.

``footpod analyze FILE.csv --fs HZ --placement foot|ankle|shank [--acc-unit m/s2|g]
[--gyro-unit deg/s|rad/s] --out STEPS.csv``. Input: a CSV with a header, columns ``ax,ay,az``,
optional ``gx,gy,gz`` and ``t`` (seconds; then ``--fs`` may be omitted); axes in any orientation.
Output: one row per ground contact, times in seconds from the first sample
(:data:`sensor_service.analysis.STEP_COLUMNS`; load-model estimates with ``--mass-kg``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sensor_service.commands._help import DefaultsHelpFormatter

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add ``analyze`` to the ``footpod`` sub-parsers."""
    parser = sub.add_parser(
        "analyze",
        help="detect every ground contact in a recorded CSV and write the step table",
        description=(
            "Runs the same streaming kernel as the live pipeline over a recording. Foot pods "
            "with gx,gy,gz use the pitch-velocity method (mounting estimated from the data); "
            "ankle and shank pods, or files without gyro, use the orientation-free acc-only "
            "method. Load-model columns (estimates, not measurements) need --mass-kg and "
            "--height-m or --leg-length-m."
        ),
        formatter_class=DefaultsHelpFormatter,
    )
    parser.add_argument(
        "file", type=Path, metavar="FILE.csv", help="recording: ax,ay,az[,gx,gy,gz][,t]"
    )
    parser.add_argument(
        "--fs",
        type=float,
        default=None,
        metavar="HZ",
        help="sampling rate (Hz); optional with a t column",
    )
    parser.add_argument("--placement", choices=("foot", "ankle", "shank"), default="foot")
    parser.add_argument(
        "--acc-unit",
        choices=("m/s2", "g", "auto"),
        default="auto",
        help="unit of ax,ay,az (default: inferred from the data, median |acc| about 1 g)",
    )
    parser.add_argument(
        "--gyro-unit",
        choices=("deg/s", "rad/s", "auto"),
        default="auto",
        help="unit of gx,gy,gz (default: inferred, a foot turns at hundreds of deg/s in gait)",
    )
    parser.add_argument(
        "--out", type=Path, required=True, metavar="STEPS.csv", help="step table to write"
    )
    parser.add_argument(
        "--clip-g", type=float, default=None, help="accelerometer range (±g) to flag clipped steps"
    )
    parser.add_argument(
        "--mass-kg", type=float, default=None, help="athlete mass: adds load-model estimates"
    )
    parser.add_argument(
        "--height-m", type=float, default=None, help="athlete height (for the leg length)"
    )
    parser.add_argument(
        "--leg-length-m", type=float, default=None, help="leg length, if measured (else height)"
    )
    parser.add_argument(
        "--at-moment-arm-m",
        type=float,
        default=0.036,
        help="Achilles tendon moment arm (docs/load_model.md)",
    )
    parser.add_argument("--speed-m-s", type=float, default=None, help="running speed, for k_leg")
    parser.add_argument(
        "--activity",
        choices=("running", "walking"),
        default="running",
        help="tunes the acc-only detector (ankle/shank, or no gyro); foot+gyro needs none",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=cmd_analyze)


def cmd_analyze(args: argparse.Namespace) -> int:
    """Analyse ``args.file`` and write ``args.out``; exit 0. Errors are ``FootpodError``s, which
    ``cli.main`` prints on one line (exit 2)."""
    from sensor_service.analysis import AnalysisError, analyze
    from sensor_service.kernels import AccEventParams
    from sensor_service.kernels._params import G0_M_S2
    from sensor_service.load import AthleteParams

    athlete = None
    if args.mass_kg is not None and args.height_m is None and args.leg_length_m is None:
        raise AnalysisError("--mass-kg needs --height-m or --leg-length-m for the load model")
    if args.mass_kg is not None:
        athlete = AthleteParams(
            mass_kg=args.mass_kg,
            height_m=args.height_m,
            leg_length_m=args.leg_length_m,
            at_moment_arm_m=args.at_moment_arm_m,
        )
    table = analyze(
        args.file,
        sampling_rate_hz=args.fs,
        placement=args.placement,
        acc_unit=args.acc_unit,
        gyro_unit=args.gyro_unit,
        athlete=athlete,
        speed_m_s=args.speed_m_s,
        clip_limit_m_s2=None if args.clip_g is None else args.clip_g * G0_M_S2,
        acc_params=AccEventParams.for_walking() if args.activity == "walking" else None,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, index=False, float_format="%.4f")
    except OSError as exc:
        raise AnalysisError(f"cannot write {args.out}: {exc.strerror}") from exc
    attrs = table.attrs
    gct = table["gct_ms"]
    summary = (
        f"{len(table)} contacts ({attrs['method']} method, {attrs['sampling_rate_hz']:.1f} Hz"
        f"{', resampled t' if attrs['resampled'] else ''}; acc in {attrs['acc_unit']}"
        f"{'' if attrs['gyro_unit'] is None else ', gyro in ' + attrs['gyro_unit']})"
    )
    if len(table):
        summary += f"; median contact {gct.median():.0f} ms"
    print(f"{summary} -> {args.out}", file=sys.stderr)
    for warning in attrs["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    return 0
