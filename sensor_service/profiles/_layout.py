"""Generic decoder for a declared little-endian struct layout (``[decoder.layout]``).

Header fields with special names: ``seq`` (sequence number), ``tick`` (pod clock), ``flags``
(bits named by ``flag_bits``: ``gyro_present``, ``clipped``). Sample fields ``ax ay az`` and
``gx gy gz`` are acceleration and angular rate in ``[scaling]`` units; any other field (and
``_``) is skipped. Used by footpod-imu-v1 (FIRMWARE.md §0) and Thingy:52 (§5).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from sensor_service.errors import DecodeError
from sensor_service.profiles._common import DecoderContext, check_finite, int_saturated
from sensor_service.profiles._model import DecodedPacket, Decoder, ParamValue, Profile
from sensor_service.profiles._units import FIELD_TYPES

__all__ = ["LayoutDecoder"]


def _dtype(fields: tuple[tuple[str, str], ...]) -> np.dtype[np.void]:
    names: list[str] = []
    formats: list[str] = []
    for i, (name, ftype) in enumerate(fields):
        names.append(f"_{i}" if name == "_" else name)
        formats.append(FIELD_TYPES[ftype])
    return np.dtype({"names": names, "formats": formats})


class LayoutDecoder(Decoder):
    """Decodes ``header + N × sample`` notifications as declared by a profile."""

    def __init__(self, profile: Profile, params: Mapping[str, ParamValue]) -> None:
        spec = profile.decoder
        self._ctx = DecoderContext(profile, params)
        self._header = _dtype(spec.header)
        self._sample = _dtype(spec.sample)
        self._min = spec.min_samples
        self._max = spec.max_samples
        self._expect = dict(spec.expect)
        self._flag_bits = dict(spec.flag_bits)
        names = {n for n, _ in spec.sample}
        self._acc = ("ax", "ay", "az") if {"ax", "ay", "az"} <= names else None
        self._gyr = ("gx", "gy", "gz") if {"gx", "gy", "gz"} <= names else None

    def _block(
        self, rows: np.ndarray, fields: tuple[str, str, str], factor: float, what: str
    ) -> tuple[np.ndarray, bool]:
        raw = np.column_stack([rows[f] for f in fields])
        clipped = np.issubdtype(raw.dtype, np.integer) and int_saturated(raw, raw.dtype)
        values = raw.astype(np.float64) * factor
        check_finite(values, what)
        return values, clipped

    def _decode(self, data: bytes) -> DecodedPacket | None:
        hsize, ssize = self._header.itemsize, self._sample.itemsize
        if len(data) < hsize + self._min * ssize:
            raise DecodeError("too_short", f"{len(data)} bytes, need {hsize + self._min * ssize}")
        body = len(data) - hsize
        n, rest = divmod(body, ssize)
        if rest or not self._min <= n <= self._max:
            raise DecodeError(
                "bad_length",
                f"{len(data)} bytes is not {hsize} + N × {ssize} with N in "
                f"{self._min}..{self._max}",
            )
        header = np.frombuffer(data, dtype=self._header, count=1)[0] if hsize else None
        fields = self._header.names or ()

        def value(name: str) -> int | None:
            return int(header[name]) if header is not None and name in fields else None

        for name, expected in self._expect.items():
            got = value(name)
            if got != expected:
                reason = "bad_version" if name == "version" else "bad_header"
                raise DecodeError(reason, f"{name} is {got}, expected {expected}")
        flags = value("flags") or 0
        gyro_present = True
        if "gyro_present" in self._flag_bits:
            gyro_present = bool(flags >> self._flag_bits["gyro_present"] & 1)
        clipped = "clipped" in self._flag_bits and bool(flags >> self._flag_bits["clipped"] & 1)
        rows = np.frombuffer(data, dtype=self._sample, count=n, offset=hsize)
        acc = gyr = None
        if self._acc is not None:
            acc, sat = self._block(rows, self._acc, self._ctx.acc_factor, "acceleration")
            clipped = clipped or sat
        if self._gyr is not None and gyro_present:
            gyr, sat = self._block(rows, self._gyr, self._ctx.gyro_factor, "angular rate")
            clipped = clipped or sat
        return DecodedPacket(
            seq=value("seq"),
            tick=value("tick"),
            tick_unit_s=self._ctx.tick_unit_s,
            acc_m_s2=acc,
            gyr_deg_s=gyr,
            clipped=clipped,
            sample_period_s=self._ctx.sample_period_s,
        )
