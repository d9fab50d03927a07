"""The data contracts of footpod, declared once and imported everywhere.

Identifiers, MQTT topics, payload schemas and the InfluxDB schema live here and nowhere else.
This module imports nothing of ours but :mod:`sensor_service.errors`. A change to a field is a
one-line change here plus a bump of :data:`SCHEMA_VERSION`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from sensor_service.errors import InvalidIdentifierError, PayloadError

__all__ = [
    "FIELD_TYPES",
    "ID_PATTERN",
    "INGESTED_KINDS",
    "MEASUREMENT_POD_STATUS",
    "MEASUREMENT_RSC",
    "MEASUREMENT_RUNS",
    "MEASUREMENT_STEPS",
    "POD_STATES",
    "RSC_FIELDS",
    "SCHEMA_VERSION",
    "SIDES",
    "STEP_FIELDS",
    "STEP_TAGS",
    "SUPPORTED_VERSIONS",
    "TOPIC_ROOT",
    "Placement",
    "PodStatus",
    "Point",
    "RscBatch",
    "RunEvent",
    "Side",
    "StepRecord",
    "StepsBatch",
    "message_to_points",
    "parse_pod_status",
    "parse_rsc_batch",
    "parse_run_event",
    "parse_steps_batch",
    "parse_topic",
    "rsc_to_points",
    "topic",
    "topic_filter",
    "validate_id",
]

# --------------------------------------------------------------------------- identifiers

#: Athlete, pod and run ids. Safe in a topic level, a line-protocol tag and an InfluxQL string.
ID_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_ID_RE: Final = re.compile(ID_PATTERN)


def validate_id(kind: str, value: object) -> str:
    """Return ``value`` if it is a valid identifier of ``kind`` (athlete, pod, run...), else raise.

    ``re.fullmatch`` is used so that a trailing newline cannot sneak past ``$``.
    """
    if not isinstance(value, str) or _ID_RE.fullmatch(value) is None:
        raise InvalidIdentifierError(kind, value, ID_PATTERN)
    return value


SIDES: Final = ("left", "right")
Side = Literal["left", "right"]
PLACEMENTS: Final = ("foot", "ankle", "shank")
Placement = Literal["foot", "ankle", "shank"]

# --------------------------------------------------------------------------- MQTT topics

TOPIC_ROOT: Final = "footpod/v1"
#: Per-pod topic kinds: ``footpod/v1/{athlete}/{pod}/{kind}``.
POD_TOPICS: Final = ("status", "steps", "imu", "rsc")
#: Per-athlete topic kinds: ``footpod/v1/{athlete}/{kind}``.
ATHLETE_TOPICS: Final = ("runs", "pain", "alerts")
#: Where consumers republish what they refuse, with the reason.
DEAD_LETTER_TOPIC: Final = f"{TOPIC_ROOT}/_deadletter"


def topic(kind: str, athlete: str, pod: str | None = None) -> str:
    """Build a topic after validating every identifier that goes into it."""
    validate_id("athlete", athlete)
    if kind in POD_TOPICS:
        if pod is None:
            raise ValueError(f"topic kind {kind!r} needs a pod id")
        return f"{TOPIC_ROOT}/{athlete}/{validate_id('pod', pod)}/{kind}"
    if kind in ATHLETE_TOPICS:
        if pod is not None:
            raise ValueError(f"topic kind {kind!r} is per athlete, not per pod")
        return f"{TOPIC_ROOT}/{athlete}/{kind}"
    raise ValueError(f"unknown topic kind {kind!r}; use one of {POD_TOPICS + ATHLETE_TOPICS}")


def topic_filter(kind: str) -> str:
    """Subscription filter for every athlete (and pod) of one topic kind."""
    if kind in POD_TOPICS:
        return f"{TOPIC_ROOT}/+/+/{kind}"
    if kind in ATHLETE_TOPICS:
        return f"{TOPIC_ROOT}/+/{kind}"
    raise ValueError(f"unknown topic kind {kind!r}")


def parse_topic(name: str) -> tuple[str, str | None, str]:
    """Split a topic into ``(athlete, pod or None, kind)``; raise PayloadError if foreign."""
    parts = name.split("/")
    if parts[:2] != TOPIC_ROOT.split("/"):
        raise PayloadError(f"topic {name!r} is not under {TOPIC_ROOT}/")
    rest = parts[2:]
    try:
        if len(rest) == 3 and rest[2] in POD_TOPICS:
            return validate_id("athlete", rest[0]), validate_id("pod", rest[1]), rest[2]
        if len(rest) == 2 and rest[1] in ATHLETE_TOPICS:
            return validate_id("athlete", rest[0]), None, rest[1]
    except InvalidIdentifierError as exc:
        raise PayloadError(f"topic {name!r}: {exc}") from exc
    raise PayloadError(f"topic {name!r} matches no footpod topic template")


# --------------------------------------------------------------------------- payloads

#: Version of every payload schema below; carried in each payload as ``"v"``.
SCHEMA_VERSION: Final = 2
#: Versions consumers accept: v1 payloads (no load-model fields) may still sit in spools.
SUPPORTED_VERSIONS: Final = (1, 2)

#: Per-step fields, with units in their names, as they appear in payloads and InfluxDB.
#: ``None`` marks a field that is optional (unknown for a step, e.g. flight before the first step).
STEP_FIELDS: Final[dict[str, type]] = {
    "gct_ms": float,
    "flight_ms": float,
    "step_ms": float,
    "stride_ms": float,
    "cadence_spm": float,
    "strike_angle_deg": float,
    "peak_accel_g": float,
    "loading_rate_g_s": float,
    # Load-model ESTIMATES (v2; docs/load_model.md): spring-mass (Morin et al. 2005) and an
    # Achilles tendon force model; never measurements.
    "fz_peak_bw": float,
    "k_vert_kn_m": float,
    "k_leg_kn_m": float,
    "at_force_est_bw": float,
    "at_impulse_est_bw_s": float,
    "clipped": bool,
    "step_index": int,
}
_REQUIRED_STEP_FIELDS: Final = ("gct_ms", "step_index")


def _require(obj: Mapping[str, Any], key: str, typ: type | tuple[type, ...], where: str) -> Any:
    if key not in obj:
        raise PayloadError(f"{where}: missing field {key!r}")
    value = obj[key]
    if (isinstance(value, bool) and typ is not bool) or not isinstance(value, typ):
        raise PayloadError(f"{where}: field {key!r} must be {typ}, got {type(value).__name__}")
    return value


def _check_version(obj: Mapping[str, Any], where: str) -> None:
    if not isinstance(obj, Mapping):
        raise PayloadError(f"{where}: payload must be a JSON object")
    version = obj.get("v")
    if isinstance(version, bool) or version not in SUPPORTED_VERSIONS:
        raise PayloadError(
            f"{where}: schema version {version!r} unsupported, expected one of {SUPPORTED_VERSIONS}"
        )


def _number(value: object, key: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PayloadError(f"{where}: field {key!r} must be a number")
    number = float(value)
    if not math.isfinite(number):
        raise PayloadError(f"{where}: field {key!r} must be finite")
    return number


def _count(value: object, key: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PayloadError(f"{where}: field {key!r} must be a non-negative integer")
    return value


def _header(
    obj: object, where: str, topic_athlete: str, topic_pod: str | None = None
) -> tuple[Mapping[str, Any], str, str | None]:
    """Version, object shape, and athlete (and pod) equal to the topic's: every payload."""
    if not isinstance(obj, Mapping):
        raise PayloadError(f"{where}: payload must be a JSON object")
    _check_version(obj, where)
    athlete = _require(obj, "athlete", str, where)
    pod = None if topic_pod is None else _require(obj, "pod", str, where)
    if athlete != topic_athlete or pod != topic_pod:
        who = athlete if topic_pod is None else f"athlete/pod {athlete!r}/{pod!r}"
        raise PayloadError(f"{where}: {who} differ from the topic's")
    return obj, athlete, pod


def _run_id(obj: Mapping[str, Any], where: str) -> str:
    run = _require(obj, "run", str, where)
    try:
        return validate_id("run", run)
    except InvalidIdentifierError as exc:
        raise PayloadError(f"{where}: {exc}") from exc


def _typed_fields(
    raw: Mapping[str, Any],
    schema: Mapping[str, type],
    where: str,
    *,
    skip: tuple[str, ...],
    noun: str = "field",
) -> dict[str, float | int | bool]:
    """The fields of ``raw`` (but ``skip``), each checked against its type in ``schema``."""
    fields: dict[str, float | int | bool] = {}
    for key, value in raw.items():
        if key in skip or value is None:
            continue
        typ = schema.get(key)
        if typ is None:
            raise PayloadError(f"{where}: unknown {noun} {key!r}")
        if typ is bool:
            if not isinstance(value, bool):
                raise PayloadError(f"{where}: field {key!r} must be a boolean")
            fields[key] = value
        elif typ is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise PayloadError(f"{where}: field {key!r} must be an integer")
            fields[key] = value
        else:
            fields[key] = _number(value, key, where)
    return fields


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One ground contact. ``ic_ns``/``to_ns`` are UTC epoch nanoseconds."""

    ic_ns: int
    to_ns: int
    fields: dict[str, float | int | bool]

    def to_json(self) -> dict[str, Any]:
        return {"ic_ns": self.ic_ns, "to_ns": self.to_ns, **self.fields}


@dataclass(frozen=True, slots=True)
class StepsBatch:
    """Payload of ``footpod/v1/{athlete}/{pod}/steps``."""

    athlete: str
    pod: str
    side: Side
    placement: Placement
    run: str
    steps: tuple[StepRecord, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "v": SCHEMA_VERSION,
            "athlete": self.athlete,
            "pod": self.pod,
            "side": self.side,
            "placement": self.placement,
            "run": self.run,
            "steps": [s.to_json() for s in self.steps],
        }


def _parse_step(obj: object, where: str) -> StepRecord:
    if not isinstance(obj, Mapping):
        raise PayloadError(f"{where}: each step must be an object")
    ic_ns = _require(obj, "ic_ns", int, where)
    to_ns = _require(obj, "to_ns", int, where)
    if not 0 < ic_ns < to_ns:
        raise PayloadError(f"{where}: need 0 < ic_ns < to_ns")
    for key in _REQUIRED_STEP_FIELDS:
        if key not in obj:
            raise PayloadError(f"{where}: missing field {key!r}")
    fields = _typed_fields(obj, STEP_FIELDS, where, skip=("ic_ns", "to_ns"), noun="step field")
    return StepRecord(ic_ns=ic_ns, to_ns=to_ns, fields=fields)


def parse_steps_batch(obj: object, *, topic_athlete: str, topic_pod: str) -> StepsBatch:
    """Validate a decoded JSON steps payload against the schema and the topic it came on."""
    where = "steps payload"
    obj, athlete, _ = _header(obj, where, topic_athlete, topic_pod)
    side = _require(obj, "side", str, where)
    if side not in SIDES:
        raise PayloadError(f"{where}: side must be one of {SIDES}")
    placement = _require(obj, "placement", str, where)
    if placement not in PLACEMENTS:
        raise PayloadError(f"{where}: placement must be one of {PLACEMENTS}")
    run = _run_id(obj, where)
    raw_steps = _require(obj, "steps", list, where)
    steps = tuple(_parse_step(s, f"{where} step {i}") for i, s in enumerate(raw_steps))
    return StepsBatch(athlete, topic_pod, side, placement, run, steps)


POD_STATES: Final = ("connected", "reconnecting", "lost", "stopped")


@dataclass(frozen=True, slots=True)
class PodStatus:
    """Retained payload of ``footpod/v1/{athlete}/{pod}/status`` (the last will says ``lost``)."""

    athlete: str
    pod: str
    state: str
    ts_ns: int
    packets_received: int = 0
    packets_lost: int = 0
    battery_pct: float | None = None
    rssi_dbm: float | None = None
    #: Data gaps so far (lost packets or link loss) and their total length in seconds.
    gaps: int = 0
    gap_s_total: float = 0.0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "v": SCHEMA_VERSION,
            "athlete": self.athlete,
            "pod": self.pod,
            "state": self.state,
            "ts_ns": self.ts_ns,
            "packets_received": self.packets_received,
            "packets_lost": self.packets_lost,
            "gaps": self.gaps,
            "gap_s_total": self.gap_s_total,
        }
        if self.battery_pct is not None:
            out["battery_pct"] = self.battery_pct
        if self.rssi_dbm is not None:
            out["rssi_dbm"] = self.rssi_dbm
        return out


def parse_pod_status(obj: object, *, topic_athlete: str, topic_pod: str) -> PodStatus:
    where = "status payload"
    obj, athlete, _ = _header(obj, where, topic_athlete, topic_pod)
    state = _require(obj, "state", str, where)
    if state not in POD_STATES:
        raise PayloadError(f"{where}: state must be one of {POD_STATES}")
    battery = obj.get("battery_pct")
    rssi = obj.get("rssi_dbm")
    return PodStatus(
        athlete=athlete,
        pod=topic_pod,
        state=state,
        ts_ns=_require(obj, "ts_ns", int, where),
        packets_received=_require(obj, "packets_received", int, where),
        packets_lost=_require(obj, "packets_lost", int, where),
        battery_pct=None if battery is None else _number(battery, "battery_pct", where),
        rssi_dbm=None if rssi is None else _number(rssi, "rssi_dbm", where),
        gaps=_count(obj.get("gaps", 0), "gaps", where),
        gap_s_total=_number(obj.get("gap_s_total", 0.0), "gap_s_total", where),
    )


@dataclass(frozen=True, slots=True)
class RunEvent:
    """Payload of ``footpod/v1/{athlete}/runs``: a run starts or ends (with its totals)."""

    athlete: str
    run: str
    event: Literal["start", "end"]
    ts_ns: int
    steps: int = 0
    #: Cumulative Achilles impulse ESTIMATE of the run (v2), when the load model ran.
    at_impulse_est_bw_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "v": SCHEMA_VERSION,
            "athlete": self.athlete,
            "run": self.run,
            "event": self.event,
            "ts_ns": self.ts_ns,
            "steps": self.steps,
        }
        if self.at_impulse_est_bw_s is not None:
            out["at_impulse_est_bw_s"] = self.at_impulse_est_bw_s
        return out


def parse_run_event(obj: object, *, topic_athlete: str) -> RunEvent:
    where = "runs payload"
    obj, athlete, _ = _header(obj, where, topic_athlete)
    run = _run_id(obj, where)
    event = _require(obj, "event", str, where)
    if event not in ("start", "end"):
        raise PayloadError(f"{where}: event must be 'start' or 'end'")
    impulse = obj.get("at_impulse_est_bw_s")
    return RunEvent(
        athlete=athlete,
        run=run,
        event=event,
        ts_ns=_require(obj, "ts_ns", int, where),
        steps=_require(obj, "steps", int, where),
        at_impulse_est_bw_s=None
        if impulse is None
        else _number(impulse, "at_impulse_est_bw_s", where),
    )


#: Fields of one Running Speed and Cadence reading (Bluetooth SIG RSC pods: FIRMWARE.md §1).
RSC_FIELDS: Final[dict[str, type]] = {
    "speed_m_s": float,
    "cadence_spm": float,
    "stride_m": float,
    "distance_m": float,
    "running": bool,
}


@dataclass(frozen=True, slots=True)
class RscBatch:
    """Payload of ``footpod/v1/{athlete}/{pod}/rsc``: speed / cadence / distance readings."""

    athlete: str
    pod: str
    run: str
    readings: tuple[tuple[int, dict[str, float | int | bool]], ...]  # (ts_ns, fields)

    def to_json(self) -> dict[str, Any]:
        return {
            "v": SCHEMA_VERSION,
            "athlete": self.athlete,
            "pod": self.pod,
            "run": self.run,
            "readings": [{"ts_ns": ts, **fields} for ts, fields in self.readings],
        }


def parse_rsc_batch(obj: object, *, topic_athlete: str, topic_pod: str) -> RscBatch:
    where = "rsc payload"
    obj, athlete, _ = _header(obj, where, topic_athlete, topic_pod)
    run = _run_id(obj, where)
    readings = []
    for i, raw in enumerate(_require(obj, "readings", list, where)):
        at = f"{where} reading {i}"
        if not isinstance(raw, Mapping):
            raise PayloadError(f"{at}: each reading must be an object")
        ts_ns = _require(raw, "ts_ns", int, at)
        for key in ("speed_m_s", "cadence_spm"):
            if key not in raw:
                raise PayloadError(f"{at}: missing field {key!r}")
        readings.append((ts_ns, _typed_fields(raw, RSC_FIELDS, at, skip=("ts_ns",))))
    return RscBatch(athlete, topic_pod, run, tuple(readings))


# --------------------------------------------------------------------------- InfluxDB schema

MEASUREMENT_STEPS: Final = "steps"
MEASUREMENT_POD_STATUS: Final = "pod_status"
MEASUREMENT_RUNS: Final = "runs"
MEASUREMENT_RSC: Final = "rsc"
#: Tags of the ``steps`` measurement. With the IC timestamp they make a step's point identity,
#: so a re-delivered step overwrites itself instead of duplicating.
STEP_TAGS: Final = ("athlete", "pod", "side", "placement", "run")
FIELD_TYPES: Final = STEP_FIELDS


@dataclass(frozen=True, slots=True)
class Point:
    """One InfluxDB point before line-protocol encoding (see ``store.line_protocol``)."""

    measurement: str
    tags: dict[str, str]
    fields: dict[str, float | int | bool | str]
    ts_ns: int


def steps_to_points(batch: StepsBatch) -> list[Point]:
    """Map a validated steps batch to ``steps`` points, stamped at initial contact."""
    tags = {
        "athlete": batch.athlete,
        "pod": batch.pod,
        "side": batch.side,
        "placement": batch.placement,
        "run": batch.run,
    }
    return [Point(MEASUREMENT_STEPS, tags, dict(step.fields), step.ic_ns) for step in batch.steps]


def status_to_point(status: PodStatus) -> Point:
    fields: dict[str, float | int | bool | str] = {
        "state": status.state,
        "packets_received": status.packets_received,
        "packets_lost": status.packets_lost,
        "gaps": status.gaps,
        "gap_s_total": status.gap_s_total,
    }
    if status.battery_pct is not None:
        fields["battery_pct"] = status.battery_pct
    if status.rssi_dbm is not None:
        fields["rssi_dbm"] = status.rssi_dbm
    return Point(
        MEASUREMENT_POD_STATUS, {"athlete": status.athlete, "pod": status.pod}, fields, status.ts_ns
    )


def rsc_to_points(batch: RscBatch) -> list[Point]:
    tags = {"athlete": batch.athlete, "pod": batch.pod, "run": batch.run}
    return [Point(MEASUREMENT_RSC, tags, dict(fields), ts) for ts, fields in batch.readings]


def run_event_to_point(event: RunEvent) -> Point:
    fields: dict[str, float | int | bool | str] = {"steps": event.steps}
    if event.at_impulse_est_bw_s is not None:
        fields["at_impulse_est_bw_s"] = event.at_impulse_est_bw_s
    return Point(
        MEASUREMENT_RUNS,
        {"athlete": event.athlete, "run": event.run, "event": event.event},
        fields,
        event.ts_ns,
    )


# --------------------------------------------------------------------------- message → points

#: Topic kinds the ingest stores, and the parser + mapper of each.
INGESTED_KINDS: Final = ("steps", "status", "runs", "rsc")


def message_to_points(topic_name: str, payload: bytes) -> list[Point]:
    """Validate one MQTT message against topic and schema; map it to InfluxDB points.

    Raises :class:`PayloadError` (with the reason) for anything that does not fit.
    """
    athlete, pod, kind = parse_topic(topic_name)
    try:
        obj = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"payload is not JSON: {exc}") from exc
    if kind == "steps" and pod is not None:
        return steps_to_points(parse_steps_batch(obj, topic_athlete=athlete, topic_pod=pod))
    if kind == "status" and pod is not None:
        return [status_to_point(parse_pod_status(obj, topic_athlete=athlete, topic_pod=pod))]
    if kind == "runs":
        return [run_event_to_point(parse_run_event(obj, topic_athlete=athlete))]
    if kind == "rsc" and pod is not None:
        return rsc_to_points(parse_rsc_batch(obj, topic_athlete=athlete, topic_pod=pod))
    raise PayloadError(f"topic kind {kind!r} is not ingested")
