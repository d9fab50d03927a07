"""Shipped broker files stay rendered from code; ``footpod broker-config`` output really runs."""

from __future__ import annotations

import argparse
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from security.broker_probe import (
    NOT_AUTHORIZED,
    SHIPPED_DIR,
    SUCCESS,
    RenderedConfMosquitto,
    v5_connect_code,
)
from sensor_service.commands import broker_config
from sensor_service.errors import ConfigError, InvalidIdentifierError, ServiceError
from sensor_service.security import (
    ACL_FILENAME,
    CONF_FILENAME,
    PASSWORD_FILENAME,
    acl_text,
    athlete_acl_lines,
    make_password_file,
    mosquitto_conf_text,
    read_password_hashes,
    runner_pattern_lines,
    service_acl_lines,
    validate_username,
)

REPO = Path(__file__).resolve().parents[2]


def test_shipped_files_are_what_the_code_renders() -> None:
    """deploy/mosquitto is generated: edit sensor_service/security.py, then re-render."""
    assert (SHIPPED_DIR / CONF_FILENAME).read_text() == mosquitto_conf_text()
    assert (SHIPPED_DIR / ACL_FILENAME).read_text() == acl_text()


def test_shipped_conf_is_locked_down() -> None:
    conf = (SHIPPED_DIR / CONF_FILENAME).read_text()
    active = [line for line in conf.splitlines() if line and not line.startswith("#")]
    assert "allow_anonymous false" in active
    assert "password_file /mosquitto/config/passwd" in active
    assert "acl_file /mosquitto/config/acl" in active
    assert "persistence true" in active
    for key in ("listener 8883", "cafile", "certfile", "keyfile", "require_certificate"):
        assert any(line.startswith(f"#{key}") for line in conf.splitlines()), key


def test_secrets_are_git_ignored() -> None:
    for name in (PASSWORD_FILENAME, broker_config.CREDENTIALS_FILENAME, "certs/server.key"):
        result = subprocess.run(
            ["git", "check-ignore", "-q", str(SHIPPED_DIR / name)], cwd=REPO, check=False
        )
        assert result.returncode == 0, f"deploy/mosquitto/{name} is not git-ignored"


def test_runner_patterns_expand_to_own_prefix_only() -> None:
    lines = athlete_acl_lines("ana")
    assert lines[0] == "user ana"
    assert len(lines) == 1 + len(runner_pattern_lines())
    for line in lines[1:]:
        access, name = line.split()[1:]
        assert name.startswith("footpod/v1/ana/")
        assert access == ("read" if name.endswith("/alerts") else "write")
    assert "pattern write footpod/v1/%u/alerts" not in runner_pattern_lines()


@pytest.mark.parametrize("user", ["ingest", "coach", "risk"])
def test_service_accounts_are_denied_their_athlete_prefix(user: str) -> None:
    lines = service_acl_lines(user)
    assert lines[:2] == [f"user {user}", f"topic deny footpod/v1/{user}/#"]


@pytest.mark.parametrize("name", ["ingest", "coach", "risk"])
def test_service_names_are_reserved_for_athletes(name: str) -> None:
    assert validate_username(name) == name
    with pytest.raises(ConfigError, match="reserved"):
        validate_username(name, athlete=True)
    with pytest.raises(ConfigError, match="reserved"):
        athlete_acl_lines(name)


@pytest.mark.parametrize(
    "password", ["", "short", "line\nbreak-password", "nul\0-password-x", None]
)
def test_bad_passwords_are_refused_before_mosquitto_passwd(
    tmp_path: Path, password: object
) -> None:
    with pytest.raises(ConfigError):
        make_password_file(tmp_path / "passwd", {"ana": password})  # type: ignore[dict-item]
    assert not (tmp_path / "passwd").exists()


def test_missing_mosquitto_passwd_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOOTPOD_MOSQUITTO_PASSWD_BIN", str(tmp_path / "nope"))
    with pytest.raises(ServiceError, match="FOOTPOD_MOSQUITTO_PASSWD_BIN"):
        make_password_file(tmp_path / "passwd", {"ana": "long-enough-pw"})
    assert [p.name for p in tmp_path.iterdir()] == []


# --------------------------------------------------------------------------- the command


def _run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="footpod")
    sub = parser.add_subparsers(dest="command", required=True)
    broker_config.register(sub)
    args = parser.parse_args(["broker-config", *argv])
    return int(args.func(args))


def test_cli_writes_private_files_with_env_and_generated_passwords(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOOTPOD_MQTT_PASSWORD_INGEST", "ingest-from-env")
    monkeypatch.setenv("FOOTPOD_MQTT_PASSWORD_RUNNER_2", "runner-2-from-env")
    out = tmp_path / "broker"
    assert _run_cli("--out", str(out), "--athlete", "ana", "--athlete", "runner-2") == 0
    passwd = (out / PASSWORD_FILENAME).read_text()
    assert [line.split(":")[0] for line in passwd.splitlines()] == [
        "ingest",
        "coach",
        "risk",
        "ana",
        "runner-2",
    ]
    assert "from-env" not in passwd  # hashed
    creds = (out / broker_config.CREDENTIALS_FILENAME).read_text()
    generated = dict(line.split("=", 1) for line in creds.splitlines() if not line.startswith("#"))
    assert set(generated) == {
        "FOOTPOD_MQTT_PASSWORD_COACH",
        "FOOTPOD_MQTT_PASSWORD_RISK",
        "FOOTPOD_MQTT_PASSWORD_ANA",
    }
    assert all(len(p) >= 24 for p in generated.values())
    for name in (PASSWORD_FILENAME, broker_config.CREDENTIALS_FILENAME):
        assert stat.S_IMODE(os.stat(out / name).st_mode) == 0o600
    assert f"acl_file {out.resolve()}/acl" in (out / CONF_FILENAME).read_text()


def test_cli_for_docker_writes_exactly_the_shipped_conf_and_acl(tmp_path: Path) -> None:
    out = tmp_path / "docker"
    _run_cli("--out", str(out), "--broker-config-dir", "/mosquitto/config", "--athlete", "ana")
    assert (out / CONF_FILENAME).read_text() == (SHIPPED_DIR / CONF_FILENAME).read_text()
    assert (out / ACL_FILENAME).read_text() == (SHIPPED_DIR / ACL_FILENAME).read_text()


@pytest.mark.parametrize("athlete", ["Ana", "ana bob", "a/b", "a+", "#", "ingest", "ä", "x" * 65])
def test_cli_refuses_bad_athlete_ids_before_writing(tmp_path: Path, athlete: str) -> None:
    with pytest.raises((InvalidIdentifierError, ConfigError)):
        _run_cli("--out", str(tmp_path / "out"), "--athlete", athlete)
    assert not (tmp_path / "out").exists()


def test_explicit_acl_adds_user_blocks(tmp_path: Path) -> None:
    _run_cli("--out", str(tmp_path), "--athlete", "ana", "--explicit-acl", "--service", "ingest")
    acl = (tmp_path / ACL_FILENAME).read_text()
    assert "user ana\ntopic write footpod/v1/ana/+/status" in acl
    passwd = (tmp_path / PASSWORD_FILENAME).read_text()
    assert [line.split(":")[0] for line in passwd.splitlines()] == ["ingest", "ana"]


# --------------------------------------------------------------------------- really run it


@pytest.fixture
def rendered_broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setenv("FOOTPOD_MQTT_PASSWORD_ANA", "ana-password-1")
    out = tmp_path / "conf"
    _run_cli("--out", str(out), "--athlete", "ana")
    try:
        service = RenderedConfMosquitto(conf_dir=out, directory=tmp_path / "run")
    except ServiceError as exc:  # pragma: no cover - binary missing
        pytest.skip(str(exc))
    service.start()
    try:
        yield service.port
    finally:
        service.close(stop_timeout_s=2)


@pytest.mark.integration
def test_rendered_conf_runs_and_authenticates(rendered_broker: int, tmp_path: Path) -> None:
    assert v5_connect_code(rendered_broker, "ana", "ana-password-1") == SUCCESS
    assert v5_connect_code(rendered_broker, "ana", "wrong-password") == NOT_AUTHORIZED
    assert v5_connect_code(rendered_broker, None, None) == NOT_AUTHORIZED
    creds = (tmp_path / "conf" / broker_config.CREDENTIALS_FILENAME).read_text()
    generated = dict(line.split("=", 1) for line in creds.splitlines() if "=" in line)
    coach_pw = generated["FOOTPOD_MQTT_PASSWORD_COACH"]
    assert v5_connect_code(rendered_broker, "coach", coach_pw) == SUCCESS


def test_rerun_keeps_existing_passwords_and_drops_removed_users(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "broker"
    _run_cli("--out", str(out), "--athlete", "ana", "--athlete", "bob")
    hashes = read_password_hashes(out / PASSWORD_FILENAME)
    creds = (out / broker_config.CREDENTIALS_FILENAME).read_text()
    monkeypatch.setenv("FOOTPOD_MQTT_PASSWORD_BOB", "bob-new-password")
    _run_cli("--out", str(out), "--athlete", "ana", "--athlete", "bob", "--athlete", "cy")
    again = read_password_hashes(out / PASSWORD_FILENAME)
    assert set(again) == {"ingest", "coach", "risk", "ana", "bob", "cy"}
    for user in ("ingest", "coach", "risk", "ana"):
        assert again[user] == hashes[user]
    assert again["bob"] != hashes["bob"]
    creds_again = (out / broker_config.CREDENTIALS_FILENAME).read_text()
    for line in creds.splitlines()[1:]:
        if "_BOB=" not in line:
            assert line in creds_again
    assert "FOOTPOD_MQTT_PASSWORD_BOB=" not in creds_again
    assert "FOOTPOD_MQTT_PASSWORD_CY=" in creds_again
    monkeypatch.delenv("FOOTPOD_MQTT_PASSWORD_BOB")
    _run_cli("--out", str(out), "--athlete", "ana")
    assert set(read_password_hashes(out / PASSWORD_FILENAME)) == {"ingest", "coach", "risk", "ana"}


def test_kept_hashes_must_look_like_hashes(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a mosquitto_passwd hash"):
        make_password_file(tmp_path / "p", {}, keep_hashes={"ana": "plain-text"})
    (tmp_path / "bad").write_text("ana:plain\n")
    with pytest.raises(ConfigError, match="bad:1"):
        read_password_hashes(tmp_path / "bad")
