"""MQTT v5 probes (paho, to read CONNACK/PUBACK reason codes) and the secure broker handle."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from sensor_service.security import ACL_FILENAME, mosquitto_conf_text
from sensor_service.services import MosquittoService

REPO = Path(__file__).resolve().parents[2]
SHIPPED_DIR = REPO / "deploy" / "mosquitto"
SHIPPED_ACL = SHIPPED_DIR / ACL_FILENAME

#: MQTT v5 reason codes the tests expect.
SUCCESS = 0x00
NO_MATCHING_SUBSCRIBERS = 0x10
NOT_AUTHORIZED = 0x87
BAD_USER_NAME_OR_PASSWORD = 0x86

PASSWORDS = {
    "ana": "ana-secret-1",
    "bob": "bob-secret-1",
    "ingest": "ingest-secret-1",
    "coach": "coach-secret-1",
    "risk": "risk-secret-1",
}


@dataclass(frozen=True)
class SecureBroker:
    service: MosquittoService

    @property
    def port(self) -> int:
        return self.service.port

    def url(self, user: str | None = None) -> str:
        if user is None:
            return self.service.url
        return f"mqtt://{user}:{PASSWORDS[user]}@127.0.0.1:{self.port}"


def _client(user: str | None, password: str | None) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    if user is not None:
        client.username_pw_set(user, password)
    return client


def v5_connect_code(port: int, user: str | None, password: str | None) -> int:
    """The CONNACK reason code the broker gives these credentials (MQTT v5)."""
    client = _client(user, password)
    codes: list[int] = []

    def on_connect(_c: paho.Client, _u: object, _f: object, rc: object, _p: object) -> None:
        codes.append(rc.value)  # type: ignore[attr-defined]

    client.on_connect = on_connect
    client.connect("127.0.0.1", port)
    deadline = time.monotonic() + 5
    try:
        while not codes and time.monotonic() < deadline:
            client.loop(timeout=0.05)
    finally:
        client.disconnect()
    assert codes, "no CONNACK within 5 s"
    return codes[0]


def v5_publish_codes(port: int, user: str, topics: list[str], payload: bytes = b"{}") -> list[int]:
    """Publish once on each topic at QoS 1 (MQTT v5); return the PUBACK reason codes in order."""
    client = _client(user, PASSWORDS[user])
    connected = threading.Event()
    all_acked = threading.Event()
    codes: dict[int, int] = {}
    mids: list[int] = []

    def on_connect(_c: paho.Client, _u: object, _f: object, rc: object, _p: object) -> None:
        assert rc.value == SUCCESS, f"{user} could not connect: {rc}"  # type: ignore[attr-defined]
        connected.set()

    def on_publish(_c: paho.Client, _u: object, mid: int, rc: object, _p: object) -> None:
        codes[mid] = rc.value  # type: ignore[attr-defined]
        if len(codes) == len(topics):
            all_acked.set()

    client.on_connect = on_connect
    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert connected.wait(5), "no CONNACK within 5 s"
        mids.extend(client.publish(name, payload, qos=1).mid for name in topics)
        assert all_acked.wait(5), f"only {len(codes)} of {len(topics)} PUBACKs within 5 s"
    finally:
        client.disconnect()
        client.loop_stop()
    return [codes[mid] for mid in mids]


class RenderedConfMosquitto(MosquittoService):
    """Mosquitto started with mosquitto.conf as ``security.mosquitto_conf_text`` renders it.

    ``conf_dir`` holds ``passwd``, ``acl`` (and ``certs/`` for TLS); ``conf`` are extra keyword
    arguments of :func:`mosquitto_conf_text` (e.g. ``tls_port``).
    """

    def __init__(
        self, *, conf_dir: Path, conf: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.conf_dir = conf_dir
        self.conf = dict(conf or {})

    def config_text(self) -> str:
        extra = ["log_dest stderr"]
        if os.geteuid() == 0:
            extra.append("user root")  # as root, mosquitto would switch to user "mosquitto"
        return mosquitto_conf_text(
            config_dir=str(self.conf_dir),
            data_dir=str(self.data_dir),
            port=self.port,
            bind_address=self.host,
            extra_lines=extra,
            **self.conf,
        )
