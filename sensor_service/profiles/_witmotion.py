"""WitMotion BWT901BLE (BLE 5.0) stream (FIRMWARE.md §6).

Source: WitMotion WT901BLE protocol manual. Packet ``55 61`` + 9 × int16: acc × 16/32768 g, gyro
× 2000/32768 deg/s, angles × 180/32768 deg (angles are dropped). A notification may carry several
packets or part of one: the decoder buffers bytes, resynchronises on ``55 61`` and skips other
WitMotion packets (``55 71`` register replies).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import numpy as np

from sensor_service.errors import DecodeError
from sensor_service.profiles._common import DecoderContext, int_saturated
from sensor_service.profiles._model import DecodedPacket, Decoder, ParamValue, Profile

__all__ = ["WitMotionDecoder"]

_SYNC: Final = b"\x55\x61"
_REPLY: Final = b"\x55\x71"
_PACKET: Final = 20


class WitMotionDecoder(Decoder):
    """Stateful stream decoder: all complete ``55 61`` packets in the buffer → one packet."""

    def __init__(self, profile: Profile, params: Mapping[str, ParamValue]) -> None:
        self._ctx = DecoderContext(profile, params)
        self._buf = b""
        #: Bytes skipped while looking for ``55 61`` since the decoder was built.
        self.skipped_bytes = 0

    def reset(self) -> None:
        """Drop buffered bytes."""
        self._buf = b""

    def _decode(self, data: bytes) -> DecodedPacket | None:
        buf = self._buf + data
        packets: list[bytes] = []
        garbage = 0
        replies = 0
        while True:
            idx = buf.find(_SYNC)
            reply = buf.find(_REPLY)
            if 0 <= reply < (idx if idx >= 0 else len(buf)):
                if len(buf) - reply < _PACKET:
                    garbage += reply
                    buf = buf[reply:]
                    break
                garbage += reply
                replies += 1
                buf = buf[reply + _PACKET :]
                continue
            if idx < 0:
                keep = 1 if buf.endswith(b"\x55") else 0
                garbage += len(buf) - keep
                buf = buf[len(buf) - keep :]
                break
            garbage += idx
            buf = buf[idx:]
            if len(buf) < _PACKET:
                break
            packets.append(buf[:_PACKET])
            buf = buf[_PACKET:]
        self._buf = buf
        self.skipped_bytes += garbage
        if not packets:
            if garbage and not replies and len(buf) <= 1:
                raise DecodeError("bad_header", f"no 55 61 packet in {len(data)} bytes")
            return None  # a fragment (or a register reply): wait for more
        raw = np.frombuffer(b"".join(p[2:] for p in packets), dtype="<i2").reshape(-1, 9)
        acc_raw, gyr_raw = raw[:, 0:3], raw[:, 3:6]
        return DecodedPacket(
            seq=None,
            tick=None,
            tick_unit_s=self._ctx.tick_unit_s,
            acc_m_s2=acc_raw.astype(np.float64) * self._ctx.acc_factor,
            gyr_deg_s=gyr_raw.astype(np.float64) * self._ctx.gyro_factor,
            clipped=int_saturated(acc_raw, acc_raw.dtype) or int_saturated(gyr_raw, gyr_raw.dtype),
            sample_period_s=self._ctx.sample_period_s,
        )
