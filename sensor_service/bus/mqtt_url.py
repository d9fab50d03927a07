"""Parse ``mqtt[s]://[user[:password]@]host[:port]`` URLs into aiomqtt client arguments.

Credentials may also come from the environment (``FOOTPOD_MQTT_USER``,
``FOOTPOD_MQTT_PASSWORD``) so that no secret has to sit on a command line or in the repo.

``mqtts://`` (port 8883 by default) is MQTT over TLS: the broker's certificate must chain to
the CA in ``FOOTPOD_MQTT_CA_FILE`` (else to the system's CAs) and name the URL's host
(hostname verification is always on). ``FOOTPOD_MQTT_CERT_FILE`` (and
``FOOTPOD_MQTT_KEY_FILE`` when the key is not in the same PEM file) add a client certificate,
for brokers with ``require_certificate true``. Every client takes its arguments from
:meth:`MqttTarget.client_kwargs`::

    target = parse_mqtt_url(url)
    async with aiomqtt.Client(**target.client_kwargs(), identifier=...) as client: ...
"""

from __future__ import annotations

import logging
import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TypedDict
from urllib.parse import unquote, urlsplit

import aiomqtt

from sensor_service.errors import ConfigError

__all__ = [
    "CA_FILE_ENV",
    "CERT_FILE_ENV",
    "KEY_FILE_ENV",
    "MqttClientKwargs",
    "MqttTarget",
    "parse_mqtt_url",
]

log = logging.getLogger(__name__)

CA_FILE_ENV: Final = "FOOTPOD_MQTT_CA_FILE"
CERT_FILE_ENV: Final = "FOOTPOD_MQTT_CERT_FILE"
KEY_FILE_ENV: Final = "FOOTPOD_MQTT_KEY_FILE"
_TLS_PORT: Final = 8883


class MqttClientKwargs(TypedDict):
    """Keyword arguments of :class:`aiomqtt.Client` that say where and how to connect."""

    hostname: str
    port: int
    username: str | None
    password: str | None
    tls_params: aiomqtt.TLSParameters | None
    tls_insecure: bool | None


@dataclass(frozen=True, slots=True)
class MqttTarget:
    """Where a client connects, as whom, and (``tls``) how the connection is protected."""

    hostname: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    ca_file: str | None = None
    """PEM CA bundle the broker's certificate must chain to; ``None``: the system's CAs."""
    cert_file: str | None = None
    """PEM client certificate (``require_certificate``), optionally with its key."""
    key_file: str | None = None
    """PEM private key of ``cert_file`` when it is not in that file."""

    def __str__(self) -> str:  # never print the password
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.hostname}:{self.port}"

    def tls_params(self) -> aiomqtt.TLSParameters | None:
        """aiomqtt TLS settings for ``mqtts://`` (``None`` for plain ``mqtt://``).

        The server certificate is required and verified against ``ca_file`` (or the system
        CAs); TLS 1.2 or newer (``PROTOCOL_TLS_CLIENT``).
        """
        if not self.tls:
            return None
        return aiomqtt.TLSParameters(
            ca_certs=self.ca_file,
            certfile=self.cert_file,
            keyfile=self.key_file,
            cert_reqs=ssl.CERT_REQUIRED,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )

    def client_kwargs(self) -> MqttClientKwargs:
        """``aiomqtt.Client(**target.client_kwargs(), identifier=…, …)``: host, port,
        credentials and, for ``mqtts://``, TLS with hostname verification on."""
        return MqttClientKwargs(
            hostname=self.hostname,
            port=self.port,
            username=self.username,
            password=self.password,
            tls_params=self.tls_params(),
            tls_insecure=False if self.tls else None,
        )


def _pem_file(variable: str) -> str | None:
    value = os.environ.get(variable)
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_file() or not os.access(path, os.R_OK):
        raise ConfigError(
            f"{variable}={value!r} is not a readable file: point it at a PEM file, or unset it"
        )
    return str(path)


def parse_mqtt_url(url: str) -> MqttTarget:
    """Validate an MQTT URL; raise :class:`ConfigError` saying what a good one looks like.

    For ``mqtts://`` the TLS files come from ``FOOTPOD_MQTT_CA_FILE``,
    ``FOOTPOD_MQTT_CERT_FILE`` and ``FOOTPOD_MQTT_KEY_FILE``; each that is set must be a
    readable file (checked here, so a typo fails at start, not at every reconnect).
    """
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
    ca_file = cert_file = key_file = None
    if tls:
        ca_file = _pem_file(CA_FILE_ENV)
        cert_file = _pem_file(CERT_FILE_ENV)
        key_file = _pem_file(KEY_FILE_ENV)
        if key_file and not cert_file:
            raise ConfigError(
                f"{KEY_FILE_ENV} is set but {CERT_FILE_ENV} is not: a client key needs its "
                "certificate"
            )
    else:
        if port == _TLS_PORT:
            log.warning(
                "MQTT URL %s: port %d is the MQTT-over-TLS port; use mqtts:// to connect "
                "with TLS (plain MQTT to a TLS listener fails)",
                parts.hostname,
                _TLS_PORT,
            )
        tls_env = [name for name in (CA_FILE_ENV, CERT_FILE_ENV) if os.environ.get(name)]
        if tls_env:
            log.warning(
                "%s set, but the MQTT URL is plain mqtt://: the connection is NOT encrypted "
                "(use mqtts://HOST:8883)",
                " and ".join(tls_env),
            )
    return MqttTarget(
        hostname=parts.hostname,
        port=port or (_TLS_PORT if tls else 1883),
        username=username or None,
        password=password or None,
        tls=tls,
        ca_file=ca_file,
        cert_file=cert_file,
        key_file=key_file,
    )
