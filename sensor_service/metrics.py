"""Counters for every stage, served in the Prometheus text format and logged periodically.

A deliberately tiny registry (no dependency): counters and gauges with labels, rendered in
text exposition format 0.0.4, which Prometheus, VictoriaMetrics, Telegraf's ``prometheus``
input and Grafana Agent all scrape. Each process owns one :class:`StageCounters` per component::

    counters = StageCounters("ingest")          # registers in REGISTRY
    counters.inc("received")
    counters.inc("written", len(batch))
    async with await serve_metrics(9464):       # GET http://127.0.0.1:9464/metrics
        ...

A component that already keeps its own counters (``IngestWorker.counters``) is served as it
is with ``expose_counters("ingest", worker.counters.as_dict)``: read at every scrape.

The stages (:data:`STAGES`) are the same words in every process, so one dashboard query
(``rate(footpod_stage_total{stage="written"}[1m])``) covers them all. Counting is
thread-safe (a lock per metric), since BLE callbacks may come from another thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Final

__all__ = [
    "OTHER_METRIC",
    "REGISTRY",
    "STAGES",
    "STAGE_METRIC",
    "Counter",
    "Gauge",
    "MetricsServer",
    "Registry",
    "StageCounters",
    "expose_counters",
    "log_metrics_periodically",
    "serve_metrics",
]

log = logging.getLogger(__name__)

#: Pipeline stages counted by every process (a process counts the ones it has).
STAGES: Final = (
    "received",
    "decoded",
    "published",
    "spooled",
    "written",
    "rejected",
    "dead_lettered",
    "lost",
)
#: The counter family of :class:`StageCounters`: ``footpod_stage_total{component, stage}``.
STAGE_METRIC: Final = "footpod_stage_total"

_NAME_RE: Final = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_RE: Final = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"

LabelValues = tuple[str, ...]


def _escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


class _Metric:
    kind: str = "untyped"

    def __init__(self, name: str, help_text: str, labelnames: Iterable[str] = ()) -> None:
        if not _NAME_RE.fullmatch(name):
            raise ValueError(f"metric name {name!r} is not a valid Prometheus name")
        self.name = name
        self.help = help_text
        self.labelnames: tuple[str, ...] = tuple(labelnames)
        for label in self.labelnames:
            if not _LABEL_RE.fullmatch(label) or label.startswith("__"):
                raise ValueError(f"label name {label!r} is not a valid Prometheus label")
        if len(set(self.labelnames)) != len(self.labelnames):
            raise ValueError(f"metric {name!r}: duplicate label names {self.labelnames}")
        self._values: dict[LabelValues, float] = {}
        self._lock = threading.Lock()

    def _key(self, labels: Mapping[str, str]) -> LabelValues:
        if set(labels) != set(self.labelnames):
            raise ValueError(
                f"metric {self.name!r} takes labels {self.labelnames}, got {tuple(labels)}"
            )
        return tuple(str(labels[name]) for name in self.labelnames)

    def value(self, **labels: str) -> float:
        """Current value for these labels (0 if never touched)."""
        key = self._key(labels)
        with self._lock:
            return self._values.get(key, 0.0)

    def samples(self) -> list[tuple[dict[str, str], float]]:
        with self._lock:
            items = sorted(self._values.items())
        return [(dict(zip(self.labelnames, key, strict=True)), value) for key, value in items]

    def render(self) -> str:
        lines = [f"# HELP {self.name} {_escape_help(self.help)}", f"# TYPE {self.name} {self.kind}"]
        for labels, value in self.samples():
            label_text = ",".join(f'{k}="{_escape_label_value(v)}"' for k, v in labels.items())
            name = f"{self.name}{{{label_text}}}" if label_text else self.name
            lines.append(f"{name} {_format_value(value)}")
        return "\n".join(lines) + "\n"


class Counter(_Metric):
    """A monotonically increasing count (``*_total``)."""

    kind = "counter"

    def _mirror(self, value: float, **labels: str) -> None:
        """Take the value of a counter kept elsewhere (see :func:`expose_counters`)."""
        key = self._key(labels)
        with self._lock:
            self._values[key] = float(value)

    def inc(self, amount: float = 1, **labels: str) -> None:
        if amount < 0 or math.isnan(amount):
            raise ValueError(f"counter {self.name!r} can only go up, got {amount!r}")
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount


class Gauge(_Metric):
    """A value that goes up and down (queue depth, spool size)."""

    kind = "gauge"

    def set(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = float(value)

    def inc(self, amount: float = 1, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount


class Registry:
    """Named metrics; registering the same name twice returns the first (if the same kind)."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}
        self._lock = threading.Lock()
        self._sources: list[Callable[[], None]] = []

    def add_source(self, refresh: Callable[[], None]) -> None:
        """Call ``refresh`` before every render/snapshot (to pull counters kept elsewhere)."""
        with self._lock:
            self._sources.append(refresh)

    def _refresh(self) -> None:
        with self._lock:
            sources = list(self._sources)
        for refresh in sources:
            refresh()

    def _get_or_add(self, metric: _Metric) -> _Metric:
        with self._lock:
            existing = self._metrics.get(metric.name)
            if existing is None:
                self._metrics[metric.name] = metric
                return metric
        if type(existing) is not type(metric) or existing.labelnames != metric.labelnames:
            raise ValueError(
                f"metric {metric.name!r} already registered as a {existing.kind} with labels "
                f"{existing.labelnames}"
            )
        return existing

    def counter(self, name: str, help_text: str, labelnames: Iterable[str] = ()) -> Counter:
        metric = self._get_or_add(Counter(name, help_text, labelnames))
        assert isinstance(metric, Counter)
        return metric

    def gauge(self, name: str, help_text: str, labelnames: Iterable[str] = ()) -> Gauge:
        metric = self._get_or_add(Gauge(name, help_text, labelnames))
        assert isinstance(metric, Gauge)
        return metric

    def render(self) -> str:
        """The whole registry in Prometheus text exposition format 0.0.4."""
        self._refresh()
        with self._lock:
            metrics = sorted(self._metrics.values(), key=lambda m: m.name)
        return "".join(metric.render() for metric in metrics)

    def snapshot(self) -> dict[str, float]:
        """Flat ``{'name{label="v"}': value}`` view, for logs and tests."""
        self._refresh()
        out: dict[str, float] = {}
        for metric in sorted(self._metrics.values(), key=lambda m: m.name):
            for labels, value in metric.samples():
                label_text = ",".join(f"{k}={v}" for k, v in labels.items())
                out[f"{metric.name}{{{label_text}}}" if label_text else metric.name] = value
        return out


#: The process-wide registry that :func:`serve_metrics` serves by default.
REGISTRY: Final = Registry()


class StageCounters:
    """Per-stage counters of one component (``run``, ``publisher``, ``ingest``...).

    All stages start at 0, so a scrape shows every stage even before anything happened.
    """

    def __init__(self, component: str, *, registry: Registry = REGISTRY) -> None:
        self.component = component
        self._counter = registry.counter(
            STAGE_METRIC,
            "Items through each pipeline stage (messages, points or samples, per stage).",
            ("component", "stage"),
        )
        for stage in STAGES:
            self._counter.inc(0, component=component, stage=stage)

    def inc(self, stage: str, amount: int = 1) -> None:
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; use one of {STAGES}")
        self._counter.inc(amount, component=self.component, stage=stage)

    def get(self, stage: str) -> int:
        return int(self._counter.value(component=self.component, stage=stage))

    def as_dict(self) -> dict[str, int]:
        return {stage: self.get(stage) for stage in STAGES}


#: Counters of a component that are not pipeline stages (batches, retries, reconnects...).
OTHER_METRIC: Final = "footpod_events_total"


def expose_counters(
    component: str,
    read: Callable[[], Mapping[str, float]],
    *,
    registry: Registry = REGISTRY,
) -> None:
    """Serve counters a component already keeps (e.g. ``worker.counters.as_dict``).

    At every scrape, ``read()`` is called; keys that are :data:`STAGES` become
    ``footpod_stage_total{component, stage}``, the others
    ``footpod_events_total{component, event}``. No change to the component is needed.
    """
    stages = StageCounters(component, registry=registry)
    others = registry.counter(
        OTHER_METRIC,
        "Other events counted by a component (batches, retries, reconnects...).",
        ("component", "event"),
    )

    def refresh() -> None:
        for key, value in read().items():
            if key in STAGES:
                stages._counter._mirror(value, component=component, stage=key)
            else:
                others._mirror(value, component=component, event=key)

    registry.add_source(refresh)


# --------------------------------------------------------------------------- HTTP endpoint

_MAX_HEADER_BYTES = 16_384
_READ_TIMEOUT_S = 5.0


class MetricsServer:
    """A running ``/metrics`` endpoint; ``async with`` it, or call :meth:`close`."""

    def __init__(self, server: asyncio.Server, registry: Registry) -> None:
        self._server = server
        self.registry = registry
        sock = server.sockets[0].getsockname()
        self.host: str = sock[0]
        self.port: int = sock[1]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    async def close(self) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def __aenter__(self) -> MetricsServer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _response(status: str, body: bytes, content_type: str, *, head: bool = False) -> bytes:
    headers = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode("ascii")
    return headers if head else headers + body


async def _handle(
    registry: Registry, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_TIMEOUT_S)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            writer.write(_response("400 Bad Request", b"bad request\n", "text/plain"))
            return
        method, target, _ = parts
        path = target.split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            writer.write(_response("405 Method Not Allowed", b"use GET\n", "text/plain"))
        elif path != "/metrics":
            writer.write(_response("404 Not Found", b"try /metrics\n", "text/plain"))
        else:
            body = registry.render().encode()
            writer.write(_response("200 OK", body, CONTENT_TYPE, head=method == "HEAD"))
        with contextlib.suppress(ConnectionError):
            await writer.drain()
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def serve_metrics(
    port: int, host: str = "127.0.0.1", *, registry: Registry = REGISTRY
) -> MetricsServer:
    """Serve ``registry`` on ``http://host:port/metrics`` (``port=0``: pick a free one).

    Listens on localhost by default: the counters are not secret, but nothing outside the
    machine needs them unless a Prometheus scrapes from elsewhere (then pass ``host``).
    """

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _handle(registry, reader, writer)

    server = await asyncio.start_server(handle, host, port, limit=_MAX_HEADER_BYTES)
    metrics_server = MetricsServer(server, registry)
    log.info("metrics: serving %s", metrics_server.url)
    return metrics_server


# --------------------------------------------------------------------------- periodic log


async def log_metrics_periodically(
    interval_s: float,
    *,
    registry: Registry = REGISTRY,
    logger: logging.Logger = log,
    stop: asyncio.Event | None = None,
) -> None:
    """Log one structured line (``metrics {json}``) every ``interval_s`` until ``stop``/cancel.

    The line is JSON after the ``metrics`` prefix, and the same dict is attached to the log
    record as ``record.metrics`` for structured handlers. A last line is logged on stop.
    """
    if interval_s <= 0:
        raise ValueError("interval_s must be positive")
    stop = stop or asyncio.Event()

    def emit() -> None:
        snapshot = registry.snapshot()
        logger.info("metrics %s", json.dumps(snapshot, sort_keys=True), extra={"metrics": snapshot})

    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)
            emit()
    except asyncio.CancelledError:
        emit()
        raise
