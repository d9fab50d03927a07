"""The ingest's cached line-protocol encoder writes exactly what the store's encoder writes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor_service.contracts import Point, Series
from sensor_service.ingest._encode import LineEncoder
from sensor_service.store.line_protocol import LineProtocolError, encode_points

_text = st.text(min_size=0, max_size=12)
_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.booleans(),
    _text,
)
_tag_keys = st.sampled_from(["athlete", "pod", "a b", "k=v", "time"])
_field_keys = st.sampled_from(["gct_ms", "f x", "a=b", "time", ""])
_points = st.builds(
    Point,
    measurement=st.sampled_from(["steps", "pod_status", "a b", "m,1", "#x", ""]),
    tags=st.dictionaries(
        st.sampled_from(["athlete", "pod", "a b", "k=v", "time"]), _text, max_size=3
    ),
    fields=st.dictionaries(
        st.sampled_from(["gct_ms", "f x", "a=b", "time", ""]), _values, max_size=3
    ),
    ts_ns=st.one_of(st.integers(min_value=-(2**64), max_value=2**64), st.just(True)),
)


def _reference(points: list[Point]) -> bytes | type[LineProtocolError]:
    try:
        return encode_points(points).encode()
    except LineProtocolError:
        return LineProtocolError


@settings(max_examples=400, deadline=None)
@given(st.lists(_points, max_size=4))
def test_same_bytes_or_same_refusal_as_the_store(points: list[Point]) -> None:
    expected = _reference(points)
    encoder = LineEncoder()
    for _ in range(2):  # cold and cached
        if expected is LineProtocolError:
            with pytest.raises(LineProtocolError):
                encoder.encode(points)
        else:
            assert encoder.encode(points) == expected


def test_typical_steps_points() -> None:
    points = [
        Point(
            "steps",
            {"athlete": "ana", "pod": "ana-left", "side": "left", "placement": "foot", "run": "r1"},
            {"gct_ms": 231.5, "step_index": i, "clipped": False, "cadence_spm": 180.0},
            1_700_000_000_000_000_000 + i,
        )
        for i in range(3)
    ]
    assert LineEncoder().encode(points) == encode_points(points).encode()


_rows = st.lists(
    st.tuples(
        st.one_of(st.integers(min_value=-(2**64), max_value=2**64), st.just(True)),
        st.dictionaries(st.sampled_from(["gct_ms", "f x", "a=b", "time", "", "ic_ns"]), _values),
    ),
    max_size=4,
)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(["steps", "a b", "#x", ""]),
    st.dictionaries(st.sampled_from(["athlete", "a b", "time"]), _text, max_size=3),
    _rows,
    st.sampled_from([frozenset(), frozenset({"ic_ns"})]),
)
def test_series_encode_to_the_bytes_of_their_points(
    measurement: str, tags: dict[str, str], rows: list[Any], skip: frozenset[str]
) -> None:
    series = Series(measurement, tags, rows, skip)
    expected = _reference(series.points())
    encoder = LineEncoder()
    for _ in range(2):
        if expected is LineProtocolError:
            with pytest.raises(LineProtocolError):
                encoder.encode_series([series])
        else:
            assert encoder.encode_series([series]) == expected
