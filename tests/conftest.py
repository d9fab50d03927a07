"""Shared fixtures: private Mosquitto and InfluxDB servers for the integration tests.

* ``mosquitto_service`` (session): a private :class:`MosquittoService`, started once. Do not
  stop, restart or kill it; use ``mosquitto_factory`` for fault tests.
* ``mqtt_url`` (function): ``mqtt://127.0.0.1:PORT`` of that broker. Use a unique topic per test.
* ``influx_service`` (session): a private :class:`InfluxService`, started once (same rule).
* ``influx_db`` (function): ``(url, database)``: a fresh, uniquely named database, dropped after.
* ``mosquitto_factory`` / ``influx_factory`` (function): callables ``(**kwargs) -> service``
  that start private instances you may stop, restart or kill; all are cleaned up after the test.

When a binary is missing: with ``CI=true`` the test **fails** (CI must never skip a real
service); otherwise it is skipped with the install hint.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from sensor_service.errors import ServiceError
from sensor_service.services import InfluxService, MosquittoService
from sensor_service.store.influxql import create_database, drop_database

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def service_unavailable(message: str) -> None:
    """Fail in CI, skip elsewhere: a missing service is a failure where it must exist."""
    if IN_CI:
        pytest.fail(f"{message} (CI=true: a missing service is a failure, not a skip)")
    pytest.skip(message)


def _require_binary(cls: type[MosquittoService] | type[InfluxService]) -> None:
    try:
        cls().binary  # noqa: B018 - raises ServiceError with the install hint
    except ServiceError as exc:
        service_unavailable(str(exc))


@pytest.fixture(scope="session")
def mosquitto_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoService]:
    _require_binary(MosquittoService)
    service = MosquittoService(directory=tmp_path_factory.mktemp("mosquitto"))
    service.start()
    yield service
    service.close()


@pytest.fixture
def mqtt_url(mosquitto_service: MosquittoService) -> str:
    return mosquitto_service.url


@pytest.fixture(scope="session")
def influx_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxService]:
    _require_binary(InfluxService)
    service = InfluxService(directory=tmp_path_factory.mktemp("influxd"))
    service.start()
    yield service
    service.close()


@pytest.fixture
def influx_db(influx_service: InfluxService) -> Iterator[tuple[str, str]]:
    url = influx_service.url
    name = f"test_{uuid.uuid4().hex[:12]}"
    response = httpx.post(f"{url}/query", data={"q": create_database(name)}, timeout=10)
    response.raise_for_status()
    yield url, name
    httpx.post(f"{url}/query", data={"q": drop_database(name)}, timeout=10)


@pytest.fixture
def mosquitto_factory(tmp_path: Any) -> Iterator[Callable[..., MosquittoService]]:
    _require_binary(MosquittoService)
    started: list[MosquittoService] = []

    def make(**kwargs: Any) -> MosquittoService:
        kwargs.setdefault("directory", tmp_path / f"mosquitto{len(started)}")
        service = MosquittoService(**kwargs)
        started.append(service)
        return service.start()

    yield make
    for service in started:
        service.close(stop_timeout_s=2)


@pytest.fixture
def influx_factory(tmp_path: Any) -> Iterator[Callable[..., InfluxService]]:
    _require_binary(InfluxService)
    started: list[InfluxService] = []

    def make(**kwargs: Any) -> InfluxService:
        kwargs.setdefault("directory", tmp_path / f"influxd{len(started)}")
        service = InfluxService(**kwargs)
        started.append(service)
        return service.start()

    yield make
    for service in started:
        service.close(stop_timeout_s=2)
