"""Field types of declared layouts and unit conversions to SI (acc m/s², gyro deg/s)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final

from sensor_service.profiles._model import G_M_S2, ParamValue, Scaling

__all__ = ["ACC_UNITS", "FIELD_TYPES", "GYRO_UNITS", "scale_factors"]

#: Layout field type → numpy little-endian dtype string.
FIELD_TYPES: Final = {
    "u8": "u1",
    "i8": "i1",
    "u16": "<u2",
    "i16": "<i2",
    "u32": "<u4",
    "i32": "<i4",
    "u64": "<u8",
    "i64": "<i8",
    "f32": "<f4",
    "f64": "<f8",
}

#: Acceleration unit → m/s².
ACC_UNITS: Final = {"m/s2": 1.0, "g": G_M_S2, "mg": G_M_S2 / 1000.0}

#: Angular rate unit → deg/s.
GYRO_UNITS: Final = {"deg/s": 1.0, "mdeg/s": 1e-3, "rad/s": 180.0 / math.pi}


def _lsb(value: float | str, params: Mapping[str, ParamValue]) -> float:
    lsb = params[value] if isinstance(value, str) else value
    if isinstance(lsb, str) or not lsb > 0 or not math.isfinite(lsb):
        raise ValueError(f"LSB per unit must be a positive number, got {lsb!r}")
    return float(lsb)


def scale_factors(scaling: Scaling, params: Mapping[str, ParamValue]) -> tuple[float, float]:
    """Multipliers (acc → m/s², gyro → deg/s) for the decoder's numbers.

    Raises:
        ValueError: an LSB parameter is not a positive number.
    """
    acc = ACC_UNITS[scaling.acc_unit] / _lsb(scaling.acc_lsb_per_unit, params)
    gyro = GYRO_UNITS[scaling.gyro_unit] / _lsb(scaling.gyro_lsb_per_unit, params)
    return acc, gyro
