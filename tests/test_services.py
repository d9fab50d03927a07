"""Private Mosquitto / influxd lifecycle: start, restart keeping data, kill, nothing left."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import aiomqtt
import httpx
import pytest

from sensor_service import services
from sensor_service.errors import ServiceError
from sensor_service.services import (
    InfluxService,
    MosquittoService,
    find_binary,
    free_port,
)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie would still answer kill(0); we reap our children, so check /proc state too.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _wait_gone(pid: int, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


# --------------------------------------------------------------------------- unit


def test_free_port_is_bindable_and_not_1883() -> None:
    port = free_port()
    assert port != 1883
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
    assert free_port(exclude=[port]) != port


def test_missing_binary_message_has_install_hint(tmp_path: Path) -> None:
    service = MosquittoService(directory=tmp_path)
    object.__setattr__(service, "binary_name", "no-such-mosquitto-binary")
    with pytest.raises(ServiceError, match="apt-get install mosquitto"):
        service.start()
    influx = InfluxService(directory=tmp_path)
    influx.binary_name = "no-such-influxd"  # type: ignore[misc]
    with pytest.raises(ServiceError, match="apt-get install influxdb"):
        influx.start()


def test_explicit_binary_not_executable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "mosquitto"
    fake.write_text("")
    with pytest.raises(ServiceError, match=r"not executable.*apt-get install mosquitto"):
        MosquittoService(directory=tmp_path, binary=fake).start()
    monkeypatch.setenv("FOOTPOD_INFLUXD_BIN", str(tmp_path / "nowhere"))
    with pytest.raises(ServiceError, match=r"FOOTPOD_INFLUXD_BIN.*apt-get install influxdb"):
        InfluxService(directory=tmp_path).start()


_FIXTURE_USER = """
def test_needs_broker(mqtt_url):
    assert mqtt_url
"""


@pytest.mark.parametrize(("ci", "outcome"), [("true", "1 error"), ("", "1 skipped")])
def test_missing_binary_fails_in_ci_and_skips_elsewhere(
    tmp_path: Path, ci: str, outcome: str
) -> None:
    shutil.copy(Path(__file__).parent / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_user.py").write_text(_FIXTURE_USER)
    env = {**os.environ, "CI": ci, "FOOTPOD_MOSQUITTO_BIN": str(tmp_path / "no-mosquitto")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfs", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert outcome in result.stdout, result.stdout + result.stderr
    assert result.returncode == (1 if ci else 0)
    assert "apt-get install mosquitto" in result.stdout


def test_mosquitto_config_hooks(tmp_path: Path) -> None:
    service = MosquittoService(
        directory=tmp_path,
        port=12345,
        allow_anonymous=False,
        password_file=tmp_path / "pw",
        acl_file=tmp_path / "acl",
        extra_config=["max_queued_messages 5000"],
    )
    text = service.config_text()
    assert "listener 12345 127.0.0.1" in text
    assert "allow_anonymous false" in text
    assert f"password_file {tmp_path / 'pw'}" in text
    assert f"acl_file {tmp_path / 'acl'}" in text
    assert "persistence true" in text
    assert text.rstrip().endswith("max_queued_messages 5000")
    assert service.url == "mqtt://127.0.0.1:12345"


def test_influx_config_uses_private_ports_and_dirs(tmp_path: Path) -> None:
    service = InfluxService(directory=tmp_path, port=18086, rpc_port=18088)
    text = service.config_text()
    assert 'bind-address = "127.0.0.1:18088"' in text
    assert 'bind-address = "127.0.0.1:18086"' in text
    assert str(tmp_path / "wal") in text
    assert "reporting-disabled = true" in text
    assert service.url == "http://127.0.0.1:18086"


# --------------------------------------------------------------------------- integration


@pytest.mark.integration
def test_mosquitto_start_stop_restart_kill(
    mosquitto_factory: Callable[..., MosquittoService],
) -> None:
    broker = mosquitto_factory()
    port, pid = broker.port, broker.pid
    assert pid is not None
    assert broker.running
    assert _port_open(port)
    assert broker.url == f"mqtt://127.0.0.1:{port}"

    broker.restart()
    assert broker.port == port
    assert broker.pid != pid
    assert _port_open(port)
    assert _wait_gone(pid)

    pid2 = broker.pid
    assert pid2 is not None
    broker.kill()
    assert not broker.running
    assert broker.pid is None
    assert _wait_gone(pid2)
    assert not _port_open(port)

    broker.start()
    pid3 = broker.pid
    assert pid3 is not None
    broker.stop()
    assert _wait_gone(pid3)
    assert not _port_open(port)
    with socket.socket() as sock:  # the port is really free again
        sock.bind(("127.0.0.1", port))


@pytest.mark.integration
async def test_mosquitto_restart_keeps_queued_qos1_messages(
    mosquitto_factory: Callable[..., MosquittoService],
) -> None:
    broker = mosquitto_factory()
    topic = "footpod/test/persist"

    def client(client_id: str) -> aiomqtt.Client:
        return aiomqtt.Client("127.0.0.1", broker.port, identifier=client_id, clean_session=False)

    async with client("persist-sub") as sub:
        await sub.subscribe(topic, qos=1)
    async with client("persist-pub") as pub:
        await pub.publish(topic, b"kept", qos=1)

    broker.restart()  # graceful: the queued message is saved to the persistence file

    async with client("persist-sub") as sub, asyncio.timeout(5):
        async for message in sub.messages:
            assert message.payload == b"kept"
            break


@pytest.mark.integration
def test_influx_restart_keeps_data_and_kill(influx_factory: Callable[..., InfluxService]) -> None:
    influx = influx_factory()
    url, port = influx.url, influx.port
    httpx.post(f"{url}/query", data={"q": 'CREATE DATABASE "keep"'}).raise_for_status()
    r = httpx.post(f"{url}/write", params={"db": "keep"}, content=b"m v=1i 1000\n")
    assert r.status_code == 204

    influx.restart()
    assert influx.port == port
    body = httpx.post(
        f"{url}/query", data={"q": 'SELECT "v" FROM "m"', "db": "keep", "epoch": "ns"}
    ).json()
    assert body["results"][0]["series"][0]["values"] == [[1000, 1]]

    pid = influx.pid
    assert pid is not None
    influx.kill()
    assert _wait_gone(pid)
    assert not _port_open(port)
    influx.start()  # the WAL survives a SIGKILL too
    body = httpx.post(
        f"{url}/query", data={"q": 'SELECT "v" FROM "m"', "db": "keep", "epoch": "ns"}
    ).json()
    assert body["results"][0]["series"][0]["values"] == [[1000, 1]]
    pid = influx.pid
    assert pid is not None
    influx.stop()
    assert _wait_gone(pid)
    assert not _port_open(port)
    assert not _port_open(influx.rpc_port)


@pytest.mark.integration
def test_context_manager_removes_temp_dir_and_process() -> None:
    if find_binary("mosquitto") is None:
        pytest.skip("mosquitto not installed")  # covered by the fixture tests' CI failure
    with MosquittoService() as broker:
        directory, pid = broker.directory, broker.pid
        assert directory.is_dir()
        assert pid is not None
    assert not directory.exists()
    assert _wait_gone(pid)


@pytest.mark.integration
def test_port_taken_fixed_fails_auto_retries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if find_binary("mosquitto") is None:
        pytest.skip("mosquitto not installed")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        with pytest.raises(ServiceError, match="already in use"):
            MosquittoService(directory=tmp_path / "fixed", port=taken).start()

        real_free_port = services.free_port
        calls = iter([taken])
        monkeypatch.setattr(
            services, "free_port", lambda *a, **k: next(calls, None) or real_free_port(*a, **k)
        )
        with MosquittoService(directory=tmp_path / "auto") as broker:
            assert broker.port != taken
            assert broker.running


@pytest.mark.integration
def test_start_failure_reports_log_tail(tmp_path: Path) -> None:
    if find_binary("mosquitto") is None:
        pytest.skip("mosquitto not installed")
    broker = MosquittoService(directory=tmp_path, extra_config=["this_is_not_an_option 1"])
    with pytest.raises(ServiceError, match=r"(?s)exited with code.*this_is_not_an_option"):
        broker.start()
    assert broker.pid is None


_CHILD = """
import sys, time
from sensor_service.services import MosquittoService
broker = MosquittoService().start()
print(broker.pid, broker.port, flush=True)
if sys.argv[1] == "hang":
    time.sleep(60)
"""


@pytest.mark.integration
@pytest.mark.parametrize("how", ["exit", "sigkill"])
def test_processes_die_with_parent(how: str) -> None:
    if find_binary("mosquitto") is None:
        pytest.skip("mosquitto not installed")
    mode = "exit" if how == "exit" else "hang"
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, mode], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    pid_s, port_s = child.stdout.readline().split()
    pid, port = int(pid_s), int(port_s)
    if how == "sigkill":
        assert _pid_alive(pid)
        child.kill()  # no atexit: PR_SET_PDEATHSIG must take the broker down
    child.wait(timeout=10)
    assert _wait_gone(pid), f"mosquitto pid {pid} outlived its parent ({how})"
    assert not _port_open(port)
