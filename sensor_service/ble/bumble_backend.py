"""bleak backends on a bumble host: an in-process virtual link, or a real HCI transport.

Unmodified bleak code works on top of these backends::

    scanner = BleakScanner(backend=BumbleScanner)
    client = BleakClient(device, backend=BumbleClient, disconnected_callback=on_lost)

By default the backends use the *virtual link* of the running event loop: one
:class:`bumble.link.LocalLink` with one central (the bleak side), to which simulated
peripherals are added with :func:`create_virtual_peripheral`. Pass
``bumble_transport="usb:0"`` (any bumble transport spec) to both constructors to drive a
real controller through bumble's host instead of the OS Bluetooth stack.

What the backends do on top of bumble (see ``/work/shared/BLE-NOTES.md``):

* one central per event loop (and transport), created inside the running loop;
* connects are serialised with a lock (one pending LE connect per bumble device); a
  connect honours ``timeout=`` and raises the builtin :class:`TimeoutError`;
* ATT MTU 247 is requested on connect; :attr:`BumbleClient.mtu_size` reports the result;
* ``disconnected_callback`` fires on every disconnection, as with bleak's OS backends;
* a link lost in the middle of ``connect`` (MTU exchange, GATT discovery) or of a GATT call
  raises :class:`~bleak.exc.BleakError`, as bleak's OS backends do: bumble reports it by
  cancelling the pending request, and that must not look like a cancellation of the
  caller's task (a real ``cancel()`` of the caller still raises ``CancelledError``);
* :func:`inject_disconnect` simulates link loss (LE disconnection, reason 0x08).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import struct
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import (
    AdvertisementData,
    AdvertisementDataCallback,
    BaseBleakScanner,
)
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError, BleakGATTProtocolError
from bleak.uuids import normalize_uuid_str
from bumble import att, core, hci
from bumble.core import AdvertisingData
from bumble.device import (
    Advertisement,
    AdvertisingEventProperties,
    AdvertisingParameters,
    Connection,
    Device,
    Peer,
)
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport import open_transport
from bumble.transport.common import AsyncPipeSink

from sensor_service.ble._bumble_controller import VirtualController, terminate_le_connection
from sensor_service.errors import FootpodError

__all__ = [
    "ATT_MTU_REQUEST",
    "CONNECTION_TIMEOUT_REASON",
    "BleLinkError",
    "BumbleBackend",
    "BumbleClient",
    "BumbleScanner",
    "VirtualLink",
    "advertising_data",
    "close_bumble_hosts",
    "create_virtual_peripheral",
    "inject_disconnect",
    "new_virtual_address",
    "remove_virtual_peripheral",
    "start_advertising",
    "virtual_link",
]

ATT_MTU_REQUEST = 247
"""ATT MTU requested on every connect, as OS stacks do (BLE-NOTES pitfall 8)."""

CONNECTION_TIMEOUT_REASON = 0x08
"""HCI reason code for a supervision timeout: what a pod walking out of range causes."""

_PERIPHERAL_ADVERTISING_INTERVAL_MS = 20.0
_MAX_LEGACY_AD_BYTES = 31
_MAX_EXTENDED_AD_BYTES = 251
_LOCAL_USER_TERMINATED = 0x13
_ABORT_DISCONNECT_TIMEOUT_S = 2.0

_PROPERTY_NAMES = (
    (0x01, "broadcast"),
    (0x02, "read"),
    (0x04, "write-without-response"),
    (0x08, "write"),
    (0x10, "notify"),
    (0x20, "indicate"),
    (0x40, "authenticated-signed-writes"),
    (0x80, "extended-properties"),
)

# bumble logs (and formats debug strings) on every packet: keep it at WARNING.
for _name in ("bumble", "bumble.device", "bumble.host", "bumble.controller", "bumble.link"):
    logging.getLogger(_name).setLevel(logging.WARNING)

_address_counter = itertools.count(1)
logger = logging.getLogger(__name__)


class BleLinkError(FootpodError, RuntimeError):
    """The bumble link or host failed; ``address`` names the peer when there is one."""

    def __init__(self, message: str, *, address: str | None = None) -> None:
        self.address = address
        super().__init__(message)


def new_virtual_address() -> str:
    """Return a fresh static random address (unique in this process) for the virtual link.

    LocalLink routes by controller address and bumble's default is all zeros, so every
    device needs its own (BLE-NOTES pitfall 5).
    """
    n = next(_address_counter)
    return "F0:5A:{:02X}:{:02X}:{:02X}:{:02X}".format(*n.to_bytes(4, "big"))


def _le_address(address: str) -> hci.Address:
    try:
        return hci.Address(address, hci.Address.RANDOM_DEVICE_ADDRESS)
    except (core.InvalidArgumentError, ValueError) as exc:
        raise BleLinkError(
            f"invalid Bluetooth address {address!r}: use six hex bytes like 'F0:5A:00:00:00:01'",
            address=address,
        ) from exc


def _address_str(address: hci.Address) -> str:
    return str(address.to_string(False))


def advertising_data(
    name: str, service_uuids: Iterable[str] = (), *, max_bytes: int = _MAX_LEGACY_AD_BYTES
) -> bytes:
    """Build advertising data carrying ``name`` and the 128-bit ``service_uuids``.

    The virtual controller never sends scan responses, so name and UUIDs go in the
    advertising data itself (BLE-NOTES pitfall 4). The Flags field is dropped when
    ``max_bytes`` (31 for legacy advertising) would not hold it; UUIDs are de-duplicated.

    Raises:
        BleLinkError: if name and UUIDs do not fit in ``max_bytes``.
    """
    uuids = list(dict.fromkeys(core.UUID(u) for u in service_uuids))
    structures: list[tuple[int, bytes]] = []
    if uuids:
        structures.append(
            (
                AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                b"".join(u.to_bytes(force_128=True) for u in uuids),
            )
        )
    structures.append((AdvertisingData.COMPLETE_LOCAL_NAME, name.encode()))
    flags = (
        AdvertisingData.FLAGS,
        bytes(
            [
                AdvertisingData.LE_GENERAL_DISCOVERABLE_MODE_FLAG
                | AdvertisingData.BR_EDR_NOT_SUPPORTED_FLAG
            ]
        ),
    )

    def encode(items: list[tuple[int, bytes]]) -> bytes:
        return b"".join(bytes([len(data) + 1, kind]) + data for kind, data in items)

    data = encode([flags, *structures])
    if len(data) > max_bytes:
        data = encode(structures)
    if len(data) > max_bytes:
        raise BleLinkError(
            f"advertising data for {name!r} is {len(data)} bytes, more than {max_bytes}: "
            "shorten the name or advertise fewer service UUIDs"
        )
    return data


async def start_advertising(
    device: Device,
    *,
    name: str,
    service_uuids: Iterable[str] = (),
    interval_ms: float = _PERIPHERAL_ADVERTISING_INTERVAL_MS,
) -> None:
    """Advertise ``device`` as connectable with ``name`` and ``service_uuids``, restarting
    after every disconnection.

    Legacy advertising when the data fits in 31 bytes (a name of up to 11 characters with
    one 128-bit UUID); otherwise extended advertising (up to 251 bytes), which bleak on any
    Bluetooth 5 central and the virtual link both receive.
    """
    uuids = list(service_uuids)
    try:
        data = advertising_data(name, uuids)
        legacy = True
    except BleLinkError:
        data = advertising_data(name, uuids, max_bytes=_MAX_EXTENDED_AD_BYTES)
        legacy = False
    await device.create_advertising_set(
        advertising_parameters=AdvertisingParameters(
            advertising_event_properties=AdvertisingEventProperties(
                is_connectable=True, is_scannable=legacy, is_legacy=legacy
            ),
            primary_advertising_interval_min=interval_ms,
            primary_advertising_interval_max=interval_ms,
        ),
        random_address=device.random_address,
        advertising_data=data,
        auto_start=True,
        auto_restart=True,
    )


def _parse_advertisement(adv: Advertisement) -> tuple[str | None, AdvertisementData]:
    """Turn a bumble advertisement into bleak's AdvertisementData (duplicates removed)."""
    local_name: str | None = None
    short_name: str | None = None
    uuids: dict[str, None] = {}
    manufacturer_data: dict[int, bytes] = {}
    service_data: dict[str, bytes] = {}
    tx_power: int | None = None
    uuid_sizes = {
        AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS: 2,
        AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS: 2,
        AdvertisingData.COMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS: 4,
        AdvertisingData.INCOMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS: 4,
        AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS: 16,
        AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS: 16,
    }
    service_data_sizes = {
        AdvertisingData.SERVICE_DATA_16_BIT_UUID: 2,
        AdvertisingData.SERVICE_DATA_32_BIT_UUID: 4,
        AdvertisingData.SERVICE_DATA_128_BIT_UUID: 16,
    }
    for kind, data in adv.data.ad_structures:
        if kind == AdvertisingData.COMPLETE_LOCAL_NAME and local_name is None:
            local_name = data.decode("utf-8", errors="replace")
        elif kind == AdvertisingData.SHORTENED_LOCAL_NAME and short_name is None:
            short_name = data.decode("utf-8", errors="replace")
        elif kind in uuid_sizes:
            size = uuid_sizes[kind]
            for i in range(0, len(data) - size + 1, size):
                uuid = core.UUID.from_bytes(data[i : i + size])
                uuids[normalize_uuid_str(uuid.to_hex_str("-"))] = None
        elif kind in service_data_sizes and len(data) >= service_data_sizes[kind]:
            size = service_data_sizes[kind]
            uuid = core.UUID.from_bytes(data[:size])
            service_data[normalize_uuid_str(uuid.to_hex_str("-"))] = bytes(data[size:])
        elif kind == AdvertisingData.MANUFACTURER_SPECIFIC_DATA and len(data) >= 2:
            company = struct.unpack_from("<H", data)[0]
            manufacturer_data[company] = bytes(data[2:])
        elif kind == AdvertisingData.TX_POWER_LEVEL and len(data) == 1:
            tx_power = struct.unpack("<b", data)[0]
    name = local_name if local_name is not None else short_name
    return name, AdvertisementData(
        local_name=name,
        manufacturer_data=manufacturer_data,
        service_data=service_data,
        service_uuids=list(uuids),
        tx_power=tx_power,
        rssi=adv.rssi,
        platform_data=(adv,),
    )


@dataclass(eq=False)
class _Central:
    """The bumble host acting as bleak's central on one event loop (and transport)."""

    device: Device
    link: LocalLink | None = None
    controller: VirtualController | None = None
    transport: Any = None
    connect_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    scan_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    scanners: set[BumbleScanner] = field(default_factory=set)
    peripherals: dict[Device, VirtualController] = field(default_factory=dict)
    seen_addresses: dict[str, hci.Address] = field(default_factory=dict)
    """Typed (public / random) address of every advertiser seen, by address string."""

    def __post_init__(self) -> None:
        self.device.on(self.device.EVENT_ADVERTISEMENT, self._on_advertisement)

    def _on_advertisement(self, adv: Advertisement) -> None:
        if not self.scanners:
            return
        name, data = _parse_advertisement(adv)
        address = _address_str(adv.address)
        self.seen_addresses[address] = adv.address
        for scanner in list(self.scanners):
            scanner._on_advertisement(address, name, data, adv)

    async def add_scanner(self, scanner: BumbleScanner) -> None:
        async with self.scan_lock:
            if not self.scanners:
                await self.device.start_scanning(filter_duplicates=False)
            self.scanners.add(scanner)

    async def close(self) -> None:
        """Stop scanning, take every virtual peripheral off the link, release the transport."""
        self.scanners.clear()
        with contextlib.suppress(Exception):
            if self.device.is_scanning:
                await self.device.stop_scanning()
        for connection in list(self.device.connections.values()):
            with contextlib.suppress(Exception):
                await connection.disconnect()
        if self.link is not None:
            link = VirtualLink(self)
            for device in list(self.peripherals):
                await link.remove_device(device)
        with contextlib.suppress(Exception):
            await self.device.power_off()
        if self.transport is not None:
            with contextlib.suppress(Exception):
                await self.transport.close()

    async def remove_scanner(self, scanner: BumbleScanner) -> None:
        async with self.scan_lock:
            if scanner not in self.scanners:
                return
            self.scanners.discard(scanner)
            if not self.scanners and self.device.is_scanning:
                await self.device.stop_scanning()


_VIRTUAL = "virtual"
_centrals: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, asyncio.Task[_Central]]
] = weakref.WeakKeyDictionary()


def _new_virtual_device(link: LocalLink, name: str, address: str) -> tuple[Device, Any]:
    controller = VirtualController(name, link=link, public_address=address)
    host = Host(controller, AsyncPipeSink(controller))
    device = Device(name=name, address=hci.Address(address), host=host)
    return device, controller


async def _create_central(transport: str) -> _Central:
    if transport == _VIRTUAL:
        link = LocalLink()
        device, controller = _new_virtual_device(link, "footpod-central", new_virtual_address())
        await device.power_on()
        return _Central(device=device, link=link, controller=controller)
    try:
        hci_transport = await open_transport(transport)
    except Exception as exc:
        raise BleLinkError(
            f"cannot open bumble transport {transport!r}: check the dongle is plugged in, "
            f"not claimed by the OS Bluetooth stack, and that you may access it ({exc})"
        ) from exc
    device = Device.with_hci(
        "footpod-central",
        hci.Address.generate_static_address(),
        hci_transport.source,
        hci_transport.sink,
    )
    try:
        await device.power_on()
    except Exception as exc:
        await hci_transport.close()
        raise BleLinkError(f"bumble transport {transport!r} did not power on: {exc}") from exc
    return _Central(device=device, transport=hci_transport)


async def _central(transport: str | None = None) -> _Central:
    """Get or create the central for the running loop (and transport)."""
    key = transport or _VIRTUAL
    loop = asyncio.get_running_loop()
    per_loop = _centrals.setdefault(loop, {})
    task = per_loop.get(key)
    if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
        task = loop.create_task(_create_central(key))
        per_loop[key] = task
    return await asyncio.shield(task)


async def close_bumble_hosts() -> None:
    """Close the virtual link and any bumble transports of the running event loop.

    bumble objects hold their loop, so the per-loop registry keeps a loop alive until this
    is called; call it when a long-lived process retires a loop (test fixtures, shutdown).
    The next use on the loop starts afresh.
    """
    per_loop = _centrals.pop(asyncio.get_running_loop(), None) or {}
    for task in per_loop.values():
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            continue
        if task.cancelled() or task.exception() is not None:
            continue
        await task.result().close()


class VirtualLink:
    """The in-process virtual link of one event loop: a central plus simulated peripherals."""

    def __init__(self, central: _Central) -> None:
        self._central = central

    @property
    def link(self) -> LocalLink:
        """The bumble LocalLink all virtual controllers of this loop are on."""
        assert self._central.link is not None
        return self._central.link

    @property
    def central(self) -> Device:
        """The bumble device the bleak backends drive."""
        return self._central.device

    async def add_device(self, *, name: str, address: str | None = None) -> Device:
        """Create and power on a bumble device on this link (a peripheral, usually).

        The caller adds GATT services and starts advertising; ``address`` defaults to a
        fresh unique static random address.
        """
        if address is None:
            address = new_virtual_address()
        le_address = _le_address(address)
        for controller in self.link.controllers:
            if le_address in (controller.random_address, controller.public_address):
                raise BleLinkError(
                    f"address {address} is already on the virtual link: give every pod "
                    "its own address",
                    address=address,
                )
        device, controller = _new_virtual_device(self.link, name, address)
        await device.power_on()
        self._central.peripherals[device] = controller
        return device

    async def out_of_range(self, address: str, duration_s: float) -> None:
        """A pod walks out of range for ``duration_s``: link loss (0x08), then silence.

        The peripheral keeps running (its clock and measurements go on) but its controller
        leaves the link and stops advertising, so the central can neither find nor reach it
        until it is back in range.
        """
        found = [
            (d, c)
            for d, c in self._central.peripherals.items()
            if str(d.random_address.to_string(False)) == address
        ]
        if not found:
            raise BleLinkError(f"no virtual peripheral with address {address}", address=address)
        device, controller = found[0]
        sets = list(device.extended_advertising_sets.values())
        for advertising_set in sets:
            advertising_set.auto_restart = False
            await advertising_set.stop()
        await self.inject_disconnect(address)
        self.link.remove_controller(controller)
        try:
            await asyncio.sleep(duration_s)
        finally:
            self.link.add_controller(controller)
            for advertising_set in sets:
                advertising_set.auto_restart = True
                await advertising_set.start()

    async def remove_device(self, device: Device) -> None:
        """Take ``device`` off the link: its connections drop (reason 0x13), it goes silent."""
        controller = self._central.peripherals.pop(device, None)
        if controller is None:
            return
        for advertising_set in list(device.extended_advertising_sets.values()):
            with contextlib.suppress(Exception):
                await advertising_set.stop()
        for peer_address in list(controller.le_connections):
            terminate_le_connection(controller, peer_address, _LOCAL_USER_TERMINATED)
        await asyncio.sleep(0)
        with contextlib.suppress(Exception):
            await device.power_off()
        if controller in self.link.controllers:
            self.link.remove_controller(controller)

    async def inject_disconnect(
        self, address: str, reason: int = CONNECTION_TIMEOUT_REASON
    ) -> None:
        """Drop the central's connection to ``address`` on both controllers.

        Simulates link loss (default reason 0x08, supervision timeout): both hosts see a
        Disconnection Complete event with ``reason``. Returns once the central's host has
        processed it.

        Raises:
            BleLinkError: if the central has no connection to ``address``.
        """
        controller = self._central.controller
        assert controller is not None
        le_address = _le_address(address)
        device = self._central.device
        connection = device.find_connection_by_bd_addr(le_address, core.PhysicalTransport.LE)
        if connection is None or not terminate_le_connection(controller, le_address, reason):
            raise BleLinkError(f"no virtual connection to {address} to disconnect", address=address)
        done = asyncio.get_running_loop().create_future()

        def on_disconnection(_reason: int) -> None:
            if not done.done():
                done.set_result(None)

        connection.once(connection.EVENT_DISCONNECTION, on_disconnection)
        async with asyncio.timeout(2.0):
            await done


async def virtual_link() -> VirtualLink:
    """Get (or create) the virtual link and its central for the running event loop."""
    return VirtualLink(await _central(None))


async def create_virtual_peripheral(*, name: str, address: str | None = None) -> Device:
    """Create a powered-on bumble device on the running loop's virtual link.

    Add GATT services, then advertise, e.g.::

        device = await create_virtual_peripheral(name="footpod-a1-left")
        device.add_service(service)
        await start_advertising(device, name=device.name, service_uuids=[SERVICE_UUID])
    """
    link = await virtual_link()
    return await link.add_device(name=name, address=address)


async def remove_virtual_peripheral(device: Device) -> None:
    """Take a device made by :func:`create_virtual_peripheral` off the link (see VirtualLink)."""
    link = await virtual_link()
    await link.remove_device(device)


async def inject_disconnect(address: str, reason: int = CONNECTION_TIMEOUT_REASON) -> None:
    """Simulate link loss to ``address`` on the running loop's virtual link (see VirtualLink)."""
    link = await virtual_link()
    await link.inject_disconnect(address, reason)


class BumbleScanner(BaseBleakScanner):
    """bleak scanner backend on a bumble host (virtual link unless ``bumble_transport``)."""

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        *,
        bumble_transport: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._transport = bumble_transport
        self._central_obj: _Central | None = None

    async def start(self) -> None:
        """Start scanning: advertisements go to bleak's callbacks and ``seen_devices``."""
        self.seen_devices = {}
        self._central_obj = await _central(self._transport)
        await self._central_obj.add_scanner(self)

    async def stop(self) -> None:
        """Stop scanning."""
        if self._central_obj is not None:
            await self._central_obj.remove_scanner(self)

    def _on_advertisement(
        self, address: str, name: str | None, data: AdvertisementData, adv: Advertisement
    ) -> None:
        if not self.is_allowed_uuid(data.service_uuids):
            return
        device = self.create_or_update_device(address, address, name, adv, data)
        self.call_detection_callbacks(device, data)


def _is_live(connection: Connection) -> bool:
    """True while bumble still has ``connection`` (no Disconnection Complete seen)."""
    return connection.device.connections.get(connection.handle) is connection


def _task_is_cancelling() -> bool:
    """True if someone called ``cancel()`` on the running task (a real cancellation).

    bumble aborts a GATT request whose link dropped by cancelling the request's own future;
    that ``CancelledError`` reaches the awaiting task without the task being cancelled.
    """
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


@contextlib.contextmanager
def _link_loss_as_bleak_error(address: str, what: str) -> Iterator[None]:
    """Map bumble's "link lost" cancellation to :class:`BleakError`; a real one propagates."""
    try:
        yield
    except asyncio.CancelledError as exc:
        if _task_is_cancelling():
            raise
        raise BleakError(f"{what}: the link to {address} was lost ({exc})") from exc


def _properties(flags: int) -> list[Any]:
    return [name for bit, name in _PROPERTY_NAMES if flags & bit]


def _uuid_str(uuid: core.UUID) -> str:
    return normalize_uuid_str(uuid.to_hex_str("-"))


class BumbleClient(BaseBleakClient):
    """bleak client backend on a bumble host (virtual link unless ``bumble_transport``)."""

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 10.0,
        bumble_transport: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        self._transport = bumble_transport
        self._name = (
            address_or_ble_device.name
            if isinstance(address_or_ble_device, BLEDevice) and address_or_ble_device.name
            else self.address.replace(":", "-")
        )
        self._typed_address: hci.Address | None = None
        if isinstance(address_or_ble_device, BLEDevice) and isinstance(
            address_or_ble_device.details, Advertisement
        ):
            self._typed_address = address_or_ble_device.details.address
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._subscribers: dict[int, Callable[[bytes], None]] = {}
        self._characteristics: dict[int, Any] = {}

    @property
    def name(self) -> str:
        """The advertised name if the client was built from a BLEDevice, else the address."""
        return self._name

    @property
    def mtu_size(self) -> int:
        """The negotiated ATT MTU of the current connection (23 when not connected)."""
        if self._connection is None:
            return att.ATT_DEFAULT_MTU
        return int(self._connection.att_mtu)

    @property
    def is_connected(self) -> bool:
        """True while the link is up."""
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        """Connect, exchange MTU 247 and discover services within ``timeout`` seconds.

        Raises:
            TimeoutError: if the peripheral did not answer within the timeout.
            BleakError: if the controller refused or the link failed during setup.
        """
        if pair:
            logger.info("bumble backend: pairing is not supported, connecting without it")
        timeout = float(kwargs.get("timeout", self._timeout))
        central = await _central(self._transport)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        # A scan tells public from random addresses; unknown strings are taken as random
        # (what pods and the virtual link use).
        address = self._typed_address or central.seen_addresses.get(self.address)
        if address is None:
            address = _le_address(self.address)
        async with central.connect_lock:
            connection = await self._connect_le(central.device, address, timeout)
        try:
            connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
            self._connection = connection
            self._peer = Peer(connection)
            async with asyncio.timeout_at(deadline):
                await self._peer.request_mtu(ATT_MTU_REQUEST)
                self.services = await self._discover()
        except BaseException as exc:
            # Checked before the await below, which could itself be cancelled.
            link_lost = isinstance(exc, asyncio.CancelledError) and not _task_is_cancelling()
            await self._abort(connection)
            if isinstance(exc, TimeoutError):
                raise TimeoutError(
                    f"connected to {self.address} but GATT setup did not finish within "
                    f"{timeout:g} s"
                ) from exc
            if isinstance(exc, (att.ATT_Error, core.BaseBumbleError)):
                raise BleakError(f"GATT setup with {self.address} failed: {exc}") from exc
            if link_lost:
                # bumble cancels the pending GATT request when the link drops; to bleak's
                # callers that is a failed connect (as on bleak's OS backends), retryable,
                # not a cancellation of their task.
                raise BleakError(
                    f"GATT setup with {self.address} failed: the link to {self.address} "
                    f"was lost ({str(exc) or 'disconnected'})"
                ) from exc
            raise

    async def _connect_le(
        self, device: Device, address: hci.Address, budget_s: float
    ) -> Connection:
        try:
            connection: Connection = await device.connect_le(
                address, own_address_type=hci.OwnAddressType.RANDOM, timeout=budget_s
            )
        except core.TimeoutError as exc:
            raise TimeoutError(
                f"no connection to {self.address} within {budget_s:g} s: is the pod on, in "
                "range and advertising?"
            ) from exc
        except asyncio.CancelledError:
            # Caller cancelled (e.g. its own timeout): do not leave a pending connect behind.
            with contextlib.suppress(Exception):
                await device.send_sync_command(hci.HCI_LE_Create_Connection_Cancel_Command())
            stray = device.find_connection_by_bd_addr(address, core.PhysicalTransport.LE)
            if stray is not None:
                with contextlib.suppress(Exception):
                    await stray.disconnect()
            raise
        except (core.BaseBumbleError, hci.HCI_Error) as exc:
            raise BleakError(f"connect to {self.address} failed: {exc}") from exc
        return connection

    async def _abort(self, connection: Connection) -> None:
        """Forget ``connection`` and close it if it is still up (never wait for long)."""
        self._reset()
        if not _is_live(connection):
            # Already gone (link lost): a Disconnect for a dead handle is never answered.
            return
        with contextlib.suppress(Exception):
            async with asyncio.timeout(_ABORT_DISCONNECT_TIMEOUT_S):
                await connection.disconnect()

    async def _discover(self) -> BleakGATTServiceCollection:
        assert self._peer is not None
        await self._peer.discover_services()
        collection = BleakGATTServiceCollection()
        self._characteristics = {}
        for service in self._peer.services:
            await service.discover_characteristics()
            bleak_service = BleakGATTService(service, service.handle, _uuid_str(service.uuid))
            collection.add_service(bleak_service)
            for characteristic in service.characteristics:
                await characteristic.discover_descriptors()
                bleak_char = BleakGATTCharacteristic(
                    characteristic,
                    characteristic.handle,
                    _uuid_str(characteristic.uuid),
                    _properties(int(characteristic.properties)),
                    lambda: self.mtu_size - 3,
                    bleak_service,
                )
                collection.add_characteristic(bleak_char)
                self._characteristics[characteristic.handle] = characteristic
                for descriptor in characteristic.descriptors:
                    collection.add_descriptor(
                        BleakGATTDescriptor(
                            descriptor, descriptor.handle, _uuid_str(descriptor.type), bleak_char
                        )
                    )
        return collection

    def _reset(self) -> None:
        self._connection = None
        self._peer = None
        self._subscribers = {}
        self._characteristics = {}

    def _on_disconnection(self, _reason: int) -> None:
        if self._connection is None:
            return
        self._reset()
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        """Disconnect; a no-op when not connected. ``disconnected_callback`` fires."""
        connection = self._connection
        if connection is None:
            return
        try:
            await connection.disconnect(_LOCAL_USER_TERMINATED)
        except (core.BaseBumbleError, hci.HCI_Error) as exc:
            # The link may have dropped concurrently; the connection is gone either way.
            if self._connection is connection:
                self._on_disconnection(CONNECTION_TIMEOUT_REASON)
            if self._connection is not None:
                raise BleakError(f"disconnect from {self.address} failed: {exc}") from exc

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """Pairing is not supported by this backend."""
        raise NotImplementedError("pairing is not supported by the bumble backend")

    async def unpair(self) -> None:
        """Pairing is not supported by this backend."""
        raise NotImplementedError("pairing is not supported by the bumble backend")

    def _require_peer(self) -> Peer:
        if self._peer is None:
            raise BleakError(f"not connected to {self.address}")
        return self._peer

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        """Read a characteristic value (ATT errors become BleakGATTProtocolError)."""
        return await self._read(characteristic.handle)

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        """Read a descriptor value."""
        return await self._read(descriptor.handle)

    async def _read(self, handle: int) -> bytearray:
        peer = self._require_peer()
        try:
            with _link_loss_as_bleak_error(self.address, "read"):
                return bytearray(await peer.read_value(handle))
        except att.ATT_Error as exc:
            raise BleakGATTProtocolError(exc.error_code) from exc

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: Any, response: bool
    ) -> None:
        """Write a characteristic, with or without response."""
        await self._write(characteristic.handle, bytes(data), response)

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        """Write a descriptor (always with response)."""
        await self._write(descriptor.handle, bytes(data), True)

    async def _write(self, handle: int, data: bytes, response: bool) -> None:
        peer = self._require_peer()
        try:
            with _link_loss_as_bleak_error(self.address, "write"):
                await peer.write_value(handle, data, with_response=response)
        except att.ATT_Error as exc:
            raise BleakGATTProtocolError(exc.error_code) from exc

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        """Subscribe (notifications preferred); ``callback`` gets each value as a bytearray."""
        self._require_peer()
        proxy = self._characteristics.get(characteristic.handle)
        if proxy is None:
            raise BleakError(f"characteristic {characteristic.uuid} is not on {self.address}")

        def on_value(value: bytes) -> None:
            callback(bytearray(value))

        self._subscribers[characteristic.handle] = on_value
        try:
            with _link_loss_as_bleak_error(self.address, "subscribe"):
                await proxy.subscribe(on_value, prefer_notify=True)
        except (att.ATT_Error, BleakError) as exc:
            self._subscribers.pop(characteristic.handle, None)
            if isinstance(exc, att.ATT_Error):
                raise BleakGATTProtocolError(exc.error_code) from exc
            raise

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        """Unsubscribe (writes the CCCD)."""
        self._require_peer()
        proxy = self._characteristics.get(characteristic.handle)
        subscriber = self._subscribers.pop(characteristic.handle, None)
        if proxy is None or subscriber is None:
            return
        try:
            with _link_loss_as_bleak_error(self.address, "unsubscribe"):
                await proxy.unsubscribe(subscriber)
        except att.ATT_Error as exc:
            raise BleakGATTProtocolError(exc.error_code) from exc


class BumbleBackend:
    """One ``backend=`` value for both ``BleakScanner`` and ``BleakClient``.

    bleak calls ``backend(...)``; this returns a :class:`BumbleClient` when called the way
    ``BleakClient`` calls its backend (with ``disconnected_callback=``) and a
    :class:`BumbleScanner` otherwise, so one kwargs dict configures both.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if "disconnected_callback" in kwargs:
            return BumbleClient(*args, **kwargs)
        return BumbleScanner(*args, **kwargs)
