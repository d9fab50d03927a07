"""Start and stop private Mosquitto and InfluxDB 1.x servers for the demo and the tests.

Each service runs from its own directory (a fresh temporary one unless given) with a generated
config file, listens on 127.0.0.1 on a free port, and keeps its data there, so :meth:`restart`
comes back on the same port with the same data (Mosquitto persists QoS 1 sessions and queued
messages; influxd keeps its WAL and shards).

Lifecycle::

    with MosquittoService() as broker, InfluxService() as influx:
        print(broker.url, influx.url)      # mqtt://127.0.0.1:PORT  http://127.0.0.1:PORT

``start()`` waits until the service answers (Mosquitto: a TCP connect succeeds; influxd:
``GET /ping`` returns 204) and raises :class:`~sensor_service.errors.ServiceError` with the last
lines of the process log if it does not. ``stop()`` sends SIGTERM, then SIGKILL after
``stop_timeout_s``, and reaps the process. ``kill()`` sends SIGKILL at once (fault tests).

The processes never outlive the parent: they run in their own session (so a Ctrl-C aimed at the
parent's process group does not hit them first), an :mod:`atexit` hook stops every service still
running, and when started from the main thread they get ``PR_SET_PDEATHSIG=SIGKILL`` (through
util-linux ``setpriv`` when installed), so they die even if the parent is SIGKILLed. A service
started from another thread relies on the atexit hook only, because the kernel ties the death
signal to the thread that forked.

The system broker on 127.0.0.1:1883 is never touched: ports come from :func:`free_port`.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self

from sensor_service.errors import ServiceError

__all__ = [
    "InfluxService",
    "MosquittoService",
    "ServiceProcess",
    "find_binary",
    "free_port",
]

#: Directories searched after ``PATH``; Debian installs both daemons in sbin/bin.
_EXTRA_BIN_DIRS = ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/sbin")
_LOG_TAIL_LINES = 30
_POLL_S = 0.05


def free_port(host: str = "127.0.0.1", *, exclude: Sequence[int] = ()) -> int:
    """Return a TCP port on ``host`` that nothing listens on right now.

    The port is free when this returns; another process could still take it before the caller
    binds it, so the services retry with a new port when their first start hits
    "address in use".
    """
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in exclude:
            return port
    raise ServiceError(f"no free TCP port found on {host}")  # pragma: no cover


def find_binary(name: str) -> Path | None:
    """Locate an executable in ``PATH``, then in the usual sbin/bin directories."""
    found = shutil.which(name)
    if found:
        return Path(found)
    extra = os.pathsep.join(_EXTRA_BIN_DIRS)
    found = shutil.which(name, path=extra)
    return Path(found) if found else None


def _port_is_open(host: str, port: int, timeout_s: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------- cleanup registry

_live: set[ServiceProcess] = set()
_live_lock = threading.Lock()


def _cleanup_at_exit() -> None:
    with _live_lock:
        services = list(_live)
    for service in services:
        with contextlib.suppress(Exception):
            service.close(stop_timeout_s=2.0)


atexit.register(_cleanup_at_exit)


class ServiceProcess:
    """Base class: one private daemon with a generated config, a log file and a data dir.

    Subclasses set :attr:`binary_name`, :attr:`install_hint` and implement
    :meth:`_write_config`, :meth:`_command` and :meth:`_is_ready`.
    """

    binary_name: ClassVar[str] = ""
    display_name: ClassVar[str] = ""
    install_hint: ClassVar[str] = ""
    url_scheme: ClassVar[str] = ""
    binary_env: ClassVar[str] = ""

    def __init__(
        self,
        *,
        directory: str | os.PathLike[str] | None = None,
        port: int | None = None,
        binary: str | os.PathLike[str] | None = None,
        startup_timeout_s: float = 15.0,
        stop_timeout_s: float = 5.0,
    ) -> None:
        self.host = "127.0.0.1"
        self._owns_directory = directory is None
        self._directory: Path | None = Path(directory) if directory is not None else None
        self._port_fixed = port is not None
        self._port: int = port if port is not None else free_port()
        self._binary_arg = Path(binary) if binary is not None else None
        self.startup_timeout_s = startup_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._started_once = False

    # ------------------------------------------------------------------ properties

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"{self.url_scheme}://{self.host}:{self._port}"

    @property
    def directory(self) -> Path:
        """The private directory (config, data, log); created on first use."""
        if self._directory is None:
            self._directory = Path(tempfile.mkdtemp(prefix=f"footpod-{self.binary_name}-"))
        return self._directory

    @property
    def log_path(self) -> Path:
        return self.directory / f"{self.binary_name}.log"

    @property
    def config_path(self) -> Path:
        return self.directory / f"{self.binary_name}.conf"

    @property
    def pid(self) -> int | None:
        """Pid of the running process, or ``None`` when stopped."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def binary(self) -> Path:
        """The daemon executable; :class:`ServiceError` with an install hint if missing.

        Order: the ``binary`` argument, the environment variable :attr:`binary_env`
        (``FOOTPOD_MOSQUITTO_BIN`` / ``FOOTPOD_INFLUXD_BIN``), ``PATH``, /usr/sbin, /usr/bin.
        """
        explicit = self._binary_arg
        source = "binary argument"
        if explicit is None and os.environ.get(self.binary_env):
            explicit = Path(os.environ[self.binary_env])
            source = self.binary_env
        if explicit is not None:
            if not (explicit.is_file() and os.access(explicit, os.X_OK)):
                raise ServiceError(
                    f"{self.binary_name} not found or not executable at {explicit} "
                    f"(from {source}): {self.install_hint}"
                )
            return explicit
        found = find_binary(self.binary_name)
        if found is None:
            raise ServiceError(f"{self.binary_name} not found: {self.install_hint}")
        return found

    # ------------------------------------------------------------------ subclass hooks

    def _write_config(self) -> None:
        raise NotImplementedError

    def _command(self, binary: Path) -> list[str]:
        raise NotImplementedError

    def _is_ready(self) -> bool:
        raise NotImplementedError

    def _pick_new_ports(self) -> None:
        self._port = free_port()

    def _ports(self) -> tuple[int, ...]:
        """Every TCP port the daemon will bind (checked free before starting)."""
        return (self._port,)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        """Start the daemon and wait until it answers; no-op if already running."""
        if self.running:
            return self
        binary = self.binary
        attempts = 1 if (self._port_fixed or self._started_once) else 3
        for attempt in range(attempts):
            try:
                self._spawn_and_wait(binary)
            except _AddressInUseError:
                if attempt == attempts - 1:
                    raise
                self._pick_new_ports()
                continue
            break
        self._started_once = True
        return self

    def _spawn_and_wait(self, binary: Path) -> None:
        # A port someone else listens on would make the readiness probe lie: refuse up front.
        for port in self._ports():
            if _port_is_open(self.host, port):
                raise _AddressInUseError(
                    f"{self.display_name}: port {port} on {self.host} is already in use by "
                    "another process; pass another port or let the service pick a free one"
                )
        self.directory.mkdir(parents=True, exist_ok=True)
        self._write_config()
        command = self._command(binary)
        use_pdeathsig = threading.current_thread() is threading.main_thread()
        setpriv = find_binary("setpriv") if use_pdeathsig else None
        if setpriv is not None:
            command = [str(setpriv), "--pdeathsig", "KILL", "--", *command]
        env = {k: v for k, v in os.environ.items() if not k.startswith("INFLUXDB_")}
        with self.log_path.open("ab") as log:
            log.write(f"--- {time.strftime('%H:%M:%S')} starting: {' '.join(command)}\n".encode())
            log.flush()
            log_start = log.tell()
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                env=env,
                start_new_session=True,
                close_fds=True,
            )
        with _live_lock:
            _live.add(self)
        deadline = time.monotonic() + self.startup_timeout_s
        while True:
            code = self._proc.poll()
            if code is not None:
                self._forget_process()
                tail = self.log_tail(since=log_start)
                message = (
                    f"{self.display_name} exited with code {code} while starting on port "
                    f"{self._port}; config {self.config_path}; last lines of "
                    f"{self.log_path}:\n{tail}"
                )
                if "address already in use" in tail.lower():
                    raise _AddressInUseError(message)
                raise ServiceError(message)
            if self._is_ready():
                return
            if time.monotonic() > deadline:
                self._terminate(kill_only=True)
                raise ServiceError(
                    f"{self.display_name} did not become ready on {self.url} within "
                    f"{self.startup_timeout_s:g} s; last lines of {self.log_path}:\n"
                    f"{self.log_tail(since=log_start)}"
                )
            time.sleep(_POLL_S)

    def stop(self, *, stop_timeout_s: float | None = None) -> None:
        """SIGTERM, SIGKILL after ``stop_timeout_s``, reap. Data and port are kept."""
        self._terminate(kill_only=False, timeout_s=stop_timeout_s)

    def kill(self) -> None:
        """SIGKILL at once and reap (simulates a crash; unsaved data may be lost)."""
        self._terminate(kill_only=True)

    def restart(self) -> Self:
        """Stop gracefully and start again on the same port with the same data."""
        self.stop()
        return self.start()

    def close(self, *, stop_timeout_s: float | None = None) -> None:
        """Stop, then delete the private directory if this object created it."""
        self.stop(stop_timeout_s=stop_timeout_s)
        if self._owns_directory and self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def _terminate(self, *, kill_only: bool, timeout_s: float | None = None) -> None:
        proc = self._proc
        if proc is None:
            return
        timeout = self.stop_timeout_s if timeout_s is None else timeout_s
        try:
            if proc.poll() is None:
                if not kill_only:
                    proc.send_signal(signal.SIGTERM)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(timeout=timeout)
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=10)
        finally:
            self._forget_process()

    def _forget_process(self) -> None:
        with _live_lock:
            _live.discard(self)
        self._proc = None

    def log_tail(self, lines: int = _LOG_TAIL_LINES, *, since: int = 0) -> str:
        """The last ``lines`` lines of the process log from byte offset ``since``."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(since)
                text = log.read().decode(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.running else "stopped"
        return f"{type(self).__name__}({self.url}, {state}, dir={self._directory})"


class _AddressInUseError(ServiceError):
    """Start failed because the chosen port was taken meanwhile (retried with a new port)."""


# --------------------------------------------------------------------------- Mosquitto


class MosquittoService(ServiceProcess):
    """A private Mosquitto 2.x broker on ``127.0.0.1:<free port>``.

    Persistence is on (``data/`` in the private directory, saved every ``autosave_interval_s``
    and on a graceful stop), so :meth:`restart` keeps persistent sessions and their queued QoS 1
    messages. ``password_file``, ``acl_file``, ``allow_anonymous`` and ``extra_config`` (raw
    mosquitto.conf lines appended at the end) prepare the ACL tests.
    """

    binary_name: ClassVar[str] = "mosquitto"
    display_name: ClassVar[str] = "mosquitto"
    install_hint: ClassVar[str] = "install it with 'apt-get install mosquitto' or pass --mqtt-url"
    url_scheme: ClassVar[str] = "mqtt"
    binary_env: ClassVar[str] = "FOOTPOD_MOSQUITTO_BIN"

    def __init__(
        self,
        *,
        directory: str | os.PathLike[str] | None = None,
        port: int | None = None,
        binary: str | os.PathLike[str] | None = None,
        allow_anonymous: bool = True,
        password_file: str | os.PathLike[str] | None = None,
        acl_file: str | os.PathLike[str] | None = None,
        extra_config: Sequence[str] = (),
        autosave_interval_s: int = 1,
        startup_timeout_s: float = 10.0,
        stop_timeout_s: float = 5.0,
    ) -> None:
        super().__init__(
            directory=directory,
            port=port,
            binary=binary,
            startup_timeout_s=startup_timeout_s,
            stop_timeout_s=stop_timeout_s,
        )
        self.allow_anonymous = allow_anonymous
        self.password_file = Path(password_file) if password_file is not None else None
        self.acl_file = Path(acl_file) if acl_file is not None else None
        self.extra_config = tuple(extra_config)
        self.autosave_interval_s = autosave_interval_s

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    def config_text(self) -> str:
        """The generated mosquitto.conf."""
        for line in self.extra_config:
            if "\n" in line:
                raise ServiceError(f"extra mosquitto config line contains a newline: {line!r}")
        lines = [
            "# generated by sensor_service.services; edits are overwritten on start",
            f"listener {self._port} {self.host}",
            f"allow_anonymous {'true' if self.allow_anonymous else 'false'}",
            "persistence true",
            f"persistence_location {self.data_dir}/",
            f"autosave_interval {self.autosave_interval_s}",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "connection_messages false",
        ]
        if os.geteuid() == 0:
            # As root, mosquitto would drop to user "mosquitto", who cannot write our dirs.
            lines.append("user root")
        if self.password_file is not None:
            lines.append(f"password_file {self.password_file}")
        if self.acl_file is not None:
            lines.append(f"acl_file {self.acl_file}")
        lines.extend(self.extra_config)
        return "\n".join(lines) + "\n"

    def _write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config_text())

    def _command(self, binary: Path) -> list[str]:
        return [str(binary), "-c", str(self.config_path)]

    def _is_ready(self) -> bool:
        return _port_is_open(self.host, self._port)


# --------------------------------------------------------------------------- InfluxDB 1.x


class InfluxService(ServiceProcess):
    """A private influxd 1.x (Debian's 1.6.7) with HTTP on a free port and no auth.

    The RPC (backup/restore) listener gets its own free port, since influxd's default 8088
    would clash between instances. Meta, data and WAL live in the private directory; usage
    reporting, the ``_internal`` monitor database and request logging are off.
    """

    binary_name: ClassVar[str] = "influxd"
    display_name: ClassVar[str] = "influxd"
    install_hint: ClassVar[str] = "install it with 'apt-get install influxdb' or pass --influx-url"
    url_scheme: ClassVar[str] = "http"
    binary_env: ClassVar[str] = "FOOTPOD_INFLUXD_BIN"

    def __init__(
        self,
        *,
        directory: str | os.PathLike[str] | None = None,
        port: int | None = None,
        rpc_port: int | None = None,
        binary: str | os.PathLike[str] | None = None,
        startup_timeout_s: float = 20.0,
        stop_timeout_s: float = 5.0,
    ) -> None:
        super().__init__(
            directory=directory,
            port=port,
            binary=binary,
            startup_timeout_s=startup_timeout_s,
            stop_timeout_s=stop_timeout_s,
        )
        self._rpc_fixed = rpc_port is not None
        self.rpc_port = rpc_port if rpc_port is not None else free_port(exclude=(self._port,))

    def _pick_new_ports(self) -> None:
        super()._pick_new_ports()
        if not self._rpc_fixed:
            self.rpc_port = free_port(exclude=(self._port,))

    def _ports(self) -> tuple[int, ...]:
        return (self._port, self.rpc_port)

    def config_text(self) -> str:
        """The generated influxdb.conf (TOML)."""
        d = self.directory
        return f"""# generated by sensor_service.services; edits are overwritten on start
reporting-disabled = true
bind-address = "{self.host}:{self.rpc_port}"

[meta]
  dir = "{d / "meta"}"
  retention-autocreate = true
  logging-enabled = false

[data]
  dir = "{d / "data"}"
  wal-dir = "{d / "wal"}"
  index-version = "inmem"
  query-log-enabled = false
  trace-logging-enabled = false

[coordinator]
  log-queries-after = "0s"

[retention]
  enabled = true

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "{self.host}:{self._port}"
  auth-enabled = false
  log-enabled = false
  write-tracing = false
  pprof-enabled = false

[logging]
  level = "warn"
  suppress-logo = true

[subscriber]
  enabled = false

[continuous_queries]
  log-enabled = false
"""

    def _write_config(self) -> None:
        for sub in ("meta", "data", "wal"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config_text())

    def _command(self, binary: Path) -> list[str]:
        return [str(binary), "run", "-config", str(self.config_path)]

    def _is_ready(self) -> bool:
        conn = http.client.HTTPConnection(self.host, self._port, timeout=0.5)
        try:
            conn.request("GET", "/ping")
            return conn.getresponse().status == 204
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()
