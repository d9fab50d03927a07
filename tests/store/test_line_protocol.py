"""Line protocol encoding: exact output, refusals, and hostile strings round-tripped via influxd."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest

from sensor_service.contracts import Point
from sensor_service.errors import StoreError
from sensor_service.store.influxql import quote_ident, quote_literal
from sensor_service.store.line_protocol import (
    LineProtocolError,
    encode_field_value,
    encode_point,
    encode_points,
)

# --------------------------------------------------------------------------- exact output


def test_basic_point_sorted_tags_and_types() -> None:
    point = Point(
        "steps",
        {"pod": "p1", "athlete": "ana", "side": "left"},
        {"gct_ms": 251.5, "step_index": 7, "clipped": False, "note": "ok"},
        1_700_000_000_000_000_000,
    )
    assert encode_point(point) == (
        "steps,athlete=ana,pod=p1,side=left "
        'gct_ms=251.5,step_index=7i,clipped=false,note="ok" 1700000000000000000'
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "true"),
        (False, "false"),
        (0, "0i"),
        (-(2**63), f"{-(2**63)}i"),
        (2**63 - 1, f"{2**63 - 1}i"),
        (0.1, "0.1"),
        (3.0, "3.0"),
        (1e20, "1e+20"),
        (-0.0, "-0.0"),
        (5e-324, "5e-324"),
        ("", '""'),
        ('say "hi"', r'"say \"hi\""'),
        ("back\\slash\\", r'"back\\slash\\"'),
        ("two\nlines", '"two\nlines"'),
    ],
)
def test_field_values(value: object, expected: str) -> None:
    assert encode_field_value(value) == expected


def test_escaping_of_names() -> None:
    point = Point("my meas,x=y", {"tag key,=": "v a,l=ue"}, {"f k,=": 1}, 5)
    assert encode_point(point) == r"my\ meas\,x=y,tag\ key\,\==v\ a\,l\=ue f\ k\,\==1i 5"


def test_empty_tag_values_are_omitted() -> None:
    assert encode_point(Point("m", {"a": "", "b": "x"}, {"v": 1}, 1)) == "m,b=x v=1i 1"


def test_encode_points_newline_terminated() -> None:
    points = [Point("m", {}, {"v": 1}, 1), Point("m", {}, {"v": 2}, 2)]
    assert encode_points(points) == "m v=1i 1\nm v=2i 2\n"
    assert encode_points([]) == ""


@pytest.mark.parametrize(
    ("point", "message"),
    [
        (Point("m", {}, {"v": math.nan}, 1), "not finite"),
        (Point("m", {}, {"v": math.inf}, 1), "not finite"),
        (Point("m", {}, {"v": -math.inf}, 1), "not finite"),
        (Point("m", {}, {"v": 2**63}, 1), "int64"),
        (Point("m", {}, {"v": None}, 1), "unsupported type"),  # type: ignore[dict-item]
        (Point("m", {}, {}, 1), "at least one field"),
        (Point("", {}, {"v": 1}, 1), "empty"),
        (Point("#m", {}, {"v": 1}, 1), "comment"),
        (Point("m\nx", {}, {"v": 1}, 1), "newline"),
        (Point("m", {"t": "a\nb"}, {"v": 1}, 1), "newline"),
        (Point("m", {"t": "a\rb"}, {"v": 1}, 1), "newline"),
        (Point("m", {"t\n": "a"}, {"v": 1}, 1), "newline"),
        (Point("m", {}, {"f\n": 1}, 1), "newline"),
        (Point("m", {"": "a"}, {"v": 1}, 1), "non-empty"),
        (Point("m", {"time": "a"}, {"v": 1}, 1), "reserved"),
        (Point("m", {}, {"time": 1}, 1), "reserved"),
        (Point("m", {}, {"": 1}, 1), "empty"),
        (Point("m", {"t": 1}, {"v": 1}, 1), "must be a string"),  # type: ignore[dict-item]
        (Point("m", {"t": "ends\\"}, {"v": 1}, 1), "backslash"),
        (Point("m", {"t": "a\\,b"}, {"v": 1}, 1), "backslash"),
        (Point("m", {"t": "a\\ b"}, {"v": 1}, 1), "backslash"),
        (Point("m\\", {}, {"v": 1}, 1), "backslash"),
        (Point("m", {}, {"v": 1}, 2**63), "time range"),
        (Point("m", {}, {"v": 1}, 1.5), "ts_ns"),  # type: ignore[arg-type]
    ],
)
def test_refusals(point: Point, message: str) -> None:
    with pytest.raises(LineProtocolError, match=message) as info:
        encode_point(point)
    assert isinstance(info.value, StoreError)
    assert isinstance(info.value, ValueError)
    assert info.value.retryable is False


# --------------------------------------------------------------------------- round trips

#: Safe in every position (measurement, tag key/value, field key, string field value).
HOSTILE = [
    "plain",
    "with space",
    "comma,here",
    "equals=sign",
    "all , = three",
    'double"quote',
    "single'quote",
    "back\\slash",
    "two\\\\backslashes",
    "x' OR 1=1 --",
    'x" OR 1=1 --',
    'x\' OR "t" =~ /.*/ --',
    "ünïcödé ✓ 日本語 🏃",
    " leading and trailing ",
    "tab\there",
    "#hash",
    "-- comment",
    "/regex/",
    "$timeFilter",
    "x" * 3000,
]

#: String field values may hold anything.
HOSTILE_STRINGS = [
    *HOSTILE,
    "",
    "line1\nline2",
    "crlf\r\nend",
    "ends with backslash\\",
    'quote at end"',
    'backslash quote \\"',
    "literal backslash-n \\n",
    "\n",
    "y" * 60_000,
]


def _query(url: str, db: str, q: str) -> list[dict[str, Any]]:
    body = httpx.post(f"{url}/query", data={"q": q, "db": db, "epoch": "ns"}, timeout=10).json()
    result = body["results"][0]
    assert "error" not in result, result
    return list(result.get("series", []))


def _write(url: str, db: str, body: str) -> None:
    r = httpx.post(f"{url}/write", params={"db": db, "precision": "ns"}, content=body.encode())
    assert r.status_code == 204, r.text


@pytest.mark.integration
def test_hostile_names_round_trip(influx_db: tuple[str, str]) -> None:
    url, db = influx_db
    points = [
        Point(
            f"meas {text}",
            {"t": text, f"tag {text}": "v", "idx": str(i)},
            {f"field {text}": 1.5, "s": text},
            1_000 + i,
        )
        for i, text in enumerate(HOSTILE)
    ]
    _write(url, db, encode_points(points))
    for i, text in enumerate(HOSTILE):
        q = f'SELECT * FROM {quote_ident(f"meas {text}")} WHERE "t" = {quote_literal(text)}'
        series = _query(url, db, q)
        assert len(series) == 1, (text, series)
        row = dict(zip(series[0]["columns"], series[0]["values"][0], strict=True))
        assert series[0]["name"] == f"meas {text}"
        assert row["time"] == 1_000 + i
        assert row["t"] == text
        assert row[f"tag {text}"] == "v"
        assert row[f"field {text}"] == 1.5
        assert row["s"] == text


@pytest.mark.integration
def test_hostile_string_fields_round_trip(influx_db: tuple[str, str]) -> None:
    url, db = influx_db
    points = [
        Point("strings", {"idx": str(i)}, {"s": s}, 1 + i) for i, s in enumerate(HOSTILE_STRINGS)
    ]
    _write(url, db, encode_points(points))
    series = _query(url, db, 'SELECT "s", "idx" FROM "strings"')
    values = {int(idx): s for _, s, idx in series[0]["values"]}
    assert values == dict(enumerate(HOSTILE_STRINGS))


@pytest.mark.integration
def test_numbers_round_trip(influx_db: tuple[str, str]) -> None:
    url, db = influx_db
    floats = [0.1, 1e20, 1e300, -2.5e-300, 5e-324, 123456.789012345, 1 / 3]
    ints = [0, -1, 2**63 - 1, -(2**63) + 1]
    points = [Point("f", {}, {"v": v}, i + 1) for i, v in enumerate(floats)]
    points += [Point("i", {}, {"v": v}, i + 1) for i, v in enumerate(ints)]
    points += [Point("b", {}, {"v": v}, i + 1) for i, v in enumerate([True, False])]
    _write(url, db, encode_points(points))
    assert [row[1] for row in _query(url, db, 'SELECT "v" FROM "f"')[0]["values"]] == floats
    assert [row[1] for row in _query(url, db, 'SELECT "v" FROM "i"')[0]["values"]] == ints
    assert [row[1] for row in _query(url, db, 'SELECT "v" FROM "b"')[0]["values"]] == [True, False]
