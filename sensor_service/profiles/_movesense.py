"""Movesense GATT SensorData Protocol, ``/Meas/IMU6`` and ``/Meas/IMU9`` (FIRMWARE.md §2).

Source: Movesense ``gatt_sensordata_app`` sample (default firmware from 2.3.0). Notification:
``u8 type (1 result, 2 data, 3 data part 2) | u8 ref | u32 timestamp ms of the first sample |
N×3 f32 acc (m/s²) | N×3 f32 gyro (deg/s) [| N×3 f32 mag]``. Payloads over 150 bytes arrive in
two parts: type 2 then type 3 with the same 2-byte header, joined as ``part1 + part2[2:]``. A
type-2 packet whose body is not a whole number of samples is taken as part 1. No real capture
was found: the tests build vectors from this layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import numpy as np

from sensor_service.errors import DecodeError
from sensor_service.profiles._common import (
    DecoderContext,
    check_finite,
    param_float,
    param_str,
)
from sensor_service.profiles._model import DecodedPacket, Decoder, ParamValue, Profile

__all__ = ["MovesenseDecoder"]

_RESULT: Final = 1
_DATA: Final = 2
_DATA_PART2: Final = 3
_HEADER: Final = 6  # type, ref, u32 timestamp
_MAX_JOINED: Final = 512  # far above 150 + one MTU; guards the fragment buffer


class MovesenseDecoder(Decoder):
    """Joins split notifications and decodes IMU6/IMU9 float blocks (stateful)."""

    def __init__(self, profile: Profile, params: Mapping[str, ParamValue]) -> None:
        self._ctx = DecoderContext(profile, params)
        self._ref = int(param_float(profile, params, "ref"))
        sensors = param_str(profile, params, "sensors", ("IMU6", "IMU9"))
        self._channels = 6 if sensors == "IMU6" else 9
        self._sample_bytes = 4 * self._channels  # float32 per channel
        self._pending: bytes | None = None

    def reset(self) -> None:
        """Drop a pending part 1."""
        self._pending = None

    def _decode(self, data: bytes) -> DecodedPacket | None:
        if len(data) < 2:
            raise DecodeError("too_short", f"{len(data)} bytes, need the 2-byte header")
        kind, ref = data[0], data[1]
        if kind == _RESULT:
            return None  # response to a command: no samples
        if kind not in (_DATA, _DATA_PART2):
            self._pending = None
            raise DecodeError("unknown_frame_type", f"packet type {kind}")
        if ref != self._ref:
            raise DecodeError("bad_header", f"reference {ref}, subscribed as {self._ref}")
        if kind == _DATA_PART2:
            if self._pending is None:
                raise DecodeError("orphan_fragment", "data part 2 without part 1")
            data = self._pending + data[2:]
            self._pending = None
            if len(data) > _MAX_JOINED:
                raise DecodeError("bad_length", f"joined packet of {len(data)} bytes")
            return self._samples(data, joined=True)
        self._pending = None
        if len(data) < _HEADER + self._sample_bytes:
            raise DecodeError(
                "too_short", f"{len(data)} bytes, need {_HEADER + self._sample_bytes}"
            )
        if (len(data) - _HEADER) % self._sample_bytes:
            self._pending = data  # part 1: the rest follows as type 3
            return None
        return self._samples(data, joined=False)

    def _samples(self, data: bytes, *, joined: bool) -> DecodedPacket:
        body = len(data) - _HEADER
        n, rest = divmod(body, self._sample_bytes)
        if rest or n == 0:
            what = "joined packet" if joined else "packet"
            raise DecodeError(
                "bad_length", f"{what} body of {body} bytes is not N × {self._sample_bytes}"
            )
        tick = int.from_bytes(data[2:6], "little")
        values = np.frombuffer(data, dtype="<f4", offset=_HEADER).astype(np.float64)
        blocks = values.reshape(self._channels // 3, n, 3)
        acc = blocks[0] * self._ctx.acc_factor
        gyr = blocks[1] * self._ctx.gyro_factor
        check_finite(acc, "acceleration")
        check_finite(gyr, "angular rate")
        return DecodedPacket(
            seq=None,
            tick=tick,
            tick_unit_s=self._ctx.tick_unit_s,
            acc_m_s2=acc,
            gyr_deg_s=gyr,
            clipped=False,
            sample_period_s=self._ctx.sample_period_s,
        )
