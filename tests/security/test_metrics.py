"""Stage counters: Prometheus text format over a real HTTP socket, scraped with httpx."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading

import httpx
import pytest

from sensor_service.ingest.worker import IngestCounters
from sensor_service.metrics import (
    OTHER_METRIC,
    STAGE_METRIC,
    STAGES,
    Registry,
    StageCounters,
    expose_counters,
    log_metrics_periodically,
    serve_metrics,
)

_SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_exposition(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """A strict little parser of the text format: every non-comment line must be a sample."""
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    types: dict[str, str] = {}
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
            continue
        if line.startswith("# HELP "):
            continue
        match = _SAMPLE_RE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, label_text, value = match.groups()
        assert name in types, f"{name} has no TYPE line"
        labels = {}
        if label_text:
            labels = {
                k: v.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
                for k, v in _LABEL_RE.findall(label_text)
            }
            assert ",".join(f'{k}="{v}"' for k, v in _LABEL_RE.findall(label_text)) == label_text
        samples[(name, frozenset(labels.items()))] = float(value)
    return samples


def _stage(component: str, stage: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return (STAGE_METRIC, frozenset({("component", component), ("stage", stage)}))


async def test_scrape_stage_counters_over_http() -> None:
    registry = Registry()
    ingest = StageCounters("ingest", registry=registry)
    publisher = StageCounters("publisher", registry=registry)
    ingest.inc("received", 3)
    ingest.inc("written", 250)
    ingest.inc("dead_lettered")
    publisher.inc("published", 7)
    depth = registry.gauge("footpod_spool_bytes", "Bytes waiting in the spool.", ("component",))
    depth.set(4096, component="publisher")
    async with (
        await serve_metrics(0, registry=registry) as server,
        httpx.AsyncClient(timeout=5) as http,
    ):
        response = await http.get(server.url)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        samples = parse_exposition(response.text)
        ingest.inc("written", 50)
        again = parse_exposition((await http.get(server.url)).text)
    for stage in STAGES:  # every stage is exported from the start
        assert _stage("ingest", stage) in samples
        assert _stage("publisher", stage) in samples
    assert samples[_stage("ingest", "received")] == 3
    assert samples[_stage("ingest", "written")] == 250
    assert samples[_stage("ingest", "dead_lettered")] == 1
    assert samples[_stage("ingest", "lost")] == 0
    assert samples[_stage("publisher", "published")] == 7
    assert samples[("footpod_spool_bytes", frozenset({("component", "publisher")}))] == 4096
    assert again[_stage("ingest", "written")] == 300
    assert f"# TYPE {STAGE_METRIC} counter" in response.text


async def test_http_edges() -> None:
    registry = Registry()
    StageCounters("x", registry=registry)
    async with (
        await serve_metrics(0, registry=registry) as server,
        httpx.AsyncClient(timeout=5) as http,
    ):
        base = f"http://127.0.0.1:{server.port}"
        assert (await http.get(f"{base}/")).status_code == 404
        assert (await http.get(f"{base}/metrics?x=1")).status_code == 200
        assert (await http.post(f"{base}/metrics")).status_code == 405
        head = await http.head(f"{base}/metrics")
        assert head.status_code == 200
        assert head.content == b""
        # A client that never finishes its request does not block the others.
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /metrics HTTP/1.1\r\n")
        assert (await http.get(f"{base}/metrics")).status_code == 200
        writer.write(b"X" * 20_000 + b"\r\n\r\n")  # over the header limit: dropped
        try:
            data = await asyncio.wait_for(reader.read(), 5)
        except ConnectionError:
            data = b""
        assert data == b""  # closed without an answer
        writer.close()
        garbage_r, garbage_w = await asyncio.open_connection("127.0.0.1", server.port)
        garbage_w.write(b"HELLO\r\n\r\n")
        assert (await asyncio.wait_for(garbage_r.read(), 5)).startswith(b"HTTP/1.1 400")
        garbage_w.close()


async def test_serves_on_localhost_only_by_default() -> None:
    async with await serve_metrics(0, registry=Registry()) as server:
        assert server.host == "127.0.0.1"


def test_label_values_and_help_are_escaped() -> None:
    registry = Registry()
    counter = registry.counter("footpod_test_total", "help with \\ and\nnewline", ("who",))
    counter.inc(2, who='a "quoted"\\ name\nnext')
    text = registry.render()
    assert "# HELP footpod_test_total help with \\\\ and\\nnewline\n" in text
    samples = parse_exposition(text)
    assert samples[("footpod_test_total", frozenset({("who", 'a "quoted"\\ name\nnext')}))] == 2


def test_counters_refuse_misuse() -> None:
    registry = Registry()
    stages = StageCounters("ingest", registry=registry)
    with pytest.raises(ValueError, match="unknown stage"):
        stages.inc("teleported")
    with pytest.raises(ValueError, match="only go up"):
        stages.inc("received", -1)
    with pytest.raises(ValueError, match="labels"):
        registry.counter(STAGE_METRIC, "x", ("component", "stage")).inc(1, component="a")
    with pytest.raises(ValueError, match="already registered"):
        registry.gauge(STAGE_METRIC, "x", ("component", "stage"))
    with pytest.raises(ValueError, match="not a valid Prometheus name"):
        registry.counter("bad name", "x")
    # The same component twice shares its counters (one family, one series per stage).
    StageCounters("ingest", registry=registry).inc("received", 2)
    assert stages.get("received") == 2


def test_counting_from_threads_loses_nothing() -> None:
    registry = Registry()
    stages = StageCounters("reader", registry=registry)

    def work() -> None:
        for _ in range(10_000):
            stages.inc("decoded")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert stages.as_dict()["decoded"] == 80_000


async def test_periodic_structured_log(caplog: pytest.LogCaptureFixture) -> None:
    registry = Registry()
    stages = StageCounters("ingest", registry=registry)
    stages.inc("written", 5)
    logger = logging.getLogger("footpod.test.metrics")
    stop = asyncio.Event()
    with caplog.at_level(logging.INFO, logger=logger.name):
        task = asyncio.create_task(
            log_metrics_periodically(0.05, registry=registry, logger=logger, stop=stop)
        )
        await asyncio.sleep(0.18)
        stages.inc("written", 1)
        stop.set()
        await asyncio.wait_for(task, 2)
    records = [r for r in caplog.records if r.name == logger.name]
    assert len(records) >= 3
    last = records[-1]
    assert last.getMessage().startswith("metrics {")
    logged = json.loads(last.getMessage().removeprefix("metrics "))
    assert logged[f"{STAGE_METRIC}{{component=ingest,stage=written}}"] == 6
    assert last.metrics == logged  # type: ignore[attr-defined]


async def test_periodic_log_emits_a_last_line_when_cancelled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = Registry()
    StageCounters("run", registry=registry)
    logger = logging.getLogger("footpod.test.metrics2")
    with caplog.at_level(logging.INFO, logger=logger.name):
        task = asyncio.create_task(log_metrics_periodically(60, registry=registry, logger=logger))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert [r for r in caplog.records if r.name == logger.name]


async def test_expose_counters_kept_by_a_component() -> None:
    """The ingest worker's own counters are served without touching the worker."""
    registry = Registry()
    counters = IngestCounters()
    expose_counters("ingest", counters.as_dict, registry=registry)
    counters.received += 4
    counters.written += 40
    counters.batches += 2
    async with (
        await serve_metrics(0, registry=registry) as server,
        httpx.AsyncClient(timeout=5) as http,
    ):
        samples = parse_exposition((await http.get(server.url)).text)
        counters.written += 10
        later = parse_exposition((await http.get(server.url)).text)
    assert samples[_stage("ingest", "received")] == 4
    assert samples[_stage("ingest", "written")] == 40
    assert samples[_stage("ingest", "lost")] == 0
    assert samples[(OTHER_METRIC, frozenset({("component", "ingest"), ("event", "batches")}))] == 2
    assert later[_stage("ingest", "written")] == 50
