"""InfluxClient: write/query/count on a real influxd, error mapping, config, backoff."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

import httpx
import pytest

from sensor_service.contracts import Point
from sensor_service.errors import ConfigError, StoreError
from sensor_service.services import InfluxService, free_port
from sensor_service.store.influx import (
    ENV_PASSWORD,
    ENV_USER,
    InfluxClient,
    backoff_delay_s,
    is_retryable,
    validate_url,
)
from sensor_service.store.line_protocol import LineProtocolError


def _steps(athlete: str, n: int, t0: int = 1_000) -> list[Point]:
    return [
        Point(
            "steps", {"athlete": athlete, "pod": "p1"}, {"gct_ms": 250.0, "step_index": i}, t0 + i
        )
        for i in range(n)
    ]


# --------------------------------------------------------------------------- real influxd


@pytest.mark.integration
async def test_ping_ensure_write_query_count(influx_db: tuple[str, str]) -> None:
    url, db = influx_db
    async with InfluxClient(url=url, database=db) as client:
        assert (await client.ping()).startswith("1.")
        await client.ensure_database()
        await client.ensure_database()  # idempotent
        await client.write_points(_steps("ana", 5) + _steps("bo", 3))
        await client.write_points(_steps("ana", 5))  # same identity: overwrites, no duplicates
        await client.write_points([])
        assert await client.count("steps", "gct_ms") == 8
        assert await client.count("steps", "gct_ms", {"athlete": "ana"}) == 5
        assert await client.count("steps", "gct_ms", {"athlete": "x' OR 1=1 --"}) == 0
        assert await client.count("nothing_here", "gct_ms") == 0
        series = await client.query('SELECT "step_index" FROM "steps" WHERE "athlete" = \'bo\'')
        assert series[0]["name"] == "steps"
        assert series[0]["values"] == [[1_000, 0], [1_001, 1], [1_002, 2]]


@pytest.mark.integration
async def test_ensure_database_creates_it(influx_service: InfluxService) -> None:
    db = f"created_{free_port()}"
    async with InfluxClient(url=influx_service.url, database=db) as client:
        await client.ensure_database()
        await client.write_lines("m v=1i 1\n")
        assert await client.count("m", "v") == 1
        await client.query(f'DROP DATABASE "{db}"')


@pytest.mark.integration
async def test_write_lines_str_and_bytes(influx_db: tuple[str, str]) -> None:
    url, db = influx_db
    async with InfluxClient(url=url, database=db) as client:
        await client.write_lines("m v=1i 1\n")
        await client.write_lines(b"m v=2i 2\n")
        await client.write_lines("")
        assert await client.count("m", "v") == 2


@pytest.mark.integration
async def test_field_type_conflict_is_not_retryable(influx_db: tuple[str, str]) -> None:
    url, db = influx_db
    async with InfluxClient(url=url, database=db) as client:
        await client.write_lines("m v=1i 1\n")
        with pytest.raises(StoreError) as info:
            await client.write_points([Point("m", {}, {"v": "text"}, 2)])
    assert info.value.retryable is False
    assert info.value.status == 400
    assert "field type conflict" in str(info.value)
    assert not is_retryable(info.value)


@pytest.mark.integration
async def test_bad_line_unknown_db_and_bad_query(influx_db: tuple[str, str]) -> None:
    url, db = influx_db
    async with InfluxClient(url=url, database=db) as client:
        with pytest.raises(StoreError, match="unable to parse") as info:
            await client.write_lines("m v= 1\n")
        assert info.value.retryable is False
        with pytest.raises(StoreError, match="SELEKT") as info:
            await client.query("SELEKT 1")
        assert info.value.retryable is False
        with pytest.raises(LineProtocolError):
            await client.write_points([Point("m", {}, {"v": float("nan")}, 1)])
    async with InfluxClient(url=url, database=f"{db}_missing") as client:
        with pytest.raises(StoreError, match="database not found") as info:
            await client.write_lines("m v=1i 1\n")
        assert info.value.retryable is False
        assert info.value.status == 404


@pytest.mark.integration
async def test_stopped_server_is_retryable(influx_factory: Callable[..., InfluxService]) -> None:
    influx = influx_factory()
    async with InfluxClient(url=influx.url, database="db", timeout_s=2) as client:
        await client.ensure_database()
        influx.stop()
        with pytest.raises(StoreError, match="cannot reach") as info:
            await client.write_points(_steps("ana", 1))
        assert info.value.retryable is True
        assert is_retryable(info.value)
        with pytest.raises(StoreError) as info:
            await client.ping()
        assert info.value.retryable is True
        await asyncio.to_thread(influx.start)
        await client.write_points(_steps("ana", 1))  # same client recovers
        assert await client.count("steps", "gct_ms") == 1


# --------------------------------------------------------------------------- mocked transport


def _mock(handler: Callable[[httpx.Request], httpx.Response]) -> InfluxClient:
    return InfluxClient(
        url="http://influx.invalid:8086/prefix",
        database="db",
        transport=httpx.MockTransport(handler),
        username=None,
        password=None,
    )


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(500, True), (503, True), (429, True), (408, True), (400, False), (401, False), (413, False)],
)
async def test_status_mapping(status: int, retryable: bool) -> None:
    client = _mock(lambda _: httpx.Response(status, json={"error": f"boom {status}"}))
    async with client:
        with pytest.raises(StoreError, match=f"HTTP {status}: boom {status}") as info:
            await client.write_lines("m v=1i 1\n")
    assert info.value.retryable is retryable
    assert info.value.status == status


async def test_timeout_is_retryable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    async with _mock(handler) as client:
        with pytest.raises(StoreError, match="timed out") as info:
            await client.query("SHOW DATABASES")
    assert info.value.retryable is True


async def test_request_shape_and_path_prefix() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    async with _mock(handler) as client:
        await client.write_points(_steps("ana", 1))
    request = seen[0]
    assert request.method == "POST"
    assert request.url.path == "/prefix/write"
    assert dict(request.url.params) == {"db": "db", "precision": "ns"}
    assert request.content == b"steps,athlete=ana,pod=p1 gct_ms=250.0,step_index=0i 1000\n"
    assert "authorization" not in request.headers


async def test_query_result_error_raises() -> None:
    body = {"results": [{"statement_id": 0, "error": "database not found: db"}]}
    async with _mock(lambda _: httpx.Response(200, json=body)) as client:
        with pytest.raises(StoreError, match="database not found") as info:
            await client.query("SELECT * FROM m")
    assert info.value.retryable is False


async def test_credentials_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_USER, "coach")
    monkeypatch.setenv(ENV_PASSWORD, "s3cret")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204, headers={"X-Influxdb-Version": "1.8.10"})

    async with _mock(handler) as client:
        assert await client.ping() == "1.8.10"
    assert seen[0].headers["authorization"] == httpx.BasicAuth("coach", "s3cret")._auth_header
    assert "s3cret" not in repr(client)


def test_half_credentials_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_USER, "coach")
    monkeypatch.delenv(ENV_PASSWORD, raising=False)
    with pytest.raises(ConfigError, match=ENV_PASSWORD):
        InfluxClient(url="http://127.0.0.1:8086", database="db")
    with pytest.raises(ConfigError, match="both"):
        InfluxClient(url="http://127.0.0.1:8086", database="db", username="u")


async def test_not_reentrant() -> None:
    client = _mock(lambda _: httpx.Response(204))
    async with client:
        with pytest.raises(RuntimeError, match="reentrant"):
            await client.__aenter__()


@pytest.mark.parametrize(
    "url",
    [
        "",
        "localhost:8086",
        "127.0.0.1:8086",
        "ftp://127.0.0.1:8086",
        "http://",
        "http://:8086",
        "http://127.0.0.1:99999",
        "http://127.0.0.1:port",
        "http://user:pw@127.0.0.1:8086",
        "http://127.0.0.1:8086?db=x",
        "http://exa mple.com",
    ],
)
def test_malformed_urls(url: str) -> None:
    with pytest.raises(ConfigError, match="URL"):
        validate_url(url)
    with pytest.raises(ConfigError):
        InfluxClient(url=url, database="db")


def test_good_urls() -> None:
    assert validate_url("http://127.0.0.1:8086").port == 8086
    assert validate_url("https://influx.example.com/base/").host == "influx.example.com"
    with pytest.raises(ConfigError, match="database"):
        InfluxClient(url="http://127.0.0.1:8086", database="")


# --------------------------------------------------------------------------- backoff


def test_backoff_bounds_growth_and_cap() -> None:
    low = [backoff_delay_s(a, rng=lambda: 0.0) for a in range(10)]
    high = [backoff_delay_s(a, rng=lambda: 0.999999) for a in range(10)]
    assert low[:4] == [0.25, 0.5, 1.0, 2.0]
    assert high[0] == pytest.approx(0.5)
    assert all(a <= b for a, b in itertools.pairwise(low))
    assert max(high) <= 30.0
    assert low[-1] == 15.0
    assert backoff_delay_s(10_000, base_s=1, cap_s=60, rng=lambda: 0.5) == 45.0
    delays = {backoff_delay_s(3) for _ in range(50)}
    assert len(delays) > 1
    assert all(2.0 <= d <= 4.0 for d in delays)


@pytest.mark.parametrize("attempt", [-1, 1.5, True])
def test_backoff_rejects_bad_attempt(attempt: object) -> None:
    with pytest.raises(ValueError, match="attempt"):
        backoff_delay_s(attempt)  # type: ignore[arg-type]


def test_is_retryable_only_for_retryable_store_errors() -> None:
    assert is_retryable(StoreError("x", retryable=True))
    assert not is_retryable(StoreError("x"))
    assert not is_retryable(TimeoutError())
    assert not is_retryable(ValueError())
