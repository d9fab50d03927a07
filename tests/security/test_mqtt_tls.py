"""MQTT over TLS for real: mqtts:// URLs encrypt, verify the broker, and fail clearly otherwise.

A private Mosquitto runs the rendered config (``security.mosquitto_conf_text(tls_port=…)``)
with a CA and a server certificate (SAN ``localhost`` only) made here. The project's own
publisher and ingest worker connect with ``mqtts://`` URLs; a recording TCP relay between the
publisher and the broker shows that what crosses the wire is TLS, not MQTT in the clear.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiomqtt
import pytest

from security.broker_probe import PASSWORDS, RenderedConfMosquitto
from security.tls_certs import Authority, Issued, make_ca
from sensor_service.bus.mqtt_url import (
    CA_FILE_ENV,
    CERT_FILE_ENV,
    KEY_FILE_ENV,
    MqttTarget,
    parse_mqtt_url,
)
from sensor_service.bus.publisher import MqttPublisher
from sensor_service.contracts import StepRecord, StepsBatch, topic
from sensor_service.errors import ConfigError
from sensor_service.ingest.worker import IngestWorker
from sensor_service.security import ACL_FILENAME, PASSWORD_FILENAME, acl_text, make_password_file
from sensor_service.services import free_port
from sensor_service.store.influx import InfluxClient

V5 = aiomqtt.ProtocolVersion.V5
SECRET = "ana-pain-note-7f3c"  # must never cross the wire in the clear


# --------------------------------------------------------------------------- PKI and broker


class TlsBroker:
    def __init__(self, service: RenderedConfMosquitto, tls_port: int, ca: Authority) -> None:
        self.service = service
        self.tls_port = tls_port
        self.ca = ca

    def url(self, user: str, *, host: str = "localhost", port: int | None = None) -> str:
        return f"mqtts://{user}:{PASSWORDS[user]}@{host}:{port or self.tls_port}"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Authority, Issued, Authority]:
    """The broker's CA with its server certificate (DNS:localhost), and an unrelated CA."""
    root = tmp_path_factory.mktemp("pki")
    ca = make_ca(root / "ca")
    server = ca.issue(root / "ca", "server", dns=("localhost",))
    other = make_ca(root / "other", "some other CA")
    return ca, server, other


@pytest.fixture
def tls_broker_factory(
    tmp_path: Path, pki: tuple[Authority, Issued, Authority]
) -> Iterator[Callable[..., TlsBroker]]:
    started: list[RenderedConfMosquitto] = []

    def make(*, require_certificate: bool = False) -> TlsBroker:
        ca, server, _ = pki
        conf_dir = tmp_path / f"conf{len(started)}"
        certs = conf_dir / "certs"
        certs.mkdir(parents=True)
        (certs / "ca.crt").write_bytes(ca.cert_path.read_bytes())
        (certs / "server.crt").write_bytes(server.cert.read_bytes())
        (certs / "server.key").write_bytes(server.key.read_bytes())
        make_password_file(conf_dir / PASSWORD_FILENAME, PASSWORDS)
        (conf_dir / ACL_FILENAME).write_text(acl_text())
        service = RenderedConfMosquitto(
            conf_dir=conf_dir,
            directory=tmp_path / f"run{len(started)}",
        )
        tls_port = free_port(exclude=(service.port,))
        service.conf = {
            "tls_port": tls_port,
            "tls_bind_address": "127.0.0.1",
            "require_certificate": require_certificate,
        }
        started.append(service)
        service.start()
        return TlsBroker(service, tls_port, ca)

    yield make
    for service in started:
        service.close(stop_timeout_s=2)


@pytest.fixture
def tls_env(monkeypatch: pytest.MonkeyPatch, pki: tuple[Authority, Issued, Authority]) -> None:
    """Clients trust the broker's CA (and no client certificate is set)."""
    monkeypatch.setenv(CA_FILE_ENV, str(pki[0].cert_path))
    monkeypatch.delenv(CERT_FILE_ENV, raising=False)
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)


def _client(target: MqttTarget, name: str) -> aiomqtt.Client:
    return aiomqtt.Client(
        **target.client_kwargs(),
        identifier=f"{name}-{uuid.uuid4().hex[:8]}",
        protocol=V5,
        timeout=2,
    )


@asynccontextmanager
async def _recording_relay(port: int) -> AsyncIterator[tuple[int, bytearray]]:
    """A TCP relay 127.0.0.1:<new port> → 127.0.0.1:``port`` recording client→broker bytes."""
    sent = bytearray()
    tasks: set[asyncio.Task[None]] = set()

    async def pipe(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, record: bool
    ) -> None:
        try:
            while chunk := await reader.read(65536):
                if record:
                    sent.extend(chunk)
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        for task in (
            asyncio.create_task(pipe(reader, up_writer, True)),
            asyncio.create_task(pipe(up_reader, writer, False)),
        ):
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], sent
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# --------------------------------------------------------------------------- URL → TLS settings


def test_mqtts_url_gives_verified_tls_params(
    monkeypatch: pytest.MonkeyPatch, pki: tuple[Authority, Issued, Authority]
) -> None:
    import ssl

    monkeypatch.setenv(CA_FILE_ENV, str(pki[0].cert_path))
    monkeypatch.delenv(CERT_FILE_ENV, raising=False)
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    target = parse_mqtt_url("mqtts://ana:s3cret-pw@broker.example.org")
    kwargs = target.client_kwargs()
    assert (kwargs["hostname"], kwargs["port"]) == ("broker.example.org", 8883)
    params = kwargs["tls_params"]
    assert params is not None
    assert params.ca_certs == str(pki[0].cert_path)
    assert params.cert_reqs == ssl.CERT_REQUIRED
    assert params.certfile is None
    assert kwargs["tls_insecure"] is False  # hostname verification on
    assert "s3cret-pw" not in repr(target)
    assert "s3cret-pw" not in str(target)


def test_system_cas_when_no_ca_file(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (CA_FILE_ENV, CERT_FILE_ENV, KEY_FILE_ENV):
        monkeypatch.delenv(name, raising=False)
    params = parse_mqtt_url("mqtts://broker.example.org:8884").tls_params()
    assert params is not None
    assert params.ca_certs is None


def test_plain_url_has_no_tls_and_warns_about_tls_settings(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("x")
    monkeypatch.setenv(CA_FILE_ENV, str(ca))
    kwargs = parse_mqtt_url("mqtt://broker.example.org:8883").client_kwargs()
    assert kwargs["tls_params"] is None
    assert kwargs["tls_insecure"] is None
    assert "use mqtts://" in caplog.text
    assert "NOT encrypted" in caplog.text


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({CA_FILE_ENV: "/nonexistent/ca.crt"}, "FOOTPOD_MQTT_CA_FILE"),
        ({CERT_FILE_ENV: "/nonexistent/client.crt"}, "FOOTPOD_MQTT_CERT_FILE"),
        ({KEY_FILE_ENV: "KEY"}, "needs its certificate"),
    ],
    ids=["missing-ca", "missing-cert", "key-without-cert"],
)
def test_bad_tls_files_fail_at_parse_time(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], message: str
) -> None:
    for name in (CA_FILE_ENV, CERT_FILE_ENV, KEY_FILE_ENV):
        monkeypatch.delenv(name, raising=False)
    key = tmp_path / "client.key"
    key.write_text("x")
    for name, value in env.items():
        monkeypatch.setenv(name, str(key) if value == "KEY" else value)
    with pytest.raises(ConfigError, match=message):
        parse_mqtt_url("mqtts://broker.example.org")


# --------------------------------------------------------------------------- real broker


@pytest.mark.integration
@pytest.mark.usefixtures("tls_env")
async def test_publisher_to_ingest_over_tls_is_encrypted_on_the_wire(
    tls_broker_factory: Callable[..., TlsBroker],
    influx_db: tuple[str, str],
    tmp_path: Path,
) -> None:
    """Pod publisher → broker → ingest worker → InfluxDB, both MQTT hops on mqtts://."""
    broker = tls_broker_factory()
    url, db = influx_db
    worker = IngestWorker(
        mqtt_url=broker.url("ingest"),
        influx_url=url,
        database=db,
        client_id=f"ingest-{uuid.uuid4().hex[:8]}",
        flush_interval_s=0.1,
        spool_dir=tmp_path / "ingest-spool",
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.wait_for(worker.ready.wait(), 10)
        t0 = time.time_ns() - 60_000_000_000
        steps = tuple(
            StepRecord(
                ic_ns=t0 + i * 700_000_000,
                to_ns=t0 + i * 700_000_000 + 250_000_000,
                fields={"gct_ms": 250.0, "step_index": i},
            )
            for i in range(5)
        )
        batch = StepsBatch("ana", "ana-left", "left", "foot", SECRET, steps).to_json()
        async with (
            _recording_relay(broker.tls_port) as (relay_port, wire),
            MqttPublisher(
                mqtt_url=broker.url("ana", port=relay_port),
                client_id=f"ana-{uuid.uuid4().hex[:8]}",
                spool_dir=tmp_path / "pub-spool",
            ) as publisher,
        ):
            await publisher.publish(topic("steps", "ana", "ana-left"), batch)
            await asyncio.wait_for(publisher.drain(), 10)
            assert publisher.counters.published == 1
        assert wire[:1] == b"\x16"  # a TLS handshake record, not an MQTT CONNECT (0x10)
        assert len(wire) > 500
        for clear in (SECRET.encode(), b"MQTT", PASSWORDS["ana"].encode(), b"footpod/v1"):
            assert clear not in wire, f"{clear!r} crossed the wire in the clear"
        deadline = time.monotonic() + 10
        async with InfluxClient(url=url, database=db) as influx:
            while time.monotonic() < deadline:
                if await influx.count("steps", "gct_ms", {"athlete": "ana"}) == 5:
                    break
                await asyncio.sleep(0.1)
            assert await influx.count("steps", "gct_ms", {"athlete": "ana"}) == 5
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


@pytest.mark.integration
async def test_wrong_ca_is_refused_with_a_certificate_error(
    tls_broker_factory: Callable[..., TlsBroker],
    monkeypatch: pytest.MonkeyPatch,
    pki: tuple[Authority, Issued, Authority],
) -> None:
    broker = tls_broker_factory()
    monkeypatch.setenv(CA_FILE_ENV, str(pki[2].cert_path))  # not the broker's CA
    with pytest.raises(aiomqtt.MqttError, match="CERTIFICATE_VERIFY_FAILED"):
        async with _client(parse_mqtt_url(broker.url("coach")), "coach"):
            pass


@pytest.mark.integration
@pytest.mark.usefixtures("tls_env")
async def test_host_name_is_verified(tls_broker_factory: Callable[..., TlsBroker]) -> None:
    """The certificate names ``localhost``; the same broker as 127.0.0.1 is refused."""
    broker = tls_broker_factory()
    async with _client(parse_mqtt_url(broker.url("coach")), "coach") as ok:
        await ok.subscribe("footpod/v1/#", qos=1)
    with pytest.raises(aiomqtt.MqttError, match=r"CERTIFICATE_VERIFY_FAILED.*127\.0\.0\.1"):
        async with _client(parse_mqtt_url(broker.url("coach", host="127.0.0.1")), "coach"):
            pass


@pytest.mark.integration
@pytest.mark.usefixtures("tls_env")
async def test_plain_mqtt_to_the_tls_port_fails(
    tls_broker_factory: Callable[..., TlsBroker],
) -> None:
    broker = tls_broker_factory()
    plain = parse_mqtt_url(f"mqtt://coach:{PASSWORDS['coach']}@localhost:{broker.tls_port}")
    started = time.monotonic()
    with pytest.raises(aiomqtt.MqttError) as caught:
        async with _client(plain, "coach"):
            pass
    assert time.monotonic() - started < 4
    # The broker drops the connection at once; aiomqtt reports it when no CONNACK came.
    assert "timed out" in str(caught.value)


@pytest.mark.integration
async def test_required_client_certificate(
    tls_broker_factory: Callable[..., TlsBroker],
    monkeypatch: pytest.MonkeyPatch,
    pki: tuple[Authority, Issued, Authority],
    tmp_path: Path,
) -> None:
    """``require_certificate true``: no client certificate, no connection; with one, in."""
    broker = tls_broker_factory(require_certificate=True)
    ca = pki[0]
    monkeypatch.setenv(CA_FILE_ENV, str(ca.cert_path))
    monkeypatch.delenv(CERT_FILE_ENV, raising=False)
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    with pytest.raises(aiomqtt.MqttError):
        async with _client(parse_mqtt_url(broker.url("ana")), "ana"):
            pass
    client_cert = ca.issue(tmp_path / "client", "ana", client=True)
    monkeypatch.setenv(CERT_FILE_ENV, str(client_cert.cert))
    monkeypatch.setenv(KEY_FILE_ENV, str(client_cert.key))
    async with _client(parse_mqtt_url(broker.url("ana")), "ana") as client:
        await client.publish(topic("steps", "ana", "ana-left"), b"{}", qos=1)
