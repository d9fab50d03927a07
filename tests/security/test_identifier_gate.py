"""Hostile identifiers never reach a topic, a line-protocol tag, a query or a broker username.

The escaping of line protocol and InfluxQL is tested in ``tests/store``; this is the gate in
front of them: every athlete, pod, run and database id is checked against the identifier
contract before it is used, and anything that fails is refused with a clear error.
"""

from __future__ import annotations

import argparse
import json
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor_service.commands import ingest as ingest_command
from sensor_service.contracts import (
    ATHLETE_TOPICS,
    ID_PATTERN,
    POD_TOPICS,
    SCHEMA_VERSION,
    message_to_points,
    parse_topic,
    topic,
    validate_id,
)
from sensor_service.demo import DemoConfig
from sensor_service.errors import ConfigError, InvalidIdentifierError, PayloadError
from sensor_service.security import (
    athlete_acl_lines,
    make_password_file,
    mosquitto_conf_text,
    validate_username,
)
from sensor_service.store.line_protocol import encode_points

HOSTILE = [
    "ana,pod=x",
    "ana pod",
    "ana=1",
    "ana'",
    'ana"',
    "ana' OR 1=1 --",
    'ana" OR "1"="1',
    "ana\n",
    "ana\nsteps,athlete=bob gct_ms=1 1",
    "ana\r",
    "\nana",
    "ana\t",
    "ana\0",
    "ana+",
    "+",
    "#",
    "ana/#",
    "ana/bob",
    "../bob",
    "ana\\",
    "ana;DROP DATABASE footpod",
    "$timeFilter",
    "anä",
    "ana\u200b",  # zero-width space
    "ＡＮＡ",  # full-width
    "ana\U0001f3c3",  # runner emoji
    "Ana",
    "-ana",
    "_ana",
    "",
    " ",
    "a" * 65,
    "a" * 10_000,
    "a," * 5_000,
]
HOSTILE_IDS = [pytest.param(v, id=f"{i}:{v[:12]!r}") for i, v in enumerate(HOSTILE)]


@pytest.mark.parametrize("value", HOSTILE_IDS)
def test_validate_id_refuses(value: str) -> None:
    with pytest.raises(InvalidIdentifierError) as info:
        validate_id("athlete", value)
    assert info.value.kind == "athlete"
    assert ID_PATTERN in str(info.value)
    assert len(str(info.value)) < 20_000 + 500  # the message quotes the value, nothing more


@pytest.mark.parametrize("value", HOSTILE_IDS)
@pytest.mark.parametrize("kind", POD_TOPICS)
def test_hostile_ids_never_reach_a_pod_topic(value: str, kind: str) -> None:
    with pytest.raises(InvalidIdentifierError):
        topic(kind, value, "pod-1")
    with pytest.raises(InvalidIdentifierError):
        topic(kind, "ana", value)


@pytest.mark.parametrize("value", HOSTILE_IDS)
@pytest.mark.parametrize("kind", ATHLETE_TOPICS)
def test_hostile_ids_never_reach_an_athlete_topic(value: str, kind: str) -> None:
    with pytest.raises(InvalidIdentifierError):
        topic(kind, value)


@pytest.mark.parametrize("value", HOSTILE_IDS)
def test_hostile_topic_levels_are_refused_by_consumers(value: str) -> None:
    for name in (f"footpod/v1/{value}/pod-1/steps", f"footpod/v1/ana/{value}/steps"):
        with pytest.raises(PayloadError):
            parse_topic(name)
        with pytest.raises(PayloadError):
            message_to_points(name, _steps_payload("ana", "pod-1", "run-1"))


def _steps_payload(athlete: str, pod: str, run: str) -> bytes:
    return json.dumps(
        {
            "v": SCHEMA_VERSION,
            "athlete": athlete,
            "pod": pod,
            "side": "left",
            "placement": "foot",
            "run": run,
            "steps": [{"ic_ns": 1_000, "to_ns": 2_000, "gct_ms": 1.0, "step_index": 0}],
        }
    ).encode()


@pytest.mark.parametrize("value", HOSTILE_IDS)
def test_hostile_ids_in_payloads_never_become_tags(value: str) -> None:
    good_topic = topic("steps", "ana", "pod-1")
    for payload in (
        _steps_payload(value, "pod-1", "run-1"),
        _steps_payload("ana", value, "run-1"),
        _steps_payload("ana", "pod-1", value),
    ):
        with pytest.raises(PayloadError):
            message_to_points(good_topic, payload)
    run_event = {
        "v": SCHEMA_VERSION,
        "athlete": "ana",
        "run": value,
        "event": "start",
        "ts_ns": 1,
        "steps": 0,
    }
    with pytest.raises(PayloadError):
        message_to_points(topic("runs", "ana"), json.dumps(run_event).encode())


_ID_TAGS = ("athlete", "pod", "run")


_VALID_ID = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,63}", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(
    athlete=st.one_of(_VALID_ID, st.text(max_size=80)),
    pod=st.one_of(_VALID_ID, st.text(alphabet=string.printable + "äé\u200b+#/", max_size=80)),
    run=st.one_of(_VALID_ID, st.text(max_size=80)),
)
def test_whatever_arrives_only_valid_ids_reach_line_protocol(
    athlete: str, pod: str, run: str
) -> None:
    """Property: from any topic/payload, either a PayloadError or points with valid id tags."""
    name = f"footpod/v1/{athlete}/{pod}/steps"
    try:
        points = message_to_points(name, _steps_payload(athlete, pod, run))
    except PayloadError:
        return
    for point in points:
        for tag in _ID_TAGS:
            validate_id(tag, point.tags[tag])
    lines = encode_points(points)
    assert lines.count("\n") == len(points)


@pytest.mark.parametrize("value", HOSTILE_IDS)
def test_hostile_database_names_are_refused_before_any_query(value: str) -> None:
    with pytest.raises(InvalidIdentifierError):
        DemoConfig(influx_db=value)
    args = argparse.Namespace(
        mqtt_url="mqtt://127.0.0.1:1",
        influx_url="http://127.0.0.1:1",
        influx_db=value,
        client_id="x",
        batch_size=1,
        flush_interval_s=0.1,
    )
    with pytest.raises(InvalidIdentifierError):
        ingest_command.main(args)


@pytest.mark.parametrize("value", HOSTILE_IDS)
def test_hostile_usernames_never_reach_the_broker_files(tmp_path: Path, value: str) -> None:
    with pytest.raises(InvalidIdentifierError):
        validate_username(value)
    with pytest.raises(InvalidIdentifierError):
        athlete_acl_lines(value)
    with pytest.raises(InvalidIdentifierError):
        make_password_file(tmp_path / "passwd", {value: "long-enough-password"})
    assert not (tmp_path / "passwd").exists()


def test_hostile_names_cannot_hide_in_config_lines() -> None:
    with pytest.raises(ConfigError):
        mosquitto_conf_text(config_dir="/x\nallow_anonymous true")
