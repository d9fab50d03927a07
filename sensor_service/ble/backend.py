"""Choose the bleak backend by configuration name.

The pod reader speaks the bleak API only; this picks what is underneath::

    kwargs = backend_kwargs(config.ble_backend)
    device = await BleakScanner.find_device_by_name(name, **kwargs)
    async with BleakClient(device, **kwargs) as client: ...

Names:

``system``
    bleak's default backend for the OS (BlueZ, CoreBluetooth, WinRT): ``{}``.
``virtual``
    the in-process bumble virtual link of the running event loop, where simulated pods
    (:class:`sensor_service.sim.pod_peripheral.SimulatedPod`) live.
``bumble:<transport>``
    bumble's own host on a real controller, without the OS stack, e.g. ``bumble:usb:0``
    (first USB dongle), ``bumble:hci-socket:0``, ``bumble:serial:/dev/ttyACM0,1000000``.
    Any bumble transport spec works; the dongle must not be claimed by the OS stack
    (on Linux: ``hciconfig hci0 down`` or unbind btusb, and grant USB access). The
    transport is opened on first use and shared by all scanners and clients of the event
    loop. Not tested in CI (no hardware there).

The same dict works for ``BleakScanner(...)``, its class methods and ``BleakClient(...)``.
"""

from __future__ import annotations

from typing import Any, Final

from sensor_service.errors import ConfigError

__all__ = ["BACKEND_NAMES", "backend_kwargs"]

BACKEND_NAMES: Final = ("system", "virtual", "bumble:<transport>")
"""The accepted backend names, as shown in error messages."""

_BUMBLE_PREFIX: Final = "bumble:"


def backend_kwargs(name: str) -> dict[str, Any]:
    """Keyword arguments selecting the bleak backend called ``name``.

    Raises:
        ConfigError: for an unknown name or an empty bumble transport.
    """
    choice = name.strip()
    if choice == "system":
        return {}
    from sensor_service.ble.bumble_backend import BumbleBackend  # bumble loads in ~0.5 s

    if choice == "virtual":
        return {"backend": BumbleBackend}
    if choice.startswith(_BUMBLE_PREFIX):
        transport = choice[len(_BUMBLE_PREFIX) :].strip()
        if not transport:
            raise ConfigError(
                f"BLE backend {name!r} names no bumble transport: use one of "
                f"{', '.join(BACKEND_NAMES)} (e.g. 'bumble:usb:0')"
            )
        return {"backend": BumbleBackend, "bumble_transport": transport}
    raise ConfigError(
        f"unknown BLE backend {name!r}: use one of {', '.join(BACKEND_NAMES)} (e.g. 'bumble:usb:0')"
    )
