"""Protocol responders of the simulated pods, driven directly (no link): commands → replies."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pytest
from bumble import att
from numpy.typing import NDArray

from sensor_service.errors import ConfigError
from sensor_service.profiles import load_profile
from sensor_service.sim.pod_peripheral import SimulatedPodBase
from sensor_service.sim.vendor_pods import make_simulated_pod
from sensor_service.sim.vendor_pods.metawear import MetaWearPod
from sensor_service.sim.vendor_pods.movesense import MovesensePod
from sensor_service.sim.vendor_pods.polar import PolarPmdPod
from sensor_service.sim.vendor_pods.thingy52 import Thingy52Pod
from sensor_service.sim.vendor_pods.witmotion import WitMotionPod


class _Still:
    sampling_rate_hz = 100.0

    def read(self, n: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        return np.tile([0.0, 0.0, 9.80665], (n, 1)), np.zeros((n, 3))


def _pod(profile: str, name: str, **options: Any) -> tuple[SimulatedPodBase, list[bytes]]:
    """A pod with its services built, whose responses are captured instead of sent."""
    pod = make_simulated_pod(profile, name=name, source=_Still(), **options)
    pod._build_services()
    replies: list[bytes] = []

    def capture(_char: Any, value: bytes) -> None:
        replies.append(value)

    pod._respond = capture  # type: ignore[method-assign,assignment]
    pod._start_stream = lambda: None  # type: ignore[method-assign]
    return pod, replies


def test_polar_start_statuses_and_factor() -> None:
    pod, replies = _pod("polar-pmd", "Polar Sense 1", acc_frames="delta_factor")
    assert isinstance(pod, PolarPmdPod)
    start_acc = load_profile("polar-pmd").start[2]
    pod._on_control(start_acc.payload({"acc_range_g": 8, "sampling_rate_hz": 52}))
    assert replies[-1] == bytes.fromhex("f002020000") + bytes([5, 1]) + struct.pack("<f", 0.000244)
    assert pod.started == {2}
    assert pod.sampling_rate_hz == 52.0
    pod._on_control(start_acc.payload({"acc_range_g": 8, "sampling_rate_hz": 52}))
    assert replies[-1] == bytes.fromhex("f002020600")  # already in state
    # GYRO at another rate than the running ACC: invalid sample rate
    pod._on_control(bytes.fromhex("0205 00016800 01011000"))
    assert replies[-1] == bytes.fromhex("f002050800")
    pod._on_control(bytes.fromhex("0205 00013400 01010c00"))  # 12-bit resolution
    assert replies[-1] == bytes.fromhex("f002050700")
    pod._on_control(bytes.fromhex("0205 00013400 02010300"))  # 3 deg/s range
    assert replies[-1] == bytes.fromhex("f002050900")
    pod._on_control(bytes.fromhex("0209"))  # unknown measurement type
    assert replies[-1] == bytes.fromhex("f002090200")
    pod._on_control(bytes.fromhex("0102"))  # get ACC settings
    assert replies[-1].startswith(bytes.fromhex("f001020000 0009"))
    pod._on_control(bytes.fromhex("0302"))
    assert replies[-1] == bytes.fromhex("f003020000")
    assert pod.started == set()
    pod._on_control(bytes.fromhex("0302"))
    assert replies[-1] == bytes.fromhex("f003020600")


def test_polar_without_gyro_refuses_gyro() -> None:
    pod, replies = _pod("polar-pmd", "Polar H10 1", gyro=False)
    assert isinstance(pod, PolarPmdPod)
    start_gyro = load_profile("polar-pmd").start[4]
    params = {"sampling_rate_hz": 52, "gyr_range_dps": 2000}
    pod._on_control(start_gyro.payload(params))
    assert replies[-1] == bytes.fromhex("f002050200")


def test_movesense_commands() -> None:
    pod, replies = _pod("movesense-imu6", "Movesense 1")
    assert isinstance(pod, MovesensePod)
    pod._command(b"\x01\x07/Meas/IMU9/208")
    assert (pod.ref, pod.sensors, pod.sampling_rate_hz) == (7, "IMU9", 208.0)
    assert replies[-1] == bytes.fromhex("0107c800")
    assert pod._samples_per_packet(247) == 10  # IMU9 capped by part 1 + part 2
    pod._command(b"\x01\x08/Meas/IMU6/100")
    assert replies[-1] == bytes.fromhex("01089401")  # 404: no such rate
    pod._command(b"\x01\x08/Meas/Acc/104")
    assert replies[-1] == bytes.fromhex("01089001")  # 400
    with pytest.raises(att.ATT_Error):
        pod._command(b"\x01\x00/Meas/IMU6/104")  # ref 0 is not allowed
    pod._command(b"\x02\x07")
    assert pod.ref is None


def test_metawear_config_ranges_and_chip_reply() -> None:
    pod, replies = _pod("mbientlab-metamotion", "MetaWear", chip="BMI270")
    assert isinstance(pod, MetaWearPod)
    pod._command(bytes.fromhex("0380"))
    assert replies == [bytes.fromhex("03800400")]
    pod._command(bytes.fromhex("0303 2705"))  # 50 Hz, +-4 g
    pod._command(bytes.fromhex("1303 2802"))  # 100 Hz, 500 deg/s
    assert (pod.acc_lsb_per_g, pod.gyr_lsb_per_dps) == (8192.0, 65.6)
    for cmd in ("030501", "03020100", "030101"):  # BMI270 packed subscription
        pod._command(bytes.fromhex(cmd))
    assert pod.acc.active
    assert pod.sampling_rate_hz == 50.0
    assert pod._samples_per_packet(23) == 3
    pod._command(bytes.fromhex("03ff 00"))  # unknown register: ignored
    pod._command(bytes.fromhex("030100"))
    assert not pod.acc.active


def test_thingy_config_validation() -> None:
    pod, _ = _pod("nordic-thingy52", "Thingy")
    assert isinstance(pod, Thingy52Pod)
    pod._configure(bytes.fromhex("640064006400 3200 01"))
    assert pod.sampling_rate_hz == 50.0
    with pytest.raises(att.ATT_Error):
        pod._configure(bytes.fromhex("640064006400 0400 01"))  # 4 Hz
    with pytest.raises(att.ATT_Error):
        pod._configure(bytes.fromhex("6400"))
    with pytest.raises(ConfigError):
        make_simulated_pod("nordic-thingy52", name="Thingy", source=_Still(), rate_hz=400.0)


def test_witmotion_rate_register_needs_unlock() -> None:
    pod, replies = _pod("witmotion-bwt901ble", "WT901BLE1")
    assert isinstance(pod, WitMotionPod)
    pod._write(bytes.fromhex("FFAA030B00"))
    assert pod.sampling_rate_hz == 100.0  # locked: ignored
    pod._write(bytes.fromhex("FFAA6988B5"))
    pod._write(bytes.fromhex("FFAA030B00"))
    pod._write(bytes.fromhex("FFAA000000"))
    assert (pod.sampling_rate_hz, pod.saved, pod.unlocked) == (200.0, True, False)
    pod._write(bytes.fromhex("FFAA270300"))
    assert replies[-1][:4] == bytes.fromhex("5571 0300")
    assert replies[-1][4] == 0x0B
    assert len(replies[-1]) == 20
