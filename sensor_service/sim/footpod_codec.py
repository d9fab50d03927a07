"""The ``footpod-imu/1`` pod protocol: UUIDs, commands and the pure encoders.

Little-endian throughout (FIRMWARE.md section 0). This module is the one published
definition of the layout; the simulated pod uses it and tests decode against it.

* Service ``0ef62eac-2b12-490a-92a0-97c5dde92234`` with characteristics data (notify)
  ``0ef60001-…``, info (read) ``0ef60002-…`` and control point (write with response)
  ``0ef60003-…``; plus the standard Battery Service 0x180F / Battery Level 0x2A19.
* Info (:data:`INFO_FORMAT` ``<BHffBHBBBB3B``, 21 bytes): version, sampling_rate_hz,
  acc_lsb_per_g, gyr_lsb_per_dps, acc_range_g, gyr_range_dps, side (0 left, 1 right,
  2 unknown), forward_axis, left_axis (axis codes 0=+x 1=-x 2=+y 3=-y 4=+z 5=-z),
  battery_pct, firmware major, minor, patch.
* Control point: ``01`` start streaming, ``02`` stop, ``03 <u16 rate_hz>`` set rate.
* Data packet: ``u8 version | u8 flags (bit0 gyro present, bit1 clipped sample) |
  u16 sequence | u32 timestamp of the first sample, µs of the pod clock |
  N × (ax ay az gx gy gz int16)``; N = (len − 8) / 12, at most 19 at ATT MTU 247.
"""

from __future__ import annotations

import struct
from typing import Final, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sensor_service.errors import FootpodError

__all__ = [
    "ACC_LSB_PER_G",
    "ACC_RANGE_G",
    "BATTERY_LEVEL_UUID",
    "BATTERY_SERVICE_UUID",
    "CMD_SET_RATE",
    "CMD_START",
    "CMD_STOP",
    "CONTROL_UUID",
    "DATA_UUID",
    "FLAG_CLIPPED",
    "FLAG_GYRO",
    "GYR_LSB_PER_DPS",
    "GYR_RANGE_DPS",
    "HEADER_FORMAT",
    "HEADER_SIZE",
    "INFO_FORMAT",
    "INFO_SIZE",
    "INFO_UUID",
    "MAX_SAMPLES_PER_PACKET",
    "PROTOCOL_NAME",
    "PROTOCOL_VERSION",
    "SAMPLE_SIZE",
    "SERVICE_UUID",
    "SIDE_CODES",
    "STANDARD_GRAVITY_MS2",
    "CodecError",
    "PodInfo",
    "encode_info",
    "encode_packet",
    "samples_per_packet",
    "to_raw",
]

PROTOCOL_NAME: Final = "footpod-imu/1"
PROTOCOL_VERSION: Final = 1

SERVICE_UUID: Final = "0ef62eac-2b12-490a-92a0-97c5dde92234"
DATA_UUID: Final = "0ef60001-2b12-490a-92a0-97c5dde92234"
INFO_UUID: Final = "0ef60002-2b12-490a-92a0-97c5dde92234"
CONTROL_UUID: Final = "0ef60003-2b12-490a-92a0-97c5dde92234"
BATTERY_SERVICE_UUID: Final = "0000180f-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL_UUID: Final = "00002a19-0000-1000-8000-00805f9b34fb"

CMD_START: Final = 0x01
CMD_STOP: Final = 0x02
CMD_SET_RATE: Final = 0x03

FLAG_GYRO: Final = 0x01
FLAG_CLIPPED: Final = 0x02

HEADER_FORMAT: Final = "<BBHI"
HEADER_SIZE: Final = struct.calcsize(HEADER_FORMAT)  # 8
SAMPLE_SIZE: Final = 12
MAX_SAMPLES_PER_PACKET: Final = 19  # (247 - 3 - 8) // 12

INFO_FORMAT: Final = "<BHffBHBBBB3B"
INFO_SIZE: Final = struct.calcsize(INFO_FORMAT)  # 21

ACC_LSB_PER_G: Final = 2048.0
GYR_LSB_PER_DPS: Final = 16.384
ACC_RANGE_G: Final = 16
GYR_RANGE_DPS: Final = 2000
STANDARD_GRAVITY_MS2: Final = 9.80665

SIDE_CODES: Final = {"left": 0, "right": 1, "unknown": 2}

_INT16_MIN: Final = -32768
_INT16_MAX: Final = 32767


class CodecError(FootpodError, ValueError):
    """Values given to a footpod-imu/1 encoder do not fit the layout."""


class PodInfo(NamedTuple):
    """Fields of the info characteristic, in wire order."""

    version: int
    sampling_rate_hz: int
    acc_lsb_per_g: float
    gyr_lsb_per_dps: float
    acc_range_g: int
    gyr_range_dps: int
    side: int
    forward_axis: int
    left_axis: int
    battery_pct: int
    firmware_major: int
    firmware_minor: int
    firmware_patch: int


def samples_per_packet(att_mtu: int) -> int:
    """Samples that fit one notification at ``att_mtu`` (19 at 247, 1 at 23)."""
    return max(1, min(MAX_SAMPLES_PER_PACKET, (att_mtu - 3 - HEADER_SIZE) // SAMPLE_SIZE))


def encode_info(
    *,
    sampling_rate_hz: int,
    side: int,
    forward_axis: int,
    left_axis: int,
    battery_pct: int,
    firmware: tuple[int, int, int] = (1, 0, 0),
    acc_lsb_per_g: float = ACC_LSB_PER_G,
    gyr_lsb_per_dps: float = GYR_LSB_PER_DPS,
    acc_range_g: int = ACC_RANGE_G,
    gyr_range_dps: int = GYR_RANGE_DPS,
    version: int = PROTOCOL_VERSION,
) -> bytes:
    """Pack the info characteristic (21 bytes, :data:`INFO_FORMAT`).

    Raises:
        CodecError: if a field is out of its range (e.g. rate not 1..65535, side not 0..2).
    """
    if not 1 <= sampling_rate_hz <= 0xFFFF:
        raise CodecError(f"sampling_rate_hz {sampling_rate_hz} is not in 1..65535")
    if side not in (0, 1, 2):
        raise CodecError(f"side {side} is not 0 (left), 1 (right) or 2 (unknown)")
    for label, axis in (("forward_axis", forward_axis), ("left_axis", left_axis)):
        if not 0 <= axis <= 5:
            raise CodecError(f"{label} {axis} is not an axis code 0..5")
    if not 0 <= battery_pct <= 100:
        raise CodecError(f"battery_pct {battery_pct} is not in 0..100")
    try:
        return struct.pack(
            INFO_FORMAT,
            version,
            sampling_rate_hz,
            acc_lsb_per_g,
            gyr_lsb_per_dps,
            acc_range_g,
            gyr_range_dps,
            side,
            forward_axis,
            left_axis,
            battery_pct,
            *firmware,
        )
    except struct.error as exc:
        raise CodecError(f"info field out of range: {exc}") from exc


def _as_raw(name: str, values: ArrayLike, n: int | None) -> NDArray[np.int16]:
    arr = np.asarray(values)
    if arr.ndim != 2 or arr.shape[1] != 3 or (n is not None and arr.shape[0] != n):
        expected = "(n, 3)" if n is None else f"({n}, 3)"
        raise CodecError(f"{name} has shape {arr.shape}, expected {expected}")
    if arr.size and (arr.min() < _INT16_MIN or arr.max() > _INT16_MAX):
        raise CodecError(f"{name} holds values outside int16: saturate with to_raw() first")
    if arr.dtype.kind == "f" and arr.size and not np.array_equal(arr, np.round(arr)):
        raise CodecError(f"{name} holds non-integer values: convert with to_raw() first")
    return arr.astype(np.int16)


def encode_packet(
    seq: int,
    t_first_us: int,
    acc_raw: ArrayLike,
    gyr_raw: ArrayLike | None,
    clipped: bool,
) -> bytes:
    """Pack one data notification.

    ``seq`` and ``t_first_us`` are reduced modulo 2**16 and 2**32 (the wire wraps).
    ``gyr_raw`` None clears the gyro flag and sends zeros in the gyro slots.

    Raises:
        CodecError: if the arrays are not (n, 3) int16-valued with n >= 1.
    """
    acc = _as_raw("acc_raw", acc_raw, None)
    n = acc.shape[0]
    if n == 0:
        raise CodecError("a packet carries at least one sample")
    flags = FLAG_CLIPPED if clipped else 0
    body = np.zeros((n, 6), dtype="<i2")
    body[:, :3] = acc
    if gyr_raw is not None:
        body[:, 3:] = _as_raw("gyr_raw", gyr_raw, n)
        flags |= FLAG_GYRO
    header = struct.pack(
        HEADER_FORMAT, PROTOCOL_VERSION, flags, seq & 0xFFFF, t_first_us & 0xFFFFFFFF
    )
    return header + body.tobytes()


def to_raw(
    acc_ms2: ArrayLike,
    gyr_dps: ArrayLike | None,
    *,
    acc_lsb_per_g: float = ACC_LSB_PER_G,
    gyr_lsb_per_dps: float = GYR_LSB_PER_DPS,
) -> tuple[NDArray[np.int16], NDArray[np.int16] | None, bool]:
    """Scale SI samples to int16 counts, saturating as the sensor does.

    Returns ``(acc_raw, gyr_raw, clipped)``; ``clipped`` is True when any value saturated
    (±16 g and ±2000 deg/s at the default scales).
    """
    acc_counts = np.rint(np.asarray(acc_ms2, dtype=np.float64) / STANDARD_GRAVITY_MS2
                         * acc_lsb_per_g)
    clipped = bool(np.any((acc_counts < _INT16_MIN) | (acc_counts > _INT16_MAX)))
    acc_raw = np.clip(acc_counts, _INT16_MIN, _INT16_MAX).astype(np.int16)
    gyr_raw: NDArray[np.int16] | None = None
    if gyr_dps is not None:
        gyr_counts = np.rint(np.asarray(gyr_dps, dtype=np.float64) * gyr_lsb_per_dps)
        clipped |= bool(np.any((gyr_counts < _INT16_MIN) | (gyr_counts > _INT16_MAX)))
        gyr_raw = np.clip(gyr_counts, _INT16_MIN, _INT16_MAX).astype(np.int16)
    return acc_raw, gyr_raw, clipped
