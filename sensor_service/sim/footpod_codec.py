"""The simulator's side of ``footpod-imu/1`` (FIRMWARE.md §0): what the profiles package lacks.

The byte layouts have one definition, in :mod:`sensor_service.profiles`
(``encode_footpod_data``, ``encode_footpod_info``, ``footpod_set_rate_command``; the data packet
is decoded by the ``footpod-imu-v1`` profile's layout). This module keeps only what a
*simulated pod* needs on top of them:

* the characteristic UUIDs, read from ``firmware_profiles/footpod-imu-v1.toml`` (``[gatt]``),
  and the standard Battery Service 0x180F / Battery Level 0x2A19;
* the control point commands: ``01`` start, ``02`` stop, ``03 <u16 rate_hz>`` set rate;
* :func:`to_raw` (SI → saturated int16 counts, with the clipped flag) and
  :func:`samples_per_packet` (19 samples at ATT MTU 247, 1 at 23);
* :func:`encode_packet` / :func:`encode_info`: input checks that raise :class:`CodecError`,
  then the profiles package's encoders. Info codes: side 0 left, 1 right, 2 unknown; axis codes
  0=+x 1=-x 2=+y 3=-y 4=+z 5=-z.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Final, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sensor_service.errors import ConfigError, FootpodError
from sensor_service.profiles import (
    AXES,
    G_M_S2,
    FootpodInfo,
    Gatt,
    encode_footpod_data,
    encode_footpod_info,
    footpod_set_rate_command,
    load_profile,
    validate_profile_file,
)

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
    "PROFILE_NAME",
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
PROFILE_NAME: Final = "footpod-imu-v1"
PROTOCOL_VERSION: Final = 1


def _footpod_gatt() -> Gatt:
    """``[gatt]`` of the footpod-imu-v1 profile; the repository's file if the profiles
    directory (``$FOOTPOD_PROFILES_DIR``) has none, so importing the simulator never fails."""
    try:
        return load_profile(PROFILE_NAME).gatt
    except ConfigError:
        repo_file = (
            Path(__file__).resolve().parents[2] / "firmware_profiles" / f"{PROFILE_NAME}.toml"
        )
        return validate_profile_file(repo_file).gatt


_GATT = _footpod_gatt()


def _required(uuid: str | None, role: str) -> str:
    if uuid is None:  # pragma: no cover - the profile file declares every role
        raise FootpodError(f"profile {PROFILE_NAME} declares no {role} characteristic")
    return uuid


SERVICE_UUID: Final = _GATT.service
DATA_UUID: Final = _GATT.data
INFO_UUID: Final = _required(_GATT.info, "info")
CONTROL_UUID: Final = _required(_GATT.control, "control")
BATTERY_SERVICE_UUID: Final = _required(_GATT.battery_service, "battery_service")
BATTERY_LEVEL_UUID: Final = _required(_GATT.battery, "battery")

CMD_START: Final = 0x01
CMD_STOP: Final = 0x02
CMD_SET_RATE: Final = footpod_set_rate_command(0)[0]  # 0x03

FLAG_GYRO: Final = 0x01
FLAG_CLIPPED: Final = 0x02

HEADER_FORMAT: Final = "<BBHI"
HEADER_SIZE: Final = struct.calcsize(HEADER_FORMAT)  # 8
SAMPLE_SIZE: Final = 12
MAX_SAMPLES_PER_PACKET: Final = 19  # (247 - 3 - 8) // 12

#: Info layout (the profiles package encodes and parses it; kept for readers of raw bytes).
INFO_FORMAT: Final = "<BHffBHBBBB3B"
INFO_SIZE: Final = struct.calcsize(INFO_FORMAT)  # 21

ACC_LSB_PER_G: Final = 2048.0
GYR_LSB_PER_DPS: Final = 16.384
ACC_RANGE_G: Final = 16
GYR_RANGE_DPS: Final = 2000
STANDARD_GRAVITY_MS2: Final = G_M_S2

SIDE_CODES: Final = {"left": 0, "right": 1, "unknown": 2}
_SIDE_NAMES: Final = {code: side for side, code in SIDE_CODES.items()}

_INT16_MIN: Final = -32768
_INT16_MAX: Final = 32767


class CodecError(FootpodError, ValueError):
    """Values given to a footpod-imu/1 encoder do not fit the layout."""


class PodInfo(NamedTuple):
    """Fields of the info characteristic, in wire order (codes, as on the wire)."""

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
    """The info characteristic (21 bytes) from wire codes, via ``encode_footpod_info``.

    Raises:
        CodecError: if a field is out of its range (e.g. rate not 1..65535, side not 0..2).
    """
    if not 1 <= sampling_rate_hz <= 0xFFFF:
        raise CodecError(f"sampling_rate_hz {sampling_rate_hz} is not in 1..65535")
    if side not in _SIDE_NAMES:
        raise CodecError(f"side {side} is not 0 (left), 1 (right) or 2 (unknown)")
    for label, axis in (("forward_axis", forward_axis), ("left_axis", left_axis)):
        if not 0 <= axis < len(AXES):
            raise CodecError(f"{label} {axis} is not an axis code 0..5")
    if not 0 <= battery_pct <= 100:
        raise CodecError(f"battery_pct {battery_pct} is not in 0..100")
    info = FootpodInfo(
        version=version,
        sampling_rate_hz=sampling_rate_hz,
        acc_lsb_per_g=acc_lsb_per_g,
        gyr_lsb_per_dps=gyr_lsb_per_dps,
        acc_range_g=acc_range_g,
        gyr_range_dps=gyr_range_dps,
        side=_SIDE_NAMES[side],
        forward_axis=AXES[forward_axis],
        left_axis=AXES[left_axis],
        battery_pct=battery_pct,
        firmware_version=firmware,
    )
    try:
        return encode_footpod_info(info)
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
    """One data notification, via ``encode_footpod_data`` after checking the input.

    ``seq`` and ``t_first_us`` are reduced modulo 2**16 and 2**32 (the wire wraps).
    ``gyr_raw`` None clears the gyro flag and sends zeros in the gyro slots.

    Raises:
        CodecError: if the arrays are not (n, 3) int16-valued with n in 1..19.
    """
    acc = _as_raw("acc_raw", acc_raw, None)
    n = acc.shape[0]
    if not 1 <= n <= MAX_SAMPLES_PER_PACKET:
        raise CodecError(f"a packet carries 1..{MAX_SAMPLES_PER_PACKET} samples, got {n}")
    gyr = None if gyr_raw is None else _as_raw("gyr_raw", gyr_raw, n)
    return encode_footpod_data(seq, t_first_us, acc, gyr, clipped=clipped)


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
    acc_counts = np.rint(np.asarray(acc_ms2, dtype=np.float64) / G_M_S2 * acc_lsb_per_g)
    clipped = bool(np.any((acc_counts < _INT16_MIN) | (acc_counts > _INT16_MAX)))
    acc_raw = np.clip(acc_counts, _INT16_MIN, _INT16_MAX).astype(np.int16)
    gyr_raw: NDArray[np.int16] | None = None
    if gyr_dps is not None:
        gyr_counts = np.rint(np.asarray(gyr_dps, dtype=np.float64) * gyr_lsb_per_dps)
        clipped |= bool(np.any((gyr_counts < _INT16_MIN) | (gyr_counts > _INT16_MAX)))
        gyr_raw = np.clip(gyr_counts, _INT16_MIN, _INT16_MAX).astype(np.int16)
    return acc_raw, gyr_raw, clipped
