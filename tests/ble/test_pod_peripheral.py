"""The simulated footpod-imu/1 pod, read through unmodified bleak on the virtual link.

The test side decodes the published layout itself (not with project code), so a layout
change in the pod shows up here.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import numpy as np
import pytest
from bleak import BleakClient

from sensor_service.ble.bumble_backend import BumbleClient, close_bumble_hosts, inject_disconnect
from sensor_service.sim.pod_peripheral import SimulatedPod

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
async def _fresh_virtual_link() -> AsyncIterator[None]:
    """Each test gets its own link; tear it down so the test's event loop can be freed."""
    yield
    await close_bumble_hosts()


DATA = "0ef60001-2b12-490a-92a0-97c5dde92234"
INFO = "0ef60002-2b12-490a-92a0-97c5dde92234"
CONTROL = "0ef60003-2b12-490a-92a0-97c5dde92234"
G = 9.80665


class _Counts:
    """Sample i measures acc (i, -i, 2048 + k) and gyr (3i, 0, -i) counts (mod 30000).

    ``clip_at`` samples read 20 g on x (beyond the ±16 g range).
    """

    def __init__(
        self, n_total: int, rate_hz: float = 400.0, k: int = 0, clip_at: tuple[int, ...] = ()
    ) -> None:
        self.sampling_rate_hz = rate_hz
        self.n_total = n_total
        self.k = k
        self.clip_at = clip_at
        self.pos = 0

    def read(self, n: int) -> tuple[np.ndarray, np.ndarray] | None:
        if self.pos >= self.n_total:
            return None
        i = np.arange(self.pos, min(self.pos + n, self.n_total))
        self.pos += i.size
        c = (i % 30000).astype(np.float64)
        acc_counts = np.stack([c, -c, np.full(i.size, 2048.0 + self.k)], 1)
        acc = acc_counts * G / 2048.0
        acc[np.isin(i, self.clip_at), 0] = 20 * G
        gyr = np.stack([(3 * i) % 30000, np.zeros(i.size), -c], 1) / 16.384
        return acc, gyr


def decode(packet: bytes) -> tuple[int, int, int, np.ndarray]:
    """(flags, sequence, t_first_us, samples (n, 6) int16) of one data notification."""
    assert (len(packet) - 8) % 12 == 0, f"bad packet length {len(packet)}"
    version, flags, seq, t_us = struct.unpack_from("<BBHI", packet)
    assert version == 1
    samples = np.frombuffer(packet, dtype="<i2", offset=8).reshape(-1, 6)
    return flags, seq, t_us, samples


class _Link:
    """A connected bleak client with its notification queue."""

    def __init__(self, client: BleakClient, queue: asyncio.Queue[bytes]) -> None:
        self.client = client
        self.queue = queue

    async def subscribe(self) -> None:
        await self.client.start_notify(DATA, lambda _c, data: self.queue.put_nowait(bytes(data)))

    async def command(self, payload: bytes) -> None:
        await self.client.write_gatt_char(CONTROL, payload, response=True)

    async def next_packet(self, timeout_s: float = 2.0) -> bytes:
        async with asyncio.timeout(timeout_s):
            return await self.queue.get()

    def drain_queue(self) -> list[bytes]:
        out = []
        while not self.queue.empty():
            out.append(self.queue.get_nowait())
        return out


@asynccontextmanager
async def streaming(pod: SimulatedPod, lost: list[object] | None = None) -> AsyncIterator[_Link]:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    client = BleakClient(
        pod.address,
        backend=BumbleClient,
        timeout=3.0,
        disconnected_callback=None if lost is None else lost.append,
    )
    await client.connect()
    link = _Link(client, queue)
    try:
        await link.subscribe()
        yield link
    finally:
        await client.disconnect()


async def test_stream_decodes_every_sample_in_order_until_the_end() -> None:
    n_total = 800  # 2 s at 400 Hz = 42 full packets + 2 samples
    pod = SimulatedPod(name="footpod-s1-left", source=_Counts(n_total), side="left", speed=8.0)
    async with pod, streaming(pod) as link:
        await link.command(b"\x01")
        async with asyncio.timeout(5.0):
            while not pod.finished:
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.05)
        packets = link.drain_queue()
        assert link.client.is_connected  # the pod stays connected after the recording
        await asyncio.sleep(0.1)
        assert link.queue.empty()  # ... and sends nothing more

    decoded = [decode(p) for p in packets]
    assert [seq for _, seq, _, _ in decoded] == list(range(43))
    assert [s.shape[0] for *_, s in decoded] == [19] * 42 + [2]
    assert all(flags == 0x01 for flags, *_ in decoded)  # gyro, nothing clipped
    samples = np.concatenate([s for *_, s in decoded])
    i = np.arange(n_total)
    np.testing.assert_array_equal(samples[:, 0], i % 30000)
    np.testing.assert_array_equal(samples[:, 1], -(i % 30000))
    np.testing.assert_array_equal(samples[:, 2], 2048)
    np.testing.assert_array_equal(samples[:, 3], (3 * i) % 30000)
    np.testing.assert_array_equal(samples[:, 5], -(i % 30000))
    t_us = np.array([t for _, _, t, _ in decoded], dtype=np.int64)
    np.testing.assert_array_equal(np.diff(t_us), 47_500)  # 19 samples at 400 Hz
    assert pod.packets_sent == 43
    assert pod.packets_dropped == 0


async def test_stop_pauses_and_start_resumes_without_gap() -> None:
    pod = SimulatedPod(name="footpod-s2-left", source=_Counts(100_000), speed=4.0)
    async with pod, streaming(pod) as link:
        await link.command(b"\x01")
        first = [decode(await link.next_packet()) for _ in range(3)]
        await link.command(b"\x02")
        stopped = link.drain_queue()
        await asyncio.sleep(0.15)
        assert link.queue.empty()
        assert not pod.streaming
        await link.command(b"\x01")
        resumed = decode(await link.next_packet())

    before = [*first, *(decode(p) for p in stopped)]
    assert [seq for _, seq, _, _ in before] == list(range(len(before)))
    _, last_seq, last_t, last_samples = before[-1]
    _, seq, t_us, samples = resumed
    assert seq == last_seq + 1  # stopped is not lost: no gap
    assert samples[0, 0] == last_samples[-1, 0] + 1  # the recording did not advance
    assert t_us - last_t >= 47_500 + 4 * 150_000 * 0.9  # the pod clock did (speed 4)
    assert pod.packets_dropped == 0


async def test_reconnect_after_link_loss_shows_the_lost_packets_as_a_gap() -> None:
    pod = SimulatedPod(name="footpod-s3-right", source=_Counts(100_000), side="right", speed=4.0)
    lost: list[object] = []
    async with pod, streaming(pod, lost) as link:
        await link.command(b"\x01")
        for _ in range(3):
            await link.next_packet()
        _, seq_before, _, samples_before = decode(await link.next_packet())
        await inject_disconnect(pod.address)
        assert lost == [link.client]
        assert not link.client.is_connected
        await asyncio.sleep(0.25)  # ~21 packets at speed 4 go nowhere
        assert pod.streaming
        await link.client.connect()
        await link.subscribe()
        await link.command(b"\x01")  # idempotent: already streaming
        _, seq_after, _, samples_after = decode(await link.next_packet())
        dropped = pod.packets_dropped

    gap = seq_after - seq_before - 1
    assert gap >= 15
    assert gap == dropped
    assert samples_after[0, 0] == samples_before[-1, 0] + 1 + 19 * gap


async def test_two_pods_stream_at_once() -> None:
    left = SimulatedPod(
        name="footpod-s4-left", source=_Counts(100_000, k=1), side="left", speed=4.0
    )
    right = SimulatedPod(
        name="footpod-s4-right",
        source=_Counts(100_000, k=2),
        side="right",
        speed=4.0,
        forward_axis="-y",
        left_axis="+x",
    )
    async with left, right, streaming(left) as a, streaming(right) as b:
        info_a = struct.unpack("<BHffBHBBBB3B", await a.client.read_gatt_char(INFO))
        info_b = struct.unpack("<BHffBHBBBB3B", await b.client.read_gatt_char(INFO))
        await asyncio.gather(a.command(b"\x01"), b.command(b"\x01"))
        await asyncio.sleep(0.5)
        packets_a, packets_b = a.drain_queue(), b.drain_queue()

    assert (info_a[6], info_a[7], info_a[8]) == (0, 0, 2)
    assert (info_b[6], info_b[7], info_b[8]) == (1, 3, 0)
    for packets, k in ((packets_a, 1), (packets_b, 2)):
        assert len(packets) >= 30  # ~42 at speed 4 in 0.5 s
        decoded = [decode(p) for p in packets]
        assert [seq for _, seq, _, _ in decoded] == list(range(len(decoded)))
        samples = np.concatenate([s for *_, s in decoded])
        np.testing.assert_array_equal(samples[:, 2], 2048 + k)  # each link got its own pod
        np.testing.assert_array_equal(samples[:, 0], np.arange(len(samples)))


async def test_set_rate_resamples_and_reports_the_rate() -> None:
    pod = SimulatedPod(name="footpod-s5-left", source=_Counts(100_000), speed=4.0)
    async with pod, streaming(pod) as link:
        await link.command(b"\x03" + struct.pack("<H", 200))
        info = struct.unpack("<BHffBHBBBB3B", await link.client.read_gatt_char(INFO))
        await link.command(b"\x01")
        packets = [decode(await link.next_packet()) for _ in range(4)]

    assert info[1] == 200
    t_us = np.array([t for _, _, t, _ in packets])
    np.testing.assert_array_equal(np.diff(t_us), 95_000)  # 19 samples at 200 Hz
    samples = np.concatenate([s for *_, s in packets])
    np.testing.assert_array_equal(samples[:, 0], 2 * np.arange(len(samples)))


async def test_clipping_flag_and_accelerometer_only_pod() -> None:
    pod = SimulatedPod(
        name="footpod-s6-left", source=_Counts(100_000, clip_at=(25,)), gyro=False, speed=8.0
    )
    async with pod, streaming(pod) as link:
        await link.command(b"\x01")
        packets = [decode(await link.next_packet()) for _ in range(3)]

    flags = [f for f, *_ in packets]
    assert flags == [0x00, 0x02, 0x00]  # no gyro; sample 25 lies in packet 1
    clipped = packets[1][3]
    assert clipped[25 - 19, 0] == 32767
    assert clipped[0, 0] == 19
    assert all((s[:, 3:] == 0).all() for *_, s in packets)


async def test_pod_clock_offset_drift_and_wraps() -> None:
    pod = SimulatedPod(
        name="footpod-s7-left",
        source=_Counts(100_000),
        speed=8.0,
        clock_offset_us=2**32 - 1_000_000,
        clock_drift_ppm=200.0,
        initial_sequence=65_530,
    )
    async with pod, streaming(pod) as link:
        await link.command(b"\x01")
        packets = [decode(await link.next_packet()) for _ in range(40)]

    seqs = [seq for _, seq, _, _ in packets]
    assert seqs[:8] == [65530, 65531, 65532, 65533, 65534, 65535, 0, 1]
    t_us = np.array([t for _, _, t, _ in packets], dtype=np.int64)
    assert (np.diff(t_us) < 0).sum() == 1  # the u32 timestamp wrapped once
    steps = np.diff(t_us) % 2**32
    assert set(steps.tolist()) <= {47_509, 47_510}  # 47 500 µs × (1 + 200 ppm)
    assert steps.sum() == pytest.approx(39 * 47_500 * 1.0002, abs=1)
