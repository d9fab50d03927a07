"""Simulated Bluetooth SIG Running Speed and Cadence pod, service 0x1814 (FIRMWARE.md §1).

What a Stryd / Polar Stride / Zwift RunPod serves (UUIDs from
``firmware_profiles/bluetooth-rsc.toml``):

* RSC Measurement 0x2A53 (notify), once a second by default: ``u8 flags (bit0 stride, bit1
  distance, bit2 running) | u16 speed 1/256 m/s | u8 cadence 1/min | u16 stride 1/100 m |
  u32 total distance 1/10 m`` (:func:`encode_rsc_measurement`).
* RSC Feature 0x2A54 (read, u16): stride length, total distance, walking/running, calibration.
* Sensor Location 0x2A5D (read, u8): 1 top of shoe (default), 2 in shoe, 3 hip.
* SC Control Point 0x2A55 (write, indicate): ``01 <u32 dm>`` set cumulative distance,
  ``02`` start calibration, ``03 <u8>`` update location, ``04`` supported locations; answered
  by ``10 <op> <result>`` (1 success, 2 not supported, 3 invalid parameter). Writes need
  indications enabled (ATT error 0xFD otherwise).

Values come from the gait simulator's runner (``GaitSimulator.params``): while running
(from ``stand_s`` to the end of the run minus ``stand_s``) speed = ``speed_m_s``, cadence =
``cadence_spm`` steps/min (halved with ``cadence_unit="strides"``), stride = 2 steps =
``speed_m_s × 120 / cadence_spm`` m, and distance grows at ``speed_m_s``; standing, the pod
reports walking with speed and cadence 0. Measurement ``k`` describes run time ``k × interval``.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any, Final, Literal, Unpack

import numpy as np
from bumble import att, gatt
from numpy.typing import NDArray

from sensor_service.errors import ConfigError
from sensor_service.sim.pod_peripheral import Notification, SampleSource
from sensor_service.sim.vendor_pods._base import PodOptions, VendorPod

__all__ = ["RscPod", "RunnerTruth", "encode_rsc_feature", "encode_rsc_measurement"]

FLAG_STRIDE: Final = 0x01
FLAG_DISTANCE: Final = 0x02
FLAG_RUNNING: Final = 0x04
FEATURE_STRIDE: Final = 0x01
FEATURE_DISTANCE: Final = 0x02
FEATURE_WALK_RUN: Final = 0x04
FEATURE_CALIBRATION: Final = 0x08
FEATURE_MULTIPLE_LOCATIONS: Final = 0x10
OP_SET_CUMULATIVE: Final = 0x01
OP_START_CALIBRATION: Final = 0x02
OP_UPDATE_LOCATION: Final = 0x03
OP_SUPPORTED_LOCATIONS: Final = 0x04
OP_RESPONSE: Final = 0x10
RESULT_SUCCESS: Final = 0x01
RESULT_NOT_SUPPORTED: Final = 0x02
RESULT_INVALID_PARAMETER: Final = 0x03
_CCCD_IMPROPERLY_CONFIGURED: Final = 0xFD
_LOCATIONS: Final = (1, 2, 3)


def encode_rsc_measurement(
    speed_m_s: float,
    cadence_per_min: float,
    *,
    stride_m: float | None = None,
    distance_m: float | None = None,
    running: bool = True,
) -> bytes:
    """One RSC Measurement; values are rounded to the field resolution and saturated."""
    flags = (FLAG_RUNNING if running else 0) | (FLAG_STRIDE if stride_m is not None else 0)
    flags |= FLAG_DISTANCE if distance_m is not None else 0
    out = struct.pack(
        "<BHB",
        flags,
        int(np.clip(round(speed_m_s * 256.0), 0, 0xFFFF)),
        int(np.clip(round(cadence_per_min), 0, 0xFF)),
    )
    if stride_m is not None:
        out += struct.pack("<H", int(np.clip(round(stride_m * 100.0), 0, 0xFFFF)))
    if distance_m is not None:
        out += struct.pack("<I", int(np.clip(round(distance_m * 10.0), 0, 0xFFFFFFFF)))
    return out


def encode_rsc_feature(
    *,
    stride: bool = True,
    distance: bool = True,
    walk_run: bool = True,
    calibration: bool = True,
    multiple_locations: bool = False,
) -> bytes:
    """The RSC Feature value (u16 bit field)."""
    bits = (
        (FEATURE_STRIDE if stride else 0)
        | (FEATURE_DISTANCE if distance else 0)
        | (FEATURE_WALK_RUN if walk_run else 0)
        | (FEATURE_CALIBRATION if calibration else 0)
        | (FEATURE_MULTIPLE_LOCATIONS if multiple_locations else 0)
    )
    return struct.pack("<H", bits)


class RunnerTruth:
    """Speed, cadence, stride and distance of a runner at any run time (the RSC truth)."""

    def __init__(
        self, speed_m_s: float, cadence_spm: float, run_start_s: float, run_end_s: float
    ) -> None:
        if not (speed_m_s >= 0 and cadence_spm > 0 and run_end_s >= run_start_s):
            raise ConfigError("runner needs speed >= 0, cadence > 0 and start <= end")
        self.speed_m_s = float(speed_m_s)
        self.cadence_spm = float(cadence_spm)
        self.run_start_s = float(run_start_s)
        self.run_end_s = float(run_end_s)

    @classmethod
    def from_source(cls, source: Any) -> RunnerTruth:
        """From a source with a ``sim`` (:class:`~sensor_service.sim.gait.GaitSimulator`)."""
        sim = getattr(source, "sim", None)
        params = getattr(sim, "params", None)
        if sim is None or params is None:
            raise ConfigError(
                "an RSC pod needs a source with a gait simulator (FootSampleSource) or the "
                "options speed_m_s and cadence_spm"
            )
        stand = float(params.stand_s)
        return cls(params.speed_m_s, params.cadence_spm, stand, max(stand, sim.end_s - stand))

    @property
    def stride_m(self) -> float:
        """Stride (two steps) in metres."""
        return self.speed_m_s * 120.0 / self.cadence_spm

    def running(self, t_s: float) -> bool:
        """Whether the runner runs at run time ``t_s``."""
        return self.run_start_s <= t_s < self.run_end_s

    def distance_m(self, t_s: float) -> float:
        """Distance covered by run time ``t_s``."""
        return self.speed_m_s * (min(max(t_s, self.run_start_s), self.run_end_s) - self.run_start_s)


class RscPod(VendorPod):
    """A standard RSC foot pod (profile ``bluetooth-rsc``).

    Options: ``interval_s`` (measurement period, 1.0), ``cadence_unit`` (``"steps"`` or
    ``"strides"``: what the cadence field counts), ``location`` (1 top of shoe, 2 in shoe,
    3 hip), ``stride`` / ``distance`` (include the fields; the feature bits follow),
    ``initial_distance_m`` (total distance before this run), ``speed_m_s`` / ``cadence_spm``
    (instead of the source's runner; with ``run_start_s`` / ``run_end_s``), plus ``name``,
    ``address``, ``speed``, ``battery_pct``, ``side`` of ``VendorPod``. The source sets the
    clock of the run and its end (``finished``); its samples are not sent.
    """

    profile_name = "bluetooth-rsc"

    def __init__(
        self,
        *,
        name: str,
        source: SampleSource,
        interval_s: float = 1.0,
        cadence_unit: Literal["steps", "strides"] = "steps",
        location: int = 1,
        stride: bool = True,
        distance: bool = True,
        initial_distance_m: float = 0.0,
        speed_m_s: float | None = None,
        cadence_spm: float | None = None,
        run_start_s: float = 0.0,
        run_end_s: float = float("inf"),
        **kwargs: Unpack[PodOptions],
    ) -> None:
        if not interval_s > 0:
            raise ConfigError(f"interval_s {interval_s} must be > 0")
        kwargs["rate_hz"] = 1.0 / interval_s
        super().__init__(name=name, source=source, **kwargs)
        if cadence_unit not in ("steps", "strides"):
            raise ConfigError(f"cadence_unit {cadence_unit!r} is not steps or strides")
        if location not in _LOCATIONS:
            raise ConfigError(f"location {location} is not 1 (top of shoe), 2 (in shoe) or 3")
        if speed_m_s is not None or cadence_spm is not None:
            if speed_m_s is None or cadence_spm is None:
                raise ConfigError("give both speed_m_s and cadence_spm")
            self.runner = RunnerTruth(speed_m_s, cadence_spm, run_start_s, run_end_s)
        else:
            self.runner = RunnerTruth.from_source(source)
        self.interval_s = float(interval_s)
        self.cadence_unit = cadence_unit
        self.location = location
        self.stride = stride
        self.distance = distance
        self.distance_offset_m = float(initial_distance_m)
        self._measurement: gatt.Characteristic[bytes] | None = None
        self._control: gatt.Characteristic[bytes] | None = None

    def _build_services(self) -> list[gatt.Service]:
        props = gatt.Characteristic.Properties
        self._measurement = self._char(self._uuid("data"), props.NOTIFY)
        feature = self._char(
            self._uuid("info"),
            props.READ,
            read=lambda: encode_rsc_feature(stride=self.stride, distance=self.distance),
        )
        location = self._char(
            self._uuid("location"), props.READ, read=lambda: bytes([self.location])
        )
        self._control = self._char(
            self._uuid("sc_control_point"), props.WRITE | props.INDICATE, write=self._on_control
        )
        return [
            gatt.Service(
                self.profile.gatt.service, [self._measurement, feature, location, self._control]
            ),
            self._battery_service(),
        ]

    def _on_subscription(self, char: gatt.Characteristic[bytes], was: bool, now: bool) -> None:
        if char is self._measurement and now:
            self._start_stream()  # the pod keeps counting distance while nobody listens

    def _on_control(self, value: bytes) -> None:
        assert self._control is not None
        if not self.subscribed(self._control):
            raise att.ATT_Error(_CCCD_IMPROPERLY_CONFIGURED)
        if not value:
            raise att.ATT_Error(att.ErrorCode.INVALID_ATTRIBUTE_LENGTH)
        op, body = value[0], value[1:]
        result = RESULT_SUCCESS
        extra = b""
        if op == OP_SET_CUMULATIVE and len(body) == 4:
            wanted = struct.unpack("<I", body)[0] / 10.0
            self.distance_offset_m = wanted - self.runner.distance_m(self._run_time_s())
        elif op == OP_START_CALIBRATION and not body:
            pass
        elif op == OP_UPDATE_LOCATION and len(body) == 1:
            if body[0] in _LOCATIONS:
                self.location = body[0]
            else:
                result = RESULT_INVALID_PARAMETER
        elif op == OP_SUPPORTED_LOCATIONS and not body:
            extra = bytes(_LOCATIONS)
        elif op in (OP_SET_CUMULATIVE, OP_START_CALIBRATION, OP_UPDATE_LOCATION):
            result = RESULT_INVALID_PARAMETER
        else:
            result = RESULT_NOT_SUPPORTED
        self._respond(self._control, bytes([OP_RESPONSE, op, result]) + extra)

    def _run_time_s(self) -> float:
        return self.samples_streamed * self.interval_s

    def measurement(self, t_s: float) -> bytes:
        """The RSC Measurement the pod sends for run time ``t_s``."""
        runner = self.runner
        running = runner.running(t_s)
        cadence = runner.cadence_spm if running else 0.0
        if self.cadence_unit == "strides":
            cadence /= 2.0
        return encode_rsc_measurement(
            runner.speed_m_s if running else 0.0,
            cadence,
            stride_m=(runner.stride_m if running else 0.0) if self.stride else None,
            distance_m=self.distance_offset_m + runner.distance_m(t_s) if self.distance else None,
            running=running,
        )

    def _encode(
        self, acc: NDArray[np.float64], gyr: NDArray[np.float64], t_first_s: float
    ) -> Sequence[Notification]:
        assert self._measurement is not None
        return [(self._measurement, self.measurement(self._run_time_s()))]
