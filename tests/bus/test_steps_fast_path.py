"""The ingest's steps fast path (``parse_steps_series``) is the strict path, only faster.

For any payload: both accept with the same points, or both refuse with the same message.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor_service.contracts import (
    STEP_FIELDS,
    Point,
    message_to_points,
    parse_steps_batch,
    parse_steps_series,
    steps_to_points,
)
from sensor_service.errors import PayloadError

_ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
    st.lists(st.integers(), max_size=2),
)
_GOOD_VALUE = {
    float: st.floats(min_value=-1e6, max_value=1e6) | st.integers(-1000, 1000),
    int: st.integers(min_value=0, max_value=10**6),
    bool: st.booleans(),
}
_KEYS = st.sampled_from([*STEP_FIELDS, "ic_ns", "to_ns", "evil", ""])


@st.composite
def _step(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 30)) == 0:
        return draw(_ANY_VALUE)  # not even an object
    ic = draw(st.integers(min_value=1, max_value=2**62))
    step: dict[str, Any] = {"ic_ns": ic, "to_ns": ic + draw(st.integers(1, 10**9))}
    for key, typ in STEP_FIELDS.items():
        if key in ("gct_ms", "step_index") or draw(st.booleans()):
            step[key] = draw(_GOOD_VALUE[typ])
    for _ in range(draw(st.integers(0, 2))):  # mutations: any key, any value, or a removal
        key = draw(_KEYS)
        if draw(st.booleans()):
            step[key] = draw(_ANY_VALUE)
        else:
            step.pop(key, None)
    return step


@st.composite
def _payload(draw: st.DrawFn) -> Any:
    obj: dict[str, Any] = {
        "v": 2,
        "athlete": "ana",
        "pod": "ana-left",
        "side": "left",
        "placement": "foot",
        "run": "run-1",
        "steps": draw(st.lists(_step(), max_size=4)),
    }
    if draw(st.integers(0, 5)) == 0:
        key = draw(st.sampled_from([*obj, "x"]))
        if draw(st.booleans()):
            obj[key] = draw(_ANY_VALUE)
        else:
            obj.pop(key, None)
    return obj if draw(st.integers(0, 40)) else draw(_ANY_VALUE)


def _strict(obj: Any) -> list[Point] | str:
    try:
        return steps_to_points(parse_steps_batch(obj, topic_athlete="ana", topic_pod="ana-left"))
    except PayloadError as exc:
        return str(exc)


def _fast(obj: Any) -> list[Point] | str:
    try:
        return parse_steps_series(obj, topic_athlete="ana", topic_pod="ana-left").points()
    except PayloadError as exc:
        return str(exc)


def _same(a: list[Point] | str, b: list[Point] | str) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return [(p.measurement, p.tags, p.ts_ns, list(p.fields.items())) for p in a] == [
        (p.measurement, p.tags, p.ts_ns, list(p.fields.items())) for p in b
    ]


@settings(max_examples=1500, deadline=None)
@given(_payload())
def test_fast_path_accepts_refuses_and_maps_like_the_strict_path(obj: Any) -> None:
    strict = _strict(obj)
    fast = _fast(obj)
    assert _same(fast, strict), (fast, strict)
    if not isinstance(strict, str):  # the field values have the strict types, too
        for p, q in zip(fast, strict, strict=True):  # type: ignore[arg-type]
            assert [type(v) for v in p.fields.values()] == [type(v) for v in q.fields.values()]


def test_ints_for_float_fields_become_floats_and_nones_are_dropped() -> None:
    step = {"ic_ns": 10, "to_ns": 20, "gct_ms": 250, "step_index": 3, "flight_ms": None}
    obj = {"v": 2, "athlete": "ana", "pod": "ana-left", "side": "left", "placement": "foot"}
    obj |= {"run": "r1", "steps": [step]}
    (point,) = _fast(obj)  # type: ignore[misc]
    assert point.fields == {"gct_ms": 250.0, "step_index": 3}
    assert type(point.fields["gct_ms"]) is float


def test_message_to_points_goes_through_the_fast_path_with_the_same_errors() -> None:
    step = {"ic_ns": 10, "to_ns": 20, "gct_ms": "fast", "step_index": 0}
    obj = {"v": 2, "athlete": "ana", "pod": "ana-left", "side": "left", "placement": "foot"}
    obj |= {"run": "r1", "steps": [step]}
    payload = json.dumps(obj).encode()
    with pytest.raises(PayloadError) as caught:
        message_to_points("footpod/v1/ana/ana-left/steps", payload)
    assert str(caught.value) == _strict(obj)
    assert "must be a number" in str(caught.value)
    # A NaN literal is not JSON at all (strict decoder), so it never reaches the schema.
    step["gct_ms"] = math.nan
    with pytest.raises(PayloadError, match="not JSON"):
        message_to_points("footpod/v1/ana/ana-left/steps", json.dumps(obj).encode())
