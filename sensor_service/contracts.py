"""The data contracts of footpod, declared once and imported everywhere.

Identifiers, MQTT topics, payload schemas and the InfluxDB schema live here and nowhere else.
This module imports nothing of ours but :mod:`sensor_service.errors`. A change to a field is a
one-line change here plus a bump of :data:`SCHEMA_VERSION`.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson

from sensor_service.errors import InvalidIdentifierError, PayloadError

__all__ = [
    "FIELD_TYPES",
    "ID_PATTERN",
    "IMU_FIELDS",
    "IMU_FORMAT_VERSION",
    "IMU_MAGIC",
    "INGESTED_KINDS",
    "MEASUREMENT_IMU",
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
    "ImuBatch",
    "Placement",
    "PodStatus",
    "Point",
    "RscBatch",
    "RunEvent",
    "Series",
    "Side",
    "StepRecord",
    "StepsBatch",
    "decode_imu_batch",
    "encode_imu_batch",
    "imu_to_series",
    "message_to_points",
    "message_to_series",
    "parse_pod_status",
    "parse_rsc_batch",
    "parse_run_event",
    "parse_steps_batch",
    "parse_steps_series",
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


# --------------------------------------------------------------------------- series (hot path)


@dataclass(frozen=True, slots=True)
class Series:
    """Points of one series (same measurement and tags), without a :class:`Point` per point.

    ``rows`` are ``(ts_ns, fields)``; keys of ``fields`` listed in ``skip`` are not fields
    (a steps row is the validated step object itself, whose ``ic_ns``/``to_ns`` are skipped).
    """

    measurement: str
    tags: dict[str, str]
    rows: Sequence[tuple[int, Mapping[str, Any]]]
    skip: frozenset[str] = frozenset()

    def __len__(self) -> int:
        return len(self.rows)

    def points(self) -> list[Point]:
        skip = self.skip
        return [
            Point(
                self.measurement,
                self.tags,
                {k: v for k, v in fields.items() if k not in skip},
                ts_ns,
            )
            for ts_ns, fields in self.rows
        ]


#: A step is taken as it is (the fast path of :func:`parse_steps_series`) when every value
#: already has exactly the type the strict parser would give it (``int`` timestamps and
#: integer fields, ``bool``, finite ``float``), no key is unknown and nothing is ``None``:
#: then :func:`_parse_step` would accept it and return the same fields. Anything else is
#: decided by :func:`_parse_step` itself (so the same errors, with the same messages).
_EXACT_STEP_TYPES: Final[dict[str, type]] = {"ic_ns": int, "to_ns": int, **STEP_FIELDS}
_STEP_TIMESTAMPS: Final = frozenset({"ic_ns", "to_ns"})


def parse_steps_series(obj: object, *, topic_athlete: str, topic_pod: str) -> Series:
    """:func:`parse_steps_batch` then :func:`steps_to_points`, for the ingest's hot path.

    Same rules, same errors, same points (``tests/bus/test_steps_fast_path.py`` checks all
    three on generated payloads); no :class:`StepRecord` or :class:`Point` per step. The
    header goes through :func:`parse_steps_batch` itself (with no steps).
    """
    if not isinstance(obj, Mapping):
        parse_steps_batch(obj, topic_athlete=topic_athlete, topic_pod=topic_pod)  # raises
        raise PayloadError("steps payload: payload must be a JSON object")  # pragma: no cover
    head = parse_steps_batch({**obj, "steps": []}, topic_athlete=topic_athlete, topic_pod=topic_pod)
    where = "steps payload"
    raw_steps = _require(obj, "steps", list, where)
    tags = {
        "athlete": head.athlete,
        "pod": head.pod,
        "side": head.side,
        "placement": head.placement,
        "run": head.run,
    }
    rows: list[tuple[int, Mapping[str, Any]]] = []
    append = rows.append
    exact = _EXACT_STEP_TYPES
    isfinite = math.isfinite
    for i, step in enumerate(raw_steps):
        if type(step) is dict and "gct_ms" in step and "step_index" in step:
            ic_ns = step.get("ic_ns")
            to_ns = step.get("to_ns")
            if type(ic_ns) is int and type(to_ns) is int and 0 < ic_ns < to_ns:
                for key, value in step.items():
                    typ = type(value)
                    if exact.get(key) is not typ or (typ is float and not isfinite(value)):
                        break
                else:
                    append((ic_ns, step))
                    continue
        record = _parse_step(step, f"{where} step {i}")
        append((record.ic_ns, record.fields))
    return Series(MEASUREMENT_STEPS, tags, rows, _STEP_TIMESTAMPS)


# --------------------------------------------------------------------------- raw IMU (binary)

MEASUREMENT_IMU: Final = "imu"
#: Fields of the ``imu`` measurement, in payload order (foot frame, SI / deg/s).
IMU_FIELDS: Final = ("ax_m_s2", "ay_m_s2", "az_m_s2", "gx_deg_s", "gy_deg_s", "gz_deg_s")
#: ``footpod/v1/{athlete}/{pod}/imu`` payloads are binary (docs/research.md, and
#: docs/benchmarks.md ``## Raw IMU encoding`` for why): they start with these 4 bytes and a
#: format version byte of their own.
IMU_MAGIC: Final = b"FPIM"
IMU_FORMAT_VERSION: Final = 1
IMU_MAX_SAMPLES: Final = 4096
#: magic, version, flags, n samples, t0_ns, period_ns, acc scale, gyr scale, 3 id lengths.
_IMU_HEAD: Final = struct.Struct("<4sBBHqdddBBB")
_IMU_HAS_GYRO: Final = 0x01
_INT16_MAX: Final = 32767


@dataclass(frozen=True, slots=True)
class ImuBatch:
    """Payload of ``footpod/v1/{athlete}/{pod}/imu``: raw samples, quantised to int16.

    Sample ``i`` is at ``t0_ns + round(i * period_ns)`` (pod clock mapped to UTC when
    published, so every copy of a message maps to the same timestamps) and its values are
    ``counts * scale``: ``acc_scale`` m/s² and ``gyr_scale`` deg/s per count. ``counts`` is
    sample-major: ``ax ay az [gx gy gz]`` per sample (gyro only when ``has_gyro``).
    """

    athlete: str
    pod: str
    run: str
    t0_ns: int
    period_ns: float
    acc_scale: float
    gyr_scale: float
    has_gyro: bool
    counts: tuple[int, ...]

    @property
    def channels(self) -> int:
        return 6 if self.has_gyro else 3

    @property
    def n_samples(self) -> int:
        return len(self.counts) // self.channels

    def timestamps(self) -> list[int]:
        t0, period = self.t0_ns, self.period_ns
        return [t0 + round(i * period) for i in range(self.n_samples)]

    def samples(self) -> list[dict[str, float]]:
        """The values as stored: one ``{field: value}`` per sample."""
        k = self.channels
        scales = (self.acc_scale,) * 3 + (self.gyr_scale,) * (k - 3)
        names = IMU_FIELDS[:k]
        c = self.counts
        return [{names[j]: c[i + j] * scales[j] for j in range(k)} for i in range(0, len(c), k)]


def encode_imu_batch(batch: ImuBatch) -> bytes:
    """The binary payload of an :class:`ImuBatch` (little endian; see :data:`_IMU_HEAD`)."""
    ids = [validate_id("athlete", batch.athlete), validate_id("pod", batch.pod)]
    ids.append(validate_id("run", batch.run))
    raw = [i.encode() for i in ids]
    n = batch.n_samples
    if len(batch.counts) != n * batch.channels or not 0 < n <= IMU_MAX_SAMPLES:
        raise ValueError(f"imu batch: need 1..{IMU_MAX_SAMPLES} whole samples")
    head = _IMU_HEAD.pack(
        IMU_MAGIC,
        IMU_FORMAT_VERSION,
        _IMU_HAS_GYRO if batch.has_gyro else 0,
        n,
        batch.t0_ns,
        batch.period_ns,
        batch.acc_scale,
        batch.gyr_scale,
        *(len(r) for r in raw),
    )
    return head + b"".join(raw) + struct.pack(f"<{len(batch.counts)}h", *batch.counts)


def decode_imu_batch(payload: bytes, *, topic_athlete: str, topic_pod: str) -> ImuBatch:
    """Validate a binary imu payload against its format and the topic it came on."""
    where = "imu payload"
    if len(payload) < _IMU_HEAD.size or payload[:4] != IMU_MAGIC:
        raise PayloadError(f"{where}: not a footpod imu payload (magic {IMU_MAGIC!r})")
    _, version, flags, n, t0_ns, period_ns, acc_scale, gyr_scale, la, lp, lr = (
        _IMU_HEAD.unpack_from(payload)
    )
    if version != IMU_FORMAT_VERSION:
        raise PayloadError(
            f"{where}: format version {version} unsupported, expected {IMU_FORMAT_VERSION}"
        )
    if flags & ~_IMU_HAS_GYRO:
        raise PayloadError(f"{where}: unknown flags 0x{flags:02x}")
    channels = 6 if flags & _IMU_HAS_GYRO else 3
    start = _IMU_HEAD.size
    end = start + la + lp + lr
    if not 0 < n <= IMU_MAX_SAMPLES:
        raise PayloadError(f"{where}: {n} samples; expected 1..{IMU_MAX_SAMPLES}")
    if len(payload) != end + 2 * channels * n:
        raise PayloadError(
            f"{where}: {len(payload)} bytes; {n} samples of {channels} channels need "
            f"{end + 2 * channels * n}"
        )
    try:
        athlete = payload[start : start + la].decode("ascii")
        pod = payload[start + la : start + la + lp].decode("ascii")
        run = validate_id("run", payload[start + la + lp : end].decode("ascii"))
    except (UnicodeDecodeError, InvalidIdentifierError) as exc:
        raise PayloadError(f"{where}: {exc}") from exc
    if athlete != topic_athlete or pod != topic_pod:
        raise PayloadError(f"{where}: athlete/pod {athlete!r}/{pod!r} differ from the topic's")
    if not (math.isfinite(period_ns) and period_ns >= 1000.0):
        raise PayloadError(f"{where}: period_ns must be finite and >= 1000")
    for name, scale in (("acc_scale", acc_scale), ("gyr_scale", gyr_scale)):
        if not (math.isfinite(scale) and scale > 0.0):
            raise PayloadError(f"{where}: {name} must be finite and > 0")
    last_ns = t0_ns + round((n - 1) * period_ns)
    if not t0_ns > 0 or last_ns > 9_223_372_036_854_775_806:
        raise PayloadError(f"{where}: timestamps outside InfluxDB's time range")
    counts = struct.unpack_from(f"<{channels * n}h", payload, end)
    if -_INT16_MAX - 1 in counts:
        raise PayloadError(f"{where}: count -32768 is reserved; use -32767..32767")
    return ImuBatch(
        athlete,
        pod,
        run,
        t0_ns,
        period_ns,
        acc_scale,
        gyr_scale,
        bool(flags & _IMU_HAS_GYRO),
        counts,
    )


def imu_to_series(batch: ImuBatch) -> Series:
    """``imu`` points: tags athlete/pod/run, one point per sample at its pod-clock time."""
    tags = {"athlete": batch.athlete, "pod": batch.pod, "run": batch.run}
    return Series(
        MEASUREMENT_IMU, tags, list(zip(batch.timestamps(), batch.samples(), strict=True))
    )


# --------------------------------------------------------------------------- message → points

#: Topic kinds the ingest stores. All are JSON but ``imu`` (binary, see :class:`ImuBatch`).
INGESTED_KINDS: Final = ("steps", "status", "runs", "rsc", "imu")


def message_to_series(topic_name: str, payload: bytes) -> list[Series]:
    """Validate one MQTT message against topic and schema; map it to InfluxDB series.

    Raises :class:`PayloadError` (with the reason) for anything that does not fit.
    """
    athlete, pod, kind = parse_topic(topic_name)
    if kind == "imu" and pod is not None:
        return [imu_to_series(decode_imu_batch(payload, topic_athlete=athlete, topic_pod=pod))]
    try:
        # orjson: ~4x faster than json on the ingest's hot path; strict (no NaN literals,
        # UTF-8 only, 64-bit integers), which the schema wants anyway.
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise PayloadError(f"payload is not JSON: {exc}") from exc
    if kind == "steps" and pod is not None:
        return [parse_steps_series(obj, topic_athlete=athlete, topic_pod=pod)]
    points: list[Point]
    if kind == "status" and pod is not None:
        points = [status_to_point(parse_pod_status(obj, topic_athlete=athlete, topic_pod=pod))]
    elif kind == "runs":
        points = [run_event_to_point(parse_run_event(obj, topic_athlete=athlete))]
    elif kind == "rsc" and pod is not None:
        points = rsc_to_points(parse_rsc_batch(obj, topic_athlete=athlete, topic_pod=pod))
    else:
        raise PayloadError(f"topic kind {kind!r} is not ingested")
    return [Series(p.measurement, p.tags, [(p.ts_ns, p.fields)]) for p in points]


def message_to_points(topic_name: str, payload: bytes) -> list[Point]:
    """Validate one MQTT message against topic and schema; map it to InfluxDB points.

    Raises :class:`PayloadError` (with the reason) for anything that does not fit.
    """
    return [point for s in message_to_series(topic_name, payload) for point in s.points()]
