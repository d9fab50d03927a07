"""Load and validate firmware profile files (TOML, stdlib ``tomllib``).

Validation happens once, at load: every problem becomes a line ``<file>: <key>: <reason>`` in a
:class:`~sensor_service.profiles._model.ProfileError` (a ``ConfigError``). The format is
documented key by key in ``firmware_profiles/README.md`` (DESIGN.md "Firmware profiles").
"""

from __future__ import annotations

import fnmatch
import os
import re
import tomllib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from sensor_service.errors import ConfigError
from sensor_service.profiles._model import (
    AXES,
    Capabilities,
    DecoderSpec,
    Discovery,
    Gatt,
    Mounting,
    ParamValue,
    Profile,
    ProfileError,
    ProfileInfo,
    Rates,
    Scaling,
    Step,
    Timestamps,
)
from sensor_service.profiles._units import ACC_UNITS, FIELD_TYPES, GYRO_UNITS

__all__ = [
    "PROFILES_DIR_ENV",
    "default_profiles_dir",
    "load_all_profiles",
    "load_profile",
    "match_profile",
    "normalize_uuid",
    "validate_profile_file",
]

#: Environment variable overriding the profiles directory.
PROFILES_DIR_ENV: Final = "FOOTPOD_PROFILES_DIR"

_NAME_RE: Final = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_FIELD_RE: Final = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*):([a-z0-9]+)$")
_BLUETOOTH_BASE: Final = "-0000-1000-8000-00805f9b34fb"
_GATT_ROLES: Final = ("data", "info", "control", "battery")
_ACC_FIELDS: Final = ("ax", "ay", "az")
_GYRO_FIELDS: Final = ("gx", "gy", "gz")
_FLAG_NAMES: Final = ("gyro_present", "clipped")
_TIMESTAMP_KINDS: Final = ("per_packet_tick", "per_sample_extrapolated", "host_arrival")


def default_profiles_dir() -> Path:
    """``$FOOTPOD_PROFILES_DIR``, else ``firmware_profiles/`` at the root of the repository."""
    env = os.environ.get(PROFILES_DIR_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "firmware_profiles"


def normalize_uuid(value: str) -> str:
    """Lower-case 128-bit UUID; 16/32-bit SIG forms (``0x180F``, ``2a19``) use the base UUID.

    Raises:
        ValueError: not a UUID.
    """
    text = value.strip().lower()
    if text.startswith("0x"):
        text = text[2:]
    if re.fullmatch(r"[0-9a-f]{4}", text):
        return f"0000{text}{_BLUETOOTH_BASE}"
    if re.fullmatch(r"[0-9a-f]{8}", text):
        return f"{text}{_BLUETOOTH_BASE}"
    return str(uuid.UUID(text))


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class _Checker:
    """Collects ``file: key: reason`` errors while reading a TOML document."""

    def __init__(self, path: Path) -> None:
        self.file = _display(path)
        self.errors: list[str] = []

    def err(self, key: str, reason: str) -> None:
        self.errors.append(f"{self.file}: {key}: {reason}")

    def table(self, doc: Mapping[str, Any], key: str, *, required: bool = True) -> dict[str, Any]:
        value = doc.get(key)
        if value is None:
            if required:
                self.err(key, "missing section")
            return {}
        if not isinstance(value, dict):
            self.err(key, "must be a table")
            return {}
        return value

    def unknown(self, section: str, table: Mapping[str, Any], allowed: Iterable[str]) -> None:
        allowed = set(allowed)
        for key in table:
            if key not in allowed:
                self.err(f"{section}.{key}" if section else key, "unknown key")

    def get(
        self,
        section: str,
        table: Mapping[str, Any],
        key: str,
        kind: type | tuple[type, ...],
        default: Any = None,
        *,
        required: bool = False,
    ) -> Any:
        name = f"{section}.{key}"
        if key not in table:
            if required:
                self.err(name, "missing key")
            return default
        value = table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in kinds:
            self.err(name, f"must be {_kind_name(kinds)}, got {value!r}")
            return default
        if not isinstance(value, kinds):
            self.err(name, f"must be {_kind_name(kinds)}, got {value!r}")
            return default
        return value

    def str_list(self, section: str, table: Mapping[str, Any], key: str) -> list[str]:
        value = self.get(section, table, key, list, [])
        out: list[str] = []
        for i, item in enumerate(value):
            if isinstance(item, str):
                out.append(item)
            else:
                self.err(f"{section}.{key}[{i}]", f"must be a string, got {item!r}")
        return out

    def uuid(self, key: str, value: Any) -> str | None:
        if not isinstance(value, str):
            self.err(key, f"must be a UUID string, got {value!r}")
            return None
        try:
            return normalize_uuid(value)
        except ValueError:
            self.err(key, f"not a UUID: {value!r}")
            return None


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "a table",
    }
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def validate_profile_file(path: str | Path) -> Profile:
    """Read and validate one profile file.

    Raises:
        ProfileError: (a ConfigError) with one ``file: key: reason`` line per problem.
    """
    path = Path(path)
    chk = _Checker(path)
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except OSError as exc:
        raise ProfileError([f"{chk.file}: cannot read: {exc.strerror or exc}"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError([f"{chk.file}: not valid TOML: {exc}"]) from exc
    profile = _parse(doc, path, chk)
    if chk.errors or profile is None:
        raise ProfileError(chk.errors)
    return profile


def _parse(doc: dict[str, Any], path: Path, chk: _Checker) -> Profile | None:
    chk.unknown(
        "",
        doc,
        (
            "profile",
            "discovery",
            "gatt",
            "start",
            "stop",
            "decoder",
            "scaling",
            "rates",
            "timestamps",
            "mounting",
            "capabilities",
        ),
    )
    info = _parse_profile(chk, chk.table(doc, "profile"), path)
    discovery = _parse_discovery(chk, chk.table(doc, "discovery"))
    gatt = _parse_gatt(chk, chk.table(doc, "gatt"))
    rates = _parse_rates(chk, chk.table(doc, "rates", required=False))
    before = len(chk.errors)
    decoder = _parse_decoder(chk, chk.table(doc, "decoder"))
    decoder_ok = len(chk.errors) == before
    params: dict[str, ParamValue] = {}
    if rates.default_hz is not None:
        params["sampling_rate_hz"] = rates.default_hz
    params.update(decoder.params)
    start = _parse_steps(chk, doc, "start", gatt, params)
    stop = _parse_steps(chk, doc, "stop", gatt, params)
    scaling = _parse_scaling(chk, chk.table(doc, "scaling", required=False), params)
    timestamps = _parse_timestamps(chk, chk.table(doc, "timestamps"))
    mounting = _parse_mounting(chk, chk.table(doc, "mounting"))
    caps = _parse_capabilities(chk, chk.table(doc, "capabilities"))
    _cross_check(chk, decoder if decoder_ok else None, timestamps, caps, rates)
    if chk.errors:
        return None
    return Profile(
        path=path,
        profile=info,
        discovery=discovery,
        gatt=gatt,
        start=start,
        stop=stop,
        decoder=decoder,
        scaling=scaling,
        rates=rates,
        timestamps=timestamps,
        mounting=mounting,
        capabilities=caps,
    )


def _parse_profile(chk: _Checker, t: dict[str, Any], path: Path) -> ProfileInfo:
    s = "profile"
    chk.unknown(s, t, ("name", "protocol", "vendor", "description"))
    name = chk.get(s, t, "name", str, "", required=True)
    if name and not _NAME_RE.match(name):
        chk.err(
            f"{s}.name",
            f"{name!r} is not identifier-like (lower-case letters, digits, "
            "'-', '_', '.'; up to 64 characters)",
        )
    elif name and path.suffix == ".toml" and path.stem != name:
        chk.err(
            f"{s}.name",
            f"{name!r} does not match the file name {path.name!r} (rename the file to {name}.toml)",
        )
    return ProfileInfo(
        name=name,
        protocol=chk.get(s, t, "protocol", str, "", required=True),
        vendor=chk.get(s, t, "vendor", str, "", required=True),
        description=chk.get(s, t, "description", str, ""),
    )


def _parse_discovery(chk: _Checker, t: dict[str, Any]) -> Discovery:
    s = "discovery"
    chk.unknown(s, t, ("name_patterns", "service_uuids", "priority"))
    patterns = chk.str_list(s, t, "name_patterns")
    uuids = [
        u
        for i, v in enumerate(chk.get(s, t, "service_uuids", list, []))
        if (u := chk.uuid(f"{s}.service_uuids[{i}]", v)) is not None
    ]
    if not patterns and not uuids and chk.errors == []:
        chk.err(s, "give name_patterns or service_uuids (or both)")
    return Discovery(tuple(patterns), tuple(uuids), chk.get(s, t, "priority", int, 0))


def _parse_gatt(chk: _Checker, t: dict[str, Any]) -> Gatt:
    s = "gatt"
    chk.unknown(
        s,
        t,
        (
            "service",
            "data",
            "info",
            "control",
            "battery",
            "battery_service",
            "other",
            "info_parser",
            "min_mtu",
        ),
    )
    values: dict[str, str | None] = {}
    for key in ("service", "data", "info", "control", "battery", "battery_service"):
        if key in t:
            values[key] = chk.uuid(f"{s}.{key}", t[key])
        elif key in ("service", "data"):
            chk.err(f"{s}.{key}", "missing key")
    other: dict[str, str] = {}
    for key, value in chk.get(s, t, "other", dict, {}).items():
        if key in _GATT_ROLES:
            chk.err(f"{s}.other.{key}", "is a standard role: set it in [gatt] directly")
        elif (u := chk.uuid(f"{s}.other.{key}", value)) is not None:
            other[key] = u
    info_parser = chk.get(s, t, "info_parser", str)
    if info_parser is not None:
        from sensor_service.profiles._registry import INFO_PARSERS

        if info_parser not in INFO_PARSERS:
            chk.err(
                f"{s}.info_parser",
                f"unknown info parser {info_parser!r} (known: {', '.join(sorted(INFO_PARSERS))})",
            )
        elif "info" not in t:
            chk.err(f"{s}.info_parser", "needs gatt.info")
    min_mtu = chk.get(s, t, "min_mtu", int, 23)
    if not 23 <= min_mtu <= 517:
        chk.err(f"{s}.min_mtu", f"{min_mtu} is outside 23..517")
    return Gatt(
        service=values.get("service") or "",
        data=values.get("data") or "",
        info=values.get("info"),
        control=values.get("control"),
        battery=values.get("battery"),
        battery_service=values.get("battery_service"),
        other=MappingProxyType(other),
        info_parser=info_parser,
        min_mtu=min_mtu,
    )


_STEP_KEYS: Final = {
    "write": ("char", "hex", "ascii", "response"),
    "subscribe": ("char",),
    "unsubscribe": ("char",),
    "read": ("char",),
    "wait_response": ("char", "prefix", "timeout_s"),
    "sleep": ("s",),
}


def _parse_steps(
    chk: _Checker,
    doc: Mapping[str, Any],
    section: str,
    gatt: Gatt,
    params: Mapping[str, ParamValue],
) -> tuple[Step, ...]:
    raw = doc.get(section, [])
    if not isinstance(raw, list):
        chk.err(section, f"must be an array of tables ([[{section}]])")
        return ()
    steps: list[Step] = []
    for i, t in enumerate(raw):
        s = f"{section}[{i}]"
        if not isinstance(t, dict):
            chk.err(s, "must be a table")
            continue
        action = chk.get(s, t, "action", str, required=True)
        if action is None:
            continue
        if action not in _STEP_KEYS:
            chk.err(f"{s}.action", f"unknown action {action!r} (known: {', '.join(_STEP_KEYS)})")
            continue
        chk.unknown(s, t, ("action", "optional", *_STEP_KEYS[action]))
        char = uuid_ = None
        if "char" in _STEP_KEYS[action]:
            char = chk.get(s, t, "char", str, required=True)
            if char is not None:
                uuid_ = gatt.resolve(char)
                if uuid_ is None:
                    chk.err(
                        f"{s}.char",
                        f"{char!r} is not a characteristic of [gatt] "
                        "(data, info, control, battery or a key of gatt.other)",
                    )
        step = Step(
            action=action,
            char=char,
            uuid=uuid_,
            hex=chk.get(s, t, "hex", str, "", required=action == "write"),
            ascii=chk.get(s, t, "ascii", str, ""),
            response=chk.get(s, t, "response", bool, True),
            prefix=chk.get(s, t, "prefix", str, ""),
            timeout_s=chk.get(s, t, "timeout_s", float, 5.0),
            s=chk.get(s, t, "s", float, 0.0, required=action == "sleep"),
            optional=chk.get(s, t, "optional", bool, False),
        )
        if step.timeout_s <= 0 or step.s < 0:
            chk.err(s, "timeout_s must be > 0 and s >= 0")
        try:
            if action == "write":
                if not step.payload(params):
                    chk.err(f"{s}.hex", "empty payload")
            elif action == "wait_response":
                step.prefix_bytes(params)
        except KeyError as exc:
            chk.err(
                s,
                f"placeholder names unknown parameter {exc.args[0]!r} "
                "(declare it in [decoder.params])",
            )
        except (ValueError, UnicodeEncodeError) as exc:
            chk.err(s, f"bad hex or placeholder: {exc}")
        steps.append(step)
    return tuple(steps)


def _parse_fields(chk: _Checker, key: str, value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        chk.err(key, 'must be an array of "name:type" strings')
        return ()
    fields: list[tuple[str, str]] = []
    for item in value:
        m = _FIELD_RE.match(item) if isinstance(item, str) else None
        if m is None:
            chk.err(key, f'{item!r} is not a "name:type" string')
            continue
        if m.group(2) not in FIELD_TYPES:
            chk.err(key, f"unknown field type {m.group(2)!r} (known: {', '.join(FIELD_TYPES)})")
            continue
        if m.group(1) != "_" and m.group(1) in {f for f, _ in fields}:
            chk.err(key, f"duplicate field {m.group(1)!r}")
            continue
        fields.append((m.group(1), m.group(2)))
    return tuple(fields)


def _parse_decoder(chk: _Checker, t: dict[str, Any]) -> DecoderSpec:
    s = "decoder"
    chk.unknown(s, t, ("named", "layout", "params"))
    raw_params = chk.get(s, t, "params", dict, {})
    params: dict[str, ParamValue] = {}
    for key, value in raw_params.items():
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            chk.err(f"{s}.params.{key}", f"must be a number or a string, got {value!r}")
        else:
            params[key] = float(value) if isinstance(value, int) else value
    named = chk.get(s, t, "named", str)
    layout = chk.get(s, t, "layout", dict)
    if (named is None) == (layout is None):
        chk.err(s, "give exactly one of `named` or a [decoder.layout] table")
        return DecoderSpec(named=named, params=MappingProxyType(params))
    if named is not None:
        from sensor_service.profiles._registry import DECODERS

        if named not in DECODERS:
            chk.err(
                f"{s}.named", f"unknown decoder {named!r} (known: {', '.join(sorted(DECODERS))})"
            )
        else:
            for key, default in DECODERS[named].required_params.items():
                if key not in params:
                    chk.err(
                        f"{s}.params.{key}",
                        f"missing (decoder {named} needs it; e.g. {key} = {default!r})",
                    )
        return DecoderSpec(named=named, params=MappingProxyType(params))
    assert layout is not None
    ls = f"{s}.layout"
    before = len(chk.errors)
    chk.unknown(
        ls, layout, ("header", "sample", "min_samples", "max_samples", "expect", "flag_bits")
    )
    header = _parse_fields(chk, f"{ls}.header", layout.get("header", []))
    sample = _parse_fields(chk, f"{ls}.sample", layout.get("sample", []))
    if "sample" not in layout:
        chk.err(f"{ls}.sample", "missing key")
    names = {n for n, _ in sample}
    fields_ok = len(chk.errors) == before
    for group in (_ACC_FIELDS, _GYRO_FIELDS):
        if fields_ok and names & set(group) and not set(group) <= names:
            chk.err(f"{ls}.sample", f"give all of {', '.join(group)} or none")
    header_names = {n for n, _ in header}
    for role in ("seq", "tick", "flags"):
        ftype = dict(header).get(role)
        if ftype is not None and ftype.startswith("f"):
            chk.err(f"{ls}.header", f"{role} must be an integer field")
    min_n = chk.get(ls, layout, "min_samples", int, 1)
    max_n = chk.get(ls, layout, "max_samples", int, min_n)
    if not 1 <= min_n <= max_n:
        chk.err(f"{ls}.min_samples", "need 1 <= min_samples <= max_samples")
    expect: dict[str, int] = {}
    for key, value in chk.get(ls, layout, "expect", dict, {}).items():
        if key not in header_names:
            chk.err(f"{ls}.expect.{key}", "is not a header field")
        elif isinstance(value, bool) or not isinstance(value, int):
            chk.err(f"{ls}.expect.{key}", f"must be an integer, got {value!r}")
        else:
            expect[key] = value
    flag_bits: dict[str, int] = {}
    for key, value in chk.get(ls, layout, "flag_bits", dict, {}).items():
        if key not in _FLAG_NAMES:
            chk.err(f"{ls}.flag_bits.{key}", f"unknown flag (known: {', '.join(_FLAG_NAMES)})")
        elif isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 64:
            chk.err(f"{ls}.flag_bits.{key}", f"must be a bit number 0..63, got {value!r}")
        else:
            flag_bits[key] = value
    if flag_bits and "flags" not in header_names:
        chk.err(f"{ls}.flag_bits", "needs a `flags` header field")
    return DecoderSpec(
        named=None,
        header=header,
        sample=sample,
        min_samples=min_n,
        max_samples=max_n,
        expect=MappingProxyType(expect),
        flag_bits=MappingProxyType(flag_bits),
        params=MappingProxyType(params),
    )


def _parse_scaling(chk: _Checker, t: dict[str, Any], params: Mapping[str, ParamValue]) -> Scaling:
    s = "scaling"
    chk.unknown(s, t, ("acc_unit", "acc_lsb_per_unit", "gyro_unit", "gyro_lsb_per_unit"))
    acc_unit = chk.get(s, t, "acc_unit", str, "m/s2")
    gyro_unit = chk.get(s, t, "gyro_unit", str, "deg/s")
    if acc_unit not in ACC_UNITS:
        chk.err(f"{s}.acc_unit", f"unknown unit {acc_unit!r} (known: {', '.join(ACC_UNITS)})")
    if gyro_unit not in GYRO_UNITS:
        chk.err(f"{s}.gyro_unit", f"unknown unit {gyro_unit!r} (known: {', '.join(GYRO_UNITS)})")
    lsbs: list[float | str] = []
    for key in ("acc_lsb_per_unit", "gyro_lsb_per_unit"):
        value = chk.get(s, t, key, (float, str), 1.0)
        if isinstance(value, str):
            if value not in params:
                chk.err(
                    f"{s}.{key}",
                    f"names parameter {value!r}, which [decoder.params] does not declare",
                )
            elif isinstance(params[value], str):
                chk.err(f"{s}.{key}", f"parameter {value!r} is not a number")
        elif value <= 0:
            chk.err(f"{s}.{key}", f"must be > 0, got {value}")
        lsbs.append(value)
    return Scaling(acc_unit, lsbs[0], gyro_unit, lsbs[1])


def _rate(chk: _Checker, key: str, value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        chk.err(key, f"must be a positive number of Hz, got {value!r}")
        return None
    return float(value)


def _parse_rates(chk: _Checker, t: dict[str, Any]) -> Rates:
    s = "rates"
    chk.unknown(s, t, ("default_hz", "allowed_hz", "min_hz", "max_hz"))
    default = _rate(chk, f"{s}.default_hz", t["default_hz"]) if "default_hz" in t else None
    allowed = [
        r
        for i, v in enumerate(chk.get(s, t, "allowed_hz", list, []))
        if (r := _rate(chk, f"{s}.allowed_hz[{i}]", v)) is not None
    ]
    min_hz = _rate(chk, f"{s}.min_hz", t["min_hz"]) if "min_hz" in t else None
    max_hz = _rate(chk, f"{s}.max_hz", t["max_hz"]) if "max_hz" in t else None
    rates = Rates(default, tuple(allowed), min_hz, max_hz)
    if min_hz is not None and max_hz is not None and min_hz > max_hz:
        chk.err(f"{s}.min_hz", "is above max_hz")
    elif default is not None and not rates.check(default):
        chk.err(f"{s}.default_hz", f"{default:g} Hz is not an allowed rate")
    return rates


def _parse_timestamps(chk: _Checker, t: dict[str, Any]) -> Timestamps:
    s = "timestamps"
    chk.unknown(s, t, ("kind", "tick_unit_s", "tick_wrap_bits", "tick_refers_to", "seq_bits"))
    kind = chk.get(s, t, "kind", str, "host_arrival", required=True)
    if kind not in _TIMESTAMP_KINDS:
        chk.err(f"{s}.kind", f"unknown kind {kind!r} (known: {', '.join(_TIMESTAMP_KINDS)})")
        kind = "host_arrival"
    unit = chk.get(s, t, "tick_unit_s", float, 1.0, required=kind == "per_packet_tick")
    if unit <= 0:
        chk.err(f"{s}.tick_unit_s", "must be > 0")
    wrap = chk.get(s, t, "tick_wrap_bits", int, 0, required=kind == "per_packet_tick")
    seq_bits = chk.get(s, t, "seq_bits", int, 0)
    for key, value in (("tick_wrap_bits", wrap), ("seq_bits", seq_bits)):
        if not 0 <= value <= 64:
            chk.err(f"{s}.{key}", "must be 0..64")
    refers = chk.get(s, t, "tick_refers_to", str, "first")
    if refers not in ("first", "last"):
        chk.err(f"{s}.tick_refers_to", "must be 'first' or 'last'")
    if kind != "per_packet_tick" and wrap:
        chk.err(f"{s}.tick_wrap_bits", f"only for kind = 'per_packet_tick', not {kind!r}")
    return Timestamps(
        kind=kind, tick_unit_s=unit, tick_wrap_bits=wrap, tick_refers_to=refers, seq_bits=seq_bits
    )


def _parse_mounting(chk: _Checker, t: dict[str, Any]) -> Mounting:
    s = "mounting"
    chk.unknown(s, t, ("forward_axis", "left_axis", "placement", "overridable"))
    forward = chk.get(s, t, "forward_axis", str, "+x", required=True)
    left = chk.get(s, t, "left_axis", str, "+y", required=True)
    for key, axis in (("forward_axis", forward), ("left_axis", left)):
        if axis not in AXES:
            chk.err(f"{s}.{key}", f"{axis!r} is not one of {', '.join(AXES)}")
    if forward in AXES and left in AXES and forward[1] == left[1]:
        chk.err(f"{s}.left_axis", f"{left} is parallel to forward_axis {forward}")
    placement = chk.get(s, t, "placement", str, "instep")
    if not _NAME_RE.match(placement):
        chk.err(f"{s}.placement", f"{placement!r} is not identifier-like")
    return Mounting(forward, left, placement, chk.get(s, t, "overridable", bool, True))


def _parse_capabilities(chk: _Checker, t: dict[str, Any]) -> Capabilities:
    s = "capabilities"
    chk.unknown(s, t, ("acc", "gyro", "rsc"))
    caps = Capabilities(
        acc=chk.get(s, t, "acc", bool, False),
        gyro=chk.get(s, t, "gyro", bool, False),
        rsc=chk.get(s, t, "rsc", bool, False),
    )
    if not (caps.acc or caps.gyro or caps.rsc):
        chk.err(s, "the pod must measure something (acc, gyro or rsc)")
    return caps


def _cross_check(
    chk: _Checker, decoder: DecoderSpec | None, ts: Timestamps, caps: Capabilities, rates: Rates
) -> None:
    if (caps.acc or caps.gyro) and rates.default_hz is None:
        chk.err("rates.default_hz", "missing key (an IMU pod needs a nominal rate)")
    if decoder is None or decoder.named is not None or not decoder.sample:
        return  # a broken decoder section is reported already
    header = dict(decoder.header)
    sample = {n for n, _ in decoder.sample}
    if caps.acc and not set(_ACC_FIELDS) <= sample:
        chk.err("decoder.layout.sample", "capabilities.acc needs fields ax, ay, az")
    if caps.gyro and not set(_GYRO_FIELDS) <= sample:
        chk.err("decoder.layout.sample", "capabilities.gyro needs fields gx, gy, gz")
    if caps.rsc:
        chk.err("capabilities.rsc", 'a layout decoder cannot decode RSC: use named = "rsc"')
    if ts.kind == "per_packet_tick" and "tick" not in header:
        chk.err("timestamps.kind", "per_packet_tick needs a `tick` header field")
    if ts.seq_bits and "seq" not in header:
        chk.err("timestamps.seq_bits", "needs a `seq` header field")
    if "seq" in header and not ts.seq_bits:
        chk.err("timestamps.seq_bits", "missing key (the layout has a `seq` field)")


# --------------------------------------------------------------------------------------------
# lookup


def load_profile(name_or_path: str | Path) -> Profile:
    """A profile by name (``footpod-imu-v1``, from :func:`default_profiles_dir`) or by path.

    Raises:
        ConfigError: no such profile, or the file is invalid.
    """
    directory = default_profiles_dir()
    if isinstance(name_or_path, Path) or name_or_path.endswith(".toml") or os.sep in name_or_path:
        path = Path(name_or_path)
        if not path.exists() and path.parent == Path() and (directory / path).is_file():
            path = directory / path  # a bare file name of the profiles directory
        return validate_profile_file(path)
    candidate = directory / f"{name_or_path}.toml"
    if candidate.is_file():
        return validate_profile_file(candidate)
    names = sorted(p.stem for p in directory.glob("*.toml")) if directory.is_dir() else []
    raise ConfigError(
        f"no firmware profile named {name_or_path!r} in {_display(directory)} "
        f"(known: {', '.join(names) or 'none'}; set ${PROFILES_DIR_ENV} or give a file path)"
    )


def load_all_profiles(directory: str | Path | None = None) -> list[Profile]:
    """Every ``*.toml`` profile of ``directory`` (default :func:`default_profiles_dir`), by name.

    Raises:
        ProfileError: with the errors of every invalid file.
    """
    directory = Path(directory) if directory is not None else default_profiles_dir()
    if not directory.is_dir():
        raise ConfigError(f"{_display(directory)}: profiles directory does not exist")
    profiles: list[Profile] = []
    errors: list[str] = []
    for path in sorted(directory.glob("*.toml")):
        try:
            profiles.append(validate_profile_file(path))
        except ProfileError as exc:
            errors.extend(exc.errors)
    if errors:
        raise ProfileError(errors)
    return profiles


def match_profile(
    name: str | None, service_uuids: Sequence[str], profiles: Sequence[Profile]
) -> Profile | None:
    """The profile of a scanned device, from its advertised name and service UUIDs.

    A service UUID match scores 2, a name-pattern match 1; the highest score wins, then
    ``discovery.priority``, then the order of ``profiles``. ``None`` when nothing matches.
    """
    advertised: set[str] = set()
    for value in service_uuids:
        try:
            advertised.add(normalize_uuid(value))
        except ValueError:
            continue
    best: tuple[int, int] | None = None
    chosen: Profile | None = None
    for profile in profiles:
        score = 0
        if advertised & set(profile.discovery.service_uuids):
            score += 2
        if name is not None and any(
            fnmatch.fnmatchcase(name, pattern) for pattern in profile.discovery.name_patterns
        ):
            score += 1
        if score == 0:
            continue
        key = (score, profile.discovery.priority)
        if best is None or key > best:
            best, chosen = key, profile
    return chosen
