"""MbientLab MetaMotion (MetaWear) accelerometer and gyro streams (FIRMWARE.md §4).

Source: MetaWear-SDK-Cpp (``accelerometer_bosch_register.h``, ``gyro_bosch_register.h``).
Notifications are ``[module, register, data…]``: accelerometer module 0x03 (data 0x04, packed
0x1C on BMI160, 0x05 on BMI270 — the BMI270 register is unverified), gyro module 0x13 (data 0x05,
packed 0x07). Samples are int16 x, y, z; packed notifications carry three samples. Scales depend
on the configured range: g = raw / {16384, 8192, 4096, 2048} for ±{2, 4, 8, 16} g and deg/s =
raw / {16.4, 32.8, 65.6, 131.2, 262.4} for {2000, 1000, 500, 250, 125} dps (parameters
``acc_range_g``, ``gyr_range_dps``). The chip-identification reply ``[module, 0x80, impl, …]``
(acc impl 1 = BMI160, 4 = BMI270) and other responses carry no samples: ``decode`` returns None.
No device timestamps: stamp on arrival.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import numpy as np

from sensor_service.errors import ConfigError, DecodeError
from sensor_service.profiles._common import DecoderContext, int_saturated, param_float
from sensor_service.profiles._model import DecodedPacket, Decoder, ParamValue, Profile

__all__ = ["ACC_LSB_PER_G", "GYR_LSB_PER_DPS", "MetaWearDecoder"]

ACC_MODULE: Final = 0x03
GYRO_MODULE: Final = 0x13
#: Accelerometer range (g) → LSB per g (BMI160 / BMI270).
ACC_LSB_PER_G: Final = {2: 16384.0, 4: 8192.0, 8: 4096.0, 16: 2048.0}
#: Gyro range (deg/s) → LSB per deg/s (BMI160 / BMI270).
GYR_LSB_PER_DPS: Final = {2000: 16.4, 1000: 32.8, 500: 65.6, 250: 131.2, 125: 262.4}
_ACC_SINGLE: Final = 0x04
_ACC_PACKED: Final = (0x1C, 0x05)
_GYRO_SINGLE: Final = 0x05
_GYRO_PACKED: Final = (0x07,)
_INFO_REGISTER: Final = 0x80
_ACC_CHIPS: Final = {1: "BMI160", 4: "BMI270"}


class MetaWearDecoder(Decoder):
    """Single and packed accelerometer / gyro data notifications of a MetaMotion board."""

    def __init__(self, profile: Profile, params: Mapping[str, ParamValue]) -> None:
        self._ctx = DecoderContext(profile, params)
        acc_range = param_float(profile, params, "acc_range_g")
        gyr_range = param_float(profile, params, "gyr_range_dps")
        if acc_range not in ACC_LSB_PER_G or gyr_range not in GYR_LSB_PER_DPS:
            raise ConfigError(
                f"profile {profile.name}: acc_range_g must be one of 2, 4, 8, 16 and "
                f"gyr_range_dps one of 125, 250, 500, 1000, 2000 (got {acc_range:g}, "
                f"{gyr_range:g})"
            )
        self._acc_scale = self._ctx.acc_factor / ACC_LSB_PER_G[int(acc_range)]
        self._gyr_scale = self._ctx.gyro_factor / GYR_LSB_PER_DPS[int(gyr_range)]
        self.chip: str | None = None

    def _decode(self, data: bytes) -> DecodedPacket | None:
        if len(data) < 2:
            raise DecodeError("too_short", f"{len(data)} bytes, need module and register")
        module, register = data[0], data[1]
        if module == ACC_MODULE and register == _INFO_REGISTER and len(data) >= 3:
            self.chip = _ACC_CHIPS.get(data[2], f"impl-{data[2]}")
            return None
        if module == ACC_MODULE and register == _ACC_SINGLE:
            packed = False
        elif module == ACC_MODULE and register in _ACC_PACKED:
            packed = True
        elif module == GYRO_MODULE and register == _GYRO_SINGLE:
            packed = False
        elif module == GYRO_MODULE and register in _GYRO_PACKED:
            packed = True
        else:
            return None  # a response of some module: no samples
        n = 3 if packed else 1
        if len(data) != 2 + 6 * n:
            raise DecodeError(
                "bad_length", f"{len(data)} bytes for {n} sample(s), expected {2 + 6 * n}"
            )
        raw = np.frombuffer(data, dtype="<i2", offset=2).reshape(n, 3)
        clipped = int_saturated(raw, raw.dtype)
        values = raw.astype(np.float64)
        is_acc = module == ACC_MODULE
        return DecodedPacket(
            seq=None,
            tick=None,
            tick_unit_s=self._ctx.tick_unit_s,
            acc_m_s2=values * self._acc_scale if is_acc else None,
            gyr_deg_s=None if is_acc else values * self._gyr_scale,
            clipped=clipped,
            sample_period_s=self._ctx.sample_period_s,
        )
