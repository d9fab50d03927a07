"""Polar Measurement Data (PMD) service, ACC and GYRO streams (FIRMWARE.md §3).

Source: polar-ble-sdk (``BlePMDClient``, ``AccData``, ``GyrData``, ``PmdDataFrame``). Data
frame: ``u8 measurement type (2 ACC, 5 GYRO) | u64 timestamp ns since 2000-01-01 of the LAST
sample | u8 frame type (bit7 delta compressed) | payload``.

- Raw ACC: type 0 int8, type 1 int16, type 2 int24, three channels, mG.
- Raw GYRO: type 0 int16 × factor, deg/s.
- Compressed: a reference sample (channels × ceil(resolution/8) bytes, signed LE), then blocks
  ``[u8 delta bits][u8 count][count × channels packed deltas, LSB first, sign-extended]``, each
  delta added to the previous sample. ACC type 0 (0x80) is in g × factor (older Verity Sense,
  factor 0.000244), ACC type 1 (0x81) in mG (× factor, 1.0 when the pod sends none);
  GYRO in deg/s × factor.

The factor comes from the start response (setting 5, float32) on the control point: feed control
point responses (``F0 …``) to :meth:`PolarPmdDecoder.decode` and it keeps the factor, or pass the
``acc_factor`` / ``gyr_factor`` parameters.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

import numpy as np

from sensor_service.errors import ConfigError, DecodeError
from sensor_service.profiles._common import DecoderContext, check_finite, param_float
from sensor_service.profiles._model import DecodedPacket, Decoder, ParamValue, Profile

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "PMD_ACC",
    "PMD_GYRO",
    "PolarPmdDecoder",
    "parse_delta_frames",
    "parse_pmd_settings",
]

PMD_ACC: Final = 2
PMD_GYRO: Final = 5
_RESPONSE: Final = 0xF0
_OP_START: Final = 2
_HEADER: Final = 10
_CHANNELS: Final = 3
#: Setting id → value size in bytes (polar-ble-sdk ``PmdSetting``).
_SETTING_SIZES: Final = {0: 2, 1: 2, 2: 2, 3: 4, 4: 1, 5: 4, 6: 16}
_FACTOR: Final = 5


def parse_pmd_settings(data: bytes) -> dict[int, list[int | float]]:
    """Parse a PMD settings list ``{id, count, values}…``; stops at the first truncated entry."""
    out: dict[int, list[int | float]] = {}
    offset = 0
    while offset + 2 <= len(data):
        sid, count = data[offset], data[offset + 1]
        size = _SETTING_SIZES.get(sid)
        if size is None or offset + 2 + count * size > len(data):
            break
        values: list[int | float] = []
        for i in range(count):
            start = offset + 2 + i * size
            raw = data[start : start + size]
            values.append(
                struct.unpack("<f", raw)[0] if sid == _FACTOR else int.from_bytes(raw, "little")
            )
        out[sid] = values
        offset += 2 + count * size
    return out


def parse_delta_frames(payload: bytes, channels: int, resolution_bits: int) -> NDArray[np.int64]:
    """Decode a delta-compressed PMD payload into ``(n, channels)`` int64 samples.

    Raises:
        DecodeError: ``too_short`` / ``bad_length`` / ``bad_header`` for a malformed payload.
    """
    ref_size = channels * math.ceil(resolution_bits / 8)
    width = ref_size // channels
    if len(payload) < ref_size:
        raise DecodeError("too_short", f"compressed payload of {len(payload)} bytes")
    ref = np.array(
        [
            int.from_bytes(payload[i * width : (i + 1) * width], "little", signed=True)
            for i in range(channels)
        ],
        dtype=np.int64,
    )
    deltas: list[NDArray[np.int64]] = []
    offset = ref_size
    while offset < len(payload):
        if offset + 2 > len(payload):
            raise DecodeError("bad_length", "truncated delta block header")
        bits, count = payload[offset], payload[offset + 1]
        offset += 2
        if not 1 <= bits <= 32:
            raise DecodeError("bad_header", f"delta width of {bits} bits")
        total_bits = bits * count * channels
        nbytes = math.ceil(total_bits / 8)
        if offset + nbytes > len(payload):
            raise DecodeError("bad_length", f"delta block needs {nbytes} bytes")
        raw = np.frombuffer(payload, dtype=np.uint8, count=nbytes, offset=offset)
        offset += nbytes
        if count == 0:
            continue
        flat = np.unpackbits(raw, bitorder="little")[:total_bits].reshape(-1, bits)
        values = flat.astype(np.int64) @ (np.int64(1) << np.arange(bits, dtype=np.int64))
        sign = np.int64(1) << (bits - 1)
        values = (values ^ sign) - sign  # sign-extend
        deltas.append(values.reshape(count, channels))
    if not deltas:
        return ref.reshape(1, channels)
    steps = np.vstack([ref.reshape(1, channels), *deltas])
    return np.cumsum(steps, axis=0)


def _raw_ints(payload: bytes, width: int) -> NDArray[np.int64]:
    size = width * _CHANNELS
    if len(payload) == 0 or len(payload) % size:
        raise DecodeError("bad_length", f"raw payload of {len(payload)} bytes is not N × {size}")
    if width == 3:
        b = np.frombuffer(payload, dtype=np.uint8).reshape(-1, 3).astype(np.int64)
        v = b[:, 0] | b[:, 1] << 8 | b[:, 2] << 16
        v = (v ^ (1 << 23)) - (1 << 23)
        return v.reshape(-1, _CHANNELS)
    dtype = {1: "i1", 2: "<i2"}[width]
    return np.frombuffer(payload, dtype=dtype).astype(np.int64).reshape(-1, _CHANNELS)


class PolarPmdDecoder(Decoder):
    """PMD data frames (ACC / GYRO, raw or delta-compressed) and control point responses."""

    def __init__(self, profile: Profile, params: Mapping[str, ParamValue]) -> None:
        self._ctx = DecoderContext(profile, params)
        self._resolution = int(param_float(profile, params, "resolution_bits"))
        if not 1 <= self._resolution <= 32:
            raise ConfigError(f"profile {profile.name}: resolution_bits must be 1..32")
        self._factor = {
            PMD_ACC: param_float(profile, params, "acc_factor"),
            PMD_GYRO: param_float(profile, params, "gyr_factor"),
        }

    @property
    def factors(self) -> dict[int, float]:
        """Current factor per measurement type (2 ACC, 5 GYRO)."""
        return dict(self._factor)

    def _response(self, data: bytes) -> None:
        if len(data) < 4:
            raise DecodeError("too_short", "control point response shorter than 4 bytes")
        op, mtype, status = data[1], data[2], data[3]
        if op == _OP_START and status == 0 and mtype in self._factor and len(data) > 5:
            factor = parse_pmd_settings(data[5:]).get(_FACTOR)
            if factor and math.isfinite(factor[0]) and factor[0] > 0:
                self._factor[mtype] = float(factor[0])

    def _decode(self, data: bytes) -> DecodedPacket | None:
        if data[:1] == bytes([_RESPONSE]):
            self._response(data)
            return None
        if len(data) < _HEADER + 1:
            raise DecodeError("too_short", f"{len(data)} bytes, need at least {_HEADER + 1}")
        mtype = data[0]
        if mtype not in (PMD_ACC, PMD_GYRO):
            raise DecodeError("unknown_measurement_type", f"measurement type {mtype}")
        tick = int.from_bytes(data[1:9], "little")
        frame = data[9]
        compressed, ftype = bool(frame & 0x80), frame & 0x7F
        payload = data[_HEADER:]
        factor = self._factor[mtype]
        if mtype == PMD_ACC:
            if compressed and ftype in (0, 1):
                raw = parse_delta_frames(payload, _CHANNELS, 16 if ftype == 1 else self._resolution)
                values = raw * (factor * 1000.0 if ftype == 0 else factor)  # → mG
            elif not compressed and ftype in (0, 1, 2):
                values = _raw_ints(payload, ftype + 1).astype(np.float64)  # mG
            else:
                raise DecodeError("unknown_frame_type", f"ACC frame type 0x{frame:02x}")
            acc = np.asarray(values * self._ctx.acc_factor, dtype=np.float64)
            check_finite(acc, "acceleration")
            return self._packet(tick, acc, None)
        if compressed and ftype in (0, 1):
            raw = parse_delta_frames(payload, _CHANNELS, self._resolution)
        elif not compressed and ftype == 0:
            raw = _raw_ints(payload, 2)
        else:
            raise DecodeError("unknown_frame_type", f"GYRO frame type 0x{frame:02x}")
        gyr = np.asarray(raw * factor * self._ctx.gyro_factor, dtype=np.float64)
        check_finite(gyr, "angular rate")
        return self._packet(tick, None, gyr)

    def _packet(
        self, tick: int, acc: NDArray[np.float64] | None, gyr: NDArray[np.float64] | None
    ) -> DecodedPacket:
        return DecodedPacket(
            seq=None,
            tick=tick,
            tick_unit_s=self._ctx.tick_unit_s,
            acc_m_s2=None if acc is None else np.asarray(acc, dtype=np.float64),
            gyr_deg_s=None if gyr is None else np.asarray(gyr, dtype=np.float64),
            clipped=False,
            sample_period_s=self._ctx.sample_period_s,
        )
