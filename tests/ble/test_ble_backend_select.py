"""backend_kwargs: configuration names to bleak backend keyword arguments."""

from __future__ import annotations

import pytest
from bleak import BleakClient, BleakScanner

from sensor_service.ble.backend import backend_kwargs
from sensor_service.ble.bumble_backend import BumbleBackend, BumbleClient, BumbleScanner
from sensor_service.errors import ConfigError


def test_system_is_bleak_default() -> None:
    assert backend_kwargs("system") == {}


def test_virtual_uses_bumble_on_the_virtual_link() -> None:
    assert backend_kwargs("virtual") == {"backend": BumbleBackend}


def test_bumble_transport() -> None:
    assert backend_kwargs("bumble:usb:0") == {
        "backend": BumbleBackend,
        "bumble_transport": "usb:0",
    }
    assert backend_kwargs("bumble:serial:/dev/ttyACM0,1000000")["bumble_transport"] == (
        "serial:/dev/ttyACM0,1000000"
    )


@pytest.mark.parametrize("name", ["", "bluez", "Virtual", "bumble:", "usb:0"])
def test_unknown_names_are_config_errors(name: str) -> None:
    with pytest.raises(ConfigError) as info:
        backend_kwargs(name)
    message = str(info.value)
    assert "\n" not in message
    assert "system" in message
    assert "virtual" in message
    assert "bumble:<transport>" in message


def test_one_dict_builds_both_bleak_objects() -> None:
    kwargs = backend_kwargs("bumble:usb:7")
    scanner = BleakScanner(**kwargs)
    client = BleakClient("F0:5A:00:00:00:01", **kwargs)
    assert isinstance(scanner._backend, BumbleScanner)
    assert isinstance(client._backend, BumbleClient)
    assert scanner._backend._transport == "usb:7"
    assert client._backend._transport == "usb:7"
