"""Simulated Polar Verity Sense: PMD service, ACC and GYRO streams (FIRMWARE.md §3).

Protocol (polar-ble-sdk; UUIDs from ``firmware_profiles/polar-pmd.toml``):

* Control point (read / write / indicate). Read: ``0F <u16 measurement type bits>``. Writes:
  get settings ``01 <type>``, start ``02 <type> {setting id, count, values}…``, stop
  ``03 <type>``; types ACC 2 and GYRO 5. Every write is answered by an indication
  ``F0 <op> <type> <status> <more=0> [settings]``; status 0 ok, 2 invalid measurement type,
  5 invalid parameter, 6 already in state, 7 invalid resolution, 8 invalid sample rate,
  9 invalid range (polar-ble-sdk ``PmdControlPointResponseCode``). The start response carries
  the factor (setting 5, f32) for GYRO and, in ``acc_frames="delta_factor"``, for ACC.
* Data frames: ``u8 type | u64 ns since 2000-01-01 of the LAST sample | u8 frame type |
  payload``. ACC ``raw`` 0x01: int16×3 mG; ``delta`` 0x81: delta-compressed mG (newer Verity
  Sense, no factor); ``delta_factor`` 0x80: delta-compressed, g = value × factor (older
  firmware, factor 0.000244). GYRO: ``raw`` 0x00 int16 × factor, else 0x80 compressed ×
  factor (deg/s). Compression (:func:`encode_delta_payload`): a 16-bit reference sample, then
  blocks ``[u8 bits][u8 count][packed deltas, LSB first]``.
* ACC and GYRO share one measurement clock and rate (a second start at another rate is
  refused with status 8). Measurements stop when the link drops, as on the device.
"""

from __future__ import annotations

import math
import struct
import time
from collections.abc import Sequence
from typing import Final, Literal, Unpack

import numpy as np
from bumble import att, gatt
from numpy.typing import ArrayLike, NDArray

from sensor_service.errors import ConfigError
from sensor_service.sim.pod_peripheral import Notification, SampleSource
from sensor_service.sim.vendor_pods._base import PodOptions, VendorPod, clip_round

__all__ = [
    "PMD_ACC",
    "PMD_GYRO",
    "POLAR_EPOCH_UNIX_S",
    "PolarPmdPod",
    "encode_delta_payload",
    "encode_pmd_frame",
    "encode_pmd_response",
]

PMD_ACC: Final = 2
PMD_GYRO: Final = 5
POLAR_EPOCH_UNIX_S: Final = 946_684_800  # 2000-01-01T00:00:00Z
OP_GET_SETTINGS: Final = 1
OP_START: Final = 2
OP_STOP: Final = 3
RESPONSE: Final = 0xF0
STATUS_OK: Final = 0
STATUS_INVALID_OP: Final = 1
STATUS_INVALID_TYPE: Final = 2
STATUS_INVALID_LENGTH: Final = 4
STATUS_INVALID_PARAMETER: Final = 5
STATUS_ALREADY_IN_STATE: Final = 6
STATUS_INVALID_RESOLUTION: Final = 7
STATUS_INVALID_RATE: Final = 8
STATUS_INVALID_RANGE: Final = 9
SETTING_RATE: Final = 0
SETTING_RESOLUTION: Final = 1
SETTING_RANGE: Final = 2
SETTING_CHANNELS: Final = 4
SETTING_FACTOR: Final = 5
_SETTING_SIZES: Final = {0: 2, 1: 2, 2: 2, 3: 4, 4: 1, 5: 4, 6: 16}
_RATES_HZ: Final = (25, 26, 50, 52, 100, 104, 200, 208, 416)  # H10 and Verity Sense
_ACC_RANGES_G: Final = (2, 4, 8, 16)
_GYR_RANGES_DPS: Final = (250, 500, 1000, 2000)
_HEADER: Final = 10
_WORST_DELTA_BITS: Final = 17  # the difference of two int16 values
AccFrames = Literal["raw", "delta", "delta_factor"]


def encode_pmd_response(op: int, mtype: int, status: int, settings: bytes = b"") -> bytes:
    """A control point response ``F0 <op> <type> <status> 00 [settings]``."""
    return bytes([RESPONSE, op, mtype, status, 0]) + settings


def _setting(sid: int, values: Sequence[int | float]) -> bytes:
    size = _SETTING_SIZES[sid]
    body = b"".join(
        struct.pack("<f", v) if sid == SETTING_FACTOR else int(v).to_bytes(size, "little")
        for v in values
    )
    return bytes([sid, len(values)]) + body


def _parse_settings(data: bytes) -> dict[int, list[int]] | None:
    out: dict[int, list[int]] = {}
    offset = 0
    while offset < len(data):
        if offset + 2 > len(data) or data[offset] not in _SETTING_SIZES:
            return None
        sid, count = data[offset], data[offset + 1]
        size = _SETTING_SIZES[sid]
        end = offset + 2 + count * size
        if end > len(data):
            return None
        out[sid] = [
            int.from_bytes(data[offset + 2 + i * size : offset + 2 + (i + 1) * size], "little")
            for i in range(count)
        ]
        offset = end
    return out


def _signed_bits(values: NDArray[np.int64]) -> int:
    """Bits of the narrowest two's complement field holding every value (at least 1)."""
    if values.size == 0:
        return 1
    hi, lo = int(values.max()), int(values.min())
    positive = hi.bit_length() + 1 if hi > 0 else 1
    negative = (-lo - 1).bit_length() + 1 if lo < 0 else 1
    return max(positive, negative)


def encode_delta_payload(
    samples: ArrayLike, *, resolution_bits: int = 16, block_samples: int = 255
) -> bytes:
    """Delta-compress ``(n, channels)`` integer samples as a PMD compressed payload.

    The first sample is the reference (``ceil(resolution_bits / 8)`` signed bytes per channel);
    the following samples' differences go in blocks of at most ``block_samples`` samples, each
    block ``[u8 bits][u8 count][count × channels deltas of ``bits`` bits, LSB first]`` with the
    narrowest width holding the block's deltas.
    """
    raw = np.asarray(samples, dtype=np.int64)
    if raw.ndim != 2 or raw.shape[0] == 0:
        raise ConfigError("delta compression needs (n >= 1, channels) samples")
    if not 1 <= block_samples <= 255:
        raise ConfigError("block_samples must be 1..255")
    width = math.ceil(resolution_bits / 8)
    out = bytearray()
    for value in raw[0]:
        out += int(value).to_bytes(width, "little", signed=True)
    deltas = np.diff(raw, axis=0)
    for start in range(0, len(deltas), block_samples):
        block = deltas[start : start + block_samples]
        bits = _signed_bits(block)
        masked = block.reshape(-1) & ((1 << bits) - 1)
        bit_array = (masked[:, None] >> np.arange(bits, dtype=np.int64)) & 1
        out += bytes([bits, len(block)])
        out += np.packbits(bit_array.astype(np.uint8).reshape(-1), bitorder="little").tobytes()
    return bytes(out)


def encode_pmd_frame(mtype: int, t_last_ns: int, frame_type: int, payload: bytes) -> bytes:
    """A PMD data frame: type, u64 timestamp (ns since 2000, last sample), frame type, payload."""
    return struct.pack("<BQB", mtype, t_last_ns & 0xFFFFFFFFFFFFFFFF, frame_type) + payload


class PolarPmdPod(VendorPod):
    """A Polar Verity Sense streaming ACC and GYRO over PMD (profile ``polar-pmd``).

    Options: ``acc_frames`` (``"delta"`` 0x81 default, ``"delta_factor"`` 0x80 with
    ``acc_factor``, ``"raw"`` type 1), ``gyro_frames`` (``"delta"`` 0x80 default or ``"raw"``),
    ``acc_factor`` (g per count in 0x80 frames, 0.000244), ``gyr_factor`` (deg/s per count,
    2000/32768), ``gyro`` (False: an H10/OH1 without gyro: GYRO start answers status 2),
    ``samples_per_frame`` (default: as many as fit the link, at most 36), ``block_samples``
    (delta block size), ``clock_offset_ns`` (pod clock at power-on, ns since 2000-01-01;
    default the wall clock), ``clock_drift_ppm``; plus those of ``VendorPod``.
    """

    profile_name = "polar-pmd"

    def __init__(
        self,
        *,
        name: str,
        source: SampleSource,
        acc_frames: AccFrames = "delta",
        gyro_frames: Literal["raw", "delta"] = "delta",
        acc_factor: float = 0.000244,
        gyr_factor: float = 2000.0 / 32768.0,
        gyro: bool = True,
        samples_per_frame: int | None = None,
        block_samples: int = 255,
        clock_offset_ns: int | None = None,
        clock_drift_ppm: float = 0.0,
        **kwargs: Unpack[PodOptions],
    ) -> None:
        super().__init__(name=name, source=source, **kwargs)
        if acc_frames not in ("raw", "delta", "delta_factor"):
            raise ConfigError(f"acc_frames {acc_frames!r} is not raw, delta or delta_factor")
        if gyro_frames not in ("raw", "delta"):
            raise ConfigError(f"gyro_frames {gyro_frames!r} is not raw or delta")
        if not (acc_factor > 0 and gyr_factor > 0):
            raise ConfigError("acc_factor and gyr_factor must be > 0")
        self.acc_frames: AccFrames = acc_frames
        self.gyro_frames = gyro_frames
        self.acc_factor = float(np.float32(acc_factor))  # as sent, float32
        self.gyr_factor = float(np.float32(gyr_factor))
        self.gyro = gyro
        self.samples_per_frame = samples_per_frame
        self.block_samples = block_samples
        if clock_offset_ns is None:
            clock_offset_ns = int((time.time() - POLAR_EPOCH_UNIX_S) * 1e9)
        self.clock_offset_ns = int(clock_offset_ns)
        self.clock_drift_ppm = float(clock_drift_ppm)
        self.acc_range_g = 8
        self.gyr_range_dps = 2000
        self.started: set[int] = set()
        self._control: gatt.Characteristic[bytes] | None = None
        self._data: gatt.Characteristic[bytes] | None = None

    def _build_services(self) -> list[gatt.Service]:
        props = gatt.Characteristic.Properties
        self._control = self._char(
            self._uuid("control"),
            props.READ | props.WRITE | props.INDICATE,
            read=self._features,
            write=self._on_control,
        )
        self._data = self._char(self._uuid("data"), props.NOTIFY)
        return [
            gatt.Service(self.profile.gatt.service, [self._control, self._data]),
            self._battery_service(),
        ]

    def _features(self) -> bytes:
        bits = 1 << PMD_ACC | (1 << PMD_GYRO if self.gyro else 0)
        return bytes([0x0F]) + bits.to_bytes(2, "little")

    def _on_link_down(self) -> None:
        self.started.clear()
        self._cancel_stream()

    def _answer(self, op: int, mtype: int, status: int, settings: bytes = b"") -> None:
        assert self._control is not None
        self._respond(self._control, encode_pmd_response(op, mtype, status, settings))

    def _on_control(self, value: bytes) -> None:
        if len(value) < 2:
            raise att.ATT_Error(att.ErrorCode.INVALID_ATTRIBUTE_LENGTH)
        op, mtype = value[0], value[1]
        known = mtype == PMD_ACC or (mtype == PMD_GYRO and self.gyro)
        if op not in (OP_GET_SETTINGS, OP_START, OP_STOP):
            self._answer(op, mtype, STATUS_INVALID_OP)
        elif not known:
            self._answer(op, mtype, STATUS_INVALID_TYPE)
        elif op == OP_GET_SETTINGS:
            ranges = _ACC_RANGES_G if mtype == PMD_ACC else _GYR_RANGES_DPS
            self._answer(
                op,
                mtype,
                STATUS_OK,
                _setting(SETTING_RATE, _RATES_HZ)
                + _setting(SETTING_RESOLUTION, [16])
                + _setting(SETTING_RANGE, ranges)
                + _setting(SETTING_CHANNELS, [3]),
            )
        elif op == OP_START:
            self._start(mtype, value[2:])
        else:
            if mtype not in self.started:
                self._answer(op, mtype, STATUS_ALREADY_IN_STATE)
                return
            self.started.discard(mtype)
            if not self.started:
                self._cancel_stream()
            self._answer(op, mtype, STATUS_OK)

    def _start(self, mtype: int, body: bytes) -> None:
        settings = _parse_settings(body)
        if settings is None:
            self._answer(OP_START, mtype, STATUS_INVALID_LENGTH)
            return
        if mtype in self.started:
            self._answer(OP_START, mtype, STATUS_ALREADY_IN_STATE)
            return
        rate = settings.get(SETTING_RATE, [0])[0]
        resolution = settings.get(SETTING_RESOLUTION, [16])[0]
        ranges = _ACC_RANGES_G if mtype == PMD_ACC else _GYR_RANGES_DPS
        default_range = self.acc_range_g if mtype == PMD_ACC else self.gyr_range_dps
        value_range = settings.get(SETTING_RANGE, [default_range])[0]
        if rate not in _RATES_HZ or (self.started and rate != self.sampling_rate_hz):
            self._answer(OP_START, mtype, STATUS_INVALID_RATE)
            return
        if resolution != 16:
            self._answer(OP_START, mtype, STATUS_INVALID_RESOLUTION)
            return
        if value_range not in ranges:
            self._answer(OP_START, mtype, STATUS_INVALID_RANGE)
            return
        if settings.get(SETTING_CHANNELS, [3])[0] != 3:
            self._answer(OP_START, mtype, STATUS_INVALID_PARAMETER)
            return
        if mtype == PMD_ACC:
            self.acc_range_g = value_range
        else:
            self.gyr_range_dps = value_range
        self.sampling_rate_hz = float(rate)
        self.started.add(mtype)
        self._start_stream()
        send_factor = mtype == PMD_GYRO or self.acc_frames == "delta_factor"
        factor = self.acc_factor if mtype == PMD_ACC else self.gyr_factor
        self._answer(
            OP_START, mtype, STATUS_OK, _setting(SETTING_FACTOR, [factor]) if send_factor else b""
        )

    def _samples_per_packet(self, att_mtu: int) -> int:
        room = att_mtu - 3 - _HEADER
        raw_cap = room // 6
        delta_cap = 1 + ((room - 6 - 2) * 8) // (3 * _WORST_DELTA_BITS)
        cap = max(1, min(raw_cap, delta_cap, 36))
        return cap if self.samples_per_frame is None else max(1, min(self.samples_per_frame, cap))

    def _tick_ns(self, t_s: float) -> int:
        return self.clock_offset_ns + round(t_s * 1e9 * (1.0 + self.clock_drift_ppm * 1e-6))

    def acc_counts(self, acc_m_s2: NDArray[np.float64]) -> NDArray[np.int64]:
        """ACC in the integers the configured frames carry (mG, or g / factor), saturated."""
        g = self._g(acc_m_s2)
        if self.acc_frames == "delta_factor":
            return clip_round(
                np.clip(g, -self.acc_range_g, self.acc_range_g) / self.acc_factor, 32767
            )
        return clip_round(g * 1000.0, min(self.acc_range_g * 1000, 32767))

    def gyr_counts(self, gyr_deg_s: NDArray[np.float64]) -> NDArray[np.int64]:
        """GYRO counts (deg/s / factor), saturated at the range."""
        limit = min(self.gyr_range_dps / self.gyr_factor, 32767)
        return clip_round(np.asarray(gyr_deg_s) / self.gyr_factor, limit)

    def _encode(
        self, acc: NDArray[np.float64], gyr: NDArray[np.float64], t_first_s: float
    ) -> Sequence[Notification]:
        assert self._data is not None
        tick = self._tick_ns(t_first_s + (len(acc) - 1) / self.sampling_rate_hz)
        out: list[Notification] = []
        if PMD_ACC in self.started:
            counts = self.acc_counts(acc)
            if self.acc_frames == "raw":
                frame_type, payload = 0x01, counts.astype("<i2").tobytes()
            else:
                frame_type = 0x81 if self.acc_frames == "delta" else 0x80
                payload = encode_delta_payload(counts, block_samples=self.block_samples)
            out.append((self._data, encode_pmd_frame(PMD_ACC, tick, frame_type, payload)))
        if PMD_GYRO in self.started:
            counts = self.gyr_counts(gyr)
            if self.gyro_frames == "raw":
                frame_type, payload = 0x00, counts.astype("<i2").tobytes()
            else:
                frame_type = 0x80
                payload = encode_delta_payload(counts, block_samples=self.block_samples)
            out.append((self._data, encode_pmd_frame(PMD_GYRO, tick, frame_type, payload)))
        return out
