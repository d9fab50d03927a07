"""Broker security: Mosquitto ACL rules, its configuration file, and its password file.

Who may do what on ``footpod/v1/…`` is declared once, here, and rendered into the files
shipped in ``deploy/mosquitto/`` (``footpod broker-config`` writes the same files for a
deployment; a test keeps the shipped copies equal to what this module renders).

* runner: writes ``footpod/v1/<own id>/+/{steps,status,imu,rsc}`` and
  ``footpod/v1/<own id>/{runs,pain}``; reads ``footpod/v1/<own id>/alerts``.
* ingest: writes ``footpod/v1/_deadletter``; reads ``footpod/v1/+/+/{steps,status,imu,rsc}``
  and ``footpod/v1/+/{runs,pain,alerts}``.
* coach: writes nothing; reads ``footpod/v1/#``.
* risk: writes ``footpod/v1/+/alerts``; reads ``footpod/v1/+/{runs,pain}`` and
  ``footpod/v1/+/+/steps``.

A runner's MQTT username *is* their athlete id: the rules are Mosquitto ``pattern`` lines with
``%u``, so adding a runner needs a password, never an ACL edit. Pattern lines apply to every
user, so the service accounts get explicit ``deny`` lines for their own would-be athlete
prefix, and their names are reserved (no athlete may be called ``ingest``, ``coach``, ``risk``).
Every username is checked with :func:`~sensor_service.contracts.validate_id` first, which also
keeps MQTT wildcards (``+``, ``#``) and ``/`` out of ``%u`` (CVE-2017-7650).

Passwords never appear on a command line: :func:`make_password_file` writes ``user:password``
lines to a private (0600) temporary file and lets ``mosquitto_passwd -U`` hash it in place.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from sensor_service.contracts import (
    ATHLETE_TOPICS,
    DEAD_LETTER_TOPIC,
    POD_TOPICS,
    TOPIC_ROOT,
    validate_id,
)
from sensor_service.errors import ConfigError, ServiceError

__all__ = [
    "ACL_FILENAME",
    "CONF_FILENAME",
    "DEFAULT_MAX_QUEUED_BYTES",
    "PASSWORD_FILENAME",
    "RESERVED_USERNAMES",
    "RUNNER_RULES",
    "SERVICE_RULES",
    "AclRule",
    "acl_text",
    "athlete_acl_lines",
    "make_password_file",
    "mosquitto_conf_text",
    "read_password_hashes",
    "runner_pattern_lines",
    "service_acl_lines",
    "validate_password",
    "validate_username",
]

CONF_FILENAME: Final = "mosquitto.conf"
ACL_FILENAME: Final = "acl"
PASSWORD_FILENAME: Final = "passwd"  # noqa: S105 - a file name, not a password

Access = Literal["read", "write", "readwrite", "deny"]

#: Per-session bound on the QoS 1 messages the broker queues for an absent persistent
#: subscriber (``max_queued_bytes``), in broker memory: 256 MiB.
DEFAULT_MAX_QUEUED_BYTES: Final = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class AclRule:
    """One ACL line: ``access`` on ``topic`` (an MQTT filter; ``%u`` = the username)."""

    access: Access
    topic: str


#: What a runner may do, with ``%u`` standing for their username = athlete id.
RUNNER_RULES: Final[tuple[AclRule, ...]] = (
    *(AclRule("write", f"{TOPIC_ROOT}/%u/+/{kind}") for kind in POD_TOPICS),
    *(AclRule("write", f"{TOPIC_ROOT}/%u/{kind}") for kind in ATHLETE_TOPICS if kind != "alerts"),
    AclRule("read", f"{TOPIC_ROOT}/%u/alerts"),
)

#: The service accounts and what they may do (on top of nothing: they are not runners).
SERVICE_RULES: Final[Mapping[str, tuple[AclRule, ...]]] = {
    "ingest": (
        *(AclRule("read", f"{TOPIC_ROOT}/+/+/{kind}") for kind in POD_TOPICS),
        *(AclRule("read", f"{TOPIC_ROOT}/+/{kind}") for kind in ATHLETE_TOPICS),
        AclRule("write", DEAD_LETTER_TOPIC),
    ),
    "coach": (AclRule("read", f"{TOPIC_ROOT}/#"),),
    "risk": (
        AclRule("read", f"{TOPIC_ROOT}/+/runs"),
        AclRule("read", f"{TOPIC_ROOT}/+/pain"),
        AclRule("read", f"{TOPIC_ROOT}/+/+/steps"),
        AclRule("write", f"{TOPIC_ROOT}/+/alerts"),
    ),
}

#: Usernames of the service accounts; no athlete may use them.
RESERVED_USERNAMES: Final = frozenset(SERVICE_RULES)


# --------------------------------------------------------------------------- validation


def validate_username(name: object, *, athlete: bool = False) -> str:
    """Return ``name`` if it is a valid MQTT username (an identifier); else raise.

    With ``athlete=True`` the service account names are refused too, since a runner's username
    is their athlete id and the ACL patterns would give them the service's topics.
    """
    value = validate_id("athlete" if athlete else "username", name)
    if athlete and value in RESERVED_USERNAMES:
        raise ConfigError(
            f"athlete id {value!r} is reserved for a service account "
            f"({', '.join(sorted(RESERVED_USERNAMES))}); pick another id"
        )
    return value


def validate_password(user: str, password: object) -> str:
    """Refuse passwords Mosquitto's password file cannot hold (or that are too weak to use)."""
    if not isinstance(password, str) or not password:
        raise ConfigError(f"password of {user!r} must be a non-empty string")
    if any(ch in password for ch in "\n\r\0"):
        raise ConfigError(f"password of {user!r} contains a newline or NUL; choose another")
    if len(password) < 8:
        raise ConfigError(f"password of {user!r} is shorter than 8 characters; use a longer one")
    return password


# --------------------------------------------------------------------------- ACL rendering


def _line(keyword: str, rule: AclRule) -> str:
    return f"{keyword} {rule.access} {rule.topic}"


def runner_pattern_lines() -> list[str]:
    """The ``pattern`` lines that give every runner access to their own topics only."""
    return [_line("pattern", rule) for rule in RUNNER_RULES]


def athlete_acl_lines(athlete: str) -> list[str]:
    """Explicit ACL lines for one runner: what the ``%u`` patterns expand to for ``athlete``.

    For brokers without pattern substitution, and to read what a runner is allowed to do.
    """
    validate_username(athlete, athlete=True)
    return [f"user {athlete}"] + [
        _line("topic", AclRule(rule.access, rule.topic.replace("%u", athlete)))
        for rule in RUNNER_RULES
    ]


def service_acl_lines(user: str) -> list[str]:
    """The ``user`` block of one service account (``ingest``, ``coach``, ``risk``)."""
    if user not in SERVICE_RULES:
        raise ConfigError(f"unknown service account {user!r}; use one of {sorted(SERVICE_RULES)}")
    # The runner patterns apply to every user; deny this account its own athlete prefix.
    return [
        f"user {user}",
        _line("topic", AclRule("deny", f"{TOPIC_ROOT}/{user}/#")),
        *(_line("topic", rule) for rule in SERVICE_RULES[user]),
    ]


def acl_text(*, explicit_athletes: Iterable[str] = ()) -> str:
    """The whole ACL file: runner patterns, service blocks, optional explicit runner blocks."""
    lines = [
        "# footpod Mosquitto ACL: rendered by sensor_service.security (footpod broker-config).",
        "# Anonymous clients get nothing (no topic lines before the first 'user' line).",
        "#",
        "# Runners: username = athlete id; write only their own topics, read their own alerts.",
        *runner_pattern_lines(),
    ]
    for user in SERVICE_RULES:
        lines += ["", f"# service account {user}", *service_acl_lines(user)]
    for athlete in explicit_athletes:
        lines += ["", f"# runner {athlete} (explicit copy of the patterns)"]
        lines += athlete_acl_lines(athlete)
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- mosquitto.conf


def mosquitto_conf_text(
    *,
    config_dir: str = "/mosquitto/config",
    data_dir: str = "/mosquitto/data",
    port: int = 1883,
    bind_address: str | None = None,
    max_queued_bytes: int = DEFAULT_MAX_QUEUED_BYTES,
    tls_port: int | None = None,
    tls_bind_address: str | None = None,
    require_certificate: bool = False,
    extra_lines: Sequence[str] = (),
) -> str:
    """mosquitto.conf for Mosquitto 2.x: authenticated listener, ACL, persistence, TLS.

    The defaults are the paths of the ``eclipse-mosquitto:2`` image (docker-compose mounts
    ``deploy/mosquitto`` on ``/mosquitto/config``).

    Queued QoS 1 messages of a persistent session whose client is away (a stopped ingest
    worker) are bounded by ``max_queued_bytes`` per session, not by Mosquitto's default of
    1000 messages, beyond which it silently drops (see docs/delivery.md).

    With ``tls_port`` the TLS listener is rendered active, reading ``certs/ca.crt``,
    ``certs/server.crt`` and ``certs/server.key`` under ``config_dir`` (with
    ``require_certificate`` a client certificate signed by that CA is demanded too);
    without it the TLS lines are shipped commented out.
    """
    for value in (config_dir, data_dir, *extra_lines):
        if "\n" in value or "\r" in value:
            raise ConfigError(f"mosquitto.conf value {value!r} contains a newline")
    if (
        isinstance(max_queued_bytes, bool)
        or not isinstance(max_queued_bytes, int)
        or max_queued_bytes <= 0
    ):
        raise ConfigError(
            f"max_queued_bytes must be a positive number of bytes, not {max_queued_bytes!r} "
            "(0 would let one absent subscriber's queue grow until the broker runs out of memory)"
        )
    if tls_port is not None and not 0 < tls_port < 65536:
        raise ConfigError(f"tls_port {tls_port!r} is not a TCP port")
    listener = f"listener {port}" + (f" {bind_address}" if bind_address else "")
    lines = [
        "# footpod Mosquitto 2.x configuration: rendered by sensor_service.security",
        "# (footpod broker-config). Create the password file with",
        "#   footpod broker-config --out DIR --athlete ID ...   (see docs/security.md)",
        "",
        "per_listener_settings false",
        "",
        "# Plain MQTT: keep it on a private network or on localhost when TLS is on (below).",
        listener,
        "",
        "allow_anonymous false",
        f"password_file {config_dir}/{PASSWORD_FILENAME}",
        f"acl_file {config_dir}/{ACL_FILENAME}",
        "",
        "# Persistent sessions (ingest, publishers) and their queued QoS 1 messages survive a",
        "# restart.",
        "persistence true",
        f"persistence_location {data_dir}/",
        "autosave_interval 30",
        "# A stopped ingest worker must not lose steps. Mosquitto keeps at most",
        "# max_queued_messages (default 1000) per session beyond those in flight and silently",
        "# drops the rest, so count is unlimited (0) and the queue is bounded in bytes instead,",
        "# per session, in broker memory (docs/delivery.md, deployment requirements).",
        "max_queued_messages 0",
        f"max_queued_bytes {max_queued_bytes}",
        "max_inflight_messages 100",
        "",
        "log_dest stdout",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
        "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        "",
        "# TLS listener (MQTT over TLS, mqtts://HOST:8883). Uncomment and provide the files:",
        "#   cafile    the CA that signed the server certificate (and client certificates)",
        "#   certfile  the server certificate, its CN/SAN = the broker's host name",
        "#   keyfile   the server's private key (readable by the mosquitto user only)",
        "# require_certificate true additionally demands a client certificate signed by cafile;",
        "# with use_identity_as_username true the certificate CN becomes the username (so the",
        "# runner patterns of the ACL apply to it) and no password is needed.",
    ]
    tls_lines = [
        "listener " + str(tls_port or 8883) + (f" {tls_bind_address}" if tls_bind_address else ""),
        f"cafile {config_dir}/certs/ca.crt",
        f"certfile {config_dir}/certs/server.crt",
        f"keyfile {config_dir}/certs/server.key",
        "tls_version tlsv1.2",
        f"require_certificate {'true' if require_certificate else 'false'}",
        "use_identity_as_username false",
    ]
    lines += tls_lines if tls_port is not None else [f"#{line}" for line in tls_lines]
    if extra_lines:
        lines += ["", *extra_lines]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- password file


def _mosquitto_passwd_binary() -> str:
    explicit = os.environ.get("FOOTPOD_MOSQUITTO_PASSWD_BIN")
    if explicit:
        if not (Path(explicit).is_file() and os.access(explicit, os.X_OK)):
            raise ServiceError(
                f"mosquitto_passwd not found or not executable at {explicit} "
                "(from FOOTPOD_MOSQUITTO_PASSWD_BIN)"
            )
        return explicit
    found = shutil.which("mosquitto_passwd")
    if found:
        return found
    for candidate in ("/usr/bin/mosquitto_passwd", "/usr/sbin/mosquitto_passwd"):
        if Path(candidate).is_file():
            return candidate
    raise ServiceError(
        "mosquitto_passwd not found: install it with 'apt-get install mosquitto' "
        "(or set FOOTPOD_MOSQUITTO_PASSWD_BIN)"
    )


def read_password_hashes(path: str | os.PathLike[str]) -> dict[str, str]:
    """``{user: hash}`` of an existing password file (empty if there is none)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    hashes: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, hashed = line.partition(":")
        if not sep or not hashed.startswith("$"):
            raise ConfigError(f"{path}:{number}: not a hashed 'user:$...' line")
        hashes[validate_username(name)] = hashed
    return hashes


def make_password_file(
    path: str | os.PathLike[str],
    users: Mapping[str, str],
    *,
    keep_hashes: Mapping[str, str] | None = None,
) -> Path:
    """Write a Mosquitto password file (hashed, mode 0600) for ``users`` (name → password).

    Every name is validated with :func:`validate_username`, every password with
    :func:`validate_password`. The plain text never leaves a 0600 temporary file next to
    ``path``, which ``mosquitto_passwd -U`` hashes in place before it is renamed over ``path``;
    so no password shows in a process list and a failed run leaves no partial file.
    ``keep_hashes`` (``{user: hash}``, see :func:`read_password_hashes`) are appended as they
    are, for users whose password does not change.
    """
    kept = dict(keep_hashes or {})
    if not users and not kept:
        raise ConfigError("a password file needs at least one user")
    for name, password in users.items():
        validate_username(name)
        validate_password(name, password)
    for name, hashed in kept.items():
        validate_username(name)
        if name in users:
            raise ConfigError(f"user {name!r} has both a new password and a kept hash")
        if not hashed.startswith("$") or any(ch in hashed for ch in ":\n\r\0"):
            raise ConfigError(f"kept hash of {name!r} is not a mosquitto_passwd hash")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    binary = _mosquitto_passwd_binary()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.writelines(f"{name}:{password}\n" for name, password in users.items())
        if users:
            result = subprocess.run(
                [binary, "-U", str(tmp)], capture_output=True, text=True, timeout=60, check=False
            )
            if result.returncode != 0:
                raise ServiceError(
                    f"mosquitto_passwd failed (exit {result.returncode}): "
                    f"{(result.stderr or result.stdout).strip()}"
                )
        if kept:  # after hashing: -U would hash a hash again
            with tmp.open("a", encoding="utf-8") as out:
                out.writelines(f"{name}:{hashed}\n" for name, hashed in kept.items())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    target.chmod(0o600)
    return target
