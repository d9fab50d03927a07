"""Async InfluxDB client over the v1 HTTP API (``/ping``, ``/write``, ``/query``).

Works with InfluxDB 1.x, and with 2.x / 3.x through their v1 compatibility endpoints
(credentials go as HTTP Basic auth: user + password, or any user + token).

Errors are :class:`~sensor_service.errors.StoreError` with ``status`` and ``retryable``:

* connection errors, timeouts, HTTP 5xx, 408 and 429 → ``retryable=True`` (try again later,
  e.g. after :func:`backoff_delay_s`);
* other 4xx (bad line protocol, partial write / field type conflict, unknown database, auth,
  body too large) → ``retryable=False``, with InfluxDB's own error text (fix the data or the
  configuration; retrying cannot help).

:func:`is_retryable` is the one place that decides what is retried.

Usage::

    async with InfluxClient(url="http://127.0.0.1:8086", database="footpod") as client:
        await client.ensure_database()
        await client.write_points(points)
        n = await client.count("steps", "gct_ms", {"athlete": "ana"})
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import httpx

from sensor_service.contracts import Point
from sensor_service.errors import ConfigError, StoreError
from sensor_service.store.influxql import Agg, Select, create_database
from sensor_service.store.line_protocol import encode_points

__all__ = [
    "ENV_PASSWORD",
    "ENV_USER",
    "InfluxClient",
    "backoff_delay_s",
    "is_retryable",
    "validate_url",
]

ENV_USER = "FOOTPOD_INFLUX_USER"
ENV_PASSWORD = "FOOTPOD_INFLUX_PASSWORD"  # noqa: S105 - the name of a variable, not a secret
_RETRYABLE_4XX = frozenset({408, 429})
_ERROR_TEXT_MAX = 2000


def backoff_delay_s(
    attempt: int,
    base_s: float = 0.5,
    cap_s: float = 30.0,
    rng: Callable[[], float] = random.random,
) -> float:
    """Capped, jittered exponential backoff: the delay before retry number ``attempt`` (0-based).

    "Equal jitter": with ``d = min(cap_s, base_s * 2**attempt)`` the delay is uniform in
    ``[d/2, d]``, so it always grows with the attempt (never a burst of zero waits) while
    concurrent clients still spread out. ``rng`` returns floats in ``[0, 1)``; pass a fixed
    function in tests.
    """
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 0:
        raise ValueError(f"attempt must be an int >= 0, got {attempt!r}")
    if base_s <= 0 or cap_s <= 0:
        raise ValueError("base_s and cap_s must be > 0")
    exponent = min(attempt, 64)  # 2**64 * base already exceeds any sane cap
    ceiling = min(cap_s, base_s * 2.0**exponent)
    return ceiling / 2 + rng() * ceiling / 2


def is_retryable(exc: BaseException) -> bool:
    """True only for store failures that may succeed later (server down, 5xx, timeout).

    Programming errors, bad data and caller cancellations/timeouts are never retried.
    """
    return isinstance(exc, StoreError) and exc.retryable


def validate_url(url: str) -> httpx.URL:
    """Parse an InfluxDB base URL (``http[s]://host[:port][/prefix]``) or raise ConfigError."""
    hint = "use e.g. http://127.0.0.1:8086"
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"InfluxDB URL is empty; {hint}")
    if any(ch.isspace() or not ch.isprintable() for ch in url.strip()):
        raise ConfigError(f"InfluxDB URL {url!r} contains spaces or control characters; {hint}")
    try:
        parsed = httpx.URL(url.strip())
        port = parsed.port  # raises for a non-numeric or out-of-range port
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise ConfigError(f"InfluxDB URL {url!r} is malformed ({exc}); {hint}") from exc
    if parsed.scheme not in ("http", "https"):
        raise ConfigError(f"InfluxDB URL {url!r} must start with http:// or https://; {hint}")
    if not parsed.host:
        raise ConfigError(f"InfluxDB URL {url!r} has no host; {hint}")
    if port is not None and not 0 < port < 65536:
        raise ConfigError(f"InfluxDB URL {url!r} has an invalid port; {hint}")
    if parsed.query or parsed.fragment:
        raise ConfigError(f"InfluxDB URL {url!r} must not carry a query or fragment; {hint}")
    if parsed.userinfo:
        raise ConfigError(
            f"InfluxDB URL {url!r} must not embed credentials; use {ENV_USER} / {ENV_PASSWORD}"
        )
    return parsed


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping):
        for key in ("error", "message"):
            if isinstance(body.get(key), str):
                return str(body[key])[:_ERROR_TEXT_MAX]
    return response.text.strip()[:_ERROR_TEXT_MAX] or response.reason_phrase


class InfluxClient:
    """Async InfluxDB v1-API client; use as ``async with`` (not reentrant).

    Credentials come from ``username``/``password`` or, when both are ``None``, from the
    environment variables ``FOOTPOD_INFLUX_USER`` / ``FOOTPOD_INFLUX_PASSWORD``.
    ``transport`` is for tests (e.g. :class:`httpx.MockTransport`).
    """

    def __init__(
        self,
        *,
        url: str,
        database: str,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        base = validate_url(url)
        if not isinstance(database, str) or not database:
            raise ConfigError("InfluxDB database name must be a non-empty string")
        if timeout_s <= 0:
            raise ConfigError(f"timeout_s must be > 0, got {timeout_s!r}")
        if username is None and password is None:
            username = os.environ.get(ENV_USER) or None
            password = os.environ.get(ENV_PASSWORD) or None
        if (username is None) != (password is None):
            raise ConfigError(
                f"InfluxDB credentials need both a user and a password (or token): set both "
                f"{ENV_USER} and {ENV_PASSWORD}, or neither"
            )
        self.url = str(base).rstrip("/")
        self.database = database
        self.timeout_s = timeout_s
        auth = httpx.BasicAuth(username, password) if username and password else None
        self._http = httpx.AsyncClient(
            base_url=self.url,
            auth=auth,
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
            headers={"User-Agent": "footpod"},
        )
        self._entered = False

    def __repr__(self) -> str:
        return f"InfluxClient(url={self.url!r}, database={self.database!r})"

    async def __aenter__(self) -> Self:
        if self._entered:
            raise RuntimeError("InfluxClient is not reentrant; create one per `async with`")
        self._entered = True
        await self._http.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------------ transport

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        content: bytes | None = None,
        what: str,
    ) -> httpx.Response:
        try:
            response = await self._http.request(
                method, path, params=params, data=data, content=content
            )
        except httpx.TimeoutException as exc:
            raise StoreError(
                f"InfluxDB {what} timed out after {self.timeout_s:g} s at {self.url}",
                retryable=True,
            ) from exc
        except httpx.TransportError as exc:
            raise StoreError(
                f"InfluxDB {what} failed: cannot reach {self.url} ({type(exc).__name__}: {exc})",
                retryable=True,
            ) from exc
        if response.status_code >= 400:
            status = response.status_code
            text = _error_text(response)
            retryable = status >= 500 or status in _RETRYABLE_4XX
            hint = ""
            if status in (401, 403):
                hint = f"; check {ENV_USER} / {ENV_PASSWORD}"
            elif status == 413:
                hint = "; write smaller batches"
            raise StoreError(
                f"InfluxDB {what} failed with HTTP {status}: {text}{hint}",
                status=status,
                retryable=retryable,
            )
        return response

    # ------------------------------------------------------------------ API

    async def ping(self) -> str:
        """``GET /ping``; returns the server version (``X-Influxdb-Version``), may be ``""``."""
        response = await self._request("GET", "/ping", what="ping")
        return response.headers.get("X-Influxdb-Version", "")

    async def ensure_database(self) -> None:
        """Create the database if missing (``CREATE DATABASE`` is idempotent)."""
        await self.query(create_database(self.database))

    async def write_lines(self, lines: str | bytes, *, retention_policy: str | None = None) -> None:
        """POST line protocol (nanosecond timestamps) to ``/write``; returns on 204."""
        body = lines.encode() if isinstance(lines, str) else bytes(lines)
        if not body.strip():
            return
        params = {"db": self.database, "precision": "ns"}
        if retention_policy is not None:
            params["rp"] = retention_policy
        await self._request("POST", "/write", params=params, content=body, what="write")

    async def write_points(
        self, points: Sequence[Point], *, retention_policy: str | None = None
    ) -> None:
        """Encode and write points; encoding errors raise before anything is sent."""
        if not points:
            return
        await self.write_lines(encode_points(points), retention_policy=retention_policy)

    async def query(self, q: str, *, database: str | None = None) -> list[dict[str, Any]]:
        """Run InfluxQL (POST ``/query``, times as epoch ns); return the series of every result.

        Each series is ``{"name", "columns", "values", "tags"?}``. An ``error`` in any result
        raises :class:`StoreError` (non-retryable).
        """
        data = {"q": q, "db": database or self.database, "epoch": "ns"}
        response = await self._request("POST", "/query", data=data, what="query")
        try:
            body = response.json()
        except ValueError as exc:
            raise StoreError(
                f"InfluxDB query returned non-JSON ({response.text[:200]!r})", retryable=False
            ) from exc
        if isinstance(body, Mapping) and isinstance(body.get("error"), str):
            raise StoreError(f"InfluxDB query failed: {body['error']} (query: {q})")
        series: list[dict[str, Any]] = []
        for result in body.get("results", []) if isinstance(body, Mapping) else []:
            if "error" in result:
                raise StoreError(f"InfluxDB query failed: {result['error']} (query: {q})")
            series.extend(result.get("series", []))
        return series

    async def count(
        self, measurement: str, field: str, where: Mapping[str, str] | None = None
    ) -> int:
        """Number of points of ``measurement`` with ``field`` set, matching the tag equalities."""
        q = Select(measurement, Agg("count", field, alias="n")).where_tags(where).build()
        series = await self.query(q)
        total = 0
        for one in series:
            index = one["columns"].index("n")
            total += sum(int(row[index] or 0) for row in one["values"])
        return total
