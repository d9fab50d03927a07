"""``footpod broker-config``: write mosquitto.conf, the ACL and the password file for a broker."""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sensor_service.commands._help import DefaultsHelpFormatter
from sensor_service.errors import ConfigError
from sensor_service.security import (
    ACL_FILENAME,
    CONF_FILENAME,
    PASSWORD_FILENAME,
    RESERVED_USERNAMES,
    acl_text,
    make_password_file,
    mosquitto_conf_text,
    read_password_hashes,
    validate_username,
)

__all__ = ["CREDENTIALS_FILENAME", "password_env_var", "register", "resolve_passwords", "write"]

#: Generated passwords are written here (mode 0600), next to the password file.
CREDENTIALS_FILENAME = "credentials.env"
_DEFAULT_SERVICES = ("ingest", "coach", "risk")


def password_env_var(user: str) -> str:
    """``FOOTPOD_MQTT_PASSWORD_<USER>``: upper case, ``-`` → ``_``."""
    return "FOOTPOD_MQTT_PASSWORD_" + re.sub(r"[^A-Z0-9_]", "_", user.upper())


def resolve_passwords(
    users: Sequence[str],
    env: Mapping[str, str] | None = None,
    *,
    existing: Mapping[str, str] | None = None,
) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Decide each user's password: ``(new_passwords, generated_only, kept_hashes)``.

    From the environment if set; else the hash already in the password file (``existing``) is
    kept; else a random password is generated.
    """
    env = os.environ if env is None else env
    existing = existing or {}
    new: dict[str, str] = {}
    generated: dict[str, str] = {}
    kept: dict[str, str] = {}
    for user in users:
        given = env.get(password_env_var(user))
        if given:
            new[user] = given
        elif user in existing:
            kept[user] = existing[user]
        else:
            new[user] = generated[user] = secrets.token_urlsafe(24)
    return new, generated, kept


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def write(
    out_dir: str | os.PathLike[str],
    *,
    athletes: Sequence[str],
    services: Sequence[str] = _DEFAULT_SERVICES,
    broker_config_dir: str | None = None,
    broker_data_dir: str = "/mosquitto/data",
    port: int = 1883,
    explicit_acl: bool = False,
    env: Mapping[str, str] | None = None,
) -> dict[str, Path]:
    """Write conf, ACL, password file (and generated credentials) into ``out_dir``.

    ``broker_config_dir`` is where the broker will see ``out_dir`` (``/mosquitto/config`` in
    the docker image); by default ``out_dir`` itself, absolute.
    """
    for athlete in athletes:
        validate_username(athlete, athlete=True)
    for service in services:
        if service not in RESERVED_USERNAMES:
            raise ConfigError(
                f"unknown service account {service!r}; use {sorted(RESERVED_USERNAMES)}"
            )
    users = [*dict.fromkeys([*services, *athletes])]
    if not users:
        raise ConfigError("no users: pass --athlete ID (and/or keep the service accounts)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config_dir = broker_config_dir or str(out.resolve())
    paths = {
        "conf": out / CONF_FILENAME,
        "acl": out / ACL_FILENAME,
        "passwd": out / PASSWORD_FILENAME,
    }
    paths["conf"].write_text(
        mosquitto_conf_text(config_dir=config_dir, data_dir=broker_data_dir, port=port)
    )
    paths["acl"].write_text(acl_text(explicit_athletes=athletes if explicit_acl else ()))
    new, generated, kept = resolve_passwords(
        users, env, existing=read_password_hashes(paths["passwd"])
    )
    make_password_file(paths["passwd"], new, keep_hashes=kept)
    # Generated passwords of users whose hash was kept stay in the credentials file.
    credentials_path = out / CREDENTIALS_FILENAME
    previous = _read_credentials(credentials_path)
    credentials = {
        var: value
        for user in kept
        if (value := previous.get(var := password_env_var(user))) is not None
    }
    credentials.update({password_env_var(u): p for u, p in generated.items()})
    if credentials:
        paths["credentials"] = credentials_path
        _write_private(
            credentials_path,
            "# generated MQTT passwords: keep private, never commit (mode 0600)\n"
            + "".join(f"{var}={value}\n" for var, value in credentials.items()),
        )
    else:
        credentials_path.unlink(missing_ok=True)
    return paths


def _read_credentials(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {var: value for var, value in pairs if not var.startswith("#")}


_DOCKER_CONFIG_DIR = "/mosquitto/config"
_HOST_DATA_DIR = "/var/lib/mosquitto"


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "broker-config",
        help="write mosquitto.conf, ACL and password file for runners and services",
        description=(
            "Write mosquitto.conf, acl and passwd into --out. Users: the service accounts "
            "(ingest, coach, risk) and one per --athlete (username = athlete id). Each password "
            "comes from FOOTPOD_MQTT_PASSWORD_<USER> (e.g. FOOTPOD_MQTT_PASSWORD_INGEST) or is "
            f"generated and written to {CREDENTIALS_FILENAME} (mode 0600) in --out; keep --out "
            "out of git (deploy/mosquitto ignores passwd and credentials.env). The password file "
            "is hashed by mosquitto_passwd (Debian package 'mosquitto'). Re-running keeps the "
            "passwords of users already in --out/passwd (unless their variable is set) and "
            "drops users no longer listed."
        ),
        formatter_class=DefaultsHelpFormatter,
    )
    parser.add_argument("--out", required=True, help="directory to write the files into")
    parser.add_argument(
        "--athlete",
        action="append",
        default=[],
        metavar="ID",
        help="a runner's athlete id = MQTT username (repeat)",
    )
    parser.add_argument(
        "--service",
        action="append",
        choices=sorted(RESERVED_USERNAMES),
        help="service accounts to create (repeat; default: all of them)",
    )
    parser.add_argument(
        "--broker-config-dir",
        help="the directory as the broker sees it (default: --out; docker: /mosquitto/config)",
    )
    parser.add_argument(
        "--broker-data-dir",
        default=None,
        help=(
            "persistence directory of the broker (default: /mosquitto/data when "
            "--broker-config-dir is /mosquitto/config, the docker image's layout; else "
            f"{_HOST_DATA_DIR}, the Debian package's)"
        ),
    )
    parser.add_argument("--port", type=int, default=1883, help="plain MQTT listener port")
    parser.add_argument(
        "--explicit-acl",
        action="store_true",
        help="also write one explicit 'user' block per athlete (brokers without %%u patterns)",
    )
    parser.set_defaults(func=main)


def _default_data_dir(broker_config_dir: str | None) -> str:
    """The docker image keeps data beside its config; a Debian host in /var/lib/mosquitto."""
    if broker_config_dir is not None and broker_config_dir.rstrip("/") == _DOCKER_CONFIG_DIR:
        return "/mosquitto/data"
    return _HOST_DATA_DIR


def main(args: argparse.Namespace) -> int:
    paths = write(
        args.out,
        athletes=args.athlete,
        services=args.service if args.service is not None else _DEFAULT_SERVICES,
        broker_config_dir=args.broker_config_dir,
        broker_data_dir=args.broker_data_dir or _default_data_dir(args.broker_config_dir),
        port=args.port,
        explicit_acl=args.explicit_acl,
    )
    for kind, path in paths.items():
        print(f"{kind:<12} {path}")
    if "credentials" in paths:
        print(
            f"generated passwords are in {paths['credentials']} (mode 0600); "
            "pass them to clients as FOOTPOD_MQTT_USER / FOOTPOD_MQTT_PASSWORD",
            file=sys.stderr,
        )
    return 0
