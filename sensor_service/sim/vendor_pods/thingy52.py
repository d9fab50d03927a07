"""Simulated Nordic Thingy:52, motion service raw data (FIRMWARE.md §5).

Protocol (Thingy:52 firmware; UUIDs from ``firmware_profiles/nordic-thingy52.toml``):

* Motion configuration (read / write, 9 bytes ``<HHHHB``): step counter interval ms,
  temperature compensation interval ms, magnetometer compensation interval ms, motion
  processing rate Hz (5..200), wake on motion. A write of another length or a rate outside
  5..200 Hz is refused with an ATT error (0x0D invalid length, 0x13 value not allowed).
* Raw data (notify): 9 × int16, acc g × 1024, gyro deg/s × 32, compass µT × 16 (a fixed
  simulated field), one sample per notification, at the motion rate, while a central is
  subscribed (unsubscribing stops the motion processing).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Final, Unpack

import numpy as np
from bumble import att, gatt
from numpy.typing import ArrayLike, NDArray

from sensor_service.errors import ConfigError
from sensor_service.sim.pod_peripheral import Notification, SampleSource
from sensor_service.sim.vendor_pods._base import PodOptions, VendorPod, clip_round

__all__ = [
    "THINGY_ACC_LSB_PER_G",
    "THINGY_COMPASS_LSB_PER_UT",
    "THINGY_GYR_LSB_PER_DPS",
    "Thingy52Pod",
    "encode_thingy_config",
    "encode_thingy_raw",
]

THINGY_ACC_LSB_PER_G: Final = 1024.0
THINGY_GYR_LSB_PER_DPS: Final = 32.0
THINGY_COMPASS_LSB_PER_UT: Final = 16.0
CONFIG_FORMAT: Final = "<HHHHB"
_MIN_RATE_HZ: Final = 5
_MAX_RATE_HZ: Final = 200
_COMPASS_UT: Final = np.array([20.0, 0.0, -40.0])


def encode_thingy_config(
    rate_hz: int,
    *,
    step_interval_ms: int = 100,
    temp_interval_ms: int = 100,
    mag_interval_ms: int = 100,
    wake_on_motion: bool = True,
) -> bytes:
    """The 9-byte motion configuration value."""
    return struct.pack(
        CONFIG_FORMAT,
        step_interval_ms,
        temp_interval_ms,
        mag_interval_ms,
        rate_hz,
        int(wake_on_motion),
    )


def encode_thingy_raw(acc_raw: ArrayLike, gyr_raw: ArrayLike, compass_raw: ArrayLike) -> bytes:
    """One raw data notification: acc, gyro, compass as 3 int16 each (18 bytes)."""
    values = np.concatenate(
        [np.asarray(v, dtype=np.int64).reshape(3) for v in (acc_raw, gyr_raw, compass_raw)]
    )
    if values.min() < -32768 or values.max() > 32767:
        raise ConfigError("Thingy:52 raw values must fit int16")
    return values.astype("<i2").tobytes()


class Thingy52Pod(VendorPod):
    """A Thingy:52 streaming raw motion data (profile ``nordic-thingy52``).

    Options: those of ``VendorPod`` (``rate_hz`` is the motion rate until a config write).
    """

    profile_name = "nordic-thingy52"

    def __init__(self, *, name: str, source: SampleSource, **kwargs: Unpack[PodOptions]) -> None:
        super().__init__(name=name, source=source, **kwargs)
        rate = round(self.sampling_rate_hz)
        if not _MIN_RATE_HZ <= rate <= _MAX_RATE_HZ:
            raise ConfigError(f"Thingy:52 motion rate {rate} Hz is not in 5..200")
        self.config = encode_thingy_config(rate)
        self._raw: gatt.Characteristic[bytes] | None = None

    def _build_services(self) -> list[gatt.Service]:
        props = gatt.Characteristic.Properties
        config = self._char(
            self._uuid("control"),
            props.READ | props.WRITE,
            read=lambda: self.config,
            write=self._configure,
        )
        self._raw = self._char(self._uuid("data"), props.NOTIFY)
        return [
            gatt.Service(self.profile.gatt.service, [config, self._raw]),
            self._battery_service(),
        ]

    def _configure(self, value: bytes) -> None:
        if len(value) != struct.calcsize(CONFIG_FORMAT):
            raise att.ATT_Error(att.ErrorCode.INVALID_ATTRIBUTE_LENGTH)
        rate = struct.unpack(CONFIG_FORMAT, value)[3]
        if not _MIN_RATE_HZ <= rate <= _MAX_RATE_HZ:
            raise att.ATT_Error(att.ErrorCode.VALUE_NOT_ALLOWED)
        self.config = bytes(value)
        self.sampling_rate_hz = float(rate)

    def _on_subscription(self, char: gatt.Characteristic[bytes], was: bool, now: bool) -> None:
        if char is self._raw:
            if now:
                self._start_stream()
            elif was:
                self._cancel_stream()

    def _encode(
        self, acc: NDArray[np.float64], gyr: NDArray[np.float64], t_first_s: float
    ) -> Sequence[Notification]:
        assert self._raw is not None
        acc_raw = clip_round(self._g(acc) * THINGY_ACC_LSB_PER_G, 32767)
        gyr_raw = clip_round(gyr * THINGY_GYR_LSB_PER_DPS, 32767)
        compass = clip_round(_COMPASS_UT * THINGY_COMPASS_LSB_PER_UT, 32767)
        return [
            (self._raw, encode_thingy_raw(a, g, compass))
            for a, g in zip(acc_raw, gyr_raw, strict=True)
        ]
