"""``footpod profiles``: list, validate and try out firmware profiles (``firmware_profiles/``).

- ``footpod profiles list [--json]``: every profile with its file, vendor and capabilities.
- ``footpod profiles validate [FILE...]``: exit 0 when all are valid, 1 and one line per error.
- ``footpod profiles decode PROFILE HEX [--param key=value]... [--json]``: decode notifications
  (several separated by ``/``, for split packets) into SI samples.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sensor_service.errors import ConfigError, DecodeError
from sensor_service.profiles import (
    DecodedPacket,
    ParamValue,
    Profile,
    ProfileError,
    default_profiles_dir,
    load_profile,
    validate_profile_file,
)

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add ``profiles`` and its sub-commands to the ``footpod`` sub-parsers."""
    parser = sub.add_parser(
        "profiles",
        help="list, validate and try out firmware profiles",
        description=(
            "Firmware profiles (one TOML file per pod model in firmware_profiles/, or "
            "$FOOTPOD_PROFILES_DIR) say how to find a pod, start its stream and decode its "
            "notifications. See firmware_profiles/README.md for the format."
        ),
    )
    parser.set_defaults(func=lambda _args: _usage(parser))
    commands = parser.add_subparsers(dest="profiles_command", metavar="ACTION")

    p_list = commands.add_parser("list", help="list the profiles")
    p_list.add_argument("--dir", type=Path, help="profiles directory (default: the repo's)")
    p_list.add_argument("--json", action="store_true", help="print one JSON array")
    p_list.set_defaults(func=cmd_list)

    p_val = commands.add_parser(
        "validate",
        help="validate profile files (all of the profiles directory without FILE)",
        description="Exit 0 when every file is valid; else 1, with one line per error.",
    )
    p_val.add_argument("files", nargs="*", type=Path, metavar="FILE")
    p_val.add_argument("--dir", type=Path, help="profiles directory (default: the repo's)")
    p_val.set_defaults(func=cmd_validate)

    p_dec = commands.add_parser(
        "decode",
        help="decode notifications given in hex",
        description=(
            "Decode notification bytes with a profile's decoder. HEX may contain spaces and "
            "':'; separate several notifications (e.g. the parts of a split packet) with '/'. "
            "Example: footpod profiles decode bluetooth-rsc '07 00 03 12 56 00 01 00 00 F0'"
        ),
    )
    p_dec.add_argument("profile", metavar="PROFILE", help="profile name or TOML file")
    p_dec.add_argument("hex", nargs="+", metavar="HEX", help="notification bytes in hex")
    p_dec.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="decoder parameter (e.g. acc_range_g=4); repeatable",
    )
    p_dec.add_argument("--json", action="store_true", help="print one JSON object")
    p_dec.set_defaults(func=cmd_decode)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _profile_files(directory: Path | None) -> list[Path]:
    directory = directory or default_profiles_dir()
    if not directory.is_dir():
        raise ConfigError(f"{directory}: profiles directory does not exist")
    return sorted(directory.glob("*.toml"))


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _summary(profile: Profile) -> dict[str, Any]:
    caps = profile.capabilities
    return {
        "name": profile.name,
        "file": _display(profile.path),
        "protocol": profile.profile.protocol,
        "vendor": profile.profile.vendor,
        "description": profile.profile.description,
        "decoder": profile.decoder.named or "layout",
        "capabilities": [c for c in ("acc", "gyro", "rsc") if getattr(caps, c)],
        "name_patterns": list(profile.discovery.name_patterns),
        "service_uuids": list(profile.discovery.service_uuids),
        "default_rate_hz": profile.rates.default_hz,
        "timestamps": profile.timestamps.kind,
    }


def cmd_list(args: argparse.Namespace) -> int:
    """``footpod profiles list``."""
    try:
        files = _profile_files(args.dir)
    except ConfigError as exc:
        print(f"footpod profiles list: error: {exc}", file=sys.stderr)
        return 2
    rows: list[dict[str, Any]] = []
    status = 0
    for path in files:
        try:
            rows.append(_summary(validate_profile_file(path)))
        except ProfileError as exc:
            status = 1
            for line in exc.errors:
                print(line, file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=2))
        return status
    header = ("NAME", "VENDOR", "CAPABILITIES", "RATE_HZ", "DECODER", "FILE")
    table = [header] + [
        (
            r["name"],
            r["vendor"],
            ",".join(r["capabilities"]),
            "-" if r["default_rate_hz"] is None else f"{r['default_rate_hz']:g}",
            r["decoder"],
            r["file"],
        )
        for r in rows
    ]
    _print_table(table)
    return status


def _print_table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def cmd_validate(args: argparse.Namespace) -> int:
    """``footpod profiles validate``: one line per error, exit 1 when any."""
    try:
        files = list(args.files) or _profile_files(args.dir)
    except ConfigError as exc:
        print(f"footpod profiles validate: error: {exc}", file=sys.stderr)
        return 2
    errors: list[str] = []
    names: dict[str, Path] = {}
    for path in files:
        try:
            profile = validate_profile_file(path)
        except ProfileError as exc:
            errors.extend(exc.errors)
            continue
        if profile.name in names:
            errors.append(f"{path}: profile.name: {profile.name!r} also in {names[profile.name]}")
        names[profile.name] = path
    for line in errors:
        print(line)
    if errors:
        print(f"{len(errors)} error(s) in {len(files)} file(s)", file=sys.stderr)
        return 1
    print(f"{len(files)} profile(s) valid")
    return 0


def _parse_params(items: Sequence[str]) -> dict[str, ParamValue]:
    params: dict[str, ParamValue] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--param {item!r}: use KEY=VALUE, e.g. acc_range_g=4")
        text = value.strip()
        try:
            params[key.strip()] = float(text)
        except ValueError:
            params[key.strip()] = text
    return params


def _parse_hex(parts: Sequence[str]) -> list[bytes]:
    packets: list[bytes] = []
    for chunk in " ".join(parts).split("/"):
        cleaned = "".join(c for c in chunk if c not in " \t:,-_")
        if cleaned.lower().startswith("0x"):
            cleaned = cleaned[2:]
        try:
            packets.append(bytes.fromhex(cleaned))
        except ValueError:
            raise ConfigError(f"not hex: {chunk.strip()!r}") from None
    return packets


def _rounded(values: Any) -> list[float]:
    return [float(round(v, 9)) for v in values]


def _packet_json(pkt: DecodedPacket | None, index: int) -> dict[str, Any]:
    if pkt is None:
        return {"notification": index, "samples": 0, "note": "fragment or response, no samples"}
    out: dict[str, Any] = {
        "notification": index,
        "seq": pkt.seq,
        "tick": pkt.tick,
        "tick_unit_s": pkt.tick_unit_s if pkt.tick is not None else None,
        "sample_period_s": pkt.sample_period_s,
        "clipped": pkt.clipped,
        "samples": pkt.n_samples,
    }
    if pkt.rsc is not None:
        out["rsc"] = _rsc_json(pkt)
    return out


def _rsc_json(pkt: DecodedPacket) -> dict[str, Any]:
    assert pkt.rsc is not None
    rsc = pkt.rsc
    out: dict[str, Any] = {
        "speed_m_s": rsc.speed_m_s,
        "cadence_per_min": rsc.cadence_per_min,
        "running": rsc.running,
    }
    if rsc.stride_m is not None:
        out["stride_m"] = rsc.stride_m
    if rsc.distance_m is not None:
        out["distance_m"] = round(rsc.distance_m, 3)
    return out


def cmd_decode(args: argparse.Namespace) -> int:
    """``footpod profiles decode``: exit 0, 1 on a DecodeError, 2 on a usage/config error."""
    try:
        profile = load_profile(args.profile)
        decoder = profile.make_decoder(_parse_params(args.param))
        packets = _parse_hex(args.hex)
    except ConfigError as exc:
        print(f"footpod profiles decode: error: {exc}", file=sys.stderr)
        return 2
    result: dict[str, Any] = {"profile": profile.name, "packets": [], "samples": []}
    for index, data in enumerate(packets):
        try:
            pkt = decoder.decode(data)
        except DecodeError as exc:
            print(
                f"footpod profiles decode: notification {index}: {exc} ({len(data)} bytes)",
                file=sys.stderr,
            )
            return 1
        result["packets"].append(_packet_json(pkt, index))
        if pkt is None:
            continue
        if pkt.rsc is not None:
            result.update(_rsc_json(pkt))
        for i in range(pkt.n_samples):
            sample: dict[str, Any] = {}
            if pkt.acc_m_s2 is not None:
                sample["acc_m_s2"] = _rounded(pkt.acc_m_s2[i])
            if pkt.gyr_deg_s is not None:
                sample["gyr_deg_s"] = _rounded(pkt.gyr_deg_s[i])
            result["samples"].append(sample)
    if args.json:
        print(json.dumps(result))
    else:
        _print_decoded(result)
    return 0


def _print_decoded(result: dict[str, Any]) -> None:
    print(f"profile {result['profile']}")
    for p in result["packets"]:
        if p.get("note"):
            print(f"notification {p['notification']}: {p['note']}")
            continue
        parts = [f"notification {p['notification']}:", f"{p['samples']} sample(s)"]
        for key in ("seq", "tick", "sample_period_s"):
            if p.get(key) is not None:
                parts.append(
                    f"{key}={p[key]:g}" if isinstance(p[key], float) else f"{key}={p[key]}"
                )
        if p.get("clipped"):
            parts.append("CLIPPED")
        print(" ".join(parts))
        for key, value in p.get("rsc", {}).items():
            print(f"  {key:<16} {value}")
    if result["samples"]:
        rows: list[tuple[str, ...]] = [
            ("#", "ax m/s2", "ay m/s2", "az m/s2", "gx deg/s", "gy deg/s", "gz deg/s")
        ]
        for i, s in enumerate(result["samples"]):
            acc = s.get("acc_m_s2", [None] * 3)
            gyr = s.get("gyr_deg_s", [None] * 3)
            rows.append((str(i), *("-" if v is None else f"{v:.4f}" for v in [*acc, *gyr])))
        _print_table(rows)
