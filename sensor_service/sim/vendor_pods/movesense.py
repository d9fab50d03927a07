"""Simulated Movesense sensor, GATT SensorData Protocol, ``/Meas/IMU6`` (FIRMWARE.md §2).

Protocol (``gatt_sensordata_app``; service, command and data UUIDs from
``firmware_profiles/movesense-imu6.toml``):

* Command characteristic (write): ``01 <ref> "/Meas/IMU6/<rate>"`` (or ``IMU9``) subscribes,
  ``02 <ref>`` unsubscribes; ``ref`` ≠ 0. Rates 13/26/52/104/208/416/833 Hz. The pod answers
  each command with a result notification ``01 <ref> <u16 status>`` on the data characteristic
  (200 ok, 400 bad request, 404 unknown path or rate; the status code values are the
  simulator's choice, FIRMWARE.md names only the type). A command without ``ref`` is refused
  with an ATT error.
* Data notifications: ``u8 type | u8 ref | u32 timestamp ms of the first sample | N×3 f32 acc
  (m/s²) | N×3 f32 gyro (deg/s) [| N×3 f32 mag (µT)]``. A payload (timestamp + values) over
  150 bytes is split: part 1 is type 2 with the first 150 payload bytes, part 2 is type 3 with
  the same 2-byte header and the rest (:func:`encode_movesense_data`).
* N per notification defaults to ``rate / 13`` (1 at 13 Hz, 8 at 104 Hz), capped so part 2
  fits the link (16 IMU6 samples at ATT MTU 247).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from typing import Final, Unpack

import numpy as np
from bumble import att, gatt
from numpy.typing import ArrayLike, NDArray

from sensor_service.errors import ConfigError
from sensor_service.sim.pod_peripheral import Notification, SampleSource
from sensor_service.sim.vendor_pods._base import PodOptions, VendorPod

__all__ = [
    "MOVESENSE_RATES_HZ",
    "SPLIT_PAYLOAD_BYTES",
    "MovesensePod",
    "encode_movesense_data",
    "encode_movesense_result",
]

MOVESENSE_RATES_HZ: Final = (13, 26, 52, 104, 208, 416, 833)
#: Payload bytes (timestamp + values) a type-2 notification carries before the rest is split off.
SPLIT_PAYLOAD_BYTES: Final = 150
TYPE_RESULT: Final = 1
TYPE_DATA: Final = 2
TYPE_DATA_PART2: Final = 3
CMD_HELLO: Final = 0
CMD_SUBSCRIBE: Final = 1
CMD_UNSUBSCRIBE: Final = 2
_PATH: Final = re.compile(r"/Meas/(IMU6|IMU9)/(\d+)")
_EARTH_FIELD_UT: Final = np.array([20.0, 0.0, -40.0])


def encode_movesense_result(ref: int, status: int) -> bytes:
    """A command result notification: ``01 <ref> <u16 status>``."""
    return struct.pack("<BBH", TYPE_RESULT, ref, status)


def encode_movesense_data(
    ref: int,
    timestamp_ms: int,
    acc_m_s2: ArrayLike,
    gyr_deg_s: ArrayLike,
    mag_ut: ArrayLike | None = None,
) -> list[bytes]:
    """One IMU6 (or IMU9, with ``mag_ut``) data notification, split in two when needed.

    Returns one packet (type 2) when the payload is at most 150 bytes, else part 1 (type 2,
    150 payload bytes) and part 2 (type 3, the rest), each with the header ``<type> <ref>``.
    ``timestamp_ms`` is reduced modulo 2**32.
    """
    blocks = [np.asarray(acc_m_s2, dtype="<f4"), np.asarray(gyr_deg_s, dtype="<f4")]
    if mag_ut is not None:
        blocks.append(np.asarray(mag_ut, dtype="<f4"))
    n = blocks[0].shape[0]
    if n == 0 or any(b.shape != (n, 3) for b in blocks):
        raise ConfigError("Movesense data needs n >= 1 samples of (n, 3) for every sensor")
    payload = struct.pack("<I", timestamp_ms & 0xFFFFFFFF) + b"".join(b.tobytes() for b in blocks)
    if len(payload) <= SPLIT_PAYLOAD_BYTES:
        return [bytes([TYPE_DATA, ref]) + payload]
    return [
        bytes([TYPE_DATA, ref]) + payload[:SPLIT_PAYLOAD_BYTES],
        bytes([TYPE_DATA_PART2, ref]) + payload[SPLIT_PAYLOAD_BYTES:],
    ]


class MovesensePod(VendorPod):
    """A Movesense sensor running ``gatt_sensordata_app`` (profile ``movesense-imu6``).

    Options: ``samples_per_notification`` (default ``rate / 13``, capped by the link),
    ``clock_offset_ms`` / ``clock_drift_ppm`` (the u32 millisecond clock against true time),
    ``send_results`` (False: no result notification after commands), plus those of
    :class:`~sensor_service.sim.vendor_pods._base.VendorPod`.
    """

    profile_name = "movesense-imu6"

    def __init__(
        self,
        *,
        name: str,
        source: SampleSource,
        samples_per_notification: int | None = None,
        clock_offset_ms: int = 0,
        clock_drift_ppm: float = 0.0,
        send_results: bool = True,
        **kwargs: Unpack[PodOptions],
    ) -> None:
        super().__init__(name=name, source=source, **kwargs)
        if samples_per_notification is not None and samples_per_notification < 1:
            raise ConfigError("samples_per_notification must be >= 1")
        self.samples_per_notification = samples_per_notification
        self.clock_offset_ms = int(clock_offset_ms)
        self.clock_drift_ppm = float(clock_drift_ppm)
        self.send_results = send_results
        self.ref: int | None = None
        self.sensors = "IMU6"
        self._data: gatt.Characteristic[bytes] | None = None

    def _build_services(self) -> list[gatt.Service]:
        props = gatt.Characteristic.Properties
        self._data = self._char(self._uuid("data"), props.NOTIFY)
        command = self._char(
            self._uuid("control"), props.WRITE | props.WRITE_WITHOUT_RESPONSE, write=self._command
        )
        return [gatt.Service(self.profile.gatt.service, [command, self._data])]

    def _result(self, ref: int, status: int) -> None:
        if self.send_results and self._data is not None:
            self._respond(self._data, encode_movesense_result(ref, status))

    def _command(self, value: bytes) -> None:
        if len(value) < 2 or value[1] == 0:
            raise att.ATT_Error(att.ErrorCode.INVALID_ATTRIBUTE_LENGTH)
        command, ref = value[0], value[1]
        if command == CMD_HELLO:
            self._result(ref, 200)
        elif command == CMD_SUBSCRIBE:
            match = _PATH.fullmatch(value[2:].decode("ascii", errors="replace"))
            if match is None or int(match.group(2)) not in MOVESENSE_RATES_HZ:
                self._result(ref, 404 if match is not None else 400)
                return
            self.ref, self.sensors = ref, match.group(1)
            self.sampling_rate_hz = float(match.group(2))
            self._start_stream()
            self._result(ref, 200)
        elif command == CMD_UNSUBSCRIBE:
            if ref == self.ref:
                self._cancel_stream()
                self.ref = None
            self._result(ref, 200)
        else:
            self._result(ref, 400)

    def _samples_per_packet(self, att_mtu: int) -> int:
        sample_bytes = 4 * (9 if self.sensors == "IMU9" else 6)
        room = SPLIT_PAYLOAD_BYTES + (att_mtu - 3 - 2) - 4  # part 1 + part 2, less the timestamp
        cap = max(1, room // sample_bytes)
        wanted = self.samples_per_notification
        if wanted is None:
            wanted = max(1, round(self.sampling_rate_hz / 13.0))
        return min(wanted, cap)

    def _timestamp_ms(self, t_s: float) -> int:
        return self.clock_offset_ms + round(t_s * 1000.0 * (1.0 + self.clock_drift_ppm * 1e-6))

    def _encode(
        self, acc: NDArray[np.float64], gyr: NDArray[np.float64], t_first_s: float
    ) -> Sequence[Notification]:
        assert self._data is not None
        if self.ref is None:
            return []
        mag = np.tile(_EARTH_FIELD_UT, (len(acc), 1)) if self.sensors == "IMU9" else None
        packets = encode_movesense_data(self.ref, self._timestamp_ms(t_first_s), acc, gyr, mag)
        return [(self._data, p) for p in packets]
