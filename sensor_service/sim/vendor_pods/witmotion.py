"""Simulated WitMotion BWT901BLE (BLE 5.0) (FIRMWARE.md §6).

Protocol (WitMotion protocol manual; UUIDs from ``firmware_profiles/witmotion-bwt901ble.toml``,
whose base is ``…9a34fb``, not the Bluetooth base):

* Streams ``55 61`` packets as soon as a central enables notifications: 9 × int16 after the
  header, acc × 16/32768 g, gyro × 2000/32768 deg/s, angles (roll, pitch from gravity; yaw 0)
  × 180/32768 deg. Several packets may share one notification: by default the pod cycles
  1, 3, 2 packets per notification (as many as fit the link).
* Write characteristic (without response): unlock ``FF AA 69 88 B5``, then register writes
  ``FF AA <reg> <lo> <hi>``; register 0x03 is the output rate (codes 0x06 10 Hz, 0x07 20 Hz,
  0x08 50 Hz, 0x09 100 Hz, 0x0B 200 Hz; per unit unverified), save ``FF AA 00 00 00``. Writes
  while locked are ignored. Register read ``FF AA 27 <reg> 00`` is answered with a
  ``55 71 <reg> 00`` + 8 × int16 register dump (20 bytes), which readers must skip.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import cycle
from typing import Final, Unpack

import numpy as np
from bumble import gatt
from numpy.typing import ArrayLike, NDArray

from sensor_service.errors import ConfigError
from sensor_service.sim.pod_peripheral import Notification, SampleSource
from sensor_service.sim.vendor_pods._base import PodOptions, VendorPod, clip_round

__all__ = [
    "WITMOTION_RATE_CODES",
    "WitMotionPod",
    "encode_witmotion_packet",
    "witmotion_angles",
]

PACKET_BYTES: Final = 20
#: Rate register 0x03 code → output rate in Hz.
WITMOTION_RATE_CODES: Final = {0x06: 10.0, 0x07: 20.0, 0x08: 50.0, 0x09: 100.0, 0x0B: 200.0}
ACC_LSB_PER_G: Final = 32768.0 / 16.0
GYR_LSB_PER_DPS: Final = 32768.0 / 2000.0
ANGLE_LSB_PER_DEG: Final = 32768.0 / 180.0
_UNLOCK: Final = bytes.fromhex("FFAA6988B5")
_PREFIX: Final = b"\xff\xaa"
_REG_SAVE: Final = 0x00
_REG_RATE: Final = 0x03
_REG_READ: Final = 0x27


def witmotion_angles(acc_m_s2: NDArray[np.float64]) -> NDArray[np.float64]:
    """Roll and pitch from the gravity direction, yaw 0, in degrees (``(n, 3)``)."""
    ax, ay, az = acc_m_s2[:, 0], acc_m_s2[:, 1], acc_m_s2[:, 2]
    roll = np.degrees(np.arctan2(ay, az))
    pitch = np.degrees(np.arctan2(-ax, np.hypot(ay, az)))
    return np.column_stack([roll, pitch, np.zeros_like(roll)])


def encode_witmotion_packet(acc_raw: ArrayLike, gyr_raw: ArrayLike, angle_raw: ArrayLike) -> bytes:
    """One ``55 61`` packet (20 bytes) from int16 counts."""
    values = np.concatenate(
        [np.asarray(v, dtype=np.int64).reshape(3) for v in (acc_raw, gyr_raw, angle_raw)]
    )
    if values.min() < -32768 or values.max() > 32767:
        raise ConfigError("WitMotion values must fit int16")
    return b"\x55\x61" + values.astype("<i2").tobytes()


class WitMotionPod(VendorPod):
    """A BWT901BLE streaming ``55 61`` packets (profile ``witmotion-bwt901ble``).

    Options: ``packets_per_notification`` (a sequence cycled through, default (1, 3, 2); capped
    by the link), plus those of ``VendorPod``.
    """

    profile_name = "witmotion-bwt901ble"

    def __init__(
        self,
        *,
        name: str,
        source: SampleSource,
        packets_per_notification: Sequence[int] = (1, 3, 2),
        **kwargs: Unpack[PodOptions],
    ) -> None:
        super().__init__(name=name, source=source, **kwargs)
        if not packets_per_notification or min(packets_per_notification) < 1:
            raise ConfigError("packets_per_notification must be a non-empty list of counts >= 1")
        self.packets_per_notification = tuple(packets_per_notification)
        self._pattern = cycle(self.packets_per_notification)
        self.rate_code = next(
            (c for c, hz in WITMOTION_RATE_CODES.items() if hz == self.sampling_rate_hz), 0x09
        )
        self.unlocked = False
        self.saved = False
        self._data: gatt.Characteristic[bytes] | None = None

    def _build_services(self) -> list[gatt.Service]:
        props = gatt.Characteristic.Properties
        self._data = self._char(self._uuid("data"), props.NOTIFY)
        write = self._char(
            self._uuid("control"), props.WRITE_WITHOUT_RESPONSE | props.WRITE, write=self._write
        )
        return [gatt.Service(self.profile.gatt.service, [self._data, write])]

    def _write(self, value: bytes) -> None:
        if value == _UNLOCK:
            self.unlocked = True
            return
        if len(value) != 5 or value[:2] != _PREFIX:
            return  # the module ignores what it does not understand
        register, lo = value[2], value[3]
        if register == _REG_READ:
            assert self._data is not None
            regs = [0] * 8
            if lo == _REG_RATE:
                regs[0] = self.rate_code
            reply = b"\x55\x71" + bytes([lo, 0]) + np.asarray(regs, "<i2").tobytes()
            self._respond(self._data, reply)
        elif not self.unlocked:
            return
        elif register == _REG_RATE and lo in WITMOTION_RATE_CODES:
            self.rate_code = lo
            self.sampling_rate_hz = WITMOTION_RATE_CODES[lo]
        elif register == _REG_SAVE:
            self.saved = True
            self.unlocked = False

    def _on_subscription(self, char: gatt.Characteristic[bytes], was: bool, now: bool) -> None:
        if char is self._data and now:
            self._start_stream()  # and keeps measuring: notifications only while subscribed

    def _samples_per_packet(self, att_mtu: int) -> int:
        return max(1, min(next(self._pattern), (att_mtu - 3) // PACKET_BYTES))

    def _encode(
        self, acc: NDArray[np.float64], gyr: NDArray[np.float64], t_first_s: float
    ) -> Sequence[Notification]:
        assert self._data is not None
        acc_raw = clip_round(self._g(acc) * ACC_LSB_PER_G, 32767)
        gyr_raw = clip_round(gyr * GYR_LSB_PER_DPS, 32767)
        angle_raw = clip_round(witmotion_angles(acc) * ANGLE_LSB_PER_DEG, 32767)
        packets = b"".join(
            encode_witmotion_packet(a, g, r)
            for a, g, r in zip(acc_raw, gyr_raw, angle_raw, strict=True)
        )
        return [(self._data, packets)]
