"""Simulated MbientLab MetaMotion (MetaWear) board, BMI160 or BMI270 (FIRMWARE.md §4).

Protocol (MetaWear-SDK-Cpp; UUIDs from ``firmware_profiles/mbientlab-metamotion.toml``):
commands ``[module, register, data…]`` on the command characteristic (write, with or without
response); everything the board says comes as notifications of the notify characteristic.

* Chip identification: ``[module, 0x80]`` → ``[module, 0x80, implementation, revision]``;
  accelerometer implementation 1 = BMI160, 4 = BMI270 (gyro: 0 on a BMI160, 1 on a BMI270 —
  the gyro values are unverified).
* Accelerometer (module 0x03): config ``03 03 <odr | bwp> <range>`` (BMI160 codes: odr low
  nibble 5..12 = 12.5..1600 Hz; range 0x03/0x05/0x08/0x0C = ±2/4/8/16 g — the simulator reads
  these codes on a BMI270 too, see below), data subscription ``03 04 01`` (single) or
  ``03 1C 01`` (packed; ``03 05 01`` on a BMI270), enable ``03 02 01 00``, start ``03 01 01``;
  stop ``03 01 00``, disable ``03 02 00 01``.
* Gyro (module 0x13): config ``13 03 <odr | bwp> <range>`` (odr 6..13 = 25..3200 Hz; range
  0..4 = 2000/1000/500/250/125 deg/s), subscription ``13 05 01`` (single) / ``13 07 01``
  (packed), enable ``13 02 01 00``, start ``13 01 01``.
* Data: ``03 04 x y z`` / ``13 05 x y z`` int16, one sample; packed registers carry three
  samples (20 bytes: fits ATT MTU 23). g = raw / {16384, 8192, 4096, 2048}; deg/s = raw /
  {16.4, 32.8, 65.6, 131.2, 262.4}. No device timestamps.

Accelerometer and gyro share one measurement clock at the accelerometer's rate. The BMI270's
own range encoding (unverified, 2 bits) is not modelled: the profile's start sequence writes
the BMI160 code 0x08 for both chips, and the simulator honours it on both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal, Unpack

import numpy as np
from bumble import att, gatt
from numpy.typing import ArrayLike, NDArray

from sensor_service.errors import ConfigError
from sensor_service.sim.pod_peripheral import Notification, SampleSource
from sensor_service.sim.vendor_pods._base import PodOptions, VendorPod, clip_round

__all__ = [
    "ACC_MODULE",
    "ACC_RANGE_CODES",
    "GYRO_MODULE",
    "GYR_RANGE_CODES",
    "MetaWearPod",
    "encode_metawear_data",
]

ACC_MODULE: Final = 0x03
GYRO_MODULE: Final = 0x13
REG_POWER: Final = 0x01
REG_ENABLE: Final = 0x02
REG_CONFIG: Final = 0x03
REG_INFO: Final = 0x80
ACC_DATA: Final = 0x04
GYRO_DATA: Final = 0x05
GYRO_PACKED: Final = 0x07
#: Accelerometer packed-data register per chip (MetaWear-SDK-Cpp; BMI270 unverified).
ACC_PACKED: Final = {"BMI160": 0x1C, "BMI270": 0x05}
ACC_IMPLEMENTATION: Final = {"BMI160": 1, "BMI270": 4}
GYRO_IMPLEMENTATION: Final = {"BMI160": 0, "BMI270": 1}
#: BMI160 accelerometer range code → (range g, LSB per g).
ACC_RANGE_CODES: Final = {
    0x03: (2, 16384.0),
    0x05: (4, 8192.0),
    0x08: (8, 4096.0),
    0x0C: (16, 2048.0),
}
#: Gyro range code → (range deg/s, LSB per deg/s).
GYR_RANGE_CODES: Final = {
    0: (2000, 16.4),
    1: (1000, 32.8),
    2: (500, 65.6),
    3: (250, 131.2),
    4: (125, 262.4),
}
_ACC_ODR_HZ: Final = {
    5: 12.5,
    6: 25.0,
    7: 50.0,
    8: 100.0,
    9: 200.0,
    10: 400.0,
    11: 800.0,
    12: 1600.0,
}
_GYR_ODR_HZ: Final = {
    6: 25.0,
    7: 50.0,
    8: 100.0,
    9: 200.0,
    10: 400.0,
    11: 800.0,
    12: 1600.0,
    13: 3200.0,
}


def encode_metawear_data(module: int, register: int, raw: ArrayLike) -> bytes:
    """A data notification ``[module, register, x y z int16…]`` (1 or 3 samples)."""
    values = np.asarray(raw, dtype=np.int64).reshape(-1, 3)
    if values.shape[0] not in (1, 3) or values.min() < -32768 or values.max() > 32767:
        raise ConfigError("MetaWear data carries 1 or 3 int16 samples")
    return bytes([module, register]) + values.astype("<i2").tobytes()


class _Sensor:
    """Stream state of one module (accelerometer or gyro)."""

    def __init__(self, odr_code: int, range_code: int) -> None:
        self.odr_code = odr_code
        self.range_code = range_code
        self.single = False
        self.packed = False
        self.enabled = False
        self.running = False

    @property
    def active(self) -> bool:
        return self.running and self.enabled and (self.single or self.packed)


class MetaWearPod(VendorPod):
    """A MetaMotion board streaming accelerometer and gyro (profile ``mbientlab-metamotion``).

    Options: ``chip`` (``"BMI160"`` default or ``"BMI270"``), ``packed`` (None: as subscribed;
    True / False: force packed / single notifications whatever register was subscribed),
    plus those of ``VendorPod``.
    """

    profile_name = "mbientlab-metamotion"

    def __init__(
        self,
        *,
        name: str,
        source: SampleSource,
        chip: Literal["BMI160", "BMI270"] = "BMI160",
        packed: bool | None = None,
        **kwargs: Unpack[PodOptions],
    ) -> None:
        super().__init__(name=name, source=source, **kwargs)
        if chip not in ACC_PACKED:
            raise ConfigError(f"chip {chip!r} is not BMI160 or BMI270")
        self.chip = chip
        self.packed = packed
        self.acc = _Sensor(0x29 & 0x0F, 0x08)
        self.gyr = _Sensor(0x29 & 0x0F, 0x00)
        self._notify: gatt.Characteristic[bytes] | None = None

    def _build_services(self) -> list[gatt.Service]:
        props = gatt.Characteristic.Properties
        command = self._char(
            self._uuid("control"), props.WRITE | props.WRITE_WITHOUT_RESPONSE, write=self._command
        )
        self._notify = self._char(self._uuid("data"), props.NOTIFY)
        return [
            gatt.Service(self.profile.gatt.service, [command, self._notify]),
            self._battery_service(),
        ]

    # -- commands ---------------------------------------------------------------------

    def _command(self, value: bytes) -> None:
        if len(value) < 2:
            raise att.ATT_Error(att.ErrorCode.INVALID_ATTRIBUTE_LENGTH)
        module, register, data = value[0], value[1], value[2:]
        if module not in (ACC_MODULE, GYRO_MODULE):
            return  # other modules: accepted and ignored
        sensor = self.acc if module == ACC_MODULE else self.gyr
        if register == REG_INFO:
            impl = (ACC_IMPLEMENTATION if module == ACC_MODULE else GYRO_IMPLEMENTATION)[self.chip]
            assert self._notify is not None
            self._respond(self._notify, bytes([module, REG_INFO, impl, 0]))
        elif register == REG_CONFIG and len(data) >= 2:
            odrs = _ACC_ODR_HZ if module == ACC_MODULE else _GYR_ODR_HZ
            codes = ACC_RANGE_CODES if module == ACC_MODULE else GYR_RANGE_CODES
            if data[0] & 0x0F in odrs and data[1] in codes:
                sensor.odr_code, sensor.range_code = data[0] & 0x0F, data[1]
        elif register == REG_ENABLE and len(data) >= 2:
            sensor.enabled = bool(data[0] & 1) or (sensor.enabled and not data[1] & 1)
        elif register == REG_POWER and data:
            sensor.running = bool(data[0])
        elif len(data) >= 1 and register in self._data_registers(module):
            if register in (ACC_DATA, GYRO_DATA) and register == self._single_register(module):
                sensor.single = bool(data[0])
            else:
                sensor.packed = bool(data[0])
        self._update_stream()

    def _single_register(self, module: int) -> int:
        return ACC_DATA if module == ACC_MODULE else GYRO_DATA

    def _packed_register(self, module: int) -> int:
        return ACC_PACKED[self.chip] if module == ACC_MODULE else GYRO_PACKED

    def _data_registers(self, module: int) -> tuple[int, int]:
        return self._single_register(module), self._packed_register(module)

    def _update_stream(self) -> None:
        lead = self.acc if self.acc.active else self.gyr
        odrs = _ACC_ODR_HZ if lead is self.acc else _GYR_ODR_HZ
        self.sampling_rate_hz = odrs[lead.odr_code]
        if self.acc.active or self.gyr.active:
            self._start_stream()
        else:
            self._cancel_stream()

    # -- data -------------------------------------------------------------------------

    def _uses_packed(self, sensor: _Sensor) -> bool:
        return sensor.packed if self.packed is None else self.packed

    def _samples_per_packet(self, att_mtu: int) -> int:
        active = [s for s in (self.acc, self.gyr) if s.active]
        return 3 if active and all(self._uses_packed(s) for s in active) else 1

    @property
    def acc_lsb_per_g(self) -> float:
        """LSB per g of the configured accelerometer range."""
        return ACC_RANGE_CODES[self.acc.range_code][1]

    @property
    def gyr_lsb_per_dps(self) -> float:
        """LSB per deg/s of the configured gyro range."""
        return GYR_RANGE_CODES[self.gyr.range_code][1]

    def _notifications(self, module: int, sensor: _Sensor, raw: NDArray[np.int64]) -> list[bytes]:
        if self._uses_packed(sensor) and len(raw) == 3:
            return [encode_metawear_data(module, self._packed_register(module), raw)]
        register = self._single_register(module)
        return [encode_metawear_data(module, register, row) for row in raw]

    def _encode(
        self, acc: NDArray[np.float64], gyr: NDArray[np.float64], t_first_s: float
    ) -> Sequence[Notification]:
        assert self._notify is not None
        out: list[bytes] = []
        if self.acc.active:
            out += self._notifications(
                ACC_MODULE, self.acc, clip_round(self._g(acc) * self.acc_lsb_per_g, 32767)
            )
        if self.gyr.active:
            out += self._notifications(
                GYRO_MODULE, self.gyr, clip_round(gyr * self.gyr_lsb_per_dps, 32767)
            )
        return [(self._notify, p) for p in out]
