"""Unmodified bleak over the bumble virtual link: scan, connect, GATT, disconnects."""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import AsyncIterator

import numpy as np
import pytest
from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakGATTProtocolError

from sensor_service.ble.backend import backend_kwargs
from sensor_service.ble.bumble_backend import (
    ATT_MTU_REQUEST,
    BleLinkError,
    BumbleClient,
    BumbleScanner,
    advertising_data,
    close_bumble_hosts,
    inject_disconnect,
    new_virtual_address,
    virtual_link,
)
from sensor_service.sim.footpod_codec import (
    BATTERY_LEVEL_UUID,
    CONTROL_UUID,
    DATA_UUID,
    INFO_FORMAT,
    INFO_UUID,
    SERVICE_UUID,
)
from sensor_service.sim.pod_peripheral import SimulatedPod

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
async def _fresh_virtual_link() -> AsyncIterator[None]:
    """Each test gets its own link; tear it down so the test's event loop can be freed."""
    yield
    await close_bumble_hosts()


class _Still:
    """A pod lying still: 1 g on +z, no rotation, forever."""

    sampling_rate_hz = 200.0

    def read(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        acc = np.tile([0.0, 0.0, 9.80665], (n, 1))
        return acc, np.zeros((n, 3))


def _pod(name: str, **kwargs: object) -> SimulatedPod:
    return SimulatedPod(name=name, source=_Still(), **kwargs)  # type: ignore[arg-type]


async def test_find_by_name_and_by_service_uuid() -> None:
    async with _pod("footpod-a1-left") as left, _pod("footpod-a1-right") as right:
        by_name = await BleakScanner.find_device_by_name(
            "footpod-a1-right", timeout=2.0, backend=BumbleScanner
        )
        assert by_name is not None
        assert by_name.address == right.address
        assert by_name.name == "footpod-a1-right"

        by_uuid = await BleakScanner.find_device_by_filter(
            lambda _d, adv: SERVICE_UUID in adv.service_uuids, timeout=2.0, backend=BumbleScanner
        )
        assert by_uuid is not None
        assert by_uuid.address in (left.address, right.address)


async def test_discover_returns_advertisement_data() -> None:
    async with _pod("footpod-b2-left") as pod:
        found = await BleakScanner.discover(timeout=0.3, return_adv=True, backend=BumbleScanner)
        assert pod.address in found
        device, adv = found[pod.address]
        assert isinstance(device, BLEDevice)
        assert isinstance(adv, AdvertisementData)
        assert adv.local_name == "footpod-b2-left"
        assert adv.service_uuids == [SERVICE_UUID]  # de-duplicated, lower-case 128-bit


async def test_scanner_service_filter_and_detection_callback() -> None:
    seen: list[str] = []
    async with _pod("footpod-c3-left") as pod:
        scanner = BleakScanner(
            lambda d, _a: seen.append(d.address),
            service_uuids=["0000180d-0000-1000-8000-00805f9b34fb"],  # heart rate: not a pod
            backend=BumbleScanner,
        )
        async with scanner:
            await asyncio.sleep(0.2)
        assert seen == []
        scanner = BleakScanner(
            lambda d, _a: seen.append(d.address),
            service_uuids=[SERVICE_UUID],
            backend=BumbleScanner,
        )
        async with scanner:
            await asyncio.sleep(0.2)
        assert pod.address in seen


async def test_connect_read_write_and_mtu() -> None:
    async with _pod("footpod-d4-right", side="right", battery_pct=64) as pod:
        async with BleakClient(pod.address, backend=BumbleClient, timeout=5.0) as client:
            assert client.is_connected
            assert client.mtu_size == ATT_MTU_REQUEST
            assert client.mtu_size >= 247
            service = client.services.get_service(SERVICE_UUID)
            assert service is not None
            assert {c.uuid for c in service.characteristics} == {DATA_UUID, INFO_UUID, CONTROL_UUID}
            data_char = client.services.get_characteristic(DATA_UUID)
            assert data_char is not None
            assert data_char.properties == ["notify"]
            assert data_char.max_write_without_response_size == 244
            control = client.services.get_characteristic(CONTROL_UUID)
            assert control is not None
            assert control.properties == ["write"]

            info = struct.unpack(INFO_FORMAT, await client.read_gatt_char(INFO_UUID))
            assert info[0] == 1
            assert info[1] == 200
            assert info[6] == 1  # right
            assert (await client.read_gatt_char(BATTERY_LEVEL_UUID)) == bytearray([64])

            await client.write_gatt_char(CONTROL_UUID, b"\x03\x90\x01", response=True)
            info = struct.unpack(INFO_FORMAT, await client.read_gatt_char(INFO_UUID))
            assert info[1] == 400
            with pytest.raises(BleakGATTProtocolError):
                await client.write_gatt_char(CONTROL_UUID, b"\x03\x00\x00", response=True)
            with pytest.raises(BleakGATTProtocolError):
                await client.write_gatt_char(CONTROL_UUID, b"\x7f", response=True)
            await client.write_gatt_char(CONTROL_UUID, b"\x01", response=False)
            await asyncio.sleep(0.05)
            assert pod.streaming
        assert not client.is_connected


async def test_connect_to_absent_address_times_out() -> None:
    absent = new_virtual_address()
    client = BleakClient(absent, backend=BumbleClient, timeout=0.4)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await client.connect()
    elapsed = time.monotonic() - started
    assert 0.35 <= elapsed < 2.0
    assert not client.is_connected
    # The cancelled connect left nothing pending: a real pod connects right after.
    async with (
        _pod("footpod-e5-left") as pod,
        BleakClient(pod.address, backend=BumbleClient, timeout=2.0) as client,
    ):
        assert client.is_connected


async def test_caller_cancellation_leaves_no_pending_connect() -> None:
    client = BleakClient(new_virtual_address(), backend=BumbleClient, timeout=30.0)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await client.connect()
    async with (
        _pod("footpod-f6-left") as pod,
        BleakClient(pod.address, backend=BumbleClient, timeout=2.0) as other,
    ):
        assert other.is_connected


async def test_disconnected_callback_on_link_loss_then_reconnect() -> None:
    lost: list[BleakClient] = []
    async with _pod("footpod-g7-left") as pod:
        client = BleakClient(
            pod.address, disconnected_callback=lost.append, backend=BumbleClient, timeout=2.0
        )
        await client.connect()
        assert lost == []
        await inject_disconnect(pod.address)
        assert lost == [client]
        assert not client.is_connected
        assert not pod.connected
        await client.connect()
        assert client.is_connected
        assert client.mtu_size == 247
        assert (await client.read_gatt_char(BATTERY_LEVEL_UUID)) == bytearray([87])
        await client.disconnect()
        assert len(lost) == 2  # bleak's OS backends also report explicit disconnects
        assert not client.is_connected


async def test_inject_disconnect_without_connection_fails_clearly() -> None:
    async with _pod("footpod-h8-left") as pod:
        with pytest.raises(BleLinkError, match="no virtual connection"):
            await inject_disconnect(pod.address)


async def test_concurrent_connects_are_serialised() -> None:
    async with _pod("footpod-i9-left") as a, _pod("footpod-i9-right") as b:
        clients = [BleakClient(p.address, backend=BumbleClient, timeout=3.0) for p in (a, b)]
        await asyncio.gather(*(c.connect() for c in clients))
        assert all(c.is_connected for c in clients)
        values = await asyncio.gather(*(c.read_gatt_char(INFO_UUID) for c in clients))
        assert all(len(v) == 21 for v in values)
        await asyncio.gather(*(c.disconnect() for c in clients))


async def test_backend_kwargs_virtual_drives_scanner_and_client() -> None:
    kwargs = backend_kwargs("virtual")
    async with _pod("footpod-j1-left") as pod:
        device = await BleakScanner.find_device_by_name("footpod-j1-left", timeout=2.0, **kwargs)
        assert device is not None
        async with BleakClient(device, **kwargs) as client:
            assert client.name == "footpod-j1-left"
            assert client.address == pod.address


async def test_one_link_per_loop_and_unique_addresses() -> None:
    first = await virtual_link()
    second = await virtual_link()
    assert first.central is second.central
    addresses = {new_virtual_address() for _ in range(100)}
    assert len(addresses) == 100
    with pytest.raises(BleLinkError, match="already on the virtual link"):
        await first.add_device(name="dup", address=str(first.central.random_address))


async def test_close_bumble_hosts_takes_pods_off_and_starts_afresh() -> None:
    pod = _pod("footpod-k2-left")
    await pod.start()
    link = await virtual_link()
    client = BleakClient(pod.address, backend=BumbleClient, timeout=2.0)
    await client.connect()
    await close_bumble_hosts()
    assert not client.is_connected
    assert len(link.link.controllers) == 1  # only the old central is left on the old link
    fresh = await virtual_link()
    assert fresh.central is not link.central
    found = await BleakScanner.find_device_by_name(
        "footpod-k2-left", timeout=0.3, backend=BumbleScanner
    )
    assert found is None


def test_advertising_data_fits_legacy_or_fails() -> None:
    data = advertising_data("footpod-a1", [SERVICE_UUID, SERVICE_UUID])
    assert len(data) <= 31
    assert b"footpod-a1" in data
    assert data.count(bytes.fromhex("3422e9ddc597a0920a49122bac2ef60e")) == 1
    with pytest.raises(BleLinkError, match="more than 31"):
        advertising_data("footpod-a1-left-long", [SERVICE_UUID])
    assert len(advertising_data("footpod-a1-left-long", [SERVICE_UUID], max_bytes=251)) > 31
