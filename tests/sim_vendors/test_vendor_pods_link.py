"""Every firmware profile end to end over the virtual link: scan, connect, start, decode.

For each profile in ``firmware_profiles/``: the simulated pod is found by the profile's
discovery rules, bleak connects through ``backend_kwargs("virtual")``, the profile's start
steps run as the reader runs them (``wait_response`` really waits for the response), every
notification goes through the profile's decoder, and the samples must equal what the gait
source produced (SI units, foot frame after the profile's mounting, within each protocol's
resolution and range), with ticks (or arrivals) advancing at the configured rate.
"""

from __future__ import annotations

import asyncio
import itertools
import struct
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from numpy.typing import NDArray

from sensor_service.ble.backend import backend_kwargs
from sensor_service.ble.bumble_backend import close_bumble_hosts, inject_disconnect
from sensor_service.profiles import (
    G_M_S2,
    DecodedPacket,
    Decoder,
    ParamValue,
    Profile,
    RscMeasurement,
    Step,
    load_all_profiles,
    load_profile,
    match_profile,
    parse_footpod_info,
)
from sensor_service.profiles._polar import PolarPmdDecoder
from sensor_service.sim.gait import GaitSimulator, RunnerParams
from sensor_service.sim.pod_peripheral import SimulatedPodBase
from sensor_service.sim.sources import FootSampleSource
from sensor_service.sim.vendor_pods import make_simulated_pod

pytestmark = pytest.mark.integration

VIRTUAL = backend_kwargs("virtual")


@pytest.fixture(autouse=True)
async def _fresh_virtual_link() -> AsyncIterator[None]:
    """Each test gets its own link; tear it down so the test's event loop can be freed."""
    yield
    await close_bumble_hosts()


class Recording:
    """A sample source that keeps everything it handed out (the truth to compare against)."""

    def __init__(self, source: FootSampleSource) -> None:
        self.source = source
        self.sim = source.sim
        self.sampling_rate_hz = source.sampling_rate_hz
        self._acc: list[NDArray[np.float64]] = []
        self._gyr: list[NDArray[np.float64]] = []

    def read(self, n: int) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
        chunk = self.source.read(n)
        if chunk is not None:
            self._acc.append(chunk[0])
            self._gyr.append(chunk[1])
        return chunk

    @property
    def acc(self) -> NDArray[np.float64]:
        return np.concatenate(self._acc)

    @property
    def gyr(self) -> NDArray[np.float64]:
        return np.concatenate(self._gyr)


@dataclass(frozen=True)
class Case:
    """One profile run: pod name and options, the range and resolution of its protocol."""

    profile: str
    pod_name: str
    acc_limit_g: float | None  # saturation of the protocol / configured range (None: float)
    acc_lsb_g: float  # resolution, g per count (0: float)
    gyr_limit_dps: float | None
    gyr_lsb_dps: float
    #: Simulated seconds per real second. 1: the in-process bumble link (simulated pod and
    #: central in one Python process) costs ~1.2 ms of CPU a notification on a 2.5 GHz Xeon VM,
    #: and a pod with one sample per notification at 4× (400–1600 notifications a second) fell
    #: behind its configured rate there. Only pods that pack many samples per notification
    #: run faster.
    speed: float = 1.0
    seconds: float = 2.0  # simulated seconds of data to collect
    options: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    forward_axis: str = "+x"
    left_axis: str = "+y"
    id: str = ""


CASES = [
    Case(
        "footpod-imu-v1",
        "footpod-v1-left",
        32767 / 2048,
        1 / 2048,
        32767 / 16.384,
        1 / 16.384,
        options={"forward_axis": "-y", "left_axis": "+x"},
        forward_axis="-y",
        left_axis="+x",
    ),
    Case("movesense-imu6", "Movesense 174630000192", None, 0.0, None, 0.0),
    Case(
        "polar-pmd",
        "Polar Sense B5C2F52A",
        8.0,
        1e-3,
        2000.0,
        float(np.float32(2000 / 32768)),
        speed=8.0,
        seconds=3.0,
        id="polar-pmd-delta-0x81",
    ),
    Case(
        "polar-pmd",
        "Polar Sense 0A1B2C3D",
        32767 * float(np.float32(0.000244)),
        float(np.float32(0.000244)),
        2000.0,
        float(np.float32(2000 / 32768)),
        speed=8.0,
        seconds=3.0,
        options={"acc_frames": "delta_factor", "block_samples": 5},
        id="polar-pmd-delta-factor-0x80",
    ),
    Case(
        "polar-pmd",
        "Polar Sense 11223344",
        8.0,
        1e-3,
        2000.0,
        float(np.float32(2000 / 32768)),
        speed=8.0,
        seconds=3.0,
        options={"acc_frames": "raw", "gyro_frames": "raw"},
        id="polar-pmd-raw",
    ),
    Case(
        "mbientlab-metamotion",
        "MetaWear",
        32767 / 4096,
        1 / 4096,
        32767 / 16.4,
        1 / 16.4,
        id="metamotion-bmi160-single",
    ),
    Case(
        "mbientlab-metamotion",
        "MetaMotion",
        32767 / 4096,
        1 / 4096,
        32767 / 16.4,
        1 / 16.4,
        options={"chip": "BMI270", "packed": True},
        id="metamotion-bmi270-packed",
    ),
    Case("nordic-thingy52", "Thingy", 32767 / 1024, 1 / 1024, 32767 / 32, 1 / 32),
    Case(
        "witmotion-bwt901ble",
        "WT901BLE68",
        32767 * 16 / 32768,
        16 / 32768,
        32767 * 2000 / 32768,
        2000 / 32768,
    ),
]


def _sim(duration_s: float = 8.0) -> GaitSimulator:
    return GaitSimulator(RunnerParams(stand_s=0.3), duration_s=duration_s, seed=11)


async def _find(pod: SimulatedPodBase) -> tuple[BLEDevice, AdvertisementData]:
    found: dict[str, AdvertisementData] = {}

    def is_pod(device: BLEDevice, adv: AdvertisementData) -> bool:
        if device.address == pod.address:
            found["adv"] = adv
            return True
        return False

    device = await BleakScanner.find_device_by_filter(is_pod, timeout=3.0, **VIRTUAL)
    assert device is not None, f"{pod.name} not found by the scan"
    return device, found["adv"]


class Link:
    """Notifications of every subscribed characteristic, in arrival order."""

    def __init__(self, client: BleakClient) -> None:
        self.client = client
        self.items: list[tuple[float, str, bytes]] = []
        self.event = asyncio.Event()

    def callback(self, uuid: str) -> Any:
        def on_value(_char: object, data: bytearray) -> None:
            self.items.append((time.monotonic(), uuid, bytes(data)))
            self.event.set()

        return on_value

    async def wait_for(self, uuid: str, prefix: bytes, timeout_s: float) -> bytes:
        async with asyncio.timeout(timeout_s):
            while True:
                for _, got_uuid, data in self.items:
                    if got_uuid == uuid and data.startswith(prefix):
                        return data
                self.event.clear()
                await self.event.wait()

    async def run(self, steps: tuple[Step, ...], params: Mapping[str, ParamValue]) -> None:
        """Run start / stop steps as the reader does; non-optional steps must succeed."""
        for step in steps:
            uuid = str(step.uuid)
            assert step.uuid is not None or step.action == "sleep"
            try:
                if step.action == "write":
                    await self.client.write_gatt_char(
                        uuid, step.payload(params), response=step.response
                    )
                elif step.action == "subscribe":
                    await self.client.start_notify(uuid, self.callback(uuid))
                elif step.action == "unsubscribe":
                    await self.client.stop_notify(uuid)
                elif step.action == "read":
                    await self.client.read_gatt_char(uuid)
                elif step.action == "sleep":
                    await asyncio.sleep(step.s)
                elif step.action == "wait_response":
                    await self.wait_for(uuid, step.prefix_bytes(params), step.timeout_s)
            except Exception as exc:
                raise AssertionError(f"step {step} failed: {exc!r}") from exc


@dataclass
class Run:
    """What one profile run produced."""

    profile: Profile
    source: Recording
    packets: list[tuple[float, DecodedPacket]]
    rotation: NDArray[np.float64]
    rate_hz: float
    speed: float
    pod: SimulatedPodBase
    items: list[tuple[float, str, bytes]]
    decoder: Decoder


def _decode_all(
    decoder: Decoder, items: list[tuple[float, str, bytes]]
) -> list[tuple[float, DecodedPacket]]:
    out = []
    for arrival, _uuid, data in items:
        packet = decoder.decode(data)
        if packet is not None:
            out.append((arrival, packet))
    return out


def _n_samples(items: list[tuple[float, str, bytes]], decoder: Decoder) -> int:
    """Accelerometer samples decoded so far."""
    return sum(len(p.acc_m_s2) for _, p in _decode_all(decoder, items) if p.acc_m_s2 is not None)


async def _run(case: Case) -> Run:
    profile = load_profile(case.profile)
    rate = float(profile.rates.default_hz or 100.0)
    source = Recording(
        FootSampleSource(
            _sim(),
            "left",
            sampling_rate_hz=rate,
            forward_axis=case.forward_axis,
            left_axis=case.left_axis,
        )
    )
    pod = make_simulated_pod(
        case.profile,
        name=case.pod_name,
        source=source,
        side="left",
        speed=case.speed,
        **case.options,
    )
    async with pod:
        device, adv = await _find(pod)
        matched = match_profile(adv.local_name, adv.service_uuids, load_all_profiles())
        assert matched is not None
        assert matched.name == case.profile
        async with BleakClient(device, timeout=5.0, **VIRTUAL) as client:
            assert client.mtu_size >= profile.gatt.min_mtu
            params = profile.resolve_params(case.params)
            rotation = profile.mounting.rotation()
            if profile.gatt.info is not None and profile.gatt.info_parser == "footpod_info":
                raw_info = bytes(await client.read_gatt_char(profile.gatt.info))
                params.update(profile.info_params(raw_info))
                info = parse_footpod_info(raw_info)
                rotation = profile.mounting.with_axes(info.forward_axis, info.left_axis).rotation()
            link = Link(client)
            await link.run(profile.start, params)
            # Wait for the wanted amount of data (decoded on a scratch decoder).
            want = int(case.seconds * rate)
            async with asyncio.timeout(10.0):
                while _n_samples(link.items, profile.make_decoder(params)) < want:
                    await asyncio.sleep(0.05)
            await link.run(profile.stop, params)
            decoder = profile.make_decoder(params)
            packets = _decode_all(decoder, link.items)
    return Run(profile, source, packets, rotation, rate, case.speed, pod, link.items, decoder)


def _align(decoded: NDArray[np.float64], truth: NDArray[np.float64], atol: float) -> int:
    """Index of the truth sample the decoded stream starts at."""
    window = min(5, len(decoded))
    errors = [
        np.abs(truth[k : k + window] - decoded[:window]).max()
        for k in range(len(truth) - window + 1)
    ]
    k = int(np.argmin(errors))
    assert errors[k] <= atol, f"decoded stream matches no source position (best {errors[k]})"
    return k


def _check_stream(
    decoded: NDArray[np.float64],
    truth: NDArray[np.float64],
    limit: float | None,
    lsb: float,
    rotation: NDArray[np.float64],
) -> None:
    expected = truth if limit is None else np.clip(truth, -limit, limit)
    atol = 0.5 * lsb * 1.001 + 1e-6 * max(1.0, float(np.abs(expected).max()))
    start = _align(decoded, expected, atol)
    assert start + len(decoded) <= len(expected)
    window = expected[start : start + len(decoded)]
    # Foot frame after the profile's mounting: a rotation by signed axes keeps the tolerance.
    np.testing.assert_allclose(decoded @ rotation.T, window @ rotation.T, rtol=0, atol=atol)


def _tick_series(run: Run, kind: str) -> list[tuple[int, int]]:
    """(tick, samples) of the packets carrying ``kind`` (gyro: gyro-only packets)."""
    out = []
    for _, p in run.packets:
        if p.tick is None:
            continue
        if kind == "acc" and p.acc_m_s2 is not None:
            out.append((p.tick, len(p.acc_m_s2)))
        elif kind == "gyr" and p.acc_m_s2 is None and p.gyr_deg_s is not None:
            out.append((p.tick, len(p.gyr_deg_s)))
    return out


def _check_timing(run: Run) -> None:
    ts = run.profile.timestamps
    period = 1.0 / run.rate_hz
    if ts.kind == "per_packet_tick":
        acc_series = _tick_series(run, "acc")
        assert len(acc_series) >= 2
        for series in (acc_series, _tick_series(run, "gyr")):
            for (t0, n0), (t1, n1) in itertools.pairwise(series):
                n = n0 if ts.tick_refers_to == "first" else n1
                expected = n * period / ts.tick_unit_s
                assert abs((t1 - t0) - expected) <= 1.0 + 1e-9 * expected, (t0, t1, n, expected)
    else:
        # No pod clock: samples arrive at the configured rate (times the pod's speed).
        acc_packets = [(a, len(p.acc_m_s2)) for a, p in run.packets if p.acc_m_s2 is not None]
        elapsed = (acc_packets[-1][0] - acc_packets[0][0]) * run.speed
        measured = sum(n for _, n in acc_packets[1:]) / elapsed
        assert measured == pytest.approx(run.rate_hz, rel=0.25)


@pytest.mark.parametrize("case", CASES, ids=[c.id or c.profile for c in CASES])
async def test_profile_end_to_end(case: Case) -> None:
    run = await _run(case)
    acc = [p.acc_m_s2 for _, p in run.packets if p.acc_m_s2 is not None]
    gyr = [p.gyr_deg_s for _, p in run.packets if p.gyr_deg_s is not None]
    assert acc
    assert gyr
    truth_acc, truth_gyr = run.source.acc, run.source.gyr
    acc_limit = None if case.acc_limit_g is None else case.acc_limit_g * G_M_S2
    _check_stream(np.vstack(acc), truth_acc, acc_limit, case.acc_lsb_g * G_M_S2, run.rotation)
    _check_stream(np.vstack(gyr), truth_gyr, case.gyr_limit_dps, case.gyr_lsb_dps, run.rotation)
    assert sum(len(a) for a in acc) >= case.seconds * run.rate_hz
    _check_timing(run)
    assert run.pod.packets_sent > 0
    _check_protocol(case, run)


def _values(run: Run, role: str) -> list[bytes]:
    uuid = run.profile.gatt.resolve(role)
    return [data for _, got, data in run.items if got == uuid]


def _check_protocol(case: Case, run: Run) -> None:
    """What each vendor protocol must have shown on the link besides the samples."""
    data = _values(run, "data")
    if case.profile == "movesense-imu6":
        assert bytes.fromhex("0163c800") in data  # subscribe result, ref 99, status 200
        kinds = {d[0] for d in data}
        assert {2, 3} <= kinds  # 8 IMU6 samples at 104 Hz: split packets
        assert max(len(d) for d in data if d[0] == 2) == 152
    elif case.profile == "polar-pmd":
        control = _values(run, "control")
        assert any(c.startswith(bytes.fromhex("f0020200")) for c in control)
        assert any(c.startswith(bytes.fromhex("f0020500")) for c in control)
        frame_types = {(d[0], d[9]) for d in data}
        acc_type = {"delta": 0x81, "delta_factor": 0x80, "raw": 0x01}[
            case.options.get("acc_frames", "delta")
        ]
        gyr_type = 0x00 if case.options.get("gyro_frames") == "raw" else 0x80
        assert frame_types == {(2, acc_type), (5, gyr_type)}
        assert isinstance(run.decoder, PolarPmdDecoder)
        factors = run.decoder.factors
        assert factors[5] == float(np.float32(2000 / 32768))
        if acc_type == 0x80:
            assert factors[2] == float(np.float32(0.000244))
    elif case.profile == "mbientlab-metamotion":
        chip = case.options.get("chip", "BMI160")
        impl = {"BMI160": 1, "BMI270": 4}[chip]
        assert bytes([0x03, 0x80, impl]) in {d[:3] for d in data}
        registers = {(d[0], d[1], len(d)) for d in data if d[1] != 0x80}
        if case.options.get("packed"):
            assert registers == {(0x03, 0x05 if chip == "BMI270" else 0x1C, 20), (0x13, 0x07, 20)}
        else:
            assert registers == {(0x03, 0x04, 8), (0x13, 0x05, 8)}
    elif case.profile == "witmotion-bwt901ble":
        assert {len(d) for d in data} == {20, 40, 60}  # 1, 3, 2 packets per notification
    elif case.profile == "nordic-thingy52":
        assert {len(d) for d in data} == {18}


def test_every_profile_runs_end_to_end() -> None:
    covered = {c.profile for c in CASES} | {"bluetooth-rsc"}
    assert covered == {p.name for p in load_all_profiles()}


async def _rsc_measurements(
    pod: SimulatedPodBase, params: Mapping[str, ParamValue], *, control: bytes = b""
) -> tuple[list[RscMeasurement], list[bytes], bytes, bytes]:
    """Run the RSC profile's start steps, collect every measurement until the run ends."""
    profile = load_profile("bluetooth-rsc")
    async with pod:
        device, adv = await _find(pod)
        matched = match_profile(adv.local_name, adv.service_uuids, load_all_profiles())
        assert matched is not None
        assert matched.name == "bluetooth-rsc"
        async with BleakClient(device, timeout=5.0, **VIRTUAL) as client:
            link = Link(client)
            resolved = profile.resolve_params(params)
            cp = profile.gatt.resolve("sc_control_point")
            assert cp is not None
            if control:
                await client.start_notify(cp, link.callback(cp))
            await link.run(profile.start, resolved)
            if control:
                await client.write_gatt_char(cp, control, response=True)
                await link.wait_for(cp, bytes([0x10, control[0]]), 2.0)
            feature = bytes(await client.read_gatt_char(str(profile.gatt.info)))
            location = bytes(await client.read_gatt_char(str(profile.gatt.resolve("location"))))
            async with asyncio.timeout(10.0):
                while not pod.finished:
                    await asyncio.sleep(0.05)
            await asyncio.sleep(0.05)
            await link.run(profile.stop, resolved)
    decoder = profile.make_decoder(resolved)
    out = []
    for _, packet in _decode_all(decoder, [i for i in link.items if i[1] == profile.gatt.data]):
        assert packet.rsc is not None
        out.append(packet.rsc)
    responses = [d for _, u, d in link.items if u == cp]
    return out, responses, feature, location


async def test_rsc_speed_cadence_stride_distance_match_the_runner() -> None:
    sim = _sim(duration_s=4.0)
    params = sim.params
    source = FootSampleSource(sim, "left", sampling_rate_hz=50.0)
    pod = make_simulated_pod(
        "bluetooth-rsc", name="Stryd", source=source, side="left", speed=12.0, interval_s=0.25
    )
    measurements, _, feature, location = await _rsc_measurements(pod, {})
    assert feature == bytes.fromhex("0f00")  # stride, distance, walking/running, calibration
    assert location == b"\x01"  # top of shoe
    assert pod.packets_dropped == 0
    run_start, run_end = params.stand_s, sim.end_s - params.stand_s
    assert len(measurements) == int(np.ceil(sim.end_s / 0.25))
    stride = params.speed_m_s * 120.0 / params.cadence_spm
    for k, m in enumerate(measurements):
        t = k * 0.25  # measurement k describes run time k × interval
        running = run_start <= t < run_end
        assert m.running == running
        assert m.speed_m_s == pytest.approx(params.speed_m_s if running else 0.0, abs=1 / 512)
        assert m.cadence_per_min == (round(params.cadence_spm) if running else 0)
        assert m.stride_m == pytest.approx(stride if running else 0.0, abs=0.005)
        covered = params.speed_m_s * (min(max(t, run_start), run_end) - run_start)
        assert m.distance_m == pytest.approx(covered, abs=0.05)
    assert measurements[-1].distance_m == pytest.approx(
        params.speed_m_s * (run_end - run_start), abs=0.05 + params.speed_m_s * 0.25
    )


async def test_rsc_strides_option_and_control_point() -> None:
    sim = _sim(duration_s=1.0)
    source = FootSampleSource(sim, "left", sampling_rate_hz=20.0)
    pod = make_simulated_pod(
        "bluetooth-rsc",
        name="Zwift RunPod",
        source=source,
        speed=20.0,
        interval_s=0.5,
        cadence_unit="strides",
        speed_m_s=3.0,
        cadence_spm=180.0,
        run_start_s=0.0,
        run_end_s=100.0,
        location=2,
    )
    set_1000_m = bytes([0x01]) + struct.pack("<I", 10_000)  # set cumulative value, dm
    measurements, responses, _, location = await _rsc_measurements(
        pod, {"cadence_unit": "strides"}, control=set_1000_m
    )
    assert location == b"\x02"
    assert responses == [bytes.fromhex("100101")]
    assert all(m.cadence_per_min == 180 for m in measurements)  # sent as 90 strides/min
    assert all(m.stride_m == pytest.approx(2.0) for m in measurements)
    distances = [m.distance_m for m in measurements]
    assert distances[0] == pytest.approx(0.0)
    assert distances[-1] == pytest.approx(1000.0 + 3.0 * 0.5 * (len(distances) - 2), abs=1.6)


async def test_link_loss_mid_stream_shows_as_a_tick_gap_and_the_start_is_answered_again() -> None:
    profile = load_profile("movesense-imu6")
    rate = 104.0
    source = Recording(FootSampleSource(_sim(), "left", sampling_rate_hz=rate))
    pod = make_simulated_pod(
        "movesense-imu6", name="Movesense 1", source=source, side="left", speed=4.0
    )
    params = profile.resolve_params({})
    decoder = profile.make_decoder(params)

    async def collect(link: Link, n_packets: int) -> list[DecodedPacket]:
        async with asyncio.timeout(5.0):
            while len(_decode_all(profile.make_decoder(params), link.items)) < n_packets:
                await asyncio.sleep(0.02)
        return [p for _, p in _decode_all(decoder, link.items)]

    async with pod:
        device, _ = await _find(pod)
        client = BleakClient(device, timeout=5.0, **VIRTUAL)
        await client.connect()
        link = Link(client)
        await link.run(profile.start, params)
        before = await collect(link, 4)
        await inject_disconnect(pod.address)
        assert not client.is_connected
        await asyncio.sleep(0.3)  # ~ 1.2 s of samples go nowhere
        await client.connect()
        decoder.reset()
        link = Link(client)
        await link.run(profile.start, params)
        assert bytes.fromhex("0163c800") in [d for _, _, d in link.items]
        after = await collect(link, 3)
        await link.run(profile.stop, params)
        await client.disconnect()
    assert pod.packets_dropped > 0
    period_ms = 1000.0 / rate
    acc_before = np.vstack([p.acc_m_s2 for p in before if p.acc_m_s2 is not None])
    acc_after = np.vstack([p.acc_m_s2 for p in after if p.acc_m_s2 is not None])
    k_before = _align(acc_before, source.acc, 1e-5)
    k_after = _align(acc_after, source.acc, 1e-5)
    end_before = k_before + len(acc_before)
    missed = k_after - end_before
    assert missed >= 8 * 8  # whole notifications of 8 samples were lost
    assert missed * 2 == pod.packets_dropped * 8  # each 8-sample notification is 2 packets
    assert before[-1].tick is not None
    assert after[0].tick is not None
    gap_ms = after[0].tick - before[-1].tick
    assert gap_ms == pytest.approx((before[-1].n_samples + missed) * period_ms, abs=1)
