"""Parse ``mqtt://[user[:password]@]host[:port]`` URLs into aiomqtt client arguments.

Credentials may also come from the environment (``FOOTPOD_MQTT_USER``,
``FOOTPOD_MQTT_PASSWORD``) so that no secret has to sit on a command line or in the repo.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from sensor_service.errors import ConfigError

__all__ = ["MqttTarget", "parse_mqtt_url"]


@dataclass(frozen=True, slots=True)
class MqttTarget:
    hostname: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False

    def __str__(self) -> str:  # never print the password
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.hostname}:{self.port}"


def parse_mqtt_url(url: str) -> MqttTarget:
    """Validate an MQTT URL; raise :class:`ConfigError` saying what a good one looks like."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"MQTT URL {url!r} is malformed ({exc}); use mqtt://HOST:PORT") from exc
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ConfigError(
            f"MQTT URL {url!r} is malformed; use mqtt://HOST:PORT or mqtts://HOST:PORT"
        )
    tls = parts.scheme == "mqtts"
    username = unquote(parts.username) if parts.username else os.environ.get("FOOTPOD_MQTT_USER")
    password = (
        unquote(parts.password) if parts.password else os.environ.get("FOOTPOD_MQTT_PASSWORD")
    )
    return MqttTarget(
        hostname=parts.hostname,
        port=port or (8883 if tls else 1883),
        username=username or None,
        password=password or None,
        tls=tls,
    )
