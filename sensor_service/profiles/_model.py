"""Data model of firmware profiles and decoded packets (DESIGN.md "Firmware profiles").

A :class:`Profile` is the validated content of one ``firmware_profiles/<name>.toml`` file; the
format is documented key by key in ``firmware_profiles/README.md``. A :class:`Decoder` turns one
BLE notification into a :class:`DecodedPacket` in SI units (acceleration in m/s², angular rate in
deg/s), in the pod's body frame; :class:`Mounting` says how that frame sits on the foot.
"""

from __future__ import annotations

import abc
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, Literal

import numpy as np

from sensor_service.errors import ConfigError, DecodeError

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "AXES",
    "G_M_S2",
    "Capabilities",
    "DecodedPacket",
    "Decoder",
    "DecoderSpec",
    "Discovery",
    "Gatt",
    "Mounting",
    "ParamValue",
    "Profile",
    "ProfileError",
    "ProfileInfo",
    "Rates",
    "RscMeasurement",
    "Scaling",
    "Step",
    "Timestamps",
    "render_template",
]

#: Standard gravity, m/s² (CGPM 1901); the only g used anywhere in footpod.
G_M_S2: Final = 9.80665

#: Signed axis names, in the order of the footpod-imu/1 axis codes 0..5 (FIRMWARE.md §0).
AXES: Final = ("+x", "-x", "+y", "-y", "+z", "-z")

ParamValue = str | float
TimestampKind = Literal["per_packet_tick", "per_sample_extrapolated", "host_arrival"]


class ProfileError(ConfigError):
    """Errors in a profile file; ``errors`` holds one ``file: key: reason`` line per error."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


# --------------------------------------------------------------------------------------------
# decoded output


@dataclass(frozen=True, slots=True)
class RscMeasurement:
    """One Bluetooth SIG RSC Measurement (0x2A53), in SI units (FIRMWARE.md §1).

    ``cadence_per_min`` is in steps per minute (profiles reporting strides are converted).
    """

    speed_m_s: float
    cadence_per_min: float
    stride_m: float | None
    distance_m: float | None
    running: bool


@dataclass(frozen=True, slots=True, eq=False)
class DecodedPacket:
    """The samples of one notification (or of one joined split notification).

    ``tick`` is the pod tick of the first or last sample (per the profile's
    ``timestamps.tick_refers_to``), raw as sent: not unwrapped, in units of ``tick_unit_s``
    seconds. ``acc_m_s2`` and ``gyr_deg_s`` are ``(n, 3)`` float64 arrays in the pod frame.
    ``clipped`` is True when the pod flagged a clipped sample or a raw value sits at the limit
    of its integer type. ``sample_period_s`` is the nominal period between samples.
    """

    seq: int | None
    tick: int | None
    tick_unit_s: float
    acc_m_s2: NDArray[np.float64] | None
    gyr_deg_s: NDArray[np.float64] | None
    clipped: bool = False
    rsc: RscMeasurement | None = None
    sample_period_s: float | None = None

    @property
    def n_samples(self) -> int:
        """Number of IMU samples (0 for an RSC measurement)."""
        if self.acc_m_s2 is not None:
            return int(self.acc_m_s2.shape[0])
        if self.gyr_deg_s is not None:
            return int(self.gyr_deg_s.shape[0])
        return 0


class Decoder(abc.ABC):
    """Turns notifications into :class:`DecodedPacket`; one instance per pod connection.

    Subclasses implement :meth:`_decode`. :meth:`decode` guarantees that malformed input raises
    :class:`~sensor_service.errors.DecodeError` and nothing else.
    """

    def decode(self, data: bytes | bytearray | memoryview) -> DecodedPacket | None:
        """Decode one notification; ``None`` for a fragment or a control response.

        Raises:
            DecodeError: ``reason`` is a short code (``too_short``, ``bad_length``,
                ``bad_version``, ``bad_header``, ``unknown_frame_type``, ...).
        """
        try:
            return self._decode(bytes(data))
        except DecodeError:
            raise
        except (struct.error, IndexError, ValueError, OverflowError, TypeError) as exc:
            # Safety net: a reader must never die on a notification. Tests assert it never fires.
            raise DecodeError("malformed", f"{type(exc).__name__}: {exc}") from exc

    def reset(self) -> None:  # noqa: B027 - optional hook, stateless decoders need nothing
        """Forget state kept across notifications (pending fragments); call on reconnect."""

    @abc.abstractmethod
    def _decode(self, data: bytes) -> DecodedPacket | None:
        """Decode ``data``; raise DecodeError for malformed input."""


# --------------------------------------------------------------------------------------------
# profile sections


@dataclass(frozen=True, slots=True)
class ProfileInfo:
    """``[profile]``: identity of the pod model."""

    name: str
    protocol: str
    vendor: str
    description: str


@dataclass(frozen=True, slots=True)
class Discovery:
    """``[discovery]``: how a scan result is recognised (fnmatch name globs, service UUIDs)."""

    name_patterns: tuple[str, ...]
    service_uuids: tuple[str, ...]
    priority: int = 0


@dataclass(frozen=True, slots=True)
class Gatt:
    """``[gatt]``: characteristic UUIDs (lower-case, 128-bit) and the minimum ATT MTU."""

    service: str
    data: str
    info: str | None = None
    control: str | None = None
    battery: str | None = None
    battery_service: str | None = None
    other: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    info_parser: str | None = None
    min_mtu: int = 23

    def resolve(self, char: str) -> str | None:
        """The UUID of a characteristic given by role name (``data``, ``control``...)."""
        if char in ("data", "info", "control", "battery"):
            value: str | None = getattr(self, char)
            return value
        return self.other.get(char)


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([a-z0-9]+))?\}")
_TEMPLATE_FORMATS: Final = {
    "u8": "<B",
    "i8": "<b",
    "u16": "<H",
    "i16": "<h",
    "u32": "<I",
    "i32": "<i",
    "f32": "<f",
}


def _format_param(value: ParamValue, fmt: str | None, *, ascii_text: bool) -> bytes | str:
    if ascii_text or fmt is None or fmt == "ascii":
        integral = isinstance(value, float) and value.is_integer()
        text = str(int(value)) if integral else str(value)
        return text if ascii_text else text.encode("ascii")
    code = _TEMPLATE_FORMATS[fmt]
    if isinstance(value, str):
        raise ValueError(f"parameter value {value!r} is not a number")
    if code.endswith("f"):
        return struct.pack(code, float(value))
    if not float(value).is_integer():
        raise ValueError(f"parameter value {value!r} is not an integer")
    return struct.pack(code, int(value))


def render_template(
    hex_template: str, ascii_template: str, params: Mapping[str, ParamValue]
) -> bytes:
    """Bytes of a step payload: hex with ``{param:fmt}`` placeholders, then ASCII text.

    ``fmt`` is one of u8 i8 u16 i16 u32 i32 f32 (little-endian) or ascii; ASCII text takes
    ``{param}`` placeholders. Raises ``KeyError`` / ``ValueError`` / ``struct.error``.
    """
    out = bytearray()
    pos = 0
    for match in _PLACEHOLDER.finditer(hex_template):
        out += _hex_bytes(hex_template[pos : match.start()])
        name, fmt = match.group(1), match.group(2)
        if fmt is not None and fmt not in _TEMPLATE_FORMATS and fmt != "ascii":
            raise ValueError(f"unknown placeholder format {fmt!r}")
        rendered = _format_param(params[name], fmt, ascii_text=False)
        assert isinstance(rendered, bytes)
        out += rendered
        pos = match.end()
    out += _hex_bytes(hex_template[pos:])
    if ascii_template:
        text = _PLACEHOLDER.sub(
            lambda m: str(_format_param(params[m.group(1)], None, ascii_text=True)), ascii_template
        )
        out += text.encode("ascii")
    return bytes(out)


def _hex_bytes(text: str) -> bytes:
    return bytes.fromhex(re.sub(r"[\s:_-]", "", text))


StepAction = Literal["write", "subscribe", "unsubscribe", "read", "wait_response", "sleep"]


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a ``[[start]]`` / ``[[stop]]`` sequence.

    ``write`` {char, hex, ascii, response}, ``subscribe`` / ``unsubscribe`` / ``read`` {char},
    ``wait_response`` {char, prefix, timeout_s}, ``sleep`` {s}. ``char`` is a ``[gatt]`` role
    name; ``uuid`` its resolved UUID. ``optional`` steps may fail without failing the start.
    """

    action: StepAction
    char: str | None = None
    uuid: str | None = None
    hex: str = ""
    ascii: str = ""
    response: bool = True
    prefix: str = ""
    timeout_s: float = 5.0
    s: float = 0.0
    optional: bool = False

    def payload(self, params: Mapping[str, ParamValue]) -> bytes:
        """Bytes to write (``write``), with ``{param:fmt}`` placeholders filled from params."""
        return render_template(self.hex, self.ascii, params)

    def prefix_bytes(self, params: Mapping[str, ParamValue]) -> bytes:
        """Expected response prefix (``wait_response``)."""
        return render_template(self.prefix, "", params)


@dataclass(frozen=True, slots=True)
class DecoderSpec:
    """``[decoder]``: a declared struct layout, or ``named`` for a decoder in code.

    ``header`` / ``sample`` are ``(name, type)`` pairs, little-endian; the sample block repeats
    ``min_samples``..``max_samples`` times after the header. ``expect`` pins header fields to
    values; ``flag_bits`` names bits of the ``flags`` header field. ``params`` holds the
    defaults of the run-time parameters (overridable in :meth:`Profile.make_decoder`).
    """

    named: str | None
    header: tuple[tuple[str, str], ...] = ()
    sample: tuple[tuple[str, str], ...] = ()
    min_samples: int = 1
    max_samples: int = 1
    expect: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    flag_bits: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    params: Mapping[str, ParamValue] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class Scaling:
    """``[scaling]``: decoder numbers → SI. ``si = value / lsb_per_unit × unit_in_si``.

    ``*_lsb_per_unit`` is a number or the name of a decoder parameter holding it.
    """

    acc_unit: str = "m/s2"
    acc_lsb_per_unit: float | str = 1.0
    gyro_unit: str = "deg/s"
    gyro_lsb_per_unit: float | str = 1.0


@dataclass(frozen=True, slots=True)
class Rates:
    """``[rates]``: sampling rates in Hz (``allowed_hz`` list and/or ``min_hz``..``max_hz``)."""

    default_hz: float | None
    allowed_hz: tuple[float, ...] = ()
    min_hz: float | None = None
    max_hz: float | None = None

    def check(self, rate_hz: float) -> bool:
        """Whether ``rate_hz`` is a rate the pod accepts."""
        if self.allowed_hz and rate_hz not in self.allowed_hz:
            return False
        if self.min_hz is not None and rate_hz < self.min_hz:
            return False
        return not (self.max_hz is not None and rate_hz > self.max_hz)


@dataclass(frozen=True, slots=True)
class Timestamps:
    """``[timestamps]``: what the pod says about time.

    ``per_packet_tick``: each packet carries the pod tick of its first or last sample
    (``tick_refers_to``), sample times follow at the sample period. ``per_sample_extrapolated``:
    no pod clock; samples come at a regular rate and are stamped by extrapolation from arrival.
    ``host_arrival``: irregular measurements, stamped on arrival. Ticks wrap after
    ``tick_wrap_bits`` bits, sequence numbers after ``seq_bits`` (0: none).
    """

    kind: TimestampKind
    tick_unit_s: float = 1.0
    tick_wrap_bits: int = 0
    tick_refers_to: Literal["first", "last"] = "first"
    seq_bits: int = 0


@dataclass(frozen=True, slots=True)
class Mounting:
    """``[mounting]``: which pod axes point forward and left on the foot; overridable per pod."""

    forward_axis: str = "+x"
    left_axis: str = "+y"
    placement: str = "instep"
    overridable: bool = True

    def rotation(self) -> NDArray[np.float64]:
        """3×3 matrix ``R`` with ``foot = R @ pod``; rows are forward, left, up (right-handed)."""
        forward = _axis_vector(self.forward_axis)
        left = _axis_vector(self.left_axis)
        up = np.cross(forward, left)
        return np.vstack([forward, left, up])

    def with_axes(self, forward_axis: str, left_axis: str) -> Mounting:
        """A copy with other axes (from the pod's info or the athlete's config)."""
        if not self.overridable:
            raise ConfigError("this profile's mounting is fixed (mounting.overridable = false)")
        _check_axes(forward_axis, left_axis)
        return Mounting(forward_axis, left_axis, self.placement, self.overridable)


def _axis_vector(axis: str) -> NDArray[np.float64]:
    vec = np.zeros(3)
    vec["xyz".index(axis[1])] = 1.0 if axis[0] == "+" else -1.0
    return vec


def _check_axes(forward_axis: str, left_axis: str) -> None:
    for axis in (forward_axis, left_axis):
        if axis not in AXES:
            raise ConfigError(f"axis {axis!r} is not one of {', '.join(AXES)}")
    if forward_axis[1] == left_axis[1]:
        raise ConfigError(f"forward axis {forward_axis} and left axis {left_axis} are parallel")


@dataclass(frozen=True, slots=True)
class Capabilities:
    """``[capabilities]``: what the pod measures (``rsc``: speed / cadence / distance only)."""

    acc: bool = False
    gyro: bool = False
    rsc: bool = False


@dataclass(frozen=True, slots=True, eq=False)
class Profile:
    """A validated firmware profile (one ``firmware_profiles/*.toml`` file)."""

    path: Path
    profile: ProfileInfo
    discovery: Discovery
    gatt: Gatt
    start: tuple[Step, ...]
    stop: tuple[Step, ...]
    decoder: DecoderSpec
    scaling: Scaling
    rates: Rates
    timestamps: Timestamps
    mounting: Mounting
    capabilities: Capabilities

    @property
    def name(self) -> str:
        """The profile name, e.g. ``footpod-imu-v1``."""
        return self.profile.name

    def default_params(self) -> dict[str, ParamValue]:
        """Decoder parameters with their defaults (``sampling_rate_hz`` from ``[rates]``)."""
        params: dict[str, ParamValue] = {}
        if self.rates.default_hz is not None:
            params["sampling_rate_hz"] = float(self.rates.default_hz)
        params.update(self.decoder.params)
        return params

    def resolve_params(
        self, params: Mapping[str, ParamValue] | None = None
    ) -> dict[str, ParamValue]:
        """Defaults overlaid with ``params``; strings are converted where a number is expected.

        Raises:
            ConfigError: unknown parameter, or a value of the wrong type.
        """
        merged = self.default_params()
        for key, value in (params or {}).items():
            if key not in merged:
                known = ", ".join(sorted(merged)) or "none"
                raise ConfigError(
                    f"profile {self.name}: unknown decoder parameter {key!r} (known: {known})"
                )
            default = merged[key]
            if isinstance(default, str):
                merged[key] = str(value)
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ConfigError(
                    f"profile {self.name}: decoder parameter {key!r} must be a number, "
                    f"got {value!r}"
                ) from None
            if not np.isfinite(number):
                raise ConfigError(f"profile {self.name}: decoder parameter {key!r} is not finite")
            merged[key] = number
        return merged

    def make_decoder(self, params: Mapping[str, ParamValue] | None = None) -> Decoder:
        """A fresh decoder for one pod connection; ``params`` override the profile defaults.

        Raises:
            ConfigError: unknown parameter or invalid value.
        """
        from sensor_service.profiles._registry import build_decoder

        return build_decoder(self, self.resolve_params(params))

    def info_params(self, data: bytes) -> dict[str, ParamValue]:
        """Decoder parameters read from the info characteristic (``gatt.info_parser``).

        Empty when the profile has no info parser. Raises DecodeError for a bad info value.
        """
        from sensor_service.profiles._registry import INFO_PARSERS

        if self.gatt.info_parser is None:
            return {}
        return INFO_PARSERS[self.gatt.info_parser](data)
