"""Bluetooth SIG Running Speed and Cadence, service 0x1814 (FIRMWARE.md §1).

RSC Measurement 0x2A53: ``u8 flags (bit0 stride length present, bit1 total distance present,
bit2 running) | u16 speed 1/256 m/s | u8 cadence 1/min | [u16 stride 1/100 m] |
[u32 total distance 1/10 m]`` (Bluetooth SIG, Running Speed and Cadence Service 1.0). Reserved
flag bits and trailing bytes are tolerated. Parameter ``cadence_unit`` = ``steps`` or
``strides``: some pods report strides per minute; the output is always steps per minute.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from sensor_service.errors import DecodeError
from sensor_service.profiles._common import param_str
from sensor_service.profiles._model import (
    DecodedPacket,
    Decoder,
    ParamValue,
    Profile,
    RscMeasurement,
)

__all__ = ["RscDecoder", "RscFeature", "parse_rsc_feature", "parse_sensor_location"]

_FLAG_STRIDE: Final = 0x01
_FLAG_DISTANCE: Final = 0x02
_FLAG_RUNNING: Final = 0x04
_LOCATIONS: Final = {0: "other", 1: "top_of_shoe", 2: "in_shoe", 3: "hip"}


@dataclass(frozen=True, slots=True)
class RscFeature:
    """RSC Feature 0x2A54 (u16 bit field)."""

    stride_length: bool
    total_distance: bool
    walking_running: bool
    calibration: bool
    multiple_locations: bool


def parse_rsc_feature(data: bytes | bytearray | memoryview) -> RscFeature:
    """Parse RSC Feature (0x2A54); reserved bits ignored. Raises DecodeError ``too_short``."""
    if len(data) < 2:
        raise DecodeError("too_short", f"RSC feature is {len(data)} bytes, need 2")
    bits = int.from_bytes(bytes(data)[:2], "little")
    return RscFeature(*(bool(bits >> i & 1) for i in range(5)))


def parse_sensor_location(data: bytes | bytearray | memoryview) -> str:
    """Sensor Location (0x2A5D): ``top_of_shoe``, ``in_shoe``, ``hip``, ``other`` or ``code-N``."""
    if len(data) < 1:
        raise DecodeError("too_short", "sensor location is empty")
    code = bytes(data)[0]
    return _LOCATIONS.get(code, f"code-{code}")


class RscDecoder(Decoder):
    """RSC Measurement notifications → :class:`RscMeasurement` (no samples, no ticks)."""

    def __init__(self, profile: Profile, params: Mapping[str, ParamValue]) -> None:
        unit = param_str(profile, params, "cadence_unit", ("steps", "strides"))
        self._cadence_factor = 2.0 if unit == "strides" else 1.0
        self._tick_unit_s = profile.timestamps.tick_unit_s

    def _decode(self, data: bytes) -> DecodedPacket | None:
        if len(data) < 4:
            raise DecodeError("too_short", f"{len(data)} bytes, need at least 4")
        flags, speed_raw, cadence_raw = struct.unpack_from("<BHB", data)
        need = 4 + (2 if flags & _FLAG_STRIDE else 0) + (4 if flags & _FLAG_DISTANCE else 0)
        if len(data) < need:
            raise DecodeError("too_short", f"{len(data)} bytes, flags 0x{flags:02x} need {need}")
        offset = 4
        stride_m = distance_m = None
        if flags & _FLAG_STRIDE:
            stride_m = struct.unpack_from("<H", data, offset)[0] / 100.0
            offset += 2
        if flags & _FLAG_DISTANCE:
            distance_m = struct.unpack_from("<I", data, offset)[0] / 10.0
        rsc = RscMeasurement(
            speed_m_s=speed_raw / 256.0,
            cadence_per_min=cadence_raw * self._cadence_factor,
            stride_m=stride_m,
            distance_m=distance_m,
            running=bool(flags & _FLAG_RUNNING),
        )
        return DecodedPacket(
            seq=None,
            tick=None,
            tick_unit_s=self._tick_unit_s,
            acc_m_s2=None,
            gyr_deg_s=None,
            rsc=rsc,
        )
