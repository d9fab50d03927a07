"""docker-compose.yml cannot run here (no docker); check its structure and what it points at.

PyYAML is used when installed; otherwise a small parser of the block-style subset the file
uses (mappings, lists, ``>-`` folded scalars) reads it, so the check never depends on it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from sensor_service.security import ACL_FILENAME, CONF_FILENAME

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"


def _scalar(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def _strip_comment(line: str) -> str:
    quote = ""
    for i, ch in enumerate(line):
        if ch in "\"'" and not quote:
            quote = ch
        elif ch == quote:
            quote = ""
        elif ch == "#" and not quote and (i == 0 or line[i - 1] == " "):
            return line[:i].rstrip()
    return line.rstrip()


_FOLDED = (">-", ">")


def mini_yaml(text: str) -> Any:
    """Block mappings, block lists of scalars, ``key: >-`` folded scalars. Nothing else."""
    stripped = (_strip_comment(line) for line in text.splitlines())
    lines = [(len(ln) - len(ln.lstrip(" ")), ln.strip()) for ln in stripped if ln.strip()]
    pos = 0

    def folded(indent: int) -> str:
        nonlocal pos
        parts = []
        while pos < len(lines) and lines[pos][0] > indent:
            parts.append(lines[pos][1])
            pos += 1
        return " ".join(parts)

    def block(indent: int) -> Any:
        nonlocal pos
        if lines[pos][1].startswith("- "):
            items = []
            while pos < len(lines) and lines[pos][0] == indent and lines[pos][1].startswith("- "):
                item = lines[pos][1][2:].strip()
                pos += 1
                items.append(folded(indent) if item in _FOLDED else _scalar(item))
            return items
        mapping: dict[str, Any] = {}
        while pos < len(lines) and lines[pos][0] == indent:
            key, _, rest = lines[pos][1].partition(":")
            rest = rest.strip()
            pos += 1
            if rest in _FOLDED:
                mapping[key] = folded(indent)
            elif rest:
                mapping[key] = _scalar(rest)
            elif pos < len(lines) and lines[pos][0] > indent:
                mapping[key] = block(lines[pos][0])
            elif pos < len(lines) and lines[pos][0] == indent and lines[pos][1].startswith("- "):
                mapping[key] = block(indent)
            else:
                mapping[key] = None
        return mapping

    return block(0)


def _load() -> dict[str, Any]:
    text = COMPOSE.read_text()
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        return mini_yaml(text)  # type: ignore[no-any-return]
    return yaml.safe_load(text)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _load()


def test_services_and_images(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"mosquitto", "influxdb", "grafana", "ingest"}
    assert services["mosquitto"]["image"] == "eclipse-mosquitto:2"
    assert services["influxdb"]["image"] == "influxdb:1.8"
    assert services["grafana"]["image"].startswith("grafana/grafana")
    assert services["ingest"]["image"] == "python:3.11-slim"


def test_mosquitto_uses_the_shipped_config(compose: dict[str, Any]) -> None:
    volumes = compose["services"]["mosquitto"]["volumes"]
    assert "./deploy/mosquitto:/mosquitto/config" in volumes
    conf = (REPO / "deploy/mosquitto" / CONF_FILENAME).read_text()
    assert "password_file /mosquitto/config/passwd" in conf
    assert "acl_file /mosquitto/config/acl" in conf
    assert "persistence_location /mosquitto/data/" in conf
    assert any(v.endswith(":/mosquitto/data") for v in volumes)


def test_ingest_command_and_credentials(compose: dict[str, Any]) -> None:
    ingest = compose["services"]["ingest"]
    command = ingest["command"]
    script = command[-1] if isinstance(command, list) else command
    assert "pip install" in script
    assert "footpod ingest --mqtt-url mqtt://mosquitto:1883 --influx-url http://influxdb:8086" in (
        script
    )
    assert ingest["environment"]["FOOTPOD_MQTT_USER"] == "ingest"
    assert "FOOTPOD_MQTT_PASSWORD_INGEST" in ingest["environment"]["FOOTPOD_MQTT_PASSWORD"]
    assert set(ingest["depends_on"]) == {"mosquitto", "influxdb"}
    assert (REPO / "pyproject.toml").is_file()


def test_ingest_spool_survives_recreation(compose: dict[str, Any]) -> None:
    ingest = compose["services"]["ingest"]
    command = ingest["command"]
    script = command[-1] if isinstance(command, list) else command
    assert "--spool-dir /state" in script
    assert "ingest-state:/state" in ingest["volumes"]


def _provider_path() -> str:
    text = (REPO / "dashboards/provisioning/dashboards/footpod.yaml").read_text()
    paths = re.findall(r"^\s*path:\s*(\S+)\s*$", text, flags=re.MULTILINE)
    assert len(paths) == 1, "the dashboard provider needs exactly one options.path"
    return paths[0]


def test_grafana_mounts_the_provisioning_and_the_dashboards(compose: dict[str, Any]) -> None:
    volumes = compose["services"]["grafana"]["volumes"]
    for kind in ("datasources", "dashboards"):
        mount = f"./dashboards/provisioning/{kind}:/etc/grafana/provisioning/{kind}:ro"
        assert mount in volumes
        assert any((REPO / "dashboards/provisioning" / kind).glob("*.yaml"))
    # The file provider reads the JSON where compose mounts ./dashboards.
    assert f"./dashboards:{_provider_path()}:ro" in volumes
    assert any((REPO / "dashboards").glob("*.json"))


def test_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"volume {source!r} is not declared"


def test_bind_mounted_paths_exist(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith("."):
                continue
            path = REPO / source
            assert path.exists(), f"{name}: {source} does not exist"
    for name in (CONF_FILENAME, ACL_FILENAME, ".gitignore"):
        assert (REPO / "deploy/mosquitto" / name).is_file()


def test_ports_are_published_on_localhost_only(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_mini_yaml_reads_the_subset() -> None:
    text = "a:\n  b: 'x'  # note\n  c:\n    - one\n    - \"two\"\n    - >-\n      p &&\n      q\n"
    text += "  d: >-\n    x &&\n    y\n"
    assert mini_yaml(text) == {"a": {"b": "x", "c": ["one", "two", "p && q"], "d": "x && y"}}
