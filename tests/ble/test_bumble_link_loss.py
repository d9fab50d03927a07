"""Link loss in the middle of bleak's connect (GATT setup) is a retryable error, not a cancel.

bumble aborts a GATT request whose connection drops by cancelling the request's future, which
surfaces as :class:`asyncio.CancelledError` in the awaiting code. The bumble backend maps that
to :class:`BleakError` (as bleak's OS backends report a link lost during connect), so a pod
reader reconnects instead of its whole athlete session ending; a *real* cancellation of the
caller's task still cancels.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import numpy as np
import pytest
from bleak import BleakClient
from bleak.exc import BleakError
from bumble.device import Peer

from sensor_service.ble.bumble_backend import BumbleClient, close_bumble_hosts, inject_disconnect
from sensor_service.ble.reader import PodReader, PodSamples
from sensor_service.profiles import load_profile
from sensor_service.sim.footpod_codec import BATTERY_LEVEL_UUID
from sensor_service.sim.pod_peripheral import SimulatedPod

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
async def _fresh_virtual_link() -> AsyncIterator[None]:
    yield
    await close_bumble_hosts()


class _Still:
    sampling_rate_hz = 200.0

    def read(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        return np.tile([0.0, 0.0, 9.80665], (n, 1)), np.zeros((n, 3))


def _pod(name: str) -> SimulatedPod:
    return SimulatedPod(name=name, source=_Still())


OnDiscovery = Callable[[Peer], Coroutine[Any, Any, None]]


@pytest.fixture
def during_discovery(monkeypatch: pytest.MonkeyPatch) -> Callable[[OnDiscovery, int], None]:
    """Run a hook once GATT service discovery has sent its first request (``times`` connects)."""

    def install(hook: OnDiscovery, times: int = 1) -> None:
        original = Peer.discover_services
        remaining = [times]

        async def discover_services(self: Peer, *args: Any, **kwargs: Any) -> Any:
            if remaining[0] <= 0:
                return await original(self, *args, **kwargs)
            remaining[0] -= 1
            discovery = asyncio.ensure_future(original(self, *args, **kwargs))
            await asyncio.sleep(0)  # the first ATT request is out, its response pending
            await hook(self)
            return await discovery

        monkeypatch.setattr(Peer, "discover_services", discover_services)

    return install


async def _cut(peer: Peer) -> None:
    await inject_disconnect(str(peer.connection.peer_address.to_string(False)))


async def test_link_lost_during_discovery_is_a_bleak_error_and_reconnect_works(
    during_discovery: Callable[[OnDiscovery, int], None],
) -> None:
    during_discovery(_cut, 1)
    lost: list[BleakClient] = []
    async with _pod("footpod-ll-left") as pod:
        client = BleakClient(
            pod.address, disconnected_callback=lost.append, backend=BumbleClient, timeout=5.0
        )
        with pytest.raises(BleakError, match=r"link .* lost"):
            await asyncio.wait_for(client.connect(), 10)  # it used to hang in the cleanup
        assert not client.is_connected
        assert not pod.connected
        # Nothing is left half-open: the same client connects and works right away.
        await client.connect()
        assert client.is_connected
        assert (await client.read_gatt_char(BATTERY_LEVEL_UUID)) == bytearray([87])
        await client.disconnect()


async def test_a_real_cancellation_during_discovery_still_cancels(
    during_discovery: Callable[[OnDiscovery, int], None],
) -> None:
    in_discovery = asyncio.Event()
    release = asyncio.Event()

    async def hold(_peer: Peer) -> None:
        in_discovery.set()
        await release.wait()

    during_discovery(hold, 1)
    async with _pod("footpod-lm-left") as pod:
        client = BleakClient(pod.address, backend=BumbleClient, timeout=5.0)
        task = asyncio.create_task(client.connect())
        await asyncio.wait_for(in_discovery.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()
        assert not client.is_connected
        await asyncio.sleep(0.05)
        assert not pod.connected  # the half-made connection was closed
        # and the next connect succeeds.
        async with BleakClient(pod.address, backend=BumbleClient, timeout=5.0) as again:
            assert again.is_connected


async def test_link_lost_after_connect_in_a_gatt_call_is_a_bleak_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Same for a read in flight when the link drops (reader's prepare / start steps)."""
    async with _pod("footpod-ln-left") as pod:
        client = BleakClient(pod.address, backend=BumbleClient, timeout=5.0)
        await client.connect()
        original = Peer.read_value

        async def read_value(self: Peer, *args: Any, **kwargs: Any) -> Any:
            pending = asyncio.ensure_future(original(self, *args, **kwargs))
            await asyncio.sleep(0)
            await _cut(self)
            return await pending

        monkeypatch.setattr(Peer, "read_value", read_value)
        with pytest.raises(BleakError, match=r"link .* lost"):
            await client.read_gatt_char(BATTERY_LEVEL_UUID)
        assert not client.is_connected


async def test_pod_reader_retries_after_link_loss_during_discovery(
    during_discovery: Callable[[OnDiscovery, int], None],
) -> None:
    """The reader's first connect loses the link in GATT discovery; it reconnects and streams."""
    during_discovery(_cut, 2)  # the first two connects both lose the link
    states: list[str] = []
    async with _pod("footpod-lo-left"):
        reader = PodReader(
            profile=load_profile("footpod-imu-v1"), name="footpod-lo-left", on_state=states.append
        )
        chunks: list[PodSamples] = []

        async def collect() -> None:
            async for chunk in reader.stream():
                chunks.append(chunk)
                if sum(c.acc_m_s2.shape[0] for c in chunks) >= 200:
                    return

        await asyncio.wait_for(collect(), 20)
        await reader.stop()
    assert reader.counters.reconnects == 2
    assert states[:3] == ["reconnecting", "reconnecting", "connected"]
