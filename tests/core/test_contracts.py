"""Contracts: identifiers, topics and payload schemas reject what they must."""

from __future__ import annotations

import json

import pytest

from sensor_service.contracts import (
    SCHEMA_VERSION,
    PodStatus,
    StepRecord,
    StepsBatch,
    parse_pod_status,
    parse_steps_batch,
    parse_topic,
    steps_to_points,
    topic,
    topic_filter,
    validate_id,
)
from sensor_service.errors import InvalidIdentifierError, PayloadError

HOSTILE_IDS = [
    "",
    "A",
    "ana smith",
    "ana/../bob",
    "ana+",
    "ana#",
    "ana,pod=x",
    "ana\n",
    "ana'--",
    'ana"',
    "-ana",
    "_ana",
    "a" * 65,
    "anä",
    None,
    42,
]


@pytest.mark.parametrize("value", ["a", "runner-1", "x_y-z", "0", "a" * 64])
def test_valid_ids_pass(value: str) -> None:
    assert validate_id("athlete", value) == value


@pytest.mark.parametrize("value", HOSTILE_IDS)
def test_hostile_ids_are_rejected_with_a_clear_message(value: object) -> None:
    with pytest.raises(InvalidIdentifierError) as info:
        validate_id("athlete", value)
    assert "invalid athlete id" in str(info.value)
    assert "lower-case" in str(info.value)


@pytest.mark.parametrize("value", HOSTILE_IDS[:-2])
def test_hostile_ids_never_reach_a_topic(value: str) -> None:
    with pytest.raises(InvalidIdentifierError):
        topic("steps", value, "pod-1")
    with pytest.raises(InvalidIdentifierError):
        topic("steps", "ana", value)


def test_topics_round_trip() -> None:
    assert topic("steps", "ana", "ana-left") == "footpod/v1/ana/ana-left/steps"
    assert topic("runs", "ana") == "footpod/v1/ana/runs"
    assert parse_topic("footpod/v1/ana/ana-left/status") == ("ana", "ana-left", "status")
    assert parse_topic("footpod/v1/ana/pain") == ("ana", None, "pain")
    assert topic_filter("steps") == "footpod/v1/+/+/steps"
    with pytest.raises(ValueError, match="needs a pod"):
        topic("steps", "ana")
    with pytest.raises(ValueError, match="per athlete"):
        topic("runs", "ana", "p")


@pytest.mark.parametrize(
    "name",
    ["other/v1/ana/p/steps", "footpod/v1/ANA/p/steps", "footpod/v1/ana/p/unknown", "footpod/v1"],
)
def test_foreign_topics_are_payload_errors(name: str) -> None:
    with pytest.raises(PayloadError):
        parse_topic(name)


def _batch() -> StepsBatch:
    step = StepRecord(
        ic_ns=1_700_000_000_000_000_000,
        to_ns=1_700_000_000_250_000_000,
        fields={"gct_ms": 250.0, "step_index": 0, "clipped": False},
    )
    return StepsBatch("ana", "ana-left", "left", "foot", "run-1", (step,))


def test_steps_batch_round_trips_and_maps_to_points() -> None:
    obj = _batch().to_json()
    assert obj["v"] == SCHEMA_VERSION
    parsed = parse_steps_batch(obj, topic_athlete="ana", topic_pod="ana-left")
    assert parsed == _batch()
    (point,) = steps_to_points(parsed)
    assert point.measurement == "steps"
    assert point.ts_ns == 1_700_000_000_000_000_000
    assert point.tags == {
        "athlete": "ana",
        "pod": "ana-left",
        "side": "left",
        "placement": "foot",
        "run": "run-1",
    }
    assert point.fields["gct_ms"] == 250.0


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda o: o.update(v=99), "schema version"),
        (lambda o: o.update(athlete="bob"), "differ from the topic"),
        (lambda o: o.update(side="middle"), "side must be"),
        (lambda o: o.update(run="Bad Run"), "invalid run id"),
        (lambda o: o["steps"][0].update(gct_ms="fast"), "must be a number"),
        (lambda o: o["steps"][0].update(gct_ms=float("nan")), "finite"),
        (lambda o: o["steps"][0].update(evil=1), "unknown step field"),
        (lambda o: o["steps"][0].update(to_ns=1), "ic_ns < to_ns"),
        (lambda o: o["steps"][0].pop("gct_ms"), "missing field 'gct_ms'"),
        (lambda o: o["steps"][0].update(step_index=True), "integer"),
        (lambda o: o.update(steps="x"), "'steps'"),
    ],
)
def test_malformed_steps_payloads_say_why(mutate, reason: str) -> None:  # type: ignore[no-untyped-def]
    obj = _batch().to_json()
    mutate(obj)
    with pytest.raises(PayloadError, match=reason):
        parse_steps_batch(obj, topic_athlete="ana", topic_pod="ana-left")


def test_non_object_payload_is_rejected() -> None:
    with pytest.raises(PayloadError):
        parse_steps_batch([1, 2], topic_athlete="ana", topic_pod="p")


def test_status_round_trip() -> None:
    status = PodStatus(
        "ana", "ana-left", "connected", 5, packets_received=10, packets_lost=1, battery_pct=80.0
    )
    assert parse_pod_status(status.to_json(), topic_athlete="ana", topic_pod="ana-left") == status
    bad = status.to_json() | {"state": "exploded"}
    with pytest.raises(PayloadError, match="state must be"):
        parse_pod_status(bad, topic_athlete="ana", topic_pod="ana-left")


def test_rsc_batch_round_trips_to_points() -> None:
    from sensor_service.contracts import RscBatch, message_to_points

    batch = RscBatch(
        "ana",
        "ana-rsc",
        "run-1",
        ((1_700_000_000_000_000_000, {"speed_m_s": 3.1, "cadence_spm": 172.0, "running": True}),),
    )
    payload = json.dumps(batch.to_json()).encode()
    (point,) = message_to_points("footpod/v1/ana/ana-rsc/rsc", payload)
    assert point.measurement == "rsc"
    assert point.tags == {"athlete": "ana", "pod": "ana-rsc", "run": "run-1"}
    assert point.fields == {"speed_m_s": 3.1, "cadence_spm": 172.0, "running": True}
    bad = batch.to_json()
    bad["readings"][0]["speed_m_s"] = "fast"
    with pytest.raises(PayloadError, match="must be a number"):
        message_to_points("footpod/v1/ana/ana-rsc/rsc", json.dumps(bad).encode())
