"""The project's own pod protocol ``footpod-imu/1`` (FIRMWARE.md §0): info and packet codecs.

The data packet is decoded by the generic layout decoder (profile ``footpod-imu-v1``); this
module parses the info characteristic and builds packets (for the simulator and tests).

Info (read, ``0ef60002-…``), little-endian ``<BHffBHBBBB3B``: version, sampling_rate_hz (u16),
acc_lsb_per_g (f32), gyr_lsb_per_dps (f32), acc_range_g (u8), gyr_range_dps (u16), side
(0 left, 1 right, 2 unknown), forward_axis, left_axis (axis codes 0=+x 1=-x 2=+y 3=-y 4=+z 5=-z),
battery_pct, firmware major, minor, patch.

Data (notify, ``0ef60001-…``): ``u8 version (1) | u8 flags (bit0 gyro present, bit1 clipped) |
u16 seq | u32 t_first_us | N × 6 int16 (ax ay az gx gy gz)``, N = 1..19.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import numpy as np

from sensor_service.errors import DecodeError
from sensor_service.profiles._model import AXES, ParamValue

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = [
    "FOOTPOD_CONTROL_SET_RATE",
    "FOOTPOD_CONTROL_START",
    "FOOTPOD_CONTROL_STOP",
    "FOOTPOD_INFO_FORMAT",
    "FOOTPOD_MAX_SAMPLES",
    "FOOTPOD_VERSION",
    "FootpodInfo",
    "encode_footpod_data",
    "encode_footpod_info",
    "footpod_set_rate_command",
    "parse_footpod_info",
]

FOOTPOD_VERSION: Final = 1
FOOTPOD_INFO_FORMAT: Final = "<BHffBHBBBB3B"
FOOTPOD_MAX_SAMPLES: Final = 19
FOOTPOD_CONTROL_START: Final = b"\x01"
FOOTPOD_CONTROL_STOP: Final = b"\x02"
FOOTPOD_CONTROL_SET_RATE: Final = 0x03
_SIDES: Final = ("left", "right", "unknown")
_HEADER: Final = struct.Struct("<BBHI")


@dataclass(frozen=True, slots=True)
class FootpodInfo:
    """Content of the footpod-imu/1 info characteristic."""

    version: int
    sampling_rate_hz: int
    acc_lsb_per_g: float
    gyr_lsb_per_dps: float
    acc_range_g: int
    gyr_range_dps: int
    side: str
    forward_axis: str
    left_axis: str
    battery_pct: int
    firmware_version: tuple[int, int, int]

    def decoder_params(self) -> dict[str, ParamValue]:
        """Parameters for ``Profile.make_decoder``: the pod's own scales and rate."""
        return {
            "acc_lsb_per_g": float(self.acc_lsb_per_g),
            "gyr_lsb_per_dps": float(self.gyr_lsb_per_dps),
            "sampling_rate_hz": float(self.sampling_rate_hz),
        }


def parse_footpod_info(data: bytes | bytearray | memoryview) -> FootpodInfo:
    """Parse the info characteristic (trailing bytes, from later minor versions, are ignored).

    Raises:
        DecodeError: ``too_short``, ``bad_version`` or ``bad_value``.
    """
    data = bytes(data)
    size = struct.calcsize(FOOTPOD_INFO_FORMAT)
    if len(data) < size:
        raise DecodeError("too_short", f"info is {len(data)} bytes, need {size}")
    (
        version,
        rate,
        acc_lsb,
        gyr_lsb,
        acc_range,
        gyr_range,
        side,
        fwd,
        left,
        battery,
        major,
        minor,
        patch,
    ) = struct.unpack_from(FOOTPOD_INFO_FORMAT, data)
    if version != FOOTPOD_VERSION:
        raise DecodeError("bad_version", f"info version {version}, expected {FOOTPOD_VERSION}")
    if not (math.isfinite(acc_lsb) and acc_lsb > 0 and math.isfinite(gyr_lsb) and gyr_lsb > 0):
        raise DecodeError("bad_value", f"scales must be > 0, got {acc_lsb}, {gyr_lsb}")
    # shortest decimal that round-trips the float32: 16.384, not 16.384000778198242
    acc_lsb = float(np.format_float_positional(np.float32(acc_lsb)))
    gyr_lsb = float(np.format_float_positional(np.float32(gyr_lsb)))
    if rate == 0:
        raise DecodeError("bad_value", "sampling rate 0 Hz")
    if side >= len(_SIDES):
        raise DecodeError("bad_value", f"side code {side}")
    if fwd >= len(AXES) or left >= len(AXES) or fwd // 2 == left // 2:
        raise DecodeError("bad_value", f"axis codes forward={fwd} left={left}")
    return FootpodInfo(
        version=version,
        sampling_rate_hz=rate,
        acc_lsb_per_g=acc_lsb,
        gyr_lsb_per_dps=gyr_lsb,
        acc_range_g=acc_range,
        gyr_range_dps=gyr_range,
        side=_SIDES[side],
        forward_axis=AXES[fwd],
        left_axis=AXES[left],
        battery_pct=battery,
        firmware_version=(major, minor, patch),
    )


def encode_footpod_info(info: FootpodInfo) -> bytes:
    """Bytes of the info characteristic (what a simulated pod serves)."""
    return struct.pack(
        FOOTPOD_INFO_FORMAT,
        info.version,
        info.sampling_rate_hz,
        info.acc_lsb_per_g,
        info.gyr_lsb_per_dps,
        info.acc_range_g,
        info.gyr_range_dps,
        _SIDES.index(info.side),
        AXES.index(info.forward_axis),
        AXES.index(info.left_axis),
        info.battery_pct,
        *info.firmware_version,
    )


def encode_footpod_data(
    seq: int,
    t_first_us: int,
    acc_raw: ArrayLike,
    gyr_raw: ArrayLike | None = None,
    *,
    clipped: bool = False,
) -> bytes:
    """One data notification from raw int16 samples (``(n, 3)`` each, n = 1..19).

    ``seq`` and ``t_first_us`` are wrapped to 16 and 32 bits. Without ``gyr_raw`` the gyro
    fields are zero and the gyro-present flag is clear.
    """
    acc = np.asarray(acc_raw, dtype=np.int64).reshape(-1, 3)
    gyr = np.zeros_like(acc) if gyr_raw is None else np.asarray(gyr_raw, np.int64).reshape(-1, 3)
    if acc.shape != gyr.shape or not 1 <= acc.shape[0] <= FOOTPOD_MAX_SAMPLES:
        raise ValueError(f"need 1..{FOOTPOD_MAX_SAMPLES} samples of acc and gyro alike")
    block = np.hstack([acc, gyr])
    if block.min() < -32768 or block.max() > 32767:
        raise ValueError("raw samples must fit int16")
    flags = (0 if gyr_raw is None else 1) | (2 if clipped else 0)
    header = _HEADER.pack(FOOTPOD_VERSION, flags, seq & 0xFFFF, t_first_us & 0xFFFFFFFF)
    return header + block.astype("<i2").tobytes()


def footpod_set_rate_command(rate_hz: int) -> bytes:
    """Control point write that sets the sampling rate: ``03 <u16 rate>``."""
    return struct.pack("<BH", FOOTPOD_CONTROL_SET_RATE, rate_hz)
