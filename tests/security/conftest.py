"""A private Mosquitto with the shipped ACL (deploy/mosquitto/acl) and a fresh password file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from security.broker_probe import PASSWORDS, SHIPPED_ACL, SecureBroker
from sensor_service.security import make_password_file
from sensor_service.services import MosquittoService


@pytest.fixture
def secure_broker(
    tmp_path: Path, mosquitto_factory: Callable[..., MosquittoService]
) -> SecureBroker:
    passwd = make_password_file(tmp_path / "passwd", PASSWORDS)
    service = mosquitto_factory(password_file=passwd, acl_file=SHIPPED_ACL, allow_anonymous=False)
    return SecureBroker(service)
